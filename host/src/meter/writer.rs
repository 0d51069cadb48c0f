//! Group commit for usage: concurrent calls hand their records to one
//! writer thread, which folds everything waiting into one transaction (the
//! daily usage rows and an audit entry per call) and commits it once. Each
//! caller is answered after the commit, so a response never precedes its
//! durable record, while a busy host pays for one fsync per batch rather
//! than per call.

use super::{CallRecord, DailyUsage, day_of};
use crate::audit::{self, Event};
use crate::control::ControlError;
use crate::store::storage::{Table, WriteTx, get_json, key, put_json};
use crate::store::{RedbStore, Storage, StoreError};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::SystemTime;
use tokio::sync::oneshot;

/// The most records one commit takes.
const MAX_BATCH: usize = 512;

/// A record, whether it gets an audit entry, and who waits for the commit.
type Job = (CallRecord, bool, oneshot::Sender<Result<(), String>>);

/// The handle to the writer thread. Dropping it lets the thread finish what
/// is queued and waits for it, so the store is closed when the meter is.
pub(super) struct UsageWriter {
    jobs: Option<Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for UsageWriter {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the usage writer thread panicked");
        }
    }
}

impl UsageWriter {
    pub(super) fn start(store: Arc<RedbStore>) -> Result<Self, StoreError> {
        let (jobs, queue) = channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("omnify-usage-writer".into())
            .spawn(move || run(&store, &queue))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the usage writer: {e}")))?;
        Ok(Self {
            jobs: Some(jobs),
            thread: Some(thread),
        })
    }

    /// Write `record`'s usage, and its audit entry when `audited`.
    pub(super) async fn write(&self, record: CallRecord, audited: bool) -> Result<(), ControlError> {
        let (reply, done) = oneshot::channel();
        self.jobs
            .as_ref()
            .ok_or_else(|| ControlError::Internal("the usage writer has stopped".into()))?
            .send((record, audited, reply))
            .map_err(|_| ControlError::Internal("the usage writer has stopped".into()))?;
        done.await
            .map_err(|_| ControlError::Internal("the usage writer has stopped".into()))?
            .map_err(|e| ControlError::Store(StoreError::Unavailable(e)))
    }
}

fn run(store: &RedbStore, queue: &Receiver<Job>) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let outcome = commit(store, batch.iter().map(|(record, audited, _)| (record, *audited)))
            .map_err(|e| e.to_string());
        if let Err(error) = &outcome {
            tracing::error!(%error, records = batch.len(), "cannot record usage");
        }
        for (_, _, reply) in batch {
            // A caller that went away no longer needs the answer.
            let _ = reply.send(outcome.clone());
        }
    }
}

fn commit<'a>(
    store: &RedbStore,
    records: impl Iterator<Item = (&'a CallRecord, bool)>,
) -> Result<(), StoreError> {
    let mut tx = store.write()?;
    for (record, audited) in records {
        if audited {
            write_record(&mut *tx, record)?;
        } else {
            add_usage(&mut *tx, record, &day_of(SystemTime::now()))?;
        }
    }
    tx.commit()
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

fn add_usage(tx: &mut dyn WriteTx, record: &CallRecord, day: &str) -> Result<(), StoreError> {
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
