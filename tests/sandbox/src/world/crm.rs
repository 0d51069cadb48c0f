//! The world's CRM: a GoHighLevel location with the leads the ads bring
//! in. Contacts arrive every day, many with an opportunity in the sales
//! pipeline; open opportunities move through its stages and are won (their
//! value is revenue on the day they are won) or lost; appointments fill two
//! calendars. A second pipeline, for referral partners, has stages of its
//! own. Like the rest of the world, every day is generated from its own
//! seed, so [`World::extend_days`] appends the days a larger world has.

use super::{World, midnight};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use rand::prelude::*;

/// The location's id (the one the sandbox's OAuth sign-in chooses).
pub const LOCATION_ID: &str = "ve9EPM428h8vShlRW1KT";

/// The sales pipeline's stages; an opportunity moved past the last but
/// one is won.
const SALES_STAGES: [&str; 5] = [
    "New Lead",
    "Qualified",
    "Proposal Sent",
    "Negotiation",
    "Closed Won",
];
/// The referral partners pipeline's stages.
const PARTNER_STAGES: [&str; 3] = ["Introduced", "Qualified Partner", "Active Partner"];
const FIRST_NAMES: [&str; 8] = ["Maya", "Omar", "Lena", "Theo", "Priya", "Jonas", "Aiko", "Rafael"];
const LAST_NAMES: [&str; 6] = ["Fischer", "Adeyemi", "Kowalski", "Haddad", "Silva", "Brennan"];
const SOURCES: [&str; 5] = ["Facebook Ads", "Google Ads", "TikTok Ads", "Referral", "Website"];
const APPOINTMENT_STATUSES: [(&str, f64); 4] = [
    ("showed", 0.6),
    ("noshow", 0.15),
    ("cancelled", 0.1),
    ("confirmed", 0.15),
];

/// A contact of the location.
#[derive(Debug, Clone, PartialEq)]
pub struct CrmContact {
    /// GoHighLevel's 20-character id.
    pub id: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Email address.
    pub email: String,
    /// Phone number, E.164.
    pub phone: String,
    /// Where the lead came from.
    pub source: String,
    /// Its tags, in lower case, without repeats.
    pub tags: Vec<String>,
    /// When it was added.
    pub date_added: DateTime<Utc>,
    /// When it last changed.
    pub date_updated: DateTime<Utc>,
}

/// A stage of a pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    /// Its id (GoHighLevel's are UUIDs).
    pub id: String,
    /// Its name.
    pub name: String,
}

/// A pipeline and its stages, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its stages, first to last.
    pub stages: Vec<Stage>,
}

/// Where an opportunity stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DealStatus {
    /// Being worked on.
    Open,
    /// Won: its value is revenue.
    Won,
    /// Lost.
    Lost,
    /// Given up.
    Abandoned,
}

impl DealStatus {
    /// GoHighLevel's name of the status.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Won => "won",
            Self::Lost => "lost",
            Self::Abandoned => "abandoned",
        }
    }
}

/// An opportunity (a deal) of a contact in a pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Opportunity {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The contact.
    pub contact_id: String,
    /// Its pipeline.
    pub pipeline_id: String,
    /// Its stage in that pipeline.
    pub stage_id: String,
    /// Open, won, lost or abandoned.
    pub status: DealStatus,
    /// Its value in cents of the location's currency.
    pub monetary_value_cents: i64,
    /// Where it came from.
    pub source: String,
    /// The user working on it.
    pub assigned_to: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When its status last changed (when it was won, for a won deal).
    pub last_status_change_at: DateTime<Utc>,
    /// When its stage last changed.
    pub last_stage_change_at: DateTime<Utc>,
}

/// A calendar appointments are booked in.
#[derive(Debug, Clone, PartialEq)]
pub struct Calendar {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
}

