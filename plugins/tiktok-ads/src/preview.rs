//! Previews: what an action would change, read from the Marketing API with
//! the same checks as the action ([`actions::plan`]) and no write.
//!
//! Campaign actions are money in the advertiser's currency:
//! `daily-budget`, or `active-daily-budget` (the daily budget while the
//! campaign's `operation_status` is `ENABLE`, 0 while it is not). Ad
//! actions are `active` in `status` (1 while the ad is `ENABLE`).

use crate::actions::{self, Campaign, Plan};
use crate::objects;
use omnify_sdk::Error;
use omnify_sdk::Value;
use omnify_sdk::connector::Preview;

/// Preview action `name` with `input`.
pub fn preview(name: &str, input: Value) -> Result<Preview, Error> {
    let (client, plan) = actions::plan(name, input)?;
    match plan {
        Plan::AdStatus { ad, operation } => Ok(Preview::new(
            "ad",
            &ad.id,
            "active",
            (flag(is_on(ad.status.as_deref())), flag(operation == "ENABLE")),
            "status",
        )),
        Plan::CampaignStatus { campaign, operation } => {
            let budget = daily_budget(&campaign, name)?;
            let delivering = |on: bool| if on { budget } else { 0.0 };
            Ok(Preview::new(
                "campaign",
                &campaign.id,
                "active-daily-budget",
                (
                    delivering(is_on(campaign.status.as_deref())),
                    delivering(operation == "ENABLE"),
                ),
                &objects::currency(&client)?,
            ))
        }
        Plan::DailyBudget { campaign, budget } => Ok(Preview::new(
            "campaign",
            &campaign.id,
            "daily-budget",
            (daily_budget(&campaign, name)?, budget),
            &objects::currency(&client)?,
        )),
    }
}

/// The campaign's daily budget now; a campaign with a lifetime budget or
/// none has no daily figure to preview (`not-found`, as for an action that
/// cannot be previewed).
fn daily_budget(campaign: &Campaign, name: &str) -> Result<f64, Error> {
    campaign.daily_budget.ok_or_else(|| {
        Error::not_found(format!(
            "campaign {} has no daily budget (its budget mode is not a daily one), so `{name}` cannot be previewed",
            campaign.id
        ))
    })
}

/// Whether an `operation_status` is on.
fn is_on(status: Option<&str>) -> bool {
    status == Some("ENABLE")
}

/// 1 for on, 0 for off.
fn flag(on: bool) -> f64 {
    if on { 1.0 } else { 0.0 }
}
