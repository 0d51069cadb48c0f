//! What ends a run before its streams do: per-run limits on batches,
//! records, bytes and time, caps on a record's and a state's size, a
//! connector that makes no progress, and cancellation. Limits are checked
//! at batch boundaries (and interrupt backoff waits); a read in flight runs
//! to its end under its own call timeout.

use crate::control::ControlError;
use omnify_runtime::invoke::Batch;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Limits of one run; a field left out is not limited at this level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunLimits {
    /// Batches committed, all streams together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_batches: Option<u64>,
    /// Records read, all streams together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_records: Option<u64>,
    /// Bytes of records read (their JSON text), all streams together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
    /// Seconds of one execution (a resumed run starts a new one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration_secs: Option<u64>,
}

impl RunLimits {
    /// The host's defaults: generous enough for a large backfill, small
    /// enough that a broken connector cannot hold a worker for a day.
    pub fn host_default() -> Self {
        Self {
            max_batches: Some(100_000),
            max_records: Some(50_000_000),
            max_bytes: Some(50 << 30),
            max_duration_secs: Some(6 * 3600),
        }
    }

    fn fields(&self) -> [(&'static str, Option<u64>); 4] {
        [
            ("max_batches", self.max_batches),
            ("max_records", self.max_records),
            ("max_bytes", self.max_bytes),
            ("max_duration_secs", self.max_duration_secs),
        ]
    }

    /// Check an enablement's limits against the host's: each at least 1
    /// and at most the host's (an enablement may only tighten them).
    pub fn validate_within(&self, host: &RunLimits) -> Result<(), ControlError> {
        for ((field, wanted), (_, ceiling)) in self.fields().into_iter().zip(host.fields()) {
            match (wanted, ceiling) {
                (Some(0), _) => {
                    return Err(ControlError::Invalid(format!(
                        "run_limits.{field} must be at least 1"
                    )));
                }
                (Some(wanted), Some(ceiling)) if wanted > ceiling => {
                    return Err(ControlError::Invalid(format!(
                        "run_limits.{field} is {wanted}, above the host's limit of {ceiling}"
                    )));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The tighter of `self` (the host's) and an enablement's limits.
    pub fn tightened_by(&self, enablement: Option<&RunLimits>) -> RunLimits {
        let Some(other) = enablement else { return *self };
        let min = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        RunLimits {
            max_batches: min(self.max_batches, other.max_batches),
            max_records: min(self.max_records, other.max_records),
            max_bytes: min(self.max_bytes, other.max_bytes),
            max_duration_secs: min(self.max_duration_secs, other.max_duration_secs),
        }
    }
}

/// Why a run ended before its streams did.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// A read or a commit failed; the message says why.
    #[error("{0}")]
    Failed(String),
    /// Someone cancelled the run.
    #[error("cancelled by {0}")]
    Cancelled(String),
    /// This host no longer runs it, and must not end it: it stopped, or
    /// another host took the run's lease over.
    #[error("handed over: {0}")]
    HandedOver(String),
    /// A limit of the run was reached with more left to read.
    #[error(
        "the run reached its limit of {limit} {what} (`run_limits.{field}`) with more to read; the batches committed before it are kept"
    )]
    Limit {
        /// The field of [`RunLimits`].
        field: &'static str,
        /// What it counts.
        what: &'static str,
        /// Its value.
        limit: u64,
    },
    /// The connector said `has_more` without moving on.
    #[error(
        "connector bug in `{plugin}`: stream `{stream}` returned {batches} batches in a row with no records and an unchanged state while saying `has_more`; the run was stopped instead of looping"
    )]
    NoProgress {
        /// The connector.
        plugin: String,
        /// The stream.
        stream: String,
        /// Batches in a row without progress.
        batches: u32,
    },
    /// A batch's state is larger than the host stores.
    #[error(
        "stream `{stream}`: the state returned after {records} records is {size} bytes, more than the {cap} bytes a sync state may be; the batch was not stored"
    )]
    StateTooLarge {
        /// The stream.
        stream: String,
        /// Records in the batch.
        records: usize,
        /// The state's size.
        size: usize,
        /// The cap.
        cap: usize,
    },
    /// A record is larger than the host stores.
    #[error(
        "stream `{stream}`: record {index} of a batch is {size} bytes, more than the {cap} bytes a record may be; the batch was not stored"
    )]
    RecordTooLarge {
        /// The stream.
        stream: String,
        /// Its position in the batch (from 0).
        index: usize,
        /// Its size.
        size: usize,
        /// The cap.
        cap: usize,
    },
}

