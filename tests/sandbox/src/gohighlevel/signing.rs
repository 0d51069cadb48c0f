//! Webhook deliveries signed as GoHighLevel signs them, over the raw body:
//! `X-WH-Signature` (base64 RSA PKCS#1 v1.5 over SHA-256, the legacy
//! scheme) and `X-GHL-Signature` (base64 Ed25519), with the sandbox's own
//! key pairs in place of GoHighLevel's published ones. The keys are for
//! this sandbox only: made for it with `openssl genpkey`, never used
//! anywhere else.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::sha2::Sha256;
use rsa::signature::{SignatureEncoding, Signer};
use serde_json::{Value, json};
use sha2::Digest;
use std::sync::OnceLock;

/// The sandbox's RSA private key (PKCS#8), which signs `X-WH-Signature`.
pub const RSA_PRIVATE_KEY_PEM: &str = "\
-----BEGIN PRIVATE KEY-----\n\
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDJtCu+Y+xtuWZC\n\
hHZA0UJi5UrFcP9zSqp7GEu198/nVdClx7NKGntueLE7Ig81ECaFAIZM5JjdgM/Q\n\
G6dFH3I+ZZXGhVbFr8tbwtYPcQ9kregcCTTL/M6AEwjSuCWfr6chQ2THuIs3ljSc\n\
sHP4IwZOtQ1VE99vHd7mheU9ng5pVU6K40m5dQI9duvb+cCaZx2wLFnZroKPf4o7\n\
Cqf/qa98jy7qvbuBMDBH/owxq8pBixmOKtWRLYAwID9pzKFU0LGa9tIFT15yK1cF\n\
gwfQ8lFZqBe5dVga/8bNmc5CYCmgV2BJmb7P8P5I6ZOL9dEV9eJmBx9wjlIMLCyw\n\
J51Rtj7fAgMBAAECggEATeJuSbQX5T6DyAeSCfFDqyBSwO6jFQet0J5PDdLEytUO\n\
HhWAm4qiQsQD24uJR7oWxaCwOxzCEjXdCMTE0CIWYRWkweVW3jrFUYdoVMoZYYzt\n\
ZXYAlwvlSPsQmx1UGdcft+5oCd6ukyZC5oYUIaqUkuvCXCmySxvDqEvneuV/Nxhz\n\
qiPgHrXlkuKwZXVjA1t51h/LaTFFQfZ8H+MyKdEix5oXUKgToNhy+cVuZXuFk4Po\n\
u1tw2R7SfrHbpQ/pyQq6Q3vhEjwona9tNiUVVHvSiwRChnEd0w4UGsmzKKykMRXn\n\
KZsw4ewGeoGnmbkMnRiJutc8B/whsLCF9qgQ7M/WcQKBgQD0VClknnkufGnzxmXy\n\
RdVo4OjsWHCjgLZ/9NMgDDYIMZ8qdx/+HVg6XU7Z72s40WnOdbl+MWmYUh6yVfih\n\
Wh5okZicq/ltLtk7piAowpuk2X3u2Vlm5G4AvSNbvaAoWzQslmj47Ijjfov4L18v\n\
gmVCIVOy1hv1k7VMg7CLQ/0i6wKBgQDTVsI1Mwowc2qcl5KL+x3x5SiViOHzgAx0\n\
FfMLRNqHa1dLVpbBuwtVFmeBbcsHFCOEMtgendyX1Ti90//gFVuECDFttxR7bmpL\n\
tkf84gSfCaKrEEQKQlNN/yp+4HHwlMVm+UWWT49FO4tKW4zLeeYPFla7IgrV5Zh0\n\
bKl+aMLO3QKBgDx+AemZmuM5hnoGqwL660WWOdUaaHjyyzyO/x62J0KMFp5K9C7U\n\
UR3SME2hC2j74DhvyUdHMJ+35UW+J1q7lz/InIJdydmQedRc4yV0WVjNSHK0eYAS\n\
GnIwYeq63kZfnmFTtBW9an74u+rsv6JhpHRlD/X9MNrygTa6fCFe6fOVAoGBALwm\n\
X1xRhl7AQkgLQXLSLESxCcKnTNImS/AFoo2DzTIGxH7UJf9v8JTeD2RRRRGWQlBt\n\
m68WR8/9CjkmRoVPPlx7ltXgyqFhGc0yCUEAT7DvOR0mrAyeI+AqrcCrPYU8Tcpx\n\
XhyF1D2E12tpuh1k9wazkp+jnRX1BBeSrgtWZSkZAoGBAIy42yu+p0L7YKutx8gg\n\
CJdv06AqBzSKkhDxVYx9LzOyDhr4uh+647GcKavKNGFUzQhdXg4TsHDBGy8nL7jo\n\
xomAj+3pKCuTHVLfpdJmJ7H4fAK4dXaaFznAT0fyTrkpK4go7ukTuk0IYM03abSt\n\
dzPMI5G0sa8FlQv0z+Acfbst\n\
-----END PRIVATE KEY-----
";

