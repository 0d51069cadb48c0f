//! The scheduler: durable jobs ([`jobs`]) of connector syncs and agent
//! tasks, taken when due on a clock that tests can drive, and run on the
//! host's bounded pool ([`pool`]), which every run shares and which serves
//! tenants fairly: tenants take turns, and each has a cap on runs at once,
//! so one tenant's thousand queued syncs delay another's single sync by at
//! most one sync.

pub mod jobs;
pub mod pool;

use crate::control::{ControlError, ControlPlane};
use crate::sync::SyncRequest;
use crate::tenant::Principal;
use jobs::Job;
use pool::{Pending, Work};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// Where the scheduler reads the time.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> SystemTime;
}

/// The system's clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that only moves when told to, for tests.
pub struct ManualClock(Mutex<SystemTime>);

impl ManualClock {
    /// A clock showing `now`.
    pub fn new(now: SystemTime) -> Self {
        Self(Mutex::new(now))
    }

    /// Set the time.
    pub fn set(&self, now: SystemTime) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = now;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The longest wait between two looks for work that stopped hosts left.
const LONGEST_SWEEP: Duration = Duration::from_secs(5);

/// How the scheduler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchedulerConfig {
    /// Runs at once, all tenants together: the size of the host's one run
    /// pool, which API-started runs share (zero: queue runs, start none).
    pub workers: usize,
    /// Runs at once for one tenant.
    pub per_tenant: usize,
    /// How often due jobs are looked for; zero to look only when
    /// [`Scheduler::tick`] is called.
    pub tick: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            workers: 4,
            per_tenant: 2,
            tick: Duration::from_secs(1),
        }
    }
}

/// Takes due jobs and runs them on the host's bounded, fair run pool.
pub struct Scheduler {
    control: Arc<ControlPlane>,
    clock: Arc<dyn Clock>,
    config: SchedulerConfig,
}

impl Scheduler {
    /// Size the host's run pool as `config` says and start the ticker
    /// (unless `config.tick` is zero), after queueing again the runs of due
    /// jobs that the last host did not start.
    pub async fn start(
        control: Arc<ControlPlane>,
        clock: Arc<dyn Clock>,
        config: SchedulerConfig,
    ) -> Result<Arc<Self>, ControlError> {
        control.pool.resize(config.workers, config.per_tenant);
        let leftover = control.queued_jobs().await?;
        let scheduler = Arc::new(Self {
            control,
            clock,
            config,
        });
        for (queue_id, job) in leftover {
            scheduler.push_job(job, queue_id);
        }
        scheduler.control.dispatch();
        if !config.tick.is_zero() {
            let ticker = scheduler.clone();
            tokio::spawn(async move {
                loop {
                    if let Err(error) = ticker.tick().await {
                        tracing::error!(%error, "cannot take due jobs");
                    }
                    tokio::time::sleep(ticker.config.tick).await;
                }
            });
            // A dead host's work is free once its leases lapse, a stopped
            // host's at once: looking twice per lease period (and at least
            // every few seconds) takes either over soon after.
            let sweeper = scheduler.clone();
            let every = (sweeper.control.hosts.lease() / 2).min(LONGEST_SWEEP);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    if let Err(error) = sweeper.take_over().await {
                        tracing::error!(%error, "cannot look for work that stopped hosts left");
                    }
                }
            });
        }
        Ok(scheduler)
    }

    /// Queue the runs and due jobs that no live host holds (their host
    /// stopped or died); returns how many.
    pub async fn take_over(&self) -> Result<usize, ControlError> {
        let runs = self.control.resume_interrupted_runs().await?;
        let jobs = self.control.queued_jobs().await?;
        // On the embedded store the only host resumed its approvals at start.
        let approvals = match self.control.hosts.shared() {
            true => self.control.resume_approved_proposals().await?,
            false => 0,
        };
        let count = runs + jobs.len() + approvals;
        for (queue_id, job) in jobs {
            tracing::info!(tenant = %job.tenant, plugin = %job.plugin, job = %job.id, "taking over a due job");
            self.push_job(job, queue_id);
        }
        if count > 0 {
            self.control.dispatch();
        }
        Ok(count)
    }

    /// Queue the jobs due now; returns how many.
    pub async fn tick(&self) -> Result<usize, ControlError> {
        let due = self.control.take_due_jobs(self.clock.now()).await?;
        let count = due.len();
        for (queue_id, job) in due {
            tracing::info!(tenant = %job.tenant, plugin = %job.plugin, job = %job.id, "job due");
            self.push_job(job, queue_id);
        }
        Ok(count)
    }

    /// Queue a sync of `plugin` for `tenant` now (in memory: a run asked
    /// for on demand, whose caller is there to see it start).
    pub fn enqueue(&self, principal: &Principal, tenant: &str, plugin: &str, request: SyncRequest) {
        self.control.submit(Pending {
            tenant: tenant.to_string(),
            actor: principal.actor(),
            work: Work::Prepare {
                plugin: plugin.to_string(),
                request,
                task: None,
                queue_id: None,
            },
        });
    }

    fn push_job(&self, job: Job, queue_id: String) {
        self.control.submit(Pending {
            tenant: job.tenant,
            actor: job.created_by,
            work: Work::Prepare {
                plugin: job.plugin,
                request: job.sync,
                task: job.task,
                queue_id: Some(queue_id),
            },
        });
    }

    /// Runs waiting for a slot in the host's pool.
    pub fn waiting(&self) -> usize {
        self.control.pool.waiting()
    }
}