impl From<ControlError> for RunError {
    fn from(error: ControlError) -> Self {
        RunError::Failed(error.to_string())
    }
}

/// Check a batch's records and state against the host's caps.
pub(super) fn check_sizes(
    stream: &str,
    batch: &Batch,
    max_record_bytes: usize,
    max_state_bytes: usize,
) -> Result<(), RunError> {
    if let Some((index, record)) = batch
        .records
        .iter()
        .enumerate()
        .find(|(_, record)| record.get().len() > max_record_bytes)
    {
        return Err(RunError::RecordTooLarge {
            stream: stream.to_string(),
            index,
            size: record.get().len(),
            cap: max_record_bytes,
        });
    }
    if let Some(state) = &batch.state
        && state.get().len() > max_state_bytes
    {
        return Err(RunError::StateTooLarge {
            stream: stream.to_string(),
            records: batch.records.len(),
            size: state.get().len(),
            cap: max_state_bytes,
        });
    }
    Ok(())
}

/// Counts batches in a row that returned nothing new while saying
/// `has_more`.
#[derive(Debug)]
pub(super) struct ProgressWatch {
    previous: Option<Value>,
    stalled: u32,
    fail_at: u32,
}

impl ProgressWatch {
    /// Watch a stream that starts from `state`; the `fail_at`-th stalled
    /// batch in a row fails the run (at least the first).
    pub(super) fn new(state: Option<Value>, fail_at: u32) -> Self {
        Self {
            previous: state,
            stalled: 0,
            fail_at: fail_at.max(1),
        }
    }

    /// Note a batch; an error once too many in a row made no progress.
    pub(super) fn note(
        &mut self,
        plugin: &str,
        stream: &str,
        records: usize,
        state: &Option<Value>,
        has_more: bool,
    ) -> Result<(), RunError> {
        if has_more && records == 0 && *state == self.previous {
            self.stalled += 1;
            if self.stalled >= self.fail_at {
                return Err(RunError::NoProgress {
                    plugin: plugin.to_string(),
                    stream: stream.to_string(),
                    batches: self.stalled,
                });
            }
        } else {
            self.stalled = 0;
        }
        self.previous = state.clone();
        Ok(())
    }
}

/// Why a run is asked to stop.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stop {
    /// Someone cancelled it.
    Cancelled(String),
    /// This host is stopping and hands the run back, for another host (or
    /// its own next start) to resume.
    HandBack,
}

impl Stop {
    fn error(&self) -> RunError {
        match self {
            Stop::Cancelled(by) => RunError::Cancelled(by.clone()),
            Stop::HandBack => RunError::HandedOver("this host is stopping".into()),
        }
    }
}

/// A run's cancellation or hand-back: set once.
#[derive(Debug, Clone)]
pub struct CancelToken(watch::Receiver<Option<Stop>>);

/// The side that cancels a [`CancelToken`].
#[derive(Debug)]
pub struct CancelHandle(watch::Sender<Option<Stop>>);

/// A new pair.
pub fn cancel_pair() -> (CancelHandle, CancelToken) {
    let (sender, receiver) = watch::channel(None);
    (CancelHandle(sender), CancelToken(receiver))
}

impl CancelHandle {
    /// Cancel, as `by`.
    pub fn cancel(&self, by: &str) {
        self.0.send_replace(Some(Stop::Cancelled(by.to_string())));
    }

