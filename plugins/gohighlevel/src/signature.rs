//! Verifying GoHighLevel's webhook deliveries, over the raw body:
//!
//! - `X-GHL-Signature`: base64 of an Ed25519 signature, the scheme
//!   GoHighLevel signs with from July 2026 on;
//! - `X-WH-Signature`: base64 of an RSA PKCS#1 v1.5 signature over the
//!   SHA-256 of the body, the legacy scheme.
//!
//! Both are checked against public keys the tenant configures (GoHighLevel
//! publishes them; a connector cannot fetch them offline). When a delivery
//! carries a signature for a configured key it must verify; a delivery with
//! none that a configured key can check is refused.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use omnify_sdk::{Error, webhook};
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs1v15::{Signature as RsaSignature, VerifyingKey as RsaVerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::sha2::Sha256;
use rsa::signature::Verifier;

/// The DER of an Ed25519 SubjectPublicKeyInfo before its 32 key bytes
/// (RFC 8410): SEQUENCE { SEQUENCE { OID 1.3.101.112 }, BIT STRING }.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// The public keys deliveries are checked against.
#[derive(Debug, Clone)]
pub struct Keys {
    rsa: Option<RsaVerifyingKey<Sha256>>,
    ed25519: Option<ed25519_dalek::VerifyingKey>,
}

impl Keys {
    /// The keys from the configured PEM texts: an RSA key (`BEGIN PUBLIC
    /// KEY` or `BEGIN RSA PUBLIC KEY`) and an Ed25519 key (`BEGIN PUBLIC
    /// KEY`, or its 32 bytes in base64). At least one is needed.
    pub fn from_config(rsa_pem: Option<&str>, ed25519_pem: Option<&str>) -> Result<Self, Error> {
        let rsa = rsa_pem.map(rsa_key).transpose()?;
        let ed25519 = ed25519_pem.map(ed25519_key).transpose()?;
        if rsa.is_none() && ed25519.is_none() {
            return Err(Error::config(
                "set `webhook_public_key` (GoHighLevel's RSA key, for X-WH-Signature) or \
                 `webhook_ed25519_public_key` (for X-GHL-Signature) to verify webhooks",
            ));
        }
        Ok(Self { rsa, ed25519 })
    }

    /// Check `body` against the signature headers in `headers`.
    pub fn verify(&self, headers: &[(String, String)], body: &[u8]) -> Result<(), Error> {
        let ghl = webhook::header(headers, "x-ghl-signature");
        let wh = webhook::header(headers, "x-wh-signature");
        match (&self.ed25519, ghl, &self.rsa, wh) {
            (Some(key), Some(signature), _, _) => {
                let valid = decode(signature)
                    .and_then(|bytes| ed25519_dalek::Signature::from_slice(&bytes).ok())
                    .is_some_and(|signature| key.verify_strict(body, &signature).is_ok());
                valid.then_some(()).ok_or_else(|| {
                    Error::Auth(
                        "X-GHL-Signature does not match the body: not signed by GoHighLevel's Ed25519 \
                         key, or modified"
                            .into(),
                    )
                })
            }
            (_, _, Some(key), Some(signature)) => {
                let valid = decode(signature)
                    .and_then(|bytes| RsaSignature::try_from(bytes.as_slice()).ok())
                    .is_some_and(|signature| key.verify(body, &signature).is_ok());
                valid.then_some(()).ok_or_else(|| {
                    Error::Auth(
                        "X-WH-Signature does not match the body: not signed by GoHighLevel's RSA key, \
                         or modified"
                            .into(),
                    )
                })
            }
            _ => Err(Error::Auth(format!(
                "the delivery has no signature a configured key can check (expected {})",
                match (&self.ed25519, &self.rsa) {
                    (Some(_), Some(_)) => "X-GHL-Signature or X-WH-Signature",
                    (Some(_), None) => "X-GHL-Signature",
                    _ => "X-WH-Signature",
                }
            ))),
        }
    }
}

fn decode(signature: &str) -> Option<Vec<u8>> {
    STANDARD.decode(signature.trim()).ok()
}

fn rsa_key(pem: &str) -> Result<RsaVerifyingKey<Sha256>, Error> {
    let pem = pem.trim();
    let key = if pem.contains("BEGIN RSA PUBLIC KEY") {
        rsa::PublicKey::from_pkcs1_pem(pem).map_err(|e| e.to_string())
    } else {
        rsa::PublicKey::from_public_key_pem(pem).map_err(|e| e.to_string())
    };
    key.map(RsaVerifyingKey::new).map_err(|e| {
        Error::config(format!(
            "`webhook_public_key` is not an RSA public key in PEM: {e}"
        ))
    })
}

fn ed25519_key(text: &str) -> Result<ed25519_dalek::VerifyingKey, Error> {
    let refuse = |why: &str| Error::config(format!("`webhook_ed25519_public_key` {why}"));
    let body: String = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.starts_with("-----"))
        .collect();
    let der = STANDARD
        .decode(body)
        .map_err(|_| refuse("is not PEM or base64"))?;
    let bytes: [u8; 32] = match der.len() {
        32 => der.as_slice().try_into().ok(),
        44 if der.starts_with(&ED25519_SPKI_PREFIX) => der[12..].try_into().ok(),
        _ => None,
    }
    .ok_or_else(|| refuse("is not an Ed25519 public key"))?;
    ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|_| refuse("is not a valid Ed25519 point"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A throwaway key pair made for these tests with `openssl genpkey`.
    const RSA_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAybQrvmPsbblmQoR2QNFC
YuVKxXD/c0qqexhLtffP51XQpcezShp7bnixOyIPNRAmhQCGTOSY3YDP0BunRR9y
PmWVxoVWxa/LW8LWD3EPZK3oHAk0y/zOgBMI0rgln6+nIUNkx7iLN5Y0nLBz+CMG
TrUNVRPfbx3e5oXlPZ4OaVVOiuNJuXUCPXbr2/nAmmcdsCxZ2a6Cj3+KOwqn/6mv
fI8u6r27gTAwR/6MMavKQYsZjirVkS2AMCA/acyhVNCxmvbSBU9ecitXBYMH0PJR
WagXuXVYGv/GzZnOQmApoFdgSZm+z/D+SOmTi/XRFfXiZgcfcI5SDCwssCedUbY+
3wIDAQAB
-----END PUBLIC KEY-----";

    #[test]
    fn keys_are_read_from_pem_and_one_is_required() {
        assert!(Keys::from_config(Some(RSA_PUBLIC), None).is_ok());
        assert!(matches!(Keys::from_config(None, None), Err(Error::Config(_))));
        assert!(matches!(
            Keys::from_config(
                Some("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"),
                None
            ),
            Err(Error::Config(_))
        ));
        let ed = ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key();
        let spki = [ED25519_SPKI_PREFIX.as_slice(), ed.as_bytes()].concat();
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----",
            STANDARD.encode(spki)
        );
        assert_eq!(ed25519_key(&pem).ok(), Some(ed));
        assert_eq!(ed25519_key(&STANDARD.encode(ed.as_bytes())).ok(), Some(ed));
        assert!(ed25519_key(RSA_PUBLIC).is_err());
    }

    #[test]
    fn ed25519_signatures_verify_and_forgeries_do_not() {
        use ed25519_dalek::Signer;
        let signer = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
        let keys = Keys {
            rsa: None,
            ed25519: Some(signer.verifying_key()),
        };
        let body = br#"{"type":"ContactCreate","id":"c1"}"#;
        let signed = STANDARD.encode(signer.sign(body).to_bytes());
        let headers = |value: &str| vec![("X-GHL-Signature".to_string(), value.to_string())];
        assert_eq!(keys.verify(&headers(&signed), body), Ok(()));
        assert!(matches!(
            keys.verify(&headers(&signed), b"{}"),
            Err(Error::Auth(_))
        ));
        assert!(matches!(
            keys.verify(&headers("not base64!"), body),
            Err(Error::Auth(_))
        ));
        assert!(matches!(keys.verify(&[], body), Err(Error::Auth(m)) if m.contains("X-GHL-Signature")));
        // An RSA signature is no use without the RSA key.
        let wh = vec![("x-wh-signature".to_string(), signed)];
        assert!(matches!(keys.verify(&wh, body), Err(Error::Auth(_))));
    }

    #[test]
    fn a_wrong_rsa_signature_is_refused() {
        let keys = Keys::from_config(Some(RSA_PUBLIC), None).expect("keys");
        let signature = STANDARD.encode([0u8; 256]);
        let headers = vec![("x-wh-signature".to_string(), signature)];
        assert!(matches!(keys.verify(&headers, b"{}"), Err(Error::Auth(m)) if m.contains("X-WH-Signature")));
    }
}
