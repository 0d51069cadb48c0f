//! Generating a world: accounts, campaigns and ads, then day by day the
//! ads' delivery and the orders and charges it drives, with the planted
//! facts of [`Scenario::Planted`].

use super::*;
use chrono::{Duration, NaiveDate};
use rand::prelude::*;

const CAMPAIGN_THEMES: [&str; 3] = ["Prospecting", "Retargeting", "Brand"];
const HEADLINES: [&str; 4] = [
    "Summer essentials, 20% off",
    "Free shipping this week",
    "New colours just dropped",
    "Rated 4.8 by 2,000 customers",
];
const PRODUCTS: [(&str, i64); 8] = [
    ("Linen shirt", 4900),
    ("Canvas tote", 2500),
    ("Trail sneakers", 8900),
    ("Wool beanie", 1900),
    ("Rain jacket", 12900),
    ("Cotton tee", 2200),
    ("Leather belt", 3900),
    ("Sun hat", 2900),
];
const NAMES: [&str; 8] = ["Ada", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hugo"];
const SURNAMES: [&str; 6] = ["Moreau", "Okafor", "Lindqvist", "Tanaka", "García", "Novak"];

impl World {
    /// A world of [`DAYS`] days ending on `last_day`.
    pub fn generate(seed: u64, scenario: Scenario, last_day: NaiveDate) -> Self {
        let first_day = last_day - Duration::days(i64::from(DAYS) - 1);
        let ad_accounts = Platform::ALL
            .iter()
            .map(|&platform| ad_account(seed, platform, first_day))
            .chain([super::linkedin::account(seed, first_day)])
            .collect();
        let mut world = World {
            seed,
            scenario,
            first_day,
            last_day: first_day - Duration::days(1),
            ad_accounts,
            shop: shop(seed, first_day),
            payments: Payments {
                currency: "usd".into(),
                customers: Vec::new(),
                charges: Vec::new(),
                refunds: Vec::new(),
                subscriptions: Vec::new(),
            },
            facts: Facts::default(),
            crm: Crm::new(seed, first_day),
        };
        world.payments.customers = (0..120)
            .map(|n| StripeCustomer {
                id: format!("cus_{seed:x}{n:06}"),
                email: format!("buyer{n}@example.com"),
                created: midnight(first_day).timestamp() - 86_400 * (n as i64 % 60 + 1),
            })
            .collect();
        world.payments.subscriptions = (0..40)
            .map(|n| Subscription {
                id: format!("sub_{seed:x}{n:06}"),
                customer: format!("cus_{seed:x}{n:06}"),
                status: if n % 9 == 0 { "canceled" } else { "active" }.into(),
                amount: 1900 + 1000 * (n as i64 % 3),
                created: midnight(first_day).timestamp() - 86_400 * (n as i64 + 1),
            })
            .collect();
        if scenario == Scenario::Planted {
            let place = Placement::of(seed);
            let account = |p: Platform| &world.ad_accounts[p.index() as usize];
            let (platform, campaign, day) = place.anomaly;
            let spend_anomaly = (
                platform,
                account(platform).campaigns[campaign].id.clone(),
                first_day + Duration::days(day),
            );
            let fatigued_ad = (
                place.fatigue.0,
                account(place.fatigue.0).ads[place.fatigue.1].id.clone(),
            );
            let (platform, campaign) = place.best;
            let best_roas_campaign = (platform, account(platform).campaigns[campaign].id.clone());
            world.facts = Facts {
                spend_anomaly: Some(spend_anomaly),
                fatigued_ad: Some(fatigued_ad),
                best_roas_campaign: Some(best_roas_campaign),
                revenue_lag_days: Some(place.lag),
            };
            world.account_mut(platform).campaigns[campaign].roas = 7.5;
        }
        world.extend_days(DAYS);
        world
    }

    /// Append `days` more days of delivery, orders and charges.
    pub fn extend_days(&mut self, days: u32) {
        for _ in 0..days {
            let date = self.last_day + Duration::days(1);
            self.last_day = date;
            let index = (date - self.first_day).num_days();
            for account in 0..self.ad_accounts.len() {
                self.deliver(account, date, index);
            }
            self.sell(date);
            self.book(date);
        }
    }

    fn day_rng(&self, date: NaiveDate, stream: u64) -> StdRng {
        let day = (date - NaiveDate::default()).num_days() as u64;
        StdRng::seed_from_u64(self.seed ^ day.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (stream << 56))
    }

    fn deliver(&mut self, account: usize, date: NaiveDate, index: i64) {
        let platform = self.ad_accounts[account].platform;
        let mut rng = self.day_rng(date, 1 + platform.index());
        let weekly = weekly_factor(date);
        let facts = self.facts.clone();
        let last_index = i64::from(DAYS) - 1;
        let acct = &mut self.ad_accounts[account];
        let mut new_days = Vec::new();
        for ad in &acct.ads {
            let Some(campaign) = acct.campaigns.iter().find(|c| c.id == ad.campaign_id) else {
                continue;
            };
            if campaign.status == Status::Paused || ad.status == Status::Paused {
                continue;
            }
            let ads_in_campaign = acct.ads.iter().filter(|a| a.campaign_id == campaign.id).count() as f64;
            let mut spend =
                campaign.daily_budget_cents as f64 / ads_in_campaign * weekly * rng.random_range(0.85..1.0);
            if facts
                .spend_anomaly
                .as_ref()
                .is_some_and(|(p, c, d)| *p == platform && *c == campaign.id && *d == date)
            {
                spend *= 3.2;
            }
            let cpm = rng.random_range(900.0..1300.0); // cents per thousand impressions
            let impressions = (spend / cpm * 1000.0).round().max(1.0);
            let mut ctr = rng.random_range(0.014..0.022);
            let mut frequency = rng.random_range(1.15..1.35);
            let fatigued = facts
                .fatigued_ad
                .as_ref()
                .is_some_and(|(p, a)| *p == platform && *a == ad.id);
            let fatigue_start = last_index - FATIGUE_DAYS;
            if fatigued && index > fatigue_start {
                let progress = (index - fatigue_start) as f64 / FATIGUE_DAYS as f64;
                ctr *= 1.0 - 0.6 * progress.min(1.0);
                frequency *= 1.0 + 1.8 * progress.min(1.0);
            }
            let clicks = (impressions * ctr).round();
            let conversions = (clicks * rng.random_range(0.03..0.05)).round();
            let value = if conversions > 0.0 {
                spend * campaign.roas * rng.random_range(0.9..1.1)
            } else {
                0.0
            };
            new_days.push(AdDay {
                date,
                ad_id: ad.id.clone(),
                impressions: impressions as u64,
                reach: (impressions / frequency).round().max(1.0) as u64,
                clicks: clicks as u64,
                spend_cents: spend.round() as i64,
                conversions: conversions as u64,
                conversion_value_cents: value.round() as i64,
            });
        }
        acct.days.extend(new_days);
    }

    fn sell(&mut self, date: NaiveDate) {
        let mut rng = self.day_rng(date, 9);
        // Revenue follows ad spend: the same day in the control world, a few
        // days later when a lag is planted (before the first day, a base).
        let lag = i64::from(self.facts.revenue_lag_days.unwrap_or(0));
        let driver_day = date - Duration::days(lag);
        let spend = if driver_day >= self.first_day {
            self.ad_spend_on(driver_day) as f64
        } else {
            self.ad_spend_on(self.first_day) as f64
        };
        let revenue = 30_000.0 + spend * 2.4 * rng.random_range(0.92..1.08);
        let shop_target = revenue * 0.7;
        let start = midnight(date);
        let mut sold = 0.0;
        while sold < shop_target {
            let id = 5_100_000_000 + self.shop.orders.len() as u64;
            let lines = rng.random_range(1..=3);
            let line_items: Vec<LineItem> = (0..lines)
                .map(|_| {
                    let product = &self.shop.products[rng.random_range(0..self.shop.products.len())];
                    LineItem {
                        product_id: product.id,
                        quantity: rng.random_range(1..=2),
                        price_cents: product.price_cents,
                    }
                })
                .collect();
            let total_cents = line_items
                .iter()
                .map(|l| l.price_cents * i64::from(l.quantity))
                .sum();
            let created_at = start + Duration::seconds(rng.random_range(0..86_400));
            let customer = &self.shop.customers[rng.random_range(0..self.shop.customers.len())];
            let number = 1001 + self.shop.orders.len();
            self.shop.orders.push(Order {
                id,
                name: format!("#{number}"),
                customer_id: customer.id,
                line_items,
                total_cents,
                financial_status: "paid".into(),
                tags: Vec::new(),
                created_at,
                updated_at: created_at,
            });
            sold += total_cents as f64;
        }
        self.shop.orders.sort_by_key(|o| (o.created_at, o.id));
        let charge_target = revenue * 0.3;
        let mut charged = 0.0;
        while charged < charge_target {
            let n = self.payments.charges.len();
            let amount = rng.random_range(25..=140) * 100 + 99;
            let created = (start + Duration::seconds(rng.random_range(0..86_400))).timestamp();
            let customer = self.payments.customers[rng.random_range(0..self.payments.customers.len())]
                .id
                .clone();
            let seed = self.seed;
            let id = format!("ch_{seed:x}{n:08}");
            let refunded = rng.random_bool(0.03);
            if refunded {
                self.payments.refunds.push(Refund {
                    id: format!("re_{seed:x}{n:08}"),
                    charge: id.clone(),
                    amount,
                    reason: Some("requested_by_customer".into()),
                    created: created + 3_600,
                });
            }
            self.payments.charges.push(Charge {
                id,
                payment_intent: format!("pi_{seed:x}{n:08}"),
                customer,
                amount,
                amount_refunded: if refunded { amount } else { 0 },
                currency: self.payments.currency.clone(),
                created,
                description: "Online order".into(),
            });
            charged += amount as f64;
        }
        self.payments
            .charges
            .sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        self.payments
            .refunds
            .sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
    }
}

/// Where a world plants its facts, as indices into its accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Placement {
    /// Platform, campaign index and day index (from the first day).
    anomaly: (Platform, usize, i64),
    /// Platform and ad index.
    fatigue: (Platform, usize),
    /// Platform and campaign index.
    best: (Platform, usize),
    /// Days revenue trails spend.
    lag: u32,
}