/// An appointment (a calendar event with a contact).
#[derive(Debug, Clone, PartialEq)]
pub struct Appointment {
    /// Its id.
    pub id: String,
    /// The calendar it is in.
    pub calendar_id: String,
    /// The contact it is with.
    pub contact_id: String,
    /// Its title.
    pub title: String,
    /// `confirmed`, `showed`, `noshow` or `cancelled`.
    pub status: String,
    /// The user it is with.
    pub assigned_user_id: String,
    /// When it starts.
    pub start_time: DateTime<Utc>,
    /// When it ends.
    pub end_time: DateTime<Utc>,
    /// When it was booked.
    pub date_added: DateTime<Utc>,
    /// When it last changed.
    pub date_updated: DateTime<Utc>,
}

/// The GoHighLevel location.
#[derive(Debug, Clone, PartialEq)]
pub struct Crm {
    /// Its id.
    pub location_id: String,
    /// ISO 4217 currency of opportunity values.
    pub currency: String,
    /// Its users' ids.
    pub users: Vec<String>,
    /// Contacts, oldest first.
    pub contacts: Vec<CrmContact>,
    /// The sales pipeline, then the partners pipeline.
    pub pipelines: Vec<Pipeline>,
    /// Opportunities, oldest first.
    pub opportunities: Vec<Opportunity>,
    /// The calendars.
    pub calendars: Vec<Calendar>,
    /// Appointments, by start time.
    pub appointments: Vec<Appointment>,
}

/// A GoHighLevel-style id: 20 letters and digits, from `(seed, kind, n)`.
fn ghl_id(seed: u64, kind: u64, n: u64) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = StdRng::seed_from_u64(seed ^ (kind << 48) ^ n.wrapping_mul(0x2545_F491_4F6C_DD1D));
    (0..20)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

/// A UUID-style stage id from `(seed, n)`.
fn stage_id(seed: u64, n: u64) -> String {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x57A6_E000 ^ (n << 20));
    let hex = |len: usize, rng: &mut StdRng| -> String {
        (0..len)
            .map(|_| char::from(b"0123456789abcdef"[rng.random_range(0..16)]))
            .collect()
    };
    let parts: Vec<String> = [8, 4, 4, 4, 12].iter().map(|&len| hex(len, &mut rng)).collect();
    parts.join("-")
}

impl Crm {
    /// The location before `first_day`: its pipelines and calendars, 40
    /// contacts and 20 open deals at every stage, so that deals are won
    /// from the first day on.
    pub fn new(seed: u64, first_day: NaiveDate) -> Self {
        let pipeline = |n: u64, name: &str, stages: &[&str]| Pipeline {
            id: ghl_id(seed, 2, n),
            name: name.into(),
            stages: stages
                .iter()
                .enumerate()
                .map(|(s, stage)| Stage {
                    id: stage_id(seed, n * 100 + s as u64),
                    name: (*stage).into(),
                })
                .collect(),
        };
        let mut crm = Crm {
            location_id: LOCATION_ID.into(),
            currency: "USD".into(),
            users: (0..3).map(|n| ghl_id(seed, 9, n)).collect(),
            contacts: Vec::new(),
            pipelines: vec![
                pipeline(0, "Sales Pipeline", &SALES_STAGES),
                pipeline(1, "Referral Partners", &PARTNER_STAGES),
            ],
            opportunities: Vec::new(),
            calendars: ["Discovery Call", "Product Demo"]
                .iter()
                .enumerate()
                .map(|(n, name)| Calendar {
                    id: ghl_id(seed, 5, n as u64),
                    name: (*name).into(),
                })
                .collect(),
            appointments: Vec::new(),
        };
        let mut rng = StdRng::seed_from_u64(seed ^ 0xC0FF_EE00_5EED_0001);
        let start = midnight(first_day) - Duration::days(45);
        for n in 0..40 {
            let added = start + Duration::hours(n * 25) + Duration::minutes(rng.random_range(0..60));
            crm.add_contact(seed, &mut rng, added);
            if n % 2 == 0 {
                let contact = crm.contacts.len() - 1;
                crm.add_opportunity(seed, &mut rng, contact, 0, added);
                // Spread over the sales stages short of the won one.
                let stage = (n as usize / 2) % (SALES_STAGES.len() - 1);
                if let Some(deal) = crm.opportunities.last_mut() {
                    deal.stage_id = crm.pipelines[0].stages[stage].id.clone();
                }
            }
        }
        crm
    }

