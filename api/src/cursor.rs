//! Paging cursors as the API shows them: opaque, URL-safe tokens
//! (base64url without padding of a kind tag, the store's position and a
//! short checksum), made and read only here, so that a client passes a
//! page's `next` back as it is, the store's keys (which may hold any byte)
//! never reach a URL, and a token cut short or edited is refused rather
//! than read as another position.

use super::error::ApiError;
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Bytes of checksum at the end of a token.
const CHECK_BYTES: usize = 4;

fn checksum(bytes: &[u8]) -> [u8; CHECK_BYTES] {
    let digest = Sha256::digest(bytes);
    [digest[0], digest[1], digest[2], digest[3]]
}

/// The longest cursor accepted, in characters; the OpenAPI document states
/// it too.
pub const MAX_CURSOR_CHARS: usize = 4096;

/// The pattern every cursor matches, as the OpenAPI document states it.
pub const CURSOR_PATTERN: &str = "^[A-Za-z0-9_-]+$";

/// The most items one page may ask for (`limit`), as the OpenAPI document
/// states it.
pub const MAX_PAGE_LIMIT: usize = 1000;

/// `limit` if it is within 1 and [`MAX_PAGE_LIMIT`]; otherwise a 422 rather
/// than a page of another size than asked.
pub fn page_limit(limit: usize) -> Result<usize, ApiError> {
    if (1..=MAX_PAGE_LIMIT).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            format!("`limit` must be 1 to {MAX_PAGE_LIMIT}, not {limit}"),
        ))
    }
}

/// Which list a cursor pages through: a cursor of one list is refused by
/// another instead of landing somewhere arbitrary in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CursorKind {
    /// A stream's synced records.
    Records,
}

impl CursorKind {
    fn tag(self) -> u8 {
        match self {
            Self::Records => b'r',
        }
    }
}

/// The token for the position `position` in a list of `kind`.
pub fn encode(kind: CursorKind, position: &str) -> String {
    let mut bytes = Vec::with_capacity(position.len() + 1 + CHECK_BYTES);
    bytes.push(kind.tag());
    bytes.extend_from_slice(position.as_bytes());
    let check = checksum(&bytes);
    bytes.extend_from_slice(&check);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The position a token of `kind` stands for; a token this API did not
/// make for this list is a 400 `invalid_cursor`.
pub fn decode(kind: CursorKind, token: &str) -> Result<String, ApiError> {
    let refused = |why: &str| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_cursor",
            format!("`after` is not a cursor of this list ({why}): pass a page's `next` back unchanged"),
        )
    };
    if token.is_empty() || token.len() > MAX_CURSOR_CHARS {
        return Err(refused("its length is wrong"));
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| refused("it is not base64url"))?;
    let (bytes, _) = bytes
        .split_at_checked(bytes.len().saturating_sub(CHECK_BYTES))
        .filter(|(bytes, check)| !bytes.is_empty() && checksum(bytes) == **check)
        .ok_or_else(|| refused("it was cut short or changed"))?;
    match bytes.split_first() {
        Some((tag, position)) if *tag == kind.tag() => {
            String::from_utf8(position.to_vec()).map_err(|_| refused("it does not decode to a position"))
        }
        _ => Err(refused("it belongs to another list")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_is_url_safe() {
        let position = "00000000000000000042\u{1f}b/c?d=e&f";
        let token = encode(CursorKind::Records, position);
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{token}"
        );
        assert_eq!(decode(CursorKind::Records, &token).expect("decodes"), position);
    }

    #[test]
    fn a_malformed_cursor_is_refused() {
        let signed = |bytes: &[u8]| {
            let mut bytes = bytes.to_vec();
            bytes.extend_from_slice(&checksum(&bytes));
            URL_SAFE_NO_PAD.encode(bytes)
        };
        let other_kind = signed(b"xabc");
        let not_utf8 = signed(&[b'r', 0xff, 0xfe]);
        let good = encode(CursorKind::Records, "00000000000000000042");
        let cut = &good[..good.len() - 2];
        let unchecked = URL_SAFE_NO_PAD.encode(b"r00000000000000000042");
        for token in [
            "",
            "not base64!",
            "a",
            &other_kind,
            &not_utf8,
            cut,
            &unchecked,
            &"A".repeat(MAX_CURSOR_CHARS + 1),
        ] {
            let error = decode(CursorKind::Records, token).expect_err(token);
            assert_eq!(error.status, StatusCode::BAD_REQUEST, "{token}");
            assert_eq!(error.code, "invalid_cursor");
        }
    }
}
