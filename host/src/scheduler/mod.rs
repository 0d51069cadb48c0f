//! The scheduler: durable jobs ([`jobs`]) of connector syncs and agent
//! tasks, taken when due on a clock that
//! tests can drive, and a bounded pool of workers that runs them fairly
//! across tenants: tenants take turns, and each has a cap on runs at once,
//! so one tenant's thousand queued syncs delay another's single sync by at
//! most one sync.

pub mod jobs;

use crate::control::{ControlError, ControlPlane};
use crate::invoke::Task;
use crate::sync::SyncRequest;
use crate::tenant::{Principal, Role};
use jobs::Job;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};
use tokio::sync::Notify;

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

/// How the scheduler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchedulerConfig {
    /// Runs at once, all tenants together (zero: take due jobs, run none).
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
            workers: 2,
            per_tenant: 1,
            tick: Duration::from_secs(1),
        }
    }
}

/// A sync waiting for a worker.
#[derive(Debug, Clone)]
struct Pending {
    tenant: String,
    plugin: String,
    request: SyncRequest,
    /// The task, for an agent run.
    task: Option<Task>,
    /// Its entry in the durable queue, for runs of due jobs.
    queue_id: Option<String>,
    /// Who asked for it (a job's creator); the run is theirs.
    actor: String,
}

/// Per-tenant queues served in turn.
#[derive(Default)]
struct FairQueue {
    queues: HashMap<String, VecDeque<Pending>>,
    turn: VecDeque<String>,
    running: HashMap<String, usize>,
}

impl FairQueue {
    fn push(&mut self, pending: Pending) {
        let tenant = pending.tenant.clone();
        self.queues.entry(tenant.clone()).or_default().push_back(pending);
        if !self.turn.contains(&tenant) {
            self.turn.push_back(tenant);
        }
    }

    /// The next run of the first tenant in turn that is under its cap; that
    /// tenant goes to the back of the line.
    fn pop(&mut self, per_tenant: usize) -> Option<Pending> {
        let position = self
            .turn
            .iter()
            .position(|tenant| self.running.get(tenant).copied().unwrap_or(0) < per_tenant)?;
        let tenant = self.turn.remove(position)?;
        let queue = self.queues.get_mut(&tenant)?;
        let pending = queue.pop_front()?;
        if queue.is_empty() {
            self.queues.remove(&tenant);
        } else {
            self.turn.push_back(tenant.clone());
        }
        *self.running.entry(tenant).or_default() += 1;
        Some(pending)
    }

    fn done(&mut self, tenant: &str) {
        if let Some(running) = self.running.get_mut(tenant) {
            *running = running.saturating_sub(1);
        }
    }

    fn waiting(&self) -> usize {
        self.queues.values().map(VecDeque::len).sum()
    }
}

/// Takes due jobs and runs them on a bounded, fair worker pool.
pub struct Scheduler {
    control: Arc<ControlPlane>,
    clock: Arc<dyn Clock>,
    config: SchedulerConfig,
    queue: Mutex<FairQueue>,
    wake: Notify,
}

impl Scheduler {
    /// Start the workers (and the ticker, unless `config.tick` is zero),
    /// after queueing again the runs of due jobs that the last host did not
    /// start.
    pub async fn start(
        control: Arc<ControlPlane>,
        clock: Arc<dyn Clock>,
        config: SchedulerConfig,
    ) -> Result<Arc<Self>, ControlError> {
        let leftover = control.queued_jobs().await?;
        let scheduler = Arc::new(Self {
            control,
            clock,
            config,
            queue: Mutex::default(),
            wake: Notify::new(),
        });
        for (queue_id, job) in leftover {
            scheduler.push_job(job, queue_id);
        }
        for _ in 0..config.workers {
            tokio::spawn(scheduler.clone().work());
        }
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
        }
        Ok(scheduler)
    }

    fn queue(&self) -> MutexGuard<'_, FairQueue> {
        // Every queue operation leaves it consistent.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
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
        self.push(Pending {
            tenant: tenant.to_string(),
            plugin: plugin.to_string(),
            request,
            task: None,
            queue_id: None,
            actor: principal.actor(),
        });
    }

    fn push_job(&self, job: Job, queue_id: String) {
        self.push(Pending {
            tenant: job.tenant,
            plugin: job.plugin,
            request: job.sync,
            task: job.task,
            queue_id: Some(queue_id),
            actor: job.created_by,
        });
    }

    fn push(&self, pending: Pending) {
        self.queue().push(pending);
        self.wake.notify_one();
    }

    /// Syncs waiting for a worker.
    pub fn waiting(&self) -> usize {
        self.queue().waiting()
    }

    async fn next(&self) -> Pending {
        loop {
            let woken = self.wake.notified();
            if let Some(pending) = self.queue().pop(self.config.per_tenant) {
                return pending;
            }
            woken.await;
        }
    }

    async fn work(self: Arc<Self>) {
        loop {
            let pending = self.next().await;
            // The run acts for whoever asked for it, within its tenant.
            let principal = Principal::on_behalf_of(&pending.actor, Role::Operator, &pending.tenant);
            let prepared = match pending.task.clone() {
                Some(task) => {
                    self.control
                        .prepare_agent_run(&principal, &pending.tenant, &pending.plugin, task)
                        .await
                }
                None => {
                    self.control
                        .prepare_run(
                            &principal,
                            &pending.tenant,
                            &pending.plugin,
                            pending.request.clone(),
                        )
                        .await
                }
            };
            // Once the run is recorded, a restart resumes it as a run; the
            // queue entry is no longer needed.
            if let Some(queue_id) = pending.queue_id.clone()
                && let Err(error) = self.control.dequeue(queue_id).await
            {
                tracing::error!(%error, "cannot remove a started run from the queue");
            }
            match prepared {
                Ok(run) => self.control.execute_run(&principal, &run.tenant, &run.id).await,
                Err(error) => {
                    tracing::warn!(tenant = %pending.tenant, plugin = %pending.plugin, %error, "a scheduled sync could not start");
                }
            }
            self.queue().done(&pending.tenant);
            // A slot is free: another worker may now take that tenant's next run.
            self.wake.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(tenant: &str) -> Pending {
        Pending {
            tenant: tenant.into(),
            plugin: "p".into(),
            request: SyncRequest::default(),
            task: None,
            queue_id: None,
            actor: "admin".into(),
        }
    }

    #[test]
    fn tenants_take_turns_and_respect_their_cap() {
        let mut queue = FairQueue::default();
        for _ in 0..1000 {
            queue.push(pending("busy"));
        }
        queue.push(pending("quiet"));
        let first = queue.pop(1).expect("a run");
        assert_eq!(first.tenant, "busy");
        assert_eq!(
            queue.pop(1).expect("a run").tenant,
            "quiet",
            "the other tenant goes next"
        );
        assert!(queue.pop(1).is_none(), "both tenants are at their cap");
        queue.done("busy");
        assert_eq!(queue.pop(1).expect("a run").tenant, "busy");
        assert_eq!(queue.waiting(), 998);
    }
}
