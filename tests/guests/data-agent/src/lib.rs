//! An agent that counts the records of the streams a task names, to test the
//! `data` capability and the agent world; and that proposes exactly what a
//! `propose` task gives it (claims, NaNs and all), to test what the host
//! does with proposals.

use omnify_sdk::agent::{Agent, AgentInfo, Impact, Insight, Proposal, RunOutput, Severity, Task, TaskSpec};
use omnify_sdk::{Error, Value, json};

struct Counter;

impl Agent for Counter {
    fn describe() -> AgentInfo {
        AgentInfo {
            name: "data-agent".into(),
            description: "Counts records in the streams it is asked about".into(),
            tasks: vec![
                TaskSpec {
                    kind: "count".into(),
                    description: "Count the records of each stream in `streams`".into(),
                    input_schema: json!({"type": "object", "properties": {"streams": {"type": "array"}}}),
                },
                TaskSpec {
                    kind: "propose".into(),
                    description: "Return the `proposals` and `insights` of the input as they are".into(),
                    input_schema: json!({"type": "object"}),
                },
            ],
        }
    }

    fn run(task: Task) -> Result<RunOutput, Error> {
        if task.kind == "propose" {
            return echo(&task.input);
        }
        if task.kind != "count" {
            return Err(Error::not_found(format!("no task `{}`", task.kind)));
        }
        let streams = task
            .input
            .get("streams")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut output = RunOutput::default();
        for stream in streams {
            let name = stream.as_str().unwrap_or_default();
            let (connector, stream) = name
                .split_once('/')
                .ok_or_else(|| Error::invalid_input(format!("`{name}` is not connector/stream")))?;
            let mut count = 0u64;
            let mut spend = 0.0;
            for record in omnify_sdk::data::records::<Value>(connector, stream) {
                let record = record?;
                count += 1;
                spend += record.get("spend").and_then(Value::as_f64).unwrap_or(0.0);
            }
            output.insights.push(Insight {
                kind: "record-count".into(),
                title: format!("{name} has {count} records"),
                severity: Severity::Info,
                rationale: format!("Read {count} records with a total spend of {spend:.2}."),
                data: json!({"stream": name, "count": count, "spend": spend}),
            });
            if spend > 100.0 {
                output.proposals.push(Proposal {
                    connector: connector.into(),
                    action: "set-daily-budget".into(),
                    input: json!({"amount": spend * 0.9}),
                    confidence: 0.8,
                    expected_impact: Impact {
                        metric: "daily-budget".into(),
                        absolute: -spend * 0.1,
                        percent: -10.0,
                    },
                    rationale: format!("Spend of {spend:.2} is above 100; trim it by 10%."),
                });
            }
        }
        Ok(output)
    }
}

/// The proposals and insights `input` describes.
fn echo(input: &Value) -> Result<RunOutput, Error> {
    let list = |name: &str| {
        input
            .get(name)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let text = |value: &Value, name: &str| {
        value
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    // JSON has no NaN or infinity; the strings stand for them, so that a
    // test can make this agent return what a buggy agent computes.
    let number = |value: &Value, name: &str| match value.get(name) {
        Some(Value::String(text)) if text == "nan" => f64::NAN,
        Some(Value::String(text)) if text == "inf" => f64::INFINITY,
        Some(Value::String(text)) if text == "-inf" => f64::NEG_INFINITY,
        other => other.and_then(Value::as_f64).unwrap_or_default(),
    };
    let mut output = RunOutput::default();
    for p in list("proposals") {
        output.proposals.push(Proposal {
            connector: text(&p, "connector"),
            action: text(&p, "action"),
            input: p.get("input").cloned().unwrap_or_default(),
            confidence: number(&p, "confidence"),
            expected_impact: Impact {
                metric: text(&p, "metric"),
                absolute: number(&p, "absolute"),
                percent: number(&p, "percent"),
            },
            rationale: text(&p, "rationale"),
        });
    }
    for i in list("insights") {
        output.insights.push(Insight {
            kind: text(&i, "kind"),
            title: text(&i, "title"),
            severity: Severity::Info,
            rationale: text(&i, "rationale"),
            data: i.get("data").cloned().unwrap_or_default(),
        });
    }
    Ok(output)
}

omnify_sdk::export_agent!(Counter);
