//! What every Graph API endpoint shares: the error body, the access token,
//! the query string, `fields` selection and cursor paging.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};
use std::sync::atomic::{AtomicU64, Ordering};

use super::ACCESS_TOKEN;
use crate::oauth::{Issuer, TokenCheck};

/// Meta's default page size.
const DEFAULT_LIMIT: usize = 25;
/// The largest page the sandbox serves.
const MAX_LIMIT: usize = 500;

/// A Graph API error: `{"error":{"message","type","code","error_subcode","fbtrace_id"}}`.
#[derive(Debug)]
pub struct GraphError {
    status: StatusCode,
    code: u32,
    subcode: Option<u32>,
    kind: &'static str,
    message: String,
    usage_header: Option<String>,
}

impl GraphError {
    /// `(#100)`: a parameter is missing or wrong.
    pub fn invalid_parameter(message: impl std::fmt::Display) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: 100,
            subcode: None,
            kind: "OAuthException",
            message: format!("(#100) {message}"),
            usage_header: None,
        }
    }

    /// `(#100)` subcode 33: the object does not exist (Meta's own wording).
    pub fn unknown_object(id: &str, post: bool) -> Self {
        let verb = if post { "post" } else { "get" };
        Self {
            subcode: Some(33),
            kind: "GraphMethodException",
            message: format!(
                "Unsupported {verb} request. Object with ID '{id}' does not exist, cannot be loaded due to \
                 missing permissions, or does not support this operation."
            ),
            ..Self::invalid_parameter("")
        }
    }

    /// `(#2635)`: an API version the sandbox does not serve.
    pub fn unsupported_version(version: &str) -> Self {
        Self {
            code: 2635,
            message: format!(
                "(#2635) You are calling a deprecated or unknown version ({version}) of the Ads API."
            ),
            ..Self::invalid_parameter("")
        }
    }

    /// Code 17 with the `X-Business-Use-Case-Usage` header, as Meta throttles
    /// an ad account.
    pub fn rate_limited(account_id: &str) -> Self {
        let usage = json!({ account_id: [{
            "type": "ads_management",
            "call_count": 100,
            "total_cputime": 34,
            "total_time": 41,
            "estimated_time_to_regain_access": 0,
            "ads_api_access_tier": "standard_access"
        }]});
        Self {
            status: StatusCode::BAD_REQUEST,
            code: 17,
            subcode: Some(2_446_079),
            kind: "OAuthException",
            message: "(#17) User request limit reached".into(),
            usage_header: Some(usage.to_string()),
        }
    }

    fn missing_token() -> Self {
        Self {
            code: 104,
            message: "An access token is required to request this resource.".into(),
            ..Self::invalid_parameter("")
        }
    }

    fn invalid_token() -> Self {
        Self {
            code: 190,
            subcode: Some(463),
            message: "Error validating access token: Session has expired or the token is invalid.".into(),
            ..Self::invalid_parameter("")
        }
    }

    /// Code 190 subcode 463: a token Facebook Login issued has expired.
    fn expired_token() -> Self {
        Self {
            message: crate::oauth::meta_expired_message(),
            ..Self::invalid_token()
        }
    }
}

/// A trace id per error, as Meta attaches to every error body.
fn fbtrace_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("AsBx{:012x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        let mut error = json!({
            "message": self.message,
            "type": self.kind,
            "code": self.code,
            "fbtrace_id": fbtrace_id(),
        });
        if let Some(subcode) = self.subcode {
            error["error_subcode"] = json!(subcode);
        }
        if self.code == 17 {
            error["is_transient"] = json!(true);
        }
        let mut response = (self.status, axum::Json(json!({ "error": error }))).into_response();
        if let Some(usage) = self.usage_header.and_then(|u| HeaderValue::from_str(&u).ok()) {
            response.headers_mut().insert("x-business-use-case-usage", usage);
        }
        response
    }
}

/// The parsed query string (or form body), in order.
#[derive(Debug, Clone, Default)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    /// Parse `application/x-www-form-urlencoded` text; anything parses.
    pub fn parse(text: &str) -> Self {
        Self(form_urlencoded::parse(text.as_bytes()).into_owned().collect())
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The requested fields, or `default` when `fields` is absent.
    pub fn fields(&self, default: &[&str]) -> Vec<Field> {
        match self.get("fields") {
            Some(fields) => Field::parse_list(fields),
            None => default.iter().map(|name| Field::plain(name)).collect(),
        }
    }
}

/// Check the access token, from the `access_token` parameter (query or form)
/// or an `Authorization: Bearer` header: the fixed token, or a live one
/// Facebook Login (`oauth`) issued.
pub fn authenticate(oauth: &Issuer, headers: &HeaderMap, params: &Params) -> Result<(), GraphError> {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("OAuth ")));
    match params.get("access_token").or(bearer) {
        None => Err(GraphError::missing_token()),
        Some(token) => match oauth.check_or_fixed(ACCESS_TOKEN, token) {
            TokenCheck::Live => Ok(()),
            TokenCheck::Expired => Err(GraphError::expired_token()),
            TokenCheck::Unknown => Err(GraphError::invalid_token()),
        },
    }
}

