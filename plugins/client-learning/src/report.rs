//! Turning the task's input and the tally of decisions into the agent's
//! insights: the `confidence-thresholds` table the host reads, and one
//! plain-language insight per action for people.

use crate::decisions::{ActionTally, Tally};
use crate::posterior::{BetaDist, Counts, Learned, Rule};
use omnify_sdk::agent::{Insight, RunOutput, Severity};
use omnify_sdk::{Error, Value, json};
use serde_json::Map;

/// The kind of the insight the host reads thresholds from.
pub const THRESHOLDS_KIND: &str = "confidence-thresholds";
/// The kind of the per-action, plain-language insights.
pub const PREFERENCE_KIND: &str = "approval-preference";
/// A threshold this far from the default is worth a person's notice.
const NOTABLE_SHIFT: f64 = 0.1;

/// An optional number field of the input, checked to lie in `range`.
fn number(input: &Value, path: &[&str], ok: impl Fn(f64) -> bool, what: &str) -> Result<Option<f64>, Error> {
    let mut value = input;
    for key in path {
        match value.get(key) {
            Some(v) if !v.is_null() => value = v,
            _ => return Ok(None),
        }
    }
    let name = path.join(".");
    match value.as_f64() {
        Some(x) if x.is_finite() && ok(x) => Ok(Some(x)),
        _ => Err(Error::invalid_input(format!(
            "`{name}` must be {what}, not {value}"
        ))),
    }
}

/// The threshold rule's settings from the task input; absent fields take defaults.
pub fn rule_from_input(input: &Value) -> Result<Rule, Error> {
    let defaults = Rule::default();
    let positive = |x: f64| x > 0.0;
    Ok(Rule {
        prior: BetaDist {
            alpha: number(input, &["prior", "alpha"], positive, "a positive number")?
                .unwrap_or(defaults.prior.alpha),
            beta: number(input, &["prior", "beta"], positive, "a positive number")?
                .unwrap_or(defaults.prior.beta),
        },
        target: number(
            input,
            &["target"],
            |x| x > 0.0 && x < 1.0,
            "strictly between 0 and 1",
        )?
        .unwrap_or(defaults.target),
        default: number(
            input,
            &["default_threshold"],
            |x| x > 0.0 && x <= 1.0,
            "in (0, 1]",
        )?
        .unwrap_or(defaults.default),
    })
}

