//! `campaigns:mutate` (status and name, with an `updateMask`),
//! `campaignBudgets:mutate` (`amountMicros`) and `adGroupAds:mutate`
//! (status, resource `customers/{cid}/adGroupAds/{adGroupId}~{adId}`): update operations only,
//! all-or-nothing unless `partialFailure` is set, checked but not applied
//! with `validateOnly`.

use super::rows::campaign_of_budget;
use super::{API_VERSION, Failure, error, request_id};
use crate::server::{Platform, WriteCall};
use crate::world::{self, AdAccount, Status};
use serde_json::{Value, json};

/// One change an operation makes to the world.
#[derive(Debug, Clone, PartialEq)]
enum Change {
    Status { campaign_id: String, status: Status },
    Name { campaign_id: String, name: String },
    Budget { campaign_id: String, cents: i64 },
    AdStatus { ad_id: String, status: Status },
}

/// The resource an operation updates and its changes, or a `GoogleAdsError`.
type Outcome = Result<(String, Vec<Change>), Value>;

/// Which service is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    Campaigns,
    CampaignBudgets,
    AdGroupAds,
}

impl Service {
    fn method(self) -> &'static str {
        match self {
            Service::Campaigns => "campaigns:mutate",
            Service::CampaignBudgets => "campaignBudgets:mutate",
            Service::AdGroupAds => "adGroupAds:mutate",
        }
    }

    fn collection(self) -> &'static str {
        match self {
            Service::Campaigns => "campaigns",
            Service::CampaignBudgets => "campaignBudgets",
            Service::AdGroupAds => "adGroupAds",
        }
    }
}

/// `POST /v21/customers/{id}/campaigns:mutate`.
pub(super) fn campaigns(platform: &Platform, request: &Value) -> Result<Value, Failure> {
    mutate(platform, request, Service::Campaigns)
}

/// `POST /v21/customers/{id}/campaignBudgets:mutate`.
pub(super) fn budgets(platform: &Platform, request: &Value) -> Result<Value, Failure> {
    mutate(platform, request, Service::CampaignBudgets)
}

/// `POST /v21/customers/{id}/adGroupAds:mutate`.
pub(super) fn ad_group_ads(platform: &Platform, request: &Value) -> Result<Value, Failure> {
    mutate(platform, request, Service::AdGroupAds)
}

fn mutate(platform: &Platform, request: &Value, service: Service) -> Result<Value, Failure> {
    let operations = request
        .get("operations")
        .and_then(Value::as_array)
        .filter(|ops| !ops.is_empty())
        .ok_or_else(|| {
            Failure::invalid_argument(vec![error(
                "mutateError",
                "OPERATIONS_REQUIRED",
                "The request has no operations.",
            )])
        })?;
    let partial = request.get("partialFailure").and_then(Value::as_bool) == Some(true);
    let validate_only = request.get("validateOnly").and_then(Value::as_bool) == Some(true);
    let mut world = platform.world();
    let account = world.account_mut(world::Platform::Google);
    let path = format!(
        "/{API_VERSION}/customers/{}/{}",
        account.account_id,
        service.method()
    );
    let outcomes: Vec<Outcome> = operations
        .iter()
        .enumerate()
        .map(|(index, op)| operation(account, service, op).map_err(|e| locate(e, index)))
        .collect();
    let failed: Vec<Value> = outcomes
        .iter()
        .filter_map(|o| o.as_ref().err().cloned())
        .collect();
    let refused = !failed.is_empty() && !partial;
    let applies = !refused && !validate_only && outcomes.iter().any(Result::is_ok);
    if applies {
        for (_, changes) in outcomes.iter().flatten() {
            for change in changes {
                apply(account, change);
            }
        }
    }
    drop(world);
    platform.record_write(WriteCall {
        method: "POST".into(),
        path,
        body: request.clone(),
        idempotency_key: None,
        applied: applies,
    });
    if refused {
        return Err(Failure::invalid_argument(failed));
    }
    if validate_only {
        return Ok(json!({}));
    }
    let results: Vec<Value> = outcomes
        .iter()
        .map(|o| match o {
            Ok((name, _)) => json!({ "resourceName": name }),
            Err(_) => json!({}),
        })
        .collect();
    let mut reply = json!({ "results": results });
    if !failed.is_empty() {
        let first = failed[0]["message"].as_str().unwrap_or_default();
        reply["partialFailureError"] = json!({
            "code": 3,
            "message": format!("Multiple errors in 'details'. First error: {first}"),
            "details": [Failure::failure_detail(&failed, &request_id())],
        });
    }
    Ok(reply)
}

