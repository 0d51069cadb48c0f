//! `GET /rest/adAnalytics?q=analytics`: the Analytics finder over the
//! world's LinkedIn delivery.
//!
//! As in the real API: one `pivot` (`ACCOUNT`, `CAMPAIGN_GROUP`, `CAMPAIGN`,
//! `CREATIVE`), `timeGranularity` `DAILY` or `ALL`, a required
//! `dateRange=(start:(year,month,day),end:(…))` (the end included; the last
//! day with data when absent), at least one facet (`accounts`,
//! `campaignGroups`, `campaigns`, `creatives`, each a `List` of URNs),
//! `fields` of at most 20 names. There is no paging: an answer holds at
//! most [`MAX_ELEMENTS`] elements and is cut there. Only entities that
//! delivered have elements; money is a decimal string in the account's
//! currency (`costInLocalCurrency`), and USD too (`costInUsd`).

use super::restli::{Data, Query};
use super::{Answer, LinkedInError, admit, money, respond, urn};
use crate::server::Platform;
use crate::world::{AdAccount, AdDay, Platform as AdPlatform, Totals};
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::{Datelike, NaiveDate};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The most elements one answer holds.
pub const MAX_ELEMENTS: usize = 15_000;
/// The most fields one request may name.
const MAX_FIELDS: usize = 20;
/// The fields served.
const FIELDS: [&str; 9] = [
    "dateRange",
    "pivotValues",
    "impressions",
    "clicks",
    "landingPageClicks",
    "costInLocalCurrency",
    "costInUsd",
    "externalWebsiteConversions",
    "conversionValueInLocalCurrency",
];
/// The fields of an answer to a request that names none.
const DEFAULT_FIELDS: [&str; 4] = ["dateRange", "pivotValues", "impressions", "clicks"];

/// What the elements are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pivot {
    Account,
    CampaignGroup,
    Campaign,
    Creative,
}

/// A day's (or the range's) group: its dates and the pivot's URN.
type Key = ((NaiveDate, NaiveDate), String);

/// `GET /rest/adAnalytics`.
pub async fn analytics(
    State(platform): State<Arc<Platform>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query = Query::split(query.as_deref().unwrap_or(""));
    respond(admit(&platform, &headers).and_then(|()| {
        let world = platform.world();
        answer(world.account(AdPlatform::LinkedIn), world.last_day, &query)
    }))
}

fn illegal(error: impl std::fmt::Display) -> LinkedInError {
    LinkedInError::illegal(error.to_string())
}

fn answer(account: &AdAccount, last_day: NaiveDate, query: &Query) -> Answer {
    match query.leaf("q").map_err(illegal)?.as_deref() {
        Some("analytics") => {}
        Some("statistics") => {
            return Err(LinkedInError::illegal(
                "the sandbox serves q=analytics, not statistics",
            ));
        }
        other => {
            return Err(LinkedInError::illegal(format!(
                "no finder `q={}` on adAnalytics",
                other.unwrap_or_default()
            )));
        }
    }
    let pivot = match query.leaf("pivot").map_err(illegal)?.as_deref() {
        Some("ACCOUNT") => Pivot::Account,
        Some("CAMPAIGN_GROUP") => Pivot::CampaignGroup,
        Some("CAMPAIGN") => Pivot::Campaign,
        Some("CREATIVE") => Pivot::Creative,
        other => {
            return Err(LinkedInError::illegal(format!(
                "pivot must be ACCOUNT, CAMPAIGN_GROUP, CAMPAIGN or CREATIVE, not `{}`",
                other.unwrap_or_default()
            )));
        }
    };
    let daily = match query.leaf("timeGranularity").map_err(illegal)?.as_deref() {
        Some("DAILY") => true,
        Some("ALL") => false,
        other => {
            return Err(LinkedInError::illegal(format!(
                "timeGranularity must be DAILY or ALL in the sandbox, not `{}`",
                other.unwrap_or_default()
            )));
        }
    };
    let (from, to) = date_range(query, last_day)?;
    let fields = fields(query)?;
    let facets = Facets::parse(query)?;

    let mut totals: BTreeMap<Key, Totals> = BTreeMap::new();
    for day in account.days.iter().filter(|d| d.date >= from && d.date <= to) {
        let Some(entity) = facets.pivot_of(account, day, pivot) else {
            continue;
        };
        let dates = if daily { (day.date, day.date) } else { (from, to) };
        totals.entry((dates, entity)).or_default().add(day);
    }
    let elements: Vec<Value> = totals
        .iter()
        .filter(|(_, t)| t.impressions > 0)
        .take(MAX_ELEMENTS)
        .map(|(key, t)| element(key, t, &fields))
        .collect();
    Ok(json!({ "paging": {"start": 0, "count": 10, "links": []}, "elements": elements }))
}

