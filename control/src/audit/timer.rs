//! The thread that checkpoints the chains at intervals: every few seconds it
//! looks at the heads and signs each chain that has grown by
//! [`EVERY_ENTRIES`] entries, or has grown at all and was last signed
//! [`EVERY`] ago.

use super::checkpoint::{self, AuditSigner, Checkpointed};
use crate::store::{Storage, StoreError};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant};

/// A chain that grew is signed at least this often.
pub const EVERY: Duration = Duration::from_secs(60);

/// A chain is signed once it grew by this many entries, whatever the time.
pub const EVERY_ENTRIES: u64 = 1000;

/// How often the heads are looked at.
const POLL: Duration = Duration::from_secs(5);

/// The handle to the checkpointing thread; dropping it stops the thread and
/// waits for it, so the store is closed when the control plane is.
pub(crate) struct Checkpointer {
    stop: Option<Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the audit checkpoint thread panicked");
        }
    }
}

impl Checkpointer {
    /// Start checkpointing the chains of `store` with `signer`.
    pub(crate) fn start(store: Arc<dyn Storage>, signer: Arc<AuditSigner>) -> Result<Self, StoreError> {
        let (stop, stopped) = channel::<()>();
        let thread = std::thread::Builder::new()
            .name("omnify-audit-checkpoints".into())
            .spawn(move || run(&*store, &signer, &stopped))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the audit checkpoints: {e}")))?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

/// When each chain was last signed here, and at which entry.
type Signed = HashMap<String, (u64, Instant)>;

fn run(store: &dyn Storage, signer: &AuditSigner, stopped: &Receiver<()>) {
    let mut signed = Signed::new();
    loop {
        match stopped.recv_timeout(POLL) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        if let Err(error) = pass(store, signer, &mut signed, Instant::now()) {
            tracing::warn!(%error, "cannot checkpoint the audit chains");
        }
    }
}

/// Sign every chain that is due.
fn pass(
    store: &dyn Storage,
    signer: &AuditSigner,
    signed: &mut Signed,
    now: Instant,
) -> Result<(), StoreError> {
    let heads = checkpoint::heads(&*store.read()?)?;
    for (tenant, seq) in heads {
        let due = match signed.get(&tenant) {
            // First look since start: sign if the stored checkpoint lags.
            None => true,
            Some(&(at_seq, at)) => {
                seq != at_seq
                    && (seq.saturating_sub(at_seq) >= EVERY_ENTRIES || now.duration_since(at) >= EVERY)
            }
        };
        if !due {
            continue;
        }
        match checkpoint::checkpoint_in(store, &tenant, signer)? {
            Checkpointed::Signed(checkpoint) => {
                tracing::debug!(tenant, seq = checkpoint.seq, "signed an audit checkpoint");
                signed.insert(tenant, (checkpoint.seq, now));
            }
            Checkpointed::Unchanged(checkpoint) => {
                signed.insert(tenant, (checkpoint.seq, now));
            }
            Checkpointed::Empty => {}
            Checkpointed::Broken(problem) => {
                tracing::error!(
                    tenant,
                    seq = problem.seq,
                    reason = %problem.reason,
                    "the audit chain does not verify since its last checkpoint; not signing it"
                );
                // Look again only after the usual interval.
                signed.insert(tenant, (seq, now));
            }
        }
    }
    Ok(())
}
