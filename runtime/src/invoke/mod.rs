//! Running one call: a fresh store from the plugin's `InstancePre`, with
//! fuel, a memory limit and a wall-clock deadline, then the result with its
//! usage, or an error that names the limit that was hit.

pub mod call;
mod context;
pub(crate) mod cpu_share;
mod error;
pub mod limits;
mod redact;
mod sandbox;
pub mod usage;

pub use call::{Batch, Call, CallError, CallOutput, PluginError, ReadRequest, SyncMode, Task};
pub use context::{Grants, HostPattern, InvalidHostPattern, InvocationContext, Secret};
pub use error::{InvokeError, InvokeErrorKind};
pub use limits::Limits;
pub(crate) use redact::Redactor;
pub use usage::{LogLevel, LogLine, LogSource, Usage};

use crate::capability::HostState;
use crate::plugin::LoadedPlugin;
use crate::plugin::contract::Ended;
use crate::runtime::Runtime;
use crate::storage::{KvChange, Scope};
use sandbox::Sandbox;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;
use wasmtime::{Store, Trap, UpdateDeadline};

/// How long after a call's deadline a call still waiting in the host is
/// dropped; a few epoch ticks.
const TIMEOUT_GRACE: std::time::Duration = std::time::Duration::from_millis(20);

/// A successful call: the result, what it used, what it logged.
#[derive(Debug, Clone)]
pub struct Output {
    /// What the export returned.
    pub value: CallOutput,
    /// What the call used.
    pub usage: Usage,
    /// What the plugin logged.
    pub logs: Vec<LogLine>,
}

impl Runtime {
    /// Run `call` on `plugin` for the tenant and plugin in `ctx`, in a fresh
    /// instance that nothing else shares. A caller that keeps its context
    /// passes an `Arc` of it; a borrowed one is copied into the call.
    pub async fn invoke(
        &self,
        plugin: &LoadedPlugin,
        ctx: impl Into<Arc<InvocationContext>>,
        call: Call,
    ) -> Result<Output, InvokeError> {
        let ctx = ctx.into();
        let span = tracing::info_span!(
            "invoke",
            tenant = %ctx.tenant,
            plugin = %ctx.plugin,
            export = call.export_name(),
            request_id = %ctx.request_id,
        );
        self.invoke_in_sandbox(plugin, ctx, call).instrument(span).await
    }

    async fn invoke_in_sandbox(
        &self,
        plugin: &LoadedPlugin,
        ctx: Arc<InvocationContext>,
        call: Call,
    ) -> Result<Output, InvokeError> {
        let fail = |kind| InvokeError {
            kind,
            usage: Usage::default(),
            logs: Vec::new(),
        };
        if call.world() != plugin.kind() {
            return Err(fail(InvokeErrorKind::WrongWorld {
                export: call.export_name(),
                kind: plugin.kind(),
            }));
        }
        let limits = ctx.limits.capped_by(&self.max_limits);
        let slot = self.slots.clone().acquire_owned().await.map_err(|_| {
            fail(InvokeErrorKind::Host {
                message: "the runtime is shutting down".into(),
            })
        })?;

        let started = Instant::now();
        let deadline = started + limits.timeout;
        let seat = self.cpu.seat(&ctx.tenant);
        let state = HostState::new(ctx, self.services.clone(), limits, deadline, seat);
        let mut store = Sandbox::new(Store::new(self.engine(), state), slot);
        store.limiter(|state| &mut state.memory);
        store.set_fuel(limits.fuel).map_err(|e| {
            fail(InvokeErrorKind::Host {
                message: e.to_string(),
            })
        })?;
        // Check the clock on every epoch tick: stop at the deadline,
        // otherwise yield so that other calls make progress, and park while
        // the call's tenant runs more than its share of the cores.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |mut store| {
            if Instant::now() >= deadline {
                store.data_mut().deadline_hit = true;
                return Ok(UpdateDeadline::Interrupt);
            }
            // tokio's own yield, unlike a bare wake, lets the worker poll its
            // timers and sockets first: a guest running wasm yields every
            // tick, and would otherwise hold them back for dozens of ticks.
            let parked = store.data().cpu.park_if_over_share(deadline);
            Ok(UpdateDeadline::YieldCustom(
                1,
                parked.unwrap_or_else(|| Box::pin(tokio::task::yield_now())),
            ))
        });

        // The epoch stops a guest running wasm; the timeout also stops one
        // waiting inside a host call (a slow HTTP response, a sleep). It
        // fires a little after the deadline so that a guest running wasm is
        // stopped by the epoch, which keeps its fuel count: dropping a
        // running call loses what it burnt since its last host call.
        let stop_waiting = deadline + TIMEOUT_GRACE;
        let result = tokio::time::timeout_at(stop_waiting.into(), plugin.pre.call(&mut store, call))
            .await
            .unwrap_or(Err(Ended::Deadline));

        let fuel_left = store.get_fuel().unwrap_or(0);
        let state = store.data_mut();
        let (logs, log_bytes_dropped) = state.log.finish();
        // Compiled code keeps its fuel count in a register between calls, so
        // a guest the epoch stops inside a loop leaves no count of what the
        // loop burnt: it is charged its whole budget, or an endless loop
        // stopped at its deadline would look free to the tenant's quota.
        let fuel = if state.deadline_hit {
            limits.fuel
        } else {
            limits.fuel.saturating_sub(fuel_left)
        };
        let usage = Usage {
            fuel,
            wall_time: started.elapsed(),
            peak_memory_bytes: state.memory.peak as u64,
            log_bytes_dropped,
            cpu_wait: state.cpu.parked(),
            ..state.usage.clone()
        };
        // A call that returned (with a result or with one of the contract's
        // errors) keeps its key-value writes, in one commit off the async
        // workers; one that trapped or hit a limit leaves no trace.
        let returned = match &result {
            Ok(value) => value.size_bytes() <= limits.output_bytes,
            Err(ended) => matches!(ended, Ended::Plugin(_)),
        };
        let changes = state.kv.take();
        if returned
            && !changes.is_empty()
            && let Err(message) = self
                .commit_kv(state.scope(), changes, limits.kv_total_bytes)
                .await
        {
            let kind = InvokeErrorKind::Host { message };
            return Err(InvokeError { kind, usage, logs });
        }
        let kind = match result {
            Ok(value) if value.size_bytes() > limits.output_bytes => InvokeErrorKind::OutputTooLarge {
                size: value.size_bytes(),
                limit: limits.output_bytes,
            },
            Ok(value) => return Ok(Output { value, usage, logs }),
            Err(ended) => classify(ended, state, &limits).redacted(state.log.redactor()),
        };
        tracing::debug!(error = %kind, "call failed");
        Err(InvokeError { kind, usage, logs })
    }
}

