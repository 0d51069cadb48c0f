//! Following the audit chains: each entry after a tenant's cursor becomes
//! the events it stands for, each event a delivery to every endpoint that
//! wants its kind, written with the moved cursor in one transaction.

use super::{
    Delivery, DeliveryStatus, Endpoint, EndpointFormat, EventKind, OutboxRow, StoredEndpoint, due_key,
    new_delivery_id, outbox_key,
};
use crate::audit::{self, AuditEntry};
use crate::proposals::Proposal;
use crate::store::storage::{ReadTx, Table, WriteTx, get_json, key, prefix, put_json, scan_json};
use crate::store::{Storage, StoreError};
use crate::sync::Run;
use serde_json::{Value, json};

/// The most audit entries one transaction turns into deliveries.
const ENTRIES_PER_STEP: usize = 200;

/// The most steps one pass makes for one tenant (the rest waits for the
/// next pass, so one busy tenant cannot hold the notifier).
const STEPS_PER_PASS: usize = 10;

/// An event, before it is shaped for an endpoint.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    /// Stable: the same in every delivery and after a restart.
    pub(crate) id: String,
    pub(crate) kind: EventKind,
    pub(crate) tenant: String,
    pub(crate) time: String,
    pub(crate) summary: String,
    /// Ids and names only: never an input, an error text or a secret.
    pub(crate) data: Value,
    /// The API path of what the event is about.
    pub(crate) api: String,
    /// The console page to act on it.
    pub(crate) console: String,
}

impl Event {
    /// The body sent to an endpoint of `format`; links are absolute when the
    /// host knows its public URL (`serve --public-url`).
    pub(crate) fn body(&self, format: EndpointFormat, base: &str) -> String {
        let (api, console) = (format!("{base}{}", self.api), format!("{base}{}", self.console));
        let value = match format {
            EndpointFormat::Json => json!({
                "id": self.id,
                "kind": self.kind,
                "tenant": self.tenant,
                "time": self.time,
                "summary": self.summary,
                "data": self.data,
                "links": {"api": api, "console": console},
            }),
            EndpointFormat::Slack => json!({
                "text": format!("[{}] {} {console}", self.tenant, self.summary),
            }),
        };
        value.to_string()
    }
}

/// Write one delivery of `event` to each endpoint of `endpoints` that wants
/// it; how many.
pub(crate) fn enqueue(
    tx: &mut dyn WriteTx,
    endpoints: &[Endpoint],
    event: &Event,
    base: &str,
) -> Result<usize, StoreError> {
    let now = super::send::now_ms();
    let mut made = 0;
    for endpoint in endpoints.iter().filter(|e| e.wants(event.kind)) {
        let id = new_delivery_id().map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let row = OutboxRow {
            tenant: event.tenant.clone(),
            delivery: Delivery {
                id: id.clone(),
                endpoint: endpoint.id.clone(),
                event: event.id.clone(),
                kind: event.kind,
                status: DeliveryStatus::Pending,
                attempts: Vec::new(),
                status_code: None,
                next_attempt_at: Some(super::send::rfc3339_ms(now)),
                created_at: audit::now(),
            },
            body: event.body(endpoint.format, base),
            next_unix: Some(now),
        };
        put_json(
            tx,
            Table::NotifyOutbox,
            &outbox_key(&event.tenant, &endpoint.id, &id),
            &row,
        )?;
        tx.put(
            Table::NotifyDue,
            &due_key(now, &event.tenant, &endpoint.id, &id),
            b"",
        )?;
        made += 1;
    }
    Ok(made)
}

/// The endpoints of `tenant`.
pub(crate) fn endpoints_of(tx: &dyn ReadTx, tenant: &str) -> Result<Vec<StoredEndpoint>, StoreError> {
    Ok(scan_json(
        tx,
        Table::NotifyEndpoints,
        &prefix(&[tenant.as_bytes()]),
        None,
        usize::MAX,
    )?
    .into_iter()
    .map(|(_, e)| e)
    .collect())
}

/// The tenants that have at least one endpoint.
fn tenants_with_endpoints(tx: &dyn ReadTx) -> Result<Vec<String>, StoreError> {
    let mut tenants: Vec<String> = Vec::new();
    let mut after: Option<Vec<u8>> = None;
    while let Some((found, _)) = tx.scan(Table::NotifyEndpoints, b"", after.as_deref(), 1)?.pop() {
        let tenant = found.split(|&b| b == 0).next().unwrap_or_default().to_vec();
        tenants.push(String::from_utf8_lossy(&tenant).into_owned());
        // Past every key of this tenant (ids are printable, below 0xFF).
        after = Some(key(&[&tenant, &[0xFF]]).max(found));
    }
    Ok(tenants)
}

