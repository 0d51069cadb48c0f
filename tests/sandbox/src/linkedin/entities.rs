//! The account's entities as LinkedIn writes them (numeric ids, URNs for
//! references, decimal-string money, epoch milliseconds), one at a time
//! or through the finders: `adCampaignGroups` and `adCampaigns` with
//! `q=search`, `creatives` with `q=criteria`, both paged by cursor.

use super::restli::{Data, Query};
use super::{Answer, LinkedInError, admit, money, number, own_account, respond, urn};
use crate::server::Platform;
use crate::world::{Ad, AdAccount, Campaign, CampaignGroup, Platform as AdPlatform, Status};
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::sync::Arc;

/// The page size when the request names none.
const DEFAULT_PAGE_SIZE: usize = 100;
/// The largest page of the search finders.
pub const MAX_SEARCH_PAGE_SIZE: usize = 1000;
/// The largest page of the creatives finder.
pub const MAX_CREATIVES_PAGE_SIZE: usize = 100;

/// The status as LinkedIn writes it.
pub fn status_text(status: Status) -> &'static str {
    match status {
        Status::Active => "ACTIVE",
        Status::Paused => "PAUSED",
    }
}

fn millis(time: DateTime<Utc>) -> i64 {
    time.timestamp_millis()
}

/// The ad account.
pub fn account_json(account: &AdAccount) -> Value {
    json!({
        "id": number(&account.account_id),
        "name": "Omnify Demo B2B",
        "currency": account.currency,
        "status": "ACTIVE",
        "type": "BUSINESS",
        "reference": "urn:li:organization:2414183",
        "test": false,
        "servingStatuses": ["RUNNABLE"],
        "notifiedOnCampaignOptimization": true,
        "version": {"versionTag": "2"},
    })
}

/// A campaign group.
pub fn group_json(account: &AdAccount, group: &CampaignGroup) -> Value {
    let created = account
        .campaigns
        .iter()
        .filter(|c| group.campaign_ids.contains(&c.id))
        .map(|c| c.created)
        .min()
        .unwrap_or_default();
    json!({
        "id": number(&group.id),
        "account": urn("sponsoredAccount", &account.account_id),
        "name": group.name,
        "status": status_text(group.status),
        "runSchedule": {"start": millis(created)},
        "changeAuditStamps": {"created": {"time": millis(created)}, "lastModified": {"time": millis(created)}},
        "servingStatuses": ["RUNNABLE"],
        "test": false,
        "backfilled": false,
    })
}

/// The group a campaign belongs to.
fn group_of<'a>(account: &'a AdAccount, campaign: &Campaign) -> Option<&'a CampaignGroup> {
    account
        .campaign_groups
        .iter()
        .find(|g| g.campaign_ids.contains(&campaign.id))
}

/// A campaign of text ads, with its daily budget.
pub fn campaign_json(account: &AdAccount, campaign: &Campaign) -> Value {
    let group = group_of(account, campaign).map(|g| urn("sponsoredCampaignGroup", &g.id));
    let serving = if campaign.status == Status::Active {
        "RUNNABLE"
    } else {
        "STOPPED"
    };
    json!({
        "id": number(&campaign.id),
        "account": urn("sponsoredAccount", &account.account_id),
        "campaignGroup": group,
        "name": campaign.name,
        "status": status_text(campaign.status),
        "type": "TEXT_AD",
        "format": "TEXT_AD",
        "costType": "CPC",
        "objectiveType": campaign.objective,
        "dailyBudget": {"amount": money(campaign.daily_budget_cents), "currencyCode": account.currency},
        "unitCost": {"amount": "8.00", "currencyCode": account.currency},
        "runSchedule": {"start": millis(campaign.created)},
        "changeAuditStamps": {
            "created": {"time": millis(campaign.created)},
            "lastModified": {"time": millis(campaign.updated)},
        },
        "locale": {"country": "US", "language": "en"},
        "servingStatuses": [serving],
        "test": false,
        "version": {"versionTag": "1"},
    })
}

/// A creative: a text ad, its text its own.
pub fn creative_json(account: &AdAccount, ad: &Ad) -> Value {
    let campaign = account.campaign(&ad.campaign_id);
    let created = campaign.map(|c| c.created).unwrap_or_default();
    let campaign_running = campaign.is_some_and(|c| c.status == Status::Active);
    let holds: Vec<&str> = if campaign_running {
        vec![]
    } else {
        vec!["CAMPAIGN_STOPPED"]
    };
    json!({
        "id": urn("sponsoredCreative", &ad.id),
        "account": urn("sponsoredAccount", &account.account_id),
        "campaign": urn("sponsoredCampaign", &ad.campaign_id),
        "name": ad.name,
        "intendedStatus": status_text(ad.status),
        "isServing": ad.status == Status::Active && campaign_running,
        "servingHoldReasons": holds,
        "isTest": false,
        "review": {"status": "APPROVED"},
        "content": {"textAd": {
            "headline": ad.creative.headline,
            "description": ad.creative.body,
            "landingPage": format!("https://omnify-demo.example.com/b2b?utm_content={}", ad.id),
        }},
        "createdAt": millis(created),
        "createdBy": "urn:li:person:omnifySandbox",
        "lastModifiedAt": millis(created),
        "lastModifiedBy": "urn:li:person:omnifySandbox",
    })
}

