//! Credentials: the admin token and per-tenant API keys. Both are random
//! tokens shown once and stored only as their sha256 (they carry 192 bits
//! of randomness, so a fast hash is enough to make the stored form useless).
//! A key's id is 64 random bits; an id already taken is drawn again, never
//! overwritten.

use crate::audit::{self, Event};
use crate::control::{ControlError, ControlPlane};
use crate::store::StoreError;
use crate::store::storage::{ReadTx, Storage, Table, WriteTx, get_json, key, prefix, put_json, scan_json};
use crate::vault::{VaultError, random_hex};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const ADMIN_TOKEN_KEY: &[u8] = b"admin_token_sha256";

/// What a caller may do. Each role may do everything the roles before it
/// may; `api::access` says which role each route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Reads a tenant's records, runs, proposals, usage and audit log.
    Viewer,
    /// Also starts syncs and agent runs, and approves or rejects ordinary
    /// proposals.
    Operator,
    /// Also decides proposals that need an expert.
    Expert,
    /// Everything, for every tenant: the host's administrator.
    Admin,
}

impl Role {
    /// The role's name, as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Operator => "operator",
            Self::Expert => "expert",
            Self::Admin => "admin",
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Its role.
    pub role: Role,
    /// The tenant its key belongs to; none for the admin token.
    pub tenant: Option<String>,
    /// How the audit log names it: `key:<id>`, `admin`, or a part of the
    /// host such as `webhook` or `system`.
    actor: String,
}

impl Principal {
    /// The admin (the admin token, or the operator of the host itself).
    pub fn admin() -> Self {
        Self {
            role: Role::Admin,
            tenant: None,
            actor: "admin".into(),
        }
    }

    /// The caller holding API key `key_id` of `tenant` with `role`.
    pub fn key(key_id: &str, tenant: &str, role: Role) -> Self {
        Self {
            role,
            tenant: Some(tenant.to_string()),
            actor: format!("key:{key_id}"),
        }
    }

    /// The part of the host named `system` acting for `tenant` only, with an
    /// operator's rights.
    pub fn system(system: &str, tenant: &str) -> Self {
        Self {
            role: Role::Operator,
            tenant: Some(tenant.to_string()),
            actor: system.to_string(),
        }
    }

    /// Work done later on behalf of `actor` (a job's creator, an approver):
    /// it keeps that actor's name in the audit log, with `role` for `tenant`.
    pub fn on_behalf_of(actor: &str, role: Role, tenant: &str) -> Self {
        Self {
            role,
            tenant: (role != Role::Admin).then(|| tenant.to_string()),
            actor: actor.to_string(),
        }
    }

    /// How the audit log names this caller.
    pub fn actor(&self) -> String {
        self.actor.clone()
    }

    /// Refuse unless the caller's role is at least `role`.
    pub fn require(&self, role: Role) -> Result<(), ControlError> {
        if self.role >= role {
            return Ok(());
        }
        Err(ControlError::Forbidden(match role {
            Role::Admin => "this needs the admin token".into(),
            _ => format!(
                "this needs the `{}` role; this key is `{}`",
                role.as_str(),
                self.role.as_str()
            ),
        }))
    }

    /// Refuse unless the caller is the admin.
    pub fn require_admin(&self) -> Result<(), ControlError> {
        self.require(Role::Admin)
    }

    /// Refuse unless the caller is the admin or holds a key of `tenant`.
    pub fn require_tenant(&self, tenant: &str) -> Result<(), ControlError> {
        match (&self.role, &self.tenant) {
            (Role::Admin, _) => Ok(()),
            (_, Some(own)) if own == tenant => Ok(()),
            _ => Err(ControlError::Forbidden(format!(
                "this key does not belong to tenant `{tenant}`"
            ))),
        }
    }
}

/// An API key as stored and listed (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiKey {
    /// The key's id; also the visible part of the key (`omk_<id>_…`).
    pub id: String,
    /// The tenant it belongs to.
    pub tenant: String,
    /// `viewer`, `operator` or `expert`.
    pub role: Role,
    /// A note from whoever created it.
    pub label: String,
    /// The start of the key, to recognise it.
    pub prefix: String,
    /// When it was created.
    pub created_at: String,
    /// When it was revoked, if it was.
    pub revoked_at: Option<String>,
}

fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Create the admin token if the store has none; return it when created.
pub fn ensure_admin_token(store: &dyn Storage) -> Result<Option<String>, StoreError> {
    let mut tx = store.write()?;
    if tx.get(Table::Meta, ADMIN_TOKEN_KEY)?.is_some() {
        return Ok(None);
    }
    let token = format!(
        "oma_{}",
        random_hex(24).map_err(|e| StoreError::Unavailable(e.to_string()))?
    );
    tx.put(Table::Meta, ADMIN_TOKEN_KEY, &token_hash(&token))?;
    tx.commit()?;
    Ok(Some(token))
}

/// The shortest admin token accepted from configuration, after `oma_`.
const MIN_ADMIN_TOKEN_SECRET: usize = 32;

/// Make `token` the admin token (given by configuration), replacing any
/// other; the change is in the host's audit chain. A token that could be
/// guessed, or read as an API key, is refused.
pub fn set_admin_token(store: &dyn Storage, token: &str) -> Result<(), StartupTokenError> {
    let secret = token
        .strip_prefix("oma_")
        .ok_or(StartupTokenError::Shape("it must start with `oma_`"))?;
    if secret.len() < MIN_ADMIN_TOKEN_SECRET || !secret.chars().all(|c| c.is_ascii_graphic()) {
        return Err(StartupTokenError::Shape(
            "it needs at least 32 printable characters after `oma_` (for example 48 hex digits)",
        ));
    }
    let hash = token_hash(token);
    let mut tx = store.write()?;
    if tx.get(Table::Meta, ADMIN_TOKEN_KEY)?.as_deref() == Some(hash.as_slice()) {
        return Ok(());
    }
    tx.put(Table::Meta, ADMIN_TOKEN_KEY, &hash)?;
    let event = Event {
        actor: "system",
        action: "admin-token.set",
        target: "admin",
        outcome: "ok",
        details: serde_json::json!({ "from": "configuration" }),
    };
    audit::append(&mut *tx, audit::SYSTEM_CHAIN, event)?;
    tx.commit()?;
    Ok(())
}

