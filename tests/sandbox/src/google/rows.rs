//! The Google Ads resources the sandbox serves, built from the world's Google
//! account, and the evaluation of a parsed GAQL query over them: rows in the
//! REST shape (camelCase keys, int64 as strings) with their `fieldMask`.

use super::gaql::{Condition, Literal, Operator, Query, QueryError};
use crate::world::{AdAccount, AdDay, Status};
use chrono::NaiveDate;
use serde_json::{Map, Value, json};
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet};

/// A row before projection: every field the FROM resource can reach.
type Row = BTreeMap<&'static str, Value>;

/// The fields the sandbox knows, as GAQL names them.
const FIELDS: &[&str] = &[
    "customer.resource_name",
    "customer.id",
    "customer.descriptive_name",
    "customer.currency_code",
    "customer.time_zone",
    "campaign.resource_name",
    "campaign.id",
    "campaign.name",
    "campaign.status",
    "campaign.advertising_channel_type",
    "campaign.campaign_budget",
    "campaign.start_date",
    "campaign_budget.resource_name",
    "campaign_budget.id",
    "campaign_budget.amount_micros",
    "campaign_budget.delivery_method",
    "ad_group.resource_name",
    "ad_group.id",
    "ad_group.name",
    "ad_group.status",
    "ad_group.campaign",
    "ad_group.type",
    "ad_group_ad.resource_name",
    "ad_group_ad.status",
    "ad_group_ad.ad_group",
    "ad_group_ad.ad.resource_name",
    "ad_group_ad.ad.id",
    "ad_group_ad.ad.name",
    "ad_group_ad.ad.type",
    "ad_group_ad.ad.final_urls",
    "ad_group_ad.ad.responsive_search_ad.headlines",
    "ad_group_ad.ad.responsive_search_ad.descriptions",
    "metrics.impressions",
    "metrics.clicks",
    "metrics.cost_micros",
    "metrics.conversions",
    "metrics.conversions_value",
    "segments.date",
];

/// The resources a query FROM `resource` may select fields of.
fn reachable(resource: &str) -> Option<&'static [&'static str]> {
    Some(match resource {
        "customer" => &["customer"],
        "campaign_budget" => &["campaign_budget", "customer"],
        "campaign" => &["campaign", "campaign_budget", "customer", "metrics", "segments"],
        "ad_group" => &["ad_group", "campaign", "customer", "metrics", "segments"],
        "ad_group_ad" => &[
            "ad_group_ad",
            "ad_group",
            "campaign",
            "customer",
            "metrics",
            "segments",
        ],
        _ => return None,
    })
}

/// The campaign budget's id: each campaign has its own budget, whose id is
/// the campaign's with a `9` in front.
pub fn budget_id(campaign_id: &str) -> String {
    format!("9{campaign_id}")
}

/// The campaign whose budget is `budget_id`.
pub fn campaign_of_budget(budget_id: &str) -> Option<&str> {
    budget_id.strip_prefix('9')
}

fn status(status: Status) -> &'static str {
    match status {
        Status::Active => "ENABLED",
        Status::Paused => "PAUSED",
    }
}

/// What a query returned.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The rows, projected to the selected fields.
    pub rows: Vec<Value>,
    /// The selected fields in camelCase, comma-separated.
    pub field_mask: String,
}

