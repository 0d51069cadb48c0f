//! Sending deliveries: the egress rules an endpoint's URL must pass, the
//! signature, one attempt with a timeout, and the outcome with the next
//! attempt after exponential backoff with jitter.

use super::{
    Attempt, DeliveryStatus, OutboxRow, StoredEndpoint, due_key, endpoint_key, outbox_key, seal_context,
};
use crate::hosts::Hosts;
use crate::hosts::lease::Resource;
use crate::store::storage::{Table, get_json, put_json};
use crate::store::{Storage, StoreError};
use crate::vault::Vault;
use hmac::{Hmac, Mac};
use omnify_runtime::capability::egress::{Egress, blocked_range};
use omnify_runtime::invoke::HostPattern;
use sha2::Sha256;
use std::time::{Duration, Instant};

/// The header that carries a delivery's signature.
pub const SIGNATURE_HEADER: &str = "x-omnify-signature";

/// Attempts of one delivery before it is given up.
pub const MAX_ATTEMPTS: usize = 8;

/// The wait before the second attempt; it doubles after each failure.
const FIRST_RETRY: Duration = Duration::from_secs(1);

/// The longest wait between two attempts.
const LONGEST_RETRY: Duration = Duration::from_secs(600);

/// How long one attempt may take.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The value of [`SIGNATURE_HEADER`]: `t=<unix>,v1=<hex>`, the hex being
/// HMAC-SHA256 under `secret` of `"<unix>.<body>"`.
pub fn sign(secret: &str, unix: u64, body: &str) -> String {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(unix.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("t={unix},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// A URL that passed the egress rules, and whether it may reach private
/// addresses (its host is one the operator made grantable).
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) url: url::Url,
    pub(crate) allow_private: bool,
}

/// Check `raw` without a lookup: `http` or `https`, a host, and (unless the
/// operator made the host grantable) not an address in a private range.
pub(crate) fn check_url(raw: &str, grantable: &[HostPattern]) -> Result<Target, String> {
    let url = url::Url::parse(raw).map_err(|e| format!("not a URL: {e}"))?;
    let default_port = match url.scheme() {
        "https" => 443,
        "http" => 80,
        other => return Err(format!("scheme `{other}` is not allowed; use https (or http)")),
    };
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or("the URL has no host")?;
    let port = url.port().unwrap_or(default_port);
    let allow_private = grantable.iter().any(|p| p.matches(host, port, default_port));
    if !allow_private
        && let Some(ip) = ip_literal(&url)
        && let Some(range) = blocked_range(ip)
    {
        return Err(format!(
            "`{host}` is a {range} address, which endpoints may not reach unless the operator made the \
             host grantable (`omnify serve --grantable-host`)"
        ));
    }
    Ok(Target { url, allow_private })
}

fn ip_literal(url: &url::Url) -> Option<std::net::IpAddr> {
    match url.host()? {
        url::Host::Ipv4(ip) => Some(ip.into()),
        url::Host::Ipv6(ip) => Some(ip.into()),
        url::Host::Domain(_) => None,
    }
}

/// [`check_url`], and for a name, a lookup whose addresses must not all be
/// private (at delivery, the egress guard drops those that are).
pub(crate) async fn check_url_resolving(raw: &str, grantable: &[HostPattern]) -> Result<Target, String> {
    let target = check_url(raw, grantable)?;
    if target.allow_private || ip_literal(&target.url).is_some() {
        return Ok(target);
    }
    let host = target.url.host_str().unwrap_or_default().to_string();
    let port = target.url.port_or_known_default().unwrap_or(443);
    let found: Vec<std::net::IpAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| format!("cannot resolve `{host}`: {e}"))?
        .map(|addr| addr.ip())
        .collect();
    if found.iter().all(|ip| blocked_range(*ip).is_some()) {
        return Err(format!(
            "`{host}` resolves only to private or reserved addresses, which endpoints may not reach unless \
             the operator made the host grantable (`omnify serve --grantable-host`)"
        ));
    }
    Ok(target)
}

/// A delivery ready to send: its row, the endpoint's opened URL and secret.
pub(crate) struct Ready {
    pub(crate) key: Vec<u8>,
    pub(crate) row: OutboxRow,
    pub(crate) url: String,
    pub(crate) secret: String,
}