/// The seed most tests use keeps the placement they were written against
/// (they index into its campaigns and ads).
const SEED_42: Placement = Placement {
    anomaly: (Platform::Meta, 0, DAYS as i64 - 20),
    fatigue: (Platform::Meta, 1),
    best: (Platform::Google, 1),
    lag: 2,
};

impl Placement {
    /// The placement of `seed`. Every fact stays where the agents look: the
    /// anomaly inside analytics' 28-day window and before the last week
    /// (which forecasts hold out), the fatigued ad and the best campaign in
    /// the two sales campaigns (enough delivery to judge), the best campaign
    /// on another platform than the anomaly, and a lag analytics searches.
    fn of(seed: u64) -> Self {
        if seed == 42 {
            return SEED_42;
        }
        let mut rng = StdRng::seed_from_u64(seed ^ 0x0F4C_7500_D1CE_5EED);
        let mut platform = || Platform::ALL[rng.random_range(0..Platform::ALL.len())];
        let anomaly_platform = platform();
        let fatigue_platform = platform();
        let best_platform = Platform::ALL[(anomaly_platform.index() as usize + rng.random_range(1..3)) % 3];
        let days = i64::from(DAYS);
        Placement {
            anomaly: (
                anomaly_platform,
                rng.random_range(0..2),
                rng.random_range(days - 26..=days - 10),
            ),
            fatigue: (fatigue_platform, rng.random_range(0..8)),
            best: (best_platform, rng.random_range(0..2)),
            lag: rng.random_range(2..=4),
        }
    }
}

