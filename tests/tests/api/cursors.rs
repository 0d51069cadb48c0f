//! Paging cursors are opaque, URL-safe tokens: a client passes a page's
//! `next` back as it is, and a cursor the list did not give is a 400, never
//! a page from somewhere else.

use super::*;
use omnify_tests::host::host_with_paged_source;
use omnify_tests::source::Source;

const RECORDS: &str = "/v1/tenants/acme/records/paged-source/items";

fn is_url_safe(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_page_with_opaque_tokens_and_refuse_malformed_ones() {
    captured_logs();
    let source = Source::start(95).await;
    let (host, admin, _dir) = host_with_paged_source(&["acme"], &source).await;
    let started = host
        .call(
            Method::POST,
            "/v1/tenants/acme/plugins/paged-source/sync",
            Some(&admin),
            Some(&json!({"mode": "full-refresh"})),
        )
        .await;
    assert_eq!(started.status, 202, "{}", started.text);
    let run = host
        .wait_for_run(&admin, "acme", started.json["id"].as_str().expect("a run id"))
        .await;
    assert_eq!(run["status"], "succeeded", "{run}");

    // Every page's `next` goes back as it is, without encoding, and the
    // pages hold each record once.
    let (mut ids, mut tokens, mut after) = (Vec::new(), Vec::new(), None::<String>);
    for _ in 0..20 {
        let path = match &after {
            Some(token) => format!("{RECORDS}?limit=10&after={token}"),
            None => format!("{RECORDS}?limit=10"),
        };
        let page = host.call(Method::GET, &path, Some(&admin), None).await;
        assert_eq!(page.status, 200, "{}", page.text);
        ids.extend(
            page.json["records"]
                .as_array()
                .expect("records")
                .iter()
                .filter_map(|r| r["id"].as_u64()),
        );
        match page.json["next"].as_str() {
            Some(next) => {
                assert!(is_url_safe(next), "`{next}` is URL-safe");
                assert!(!next.contains("000000"), "`{next}` does not show the store's key");
                tokens.push(next.to_string());
                after = Some(next.to_string());
            }
            None => break,
        }
    }
    assert_eq!(ids, (1..=95).collect::<Vec<u64>>());
    assert_eq!(tokens.len(), 9, "{tokens:?}");

    // Cursors this list did not give: not base64url, the store's own key,
    // a token cut short, one too long, and one of another list's kind.
    let store_key = "00000000000000000040";
    let cut = &tokens[3][..tokens[3].len() - 3];
    let other_kind = "eDAwMDA";
    let too_long = "A".repeat(5000);
    for bad in ["%1F", "not!base64", store_key, cut, other_kind, too_long.as_str()] {
        let reply = host
            .call(
                Method::GET,
                &format!("{RECORDS}?limit=10&after={bad}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(reply.status, 400, "after={bad}: {}", reply.text);
        assert_eq!(reply.json["error"]["code"], "invalid_cursor", "{}", reply.text);
    }

    // Runs page by the id of the last run; anything else is refused too.
    let runs = host
        .call(
            Method::GET,
            "/v1/tenants/acme/runs?after=not-a-run",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(runs.status, 400, "{}", runs.text);
    assert_eq!(runs.json["error"]["code"], "invalid_cursor");
    let run_id = run["id"].as_str().expect("an id");
    let older = host
        .call(
            Method::GET,
            &format!("/v1/tenants/acme/runs?after={run_id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(older.status, 200, "{}", older.text);
    assert_eq!(older.json, json!([]), "no run is older than the first");
    host.stop().await;
}
