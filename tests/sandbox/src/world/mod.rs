//! The seeded business every sandbox serves: three ad accounts (Meta, Google,
//! TikTok) with campaigns, ad groups, ads and daily metrics, a Shopify store
//! and a Stripe account whose revenue follows their ad spend, and a LinkedIn
//! ad account (campaign groups, campaigns, creatives) for the B2B leads.
//! A GoHighLevel location (`crm.rs`) holds the CRM: leads, deals won over
//! the period, and appointments.
//!
//! Money is kept in cents; each platform's server converts it to its own wire
//! format (strings, micros, cents). Every day is generated from its own seed,
//! so [`World::extend_days`] appends the same days a larger world would have.
//! The generation itself is in `world/generate.rs`.

mod crm;
mod generate;
mod linkedin;

pub use crm::*;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};

/// An ad platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Platform {
    /// Meta (Facebook and Instagram) ads.
    Meta,
    /// Google Ads.
    Google,
    /// TikTok ads.
    Tiktok,
    /// LinkedIn ads: the B2B account, whose leads are not the store's
    /// sales, so it is not among [`Platform::ALL`].
    LinkedIn,
}

impl Platform {
    /// The store's three ad platforms, in a fixed order: their spend drives
    /// the store's sales and the facts are planted on them.
    pub const ALL: [Platform; 3] = [Platform::Meta, Platform::Google, Platform::Tiktok];

    /// The connector plugin's name, for example `meta-ads`.
    pub fn connector(self) -> &'static str {
        match self {
            Platform::Meta => "meta-ads",
            Platform::Google => "google-ads",
            Platform::Tiktok => "tiktok-ads",
            Platform::LinkedIn => "linkedin-ads",
        }
    }

    fn index(self) -> u64 {
        match self {
            Platform::Meta => 0,
            Platform::Google => 1,
            Platform::Tiktok => 2,
            Platform::LinkedIn => 3,
        }
    }

    /// Numeric ids in the style of the platform.
    fn id(self, kind: u64, n: u64) -> String {
        match self {
            Platform::Meta => format!("12021{kind}{n:09}"),
            Platform::Google => format!("2{kind}{n:08}"),
            Platform::Tiktok => format!("17{kind}{n:013}"),
            Platform::LinkedIn => format!("5{kind}{n:07}"),
        }
    }
}

/// Whether a campaign, ad group or ad is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Delivering.
    Active,
    /// Stopped by the advertiser.
    Paused,
}

/// A campaign.
#[derive(Debug, Clone, PartialEq)]
pub struct Campaign {
    /// The platform's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Running or paused.
    pub status: Status,
    /// The daily budget in cents.
    pub daily_budget_cents: i64,
    /// The marketing objective, for example `SALES`.
    pub objective: String,
    /// When it was created.
    pub created: DateTime<Utc>,
    /// When its settings last changed.
    pub updated: DateTime<Utc>,
    /// Conversion value per unit of spend this campaign tends to earn.
    pub roas: f64,
}

/// An ad group (Meta calls it an ad set).
#[derive(Debug, Clone, PartialEq)]
pub struct AdGroup {
    /// The platform's id.
    pub id: String,
    /// The campaign it belongs to.
    pub campaign_id: String,
    /// Its name.
    pub name: String,
    /// Running or paused.
    pub status: Status,
}

/// What an ad shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Creative {
    /// The platform's id.
    pub id: String,
    /// The headline.
    pub headline: String,
    /// The body text.
    pub body: String,
    /// The image shown.
    pub image_url: String,
}

/// A LinkedIn campaign group: campaigns grouped under one schedule and
/// total budget, above the campaigns (the other platforms have none).
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignGroup {
    /// The platform's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Running or paused.
    pub status: Status,
    /// Its campaigns' ids.
    pub campaign_ids: Vec<String>,
}