impl Runtime {
    /// Commit a call's key-value writes in one transaction on a blocking
    /// thread; why not, for the call's error.
    async fn commit_kv(
        &self,
        scope: Scope,
        changes: Vec<KvChange>,
        max_total_bytes: u64,
    ) -> Result<(), String> {
        let store = self.services.kv.clone();
        tokio::task::spawn_blocking(move || store.apply(&scope, changes, max_total_bytes))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("the call's key-value writes could not be saved: {e}"))
    }
}

/// Name what stopped the call. Limits are checked first: a guest that hits
/// one usually traps in some other way right after (an allocation failure
/// aborts, for example).
fn classify(ended: Ended, state: &HostState, limits: &Limits) -> InvokeErrorKind {
    let error = match ended {
        Ended::Plugin(error) => return InvokeErrorKind::Plugin(error),
        Ended::InvalidOutput(error) => {
            return InvokeErrorKind::InvalidOutput {
                message: error.to_string(),
            };
        }
        Ended::Deadline => {
            return InvokeErrorKind::Deadline {
                limit: limits.timeout,
            };
        }
        Ended::WrongWorld => {
            return InvokeErrorKind::Host {
                message: "the call does not match the plugin's world".into(),
            };
        }
        Ended::NotInContract(missing) => {
            return InvokeErrorKind::NotInContract {
                export: missing.export,
                contract: missing.contract,
            };
        }
        Ended::Wasm(error) => error,
    };
    let trap = error.downcast_ref::<Trap>().copied();
    if state.deadline_hit || trap == Some(Trap::Interrupt) {
        return InvokeErrorKind::Deadline {
            limit: limits.timeout,
        };
    }
    if state.host_call_limit_hit {
        return InvokeErrorKind::HostCallLimit {
            limit: limits.host_calls,
        };
    }
    match trap {
        Some(Trap::OutOfFuel) => return InvokeErrorKind::OutOfFuel { limit: limits.fuel },
        Some(Trap::StackOverflow) => return InvokeErrorKind::StackOverflow,
        _ => {}
    }
    if let Some(requested) = state.memory.refused {
        return InvokeErrorKind::Memory {
            requested,
            limit: limits.memory_bytes,
        };
    }
    if let Some(message) = panic_message(&state.log.stderr_tail()) {
        return InvokeErrorKind::Panic { message };
    }
    InvokeErrorKind::Trap {
        message: match trap {
            Some(trap) => trap.to_string(),
            None => format!("{error:#}"),
        },
    }
}

/// The message of a Rust panic from what the guest wrote to stderr:
/// `thread '…' panicked at src/lib.rs:5:9:\nthe message\nnote: …`.
fn panic_message(stderr: &str) -> Option<String> {
    let start = stderr.rfind("panicked at ")?;
    let rest = &stderr[start + "panicked at ".len()..];
    let (location, message) = rest.split_once('\n').unwrap_or((rest, ""));
    let message: Vec<&str> = message
        .lines()
        .take_while(|line| !line.starts_with("note: "))
        .collect();
    let location = location.trim_end_matches(':');
    Some(format!("{} (at {location})", message.join("\n").trim()))
}

#[cfg(test)]
mod tests {
    use super::panic_message;

    #[test]
    fn panic_messages_are_read_from_stderr() {
        let stderr = "\nthread '<unnamed>' panicked at src/lib.rs:12:5:\nboom: 42\nnote: run with `RUST_BACKTRACE=1`\n";
        assert_eq!(
            panic_message(stderr).as_deref(),
            Some("boom: 42 (at src/lib.rs:12:5)")
        );
        assert_eq!(panic_message("just output\n"), None);
    }
}
