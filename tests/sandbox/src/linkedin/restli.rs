//! Rest.li 2.0 query strings as LinkedIn reads them: `List(a,b)` arrays,
//! `(key:value,…)` records, and leaves in which the reserved characters
//! `( ) , : '` must come percent-encoded (`urn%3Ali%3AsponsoredAccount%3A1`).
//! A leaf with a raw reserved character is refused, as LinkedIn refuses it,
//! so a client that encodes the structure (or not the URNs) finds out here.

use std::fmt;

/// A parsed Rest.li value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data {
    /// A leaf, percent-decoded.
    Leaf(String),
    /// `List(…)`.
    List(Vec<Data>),
    /// `(key:value,…)`, in order.
    Record(Vec<(String, Data)>),
}

/// Why a value does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub String);

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Data {
    /// The leaf's text.
    pub fn leaf(&self) -> Option<&str> {
        match self {
            Data::Leaf(text) => Some(text),
            _ => None,
        }
    }

    /// The member `key` of a record.
    pub fn member(&self, key: &str) -> Option<&Data> {
        match self {
            Data::Record(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The leaves of a list; `None` if it is not a list of leaves.
    pub fn leaves(&self) -> Option<Vec<&str>> {
        match self {
            Data::List(items) => items.iter().map(Data::leaf).collect(),
            _ => None,
        }
    }
}

/// Parse one Rest.li 2.0 value, as it came in the query string.
pub fn parse(raw: &str) -> Result<Data, Malformed> {
    let mut parser = Parser { text: raw, pos: 0 };
    let value = parser.value()?;
    if parser.pos != raw.len() {
        return Err(Malformed(format!(
            "unexpected `{}` at {} of `{raw}`",
            &raw[parser.pos..],
            parser.pos
        )));
    }
    Ok(value)
}

/// Percent-decode `text`; `None` for a bad escape or invalid UTF-8.
pub fn decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn eat(&mut self, token: &str) -> bool {
        if self.rest().starts_with(token) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, token: &str) -> Result<(), Malformed> {
        if self.eat(token) {
            Ok(())
        } else {
            Err(Malformed(format!(
                "expected `{token}` at {} of `{}`",
                self.pos, self.text
            )))
        }
    }

    fn value(&mut self) -> Result<Data, Malformed> {
        if self.eat("List(") {
            let mut items = Vec::new();
            if !self.eat(")") {
                loop {
                    items.push(self.value()?);
                    if self.eat(")") {
                        break;
                    }
                    self.expect(",")?;
                }
            }
            Ok(Data::List(items))
        } else if self.eat("(") {
            let mut members = Vec::new();
            if !self.eat(")") {
                loop {
                    let key = self.leaf()?;
                    self.expect(":")?;
                    members.push((key, self.value()?));
                    if self.eat(")") {
                        break;
                    }
                    self.expect(",")?;
                }
            }
            Ok(Data::Record(members))
        } else {
            Ok(Data::Leaf(self.leaf()?))
        }
    }

    /// A leaf runs to the next `,`, `)` or `:`; `(` and `'` may not appear
    /// raw in it.
    fn leaf(&mut self) -> Result<String, Malformed> {
        let rest = self.rest();
        let end = rest.find([',', ')', ':']).unwrap_or(rest.len());
        let raw = &rest[..end];
        if let Some(bad) = raw.chars().find(|c| matches!(c, '(' | '\'')) {
            return Err(Malformed(format!(
                "reserved character `{bad}` in `{raw}` must be percent-encoded"
            )));
        }
        let text = decode(raw).ok_or_else(|| Malformed(format!("bad percent-encoding in `{raw}`")))?;
        self.pos += end;
        Ok(text)
    }
}

/// A query string: names decoded, values kept raw for [`parse`].
#[derive(Debug, Clone, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    /// Split `name=value&…`; nothing is decoded but the names.
    pub fn split(raw: &str) -> Self {
        Self(
            raw.split('&')
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                    (
                        decode(name).unwrap_or_else(|| name.to_string()),
                        value.to_string(),
                    )
                })
                .collect(),
        )
    }

    /// The raw value of `name`.
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// `name` parsed as a Rest.li value, if present.
    pub fn data(&self, name: &str) -> Result<Option<Data>, Malformed> {
        self.raw(name)
            .map(|raw| parse(raw).map_err(|e| Malformed(format!("query parameter `{name}`: {e}"))))
            .transpose()
    }

    /// `name` as a leaf, if present.
    pub fn leaf(&self, name: &str) -> Result<Option<String>, Malformed> {
        match self.data(name)? {
            None => Ok(None),
            Some(Data::Leaf(text)) => Ok(Some(text)),
            Some(_) => Err(Malformed(format!(
                "query parameter `{name}` must be a single value"
            ))),
        }
    }

    /// `name` as a `List(…)` of leaves, if present.
    pub fn list(&self, name: &str) -> Result<Option<Vec<String>>, Malformed> {
        match self.data(name)? {
            None => Ok(None),
            Some(data) => data
                .leaves()
                .map(|items| Some(items.into_iter().map(str::to_string).collect()))
                .ok_or_else(|| Malformed(format!("query parameter `{name}` must be a List(...) of values"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structures_parse_and_raw_reserved_characters_do_not() {
        let range =
            parse("(start:(year:2026,month:4,day:2),end:(year:2026,month:6,day:30))").expect("a record");
        assert_eq!(
            range
                .member("start")
                .and_then(|s| s.member("month"))
                .and_then(Data::leaf),
            Some("4")
        );
        let accounts = parse("List(urn%3Ali%3AsponsoredAccount%3A500000042)").expect("a list");
        assert_eq!(accounts.leaves(), Some(vec!["urn:li:sponsoredAccount:500000042"]));
        assert_eq!(parse("List()"), Ok(Data::List(Vec::new())));
        let search = parse("(status:(values:List(ACTIVE,PAUSED)))").expect("a record");
        let statuses = search
            .member("status")
            .and_then(|s| s.member("values"))
            .and_then(Data::leaves);
        assert_eq!(statuses, Some(vec!["ACTIVE", "PAUSED"]));
        // A URN sent raw, or a structure sent form-encoded, is refused.
        assert!(parse("List(urn:li:sponsoredAccount:1)").is_err());
        assert!(
            parse("List%28urn%3Ali%3AsponsoredAccount%3A1%29")
                .map(|d| d.leaves().is_none())
                .unwrap_or(true)
        );
        assert!(parse("(start:(year:2026)").is_err());
        assert!(parse("a%ZZ").is_err());
    }

    #[test]
    fn queries_keep_values_raw_until_asked() {
        let query = Query::split("q=search&pageToken=dGVz%2FdA%3D%3D&campaigns=List(a,b)&pageSize=10");
        assert_eq!(query.leaf("q"), Ok(Some("search".into())));
        assert_eq!(query.leaf("pageToken"), Ok(Some("dGVz/dA==".into())));
        assert_eq!(query.list("campaigns"), Ok(Some(vec!["a".into(), "b".into()])));
        assert!(query.list("q").is_err());
        assert!(query.leaf("campaigns").is_err());
        assert_eq!(query.leaf("absent"), Ok(None));
    }
}
