//! Opportunities: `GET /opportunities/pipelines`, `GET
//! /opportunities/search` (newest first, paged with `startAfter` and
//! `startAfterId` from the previous page's `meta`), `GET
//! /opportunities/{id}`, and `PUT /opportunities/{id}`, which refuses a
//! stage that is not one of the pipeline's.

use super::contacts::json_body;
use super::{GoHighLevel, error, forbidden_location, iso, json_or_text, param, query_pairs, unprocessable};
use crate::server::WriteCall;
use crate::world::{DealStatus, Opportunity, World};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Duration;
use serde_json::{Value, json};
use std::sync::Arc;

/// The page size when the request names none.
const DEFAULT_LIMIT: usize = 20;
/// The largest page served.
const MAX_LIMIT: usize = 100;

/// The location a request names in `name`: absent is a `422`, another
/// location a `403`.
fn check_location(world: &World, location: Option<&str>, name: &str) -> Result<(), Box<Response>> {
    match location {
        None => Err(Box::new(unprocessable(&format!("{name} should not be empty")))),
        Some(location) if location != world.crm.location_id => Err(Box::new(forbidden_location(location))),
        Some(_) => Ok(()),
    }
}

/// `GET /opportunities/pipelines?locationId=`.
pub(super) async fn pipelines(State(ghl): State<Arc<GoHighLevel>>, RawQuery(query): RawQuery) -> Response {
    let query = query_pairs(query.as_deref());
    let world = ghl.platform.world();
    if let Err(refused) = check_location(&world, param(&query, "locationId"), "locationId") {
        return *refused;
    }
    let pipelines: Vec<Value> = world
        .crm
        .pipelines
        .iter()
        .map(|p| {
            let stages: Vec<Value> = p
                .stages
                .iter()
                .enumerate()
                .map(|(position, s)| {
                    json!({ "id": s.id, "name": s.name, "position": position,
                        "showInFunnel": true, "showInPieChart": true })
                })
                .collect();
            json!({ "id": p.id, "name": p.name, "stages": stages, "showInFunnel": true,
                "showInPieChart": true, "locationId": world.crm.location_id })
        })
        .collect();
    Json(json!({ "pipelines": pipelines })).into_response()
}

/// An opportunity as GoHighLevel renders it, its value in major units.
pub(super) fn opportunity_json(deal: &Opportunity, world: &World) -> Value {
    let contact = world.crm.contact(&deal.contact_id).map(|c| {
        json!({ "id": c.id, "name": format!("{} {}", c.first_name, c.last_name), "companyName": null,
            "email": c.email, "phone": c.phone, "tags": c.tags })
    });
    json!({
        "id": deal.id,
        "name": deal.name,
        "monetaryValue": deal.monetary_value_cents as f64 / 100.0,
        "pipelineId": deal.pipeline_id,
        "pipelineStageId": deal.stage_id,
        "assignedTo": deal.assigned_to,
        "status": deal.status.as_str(),
        "source": deal.source,
        "lastStatusChangeAt": iso(deal.last_status_change_at),
        "lastStageChangeAt": iso(deal.last_stage_change_at),
        "lastActionDate": iso(deal.updated_at),
        "indexVersion": deal.updated_at.timestamp_millis(),
        "createdAt": iso(deal.created_at),
        "updatedAt": iso(deal.updated_at),
        "contactId": deal.contact_id,
        "locationId": world.crm.location_id,
        "contact": contact,
        "notes": [],
        "tasks": [],
        "calendarEvents": [],
        "customFields": [],
        "followers": [],
    })
}

/// `GET /opportunities/search?location_id=&status=&pipeline_id=&limit=&startAfter=&startAfterId=`.
pub(super) async fn search(
    State(ghl): State<Arc<GoHighLevel>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let query = query_pairs(query.as_deref());
    let world = ghl.platform.world();
    if let Err(refused) = check_location(&world, param(&query, "location_id"), "location_id") {
        return *refused;
    }
    let limit = match param(&query, "limit") {
        None => DEFAULT_LIMIT,
        Some(text) => match text.parse::<usize>().ok().filter(|n| (1..=MAX_LIMIT).contains(n)) {
            Some(limit) => limit,
            None => return unprocessable(&format!("limit must not be greater than {MAX_LIMIT}")),
        },
    };
    let status = match param(&query, "status") {
        None | Some("all") => None,
        Some(status) => match [
            DealStatus::Open,
            DealStatus::Won,
            DealStatus::Lost,
            DealStatus::Abandoned,
        ]
        .into_iter()
        .find(|s| s.as_str() == status)
        {
            Some(status) => Some(status),
            None => {
                return unprocessable(
                    "status must be one of the following values: open, won, lost, abandoned, all",
                );
            }
        },
    };
    let after = match (param(&query, "startAfter"), param(&query, "startAfterId")) {
        (None, None) => None,
        (Some(at), Some(id)) => match at.parse::<i64>() {
            Ok(at) => Some((at, id.to_string())),
            Err(_) => return unprocessable("startAfter must be a number"),
        },
        _ => return unprocessable("startAfter and startAfterId go together"),
    };
    let pipeline = param(&query, "pipeline_id");
    let key = |o: &Opportunity| (o.created_at.timestamp_millis(), o.id.clone());
    let mut matching: Vec<&Opportunity> = world
        .crm
        .opportunities
        .iter()
        .filter(|o| status.is_none_or(|s| o.status == s) && pipeline.is_none_or(|p| o.pipeline_id == p))
        .collect();
    let total = matching.len();
    // Newest first, and past the previous page's last.
    matching.sort_by_key(|o| std::cmp::Reverse(key(o)));
    let rest: Vec<&Opportunity> = matching
        .into_iter()
        .filter(|o| after.as_ref().is_none_or(|after| key(o) < *after))
        .collect();
    let page = &rest[..rest.len().min(limit)];
    let last = page.last().map(|o| key(o));
    let next_url = match &last {
        Some((at, id)) if rest.len() > limit => {
            let host = headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("127.0.0.1");
            json!(format!(
                "http://{host}/opportunities/search?location_id={}&limit={limit}&startAfter={at}&startAfterId={id}",
                world.crm.location_id
            ))
        }
        _ => Value::Null,
    };
    let (start_after, start_after_id) = last.unzip();
    Json(json!({
        "opportunities": page.iter().map(|o| opportunity_json(o, &world)).collect::<Vec<_>>(),
        "meta": {
            "total": total,
            "nextPageUrl": next_url,
            "startAfter": start_after,
            "startAfterId": start_after_id,
            "currentPage": null,
            "nextPage": null,
            "prevPage": null,
        },
        "aggregations": { "pipelines": {} },
    }))
    .into_response()
}

fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "Opportunity not found")
}

/// `GET /opportunities/{id}`.
pub(super) async fn show(State(ghl): State<Arc<GoHighLevel>>, Path(id): Path<String>) -> Response {
    let world = ghl.platform.world();
    match world.crm.opportunity(&id) {
        Some(deal) => Json(json!({ "opportunity": opportunity_json(deal, &world) })).into_response(),
        None => not_found(),
    }
}

/// `PUT /opportunities/{id}` with any of `pipelineId`, `pipelineStageId`,
/// `status`, `name`, `monetaryValue`.
pub(super) async fn update(
    State(ghl): State<Arc<GoHighLevel>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let outcome = apply_update(&ghl, &id, &body);
    ghl.platform.record_write(WriteCall {
        method: "PUT".into(),
        path: format!("/opportunities/{id}"),
        body: json_or_text(&body),
        idempotency_key: None,
        applied: outcome.status().is_success(),
    });
    outcome
}

fn apply_update(ghl: &GoHighLevel, id: &str, body: &[u8]) -> Response {
    let body = match json_body(body) {
        Ok(body) => body,
        Err(refused) => return *refused,
    };
    let mut world = ghl.platform.world();
    let now = world.now();
    let Some(index) = world.crm.opportunities.iter().position(|o| o.id == id) else {
        return not_found();
    };
    let current = world.crm.opportunities[index].clone();
    let text = |name: &str| -> Result<Option<String>, Box<Response>> {
        match &body[name] {
            Value::Null => Ok(None),
            Value::String(s) if !s.is_empty() => Ok(Some(s.clone())),
            _ => Err(Box::new(unprocessable(&format!("{name} must be a string")))),
        }
    };
    let (pipeline_id, stage_id, status, name) = match (
        text("pipelineId"),
        text("pipelineStageId"),
        text("status"),
        text("name"),
    ) {
        (Ok(p), Ok(s), Ok(st), Ok(n)) => (p, s, st, n),
        (Err(r), ..) | (_, Err(r), ..) | (_, _, Err(r), _) | (.., Err(r)) => return *r,
    };
    let pipeline_id = pipeline_id.unwrap_or_else(|| current.pipeline_id.clone());
    let Some(pipeline) = world.crm.pipeline(&pipeline_id) else {
        return error(
            StatusCode::BAD_REQUEST,
            format!("Pipeline {pipeline_id} not found"),
        );
    };
    let stage_id = stage_id.unwrap_or_else(|| current.stage_id.clone());
    if !pipeline.stages.iter().any(|s| s.id == stage_id) {
        return error(
            StatusCode::BAD_REQUEST,
            format!("Pipeline stage {stage_id} does not belong to pipeline {pipeline_id}"),
        );
    }
    let status = match status.as_deref() {
        None => current.status,
        Some(wanted) => match [
            DealStatus::Open,
            DealStatus::Won,
            DealStatus::Lost,
            DealStatus::Abandoned,
        ]
        .into_iter()
        .find(|s| s.as_str() == wanted)
        {
            Some(status) => status,
            None => {
                return unprocessable(
                    "status must be one of the following values: open, won, lost, abandoned",
                );
            }
        },
    };
    let value = match &body["monetaryValue"] {
        Value::Null => current.monetary_value_cents,
        Value::Number(n) => match n.as_f64().filter(|v| v.is_finite() && *v >= 0.0) {
            Some(v) => (v * 100.0).round() as i64,
            None => return unprocessable("monetaryValue must be a positive number"),
        },
        _ => return unprocessable("monetaryValue must be a number"),
    };
    let when = now.max(current.updated_at + Duration::seconds(1));
    let deal = &mut world.crm.opportunities[index];
    if deal.stage_id != stage_id || deal.pipeline_id != pipeline_id {
        deal.last_stage_change_at = when;
    }
    if deal.status != status {
        deal.last_status_change_at = when;
    }
    deal.pipeline_id = pipeline_id;
    deal.stage_id = stage_id;
    deal.status = status;
    deal.monetary_value_cents = value;
    if let Some(name) = name {
        deal.name = name;
    }
    if *deal != current {
        deal.updated_at = when;
    }
    let deal = world.crm.opportunities[index].clone();
    Json(json!({ "opportunity": opportunity_json(&deal, &world) })).into_response()
}