/// Evaluate `query` over `account`; ads link to `landing_page`.
pub fn evaluate(query: &Query, account: &AdAccount, landing_page: &str) -> Result<Report, QueryError> {
    let resources = reachable(&query.resource).ok_or_else(|| {
        QueryError::new(
            "PROHIBITED_RESOURCE_TYPE_IN_FROM_CLAUSE",
            format!(
                "Error in FROM clause: invalid resource name '{}'.",
                query.resource
            ),
        )
    })?;
    let condition_fields = query.conditions.iter().map(|c| c.field.as_str());
    let order_fields = query.order_by.iter().map(|o| o.field.as_str());
    for field in query
        .fields
        .iter()
        .map(String::as_str)
        .chain(condition_fields)
        .chain(order_fields)
    {
        check_field(field, resources)?;
    }
    let dated = query.fields.iter().any(|f| f == "segments.date");
    if dated && !has_finite_date_range(&query.conditions) {
        return Err(QueryError::new(
            "EXPECTED_FILTERS_ON_DATE_RANGE",
            "Error in WHERE clause: a finite date range on segments.date is required when selecting it.",
        ));
    }
    let date_conditions: Vec<&Condition> = query
        .conditions
        .iter()
        .filter(|c| c.field == "segments.date")
        .collect();
    for condition in &date_conditions {
        for value in &condition.values {
            if !matches!(value, Literal::Text(text) if text.parse::<NaiveDate>().is_ok()) {
                return Err(QueryError::new(
                    "BAD_VALUE",
                    "Error in WHERE clause: dates must be 'YYYY-MM-DD'.",
                ));
            }
        }
    }
    let with_metrics = query.fields.iter().any(|f| f.starts_with("metrics."));
    let entities = entities(&query.resource, account, landing_page);
    let mut rows: Vec<Row> = Vec::new();
    if dated {
        let mut days: BTreeMap<NaiveDate, Vec<&AdDay>> = BTreeMap::new();
        for day in &account.days {
            days.entry(day.date).or_default().push(day);
        }
        for (date, delivered) in &days {
            for (row, ads) in &entities {
                let mine: Vec<&AdDay> = delivered
                    .iter()
                    .copied()
                    .filter(|d| ads.contains(&d.ad_id))
                    .collect();
                // Google leaves out the days an entity did not deliver.
                if !mine.is_empty() {
                    let mut row = row.clone();
                    add_metrics(&mut row, &mine);
                    row.insert("segments.date", json!(date.to_string()));
                    rows.push(row);
                }
            }
        }
    } else {
        for (row, ads) in &entities {
            let mut row = row.clone();
            if with_metrics {
                let mine: Vec<&AdDay> = account
                    .days
                    .iter()
                    .filter(|d| ads.contains(&d.ad_id))
                    .filter(|d| {
                        let date = json!(d.date.to_string());
                        date_conditions.iter().all(|c| satisfies(&date, c))
                    })
                    .collect();
                add_metrics(&mut row, &mine);
            }
            rows.push(row);
        }
    }
    // Without segments.date in a row, its date conditions already chose the
    // days summed into the metrics.
    rows.retain(|row| {
        query
            .conditions
            .iter()
            .all(|c| row.get(c.field.as_str()).is_none_or(|value| satisfies(value, c)))
    });
    for key in query.order_by.iter().rev() {
        rows.sort_by(|a, b| {
            let ordering = compare_values(a.get(key.field.as_str()), b.get(key.field.as_str()));
            if key.descending {
                ordering.reverse()
            } else {
                ordering
            }
        });
    }
    if let Some(limit) = query.limit {
        rows.truncate(limit);
    }
    Ok(Report {
        rows: rows.iter().map(|row| project(row, &query.fields)).collect(),
        field_mask: query
            .fields
            .iter()
            .map(|f| camel_path(f))
            .collect::<Vec<_>>()
            .join(","),
    })
}

fn check_field(field: &str, resources: &[&str]) -> Result<(), QueryError> {
    if !FIELDS.contains(&field) {
        return Err(QueryError::new(
            "UNRECOGNIZED_FIELD",
            format!("Error in query: unrecognized field '{field}'."),
        ));
    }
    let resource = field.split('.').next().unwrap_or_default();
    if !resources.contains(&resource) {
        return Err(QueryError::new(
            "PROHIBITED_RESOURCE_TYPE_IN_SELECT_CLAUSE",
            format!("Error in query: '{resource}' cannot be selected with the resource in the FROM clause."),
        ));
    }
    Ok(())
}

fn has_finite_date_range(conditions: &[Condition]) -> bool {
    let on_date = || conditions.iter().filter(|c| c.field == "segments.date");
    let closed = on_date().any(|c| matches!(c.operator, Operator::Between | Operator::Eq | Operator::In));
    let lower = on_date().any(|c| matches!(c.operator, Operator::Ge | Operator::Gt));
    let upper = on_date().any(|c| matches!(c.operator, Operator::Le | Operator::Lt));
    closed || (lower && upper)
}

