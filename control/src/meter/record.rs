//! What a finished call leaves in the store: its day's usage row and,
//! unless it was a refused webhook delivery, an audit entry.

use super::{CallRecord, DailyUsage, day_of};
use crate::audit::{self, Event};
use crate::store::StoreError;
use crate::store::storage::{Table, WriteTx, get_json, key, put_json};
use std::time::SystemTime;

/// About what one record writes, for the store's fair share of commits.
pub(super) fn record_bytes(record: &CallRecord) -> u64 {
    512 + record.error.as_ref().map_or(0, |e| e.to_string().len() as u64)
}

/// Write a call's usage row and audit entry inside `tx`.
pub(crate) fn write_record(tx: &mut dyn WriteTx, record: &CallRecord) -> Result<(), StoreError> {
    add_usage(tx, record, &day_of(SystemTime::now()))?;
    let (outcome, error) = match &record.error {
        None => ("ok".to_string(), None),
        Some(error) => (format!("error: {}", error.code()), Some(error.to_string())),
    };
    let usage = &record.usage;
    let details = serde_json::json!({
        "export": record.export,
        "version": record.version,
        "request_id": record.request_id,
        "fuel": usage.fuel,
        "wall_time_us": usage.wall_time.as_micros() as u64,
        "http_requests": usage.http_requests,
        "error": error,
        "action": record.action,
    });
    let event = Event {
        actor: &record.actor,
        // Writes on a platform stand out from reads in the log.
        action: if record.action.is_some() {
            "plugin.act"
        } else {
            "plugin.invoke"
        },
        target: &record.plugin,
        outcome: &outcome,
        details,
    };
    audit::append(tx, &record.tenant, event)?;
    Ok(())
}

pub(super) fn add_usage(tx: &mut dyn WriteTx, record: &CallRecord, day: &str) -> Result<(), StoreError> {
    let row_key = key(&[record.tenant.as_bytes(), record.plugin.as_bytes(), day.as_bytes()]);
    let mut row: DailyUsage = get_json(tx, Table::Usage, &row_key)?.unwrap_or_else(|| DailyUsage {
        tenant: record.tenant.clone(),
        plugin: record.plugin.clone(),
        day: day.to_string(),
        ..DailyUsage::default()
    });
    let usage = &record.usage;
    row.calls += 1;
    row.errors += u64::from(record.error.is_some());
    row.fuel += usage.fuel;
    row.wall_time_us += usage.wall_time.as_micros() as u64;
    row.peak_memory_bytes = row.peak_memory_bytes.max(usage.peak_memory_bytes);
    row.host_calls += usage.host_calls;
    row.http_requests += u64::from(usage.http_requests);
    row.http_bytes_sent += usage.http_bytes_sent;
    row.http_bytes_received += usage.http_bytes_received;
    if record.actor == crate::webhooks::WEBHOOK_ACTOR {
        row.webhook_calls += 1;
        row.webhook_fuel += usage.fuel;
    }
    put_json(tx, Table::Usage, &row_key, &row)
}
