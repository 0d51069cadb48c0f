//! The host side of every import in the contract, one module per
//! interface, and the per-call state they share ([`HostState`]).
//!
//! Every capability reads the tenant and plugin from the call's
//! [`InvocationContext`], never from the guest, so a guest can only reach its
//! own tenant's data.

mod config;
mod data;
pub mod egress;
mod http;
mod kv;
mod log;
mod secrets;
mod stdio;

use crate::invoke::cpu_share::Seat;
use crate::invoke::limits::MemoryLimiter;
use crate::invoke::{InvocationContext, Limits, Usage};
use crate::plugin::contract;
use crate::storage::{KvStore, RecordStore, Scope};
use std::sync::Arc;
use std::time::Instant;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

pub(crate) use self::log::GuestLog;

/// Host services shared by all calls.
#[derive(Clone)]
pub struct Services {
    /// Backs the `kv` capability.
    pub kv: Arc<dyn KvStore>,
    /// Backs the `data` capability.
    pub records: Arc<dyn RecordStore>,
    /// Sends the `http` capability's requests through the egress guard.
    pub http: Arc<egress::Egress>,
}

/// The state of one store: one call of one plugin for one tenant.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) ctx: Arc<InvocationContext>,
    pub(crate) services: Services,
    pub(crate) limits: Limits,
    pub(crate) deadline: Instant,
    pub(crate) usage: Usage,
    pub(crate) log: GuestLog,
    pub(crate) memory: MemoryLimiter,
    /// Set when the epoch callback stopped the guest at its deadline.
    pub(crate) deadline_hit: bool,
    /// Set when the guest went past its host call limit.
    pub(crate) host_call_limit_hit: bool,
    /// The call's key-value writes, committed when it returns.
    pub(crate) kv: kv::KvChanges,
    /// The call's claim on the host's cores.
    pub(crate) cpu: Seat,
}

/// A trap raised by a host function when the guest exceeds a limit.
#[derive(Debug, thiserror::Error)]
#[error("the plugin exceeded its limit of {0} host calls")]
pub(crate) struct HostCallLimitExceeded(pub u64);

impl HostState {
    pub(crate) fn new(
        ctx: Arc<InvocationContext>,
        services: Services,
        limits: Limits,
        deadline: Instant,
        cpu: Seat,
    ) -> Self {
        let log = GuestLog::new(&ctx, limits.log_bytes);
        let mut wasi = WasiCtx::builder();
        // Nothing is granted through WASI: no directories, no environment, no
        // arguments, no sockets. Output goes to the call's log.
        wasi.stdout(stdio::GuestOutput::stdout(log.clone()))
            .stderr(stdio::GuestOutput::stderr(log.clone()))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        Self {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            ctx,
            services,
            limits,
            deadline,
            usage: Usage::default(),
            log,
            memory: MemoryLimiter::new(limits.memory_bytes),
            deadline_hit: false,
            host_call_limit_hit: false,
            kv: kv::KvChanges::default(),
            cpu,
        }
    }

    /// Where the call's key-value pairs live: its tenant and plugin.
    pub(crate) fn scope(&self) -> Scope {
        Scope {
            tenant: self.ctx.tenant.clone(),
            plugin: self.ctx.plugin.clone(),
        }
    }

    /// Count a call into the host; trap once the limit is passed, so a guest
    /// that floods the host is stopped rather than slowed.
    pub(crate) fn count_host_call(&mut self) -> wasmtime::Result<()> {
        self.usage.host_calls += 1;
        if self.usage.host_calls > self.limits.host_calls {
            self.host_call_limit_hit = true;
            return Err(HostCallLimitExceeded(self.limits.host_calls).into());
        }
        Ok(())
    }

    /// Count a refused capability call and say so in the plugin's log. The
    /// reason may quote the guest (a host, a secret name): it is cut and
    /// escaped first.
    pub(crate) fn deny(&mut self, what: &str) {
        self.usage.denied_calls += 1;
        let what = crate::invoke::call::bounded_message(what.to_string());
        tracing::warn!(
            tenant = %self.ctx.tenant,
            plugin = %self.ctx.plugin,
            request_id = %self.ctx.request_id,
            "capability refused: {}",
            self::log::escape_controls(&what)
        );
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// A linker with WASI and every capability of the contract.
pub(crate) fn linker(engine: &wasmtime::Engine) -> wasmtime::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    // The agent world's imports are a superset of the connector world's.
    contract::latest::agent::Agent::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |state| {
        state
    })?;
    Ok(linker)
}

impl contract::imports::types::Host for HostState {}
