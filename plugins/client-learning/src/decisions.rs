//! Reading the decisions out of `omnify/proposals` records and tallying them
//! by action and size.

use crate::posterior::Counts;
use serde_json::Value;
use std::collections::BTreeMap;

/// Proposals whose |impact percent| is at most this are "small", as the host
/// buckets them; used only when a record lacks its `size`.
pub const SMALL_PERCENT: f64 = 10.0;

/// How big a proposed change is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Size {
    /// |impact percent| ≤ 10.
    Small,
    /// |impact percent| > 10.
    Large,
}

impl Size {
    /// The name used in threshold keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Size::Small => "small",
            Size::Large => "large",
        }
    }
}

/// What a human decided on one proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Approved as proposed.
    Approved,
    /// Approved with a changed input.
    Edited,
    /// Rejected.
    Rejected,
}

/// Decisions on one action, in total and by size.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ActionTally {
    /// Decisions by size; proposals of unknown size count only in `pooled`.
    pub by_size: BTreeMap<Size, Counts>,
    /// All decisions on the action, whatever their size.
    pub pooled: Counts,
}

/// Every human decision found, by action, and what was left out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    /// By action name, for example `set-daily-budget`.
    pub actions: BTreeMap<String, ActionTally>,
    /// Proposals executed by policy: not evidence of what the tenant prefers.
    pub auto: u32,
    /// Proposals nobody has decided on yet.
    pub undecided: u32,
    /// Records without an action name, which cannot be attributed.
    pub malformed: u32,
}

/// The size of a proposal: its `size` field, else from `impact.percent`.
fn size_of(record: &Value) -> Option<Size> {
    match record.get("size").and_then(Value::as_str) {
        Some("small") => return Some(Size::Small),
        Some("large") => return Some(Size::Large),
        _ => {}
    }
    let percent = record.get("impact")?.get("percent")?.as_f64()?;
    Some(if percent.abs() <= SMALL_PERCENT {
        Size::Small
    } else {
        Size::Large
    })
}

/// The human decision on a proposal, if there is one.
fn decision_of(record: &Value) -> Option<Decision> {
    match record.get("decision").and_then(Value::as_str)? {
        "approved" => Some(Decision::Approved),
        "edited" => Some(Decision::Edited),
        "rejected" => Some(Decision::Rejected),
        _ => None,
    }
}

impl Tally {
    /// Count one `omnify/proposals` record; missing or odd fields never fail.
    pub fn add(&mut self, record: &Value) {
        let action = record
            .get("action")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|a| !a.is_empty());
        let Some(action) = action else {
            self.malformed += 1;
            return;
        };
        let Some(decision) = decision_of(record) else {
            // "auto" was the host's policy acting, not the tenant choosing;
            // anything else (null, absent, unknown) is not a decision yet.
            if record.get("decision").and_then(Value::as_str) == Some("auto") {
                self.auto += 1;
            } else {
                self.undecided += 1;
            }
            return;
        };
        let one = match decision {
            Decision::Approved => Counts {
                approved: 1,
                ..Counts::default()
            },
            Decision::Edited => Counts {
                edited: 1,
                ..Counts::default()
            },
            Decision::Rejected => Counts {
                rejected: 1,
                ..Counts::default()
            },
        };
        let tally = self.actions.entry(action.to_string()).or_default();
        tally.pooled = tally.pooled.plus(one);
        if let Some(size) = size_of(record) {
            let counts = tally.by_size.entry(size).or_default();
            *counts = counts.plus(one);
        }
    }

    /// The tally of many records.
    pub fn of<'a>(records: impl IntoIterator<Item = &'a Value>) -> Tally {
        let mut tally = Tally::default();
        for record in records {
            tally.add(record);
        }
        tally
    }

    /// All human decisions counted.
    pub fn decided(&self) -> u32 {
        self.actions.values().map(|a| a.pooled.total()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn proposal(action: &str, size: &str, decision: Value) -> Value {
        json!({"id": "p", "agent": "analytics", "connector": "meta-ads", "action": action,
               "size": size, "status": "approved", "decision": decision})
    }

    #[test]
    fn tallies_by_action_and_size() {
        let records = [
            proposal("set-daily-budget", "small", json!("approved")),
            proposal("set-daily-budget", "small", json!("approved")),
            proposal("set-daily-budget", "small", json!("edited")),
            proposal("set-daily-budget", "large", json!("rejected")),
            proposal("pause-ad", "small", json!("approved")),
        ];
        let tally = Tally::of(&records);
        let budget = &tally.actions["set-daily-budget"];
        assert_eq!(
            budget.by_size[&Size::Small],
            Counts {
                approved: 2,
                edited: 1,
                rejected: 0
            }
        );
        assert_eq!(budget.by_size[&Size::Large].rejected, 1);
        assert_eq!(budget.pooled.total(), 4);
        assert_eq!(tally.actions["pause-ad"].pooled.approved, 1);
        assert_eq!(tally.decided(), 5);
    }

    #[test]
    fn auto_and_undecided_are_ignored() {
        let records = [
            proposal("set-daily-budget", "small", json!("auto")),
            proposal("set-daily-budget", "small", Value::Null),
            json!({"action": "set-daily-budget", "size": "small", "status": "pending"}),
            proposal("set-daily-budget", "small", json!("approved")),
        ];
        let tally = Tally::of(&records);
        assert_eq!(tally.auto, 1);
        assert_eq!(tally.undecided, 2);
        assert_eq!(tally.decided(), 1);
        assert_eq!(tally.actions["set-daily-budget"].pooled.approved, 1);
        // Only auto or undecided proposals leave no trace of the action.
        let tally = Tally::of(&records[..3]);
        assert!(tally.actions.is_empty());
    }

    #[test]
    fn size_falls_back_to_impact_percent_and_bad_records_are_skipped() {
        let records = [
            json!({"action": "set-daily-budget", "decision": "approved", "impact": {"percent": -8.0}}),
            json!({"action": "set-daily-budget", "decision": "approved", "impact": {"percent": 15.0}}),
            json!({"action": "pause-ad", "decision": "rejected"}),
            json!({"decision": "approved", "size": "small"}),
            json!({"action": "  ", "decision": "approved"}),
            json!("not an object"),
        ];
        let tally = Tally::of(&records);
        let budget = &tally.actions["set-daily-budget"];
        assert_eq!(budget.by_size[&Size::Small].approved, 1);
        assert_eq!(budget.by_size[&Size::Large].approved, 1);
        // Unknown size: counted for the action, not for any size.
        let pause = &tally.actions["pause-ad"];
        assert_eq!(pause.pooled.rejected, 1);
        assert!(pause.by_size.is_empty());
        assert_eq!(tally.malformed, 3);
    }
}
