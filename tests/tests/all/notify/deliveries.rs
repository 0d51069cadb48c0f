//! Deliveries: signed, retried, without secrets; refused URLs and callers;
//! deletion; restarts.

use super::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::atomic::Ordering;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_proposal_is_delivered_signed_retried_and_without_secrets() {
    let env = env().await;
    let receiver = Receiver::start().await;
    let (endpoint, secret) = env
        .register(&receiver.hook("json"), &["proposal.pending"], false)
        .await;
    let body = json!({"url": receiver.hook("slack"), "kinds": ["proposal.pending"], "format": "slack"});
    let created = env
        .call(Method::POST, "endpoints", Some(&env.admin), Some(&body))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let slack = created.json["endpoint"]["id"].as_str().expect("id").to_string();
    receiver.fail_next("json", 1);

    let proposal = env.propose("Edsger").await;
    assert_eq!(proposal["status"], "pending");
    let id = proposal["id"].as_str().expect("id");

    let deliveries = env
        .until(&endpoint, "the delivery succeeds on its second attempt", |d| {
            !delivered_of(d, "proposal.pending").is_empty()
        })
        .await;
    let delivery = delivered_of(&deliveries, "proposal.pending")[0];
    let attempts = delivery["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 2, "{delivery:#}");
    assert_eq!(attempts[0]["status_code"], 500, "{delivery:#}");
    assert_eq!(attempts[1]["status_code"], 200, "{delivery:#}");
    assert_eq!(delivery["status_code"], 200);
    assert!(delivery["next_attempt_at"].is_null());

    let received = receiver.received("json");
    assert_eq!(received.len(), 2, "one failed attempt and one retry");
    for request in &received {
        let signature = request.headers["x-omnify-signature"].to_str().expect("text");
        assert!(
            signature_verifies(signature, &secret, &request.body),
            "{signature}"
        );
        assert!(!signature_verifies(signature, "whsec_another", &request.body));
        assert!(!signature_verifies(
            signature,
            &secret,
            &format!("{} ", request.body)
        ));
    }
    let event: Value = serde_json::from_str(&received[1].body).expect("JSON");
    assert_eq!(event["kind"], "proposal.pending");
    assert_eq!(event["tenant"], TENANT);
    assert_eq!(event["data"]["proposal"], id);
    assert_eq!(event["data"]["connector"], "hello-connector");
    assert!(
        event["summary"].as_str().is_some_and(|s| s.contains(id)),
        "{event}"
    );
    assert_eq!(
        event["links"]["api"],
        format!("/v1/tenants/{TENANT}/proposals/{id}")
    );
    assert_eq!(received[0].body, received[1].body, "a retry sends the same event");

    let slack_deliveries = env
        .until(&slack, "the slack delivery", |d| {
            !delivered_of(d, "proposal.pending").is_empty()
        })
        .await;
    assert_eq!(slack_deliveries.len(), 1);
    let text: Value = serde_json::from_str(&receiver.received("slack")[0].body).expect("JSON");
    assert!(text["text"].as_str().is_some_and(|t| t.contains(id)), "{text}");
    assert_eq!(text.as_object().map(|o| o.len()), Some(1), "only `text`: {text}");

    // No secret anywhere: connector secret, keys, admin token, the
    // endpoint's own secret; nor the endpoints' URLs in the listing.
    let listed = env.call(Method::GET, "endpoints", Some(&env.admin), None).await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.json.as_array().map(Vec::len), Some(2));
    assert_eq!(listed.json[0]["origin"], receiver.url);
    let mut seen: Vec<String> = receiver
        .state
        .received
        .lock()
        .expect("lock")
        .iter()
        .map(|r| format!("{:?} {}", r.headers, r.body))
        .collect();
    seen.push(listed.text.clone());
    seen.push(serde_json::to_string(&deliveries).expect("JSON"));
    for text in &seen {
        for secret_value in [CONNECTOR_SECRET, &env.operator, &env.expert, &env.admin, &secret] {
            assert!(!text.contains(secret_value), "a secret leaked: {text}");
        }
    }
    assert!(
        !listed.text.contains("/hook/"),
        "the listing hides URLs' paths: {}",
        listed.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_are_the_admins_and_private_addresses_are_refused() {
    let env = env().await;
    let receiver = Receiver::start().await;
    for url in [
        "http://10.1.2.3/hook",
        "http://192.168.0.10:8080/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:9/hook",
        "http://localhost:9/hook",
        "ftp://hooks.example.com/hook",
        "not a url",
    ] {
        let body = json!({"url": url, "kinds": ["proposal.pending"]});
        let reply = env
            .call(Method::POST, "endpoints", Some(&env.admin), Some(&body))
            .await;
        assert_eq!(reply.status, 400, "{url}: {}", reply.text);
    }
    let listed = env.call(Method::GET, "endpoints", Some(&env.admin), None).await;
    assert_eq!(listed.json, json!([]), "nothing is stored");
    let audit = env.call(Method::GET, "audit", Some(&env.admin), None).await;
    assert!(!audit.text.contains("endpoint.create"), "{}", audit.text);

    // Escalations go to escalation endpoints only; kinds are needed.
    for body in [
        json!({"url": receiver.hook("x"), "kinds": ["proposal.escalated"]}),
        json!({"url": receiver.hook("x"), "kinds": []}),
        json!({"url": receiver.hook("x"), "kinds": ["proposal.nonsense"]}),
    ] {
        let reply = env
            .call(Method::POST, "endpoints", Some(&env.admin), Some(&body))
            .await;
        assert!((400..500).contains(&reply.status), "{body}: {}", reply.text);
    }

    let (id, _) = env.register(&receiver.hook("x"), &["run.failed"], false).await;
    let body = json!({"url": receiver.hook("y"), "kinds": ["run.failed"]});
    for token in [&env.operator, &env.expert] {
        let attempts = [
            (Method::POST, "endpoints".to_string(), Some(&body)),
            (Method::GET, "endpoints".to_string(), None),
            (Method::DELETE, format!("endpoints/{id}"), None),
            (Method::GET, format!("endpoints/{id}/deliveries"), None),
        ];
        for (method, path, body) in attempts {
            let reply = env.call(method.clone(), &path, Some(token), body).await;
            assert_eq!(reply.status, 403, "{method} {path}: {}", reply.text);
        }
    }
    let listed = env.call(Method::GET, "endpoints", Some(&env.admin), None).await;
    assert_eq!(listed.json.as_array().map(Vec::len), Some(1), "{}", listed.text);
    let missing = env
        .call(
            Method::DELETE,
            "endpoints/00000000deadbeef",
            Some(&env.admin),
            None,
        )
        .await;
    assert_eq!(missing.status, 404, "{}", missing.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_endpoint_stops_its_deliveries() {
    let env = env().await;
    let receiver = Receiver::start().await;
    let (kept, _) = env
        .register(&receiver.hook("kept"), &["proposal.pending"], false)
        .await;
    let (gone, _) = env
        .register(&receiver.hook("gone"), &["proposal.pending"], false)
        .await;
    let first = env.propose("Ada").await;
    for endpoint in [&kept, &gone] {
        env.until(endpoint, "the first event", |d| {
            delivered_of(d, "proposal.pending").len() == 1
        })
        .await;
    }
    let deleted = env
        .call(
            Method::DELETE,
            &format!("endpoints/{gone}"),
            Some(&env.admin),
            None,
        )
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    let second = env.propose("Barbara").await;
    env.until(&kept, "the second event", |d| {
        delivered_of(d, "proposal.pending").len() == 2
    })
    .await;
    let to_gone = receiver.received("gone");
    assert_eq!(to_gone.len(), 1, "only the event before the deletion");
    assert!(to_gone[0].body.contains(first["id"].as_str().expect("id")));
    assert!(!to_gone[0].body.contains(second["id"].as_str().expect("id")));
    let reply = env
        .call(
            Method::GET,
            &format!("endpoints/{gone}/deliveries"),
            Some(&env.admin),
            None,
        )
        .await;
    assert_eq!(reply.status, 404, "{}", reply.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_sends_the_undelivered_and_not_the_delivered() {
    let env = env().await;
    let receiver = Receiver::start().await;
    let (endpoint, _) = env
        .register(&receiver.hook("r"), &["proposal.pending"], false)
        .await;
    let first = env.propose("Ada").await;
    env.until(&endpoint, "the first event", |d| {
        delivered_of(d, "proposal.pending").len() == 1
    })
    .await;
    receiver.state.down.store(true, Ordering::SeqCst);
    let second = env.propose("Barbara").await;
    env.until(&endpoint, "a failed attempt of the second", |d| {
        d.iter()
            .any(|d| d["status"] == "pending" && !d["attempts"].as_array().is_none_or(Vec::is_empty))
    })
    .await;

    let Env {
        host,
        admin,
        operator,
        expert,
        dir,
    } = env;
    host.stop().await;
    receiver.state.down.store(false, Ordering::SeqCst);
    let (host, fresh) = TestHost::start(dir.path(), &[]).await;
    assert!(fresh.is_none());
    let env = Env {
        host,
        admin,
        operator,
        expert,
        dir,
    };
    let deliveries = env
        .until(&endpoint, "the second event after the restart", |d| {
            delivered_of(d, "proposal.pending").len() == 2
        })
        .await;
    assert_eq!(deliveries.len(), 2, "one delivery per event: {deliveries:#?}");
    let bodies: Vec<String> = receiver.received("r").into_iter().map(|r| r.body).collect();
    let with = |id: &Value| {
        bodies
            .iter()
            .filter(|b| b.contains(id.as_str().expect("id")))
            .count()
    };
    assert_eq!(with(&first["id"]), 1, "the delivered event is not sent again");
    assert!(with(&second["id"]) >= 2, "failed, then sent after the restart");
    let last = receiver.received("r").pop().expect("a request");
    assert!(last.body.contains(second["id"].as_str().expect("id")));
}
