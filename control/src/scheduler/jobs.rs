//! Durable jobs: a one-off or cron-scheduled sync of a tenant's connector,
//! stored with the time it is next due.

use crate::audit::{self, Event, rfc3339_at, unix_seconds};
use crate::control::{ControlError, ControlPlane};
use crate::enablement::tenant_and_enablement;
use crate::hosts::lease::Resource;
use crate::store::storage::{Table, get_json, key, put_json, scan_json};
use crate::sync::SyncRequest;
use crate::tenant::{self, Principal};
use chrono::{DateTime, TimeZone, Utc};
use omnify_registry::PluginKind;
use omnify_runtime::invoke::Task;
use serde::{Deserialize, Serialize};
use std::str::FromStr;
use std::time::SystemTime;

/// When a job runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Schedule {
    /// Once, as soon as a worker is free.
    Once,
    /// On a cron schedule (five fields: minute hour day month weekday).
    Cron {
        /// For example `30 9 * * 1-5`.
        expression: String,
        /// An IANA time zone, for example `Europe/Paris`; `UTC` by default.
        #[serde(default = "utc")]
        timezone: String,
    },
}

fn utc() -> String {
    "UTC".to_string()
}

/// A scheduled job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Job {
    /// Unique within the tenant.
    pub id: String,
    /// The tenant.
    pub tenant: String,
    /// The connector to sync.
    pub plugin: String,
    /// When it runs.
    pub schedule: Schedule,
    /// What each run syncs (connectors).
    pub sync: SyncRequest,
    /// The task each run runs (agents).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub task: Option<Task>,
    /// When it is next due (Unix seconds); none once a one-off job has run.
    pub next_due: Option<u64>,
    /// The same, as RFC 3339.
    pub next_due_at: Option<String>,
    /// When it was created.
    pub created_at: String,
    /// Who created it; its runs are theirs in the audit log.
    #[serde(default = "created_by_admin")]
    pub created_by: String,
}

/// Jobs stored before their creator was recorded were made by the admin.
fn created_by_admin() -> String {
    "admin".into()
}

/// Input of [`ControlPlane::create_job`].
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewJob {
    /// The connector to sync.
    pub plugin: String,
    /// When it runs.
    pub schedule: Schedule,
    /// What each run syncs, for a connector.
    #[serde(default)]
    pub sync: SyncRequest,
    /// The task each run runs, for an agent (required for agents).
    #[schema(value_type = Option<Object>)]
    pub task: Option<Task>,
}

impl Schedule {
    /// Check the expression and time zone, naming what is wrong.
    pub fn validate(&self) -> Result<(), ControlError> {
        self.next_after(SystemTime::now()).map(|_| ())
    }

    /// When the schedule next fires strictly after `now` (Unix seconds);
    /// `Once` fires at `now`.
    pub fn next_after(&self, now: SystemTime) -> Result<u64, ControlError> {
        match self {
            Schedule::Once => Ok(unix_seconds(now)),
            Schedule::Cron { expression, timezone } => {
                let cron = croner::Cron::from_str(expression)
                    .map_err(|e| ControlError::Invalid(format!("cron expression `{expression}`: {e}")))?;
                let zone = chrono_tz::Tz::from_str(timezone)
                    .map_err(|_| ControlError::Invalid(format!("`{timezone}` is not an IANA time zone")))?;
                let now = Utc
                    .timestamp_opt(unix_seconds(now) as i64, 0)
                    .single()
                    .ok_or_else(|| ControlError::Internal("the clock is out of range".into()))?
                    .with_timezone(&zone);
                let next: DateTime<chrono_tz::Tz> = cron.find_next_occurrence(&now, false).map_err(|e| {
                    ControlError::Invalid(format!("cron expression `{expression}` never fires: {e}"))
                })?;
                Ok(next.timestamp().max(0) as u64)
            }
        }
    }
}

pub(crate) fn job_key(tenant: &str, id: &str) -> Vec<u8> {
    key(&[tenant.as_bytes(), id.as_bytes()])
}

