//! Contacts: `POST /contacts/search` (filters, sort and `searchAfter`
//! keyset paging, as GoHighLevel's search index serves them),
//! `GET /contacts/{id}`, and `POST /contacts/{id}/tags`.

use super::{GoHighLevel, error, forbidden_location, iso, json_or_text, unprocessable};
use crate::server::WriteCall;
use crate::world::{CrmContact, World};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use std::sync::Arc;

/// The page size when the request names none.
const DEFAULT_PAGE_LIMIT: u64 = 20;
/// The largest page served.
const MAX_PAGE_LIMIT: u64 = 100;

/// A time field contacts are sorted and filtered on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    DateAdded,
    DateUpdated,
}

impl Field {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "dateAdded" => Some(Self::DateAdded),
            "dateUpdated" => Some(Self::DateUpdated),
            _ => None,
        }
    }

    fn of(self, contact: &CrmContact) -> DateTime<Utc> {
        match self {
            Self::DateAdded => contact.date_added,
            Self::DateUpdated => contact.date_updated,
        }
    }
}

/// One filter of a search.
#[derive(Debug, Clone)]
enum Filter {
    /// `{"field": <time>, "operator": "range", "value": {gt, gte, lt, lte}}`.
    Range {
        field: Field,
        gt: Option<i64>,
        gte: Option<i64>,
        lt: Option<i64>,
        lte: Option<i64>,
    },
    /// `{"field": "tags", "operator": "eq", "value": <tag>}`.
    Tag(String),
}

impl Filter {
    fn admits(&self, contact: &CrmContact) -> bool {
        match self {
            Self::Range {
                field,
                gt,
                gte,
                lt,
                lte,
            } => {
                let at = field.of(contact).timestamp_millis();
                gt.is_none_or(|t| at > t)
                    && gte.is_none_or(|t| at >= t)
                    && lt.is_none_or(|t| at < t)
                    && lte.is_none_or(|t| at <= t)
            }
            Self::Tag(tag) => contact.tags.iter().any(|t| t == tag),
        }
    }
}

/// A time bound: RFC 3339 text or Unix milliseconds.
fn bound(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => DateTime::parse_from_rfc3339(s.trim())
            .ok()
            .map(|t| t.timestamp_millis())
            .or_else(|| s.trim().parse().ok()),
        _ => None,
    }
}

fn parse_filter(filter: &Value) -> Result<Filter, String> {
    let field = filter["field"].as_str().unwrap_or_default();
    let operator = filter["operator"].as_str().unwrap_or_default();
    match (Field::parse(field), field, operator) {
        (Some(field), _, "range") => {
            let value = &filter["value"];
            if !value.is_object() {
                return Err("filters.value of a range must be an object of gt, gte, lt, lte".into());
            }
            let get = |key: &str| -> Result<Option<i64>, String> {
                match value.get(key) {
                    None | Some(Value::Null) => Ok(None),
                    Some(v) => bound(v)
                        .map(Some)
                        .ok_or_else(|| format!("filters.value.{key} must be a date")),
                }
            };
            Ok(Filter::Range {
                field,
                gt: get("gt")?,
                gte: get("gte")?,
                lt: get("lt")?,
                lte: get("lte")?,
            })
        }
        (None, "tags", "eq") => filter["value"]
            .as_str()
            .map(|tag| Filter::Tag(tag.to_lowercase()))
            .ok_or_else(|| "filters.value of tags must be a string".into()),
        _ => Err(format!(
            "operator `{operator}` is not supported on field `{field}`"
        )),
    }
}

/// A search request, validated.
struct Search {
    limit: usize,
    field: Field,
    ascending: bool,
    filters: Vec<Filter>,
    after: Option<(i64, String)>,
}

fn parse_search(body: &Value) -> Result<Search, String> {
    let limit = match &body["pageLimit"] {
        Value::Null => DEFAULT_PAGE_LIMIT,
        value => value
            .as_u64()
            .filter(|n| (1..=MAX_PAGE_LIMIT).contains(n))
            .ok_or_else(|| format!("pageLimit must be a number from 1 to {MAX_PAGE_LIMIT}"))?,
    };
    let (field, ascending) = match body["sort"].as_array().map(Vec::as_slice) {
        None | Some([]) => (Field::DateAdded, false),
        Some([sort]) => {
            let field = sort["field"].as_str().unwrap_or_default();
            let field =
                Field::parse(field).ok_or_else(|| format!("sort field `{field}` is not supported"))?;
            let ascending = match sort["direction"].as_str() {
                Some("asc") => true,
                Some("desc") | None => false,
                Some(other) => return Err(format!("sort direction must be asc or desc, not `{other}`")),
            };
            (field, ascending)
        }
        Some(_) => return Err("this sandbox sorts on one field".into()),
    };
    let filters = match &body["filters"] {
        Value::Null => Vec::new(),
        Value::Array(filters) => filters.iter().map(parse_filter).collect::<Result<_, _>>()?,
        _ => return Err("filters must be an array".into()),
    };
    let after = match &body["searchAfter"] {
        Value::Null => None,
        Value::Array(pair) if pair.len() == 2 => {
            let at = bound(&pair[0]).ok_or("searchAfter[0] must be the sort value of a contact")?;
            let id = pair[1].as_str().ok_or("searchAfter[1] must be a contact id")?;
            Some((at, id.to_string()))
        }
        _ => return Err("searchAfter must be an array of the sort value and id".into()),
    };
    Ok(Search {
        limit: limit as usize,
        field,
        ascending,
        filters,
        after,
    })
}

