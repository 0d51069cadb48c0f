//! The actions, `add-contact-tag` and `move-opportunity-stage`, and their
//! previews. [`Plan::new`] validates an input and reads its target (and,
//! for a stage move, the location's pipelines) for both: an input that is
//! not acceptable is refused before the first request, and a contact or
//! opportunity the configured location does not have is `not-found`
//! before anything is written. Each action sets an absolute state, and
//! does nothing when its target is in it already, so a retry is safe
//! without an idempotency key (GoHighLevel has none).

use crate::api::{Client, path_id};
use crate::records::{self, Pipelines};
use crate::streams;
use omnify_sdk::connector::{ActionSpec, Preview};
use omnify_sdk::{Error, Value, json};

/// The longest tag accepted.
const MAX_TAG_CHARS: usize = 100;

/// The actions offered, with their input schemas.
pub fn specs() -> Vec<ActionSpec> {
    let id = |what: &str| json!({ "type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$", "description": format!("The {what}'s id") });
    vec![
        ActionSpec {
            name: "add-contact-tag".into(),
            description: "Add a tag to a contact (kept if the contact already has it)".into(),
            input_schema: json!({
                "type": "object",
                "required": ["contact_id", "tag"],
                "properties": {
                    "contact_id": id("contact"),
                    "tag": { "type": "string", "minLength": 1, "maxLength": MAX_TAG_CHARS }
                }
            }),
        },
        ActionSpec {
            name: "move-opportunity-stage".into(),
            description: "Move an opportunity to another stage of its pipeline".into(),
            input_schema: json!({
                "type": "object",
                "required": ["opportunity_id", "stage_id"],
                "properties": { "opportunity_id": id("opportunity"), "stage_id": id("pipeline stage") }
            }),
        },
    ]
}

/// A contact or opportunity of the configured location, or `not-found`.
fn of_location(client: &Client, body: &Value, key: &str, what: &str, id: &str) -> Result<Value, Error> {
    let object = body.get(key).filter(|o| o.is_object()).cloned();
    match object {
        Some(object)
            if object["locationId"]
                .as_str()
                .is_none_or(|l| l == client.location_id) =>
        {
            Ok(object)
        }
        _ => Err(Error::not_found(format!(
            "GoHighLevel location {} has no {what} {id}",
            client.location_id
        ))),
    }
}

/// `GET path`, with a missing object reported as `not-found` of `what`.
fn read(client: &Client, path: &str, key: &str, what: &str, id: &str) -> Result<Value, Error> {
    match client.get(path, &[]) {
        Ok(body) => of_location(client, &body, key, what, id),
        Err(Error::NotFound(_)) => Err(Error::not_found(format!(
            "GoHighLevel location {} has no {what} {id}",
            client.location_id
        ))),
        // GoHighLevel answers an id of another location with 400 or 403.
        Err(Error::InvalidInput(message)) if message.contains("not found") => Err(Error::NotFound(message)),
        Err(other) => Err(other),
    }
}

/// An action whose input was validated and whose target was read.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Add `tag` to a contact whose tags are `current`.
    Tag {
        /// The contact.
        contact_id: String,
        /// The tag, trimmed and in lower case as GoHighLevel keeps it.
        tag: String,
        /// The contact's tags now.
        current: Vec<String>,
    },
    /// Move an opportunity from its stage to `stage_id` of its pipeline.
    Stage {
        /// The opportunity.
        opportunity_id: String,
        /// Its pipeline.
        pipeline_id: String,
        /// Its stage now, if any.
        current: Option<String>,
        /// The stage asked for.
        stage_id: String,
        /// The pipeline's stage ids, in order.
        stages: Vec<String>,
    },
}

impl Plan {
    /// Validate `input` for action `name` and read its target: the checks
    /// `act` and `preview` share.
    pub fn new(client: &Client, name: &str, input: &Value) -> Result<Self, Error> {
        match name {
            "add-contact-tag" => {
                let contact_id = path_id(input, "contact_id", "contact")?;
                let tag = input
                    .get("tag")
                    .and_then(Value::as_str)
                    .map(|t| t.trim().to_lowercase())
                    .unwrap_or_default();
                if tag.is_empty() || tag.contains(',') || tag.chars().count() > MAX_TAG_CHARS {
                    return Err(Error::invalid_input(format!(
                        "`tag` must be 1 to {MAX_TAG_CHARS} characters without commas"
                    )));
                }
                let contact = read(
                    client,
                    &format!("/contacts/{contact_id}"),
                    "contact",
                    "contact",
                    &contact_id,
                )?;
                Ok(Self::Tag {
                    current: records::tags(&contact),
                    contact_id,
                    tag,
                })
            }
            "move-opportunity-stage" => {
                let opportunity_id = path_id(input, "opportunity_id", "opportunity")?;
                let stage_id = path_id(input, "stage_id", "pipeline stage")?;
                let path = format!("/opportunities/{opportunity_id}");
                let opportunity = read(client, &path, "opportunity", "opportunity", &opportunity_id)?;
                let pipeline_id = opportunity["pipelineId"]
                    .as_str()
                    .ok_or_else(|| Error::internal(format!("opportunity {opportunity_id} has no pipeline")))?
                    .to_string();
                let pipelines = streams::pipelines(client)?;
                let stages = stage_ids(&pipelines, &pipeline_id, &stage_id)?;
                Ok(Self::Stage {
                    current: opportunity["pipelineStageId"].as_str().map(str::to_string),
                    opportunity_id,
                    pipeline_id,
                    stage_id,
                    stages,
                })
            }
            other => Err(Error::not_found(format!(
                "the GoHighLevel connector has no action `{other}`"
            ))),
        }
    }