    /// Stop the run at its next batch boundary without ending it, so that
    /// it resumes elsewhere.
    pub fn hand_back(&self) {
        self.0.send_if_modified(|stop| {
            let unset = stop.is_none();
            if unset {
                *stop = Some(Stop::HandBack);
            }
            unset
        });
    }
}

impl CancelToken {
    /// A token that is never cancelled.
    pub fn never() -> Self {
        cancel_pair().1
    }

    /// Who cancelled, once someone did.
    pub fn cancelled_by(&self) -> Option<String> {
        match &*self.0.borrow() {
            Some(Stop::Cancelled(by)) => Some(by.clone()),
            _ => None,
        }
    }

    /// Why the run must stop, once it must.
    pub fn stopped(&self) -> Option<RunError> {
        self.0.borrow().as_ref().map(Stop::error)
    }

    /// Wait until stopped (forever if the handle is gone unset).
    async fn wait(&self) -> RunError {
        let mut receiver = self.0.clone();
        let stop = receiver
            .wait_for(Option::is_some)
            .await
            .map(|stop| stop.as_ref().map(Stop::error));
        match stop {
            Ok(Some(error)) => error,
            _ => std::future::pending().await,
        }
    }
}

/// Running totals of a run against its limits, its deadline and its
/// cancellation.
#[derive(Debug)]
pub(super) struct Budget {
    limits: RunLimits,
    started: Instant,
    cancel: CancelToken,
    /// Batches so far.
    pub(super) batches: u64,
    /// Records so far.
    pub(super) records: u64,
    /// Bytes of records so far.
    pub(super) bytes: u64,
}

impl Budget {
    /// A budget under `limits`, starting from the run's totals so far.
    pub(super) fn new(limits: RunLimits, cancel: CancelToken, totals: (u64, u64, u64)) -> Self {
        Self {
            limits,
            started: Instant::now(),
            cancel,
            batches: totals.0,
            records: totals.1,
            bytes: totals.2,
        }
    }

    /// Count a batch that was read.
    pub(super) fn add(&mut self, batch: &Batch) {
        self.batches += 1;
        self.records += batch.records.len() as u64;
        self.bytes += batch.records.iter().map(|r| r.get().len() as u64).sum::<u64>();
    }

    fn deadline(&self) -> Option<Instant> {
        self.limits
            .max_duration_secs
            .map(|secs| self.started + Duration::from_secs(secs))
    }

    /// Whether another batch may be read: not cancelled, under every limit.
    pub(super) fn check(&self) -> Result<(), RunError> {
        if let Some(stop) = self.cancel.stopped() {
            return Err(stop);
        }
        let over = |field, what, limit: Option<u64>, used: u64| match limit {
            Some(limit) if used >= limit => Err(RunError::Limit { field, what, limit }),
            _ => Ok(()),
        };
        over("max_batches", "batches", self.limits.max_batches, self.batches)?;
        over("max_records", "records", self.limits.max_records, self.records)?;
        over("max_bytes", "bytes", self.limits.max_bytes, self.bytes)?;
        if self.deadline().is_some_and(|deadline| Instant::now() >= deadline) {
            return Err(self.out_of_time());
        }
        Ok(())
    }

    fn out_of_time(&self) -> RunError {
        RunError::Limit {
            field: "max_duration_secs",
            what: "seconds",
            limit: self.limits.max_duration_secs.unwrap_or_default(),
        }
    }

