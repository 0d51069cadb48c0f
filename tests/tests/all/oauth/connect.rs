//! Signing in: every provider's whole flow against its sandbox, with the
//! tokens sealed and absent from every answer, the audit log and the store's
//! files; a wrong, used or forged callback changes nothing; wrong client
//! configuration and wrong sign-in starts are refused naming the problem.

use super::*;
use omnify_tests::platforms::TENANT;
use reqwest::Method;
use serde_json::{Value, json};

/// Every first-party connector.
const ALL: [&str; 7] = [
    "google-ads",
    "meta-ads",
    "tiktok-ads",
    "shopify",
    "stripe",
    "linkedin-ads",
    "gohighlevel",
];

/// Every file under `dir`, read.
fn files_under(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            found.push((path.display().to_string(), bytes));
        }
    }
    found
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_provider_signs_in_and_its_tokens_stay_sealed() {
    let env = signed_out(&ALL).await;
    let mut answers = Vec::new();
    for connector in ALL {
        let before = env.invoke(connector, "check", json!(null)).await;
        assert_ne!(
            before.status, 200,
            "{connector} has no token yet: {}",
            before.text
        );

        let (started, callback, finished) = sign_in(&env, connector, connect_body(connector)).await;
        assert_eq!(finished.status, 200, "{connector}'s callback: {}", finished.text);
        assert_eq!(finished.json["status"], "connected", "{}", finished.text);
        assert_eq!(
            finished.json["provider"],
            issuer_of(&env, connector).dialect().provider()
        );
        assert_eq!(finished.json["connected_by"], "admin");
        let issuer = issuer_of(&env, connector);
        let asked = issuer
            .authorizations()
            .last()
            .cloned()
            .expect("an authorize request");
        assert_eq!(
            asked.get("redirect_uri"),
            Some(format!("{}/v1/oauth/callback", env.host.url).as_str())
        );
        assert!(asked.get("state").is_some_and(|s| s.len() >= 43), "{asked:?}");

        let checked = env.invoke(connector, "check", json!(null)).await;
        assert_eq!(
            checked.status, 200,
            "{connector} works with the token it signed in for: {}",
            checked.text
        );
        let shown = connection(&env, connector).await;
        assert_eq!(shown.status, 200, "{}", shown.text);
        assert_eq!(shown.json["status"], "connected");
        answers.extend([started.text, callback, finished.text, shown.text, checked.text]);
    }

    // What differs between the platforms went over the wire.
    let google = issuer_of(&env, "google-ads")
        .authorizations()
        .pop()
        .expect("google");
    assert_eq!(google.get("access_type"), Some("offline"));
    assert_eq!(google.get("prompt"), Some("consent"));
    assert_eq!(google.get("code_challenge_method"), Some("S256"));
    let google_connection = connection(&env, "google-ads").await;
    assert_eq!(
        google_connection.json["refreshable"], true,
        "{}",
        google_connection.text
    );
    assert!(google_connection.json["expires_at"].is_string());
    let meta: Vec<String> = issuer_of(&env, "meta-ads")
        .token_requests()
        .iter()
        .map(|r| r.grant_type.clone())
        .collect();
    assert!(
        meta.iter().any(|g| g == "fb_exchange_token"),
        "the short-lived token is exchanged: {meta:?}"
    );
    let tiktok = connection(&env, "tiktok-ads").await;
    assert_eq!(
        tiktok.json["expires_at"],
        Value::Null,
        "TikTok's tokens do not expire"
    );
    assert!(
        tiktok.json["account"].is_string(),
        "the advertisers granted: {}",
        tiktok.text
    );
    let shop = connection(&env, "shopify").await;
    assert_eq!(shop.json["account"], omnify_sandbox::shopify::SHOP_DOMAIN);

    let listed = env.get(&format!("/v1/tenants/{TENANT}/plugins")).await;
    let audit = env.audit().await;
    let connects: Vec<&Value> = audit.iter().filter(|e| e["action"] == "plugin.connect").collect();
    assert_eq!(connects.len(), ALL.len(), "one audited connection each");
    assert!(
        connects
            .iter()
            .all(|e| e["outcome"] == "ok" && e["actor"] == "admin")
    );
    let audit_text = serde_json::to_string(&audit).expect("json");
    answers.extend([listed.text, audit_text]);
    let files = files_under(env.data_dir());
    for connector in ALL {
        let issuer = issuer_of(&env, connector);
        let tokens: Vec<String> = issuer
            .issued_access_tokens()
            .into_iter()
            .chain(issuer.issued_refresh_tokens())
            .collect();
        assert!(!tokens.is_empty(), "{connector} issued tokens");
        for token in &tokens {
            assert!(
                answers.iter().all(|a| !a.contains(token.as_str())),
                "a {connector} token in an answer"
            );
            for (path, bytes) in &files {
                assert!(
                    !contains(bytes, token),
                    "a {connector} token in plain text in {path}"
                );
            }
        }
        assert!(
            !answers.iter().any(|a| a.contains(issuer.client_secret())),
            "{connector}'s client secret shown"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_used_or_forged_callback_changes_nothing() {
    let env = signed_out(&["google-ads", "shopify"]).await;
    let started = start_connect(&env, &env.admin, "google-ads", None).await;
    assert_eq!(started.status, 200, "{}", started.text);
    let callback = consent(started.json["authorization_url"].as_str().expect("url")).await;
    let audited = env.audit().await.len();

    let wrong_state = callback.replace("state=", "state=x");
    let refused = env.host.send(browser().get(&wrong_state)).await;
    assert_eq!(refused.status, 422, "{}", refused.text);
    assert!(
        refused.text.contains("unknown or already used"),
        "{}",
        refused.text
    );
    let no_state = env
        .host
        .send(browser().get(format!("{}/v1/oauth/callback?code=abc", env.host.url)))
        .await;
    assert_eq!(no_state.status, 422, "{}", no_state.text);
    let shown = connection(&env, "google-ads").await;
    assert_eq!(shown.json["status"], "not-connected", "{}", shown.text);
    assert_eq!(shown.json["provider"], "google");
    assert_eq!(env.audit().await.len(), audited, "nothing was written");
    assert!(
        issuer_of(&env, "google-ads").token_requests().is_empty(),
        "no code was exchanged for a wrong state"
    );

    let finished = env.host.send(browser().get(&callback)).await;
    assert_eq!(finished.status, 200, "{}", finished.text);
    let again = env.host.send(browser().get(&callback)).await;
    assert_eq!(again.status, 422, "a state is used once: {}", again.text);

    // Shopify signs its callback; one altered parameter is refused.
    let started = start_connect(&env, &env.admin, "shopify", connect_body("shopify")).await;
    assert_eq!(started.status, 200, "{}", started.text);
    let callback = consent(started.json["authorization_url"].as_str().expect("url")).await;
    let forged = callback.replace("code=", "code=0");
    let refused = env.host.send(browser().get(&forged)).await;
    assert_eq!(refused.status, 422, "{}", refused.text);
    assert!(refused.text.contains("hmac"), "{}", refused.text);
    assert_eq!(connection(&env, "shopify").await.json["status"], "not-connected");
    let failed = entries(&env, "plugin.connect", "shopify").await;
    assert_eq!(failed.len(), 1, "the failed sign-in is audited");
    assert_eq!(failed[0]["outcome"], "error");
    // The forged callback used the state up: the real one is refused too.
    assert_eq!(env.host.send(browser().get(&callback)).await.status, 422);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_clients_and_sign_in_starts_are_refused() {
    let env = signed_out(&["google-ads", "shopify"]).await;
    let (viewer, _) = env.host.create_key(&env.admin, TENANT, "viewer").await;
    let (operator, _) = env.host.create_key(&env.admin, TENANT, "operator").await;
    let client = |extra: Value| {
        let mut body = json!({"client_id": "id", "client_secret": "secret"});
        body.as_object_mut()
            .expect("object")
            .extend(extra.as_object().expect("object").clone());
        body
    };
    let put = |path: &'static str, token: String, body: Value| {
        let env = &env;
        async move { env.host.call(Method::PUT, path, Some(&token), Some(&body)).await }
    };
    for (body, needle) in [
        (
            client(json!({"token_url": "http://oauth2.googleapis.com/token"})),
            "must be https",
        ),
        (
            client(json!({"token_url": "https://u:p@oauth2.googleapis.com/token"})),
            "no credentials",
        ),
        (json!({"client_id": "", "client_secret": "s"}), "`client_id`"),
        (json!({"client_id": "id"}), "client_secret"),
    ] {
        let reply = put("/v1/oauth/clients/google", env.admin.clone(), body).await;
        assert_eq!(reply.status, 422, "{}", reply.text);
        assert!(reply.text.contains(needle), "{needle}: {}", reply.text);
    }
    let unknown = put("/v1/oauth/clients/acme-crm", env.admin.clone(), client(json!({}))).await;
    assert_eq!(unknown.status, 422, "{}", unknown.text);
    assert!(
        unknown.text.contains("`authorize_url` is required"),
        "{}",
        unknown.text
    );
    let bad_name = put("/v1/oauth/clients/Google", env.admin.clone(), client(json!({}))).await;
    // A path name that breaks its rule names nothing that can exist.
    assert_eq!(bad_name.status, 404, "{}", bad_name.text);
    assert!(bad_name.text.contains("`provider` must be"), "{}", bad_name.text);
    let by_operator = put("/v1/oauth/clients/google", operator.clone(), client(json!({}))).await;
    assert_eq!(
        by_operator.status, 403,
        "only the admin sets clients: {}",
        by_operator.text
    );
    let listed = env.get("/v1/oauth/clients").await;
    assert_eq!(listed.status, 200);
    assert!(
        !listed
            .text
            .contains(issuer_of(&env, "google-ads").client_secret()),
        "never the secret"
    );
    assert_eq!(listed.json.as_array().map(Vec::len), Some(2), "{}", listed.text);

    // Who may start a sign-in, and with what.
    let by_viewer = start_connect(&env, &viewer, "google-ads", None).await;
    assert_eq!(by_viewer.status, 403, "{}", by_viewer.text);
    let by_operator = start_connect(&env, &operator, "google-ads", None).await;
    assert_eq!(
        by_operator.status, 200,
        "a tenant's operator signs its accounts in: {}",
        by_operator.text
    );
    let anonymous = env
        .host
        .call(
            Method::POST,
            &format!("/v1/tenants/{TENANT}/plugins/google-ads/connect"),
            None,
            None,
        )
        .await;
    assert_eq!(anonymous.status, 401);
    for (connector, body, status, needle) in [
        ("shopify", None, 422, "`shop` is required"),
        (
            "shopify",
            Some(json!({"shop": "evil.example.com"})),
            422,
            "myshopify.com",
        ),
        (
            "google-ads",
            Some(json!({"shop": "acme.myshopify.com"})),
            422,
            "only for Shopify",
        ),
        (
            "google-ads",
            Some(json!({"scopes": ["more"]})),
            422,
            "unknown field",
        ),
        ("stripe", None, 404, "not enabled"),
    ] {
        let reply = start_connect(&env, &env.admin, connector, body).await;
        assert_eq!(reply.status, status, "{connector}: {}", reply.text);
        assert!(reply.text.contains(needle), "{needle}: {}", reply.text);
    }
    // A host client on another host than the connector was written for.
    let elsewhere = put(
        "/v1/oauth/clients/google",
        env.admin.clone(),
        client(json!({"token_url": "https://tokens.example.com/token"})),
    )
    .await;
    assert_eq!(elsewhere.status, 200, "{}", elsewhere.text);
    let mismatch = start_connect(&env, &env.admin, "google-ads", None).await;
    assert_eq!(mismatch.status, 409, "{}", mismatch.text);
    assert!(
        mismatch
            .text
            .contains("expects provider `google`'s token endpoint"),
        "{}",
        mismatch.text
    );
    let removed = env
        .host
        .call(Method::DELETE, "/v1/oauth/clients/google", Some(&env.admin), None)
        .await;
    assert_eq!(removed.status, 204);
    let no_client = start_connect(&env, &env.admin, "google-ads", None).await;
    assert_eq!(no_client.status, 409, "{}", no_client.text);
    assert!(
        no_client.text.contains("PUT /v1/oauth/clients/google"),
        "{}",
        no_client.text
    );
    // A tenant's own app is used for that tenant.
    let server = server_of(&env, "google-ads");
    let issuer = server.oauth();
    let own = json!({
        "client_id": issuer.client_id(),
        "client_secret": issuer.client_secret(),
        "authorize_url": format!("{}{}", server.url, issuer.authorize_path()),
        "token_url": format!("{}{}", server.url, issuer.token_path()),
    });
    let path = format!("/v1/tenants/{TENANT}/oauth/clients/google");
    let set = env
        .host
        .call(Method::PUT, &path, Some(&env.admin), Some(&own))
        .await;
    assert_eq!(set.status, 200, "{}", set.text);
    let (_, _, finished) = sign_in(&env, "google-ads", None).await;
    assert_eq!(finished.status, 200, "{}", finished.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_without_a_sign_in_or_a_public_url_cannot_connect() {
    let env = signed_out(&["google-ads"]).await;
    let hello = env
        .host
        .upload(
            &env.admin,
            &omnify_tests::host::hello_manifest(),
            omnify_tests::guests::HELLO_CONNECTOR,
        )
        .await;
    assert_eq!(hello.status, 201, "{}", hello.text);
    let enabled = env
        .enable("hello-connector", &json!({"config": {"names": ["Ada"]}}))
        .await;
    assert_eq!(enabled.status, 200, "{}", enabled.text);
    let refused = start_connect(&env, &env.admin, "hello-connector", None).await;
    assert_eq!(refused.status, 422, "{}", refused.text);
    assert!(
        refused.text.contains("does not sign in with OAuth"),
        "{}",
        refused.text
    );

    env.host.control.notifier().set_public_url("");
    let refused = start_connect(&env, &env.admin, "google-ads", None).await;
    assert_eq!(refused.status, 409, "{}", refused.text);
    assert!(refused.text.contains("--public-url"), "{}", refused.text);
}
