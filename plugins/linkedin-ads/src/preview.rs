//! Previews: what an action would change, read from the Marketing API with
//! the same checks and reads as the action ([`actions::plan`]) and no write.
//!
//! Campaign actions are money in the account's currency: `daily-budget`,
//! or `active-daily-budget` (the daily budget while the campaign's status is
//! `ACTIVE`, 0 while it is not). Creative actions are `active` in `status`
//! (1 while the creative's `intendedStatus` is `ACTIVE`).

use crate::actions::{self, Campaign, Plan};
use crate::api::Client;
use omnify_sdk::connector::Preview;
use omnify_sdk::{Error, Value};

/// Preview action `name` with `input`.
pub fn preview(client: &Client, name: &str, input: &Value) -> Result<Preview, Error> {
    match actions::plan(client, name, input)? {
        Plan::CampaignStatus { campaign, status } => {
            let budget = daily_budget(&campaign, name)?;
            let delivering = |on: bool| if on { budget } else { 0.0 };
            Ok(Preview::new(
                "campaign",
                &campaign.id,
                "active-daily-budget",
                (
                    delivering(campaign.status == "ACTIVE"),
                    delivering(status == "ACTIVE"),
                ),
                &campaign.currency,
            ))
        }
        Plan::DailyBudget { campaign, budget, .. } => Ok(Preview::new(
            "campaign",
            &campaign.id,
            "daily-budget",
            (daily_budget(&campaign, name)?, budget),
            &campaign.currency,
        )),
        Plan::CreativeStatus { creative, status } => Ok(Preview::new(
            "ad",
            &creative.id,
            "active",
            (flag(creative.status == "ACTIVE"), flag(status == "ACTIVE")),
            "status",
        )),
    }
}

/// The campaign's daily budget now; a campaign with only a total budget has
/// no daily figure to preview (`not-found`, as for an action that cannot be
/// previewed).
fn daily_budget(campaign: &Campaign, name: &str) -> Result<f64, Error> {
    campaign.daily_budget.ok_or_else(|| {
        Error::not_found(format!(
            "campaign {} has no daily budget (only a total budget), so `{name}` cannot be previewed",
            campaign.id
        ))
    })
}

/// 1 for on, 0 for off.
fn flag(on: bool) -> f64 {
    if on { 1.0 } else { 0.0 }
}