/// Up to `limit` deliveries due at `now_ms` that are not in `busy`.
pub(crate) fn due(
    store: &dyn Storage,
    vault: &Vault,
    now_ms: u64,
    limit: usize,
    busy: &std::collections::HashSet<Vec<u8>>,
) -> Result<Vec<Ready>, StoreError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let tx = store.read()?;
    let mut ready = Vec::new();
    let mut after: Option<Vec<u8>> = None;
    // Bounded: at most a few pages of the index per pass.
    for _ in 0..4 {
        let page = tx.scan(Table::NotifyDue, b"", after.as_deref(), 64)?;
        let Some((last, _)) = page.last() else { break };
        after = Some(last.clone());
        for (due, _) in &page {
            let at = due
                .get(..8)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map_or(u64::MAX, u64::from_be_bytes);
            if at > now_ms {
                return Ok(ready);
            }
            let Some(key) = due.get(9..).map(<[u8]>::to_vec) else {
                continue;
            };
            if busy.contains(&key) {
                continue;
            }
            let Some(row) = get_json::<OutboxRow>(&*tx, Table::NotifyOutbox, &key)? else {
                continue;
            };
            let Some(stored) = get_json::<StoredEndpoint>(
                &*tx,
                Table::NotifyEndpoints,
                &endpoint_key(&row.tenant, &row.delivery.endpoint),
            )?
            else {
                continue;
            };
            let open = |field: &str, sealed: &str| -> Option<String> {
                let context = seal_context(&row.tenant, &stored.endpoint.id, field);
                let bytes = vault.open(&context, &hex::decode(sealed).ok()?).ok()?;
                String::from_utf8(bytes).ok()
            };
            let (Some(url), Some(secret)) = (open("url", &stored.url), open("secret", &stored.secret)) else {
                tracing::error!(tenant = %row.tenant, endpoint = %stored.endpoint.id, "cannot open an endpoint's sealed URL or secret");
                continue;
            };
            ready.push(Ready {
                key,
                row,
                url,
                secret,
            });
            if ready.len() >= limit {
                return Ok(ready);
            }
        }
    }
    Ok(ready)
}

/// Of `ready`, the deliveries this host now holds: one another live host
/// is sending already is left to it, so that two hosts never send one
/// attempt twice. A host that dies mid-send leaves its lease to lapse, and
/// the delivery is sent again: deliveries are at least once, and their id
/// lets a receiver drop a repeat.
pub(crate) fn claim(
    store: &dyn Storage,
    hosts: &Hosts,
    ready: Vec<Ready>,
    now_ms: u64,
) -> Result<Vec<Ready>, StoreError> {
    if ready.is_empty() {
        return Ok(ready);
    }
    let mut tx = store.write()?;
    let mut claimed = Vec::with_capacity(ready.len());
    for delivery in ready {
        // Still due as of this transaction: another host may have sent it
        // and recorded the attempt since `due` read it.
        let still_due = get_json::<OutboxRow>(&*tx, Table::NotifyOutbox, &delivery.key)?
            .is_some_and(|row| row.next_unix.is_some_and(|at| at <= now_ms));
        if still_due && hosts.claim(&mut *tx, &Resource::Delivery(delivery.key.clone()))? {
            claimed.push(delivery);
        }
    }
    tx.commit()?;
    Ok(claimed)
}

/// One attempt: the URL checked again, the body signed and posted.
pub(crate) async fn attempt(egress: &Egress, grantable: &[HostPattern], ready: &Ready) -> Attempt {
    let started = Instant::now();
    let finished = |status_code: Option<u16>, error: Option<String>| Attempt {
        at: crate::audit::now(),
        status_code,
        error,
        duration_ms: started.elapsed().as_millis() as u64,
    };
    let target = match check_url(&ready.url, grantable) {
        Ok(target) => target,
        Err(why) => return finished(None, Some(format!("refused by the egress rules: {why}"))),
    };
    let unix = crate::audit::unix_seconds(std::time::SystemTime::now());
    let delivery = &ready.row.delivery;
    let sent = egress
        .client(target.allow_private)
        .post(target.url)
        .timeout(REQUEST_TIMEOUT)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(SIGNATURE_HEADER, sign(&ready.secret, unix, &ready.row.body))
        .header("x-omnify-event", delivery.kind.as_str())
        .header("x-omnify-event-id", &delivery.event)
        .header("x-omnify-delivery", &delivery.id)
        .body(ready.row.body.clone())
        .send()
        .await;
    match sent {
        Ok(response) => {
            let status = response.status();
            let error = (!status.is_success()).then(|| format!("the endpoint answered {status}"));
            finished(Some(status.as_u16()), error)
        }
        // Without the URL: a Slack webhook's path is a credential.
        Err(error) => finished(None, Some(error.without_url().to_string())),
    }
}

