//! The client-learning agent: learns from a tenant's decisions on past
//! proposals how much confidence each kind of proposal needs before the host
//! may run it unattended.
//!
//! The analysis lives in pure modules: [`posterior`] (Beta posteriors, with
//! statrs's Beta distribution, and the threshold rule), [`decisions`]
//! (reading and tallying `omnify/proposals`) and [`report`] (the insights).
//! This file only reads the records and wires the task to them.

pub mod decisions;
pub mod posterior;
pub mod report;

use decisions::Tally;
use omnify_sdk::agent::{Agent, AgentInfo, RunOutput, Task, TaskSpec};
use omnify_sdk::{Error, Value, json};

/// The only task this agent runs.
pub const TASK_KIND: &str = "learn-preferences";

/// The agent exported to the host.
pub struct ClientLearning;

impl Agent for ClientLearning {
    fn describe() -> AgentInfo {
        AgentInfo {
            name: "client-learning".into(),
            description: "Learns from your decisions on past proposals how confident each kind of \
                          proposal must be to run without your approval"
                .into(),
            tasks: vec![TaskSpec {
                kind: TASK_KIND.into(),
                description: "Compute Beta posteriors of your approval rate per action and size and \
                              the confidence thresholds for unattended runs"
                    .into(),
                input_schema: json!({
                    "type": "object",
                    "properties": {
                        "prior": {
                            "type": "object",
                            "description": "Beta prior on the approval rate of a kind never decided",
                            "properties": {
                                "alpha": {"type": "number", "exclusiveMinimum": 0, "default": 2},
                                "beta": {"type": "number", "exclusiveMinimum": 0, "default": 2}
                            }
                        },
                        "target": {
                            "type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1, "default": 0.8,
                            "description": "Approval rate a kind must be shown to exceed to need less confidence"
                        },
                        "default_threshold": {
                            "type": "number", "exclusiveMinimum": 0, "maximum": 1, "default": 0.8,
                            "description": "Confidence needed with no decisions to learn from"
                        }
                    }
                }),
            }],
        }
    }

    fn run(task: Task) -> Result<RunOutput, Error> {
        if task.kind != TASK_KIND {
            return Err(Error::not_found(format!("no task `{}`", task.kind)));
        }
        let rule = report::rule_from_input(&task.input)?;
        let mut tally = Tally::default();
        // A stream never written reads as empty, which yields the defaults. A
        // read error fails the run instead, so the host keeps the thresholds it
        // had rather than replacing them with defaults learned from nothing.
        for record in omnify_sdk::data::records::<Value>("omnify", "proposals") {
            tally.add(&record?);
        }
        omnify_sdk::info!(
            "{} decisions on {} actions ({} auto, {} undecided)",
            tally.decided(),
            tally.actions.len(),
            tally.auto,
            tally.undecided
        );
        Ok(report::build(&tally, &rule))
    }
}

omnify_sdk::export_agent!(ClientLearning);
