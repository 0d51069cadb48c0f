//! The creative agent: per ad, detects creative fatigue (CTR falling while
//! frequency rises); per ad group, ranks winners and losers with a corrected
//! significance test; proposes pausing fatigued and losing ads and raising the
//! budget of campaigns with a clear winner. The statistics live in
//! [`fatigue`], [`ranking`] and [`stats`]; this file reads the records and
//! assembles the output.

pub mod fatigue;
pub mod ranking;
pub mod records;
mod report;
pub mod stats;
mod text;

use omnify_sdk::agent::{Agent, AgentInfo, Insight, RunOutput, Severity, Task, TaskSpec};
use omnify_sdk::{Error, Value, json};
use records::{Ad, AdDay, AdGroup, Campaign};
use report::{AdContext, Window};
use std::collections::{BTreeMap, HashMap};

/// The ad connectors reviewed.
pub const CONNECTORS: [&str; 4] = ["meta-ads", "google-ads", "tiktok-ads", "linkedin-ads"];
/// The task kind.
pub const TASK: &str = "creative-review";
/// Days averaged for an ad's recent daily spend.
const SPEND_DAYS: i64 = 7;

/// The task's input, with defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// Length of the recent window (and of the baseline before it).
    pub window_days: i64,
    /// Impressions an ad needs in a period to be tested.
    pub min_impressions: f64,
    /// The tenant's cap on one budget change, in percent.
    pub max_budget_change_percent: f64,
    /// The tenant's cap on one change in money, if any.
    pub max_change_absolute: Option<f64>,
}

impl Params {
    /// Read the input, rejecting values of the wrong type or range.
    pub fn from_input(input: &Value) -> Result<Self, Error> {
        let window_days = match input.get("window_days") {
            None | Some(Value::Null) => 14,
            Some(v) => v
                .as_i64()
                .filter(|w| (4..=90).contains(w))
                .ok_or_else(|| Error::invalid_input("`window_days` must be an integer from 4 to 90"))?,
        };
        let min_impressions = match input.get("min_impressions") {
            None | Some(Value::Null) => 1000.0,
            Some(v) => v
                .as_f64()
                .filter(|m| m.is_finite() && *m >= 0.0)
                .ok_or_else(|| Error::invalid_input("`min_impressions` must be a number of at least 0"))?,
        };
        // The host's guardrails name the cap `max_change_percent`; the older
        // `max_budget_change_percent` is read too. A missing or unreadable
        // cap falls back to the default; a negative one forbids budget changes.
        let guardrails = input.get("guardrails");
        let guardrail = |key: &str| {
            guardrails
                .and_then(|g| g.get(key))
                .and_then(Value::as_f64)
                .filter(|m| m.is_finite())
        };
        let max_budget_change_percent = guardrail("max_budget_change_percent")
            .or_else(|| guardrail("max_change_percent"))
            .map_or(20.0, |m| m.clamp(0.0, 100.0));
        Ok(Params {
            window_days,
            min_impressions,
            max_budget_change_percent,
            max_change_absolute: guardrail("max_change_absolute").map(|m| m.max(0.0)),
        })
    }
}

/// One connector's raw records; `None` for a stream the agent may not read.
#[derive(Debug, Clone, Default)]
pub struct Streams {
    /// The connector, for example `meta-ads`.
    pub connector: String,
    /// `ads` records.
    pub ads: Option<Vec<Value>>,
    /// `ad_groups` records.
    pub ad_groups: Option<Vec<Value>>,
    /// `campaigns` records.
    pub campaigns: Option<Vec<Value>>,
    /// `ad_insights` records.
    pub ad_insights: Option<Vec<Value>>,
}

/// The records of a stream, none when it is not granted.
fn all(records: &Option<Vec<Value>>) -> &[Value] {
    records.as_deref().unwrap_or_default()
}