/// `(start:(year,month,day),end:(…))` as days, the end the last day with
/// data when absent.
fn date_range(query: &Query, last_day: NaiveDate) -> Result<(NaiveDate, NaiveDate), LinkedInError> {
    let range = query
        .data("dateRange")
        .map_err(illegal)?
        .ok_or_else(|| LinkedInError::illegal("dateRange is required: (start:(year:…,month:…,day:…))"))?;
    let day = |part: &Data| {
        let number = |name: &str| {
            part.member(name)
                .and_then(Data::leaf)
                .and_then(|v| v.parse::<u32>().ok())
        };
        number("year")
            .and_then(|y| i32::try_from(y).ok())
            .zip(number("month").zip(number("day")))
            .and_then(|(y, (m, d))| NaiveDate::from_ymd_opt(y, m, d))
    };
    let start = range
        .member("start")
        .and_then(day)
        .ok_or_else(|| LinkedInError::illegal("dateRange.start must be a date (year:…,month:…,day:…)"))?;
    let end = match range.member("end") {
        None => last_day,
        Some(end) => day(end)
            .ok_or_else(|| LinkedInError::illegal("dateRange.end must be a date (year:…,month:…,day:…)"))?,
    };
    if end < start {
        return Err(LinkedInError::illegal("dateRange.end is before dateRange.start"));
    }
    Ok((start, end))
}

/// The `fields` asked for (a plain comma list), each one served.
fn fields(query: &Query) -> Result<Vec<String>, LinkedInError> {
    let Some(raw) = query.raw("fields") else {
        return Ok(DEFAULT_FIELDS.iter().map(|f| f.to_string()).collect());
    };
    let fields: Vec<String> = raw
        .split(',')
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .collect();
    if fields.len() > MAX_FIELDS {
        return Err(LinkedInError::illegal(format!(
            "at most {MAX_FIELDS} fields may be requested"
        )));
    }
    if let Some(unknown) = fields.iter().find(|f| !FIELDS.contains(&f.as_str())) {
        return Err(LinkedInError::illegal(format!(
            "Invalid field `{unknown}` for adAnalytics"
        )));
    }
    Ok(fields)
}

/// The facets of a request: the URNs each level must be among.
struct Facets {
    accounts: Option<Vec<String>>,
    groups: Option<Vec<String>>,
    campaigns: Option<Vec<String>>,
    creatives: Option<Vec<String>>,
}

impl Facets {
    fn parse(query: &Query) -> Result<Self, LinkedInError> {
        let facets = Self {
            accounts: query.list("accounts").map_err(illegal)?,
            groups: query.list("campaignGroups").map_err(illegal)?,
            campaigns: query.list("campaigns").map_err(illegal)?,
            creatives: query.list("creatives").map_err(illegal)?,
        };
        if [
            &facets.accounts,
            &facets.groups,
            &facets.campaigns,
            &facets.creatives,
        ]
        .iter()
        .all(|f| f.is_none())
        {
            return Err(LinkedInError::illegal(
                "at least one facet is required: accounts, campaignGroups, campaigns or creatives",
            ));
        }
        Ok(facets)
    }