/// Every entity of `resource` as a row of its own and reachable fields,
/// with the ids of the ads whose delivery counts towards it.
fn entities(resource: &str, account: &AdAccount, landing_page: &str) -> Vec<(Row, HashSet<String>)> {
    let customer = format!("customers/{}", account.account_id);
    let mut customer_row = Row::new();
    customer_row.insert("customer.resource_name", json!(customer));
    customer_row.insert("customer.id", json!(account.account_id));
    customer_row.insert("customer.descriptive_name", json!("Omnify Demo Store"));
    customer_row.insert("customer.currency_code", json!(account.currency));
    customer_row.insert("customer.time_zone", json!("Etc/UTC"));
    let campaign_row = |campaign_id: &str| {
        let mut row = customer_row.clone();
        let Some(campaign) = account.campaign(campaign_id) else {
            return row;
        };
        let budget = budget_id(&campaign.id);
        let budget_name = format!("{customer}/campaignBudgets/{budget}");
        let channel = if campaign.objective == "AWARENESS" {
            "DISPLAY"
        } else {
            "SEARCH"
        };
        row.insert(
            "campaign.resource_name",
            json!(format!("{customer}/campaigns/{}", campaign.id)),
        );
        row.insert("campaign.id", json!(campaign.id));
        row.insert("campaign.name", json!(campaign.name));
        row.insert("campaign.status", json!(status(campaign.status)));
        row.insert("campaign.advertising_channel_type", json!(channel));
        row.insert("campaign.campaign_budget", json!(budget_name));
        row.insert(
            "campaign.start_date",
            json!(campaign.created.date_naive().to_string()),
        );
        row.insert("campaign_budget.resource_name", json!(budget_name));
        row.insert("campaign_budget.id", json!(budget));
        row.insert(
            "campaign_budget.amount_micros",
            json!((campaign.daily_budget_cents * 10_000).to_string()),
        );
        row.insert("campaign_budget.delivery_method", json!("STANDARD"));
        row
    };
    let ad_group_row = |ad_group_id: &str| {
        let Some(group) = account.ad_groups.iter().find(|g| g.id == ad_group_id) else {
            return customer_row.clone();
        };
        let mut row = campaign_row(&group.campaign_id);
        row.insert(
            "ad_group.resource_name",
            json!(format!("{customer}/adGroups/{}", group.id)),
        );
        row.insert("ad_group.id", json!(group.id));
        row.insert("ad_group.name", json!(group.name));
        row.insert("ad_group.status", json!(status(group.status)));
        row.insert(
            "ad_group.campaign",
            json!(format!("{customer}/campaigns/{}", group.campaign_id)),
        );
        row.insert("ad_group.type", json!("SEARCH_STANDARD"));
        row
    };
    let ads_where = |keep: &dyn Fn(&crate::world::Ad) -> bool| -> HashSet<String> {
        account
            .ads
            .iter()
            .filter(|ad| keep(ad))
            .map(|ad| ad.id.clone())
            .collect()
    };
    match resource {
        "customer" => vec![(customer_row.clone(), ads_where(&|_| true))],
        "campaign" | "campaign_budget" => account
            .campaigns
            .iter()
            .map(|c| (campaign_row(&c.id), ads_where(&|ad| ad.campaign_id == c.id)))
            .collect(),
        "ad_group" => account
            .ad_groups
            .iter()
            .map(|g| (ad_group_row(&g.id), ads_where(&|ad| ad.ad_group_id == g.id)))
            .collect(),
        _ => account
            .ads
            .iter()
            .map(|ad| {
                let mut row = ad_group_row(&ad.ad_group_id);
                let name = format!("{customer}/adGroupAds/{}~{}", ad.ad_group_id, ad.id);
                row.insert("ad_group_ad.resource_name", json!(name));
                row.insert("ad_group_ad.status", json!(status(ad.status)));
                row.insert(
                    "ad_group_ad.ad_group",
                    json!(format!("{customer}/adGroups/{}", ad.ad_group_id)),
                );
                row.insert(
                    "ad_group_ad.ad.resource_name",
                    json!(format!("{customer}/ads/{}", ad.id)),
                );
                row.insert("ad_group_ad.ad.id", json!(ad.id));
                row.insert("ad_group_ad.ad.name", json!(ad.name));
                row.insert("ad_group_ad.ad.type", json!("RESPONSIVE_SEARCH_AD"));
                row.insert("ad_group_ad.ad.final_urls", json!([landing_page]));
                row.insert(
                    "ad_group_ad.ad.responsive_search_ad.headlines",
                    json!([{ "text": ad.creative.headline }]),
                );
                row.insert(
                    "ad_group_ad.ad.responsive_search_ad.descriptions",
                    json!([{ "text": ad.creative.body }]),
                );
                (row, HashSet::from([ad.id.clone()]))
            })
            .collect(),
    }
}

