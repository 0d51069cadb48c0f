//! The `add-contact-tag` and `move-opportunity-stage` actions against the
//! GoHighLevel sandbox: previews that read and write nothing, writes made
//! once and checked in the sandbox's write log, and bad inputs refused
//! alike by the action and its preview.

use super::server;
use crate::connectors::support::{assert_preview, plugin_error, preview};
use omnify_sandbox::world::DealStatus;
use omnify_tests::platforms::PlatformHost;
use serde_json::json;

/// A contact without the tag `vip`, and an open sales deal short of the
/// last two stages with its stage index.
fn targets(env: &PlatformHost) -> (String, String, usize) {
    let world = env.sandbox.world();
    let crm = &world.crm;
    let contact = crm
        .contacts
        .iter()
        .find(|c| !c.tags.iter().any(|t| t == "vip"))
        .expect("a contact");
    let sales = &crm.pipelines[0];
    let (deal, stage) = crm
        .opportunities
        .iter()
        .filter(|o| o.status == DealStatus::Open && o.pipeline_id == sales.id)
        .find_map(|o| {
            let stage = sales.stages.iter().position(|s| s.id == o.stage_id)?;
            (stage + 2 < sales.stages.len()).then(|| (o.id.clone(), stage))
        })
        .expect("an open deal");
    (contact.id.clone(), deal, stage)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_contact_tag_is_previewed_written_once_and_audited() {
    let env = PlatformHost::start(&["gohighlevel"]).await;
    let (contact, _, _) = targets(&env);
    let updated_before = env
        .sandbox
        .world()
        .crm
        .contact(&contact)
        .expect("it")
        .date_updated;
    let input = json!({"contact_id": contact, "tag": "VIP"});
    let reply = preview(&env, "gohighlevel", "add-contact-tag", input.clone()).await;
    assert_preview(&reply, ("contact", &contact), "tagged", (0.0, 1.0), "status");
    assert!(server(&env).writes().is_empty(), "a preview writes nothing");

    let reply = env
        .act("gohighlevel", "add-contact-tag", input.clone(), "k1")
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let result = &reply.json["output"]["result"];
    assert_eq!(result["changed"], true, "{result}");
    assert!(result["tags"].as_array().expect("tags").contains(&json!("vip")));
    let writes = server(&env).writes();
    assert_eq!(writes.len(), 1);
    assert_eq!(
        (writes[0].method.as_str(), writes[0].path.clone()),
        ("POST", format!("/contacts/{contact}/tags"))
    );
    assert_eq!(writes[0].body, json!({"tags": ["vip"]}));
    assert!(writes[0].applied);
    let after = env.sandbox.world().crm.contact(&contact).expect("it").clone();
    assert!(after.tags.contains(&"vip".to_string()));
    assert!(after.date_updated > updated_before, "for incremental syncs");

    let reply = preview(&env, "gohighlevel", "add-contact-tag", input.clone()).await;
    assert_preview(&reply, ("contact", &contact), "tagged", (1.0, 1.0), "status");
    let again = env.act("gohighlevel", "add-contact-tag", input, "k1").await;
    assert_eq!(again.json["output"]["result"]["changed"], false, "{}", again.text);
    assert_eq!(server(&env).writes().len(), 1, "a retry writes nothing");
    let acts = env.act_entries("gohighlevel").await;
    assert_eq!(acts.len(), 2, "{acts:#?}");
    assert!(acts.iter().all(|e| e["outcome"] == "ok"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn move_opportunity_stage_moves_within_the_pipeline_once() {
    let env = PlatformHost::start(&["gohighlevel"]).await;
    let (_, deal, stage) = targets(&env);
    let (pipeline, next) = {
        let world = env.sandbox.world();
        let sales = world.crm.pipelines[0].clone();
        (sales.id.clone(), sales.stages[stage + 1].id.clone())
    };
    let input = json!({"opportunity_id": deal, "stage_id": next});
    let reply = preview(&env, "gohighlevel", "move-opportunity-stage", input.clone()).await;
    let numbers = ((stage + 1) as f64, (stage + 2) as f64);
    assert_preview(&reply, ("opportunity", &deal), "stage-number", numbers, "stage");
    assert!(server(&env).writes().is_empty());

    let reply = env
        .act("gohighlevel", "move-opportunity-stage", input.clone(), "k1")
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["output"]["result"]["changed"], true, "{}", reply.text);
    let writes = server(&env).writes();
    assert_eq!(writes.len(), 1);
    assert_eq!(
        (writes[0].method.as_str(), writes[0].path.clone()),
        ("PUT", format!("/opportunities/{deal}"))
    );
    assert_eq!(
        writes[0].body,
        json!({"pipelineId": pipeline, "pipelineStageId": next})
    );
    assert!(writes[0].applied);
    assert_eq!(
        env.sandbox.world().crm.opportunity(&deal).expect("it").stage_id,
        next
    );

    let again = env
        .act("gohighlevel", "move-opportunity-stage", input, "k1")
        .await;
    assert_eq!(again.json["output"]["result"]["changed"], false, "{}", again.text);
    assert_eq!(server(&env).writes().len(), 1, "a retry writes nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_stage_moves_and_tags_are_refused_like_their_previews_and_write_nothing() {
    let env = PlatformHost::start(&["gohighlevel"]).await;
    let (contact, deal, _) = targets(&env);
    let (partner_stage, before) = {
        let world = env.sandbox.world();
        (world.crm.pipelines[1].stages[0].id.clone(), world.crm.clone())
    };
    let cases = [
        (
            "move-opportunity-stage",
            json!({"opportunity_id": deal, "stage_id": partner_stage}),
            "invalid-input",
            "is a stage of pipeline",
        ),
        (
            "move-opportunity-stage",
            json!({"opportunity_id": deal, "stage_id": "0000-not-a-stage"}),
            "invalid-input",
            "not a stage of any pipeline",
        ),
        (
            "move-opportunity-stage",
            json!({"opportunity_id": "nosuchdeal000000000", "stage_id": partner_stage}),
            "not-found",
            "nosuchdeal000000000",
        ),
        (
            "move-opportunity-stage",
            json!({"opportunity_id": "../contacts", "stage_id": partner_stage}),
            "invalid-input",
            "`opportunity_id`",
        ),
        (
            "add-contact-tag",
            json!({"contact_id": contact, "tag": "a,b"}),
            "invalid-input",
            "`tag`",
        ),
        (
            "add-contact-tag",
            json!({"contact_id": "nosuchcontact000000", "tag": "vip"}),
            "not-found",
            "nosuchcontact000000",
        ),
        (
            "delete-contact",
            json!({"contact_id": contact}),
            "not-found",
            "delete-contact",
        ),
    ];
    for (name, input, kind, needle) in cases {
        let previewed = plugin_error(&preview(&env, "gohighlevel", name, input.clone()).await);
        assert_eq!(previewed.0, kind, "{name} {input}: {}", previewed.1);
        assert!(
            previewed.1.contains(needle),
            "{name} {input}: no `{needle}` in {}",
            previewed.1
        );
        let acted = plugin_error(&env.act("gohighlevel", name, input.clone(), "k").await);
        assert_eq!(previewed, acted, "{name} {input}: the action's error");
    }
    assert!(server(&env).writes().is_empty(), "{:#?}", server(&env).writes());
    assert_eq!(env.sandbox.world().crm, before);
}