/// An ad.
#[derive(Debug, Clone, PartialEq)]
pub struct Ad {
    /// The platform's id.
    pub id: String,
    /// The ad group it belongs to.
    pub ad_group_id: String,
    /// The campaign it belongs to.
    pub campaign_id: String,
    /// Its name.
    pub name: String,
    /// Running or paused.
    pub status: Status,
    /// What it shows.
    pub creative: Creative,
}

/// One ad's delivery on one day.
#[derive(Debug, Clone, PartialEq)]
pub struct AdDay {
    /// The day (in the account's time zone, UTC here).
    pub date: NaiveDate,
    /// The ad.
    pub ad_id: String,
    /// Times shown.
    pub impressions: u64,
    /// People reached; `impressions / reach` is the frequency.
    pub reach: u64,
    /// Clicks.
    pub clicks: u64,
    /// Spend in cents.
    pub spend_cents: i64,
    /// Conversions attributed to the ad.
    pub conversions: u64,
    /// Value of those conversions in cents.
    pub conversion_value_cents: i64,
}

/// The totals of several [`AdDay`]s.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Totals {
    /// Times shown.
    pub impressions: u64,
    /// People reached (summed over ads and days).
    pub reach: u64,
    /// Clicks.
    pub clicks: u64,
    /// Spend in cents.
    pub spend_cents: i64,
    /// Conversions.
    pub conversions: u64,
    /// Conversion value in cents.
    pub conversion_value_cents: i64,
}

impl Totals {
    /// Add one day's delivery.
    pub fn add(&mut self, day: &AdDay) {
        self.impressions += day.impressions;
        self.reach += day.reach;
        self.clicks += day.clicks;
        self.spend_cents += day.spend_cents;
        self.conversions += day.conversions;
        self.conversion_value_cents += day.conversion_value_cents;
    }
}

/// One ad account on one platform.
#[derive(Debug, Clone, PartialEq)]
pub struct AdAccount {
    /// The platform.
    pub platform: Platform,
    /// The account's id (Meta `act_` id without the prefix, Google customer
    /// id, TikTok advertiser id).
    pub account_id: String,
    /// ISO 4217 currency of every amount.
    pub currency: String,
    /// LinkedIn's campaign groups; empty on the other platforms.
    pub campaign_groups: Vec<CampaignGroup>,
    /// Campaigns.
    pub campaigns: Vec<Campaign>,
    /// Ad groups; none on LinkedIn, whose creatives belong to campaigns.
    pub ad_groups: Vec<AdGroup>,
    /// Ads.
    pub ads: Vec<Ad>,
    /// Daily delivery per ad, ordered by date then ad.
    pub days: Vec<AdDay>,
}

impl AdAccount {
    /// The campaign with `id`.
    pub fn campaign(&self, id: &str) -> Option<&Campaign> {
        self.campaigns.iter().find(|c| c.id == id)
    }

    /// The campaign with `id`, to change it.
    pub fn campaign_mut(&mut self, id: &str) -> Option<&mut Campaign> {
        self.campaigns.iter_mut().find(|c| c.id == id)
    }

    /// The ad with `id`.
    pub fn ad(&self, id: &str) -> Option<&Ad> {
        self.ads.iter().find(|a| a.id == id)
    }

    /// Totals of one campaign on one day.
    pub fn campaign_day(&self, campaign_id: &str, date: NaiveDate) -> Totals {
        let mut totals = Totals::default();
        for day in self.days.iter().filter(|d| d.date == date) {
            if self
                .ad(&day.ad_id)
                .is_some_and(|ad| ad.campaign_id == campaign_id)
            {
                totals.add(day);
            }
        }
        totals
    }

    /// Total spend of the account on `date`, in cents.
    pub fn spend_on(&self, date: NaiveDate) -> i64 {
        self.days
            .iter()
            .filter(|d| d.date == date)
            .map(|d| d.spend_cents)
            .sum()
    }
}

/// A Shopify customer.
#[derive(Debug, Clone, PartialEq)]
pub struct ShopCustomer {
    /// Numeric id.
    pub id: u64,
    /// Email address.
    pub email: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// When the customer was created.
    pub created_at: DateTime<Utc>,
    /// When the customer last changed.
    pub updated_at: DateTime<Utc>,
}

