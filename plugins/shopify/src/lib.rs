//! The Shopify connector: orders, customers and products from the Admin
//! REST API (2025-07), incremental on `updated_at` with cursor pagination,
//! an `add-order-tag` action and its preview, and verified webhooks.
//!
//! Each stream is read in `updated_at` order from an inclusive
//! `updated_at_min`, so records sharing the boundary time are read again and
//! upserted rather than lost. The state keeps the highest `updated_at` synced
//! and, while paging, the `rel="next"` link of the following page.

mod api;
mod records;

use omnify_sdk::connector::{ActionSpec, Batch, Connector, Preview, ReadRequest, Stream, WebhookEvent};
use omnify_sdk::{Error, Value, http, json, secrets, webhook};
use serde::{Deserialize, Serialize};

/// The API version targeted.
const DEFAULT_API_VERSION: &str = "2025-07";
/// The largest page the REST Admin API serves.
const MAX_PAGE: u32 = 250;
/// Shopify's limit on one tag's length.
const MAX_TAG_CHARS: usize = 255;

#[derive(Debug, Deserialize)]
struct Config {
    /// `my-shop` or `my-shop.myshopify.com`.
    shop_domain: Option<String>,
    /// Overrides `https://{shop_domain}` (a proxy, or a sandbox).
    base_url: Option<String>,
    #[serde(default = "default_api_version")]
    api_version: String,
    /// `YYYY-MM-DD`: the first sync reads what changed from this day on.
    start_date: Option<String>,
}

fn default_api_version() -> String {
    DEFAULT_API_VERSION.to_string()
}

impl Config {
    fn load() -> Result<Self, Error> {
        omnify_sdk::config::get()
    }

    fn base_url(&self) -> Result<String, Error> {
        if let Some(url) = &self.base_url {
            return Ok(url.trim_end_matches('/').to_string());
        }
        match self.shop_domain.as_deref().map(str::trim) {
            Some(shop) if !shop.is_empty() && shop.contains('.') => Ok(format!("https://{shop}")),
            Some(shop) if !shop.is_empty() => Ok(format!("https://{shop}.myshopify.com")),
            _ => Err(Error::config(
                "set `shop_domain` (or `base_url`) to the shop's address",
            )),
        }
    }

    /// The URL of `path` under the Admin API, for example `orders.json`.
    fn endpoint(&self, path: &str) -> Result<String, Error> {
        Ok(format!(
            "{}/admin/api/{}/{path}",
            self.base_url()?,
            self.api_version
        ))
    }
}

/// Where a stream's sync stands.
#[derive(Debug, Default, Serialize, Deserialize)]
struct StreamState {
    /// The highest `updated_at` synced (UTC), the next sync's `updated_at_min`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    updated_at: Option<String>,
    /// The next page's link while a listing is being paged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next_page: Option<String>,
}

/// The three streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resource {
    Orders,
    Customers,
    Products,
}

impl Resource {
    fn from_stream(name: &str) -> Result<Self, Error> {
        match name {
            "orders" => Ok(Self::Orders),
            "customers" => Ok(Self::Customers),
            "products" => Ok(Self::Products),
            other => Err(Error::not_found(format!(
                "the Shopify connector has no stream `{other}`"
            ))),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Orders => "orders",
            Self::Customers => "customers",
            Self::Products => "products",
        }
    }

    /// The first page's URL: changed since `since`, oldest change first.
    fn first_page(self, config: &Config, since: Option<&str>, limit: u32) -> Result<String, Error> {
        let mut request = http::get(config.endpoint(&format!("{}.json", self.name()))?)
            .query("limit", limit)
            .query("order", "updated_at asc");
        if self == Self::Orders {
            // Without it Shopify lists open orders only.
            request = request.query("status", "any");
        }
        if let Some(since) = since {
            request = request.query("updated_at_min", since);
        }
        Ok(request.url())
    }
}

struct Shopify;

impl Shopify {
    fn read_stream(config: &Config, resource: Resource, request: &ReadRequest) -> Result<Batch, Error> {
        let state: StreamState = request.state_as()?.unwrap_or_default();
        let limit = request.limit.clamp(1, MAX_PAGE);
        let since = state.updated_at.clone().or_else(|| start_time(config));
        let (body, response) = match &state.next_page {
            Some(link) => match api::get_json(link) {
                // A cursor Shopify no longer accepts: start again from the
                // highest time synced, which loses nothing.
                Err(Error::InvalidInput(message)) => {
                    omnify_sdk::warn!("page link refused ({message}); restarting from updated_at");
                    api::get_json(&resource.first_page(config, since.as_deref(), limit)?)?
                }
                other => other?,
            },
            None => api::get_json(&resource.first_page(config, since.as_deref(), limit)?)?,
        };
        let items = body
            .get(resource.name())
            .and_then(Value::as_array)
            .ok_or_else(|| Error::internal(format!("Shopify's answer has no `{}` list", resource.name())))?;
        let currency = match resource {
            Resource::Products if !items.is_empty() => Some(shop_currency(config)?),
            _ => None,
        };
        let records = items
            .iter()
            .map(|item| match resource {
                Resource::Orders => records::order(item),
                Resource::Customers => records::customer(item),
                Resource::Products => records::product(item, currency.as_deref().unwrap_or_default()),
            })
            .collect::<Result<Vec<_>, Error>>()?;
        // UTC RFC 3339 times of one format order as text does.
        let highest = records
            .iter()
            .filter_map(|r| r["updated_at"].as_str())
            .chain(state.updated_at.as_deref())
            .max()
            .map(str::to_string);
        let next_page = response.header("link").and_then(api::next_link);
        omnify_sdk::debug!(
            "{}: {} records, more: {}",
            resource.name(),
            records.len(),
            next_page.is_some()
        );
        let has_more = next_page.is_some();
        let state = StreamState {
            updated_at: highest,
            next_page,
        };
        Ok(Batch {
            records,
            ..Batch::default()
        }
        .with_state(&state)?
        .with_more(has_more))
    }
}

