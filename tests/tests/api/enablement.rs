//! Re-configuring an enablement: secrets a request does not name are kept,
//! `null` clears one, refused changes change nothing, and a refused HTTP
//! grant says how to allow it.

use super::*;
use omnify_sandbox::stripe::API_KEY;
use omnify_tests::host::Reply;
use omnify_tests::platforms::{PlatformHost, TENANT};

const STRIPE: &str = "/v1/tenants/acme/plugins/stripe";

/// The sandbox's enablement of stripe without its `secrets`, as a partner
/// re-sends it to change something else.
fn without_secrets(env: &PlatformHost) -> Value {
    let mut body = env.enablement("stripe");
    body.as_object_mut().expect("an object").remove("secrets");
    body
}

/// The enablement re-sent with `secrets` set to `secrets`.
fn with_secrets(env: &PlatformHost, secrets: Value) -> Value {
    let mut body = without_secrets(env);
    body["secrets"] = secrets;
    body
}

/// `check` through stripe, which sends the `api_key` secret to the sandbox
/// as a bearer token; the sandbox refuses a missing or wrong one.
async fn check(env: &PlatformHost) -> Reply {
    env.invoke("stripe", "check", Value::Null).await
}

fn secret_names(reply: &Reply) -> Vec<&str> {
    reply.json["secret_names"]
        .as_array()
        .expect("secret names")
        .iter()
        .filter_map(Value::as_str)
        .collect()
}