/// A contact as GoHighLevel renders it.
pub(super) fn contact_json(contact: &CrmContact, world: &World) -> Value {
    json!({
        "id": contact.id,
        "locationId": world.crm.location_id,
        "contactName": format!("{} {}", contact.first_name, contact.last_name).to_lowercase(),
        "firstName": contact.first_name,
        "lastName": contact.last_name,
        "firstNameLowerCase": contact.first_name.to_lowercase(),
        "lastNameLowerCase": contact.last_name.to_lowercase(),
        "email": contact.email,
        "phone": contact.phone,
        "companyName": null,
        "source": contact.source,
        "type": "lead",
        "tags": contact.tags,
        "dnd": false,
        "country": "US",
        "assignedTo": null,
        "customFields": [],
        "dateAdded": iso(contact.date_added),
        "dateUpdated": iso(contact.date_updated),
    })
}

/// The body of a request, or GoHighLevel's answer to one that is not JSON.
pub(super) fn json_body(body: &[u8]) -> Result<Value, Box<Response>> {
    serde_json::from_slice(body).map_err(|e| {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            format!("Unexpected token in JSON: {e}"),
        ))
    })
}

/// `POST /contacts/search`.
pub(super) async fn search(State(ghl): State<Arc<GoHighLevel>>, body: Bytes) -> Response {
    let body = match json_body(&body) {
        Ok(body) => body,
        Err(refused) => return *refused,
    };
    let world = ghl.platform.world();
    match body["locationId"].as_str() {
        None => return unprocessable("locationId must be a string"),
        Some(location) if location != world.crm.location_id => return forbidden_location(location),
        Some(_) => {}
    }
    let search = match parse_search(&body) {
        Ok(search) => search,
        Err(message) => return unprocessable(&message),
    };
    let key = |c: &CrmContact| (search.field.of(c).timestamp_millis(), c.id.clone());
    let mut matching: Vec<&CrmContact> = world
        .crm
        .contacts
        .iter()
        .filter(|c| search.filters.iter().all(|f| f.admits(c)))
        .collect();
    let total = matching.len();
    matching.sort_by_key(|c| key(c));
    if !search.ascending {
        matching.reverse();
    }
    let page: Vec<Value> = matching
        .into_iter()
        .filter(|c| match &search.after {
            None => true,
            Some(after) if search.ascending => key(c) > *after,
            Some(after) => key(c) < *after,
        })
        .take(search.limit)
        .map(|c| {
            let mut item = contact_json(c, &world);
            item["searchAfter"] = json!([search.field.of(c).timestamp_millis(), c.id]);
            item
        })
        .collect();
    Json(json!({ "contacts": page, "total": total })).into_response()
}

fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "Contact not found")
}

/// `GET /contacts/{id}`.
pub(super) async fn show(State(ghl): State<Arc<GoHighLevel>>, Path(id): Path<String>) -> Response {
    let world = ghl.platform.world();
    match world.crm.contact(&id) {
        Some(contact) => Json(json!({ "contact": contact_json(contact, &world) })).into_response(),
        None => not_found(),
    }
}

/// `POST /contacts/{id}/tags` with `{"tags": [...]}`: adds the tags the
/// contact lacks (GoHighLevel keeps them in lower case) and answers all of
/// its tags.
pub(super) async fn add_tags(
    State(ghl): State<Arc<GoHighLevel>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let outcome = apply_tags(&ghl, &id, &body);
    ghl.platform.record_write(WriteCall {
        method: "POST".into(),
        path: format!("/contacts/{id}/tags"),
        body: json_or_text(&body),
        idempotency_key: None,
        applied: outcome.status().is_success(),
    });
    outcome
}

fn apply_tags(ghl: &GoHighLevel, id: &str, body: &[u8]) -> Response {
    let body = match json_body(body) {
        Ok(body) => body,
        Err(refused) => return *refused,
    };
    let tags: Option<Vec<String>> = body["tags"].as_array().and_then(|tags| {
        tags.iter()
            .map(|t| {
                t.as_str()
                    .map(|t| t.trim().to_lowercase())
                    .filter(|t| !t.is_empty())
            })
            .collect()
    });
    let Some(tags) = tags.filter(|t| !t.is_empty()) else {
        return unprocessable("tags must be an array of non-empty strings");
    };
    let mut world = ghl.platform.world();
    let now = world.now();
    let Some(contact) = world.crm.contacts.iter_mut().find(|c| c.id == id) else {
        return not_found();
    };
    let mut changed = false;
    for tag in tags {
        if !contact.tags.contains(&tag) {
            contact.tags.push(tag);
            changed = true;
        }
    }
    if changed {
        // A change moves dateUpdated forward, which incremental syncs see.
        contact.date_updated = now.max(contact.date_updated + Duration::seconds(1));
    }
    (StatusCode::CREATED, Json(json!({ "tags": contact.tags }))).into_response()
}