/// The wait before attempt `failed + 1`: doubling from [`FIRST_RETRY`] up
/// to [`LONGEST_RETRY`], then between half and all of it at random, so that
/// endpoints back from an outage are not hit by every retry at once.
fn backoff_ms(failed: usize) -> u64 {
    let full = FIRST_RETRY
        .as_millis()
        .saturating_mul(1u128 << failed.saturating_sub(1).min(20))
        .min(LONGEST_RETRY.as_millis()) as u64;
    let mut random = [0u8; 8];
    let jitter = match crate::vault::random_bytes(&mut random) {
        Ok(()) => u64::from_le_bytes(random) % (full / 2 + 1),
        Err(_) => full / 2,
    };
    full / 2 + jitter
}

/// Record `attempt` of the delivery under `key` and schedule the next one,
/// if any. A delivery whose endpoint was deleted meanwhile is gone.
pub(crate) fn record(
    store: &dyn Storage,
    hosts: &Hosts,
    key: &[u8],
    attempt: Attempt,
    now_ms: u64,
) -> Result<(), StoreError> {
    let mut tx = store.write()?;
    hosts.release(&mut *tx, &Resource::Delivery(key.to_vec()))?;
    let Some(mut row) = get_json::<OutboxRow>(&*tx, Table::NotifyOutbox, key)? else {
        return Ok(());
    };
    let delivery = &mut row.delivery;
    if let Some(due) = row.next_unix {
        tx.delete(
            Table::NotifyDue,
            &due_key(due, &row.tenant, &delivery.endpoint, &delivery.id),
        )?;
    }
    let ok = attempt.status_code.is_some_and(|code| (200..300).contains(&code));
    delivery.status_code = attempt.status_code;
    delivery.attempts.push(attempt);
    row.next_unix = None;
    delivery.next_attempt_at = None;
    delivery.status = if ok {
        DeliveryStatus::Delivered
    } else if delivery.attempts.len() >= MAX_ATTEMPTS {
        DeliveryStatus::Failed
    } else {
        let next = now_ms + backoff_ms(delivery.attempts.len());
        row.next_unix = Some(next);
        delivery.next_attempt_at = Some(rfc3339_ms(next));
        DeliveryStatus::Pending
    };
    tracing::debug!(tenant = %row.tenant, delivery = %delivery.id, status = ?delivery.status, "delivery attempted");
    if let Some(next) = row.next_unix {
        tx.put(
            Table::NotifyDue,
            &due_key(next, &row.tenant, &delivery.endpoint, &delivery.id),
            b"",
        )?;
    }
    put_json(&mut *tx, Table::NotifyOutbox, key, &row)?;
    debug_assert_eq!(
        key,
        outbox_key(&row.tenant, &row.delivery.endpoint, &row.delivery.id)
    );
    tx.commit()
}

/// A time in Unix milliseconds as RFC 3339 UTC.
pub(crate) fn rfc3339_ms(ms: u64) -> String {
    humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// Now in Unix milliseconds.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_covers_time_and_body() {
        let one = sign("secret", 100, "{}");
        assert!(one.starts_with("t=100,v1="));
        assert_ne!(one, sign("secret", 101, "{}"));
        assert_ne!(one, sign("secret", 100, "{ }"));
        assert_ne!(one, sign("other", 100, "{}"));
    }

    #[test]
    fn backoff_grows_with_jitter_and_a_cap() {
        for failed in 1..12 {
            let wait = backoff_ms(failed);
            let full = (1000u64 << (failed - 1)).min(600_000);
            assert!((full / 2..=full).contains(&wait), "{failed}: {wait}");
        }
    }

    #[test]
    fn private_addresses_need_the_operators_leave() {
        assert!(check_url("http://10.0.0.5/hook", &[]).is_err());
        assert!(check_url("http://127.0.0.1:9/hook", &[]).is_err());
        assert!(check_url("http://[::1]:9/hook", &[]).is_err());
        assert!(check_url("ftp://example.com/hook", &[]).is_err());
        let loopback = [HostPattern::parse("127.0.0.1:*").expect("pattern")];
        assert!(check_url("http://127.0.0.1:9/hook", &loopback).is_ok_and(|t| t.allow_private));
        assert!(check_url("https://hooks.example.com/x", &[]).is_ok_and(|t| !t.allow_private));
    }
}