    /// The contact with `id`.
    pub fn contact(&self, id: &str) -> Option<&CrmContact> {
        self.contacts.iter().find(|c| c.id == id)
    }

    /// The opportunity with `id`.
    pub fn opportunity(&self, id: &str) -> Option<&Opportunity> {
        self.opportunities.iter().find(|o| o.id == id)
    }

    /// The pipeline with `id`.
    pub fn pipeline(&self, id: &str) -> Option<&Pipeline> {
        self.pipelines.iter().find(|p| p.id == id)
    }

    /// The pipeline stage `stage_id` belongs to.
    pub fn pipeline_of_stage(&self, stage_id: &str) -> Option<&Pipeline> {
        self.pipelines
            .iter()
            .find(|p| p.stages.iter().any(|s| s.id == stage_id))
    }

    /// The value of the deals won on `date` (UTC), in cents.
    pub fn won_on(&self, date: NaiveDate) -> i64 {
        self.opportunities
            .iter()
            .filter(|o| o.status == DealStatus::Won && o.last_status_change_at.date_naive() == date)
            .map(|o| o.monetary_value_cents)
            .sum()
    }

    fn add_contact(&mut self, seed: u64, rng: &mut StdRng, added: DateTime<Utc>) {
        let n = self.contacts.len() as u64;
        let first = FIRST_NAMES[rng.random_range(0..FIRST_NAMES.len())];
        let last = LAST_NAMES[rng.random_range(0..LAST_NAMES.len())];
        let source = SOURCES[rng.random_range(0..SOURCES.len())];
        self.contacts.push(CrmContact {
            id: ghl_id(seed, 1, n),
            first_name: first.into(),
            last_name: last.into(),
            email: format!("{}.{}{n}@example.com", first.to_lowercase(), last.to_lowercase()),
            phone: format!("+1415555{:04}", n % 10_000),
            source: source.into(),
            tags: vec!["lead".into(), source.to_lowercase()],
            date_added: added,
            date_updated: added,
        });
    }

    fn add_opportunity(
        &mut self,
        seed: u64,
        rng: &mut StdRng,
        contact: usize,
        pipeline: usize,
        at: DateTime<Utc>,
    ) {
        let n = self.opportunities.len() as u64;
        let contact = &self.contacts[contact];
        let value = match pipeline {
            0 => rng.random_range(8..=60) * 5_000,
            _ => rng.random_range(2..=10) * 10_000,
        };
        self.opportunities.push(Opportunity {
            id: ghl_id(seed, 3, n),
            name: format!(
                "{} {} – {}",
                contact.first_name, contact.last_name, self.pipelines[pipeline].name
            ),
            contact_id: contact.id.clone(),
            pipeline_id: self.pipelines[pipeline].id.clone(),
            stage_id: self.pipelines[pipeline].stages[0].id.clone(),
            status: DealStatus::Open,
            monetary_value_cents: value,
            source: contact.source.clone(),
            assigned_to: self.users[rng.random_range(0..self.users.len())].clone(),
            created_at: at,
            updated_at: at,
            last_status_change_at: at,
            last_stage_change_at: at,
        });
    }
}

