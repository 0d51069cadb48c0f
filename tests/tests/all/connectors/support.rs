//! The checks several connector tests make alike, among them the previews
//! of the three ad connectors, which share their actions and conventions.

use omnify_sandbox::server::PlatformServer;
use omnify_sandbox::world::{Platform, Status, Totals};
use omnify_tests::host::Reply;
use omnify_tests::platforms::PlatformHost;
use serde_json::{Value, json};

/// Cents as the major units the connectors write money in.
pub fn major(cents: i64) -> f64 {
    cents as f64 / 100.0
}

/// Assert that `run` succeeded.
pub fn assert_succeeded(run: &Value) {
    assert_eq!(run["status"], "succeeded", "{run:#}");
}

/// Assert that `run` failed with an error naming each of `needles`;
/// returns the error.
pub fn assert_failed<'r>(run: &'r Value, needles: &[&str]) -> &'r str {
    assert_eq!(run["status"], "failed", "{run:#}");
    let error = run["last_error"].as_str().unwrap_or_default();
    for needle in needles {
        assert!(error.contains(needle), "no `{needle}` in the error of {run:#}");
    }
    error
}

/// The kind (`auth`, `invalid-input`, ...) and message of the error a
/// plugin returned from a failed invoke.
pub fn plugin_error(reply: &Reply) -> (String, String) {
    let error = &reply.json["error"]["details"]["error"];
    assert_eq!(
        error["code"], "plugin",
        "the call fails in the plugin: {}",
        reply.text
    );
    let kind = error["kind"]
        .as_str()
        .unwrap_or_else(|| panic!("no error kind: {}", reply.text));
    // The API's status says what the plugin's error was.
    let status = match kind {
        "not-found" => 404,
        "invalid-input" => 422,
        "auth" | "config" => 424,
        "rate-limited" => 429,
        "transient" => 503,
        _ => 502,
    };
    assert_eq!(reply.status, status, "a plugin's `{kind}`: {}", reply.text);
    let message = error["message"].as_str().unwrap_or_default();
    (kind.to_string(), message.to_string())
}

/// Assert that the action audit entries `acts` are the successful runs of
/// the actions `names`, in that order.
pub fn assert_acted(acts: &[Value], names: &[&str]) {
    let acted: Vec<&Value> = acts.iter().map(|e| &e["details"]["action"]["name"]).collect();
    assert_eq!(acted, names, "{acts:#?}");
    assert!(acts.iter().all(|e| e["outcome"] == "ok"), "{acts:#?}");
}

/// Assert that a daily insight `record` carries the world's `totals` of
/// that object and day, money in dollars.
pub fn assert_insight(record: &Value, totals: &Totals) {
    assert_eq!(record["spend"], json!(major(totals.spend_cents)), "{record}");
    assert_eq!(record["impressions"], totals.impressions, "{record}");
    assert_eq!(record["clicks"], totals.clicks, "{record}");
    assert_eq!(
        record["conversions"],
        json!(totals.conversions as f64),
        "{record}"
    );
    assert_eq!(
        record["conversion_value"],
        json!(major(totals.conversion_value_cents)),
        "{record}"
    );
    assert_eq!(record["currency"], "USD", "{record}");
}

/// Assert that a failed invoke's plugin error is of `kind` and its
/// message names `needle`.
pub fn assert_refused(reply: &Reply, kind: &str, needle: &str) {
    let (got, message) = plugin_error(reply);
    assert_eq!(got, kind, "{message}");
    assert!(message.contains(needle), "no `{needle}` in: {message}");
}

/// Preview the action `name` of `connector` with `input`.
pub async fn preview(env: &PlatformHost, connector: &str, name: &str, input: Value) -> Reply {
    let call = json!({ "name": name, "input": input });
    env.invoke(connector, "preview", call).await
}