/// Why a configured admin token was not taken.
#[derive(Debug, thiserror::Error)]
pub enum StartupTokenError {
    /// The token is not one the host accepts.
    #[error("the configured admin token is refused: {0}")]
    Shape(&'static str),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Who presents `token`, if anyone.
pub fn authenticate(tx: &dyn ReadTx, token: &str) -> Result<Principal, ControlError> {
    authenticate_hashed(tx, token.starts_with("oma_"), token_hash(token))
}

/// Who presents the token whose hash is `hash` (an admin token when
/// `admin`), if anyone.
fn authenticate_hashed(tx: &dyn ReadTx, admin: bool, hash: [u8; 32]) -> Result<Principal, ControlError> {
    let unknown = || ControlError::Unauthenticated("unknown or revoked credentials".into());
    if admin {
        return match tx.get(Table::Meta, ADMIN_TOKEN_KEY)? {
            Some(stored) if stored == hash => Ok(Principal::admin()),
            _ => Err(unknown()),
        };
    }
    let id = tx.get(Table::ApiKeyHashes, &hash)?.ok_or_else(unknown)?;
    let key: ApiKey = get_json(tx, Table::ApiKeys, &id)?.ok_or_else(unknown)?;
    if key.revoked_at.is_some() {
        return Err(unknown());
    }
    Ok(Principal::key(&key.id, &key.tenant, key.role))
}

/// Whether `principal` still holds: a key's principal stops holding once
/// the key is revoked or its tenant deleted. For callers that keep a
/// principal beyond one request, such as a live feed.
pub fn still_valid(tx: &dyn ReadTx, principal: &Principal) -> Result<(), ControlError> {
    let (Some(tenant), Some(id)) = (&principal.tenant, principal.actor.strip_prefix("key:")) else {
        return Ok(());
    };
    let key: Option<ApiKey> = get_json(tx, Table::ApiKeys, &key_record_key(tenant, id))?;
    match key {
        Some(key) if key.revoked_at.is_none() => Ok(()),
        _ => Err(ControlError::Unauthenticated("the key was revoked".into())),
    }
}

/// Random bytes in a key id: 64 bits, so ids practically never repeat.
const KEY_ID_BYTES: usize = 8;

/// How many fresh ids are drawn before giving up on finding an unused one.
const KEY_ID_ATTEMPTS: usize = 8;

/// An id that no key of `tenant` has (revoked keys included), drawn from
/// `generate`; a drawn id that is taken is refused and another drawn, so a
/// collision never overwrites an existing key.
fn fresh_key_id(
    tx: &dyn ReadTx,
    tenant: &str,
    mut generate: impl FnMut() -> Result<String, VaultError>,
) -> Result<String, ControlError> {
    for _ in 0..KEY_ID_ATTEMPTS {
        let id = generate()?;
        if tx.get(Table::ApiKeys, &key_record_key(tenant, &id))?.is_none() {
            return Ok(id);
        }
        tracing::warn!(
            tenant,
            "a new API key id collided with an existing key; drawing another"
        );
    }
    Err(ControlError::Internal(format!(
        "no unused API key id after {KEY_ID_ATTEMPTS} attempts"
    )))
}

fn key_record_key(tenant: &str, id: &str) -> Vec<u8> {
    key(&[tenant.as_bytes(), id.as_bytes()])
}

/// Remove every key of `tenant` (when the tenant is deleted).
pub(crate) fn delete_all(tx: &mut dyn WriteTx, tenant: &str) -> Result<(), StoreError> {
    let keys: Vec<(Vec<u8>, ApiKey)> = scan_json(
        tx,
        Table::ApiKeys,
        &prefix(&[tenant.as_bytes()]),
        None,
        usize::MAX,
    )?;
    for (record_key, _) in &keys {
        tx.delete(Table::ApiKeys, record_key)?;
    }
    let hashes: Vec<Vec<u8>> = tx
        .scan(Table::ApiKeyHashes, b"", None, usize::MAX)?
        .into_iter()
        .filter(|(_, id)| keys.iter().any(|(record_key, _)| record_key == id))
        .map(|(hash, _)| hash)
        .collect();
    for hash in hashes {
        tx.delete(Table::ApiKeyHashes, &hash)?;
    }
    Ok(())
}

impl ControlPlane {
    /// Who presents `token` (see [`ControlPlane::read_store`] for where the
    /// lookup runs).
    /// A principal found before is taken from the cache while the keys
    /// are unchanged.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, ControlError> {
        let (admin, hash) = (token.starts_with("oma_"), token_hash(token));
        let read = self.read_store(move |tx| authenticate_hashed(tx, admin, hash));
        self.caches
            .principals
            .get_or_read(self.store.changes(), hash, read)
            .await
    }

    /// Record that `principal` opened or closed a console session
    /// (`action` is `console.sign-in` or `console.sign-out`): in its
    /// tenant's chain, or the host's for the admin token. The details name
    /// the request, never the key.
    pub async fn audit_session(
        &self,
        principal: &Principal,
        action: &'static str,
        request_id: String,
    ) -> Result<(), ControlError> {
        let chain = principal
            .tenant
            .clone()
            .unwrap_or_else(|| audit::SYSTEM_CHAIN.to_string());
        let actor = principal.actor();
        self.blocking(move |store| {
            let mut tx = store.write()?;
            let event = Event {
                actor: &actor,
                action,
                target: "console",
                outcome: "ok",
                details: serde_json::json!({ "request_id": request_id }),
            };
            audit::append(&mut *tx, &chain, event)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Create an API key for `tenant`; the key is in the result and is never
    /// shown again.
    pub async fn create_key(
        &self,
        principal: &Principal,
        tenant: &str,
        role: Role,
        label: String,
    ) -> Result<(ApiKey, String), ControlError> {
        principal.require_admin()?;
        if role == Role::Admin {
            return Err(ControlError::Invalid(
                "API keys belong to a tenant: their role is `viewer`, `operator` or `expert`".into(),
            ));
        }
        let (actor, tenant) = (principal.actor(), tenant.to_string());
        self.blocking(move |store| {
            let mut tx = store.write()?;
            super::require_existing(&*tx, &tenant)?;
            let id = fresh_key_id(&*tx, &tenant, || random_hex(KEY_ID_BYTES))?;
            let token = format!("omk_{id}_{}", random_hex(24)?);
            if tx.get(Table::ApiKeyHashes, &token_hash(&token))?.is_some() {
                // 192 random bits never repeat in practice; refuse rather
                // than let one key's hash point at another's record.
                return Err(ControlError::Internal(
                    "a freshly generated key collided with an existing one; try again".into(),
                ));
            }
            let api_key = ApiKey {
                id: id.clone(),
                tenant: tenant.clone(),
                role,
                label,
                prefix: format!("omk_{id}"),
                created_at: audit::now(),
                revoked_at: None,
            };
            let record_key = key_record_key(&tenant, &id);
            put_json(&mut *tx, Table::ApiKeys, &record_key, &api_key)?;
            tx.put(Table::ApiKeyHashes, &token_hash(&token), &record_key)?;
            let details =
                serde_json::json!({ "role": role, "label": api_key.label, "prefix": api_key.prefix });
            audit::append(
                &mut *tx,
                &tenant,
                Event {
                    actor: &actor,
                    action: "key.create",
                    target: &id,
                    outcome: "ok",
                    details,
                },
            )?;
            tx.commit()?;
            Ok((api_key, token))
        })
        .await
    }

    /// The keys of `tenant` (never the keys themselves).
    pub async fn list_keys(&self, principal: &Principal, tenant: &str) -> Result<Vec<ApiKey>, ControlError> {
        principal.require_admin()?;
        let tenant = tenant.to_string();
        self.blocking(move |store| super::rows_of(&*store.read()?, Table::ApiKeys, &tenant))
            .await
    }

    /// Revoke a key of `tenant`; requests with it are refused from now on.
    pub async fn revoke_key(
        &self,
        principal: &Principal,
        tenant: &str,
        id: &str,
    ) -> Result<ApiKey, ControlError> {
        principal.require_admin()?;
        let (actor, tenant, id) = (principal.actor(), tenant.to_string(), id.to_string());
        self.blocking(move |store| {
            let mut tx = store.write()?;
            super::require_existing(&*tx, &tenant)?;
            let record_key = key_record_key(&tenant, &id);
            let mut api_key: ApiKey = get_json(&*tx, Table::ApiKeys, &record_key)?
                .ok_or_else(|| ControlError::NotFound(format!("tenant `{tenant}` has no key `{id}`")))?;
            if api_key.revoked_at.is_some() {
                return Err(ControlError::Conflict(format!("key `{id}` is already revoked")));
            }
            api_key.revoked_at = Some(audit::now());
            put_json(&mut *tx, Table::ApiKeys, &record_key, &api_key)?;
            audit::append(
                &mut *tx,
                &tenant,
                Event {
                    actor: &actor,
                    action: "key.revoke",
                    target: &id,
                    outcome: "ok",
                    details: serde_json::json!({}),
                },
            )?;
            tx.commit()?;
            Ok(api_key)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RedbStore;

    fn store_with_key(id: &str) -> (tempfile::TempDir, RedbStore) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = RedbStore::open(dir.path()).expect("open");
        let mut tx = store.write().expect("write");
        let existing = ApiKey {
            id: id.into(),
            tenant: "acme".into(),
            role: Role::Viewer,
            label: "the older key".into(),
            prefix: format!("omk_{id}"),
            created_at: audit::now(),
            revoked_at: None,
        };
        put_json(&mut *tx, Table::ApiKeys, &key_record_key("acme", id), &existing).expect("put");
        tx.commit().expect("commit");
        (dir, store)
    }

    #[test]
    fn a_colliding_key_id_is_refused_and_another_drawn() {
        let (_dir, store) = store_with_key("00000000000000aa");
        let mut drawn = ["00000000000000aa", "00000000000000bb"].into_iter();
        let tx = store.read().expect("read");
        let id = fresh_key_id(&*tx, "acme", || Ok(drawn.next().expect("drawn").to_string())).expect("an id");
        assert_eq!(id, "00000000000000bb", "the taken id is not reused");
        assert_eq!(drawn.next(), None, "exactly one retry");
        // The same id in another tenant is not a collision.
        let id = fresh_key_id(&*tx, "rival", || Ok("00000000000000aa".to_string())).expect("an id");
        assert_eq!(id, "00000000000000aa");
    }

    #[test]
    fn only_collisions_give_up_without_overwriting() {
        let (_dir, store) = store_with_key("00000000000000aa");
        let tx = store.read().expect("read");
        let mut draws = 0;
        let error = fresh_key_id(&*tx, "acme", || {
            draws += 1;
            Ok("00000000000000aa".to_string())
        })
        .expect_err("every draw collides");
        assert!(error.to_string().contains("no unused API key id"), "{error}");
        assert_eq!(draws, KEY_ID_ATTEMPTS);
        let kept: ApiKey = get_json(&*tx, Table::ApiKeys, &key_record_key("acme", "00000000000000aa"))
            .expect("get")
            .expect("still there");
        assert_eq!(kept.label, "the older key");
    }

    #[test]
    fn key_ids_carry_64_random_bits() {
        let id = random_hex(KEY_ID_BYTES).expect("random");
        assert_eq!(id.len(), 16);
    }
}
