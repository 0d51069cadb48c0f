//! Group commit shared fairly between tenants.
//!
//! The embedded store has one writer, and every durable commit costs an
//! fsync. Writes that happen on every call (usage and audit records, a
//! call's key-value changes, a synced batch) are therefore handed to one
//! writer thread, which folds what is waiting into one transaction and
//! commits it once. Which jobs go into a transaction is decided per tenant,
//! by deficit round robin over the bytes each job writes: every tenant with
//! work waiting earns [`QUANTUM`] bytes per round, so a tenant queueing
//! large writes gets its share of the writer and no more, and another
//! tenant's small writes go into the very next commit rather than behind
//! that backlog.
//!
//! A job is a function that writes into the shared transaction. One that
//! fails leaves the batch: the transaction is dropped and the others are
//! written again into a fresh one, so each job commits all of its writes or
//! none of them, as if it had a transaction of its own.

use super::StoreError;
use super::storage::WriteTx;
use std::collections::{HashMap, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, Sender, channel};
use tokio::sync::oneshot;

/// The bytes a tenant earns per round.
pub const QUANTUM: u64 = 64 << 10;

/// The most bytes one commit takes, unless a single job is larger.
const MAX_BATCH_BYTES: u64 = 1 << 20;

/// The most jobs one commit takes.
const MAX_BATCH_JOBS: usize = 512;

/// What every job costs on top of its bytes: its share of the commit.
pub const JOB_OVERHEAD: u64 = 256;

/// Opens the transaction a batch is written into.
type Begin = Box<dyn Fn() -> Result<Box<dyn WriteTx>, StoreError> + Send>;

/// A job waiting for the writer, its outcome kept until the commit says
/// whether it holds.
trait Pending: Send {
    /// Write into `tx`; whether the job succeeded (and stays in the batch).
    fn write(&mut self, tx: &mut dyn WriteTx) -> bool;
    /// Answer the job's caller: its own outcome if the batch committed (or
    /// it failed on its own), else the commit's error.
    fn finish(self: Box<Self>, committed: Result<(), &str>);
}

struct Job<T, E, F> {
    write: F,
    outcome: Option<Result<T, E>>,
    reply: oneshot::Sender<Result<T, E>>,
}

impl<T, E, F> Pending for Job<T, E, F>
where
    T: Send,
    E: From<StoreError> + Send,
    F: FnMut(&mut dyn WriteTx) -> Result<T, E> + Send,
{
    fn write(&mut self, tx: &mut dyn WriteTx) -> bool {
        let outcome = catch_unwind(AssertUnwindSafe(|| (self.write)(tx)))
            .unwrap_or_else(|_| Err(StoreError::Unavailable("a write panicked".into()).into()));
        let ok = outcome.is_ok();
        self.outcome = Some(outcome);
        ok
    }

    fn finish(self: Box<Self>, committed: Result<(), &str>) {
        let outcome = match (self.outcome, committed) {
            (Some(Err(own)), _) => Err(own),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (_, Err(error)) => Err(StoreError::Unavailable(error.to_string()).into()),
            (None, Ok(())) => Err(StoreError::Unavailable("the write was never run".into()).into()),
        };
        // A caller that went away no longer needs the answer.
        let _ = self.reply.send(outcome);
    }
}

struct Queued {
    tenant: String,
    cost: u64,
    job: Box<dyn Pending>,
}

/// The handle to the writer thread. Dropping it lets the thread commit what
/// is queued and waits for it.
pub struct CommitQueue {
    jobs: Option<Sender<Queued>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for CommitQueue {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the store's writer thread panicked");
        }
    }
}

impl CommitQueue {
    /// Start the writer thread; `begin` opens each batch's transaction.
    pub(super) fn start(begin: Begin) -> Result<Self, StoreError> {
        let (jobs, queue) = channel::<Queued>();
        let thread = std::thread::Builder::new()
            .name("omnify-store-writer".into())
            .spawn(move || run(&*begin, &queue))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the store's writer: {e}")))?;
        Ok(Self {
            jobs: Some(jobs),
            thread: Some(thread),
        })
    }

    /// Queue `write` for `tenant`, about `bytes` big; the receiver gets its
    /// outcome once it is durable (or why not).
    pub fn submit<T, E, F>(&self, tenant: &str, bytes: u64, write: F) -> oneshot::Receiver<Result<T, E>>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnMut(&mut dyn WriteTx) -> Result<T, E> + Send + 'static,
    {
        let (reply, outcome) = oneshot::channel();
        let queued = Queued {
            tenant: tenant.to_string(),
            cost: bytes + JOB_OVERHEAD,
            job: Box::new(Job {
                write,
                outcome: None,
                reply,
            }),
        };
        if let Some(jobs) = &self.jobs
            && let Err(refused) = jobs.send(queued)
        {
            refused.0.job.finish(Err("the store's writer has stopped"));
        }
        outcome
    }

