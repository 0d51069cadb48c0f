//! Stopping a host without losing or doubling work: it stops taking work,
//! its running runs stop at their next batch boundary without ending, and
//! it gives up its leases, so that another host resumes them at once
//! rather than after they lapse.

use crate::control::{ControlError, ControlPlane};
use std::time::{Duration, Instant};

/// How often a stopping host looks whether its runs have stopped.
const POLL: Duration = Duration::from_millis(50);

impl ControlPlane {
    /// Hand back everything this host holds, waiting up to `grace` for its
    /// runs to reach a batch boundary; returns how many leases it gave up.
    /// A run still busy after `grace` is given up too: once another host
    /// claims it, this host's next commit of it is refused.
    pub async fn hand_back(&self, grace: Duration) -> Result<usize, ControlError> {
        self.hosts.stop_claiming();
        self.pool.hand_back_all();
        let deadline = Instant::now() + grace;
        while self.pool.busy() > 0 && Instant::now() < deadline {
            tokio::time::sleep(POLL).await;
        }
        let busy = self.pool.busy();
        if busy > 0 {
            tracing::warn!(
                runs = busy,
                "runs still busy after the grace period are given up mid-batch"
            );
        }
        let hosts = self.hosts.clone();
        let released = self.blocking(move |store| Ok(hosts.release_all(store)?)).await?;
        tracing::info!(host = self.hosts.id(), released, "handed back this host's work");
        Ok(released)
    }
}
