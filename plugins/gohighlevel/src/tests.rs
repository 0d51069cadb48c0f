//! The connector's exports against scripted GoHighLevel replies.

use super::*;
use omnify_sdk::connector::SyncMode;
use omnify_sdk::testing::{Harness, Reply};

const BASE: &str = "https://ghl.test";

fn harness() -> Harness {
    Harness::new()
        .config(json!({"base_url": BASE, "location_id": "loc1", "start_date": "2026-06-01"}))
        .secret("access_token", "tok")
}

const PIPELINES_URL: &str = "https://ghl.test/opportunities/pipelines?locationId=loc1";

fn pipelines() -> Reply {
    Reply::json(
        200,
        json!({"pipelines": [
        {"id": "p1", "name": "Sales", "stages": [{"id": "s1", "name": "New", "position": 0},
            {"id": "s2", "name": "Proposal", "position": 1}, {"id": "s3", "name": "Won", "position": 2}]},
        {"id": "p2", "name": "Partners", "stages": [{"id": "t1", "name": "Intro", "position": 0}]}]}),
    )
}

fn contact(id: &str, updated: &str, millis: i64) -> Value {
    json!({"id": id, "firstName": "Ada", "email": format!("{id}@example.com"), "tags": ["lead"],
        "dateAdded": "2026-05-01T00:00:00.000Z", "dateUpdated": updated, "searchAfter": [millis, id]})
}

#[test]
fn contacts_page_with_search_after_from_the_start_date() {
    let url = "https://ghl.test/contacts/search";
    let first = Reply::json(
        200,
        json!({"contacts": [
        contact("c1", "2026-06-02T10:00:00.000Z", 1_780_394_400_000),
        contact("c2", "2026-06-03T10:00:00.000Z", 1_780_480_800_000)], "total": 3}),
    );
    let last = Reply::json(
        200,
        json!({"contacts": [contact("c3", "2026-06-01T12:00:00.000Z", 1_780_315_200_000)], "total": 3}),
    );
    let harness = harness().reply("POST", url, first).reply("POST", url, last);
    let batch = harness
        .run(|| {
            GoHighLevel::read(
                ReadRequest::new("contacts")
                    .with_mode(SyncMode::Incremental)
                    .with_limit(2),
            )
        })
        .expect("a page");
    assert_eq!(batch.records.len(), 2);
    assert!(batch.has_more);
    let state = batch.state.clone().expect("a state");
    let second = harness
        .run(|| {
            GoHighLevel::read(
                ReadRequest::new("contacts")
                    .with_mode(SyncMode::Incremental)
                    .with_limit(2)
                    .with_state(state),
            )
        })
        .expect("the last page");
    assert!(!second.has_more);
    assert_eq!(
        second.state,
        Some(json!({"updated_at": "2026-06-03T10:00:00Z"})),
        "the highest time"
    );

    let requests = harness.requests();
    let body = requests[0].body_json().expect("a JSON body");
    assert_eq!(requests[0].header("authorization"), Some("Bearer tok"));
    assert_eq!(requests[0].header("version"), Some("2021-07-28"));
    assert_eq!(body["locationId"], "loc1");
    assert_eq!(body["pageLimit"], 2);
    assert_eq!(
        body["sort"],
        json!([{"field": "dateUpdated", "direction": "asc"}])
    );
    assert_eq!(body["filters"][0]["value"]["gte"], "2026-06-01T00:00:00Z");
    assert!(body.get("searchAfter").is_none());
    let body = requests[1].body_json().expect("a JSON body");
    assert_eq!(body["searchAfter"], json!([1_780_480_800_000i64, "c2"]));
    assert_eq!(
        body["filters"][0]["value"]["gte"], "2026-06-01T00:00:00Z",
        "the same listing"
    );
}