/// Point an operation's error at `operations[index]`, as Google does.
fn locate(mut error: Value, index: usize) -> Value {
    let field = error.get("field").and_then(Value::as_str).map(str::to_string);
    if let Some(map) = error.as_object_mut() {
        map.remove("field");
    }
    let mut path = vec![json!({"fieldName": "operations", "index": index})];
    if let Some(field) = field {
        path.push(json!({"fieldName": "update"}));
        path.push(json!({"fieldName": field}));
    }
    error["location"] = json!({ "fieldPathElements": path });
    error
}

fn field_error(kind: &str, code: &str, message: &str, field: &str) -> Value {
    let mut e = error(kind, code, message);
    e["field"] = json!(field);
    e
}

fn operation(account: &AdAccount, service: Service, op: &Value) -> Outcome {
    let Some(update) = op.get("update") else {
        return Err(error(
            "mutateError",
            "MUTATE_NOT_ALLOWED",
            "The sandbox accepts only `update` operations.",
        ));
    };
    let name = update
        .get("resourceName")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let prefix = format!("customers/{}/{}/", account.account_id, service.collection());
    let Some(id) = name
        .strip_prefix(&prefix)
        .filter(|id| is_resource_id(service, id))
    else {
        return Err(field_error(
            "requestError",
            "RESOURCE_NAME_MALFORMED",
            &format!("Resource name '{name}' is malformed for this customer."),
            "resource_name",
        ));
    };
    let campaign_id = match service {
        Service::Campaigns => Some(id),
        Service::CampaignBudgets => campaign_of_budget(id),
        Service::AdGroupAds => return ad_group_ad_operation(account, name, id, update, op),
    };
    let Some(campaign) = campaign_id.and_then(|c| account.campaign(c)) else {
        return Err(error(
            "mutateError",
            "RESOURCE_NOT_FOUND",
            "Resource was not found.",
        ));
    };
    let mask = update_mask(op)?;
    let campaign_id = campaign.id.clone();
    let mut changes = Vec::new();
    for field in mask.split(',').map(str::trim) {
        let change = match (service, field) {
            (Service::Campaigns, "status") => Change::Status {
                campaign_id: campaign_id.clone(),
                status: status_of(update)?,
            },
            (Service::Campaigns, "name") => match update.get("name").and_then(Value::as_str) {
                Some(name) if !name.trim().is_empty() => Change::Name {
                    campaign_id: campaign_id.clone(),
                    name: name.to_string(),
                },
                _ => {
                    return Err(field_error(
                        "stringLengthError",
                        "EMPTY",
                        "The name is empty.",
                        "name",
                    ));
                }
            },
            (Service::CampaignBudgets, "amountMicros" | "amount_micros") => {
                budget_change(&campaign_id, update.get("amountMicros"))?
            }
            _ => return Err(unknown_field(field)),
        };
        changes.push(change);
    }
    Ok((name.to_string(), changes))
}

/// The id part of a resource name: digits, or `{adGroupId}~{adId}` for an
/// ad group ad.
fn is_resource_id(service: Service, id: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match service {
        Service::AdGroupAds => id
            .split_once('~')
            .is_some_and(|(group, ad)| digits(group) && digits(ad)),
        Service::Campaigns | Service::CampaignBudgets => digits(id),
    }
}

/// An update of ad group ad `id` (`{adGroupId}~{adId}`): only its status.
fn ad_group_ad_operation(account: &AdAccount, name: &str, id: &str, update: &Value, op: &Value) -> Outcome {
    let (group, ad_id) = id.split_once('~').unwrap_or_default();
    if !account
        .ads
        .iter()
        .any(|ad| ad.id == ad_id && ad.ad_group_id == group)
    {
        return Err(error(
            "mutateError",
            "RESOURCE_NOT_FOUND",
            "Resource was not found.",
        ));
    }
    let mut changes = Vec::new();
    for field in update_mask(op)?.split(',').map(str::trim) {
        match field {
            "status" => changes.push(Change::AdStatus {
                ad_id: ad_id.to_string(),
                status: status_of(update)?,
            }),
            _ => return Err(unknown_field(field)),
        }
    }
    Ok((name.to_string(), changes))
}

/// The operation's `updateMask`, which an update must have.
fn update_mask(op: &Value) -> Result<&str, Value> {
    let mask = op.get("updateMask").and_then(Value::as_str).unwrap_or_default();
    if mask.trim().is_empty() {
        return Err(error(
            "fieldMaskError",
            "FIELD_MASK_MISSING",
            "The field mask must be set for an update.",
        ));
    }
    Ok(mask)
}

