//! Writing an agent: implement [`Agent`] and export it with
//! [`export_agent!`](crate::export_agent).

use crate::Error;
use serde_json::Value;

/// A kind of task the agent can run.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSpec {
    /// For example `daily-review`.
    pub kind: String,
    /// What it does, for people.
    pub description: String,
    /// JSON Schema of the task's input.
    pub input_schema: Value,
}

/// What the agent is and what it can do.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentInfo {
    /// The agent's name.
    pub name: String,
    /// What it does, for people.
    pub description: String,
    /// The tasks it runs.
    pub tasks: Vec<TaskSpec>,
}

/// A task to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// One of the agent's task kinds.
    pub kind: String,
    /// The task's input.
    pub input: Value,
}

impl Task {
    /// A task of `kind` with `input`, the input of [`Agent::run`].
    pub fn new(kind: &str, input: Value) -> Self {
        Self {
            kind: kind.to_string(),
            input,
        }
    }
}

/// How urgent an insight is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// For the record.
    Info,
    /// Worth a look.
    Notice,
    /// Needs attention soon.
    Warning,
    /// Needs attention now.
    Critical,
}

/// Something the agent found.
#[derive(Debug, Clone, PartialEq)]
pub struct Insight {
    /// A stable kind, for example `spend-anomaly`.
    pub kind: String,
    /// A one-line title.
    pub title: String,
    /// How urgent it is.
    pub severity: Severity,
    /// Plain-language reasoning with the numbers behind it.
    pub rationale: String,
    /// The figures behind it.
    pub data: Value,
}

/// The expected effect of a proposal.
#[derive(Debug, Clone, PartialEq)]
pub struct Impact {
    /// What changes, for example `daily-budget`.
    pub metric: String,
    /// The change in the metric's unit.
    pub absolute: f64,
    /// The change in percent of the current value.
    pub percent: f64,
}

/// An action proposed on a connector.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    /// The connector plugin that would perform it.
    pub connector: String,
    /// One of that connector's actions.
    pub action: String,
    /// The action's input.
    pub input: Value,
    /// From 0.0 to 1.0.
    pub confidence: f64,
    /// The expected effect.
    pub expected_impact: Impact,
    /// Plain-language reasoning with the numbers behind it.
    pub rationale: String,
}

/// What a run produced.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunOutput {
    /// What the agent found.
    pub insights: Vec<Insight>,
    /// What it proposes to do.
    pub proposals: Vec<Proposal>,
}

/// An agent. Each method runs in a fresh instance.
pub trait Agent {
    /// Describe the agent and its tasks.
    fn describe() -> AgentInfo;

    /// Run one task.
    fn run(task: Task) -> Result<RunOutput, Error>;
}

/// Glue between [`Agent`] and the generated bindings, used by
/// [`export_agent!`](crate::export_agent).
#[doc(hidden)]
pub mod glue {
    use super::*;
    use crate::bindings::agent_world::exports::omnify::plugin::agent_api as wit;
    use crate::bindings::imports::types::PluginError;

    pub fn describe<A: Agent>() -> wit::AgentInfo {
        let info = A::describe();
        wit::AgentInfo {
            name: info.name,
            description: info.description,
            tasks: info
                .tasks
                .into_iter()
                .map(|t| wit::TaskSpec {
                    kind: t.kind,
                    description: t.description,
                    input_schema: t.input_schema.to_string(),
                })
                .collect(),
        }
    }

    pub fn run<A: Agent>(task: wit::Task) -> Result<wit::RunOutput, PluginError> {
        let input = serde_json::from_str(&task.input)
            .map_err(|e| PluginError::InvalidInput(format!("task input is not JSON: {e}")))?;
        let output = A::run(Task {
            kind: task.kind,
            input,
        })?;
        Ok(wit::RunOutput {
            insights: output
                .insights
                .into_iter()
                .map(|i| wit::Insight {
                    kind: i.kind,
                    title: i.title,
                    severity: match i.severity {
                        Severity::Info => wit::Severity::Info,
                        Severity::Notice => wit::Severity::Notice,
                        Severity::Warning => wit::Severity::Warning,
                        Severity::Critical => wit::Severity::Critical,
                    },
                    rationale: i.rationale,
                    data: i.data.to_string(),
                })
                .collect(),
            proposals: output
                .proposals
                .into_iter()
                .map(|p| wit::Proposal {
                    connector: p.connector,
                    action: p.action,
                    input: p.input.to_string(),
                    confidence: p.confidence,
                    expected_impact: wit::Impact {
                        metric: p.expected_impact.metric,
                        absolute: p.expected_impact.absolute,
                        percent: p.expected_impact.percent,
                    },
                    rationale: p.rationale,
                })
                .collect(),
        })
    }
}

/// Export a type implementing [`Agent`] as this component's agent.
///
/// ```no_run
/// use omnify_sdk::agent::{Agent, AgentInfo, RunOutput, Task};
/// use omnify_sdk::Error;
///
/// struct Quiet;
///
/// impl Agent for Quiet {
///     fn describe() -> AgentInfo {
///         AgentInfo { name: "quiet".into(), description: "finds nothing".into(), tasks: vec![] }
///     }
///     fn run(_task: Task) -> Result<RunOutput, Error> {
///         Ok(RunOutput::default())
///     }
/// }
///
/// omnify_sdk::export_agent!(Quiet);
/// ```
#[macro_export]
macro_rules! export_agent {
    ($agent:ty) => {
        // Exports exist only in the component. A native build of the same
        // crate (for its unit tests) exports nothing, but refers to the
        // implementation so that it does not read as dead code.
        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            use $crate::agent::Agent as __Agent;
            let _ = (<$agent as __Agent>::describe, <$agent as __Agent>::run);
        };
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            use $crate::agent::glue as __glue;
            use $crate::bindings::agent_world::exports::omnify::plugin::agent_api as __wit;
            use $crate::bindings::imports::types::PluginError as __PluginError;

            struct __OmnifyAgent;

            impl __wit::Guest for __OmnifyAgent {
                fn describe() -> __wit::AgentInfo {
                    __glue::describe::<$agent>()
                }
                fn run(task: __wit::Task) -> ::std::result::Result<__wit::RunOutput, __PluginError> {
                    __glue::run::<$agent>(task)
                }
            }

            $crate::bindings::agent_world::__export_agent_world!(__OmnifyAgent with_types_in $crate::bindings::agent_world);
        };
    };
}