/// More delivery late in the week.
fn weekly_factor(date: NaiveDate) -> f64 {
    use chrono::Datelike;
    [1.0, 0.95, 0.95, 1.0, 1.1, 1.2, 1.15][date.weekday().num_days_from_monday() as usize]
}

fn ad_account(seed: u64, platform: Platform, first_day: NaiveDate) -> AdAccount {
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
    for (c, theme) in CAMPAIGN_THEMES.iter().enumerate() {
        let campaign_id = platform.id(1, c as u64 + 1);
        account.campaigns.push(Campaign {
            id: campaign_id.clone(),
            name: format!("{theme} {}", ["US", "EU", "Global"][c]),
            status: Status::Active,
            daily_budget_cents: [15_000, 8_000, 5_000][c] + rng.random_range(0..20) * 100,
            objective: ["SALES", "SALES", "AWARENESS"][c].into(),
            created,
            updated: created,
            roas: rng.random_range(1.8..2.6),
        });
        for g in 0..2u64 {
            let group_id = platform.id(2, c as u64 * 10 + g + 1);
            account.ad_groups.push(AdGroup {
                id: group_id.clone(),
                campaign_id: campaign_id.clone(),
                name: format!("{theme} – {}", ["Lookalike", "Interests"][g as usize]),
                status: Status::Active,
            });
            for a in 0..2u64 {
                let n = c as u64 * 100 + g * 10 + a + 1;
                let headline = HEADLINES[((c as u64 + g + a) % 4) as usize];
                account.ads.push(Ad {
                    id: platform.id(3, n),
                    ad_group_id: group_id.clone(),
                    campaign_id: campaign_id.clone(),
                    name: format!("{theme} ad {}", g * 2 + a + 1),
                    status: Status::Active,
                    creative: Creative {
                        id: platform.id(4, n),
                        headline: headline.into(),
                        body: format!("{headline}. Shop the collection today."),
                        image_url: format!("https://cdn.example.com/creatives/{n}.jpg"),
                    },
                });
            }
        }
    }
    account
}

