//! GoHighLevel's objects (camelCase, times with offsets, money as numbers
//! in the location's currency) normalised to the records every Omnify
//! connector writes: snake_case fields, ids as strings, times as RFC 3339
//! in UTC, money as a number in major units beside its `currency`.

use crate::time;
use omnify_sdk::{Error, Value, json};
use std::collections::BTreeMap;

fn text(object: &Value, name: &str) -> Value {
    match object.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Value::String(s.clone()),
        _ => Value::Null,
    }
}

/// Field `name` as a UTC time, `null` when absent.
fn time_field(object: &Value, name: &str) -> Result<Value, Error> {
    match object.get(name).and_then(Value::as_str).filter(|t| !t.is_empty()) {
        Some(text) => Ok(Value::String(time::utc(text)?)),
        None => Ok(Value::Null),
    }
}

/// The id every record is keyed by; an object without one is refused.
fn required_id(object: &Value, kind: &str) -> Result<String, Error> {
    object
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .map(str::to_string)
        .ok_or_else(|| Error::internal(format!("GoHighLevel sent a {kind} without an id")))
}

/// A list of tags (GoHighLevel keeps them in lower case).
pub fn tags(object: &Value) -> Vec<String> {
    object
        .get("tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// A `contacts` record.
pub fn contact(contact: &Value) -> Result<Value, Error> {
    let first = text(contact, "firstName");
    let last = text(contact, "lastName");
    let name = match text(contact, "contactName") {
        Value::Null => {
            let parts: Vec<&str> = [&first, &last].iter().filter_map(|v| v.as_str()).collect();
            if parts.is_empty() {
                Value::Null
            } else {
                json!(parts.join(" "))
            }
        }
        name => name,
    };
    Ok(json!({
        "id": required_id(contact, "contact")?,
        "first_name": first,
        "last_name": last,
        "name": name,
        "email": text(contact, "email"),
        "phone": text(contact, "phone"),
        "company_name": text(contact, "companyName"),
        "source": text(contact, "source"),
        "type": text(contact, "type"),
        "tags": tags(contact),
        "created_at": time_field(contact, "dateAdded")?,
        "updated_at": time_field(contact, "dateUpdated")?,
    }))
}

/// A pipeline's stages, in their order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Pipeline {
    /// Its name.
    pub name: String,
    /// `(stage id, stage name)` by position.
    pub stages: Vec<(String, String)>,
}

/// The location's pipelines by id, to name the pipeline and stage of an
/// opportunity and to check that a stage belongs to a pipeline.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Pipelines(pub BTreeMap<String, Pipeline>);

impl Pipelines {
    /// From `GET /opportunities/pipelines`: `{"pipelines": [{id, name, stages: [{id, name, position}]}]}`.
    pub fn from_body(body: &Value) -> Result<Self, Error> {
        let list = body
            .get("pipelines")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::internal("GoHighLevel's answer has no `pipelines` list"))?;
        let mut pipelines = BTreeMap::new();
        for pipeline in list {
            let id = required_id(pipeline, "pipeline")?;
            let mut stages: Vec<(i64, String, String)> = pipeline
                .get("stages")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
                .filter_map(|(n, stage)| {
                    let id = stage.get("id")?.as_str()?.to_string();
                    let name = stage
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string();
                    let position = stage.get("position").and_then(Value::as_i64).unwrap_or(n as i64);
                    Some((position, id, name))
                })
                .collect();
            stages.sort_by_key(|(position, _, _)| *position);
            let name = pipeline
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let stages = stages.into_iter().map(|(_, id, name)| (id, name)).collect();
            pipelines.insert(id, Pipeline { name, stages });
        }
        Ok(Self(pipelines))
    }

    /// The name of stage `stage` of pipeline `pipeline`, if it is one of its stages.
    pub fn stage_name(&self, pipeline: &str, stage: &str) -> Option<&str> {
        self.0
            .get(pipeline)?
            .stages
            .iter()
            .find(|(id, _)| id == stage)
            .map(|(_, name)| name.as_str())
    }

    /// The pipeline stage `stage` belongs to.
    pub fn pipeline_of_stage(&self, stage: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(_, p)| p.stages.iter().any(|(id, _)| id == stage))
            .map(|(id, _)| id.as_str())
    }

    /// `pipelines` records, one per pipeline with its stages.
    pub fn records(&self) -> Vec<Value> {
        self.0
            .iter()
            .map(|(id, p)| {
                let stages: Vec<Value> = p
                    .stages
                    .iter()
                    .enumerate()
                    .map(|(position, (id, name))| json!({ "id": id, "name": name, "position": position }))
                    .collect();
                json!({ "id": id, "name": p.name, "stages": stages })
            })
            .collect()
    }
}

