//! The served OpenAPI document states the constraints the server enforces:
//! every id and text a request carries has a pattern or a length, values the
//! document refuses are refused by the server (4xx), and values it allows at
//! their bounds are not refused as invalid. The values are made from the
//! document itself, so a rule changed on one side only fails here.

use super::*;
use omnify_registry::PublisherKey;

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

/// `schema`, with a `$ref` into the document's components followed.
fn resolve<'d>(doc: &'d Value, schema: &'d Value) -> &'d Value {
    match schema["$ref"]
        .as_str()
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
    {
        Some(name) => &doc["components"]["schemas"][name],
        None => schema,
    }
}

fn is_text(schema: &Value) -> bool {
    schema["type"] == "string"
        || schema["type"]
            .as_array()
            .is_some_and(|types| types.contains(&json!("string")))
}

fn is_constrained(schema: &Value) -> bool {
    ["pattern", "maxLength", "enum", "format", "const"]
        .iter()
        .any(|keyword| !schema[*keyword].is_null())
}

/// The text properties of `schema` (through refs, arrays, `oneOf`/`allOf`)
/// that have no pattern, length, enum or format, as `at.property`.
fn loose_text(doc: &Value, schema: &Value, at: &str, depth: usize, loose: &mut Vec<String>) {
    let schema = resolve(doc, schema);
    if depth > 8 {
        return;
    }
    for variants in ["oneOf", "allOf", "anyOf"] {
        for variant in schema[variants].as_array().into_iter().flatten() {
            loose_text(doc, variant, at, depth + 1, loose);
        }
    }
    if !schema["items"].is_null() {
        let items = resolve(doc, &schema["items"]);
        if is_text(items) && !is_constrained(items) {
            loose.push(format!("{at}[]"));
        }
        loose_text(doc, items, &format!("{at}[]"), depth + 1, loose);
    }
    for (name, property) in schema["properties"].as_object().into_iter().flatten() {
        let here = format!("{at}.{name}");
        let property = resolve(doc, property);
        if is_text(property) && !is_constrained(property) {
            loose.push(here.clone());
        }
        loose_text(doc, property, &here, depth + 1, loose);
    }
}

/// Every operation of the document: method, path, operation.
fn operations(doc: &Value) -> Vec<(&'static str, String, &Value)> {
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if !item[method].is_null() {
                found.push((method, path.clone(), &item[method]));
            }
        }
    }
    found
}

/// A text rule as the document states it.
#[derive(Debug, Clone)]
struct Rule {
    pattern: Option<String>,
    min: usize,
    max: usize,
}

fn rule_of(schema: &Value, what: &str) -> Rule {
    Rule {
        pattern: schema["pattern"].as_str().map(str::to_string),
        min: schema["minLength"].as_u64().unwrap_or(0) as usize,
        max: schema["maxLength"]
            .as_u64()
            .unwrap_or_else(|| panic!("{what} has a maxLength: {schema}")) as usize,
    }
}

/// The rule of `property` of the component `schema` (in any variant).
fn property_rule(doc: &Value, schema: &str, property: &str) -> Rule {
    let component = &doc["components"]["schemas"][schema];
    let mut candidates = vec![component];
    candidates.extend(component["oneOf"].as_array().into_iter().flatten());
    let found = candidates
        .into_iter()
        .map(|c| resolve(doc, &c["properties"][property]))
        .find(|p| !p.is_null())
        .unwrap_or_else(|| panic!("{schema}.{property} is in the document"));
    let text = if found["items"].is_null() {
        found
    } else {
        resolve(doc, &found["items"])
    };
    rule_of(text, &format!("{schema}.{property}"))
}

/// The schema of the query parameter `name` of `method path`.
fn query_schema<'d>(doc: &'d Value, method: &str, path: &str, name: &str) -> &'d Value {
    let parameters = doc["paths"][path][method]["parameters"]
        .as_array()
        .expect("parameters");
    let parameter = parameters
        .iter()
        .find(|p| p["name"] == name && p["in"] == "query")
        .unwrap_or_else(|| panic!("{method} {path} has a query parameter `{name}`"));
    resolve(doc, &parameter["schema"])
}