fn add_metrics(row: &mut Row, days: &[&AdDay]) {
    let impressions: u64 = days.iter().map(|d| d.impressions).sum();
    let clicks: u64 = days.iter().map(|d| d.clicks).sum();
    let cost_cents: i64 = days.iter().map(|d| d.spend_cents).sum();
    let conversions: u64 = days.iter().map(|d| d.conversions).sum();
    let value_cents: i64 = days.iter().map(|d| d.conversion_value_cents).sum();
    row.insert("metrics.impressions", json!(impressions.to_string()));
    row.insert("metrics.clicks", json!(clicks.to_string()));
    row.insert("metrics.cost_micros", json!((cost_cents * 10_000).to_string()));
    row.insert("metrics.conversions", json!(conversions as f64));
    row.insert("metrics.conversions_value", json!(value_cents as f64 / 100.0));
}

/// A value as a number, when it is one (int64 fields are strings on the wire).
fn numeric(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn compare_literal(value: &Value, literal: &Literal) -> Option<Ordering> {
    match literal {
        Literal::Number(n) => numeric(value)?.partial_cmp(n),
        Literal::Text(text) => Some(value.as_str()?.cmp(text.as_str())),
    }
}

fn satisfies(value: &Value, condition: &Condition) -> bool {
    let cmp = |i: usize| condition.values.get(i).and_then(|l| compare_literal(value, l));
    let any_equal = || {
        condition
            .values
            .iter()
            .any(|l| compare_literal(value, l) == Some(Ordering::Equal))
    };
    match condition.operator {
        Operator::Eq => cmp(0) == Some(Ordering::Equal),
        Operator::NotEq => cmp(0).is_some_and(|o| o != Ordering::Equal),
        Operator::Lt => cmp(0) == Some(Ordering::Less),
        Operator::Le => cmp(0).is_some_and(|o| o != Ordering::Greater),
        Operator::Gt => cmp(0) == Some(Ordering::Greater),
        Operator::Ge => cmp(0).is_some_and(|o| o != Ordering::Less),
        Operator::In => any_equal(),
        Operator::NotIn => !any_equal(),
        Operator::Between => {
            cmp(0).is_some_and(|o| o != Ordering::Less) && cmp(1).is_some_and(|o| o != Ordering::Greater)
        }
    }
}

fn compare_values(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => match (numeric(a), numeric(b)) {
            (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
            _ => a.to_string().cmp(&b.to_string()),
        },
        (a, b) => a.is_some().cmp(&b.is_some()),
    }
}

fn camel(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    let mut upper = false;
    for c in segment.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn camel_path(field: &str) -> String {
    field.split('.').map(camel).collect::<Vec<_>>().join(".")
}

/// The row's selected fields as nested camelCase objects. Like Google, every
/// resource (and an ad) with a selected field also carries its `resourceName`.
fn insert(object: &mut Map<String, Value>, path: &[String], value: Value) {
    match path {
        [] => {}
        [last] => {
            object.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let entry = object
                .entry(first.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(inner) = entry {
                insert(inner, rest, value);
            }
        }
    }
}

fn project(row: &Row, fields: &[String]) -> Value {
    let mut out = Map::new();
    let mut paths: Vec<String> = fields.to_vec();
    for field in fields {
        let resource = field.split('.').next().unwrap_or_default();
        if !matches!(resource, "metrics" | "segments") {
            paths.push(format!("{resource}.resource_name"));
        }
        if field.starts_with("ad_group_ad.ad.") {
            paths.push("ad_group_ad.ad.resource_name".to_string());
        }
    }
    for path in &paths {
        let Some(value) = row.get(path.as_str()) else {
            continue;
        };
        let segments: Vec<String> = path.split('.').map(camel).collect();
        insert(&mut out, &segments, value.clone());
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::google::gaql::parse;
    use crate::world::{Platform, Scenario, World};

    fn world() -> World {
        World::generate(42, Scenario::Control, "2026-06-30".parse().expect("date"))
    }

    fn run(world: &World, query: &str) -> Result<Report, QueryError> {
        let query = parse(query).expect("parses");
        evaluate(
            &query,
            world.account(Platform::Google),
            "https://shop.example.com",
        )
    }

    #[test]
    fn daily_campaign_metrics_match_the_world() {
        let world = world();
        let account = world.account(Platform::Google);
        let report = run(
            &world,
            "SELECT campaign.id, metrics.cost_micros, metrics.clicks, segments.date FROM campaign \
             WHERE segments.date BETWEEN '2026-06-29' AND '2026-06-30' ORDER BY segments.date, campaign.id",
        )
        .expect("valid");
        assert_eq!(report.rows.len(), 2 * account.campaigns.len());
        assert_eq!(
            report.field_mask,
            "campaign.id,metrics.costMicros,metrics.clicks,segments.date"
        );
        let first = &report.rows[0];
        let campaign = &account.campaigns[0].id;
        let totals = account.campaign_day(campaign, "2026-06-29".parse().expect("date"));
        assert_eq!(first["campaign"]["id"], json!(campaign));
        assert_eq!(
            first["campaign"]["resourceName"],
            json!(format!("customers/{}/campaigns/{campaign}", account.account_id))
        );
        assert_eq!(
            first["metrics"]["costMicros"],
            json!((totals.spend_cents * 10_000).to_string())
        );
        assert_eq!(first["metrics"]["clicks"], json!(totals.clicks.to_string()));
        assert_eq!(first["segments"]["date"], json!("2026-06-29"));
    }

    #[test]
    fn filters_on_status_and_ids_and_refuses_unknown_fields() {
        let mut world = world();
        world.account_mut(Platform::Google).campaigns[0].status = Status::Paused;
        let enabled = run(
            &world,
            "SELECT campaign.id FROM campaign WHERE campaign.status = 'ENABLED'",
        )
        .expect("ok");
        assert_eq!(enabled.rows.len(), 2);
        let not_removed = run(
            &world,
            "SELECT campaign.id FROM campaign WHERE campaign.status != REMOVED",
        )
        .expect("ok");
        assert_eq!(not_removed.rows.len(), 3);
        let id = world.account(Platform::Google).campaigns[1].id.clone();
        let one = run(
            &world,
            &format!("SELECT campaign_budget.amount_micros FROM campaign WHERE campaign.id = {id}"),
        )
        .expect("ok");
        assert_eq!(one.rows.len(), 1);
        assert!(
            one.rows[0]["campaignBudget"]["resourceName"]
                .as_str()
                .is_some_and(|n| n.ends_with(&budget_id(&id)))
        );
        let code = |q: &str| run(&world, q).map(|_| ()).map_err(|e| e.code);
        assert_eq!(
            code("SELECT campaign.nope FROM campaign"),
            Err("UNRECOGNIZED_FIELD")
        );
        assert_eq!(
            code("SELECT ad_group.id FROM campaign"),
            Err("PROHIBITED_RESOURCE_TYPE_IN_SELECT_CLAUSE")
        );
        assert_eq!(
            code("SELECT campaign.id FROM keyword_view"),
            Err("PROHIBITED_RESOURCE_TYPE_IN_FROM_CLAUSE")
        );
        assert_eq!(
            code("SELECT campaign.id, segments.date FROM campaign"),
            Err("EXPECTED_FILTERS_ON_DATE_RANGE")
        );
    }

    #[test]
    fn ads_carry_their_creative_and_metrics_aggregate_without_a_date_segment() {
        let world = world();
        let account = world.account(Platform::Google);
        let ads = run(
            &world,
            "SELECT ad_group_ad.ad.id, ad_group_ad.ad.responsive_search_ad.headlines, metrics.clicks \
             FROM ad_group_ad WHERE segments.date >= '2026-06-01' AND segments.date <= '2026-06-30'",
        )
        .expect("valid");
        assert_eq!(ads.rows.len(), account.ads.len());
        let ad = &account.ads[0];
        let row = &ads.rows[0];
        assert_eq!(row["adGroupAd"]["ad"]["id"], json!(ad.id));
        assert_eq!(
            row["adGroupAd"]["ad"]["responsiveSearchAd"]["headlines"][0]["text"],
            json!(ad.creative.headline)
        );
        let june_clicks: u64 = account
            .days
            .iter()
            .filter(|d| d.ad_id == ad.id && d.date >= "2026-06-01".parse().expect("date"))
            .map(|d| d.clicks)
            .sum();
        assert_eq!(row["metrics"]["clicks"], json!(june_clicks.to_string()));
    }
}