/// The `status` of an update: `ENABLED` or `PAUSED`.
fn status_of(update: &Value) -> Result<Status, Value> {
    match update.get("status").and_then(Value::as_str) {
        Some("ENABLED") => Ok(Status::Active),
        Some("PAUSED") => Ok(Status::Paused),
        _ => Err(field_error(
            "requestError",
            "INVALID_ENUM_VALUE",
            "The status must be ENABLED or PAUSED.",
            "status",
        )),
    }
}

fn unknown_field(field: &str) -> Value {
    error(
        "fieldMaskError",
        "FIELD_NOT_FOUND",
        &format!("The field mask contained an invalid field: '{field}'."),
    )
}

fn budget_change(campaign_id: &str, amount: Option<&Value>) -> Result<Change, Value> {
    // int64 travels as a JSON string; a number is accepted as well.
    let micros = match amount {
        Some(Value::String(s)) => s.parse::<i64>().ok(),
        Some(Value::Number(n)) => n.as_i64(),
        _ => None,
    };
    let field = "amount_micros";
    match micros {
        None => Err(field_error(
            "fieldError",
            "REQUIRED",
            "The amount in micros is required.",
            field,
        )),
        Some(m) if m <= 0 => Err(field_error("rangeError", "TOO_LOW", "Too low.", field)),
        Some(m) if m % 10_000 != 0 => Err(field_error(
            "campaignBudgetError",
            "NON_MULTIPLE_OF_MINIMUM_CURRENCY_UNIT",
            "The budget amount must be a multiple of the minimum currency unit.",
            field,
        )),
        Some(m) => Ok(Change::Budget {
            campaign_id: campaign_id.to_string(),
            cents: m / 10_000,
        }),
    }
}

fn apply(account: &mut AdAccount, change: &Change) {
    let campaign_id = match change {
        Change::AdStatus { ad_id, status } => {
            if let Some(ad) = account.ads.iter_mut().find(|ad| ad.id == *ad_id) {
                ad.status = *status;
            }
            return;
        }
        Change::Status { campaign_id, .. }
        | Change::Name { campaign_id, .. }
        | Change::Budget { campaign_id, .. } => campaign_id,
    };
    let Some(campaign) = account.campaign_mut(campaign_id) else {
        return;
    };
    match change {
        Change::Status { status, .. } => campaign.status = *status,
        Change::Name { name, .. } => campaign.name = name.clone(),
        Change::Budget { cents, .. } => campaign.daily_budget_cents = *cents,
        Change::AdStatus { .. } => {}
    }
    campaign.updated = chrono::Utc::now();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::{Platform, Scenario, World};

    fn code(outcome: Outcome) -> Value {
        outcome.expect_err("refused")["errorCode"].clone()
    }

    #[test]
    fn ad_group_ad_updates_name_the_ad_group_and_the_ad() {
        let world = World::generate(42, Scenario::Control, "2026-06-30".parse().expect("date"));
        let account = world.account(Platform::Google);
        let ad = &account.ads[0];
        let name =
            |group: &str, ad: &str| format!("customers/{}/adGroupAds/{group}~{ad}", account.account_id);
        let op = |name: String, status: &str| json!({"update": {"resourceName": name, "status": status}, "updateMask": "status"});

        let (resource, changes) = operation(
            account,
            Service::AdGroupAds,
            &op(name(&ad.ad_group_id, &ad.id), "PAUSED"),
        )
        .expect("applies");
        assert_eq!(resource, name(&ad.ad_group_id, &ad.id));
        assert_eq!(
            changes,
            [Change::AdStatus {
                ad_id: ad.id.clone(),
                status: Status::Paused
            }]
        );

        let unknown = op(name(&ad.ad_group_id, "2199999999"), "PAUSED");
        assert_eq!(
            code(operation(account, Service::AdGroupAds, &unknown)),
            json!({"mutateError": "RESOURCE_NOT_FOUND"})
        );
        let wrong_group = op(name("1", &ad.id), "PAUSED");
        assert_eq!(
            code(operation(account, Service::AdGroupAds, &wrong_group)),
            json!({"mutateError": "RESOURCE_NOT_FOUND"})
        );
        let malformed = op(name(&ad.ad_group_id, "").replace('~', ""), "PAUSED");
        assert_eq!(
            code(operation(account, Service::AdGroupAds, &malformed)),
            json!({"requestError": "RESOURCE_NAME_MALFORMED"})
        );
        let removed = op(name(&ad.ad_group_id, &ad.id), "REMOVED");
        assert_eq!(
            code(operation(account, Service::AdGroupAds, &removed)),
            json!({"requestError": "INVALID_ENUM_VALUE"})
        );
    }
}
