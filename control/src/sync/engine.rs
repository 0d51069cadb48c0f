//! Driving a sync run: for each stream, call `read` batch after batch and
//! commit each batch's records (upserted by primary key), the stream's new
//! state and the run's progress in one transaction, so that a crash resumes
//! after the last committed batch with nothing lost or duplicated.
//!
//! Failed reads are retried: `transient` errors and deadlines with
//! exponential backoff and jitter, `rate-limited` no sooner than its
//! `retry-after`; `auth`, `config` and the other errors fail the run at once
//! with the plugin's message.

use super::limits::{Budget, CancelToken, ProgressWatch, RunError, RunLimits, check_sizes};
use super::{Run, RunStatus, StreamRun, index, run_key};
use crate::audit::{self, Event};
use crate::control::{ControlError, ControlPlane};
use crate::enablement::require_enablement;
use crate::hosts::lease::{Holder, Resource};
use crate::meter::{CallRecord, write_record};
use crate::store::storage::{Change, Table, get_json, key, prefix, put_json};
use crate::tenant::Principal;
use omnify_runtime::invoke::{Batch, Call, CallOutput, InvokeErrorKind, PluginError, ReadRequest, SyncMode};
use serde_json::Value;
use std::time::Duration;

/// How syncs run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncConfig {
    /// Records asked for per `read`.
    pub batch_size: u32,
    /// Calls of `read` per batch, the first included, before the run fails.
    pub max_attempts: u32,
    /// The first backoff; it doubles with each retry.
    pub base_delay: Duration,
    /// The longest backoff.
    pub max_delay: Duration,
    /// Every run's limits, and the most an enablement's `run_limits` may
    /// ask for.
    pub run_limits: RunLimits,
    /// The largest state (its JSON text) a stream may save.
    pub max_state_bytes: usize,
    /// The largest record (its JSON text) the record store takes.
    pub max_record_bytes: usize,
    /// Batches in a row with no records, an unchanged state and `has_more`
    /// after which the connector is taken to be stuck and the run fails.
    pub stalled_batches: u32,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            batch_size: 500,
            max_attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
            run_limits: RunLimits::host_default(),
            max_state_bytes: 64 << 10,
            max_record_bytes: 1 << 20,
            stalled_batches: 3,
        }
    }
}

/// What to do after a failed read.
pub(super) enum Next {
    /// Wait this long, then try again.
    RetryAfter(Duration),
    /// Stop with this message.
    Fail(String),
}

/// A random factor in [0.5, 1.0), so that retries of many runs spread out.
fn jitter() -> f64 {
    let mut byte = [0u8; 1];
    let _ = crate::vault::random_bytes(&mut byte);
    0.5 + f64::from(byte[0]) / 512.0
}

pub(super) fn after_failure(config: &SyncConfig, error: &ControlError, attempt: u32) -> Next {
    let backoff = config
        .base_delay
        .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
        .min(config.max_delay)
        .mul_f64(jitter());
    match error {
        ControlError::Invoke(failure) => match &failure.kind {
            InvokeErrorKind::Plugin(PluginError::Transient { .. }) | InvokeErrorKind::Deadline { .. } => {
                Next::RetryAfter(backoff)
            }
            InvokeErrorKind::Plugin(PluginError::RateLimited { retry_after_ms, .. }) => {
                Next::RetryAfter(Duration::from_millis(*retry_after_ms).max(backoff))
            }
            _ => Next::Fail(error.to_string()),
        },
        ControlError::QuotaExceeded { .. } => Next::RetryAfter(backoff),
        _ => Next::Fail(error.to_string()),
    }
}