/// One platform's parsed records.
struct Account {
    connector: String,
    ads: HashMap<String, Ad>,
    groups: HashMap<String, AdGroup>,
    campaigns: HashMap<String, Campaign>,
    /// Daily delivery per ad, one record per day, oldest first.
    days: BTreeMap<String, Vec<AdDay>>,
    last_day: i64,
}

impl Account {
    /// Parse and index; `None` when there is no delivery to review.
    fn parse(streams: &Streams) -> Option<Account> {
        let ads: HashMap<String, Ad> = all(&streams.ads)
            .iter()
            .filter_map(records::ad)
            .map(|a| (a.id.clone(), a))
            .collect();
        let mut unique: BTreeMap<(String, i64), AdDay> = BTreeMap::new();
        for mut day in all(&streams.ad_insights).iter().filter_map(records::ad_day) {
            // Insights that omit the hierarchy take it from the ad's settings.
            if let Some(ad) = ads.get(&day.ad_id) {
                if day.ad_group_id.is_empty() {
                    day.ad_group_id = ad.ad_group_id.clone();
                }
                if day.campaign_id.is_empty() {
                    day.campaign_id = ad.campaign_id.clone();
                }
            }
            // A re-synced day replaces the earlier copy.
            unique.insert((day.ad_id.clone(), day.day), day);
        }
        let last_day = unique.keys().map(|(_, day)| *day).max()?;
        let mut days: BTreeMap<String, Vec<AdDay>> = BTreeMap::new();
        for ((ad_id, _), day) in unique {
            days.entry(ad_id).or_default().push(day);
        }
        Some(Account {
            connector: streams.connector.clone(),
            groups: all(&streams.ad_groups)
                .iter()
                .filter_map(records::ad_group)
                .map(|g| (g.id.clone(), g))
                .collect(),
            campaigns: all(&streams.campaigns)
                .iter()
                .filter_map(records::campaign)
                .map(|c| (c.id.clone(), c))
                .collect(),
            ads,
            days,
            last_day,
        })
    }

    fn context(&self, ad_id: &str, days: &[AdDay]) -> AdContext {
        let ad = self.ads.get(ad_id);
        let latest = days.last();
        let ad_group_id = ad
            .map(|a| a.ad_group_id.clone())
            .filter(|g| !g.is_empty())
            .or_else(|| latest.map(|d| d.ad_group_id.clone()))
            .unwrap_or_default();
        let campaign_id = ad
            .map(|a| a.campaign_id.clone())
            .filter(|c| !c.is_empty())
            .or_else(|| latest.map(|d| d.campaign_id.clone()))
            .unwrap_or_default();
        let first_spend_day = self.last_day - SPEND_DAYS + 1;
        let spend: f64 = days
            .iter()
            .filter(|d| d.day >= first_spend_day)
            .map(|d| d.spend)
            .sum();
        AdContext {
            connector: self.connector.clone(),
            ad_id: ad_id.to_string(),
            name: ad.map_or_else(|| ad_id.to_string(), |a| a.name.clone()),
            ad_group_name: self
                .groups
                .get(&ad_group_id)
                .map_or_else(|| ad_group_id.clone(), |g| g.name.clone()),
            ad_group_id,
            campaign_id,
            // Without the ads stream, an ad that delivered lately counts as running.
            active: ad.map_or_else(
                || latest.is_some_and(|d| d.day == self.last_day),
                |a| records::is_active(&a.status),
            ),
            daily_spend: spend / SPEND_DAYS as f64,
            spend_days: SPEND_DAYS,
            currency: days.iter().rev().find_map(|d| d.currency.clone()),
        }
    }
}

/// Why a platform was skipped, in an `info` insight.
fn missing_insight(streams: &Streams) -> Insight {
    let platform = text::platform(&streams.connector);
    let reason = if streams.ad_insights.is_none() {
        format!(
            "the agent is not granted `{}/ad_insights` (is the connector enabled?)",
            streams.connector
        )
    } else {
        "no ad delivery has been synced yet".to_string()
    };
    Insight {
        kind: "data-missing".into(),
        title: format!("{platform} skipped: no ad delivery data"),
        severity: Severity::Info,
        rationale: format!("{platform} was not reviewed because {reason}; the other platforms were."),
        data: json!({"connector": streams.connector, "stream": "ad_insights",
            "granted": streams.ad_insights.is_some()}),
    }
}

