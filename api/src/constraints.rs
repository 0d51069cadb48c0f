//! The constraints the API enforces on ids and text, stated once: the
//! OpenAPI document is given them (so that generated clients check before
//! sending) and the handlers check the fields the layers below check more
//! loosely against the very same rules, with a JSON Schema validator, so the
//! document and the server cannot disagree.

use super::error::ApiError;
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::OnceLock;
use utoipa::Modify;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{ArrayItems, Object, ObjectBuilder, Schema, Type};
use utoipa::openapi::{OpenApi, PathItem, RefOr};

/// What a text value must look like: a JSON Schema `pattern` and lengths
/// in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// A pattern the value matches (ECMA-262, as JSON Schema has it).
    pub pattern: Option<&'static str>,
    /// The fewest characters.
    pub min_length: usize,
    /// The most characters.
    pub max_length: usize,
}

/// A tenant id, a plugin name, a connector: what `is_plugin_name` accepts.
pub const ID: Rule = Rule {
    pattern: Some("^[a-z][a-z0-9-]*$"),
    min_length: 1,
    max_length: 64,
};

/// A publisher's name: what `is_publisher_name` accepts.
pub const PUBLISHER: Rule = Rule {
    pattern: Some("^[A-Za-z0-9][A-Za-z0-9._-]*$"),
    min_length: 1,
    max_length: 64,
};

/// An exact semver version, as packages are published.
pub const VERSION: Rule = Rule {
    pattern: Some(r"^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$"),
    min_length: 5,
    max_length: 128,
};

/// A semver requirement such as `^1.2`.
pub const REQUIREMENT: Rule = Rule {
    pattern: Some(r"\S"),
    min_length: 1,
    max_length: 256,
};

/// A stream's name.
pub const STREAM: Rule = Rule {
    pattern: Some("^[^/]+$"),
    min_length: 1,
    max_length: 256,
};

/// A run's id: Unix milliseconds and 8 hex digits.
pub const RUN_ID: Rule = Rule {
    pattern: Some("^[0-9]{13,20}-[0-9a-f]{8}$"),
    min_length: 22,
    max_length: 29,
};

/// Random ids of 8 bytes: API keys, publisher keys, proposals.
pub const HEX16: Rule = Rule {
    pattern: Some("^[0-9a-f]{16}$"),
    min_length: 16,
    max_length: 16,
};

/// A job's id: 6 random bytes.
pub const JOB_ID: Rule = Rule {
    pattern: Some("^[0-9a-f]{12}$"),
    min_length: 12,
    max_length: 12,
};

/// An ed25519 public key in hex.
pub const PUBLIC_KEY: Rule = Rule {
    pattern: Some("^[0-9a-fA-F]{64}$"),
    min_length: 64,
    max_length: 64,
};

/// A name for people: not only blanks.
pub const NAME: Rule = Rule {
    pattern: Some(r"\S"),
    min_length: 1,
    max_length: 200,
};

/// A key's label, which may be empty.
pub const LABEL: Rule = Rule {
    pattern: None,
    min_length: 0,
    max_length: 200,
};

/// Why a proposal was rejected: not only blanks.
pub const REASON: Rule = Rule {
    pattern: Some(r"\S"),
    min_length: 1,
    max_length: 2000,
};

/// A cron expression of five fields.
pub const CRON: Rule = Rule {
    pattern: Some(r"\S"),
    min_length: 1,
    max_length: 256,
};

/// An IANA time zone name.
pub const TIME_ZONE: Rule = Rule {
    pattern: Some("^[A-Za-z0-9_+/-]+$"),
    min_length: 1,
    max_length: 64,
};

/// A secret's name, as manifests declare them.
pub const SECRET_NAME: Rule = Rule {
    pattern: Some("^[A-Za-z0-9_-]+$"),
    min_length: 1,
    max_length: 128,
};

/// A grant such as a host pattern, `connector/stream` or `connector:action`.
pub const GRANT: Rule = Rule {
    pattern: Some(r"^\S+$"),
    min_length: 1,
    max_length: 256,
};