    /// Perform the plan; nothing is written when the target is in the
    /// state asked for already.
    pub fn act(self, client: &Client) -> Result<Value, Error> {
        match self {
            Self::Tag {
                contact_id,
                tag,
                current,
            } => {
                if current.contains(&tag) {
                    return Ok(json!({ "contact_id": contact_id, "tags": current, "changed": false }));
                }
                let body = client.post(&format!("/contacts/{contact_id}/tags"), &json!({ "tags": [tag] }))?;
                let tags = match body.get("tags") {
                    Some(_) => records::tags(&body),
                    None => [current, vec![tag]].concat(),
                };
                Ok(json!({ "contact_id": contact_id, "tags": tags, "changed": true }))
            }
            Self::Stage {
                opportunity_id,
                pipeline_id,
                current,
                stage_id,
                ..
            } => {
                if current.as_deref() == Some(stage_id.as_str()) {
                    return Ok(json!({
                        "opportunity_id": opportunity_id, "pipeline_id": pipeline_id,
                        "stage_id": stage_id, "changed": false,
                    }));
                }
                let body = json!({ "pipelineId": pipeline_id, "pipelineStageId": stage_id });
                let updated = client.put(&format!("/opportunities/{opportunity_id}"), &body)?;
                let updated = &updated["opportunity"];
                Ok(json!({
                    "opportunity_id": opportunity_id,
                    "pipeline_id": updated["pipelineId"].as_str().unwrap_or(&pipeline_id),
                    "stage_id": updated["pipelineStageId"].as_str().unwrap_or(&stage_id),
                    "previous_stage_id": current,
                    "updated_at": updated["updatedAt"],
                    "changed": true,
                }))
            }
        }
    }

    /// What the plan changes: `tagged` (0 or 1 to 1), or the opportunity's
    /// `stage-number` in its pipeline (1 for the first stage).
    pub fn preview(&self) -> Preview {
        match self {
            Self::Tag {
                contact_id,
                tag,
                current,
            } => {
                let now = if current.contains(tag) { 1.0 } else { 0.0 };
                Preview::new("contact", contact_id, "tagged", (now, 1.0), "status")
            }
            Self::Stage {
                opportunity_id,
                current,
                stage_id,
                stages,
                ..
            } => {
                let number = |stage: &str| {
                    stages
                        .iter()
                        .position(|s| s == stage)
                        .map_or(0.0, |i| (i + 1) as f64)
                };
                let now = current.as_deref().map_or(0.0, number);
                Preview::new(
                    "opportunity",
                    opportunity_id,
                    "stage-number",
                    (now, number(stage_id)),
                    "stage",
                )
            }
        }
    }
}

/// The stages of `pipeline`, refusing a `stage` that is not one of them:
/// GoHighLevel would move the opportunity's stage without its pipeline.
fn stage_ids(pipelines: &Pipelines, pipeline: &str, stage: &str) -> Result<Vec<String>, Error> {
    let stages = pipelines.0.get(pipeline).ok_or_else(|| {
        Error::internal(format!(
            "the opportunity's pipeline {pipeline} is not among the location's"
        ))
    })?;
    if pipelines.stage_name(pipeline, stage).is_none() {
        return Err(Error::invalid_input(match pipelines.pipeline_of_stage(stage) {
            Some(other) => format!(
                "`stage_id` {stage} is a stage of pipeline {other}, not of the opportunity's pipeline {pipeline} ({})",
                stages.name
            ),
            None => format!("`stage_id` {stage} is not a stage of any pipeline of this location"),
        }));
    }
    Ok(stages.stages.iter().map(|(id, _)| id.clone()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stage_must_be_of_the_opportunitys_pipeline() {
        let pipelines = Pipelines::from_body(&json!({"pipelines": [
            {"id": "p1", "name": "Sales", "stages": [{"id": "s1", "name": "New"}, {"id": "s2", "name": "Won"}]},
            {"id": "p2", "name": "Partners", "stages": [{"id": "t1", "name": "Intro"}]}]}))
        .expect("pipelines");
        assert_eq!(
            stage_ids(&pipelines, "p1", "s2"),
            Ok(vec!["s1".to_string(), "s2".to_string()])
        );
        assert!(
            matches!(stage_ids(&pipelines, "p1", "t1"), Err(Error::InvalidInput(m)) if m.contains("pipeline p2"))
        );
        assert!(
            matches!(stage_ids(&pipelines, "p1", "zz"), Err(Error::InvalidInput(m)) if m.contains("any pipeline"))
        );
    }

    #[test]
    fn previews_count_stages_from_one() {
        let plan = Plan::Stage {
            opportunity_id: "o1".into(),
            pipeline_id: "p1".into(),
            current: Some("s1".into()),
            stage_id: "s3".into(),
            stages: vec!["s1".into(), "s2".into(), "s3".into()],
        };
        let preview = plan.preview();
        assert_eq!(
            (preview.current, preview.after, preview.unit.as_str()),
            (1.0, 3.0, "stage")
        );
        let tag = Plan::Tag {
            contact_id: "c1".into(),
            tag: "vip".into(),
            current: vec!["vip".into()],
        };
        assert_eq!((tag.preview().current, tag.preview().after), (1.0, 1.0));
    }
}