/// The cursor of `tenant`: the last entry already turned into deliveries.
pub(crate) fn cursor_of(tx: &dyn ReadTx, tenant: &str) -> Result<Option<u64>, StoreError> {
    get_json(tx, Table::NotifyCursors, tenant.as_bytes())
}

/// Set `tenant`'s cursor.
pub(crate) fn set_cursor(tx: &mut dyn WriteTx, tenant: &str, seq: u64) -> Result<(), StoreError> {
    put_json(tx, Table::NotifyCursors, tenant.as_bytes(), &seq)
}

/// Remove everything the notifier keeps for `tenant`.
pub(crate) fn erase(tx: &mut dyn WriteTx, tenant: &str) -> Result<(), StoreError> {
    let under = prefix(&[tenant.as_bytes()]);
    for table in [Table::NotifyEndpoints, Table::NotifyOutbox, Table::NotifyMarks] {
        tx.delete_prefix(table, &under)?;
    }
    tx.delete(Table::NotifyCursors, tenant.as_bytes())?;
    // Due entries of the erased deliveries find no row and are dropped by
    // the sender.
    Ok(())
}

/// Follow every tenant that has endpoints up to its chain's head (or
/// [`STEPS_PER_PASS`] steps); how many deliveries were made.
pub(crate) fn follow_all(store: &dyn Storage, base: &str) -> Result<usize, StoreError> {
    let tenants = tenants_with_endpoints(&*store.read()?)?;
    let mut made = 0;
    for tenant in tenants {
        for _ in 0..STEPS_PER_PASS {
            match step(store, &tenant, base)? {
                Some(count) => made += count,
                None => break,
            }
        }
    }
    Ok(made)
}

/// One step for `tenant`: the deliveries made, or none when caught up. The
/// cursor is written only with deliveries (or after a full step without
/// any): entries that make no delivery are read again after a restart, which
/// is harmless, and most commits then cost the notifier no write.
fn step(store: &dyn Storage, tenant: &str, base: &str) -> Result<Option<usize>, StoreError> {
    {
        let tx = store.read()?;
        let Some(cursor) = cursor_of(&*tx, tenant)? else {
            drop(tx);
            // Endpoints without a cursor (which registration sets): start
            // at the head.
            let mut tx = store.write()?;
            let head = audit::head_seq(&*tx, tenant)?;
            if cursor_of(&*tx, tenant)?.is_none() {
                set_cursor(&mut *tx, tenant, head)?;
                tx.commit()?;
            }
            return Ok(None);
        };
        if cursor >= audit::head_seq(&*tx, tenant)? {
            return Ok(None);
        }
        let entries = audit::list(&*tx, tenant, cursor, ENTRIES_PER_STEP)?;
        let endpoints: Vec<Endpoint> = endpoints_of(&*tx, tenant)?
            .into_iter()
            .map(|e| e.endpoint)
            .collect();
        let mut wanted = false;
        for entry in &entries {
            wanted |= entry.action == "tenant.delete"
                || events_of(&*tx, entry)?
                    .iter()
                    .any(|event| endpoints.iter().any(|e| e.wants(event.kind)));
        }
        if !wanted && entries.len() < ENTRIES_PER_STEP {
            return Ok(None);
        }
    }
    let mut tx = store.write()?;
    let Some(cursor) = cursor_of(&*tx, tenant)? else {
        return Ok(None);
    };
    let entries = audit::list(&*tx, tenant, cursor, ENTRIES_PER_STEP)?;
    let Some(last) = entries.last().map(|e| e.seq) else {
        return Ok(None);
    };
    let endpoints: Vec<Endpoint> = endpoints_of(&*tx, tenant)?
        .into_iter()
        .map(|e| e.endpoint)
        .collect();
    let mut made = 0;
    for entry in &entries {
        if entry.action == "tenant.delete" {
            erase(&mut *tx, tenant)?;
            tx.commit()?;
            return Ok(None);
        }
        for event in events_of(&*tx, entry)? {
            made += enqueue(&mut *tx, &endpoints, &event, base)?;
        }
    }
    set_cursor(&mut *tx, tenant, last)?;
    tx.commit()?;
    Ok(Some(made))
}

fn text<'a>(details: &'a Value, field: &str) -> &'a str {
    details[field].as_str().unwrap_or_default()
}