/// Assert that `reply` previews `metric` of the object `(kind, id)` going
/// from `current` to `after` in `unit`.
pub fn assert_preview(
    reply: &Reply,
    (kind, id): (&str, &str),
    metric: &str,
    (current, after): (f64, f64),
    unit: &str,
) {
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["output"]["export"], "preview", "{}", reply.text);
    let result = &reply.json["output"]["result"];
    assert_eq!(
        (
            &result["target_kind"],
            &result["target_id"],
            &result["metric"],
            &result["unit"]
        ),
        (&json!(kind), &json!(id), &json!(metric), &json!(unit)),
        "{result}"
    );
    let number = |field: &str| {
        result[field]
            .as_f64()
            .unwrap_or_else(|| panic!("no `{field}` number in {result}"))
    };
    assert!(
        (number("current") - current).abs() < 1e-9,
        "current {current}: {result}"
    );
    assert!((number("after") - after).abs() < 1e-9, "after {after}: {result}");
}

/// The sandbox server of ad `platform`.
pub fn server(env: &PlatformHost, platform: Platform) -> &PlatformServer {
    match platform {
        Platform::Meta => &env.sandbox.meta,
        Platform::Google => &env.sandbox.google,
        Platform::Tiktok => &env.sandbox.tiktok,
        Platform::LinkedIn => &env.sandbox.linkedin,
    }
}

/// Assert that every request `server` received only read: a `GET`, or a
/// Google Ads search (a `POST` that changes nothing).
pub fn assert_only_reads(server: &PlatformServer) {
    let requests = server.requests();
    assert!(
        requests
            .iter()
            .all(|r| r.starts_with("GET ") || r.ends_with("/googleAds:search")),
        "{requests:#?}"
    );
    assert!(server.writes().is_empty(), "{:#?}", server.writes());
}

/// Preview every action of the ad connector of `platform` on a campaign and
/// an ad that deliver and on a paused campaign and ad, and check each
/// preview against the sandbox's world: targets, metrics, the values now
/// and after, the account's currency. Previews write nothing, and a budget
/// changed behind the host's back shows in the next preview.
pub async fn assert_ad_previews_match_the_platform(env: &PlatformHost, platform: Platform) {
    let connector = platform.connector();
    let (before, active, paused, ad_on, ad_off) = {
        let mut world = env.sandbox.world();
        let account = world.account_mut(platform);
        account.campaigns[2].status = Status::Paused;
        account.ads[3].status = Status::Paused;
        let (active, paused) = (account.campaigns[1].clone(), account.campaigns[2].clone());
        assert_eq!(active.status, Status::Active);
        assert_eq!(account.ads[2].status, Status::Active);
        let ads = (account.ads[2].id.clone(), account.ads[3].id.clone());
        (account.clone(), active, paused, ads.0, ads.1)
    };
    let currency = before.currency.as_str();
    let (on, off) = (major(active.daily_budget_cents), major(paused.daily_budget_cents));
    let campaign = |id: &str| json!({ "campaign_id": id });
    let budget = |id: &str, amount: f64| json!({ "campaign_id": id, "daily_budget": amount });
    let ad = |id: &str| json!({ "ad_id": id });
    let (money, status) = ("active-daily-budget", "active");
    let cases = [
        (
            "set-daily-budget",
            budget(&active.id, 123.45),
            ("campaign", active.id.as_str()),
            "daily-budget",
            (on, 123.45),
            currency,
        ),
        (
            "set-daily-budget",
            budget(&paused.id, 80.0),
            ("campaign", paused.id.as_str()),
            "daily-budget",
            (off, 80.0),
            currency,
        ),
        (
            "pause-campaign",
            campaign(&active.id),
            ("campaign", active.id.as_str()),
            money,
            (on, 0.0),
            currency,
        ),
        (
            "resume-campaign",
            campaign(&active.id),
            ("campaign", active.id.as_str()),
            money,
            (on, on),
            currency,
        ),
        (
            "pause-campaign",
            campaign(&paused.id),
            ("campaign", paused.id.as_str()),
            money,
            (0.0, 0.0),
            currency,
        ),
        (
            "resume-campaign",
            campaign(&paused.id),
            ("campaign", paused.id.as_str()),
            money,
            (0.0, off),
            currency,
        ),
        (
            "pause-ad",
            ad(&ad_on),
            ("ad", ad_on.as_str()),
            status,
            (1.0, 0.0),
            "status",
        ),
        (
            "resume-ad",
            ad(&ad_on),
            ("ad", ad_on.as_str()),
            status,
            (1.0, 1.0),
            "status",
        ),
        (
            "pause-ad",
            ad(&ad_off),
            ("ad", ad_off.as_str()),
            status,
            (0.0, 0.0),
            "status",
        ),
        (
            "resume-ad",
            ad(&ad_off),
            ("ad", ad_off.as_str()),
            status,
            (0.0, 1.0),
            "status",
        ),
    ];
    for (name, input, target, metric, values, unit) in cases {
        let reply = preview(env, connector, name, input.clone()).await;
        assert_eq!(reply.status, 200, "{name} {input}: {}", reply.text);
        assert_preview(&reply, target, metric, values, unit);
    }
    assert_only_reads(server(env, platform));
    assert_eq!(
        env.sandbox.world().account(platform),
        &before,
        "previews change nothing"
    );

    // Someone changes the budget in the platform's own interface: the next
    // preview reads the new budget, so a proposal made before is stale.
    assert!(env.sandbox.set_daily_budget(platform, &active.id, 9_900));
    let reply = preview(env, connector, "set-daily-budget", budget(&active.id, 123.45)).await;
    let target = ("campaign", active.id.as_str());
    assert_preview(&reply, target, "daily-budget", (99.0, 123.45), currency);
    assert_only_reads(server(env, platform));
}

