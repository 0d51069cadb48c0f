//! The `log` capability, and the per-call log buffer that also receives the
//! guest's stdout and stderr.

use super::HostState;
use crate::invoke::usage::{LogLevel, LogLine, LogSource};
use crate::invoke::{InvocationContext, Redactor};
use crate::plugin::contract::imports::log::{Host, Level};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

/// How much of the guest's stderr is kept apart from the capped log, so that
/// a panic message survives even when the log cap was reached.
const STDERR_TAIL_BYTES: usize = 4096;

/// The log of one call: lines kept up to a byte cap, each also emitted as a
/// `tracing` event tagged with tenant, plugin and request id.
#[derive(Clone)]
pub(crate) struct GuestLog {
    shared: Arc<Shared>,
}

/// What the call's log handles (its own, stdout's and stderr's) share.
struct Shared {
    buffer: Mutex<LogBuffer>,
    ctx: Arc<InvocationContext>,
    /// Masks the call's secret values; made when first needed, as most
    /// calls log nothing and fail with nothing to mask.
    redactor: OnceLock<Redactor>,
}

#[derive(Default)]
struct LogBuffer {
    lines: Vec<LogLine>,
    bytes: usize,
    cap: usize,
    dropped: u64,
    partial_stdout: Vec<u8>,
    partial_stderr: Vec<u8>,
    stderr_tail: Vec<u8>,
}

impl GuestLog {
    pub(crate) fn new(ctx: &Arc<InvocationContext>, cap: usize) -> Self {
        Self {
            shared: Arc::new(Shared {
                buffer: Mutex::new(LogBuffer {
                    cap,
                    ..LogBuffer::default()
                }),
                ctx: ctx.clone(),
                redactor: OnceLock::new(),
            }),
        }
    }

    fn buffer(&self) -> MutexGuard<'_, LogBuffer> {
        // Every update leaves the buffer consistent, so a poisoned lock is safe.
        self.shared
            .buffer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// What masks the call's secret values.
    pub(crate) fn redactor(&self) -> &Redactor {
        self.shared
            .redactor
            .get_or_init(|| Redactor::of(&self.shared.ctx))
    }

    /// Record one line.
    pub(crate) fn push(&self, level: LogLevel, source: LogSource, message: String) {
        let message = self.redactor().redact(message);
        let mut buffer = self.buffer();
        if buffer.bytes + message.len() > buffer.cap {
            buffer.dropped += message.len() as u64;
            return;
        }
        buffer.bytes += message.len();
        self.emit(level, &message);
        buffer.lines.push(LogLine {
            level,
            source,
            message,
        });
    }

    /// Record raw output of stdout or stderr, split into lines.
    pub(crate) fn write_output(&self, source: LogSource, bytes: &[u8]) {
        let mut complete = Vec::new();
        {
            let mut buffer = self.buffer();
            let cap = buffer.cap;
            if source == LogSource::Stderr {
                let tail = &mut buffer.stderr_tail;
                tail.extend_from_slice(bytes);
                let excess = tail.len().saturating_sub(STDERR_TAIL_BYTES);
                tail.drain(..excess);
            }
            let partial = match source {
                LogSource::Stderr => &mut buffer.partial_stderr,
                _ => &mut buffer.partial_stdout,
            };
            partial.extend_from_slice(bytes);
            while let Some(end) = partial.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = partial.drain(..=end).collect();
                complete.push(String::from_utf8_lossy(&line[..end]).into_owned());
            }
            // An endless line without a newline must not grow without bound.
            if partial.len() > cap {
                let line = std::mem::take(partial);
                complete.push(String::from_utf8_lossy(&line).into_owned());
            }
        }
        let level = match source {
            LogSource::Stderr => LogLevel::Warn,
            _ => LogLevel::Info,
        };
        for line in complete {
            self.push(level, source, line);
        }
    }

    /// The lines kept and the bytes dropped; flushes unfinished lines.
    pub(crate) fn finish(&self) -> (Vec<LogLine>, u64) {
        let (stdout, stderr) = {
            let mut buffer = self.buffer();
            (
                std::mem::take(&mut buffer.partial_stdout),
                std::mem::take(&mut buffer.partial_stderr),
            )
        };
        for (source, rest) in [(LogSource::Stdout, stdout), (LogSource::Stderr, stderr)] {
            if !rest.is_empty() {
                self.write_output(source, &[rest, b"\n".to_vec()].concat());
            }
        }
        let mut buffer = self.buffer();
        (std::mem::take(&mut buffer.lines), buffer.dropped)
    }

    /// The last few KiB the guest wrote to stderr.
    pub(crate) fn stderr_tail(&self) -> String {
        String::from_utf8_lossy(&self.buffer().stderr_tail).into_owned()
    }

    fn emit(&self, level: LogLevel, message: &str) {
        let message = escape_controls(message);
        let ctx = &self.shared.ctx;
        let (tenant, plugin, request_id) =
            (ctx.tenant.as_str(), ctx.plugin.as_str(), ctx.request_id.as_str());
        macro_rules! event {
            ($level:expr) => {
                tracing::event!(target: "omnify::guest", $level, tenant, plugin, request_id, "{message}")
            };
        }
        match level {
            LogLevel::Trace => event!(tracing::Level::TRACE),
            LogLevel::Debug => event!(tracing::Level::DEBUG),
            LogLevel::Info => event!(tracing::Level::INFO),
            LogLevel::Warn => event!(tracing::Level::WARN),
            LogLevel::Error => event!(tracing::Level::ERROR),
        }
    }
}

/// `text` with every control character (newlines, carriage returns,
/// terminal escapes) written as `\u{..}`, so that guest text can never
/// start a line of the host's own log or restyle a terminal.
pub(crate) fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            escaped.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            escaped.push(c);
        }
    }
    std::borrow::Cow::Owned(escaped)
}

impl Host for HostState {
    async fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        self.count_host_call()?;
        let level = match level {
            Level::Trace => LogLevel::Trace,
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
        };
        self.log.push(level, LogSource::Log, message);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::escape_controls;

    #[test]
    fn guest_text_cannot_forge_a_host_log_line() {
        assert_eq!(escape_controls("plain text"), "plain text");
        assert_eq!(
            escape_controls("ok\n2026-12-01T00:00:00Z  INFO admin token: x\u{1b}[2J"),
            "ok\\u{a}2026-12-01T00:00:00Z  INFO admin token: x\\u{1b}[2J"
        );
    }
}