/// The whole review over already-read records: pure, so it can be tested natively.
pub fn analyze(params: &Params, platforms: &[Streams]) -> RunOutput {
    let mut output = RunOutput::default();
    let mut accounts = Vec::new();
    for streams in platforms {
        match Account::parse(streams) {
            Some(account) => accounts.push(account),
            None => output.insights.push(missing_insight(streams)),
        }
    }
    let contexts: Vec<BTreeMap<&str, AdContext>> = accounts
        .iter()
        .map(|acc| {
            acc.days
                .iter()
                .map(|(id, days)| (id.as_str(), acc.context(id, days)))
                .collect()
        })
        .collect();

    // Fatigue, tested on every ad with enough data; Bonferroni over them all.
    let mut assessments = Vec::new();
    for (i, acc) in accounts.iter().enumerate() {
        for (ad_id, days) in &acc.days {
            let refs: Vec<&AdDay> = days.iter().collect();
            if let Some(a) = fatigue::assess(&refs, acc.last_day, params.window_days, params.min_impressions)
            {
                assessments.push((i, ad_id.as_str(), a));
            }
        }
    }
    let fatigue_tests = assessments.len();
    let fatigued: Vec<&(usize, &str, fatigue::Assessment)> = assessments
        .iter()
        .filter(|(_, _, a)| a.fatigued(fatigue_tests))
        .collect();

    // Rankings over the recent window; fatigued ads are no baseline.
    let mut groups = Vec::new();
    let mut rankings = Vec::new();
    for (i, acc) in accounts.iter().enumerate() {
        let first_day = acc.last_day - params.window_days + 1;
        let mut members: BTreeMap<&str, Vec<ranking::AdTotals>> = BTreeMap::new();
        for (ad_id, days) in &acc.days {
            let recent: Vec<&AdDay> = days.iter().filter(|d| d.day >= first_day).collect();
            if recent.is_empty() {
                continue;
            }
            let sum = |f: fn(&AdDay) -> f64| recent.iter().map(|d| f(d)).sum::<f64>();
            members
                .entry(contexts[i][ad_id.as_str()].ad_group_id.as_str())
                .or_default()
                .push(ranking::AdTotals {
                    ad_id: ad_id.clone(),
                    impressions: sum(|d| d.impressions),
                    clicks: sum(|d| d.clicks),
                    conversions: sum(|d| d.conversions),
                    daily: recent
                        .iter()
                        .map(|d| (d.clicks, d.conversions, d.impressions))
                        .collect(),
                });
        }
        let excluded: Vec<String> = fatigued
            .iter()
            .filter(|(a, _, _)| *a == i)
            .map(|(_, id, _)| id.to_string())
            .collect();
        for (group_id, ads) in members {
            if group_id.is_empty() {
                continue;
            }
            if let Some(ranked) = ranking::rank_group(&ads, &excluded, params.min_impressions) {
                groups.push(i);
                rankings.push(ranked);
            }
        }
    }
    ranking::adjust(&mut rankings);
    let ranking_tests: usize = rankings.iter().map(|r| r.entries.len()).sum();

    // Pauses: fatigued ads first, then losers not already covered.
    let mut pauses: Vec<(usize, String)> = Vec::new();
    let mut pause_proposals = Vec::new();
    for (i, ad_id, a) in &fatigued {
        let ad = &contexts[*i][*ad_id];
        output
            .insights
            .push(report::fatigue_insight(ad, a, fatigue_tests));
        if ad.active {
            pauses.push((*i, ad_id.to_string()));
            pause_proposals.push((*i, ad_id.to_string(), PauseReason::Fatigue(a)));
        }
    }
    let mut losers = Vec::new();
    for (ranked, &i) in rankings.iter().zip(&groups) {
        for entry in ranked
            .entries
            .iter()
            .filter(|e| e.verdict == ranking::Verdict::Loser)
        {
            let ad = &contexts[i][entry.ad_id.as_str()];
            if ad.active && !pauses.contains(&(i, entry.ad_id.clone())) {
                pauses.push((i, entry.ad_id.clone()));
                losers.push((i, entry.ad_id.clone(), PauseReason::Loser(entry, ranked.metric)));
            }
        }
    }
    pause_proposals.extend(losers);
    let window = |i: usize| Window {
        days: params.window_days,
        last: accounts[i].last_day,
    };
    for (i, ad_id, reason) in &pause_proposals {
        let ad = &contexts[*i][ad_id.as_str()];
        // Alone: no other active ad of the group stays running.
        let alone = !contexts[*i].values().any(|other| {
            other.ad_group_id == ad.ad_group_id
                && other.active
                && !pauses.contains(&(*i, other.ad_id.clone()))
        });
        output.proposals.push(match reason {
            PauseReason::Fatigue(a) => report::pause_fatigued(ad, a, fatigue_tests, alone),
            PauseReason::Loser(entry, metric) => {
                report::pause_loser(ad, entry, *metric, window(*i), ranking_tests, alone)
            }
        });
    }

    // Budget: one raise per campaign, for its strongest winner.
    let mut best: BTreeMap<(usize, String), (&ranking::Entry, ranking::Metric)> = BTreeMap::new();
    for (ranked, &i) in rankings.iter().zip(&groups) {
        for entry in ranked
            .entries
            .iter()
            .filter(|e| e.verdict == ranking::Verdict::Winner)
        {
            let campaign = contexts[i][entry.ad_id.as_str()].campaign_id.clone();
            let slot = best.entry((i, campaign)).or_insert((entry, ranked.metric));
            if (entry.p_adjusted, -entry.lift) < (slot.0.p_adjusted, -slot.0.lift) {
                *slot = (entry, ranked.metric);
            }
        }
    }
    let mut winners_without_budget = 0;
    for ((i, campaign_id), (entry, metric)) in &best {
        let ad = &contexts[*i][entry.ad_id.as_str()];
        let proposal = accounts[*i]
            .campaigns
            .get(campaign_id)
            .filter(|c| records::is_active(&c.status))
            .and_then(|c| {
                report::raise_budget(
                    ad,
                    c,
                    entry,
                    *metric,
                    window(*i),
                    ranking_tests,
                    params.max_budget_change_percent,
                    params.max_change_absolute,
                )
            });
        match proposal {
            Some(p) => output.proposals.push(p),
            None => winners_without_budget += 1,
        }
    }

    for (ranked, &i) in rankings.iter().zip(&groups) {
        let ads: Vec<&AdContext> = ranked
            .entries
            .iter()
            .map(|e| &contexts[i][e.ad_id.as_str()])
            .collect();
        output
            .insights
            .extend(report::ranking_insight(ranked, &ads, window(i), ranking_tests));
    }
    output.insights.push(summary(
        params,
        &accounts,
        fatigue_tests,
        fatigued.len(),
        &rankings,
        winners_without_budget,
        output.proposals.len(),
    ));
    output
}

