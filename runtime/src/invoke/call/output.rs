//! What a call returned, in the host's own types, converted from the newest
//! contract's and checked: JSON text is JSON, numbers are finite, counts
//! are within the host's caps.

use super::SyncMode;
use crate::plugin::contract::latest::{agent_api as agent_wit, connector_api as connector_wit};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// What a call returned.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "export", content = "result", rename_all = "kebab-case")]
pub enum CallOutput {
    /// From `spec`: the configuration's JSON Schema.
    Spec(Box<RawValue>),
    /// From `check`: the configuration works.
    Check,
    /// From `discover`.
    Discover(Vec<StreamSpec>),
    /// From `read`.
    Read(Batch),
    /// From `actions`.
    Actions(Vec<ActionSpec>),
    /// From `act`: the platform's result.
    Act(Box<RawValue>),
    /// From `preview`.
    Preview(ActionPreview),
    /// From `verify-webhook`.
    VerifyWebhook(Vec<WebhookEvent>),
    /// From `describe`.
    Describe(AgentInfo),
    /// From `run`.
    Run(RunOutput),
}

/// A stream a connector offers.
#[derive(Debug, Clone, Serialize)]
pub struct StreamSpec {
    /// The stream's name.
    pub name: String,
    /// JSON Schema of a record.
    pub json_schema: Box<RawValue>,
    /// Fields identifying a record.
    pub primary_key: Vec<String>,
    /// The field incremental syncs advance on.
    pub cursor_field: Option<String>,
    /// Supported modes.
    pub sync_modes: Vec<SyncMode>,
}

/// A batch of records.
#[derive(Debug, Clone, Serialize)]
pub struct Batch {
    /// The records, each checked to be JSON.
    pub records: Vec<Box<RawValue>>,
    /// The state to resume after this batch.
    pub state: Option<Box<RawValue>>,
    /// Whether more follow.
    pub has_more: bool,
}

/// An action a connector offers.
#[derive(Debug, Clone, Serialize)]
pub struct ActionSpec {
    /// The action's name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// JSON Schema of its input.
    pub input_schema: Box<RawValue>,
}

/// What an action would change, as the connector read it from the
/// platform: the figures the host's guardrails are computed from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ActionPreview {
    /// The kind of object changed, for example `campaign`.
    pub target_kind: String,
    /// The platform's id of that object.
    pub target_id: String,
    /// What changes, for example `daily-budget`.
    pub metric: String,
    /// Its value now, as the platform reports it.
    pub current: f64,
    /// Its value after the action.
    pub after: f64,
    /// An ISO 4217 currency code for money, otherwise a unit such as
    /// `status`.
    pub unit: String,
}

/// An event from a verified webhook.
#[derive(Debug, Clone, Serialize)]
pub struct WebhookEvent {
    /// The platform's event type.
    pub kind: String,
    /// The payload.
    pub payload: Box<RawValue>,
}

/// What an agent is.
#[derive(Debug, Clone, Serialize)]
pub struct AgentInfo {
    /// Its name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// Its tasks.
    pub tasks: Vec<TaskSpec>,
}

/// A kind of task an agent runs.
#[derive(Debug, Clone, Serialize)]
pub struct TaskSpec {
    /// The task kind.
    pub kind: String,
    /// What it does.
    pub description: String,
    /// JSON Schema of its input.
    pub input_schema: Box<RawValue>,
}

/// What an agent run produced.
#[derive(Debug, Clone, Serialize)]
pub struct RunOutput {
    /// Findings.
    pub insights: Vec<Insight>,
    /// Proposed actions.
    pub proposals: Vec<Proposal>,
}

/// A finding.
#[derive(Debug, Clone, Serialize)]
pub struct Insight {
    /// A stable kind.
    pub kind: String,
    /// A one-line title.
    pub title: String,
    /// `info`, `notice`, `warning` or `critical`.
    pub severity: &'static str,
    /// Reasoning with numbers.
    pub rationale: String,
    /// The figures behind it.
    pub data: Box<RawValue>,
}