/// The record-store key of a record: its primary-key values, numbers
/// zero-padded so that keys sort numerically.
fn record_key(record: &Value, primary_key: &[String]) -> Result<String, String> {
    let parts = primary_key
        .iter()
        .map(|field| match record.get(field) {
            Some(Value::Number(n)) if n.as_u64().is_some() => {
                Ok(format!("{:020}", n.as_u64().unwrap_or_default()))
            }
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Null) | None => Err(format!("a record has no primary-key field `{field}`")),
            Some(other) => Ok(other.to_string()),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(parts.join("\u{1f}"))
}

/// Where a stream's state is kept between batches, in the sync-state table
/// (never in the run's row): an incremental stream's under the stream, for
/// the next run to go on from; a full refresh's under the run, only until
/// the stream or the run ends.
pub(super) fn state_key(tenant: &str, plugin: &str, stream: &StreamRun, run_id: &str) -> Vec<u8> {
    let (tenant, plugin, name) = (tenant.as_bytes(), plugin.as_bytes(), stream.stream.as_bytes());
    match stream.mode {
        SyncMode::Incremental => key(&[tenant, plugin, name]),
        SyncMode::FullRefresh => key(&[tenant, plugin, name, b"", run_id.as_bytes()]),
    }
}

fn parse_state(batch: &Batch) -> Result<Option<Value>, RunError> {
    batch
        .state
        .as_ref()
        .map(|s| serde_json::from_str(s.get()))
        .transpose()
        .map_err(|e| RunError::Failed(format!("the connector's state is not JSON: {e}")))
}

impl ControlPlane {
    /// Run (or resume) the run `run_id` to its end, recording its outcome;
    /// `cancel` stops it at its next batch boundary.
    pub(crate) async fn execute_run(
        &self,
        principal: &Principal,
        tenant_id: &str,
        run_id: &str,
        cancel: CancelToken,
    ) {
        let outcome = match self.start_execution(tenant_id, run_id).await {
            Ok(None) => return,
            Ok(Some(run)) => match (run.cancelled_by.clone(), run.task.is_some()) {
                (Some(by), _) => Err(RunError::Cancelled(by)),
                (None, true) => self.drive_agent_run(principal, run, &cancel).await,
                (None, false) => self.drive_run(principal, run, &cancel).await,
            },
            Err(error) => Err(error.into()),
        };
        if let Err(RunError::HandedOver(why)) = &outcome {
            // Its lease says who ends it; this host only stops.
            tracing::info!(tenant = tenant_id, run = run_id, %why, "a run was handed over");
            return;
        }
        if let Err(error) = &outcome {
            tracing::info!(tenant = tenant_id, run = run_id, %error, "a run ended early");
        }
        if let Err(error) = self.finish_run(tenant_id, run_id, outcome).await {
            tracing::error!(%error, run = run_id, "cannot record the end of a run");
        }
    }

    /// The run as a worker takes it (no longer queued); none when it has
    /// already ended (cancelled while it waited) or another host holds it.
    async fn start_execution(&self, tenant_id: &str, run_id: &str) -> Result<Option<Run>, ControlError> {
        let (tenant_id, run_id) = (tenant_id.to_string(), run_id.to_string());
        let hosts = self.hosts.clone();
        self.blocking(move |store| {
            let mut tx = store.write()?;
            let Some(mut run) = get_json::<Run>(&*tx, Table::Runs, &run_key(&tenant_id, &run_id))? else {
                return Err(ControlError::Internal(format!("run {run_id} disappeared")));
            };
            if run.status != RunStatus::Running
                || !hosts.claim(&mut *tx, &Resource::run(&tenant_id, &run_id))?
            {
                return Ok(None);
            }
            run.queued = false;
            index::update(&mut *tx, &run)?;
            tx.commit()?;
            Ok(Some(run))
        })
        .await
    }

    /// Record how a run ended, unless it already has: its status, output or
    /// error, and an audit entry.
    pub(crate) async fn finish_run(
        &self,
        tenant_id: &str,
        run_id: &str,
        outcome: Result<Option<Value>, RunError>,
    ) -> Result<(), ControlError> {
        let (tenant_id, run_id) = (tenant_id.to_string(), run_id.to_string());
        let hosts = self.hosts.clone();
        self.blocking(move |store| {
            let mut tx = store.write()?;
            let mut run: Run = get_json(&*tx, Table::Runs, &run_key(&tenant_id, &run_id))?
                .ok_or_else(|| ControlError::Internal(format!("run {run_id} disappeared")))?;
            let lease = Resource::run(&tenant_id, &run_id);
            // A run another host holds is that host's to end.
            if run.status != RunStatus::Running || matches!(hosts.holder(&*tx, &lease)?, Holder::Other(_)) {
                return Ok(());
            }
            hosts.release(&mut *tx, &lease)?;
            run.ended_at = Some(audit::now());
            run.queued = false;
            let kind = if run.task.is_some() { "agent" } else { "sync" };
            let (status, action, outcome_text) = match outcome {
                Ok(output) => {
                    run.output = output;
                    (RunStatus::Succeeded, "end", "ok".to_string())
                }
                Err(RunError::Cancelled(by)) => {
                    run.cancelled_by = Some(by);
                    (RunStatus::Cancelled, "cancelled", "cancelled".to_string())
                }
                Err(error) => {
                    run.last_error = Some(error.to_string());
                    (RunStatus::Failed, "fail", format!("error: {error}"))
                }
            };
            run.status = status;
            for stream in run.streams.iter().filter(|s| s.mode == SyncMode::FullRefresh) {
                tx.delete(
                    Table::SyncState,
                    &state_key(&tenant_id, &run.plugin, stream, &run_id),
                )?;
            }
            index::update(&mut *tx, &run)?;
            let details = serde_json::json!({
                "run": run.id,
                "records_written": run.streams.iter().map(|s| s.records_written).sum::<u64>(),
                "attempts": run.attempts,
                "cancelled_by": run.cancelled_by,
            });
            let action = format!("{kind}.{action}");
            let event = Event {
                actor: "system",
                action: &action,
                target: &run.plugin,
                outcome: &outcome_text,
                details,
            };
            audit::append(&mut *tx, &tenant_id, event)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// The limits of a run of `plugin` for `tenant_id`: the host's,
    /// tightened by the enablement's.
    pub(super) async fn run_limits(&self, tenant_id: &str, plugin: &str) -> Result<RunLimits, ControlError> {
        let host = self.sync_config().run_limits;
        let (tenant_id, plugin) = (tenant_id.to_string(), plugin.to_string());
        self.blocking(move |store| {
            let enablement = require_enablement(&*store.read()?, &tenant_id, &plugin)?;
            Ok(host.tightened_by(enablement.run_limits.as_ref()))
        })
        .await
    }

    /// Read every stream of the run to its end, or until a limit, a stuck
    /// connector, an oversize record or state, or a cancellation stops it.
    /// The next batch is read while the previous one commits (its state is
    /// known as soon as it is read); commits stay in order, so a crash still
    /// resumes after the last committed batch.
    async fn drive_run(
        &self,
        principal: &Principal,
        run: Run,
        cancel: &CancelToken,
    ) -> Result<Option<Value>, RunError> {
        let config = self.sync_config();
        let (tenant_id, run_id) = (run.tenant.as_str(), run.id.as_str());
        let limits = self.run_limits(tenant_id, &run.plugin).await?;
        let totals = run.streams.iter().fold((0, 0, 0), |(b, r, y), s| {
            (b + s.batches, r + s.records_read, y + s.bytes_read)
        });
        let mut budget = Budget::new(limits, cancel.clone(), totals);
        for (index, stream) in run.streams.iter().enumerate() {
            if stream.done {
                continue;
            }
            let state: Option<Value> = if stream.batches == 0 && stream.mode == SyncMode::FullRefresh {
                None
            } else {
                let state_key = state_key(tenant_id, &run.plugin, stream, run_id);
                self.blocking(move |store| Ok(get_json(&*store.read()?, Table::SyncState, &state_key)?))
                    .await?
            };
            let request = |state: Option<Value>| ReadRequest {
                stream: stream.stream.clone(),
                mode: stream.mode,
                state,
                limit: run.batch_size,
            };
            let mut progress = ProgressWatch::new(state.clone(), config.stalled_batches);
            budget.check()?;
            let mut batch = self
                .read_with_retries(principal, &run, request(state), &budget)
                .await?;
            loop {
                check_sizes(
                    &stream.stream,
                    &batch.0,
                    config.max_record_bytes,
                    config.max_state_bytes,
                )?;
                let next_state = parse_state(&batch.0)?;
                progress.note(
                    &run.plugin,
                    &stream.stream,
                    batch.0.records.len(),
                    &next_state,
                    batch.0.has_more,
                )?;
                budget.add(&batch.0);
                if !batch.0.has_more {
                    self.commit_batch(&run, index, batch, next_state).await?;
                    break;
                }
                if let Err(stop) = budget.check() {
                    // What was read within the limits is kept.
                    self.commit_batch(&run, index, batch, next_state.clone()).await?;
                    return Err(stop);
                }
                let (committed, next) = tokio::join!(
                    self.commit_batch(&run, index, batch, next_state.clone()),
                    self.read_with_retries(principal, &run, request(next_state), &budget),
                );
                committed?;
                batch = next?;
            }
        }
        Ok(None)
    }

    /// Read one batch, retrying as the error says. A successful read's usage
    /// record comes back with the batch, to be written in the batch's own
    /// transaction; failed reads are recorded at once.
    async fn read_with_retries(
        &self,
        principal: &Principal,
        run: &Run,
        request: ReadRequest,
        budget: &Budget,
    ) -> Result<(Batch, CallRecord), RunError> {
        let config = self.sync_config();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let read = Call::Read(request.clone());
            let error = match self
                .invoke_unrecorded(principal, &run.tenant, &run.plugin, read, &run.id)
                .await
            {
                Ok((Ok(output), record)) => match output.value {
                    CallOutput::Read(batch) => {
                        self.meter.observe(&record);
                        return Ok((batch, record));
                    }
                    other => {
                        self.meter.record(record).await?;
                        ControlError::Internal(format!("`read` returned {other:?}"))
                    }
                },
                Ok((Err(failure), record)) => {
                    self.meter.record(record).await?;
                    ControlError::Invoke(Box::new(failure))
                }
                Err(error) => error,
            };
            let fuel = match &error {
                ControlError::Invoke(failure) => failure.usage.fuel,
                _ => 0,
            };
            self.count_attempt(run, fuel, Some(error.to_string())).await;
            match after_failure(&config, &error, attempt) {
                Next::RetryAfter(wait) if attempt < config.max_attempts => {
                    tracing::info!(run = %run.id, attempt, wait_ms = wait.as_millis() as u64, %error, "retrying a read");
                    budget.sleep(wait).await?;
                }
                Next::RetryAfter(_) => {
                    return Err(RunError::Failed(format!(
                        "gave up after {attempt} attempts; last error: {error}"
                    )));
                }
                Next::Fail(message) => return Err(RunError::Failed(message)),
            }
        }
    }

    /// Count an attempt (and its error) on the run.
    pub(super) async fn count_attempt(&self, run: &Run, fuel: u64, error: Option<String>) {
        let (tenant_id, run_id) = (run.tenant.clone(), run.id.clone());
        let hosts = self.hosts.clone();
        let noted = self
            .blocking(move |store| {
                let mut tx = store.write()?;
                let mut run: Run = get_json(&*tx, Table::Runs, &run_key(&tenant_id, &run_id))?
                    .ok_or_else(|| ControlError::Internal(format!("run {run_id} disappeared")))?;
                if matches!(
                    hosts.holder(&*tx, &Resource::run(&tenant_id, &run_id))?,
                    Holder::Other(_)
                ) {
                    // The batch that commits next is refused as well.
                    return Ok(());
                }
                run.attempts += 1;
                run.fuel += fuel;
                if error.is_some() {
                    run.last_error = error;
                }
                index::update(&mut *tx, &run)?;
                tx.commit()?;
                Ok(())
            })
            .await;
        if let Err(error) = noted {
            tracing::error!(%error, "cannot record a sync attempt");
        }
    }

    /// Write one batch: its records, the stream's state and the run's
    /// progress, in one transaction. A run cancelled meanwhile keeps only
    /// the read's usage, and the batch is not stored.
    async fn commit_batch(
        &self,
        run: &Run,
        index: usize,
        (batch, record): (Batch, CallRecord),
        state: Option<Value>,
    ) -> Result<(), RunError> {
        let (tenant_id, run_id) = (run.tenant.clone(), run.id.clone());
        let hosts = self.hosts.clone();
        let bytes = batch.records.iter().map(|r| r.get().len() as u64).sum::<u64>()
            + state.as_ref().map_or(0, |s| s.to_string().len() as u64);
        // Through the store's shared commits, so that a tenant's large
        // batches take their turn with everyone's usage records.
        let cancelled = self
            .store
            .commits()
            .commit(
                &run.tenant,
                bytes,
                move |tx| -> Result<Option<RunError>, ControlError> {
                    let mut run: Run = get_json(&*tx, Table::Runs, &run_key(&tenant_id, &run_id))?
                        .ok_or_else(|| ControlError::Internal(format!("run {run_id} disappeared")))?;
                    // The read's usage and audit entry, with the records it produced.
                    write_record(tx, &record)?;
                    if let Holder::Other(host) = hosts.holder(&*tx, &Resource::run(&tenant_id, &run_id))? {
                        // The run is another host's now: its progress is
                        // that host's to write, and so is this batch.
                        return Ok(Some(RunError::HandedOver(format!("host {host} holds it now"))));
                    }
                    run.attempts += 1;
                    run.fuel += record.usage.fuel;
                    if run.cancelled_by.is_some() || run.status != RunStatus::Running {
                        index::update(tx, &run)?;
                        let by = run.cancelled_by.unwrap_or_else(|| "another request".into());
                        return Ok(Some(RunError::Cancelled(by)));
                    }
                    let stream: &StreamRun = run.streams.get(index).ok_or_else(|| {
                        ControlError::Internal(format!("run {run_id} has no stream {index}"))
                    })?;
                    let stream_prefix = prefix(&[
                        tenant_id.as_bytes(),
                        run.plugin.as_bytes(),
                        stream.stream.as_bytes(),
                    ]);
                    if stream.batches == 0 && stream.mode == SyncMode::FullRefresh {
                        // A full refresh replaces the stream; deleting in the first
                        // batch's transaction keeps a crash from losing both copies.
                        tx.delete_prefix(Table::Records, &stream_prefix)?;
                    }
                    let mut keys = Vec::with_capacity(batch.records.len());
                    for record in &batch.records {
                        let value: Value = serde_json::from_str(record.get())
                            .map_err(|e| ControlError::Internal(e.to_string()))?;
                        let id = record_key(&value, &stream.primary_key).map_err(ControlError::Invalid)?;
                        keys.push([stream_prefix.as_slice(), id.as_bytes()].concat());
                    }
                    let writes: Vec<Change<'_>> = keys
                        .iter()
                        .zip(&batch.records)
                        .map(|(key, record)| (key.as_slice(), Some(record.get().as_bytes())))
                        .collect();
                    tx.write_many(Table::Records, &writes)?;
                    let bytes: u64 = batch.records.iter().map(|r| r.get().len() as u64).sum();
                    let state_key = state_key(&tenant_id, &run.plugin, stream, &run_id);
                    match (&state, stream.mode, batch.has_more) {
                        // A finished full refresh needs no state any more.
                        (_, SyncMode::FullRefresh, false) => {
                            tx.delete(Table::SyncState, &state_key)?;
                        }
                        (Some(state), _, _) => put_json(tx, Table::SyncState, &state_key, state)?,
                        (None, _, _) => {}
                    }
                    let count = batch.records.len() as u64;
                    let stream: &mut StreamRun = &mut run.streams[index];
                    stream.records_read += count;
                    stream.records_written += count;
                    stream.bytes_read += bytes;
                    stream.batches += 1;
                    stream.done = !batch.has_more;
                    index::update(tx, &run)?;
                    Ok(None)
                },
            )
            .await?;
        match cancelled {
            Some(stop) => Err(stop),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_keys_sort_numerically_and_need_every_key_field() {
        let key = |v: Value| record_key(&v, &["id".to_string()]);
        assert!(key(serde_json::json!({"id": 9})) < key(serde_json::json!({"id": 10})));
        assert_eq!(key(serde_json::json!({"id": "abc"})), Ok("abc".to_string()));
        assert!(key(serde_json::json!({"name": "x"})).is_err());
    }

    #[test]
    fn retries_wait_for_rate_limits_and_give_up_on_auth() {
        let config = SyncConfig {
            base_delay: Duration::from_millis(100),
            ..SyncConfig::default()
        };
        let failure = |kind| {
            ControlError::Invoke(Box::new(omnify_runtime::invoke::InvokeError {
                kind,
                usage: Default::default(),
                logs: Vec::new(),
            }))
        };
        let limited = failure(InvokeErrorKind::Plugin(PluginError::RateLimited {
            retry_after_ms: 5_000,
            message: "slow down".into(),
        }));
        assert!(
            matches!(after_failure(&config, &limited, 1), Next::RetryAfter(d) if d >= Duration::from_secs(5))
        );
        let transient = failure(InvokeErrorKind::Plugin(PluginError::Transient {
            message: "503".into(),
        }));
        assert!(
            matches!(after_failure(&config, &transient, 3), Next::RetryAfter(d) if d >= Duration::from_millis(200) && d < Duration::from_millis(400))
        );
        let auth = failure(InvokeErrorKind::Plugin(PluginError::Auth {
            message: "expired".into(),
        }));
        assert!(matches!(after_failure(&config, &auth, 1), Next::Fail(m) if m.contains("expired")));
    }
}
