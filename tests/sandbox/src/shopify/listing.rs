//! Listing a resource like the REST Admin API does: filters, `order`,
//! `limit`, `fields`, and cursor pagination through an opaque `page_info`
//! that the `Link` header carries.
//!
//! A `page_info` cursor encodes the first request's filters and the sort key
//! of the last item served (keyset pagination), so the next page is stable
//! even when items are added while a client pages.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// The page size when the request gives none.
const DEFAULT_LIMIT: usize = 50;
/// The largest page Shopify serves.
const MAX_LIMIT: usize = 250;

/// A resource with a list endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// `orders.json`.
    Orders,
    /// `customers.json`.
    Customers,
    /// `products.json`.
    Products,
}

impl Resource {
    /// The resource listed at `file`, for example `orders.json`.
    pub fn from_file(file: &str) -> Option<Self> {
        match file {
            "orders.json" => Some(Self::Orders),
            "customers.json" => Some(Self::Customers),
            "products.json" => Some(Self::Products),
            _ => None,
        }
    }

    /// The key of the list in the response body, for example `orders`.
    pub fn key(self) -> &'static str {
        match self {
            Self::Orders => "orders",
            Self::Customers => "customers",
            Self::Products => "products",
        }
    }
}

/// What the filters and the sort look at in one item.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    /// Where the item is in the world's list.
    pub index: usize,
    /// Its numeric id.
    pub id: u64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A request Shopify refuses with `400 {"errors": {param: message}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    /// The offending parameter.
    pub param: String,
    /// Shopify's message.
    pub message: String,
}

impl Invalid {
    fn new(param: &str, message: impl Into<String>) -> Self {
        Self {
            param: param.to_string(),
            message: message.into(),
        }
    }
}

/// One page of a listing.
#[derive(Debug, Clone)]
pub struct Page {
    /// The world indices of the items on the page, in order.
    pub indices: Vec<usize>,
    /// The `page_info` of the next page, when there is one.
    pub next: Option<String>,
    /// The page size, to repeat in the next link.
    pub limit: usize,
    /// The fields to keep in each item; all when `None`.
    pub fields: Option<Vec<String>>,
}

/// The content of a `page_info` cursor.
#[derive(Debug, Serialize, Deserialize)]
struct Cursor {
    resource: String,
    filters: Vec<(String, String)>,
    /// The sort key of the last item served.
    after: (i64, u64),
}

/// The sort orders served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    Id,
    CreatedAt,
    UpdatedAt,
}

impl Order {
    fn key(self, row: &Row) -> (i64, u64) {
        match self {
            Order::Id => (0, row.id),
            Order::CreatedAt => (row.created_at.timestamp(), row.id),
            Order::UpdatedAt => (row.updated_at.timestamp(), row.id),
        }
    }
}

/// The filters of a first request.
struct Filters {
    since_id: Option<u64>,
    created_min: Option<DateTime<Utc>>,
    created_max: Option<DateTime<Utc>>,
    updated_min: Option<DateTime<Utc>>,
    updated_max: Option<DateTime<Utc>>,
    /// Whether no item matches the `status` (only open orders exist here).
    status_excludes_all: bool,
    order: Order,
}

impl Filters {
    fn parse(resource: Resource, pairs: &[(String, String)], zone: FixedOffset) -> Result<Self, Invalid> {
        let mut filters = Filters {
            since_id: None,
            created_min: None,
            created_max: None,
            updated_min: None,
            updated_max: None,
            status_excludes_all: false,
            order: Order::Id,
        };
        for (name, value) in pairs {
            let time =
                || parse_time(value, zone).ok_or_else(|| Invalid::new(name, format!("{name} is invalid.")));
            match name.as_str() {
                "since_id" => {
                    let id = value
                        .parse()
                        .map_err(|_| Invalid::new(name, "since_id is invalid."))?;
                    filters.since_id = Some(id);
                }
                "created_at_min" => filters.created_min = Some(time()?),
                "created_at_max" => filters.created_max = Some(time()?),
                "updated_at_min" => filters.updated_min = Some(time()?),
                "updated_at_max" => filters.updated_max = Some(time()?),
                "status" if resource == Resource::Orders => match value.as_str() {
                    "open" | "any" => {}
                    "closed" | "cancelled" => filters.status_excludes_all = true,
                    _ => return Err(Invalid::new(name, "status is invalid.")),
                },
                "order" => {
                    filters.order = match value.trim() {
                        "id asc" | "id" => Order::Id,
                        "created_at asc" | "created_at" => Order::CreatedAt,
                        "updated_at asc" | "updated_at" => Order::UpdatedAt,
                        // Descending orders are real but not served by this sandbox.
                        _ => return Err(Invalid::new(name, "order is invalid.")),
                    }
                }
                // Shopify ignores parameters it does not know.
                _ => {}
            }
        }
        Ok(filters)
    }

    fn admits(&self, row: &Row) -> bool {
        !self.status_excludes_all
            && self.since_id.is_none_or(|id| row.id > id)
            && self.created_min.is_none_or(|t| row.created_at >= t)
            && self.created_max.is_none_or(|t| row.created_at <= t)
            && self.updated_min.is_none_or(|t| row.updated_at >= t)
            && self.updated_max.is_none_or(|t| row.updated_at <= t)
    }
}

/// An ISO 8601 time, or a date taken as midnight in the shop's time zone.
fn parse_time(value: &str, zone: FixedOffset) -> Option<DateTime<Utc>> {
    if let Ok(time) = DateTime::parse_from_rfc3339(value.trim()) {
        return Some(time.with_timezone(&Utc));
    }
    let date = NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").ok()?;
    let midnight = zone.from_local_datetime(&date.and_hms_opt(0, 0, 0)?).single()?;
    Some(midnight.with_timezone(&Utc))
}

/// The page of `rows` a request with `query` asks for.
pub fn page(
    resource: Resource,
    query: &[(String, String)],
    rows: &[Row],
    zone: FixedOffset,
) -> Result<Page, Invalid> {
    let value = |name: &str| query.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    let limit = match value("limit") {
        None => DEFAULT_LIMIT,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| Invalid::new("limit", "limit must be between 1 and 250."))?,
    };
    let fields = value("fields").map(|f| {
        f.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    });
    let (filter_pairs, after) = match value("page_info") {
        Some(page_info) => {
            // Shopify: a request with page_info may only add limit and fields.
            if let Some((name, _)) = query
                .iter()
                .find(|(n, _)| !matches!(n.as_str(), "page_info" | "limit" | "fields"))
            {
                return Err(Invalid::new(name, format!("{name} cannot be passed.")));
            }
            let cursor = decode(page_info)
                .filter(|c| c.resource == resource.key())
                .ok_or_else(|| Invalid::new("page_info", "Invalid value."))?;
            (cursor.filters, Some(cursor.after))
        }
        None => {
            let filters: Vec<(String, String)> = query
                .iter()
                .filter(|(n, _)| !matches!(n.as_str(), "limit" | "fields"))
                .cloned()
                .collect();
            (filters, None)
        }
    };
    let filters = Filters::parse(resource, &filter_pairs, zone)?;
    let mut matching: Vec<&Row> = rows
        .iter()
        .filter(|row| filters.admits(row))
        .filter(|row| after.is_none_or(|after| filters.order.key(row) > after))
        .collect();
    matching.sort_by_key(|row| filters.order.key(row));
    let more = matching.len() > limit;
    matching.truncate(limit);
    let next = match matching.last() {
        Some(last) if more => Some(encode(&Cursor {
            resource: resource.key().to_string(),
            filters: filter_pairs,
            after: filters.order.key(last),
        })),
        _ => None,
    };
    Ok(Page {
        indices: matching.iter().map(|row| row.index).collect(),
        next,
        limit,
        fields,
    })
}

fn encode(cursor: &Cursor) -> String {
    // Serializing plain strings and numbers cannot fail.
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(cursor).unwrap_or_default())
}

fn decode(page_info: &str) -> Option<Cursor> {
    let bytes = URL_SAFE_NO_PAD.decode(page_info.trim()).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<Row> {
        let base = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).single().expect("time");
        // Ids descend while times ascend, and three rows share one time.
        (0..10)
            .map(|i| Row {
                index: i,
                id: 100 - i as u64,
                created_at: base,
                updated_at: base + chrono::Duration::hours(i.min(6) as i64),
            })
            .collect()
    }

    fn query(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn utc() -> FixedOffset {
        FixedOffset::east_opt(0).expect("offset")
    }

    #[test]
    fn pages_follow_the_cursor_without_losing_ties() {
        let rows = rows();
        let first = query(&[
            ("limit", "4"),
            ("order", "updated_at asc"),
            ("updated_at_min", "2026-06-01T02:00:00Z"),
        ]);
        let mut page = super::page(Resource::Orders, &first, &rows, utc()).expect("first page");
        let mut seen = page.indices.clone();
        while let Some(next) = page.next.clone() {
            let q = query(&[("limit", "4"), ("page_info", &next)]);
            page = super::page(Resource::Orders, &q, &rows, utc()).expect("next page");
            seen.extend(&page.indices);
        }
        assert_eq!(seen, vec![2, 3, 4, 5, 9, 8, 7, 6], "by time, then id");
    }

    #[test]
    fn page_info_refuses_other_filters_and_foreign_cursors() {
        let rows = rows();
        let first = super::page(Resource::Orders, &query(&[("limit", "2")]), &rows, utc()).expect("page");
        let next = first.next.expect("a next page");
        let mixed = query(&[("page_info", &next), ("status", "any")]);
        let error = super::page(Resource::Orders, &mixed, &rows, utc()).expect_err("refused");
        assert_eq!(error.param, "status");
        let foreign = query(&[("page_info", &next)]);
        assert!(super::page(Resource::Products, &foreign, &rows, utc()).is_err());
        let garbage = query(&[("page_info", "not-a-cursor")]);
        assert!(super::page(Resource::Orders, &garbage, &rows, utc()).is_err());
        assert!(super::page(Resource::Orders, &query(&[("limit", "251")]), &rows, utc()).is_err());
    }
}