/// A Shopify product.
#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    /// Numeric id.
    pub id: u64,
    /// Its title.
    pub title: String,
    /// Unit price in cents.
    pub price_cents: i64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq)]
pub struct LineItem {
    /// The product.
    pub product_id: u64,
    /// Units.
    pub quantity: u32,
    /// Unit price in cents.
    pub price_cents: i64,
}

/// A Shopify order.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    /// Numeric id.
    pub id: u64,
    /// The order's name, for example `#1001`.
    pub name: String,
    /// The buyer.
    pub customer_id: u64,
    /// The lines.
    pub line_items: Vec<LineItem>,
    /// The total in cents.
    pub total_cents: i64,
    /// `paid`, `refunded`, ...
    pub financial_status: String,
    /// Its tags, in order, without repeats; none when generated.
    pub tags: Vec<String>,
    /// When it was placed.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// The Shopify store.
#[derive(Debug, Clone, PartialEq)]
pub struct Shop {
    /// `<name>.myshopify.com`.
    pub domain: String,
    /// ISO 4217 currency.
    pub currency: String,
    /// Customers.
    pub customers: Vec<ShopCustomer>,
    /// Products.
    pub products: Vec<Product>,
    /// Orders, oldest first.
    pub orders: Vec<Order>,
}

impl Shop {
    /// Revenue of orders placed on `date`, in cents.
    pub fn revenue_on(&self, date: NaiveDate) -> i64 {
        self.orders
            .iter()
            .filter(|o| o.created_at.date_naive() == date)
            .map(|o| o.total_cents)
            .sum()
    }
}

/// A Stripe customer.
#[derive(Debug, Clone, PartialEq)]
pub struct StripeCustomer {
    /// `cus_…`.
    pub id: String,
    /// Email address.
    pub email: String,
    /// Unix seconds.
    pub created: i64,
}

/// A Stripe charge (one per payment intent).
#[derive(Debug, Clone, PartialEq)]
pub struct Charge {
    /// `ch_…`.
    pub id: String,
    /// The payment intent it settles.
    pub payment_intent: String,
    /// The customer.
    pub customer: String,
    /// Amount in cents.
    pub amount: i64,
    /// Amount refunded so far, in cents.
    pub amount_refunded: i64,
    /// Lower-case ISO currency.
    pub currency: String,
    /// Unix seconds.
    pub created: i64,
    /// What was bought.
    pub description: String,
}

/// A Stripe refund.
#[derive(Debug, Clone, PartialEq)]
pub struct Refund {
    /// `re_…`.
    pub id: String,
    /// The charge refunded.
    pub charge: String,
    /// Amount in cents.
    pub amount: i64,
    /// `requested_by_customer`, `duplicate`, ...
    pub reason: Option<String>,
    /// Unix seconds.
    pub created: i64,
}

/// A Stripe subscription.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    /// `sub_…`.
    pub id: String,
    /// The customer.
    pub customer: String,
    /// `active` or `canceled`.
    pub status: String,
    /// Monthly price in cents.
    pub amount: i64,
    /// Unix seconds.
    pub created: i64,
}

/// The Stripe account.
#[derive(Debug, Clone, PartialEq)]
pub struct Payments {
    /// Lower-case ISO currency.
    pub currency: String,
    /// Customers.
    pub customers: Vec<StripeCustomer>,
    /// Charges, oldest first.
    pub charges: Vec<Charge>,
    /// Refunds, oldest first.
    pub refunds: Vec<Refund>,
    /// Subscriptions.
    pub subscriptions: Vec<Subscription>,
}

impl Payments {
    /// The charge with `id`.
    pub fn charge(&self, id: &str) -> Option<&Charge> {
        self.charges.iter().find(|c| c.id == id)
    }

    /// Charged on `date` (UTC), in cents, before refunds.
    pub fn charged_on(&self, date: NaiveDate) -> i64 {
        self.charges
            .iter()
            .filter(|c| utc(c.created).date_naive() == date)
            .map(|c| c.amount)
            .sum()
    }
}

