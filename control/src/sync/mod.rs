//! Syncing a connector into the tenant's record store: runs, their history,
//! cancelling them, and reading the synced records. The engine that drives
//! a run is in [`engine`], what stops one early in [`limits`], the run
//! indexes in [`index`].

mod agent_run;
mod engine;
mod index;

pub(crate) use index::erase_tenant as erase_tenant_runs_index;

/// The most bytes of records one page of the records API holds.
pub const MAX_RECORD_PAGE_BYTES: usize = 8 << 20;
mod limits;

pub use engine::SyncConfig;
pub use limits::{CancelHandle, CancelToken, RunError, RunLimits, cancel_pair};

use crate::control::{ControlError, ControlPlane};
use crate::enablement::tenant_and_enablement;
use crate::hosts::lease::Resource;
use crate::scheduler::pool::{Found, Pending, Work};
use crate::store::storage::{Table, get_json, key, prefix};
use crate::tenant::{self, Principal};
use omnify_runtime::invoke::{Call, CallOutput, SyncMode};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RunStatus {
    /// Started, reading.
    Running,
    /// Every stream was read to its end.
    Succeeded,
    /// Stopped by an error or a limit; `last_error` says which.
    Failed,
    /// Stopped on request; `cancelled_by` says whose.
    Cancelled,
}

/// One stream of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StreamRun {
    /// The stream.
    pub stream: String,
    /// Full refresh or incremental.
    #[schema(value_type = String)]
    pub mode: SyncMode,
    /// The fields that identify a record.
    pub primary_key: Vec<String>,
    /// Records read from the connector.
    pub records_read: u64,
    /// Records written to the record store.
    pub records_written: u64,
    /// Batches committed.
    pub batches: u64,
    /// Bytes of the records read (their JSON text).
    #[serde(default)]
    pub bytes_read: u64,
    /// Whether the stream was read to its end.
    pub done: bool,
}

/// A sync run and its progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Run {
    /// Unique, and ordered by start time.
    pub id: String,
    /// The tenant.
    pub tenant: String,
    /// The connector.
    pub plugin: String,
    /// The version that ran (pinned at the start).
    pub version: String,
    /// Where it is.
    pub status: RunStatus,
    /// Still waiting in the host's run pool for a slot (its status reads
    /// `running`; it can be cancelled).
    #[serde(default)]
    pub queued: bool,
    /// Who asked to cancel it, once someone did.
    #[serde(default)]
    pub cancelled_by: Option<String>,
    /// Who started it.
    pub requested_by: String,
    /// When it started.
    pub started_at: String,
    /// When it ended.
    pub ended_at: Option<String>,
    /// Records asked for per `read`.
    pub batch_size: u32,
    /// Per-stream progress.
    pub streams: Vec<StreamRun>,
    /// Fuel used by all its calls.
    pub fuel: u64,
    /// Calls of `read`, retries included.
    pub attempts: u64,
    /// The last error, if any (also on a run that recovered from it).
    pub last_error: Option<String>,
    /// For an agent run: the task it runs (a sync run has streams instead).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub task: Option<omnify_runtime::invoke::Task>,
    /// For an agent run: its insights and proposals.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub output: Option<Value>,
}

/// Input of [`ControlPlane::start_sync`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncRequest {
    /// The streams to sync; every stream the connector discovers when
    /// absent.
    pub streams: Option<Vec<String>>,
    /// `incremental` (when the stream supports it) or `full-refresh`.
    #[schema(value_type = Option<String>)]
    pub mode: Option<SyncMode>,
    /// Records per `read` (1 to 10000); the host's default when absent.
    pub batch_size: Option<u32>,
}

/// A page of synced records.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RecordPage {
    /// The records.
    #[schema(value_type = Vec<Object>)]
    pub records: Vec<Box<serde_json::value::RawValue>>,
    /// Pass as `after` for the next page; none at the end.
    pub next: Option<String>,
}

/// Which synced records to read: a page of one stream, in key order,
/// optionally only those whose top-level `filter.0` equals `filter.1`.
#[derive(Debug, Clone)]
pub struct RecordQuery {
    /// The connector.
    pub connector: String,
    /// Its stream.
    pub stream: String,
    /// Records after this key.
    pub after: Option<String>,
    /// At most this many.
    pub limit: usize,
    /// A field and the value it must have.
    pub filter: Option<(String, Value)>,
}

