//! Verifying Stripe webhook deliveries: `Stripe-Signature: t=<unix
//! seconds>,v1=<hex>[,v1=<hex>...]`, where each `v1` is the HMAC-SHA256 of
//! `"<t>.<raw body>"` under the endpoint's signing secret.

use omnify_sdk::{Error, webhook};

/// How far the signing time may be from now, as Stripe's own libraries
/// allow, so that a captured delivery cannot be replayed later.
pub const TOLERANCE_SECONDS: i64 = 300;

/// The parts of a `Stripe-Signature` header that matter.
#[derive(Debug, PartialEq, Eq)]
pub struct SignatureHeader<'a> {
    /// When Stripe signed the delivery, in Unix seconds.
    pub timestamp: i64,
    /// Every `v1` signature: more than one while a secret is being rolled.
    pub signatures: Vec<&'a str>,
}

/// Parse `t=...,v1=...`; other schemes (`v0`) are ignored.
pub fn parse_header(header: &str) -> Result<SignatureHeader<'_>, Error> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for (key, value) in header.split(',').filter_map(|part| part.trim().split_once('=')) {
        match key {
            "t" => timestamp = value.parse::<i64>().ok(),
            "v1" => signatures.push(value),
            _ => {}
        }
    }
    let timestamp =
        timestamp.ok_or_else(|| Error::Auth("Stripe-Signature has no valid `t=` timestamp".into()))?;
    if signatures.is_empty() {
        return Err(Error::Auth("Stripe-Signature has no `v1=` signature".into()));
    }
    Ok(SignatureHeader {
        timestamp,
        signatures,
    })
}

/// Check that `body` was signed with `secret` within the tolerance of `now`
/// (Unix seconds).
pub fn verify(secret: &str, header: &str, body: &[u8], now: i64) -> Result<(), Error> {
    let header = parse_header(header)?;
    let signed = [format!("{}.", header.timestamp).as_bytes(), body].concat();
    if !header
        .signatures
        .iter()
        .any(|signature| webhook::verify_hex(secret.as_bytes(), &signed, signature))
    {
        return Err(Error::Auth(
            "no v1 signature in Stripe-Signature matches the body: not signed with this endpoint's \
             secret, or modified on the way"
                .into(),
        ));
    }
    let age = now.saturating_sub(header.timestamp);
    if age.abs() > TOLERANCE_SECONDS {
        return Err(Error::Auth(format!(
            "the delivery was signed {age} s from now, outside the {TOLERANCE_SECONDS} s tolerance: \
             a replay, or a clock that is off"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(secret: &str, body: &[u8], t: i64) -> String {
        let signed = [format!("{t}.").as_bytes(), body].concat();
        format!(
            "t={t},v1={}",
            webhook::hmac_sha256_hex(secret.as_bytes(), &signed)
        )
    }

    #[test]
    fn a_fresh_delivery_signed_with_the_secret_passes() {
        let body = br#"{"type":"charge.refunded"}"#;
        assert_eq!(
            verify("whsec_a", &header("whsec_a", body, 1000), body, 1100),
            Ok(())
        );
        let rolled = format!("{},v1=00ff,v0=abc", header("whsec_a", body, 1000));
        assert_eq!(verify("whsec_a", &rolled, body, 1000), Ok(()));
    }

    #[test]
    fn wrong_secret_modified_body_and_stale_deliveries_are_refused() {
        let body = br#"{"type":"charge.refunded"}"#;
        assert!(verify("whsec_b", &header("whsec_a", body, 1000), body, 1000).is_err());
        assert!(verify("whsec_a", &header("whsec_a", body, 1000), b"{}", 1000).is_err());
        assert!(verify("whsec_a", &header("whsec_a", body, 1000), body, 1301).is_err());
        assert!(verify("whsec_a", "v1=abc", body, 1000).is_err());
        assert!(verify("whsec_a", "t=1000", body, 1000).is_err());
    }
}