fn shop(seed: u64, first_day: NaiveDate) -> Shop {
    let before = midnight(first_day) - Duration::days(200);
    Shop {
        domain: "omnify-demo.myshopify.com".into(),
        currency: "USD".into(),
        customers: (0..150u64)
            .map(|n| ShopCustomer {
                id: 7_200_000_000 + n,
                email: format!("customer{n}@example.com"),
                first_name: NAMES[(n % 8) as usize].into(),
                last_name: SURNAMES[(n % 6) as usize].into(),
                created_at: before + Duration::hours((n * 31 + seed % 7) as i64),
                updated_at: before + Duration::hours((n * 31 + seed % 7) as i64),
            })
            .collect(),
        products: PRODUCTS
            .iter()
            .enumerate()
            .map(|(n, (title, price))| Product {
                id: 8_300_000_000 + n as u64,
                title: (*title).into(),
                price_cents: *price,
                created_at: before,
                updated_at: before,
            })
            .collect(),
        orders: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().expect("date")
    }

    #[test]
    fn the_same_seed_gives_the_same_world() {
        let a = World::generate(7, Scenario::Planted, day("2026-06-30"));
        let b = World::generate(7, Scenario::Planted, day("2026-06-30"));
        assert_eq!(a, b);
        assert_eq!(a.dates().count(), DAYS as usize);
        let c = World::generate(8, Scenario::Planted, day("2026-06-30"));
        assert_ne!(a.account(Platform::Meta).days, c.account(Platform::Meta).days);
    }

    /// Seeds whose worlds the tests check, 42 (most tests' seed) among them.
    const SEEDS: [u64; 6] = [1, 42, 7, 13, 5, 2026];

    #[test]
    fn planted_facts_show_in_the_numbers() {
        for seed in SEEDS {
            let world = World::generate(seed, Scenario::Planted, day("2026-06-30"));
            let (platform, campaign, date) = world.facts.spend_anomaly.clone().expect("anomaly");
            assert!(world.last_day - date < Duration::days(28), "seed {seed}: {date}");
            let account = world.account(platform);
            let spike = account.campaign_day(&campaign, date).spend_cents;
            let before = account
                .campaign_day(&campaign, date - Duration::days(7))
                .spend_cents;
            assert!(spike > 2 * before, "seed {seed}: {spike} vs {before}");

            let (platform, ad) = world.facts.fatigued_ad.clone().expect("fatigue");
            let rate = |d: &AdDay| d.clicks as f64 / d.impressions as f64;
            let account = world.account(platform);
            let days: Vec<&AdDay> = account.days.iter().filter(|d| d.ad_id == ad).collect();
            let early = rate(days[days.len() - 30]);
            let late = rate(days[days.len() - 1]);
            assert!(late < early * 0.6, "seed {seed}: CTR {early} -> {late}");

            let (platform, best) = world.facts.best_roas_campaign.clone().expect("best");
            let roas = |c: &Campaign| c.roas;
            let account = world.account(platform);
            let others = account.campaigns.iter().filter(|c| c.id != best).map(roas);
            let top = account.campaign(&best).map(roas).unwrap_or_default();
            assert!(others.clone().all(|r| top > 2.0 * r), "seed {seed}");
            assert!((2..=4).contains(&world.facts.revenue_lag_days.unwrap_or(0)));

            let control = World::generate(seed, Scenario::Control, day("2026-06-30"));
            assert_eq!(control.facts, Facts::default());
            assert!(world.shop.orders.len() > 1000 && world.payments.charges.len() > 200);
        }
    }

    #[test]
    fn the_seed_decides_where_the_facts_are_planted() {
        let places: Vec<Placement> = SEEDS.iter().map(|&s| Placement::of(s)).collect();
        assert_eq!(Placement::of(42), SEED_42);
        assert_eq!(places, SEEDS.map(Placement::of).to_vec(), "deterministic");
        for (n, a) in places.iter().enumerate() {
            for b in &places[n + 1..] {
                assert_ne!(a, b);
            }
        }
        let platforms: std::collections::HashSet<_> = places.iter().map(|p| p.fatigue.0).collect();
        assert!(platforms.len() > 1, "{places:?}");
    }

    #[test]
    fn a_budget_set_behind_the_connectors_back_is_the_campaigns_budget() {
        let mut world = World::generate(1, Scenario::Control, day("2026-06-30"));
        let id = world.account(Platform::Google).campaigns[0].id.clone();
        assert!(world.set_daily_budget(Platform::Google, &id, 7_700));
        let campaign = world.account(Platform::Google).campaign(&id).cloned();
        assert_eq!(campaign.map(|c| c.daily_budget_cents), Some(7_700));
        assert!(
            !world.set_daily_budget(Platform::Meta, &id, 7_700),
            "another platform's campaign"
        );
    }
}