/// A paging cursor (see [`super::cursor`]).
pub const CURSOR: Rule = Rule {
    pattern: Some(super::cursor::CURSOR_PATTERN),
    min_length: 1,
    max_length: super::cursor::MAX_CURSOR_CHARS,
};

/// A records filter, `field:value`.
pub const FILTER: Rule = Rule {
    pattern: Some("^[^:]+:"),
    min_length: 2,
    max_length: 4096,
};

/// A day, `YYYY-MM-DD`.
pub const DAY: Rule = Rule {
    pattern: Some("^[0-9]{4}-[0-9]{2}-[0-9]{2}$"),
    min_length: 10,
    max_length: 10,
};

/// An OAuth client's id or secret: no control characters.
pub const CREDENTIAL: Rule = Rule {
    pattern: Some("^[^\\x00-\\x1f\\x7f]+$"),
    min_length: 1,
    max_length: 512,
};

/// An OAuth endpoint an admin names.
pub const ENDPOINT: Rule = Rule {
    pattern: Some("^https?://"),
    min_length: 8,
    max_length: 2048,
};

/// A Shopify shop's own domain.
pub const SHOP: Rule = Rule {
    pattern: Some("^[A-Za-z0-9][A-Za-z0-9-]*\\.myshopify\\.com$"),
    min_length: 15,
    max_length: 74,
};

/// The text query parameters: by name and route.
const QUERY_PARAMETERS: &[(&str, &str, Rule)] = &[
    ("connector", "/v1/tenants/{tenant}/reports/{dataset}", ID),
    ("stream", "/v1/tenants/{tenant}/reports/{dataset}", STREAM),
    ("from", "/v1/tenants/{tenant}/reports/{dataset}", DAY),
    ("to", "/v1/tenants/{tenant}/reports/{dataset}", DAY),
    (
        "after",
        "/v1/tenants/{tenant}/records/{connector}/{stream}",
        CURSOR,
    ),
    (
        "filter",
        "/v1/tenants/{tenant}/records/{connector}/{stream}",
        FILTER,
    ),
    ("after", "/v1/tenants/{tenant}/runs", RUN_ID),
    ("after", "/v1/tenants/{tenant}/proposals", HEX16),
];

/// The path parameters: by name, and the path prefix when one name means
/// different things.
const PATH_PARAMETERS: &[(&str, &str, Rule)] = &[
    ("tenant", "/", ID),
    ("plugin", "/", ID),
    ("connector", "/", ID),
    ("version", "/", VERSION),
    ("stream", "/", STREAM),
    ("run", "/", RUN_ID),
    ("job", "/", JOB_ID),
    ("proposal", "/", HEX16),
    ("endpoint", "/", HEX16),
    ("provider", "/", ID),
    ("key", "/v1/tenants/", HEX16),
    ("key", "/v1/publishers/", HEX16),
];

/// The text fields of request bodies whose schemas are defined outside the
/// API layer, or whose rule a derive cannot say.
const PROPERTIES: &[(&str, &str, Rule)] = &[
    ("NewTenant", "id", ID),
    ("NewTenant", "name", NAME),
    ("NewKey", "label", LABEL),
    ("NewTrustedKey", "publisher", PUBLISHER),
    ("NewTrustedKey", "public_key", PUBLIC_KEY),
    ("NameTransfer", "publisher", PUBLISHER),
    ("Rejection", "reason", REASON),
    ("NewJob", "plugin", ID),
    ("Schedule", "expression", CRON),
    ("Schedule", "timezone", TIME_ZONE),
    ("SyncRequest", "streams", STREAM),
    ("EnableRequest", "version", REQUIREMENT),
    ("GrantSpec", "http_hosts", GRANT),
    ("GrantSpec", "secrets", SECRET_NAME),
    ("GrantSpec", "data_streams", GRANT),
    ("GrantSpec", "proposes", GRANT),
    ("OAuthClientRequest", "client_id", CREDENTIAL),
    ("OAuthClientRequest", "client_secret", CREDENTIAL),
    ("OAuthClientRequest", "authorize_url", ENDPOINT),
    ("OAuthClientRequest", "token_url", ENDPOINT),
    ("ConnectRequest", "shop", SHOP),
];

