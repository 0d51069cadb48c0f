//! Previews: what an action would change, read from the Graph API with the
//! same checks as the action ([`actions::plan`]) and no write.
//!
//! Campaign actions are money in the account's currency: `daily-budget`,
//! or `active-daily-budget` (the daily budget while the campaign's own
//! status is `ACTIVE`, 0 while it is not). Ad actions are `active` in
//! `status` (1 while the ad's own status is `ACTIVE`).

use crate::Config;
use crate::actions::{self, Change, Plan};
use crate::graph::currency_offset;
use omnify_sdk::connector::Preview;
use omnify_sdk::{Error, Value};

/// Preview action `name` with `input`.
pub fn preview(config: &Config, name: &str, input: &Value) -> Result<Preview, Error> {
    let plan = actions::plan(config, name, input)?;
    let active = plan.before.is_active();
    match plan.change {
        Change::AdStatus(status) => Ok(Preview::new(
            "ad",
            &plan.id,
            "active",
            (flag(active), flag(status == "ACTIVE")),
            "status",
        )),
        Change::CampaignStatus(status) => {
            let (budget, currency) = daily_budget(config, &plan, name)?;
            let delivering = |on: bool| if on { budget } else { 0.0 };
            Ok(Preview::new(
                "campaign",
                &plan.id,
                "active-daily-budget",
                (delivering(active), delivering(status == "ACTIVE")),
                &currency,
            ))
        }
        Change::DailyBudget { major, .. } => {
            let (budget, currency) = daily_budget(config, &plan, name)?;
            Ok(Preview::new(
                "campaign",
                &plan.id,
                "daily-budget",
                (budget, major),
                &currency,
            ))
        }
    }
}

/// The campaign's daily budget now, in major units, and the account's
/// currency. A campaign whose budget is elsewhere (its ad sets, a lifetime
/// budget) has no daily figure to preview: `not-found`, as for an action
/// that cannot be previewed.
fn daily_budget(config: &Config, plan: &Plan, name: &str) -> Result<(f64, String), Error> {
    let currency = match &plan.currency {
        Some(currency) => currency.clone(),
        None => plan.graph.account_currency(&config.account_id())?,
    };
    let minor = plan.before.daily_budget_minor()?.ok_or_else(|| {
        Error::not_found(format!(
            "campaign {} has no daily budget of its own (its ad sets or a lifetime budget hold it), \
             so `{name}` cannot be previewed",
            plan.id
        ))
    })?;
    Ok((minor as f64 / currency_offset(&currency), currency))
}

/// 1 for on, 0 for off.
fn flag(on: bool) -> f64 {
    if on { 1.0 } else { 0.0 }
}
