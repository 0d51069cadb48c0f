//! Calendars: `GET /calendars/?locationId=` and `GET /calendars/events`,
//! which needs a calendar (or a user or group) and a time range in Unix
//! milliseconds, both ends included, and does not page.

use super::{GoHighLevel, forbidden_location, iso, local, param, query_pairs, unprocessable};
use crate::world::{Appointment, World};
use axum::Json;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;

/// The location a request names, checked.
fn check_location(world: &World, query: &[(String, String)]) -> Result<(), Box<Response>> {
    match param(query, "locationId") {
        None => Err(Box::new(unprocessable("locationId should not be empty"))),
        Some(location) if location != world.crm.location_id => Err(Box::new(forbidden_location(location))),
        Some(_) => Ok(()),
    }
}

/// `GET /calendars/?locationId=`.
pub(super) async fn list(State(ghl): State<Arc<GoHighLevel>>, RawQuery(query): RawQuery) -> Response {
    let query = query_pairs(query.as_deref());
    let world = ghl.platform.world();
    if let Err(refused) = check_location(&world, &query) {
        return *refused;
    }
    let calendars: Vec<Value> = world
        .crm
        .calendars
        .iter()
        .map(|c| {
            json!({ "id": c.id, "name": c.name, "locationId": world.crm.location_id, "isActive": true,
                "calendarType": "round_robin", "slotDuration": 30, "slotDurationUnit": "mins",
                "teamMembers": world.crm.users.iter().map(|u| json!({"userId": u})).collect::<Vec<_>>() })
        })
        .collect();
    Json(json!({ "calendars": calendars })).into_response()
}

/// An event as GoHighLevel renders it, times in the location's zone.
fn event_json(appointment: &Appointment, world: &World) -> Value {
    json!({
        "id": appointment.id,
        "title": appointment.title,
        "calendarId": appointment.calendar_id,
        "locationId": world.crm.location_id,
        "contactId": appointment.contact_id,
        "groupId": null,
        "appointmentStatus": appointment.status,
        "assignedUserId": appointment.assigned_user_id,
        "users": [appointment.assigned_user_id],
        "address": format!("https://meet.google.com/omn-{}", &appointment.id[..8].to_lowercase()),
        "notes": null,
        "isRecurring": false,
        "startTime": local(appointment.start_time),
        "endTime": local(appointment.end_time),
        "dateAdded": iso(appointment.date_added),
        "dateUpdated": iso(appointment.date_updated),
        "createdBy": { "userId": appointment.assigned_user_id, "source": "booking_widget" },
    })
}

/// `GET /calendars/events?locationId=&calendarId=|userId=&startTime=&endTime=`.
pub(super) async fn events(State(ghl): State<Arc<GoHighLevel>>, RawQuery(query): RawQuery) -> Response {
    let query = query_pairs(query.as_deref());
    let world = ghl.platform.world();
    if let Err(refused) = check_location(&world, &query) {
        return *refused;
    }
    let calendar = param(&query, "calendarId");
    let user = param(&query, "userId");
    if calendar.is_none() && user.is_none() && param(&query, "groupId").is_none() {
        return unprocessable("Either of calendarId, userId or groupId is required");
    }
    let millis = |name: &str| param(&query, name).and_then(|v| v.parse::<i64>().ok());
    let (Some(start), Some(end)) = (millis("startTime"), millis("endTime")) else {
        return unprocessable("startTime and endTime must be Unix times in milliseconds");
    };
    let events: Vec<Value> = world
        .crm
        .appointments
        .iter()
        // Groups are not modelled: a group's calendars have no events.
        .filter(|_| calendar.is_some() || user.is_some())
        .filter(|a| {
            calendar.is_none_or(|c| a.calendar_id == c) && user.is_none_or(|u| a.assigned_user_id == u)
        })
        .filter(|a| (start..=end).contains(&a.start_time.timestamp_millis()))
        .map(|a| event_json(a, &world))
        .collect();
    Json(json!({ "events": events })).into_response()
}
