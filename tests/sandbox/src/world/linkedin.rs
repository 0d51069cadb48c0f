//! The LinkedIn ad account of a world: a B2B advertiser's campaign groups,
//! campaigns and creatives (text ads, whose headline and description are
//! the creative's own). LinkedIn has no ad groups: creatives belong to a
//! campaign, so each ad's `ad_group_id` is its campaign's id. Its delivery
//! is generated day by day like every account's (`generate.rs`).

use super::{Ad, AdAccount, Campaign, CampaignGroup, Creative, Platform, Status, midnight};
use chrono::{Duration, NaiveDate};
use rand::prelude::*;

/// The campaign groups: a name and the indices of their campaigns.
const GROUPS: [(&str, &[usize]); 2] = [("Pipeline 2026", &[0, 1]), ("Brand", &[2])];

/// The campaigns: name, LinkedIn objective, base daily budget in cents.
const CAMPAIGNS: [(&str, &str, i64); 3] = [
    ("Lead gen – IT decision makers", "LEAD_GENERATION", 12_000),
    ("Website visits – Retargeting", "WEBSITE_VISITS", 7_000),
    ("Brand awareness – EMEA", "BRAND_AWARENESS", 4_000),
];

/// The creatives' texts: headline and description.
const TEXTS: [(&str, &str); 3] = [
    (
        "Cut reporting time in half",
        "See how 2,000 teams automate their marketing reports.",
    ),
    (
        "The 2026 B2B benchmark",
        "Download the report: budgets, channels and returns.",
    ),
    (
        "Book a 20-minute demo",
        "One dashboard for every ad platform. Try it free.",
    ),
];

/// Creatives per campaign.
const CREATIVES: u64 = 3;

/// The LinkedIn account of the world of `seed`, first delivering on `first_day`.
pub(super) fn account(seed: u64, first_day: NaiveDate) -> AdAccount {
    let platform = Platform::LinkedIn;
    let mut rng = StdRng::seed_from_u64(seed ^ (platform.index() + 1).wrapping_mul(0x5851_F42D_4C95_7F2D));
    let created = midnight(first_day) - Duration::days(30);
    let mut account = AdAccount {
        platform,
        account_id: platform.id(0, seed % 1000),
        currency: "USD".into(),
        campaign_groups: Vec::new(),
        campaigns: Vec::new(),
        ad_groups: Vec::new(),
        ads: Vec::new(),
        days: Vec::new(),
    };
    for (c, (name, objective, budget)) in CAMPAIGNS.iter().enumerate() {
        let campaign_id = platform.id(1, c as u64 + 1);
        account.campaigns.push(Campaign {
            id: campaign_id.clone(),
            name: (*name).into(),
            status: Status::Active,
            daily_budget_cents: budget + rng.random_range(0..20) * 100,
            objective: (*objective).into(),
            created,
            updated: created,
            roas: rng.random_range(1.8..2.6),
        });
        for a in 0..CREATIVES {
            let n = c as u64 * 100 + a + 1;
            let (headline, body) = TEXTS[((c as u64 + a) % 3) as usize];
            let id = platform.id(3, n);
            account.ads.push(Ad {
                id: id.clone(),
                ad_group_id: campaign_id.clone(),
                campaign_id: campaign_id.clone(),
                name: format!("{name} – text ad {}", a + 1),
                status: Status::Active,
                // A LinkedIn creative is the ad itself: one id for both.
                creative: Creative {
                    id,
                    headline: headline.into(),
                    body: body.into(),
                    image_url: format!("https://media.example.com/linkedin/{n}.png"),
                },
            });
        }
    }
    account.campaign_groups = GROUPS
        .iter()
        .enumerate()
        .map(|(g, (name, campaigns))| CampaignGroup {
            id: platform.id(2, g as u64 + 1),
            name: (*name).into(),
            status: Status::Active,
            campaign_ids: campaigns
                .iter()
                .map(|&c| account.campaigns[c].id.clone())
                .collect(),
        })
        .collect();
    account
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::{Scenario, World};

    #[test]
    fn the_linkedin_account_delivers_without_moving_the_stores_sales() {
        let last_day = "2026-06-30".parse().expect("a date");
        let world = World::generate(42, Scenario::Planted, last_day);
        let account = world.account(Platform::LinkedIn);
        assert_eq!(account.platform, Platform::LinkedIn);
        assert_eq!(account.account_id, "500000042");
        assert_eq!(account.campaigns.len(), 3);
        assert_eq!(account.ads.len(), 9);
        assert!(
            account
                .ads
                .iter()
                .all(|a| a.ad_group_id == a.campaign_id && a.creative.id == a.id)
        );
        let grouped: usize = account.campaign_groups.iter().map(|g| g.campaign_ids.len()).sum();
        assert_eq!(grouped, account.campaigns.len());
        assert_eq!(account.days.len(), 9 * 90);
        // Store revenue follows the three store platforms only.
        let day = world.last_day;
        let three: i64 = Platform::ALL
            .iter()
            .map(|&p| world.account(p).spend_on(day))
            .sum();
        assert_eq!(world.ad_spend_on(day), three);
        assert!(account.spend_on(day) > 0);
    }
}