/// Fields whose values are one of a list the derive does not know.
const ENUMS: &[(&str, &str, &[&str])] = &[
    // An API key is never the admin's.
    ("NewKey", "role", &["viewer", "operator", "expert"]),
    ("SyncRequest", "mode", &["incremental", "full-refresh"]),
    (
        "InvokeRequest",
        "export",
        &[
            "spec",
            "check",
            "discover",
            "read",
            "actions",
            "act",
            "preview",
            "verify-webhook",
            "describe",
            "run",
        ],
    ),
];

impl Rule {
    /// The rule as a JSON Schema.
    pub fn schema(&self) -> Value {
        let mut schema = json!({
            "type": "string",
            "minLength": self.min_length,
            "maxLength": self.max_length,
        });
        if let Some(pattern) = self.pattern {
            schema["pattern"] = json!(pattern);
        }
        schema
    }

    /// `value` if it keeps the rule; otherwise a 422 naming `field` and the
    /// rule.
    pub fn check(&self, field: &str, value: &str) -> Result<(), ApiError> {
        if validator(self).is_none_or(|validator| validator.is_valid(&json!(value))) {
            return Ok(());
        }
        let pattern = self
            .pattern
            .map(|p| format!(" matching `{p}`"))
            .unwrap_or_default();
        Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            format!(
                "`{field}` must be {} to {} characters{pattern}",
                self.min_length, self.max_length
            ),
        ))
    }

    fn apply(&self, object: &mut Object) {
        object.pattern = self.pattern.map(str::to_string);
        object.min_length = Some(self.min_length);
        object.max_length = Some(self.max_length);
    }
}

/// The compiled validator of `rule`: those of the tables are built once,
/// others when asked; none only if a pattern does not compile, which a unit
/// test rules out for every rule here.
fn validator(rule: &Rule) -> Option<std::borrow::Cow<'static, jsonschema::Validator>> {
    static BUILT: OnceLock<HashMap<String, jsonschema::Validator>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        PATH_PARAMETERS
            .iter()
            .chain(QUERY_PARAMETERS)
            .chain(PROPERTIES)
            .map(|(_, _, rule)| rule.schema())
            .filter_map(|schema| Some((schema.to_string(), jsonschema::validator_for(&schema).ok()?)))
            .collect()
    });
    let schema = rule.schema();
    match built.get(&schema.to_string()) {
        Some(validator) => Some(std::borrow::Cow::Borrowed(validator)),
        None => jsonschema::validator_for(&schema)
            .ok()
            .map(std::borrow::Cow::Owned),
    }
}

/// Gives the document the rules of [`PATH_PARAMETERS`], [`PROPERTIES`] and
/// [`ENUMS`].
pub(super) struct Stated;

impl Modify for Stated {
    fn modify(&self, openapi: &mut OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            for operation in operations(item) {
                let parameters = operation.parameters.iter_mut().flatten();
                for parameter in parameters.filter_map(|parameter| match parameter {
                    RefOr::T(parameter) => Some(parameter),
                    RefOr::Ref(_) => None,
                }) {
                    let rule = match parameter.parameter_in {
                        ParameterIn::Path => PATH_PARAMETERS
                            .iter()
                            .find(|(name, prefix, _)| *name == parameter.name && path.starts_with(prefix)),
                        ParameterIn::Query => QUERY_PARAMETERS
                            .iter()
                            .find(|(name, route, _)| *name == parameter.name && path == route),
                        _ => None,
                    };
                    if let (Some((_, _, rule)), Some(RefOr::T(Schema::Object(object)))) =
                        (rule, parameter.schema.as_mut())
                    {
                        rule.apply(object);
                    }
                }
            }
        }
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        for (schema, property, rule) in PROPERTIES {
            let applied = components
                .schemas
                .get_mut(*schema)
                .map(|schema| with_property(schema, property, &mut |object| rule.apply(object)))
                .unwrap_or(false);
            if !applied {
                tracing::warn!(
                    schema,
                    property,
                    "the OpenAPI document has no such property to constrain"
                );
            }
        }
        for (schema, property, values) in ENUMS {
            let values: Vec<Value> = values.iter().map(|v| json!(v)).collect();
            let applied = match components.schemas.get_mut(*schema) {
                // A reference (to `Role`, say) becomes the text it allows here.
                Some(RefOr::T(Schema::Object(object))) => match object.properties.get_mut(*property) {
                    Some(inner @ RefOr::Ref(_)) => {
                        *inner = RefOr::T(Schema::Object(
                            ObjectBuilder::new()
                                .schema_type(Type::String)
                                .enum_values(Some(values.clone()))
                                .build(),
                        ));
                        true
                    }
                    Some(inner) => {
                        text_schemas(inner, &mut |object| object.enum_values = Some(values.clone()))
                    }
                    None => false,
                },
                _ => false,
            };
            if !applied {
                tracing::warn!(
                    schema,
                    property,
                    "the OpenAPI document has no such property to list"
                );
            }
        }
    }
}

