//! The admin's pages: tenants created and suspended from the console, a
//! configuration the plugin's schema refuses shown next to its field,
//! secrets never shown, the guardrails simulated before they are saved, and
//! every admin page and form refused to an operator.

use super::browser::{Browser, Page, key};
use omnify_tests::platforms::{PlatformHost, TENANT};
use omnify_tests::proposing::{budget_change, propose, start};
use serde_json::Value;

/// Undo the escaping of a template's attribute value.
fn unescaped(text: &str) -> String {
    text.replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&#60;", "<")
        .replace("&gt;", ">")
        .replace("&#62;", ">")
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

/// The `config.*` fields of an enablement form as the page fills them in.
fn config_fields(page: &Page) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    let marker = "name=\"config.";
    let mut rest = page.text.as_str();
    for _ in 0..100 {
        let Some(start) = rest.find(marker) else { break };
        rest = &rest[start + marker.len()..];
        let name_end = rest.find('"').expect("the name ends");
        let name = rest[..name_end].to_string();
        let value_marker = "value=\"";
        let value_start = rest.find(value_marker).expect("a value") + value_marker.len();
        let value_end = rest[value_start..].find('"').expect("the value ends") + value_start;
        fields.push((format!("config.{name}"), unescaped(&rest[value_start..value_end])));
        rest = &rest[value_end..];
    }
    fields
}

/// The part of `page` from the element with `id` to the next field.
fn field_block<'a>(page: &'a Page, id: &str) -> &'a str {
    let start = page
        .text
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no {id} in {}", page.text));
    let rest = &page.text[start..];
    let end = rest[1..]
        .find("<div class=\"field\"")
        .map_or(rest.len(), |e| e + 1);
    &rest[..end]
}

async fn admin_browser(env: &PlatformHost) -> Browser {
    let mut browser = Browser::new(&env.host.url);
    let signed_in = browser.sign_in(&env.admin).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.text);
    browser
}