/// One entry of a `fields` parameter, with its `{...}` expansion if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The field's name.
    pub name: String,
    /// The sub-fields asked for, for example `creative{title,body}`.
    pub children: Vec<Field>,
}

impl Field {
    /// A field without an expansion.
    pub fn plain(name: &str) -> Self {
        Self {
            name: name.to_string(),
            children: Vec::new(),
        }
    }

    /// Parse `a,b{c,d},e`; commas inside braces belong to the expansion.
    pub fn parse_list(text: &str) -> Vec<Field> {
        let mut fields = Vec::new();
        let mut depth = 0usize;
        let mut start = 0;
        for (i, c) in text.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth = depth.saturating_sub(1),
                ',' if depth == 0 => {
                    fields.extend(Self::parse_one(&text[start..i]));
                    start = i + 1;
                }
                _ => {}
            }
        }
        fields.extend(Self::parse_one(&text[start..]));
        fields
    }

    fn parse_one(text: &str) -> Option<Field> {
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        match text.split_once('{') {
            Some((name, rest)) => Some(Field {
                name: name.trim().to_string(),
                children: Self::parse_list(rest.strip_suffix('}').unwrap_or(rest)),
            }),
            None => Some(Self::plain(text)),
        }
    }
}

/// Keep the requested fields of `object` (always its `id`), refusing a field
/// the object does not have as Meta does.
pub fn select(object: &Map<String, Value>, fields: &[Field], known: &[&str]) -> Result<Value, GraphError> {
    let mut selected = Map::new();
    if let Some(id) = object.get("id") {
        selected.insert("id".into(), id.clone());
    }
    for field in fields {
        if !known.contains(&field.name.as_str()) {
            return Err(GraphError::invalid_parameter(format!(
                "Tried accessing nonexisting field ({})",
                field.name
            )));
        }
        // Optional values (no actions on a day, no budget) are left out, like Meta does.
        if let Some(value) = object.get(&field.name) {
            selected.insert(field.name.clone(), value.clone());
        }
    }
    Ok(Value::Object(selected))
}

/// One page of `rows` as Meta pages an edge: `{"data", "paging": {"cursors":
/// {"before","after"}, "next"}}`, `next` being the full URL of the following
/// page (on the host the request came to).
pub fn page(rows: Vec<Value>, params: &Params, headers: &HeaderMap, path: &str) -> Result<Value, GraphError> {
    let limit = match params.get("limit") {
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|&l| l > 0)
            .ok_or_else(|| GraphError::invalid_parameter("Param limit must be a positive integer"))?,
        None => DEFAULT_LIMIT,
    }
    .min(MAX_LIMIT);
    let start = match params.get("after") {
        Some(cursor) => {
            decode_cursor(cursor).ok_or_else(|| GraphError::invalid_parameter("Invalid cursor"))?
        }
        None => 0,
    };
    let end = (start + limit).min(rows.len());
    let data: Vec<Value> = rows.get(start..end).map(<[Value]>::to_vec).unwrap_or_default();
    if data.is_empty() {
        return Ok(json!({ "data": [] }));
    }
    let mut paging = json!({ "cursors": { "before": encode_cursor(start), "after": encode_cursor(end) } });
    if end < rows.len() {
        let host = headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1");
        let mut query: Vec<(&str, &str)> = params
            .0
            .iter()
            .filter(|(name, _)| name != "after" && name != "before")
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let after = encode_cursor(end);
        query.push(("after", &after));
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(query)
            .finish();
        paging["next"] = json!(format!("http://{host}{path}?{query}"));
    }
    Ok(json!({ "data": data, "paging": paging }))
}

/// Cursors are opaque base64 to clients, as Meta's are.
fn encode_cursor(offset: usize) -> String {
    STANDARD.encode(format!("offset:{offset}"))
}

fn decode_cursor(cursor: &str) -> Option<usize> {
    let bytes = STANDARD.decode(cursor.trim()).ok()?;
    String::from_utf8(bytes)
        .ok()?
        .strip_prefix("offset:")?
        .parse()
        .ok()
}

/// Cents as the decimal string Meta sends money in, for example `"123.45"`.
pub fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", cents.abs() / 100, cents.abs() % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_with_expansions_parse() {
        let fields = Field::parse_list("id,name,creative{id,title,image_url},status");
        let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["id", "name", "creative", "status"]);
        assert_eq!(fields[2].children.len(), 3);
        assert_eq!(fields[2].children[1].name, "title");
    }

    #[test]
    fn cursors_round_trip_and_money_is_exact() {
        assert_eq!(decode_cursor(&encode_cursor(125)), Some(125));
        assert_eq!(decode_cursor("not base64!"), None);
        assert_eq!(money(12_345), "123.45");
        assert_eq!(money(5), "0.05");
        assert_eq!(money(-250), "-2.50");
    }
}
