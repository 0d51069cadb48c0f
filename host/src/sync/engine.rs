//! Driving a sync run: for each stream, call `read` batch after batch and
//! commit each batch's records (upserted by primary key), the stream's new
//! state and the run's progress in one transaction, so that a crash resumes
//! after the last committed batch with nothing lost or duplicated.
//!
//! Failed reads are retried: `transient` errors and deadlines with
//! exponential backoff and jitter, `rate-limited` no sooner than its
//! `retry-after`; `auth`, `config` and the other errors fail the run at once
//! with the plugin's message.

use super::{Run, RunStatus, StreamRun, run_key};
use crate::audit::{self, Event};
use crate::control::{ControlError, ControlPlane};
use crate::invoke::{Batch, Call, CallOutput, InvokeErrorKind, PluginError, ReadRequest, SyncMode};
use crate::meter::{CallRecord, write_record};
use crate::store::Storage;
use crate::store::storage::{Table, get_json, key, prefix, put_json};
use crate::tenant::Principal;
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
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            batch_size: 500,
            max_attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
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

impl ControlPlane {
    /// Run (or resume) the run `run_id` to its end, recording its outcome.
    pub(crate) async fn execute_run(&self, principal: &Principal, tenant_id: &str, run_id: &str) {
        let run = self.run(&Principal::admin(), tenant_id, run_id).await;
        let is_agent_run = run.as_ref().is_ok_and(|run| run.task.is_some());
        let outcome = match run {
            Ok(run) if run.task.is_some() => self.drive_agent_run(principal, run).await,
            Ok(run) => self.drive_run(principal, run).await,
            Err(error) => Err(error.to_string()),
        };
        let finished = self
            .blocking({
                let (tenant_id, run_id) = (tenant_id.to_string(), run_id.to_string());
                move |store| {
                    let mut tx = store.write()?;
                    let mut run: Run = get_json(&*tx, Table::Runs, &run_key(&tenant_id, &run_id))?
                        .ok_or_else(|| ControlError::Internal(format!("run {run_id} disappeared")))?;
                    run.ended_at = Some(audit::now());
                    let (action, outcome_text) = match (&outcome, is_agent_run) {
                        (Ok(output), agent) => {
                            run.status = RunStatus::Succeeded;
                            run.output = output.clone();
                            (if agent { "agent.end" } else { "sync.end" }, "ok".to_string())
                        }
                        (Err(error), agent) => {
                            run.status = RunStatus::Failed;
                            run.last_error = Some(error.clone());
                            (
                                if agent { "agent.fail" } else { "sync.fail" },
                                format!("error: {error}"),
                            )
                        }
                    };
                    put_json(&mut *tx, Table::Runs, &run_key(&tenant_id, &run_id), &run)?;
                    let details = serde_json::json!({
                        "run": run.id,
                        "records_written": run.streams.iter().map(|s| s.records_written).sum::<u64>(),
                        "attempts": run.attempts,
                    });
                    let event = Event {
                        actor: "system",
                        action,
                        target: &run.plugin,
                        outcome: &outcome_text,
                        details,
                    };
                    audit::append(&mut *tx, &tenant_id, event)?;
                    tx.commit()?;
                    Ok(())
                }
            })
            .await;
        if let Err(error) = finished {
            tracing::error!(%error, run = run_id, "cannot record the end of a run");
        }
    }