/// A proposed action.
#[derive(Debug, Clone, Serialize)]
pub struct Proposal {
    /// The connector that would perform it.
    pub connector: String,
    /// The action.
    pub action: String,
    /// The action's input.
    pub input: Box<RawValue>,
    /// 0.0 to 1.0.
    pub confidence: f64,
    /// The metric that changes.
    pub impact_metric: String,
    /// The change in the metric's unit.
    pub impact_absolute: f64,
    /// The change in percent.
    pub impact_percent: f64,
    /// Reasoning with numbers.
    pub rationale: String,
}

/// A guest returned a value the contract does not allow: text that should
/// be JSON and is not, or a number that is not finite.
#[derive(Debug, thiserror::Error)]
pub enum InvalidJson {
    /// Text that should be JSON.
    #[error("the plugin returned invalid JSON in {field}: {error}")]
    Json {
        /// Where.
        field: &'static str,
        /// The parse error.
        error: serde_json::Error,
    },
    /// A number that must be finite.
    #[error("the plugin returned a number that is not finite in {0}")]
    NotFinite(&'static str),
    /// More items than the contract's host allows.
    #[error("the plugin returned {count} {what}; at most {limit} are allowed")]
    TooMany {
        /// What.
        what: &'static str,
        /// How many it returned.
        count: usize,
        /// The most allowed.
        limit: usize,
    },
}

/// The most insights one agent run may return.
pub const MAX_INSIGHTS_PER_RUN: usize = 500;

/// The most proposals one agent run may return: each is checked and
/// previewed by the host.
pub const MAX_PROPOSALS_PER_RUN: usize = 200;

fn json(field: &'static str, text: String) -> Result<Box<RawValue>, InvalidJson> {
    RawValue::from_string(text).map_err(|error| InvalidJson::Json { field, error })
}

fn mode(mode: connector_wit::SyncMode) -> SyncMode {
    match mode {
        connector_wit::SyncMode::FullRefresh => SyncMode::FullRefresh,
        connector_wit::SyncMode::Incremental => SyncMode::Incremental,
    }
}

impl CallOutput {
    pub(crate) fn spec(schema: String) -> Result<Self, InvalidJson> {
        Ok(Self::Spec(json("spec", schema)?))
    }

