//! The advertiser, its campaigns, ad groups, ads and ad images, in the
//! field names and formats of the v1.3 `get` endpoints.

use super::{ApiError, ApiResult, Params, account, admit, id_list, page_of, string_list, time};
use crate::server::Platform;
use crate::world::{Ad, AdAccount, AdGroup, Campaign, Status};
use axum::http::HeaderMap;
use serde_json::{Value, json};

/// Image ids one `file/image/ad/info` request may name.
const MAX_IMAGE_IDS: usize = 100;

/// `GET advertiser/info/?advertiser_ids=[...]`.
pub(super) fn advertiser_info(platform: &Platform, headers: &HeaderMap, params: &Params) -> ApiResult {
    admit(platform, headers)?;
    let ids = params
        .string_list("advertiser_ids")?
        .filter(|ids| !ids.is_empty())
        .ok_or_else(|| ApiError::invalid("advertiser_ids: Missing data for required field."))?;
    let world = platform.world();
    let list = ids
        .iter()
        .map(|id| {
            let account = account(&world, id)?;
            Ok(json!({
                "advertiser_id": account.account_id,
                "name": "Omnify Demo",
                "company": "Omnify Demo Ltd",
                "currency": account.currency,
                "timezone": "Etc/GMT",
                "display_timezone": "UTC",
                "country": "US",
                "status": "STATUS_ENABLE",
                "role": "ROLE_ADVERTISER",
                "create_time": world.first_day.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp()),
            }))
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(json!({ "list": list }))
}

/// `GET campaign/get/?advertiser_id=...`, filterable by `campaign_ids`.
pub(super) fn campaigns(platform: &Platform, headers: &HeaderMap, params: &Params) -> ApiResult {
    object_page(platform, headers, params, |account, filter| {
        account
            .campaigns
            .iter()
            .filter(|c| filter.keeps(&c.id, None, None))
            .map(|c| campaign_json(account, c))
            .collect()
    })
}

/// `GET adgroup/get/?advertiser_id=...`, filterable by `campaign_ids` and
/// `adgroup_ids`.
pub(super) fn ad_groups(platform: &Platform, headers: &HeaderMap, params: &Params) -> ApiResult {
    object_page(platform, headers, params, |account, filter| {
        account
            .ad_groups
            .iter()
            .filter(|g| filter.keeps(&g.campaign_id, Some(&g.id), None))
            .map(|g| ad_group_json(account, g))
            .collect()
    })
}

/// `GET ad/get/?advertiser_id=...`, filterable by `campaign_ids`,
/// `adgroup_ids` and `ad_ids`.
pub(super) fn ads(platform: &Platform, headers: &HeaderMap, params: &Params) -> ApiResult {
    object_page(platform, headers, params, |account, filter| {
        account
            .ads
            .iter()
            .filter(|a| filter.keeps(&a.campaign_id, Some(&a.ad_group_id), Some(&a.id)))
            .map(|a| ad_json(account, a))
            .collect()
    })
}

/// What every object listing does: admit the request, read the filter and
/// the paging, then answer one page of the objects `list` renders from the
/// advertiser's account.
fn object_page(
    platform: &Platform,
    headers: &HeaderMap,
    params: &Params,
    list: impl FnOnce(&AdAccount, &Filter) -> Vec<Value>,
) -> ApiResult {
    admit(platform, headers)?;
    let filter = Filter::parse(params)?;
    let paging = params.paging()?;
    let world = platform.world();
    let account = account(&world, params.required("advertiser_id")?)?;
    Ok(page_of(list(account, &filter), paging))
}

/// `GET file/image/ad/info/?advertiser_id=...&image_ids=[...]`: where the
/// images of ads are. Unknown ids are left out, as by the real API.
pub(super) fn images(platform: &Platform, headers: &HeaderMap, params: &Params) -> ApiResult {
    admit(platform, headers)?;
    let ids = id_list("image_ids", params.json("image_ids")?.as_ref(), MAX_IMAGE_IDS)?;
    let world = platform.world();
    let account = account(&world, params.required("advertiser_id")?)?;
    let list: Vec<Value> = ids
        .iter()
        .filter_map(|id| account.ads.iter().find(|a| a.creative.id == *id))
        .map(|ad| {
            json!({
                "image_id": ad.creative.id,
                "material_id": ad.creative.id,
                "image_url": ad.creative.image_url,
                "file_name": format!("{}.jpg", ad.creative.id),
                "format": "jpeg",
                "width": 1080,
                "height": 1920,
                "displayable": true,
                "create_time": time(account_created(account)),
            })
        })
        .collect();
    Ok(json!({ "list": list }))
}

/// The `filtering` object of the `get` endpoints.
struct Filter {
    campaign_ids: Option<Vec<String>>,
    adgroup_ids: Option<Vec<String>>,
    ad_ids: Option<Vec<String>>,
}

impl Filter {
    fn parse(params: &Params) -> Result<Self, ApiError> {
        let Some(filtering) = params.json("filtering")? else {
            return Ok(Self {
                campaign_ids: None,
                adgroup_ids: None,
                ad_ids: None,
            });
        };
        if !filtering.is_object() {
            return Err(ApiError::invalid("filtering: Not a valid mapping type."));
        }
        let ids = |field: &str| {
            filtering
                .get(field)
                .map(|value| string_list(&format!("filtering.{field}"), value))
                .transpose()
        };
        Ok(Self {
            campaign_ids: ids("campaign_ids")?,
            adgroup_ids: ids("adgroup_ids")?,
            ad_ids: ids("ad_ids")?,
        })
    }

    /// Whether an object passes: its campaign, ad group and ad (when it has
    /// one of each) must be in the lists given.
    fn keeps(&self, campaign_id: &str, adgroup_id: Option<&str>, ad_id: Option<&str>) -> bool {
        let allows = |list: &Option<Vec<String>>, id: Option<&str>| match (list, id) {
            (Some(list), Some(id)) => list.iter().any(|l| l == id),
            _ => true,
        };
        allows(&self.campaign_ids, Some(campaign_id))
            && allows(&self.adgroup_ids, adgroup_id)
            && allows(&self.ad_ids, ad_id)
    }
}

/// When the account's objects were created: the campaigns' creation time.
fn account_created(account: &AdAccount) -> chrono::DateTime<chrono::Utc> {
    account
        .campaigns
        .iter()
        .map(|c| c.created)
        .min()
        .unwrap_or_default()
}

fn operation_status(status: Status) -> &'static str {
    match status {
        Status::Active => "ENABLE",
        Status::Paused => "DISABLE",
    }
}