/// The events an audit entry stands for.
fn events_of(tx: &dyn ReadTx, entry: &AuditEntry) -> Result<Vec<Event>, StoreError> {
    let tenant = entry.tenant.as_str();
    let event = |kind: EventKind, summary: String, data: Value, api: String, console: String| Event {
        id: format!("{tenant}-{}", entry.seq),
        kind,
        tenant: tenant.to_string(),
        time: entry.time.clone(),
        summary,
        data,
        api,
        console,
    };
    let inbox = format!("/console/tenants/{tenant}/inbox");
    let details = &entry.details;
    Ok(match entry.action.as_str() {
        "proposal.create" | "proposal.stale" | "proposal.escalate"
            if text(details, "status") == "pending" =>
        {
            let id = text(details, "proposal");
            let proposal: Option<Proposal> =
                get_json(tx, Table::Proposals, &key(&[tenant.as_bytes(), id.as_bytes()]))?;
            let expert = proposal.as_ref().is_some_and(|p| p.requires_expert);
            let expires_at = proposal.as_ref().map(|p| audit::rfc3339_at(p.expires_at_unix));
            let data = json!({
                "proposal": id,
                "agent": text(details, "agent"),
                "connector": entry.target,
                "action": text(details, "action"),
                "requires_expert": expert,
                "expires_at": expires_at,
            });
            let who = if expert { "an expert" } else { "a decision" };
            let (kind, summary) = if entry.action == "proposal.escalate" {
                (
                    EventKind::ProposalEscalated,
                    format!(
                        "Escalated: proposal {id} ({} on {}) has waited for an expert past the SLA",
                        text(details, "action"),
                        entry.target
                    ),
                )
            } else {
                (
                    EventKind::ProposalPending,
                    format!(
                        "Proposal {id} by {}: {} on {} waits for {who}",
                        text(details, "agent"),
                        text(details, "action"),
                        entry.target
                    ),
                )
            };
            vec![event(
                kind,
                summary,
                data,
                format!("/v1/tenants/{tenant}/proposals/{id}"),
                inbox,
            )]
        }
        "plugin.needs-reconnect" => {
            let data = json!({"plugin": entry.target, "provider": text(details, "provider")});
            vec![event(
                EventKind::ConnectionNeedsReconnect,
                format!(
                    "{} must be connected again: its platform refused to refresh the sign-in",
                    entry.target
                ),
                data,
                format!("/v1/tenants/{tenant}/plugins/{}/connection", entry.target),
                format!("/console/tenants/{tenant}/connections"),
            )]
        }
        "sync.fail" | "agent.fail" => {
            let run = text(details, "run");
            let what = if entry.action == "sync.fail" {
                "Sync"
            } else {
                "Agent"
            };
            let data = json!({"run": run, "plugin": entry.target, "attempts": details["attempts"]});
            vec![event(
                EventKind::RunFailed,
                format!("{what} run {run} of {} failed", entry.target),
                data,
                format!("/v1/tenants/{tenant}/runs/{run}"),
                format!("/console/tenants/{tenant}/connections"),
            )]
        }
        "agent.end" => {
            let run_id = text(details, "run");
            let run: Option<Run> = get_json(tx, Table::Runs, &crate::sync::run_key(tenant, run_id))?;
            let insights = run
                .and_then(|run| run.output)
                .and_then(|output| output["insights"].as_array().cloned())
                .unwrap_or_default();
            insights
                .iter()
                .enumerate()
                .filter(|(_, i)| i["severity"] == "critical" && text(i, "kind").contains("anomaly"))
                .map(|(n, insight)| {
                    let mut made = event(
                        EventKind::AnomalyCritical,
                        format!(
                            "Critical anomaly from {}: {}",
                            entry.target,
                            text(insight, "title")
                        ),
                        json!({"run": run_id, "agent": entry.target, "insight": text(insight, "kind")}),
                        format!("/v1/tenants/{tenant}/runs/{run_id}"),
                        format!("/console/tenants/{tenant}/insights"),
                    );
                    made.id = format!("{}-{n}", made.id);
                    made
                })
                .collect()
        }
        super::worker::QUOTA_ACTION => {
            let quota = text(details, "quota");
            vec![event(
                EventKind::QuotaReached,
                format!(
                    "Quota {quota} of {} reached; calls are refused until {}",
                    details["limit"],
                    text(details, "resets_at")
                ),
                json!({"quota": quota, "limit": details["limit"], "resets_at": details["resets_at"]}),
                format!("/v1/tenants/{tenant}/usage"),
                format!("/console/tenants/{tenant}/usage"),
            )]
        }
        _ => Vec::new(),
    })
}