    pub(crate) fn discover(streams: Vec<connector_wit::StreamSpec>) -> Result<Self, InvalidJson> {
        let streams = streams
            .into_iter()
            .map(|s| {
                Ok(StreamSpec {
                    name: s.name,
                    json_schema: json("stream json-schema", s.json_schema)?,
                    primary_key: s.primary_key,
                    cursor_field: s.cursor_field,
                    sync_modes: s.sync_modes.into_iter().map(mode).collect(),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self::Discover(streams))
    }

    pub(crate) fn read(batch: connector_wit::Batch) -> Result<Self, InvalidJson> {
        Ok(Self::Read(Batch {
            records: batch
                .records
                .into_iter()
                .map(|r| json("record", r))
                .collect::<Result<_, _>>()?,
            state: batch.state.map(|s| json("state", s)).transpose()?,
            has_more: batch.has_more,
        }))
    }

    pub(crate) fn actions(actions: Vec<connector_wit::ActionSpec>) -> Result<Self, InvalidJson> {
        let actions = actions
            .into_iter()
            .map(|a| {
                Ok(ActionSpec {
                    name: a.name,
                    description: a.description,
                    input_schema: json("action input-schema", a.input_schema)?,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self::Actions(actions))
    }

    pub(crate) fn act(result: String) -> Result<Self, InvalidJson> {
        Ok(Self::Act(json("act result", result)?))
    }

    pub(crate) fn preview(preview: connector_wit::ActionPreview) -> Result<Self, InvalidJson> {
        if !preview.current.is_finite() {
            return Err(InvalidJson::NotFinite("preview current"));
        }
        if !preview.after.is_finite() {
            return Err(InvalidJson::NotFinite("preview after"));
        }
        Ok(Self::Preview(ActionPreview {
            target_kind: preview.target_kind,
            target_id: preview.target_id,
            metric: preview.metric,
            current: preview.current,
            after: preview.after,
            unit: preview.unit,
        }))
    }

    pub(crate) fn webhook(events: Vec<connector_wit::WebhookEvent>) -> Result<Self, InvalidJson> {
        let events = events
            .into_iter()
            .map(|e| {
                Ok(WebhookEvent {
                    kind: e.kind,
                    payload: json("webhook payload", e.payload)?,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self::VerifyWebhook(events))
    }

    pub(crate) fn describe(info: agent_wit::AgentInfo) -> Result<Self, InvalidJson> {
        let tasks = info
            .tasks
            .into_iter()
            .map(|t| {
                Ok(TaskSpec {
                    kind: t.kind,
                    description: t.description,
                    input_schema: json("task input-schema", t.input_schema)?,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self::Describe(AgentInfo {
            name: info.name,
            description: info.description,
            tasks,
        }))
    }

    pub(crate) fn run(output: agent_wit::RunOutput) -> Result<Self, InvalidJson> {
        for (what, count, limit) in [
            ("insights", output.insights.len(), MAX_INSIGHTS_PER_RUN),
            ("proposals", output.proposals.len(), MAX_PROPOSALS_PER_RUN),
        ] {
            if count > limit {
                return Err(InvalidJson::TooMany { what, count, limit });
            }
        }
        let insights = output
            .insights
            .into_iter()
            .map(|i| {
                Ok(Insight {
                    kind: i.kind,
                    title: i.title,
                    severity: match i.severity {
                        agent_wit::Severity::Info => "info",
                        agent_wit::Severity::Notice => "notice",
                        agent_wit::Severity::Warning => "warning",
                        agent_wit::Severity::Critical => "critical",
                    },
                    rationale: i.rationale,
                    data: json("insight data", i.data)?,
                })
            })
            .collect::<Result<_, _>>()?;
        let proposals = output
            .proposals
            .into_iter()
            .map(|p| {
                Ok(Proposal {
                    connector: p.connector,
                    action: p.action,
                    input: json("proposal input", p.input)?,
                    confidence: p.confidence,
                    impact_metric: p.expected_impact.metric,
                    impact_absolute: p.expected_impact.absolute,
                    impact_percent: p.expected_impact.percent,
                    rationale: p.rationale,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self::Run(RunOutput { insights, proposals }))
    }

    /// Roughly how many bytes the output holds: the text the guest returned.
    pub fn size_bytes(&self) -> usize {
        let raw = |v: &RawValue| v.get().len();
        match self {
            Self::Spec(v) | Self::Act(v) => raw(v),
            Self::Check => 0,
            Self::Preview(p) => p.target_kind.len() + p.target_id.len() + p.metric.len() + p.unit.len() + 16,
            Self::Discover(streams) => streams
                .iter()
                .map(|s| {
                    s.name.len() + raw(&s.json_schema) + s.primary_key.iter().map(String::len).sum::<usize>()
                })
                .sum(),
            Self::Read(batch) => {
                batch.records.iter().map(|r| raw(r)).sum::<usize>() + batch.state.as_deref().map_or(0, raw)
            }
            Self::Actions(actions) => actions
                .iter()
                .map(|a| a.name.len() + a.description.len() + raw(&a.input_schema))
                .sum(),
            Self::VerifyWebhook(events) => events.iter().map(|e| e.kind.len() + raw(&e.payload)).sum(),
            Self::Describe(info) => {
                info.name.len()
                    + info.description.len()
                    + info
                        .tasks
                        .iter()
                        .map(|t| t.kind.len() + t.description.len() + raw(&t.input_schema))
                        .sum::<usize>()
            }
            Self::Run(output) => {
                output
                    .insights
                    .iter()
                    .map(|i| i.kind.len() + i.title.len() + i.rationale.len() + raw(&i.data))
                    .sum::<usize>()
                    + output
                        .proposals
                        .iter()
                        .map(|p| p.connector.len() + p.action.len() + raw(&p.input) + p.rationale.len())
                        .sum::<usize>()
            }
        }
    }
}
