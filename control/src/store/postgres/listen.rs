//! Commits made by other hosts: every write transaction notifies a channel
//! as it commits, and each host keeps one connection listening to it, so
//! that its live readers (the event feed, the notifier) wake for another
//! host's commits as they do for their own.

use crate::store::StoreError;
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{AsyncMessage, NoTls, Socket};
use tokio_postgres_rustls::MakeRustlsConnect;

/// The channel commits are announced on.
const CHANNEL: &str = "omnify_commits";

/// A random id of this store instance, which its own notifications carry
/// so that its listener can skip them (its readers already woke).
pub(super) fn instance_id() -> Result<String, StoreError> {
    let mut bytes = [0u8; 8];
    crate::vault::random_bytes(&mut bytes)
        .map_err(|e| StoreError::Unavailable(format!("cannot make a store instance id: {e}")))?;
    Ok(hex::encode(bytes))
}

/// How a write transaction of `instance` ends: the notification is
/// delivered to the listeners only if the commit happens.
pub(super) fn notify_and_commit(instance: &str) -> String {
    format!("NOTIFY {CHANNEL}, '{instance}'; COMMIT")
}

/// How long the listener waits before connecting again after it lost its
/// connection.
const RECONNECT: Duration = Duration::from_secs(1);

/// A connection that hears the channel's notifications other than
/// `own`'s, the receiver they arrive on, and the task driving it.
type Listening = (tokio_postgres::Client, UnboundedReceiver<()>, JoinHandle<()>);

async fn connect<T>(
    config: &tokio_postgres::Config,
    tls: T,
    own: String,
) -> Result<Listening, tokio_postgres::Error>
where
    T: MakeTlsConnect<Socket>,
    T::Stream: Send + 'static,
{
    let (client, mut connection) = config.connect(tls).await?;
    let (heard_tx, heard) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if let AsyncMessage::Notification(heard) = message
                && heard.payload() != own
                && heard_tx.send(()).is_err()
            {
                break;
            }
        }
    });
    Ok((client, heard, driver))
}

/// Listen for other store instances' commits until the store's runtime
/// stops, counting each in `made`, over TLS when `tls` is given; reconnects
/// whenever the connection is lost. A commit announced while it was away
/// is made up for by counting one on every reconnect.
pub(super) async fn listen(
    config: tokio_postgres::Config,
    tls: Option<MakeRustlsConnect>,
    made: Arc<watch::Sender<u64>>,
    instance: String,
    target: String,
) {
    let mut connected_before = false;
    loop {
        let connected = match &tls {
            Some(tls) => connect(&config, tls.clone(), instance.clone()).await,
            None => connect(&config, NoTls, instance.clone()).await,
        };
        match connected {
            Ok((client, mut heard, driver)) => {
                match client.batch_execute(&format!("LISTEN {CHANNEL}")).await {
                    Ok(()) => {
                        if connected_before {
                            made.send_modify(|n| *n = n.wrapping_add(1));
                        }
                        connected_before = true;
                        while heard.recv().await.is_some() {
                            made.send_modify(|n| *n = n.wrapping_add(1));
                        }
                        tracing::warn!(target = %target, "lost the connection that listens for other hosts' commits");
                    }
                    Err(error) => {
                        tracing::warn!(target = %target, %error, "cannot listen for other hosts' commits")
                    }
                }
                driver.abort();
            }
            Err(error) => tracing::debug!(target = %target, %error, "cannot connect to listen for commits"),
        }
        tokio::time::sleep(RECONNECT).await;
    }
}
