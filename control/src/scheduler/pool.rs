//! The host's one bounded, fair pool of runs: every run, started through the
//! API, resumed at start or due from a job, waits here for a slot. Tenants
//! take turns, each has a cap on runs at once, and all tenants together
//! have a cap (the workers). A slot is a task spawned for the run, so an
//! idle pool holds nothing; a run waiting here can be cancelled.

use crate::control::ControlPlane;
use crate::sync::{CancelHandle, CancelToken, SyncRequest, cancel_pair};
use crate::tenant::{Principal, Role};
use omnify_runtime::invoke::Task;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

/// What a waiting entry does once it has a slot.
#[derive(Debug, Clone)]
pub(crate) enum Work {
    /// Drive a recorded run (started through the API, or resumed).
    Run(String),
    /// Record a run of a sync or agent task first, then drive it (a due
    /// job, or [`super::Scheduler::enqueue`]).
    Prepare {
        /// The plugin.
        plugin: String,
        /// What to sync.
        request: SyncRequest,
        /// The task, for an agent run.
        task: Option<Task>,
        /// Its entry in the durable queue, for runs of due jobs.
        queue_id: Option<String>,
    },
}

/// A run waiting for a slot.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    /// The tenant.
    pub(crate) tenant: String,
    /// Who asked for it; the run is theirs.
    pub(crate) actor: String,
    /// What to do.
    pub(crate) work: Work,
}

/// Per-tenant queues served in turn.
#[derive(Default)]
pub(crate) struct FairQueue {
    queues: HashMap<String, VecDeque<Pending>>,
    turn: VecDeque<String>,
    running: HashMap<String, usize>,
}

impl FairQueue {
    pub(crate) fn push(&mut self, pending: Pending) {
        let tenant = pending.tenant.clone();
        self.queues.entry(tenant.clone()).or_default().push_back(pending);
        if !self.turn.contains(&tenant) {
            self.turn.push_back(tenant);
        }
    }

    /// The next run of the first tenant in turn that is under its cap; that
    /// tenant goes to the back of the line.
    pub(crate) fn pop(&mut self, per_tenant: usize) -> Option<Pending> {
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

    /// A run of `tenant` ended.
    pub(crate) fn done(&mut self, tenant: &str) {
        if let Some(running) = self.running.get_mut(tenant) {
            *running = running.saturating_sub(1);
        }
    }

    /// Take the waiting run `run_id` of `tenant` out of the queue.
    fn remove_run(&mut self, tenant: &str, run_id: &str) -> bool {
        let Some(queue) = self.queues.get_mut(tenant) else {
            return false;
        };
        let Some(position) = queue
            .iter()
            .position(|p| matches!(&p.work, Work::Run(id) if id == run_id))
        else {
            return false;
        };
        queue.remove(position);
        if queue.is_empty() {
            self.queues.remove(tenant);
            self.turn.retain(|t| t != tenant);
        }
        true
    }

    pub(crate) fn waiting(&self) -> usize {
        self.queues.values().map(VecDeque::len).sum()
    }
}

/// How many runs at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Size {
    workers: usize,
    per_tenant: usize,
}

struct PoolState {
    queue: FairQueue,
    size: Size,
    busy: usize,
    /// Queue ids of due jobs in the queue or running, so that a job queued
    /// again by a restarted scheduler runs once.
    queue_ids: HashSet<String>,
    /// Runs with a slot, by `tenant \0 run`, and how to cancel them.
    running: HashMap<(String, String), CancelHandle>,
}

/// Where a cancelled run was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Found {
    /// Waiting for a slot: taken out of the queue, never started.
    Dequeued,
    /// Running: it stops at its next batch boundary.
    Signalled,
    /// Not in this pool.
    Absent,
}

/// The pool (see the module's documentation).
pub struct RunPool {
    state: Mutex<PoolState>,
}