/// Rounded for a readable table; four decimals are far below any decision's effect.
fn round4(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

/// How people call proposals of an action, plural.
pub fn action_noun(action: &str) -> String {
    match action {
        "set-daily-budget" => "budget changes".into(),
        "pause-campaign" => "campaign pauses".into(),
        "resume-campaign" => "campaign resumptions".into(),
        "pause-ad" => "ad pauses".into(),
        "create-refund" => "refunds".into(),
        other => format!("`{other}` proposals"),
    }
}

/// "You approved 9 of 10 small budget changes (2 after editing) and rejected 1".
fn decisions_sentence(counts: Counts, noun: &str) -> String {
    let positive = counts.approved + counts.edited;
    let mut sentence = format!("You approved {positive} of {} {noun}", counts.total());
    if counts.edited > 0 {
        sentence.push_str(&format!(" ({} after editing)", counts.edited));
    }
    if counts.rejected > 0 {
        sentence.push_str(&format!(" and rejected {}", counts.rejected));
    }
    sentence
}

/// The effect of one kind's threshold, with the figures behind it.
fn threshold_sentence(learned: &Learned, rule: &Rule, noun: &str) -> String {
    format!(
        "{noun} now run unattended only at confidence ≥ {:.2} (default {:.2}); estimated approval rate \
         {:.0}% (Beta({}, {})), chance that you approve at least {:.0}% of them: {}",
        learned.threshold,
        rule.default,
        100.0 * learned.posterior.mean(),
        learned.posterior.alpha,
        learned.posterior.beta,
        100.0 * rule.target,
        percent(learned.probability_above_target),
    )
}

/// A probability as a percentage, without rounding a small one to "0%".
fn percent(probability: f64) -> String {
    match 100.0 * probability {
        p if p > 0.0 && p < 1.0 => "<1%".into(),
        p if p > 99.0 && p < 100.0 => ">99%".into(),
        p => format!("{p:.0}%"),
    }
}

/// `n` and the noun, singular for one.
fn count(n: usize, singular: &str, plural: &str) -> String {
    format!("{n} {}", if n == 1 { singular } else { plural })
}

/// The insight explaining what was learned about one action.
fn action_insight(action: &str, tally: &ActionTally, rule: &Rule) -> Insight {
    let noun = action_noun(action);
    let pooled = rule.learn(tally.pooled);
    let mut sentences = Vec::new();
    let mut by_size = Map::new();
    let mut shift: f64 = (pooled.threshold - rule.default).abs();
    let mut title_parts = Vec::new();
    for (size, counts) in &tally.by_size {
        let learned = rule.learn(*counts);
        shift = shift.max((learned.threshold - rule.default).abs());
        let sized = format!("{} {noun}", size.as_str());
        sentences.push(format!(
            "{}: {}.",
            decisions_sentence(*counts, &sized),
            threshold_sentence(&learned, rule, &capitalize(&sized))
        ));
        title_parts.push(format!("≥ {:.2} when {}", learned.threshold, size.as_str()));
        by_size.insert(size.as_str().into(), json!(round4(learned.threshold)));
    }
    // Sizes are the finer key the host prefers; the pooled figure matters on
    // its own only when some decisions have no size or sizes are missing.
    let sized_total: u32 = tally.by_size.values().map(Counts::total).sum();
    if tally.by_size.len() != 2 || sized_total != tally.pooled.total() {
        let scope = if tally.by_size.is_empty() {
            String::new()
        } else {
            " of any size".to_string()
        };
        sentences.push(format!(
            "{}{scope}: {}.",
            decisions_sentence(tally.pooled, &noun),
            threshold_sentence(&pooled, rule, &capitalize(&format!("{noun}{scope}")))
        ));
    }
    if title_parts.is_empty() {
        title_parts.push(format!("≥ {:.2}", pooled.threshold));
    }
    Insight {
        kind: PREFERENCE_KIND.into(),
        title: format!(
            "{} run unattended at confidence {}",
            capitalize(&noun),
            title_parts.join(", ")
        ),
        severity: if shift >= NOTABLE_SHIFT {
            Severity::Notice
        } else {
            Severity::Info
        },
        rationale: sentences.join(" "),
        data: json!({
            "action": action,
            "threshold": round4(pooled.threshold),
            "thresholds_by_size": by_size,
            "approved": tally.pooled.approved,
            "edited": tally.pooled.edited,
            "rejected": tally.pooled.rejected,
            "probability_above_target": round4(pooled.probability_above_target),
            "ln_bayes_factor": round4(pooled.ln_bayes_factor),
        }),
    }
}

/// The first letter upper-cased, for sentence starts.
fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The `evidence` entry of one `<action>:<size>` key.
fn evidence(counts: Counts, learned: &Learned) -> Value {
    json!({
        "approved": counts.approved,
        "edited": counts.edited,
        "rejected": counts.rejected,
        "alpha": learned.posterior.alpha,
        "beta": learned.posterior.beta,
        "mean": round4(learned.posterior.mean()),
    })
}

/// The agent's output for a tally of decisions under a rule.
pub fn build(tally: &Tally, rule: &Rule) -> RunOutput {
    let mut thresholds = Map::new();
    let mut evidence_map = Map::new();
    let mut listed = Vec::new();
    for (action, action_tally) in &tally.actions {
        let pooled = rule.learn(action_tally.pooled);
        thresholds.insert(action.clone(), json!(round4(pooled.threshold)));
        for (size, counts) in &action_tally.by_size {
            let key = format!("{action}:{}", size.as_str());
            let learned = rule.learn(*counts);
            thresholds.insert(key.clone(), json!(round4(learned.threshold)));
            evidence_map.insert(key.clone(), evidence(*counts, &learned));
            listed.push(format!("{key} {:.2}", learned.threshold));
        }
        if action_tally.by_size.is_empty() {
            listed.push(format!("{action} {:.2}", pooled.threshold));
        }
    }
    let mut left_out = format!(
        "{} executed by policy and {} not yet decided were left out, as they say nothing about your \
         preferences",
        count(tally.auto as usize, "proposal", "proposals"),
        tally.undecided
    );
    if tally.malformed > 0 {
        left_out.push_str(&format!(
            "; {} without an action skipped",
            count(tally.malformed as usize, "record", "records")
        ));
    }
    let ignored = if tally.auto + tally.undecided + tally.malformed == 0 {
        String::new()
    } else {
        format!(" ({left_out})")
    };
    let rationale = if tally.decided() == 0 {
        format!(
            "No proposal has been approved, edited or rejected by a person yet{ignored}: every kind \
             of proposal needs confidence ≥ {:.2} to run unattended.",
            rule.default
        )
    } else {
        format!(
            "Learned from {} on {}{ignored}. Each kind's approval rate has \
             a Beta({}, {}) prior; an edit counts as half an approval and half a rejection. The \
             threshold moves from {:.2} toward {:.2} as your decisions make it likelier that you \
             approve at least {:.0}% of a kind, and toward {:.2} as they make it less likely. \
             Thresholds: {}. Other kinds keep {:.2}.",
            count(tally.decided() as usize, "decision", "decisions"),
            count(tally.actions.len(), "kind of action", "kinds of action"),
            rule.prior.alpha,
            rule.prior.beta,
            rule.default,
            rule.floor(),
            100.0 * rule.target,
            rule.ceiling(),
            listed.join(", "),
            rule.default
        )
    };
    let mut insights = vec![Insight {
        kind: THRESHOLDS_KIND.into(),
        title: format!(
            "Confidence needed to run unattended, learned from {}",
            count(tally.decided() as usize, "decision", "decisions")
        ),
        severity: Severity::Info,
        rationale,
        data: json!({
            "default": rule.default,
            "thresholds": thresholds,
            "evidence": evidence_map,
        }),
    }];
    for (action, action_tally) in &tally.actions {
        insights.push(action_insight(action, action_tally, rule));
    }
    RunOutput {
        insights,
        proposals: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(action: &str, size: &str, decision: &str, n: usize) -> Vec<Value> {
        (0..n)
            .map(|i| {
                json!({"id": format!("{action}-{size}-{decision}-{i}"), "action": action,
                             "size": size, "decision": decision})
            })
            .collect()
    }

    fn planted() -> Vec<Value> {
        let mut all = records("set-daily-budget", "small", "approved", 7);
        all.extend(records("set-daily-budget", "small", "edited", 2));
        all.extend(records("set-daily-budget", "small", "rejected", 1));
        all.extend(records("set-daily-budget", "large", "rejected", 3));
        all.extend(records("set-daily-budget", "large", "approved", 1));
        all.extend(records("pause-ad", "small", "auto", 5));
        all
    }

    #[test]
    fn input_defaults_and_validation() {
        assert_eq!(rule_from_input(&json!({})).ok(), Some(Rule::default()));
        assert_eq!(rule_from_input(&Value::Null).ok(), Some(Rule::default()));
        let rule = rule_from_input(&json!({"prior": {"alpha": 1, "beta": 3}, "target": 0.7,
                                            "default_threshold": 0.9, "guardrails": {}}));
        let rule = rule.unwrap_or_default();
        assert_eq!(
            (rule.prior.alpha, rule.prior.beta, rule.target, rule.default),
            (1.0, 3.0, 0.7, 0.9)
        );
        assert!(rule_from_input(&json!({"target": 1.0})).is_err());
        assert!(rule_from_input(&json!({"prior": {"alpha": 0}})).is_err());
        assert!(rule_from_input(&json!({"default_threshold": "high"})).is_err());
    }

    #[test]
    fn thresholds_insight_has_the_shape_the_host_reads() {
        let tally = Tally::of(&planted());
        let output = build(&tally, &Rule::default());
        assert!(output.proposals.is_empty());
        let table = &output.insights[0];
        assert_eq!(table.kind, THRESHOLDS_KIND);
        assert_eq!(table.data["default"], json!(0.8));
        let thresholds = &table.data["thresholds"];
        let small = thresholds["set-daily-budget:small"].as_f64().unwrap_or(f64::NAN);
        let large = thresholds["set-daily-budget:large"].as_f64().unwrap_or(f64::NAN);
        assert!(thresholds["set-daily-budget"].is_f64());
        assert!(small < 0.8 && large > 0.9, "{small} {large}");
        // The auto-only action taught nothing, so it keeps the default.
        assert!(thresholds.get("pause-ad").is_none());
        let evidence = &table.data["evidence"]["set-daily-budget:small"];
        assert_eq!(
            evidence,
            &json!({"approved": 7, "edited": 2, "rejected": 1, "alpha": 10.0, "beta": 4.0,
                    "mean": round4(10.0 / 14.0)})
        );
        assert!(table.data["evidence"].get("set-daily-budget").is_none());
    }

    #[test]
    fn explains_each_action_in_plain_language() {
        let output = build(&Tally::of(&planted()), &Rule::default());
        assert_eq!(output.insights.len(), 2);
        let budget = &output.insights[1];
        assert_eq!(budget.kind, PREFERENCE_KIND);
        assert_eq!(budget.severity, Severity::Notice);
        assert!(
            budget
                .rationale
                .starts_with("You approved 9 of 10 small budget changes (2 after editing) and rejected 1: "),
            "{}",
            budget.rationale
        );
        assert!(
            budget.rationale.contains("(default 0.80)"),
            "{}",
            budget.rationale
        );
        assert!(
            budget
                .rationale
                .contains("You approved 1 of 4 large budget changes and rejected 3")
        );
        assert!(
            output.insights[0]
                .rationale
                .contains("5 proposals executed by policy and 0 not yet decided")
        );
    }

    #[test]
    fn no_decisions_give_only_the_default() {
        let output = build(
            &Tally::of(&records("pause-ad", "small", "auto", 3)),
            &Rule::default(),
        );
        assert_eq!(output.insights.len(), 1);
        let table = &output.insights[0];
        assert_eq!(
            table.data,
            json!({"default": 0.8, "thresholds": {}, "evidence": {}})
        );
        assert!(
            table.rationale.contains("confidence ≥ 0.80"),
            "{}",
            table.rationale
        );
        let empty = build(&Tally::default(), &Rule::default());
        assert_eq!(empty.insights.len(), 1);
    }
}