    /// Wait `wait` (a backoff), unless cancelled or out of time first.
    pub(super) async fn sleep(&self, wait: Duration) -> Result<(), RunError> {
        let until = Instant::now() + wait;
        let deadline = self.deadline();
        let (until, runs_out) = match deadline {
            Some(deadline) if deadline < until => (deadline, true),
            _ => (until, false),
        };
        tokio::select! {
            stop = self.cancel.wait() => Err(stop),
            () = tokio::time::sleep_until(until.into()) => {
                if runs_out { Err(self.out_of_time()) } else { Ok(()) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::value::RawValue;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_string()).expect("JSON")
    }

    #[test]
    fn oversize_records_and_states_are_refused_by_name() {
        let batch = Batch {
            records: vec![
                raw("{\"id\":1}"),
                raw(&format!("{{\"id\":2,\"pad\":\"{}\"}}", "x".repeat(100))),
            ],
            state: Some(raw("1")),
            has_more: true,
        };
        let error = check_sizes("items", &batch, 64, 1024).expect_err("a big record");
        assert!(
            matches!(
                error,
                RunError::RecordTooLarge {
                    index: 1,
                    cap: 64,
                    ..
                }
            ),
            "{error}"
        );
        assert!(error.to_string().contains("record 1 of a batch"));
        let batch = Batch {
            records: Vec::new(),
            state: Some(raw(&format!("\"{}\"", "s".repeat(70_000)))),
            has_more: true,
        };
        let error = check_sizes("items", &batch, 1 << 20, 64 << 10).expect_err("a big state");
        assert!(
            error
                .to_string()
                .contains("more than the 65536 bytes a sync state may be"),
            "{error}"
        );
        assert!(check_sizes("items", &batch, 1 << 20, 1 << 20).is_ok());
    }

    #[test]
    fn the_same_state_with_nothing_read_fails_after_the_allowed_batches() {
        let mut watch = ProgressWatch::new(Some(serde_json::json!(5)), 3);
        let same = Some(serde_json::json!(5));
        assert!(watch.note("p", "items", 0, &same, true).is_ok());
        assert!(watch.note("p", "items", 0, &same, true).is_ok());
        let error = watch.note("p", "items", 0, &same, true).expect_err("stalled");
        assert!(error.to_string().contains("connector bug in `p`"), "{error}");
        let mut moving = ProgressWatch::new(None, 1);
        assert!(
            moving
                .note("p", "items", 0, &Some(serde_json::json!(1)), true)
                .is_ok()
        );
        assert!(
            moving
                .note("p", "items", 3, &Some(serde_json::json!(1)), true)
                .is_ok()
        );
        assert!(
            moving
                .note("p", "items", 0, &Some(serde_json::json!(1)), false)
                .is_ok()
        );
    }

    #[test]
    fn enablements_may_only_tighten_the_hosts_limits() {
        let host = RunLimits::host_default();
        let tight = RunLimits {
            max_batches: Some(2),
            ..RunLimits::default()
        };
        assert!(tight.validate_within(&host).is_ok());
        assert_eq!(host.tightened_by(Some(&tight)).max_batches, Some(2));
        assert_eq!(host.tightened_by(Some(&tight)).max_records, host.max_records);
        let zero = RunLimits {
            max_records: Some(0),
            ..RunLimits::default()
        };
        assert!(zero.validate_within(&host).is_err());
        let loose = RunLimits {
            max_duration_secs: Some(u64::MAX),
            ..RunLimits::default()
        };
        let error = loose.validate_within(&host).expect_err("above the host");
        assert!(
            error.to_string().contains("run_limits.max_duration_secs"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_budget_stops_at_its_limits_and_when_cancelled() {
        let limits = RunLimits {
            max_batches: Some(2),
            ..RunLimits::default()
        };
        let (handle, token) = cancel_pair();
        let budget = Budget::new(limits, token, (2, 0, 0));
        assert!(matches!(
            budget.check(),
            Err(RunError::Limit {
                field: "max_batches",
                ..
            })
        ));
        let budget = Budget::new(RunLimits::default(), budget.cancel.clone(), (0, 0, 0));
        assert!(budget.check().is_ok());
        handle.cancel("key:k1");
        assert_eq!(budget.check(), Err(RunError::Cancelled("key:k1".into())));
        let started = Instant::now();
        assert!(budget.sleep(Duration::from_secs(30)).await.is_err());
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