/// The values `schema` lists, itself or in a variant (an optional value's).
fn enum_of(doc: &Value, schema: &Value) -> Vec<Value> {
    let variants = schema["oneOf"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(schema["anyOf"].as_array().into_iter().flatten());
    std::iter::once(schema)
        .chain(variants)
        .map(|variant| resolve(doc, variant))
        .find_map(|variant| variant["enum"].as_array().cloned())
        .unwrap_or_default()
}

/// A request body whose field under test has the length given.
type BodyOfLength = Box<dyn Fn(usize) -> Value>;

/// A job of the hello connector on a cron schedule.
fn cron_job(expression: String, timezone: String) -> Value {
    json!({"plugin": "hello-connector", "schedule": {"type": "cron", "expression": expression, "timezone": timezone}})
}

/// A text of `length` characters: a leading letter, then `fill` (the rules
/// here accept both).
fn text_of(length: usize, fill: char) -> String {
    std::iter::once('a')
        .chain(std::iter::repeat(fill))
        .take(length)
        .collect()
}

/// `path` with `{param}` of `replace` replaced by its value and every
/// other parameter by a well-formed value of its rule.
fn fill_path(doc: &Value, operation: &Value, path: &str, replace: Option<(&str, &str)>) -> String {
    let mut filled = path.to_string();
    for parameter in operation["parameters"].as_array().into_iter().flatten() {
        if parameter["in"] != "path" {
            continue;
        }
        let name = parameter["name"].as_str().expect("a name");
        let value = match replace {
            Some((which, value)) if which == name => value.to_string(),
            _ => well_formed(resolve(doc, &parameter["schema"])),
        };
        filled = filled.replace(&format!("{{{name}}}"), &value);
    }
    filled
}

/// A value the pattern of `schema` accepts, for the patterns the document
/// uses for path parameters.
fn well_formed(schema: &Value) -> String {
    match schema["pattern"].as_str().unwrap_or_default() {
        p if p.contains("[0-9a-f]{16}") => "0123456789abcdef".into(),
        p if p.contains("[0-9a-f]{12}") => "0123456789ab".into(),
        p if p.contains("{13,20}") => "0001764633600000-0a1b2c3d".into(),
        p if p.contains(r"\.[0-9]+\.") => "1.0.0".into(),
        _ => "acme".into(),
    }
}

/// Values the rule of `schema` refuses, percent-encoded for a path: one
/// character too long, and one off its pattern (an id's pattern takes no
/// capital or blank; a name's no `/`).
fn invalid_values(schema: &Value) -> Vec<String> {
    let mut values = Vec::new();
    if let Some(max) = schema["maxLength"].as_u64() {
        values.push(text_of(max as usize + 1, 'a'));
    }
    match schema["pattern"].as_str() {
        Some(pattern) if pattern.starts_with("^[^/]") => values.push("a%2Fb".to_string()),
        Some(_) => values.push("Not%20An%20Id!".to_string()),
        None => {}
    }
    values
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_states_what_the_server_enforces() {
    let world = world().await;
    let (host, admin) = (&world.host, world.admin.as_str());
    let reply = host.call(Method::GET, "/v1/openapi.json", None, None).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let doc = &reply.json;
    let all = operations(doc);
    assert!(all.len() > 40, "{} operations", all.len());

    // Every path parameter, every text query parameter and every text field
    // of a request body is constrained.
    let mut loose = Vec::new();
    for (method, path, operation) in &all {
        for parameter in operation["parameters"].as_array().into_iter().flatten() {
            let schema = resolve(doc, &parameter["schema"]);
            let name = parameter["name"].as_str().unwrap_or_default();
            if is_text(schema) && !is_constrained(schema) {
                loose.push(format!("{method} {path} parameter {name}"));
            }
            if schema["type"] == "integer"
                && name == "limit"
                && (schema["minimum"].is_null() || schema["maximum"].is_null())
            {
                loose.push(format!("{method} {path} limit has no range"));
            }
        }
        for content in operation["requestBody"]["content"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(_, c)| c)
        {
            loose_text(
                doc,
                &content["schema"],
                &format!("{method} {path} body"),
                0,
                &mut loose,
            );
        }
    }
    assert!(loose.is_empty(), "loosely documented: {loose:#?}");

    // A path parameter the document refuses is refused by the server.
    let mut sent = 0;
    for (method, path, operation) in &all {
        for parameter in operation["parameters"].as_array().into_iter().flatten() {
            if parameter["in"] != "path" {
                continue;
            }
            let name = parameter["name"].as_str().expect("a name");
            for value in invalid_values(resolve(doc, &parameter["schema"])).iter().take(2) {
                let target = fill_path(doc, operation, path, Some((name, value)));
                let verb = Method::from_bytes(method.to_uppercase().as_bytes()).expect("a method");
                let body = (*method != "get" && *method != "delete").then(|| json!({}));
                let reply = host.call(verb, &target, Some(admin), body.as_ref()).await;
                assert!(
                    (400..500).contains(&reply.status),
                    "{method} {target}: the document refuses `{name}` but the server answered {}: {}",
                    reply.status,
                    reply.text
                );
                sent += 1;
            }
        }
    }
    assert!(sent > 60 && sent < 400, "{sent} requests");

    // `limit`: its bounds are accepted, one past them refused.
    for path in [
        "/v1/tenants/{tenant}/records/{connector}/{stream}",
        "/v1/tenants/{tenant}/runs",
        "/v1/tenants/{tenant}/audit",
    ] {
        let limit = query_schema(doc, "get", path, "limit");
        let (min, max) = (
            limit["minimum"].as_u64().expect("a minimum"),
            limit["maximum"].as_u64().expect("a maximum"),
        );
        let target = path
            .replace("{tenant}", "acme")
            .replace("{connector}", "hello-connector")
            .replace("{stream}", "greetings");
        for (value, ok) in [
            (min, true),
            (max, true),
            (max + 1, false),
            (min.wrapping_sub(1), false),
        ] {
            let reply = host
                .call(Method::GET, &format!("{target}?limit={value}"), Some(admin), None)
                .await;
            assert_eq!(
                reply.status == 200,
                ok,
                "{target} limit={value}: {} {}",
                reply.status,
                reply.text
            );
            if !ok {
                assert!((400..500).contains(&reply.status), "{}", reply.text);
            }
        }
    }

    // The proposal statuses listed are those accepted.
    let status = query_schema(doc, "get", "/v1/tenants/{tenant}/proposals", "status");
    let statuses = enum_of(doc, status);
    assert!(statuses.len() >= 4, "{status}");
    for value in statuses.iter().filter_map(Value::as_str).chain(["bogus"]) {
        let reply = host
            .call(
                Method::GET,
                &format!("/v1/tenants/acme/proposals?status={value}"),
                Some(admin),
                None,
            )
            .await;
        let listed = statuses.contains(&json!(value));
        assert_eq!(reply.status == 200, listed, "status={value}: {}", reply.text);
    }

    // Tenants: an id and a name at their longest are accepted, one longer
    // or off the pattern refused.
    let id = property_rule(doc, "NewTenant", "id");
    let name = property_rule(doc, "NewTenant", "name");
    assert!(id.pattern.is_some() && name.pattern.is_some(), "{id:?} {name:?}");
    let tenant = |id: String, name: String| json!({"id": id, "name": name});
    for (body, created) in [
        (tenant(text_of(id.max, 'b'), "Longest id".into()), true),
        (tenant(text_of(id.min, 'c'), text_of(name.max, 'n')), true),
        (tenant(text_of(id.max + 1, 'd'), "Too long".into()), false),
        (tenant("Upper-Case".into(), "Off the pattern".into()), false),
        (tenant("long-name".into(), text_of(name.max + 1, 'n')), false),
        (tenant("blank-name".into(), " ".repeat(name.min.max(3))), false),
    ] {
        let reply = host
            .call(Method::POST, "/v1/tenants", Some(admin), Some(&body))
            .await;
        let expected = if created { 201 } else { 422 };
        assert_eq!(reply.status, expected, "{body}: {}", reply.text);
    }

    // Keys: the label's bounds, and only the roles listed.
    let label = property_rule(doc, "NewKey", "label");
    let roles = doc["components"]["schemas"]["NewKey"]["properties"]["role"]["enum"]
        .as_array()
        .cloned()
        .expect("the roles are listed");
    for (role, label_length) in [("viewer", label.max), ("viewer", label.max + 1), ("admin", 1)] {
        let body = json!({"role": role, "label": "l".repeat(label_length)});
        let reply = host
            .call(Method::POST, "/v1/tenants/acme/keys", Some(admin), Some(&body))
            .await;
        let ok = roles.contains(&json!(role)) && label_length <= label.max;
        assert_eq!(
            reply.status,
            if ok { 201 } else { 422 },
            "{role} {label_length}: {}",
            reply.text
        );
    }

    // Publishers: the name's rule, as packages need it.
    let publisher = property_rule(doc, "NewTrustedKey", "publisher");
    for (name, ok) in [
        (text_of(publisher.max, 'p'), true),
        (text_of(publisher.max + 1, 'p'), false),
        ("not a name".to_string(), false),
    ] {
        let key = PublisherKey::generate(&name.replace(' ', "-")).expect("a key");
        let body = json!({"publisher": name, "public_key": key.public_key_hex()});
        let reply = host
            .call(Method::POST, "/v1/publishers", Some(admin), Some(&body))
            .await;
        assert_eq!(reply.status, if ok { 201 } else { 422 }, "{name}: {}", reply.text);
    }
    let transfer = property_rule(doc, "NameTransfer", "publisher");
    let reply = host
        .call(
            Method::PUT,
            "/v1/plugins/hostile/owner",
            Some(admin),
            Some(&json!({"publisher": text_of(transfer.max + 1, 'p')})),
        )
        .await;
    assert_eq!(reply.status, 422, "{}", reply.text);

    // Fields checked before anything is looked up: the longest value is not
    // refused as invalid, one longer is.
    let reason = property_rule(doc, "Rejection", "reason");
    let streams = property_rule(doc, "SyncRequest", "streams");
    let requirement = property_rule(doc, "EnableRequest", "version");
    let expression = property_rule(doc, "Schedule", "expression");
    let zone = property_rule(doc, "Schedule", "timezone");
    let bounded: Vec<(Method, &str, BodyOfLength, usize)> = vec![
        (
            Method::POST,
            "/v1/tenants/acme/proposals/0123456789abcdef/reject",
            Box::new(|n| json!({"reason": text_of(n, 'r')})),
            reason.max,
        ),
        (
            Method::POST,
            "/v1/tenants/acme/plugins/hello-connector/sync",
            Box::new(|n| json!({"streams": [text_of(n, 's')]})),
            streams.max,
        ),
        (
            Method::PUT,
            "/v1/tenants/acme/plugins/hostile",
            Box::new(|n| json!({"version": format!("^1{}", " ".repeat(n.saturating_sub(2)))})),
            requirement.max,
        ),
        (
            Method::POST,
            "/v1/tenants/acme/jobs",
            Box::new(|n| cron_job(text_of(n, 'x'), "UTC".into())),
            expression.max,
        ),
        (
            Method::POST,
            "/v1/tenants/acme/jobs",
            Box::new(|n| cron_job("0 9 * * *".into(), text_of(n, 'z'))),
            zone.max,
        ),
    ];
    for (method, path, body, max) in &bounded {
        let longest = host
            .call(method.clone(), path, Some(admin), Some(&body(*max)))
            .await;
        let too_long = host
            .call(method.clone(), path, Some(admin), Some(&body(max + 1)))
            .await;
        assert!(
            (400..500).contains(&too_long.status),
            "{path} with {} characters: {}",
            max + 1,
            too_long.text
        );
        assert!(
            too_long.text.contains(&format!("to {max} characters")),
            "refused for its length: {}",
            too_long.text
        );
        assert!(
            !longest.text.contains(&format!("to {max} characters")),
            "{path} with {max} characters is not refused for its length: {}",
            longest.text
        );
        assert!(longest.status < 500, "{}", longest.text);
    }

    // An export the document does not list is refused.
    let exports = doc["components"]["schemas"]["InvokeRequest"]["properties"]["export"]["enum"]
        .as_array()
        .cloned()
        .expect("the exports are listed");
    assert!(exports.contains(&json!("check")), "{exports:?}");
    let reply = host
        .call(
            Method::POST,
            "/v1/tenants/acme/plugins/hello-connector/invoke",
            Some(admin),
            Some(&json!({"export": "chek"})),
        )
        .await;
    assert_eq!(reply.status, 422, "{}", reply.text);
    let reply = host
        .call(
            Method::POST,
            "/v1/tenants/acme/plugins/hello-connector/invoke",
            Some(admin),
            Some(&json!({"export": "check"})),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
}