/// The objective the world's objective is called on TikTok.
fn objective_type(objective: &str) -> String {
    match objective {
        "SALES" => "WEB_CONVERSIONS".into(),
        "AWARENESS" => "REACH".into(),
        other => other.to_uppercase(),
    }
}

/// A campaign as `campaign/get` returns it; `budget` is in major units.
pub(super) fn campaign_json(account: &AdAccount, campaign: &Campaign) -> Value {
    json!({
        "advertiser_id": account.account_id,
        "campaign_id": campaign.id,
        "campaign_name": campaign.name,
        "campaign_type": "REGULAR_CAMPAIGN",
        "objective_type": objective_type(&campaign.objective),
        "budget_mode": "BUDGET_MODE_DAY",
        "budget": campaign.daily_budget_cents as f64 / 100.0,
        "operation_status": operation_status(campaign.status),
        "secondary_status": match campaign.status {
            Status::Active => "CAMPAIGN_STATUS_ENABLE",
            Status::Paused => "CAMPAIGN_STATUS_DISABLE",
        },
        "is_new_structure": true,
        "create_time": time(campaign.created),
        "modify_time": time(campaign.updated),
    })
}

fn ad_group_json(account: &AdAccount, group: &AdGroup) -> Value {
    json!({
        "advertiser_id": account.account_id,
        "campaign_id": group.campaign_id,
        "adgroup_id": group.id,
        "adgroup_name": group.name,
        "operation_status": operation_status(group.status),
        "secondary_status": match group.status {
            Status::Active => "ADGROUP_STATUS_DELIVERY_OK",
            Status::Paused => "ADGROUP_STATUS_DISABLE",
        },
        "placement_type": "PLACEMENT_TYPE_AUTOMATIC",
        "budget_mode": "BUDGET_MODE_INFINITE",
        "optimization_goal": "CONVERT",
        "billing_event": "OCPM",
        "create_time": time(account_created(account)),
        "modify_time": time(account_created(account)),
    })
}

/// An ad: TikTok ads carry their text and the ids of their images, not a
/// headline nor image URLs (those come from `file/image/ad/info`).
fn ad_json(account: &AdAccount, ad: &Ad) -> Value {
    json!({
        "advertiser_id": account.account_id,
        "campaign_id": ad.campaign_id,
        "adgroup_id": ad.ad_group_id,
        "ad_id": ad.id,
        "ad_name": ad.name,
        "operation_status": operation_status(ad.status),
        "secondary_status": match ad.status {
            Status::Active => "AD_STATUS_DELIVERY_OK",
            Status::Paused => "AD_STATUS_DISABLE",
        },
        "ad_format": "SINGLE_IMAGE",
        "ad_text": ad.creative.body,
        "display_name": "Omnify Demo",
        "call_to_action": "SHOP_NOW",
        "landing_page_url": "https://omnify-demo.myshopify.com/",
        "image_ids": [ad.creative.id],
        "video_id": null,
        "create_time": time(account_created(account)),
        "modify_time": time(account_created(account)),
    })
}