/// An `opportunities` record, its pipeline and stage named from
/// `pipelines`, its value in `currency` (GoHighLevel's opportunities carry
/// none: the location's is configured).
pub fn opportunity(opportunity: &Value, pipelines: &Pipelines, currency: &str) -> Result<Value, Error> {
    let pipeline_id = text(opportunity, "pipelineId");
    let stage_id = text(opportunity, "pipelineStageId");
    let (pipeline_name, stage_name) = match (pipeline_id.as_str(), stage_id.as_str()) {
        (Some(pipeline), stage) => (
            pipelines.0.get(pipeline).map(|p| p.name.clone()),
            stage
                .and_then(|s| pipelines.stage_name(pipeline, s))
                .map(str::to_string),
        ),
        _ => (None, None),
    };
    let monetary_value = match opportunity.get("monetaryValue") {
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|v| v.is_finite())
            .map(Value::from)
            .unwrap_or(Value::Null),
        Some(Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .map_or(Value::Null, Value::from),
        _ => Value::Null,
    };
    let status = text(opportunity, "status");
    let last_status_change = time_field(opportunity, "lastStatusChangeAt")?;
    let updated_at = time_field(opportunity, "updatedAt")?;
    // When a deal was won: its last status change, which GoHighLevel may
    // leave out on deals won before it kept one.
    let won_at = match status.as_str() {
        Some("won") if !last_status_change.is_null() => last_status_change.clone(),
        Some("won") => updated_at.clone(),
        _ => Value::Null,
    };
    let contact = opportunity.get("contact").cloned().unwrap_or(Value::Null);
    let contact_id = match text(opportunity, "contactId") {
        Value::Null => text(&contact, "id"),
        id => id,
    };
    Ok(json!({
        "id": required_id(opportunity, "opportunity")?,
        "name": text(opportunity, "name"),
        "status": status,
        "monetary_value": monetary_value,
        "currency": currency,
        "pipeline_id": pipeline_id,
        "pipeline_name": pipeline_name,
        "stage_id": stage_id,
        "stage_name": stage_name,
        "contact_id": contact_id,
        "contact_name": text(&contact, "name"),
        "contact_email": text(&contact, "email"),
        "assigned_to": text(opportunity, "assignedTo"),
        "source": text(opportunity, "source"),
        "created_at": time_field(opportunity, "createdAt")?,
        "updated_at": updated_at,
        "last_status_change_at": last_status_change,
        "last_stage_change_at": time_field(opportunity, "lastStageChangeAt")?,
        "won_at": won_at,
    }))
}

/// An `appointments` record, with the name of its calendar.
pub fn appointment(event: &Value, calendar_name: Option<&str>) -> Result<Value, Error> {
    Ok(json!({
        "id": required_id(event, "calendar event")?,
        "calendar_id": text(event, "calendarId"),
        "calendar_name": calendar_name,
        "contact_id": text(event, "contactId"),
        "title": text(event, "title"),
        "status": text(event, "appointmentStatus"),
        "assigned_user_id": text(event, "assignedUserId"),
        "address": text(event, "address"),
        "start_time": time_field(event, "startTime")?,
        "end_time": time_field(event, "endTime")?,
        "created_at": time_field(event, "dateAdded")?,
        "updated_at": time_field(event, "dateUpdated")?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipelines() -> Pipelines {
        Pipelines::from_body(&json!({"pipelines": [{"id": "p1", "name": "Sales", "stages": [
            {"id": "s2", "name": "Won", "position": 1}, {"id": "s1", "name": "New", "position": 0}]}]}))
        .expect("pipelines")
    }

    #[test]
    fn contacts_are_normalised() {
        let record = contact(&json!({"id": "c1", "firstName": "Ada", "lastName": "Okafor",
            "email": "ada@example.com", "phone": "+14155550100", "tags": ["vip", "lead"],
            "dateAdded": "2026-06-01T09:00:00.000-05:00", "dateUpdated": "2026-06-02T09:00:00.000Z"}))
        .expect("a contact");
        assert_eq!(record["name"], "Ada Okafor");
        assert_eq!(record["tags"], json!(["vip", "lead"]));
        assert_eq!(record["created_at"], "2026-06-01T14:00:00Z");
        assert_eq!(record["updated_at"], "2026-06-02T09:00:00Z");
        assert!(contact(&json!({"email": "x@example.com"})).is_err());
    }

    #[test]
    fn stages_are_ordered_and_looked_up() {
        let pipelines = pipelines();
        assert_eq!(pipelines.0["p1"].stages[0].0, "s1");
        assert_eq!(pipelines.stage_name("p1", "s2"), Some("Won"));
        assert_eq!(pipelines.stage_name("p2", "s2"), None);
        assert_eq!(pipelines.pipeline_of_stage("s1"), Some("p1"));
        assert_eq!(
            pipelines.records()[0]["stages"][1],
            json!({"id": "s2", "name": "Won", "position": 1})
        );
    }

    #[test]
    fn opportunities_carry_names_money_and_the_won_time() {
        let raw = json!({"id": "o1", "name": "Deal", "status": "won", "monetaryValue": 1250.5,
            "pipelineId": "p1", "pipelineStageId": "s2", "contactId": "c1",
            "contact": {"id": "c1", "name": "Ada Okafor", "email": "ada@example.com"},
            "createdAt": "2026-06-01T10:00:00.000Z", "updatedAt": "2026-06-03T10:00:00.000Z",
            "lastStatusChangeAt": "2026-06-02T10:00:00.000-05:00"});
        let record = opportunity(&raw, &pipelines(), "USD").expect("an opportunity");
        assert_eq!(record["monetary_value"], 1250.5);
        assert_eq!(record["currency"], "USD");
        assert_eq!(
            (&record["pipeline_name"], &record["stage_name"]),
            (&json!("Sales"), &json!("Won"))
        );
        assert_eq!(record["won_at"], "2026-06-02T15:00:00Z");
        assert_eq!(record["contact_email"], "ada@example.com");
        let open = opportunity(
            &json!({"id": "o2", "status": "open", "monetaryValue": null}),
            &pipelines(),
            "USD",
        )
        .expect("an opportunity");
        assert_eq!(
            (&open["won_at"], &open["monetary_value"]),
            (&Value::Null, &Value::Null)
        );
    }
}
