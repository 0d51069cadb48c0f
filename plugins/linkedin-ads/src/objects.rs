//! The entity streams: `ad_accounts` (`GET /rest/adAccounts/{id}`), and
//! `campaign_groups`, `campaigns` and `ads` from the account's finders,
//! `adCampaignGroups?q=search`, `adCampaigns?q=search` and
//! `creatives?q=criteria`. Those finders page with a cursor: `pageSize`
//! and `pageToken`, the next token in `metadata.nextPageToken`. One page
//! is one batch; the state carries the token.

use crate::api::{Client, Page};
use crate::records;
use crate::restli::{Query, list};
use omnify_sdk::connector::{Batch, ReadRequest};
use omnify_sdk::{Error, Value};
use serde::{Deserialize, Serialize};

/// The statuses read: all but `REMOVED`, which LinkedIn keeps only for
/// history (the delivery of removed objects stays in the analytics streams).
const CAMPAIGN_STATUSES: [&str; 7] = [
    "ACTIVE",
    "PAUSED",
    "ARCHIVED",
    "COMPLETED",
    "CANCELED",
    "DRAFT",
    "PENDING_DELETION",
];
const CREATIVE_STATUSES: [&str; 6] = [
    "ACTIVE",
    "PAUSED",
    "ARCHIVED",
    "CANCELED",
    "DRAFT",
    "PENDING_DELETION",
];
const GROUP_STATUSES: [&str; 6] = [
    "ACTIVE",
    "PAUSED",
    "ARCHIVED",
    "CANCELED",
    "DRAFT",
    "PENDING_DELETION",
];

/// The largest `pageSize` of the search finders.
const MAX_SEARCH_PAGE: u32 = 1000;
/// The largest `pageSize` of the creatives finder, which refuses more
/// ("Request would return too many entities").
pub const MAX_CREATIVES_PAGE: u32 = 100;

/// The finder behind a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finder {
    /// `adCampaignGroups?q=search`.
    CampaignGroups,
    /// `adCampaigns?q=search`.
    Campaigns,
    /// `creatives?q=criteria`.
    Creatives,
}

impl Finder {
    fn path(self) -> &'static str {
        match self {
            Finder::CampaignGroups => "adCampaignGroups",
            Finder::Campaigns => "adCampaigns",
            Finder::Creatives => "creatives",
        }
    }

    /// The first page's query, asking for `page_size` elements, in id order.
    fn query(self, page_size: u32) -> Query {
        let query = match self {
            Finder::CampaignGroups => Query::new()
                .leaf("q", "search")
                .structured("search", format!("(status:(values:{}))", list(GROUP_STATUSES))),
            Finder::Campaigns => Query::new()
                .leaf("q", "search")
                .structured("search", format!("(status:(values:{}))", list(CAMPAIGN_STATUSES))),
            Finder::Creatives => Query::new()
                .leaf("q", "criteria")
                .structured("intendedStatuses", list(CREATIVE_STATUSES)),
        };
        let max = match self {
            Finder::Creatives => MAX_CREATIVES_PAGE,
            _ => MAX_SEARCH_PAGE,
        };
        query
            .leaf("sortOrder", "ASCENDING")
            .leaf("pageSize", &page_size.clamp(1, max).to_string())
    }
}

/// Where a finder stream is: the token of its next page, and the account's
/// currency once read.
#[derive(Debug, Default, Serialize, Deserialize)]
struct FinderState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    page_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    currency: Option<String>,
}

/// The ad account as LinkedIn reports it.
pub fn account(client: &Client) -> Result<Value, Error> {
    client.get(&client.account_path(), &Query::new())
}

/// The account's ISO 4217 currency.
pub fn currency(client: &Client) -> Result<String, Error> {
    let account = account(client)?;
    account["currency"].as_str().map(str::to_string).ok_or_else(|| {
        Error::internal(format!(
            "LinkedIn sent an ad account without a currency: {account}"
        ))
    })
}

/// The `ad_accounts` stream: the configured account.
pub fn read_account(client: &Client) -> Result<Batch, Error> {
    Ok(Batch {
        records: vec![records::ad_account(&account(client)?)?],
        ..Batch::default()
    })
}

/// One page of `finder` (`pageToken` when `token` is set).
pub fn page(client: &Client, finder: Finder, page_size: u32, token: Option<&str>) -> Result<Page, Error> {
    let mut query = finder.query(page_size);
    if let Some(token) = token {
        query = query.leaf("pageToken", token);
    }
    client.get(&format!("{}/{}", client.account_path(), finder.path()), &query)
}

/// The next batch of `finder`'s stream.
pub fn read(client: &Client, finder: Finder, request: &ReadRequest) -> Result<Batch, Error> {
    let mut state: FinderState = request.state_as()?.unwrap_or_default();
    if finder != Finder::Creatives && state.currency.is_none() {
        state.currency = Some(currency(client)?);
    }
    let page = page(client, finder, request.limit, state.page_token.as_deref())?;
    let currency = state.currency.clone().unwrap_or_default();
    let records = page
        .elements
        .iter()
        .map(|element| match finder {
            Finder::CampaignGroups => records::campaign_group(element, &currency),
            Finder::Campaigns => records::campaign(element, &currency),
            Finder::Creatives => records::ad(element),
        })
        .collect::<Result<Vec<_>, _>>()?;
    // An empty page ends the stream even if a token came with it.
    let next = page.next_page_token().filter(|_| !page.elements.is_empty());
    let more = next.is_some();
    state.page_token = next;
    Ok(Batch {
        records,
        ..Batch::default()
    }
    .with_state(&state)?
    .with_more(more))
}