    /// The URN `day` counts under for `pivot`, if every facet keeps it.
    fn pivot_of(&self, account: &AdAccount, day: &AdDay, pivot: Pivot) -> Option<String> {
        let ad = account.ad(&day.ad_id)?;
        let group = account
            .campaign_groups
            .iter()
            .find(|g| g.campaign_ids.contains(&ad.campaign_id))
            .map(|g| urn("sponsoredCampaignGroup", &g.id))
            .unwrap_or_default();
        let account_urn = urn("sponsoredAccount", &account.account_id);
        let campaign = urn("sponsoredCampaign", &ad.campaign_id);
        let creative = urn("sponsoredCreative", &ad.id);
        let within = |facet: &Option<Vec<String>>, value: &str| {
            facet.as_ref().is_none_or(|f| f.iter().any(|v| v == value))
        };
        let kept = within(&self.accounts, &account_urn)
            && within(&self.groups, &group)
            && within(&self.campaigns, &campaign)
            && within(&self.creatives, &creative);
        kept.then_some(match pivot {
            Pivot::Account => account_urn,
            Pivot::CampaignGroup => group,
            Pivot::Campaign => campaign,
            Pivot::Creative => creative,
        })
    }
}

fn ymd(date: NaiveDate) -> Value {
    json!({"year": date.year(), "month": date.month(), "day": date.day()})
}

/// One element with the requested fields.
fn element(((from, to), pivot): &Key, totals: &Totals, fields: &[String]) -> Value {
    let mut element = Map::new();
    for field in fields {
        let value = match field.as_str() {
            "dateRange" => json!({"start": ymd(*from), "end": ymd(*to)}),
            "pivotValues" => json!([pivot]),
            "impressions" => json!(totals.impressions),
            "clicks" | "landingPageClicks" => json!(totals.clicks),
            "costInLocalCurrency" | "costInUsd" => json!(money(totals.spend_cents)),
            "externalWebsiteConversions" => json!(totals.conversions),
            "conversionValueInLocalCurrency" => json!(money(totals.conversion_value_cents)),
            _ => continue,
        };
        element.insert(field.clone(), value);
    }
    Value::Object(element)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::{Scenario, World};

    fn world() -> World {
        World::generate(42, Scenario::Planted, "2026-06-30".parse().expect("a date"))
    }

    #[test]
    fn daily_campaign_elements_are_the_worlds_totals() {
        let world = world();
        let account = world.account(AdPlatform::LinkedIn);
        let campaign = &account.campaigns[0].id;
        let query = Query::split(&format!(
            "q=analytics&pivot=CAMPAIGN&timeGranularity=DAILY\
             &dateRange=(start:(year:2026,month:6,day:29),end:(year:2026,month:6,day:30))\
             &accounts=List(urn%3Ali%3AsponsoredAccount%3A{})&fields=dateRange,pivotValues,costInLocalCurrency",
            account.account_id
        ));
        let answer = answer(account, world.last_day, &query).expect("an answer");
        let elements = answer["elements"].as_array().expect("elements");
        assert_eq!(elements.len(), 2 * account.campaigns.len());
        let day: NaiveDate = "2026-06-30".parse().expect("a date");
        let element = elements
            .iter()
            .find(|e| {
                e["pivotValues"][0] == urn("sponsoredCampaign", campaign)
                    && e["dateRange"]["start"]["day"] == 30
            })
            .expect("the campaign's last day");
        assert_eq!(
            element["costInLocalCurrency"],
            money(account.campaign_day(campaign, day).spend_cents)
        );
        assert!(element.get("impressions").is_none(), "only the fields asked for");
    }

    #[test]
    fn requests_linkedin_refuses_are_refused() {
        let world = world();
        let account = world.account(AdPlatform::LinkedIn);
        let base =
            "q=analytics&pivot=CREATIVE&timeGranularity=DAILY&dateRange=(start:(year:2026,month:6,day:1))";
        for query in [
            base.to_string(),
            format!("{base}&accounts=List(urn:li:sponsoredAccount:1)"),
            format!("{base}&accounts=List(x)&fields=spend"),
            "q=analytics&pivot=CREATIVE&timeGranularity=DAILY&accounts=List(x)".to_string(),
            format!("{base}&accounts=List(x)").replace("DAILY", "HOURLY"),
        ] {
            assert!(
                answer(account, world.last_day, &Query::split(&query)).is_err(),
                "{query}"
            );
        }
        let other = format!("{base}&accounts=List(urn%3Ali%3AsponsoredAccount%3A1)");
        let empty = answer(account, world.last_day, &Query::split(&other)).expect("an answer");
        assert_eq!(empty["elements"], json!([]));
    }
}