/// `GET /rest/adAccounts/{id}`.
pub async fn account(
    State(platform): State<Arc<Platform>>,
    Path(account): Path<String>,
    headers: HeaderMap,
) -> Response {
    respond(admit(&platform, &headers).and_then(|()| {
        own_account(&platform, &account)?;
        Ok(account_json(platform.world().account(AdPlatform::LinkedIn)))
    }))
}

/// `GET /rest/adAccounts/{id}/{collection}/{key}`: one campaign, campaign
/// group or creative (`key` its URN).
pub async fn entity(
    State(platform): State<Arc<Platform>>,
    Path((account, collection, key)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    respond(admit(&platform, &headers).and_then(|()| {
        own_account(&platform, &account)?;
        let world = platform.world();
        let linkedin = world.account(AdPlatform::LinkedIn);
        let missing = || LinkedInError::not_found(format!("{collection} {key} does not exist"));
        match collection.as_str() {
            "adCampaigns" => linkedin
                .campaign(&key)
                .map(|c| campaign_json(linkedin, c))
                .ok_or_else(missing),
            "adCampaignGroups" => linkedin
                .campaign_groups
                .iter()
                .find(|g| g.id == key)
                .map(|g| group_json(linkedin, g))
                .ok_or_else(missing),
            "creatives" => creative_id(&key)
                .and_then(|id| linkedin.ad(id))
                .map(|ad| creative_json(linkedin, ad))
                .ok_or_else(missing),
            other => Err(LinkedInError::not_found(format!("no resource `{other}`"))),
        }
    }))
}

/// The id of a `urn:li:sponsoredCreative:{id}` key.
pub fn creative_id(key: &str) -> Option<&str> {
    key.strip_prefix("urn:li:sponsoredCreative:")
}

/// `GET /rest/adAccounts/{id}/{collection}?q=…`: a finder.
pub async fn finder(
    State(platform): State<Arc<Platform>>,
    Path((account, collection)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query = Query::split(query.as_deref().unwrap_or(""));
    respond(admit(&platform, &headers).and_then(|()| {
        own_account(&platform, &account)?;
        let world = platform.world();
        let linkedin = world.account(AdPlatform::LinkedIn);
        let finder = query.leaf("q").map_err(illegal)?;
        match (collection.as_str(), finder.as_deref()) {
            ("adCampaignGroups", Some("search")) => {
                let search = Search::parse(&query, &["status", "id"])?;
                let rows = linkedin
                    .campaign_groups
                    .iter()
                    .filter(|g| search.keeps("status", status_text(g.status)) && search.keeps("id", &g.id))
                    .map(|g| (g.id.clone(), group_json(linkedin, g)))
                    .collect();
                page(rows, &query, MAX_SEARCH_PAGE_SIZE)
            }
            ("adCampaigns", Some("search")) => {
                let search = Search::parse(&query, &["status", "id", "campaignGroup"])?;
                let rows = linkedin
                    .campaigns
                    .iter()
                    .filter(|c| {
                        let group = group_of(linkedin, c).map(|g| urn("sponsoredCampaignGroup", &g.id));
                        search.keeps("status", status_text(c.status))
                            && search.keeps("id", &c.id)
                            && search.keeps("campaignGroup", group.as_deref().unwrap_or_default())
                    })
                    .map(|c| (c.id.clone(), campaign_json(linkedin, c)))
                    .collect();
                page(rows, &query, MAX_SEARCH_PAGE_SIZE)
            }
            ("creatives", Some("criteria")) => {
                let campaigns = query.list("campaigns").map_err(illegal)?;
                let creatives = query.list("creatives").map_err(illegal)?;
                let statuses = query.list("intendedStatuses").map_err(illegal)?;
                let within = |list: &Option<Vec<String>>, value: &str| {
                    list.as_ref().is_none_or(|l| l.iter().any(|v| v == value))
                };
                let rows = linkedin
                    .ads
                    .iter()
                    .filter(|ad| {
                        within(&campaigns, &urn("sponsoredCampaign", &ad.campaign_id))
                            && within(&creatives, &urn("sponsoredCreative", &ad.id))
                            && within(&statuses, status_text(ad.status))
                    })
                    .map(|ad| (ad.id.clone(), creative_json(linkedin, ad)))
                    .collect();
                page(rows, &query, MAX_CREATIVES_PAGE_SIZE)
            }
            (collection, finder) => Err(LinkedInError::illegal(format!(
                "no finder `q={}` on {collection}",
                finder.unwrap_or_default()
            ))),
        }
    }))
}

fn illegal(error: impl std::fmt::Display) -> LinkedInError {
    LinkedInError::illegal(error.to_string())
}

/// A `search=(field:(values:List(…)),…)` criterion of the search finders.
struct Search(Vec<(String, Vec<String>)>);

impl Search {
    /// The criteria, each field one of `known`.
    fn parse(query: &Query, known: &[&str]) -> Result<Self, LinkedInError> {
        let Some(search) = query.data("search").map_err(illegal)? else {
            return Ok(Self(Vec::new()));
        };
        let Data::Record(fields) = search else {
            return Err(LinkedInError::illegal(
                "`search` must be a record: (field:(values:List(...)))",
            ));
        };
        let mut criteria = Vec::new();
        for (field, criterion) in fields {
            if !known.contains(&field.as_str()) {
                return Err(LinkedInError::illegal(format!(
                    "`search` cannot filter on `{field}`"
                )));
            }
            let values = criterion.member("values").and_then(Data::leaves).ok_or_else(|| {
                LinkedInError::illegal(format!("`search.{field}` must be (values:List(...))"))
            })?;
            criteria.push((field, values.into_iter().map(str::to_string).collect()));
        }
        Ok(Self(criteria))
    }

    /// Whether `value` of `field` passes (a field not searched passes).
    fn keeps(&self, field: &str, value: &str) -> bool {
        self.0
            .iter()
            .filter(|(f, _)| f == field)
            .all(|(_, values)| values.iter().any(|v| v == value))
    }
}

/// One page of `rows` (keyed by numeric id) as the cursor finders page:
/// `sortOrder` by id, `pageSize` (at most `max`), `pageToken`; the next
/// token in `metadata.nextPageToken` while elements remain.
fn page(mut rows: Vec<(String, Value)>, query: &Query, max: usize) -> Answer {
    let size = match query.leaf("pageSize").map_err(illegal)? {
        None => DEFAULT_PAGE_SIZE,
        Some(text) => match text.parse::<usize>() {
            Ok(size) if (1..=max).contains(&size) => size,
            Ok(size) if size > max => {
                return Err(LinkedInError::illegal(format!(
                    "Request would return too many entities: pageSize {size} is above {max}"
                )));
            }
            _ => {
                return Err(LinkedInError::illegal(format!(
                    "pageSize `{text}` is not a positive integer"
                )));
            }
        },
    };
    let key = |id: &str| id.parse::<u64>().unwrap_or(u64::MAX);
    rows.sort_by_key(|(id, _)| key(id));
    match query.leaf("sortOrder").map_err(illegal)?.as_deref() {
        None | Some("ASCENDING") => {}
        Some("DESCENDING") => rows.reverse(),
        Some(other) => {
            return Err(LinkedInError::illegal(format!(
                "sortOrder `{other}` is not ASCENDING or DESCENDING"
            )));
        }
    }
    let start = match query.leaf("pageToken").map_err(illegal)? {
        None => 0,
        Some(token) => decode_token(&token)
            .ok_or_else(|| LinkedInError::illegal(format!("Invalid pageToken `{token}`")))?,
    };
    let end = (start + size).min(rows.len());
    let elements: Vec<Value> = rows
        .get(start..end)
        .unwrap_or_default()
        .iter()
        .map(|(_, v)| v.clone())
        .collect();
    let mut metadata = json!({});
    if end < rows.len() {
        metadata["nextPageToken"] = json!(encode_token(end));
    }
    Ok(json!({
        "elements": elements,
        "paging": {"start": start, "count": size, "links": []},
        "metadata": metadata,
    }))
}

/// Page tokens are opaque to clients, as LinkedIn's are.
fn encode_token(offset: usize) -> String {
    STANDARD.encode(format!("li-page:{offset}"))
}

fn decode_token(token: &str) -> Option<usize> {
    let bytes = STANDARD.decode(token.trim()).ok()?;
    String::from_utf8(bytes)
        .ok()?
        .strip_prefix("li-page:")?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finders_page_by_cursor_in_id_order() {
        let rows: Vec<(String, Value)> = (1..=5).rev().map(|n| (n.to_string(), json!(n))).collect();
        let first = page(rows.clone(), &Query::split("pageSize=2"), 10).expect("a page");
        assert_eq!(first["elements"], json!([1, 2]));
        let token = first["metadata"]["nextPageToken"]
            .as_str()
            .expect("a token")
            .to_string();
        let encoded: String = form_urlencoded::byte_serialize(token.as_bytes()).collect();
        let last = page(
            rows.clone(),
            &Query::split(&format!("pageSize=2&pageToken={encoded}")),
            10,
        )
        .expect("a page");
        assert_eq!(last["elements"], json!([3, 4]));
        let end = page(rows.clone(), &Query::split("pageSize=4&sortOrder=DESCENDING"), 10).expect("a page");
        assert_eq!(end["elements"], json!([5, 4, 3, 2]));
        assert!(page(rows.clone(), &Query::split("pageSize=11"), 10).is_err());
        assert!(page(rows, &Query::split("pageToken=bm9wZQ%3D%3D"), 10).is_err());
    }
}