/// Refuse a path whose parameters do not keep their rules, as the 404 of
/// something that cannot exist (`route` is the matched route, such as
/// `/v1/tenants/{tenant}`).
pub(super) fn check_path<'p>(
    route: &str,
    params: impl Iterator<Item = (&'p str, &'p str)>,
) -> Result<(), ApiError> {
    for (name, value) in params {
        let rule = PATH_PARAMETERS
            .iter()
            .find(|(param, prefix, _)| *param == name && route.starts_with(prefix));
        if let Some((_, _, rule)) = rule
            && let Err(refused) = rule.check(name, value)
        {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no {name} `{value}`: {}", refused.message),
            ));
        }
    }
    Ok(())
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.post.as_mut(),
        item.put.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// Change the text schema of `property` of `schema` (in each variant of a
/// `oneOf`, in the items of an array) with `change`; whether there was one.
fn with_property(schema: &mut RefOr<Schema>, property: &str, change: &mut dyn FnMut(&mut Object)) -> bool {
    match schema {
        RefOr::T(Schema::Object(object)) => match object.properties.get_mut(property) {
            Some(inner) => text_schemas(inner, change),
            None => false,
        },
        RefOr::T(Schema::OneOf(one_of)) => {
            // Every variant, not only the first that has the property.
            let mut found = false;
            for item in &mut one_of.items {
                found |= with_property(item, property, change);
            }
            found
        }
        _ => false,
    }
}

/// Apply `change` to the text schemas in `schema`: itself, an array's items,
/// each variant of a `oneOf` (such as an optional value's).
fn text_schemas(schema: &mut RefOr<Schema>, change: &mut dyn FnMut(&mut Object)) -> bool {
    match schema {
        RefOr::T(Schema::Object(object)) => {
            change(object);
            true
        }
        RefOr::T(Schema::Array(array)) => match &mut array.items {
            ArrayItems::RefOrSchema(items) => text_schemas(items, change),
            ArrayItems::False => false,
        },
        RefOr::T(Schema::OneOf(one_of)) => {
            let mut found = false;
            for item in &mut one_of.items {
                found |= text_schemas(item, change);
            }
            found
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_compiles_and_holds_at_its_bounds() {
        let rules = PATH_PARAMETERS
            .iter()
            .chain(QUERY_PARAMETERS)
            .chain(PROPERTIES)
            .map(|(_, _, rule)| *rule);
        for rule in rules {
            assert!(validator(&rule).is_some(), "{rule:?} compiles");
            assert!(
                rule.check("field", &"a".repeat(rule.max_length + 1)).is_err(),
                "{rule:?}"
            );
        }
        assert!(ID.check("tenant", &"a".repeat(64)).is_ok());
        assert!(ID.check("tenant", "Acme").is_err());
        assert!(
            NAME.check("name", &"é".repeat(200)).is_ok(),
            "lengths are in characters"
        );
        assert!(NAME.check("name", "   ").is_err());
        assert!(LABEL.check("label", "").is_ok());
        assert!(RUN_ID.check("run", "0001764633600000-0a1b2c3d").is_ok());
    }
}