#[test]
fn opportunities_page_on_meta_and_name_their_stages() {
    let first = "https://ghl.test/opportunities/search?location_id=loc1&status=all&limit=1";
    let next = "https://ghl.test/opportunities/search?location_id=loc1&status=all&limit=1&startAfter=1780000000000&startAfterId=o1";
    let page = |id: &str, next_url: Value| {
        Reply::json(
            200,
            json!({"opportunities": [{"id": id, "name": "Deal", "status": "won", "monetaryValue": 900,
            "pipelineId": "p1", "pipelineStageId": "s3", "createdAt": "2026-06-01T00:00:00.000Z",
            "updatedAt": "2026-06-02T00:00:00.000Z", "lastStatusChangeAt": "2026-06-02T00:00:00.000Z"}],
            "meta": {"total": 2, "startAfter": 1_780_000_000_000i64, "startAfterId": id, "nextPageUrl": next_url}}),
        )
    };
    let harness = harness()
        .reply("GET", PIPELINES_URL, pipelines())
        .reply(
            "GET",
            first,
            page("o1", json!("https://ghl.test/opportunities/search?page=2")),
        )
        .reply("GET", next, page("o2", Value::Null));
    let batch = harness
        .run(|| GoHighLevel::read(ReadRequest::new("opportunities").with_limit(1)))
        .expect("a page");
    assert!(batch.has_more);
    assert_eq!(batch.records[0]["stage_name"], "Won");
    assert_eq!(batch.records[0]["won_at"], "2026-06-02T00:00:00Z");
    let state = batch.state.clone().expect("a state");
    let last = harness
        .run(|| GoHighLevel::read(ReadRequest::new("opportunities").with_limit(1).with_state(state)))
        .expect("the last page");
    assert!(!last.has_more);
    assert_eq!(last.records[0]["id"], "o2");
    assert!(harness.unanswered().is_empty(), "{:?}", harness.unanswered());
}

#[test]
fn appointments_are_read_per_calendar_in_windows() {
    let harness = harness().reply(
        "GET",
        "https://ghl.test/calendars/?locationId=loc1",
        Reply::json(200, json!({"calendars": [{"id": "cal1", "name": "Demo"}]})),
    );
    // Every window answers the same event; the test counts the windows.
    let today = time::today_start();
    let from = time::date_start("2026-06-01").expect("a date");
    let to = today + (streams::DAYS_AHEAD + 1) * time::DAY_MS;
    let window = streams::WINDOW_DAYS * time::DAY_MS;
    let mut start = from;
    let mut windows = 0;
    let mut harness = harness;
    while start < to {
        let end = (start + window).min(to);
        let url = format!(
            "https://ghl.test/calendars/events?locationId=loc1&calendarId=cal1&startTime={start}&endTime={}",
            end - 1
        );
        let event = json!({"events": [{"id": format!("e{windows}"), "calendarId": "cal1", "title": "Demo",
            "appointmentStatus": "confirmed", "startTime": "2026-06-02T10:00:00-05:00",
            "endTime": "2026-06-02T10:30:00-05:00"}]});
        harness = harness.reply("GET", &url, Reply::json(200, event));
        start = end;
        windows += 1;
    }
    let mut state = None;
    let mut records = Vec::new();
    loop {
        let request = ReadRequest::new("appointments").with_mode(SyncMode::Incremental);
        let request = match state.take() {
            Some(state) => request.with_state(state),
            None => request,
        };
        let batch = harness.run(|| GoHighLevel::read(request)).expect("a window");
        records.extend(batch.records);
        state = batch.state;
        if !batch.has_more {
            break;
        }
    }
    assert_eq!(records.len(), windows);
    assert_eq!(records[0]["start_time"], "2026-06-02T15:00:00Z");
    assert_eq!(records[0]["calendar_name"], "Demo");
    assert_eq!(state, Some(json!({"cursor": today})));
    assert!(harness.unanswered().is_empty(), "{:?}", harness.unanswered());
    let calendars = &harness.requests()[0];
    assert_eq!(calendars.header("version"), Some("2021-04-15"));
}

#[test]
fn a_tag_is_added_once() {
    let get = "https://ghl.test/contacts/c1";
    let post = "https://ghl.test/contacts/c1/tags";
    let untagged = Reply::json(
        200,
        json!({"contact": {"id": "c1", "locationId": "loc1", "tags": ["lead"]}}),
    );
    let tagged = Reply::json(
        200,
        json!({"contact": {"id": "c1", "locationId": "loc1", "tags": ["lead", "vip"]}}),
    );
    let harness = harness()
        // The preview reads, the action reads and writes, the retry reads.
        .reply("GET", get, untagged.clone())
        .reply("GET", get, untagged)
        .reply("GET", get, tagged)
        .reply("POST", post, Reply::json(201, json!({"tags": ["lead", "vip"]})));
    let input = json!({"contact_id": "c1", "tag": " VIP "});
    let preview = harness
        .run(|| GoHighLevel::preview("add-contact-tag", input.clone()))
        .expect("a preview");
    assert_eq!((preview.current, preview.after), (0.0, 1.0));
    let acted = harness
        .run(|| GoHighLevel::act("add-contact-tag", input.clone(), "k"))
        .expect("added");
    assert_eq!(acted["changed"], true);
    let again = harness
        .run(|| GoHighLevel::act("add-contact-tag", input.clone(), "k"))
        .expect("kept");
    assert_eq!(again["changed"], false);
    let posts: Vec<_> = harness
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(posts.len(), 1, "one write");
    assert_eq!(posts[0].body_json(), Some(json!({"tags": ["vip"]})));
}