impl ControlPlane {
    /// Create a job; a one-off job is due at once.
    pub async fn create_job(
        &self,
        principal: &Principal,
        tenant_id: &str,
        new: NewJob,
    ) -> Result<Job, ControlError> {
        principal.require_tenant(tenant_id)?;
        let first = new.schedule.next_after(SystemTime::now())?;
        let job = Job {
            id: crate::vault::random_hex(6)?,
            tenant: tenant_id.to_string(),
            plugin: new.plugin,
            schedule: new.schedule,
            sync: new.sync,
            task: new.task,
            next_due: Some(first),
            next_due_at: Some(rfc3339_at(first)),
            created_at: audit::now(),
            created_by: principal.actor(),
        };
        let actor = principal.actor();
        self.blocking(move |store| {
            let mut tx = store.write()?;
            let (_, enablement) = tenant_and_enablement(&*tx, &job.tenant, &job.plugin)?;
            match (enablement.kind, &job.task) {
                (PluginKind::Agent, None) => {
                    return Err(ControlError::Invalid(format!(
                        "`{}` is an agent: give the job a `task`",
                        job.plugin
                    )));
                }
                (PluginKind::Connector, Some(_)) => {
                    return Err(ControlError::Invalid(format!(
                        "`{}` is a connector: its jobs sync, they take no `task`",
                        job.plugin
                    )));
                }
                _ => {}
            }
            put_json(&mut *tx, Table::Jobs, &job_key(&job.tenant, &job.id), &job)?;
            let details = serde_json::json!({ "job": job.id, "schedule": job.schedule });
            let event = Event {
                actor: &actor,
                action: "job.create",
                target: &job.plugin,
                outcome: "ok",
                details,
            };
            audit::append(&mut *tx, &job.tenant, event)?;
            tx.commit()?;
            Ok(job)
        })
        .await
    }

    /// The jobs of a tenant.
    pub async fn jobs(&self, principal: &Principal, tenant_id: &str) -> Result<Vec<Job>, ControlError> {
        principal.require_tenant(tenant_id)?;
        let tenant_id = tenant_id.to_string();
        self.blocking(move |store| tenant::rows_of(&*store.read()?, Table::Jobs, &tenant_id))
            .await
    }