impl RunPool {
    /// A pool of `workers` runs at once, `per_tenant` of one tenant.
    pub fn new(workers: usize, per_tenant: usize) -> Self {
        Self {
            state: Mutex::new(PoolState {
                queue: FairQueue::default(),
                size: Size { workers, per_tenant },
                busy: 0,
                queue_ids: HashSet::new(),
                running: HashMap::new(),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, PoolState> {
        // Every operation leaves the state consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Resize (zero workers: runs wait, none starts).
    pub(crate) fn resize(&self, workers: usize, per_tenant: usize) {
        self.state().size = Size { workers, per_tenant };
    }

    /// Queue a run; false when it is a due job already queued.
    pub(crate) fn push(&self, pending: Pending) -> bool {
        let mut state = self.state();
        if let Work::Prepare {
            queue_id: Some(id), ..
        } = &pending.work
            && !state.queue_ids.insert(id.clone())
        {
            return false;
        }
        state.queue.push(pending);
        true
    }

    /// The next run that may start now, counted as busy.
    fn take(&self) -> Option<Pending> {
        let mut state = self.state();
        if state.busy >= state.size.workers {
            return None;
        }
        let per_tenant = state.size.per_tenant;
        let pending = state.queue.pop(per_tenant)?;
        state.busy += 1;
        Some(pending)
    }

    /// A run that had a slot ended.
    fn release(&self, pending: &Pending) {
        let mut state = self.state();
        state.busy = state.busy.saturating_sub(1);
        state.queue.done(&pending.tenant);
        if let Work::Prepare {
            queue_id: Some(id), ..
        } = &pending.work
        {
            state.queue_ids.remove(id);
        }
    }

    /// Note that `run_id` of `tenant` is running; its token says when it
    /// is cancelled.
    pub(crate) fn register(&self, tenant: &str, run_id: &str) -> CancelToken {
        let (handle, token) = cancel_pair();
        self.state()
            .running
            .insert((tenant.to_string(), run_id.to_string()), handle);
        token
    }

    fn unregister(&self, tenant: &str, run_id: &str) {
        self.state()
            .running
            .remove(&(tenant.to_string(), run_id.to_string()));
    }

    /// Cancel `run_id` of `tenant` as `by`: out of the queue if it waits,
    /// signalled if it runs.
    pub(crate) fn cancel(&self, tenant: &str, run_id: &str, by: &str) -> Found {
        let mut state = self.state();
        if state.queue.remove_run(tenant, run_id) {
            return Found::Dequeued;
        }
        match state.running.get(&(tenant.to_string(), run_id.to_string())) {
            Some(handle) => {
                handle.cancel(by);
                Found::Signalled
            }
            None => Found::Absent,
        }
    }

    /// Runs waiting for a slot.
    pub fn waiting(&self) -> usize {
        self.state().queue.waiting()
    }

    /// Start no more runs, and ask each running one to stop at its next
    /// batch boundary without ending (see [`CancelHandle::hand_back`]).
    pub(crate) fn hand_back_all(&self) {
        let mut state = self.state();
        state.size.workers = 0;
        for handle in state.running.values() {
            handle.hand_back();
        }
    }

    /// Runs that have a slot (preparing or running).
    pub(crate) fn busy(&self) -> usize {
        self.state().busy
    }
}

impl ControlPlane {
    /// Queue `pending` in the pool and start what may start.
    pub(crate) fn submit(self: &Arc<Self>, pending: Pending) {
        if self.pool.push(pending) {
            self.dispatch();
        }
    }

    /// Give every free slot a waiting run.
    pub(crate) fn dispatch(self: &Arc<Self>) {
        while let Some(pending) = self.pool.take() {
            let this = self.clone();
            tokio::spawn(async move {
                this.run_pending(&pending).await;
                this.pool.release(&pending);
                // A slot is free: the tenant's next run, or another's.
                this.dispatch();
            });
        }
    }

    async fn run_pending(&self, pending: &Pending) {
        // The run acts for whoever asked for it, within its tenant.
        let principal = Principal::on_behalf_of(&pending.actor, Role::Operator, &pending.tenant);
        let run_id = match &pending.work {
            Work::Run(run_id) => run_id.clone(),
            Work::Prepare {
                plugin,
                request,
                task,
                queue_id,
            } => {
                if let Some(queue_id) = queue_id.clone() {
                    match self.still_holds_queued(queue_id).await {
                        Ok(true) => {}
                        Ok(false) => return,
                        Err(error) => {
                            tracing::warn!(tenant = %pending.tenant, %plugin, %error, "cannot start a due job's run now; it waits for the next look");
                            return;
                        }
                    }
                }
                let prepared = match task.clone() {
                    Some(task) => {
                        self.prepare_agent_run(&principal, &pending.tenant, plugin, task)
                            .await
                    }
                    None => {
                        self.prepare_run(&principal, &pending.tenant, plugin, request.clone())
                            .await
                    }
                };
                // Once the run is recorded, a restart resumes it as a run;
                // the queue entry is no longer needed.
                if let Some(queue_id) = queue_id.clone()
                    && let Err(error) = self.dequeue(queue_id).await
                {
                    tracing::error!(%error, "cannot remove a started run from the queue");
                }
                match prepared {
                    Ok(run) => run.id,
                    Err(error) => {
                        tracing::warn!(tenant = %pending.tenant, %plugin, %error, "a scheduled run could not start");
                        return;
                    }
                }
            }
        };
        let cancel = self.pool.register(&pending.tenant, &run_id);
        self.execute_run(&principal, &pending.tenant, &run_id, cancel)
            .await;
        self.pool.unregister(&pending.tenant, &run_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(tenant: &str, run: &str) -> Pending {
        Pending {
            tenant: tenant.into(),
            actor: "admin".into(),
            work: Work::Run(run.into()),
        }
    }

    #[test]
    fn tenants_take_turns_and_respect_their_cap() {
        let mut queue = FairQueue::default();
        for i in 0..1000 {
            queue.push(pending("busy", &i.to_string()));
        }
        queue.push(pending("quiet", "q"));
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

    #[test]
    fn the_pool_bounds_runs_and_cancels_waiting_ones() {
        let pool = RunPool::new(1, 1);
        assert!(pool.push(pending("a", "r1")));
        assert!(pool.push(pending("b", "r2")));
        let first = pool.take().expect("a slot");
        assert!(pool.take().is_none(), "one worker");
        assert_eq!(pool.cancel("b", "r2", "key:k"), Found::Dequeued);
        assert_eq!(pool.waiting(), 0);
        let token = pool.register("a", "r1");
        assert_eq!(pool.cancel("a", "r1", "key:k"), Found::Signalled);
        assert_eq!(token.cancelled_by().as_deref(), Some("key:k"));
        assert_eq!(pool.cancel("a", "nope", "key:k"), Found::Absent);
        pool.release(&first);
        let job = |id: &str| Pending {
            tenant: "a".into(),
            actor: "admin".into(),
            work: Work::Prepare {
                plugin: "p".into(),
                request: SyncRequest::default(),
                task: None,
                queue_id: Some(id.into()),
            },
        };
        assert!(pool.push(job("q1")));
        assert!(!pool.push(job("q1")), "a due job is queued once");
    }
}
