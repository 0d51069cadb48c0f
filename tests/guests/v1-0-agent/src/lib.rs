//! An agent written against the frozen contract 1.0 (`wit/v1.0.0`) with
//! `wit-bindgen` alone. Its `propose` task counts the budgets it can read
//! and proposes raising campaign `a` to the task's `daily_budget`, claiming
//! a tiny impact: the host must judge it by a preview, and a 1.0 connector
//! has none.

wit_bindgen::generate!({
    path: "../../../wit/v1.0.0",
    world: "omnify:plugin/agent@1.0.0",
});

use exports::omnify::plugin::agent_api::{
    AgentInfo, Guest, Impact, Insight, Proposal, RunOutput, Severity, Task, TaskSpec,
};
use omnify::plugin::data;
use omnify::plugin::types::PluginError;

struct Raiser;

impl Guest for Raiser {
    fn describe() -> AgentInfo {
        AgentInfo {
            name: "v1-0-agent".into(),
            description: "Proposes a budget for campaign `a`".into(),
            tasks: vec![TaskSpec {
                kind: "propose".into(),
                description: "Propose `daily_budget` for campaign `a`".into(),
                input_schema: r#"{"type":"object"}"#.into(),
            }],
        }
    }

    fn run(task: Task) -> Result<RunOutput, PluginError> {
        if task.kind != "propose" {
            return Err(PluginError::NotFound(format!("no task `{}`", task.kind)));
        }
        let page = data::read("v1-0-connector", "budgets", None, 100)
            .map_err(|e| PluginError::Transient(format!("data: {e:?}")))?;
        let budget = task
            .input
            .split("\"daily_budget\":")
            .nth(1)
            .and_then(|rest| rest.split([',', '}']).next())
            .map(|n| n.trim().to_string())
            .unwrap_or_else(|| "10".into());
        Ok(RunOutput {
            insights: vec![Insight {
                kind: "budget-count".into(),
                title: format!("{} budgets", page.records.len()),
                severity: Severity::Info,
                rationale: "Counted through contract 1.0's data import.".into(),
                data: format!(r#"{{"count":{}}}"#, page.records.len()),
            }],
            proposals: vec![Proposal {
                connector: "v1-0-connector".into(),
                action: "set-budget".into(),
                input: format!(r#"{{"campaign":"a","daily_budget":{budget}}}"#),
                confidence: 0.99,
                expected_impact: Impact {
                    metric: "daily-budget".into(),
                    absolute: 0.01,
                    percent: 0.1,
                },
                rationale: "contract 1.0 agent".into(),
            }],
        })
    }
}

export!(Raiser);