#[test]
fn a_contact_of_another_location_is_not_found_and_bad_tags_are_refused_first() {
    let other = Reply::json(
        200,
        json!({"contact": {"id": "c9", "locationId": "elsewhere", "tags": []}}),
    );
    let harness = harness().reply("GET", "https://ghl.test/contacts/c9", other);
    let refused =
        harness.run(|| GoHighLevel::act("add-contact-tag", json!({"contact_id": "c9", "tag": "vip"}), "k"));
    assert!(
        matches!(&refused, Err(Error::NotFound(m)) if m.contains("c9")),
        "{refused:?}"
    );
    let bad =
        harness.run(|| GoHighLevel::preview("add-contact-tag", json!({"contact_id": "c9", "tag": "a,b"})));
    assert!(matches!(bad, Err(Error::InvalidInput(m)) if m.contains("`tag`")));
    assert_eq!(
        harness.requests().len(),
        1,
        "the bad tag is refused before any request"
    );
}

#[test]
fn a_stage_of_another_pipeline_is_refused_before_any_write() {
    let opportunity = Reply::json(
        200,
        json!({"opportunity": {"id": "o1", "locationId": "loc1",
        "pipelineId": "p1", "pipelineStageId": "s1"}}),
    );
    let harness = harness()
        .reply("GET", "https://ghl.test/opportunities/o1", opportunity)
        .reply("GET", PIPELINES_URL, pipelines())
        .reply(
            "PUT",
            "https://ghl.test/opportunities/o1",
            Reply::json(
                200,
                json!({"opportunity": {"id": "o1", "pipelineId": "p1", "pipelineStageId": "s3"}}),
            ),
        );
    let foreign = harness.run(|| {
        GoHighLevel::act(
            "move-opportunity-stage",
            json!({"opportunity_id": "o1", "stage_id": "t1"}),
            "k",
        )
    });
    assert!(
        matches!(&foreign, Err(Error::InvalidInput(m)) if m.contains("pipeline p2")),
        "{foreign:?}"
    );
    let preview = harness
        .run(|| {
            GoHighLevel::preview(
                "move-opportunity-stage",
                json!({"opportunity_id": "o1", "stage_id": "s3"}),
            )
        })
        .expect("a preview");
    assert_eq!(
        (preview.metric.as_str(), preview.current, preview.after),
        ("stage-number", 1.0, 3.0)
    );
    assert!(harness.requests().iter().all(|r| r.method == "GET"));
    let moved = harness
        .run(|| {
            GoHighLevel::act(
                "move-opportunity-stage",
                json!({"opportunity_id": "o1", "stage_id": "s3"}),
                "k",
            )
        })
        .expect("moved");
    assert_eq!(moved["stage_id"], "s3");
    let put = harness
        .requests()
        .into_iter()
        .find(|r| r.method == "PUT")
        .expect("a PUT");
    assert_eq!(
        put.body_json(),
        Some(json!({"pipelineId": "p1", "pipelineStageId": "s3"}))
    );
}

#[test]
fn delivery_events_are_checked_for_location_and_age() {
    let config: Config = serde_json::from_value(json!({"location_id": "loc1"})).expect("config");
    let now = time::date_start("2026-06-30").expect("a date");
    let body = |location: &str, at: &str| {
        json!({"type": "OpportunityStatusUpdate", "locationId": location, "id": "o1", "status": "won",
            "timestamp": at})
        .to_string()
    };
    let events = events(&config, body("loc1", "2026-06-30T00:01:00.000Z").as_bytes(), now).expect("events");
    assert_eq!(events[0].kind, "OpportunityStatusUpdate");
    assert_eq!(events[0].payload["status"], "won");
    let other = events_error(&config, &body("loc2", "2026-06-30T00:00:00.000Z"), now);
    assert!(matches!(other, Error::InvalidInput(m) if m.contains("loc2")));
    let stale = events_error(&config, &body("loc1", "2026-06-29T23:50:00.000Z"), now);
    assert!(matches!(stale, Error::Auth(m) if m.contains("tolerance")));
    assert!(matches!(events_error(&config, "{}", now), Error::InvalidInput(_)));
    assert!(matches!(
        events_error(&config, "not json", now),
        Error::InvalidInput(_)
    ));
}

fn events_error(config: &Config, body: &str, now: i64) -> Error {
    match events(config, body.as_bytes(), now) {
        Err(error) => error,
        Ok(events) => panic!("accepted: {events:?}"),
    }
}
