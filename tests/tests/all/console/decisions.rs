//! Deciding proposals from the console: as an operator, an expert, a
//! viewer, and when the platform moved meanwhile.

use super::browser::{Browser, decide_path, id_of, inbox_path, key};
use omnify_sandbox::world::Platform;
use omnify_tests::platforms::TENANT;
use omnify_tests::proposing::{budget_change, budget_writes, campaign, propose, set_level, start};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_decides_proposals_from_the_console() {
    let env = start().await;
    let (campaign_id, budget) = campaign(&env, 2);
    let edited_budget = (budget * 1.02 * 100.0).round() / 100.0;
    let mut raise = budget_change(&env, 0, 10.0, 0.9);
    raise["rationale"] = json!("test: a raise <script>alert(1)</script>");
    let proposals = propose(
        &env,
        vec![
            raise,
            budget_change(&env, 1, -5.0, 0.8),
            budget_change(&env, 2, 5.0, 0.7),
        ],
        vec![],
    )
    .await;
    assert_eq!(proposals.len(), 3);
    let (approved, rejected, edited) = (id_of(&proposals[0]), id_of(&proposals[1]), id_of(&proposals[2]));
    assert!(
        proposals.iter().all(|p| p["status"] == "pending"),
        "{proposals:?}"
    );
    let (operator, key_id) = key(&env, "operator").await;
    let actor = format!("key:{key_id}");

    let mut browser = Browser::new(&env.host.url);
    let inbox = browser.sign_in_to_inbox(&operator).await;
    for proposal in &proposals {
        assert!(
            inbox
                .text
                .contains(&format!("id=\"proposal-{}\"", id_of(proposal))),
            "{}",
            inbox.text
        );
        let target = proposal["preview"]["target_id"]
            .as_str()
            .expect("a verified target");
        assert!(inbox.text.contains(target), "the target is shown");
    }
    assert!(inbox.text.contains("data-agent"), "the agent is named");
    assert!(inbox.text.contains("3 pending"));
    assert!(
        inbox.text.contains("alert(1)") && !inbox.text.contains("<script>alert"),
        "escaped"
    );
    assert!(inbox.text.contains("Before → after"));
    let csrf = inbox.csrf();

    // Approve as proposed: executed on the platform, by the key's actor.
    let done = browser
        .post(&decide_path(&approved, "approve"), &[("csrf", &csrf)])
        .await;
    assert_eq!(done.status, 303, "{}", done.text);
    assert_eq!(done.location(), inbox_path());
    let after = browser.get(&inbox_path()).await;
    assert!(after.text.contains("Approved and executed"), "{}", after.text);
    assert!(!after.text.contains(&format!("id=\"proposal-{approved}\"")));
    let shown_once = browser.get(&inbox_path()).await;
    assert!(
        !shown_once.text.contains("Approved and executed"),
        "a notice shows once"
    );
    let proposal = env.proposal(&approved).await;
    assert_eq!(proposal["status"], "executed", "{proposal}");
    assert_eq!(proposal["decision"]["by"], actor.as_str());
    assert_eq!(budget_writes(&env), 1);

    // An edited input that is not JSON is refused and changes nothing.
    let bad = browser
        .post(
            &decide_path(&edited, "approve"),
            &[("csrf", &csrf), ("input", "{not json")],
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.text);
    assert!(bad.text.contains("the edited input is not JSON"), "{}", bad.text);
    assert_eq!(env.proposal(&edited).await["status"], "pending");

    // Approve with an edited input.
    let input = json!({"campaign_id": campaign_id, "daily_budget": edited_budget}).to_string();
    let done = browser
        .post(
            &decide_path(&edited, "approve"),
            &[("csrf", &csrf), ("input", &input)],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.text);
    let proposal = env.proposal(&edited).await;
    assert_eq!(proposal["status"], "executed", "{proposal}");
    assert_eq!(proposal["decision"]["kind"], "edited");
    assert_eq!(proposal["input"]["daily_budget"], json!(edited_budget));
    assert_eq!(budget_writes(&env), 2);

    // Reject with a reason; without one the façade's message is shown.
    let refused = browser
        .post(
            &decide_path(&rejected, "reject"),
            &[("csrf", &csrf), ("reason", " ")],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.text);
    assert!(
        refused.text.contains("a rejection needs a reason"),
        "{}",
        refused.text
    );
    let done = browser
        .post(
            &decide_path(&rejected, "reject"),
            &[("csrf", &csrf), ("reason", "too risky this week")],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.text);
    let proposal = env.proposal(&rejected).await;
    assert_eq!(proposal["status"], "rejected");
    assert_eq!(proposal["decision"]["reason"], "too risky this week");
    assert_eq!(proposal["decision"]["by"], actor.as_str());
    assert_eq!(budget_writes(&env), 2, "a rejection writes nothing");
    let empty = browser.get(&inbox_path()).await;
    assert!(
        empty.text.contains("Nothing waits for a decision"),
        "{}",
        empty.text
    );

    // The audit chain names the key, through the API and on the page.
    let audit = env.audit().await;
    for (action, id) in [
        ("proposal.approve", &approved),
        ("proposal.execute", &approved),
        ("proposal.approve", &edited),
        ("proposal.reject", &rejected),
    ] {
        let entry = audit
            .iter()
            .find(|e| e["action"] == action && e["details"]["proposal"] == id.as_str())
            .unwrap_or_else(|| panic!("no {action} of {id}"));
        assert_eq!(entry["actor"], actor.as_str(), "{entry}");
    }
    let page = browser
        .get(&format!(
            "/console/tenants/{TENANT}/audit?action=proposal.&actor={actor}"
        ))
        .await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(page.text.contains("proposal.reject") && page.text.contains("proposal.execute"));
    assert!(!page.text.contains("tenant.create"), "filtered by action");
    let others = browser
        .get(&format!("/console/tenants/{TENANT}/audit?actor=admin"))
        .await;
    assert!(others.text.contains("tenant.create") && !others.text.contains("proposal.reject"));
    let verified = browser
        .get(&format!("/console/tenants/{TENANT}/audit/verify"))
        .await;
    assert_eq!(verified.status, 200, "{}", verified.text);
    assert!(verified.text.contains("Verified: all"), "{}", verified.text);

    // Connections: the connector, its schedule, and a sync started here.
    let connections = browser
        .get(&format!("/console/tenants/{TENANT}/connections"))
        .await;
    assert_eq!(connections.status, 200, "{}", connections.text);
    assert!(connections.text.contains("meta-ads") && connections.text.contains("never synced"));
    assert!(
        !connections.text.contains("data-agent"),
        "agents are not connections"
    );
    let started = browser
        .post(
            &format!("/console/tenants/{TENANT}/connections/meta-ads/sync"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(started.status, 303, "{}", started.text);
    let runs = env.get(&format!("/v1/tenants/{TENANT}/runs")).await.json;
    let run = runs
        .as_array()
        .and_then(|runs| runs.iter().find(|r| r["plugin"] == "meta-ads"))
        .expect("a sync run");
    assert_eq!(run["requested_by"], actor.as_str());
    let run = env
        .host
        .wait_for_run(&env.admin, TENANT, run["id"].as_str().expect("id"))
        .await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let synced = browser
        .get(&format!("/console/tenants/{TENANT}/connections"))
        .await;
    assert!(
        synced.text.contains("succeeded") && synced.text.contains("campaign_insights"),
        "{}",
        synced.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_experts_decide_expert_only_proposals_and_viewers_decide_nothing() {
    let env = start().await;
    set_level(&env, "expert-required").await;
    let proposals = propose(&env, vec![budget_change(&env, 0, 10.0, 0.9)], vec![]).await;
    let id = id_of(&proposals[0]);
    assert_eq!(proposals[0]["requires_expert"], true);

    let (operator, _) = key(&env, "operator").await;
    let mut browser = Browser::new(&env.host.url);
    let inbox = browser.sign_in_to_inbox(&operator).await;
    assert!(inbox.text.contains("expert only"), "marked");
    let csrf = inbox.csrf();
    for (decision, fields) in [
        ("approve", vec![("csrf", csrf.as_str())]),
        ("reject", vec![("csrf", csrf.as_str()), ("reason", "no")]),
    ] {
        let refused = browser.post(&decide_path(&id, decision), &fields).await;
        assert_eq!(refused.status, 403, "{}", refused.text);
        assert!(
            refused.text.contains("needs an expert"),
            "the façade's message: {}",
            refused.text
        );
        assert!(
            refused.text.contains(&format!("id=\"proposal-{id}\"")),
            "the inbox is shown again"
        );
    }
    assert_eq!(env.proposal(&id).await["status"], "pending");
    assert_eq!(budget_writes(&env), 0);

    let (viewer, _) = key(&env, "viewer").await;
    let mut reader = Browser::new(&env.host.url);
    let inbox = reader.sign_in_to_inbox(&viewer).await;
    assert!(inbox.text.contains("not decide them"), "{}", inbox.text);
    let refused = reader
        .post(&decide_path(&id, "approve"), &[("csrf", &inbox.csrf())])
        .await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert!(
        refused.text.contains("needs the `operator` role"),
        "{}",
        refused.text
    );
    let refused = reader
        .post(
            &format!("/console/tenants/{TENANT}/connections/meta-ads/sync"),
            &[("csrf", &inbox.csrf())],
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.text);

    let (expert, expert_id) = key(&env, "expert").await;
    let mut decider = Browser::new(&env.host.url);
    let inbox = decider.sign_in_to_inbox(&expert).await;
    let done = decider
        .post(&decide_path(&id, "approve"), &[("csrf", &inbox.csrf())])
        .await;
    assert_eq!(done.status, 303, "{}", done.text);
    let proposal = env.proposal(&id).await;
    assert_eq!(proposal["status"], "executed", "{proposal}");
    assert_eq!(proposal["decision"]["by"], format!("key:{expert_id}"));
    assert_eq!(budget_writes(&env), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_proposal_says_so_and_waits_for_a_new_decision() {
    let env = start().await;
    let proposals = propose(&env, vec![budget_change(&env, 0, 10.0, 0.9)], vec![]).await;
    let id = id_of(&proposals[0]);
    let (campaign_id, budget) = campaign(&env, 0);
    let moved_cents = (budget * 100.0 * 4.0 / 3.0).round() as i64;
    {
        // Someone raises the budget on the platform meanwhile, by a third.
        let mut world = env.sandbox.world();
        let account = world.account_mut(Platform::Meta);
        account
            .campaign_mut(&campaign_id)
            .expect("campaign")
            .daily_budget_cents = moved_cents;
    }
    let (operator, _) = key(&env, "operator").await;
    let mut browser = Browser::new(&env.host.url);
    let inbox = browser.sign_in_to_inbox(&operator).await;
    assert!(!inbox.text.contains("Stale:"));
    let refused = browser
        .post(&decide_path(&id, "approve"), &[("csrf", &inbox.csrf())])
        .await;
    assert_eq!(refused.status, 409, "{}", refused.text);
    assert!(
        refused.text.contains("was not executed: stale"),
        "{}",
        refused.text
    );
    assert!(
        refused.text.contains("Stale: the platform moved"),
        "{}",
        refused.text
    );
    let fresh = format!("{} USD</span>", moved_cents as f64 / 100.0);
    assert!(
        refused.text.contains(&fresh),
        "the fresh figures {fresh}: {}",
        refused.text
    );
    assert_eq!(env.proposal(&id).await["status"], "pending");
    assert_eq!(budget_writes(&env), 0);
    let again = browser
        .post(&decide_path(&id, "approve"), &[("csrf", &inbox.csrf())])
        .await;
    assert_eq!(again.status, 303, "{}", again.text);
    assert_eq!(env.proposal(&id).await["status"], "executed");
    assert_eq!(budget_writes(&env), 1);
}
