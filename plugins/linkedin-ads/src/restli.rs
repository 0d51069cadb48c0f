//! Rest.li 2.0 query encoding, as the versioned Marketing API requires with
//! `X-Restli-Protocol-Version: 2.0.0`.
//!
//! A query value is a structure: `List(a,b)` for an array, `(key:value,…)`
//! for a record. Its punctuation is sent as is, and every leaf (a URN, a
//! page token, a name) is percent-encoded, `:` `,` `(` `)` included, so that
//! it cannot be read as structure: `urn:li:sponsoredAccount:1` travels as
//! `urn%3Ali%3AsponsoredAccount%3A1`. A form encoder (the SDK's
//! `RequestBuilder::query`) would encode the punctuation too, which LinkedIn
//! refuses, so the query string is built here.

use chrono::{Datelike, NaiveDate};

/// A query string whose values are already Rest.li encoded, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query(Vec<(&'static str, String)>);

impl Query {
    /// An empty query.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add `name` with a value that is already Rest.li encoded (a `List(…)`,
    /// a record, or a plain token such as `search` or `DAILY`).
    pub fn structured(mut self, name: &'static str, encoded: impl Into<String>) -> Self {
        self.0.push((name, encoded.into()));
        self
    }

    /// Add `name` with a leaf value, percent-encoded.
    pub fn leaf(self, name: &'static str, value: &str) -> Self {
        self.structured(name, leaf(value))
    }

    /// `name=value&…`, empty when there are no parameters.
    pub fn encode(&self) -> String {
        self.0
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// `text` as a Rest.li 2.0 leaf: every byte but the unreserved
/// `A-Z a-z 0-9 - . _ ~` percent-encoded.
pub fn leaf(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// `List(a,b,…)` of leaves, each encoded.
pub fn list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let items: Vec<String> = items.into_iter().map(leaf).collect();
    format!("List({})", items.join(","))
}

/// The URN `urn:li:{kind}:{id}`, for example `urn:li:sponsoredCampaign:42`.
pub fn urn(kind: &str, id: &str) -> String {
    format!("urn:li:{kind}:{id}")
}

/// The id at the end of a URN of `kind`; `None` for another kind.
pub fn id_of<'a>(urn: &'a str, kind: &str) -> Option<&'a str> {
    urn.strip_prefix("urn:li:")?
        .strip_prefix(kind)?
        .strip_prefix(':')
        .filter(|id| !id.is_empty())
}

/// `(start:(year:…,month:…,day:…),end:(…))`, both days included.
pub fn date_range(from: NaiveDate, to: NaiveDate) -> String {
    let day = |d: NaiveDate| format!("(year:{},month:{},day:{})", d.year(), d.month(), d.day());
    format!("(start:{},end:{})", day(from), day(to))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_are_encoded_and_structure_is_not() {
        let account = urn("sponsoredAccount", "507404993");
        assert_eq!(leaf(&account), "urn%3Ali%3AsponsoredAccount%3A507404993");
        assert_eq!(
            list([account.as_str(), "a b,(c)"]),
            "List(urn%3Ali%3AsponsoredAccount%3A507404993,a%20b%2C%28c%29)"
        );
        let from = NaiveDate::from_ymd_opt(2026, 4, 2).expect("date");
        let to = NaiveDate::from_ymd_opt(2026, 6, 30).expect("date");
        assert_eq!(
            date_range(from, to),
            "(start:(year:2026,month:4,day:2),end:(year:2026,month:6,day:30))"
        );
        let query = Query::new()
            .leaf("q", "search")
            .structured("accounts", list([account.as_str()]))
            .leaf("pageToken", "dGVz/dA==");
        assert_eq!(
            query.encode(),
            "q=search&accounts=List(urn%3Ali%3AsponsoredAccount%3A507404993)&pageToken=dGVz%2FdA%3D%3D"
        );
        assert_eq!(Query::new().encode(), "");
    }

    #[test]
    fn ids_come_out_of_urns_of_their_kind() {
        assert_eq!(
            id_of("urn:li:sponsoredCreative:123", "sponsoredCreative"),
            Some("123")
        );
        assert_eq!(id_of("urn:li:sponsoredCampaign:123", "sponsoredCreative"), None);
        assert_eq!(id_of("urn:li:sponsoredCreative:", "sponsoredCreative"), None);
        assert_eq!(id_of("123", "sponsoredCreative"), None);
    }
}
