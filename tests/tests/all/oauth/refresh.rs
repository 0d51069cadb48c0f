//! Keeping tokens fresh: a token about to expire is refreshed before the
//! call, once however many calls want it at once; a call the platform
//! refuses with `auth` is retried once with a refreshed token; a refused
//! refresh marks the connection, tells the tenant's endpoints, and stops
//! its scheduled syncs until the account is connected again.

use super::*;
use crate::notify::Receiver;
use omnify_control::scheduler::{ManualClock, Scheduler, SchedulerConfig};
use omnify_tests::platforms::PlatformHost;
use omnify_tests::platforms::TENANT;
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

const GOOGLE: &str = "google-ads";

/// A host with Google Ads signed in, its access tokens living `ttl`.
async fn google_signed_in(ttl: Option<Duration>) -> PlatformHost {
    let env = signed_out(&[GOOGLE]).await;
    if let Some(ttl) = ttl {
        issuer_of(&env, GOOGLE).set_access_token_ttl(ttl);
    }
    let (_, _, finished) = sign_in(&env, GOOGLE, None).await;
    assert_eq!(finished.status, 200, "{}", finished.text);
    env
}

fn refresh_grants(issuer: &omnify_sandbox::oauth::Issuer) -> usize {
    issuer
        .token_requests()
        .iter()
        .filter(|r| r.grant_type == "refresh_token")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_about_to_expire_is_refreshed_once_for_concurrent_calls() {
    // Two minutes is within the five the host refreshes ahead.
    let env = google_signed_in(Some(Duration::from_secs(120))).await;
    let issuer = issuer_of(&env, GOOGLE);
    let (a, b) = tokio::join!(
        env.invoke(GOOGLE, "check", json!(null)),
        env.invoke(GOOGLE, "check", json!(null)),
    );
    assert_eq!((a.status, b.status), (200, 200), "{} / {}", a.text, b.text);
    assert_eq!(
        issuer.refreshes(),
        1,
        "two concurrent calls spend the refresh token once"
    );
    let requests = issuer.token_requests();
    let refresh = requests
        .iter()
        .find(|r| r.grant_type == "refresh_token")
        .expect("a refresh");
    assert_eq!(
        refresh.client_auth,
        omnify_sandbox::oauth::ClientAuth::Basic,
        "as the manifest says"
    );
    let after = connection(&env, GOOGLE).await;
    assert!(after.json["refreshed_at"].is_string(), "{}", after.text);
    assert!(after.json["expires_at"].is_string(), "{}", after.text);
    let refreshed = entries(&env, "plugin.token-refresh", GOOGLE).await;
    assert_eq!(refreshed.len(), 1);
    assert_eq!(refreshed[0]["actor"], "host");
    for token in issuer
        .issued_access_tokens()
        .iter()
        .chain(&issuer.issued_refresh_tokens())
    {
        assert!(
            !refreshed[0].to_string().contains(token.as_str()),
            "no token in the audit log"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_refused_with_auth_is_retried_once_with_a_refreshed_token() {
    let env = google_signed_in(None).await;
    let issuer = issuer_of(&env, GOOGLE);
    let ok = env.invoke(GOOGLE, "check", json!(null)).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(issuer.refreshes(), 0, "an hour-long token is not refreshed");

    // The platform expired the token before its time (as after a password
    // change): the connector answers `auth`, the host refreshes and retries.
    issuer.expire_access_tokens();
    let retried = env.invoke(GOOGLE, "check", json!(null)).await;
    assert_eq!(retried.status, 200, "{}", retried.text);
    assert_eq!(issuer.refreshes(), 1);
    // A sync after it runs on the refreshed token throughout.
    let run = env.sync(GOOGLE, &["campaigns"], "full-refresh").await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(issuer.refreshes(), 1);

    // A sync whose token the platform expired refreshes it and goes on.
    issuer.expire_access_tokens();
    let run = env.sync(GOOGLE, &["campaigns"], "full-refresh").await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(issuer.refreshes(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_refresh_needs_a_reconnect_and_stops_the_schedule() {
    let env = google_signed_in(None).await;
    let issuer = issuer_of(&env, GOOGLE);
    let receiver = Receiver::start().await;
    let endpoint = json!({"url": receiver.hook("ops"), "kinds": ["connection.needs-reconnect"]});
    let registered = env
        .host
        .call(
            Method::POST,
            &format!("/v1/tenants/{TENANT}/endpoints"),
            Some(&env.admin),
            Some(&endpoint),
        )
        .await;
    assert_eq!(registered.status, 201, "{}", registered.text);
    let job = json!({
        "plugin": GOOGLE,
        "schedule": {"type": "cron", "expression": "* * * * *", "timezone": "UTC"},
        "sync": {"streams": ["campaigns"]},
    });
    let created = env
        .host
        .call(
            Method::POST,
            &format!("/v1/tenants/{TENANT}/jobs"),
            Some(&env.admin),
            Some(&job),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let due =
        humantime::parse_rfc3339(created.json["next_due_at"].as_str().expect("next due")).expect("time");

    // The person revoked the app at Google.
    issuer.refuse_refresh(true);
    issuer.expire_access_tokens();
    let refused = env.invoke(GOOGLE, "check", json!(null)).await;
    assert_eq!(refused.status, 409, "{}", refused.text);
    assert!(
        refused.text.contains("must be connected again"),
        "{}",
        refused.text
    );
    assert!(
        refused.text.contains("invalid_grant"),
        "the platform's words: {}",
        refused.text
    );
    let shown = connection(&env, GOOGLE).await;
    assert_eq!(shown.json["status"], "needs-reconnect", "{}", shown.text);
    assert_eq!(entries(&env, "plugin.needs-reconnect", GOOGLE).await.len(), 1);

    // Later calls are refused by the host without asking the platform.
    let asked = refresh_grants(&issuer);
    let again = env.invoke(GOOGLE, "check", json!(null)).await;
    assert_eq!(again.status, 409, "{}", again.text);
    assert_eq!(refresh_grants(&issuer), asked);

    // The scheduled sync does not run.
    let clock = Arc::new(ManualClock::new(due));
    let config = SchedulerConfig {
        tick: Duration::ZERO,
        ..SchedulerConfig::default()
    };
    let scheduler = Scheduler::start(env.host.control.clone(), clock.clone(), config)
        .await
        .expect("scheduler");
    assert_eq!(
        scheduler.tick().await.expect("tick"),
        0,
        "a signed-out connector's job waits"
    );

    // The tenant's endpoint hears of it.
    let deadline = Instant::now() + Duration::from_secs(20);
    let event = loop {
        if let Some(received) = receiver.received("ops").first() {
            break serde_json::from_str::<Value>(&received.body).expect("JSON");
        }
        assert!(Instant::now() < deadline, "no connection.needs-reconnect event");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(event["kind"], "connection.needs-reconnect");
    assert_eq!(event["data"]["plugin"], GOOGLE);

    // Connecting again brings calls and the schedule back.
    issuer.refuse_refresh(false);
    let (_, _, finished) = sign_in(&env, GOOGLE, None).await;
    assert_eq!(finished.status, 200, "{}", finished.text);
    assert_eq!(finished.json["status"], "connected");
    let ok = env.invoke(GOOGLE, "check", json!(null)).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    clock.set(due + Duration::from_secs(60));
    assert_eq!(
        scheduler.tick().await.expect("tick"),
        1,
        "the next minute's sync runs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_refresh_token_is_saved_and_survives_a_host_dying_mid_refresh() {
    const LINKEDIN: &str = "linkedin-ads";
    let env = signed_out(&[LINKEDIN]).await;
    let (_, _, finished) = sign_in(&env, LINKEDIN, None).await;
    assert_eq!(finished.status, 200, "{}", finished.text);
    let issuer = issuer_of(&env, LINKEDIN);
    let server = server_of(&env, LINKEDIN);
    let signed_in = issuer.issued_refresh_tokens().pop().expect("a refresh token");

    // A host spent the refresh token and died before it saved the answer:
    // the platform rotated it, and the new one reached nobody.
    let spend = |token: String| {
        let form = [
            ("grant_type", "refresh_token".to_string()),
            ("refresh_token", token),
            ("client_id", issuer.client_id().to_string()),
            ("client_secret", issuer.client_secret().to_string()),
        ];
        reqwest::Client::new()
            .post(format!("{}{}", server.url, issuer.token_path()))
            .form(&form)
            .send()
    };
    let lost = spend(signed_in.clone()).await.expect("the platform answers");
    assert_eq!(lost.status(), 200);

    // The host still holds the spent token; the platform's grace takes it
    // once more, and the host saves what that refresh rotated to.
    issuer.expire_access_tokens();
    let checked = env.invoke(LINKEDIN, "check", json!(null)).await;
    assert_eq!(checked.status, 200, "{}", checked.text);
    // The refresh token the last successful refresh presented.
    let presented = || {
        issuer
            .token_requests()
            .into_iter()
            .rfind(|r| r.grant_type == "refresh_token" && r.status == 200)
            .and_then(|r| r.refresh_token)
    };
    assert_eq!(presented().as_deref(), Some(signed_in.as_str()), "the grace use");
    let rotated = issuer.issued_refresh_tokens().pop().expect("rotated");
    let refresh = issuer.token_requests().pop().expect("a request");
    assert_eq!(
        refresh.client_auth,
        omnify_sandbox::oauth::ClientAuth::Body,
        "as the manifest says"
    );
    let entry = entries(&env, "plugin.token-refresh", LINKEDIN)
        .await
        .pop()
        .expect("audited");
    assert_eq!(entry["details"]["refresh_token_rotated"], true, "{entry}");

    // The next refresh spends the token saved, and the first one is dead.
    issuer.expire_access_tokens();
    let checked = env.invoke(LINKEDIN, "check", json!(null)).await;
    assert_eq!(checked.status, 200, "{}", checked.text);
    assert_eq!(presented(), Some(rotated), "the rotated token was saved");
    let dead = spend(signed_in).await.expect("the platform answers");
    assert_eq!(dead.status(), 400, "a grace use is spent once");
    assert_eq!(issuer.refreshes(), 3);
}
