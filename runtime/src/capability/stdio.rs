//! The guest's stdout and stderr, routed into the call's log.

use super::GuestLog;
use crate::invoke::usage::LogSource;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// One of the guest's output streams.
pub(crate) struct GuestOutput {
    log: GuestLog,
    source: LogSource,
}

impl GuestOutput {
    pub(crate) fn stdout(log: GuestLog) -> Self {
        Self {
            log,
            source: LogSource::Stdout,
        }
    }

    pub(crate) fn stderr(log: GuestLog) -> Self {
        Self {
            log,
            source: LogSource::Stderr,
        }
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(LogWriter {
            log: self.log.clone(),
            source: self.source,
        })
    }
}

struct LogWriter {
    log: GuestLog,
    source: LogSource,
}

impl AsyncWrite for LogWriter {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        // Always accepted: past the log cap the bytes are counted and dropped,
        // so a chatty guest never fails (or panics) on a write.
        self.log.write_output(self.source, buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