    /// Delete a job; runs it started go on.
    pub async fn delete_job(
        &self,
        principal: &Principal,
        tenant_id: &str,
        job_id: &str,
    ) -> Result<(), ControlError> {
        principal.require_tenant(tenant_id)?;
        let (actor, tenant_id, job_id) = (principal.actor(), tenant_id.to_string(), job_id.to_string());
        self.blocking(move |store| {
            let mut tx = store.write()?;
            let job: Job = get_json(&*tx, Table::Jobs, &job_key(&tenant_id, &job_id))?.ok_or_else(|| {
                ControlError::NotFound(format!("tenant `{tenant_id}` has no job `{job_id}`"))
            })?;
            tx.delete(Table::Jobs, &job_key(&tenant_id, &job_id))?;
            let event = Event {
                actor: &actor,
                action: "job.delete",
                target: &job.plugin,
                outcome: "ok",
                details: serde_json::json!({ "job": job_id }),
            };
            audit::append(&mut *tx, &tenant_id, event)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Take the jobs due at `now`: advance each recurring job to its next
    /// time, retire one-off jobs, and record each due run in the durable
    /// queue in the same transaction, so a run is neither lost nor doubled
    /// if the host stops right after. A job of a connector that must be
    /// connected again is advanced without a run. Returns the queue ids and
    /// jobs.
    pub(crate) async fn take_due_jobs(&self, now: SystemTime) -> Result<Vec<(String, Job)>, ControlError> {
        let hosts = self.hosts.clone();
        self.blocking(move |store| {
            let mut tx = store.write()?;
            let mut queued = Vec::new();
            let due: Vec<(Vec<u8>, Job)> = scan_json::<Job>(&*tx, Table::Jobs, b"", None, usize::MAX)?
                .into_iter()
                .filter(|(_, job)| job.next_due.is_some_and(|at| at <= unix_seconds(now)))
                .collect();
            for (job_key, job) in &due {
                let mut next = job.clone();
                next.next_due = match &job.schedule {
                    Schedule::Once => None,
                    schedule => Some(schedule.next_after(now)?),
                };
                next.next_due_at = next.next_due.map(rfc3339_at);
                put_json(&mut *tx, Table::Jobs, job_key, &next)?;
                // A connector whose sign-in the platform refused would only
                // fail: its runs wait until someone connects it again.
                let signed_out = crate::oauth::connection_state(&*tx, &job.tenant, &job.plugin)?
                    .is_some_and(|connection| connection.needs_reconnect);
                if signed_out {
                    tracing::info!(tenant = %job.tenant, job = %job.id, "skipped: the connector must be connected again");
                    continue;
                }
                let queue_id = format!("{:013}-{}", unix_seconds(now), job.id);
                put_json(&mut *tx, Table::Queue, queue_id.as_bytes(), job)?;
                hosts.claim(&mut *tx, &Resource::Queued(queue_id.clone()))?;
                queued.push((queue_id, job.clone()));
            }
            tx.commit()?;
            Ok(queued)
        })
        .await
    }

    /// The runs of due jobs that no worker has started and no live host
    /// holds (their host stopped, or died and its lease lapsed), claimed
    /// for this host.
    pub(crate) async fn queued_jobs(&self) -> Result<Vec<(String, Job)>, ControlError> {
        let hosts = self.hosts.clone();
        self.blocking(move |store| {
            let mut tx = store.write()?;
            let mut claimed = Vec::new();
            for (key, job) in scan_json::<Job>(&*tx, Table::Queue, b"", None, usize::MAX)? {
                let queue_id = String::from_utf8_lossy(&key).into_owned();
                let lease = Resource::Queued(queue_id.clone());
                if !hosts.holds(&lease) && hosts.claim(&mut *tx, &lease)? {
                    claimed.push((queue_id, job));
                }
            }
            tx.commit()?;
            Ok(claimed)
        })
        .await
    }

    /// Whether this host still holds the queued run `queue_id` (claiming
    /// it again if its lease lapsed and nobody took it), just before a
    /// worker starts it.
    pub(crate) async fn still_holds_queued(&self, queue_id: String) -> Result<bool, ControlError> {
        let hosts = self.hosts.clone();
        self.blocking(move |store| {
            let mut tx = store.write()?;
            let held = tx.get(Table::Queue, queue_id.as_bytes())?.is_some()
                && hosts.claim(&mut *tx, &Resource::Queued(queue_id))?;
            tx.commit()?;
            Ok(held)
        })
        .await
    }

    /// A worker has started (or given up on) a queued run.
    pub(crate) async fn dequeue(&self, queue_id: String) -> Result<(), ControlError> {
        let hosts = self.hosts.clone();
        self.blocking(move |store| {
            let mut tx = store.write()?;
            tx.delete(Table::Queue, queue_id.as_bytes())?;
            hosts.release(&mut *tx, &Resource::Queued(queue_id))?;
            Ok(tx.commit()?)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> SystemTime {
        humantime::parse_rfc3339(text).expect("time")
    }

    #[test]
    fn cron_schedules_fire_at_the_expected_minute_in_their_time_zone() {
        let paris = Schedule::Cron {
            expression: "30 9 * * *".into(),
            timezone: "Europe/Paris".into(),
        };
        // 09:30 in Paris is 08:30 UTC in winter and 07:30 UTC in summer.
        assert_eq!(
            rfc3339_at(paris.next_after(at("2026-11-23T08:00:00Z")).expect("next")),
            "2026-11-23T08:30:00Z"
        );
        assert_eq!(
            rfc3339_at(paris.next_after(at("2026-11-23T08:30:00Z")).expect("next")),
            "2026-11-24T08:30:00Z"
        );
        assert_eq!(
            rfc3339_at(paris.next_after(at("2026-07-01T00:00:00Z")).expect("next")),
            "2026-07-01T07:30:00Z"
        );
        let every_five = Schedule::Cron {
            expression: "*/5 * * * *".into(),
            timezone: "UTC".into(),
        };
        assert_eq!(
            rfc3339_at(every_five.next_after(at("2026-11-23T10:02:10Z")).expect("next")),
            "2026-11-23T10:05:00Z"
        );
    }

    #[test]
    fn invalid_schedules_are_clear_errors() {
        let bad_expression = Schedule::Cron {
            expression: "61 * * * *".into(),
            timezone: "UTC".into(),
        };
        assert!(
            bad_expression
                .validate()
                .expect_err("invalid")
                .to_string()
                .contains("cron expression `61 * * * *`")
        );
        let bad_zone = Schedule::Cron {
            expression: "0 * * * *".into(),
            timezone: "Mars/Olympus".into(),
        };
        assert!(
            bad_zone
                .validate()
                .expect_err("invalid")
                .to_string()
                .contains("not an IANA time zone")
        );
    }
}