/// Up to `limit` of `tenant`'s runs, newest first.
pub(crate) fn newest_runs(
    tx: &dyn crate::store::ReadTx,
    tenant: &str,
    limit: usize,
) -> Result<Vec<Run>, ControlError> {
    index::page(tx, tenant, None, limit)
}

/// The key of a run in the store.
pub(crate) fn run_key(tenant: &str, id: &str) -> Vec<u8> {
    key(&[tenant.as_bytes(), id.as_bytes()])
}

pub(crate) fn new_run_id() -> Result<String, ControlError> {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    Ok(format!("{millis:013}-{}", crate::vault::random_hex(4)?))
}

impl ControlPlane {
    /// Start a sync of `plugin` for `tenant_id` and return its run; the run
    /// waits for a slot in the host's run pool and goes on in the
    /// background.
    pub async fn start_sync(
        self: &Arc<Self>,
        principal: &Principal,
        tenant_id: &str,
        plugin: &str,
        request: SyncRequest,
    ) -> Result<Run, ControlError> {
        let run = self.prepare_run(principal, tenant_id, plugin, request).await?;
        self.queue_run(&run);
        Ok(run)
    }

    /// Queue a recorded run in the host's run pool.
    pub(crate) fn queue_run(self: &Arc<Self>, run: &Run) {
        self.submit(Pending {
            tenant: run.tenant.clone(),
            actor: run.requested_by.clone(),
            work: Work::Run(run.id.clone()),
        });
    }