/// `add-order-tag` checked against its input and the order as Shopify
/// reports it now: what `act` performs and `preview` describes.
#[derive(Debug, Clone, PartialEq)]
struct TagPlan {
    order_id: u64,
    /// The tag, trimmed.
    tag: String,
    /// The order's URL under the Admin API.
    url: String,
    /// The order's tags now.
    current: Vec<String>,
}

impl TagPlan {
    /// Validate the input and read the order's tags: the checks `act` and
    /// `preview` share. The input is checked before the first request.
    fn new(input: &Value) -> Result<Self, Error> {
        let config = Config::load()?;
        let order_id = match input.get("order_id") {
            Some(Value::String(id)) => id.trim().parse::<u64>().ok(),
            Some(Value::Number(id)) => id.as_u64(),
            _ => None,
        }
        .ok_or_else(|| {
            Error::invalid_input("`order_id` must be a Shopify order id such as \"5100000000\"")
        })?;
        let tag = input
            .get("tag")
            .and_then(Value::as_str)
            .map(str::trim)
            .unwrap_or_default();
        if tag.is_empty() || tag.contains(',') || tag.chars().count() > MAX_TAG_CHARS {
            return Err(Error::invalid_input(format!(
                "`tag` must be 1 to {MAX_TAG_CHARS} characters without commas"
            )));
        }
        let url = config.endpoint(&format!("orders/{order_id}.json"))?;
        let current = match api::get_json(&http::get(&url).query("fields", "id,tags").url()) {
            Ok((body, _)) => order_tags(&body),
            Err(Error::NotFound(_)) => {
                return Err(Error::not_found(format!("Shopify has no order {order_id}")));
            }
            Err(other) => return Err(other),
        };
        Ok(Self {
            order_id,
            tag: tag.to_string(),
            url,
            current,
        })
    }

    /// Whether the order has the tag already.
    fn tagged(&self) -> bool {
        self.current.contains(&self.tag)
    }

    /// Add the tag, unless the order has it.
    fn act(self) -> Result<Value, Error> {
        if self.tagged() {
            // Already tagged (a retry, or someone else did it): nothing to write.
            return Ok(
                json!({ "order_id": self.order_id.to_string(), "tags": self.current, "changed": false }),
            );
        }
        let mut tags = self.current;
        tags.push(self.tag);
        let body = json!({ "order": { "id": self.order_id, "tags": tags.join(", ") } });
        let response = api::send(http::put(&self.url).json(&body))?;
        let updated: Value = response.json()?;
        let order = records::order(&updated["order"])?;
        Ok(json!({
            "order_id": order["id"],
            "tags": order["tags"],
            "updated_at": order["updated_at"],
            "changed": true,
        }))
    }

    /// What adding the tag changes: `tagged` from 0 or 1 to 1.
    fn preview(&self) -> Preview {
        let now = if self.tagged() { 1.0 } else { 0.0 };
        Preview::new(
            "order",
            &self.order_id.to_string(),
            "tagged",
            (now, 1.0),
            "status",
        )
    }
}