/// The facts planted in a world, which the agents are expected to find.
/// Their platforms, objects, day and lag derive from the world's seed (seed
/// 42 keeps the placement the seed-42 tests were written against).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Facts {
    /// A campaign whose spend jumps on one day: (platform, campaign id, day).
    pub spend_anomaly: Option<(Platform, String, NaiveDate)>,
    /// An ad whose click-through rate falls while its frequency rises over
    /// the last [`FATIGUE_DAYS`] days.
    pub fatigued_ad: Option<(Platform, String)>,
    /// A campaign whose return on ad spend is far above its siblings'.
    pub best_roas_campaign: Option<(Platform, String)>,
    /// Store revenue follows total ad spend this many days later.
    pub revenue_lag_days: Option<u32>,
}

/// Days over which the planted fatigue develops.
pub const FATIGUE_DAYS: i64 = 21;

/// Which facts to plant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// A spend anomaly, a fatigued creative, a best-ROAS campaign and revenue
    /// that lags spend by two to four days, placed by the seed.
    Planted,
    /// Steady delivery with none of those facts.
    Control,
}

/// The whole seeded business.
#[derive(Debug, Clone, PartialEq)]
pub struct World {
    /// The seed everything derives from.
    pub seed: u64,
    /// Which facts are planted.
    pub scenario: Scenario,
    /// The first day with data.
    pub first_day: NaiveDate,
    /// The last day with data.
    pub last_day: NaiveDate,
    /// Meta, Google and TikTok, in [`Platform::ALL`] order, then LinkedIn.
    pub ad_accounts: Vec<AdAccount>,
    /// The Shopify store.
    pub shop: Shop,
    /// The Stripe account.
    pub payments: Payments,
    /// The GoHighLevel location: leads, deals and appointments.
    pub crm: Crm,
    /// What was planted.
    pub facts: Facts,
}

/// Unix seconds as a UTC time.
pub fn utc(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(seconds, 0).single().unwrap_or_default()
}

fn midnight(date: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).unwrap_or_default())
}

/// Days of data in a new world.
pub const DAYS: u32 = 90;

impl World {
    /// The account of `platform`.
    pub fn account(&self, platform: Platform) -> &AdAccount {
        &self.ad_accounts[platform.index() as usize]
    }

    /// The account of `platform`, to change it.
    pub fn account_mut(&mut self, platform: Platform) -> &mut AdAccount {
        &mut self.ad_accounts[platform.index() as usize]
    }

    /// The days with data, oldest first.
    pub fn dates(&self) -> impl Iterator<Item = NaiveDate> + use<> {
        self.first_day.iter_days().take_while({
            let last = self.last_day;
            move |d| *d <= last
        })
    }

    /// The latest time anything in the world happened: the end of its last day.
    pub fn now(&self) -> DateTime<Utc> {
        midnight(self.last_day) + Duration::days(1) - Duration::seconds(1)
    }

    /// Total ad spend of the store's three platforms ([`Platform::ALL`]) on
    /// `date`, in cents.
    pub fn ad_spend_on(&self, date: NaiveDate) -> i64 {
        Platform::ALL
            .iter()
            .map(|&p| self.account(p).spend_on(date))
            .sum()
    }

    /// Set the daily budget of campaign `campaign_id` on `platform` to
    /// `daily_budget_cents`, as someone working in the platform's own
    /// interface would (nothing is logged as a connector's write). Returns
    /// whether the campaign exists.
    pub fn set_daily_budget(
        &mut self,
        platform: Platform,
        campaign_id: &str,
        daily_budget_cents: i64,
    ) -> bool {
        let now = self.now();
        match self.account_mut(platform).campaign_mut(campaign_id) {
            Some(campaign) => {
                campaign.daily_budget_cents = daily_budget_cents;
                campaign.updated = now.max(campaign.updated);
                true
            }
            None => false,
        }
    }
}
