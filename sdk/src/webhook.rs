//! Verifying webhook deliveries: header lookup and HMAC-SHA256 signatures
//! compared in constant time.
//!
//! ```
//! use omnify_sdk::webhook;
//!
//! let body = br#"{"id":1}"#;
//! let signature = webhook::hmac_sha256_hex(b"app-secret", body);
//! let headers = vec![("X-Hub-Signature-256".to_string(), format!("sha256={signature}"))];
//! let header = webhook::header(&headers, "x-hub-signature-256").unwrap();
//! let hex = header.strip_prefix("sha256=").unwrap();
//! assert!(webhook::verify_hex(b"app-secret", body, hex));
//! assert!(!webhook::verify_hex(b"other-secret", body, hex));
//! ```

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The first value of header `name` (case-insensitive).
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn mac(secret: &[u8], message: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    mac.update(message);
    mac
}

/// HMAC-SHA256 of `message` under `secret`, as lower-case hex.
pub fn hmac_sha256_hex(secret: &[u8], message: &[u8]) -> String {
    hex::encode(mac(secret, message).finalize().into_bytes())
}

/// HMAC-SHA256 of `message` under `secret`, as standard base64.
pub fn hmac_sha256_base64(secret: &[u8], message: &[u8]) -> String {
    STANDARD.encode(mac(secret, message).finalize().into_bytes())
}

/// Whether `signature_hex` is the HMAC-SHA256 of `message` under `secret`,
/// compared in constant time. Malformed hex is simply not a match.
pub fn verify_hex(secret: &[u8], message: &[u8], signature_hex: &str) -> bool {
    hex::decode(signature_hex.trim())
        .map(|expected| mac(secret, message).verify_slice(&expected).is_ok())
        .unwrap_or(false)
}

/// Whether `signature_base64` is the HMAC-SHA256 of `message` under `secret`,
/// compared in constant time. Malformed base64 is simply not a match.
pub fn verify_base64(secret: &[u8], message: &[u8], signature_base64: &str) -> bool {
    STANDARD
        .decode(signature_base64.trim())
        .map(|expected| mac(secret, message).verify_slice(&expected).is_ok())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer_from_rfc_4231_case_2() {
        let hex = hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(verify_hex(b"Jefe", b"what do ya want for nothing?", &hex));
        assert!(!verify_hex(b"Jefe", b"what do ya want for nothing!", &hex));
        assert!(!verify_hex(b"Jefe", b"what do ya want for nothing?", "not hex"));
        let b64 = hmac_sha256_base64(b"Jefe", b"what do ya want for nothing?");
        assert!(verify_base64(b"Jefe", b"what do ya want for nothing?", &b64));
        assert!(!verify_base64(b"Jefe", b"what do ya want for nothing?", "AAAA"));
    }

    #[test]
    fn header_lookup_ignores_case() {
        let headers = vec![("Stripe-Signature".to_string(), "t=1,v1=ab".to_string())];
        assert_eq!(header(&headers, "stripe-signature"), Some("t=1,v1=ab"));
        assert_eq!(header(&headers, "x-other"), None);
    }
}