/// Preview bad inputs on the ad connector of `platform`: each is refused
/// with the error kind the action gives for it, naming the same thing, and
/// neither the previews nor the refused actions write anything.
pub async fn assert_bad_ad_previews_are_refused_like_actions(env: &PlatformHost, platform: Platform) {
    let connector = platform.connector();
    let (before, campaign, foreign_campaign, foreign_ad) = {
        let world = env.sandbox.world();
        let other = Platform::ALL
            .into_iter()
            .find(|p| *p != platform)
            .expect("another platform");
        let foreign = world.account(other);
        (
            world.account(platform).clone(),
            world.account(platform).campaigns[0].id.clone(),
            foreign.campaigns[0].id.clone(),
            foreign.ads[0].id.clone(),
        )
    };
    let cases = [
        (
            "delete-campaign",
            json!({ "campaign_id": campaign }),
            "not-found",
            "delete-campaign",
        ),
        (
            "pause-campaign",
            json!({ "campaign_id": foreign_campaign }),
            "not-found",
            foreign_campaign.as_str(),
        ),
        (
            "set-daily-budget",
            json!({ "campaign_id": foreign_campaign, "daily_budget": 60 }),
            "not-found",
            foreign_campaign.as_str(),
        ),
        (
            "pause-ad",
            json!({ "ad_id": foreign_ad }),
            "not-found",
            foreign_ad.as_str(),
        ),
        (
            "pause-campaign",
            json!({ "campaign_id": "summer sale" }),
            "invalid-input",
            "campaign_id",
        ),
        (
            "resume-ad",
            json!({ "ad_id": "ad one" }),
            "invalid-input",
            "ad_id",
        ),
        (
            "set-daily-budget",
            json!({ "campaign_id": campaign }),
            "invalid-input",
            "daily_budget",
        ),
        (
            "set-daily-budget",
            json!({ "campaign_id": campaign, "daily_budget": -5 }),
            "invalid-input",
            "daily_budget",
        ),
        (
            "set-daily-budget",
            json!({ "campaign_id": campaign, "daily_budget": 60.005 }),
            "invalid-input",
            "60.005",
        ),
    ];
    for (name, input, kind, needle) in &cases {
        let (got, message) = plugin_error(&preview(env, connector, name, input.clone()).await);
        assert_eq!(got, *kind, "preview {name} {input}: {message}");
        assert!(
            message.contains(needle),
            "preview {name} {input}: no `{needle}` in {message}"
        );
    }
    assert_only_reads(server(env, platform));
    for (name, input, kind, needle) in &cases {
        let (got, message) = plugin_error(&env.act(connector, name, input.clone(), "bad").await);
        assert_eq!(got, *kind, "act {name} {input}: {message}");
        assert!(
            message.contains(needle),
            "act {name} {input}: no `{needle}` in {message}"
        );
    }
    assert_only_reads(server(env, platform));
    assert_eq!(env.sandbox.world().account(platform), &before);
}