impl World {
    /// The CRM's `date`: new leads and their deals, stage moves, wins and
    /// losses of older deals, and the day's appointments.
    pub(super) fn book(&mut self, date: NaiveDate) {
        let day = (date - NaiveDate::default()).num_days() as u64;
        let seed = self.seed;
        let mut rng = StdRng::seed_from_u64(seed ^ day.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (11 << 56));
        let start = midnight(date);
        let at = |rng: &mut StdRng| start + Duration::seconds(rng.random_range(0..86_400));
        let crm = &mut self.crm;
        for _ in 0..rng.random_range(2..=4) {
            let added = at(&mut rng);
            crm.add_contact(seed, &mut rng, added);
            let contact = crm.contacts.len() - 1;
            if rng.random_bool(0.5) {
                crm.add_opportunity(seed, &mut rng, contact, 0, added);
            } else if rng.random_bool(0.15) {
                crm.add_opportunity(seed, &mut rng, contact, 1, added);
            }
        }
        for index in 0..crm.opportunities.len() {
            let deal = &crm.opportunities[index];
            if deal.status != DealStatus::Open || deal.created_at >= start {
                continue;
            }
            let advance = rng.random_bool(0.14);
            let lose = !advance && rng.random_bool(0.02);
            if !advance && !lose {
                continue;
            }
            let when = at(&mut rng).max(deal.updated_at + Duration::seconds(1));
            let Some(pipeline) = crm.pipelines.iter().find(|p| p.id == deal.pipeline_id) else {
                continue;
            };
            let position = pipeline
                .stages
                .iter()
                .position(|s| s.id == deal.stage_id)
                .unwrap_or(0);
            let next = pipeline.stages.get(position + 1).map(|s| s.id.clone());
            let won = advance && position + 2 >= pipeline.stages.len();
            let deal = &mut crm.opportunities[index];
            deal.updated_at = when;
            if lose {
                deal.status = DealStatus::Lost;
                deal.last_status_change_at = when;
                continue;
            }
            if let Some(next) = next {
                deal.stage_id = next;
                deal.last_stage_change_at = when;
            }
            if won {
                deal.status = DealStatus::Won;
                deal.last_status_change_at = when;
                let contact_id = deal.contact_id.clone();
                if let Some(contact) = crm.contacts.iter_mut().find(|c| c.id == contact_id) {
                    if !contact.tags.iter().any(|t| t == "customer") {
                        contact.tags.push("customer".into());
                    }
                    contact.date_updated = when.max(contact.date_updated);
                }
            }
        }
        for _ in 0..rng.random_range(1..=3) {
            let n = crm.appointments.len() as u64;
            let calendar = crm.calendars[rng.random_range(0..crm.calendars.len())].clone();
            let contact = &crm.contacts[rng.random_range(0..crm.contacts.len())];
            let begins = start + Duration::hours(rng.random_range(14..22));
            let roll: f64 = rng.random_range(0.0..1.0);
            let mut cumulative = 0.0;
            let status = APPOINTMENT_STATUSES
                .iter()
                .find(|(_, p)| {
                    cumulative += p;
                    roll < cumulative
                })
                .map_or("confirmed", |(s, _)| s);
            crm.appointments.push(Appointment {
                id: ghl_id(seed, 6, n),
                calendar_id: calendar.id.clone(),
                contact_id: contact.id.clone(),
                title: format!(
                    "{} with {} {}",
                    calendar.name, contact.first_name, contact.last_name
                ),
                status: status.into(),
                assigned_user_id: crm.users[rng.random_range(0..crm.users.len())].clone(),
                start_time: begins,
                end_time: begins + Duration::minutes(30),
                date_added: begins - Duration::days(3),
                date_updated: begins + Duration::hours(1),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::world::{Scenario, World};

    #[test]
    fn deals_are_won_across_the_period_and_stay_in_their_pipeline() {
        let world = World::generate(42, Scenario::Planted, "2026-06-30".parse().expect("a date"));
        let crm = &world.crm;
        let days_with_wins = world.dates().filter(|d| crm.won_on(*d) > 0).count();
        assert!(days_with_wins > 40, "{days_with_wins} days with wins");
        let recent = world.dates().skip(60).filter(|d| crm.won_on(*d) > 0).count();
        assert!(recent > 15, "{recent} of the last 30 days have wins");
        for deal in &crm.opportunities {
            let pipeline = crm.pipeline(&deal.pipeline_id).expect("its pipeline");
            assert!(pipeline.stages.iter().any(|s| s.id == deal.stage_id), "{deal:?}");
            assert!(deal.updated_at >= deal.created_at);
        }
        assert!(crm.contacts.len() > 200 && crm.appointments.len() > 90);
        let ids: std::collections::HashSet<_> = crm.contacts.iter().map(|c| &c.id).collect();
        assert_eq!(ids.len(), crm.contacts.len(), "ids are distinct");
        let again = World::generate(42, Scenario::Planted, "2026-06-30".parse().expect("a date"));
        assert_eq!(again.crm, world.crm);
    }
}
