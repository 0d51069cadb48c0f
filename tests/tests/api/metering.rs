//! Usage, audit and metrics of invocations, and quotas.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invocations_are_metered_audited_and_held_to_quotas() {
    let world = world().await;
    let (host, admin) = (&world.host, world.admin.as_str());
    let invoke = |token: String, body: Value| async move {
        host.call(
            Method::POST,
            "/v1/tenants/acme/plugins/hello-connector/invoke",
            Some(&token),
            Some(&body),
        )
        .await
    };
    // Set before the first call: a shared store counts calls against the
    // quota only from when it is set.
    let quotas = json!({"calls_per_minute": 2});
    assert_eq!(
        host.call(Method::PUT, "/v1/tenants/acme/quotas", Some(admin), Some(&quotas))
            .await
            .status,
        200
    );
    let read = invoke_body("read", json!({"stream": "greetings"}));
    let ok = invoke(world.acme_operator.clone(), read.clone()).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.json["output"]["result"]["records"][1]["text"], "Hello, Grace!");
    assert!(ok.json["usage"]["fuel"].as_u64().unwrap_or(0) > 0);

    let second = invoke(world.acme_operator.clone(), read.clone()).await;
    assert_eq!(second.status, 200);
    let third = invoke(world.acme_operator.clone(), read.clone()).await;
    assert_eq!(third.status, 429, "{}", third.text);
    assert_eq!(third.json["error"]["code"], "quota_exceeded");
    assert_eq!(third.json["error"]["details"]["quota"], "calls_per_minute");
    assert!(third.json["error"]["details"]["resets_at"].as_str().is_some());
    let wait: u64 = third.headers["retry-after"]
        .to_str()
        .ok()
        .and_then(|seconds| seconds.parse().ok())
        .expect("Retry-After in seconds");
    assert!(
        (1..=60).contains(&wait),
        "the minute's quota resets within a minute: {wait}"
    );

    let quotas = json!({"fuel_per_day": 1});
    assert_eq!(
        host.call(Method::PUT, "/v1/tenants/acme/quotas", Some(admin), Some(&quotas))
            .await
            .status,
        200
    );
    let over_fuel = invoke(world.acme_operator.clone(), read.clone()).await;
    assert_eq!(over_fuel.status, 429);
    assert_eq!(over_fuel.json["error"]["details"]["quota"], "fuel_per_day");

    let quotas = json!({"concurrent_calls": 1});
    assert_eq!(
        host.call(Method::PUT, "/v1/tenants/acme/quotas", Some(admin), Some(&quotas))
            .await
            .status,
        200
    );
    let slow =
        json!({"export": "act", "input": {"name": "sleep", "input": {"ms": 1500}, "idempotency_key": "k"}});
    let slow_call = async {
        host.call(
            Method::POST,
            "/v1/tenants/acme/plugins/hostile/invoke",
            Some(admin),
            Some(&slow),
        )
        .await
    };
    let second_call = async {
        host.until_running("acme", 1).await;
        invoke(world.acme_operator.clone(), read.clone()).await
    };
    let (slow_reply, concurrent) = tokio::join!(slow_call, second_call);
    assert_eq!(slow_reply.status, 200, "{}", slow_reply.text);
    assert_eq!(concurrent.status, 429);
    assert_eq!(concurrent.json["error"]["details"]["quota"], "concurrent_calls");

    let failing = host
        .call(
            Method::POST,
            "/v1/tenants/acme/plugins/hostile/invoke",
            Some(admin),
            Some(&json!({"export": "act", "input": {"name": "panic", "idempotency_key": "k"}})),
        )
        .await;
    assert_eq!(failing.status, 502);
    assert_eq!(failing.json["error"]["details"]["error"]["code"], "panic");

    let usage = host
        .call(
            Method::GET,
            "/v1/tenants/acme/usage",
            Some(&world.acme_operator),
            None,
        )
        .await;
    let rows = usage.json.as_array().expect("usage rows");
    let hello = rows
        .iter()
        .find(|r| r["plugin"] == "hello-connector")
        .expect("hello usage");
    assert_eq!(hello["calls"], 2, "refused calls are not metered");
    let hostile = rows
        .iter()
        .find(|r| r["plugin"] == "hostile")
        .expect("hostile usage");
    assert_eq!(
        (hostile["calls"].as_u64(), hostile["errors"].as_u64()),
        (Some(2), Some(1))
    );

    let audit = host
        .call(
            Method::GET,
            "/v1/tenants/acme/audit?since=0&limit=1000",
            Some(admin),
            None,
        )
        .await;
    let invocations: Vec<&Value> = audit
        .json
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["action"] == "plugin.invoke" || e["action"] == "plugin.act")
        .collect();
    assert_eq!(invocations.len(), 4);
    assert_eq!(invocations[3]["outcome"], "error: panic");
    // A write on a platform is audited as such, with what it was asked.
    assert_eq!(invocations[3]["action"], "plugin.act");
    assert_eq!(invocations[3]["details"]["action"]["name"], "panic");
    assert_eq!(invocations[3]["details"]["action"]["idempotency_key"], "direct:k");
    assert_eq!(invocations[0]["actor"], format!("key:{}", world.acme_key_id));

    let metrics = host.call(Method::GET, "/metrics", Some(admin), None).await;
    assert!(
        metrics
            .text
            .contains("omnify_invocations_total{tenant=\"acme\",plugin=\"hello-connector\"} 2"),
        "{}",
        metrics.text
    );
    assert!(
        metrics
            .text
            .contains("omnify_invocation_errors_total{tenant=\"acme\",plugin=\"hostile\",kind=\"panic\"} 1")
    );
}