fn pairs(fields: &[(String, String)]) -> Vec<(&str, &str)> {
    fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_creates_and_suspends_a_tenant_and_an_operator_gets_403_everywhere() {
    let env = start().await;
    let browser = admin_browser(&env).await;
    let tenants = browser.get("/console/admin/tenants").await;
    assert_eq!(tenants.status, 200, "{}", tenants.text);
    assert!(tenants.text.contains(&format!("id=\"tenant-{TENANT}\"")));
    let csrf = tenants.csrf();

    let created = browser
        .post(
            "/console/admin/tenants",
            &[("csrf", &csrf), ("id", "globex"), ("name", "Globex Inc")],
        )
        .await;
    assert_eq!(created.status, 303, "{}", created.text);
    assert_eq!(created.location(), "/console/admin/tenants");
    let listed = browser.get("/console/admin/tenants").await;
    assert!(listed.text.contains("Tenant globex created."), "{}", listed.text);
    assert!(listed.text.contains("id=\"tenant-globex\""));
    let tenant = env.get("/v1/tenants/globex").await;
    assert_eq!(tenant.status, 200, "{}", tenant.text);
    assert_eq!(tenant.json["name"], "Globex Inc");
    assert_eq!(tenant.json["status"], "active");

    // A refused creation says why and keeps the page.
    let duplicate = browser
        .post("/console/admin/tenants", &[("csrf", &csrf), ("id", "globex")])
        .await;
    assert_eq!(duplicate.status, 409, "{}", duplicate.text);

    let suspend = "/console/admin/tenants/globex/suspend";
    assert_eq!(browser.post(suspend, &[]).await.status, 403, "no CSRF token");
    assert_eq!(env.get("/v1/tenants/globex").await.json["status"], "active");
    let suspended = browser.post(suspend, &[("csrf", &csrf)]).await;
    assert_eq!(suspended.status, 303, "{}", suspended.text);
    assert_eq!(env.get("/v1/tenants/globex").await.json["status"], "suspended");
    let listed = browser.get("/console/admin/tenants").await;
    assert!(listed.text.contains("Tenant globex suspended"), "{}", listed.text);
    assert!(listed.text.contains("/console/admin/tenants/globex/resume"));

    let quotas = "/console/admin/tenants/globex/quotas";
    let bad = browser
        .post(quotas, &[("csrf", &csrf), ("fuel_per_day", "lots")])
        .await;
    assert_eq!(bad.status, 422, "{}", bad.text);
    assert!(bad.text.contains("not a whole number"), "{}", bad.text);
    assert!(env.get("/v1/tenants/globex").await.json["quotas"]["fuel_per_day"].is_null());
    let set = browser
        .post(
            quotas,
            &[
                ("csrf", &csrf),
                ("fuel_per_day", "1000000"),
                ("calls_per_minute", "60"),
            ],
        )
        .await;
    assert_eq!(set.status, 303, "{}", set.text);
    let quotas_now = env.get("/v1/tenants/globex").await.json["quotas"].clone();
    assert_eq!(quotas_now["fuel_per_day"], 1_000_000);
    assert_eq!(quotas_now["calls_per_minute"], 60);
    let plugins = browser.get("/console/admin/plugins").await;
    assert_eq!(plugins.status, 200, "{}", plugins.text);
    assert!(
        plugins.text.contains("id=\"plugin-meta-ads\""),
        "{}",
        plugins.text
    );

    // An operator of the tenant: every admin page and form is refused.
    let (operator, _) = key(&env, "operator").await;
    let mut as_operator = Browser::new(&env.host.url);
    let inbox = as_operator.sign_in_to_inbox(&operator).await;
    assert!(!inbox.text.contains("/console/admin/tenants"), "no admin link");
    let csrf = inbox.csrf();
    let version = env.get("/v1/plugins/meta-ads/versions").await.json[0]["version"]
        .as_str()
        .expect("a version")
        .to_string();
    let pages = [
        "/console/admin/tenants".to_string(),
        "/console/admin/plugins".to_string(),
        format!("/console/tenants/{TENANT}/admin/plugins"),
        format!("/console/tenants/{TENANT}/admin/plugins/meta-ads"),
        format!("/console/tenants/{TENANT}/admin/autonomy"),
    ];
    for page in &pages {
        let refused = as_operator.get(page).await;
        assert_eq!(refused.status, 403, "{page}: {}", refused.text);
    }
    let guardrails = [
        ("level", "autonomous"),
        ("max_change_percent", "50"),
        ("low_impact_percent", "5"),
        ("max_change_absolute", ""),
        ("proposal_ttl_hours", "72"),
        ("stale_tolerance_percent", "1"),
        ("expert_sla_hours", "4"),
    ];
    let forms: Vec<(String, Vec<(&str, &str)>)> = vec![
        ("/console/admin/tenants".into(), vec![("id", "initech")]),
        (format!("/console/admin/tenants/{TENANT}/suspend"), vec![]),
        (format!("/console/admin/tenants/{TENANT}/resume"), vec![]),
        (
            format!("/console/admin/tenants/{TENANT}/quotas"),
            vec![("fuel_per_day", "1")],
        ),
        (
            format!("/console/admin/plugins/meta-ads/versions/{version}/yank"),
            vec![],
        ),
        (
            format!("/console/tenants/{TENANT}/admin/plugins/meta-ads"),
            vec![("config.ad_account_id", "act_1"), ("clear.app_secret", "1")],
        ),
        (
            format!("/console/tenants/{TENANT}/admin/plugins/meta-ads/upgrade"),
            vec![],
        ),
        (
            format!("/console/tenants/{TENANT}/admin/plugins/meta-ads/rollback"),
            vec![],
        ),
        (
            format!("/console/tenants/{TENANT}/admin/autonomy"),
            guardrails.to_vec(),
        ),
        (
            format!("/console/tenants/{TENANT}/admin/autonomy/simulate"),
            guardrails.to_vec(),
        ),
    ];
    let audit_before = env.audit().await.len();
    for (path, fields) in forms {
        let mut fields = fields;
        fields.push(("csrf", &csrf));
        let refused = as_operator.post(&path, &fields).await;
        assert_eq!(refused.status, 403, "{path}: {}", refused.text);
    }
    assert_eq!(env.get("/v1/tenants/initech").await.status, 404);
    let acme = env.get(&format!("/v1/tenants/{TENANT}")).await.json;
    assert_eq!(acme["status"], "active");
    assert!(acme["quotas"]["fuel_per_day"].is_null());
    let pinned = env
        .get(&format!("/v1/plugins/meta-ads/versions/{version}"))
        .await
        .json;
    assert_eq!(pinned["yanked"], false);
    let enablement = env.get(&format!("/v1/tenants/{TENANT}/plugins")).await.json;
    let meta = enablement
        .as_array()
        .and_then(|all| all.iter().find(|e| e["plugin"] == "meta-ads"))
        .expect("meta-ads")
        .clone();
    assert!(
        meta["secret_names"].as_array().is_some_and(|n| n.len() == 2),
        "{meta}"
    );
    let autonomy = env.get(&format!("/v1/tenants/{TENANT}/autonomy")).await.json;
    assert_eq!(autonomy["level"], "human-led");
    assert_eq!(env.audit().await.len(), audit_before, "nothing was audited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_the_schema_refuses_is_shown_at_its_field_and_secrets_are_never_shown() {
    let env = PlatformHost::start(&["meta-ads"]).await;
    let sandbox = env.enablement("meta-ads");
    let stored_secrets: Vec<String> = sandbox["secrets"]
        .as_object()
        .expect("secrets")
        .values()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    let new_secret = "console-typed-secret-7d1f";
    let never_shown = |page: &Page| {
        for secret in stored_secrets.iter().map(String::as_str).chain([new_secret]) {
            assert!(!page.text.contains(secret), "a secret is shown: {}", page.text);
        }
    };
    let enablement_now = || async {
        let listed = env.get(&format!("/v1/tenants/{TENANT}/plugins")).await.json;
        listed
            .as_array()
            .and_then(|all| all.iter().find(|e| e["plugin"] == "meta-ads").cloned())
            .expect("meta-ads is enabled")
    };
    let before = enablement_now().await;
    let browser = admin_browser(&env).await;
    let path = format!("/console/tenants/{TENANT}/admin/plugins/meta-ads");
    let list = browser
        .get(&format!("/console/tenants/{TENANT}/admin/plugins"))
        .await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert!(list.text.contains("id=\"enablement-meta-ads\""));
    never_shown(&list);
    let form = browser.get(&path).await;
    assert_eq!(form.status, 200, "{}", form.text);
    never_shown(&form);
    assert!(form.text.contains("id=\"secret-app_secret\""), "{}", form.text);
    let csrf = form.csrf();
    let fields = config_fields(&form);
    assert!(
        fields.iter().any(|(k, _)| k == "config.ad_account_id"),
        "{fields:?}"
    );
    // What the page shows reads back as the stored configuration.
    for (name, value) in &fields {
        let key = name.trim_start_matches("config.");
        let read: Value = serde_json::from_str(value.trim()).unwrap_or_else(|_| Value::String(value.clone()));
        assert_eq!(before["config"][key], read, "{name}");
    }

    // A configuration the schema refuses, with a secret typed: refused at
    // its field, the secret not shown again, nothing changed.
    let mut bad: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| {
            if k == "config.ad_account_id" {
                (k.clone(), "not-an-account".to_string())
            } else {
                (k.clone(), v.clone())
            }
        })
        .collect();
    bad.push(("secret.app_secret".into(), new_secret.into()));
    bad.push(("csrf".into(), csrf.clone()));
    let audit_before = env.audit().await.len();
    let refused = browser.post(&path, &pairs(&bad)).await;
    assert_eq!(refused.status, 422, "{}", refused.text);
    let block = field_block(&refused, "field-ad_account_id");
    assert!(block.contains("class=\"error\""), "{block}");
    assert!(block.contains("does not match"), "{block}");
    assert!(block.contains("not-an-account"), "the typed value stays: {block}");
    assert!(!field_block(&refused, "field-base_url").contains("class=\"error\""));
    never_shown(&refused);
    assert_eq!(enablement_now().await, before, "nothing changed");
    assert_eq!(env.audit().await.len(), audit_before, "nothing was audited");

    // A valid configuration with the secret replaced: saved, never shown.
    let mut good = fields.clone();
    good.push(("secret.app_secret".into(), new_secret.into()));
    good.push(("csrf".into(), csrf.clone()));
    let saved = browser.post(&path, &pairs(&good)).await;
    assert_eq!(saved.status, 303, "{}", saved.text);
    assert_eq!(saved.location(), path);
    let after = browser.get(&path).await;
    assert!(after.text.contains("was saved"), "{}", after.text);
    never_shown(&after);
    never_shown(
        &browser
            .get(&format!("/console/tenants/{TENANT}/admin/plugins"))
            .await,
    );
    never_shown(&browser.get(&format!("/console/tenants/{TENANT}/audit")).await);
    let now = enablement_now().await;
    assert_eq!(now["config"], before["config"]);
    assert_eq!(now["grants"], before["grants"], "the grants are kept");
    assert_eq!(now["version"], before["version"]);
    let audit = env.audit().await;
    let set = audit
        .iter()
        .rev()
        .find(|e| e["action"] == "plugin.enable")
        .expect("the change is audited");
    assert_eq!(set["actor"], "admin");
    assert_eq!(
        set["details"]["secrets_set"],
        serde_json::json!(["app_secret"]),
        "{set}"
    );
    assert!(!serde_json::to_string(&audit).expect("json").contains(new_secret));

    // Clearing a secret.
    let mut clear = fields.clone();
    clear.push(("clear.app_secret".into(), "1".into()));
    clear.push(("csrf".into(), csrf));
    let cleared = browser.post(&path, &pairs(&clear)).await;
    assert_eq!(cleared.status, 303, "{}", cleared.text);
    assert_eq!(
        enablement_now().await["secret_names"],
        serde_json::json!(["access_token"])
    );
    let form = browser.get(&path).await;
    assert!(
        field_block(&form, "secret-app_secret").contains("not set"),
        "{}",
        form.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guardrail_page_shows_the_simulation_before_saving() {
    let env = start().await;
    let proposals = propose(
        &env,
        vec![
            budget_change(&env, 0, 10.0, 0.9),
            budget_change(&env, 1, 30.0, 0.9),
        ],
        vec![],
    )
    .await;
    assert!(
        proposals.iter().all(|p| p["status"] == "pending"),
        "human-led by default"
    );
    let browser = admin_browser(&env).await;
    let path = format!("/console/tenants/{TENANT}/admin/autonomy");
    let page = browser.get(&path).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(!page.text.contains("id=\"simulation\""));
    assert!(!page.text.contains("id=\"save\""), "no saving before simulating");
    let csrf = page.csrf();
    let candidate = |max: &'static str| {
        vec![
            ("level", "autonomous"),
            ("max_change_percent", max),
            ("low_impact_percent", "5"),
            ("max_change_absolute", ""),
            ("proposal_ttl_hours", "72"),
            ("stale_tolerance_percent", "1"),
            ("expert_sla_hours", "4"),
        ]
    };
    let autonomy = || async { env.get(&format!("/v1/tenants/{TENANT}/autonomy")).await.json };
    let before = autonomy().await;

    let mut bad = candidate("-5");
    bad.push(("csrf", &csrf));
    let refused = browser.post(&format!("{path}/simulate"), &bad).await;
    assert_eq!(refused.status, 422, "{}", refused.text);
    assert!(refused.text.contains("percentages"), "{}", refused.text);
    assert!(!refused.text.contains("id=\"save\""));

    let mut fields = candidate("15");
    fields.push(("csrf", &csrf));
    let simulated = browser.post(&format!("{path}/simulate"), &fields).await;
    assert_eq!(simulated.status, 200, "{}", simulated.text);
    assert!(simulated.text.contains("id=\"simulation\""), "{}", simulated.text);
    // The candidate runs the 10% raise and queues the 30% one.
    let totals = field_block(&simulated, "candidate-totals");
    let totals = &totals[..totals.find("</tr>").expect("a row")];
    assert!(
        totals.contains("<td>1</td><td>1</td><td>0</td><td>0</td>"),
        "{totals}"
    );
    for proposal in &proposals {
        let id = proposal["id"].as_str().expect("an id");
        assert!(
            simulated.text.contains(&format!("id=\"sim-{id}\"")),
            "{}",
            simulated.text
        );
    }
    assert!(simulated.text.contains("id=\"save\""));
    assert_eq!(autonomy().await, before, "simulating saves nothing");

    let saved = browser.post(&path, &fields).await;
    assert_eq!(saved.status, 303, "{}", saved.text);
    assert_eq!(saved.location(), path);
    let after = browser.get(&path).await;
    assert!(after.text.contains("Autonomy saved"), "{}", after.text);
    let now = autonomy().await;
    assert_eq!(now["level"], "autonomous");
    assert_eq!(now["guardrails"]["max_change_percent"], 15.0);
    let audit = env.audit().await;
    let set = audit
        .iter()
        .rev()
        .find(|e| e["action"] == "autonomy.set")
        .expect("the change is audited");
    assert_eq!(set["actor"], "admin");
    assert_eq!(set["details"]["level"], "autonomous");
    assert_eq!(set["details"]["guardrails"]["max_change_percent"], 15.0);
}
