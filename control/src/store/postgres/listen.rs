//! Commits made by other hosts: every write transaction notifies a channel
//! as it commits, and each host keeps one connection listening to it, so
//! that its live readers (the event feed, the notifier) wake for another
//! host's commits as they do for their own, and its caches forget what
//! another host changed (see `store::changes`).

use crate::store::StoreError;
use crate::store::changes::{Changes, HEARD_FOR_MS, Tables};
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;
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

/// How a write transaction of `instance` that wrote `tables` ends: the
/// notification, `<instance>:<tables as hex bits>`, is delivered to the
/// listeners only if the commit happens.
pub(super) fn notify_and_commit(instance: &str, tables: Tables) -> String {
    format!("NOTIFY {CHANNEL}, '{instance}:{:x}'; COMMIT", tables.bits())
}

/// The tables another instance's notification names, or `None` for this
/// instance's own. A payload without tables counts as a change of all.
fn heard_tables(payload: &str, own: &str) -> Option<Tables> {
    let (instance, bits) = payload.split_once(':').unwrap_or((payload, ""));
    if instance == own {
        return None;
    }
    Some(u64::from_str_radix(bits, 16).map_or(Tables::ALL, Tables::from_bits))
}

/// How long the listener waits before connecting again after it lost its
/// connection.
const RECONNECT: Duration = Duration::from_secs(1);

/// How often the listener pings the server: an answer shows that every
/// notification sent before the ping has arrived.
const PING_EVERY: Duration = Duration::from_millis(HEARD_FOR_MS / 4);

/// How long a ping may take before the connection is taken for lost.
const PING_TIMEOUT: Duration = Duration::from_millis(HEARD_FOR_MS / 2);

/// A connection that hears the channel's notifications other than
/// `own`'s, the receiver the tables they name arrive on, and the task
/// driving it.
type Listening = (tokio_postgres::Client, UnboundedReceiver<Tables>, JoinHandle<()>);

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
                && let Some(tables) = heard_tables(heard.payload(), &own)
                && heard_tx.send(tables).is_err()
            {
                break;
            }
        }
    });
    Ok((client, heard, driver))
}

/// Hear other hosts' commits on `client` into `changes`, pinging the
/// server so that `changes` knows how recent its hearing is, until the
/// connection fails.
async fn hear(client: &tokio_postgres::Client, heard: &mut UnboundedReceiver<Tables>, changes: &Changes) {
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            tables = heard.recv() => match tables {
                Some(tables) => changes.committed(tables),
                None => return,
            },
            _ = ping.tick() => {
                let sent = std::time::Instant::now();
                match tokio::time::timeout(PING_TIMEOUT, client.simple_query("SELECT 1")).await {
                    // Notifications come before the answer to a later
                    // query: whatever they said is counted once they are
                    // read, so take what has arrived first.
                    Ok(Ok(_)) => {
                        while let Ok(tables) = heard.try_recv() {
                            changes.committed(tables);
                        }
                        changes.heard_all_before(sent);
                    }
                    _ => return,
                }
            }
        }
    }
}

/// Listen for other store instances' commits until the store's runtime
/// stops, counting each in `changes`, over TLS when `tls` is given;
/// reconnects whenever the connection is lost. While it is lost `changes`
/// vouches for nothing, and a commit announced meanwhile is made up for by
/// counting a change of every table on every connect.
pub(super) async fn listen(
    config: tokio_postgres::Config,
    tls: Option<MakeRustlsConnect>,
    changes: Arc<Changes>,
    instance: String,
    target: String,
) {
    loop {
        let connected = match &tls {
            Some(tls) => connect(&config, tls.clone(), instance.clone()).await,
            None => connect(&config, NoTls, instance.clone()).await,
        };
        match connected {
            Ok((client, mut heard, driver)) => {
                match client.batch_execute(&format!("LISTEN {CHANNEL}")).await {
                    Ok(()) => {
                        changes.committed(Tables::ALL);
                        hear(&client, &mut heard, &changes).await;
                        changes.not_hearing();
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