    /// Read every stream of the run to its end. The next batch is read
    /// while the previous one commits (its state is known as soon as it is
    /// read); commits stay in order, so a crash still resumes after the last
    /// committed batch.
    async fn drive_run(&self, principal: &Principal, run: Run) -> Result<Option<Value>, String> {
        fn text(error: impl std::fmt::Display) -> String {
            error.to_string()
        }
        let (tenant_id, run_id) = (run.tenant.as_str(), run.id.as_str());
        for (index, stream) in run.streams.iter().enumerate() {
            if stream.done {
                continue;
            }
            let mut state = match (stream.batches, stream.mode) {
                (0, SyncMode::FullRefresh) => None,
                (0, SyncMode::Incremental) => {
                    let state_key = key(&[
                        tenant_id.as_bytes(),
                        run.plugin.as_bytes(),
                        stream.stream.as_bytes(),
                    ]);
                    get_json(&*self.store.read().map_err(text)?, Table::SyncState, &state_key)
                        .map_err(text)?
                }
                _ => stream.checkpoint.clone(),
            };
            let request = |state: Option<Value>| ReadRequest {
                stream: stream.stream.clone(),
                mode: stream.mode,
                state,
                limit: run.batch_size,
            };
            let mut batch = self
                .read_with_retries(principal, &run, request(state.take()))
                .await?;
            loop {
                if !batch.0.has_more {
                    self.commit_batch(tenant_id, run_id, index, batch)
                        .await
                        .map_err(text)?;
                    break;
                }
                let next_state = batch
                    .0
                    .state
                    .as_ref()
                    .map(|s| serde_json::from_str(s.get()))
                    .transpose()
                    .map_err(|e| e.to_string())?;
                let (committed, next) = tokio::join!(
                    self.commit_batch(tenant_id, run_id, index, batch),
                    self.read_with_retries(principal, &run, request(next_state)),
                );
                committed.map_err(text)?;
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
    ) -> Result<(Batch, CallRecord), String> {
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
                        self.meter.record(record).await.map_err(|e| e.to_string())?;
                        ControlError::Internal(format!("`read` returned {other:?}"))
                    }
                },
                Ok((Err(failure), record)) => {
                    self.meter.record(record).await.map_err(|e| e.to_string())?;
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
                    tokio::time::sleep(wait).await;
                }
                Next::RetryAfter(_) => {
                    return Err(format!("gave up after {attempt} attempts; last error: {error}"));
                }
                Next::Fail(message) => return Err(message),
            }
        }
    }

    /// Count an attempt (and its error) on the run.
    pub(super) async fn count_attempt(&self, run: &Run, fuel: u64, error: Option<String>) {
        let (tenant_id, run_id) = (run.tenant.clone(), run.id.clone());
        let noted = self
            .blocking(move |store| {
                let mut tx = store.write()?;
                let mut run: Run = get_json(&*tx, Table::Runs, &run_key(&tenant_id, &run_id))?
                    .ok_or_else(|| ControlError::Internal(format!("run {run_id} disappeared")))?;
                run.attempts += 1;
                run.fuel += fuel;
                if error.is_some() {
                    run.last_error = error;
                }
                put_json(&mut *tx, Table::Runs, &run_key(&tenant_id, &run_id), &run)?;
                tx.commit()?;
                Ok(())
            })
            .await;
        if let Err(error) = noted {
            tracing::error!(%error, "cannot record a sync attempt");
        }
    }

    /// Write one batch: its records, the stream's state and the run's
    /// progress, in one transaction.
    async fn commit_batch(
        &self,
        tenant_id: &str,
        run_id: &str,
        index: usize,
        (batch, record): (Batch, CallRecord),
    ) -> Result<(), ControlError> {
        let (tenant_id, run_id) = (tenant_id.to_string(), run_id.to_string());
        self.blocking(move |store| {
            let mut tx = store.write()?;
            let mut run: Run = get_json(&*tx, Table::Runs, &run_key(&tenant_id, &run_id))?
                .ok_or_else(|| ControlError::Internal(format!("run {run_id} disappeared")))?;
            let stream: &mut StreamRun = &mut run.streams[index];
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
            for record in &batch.records {
                let value: Value =
                    serde_json::from_str(record.get()).map_err(|e| ControlError::Internal(e.to_string()))?;
                let id = record_key(&value, &stream.primary_key).map_err(ControlError::Invalid)?;
                tx.put(
                    Table::Records,
                    &[stream_prefix.as_slice(), id.as_bytes()].concat(),
                    record.get().as_bytes(),
                )?;
            }
            let state: Option<Value> = batch
                .state
                .as_ref()
                .map(|s| serde_json::from_str(s.get()))
                .transpose()
                .map_err(|e| ControlError::Internal(e.to_string()))?;
            if stream.mode == SyncMode::Incremental
                && let Some(state) = &state
            {
                let state_key = key(&[
                    tenant_id.as_bytes(),
                    run.plugin.as_bytes(),
                    stream.stream.as_bytes(),
                ]);
                put_json(&mut *tx, Table::SyncState, &state_key, state)?;
            }
            let count = batch.records.len() as u64;
            run.attempts += 1;
            run.fuel += record.usage.fuel;
            // The read's usage and audit entry, with the records it produced.
            write_record(&mut *tx, &record)?;
            let stream: &mut StreamRun = &mut run.streams[index];
            stream.records_read += count;
            stream.records_written += count;
            stream.batches += 1;
            stream.checkpoint = state;
            stream.done = !batch.has_more;
            put_json(&mut *tx, Table::Runs, &run_key(&tenant_id, &run_id), &run)?;
            Ok(tx.commit()?)
        })
        .await
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
            ControlError::Invoke(Box::new(crate::invoke::InvokeError {
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
