//! A sign-in, a refresh after an `auth` answer and a refused refresh, with
//! every log line of the process captured: no token, code or client secret
//! is ever written to one.

use super::captured_logs;
use omnify_tests::oauth::{issuer_of, sign_in, signed_out};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_code_or_client_secret_reaches_a_log_line() {
    let logs = captured_logs();
    let env = signed_out(&["google-ads"]).await;
    let issuer = issuer_of(&env, "google-ads");
    let (_, callback, finished) = sign_in(&env, "google-ads", None).await;
    assert_eq!(finished.status, 200, "{}", finished.text);
    issuer.expire_access_tokens();
    let refreshed = env.invoke("google-ads", "check", json!(null)).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    issuer.refuse_refresh(true);
    issuer.expire_access_tokens();
    let refused = env.invoke("google-ads", "check", json!(null)).await;
    assert_eq!(refused.status, 409, "{}", refused.text);

    let code = url::Url::parse(&callback)
        .expect("a URL")
        .query_pairs()
        .find(|(name, _)| name == "code")
        .map(|(_, code)| code.into_owned())
        .expect("a code");
    let logged = String::from_utf8_lossy(&logs.lock().expect("logs")).into_owned();
    assert!(logged.contains("google-ads"), "the calls were logged");
    let mut secrets = issuer.issued_access_tokens();
    secrets.extend(issuer.issued_refresh_tokens());
    secrets.extend([code, issuer.client_secret().to_string()]);
    assert_eq!(
        secrets.len(),
        5,
        "two access tokens, a refresh token, a code and the secret"
    );
    for secret in &secrets {
        assert!(!logged.contains(secret.as_str()), "a log line holds `{secret}`");
    }
}