/// Why an ad is proposed for a pause.
enum PauseReason<'a> {
    Fatigue(&'a fatigue::Assessment),
    Loser(&'a ranking::Entry, ranking::Metric),
}

fn summary(
    params: &Params,
    accounts: &[Account],
    fatigue_tests: usize,
    fatigued: usize,
    rankings: &[ranking::GroupRanking],
    winners_without_budget: usize,
    proposals: usize,
) -> Insight {
    let count = |v: ranking::Verdict| {
        rankings
            .iter()
            .flat_map(|r| &r.entries)
            .filter(|e| e.verdict == v)
            .count()
    };
    let (winners, losers) = (count(ranking::Verdict::Winner), count(ranking::Verdict::Loser));
    let ads: usize = accounts.iter().map(|a| a.days.len()).sum();
    let platforms: Vec<String> = accounts.iter().map(|a| text::platform(&a.connector)).collect();
    let mut rationale = if accounts.is_empty() {
        "No ad platform had delivery data to review.".to_string()
    } else {
        format!(
            "Reviewed {ads} ads on {} with a {}-day window: {fatigue_tests} had enough data for a fatigue \
             test, of which {fatigued} showed fatigue; {} ad groups were ranked, with {winners} winner(s) \
             and {losers} loser(s). {proposals} proposal(s).",
            platforms.join(", "),
            params.window_days,
            rankings.len(),
        )
    };
    if winners_without_budget > 0 {
        rationale.push_str(&format!(
            " {winners_without_budget} winning campaign(s) got no budget proposal: no active campaign with \
             a daily budget, or a guardrail too tight for a step of 1%."
        ));
    }
    Insight {
        kind: "creative-review".into(),
        title: format!("Creative review: {fatigued} fatigued, {winners} winner(s), {losers} loser(s)"),
        severity: Severity::Info,
        rationale,
        data: json!({"ads": ads, "fatigue_tests": fatigue_tests, "fatigued": fatigued,
            "ad_groups_ranked": rankings.len(), "winners": winners, "losers": losers,
            "proposals": proposals, "window_days": params.window_days,
            "min_impressions": params.min_impressions,
            "max_budget_change_percent": params.max_budget_change_percent}),
    }
}

/// Every record of a stream; `None` when the stream is not granted. Records
/// that are not JSON are skipped; store failures are returned (to retry).
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
fn read(connector: &str, stream: &str) -> Result<Option<Vec<Value>>, Error> {
    let mut records = Vec::new();
    for record in omnify_sdk::data::records::<Value>(connector, stream) {
        match record {
            Ok(value) => records.push(value),
            Err(Error::Config(message)) if message.starts_with("stream not granted") => return Ok(None),
            Err(Error::Internal(message)) => omnify_sdk::warn!("{connector}/{stream}: skipped {message}"),
            Err(error) => return Err(error),
        }
    }
    Ok(Some(records))
}

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
struct Creative;

impl Agent for Creative {
    fn describe() -> AgentInfo {
        AgentInfo {
            name: "creative".into(),
            description: "Finds fatigued creatives and ad-group winners and losers on Meta, Google and \
                          TikTok; proposes pausing tired or losing ads and scaling winners"
                .into(),
            tasks: vec![TaskSpec {
                kind: TASK.into(),
                description: "Test every ad for creative fatigue and rank the ads of each ad group".into(),
                input_schema: json!({
                    "type": "object",
                    "properties": {
                        "window_days": {"type": "integer", "minimum": 4, "maximum": 90, "default": 14},
                        "min_impressions": {"type": "number", "minimum": 0, "default": 1000},
                        "guardrails": {"type": "object", "properties": {
                            "max_change_percent": {"type": "number", "minimum": 0, "maximum": 100,
                                "default": 20},
                            "max_budget_change_percent": {"type": "number", "minimum": 0, "maximum": 100},
                            "max_change_absolute": {"type": ["number", "null"], "minimum": 0}}}
                    }
                }),
            }],
        }
    }

    fn run(task: Task) -> Result<RunOutput, Error> {
        if task.kind != TASK {
            return Err(Error::not_found(format!(
                "no task `{}`; this agent runs `{TASK}`",
                task.kind
            )));
        }
        let params = Params::from_input(&task.input)?;
        let mut platforms = Vec::new();
        for connector in CONNECTORS {
            platforms.push(Streams {
                connector: connector.into(),
                ads: read(connector, "ads")?,
                ad_groups: read(connector, "ad_groups")?,
                campaigns: read(connector, "campaigns")?,
                ad_insights: read(connector, "ad_insights")?,
            });
        }
        Ok(analyze(&params, &platforms))
    }
}

omnify_sdk::export_agent!(Creative);

#[cfg(test)]
mod tests;
