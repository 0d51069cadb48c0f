//! The session's security: forms without their CSRF token, tenants kept
//! apart, cookies, expiry, revocation and sign-out.

use super::browser::{Browser, SESSION, SIGN_IN, cookie_value, decide_path, id_of, inbox_path, key};
use omnify_api::ApiConfig;
use omnify_api::console::ConsoleConfig;
use omnify_tests::host::TestHost;
use omnify_tests::platforms::TENANT;
use omnify_tests::proposing::{budget_change, budget_writes, propose, start};
use reqwest::Method;
use reqwest::header::SET_COOKIE;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_without_its_sessions_csrf_token_changes_nothing() {
    let env = start().await;
    let proposals = propose(&env, vec![budget_change(&env, 0, 10.0, 0.9)], vec![]).await;
    let id = id_of(&proposals[0]);
    let (operator, _) = key(&env, "operator").await;
    let mut browser = Browser::new(&env.host.url);
    let inbox = browser.sign_in_to_inbox(&operator).await;
    let mut other = Browser::new(&env.host.url);
    let other_csrf = other.sign_in_to_inbox(&operator).await.csrf();
    assert_ne!(other_csrf, inbox.csrf(), "each session has its own token");
    let wrong = format!("{}0", &inbox.csrf()[1..]);

    let approve = decide_path(&id, "approve");
    let reject = decide_path(&id, "reject");
    let attempts: [(&str, Vec<(&str, &str)>); 6] = [
        (&approve, vec![]),
        (&approve, vec![("csrf", "")]),
        (&approve, vec![("csrf", wrong.as_str())]),
        (&approve, vec![("csrf", other_csrf.as_str())]),
        (&reject, vec![("reason", "forged")]),
        (&reject, vec![("csrf", wrong.as_str()), ("reason", "forged")]),
    ];
    for (path, fields) in attempts {
        let refused = browser.post(path, &fields).await;
        assert_eq!(refused.status, 403, "{fields:?}: {}", refused.text);
        assert!(refused.text.contains("nothing was changed"), "{}", refused.text);
    }
    let sync = format!("/console/tenants/{TENANT}/connections/meta-ads/sync");
    assert_eq!(browser.post(&sync, &[("csrf", &wrong)]).await.status, 403);
    assert_eq!(browser.post("/console/sign-out", &[]).await.status, 403);

    let proposal = env.proposal(&id).await;
    assert_eq!(proposal["status"], "pending", "{proposal}");
    assert!(proposal["decision"].is_null());
    assert_eq!(budget_writes(&env), 0);
    let runs = env.get(&format!("/v1/tenants/{TENANT}/runs")).await.json;
    assert!(
        runs.as_array()
            .is_some_and(|runs| runs.iter().all(|r| r["plugin"] != "meta-ads")),
        "{runs}"
    );
    assert!(
        !env.audit()
            .await
            .iter()
            .any(|e| e["action"] == "proposal.approve" || e["action"] == "proposal.reject")
    );
    assert_eq!(
        browser.get(&inbox_path()).await.status,
        200,
        "the session still works"
    );

    // The sign-in form needs its own token too.
    let forged = browser
        .client
        .post(format!("{}/console/sign-in", env.host.url))
        .form(&[("key", operator.as_str()), ("csrf", "made-up")])
        .send()
        .await
        .expect("an answer");
    assert_eq!(forged.status().as_u16(), 403);
    assert!(
        forged
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .all(|v| !v.to_str().unwrap_or_default().starts_with(&format!("{SESSION}=")))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_of_one_tenant_never_shows_another() {
    let data = tempfile::tempdir().expect("temp dir");
    let (host, admin) = TestHost::start(data.path(), &[]).await;
    let admin = admin.expect("an admin token");
    for tenant in ["alpha", "beta"] {
        assert_eq!(host.create_tenant(&admin, tenant).await.status, 201);
    }
    let (alpha_key, alpha_id) = host.create_key(&admin, "alpha", "operator").await;
    let (_, beta_id) = host.create_key(&admin, "beta", "expert").await;

    let mut browser = Browser::new(&host.url);
    assert_eq!(browser.sign_in(&alpha_key).await.status, 303);
    assert_eq!(
        browser.get("/console").await.location(),
        "/console/tenants/alpha/inbox"
    );
    let own = browser.get("/console/tenants/alpha/audit").await;
    assert_eq!(own.status, 200, "{}", own.text);
    assert!(own.text.contains(&alpha_id) && !own.text.contains(&beta_id));
    let csrf = own.csrf();
    for path in [
        "/console/tenants/beta/inbox",
        "/console/tenants/beta/audit",
        "/console/tenants/beta/audit/verify",
        "/console/tenants/beta/connections",
        "/console/tenants",
    ] {
        let page = browser.get(path).await;
        assert_eq!(page.status, 403, "{path}: {}", page.text);
        assert!(
            !page.text.contains(&beta_id) && !page.text.contains("Tenant beta"),
            "{path}"
        );
    }
    for path in [
        "/console/tenants/beta/proposals/any/approve",
        "/console/tenants/beta/connections/anything/sync",
    ] {
        let page = browser.post(path, &[("csrf", &csrf), ("reason", "x")]).await;
        assert_eq!(page.status, 403, "{path}: {}", page.text);
        assert!(
            page.text.contains("does not belong to tenant `beta`"),
            "{}",
            page.text
        );
    }

    // The admin picks either tenant.
    let mut admin_browser = Browser::new(&host.url);
    assert_eq!(admin_browser.sign_in(&admin).await.status, 303);
    assert_eq!(admin_browser.get("/console").await.location(), "/console/tenants");
    let tenants = admin_browser.get("/console/tenants").await;
    assert!(
        tenants.text.contains("/console/tenants/alpha/inbox")
            && tenants.text.contains("/console/tenants/beta/inbox")
    );
    let beta = admin_browser.get("/console/tenants/beta/audit").await;
    assert_eq!(beta.status, 200, "{}", beta.text);
    assert!(beta.text.contains(&beta_id) && !beta.text.contains(&alpha_id));
    assert_eq!(
        admin_browser.get("/console/tenants/gamma/inbox").await.status,
        404
    );

    // Console pages are HTML with the host's request id, never cached or
    // framed; the API keeps its JSON errors.
    let missing = admin_browser.get("/console/no-such-page").await;
    assert_eq!(missing.status, 404);
    assert!(
        missing.text.contains("The console has no such page"),
        "{}",
        missing.text
    );
    assert!(missing.headers.contains_key("x-request-id"));
    assert!(
        beta.headers["content-security-policy"]
            .to_str()
            .is_ok_and(|csp| csp.contains("frame-ancestors 'none'"))
    );
    assert_eq!(beta.headers["cache-control"], "no-store");
    let api_missing = host.call(Method::GET, "/v1/no-such-route", None, None).await;
    assert_eq!(
        api_missing.json["error"]["code"], "not_found",
        "{}",
        api_missing.text
    );
    let css = admin_browser.get("/console/assets/console.css").await;
    assert_eq!(css.status, 200);
    assert!(
        css.headers["content-type"]
            .to_str()
            .is_ok_and(|t| t.starts_with("text/css"))
    );
    host.stop().await;
}

/// A second server on `host`'s control plane whose console sessions last
/// `ttl`; stopped by sending on the returned channel.
async fn console_with_ttl(
    host: &TestHost,
    ttl: Duration,
) -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let config = ApiConfig {
        console: ConsoleConfig {
            session_ttl: ttl,
            ..ConsoleConfig::default()
        },
        ..ApiConfig::default()
    };
    let app = omnify_api::app(host.control.clone(), &config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        omnify_api::serve(listener, app, async {
            let _ = stopped.await;
        })
        .await
        .expect("the server runs");
    });
    (url, stop, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_end_when_they_expire_are_revoked_or_signed_out() {
    let data = tempfile::tempdir().expect("temp dir");
    let (host, admin) = TestHost::start(data.path(), &[]).await;
    let admin = admin.expect("an admin token");
    assert_eq!(host.create_tenant(&admin, TENANT).await.status, 201);
    let inbox = inbox_path();

    // A bad key gets a clear message and no session.
    let mut browser = Browser::new(&host.url);
    let bad = browser.sign_in("omk_0000000000000000_not-a-key").await;
    assert_eq!(bad.status, 401, "{}", bad.text);
    assert!(bad.text.contains("That key is not valid"), "{}", bad.text);
    assert!(bad.set_cookie(SESSION).is_none());
    let empty = browser.sign_in("   ").await;
    assert_eq!(empty.status, 422);
    assert!(empty.text.contains("Paste an API key"));
    let no_session = browser.get(&inbox).await;
    assert_eq!(no_session.status, 401);
    assert!(no_session.text.contains("Sign in to the console"));

    // The cookie: HttpOnly, SameSite=Strict, for /console, expiring;
    // Secure behind a TLS proxy.
    let (key, key_id) = host.create_key(&admin, TENANT, "operator").await;
    let signed_in = browser.sign_in(&key).await;
    let cookie = signed_in.set_cookie(SESSION).expect("a session cookie");
    for part in ["HttpOnly", "SameSite=Strict", "Path=/console", "Max-Age=28800"] {
        assert!(cookie.contains(part), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    assert_eq!(cookie_value(&cookie).len(), 64, "256 bits");
    let form = browser.get("/console/sign-in").await;
    assert_eq!(form.status, 303, "signed in already");
    let anonymous = Browser::new(&host.url);
    let tls_form = anonymous
        .send(
            anonymous
                .client
                .get(format!("{}/console/sign-in", host.url))
                .header("x-forwarded-proto", "https"),
            &[],
        )
        .await;
    assert!(
        tls_form
            .set_cookie(SIGN_IN)
            .expect("a cookie")
            .contains("; Secure")
    );

    // Sign-out ends the session.
    let page = browser.get(&inbox).await;
    assert_eq!(page.status, 200, "{}", page.text);
    let out = browser.post("/console/sign-out", &[("csrf", &page.csrf())]).await;
    assert_eq!(out.status, 303);
    assert_eq!(out.location(), "/console/sign-in");
    assert!(out.set_cookie(SESSION).expect("cleared").contains("Max-Age=0"));
    let after = browser.get(&inbox).await;
    assert_eq!(after.status, 401, "the old cookie opens nothing");
    assert!(after.text.contains("Sign in to the console"));

    // Both ends of the session are in the tenant's audit chain, as the
    // key's; the refused sign-ins left nothing there.
    let audit = host
        .call(
            Method::GET,
            &format!("/v1/tenants/{TENANT}/audit?limit=1000"),
            Some(&admin),
            None,
        )
        .await;
    let sessions: Vec<(String, String)> = audit
        .json
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["target"] == "console")
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default().into(),
                e["actor"].as_str().unwrap_or_default().into(),
            )
        })
        .collect();
    let by_key = format!("key:{key_id}");
    assert_eq!(
        sessions,
        [
            ("console.sign-in".to_string(), by_key.clone()),
            ("console.sign-out".to_string(), by_key)
        ],
        "{}",
        audit.text
    );

    // Revoking the key ends its sessions at once.
    assert_eq!(browser.sign_in(&key).await.status, 303);
    let page = browser.get(&inbox).await;
    assert_eq!(page.status, 200);
    let revoked = host
        .call(
            Method::DELETE,
            &format!("/v1/tenants/{TENANT}/keys/{key_id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    let refused = browser.get(&inbox).await;
    assert_eq!(refused.status, 401, "{}", refused.text);
    assert!(refused.text.contains("no longer valid"), "{}", refused.text);
    assert!(
        refused
            .set_cookie(SESSION)
            .expect("cleared")
            .contains("Max-Age=0")
    );
    assert_eq!(
        browser
            .post("/console/sign-out", &[("csrf", &page.csrf())])
            .await
            .status,
        401
    );

    // A session ends at its lifetime.
    let (url, stop, server) = console_with_ttl(&host, Duration::from_secs(2)).await;
    let (key, _) = host.create_key(&admin, TENANT, "viewer").await;
    let mut short = Browser::new(&url);
    let signed_in = short.sign_in(&key).await;
    assert!(
        signed_in
            .set_cookie(SESSION)
            .expect("a cookie")
            .contains("Max-Age=2")
    );
    assert_eq!(short.get(&inbox).await.status, 200, "valid at first");
    let deadline = Instant::now() + Duration::from_secs(20);
    let expired = loop {
        let page = short.get(&inbox).await;
        if page.status != 200 {
            break page;
        }
        assert!(Instant::now() < deadline, "the session never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(expired.status, 401, "{}", expired.text);
    assert!(expired.text.contains("session expired"), "{}", expired.text);
    let _ = stop.send(());
    server.await.expect("the second server stops");
    host.stop().await;
}
