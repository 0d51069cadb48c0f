//! The change a proposal makes, computed by the host from the connector's
//! preview (the platform's current value and the value after), never from
//! what the agent claims; and whether the platform moved since.

use omnify_runtime::invoke::call::ActionPreview;
use serde::{Deserialize, Serialize};

/// A change of one target as the host computed it from a preview.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VerifiedChange {
    /// The change in percent of the current value; a change from zero
    /// counts as 100%.
    pub percent: f64,
    /// The change in the account's currency, when the metric is money.
    pub money: Option<f64>,
}

/// Whether `unit` names a currency (an ISO 4217 code such as `USD`).
pub fn is_currency(unit: &str) -> bool {
    unit.len() == 3 && unit.bytes().all(|b| b.is_ascii_uppercase())
}

impl VerifiedChange {
    /// The change `preview` describes.
    pub fn of(preview: &ActionPreview) -> Self {
        let delta = preview.after - preview.current;
        let percent = if preview.current != 0.0 {
            delta / preview.current.abs() * 100.0
        } else if delta == 0.0 {
            0.0
        } else {
            100.0_f64.copysign(delta)
        };
        Self {
            percent,
            money: is_currency(&preview.unit).then_some(delta),
        }
    }
}

/// Why the platform no longer matches `proposed` (the preview stored with a
/// proposal), judging by `now` (a fresh preview of the same action): the
/// target's current value moved by more than `tolerance_percent`, or the
/// metric or unit changed. `None` when it still matches, or when `now` is
/// about another target (an approval that edited the input).
pub fn moved_since(proposed: &ActionPreview, now: &ActionPreview, tolerance_percent: f64) -> Option<String> {
    if proposed.target_kind != now.target_kind || proposed.target_id != now.target_id {
        return None;
    }
    if proposed.metric != now.metric || proposed.unit != now.unit {
        return Some(format!(
            "the platform now reports {} in {} where the proposal saw {} in {}",
            now.metric, now.unit, proposed.metric, proposed.unit
        ));
    }
    let drift = (now.current - proposed.current).abs();
    let allowed = proposed.current.abs() * tolerance_percent / 100.0;
    (drift > allowed).then(|| {
        format!(
            "{} of {} {} is {} {} now, {} when it was proposed (more than {tolerance_percent}% apart)",
            proposed.metric,
            proposed.target_kind,
            proposed.target_id,
            now.current,
            now.unit,
            proposed.current
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preview(current: f64, after: f64, unit: &str) -> ActionPreview {
        ActionPreview {
            target_kind: "campaign".into(),
            target_id: "7".into(),
            metric: "daily-budget".into(),
            current,
            after,
            unit: unit.into(),
        }
    }

    #[test]
    fn changes_are_computed_from_the_platform_values() {
        let raise = VerifiedChange::of(&preview(100.0, 110.0, "USD"));
        assert!((raise.percent - 10.0).abs() < 1e-9);
        assert_eq!(raise.money, Some(10.0));
        let pause = VerifiedChange::of(&preview(50.0, 0.0, "EUR"));
        assert!((pause.percent + 100.0).abs() < 1e-9);
        let resume = VerifiedChange::of(&preview(0.0, 1.0, "status"));
        assert_eq!((resume.percent, resume.money), (100.0, None));
        assert_eq!(VerifiedChange::of(&preview(0.0, 0.0, "USD")).percent, 0.0);
    }

    #[test]
    fn a_moved_platform_makes_a_proposal_stale() {
        let proposed = preview(100.0, 110.0, "USD");
        assert_eq!(moved_since(&proposed, &preview(100.5, 110.0, "USD"), 1.0), None);
        assert!(moved_since(&proposed, &preview(150.0, 110.0, "USD"), 1.0).is_some());
        assert!(moved_since(&proposed, &preview(100.0, 110.0, "EUR"), 1.0).is_some());
        let elsewhere = ActionPreview {
            target_id: "8".into(),
            ..preview(10.0, 11.0, "USD")
        };
        assert_eq!(moved_since(&proposed, &elsewhere, 1.0), None);
    }
}