/// The tags of `{"order": {"tags": "a, b"}}`.
fn order_tags(body: &Value) -> Vec<String> {
    body["order"]["tags"]
        .as_str()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// `start_date` as the time to read changes from.
fn start_time(config: &Config) -> Option<String> {
    config.start_date.as_ref().map(|date| format!("{date}T00:00:00Z"))
}

/// The shop's currency, which prices of products are in.
fn shop_currency(config: &Config) -> Result<String, Error> {
    let url = http::get(config.endpoint("shop.json")?)
        .query("fields", "currency")
        .url();
    let (body, _) = api::get_json(&url)?;
    body["shop"]["currency"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| Error::internal("Shopify's shop has no currency"))
}

fn schema(properties: Value) -> Value {
    json!({ "type": "object", "properties": properties })
}

impl Connector for Shopify {
    fn spec() -> Value {
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {
                "shop_domain": {
                    "type": "string",
                    "description": "The shop, `my-shop` or `my-shop.myshopify.com`; the API is at https://{shop_domain}",
                    "pattern": "^[a-z0-9][a-z0-9-]*(\\.myshopify\\.com)?$"
                },
                "base_url": {
                    "type": "string",
                    "format": "uri",
                    "description": "Overrides https://{shop_domain}, for a proxy or a sandbox"
                },
                "api_version": {
                    "type": "string",
                    "default": DEFAULT_API_VERSION,
                    "pattern": "^([0-9]{4}-[0-9]{2}|unstable)$"
                },
                "start_date": {
                    "type": "string",
                    "format": "date",
                    "description": "The first sync reads what changed from this day on (UTC); everything when absent"
                }
            },
            "anyOf": [{ "required": ["shop_domain"] }, { "required": ["base_url"] }],
            "additionalProperties": false
        })
    }

    fn check() -> Result<(), Error> {
        let config = Config::load()?;
        shop_currency(&config).map(|_| ())
    }

    fn discover() -> Result<Vec<Stream>, Error> {
        let time = json!({ "type": ["string", "null"], "format": "date-time" });
        let id = json!({ "type": "string" });
        let money = json!({ "type": ["number", "null"] });
        let text = json!({ "type": ["string", "null"] });
        let tags = json!({ "type": "array", "items": { "type": "string" } });
        let orders = schema(json!({
            "id": id, "name": text, "created_at": time, "updated_at": time, "processed_at": time,
            "cancelled_at": time, "total_price": money, "subtotal_price": money, "total_tax": money,
            "total_discounts": money, "currency": text, "financial_status": text,
            "fulfillment_status": text, "customer_id": text, "tags": tags,
            "line_items": { "type": "array", "items": schema(json!({
                "id": text, "product_id": text, "variant_id": text, "title": text, "sku": text,
                "quantity": { "type": "integer" }, "price": money
            })) }
        }));
        let customers = schema(json!({
            "id": id, "email": text, "first_name": text, "last_name": text, "state": text,
            "verified_email": { "type": ["boolean", "null"] }, "currency": text, "tags": tags,
            "created_at": time, "updated_at": time
        }));
        let products = schema(json!({
            "id": id, "title": text, "handle": text, "status": text, "vendor": text,
            "product_type": text, "price": money, "currency": text, "tags": tags,
            "variants": { "type": "array", "items": schema(json!({
                "id": text, "title": text, "sku": text, "price": money
            })) },
            "created_at": time, "updated_at": time
        }));
        Ok(vec![
            Stream::new("orders", &["id"], orders).incremental("updated_at"),
            Stream::new("customers", &["id"], customers).incremental("updated_at"),
            Stream::new("products", &["id"], products).incremental("updated_at"),
        ])
    }

    fn read(request: ReadRequest) -> Result<Batch, Error> {
        let config = Config::load()?;
        let resource = Resource::from_stream(&request.stream)?;
        Self::read_stream(&config, resource, &request)
    }

    fn actions() -> Vec<ActionSpec> {
        vec![ActionSpec {
            name: "add-order-tag".into(),
            description: "Add a tag to an order (kept if the order already has it)".into(),
            input_schema: json!({
                "type": "object",
                "required": ["order_id", "tag"],
                "properties": {
                    "order_id": { "type": ["string", "integer"], "description": "The order's id" },
                    "tag": { "type": "string", "minLength": 1, "maxLength": MAX_TAG_CHARS }
                }
            }),
        }]
    }

    fn act(name: &str, input: Value, _idempotency_key: &str) -> Result<Value, Error> {
        match name {
            // Adding a tag the order has changes nothing, so retries are safe
            // without the key.
            "add-order-tag" => TagPlan::new(&input)?.act(),
            other => Err(Error::not_found(format!(
                "the Shopify connector has no action `{other}`"
            ))),
        }
    }

    fn preview(name: &str, input: Value) -> Result<Preview, Error> {
        match name {
            "add-order-tag" => Ok(TagPlan::new(&input)?.preview()),
            other => Err(Error::not_found(format!(
                "the Shopify connector has no action `{other}`"
            ))),
        }
    }

    fn verify_webhook(headers: &[(String, String)], body: &[u8]) -> Result<Vec<WebhookEvent>, Error> {
        let secret = secrets::get("webhook_secret")?;
        let signature = webhook::header(headers, "x-shopify-hmac-sha256")
            .ok_or_else(|| Error::Auth("the delivery has no X-Shopify-Hmac-Sha256 header".into()))?;
        if !webhook::verify_base64(secret.as_bytes(), body, signature) {
            return Err(Error::Auth(
                "X-Shopify-Hmac-Sha256 does not match the body: not signed with this shop's webhook secret, or modified"
                    .into(),
            ));
        }
        let topic = webhook::header(headers, "x-shopify-topic")
            .filter(|topic| !topic.is_empty())
            .ok_or_else(|| Error::invalid_input("the delivery has no X-Shopify-Topic header"))?;
        let payload: Value = serde_json::from_slice(body)
            .map_err(|e| Error::invalid_input(format!("the delivery's body is not JSON: {e}")))?;
        Ok(vec![WebhookEvent {
            kind: topic.to_string(),
            payload,
        }])
    }
}

omnify_sdk::export_connector!(Shopify);