    /// [`submit`](Self::submit), waiting for the outcome on this (blocking)
    /// thread.
    pub fn commit_blocking<T, E, F>(&self, tenant: &str, bytes: u64, write: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnMut(&mut dyn WriteTx) -> Result<T, E> + Send + 'static,
    {
        self.submit(tenant, bytes, write)
            .blocking_recv()
            .unwrap_or_else(|_| Err(stopped().into()))
    }

    /// [`submit`](Self::submit), awaiting the outcome.
    pub async fn commit<T, E, F>(&self, tenant: &str, bytes: u64, write: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnMut(&mut dyn WriteTx) -> Result<T, E> + Send + 'static,
    {
        self.submit(tenant, bytes, write)
            .await
            .unwrap_or_else(|_| Err(stopped().into()))
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the store's writer has stopped".into())
}

/// Each tenant's waiting jobs and what it has earned towards the next.
#[derive(Default)]
struct Tenants {
    queues: HashMap<String, (VecDeque<Queued>, u64)>,
    /// Tenants with work waiting, in the order they are served.
    turn: VecDeque<String>,
}

impl Tenants {
    fn push(&mut self, queued: Queued) {
        let (jobs, _) = self.queues.entry(queued.tenant.clone()).or_insert_with(|| {
            self.turn.push_back(queued.tenant.clone());
            (VecDeque::new(), 0)
        });
        jobs.push_back(queued);
    }

    fn is_empty(&self) -> bool {
        self.turn.is_empty()
    }

    /// The next batch: one round over the tenants with work waiting, each
    /// taking the jobs its earnings cover.
    fn next_batch(&mut self) -> Vec<Queued> {
        let mut batch = Vec::new();
        let mut bytes = 0;
        // Rounds repeat until someone's earnings cover a job; each round
        // adds a quantum, so a job of n bytes waits at most n / QUANTUM.
        while batch.is_empty() && !self.turn.is_empty() {
            for _ in 0..self.turn.len() {
                let Some(tenant) = self.turn.pop_front() else {
                    break;
                };
                let Some((jobs, earned)) = self.queues.get_mut(&tenant) else {
                    continue;
                };
                *earned += QUANTUM;
                while let Some(next) = jobs.front() {
                    let full = !batch.is_empty()
                        && (bytes + next.cost > MAX_BATCH_BYTES || batch.len() >= MAX_BATCH_JOBS);
                    if next.cost > *earned || full {
                        break;
                    }
                    *earned -= next.cost;
                    bytes += next.cost;
                    batch.extend(jobs.pop_front());
                }
                if jobs.is_empty() {
                    // Earnings do not carry over an idle spell.
                    self.queues.remove(&tenant);
                } else {
                    self.turn.push_back(tenant);
                }
            }
        }
        // Each batch starts with the next tenant, so that a job too large to
        // join a batch others began gets to begin one.
        self.turn.rotate_left(1.min(self.turn.len()));
        batch
    }
}

fn run(begin: &dyn Fn() -> Result<Box<dyn WriteTx>, StoreError>, queue: &Receiver<Queued>) {
    let mut tenants = Tenants::default();
    loop {
        if tenants.is_empty() {
            match queue.recv() {
                Ok(queued) => tenants.push(queued),
                Err(_) => return,
            }
        }
        while let Ok(queued) = queue.try_recv() {
            tenants.push(queued);
        }
        commit(begin, tenants.next_batch());
    }
}

/// Write `batch` into one transaction and commit it; a job that fails is
/// answered with its error and the rest are written again without it.
fn commit(begin: &dyn Fn() -> Result<Box<dyn WriteTx>, StoreError>, mut batch: Vec<Queued>) {
    while !batch.is_empty() {
        let mut tx = match begin() {
            Ok(tx) => tx,
            Err(error) => return answer(batch, Err(&error.to_string())),
        };
        let failed = batch.iter_mut().position(|queued| !queued.job.write(&mut *tx));
        match failed {
            Some(index) => {
                drop(tx);
                batch.remove(index).job.finish(Ok(()));
            }
            None => {
                let committed = tx.commit().map_err(|e| e.to_string());
                if let Err(error) = &committed {
                    tracing::error!(%error, jobs = batch.len(), "cannot commit to the store");
                }
                return answer(batch, committed.as_ref().map(|_| ()).map_err(String::as_str));
            }
        }
    }
}

fn answer(batch: Vec<Queued>, committed: Result<(), &str>) {
    for queued in batch {
        queued.job.finish(committed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queued(tenant: &str, cost: u64) -> Queued {
        let (reply, _) = oneshot::channel::<Result<(), StoreError>>();
        Queued {
            tenant: tenant.into(),
            cost,
            job: Box::new(Job {
                write: |_: &mut dyn WriteTx| Ok::<(), StoreError>(()),
                outcome: None,
                reply,
            }),
        }
    }

    fn tenants_of(batch: &[Queued]) -> Vec<&str> {
        batch.iter().map(|q| q.tenant.as_str()).collect()
    }

    #[test]
    fn a_backlog_of_large_writes_does_not_hold_back_another_tenants_small_ones() {
        let mut tenants = Tenants::default();
        for _ in 0..8 {
            tenants.push(queued("a", 1 << 20));
        }
        tenants.push(queued("b", 300));
        // A's megabyte waits for its earnings; B's record goes at once.
        assert_eq!(tenants_of(&tenants.next_batch()), ["b"]);
        let next = tenants.next_batch();
        assert_eq!(tenants_of(&next), ["a"], "then A's first job, alone");
        // B queues again while A has a backlog: served in the next batch.
        tenants.push(queued("b", 300));
        tenants.push(queued("b", 300));
        assert_eq!(tenants_of(&tenants.next_batch()), ["b", "b"]);
    }

    #[test]
    fn a_job_larger_than_a_batch_is_not_starved_by_a_busy_neighbour() {
        let mut tenants = Tenants::default();
        tenants.push(queued("busy", 1024));
        tenants.push(queued("large", 2 * MAX_BATCH_BYTES));
        let mut served = false;
        for _ in 0..200 {
            // The busy tenant always has more waiting.
            tenants.push(queued("busy", 1024));
            if tenants.next_batch().iter().any(|q| q.tenant == "large") {
                served = true;
                break;
            }
        }
        assert!(served, "the large job got a batch of its own");
    }

    #[test]
    fn small_writes_of_every_tenant_share_one_commit_within_their_quantum() {
        let mut tenants = Tenants::default();
        for _ in 0..1000 {
            tenants.push(queued("a", 1024));
        }
        for _ in 0..3 {
            tenants.push(queued("b", 1024));
        }
        let batch = tenants.next_batch();
        let from_a = batch.iter().filter(|q| q.tenant == "a").count() as u64;
        assert_eq!(from_a, QUANTUM / 1024, "A takes its quantum and no more");
        assert_eq!(
            batch.len() as u64,
            from_a + 3,
            "and all of B's in the same commit"
        );
    }

    #[test]
    fn a_failing_job_leaves_no_trace_and_the_others_in_its_batch_commit() {
        use crate::store::storage::Table;
        use crate::store::{RedbStore, Storage};
        let dir = tempfile::tempdir().expect("tempdir");
        let store = RedbStore::open(dir.path()).expect("open");
        let commits = store.commits();
        let put = |key: &'static [u8], fail: bool| {
            move |tx: &mut dyn WriteTx| {
                tx.put(Table::Meta, key, b"written")?;
                match fail {
                    true => Err(StoreError::QuotaExceeded { limit: 1 }),
                    false => Ok(()),
                }
            }
        };
        // A first job holds the writer until the three are queued, so that
        // they make one batch.
        let (open_gate, gate) = std::sync::mpsc::channel::<()>();
        let held = commits.submit("c", 10, move |_: &mut dyn WriteTx| {
            let _ = gate.recv_timeout(std::time::Duration::from_secs(10));
            Ok::<(), StoreError>(())
        });
        let first = commits.submit("a", 10, put(b"first", false));
        let failing = commits.submit("b", 10, put(b"failing", true));
        let last = commits.submit("a", 10, put(b"last", false));
        open_gate.send(()).expect("the writer waits");
        // Written again when the failing job leaves the batch: no wait then.
        drop(open_gate);
        assert!(held.blocking_recv().expect("answered").is_ok());
        assert!(first.blocking_recv().expect("answered").is_ok());
        assert!(matches!(
            failing.blocking_recv().expect("answered"),
            Err(StoreError::QuotaExceeded { limit: 1 })
        ));
        assert!(last.blocking_recv().expect("answered").is_ok());
        let read = store.read().expect("read");
        assert!(read.get(Table::Meta, b"first").expect("get").is_some());
        assert!(read.get(Table::Meta, b"last").expect("get").is_some());
        assert_eq!(read.get(Table::Meta, b"failing").expect("get"), None);
    }
}