/// Its public key (SubjectPublicKeyInfo), what a tenant configures as
/// `webhook_public_key`.
pub const RSA_PUBLIC_KEY_PEM: &str = "\
-----BEGIN PUBLIC KEY-----\n\
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAybQrvmPsbblmQoR2QNFC\n\
YuVKxXD/c0qqexhLtffP51XQpcezShp7bnixOyIPNRAmhQCGTOSY3YDP0BunRR9y\n\
PmWVxoVWxa/LW8LWD3EPZK3oHAk0y/zOgBMI0rgln6+nIUNkx7iLN5Y0nLBz+CMG\n\
TrUNVRPfbx3e5oXlPZ4OaVVOiuNJuXUCPXbr2/nAmmcdsCxZ2a6Cj3+KOwqn/6mv\n\
fI8u6r27gTAwR/6MMavKQYsZjirVkS2AMCA/acyhVNCxmvbSBU9ecitXBYMH0PJR\n\
WagXuXVYGv/GzZnOQmApoFdgSZm+z/D+SOmTi/XRFfXiZgcfcI5SDCwssCedUbY+\n\
3wIDAQAB\n\
-----END PUBLIC KEY-----
";

/// The seed of the sandbox's Ed25519 key, which signs `X-GHL-Signature`.
pub const ED25519_SEED: [u8; 32] = *b"omnify-sandbox-gohighlevel-ed255";

/// The DER of an Ed25519 SubjectPublicKeyInfo before its 32 key bytes.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

fn rsa_key() -> &'static SigningKey<Sha256> {
    static KEY: OnceLock<SigningKey<Sha256>> = OnceLock::new();
    KEY.get_or_init(|| {
        let key = rsa::PrivateKey::from_pkcs8_pem(RSA_PRIVATE_KEY_PEM)
            .expect("the sandbox's RSA key is valid PKCS#8");
        SigningKey::new(key)
    })
}

fn ed25519_key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&ED25519_SEED)
}

/// The sandbox's Ed25519 public key as PEM, what a tenant configures as
/// `webhook_ed25519_public_key`.
pub fn ed25519_public_key_pem() -> String {
    let spki = [
        ED25519_SPKI_PREFIX.as_slice(),
        ed25519_key().verifying_key().as_bytes(),
    ]
    .concat();
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        STANDARD.encode(spki)
    )
}

/// The `X-WH-Signature` of `body`.
pub fn rsa_signature(body: &[u8]) -> String {
    STANDARD.encode(rsa_key().sign(body).to_bytes())
}

/// The `X-GHL-Signature` of `body`.
pub fn ed25519_signature(body: &[u8]) -> String {
    STANDARD.encode(ed25519_key().sign(body).to_bytes())
}

/// The headers of a delivery of `body`, signed both ways as GoHighLevel
/// signs while it moves from RSA to Ed25519.
pub fn signed_webhook(body: &[u8]) -> Vec<(String, String)> {
    vec![
        ("Content-Type".into(), "application/json".into()),
        ("X-WH-Signature".into(), rsa_signature(body)),
        ("X-GHL-Signature".into(), ed25519_signature(body)),
    ]
}

/// An event of `kind` (`ContactCreate`, `OpportunityStageUpdate`, ...) of
/// the sandbox's location, `fields` added to the envelope GoHighLevel
/// sends: `type`, `locationId`, `webhookId`, and `timestamp` now.
pub fn event(kind: &str, fields: Value) -> Value {
    let mut event = json!({
        "type": kind,
        "locationId": crate::world::LOCATION_ID,
        "timestamp": Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
    });
    let digest = hex::encode(
        sha2::Sha256::new()
            .chain_update(kind)
            .chain_update(fields.to_string())
            .finalize(),
    );
    event["webhookId"] = json!(format!(
        "{}-{}-{}-{}-{}",
        &digest[0..8],
        &digest[8..12],
        &digest[12..16],
        &digest[16..20],
        &digest[20..32]
    ));
    if let (Some(event), Value::Object(fields)) = (event.as_object_mut(), fields) {
        event.extend(fields);
    }
    event
}