    /// Store a new run with its start in the audit log.
    pub(crate) async fn record_new_run(
        &self,
        run: &Run,
        action: &'static str,
        details: Value,
    ) -> Result<(), ControlError> {
        let stored = run.clone();
        let hosts = self.hosts.clone();
        self.blocking(move |store| {
            let mut tx = store.write()?;
            index::insert(&mut *tx, &stored)?;
            hosts.claim(&mut *tx, &Resource::run(&stored.tenant, &stored.id))?;
            let event = crate::audit::Event {
                actor: &stored.requested_by,
                action,
                target: &stored.plugin,
                outcome: "ok",
                details,
            };
            crate::audit::append(&mut *tx, &stored.tenant, event)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// The enablement of `plugin` for `tenant_id` (read off the async
    /// threads).
    pub(crate) async fn enablement_of(
        &self,
        tenant_id: &str,
        plugin: &str,
    ) -> Result<crate::enablement::Enablement, ControlError> {
        let (tenant_id, plugin) = (tenant_id.to_string(), plugin.to_string());
        self.blocking(move |store| Ok(tenant_and_enablement(&*store.read()?, &tenant_id, &plugin)?.1))
            .await
    }

    /// Check a sync request against the connector's streams and record a new
    /// run; [`ControlPlane::execute_run`] then drives it.
    pub(crate) async fn prepare_run(
        &self,
        principal: &Principal,
        tenant_id: &str,
        plugin: &str,
        request: SyncRequest,
    ) -> Result<Run, ControlError> {
        principal.require_tenant(tenant_id)?;
        let enablement = self.enablement_of(tenant_id, plugin).await?;
        let discovered = self
            .invoke_enabled(principal, tenant_id, plugin, Call::Discover, "sync-discover")
            .await?;
        let CallOutput::Discover(available) = discovered.value else {
            return Err(ControlError::Invalid(format!("`{plugin}` is not a connector")));
        };
        let wanted = request
            .streams
            .unwrap_or_else(|| available.iter().map(|s| s.name.clone()).collect());
        let mut streams = Vec::new();
        for name in wanted {
            let spec = available.iter().find(|s| s.name == name).ok_or_else(|| {
                let known: Vec<&str> = available.iter().map(|s| s.name.as_str()).collect();
                ControlError::Invalid(format!(
                    "`{plugin}` has no stream `{name}` (it has: {})",
                    known.join(", ")
                ))
            })?;
            let mode = match request.mode {
                Some(SyncMode::FullRefresh) => SyncMode::FullRefresh,
                _ if spec.sync_modes.contains(&SyncMode::Incremental) => SyncMode::Incremental,
                Some(SyncMode::Incremental) => {
                    return Err(ControlError::Invalid(format!(
                        "stream `{name}` cannot be synced incrementally"
                    )));
                }
                None => SyncMode::FullRefresh,
            };
            if spec.primary_key.is_empty() {
                return Err(ControlError::Invalid(format!(
                    "stream `{name}` has no primary key to upsert by"
                )));
            }
            streams.push(StreamRun {
                stream: name,
                mode,
                primary_key: spec.primary_key.clone(),
                records_read: 0,
                records_written: 0,
                batches: 0,
                bytes_read: 0,
                done: false,
            });
        }
        if streams.is_empty() {
            return Err(ControlError::Invalid("no stream to sync".into()));
        }
        let batch_size = request.batch_size.unwrap_or(self.sync_config().batch_size);
        if !(1..=10_000).contains(&batch_size) {
            return Err(ControlError::Invalid("batch_size must be 1 to 10000".into()));
        }
        let run = Run {
            id: new_run_id()?,
            tenant: tenant_id.to_string(),
            plugin: plugin.to_string(),
            version: enablement.version,
            status: RunStatus::Running,
            queued: true,
            cancelled_by: None,
            requested_by: principal.actor(),
            started_at: crate::audit::now(),
            ended_at: None,
            batch_size,
            streams,
            fuel: 0,
            attempts: 0,
            last_error: None,
            task: None,
            output: None,
        };
        let streams: Vec<&str> = run.streams.iter().map(|s| s.stream.as_str()).collect();
        let details = serde_json::json!({ "run": run.id, "streams": streams });
        self.record_new_run(&run, "sync.start", details).await?;
        Ok(run)
    }

    /// Queue again every run that has not ended and that no live host
    /// holds (its host stopped, or died and its lease lapsed), claiming
    /// it; it resumes from its last committed batch. Reads only the index
    /// of open runs (indexing, once, the runs of a store from before the
    /// index). Called at start, and then now and then to take over the
    /// runs of hosts that died.
    pub async fn resume_interrupted_runs(self: &Arc<Self>) -> Result<usize, ControlError> {
        let indexed = self
            .blocking(|store| {
                let mut tx = store.write()?;
                let count = index::migrate(&mut *tx)?;
                tx.commit()?;
                Ok(count)
            })
            .await?;
        if indexed > 0 {
            tracing::info!(runs = indexed, "indexed the runs of an older store");
        }
        let mut resumed = 0;
        let mut after: Option<(String, String)> = None;
        loop {
            let cursor = after.clone();
            let hosts = self.hosts.clone();
            let (open, page): (Vec<(String, String)>, Vec<Run>) = self
                .blocking(move |store| {
                    let mut tx = store.write()?;
                    let open = index::open_runs(&*tx, cursor.as_ref(), 256)?;
                    let mut runs = Vec::new();
                    for (tenant, id) in &open {
                        let lease = Resource::run(tenant, id);
                        if hosts.holds(&lease) {
                            // This host has it queued or running already.
                            continue;
                        }
                        match get_json::<Run>(&*tx, Table::Runs, &run_key(tenant, id))? {
                            Some(run) if run.status != RunStatus::Running => {}
                            Some(run) => {
                                if hosts.claim(&mut *tx, &lease)? {
                                    runs.push(run);
                                }
                            }
                            // Its tenant was deleted.
                            None => index::forget_open(&mut *tx, tenant, id)?,
                        }
                    }
                    tx.commit()?;
                    Ok((open, runs))
                })
                .await?;
            let Some(last) = open.last() else { break };
            after = Some(last.clone());
            for run in &page {
                tracing::info!(tenant = %run.tenant, plugin = %run.plugin, run = %run.id, "resuming an interrupted run");
                // Resumed work stays whoever started it.
                self.queue_run(run);
                resumed += 1;
            }
        }
        Ok(resumed)
    }

    /// Up to `limit` runs of `tenant_id`, newest first, older than the run
    /// `after` when given (the last id of the previous page). Reads only
    /// the page from the store.
    pub async fn runs(
        &self,
        principal: &Principal,
        tenant_id: &str,
        after: Option<String>,
        limit: usize,
    ) -> Result<Vec<Run>, ControlError> {
        principal.require_tenant(tenant_id)?;
        let tenant_id = tenant_id.to_string();
        self.blocking(move |store| {
            let tx = store.read()?;
            tenant::require_existing(&*tx, &tenant_id)?;
            index::page(&*tx, &tenant_id, after.as_deref(), limit)
        })
        .await
    }

    /// Cancel a run that has not ended, as `principal`: a run waiting in
    /// the pool ends at once, a running one at its next batch boundary.
    /// The request is in the audit log as `run.cancel`, with its caller.
    pub async fn cancel_run(
        &self,
        principal: &Principal,
        tenant_id: &str,
        run_id: &str,
    ) -> Result<Run, ControlError> {
        principal.require_tenant(tenant_id)?;
        let actor = principal.actor();
        let (tenant, id, by) = (tenant_id.to_string(), run_id.to_string(), actor.clone());
        let run = self
            .blocking(move |store| {
                let mut tx = store.write()?;
                let mut run: Run = get_json(&*tx, Table::Runs, &run_key(&tenant, &id))?
                    .ok_or_else(|| ControlError::NotFound(format!("tenant `{tenant}` has no run `{id}`")))?;
                if run.status != RunStatus::Running {
                    return Err(ControlError::Conflict(format!(
                        "run `{id}` has already ended ({})",
                        serde_json::to_value(run.status)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_string))
                            .unwrap_or_default()
                    )));
                }
                if run.cancelled_by.is_some() {
                    return Ok(run);
                }
                run.cancelled_by = Some(by.clone());
                index::update(&mut *tx, &run)?;
                let event = crate::audit::Event {
                    actor: &by,
                    action: "run.cancel",
                    target: &run.plugin,
                    outcome: "ok",
                    details: serde_json::json!({ "run": run.id, "queued": run.queued }),
                };
                crate::audit::append(&mut *tx, &tenant, event)?;
                tx.commit()?;
                Ok(run)
            })
            .await?;
        match self.pool.cancel(tenant_id, run_id, &actor) {
            Found::Signalled => {
                tracing::info!(tenant = tenant_id, run = run_id, by = %actor, "cancelling a running run");
            }
            Found::Dequeued | Found::Absent => {
                let cancelled = Err(RunError::Cancelled(run.cancelled_by.clone().unwrap_or(actor)));
                self.finish_run(tenant_id, run_id, cancelled).await?;
            }
        }
        self.run(principal, tenant_id, run_id).await
    }

    /// One run.
    pub async fn run(
        &self,
        principal: &Principal,
        tenant_id: &str,
        run_id: &str,
    ) -> Result<Run, ControlError> {
        principal.require_tenant(tenant_id)?;
        let (tenant_id, run_id) = (tenant_id.to_string(), run_id.to_string());
        self.blocking(move |store| {
            get_json(&*store.read()?, Table::Runs, &run_key(&tenant_id, &run_id))?
                .ok_or_else(|| ControlError::NotFound(format!("tenant `{tenant_id}` has no run `{run_id}`")))
        })
        .await
    }

    /// A page of synced records of `tenant_id`, as `query` says: at most
    /// `limit` records and [`MAX_RECORD_PAGE_BYTES`] (a page holds at least
    /// one record).
    pub async fn records(
        &self,
        principal: &Principal,
        tenant_id: &str,
        query: RecordQuery,
    ) -> Result<RecordPage, ControlError> {
        principal.require_tenant(tenant_id)?;
        let tenant_id = tenant_id.to_string();
        let RecordQuery {
            connector,
            stream,
            after,
            limit,
            filter,
        } = query;
        self.blocking(move |store| {
            let tx = store.read()?;
            tenant::require_existing(&*tx, &tenant_id)?;
            let stream_prefix = prefix(&[tenant_id.as_bytes(), connector.as_bytes(), stream.as_bytes()]);
            let mut cursor = after.map(|a| [stream_prefix.as_slice(), a.as_bytes()].concat());
            let (mut records, mut page_bytes) = (Vec::new(), 0usize);
            let mut last_shown: Option<Vec<u8>> = None;
            let mut next = None;
            'pages: loop {
                let page = tx.scan(Table::Records, &stream_prefix, cursor.as_deref(), 1000)?;
                let Some((last, _)) = page.last() else { break };
                cursor = Some(last.clone());
                for (record_key, bytes) in page {
                    let text = String::from_utf8(bytes)
                        .map_err(|_| ControlError::Internal("a stored record is not UTF-8".into()))?;
                    if let Some((field, value)) = &filter {
                        let record: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                        if record.get(field) != Some(value) {
                            continue;
                        }
                    }
                    if records.len() == limit
                        || (!records.is_empty() && page_bytes + text.len() > MAX_RECORD_PAGE_BYTES)
                    {
                        // Another match exists: the next page starts after the last one shown.
                        next = last_shown
                            .as_ref()
                            .map(|k| String::from_utf8_lossy(&k[stream_prefix.len()..]).into_owned());
                        break 'pages;
                    }
                    page_bytes += text.len();
                    records.push(
                        serde_json::value::RawValue::from_string(text)
                            .map_err(|e| ControlError::Internal(e.to_string()))?,
                    );
                    last_shown = Some(record_key);
                }
            }
            Ok(RecordPage { records, next })
        })
        .await
    }
}