/// The details of the newest `plugin.enable` audit entry.
async fn last_enable_details(env: &PlatformHost) -> Value {
    let entries = env.audit().await;
    let last = entries
        .iter()
        .rev()
        .find(|e| e["action"] == "plugin.enable")
        .expect("an enable entry");
    last["details"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_without_secrets_keeps_them_and_null_clears_one() {
    captured_logs();
    let env = PlatformHost::start(&["stripe"]).await;
    let first = check(&env).await;
    assert_eq!(first.status, 200, "the sandbox's key works: {}", first.text);

    // A wrong key fails the check: the check depends on the key arriving.
    let wrong = env
        .enable(
            "stripe",
            &with_secrets(&env, json!({"api_key": "sk_test_not_the_key"})),
        )
        .await;
    assert_eq!(wrong.status, 200, "{}", wrong.text);
    assert_eq!(
        secret_names(&wrong),
        ["api_key", "webhook_secret"],
        "the other one is kept"
    );
    let refused = check(&env).await;
    assert_eq!(
        refused.status, 424,
        "the platform refused the key: {}",
        refused.text
    );
    assert_eq!(
        refused.json["error"]["details"]["error"]["kind"], "auth",
        "{}",
        refused.text
    );

    // Only the secret named changes.
    let fixed = env
        .enable("stripe", &with_secrets(&env, json!({"api_key": API_KEY})))
        .await;
    assert_eq!(fixed.status, 200, "{}", fixed.text);
    let details = last_enable_details(&env).await;
    assert_eq!(details["secrets_set"], json!(["api_key"]));
    assert_eq!(details["secrets_cleared"], json!([]));

    // Re-sending the enablement without `secrets` keeps every secret.
    let update = env.enable("stripe", &without_secrets(&env)).await;
    assert_eq!(update.status, 200, "{}", update.text);
    assert_eq!(secret_names(&update), ["api_key", "webhook_secret"]);
    let kept = check(&env).await;
    assert_eq!(
        kept.status, 200,
        "the stored key still reaches the sandbox: {}",
        kept.text
    );
    let details = last_enable_details(&env).await;
    assert_eq!(details["secret_names"], json!(["api_key", "webhook_secret"]));
    assert_eq!(details["secrets_set"], json!([]));

    // `null` clears one secret, and the next call finds it missing.
    let cleared = env
        .enable("stripe", &with_secrets(&env, json!({"api_key": null})))
        .await;
    assert_eq!(cleared.status, 200, "{}", cleared.text);
    assert_eq!(secret_names(&cleared), ["webhook_secret"]);
    let listed = env.get(&format!("/v1/tenants/{TENANT}/plugins")).await;
    assert_eq!(
        listed.json[0]["secret_names"],
        json!(["webhook_secret"]),
        "{}",
        listed.text
    );
    let missing = check(&env).await;
    assert_eq!(
        missing.status, 424,
        "a missing secret is the configuration's: {}",
        missing.text
    );
    assert!(
        missing.text.contains("api_key"),
        "the error names the secret: {}",
        missing.text
    );
    let details = last_enable_details(&env).await;
    assert_eq!(details["secrets_cleared"], json!(["api_key"]));

    let audit = env.get(&format!("/v1/tenants/{TENANT}/audit/export")).await;
    assert!(
        !audit.text.contains(API_KEY),
        "the audit log names secrets, never their values"
    );
    assert!(!audit.text.contains("sk_test_not_the_key"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_secret_changes_change_nothing() {
    captured_logs();
    let env = PlatformHost::start(&["stripe"]).await;
    let (operator, _) = env.host.create_key(&env.admin, TENANT, "operator").await;
    let before = snapshot(&env.host);
    let narrowed = {
        let mut body = without_secrets(&env);
        body["grants"]["secrets"] = json!(["api_key"]);
        body
    };
    let refusals: [(&str, Value, &str); 5] = [
        (
            "a secret the plugin was not granted",
            with_secrets(&env, json!({"api_key": API_KEY, "other": "x"})),
            "`other` is not granted",
        ),
        (
            "clearing a secret that is neither granted nor stored",
            with_secrets(&env, json!({"other": null})),
            "`other` is not granted",
        ),
        (
            "a grant that leaves a stored secret outside it",
            narrowed.clone(),
            "{\"webhook_secret\": null}",
        ),
        (
            "clearing every secret at once is not what `null` means",
            with_secrets(&env, Value::Null),
            "secrets",
        ),
        (
            "a config the plugin's spec refuses, with a new key",
            {
                let mut body = with_secrets(&env, json!({"api_key": "sk_test_other"}));
                body["config"]["base_url"] = json!(7);
                body
            },
            "base_url",
        ),
    ];
    for (what, body, says) in refusals {
        let reply = env
            .host
            .call(Method::PUT, STRIPE, Some(&env.admin), Some(&body))
            .await;
        assert_eq!(reply.status, 422, "{what}: {}", reply.text);
        let message = reply.json["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{what}: {message}");
    }
    let by_operator = env
        .host
        .call(
            Method::PUT,
            STRIPE,
            Some(&operator),
            Some(&with_secrets(&env, json!({"api_key": null}))),
        )
        .await;
    assert_eq!(by_operator.status, 403, "{}", by_operator.text);
    assert_unchanged(&env.host, &before, "refused changes change nothing");
    let still = check(&env).await;
    assert_eq!(still.status, 200, "the key is still stored: {}", still.text);

    // The fix the refusal names: narrow the grant and clear the secret.
    let mut fixed = narrowed;
    fixed["secrets"] = json!({"webhook_secret": null});
    let reply = env.enable("stripe", &fixed).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(secret_names(&reply), ["api_key"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ungrantable_host_says_how_to_grant_it() {
    let world = world().await;
    let (host, admin) = (&world.host, world.admin.as_str());
    let before = snapshot(host);
    let body = json!({
        "config": {"names": ["Ada"]},
        "grants": {"http_hosts": ["localhost:8081"], "secrets": ["api_token"], "kv": true},
    });
    let reply = host.enable(admin, "acme", "hello-connector", &body).await;
    assert_eq!(reply.status, 422, "{}", reply.text);
    let message = reply.json["error"]["message"].as_str().unwrap_or_default();
    for hint in [
        "`localhost:8081` is not in the plugin's manifest",
        "[\"quotes.example.com\"]",
        "`127.0.0.1:*`",
        "omnify serve --grantable-host localhost:8081",
        "`localhost:*` for any port",
        "private or loopback address",
        "`grants` field of the enablement request",
        "{\"grants\":{\"http_hosts\":[\"localhost:8081\"],\"kv\":true,\"secrets\":[\"api_token\"]}}",
        "the scheme's default port (443 for https, 80 for http)",
    ] {
        assert!(message.contains(hint), "`{hint}` missing from: {message}");
    }
    assert_unchanged(host, &before, "the refusal changes nothing");

    // The operator's `127.0.0.1:*` makes a loopback port grantable.
    let granted = json!({
        "config": {"names": ["Ada"]},
        "grants": {"http_hosts": ["127.0.0.1:8081"], "secrets": ["api_token"], "kv": true},
    });
    let reply = host.enable(admin, "acme", "hello-connector", &granted).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.json["secret_names"],
        json!(["api_token"]),
        "the secret was kept"
    );
}
