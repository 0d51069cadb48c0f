//! Calling one function of a component's API interface.
//!
//! The generated bindings look up and type-check every function of the
//! interface each time a component is instantiated, though a call uses one:
//! for a connector that is eight lookups and eight type checks per call, a
//! tenth of a trivial call's time. So the functions are found once, when
//! the plugin loads, and a call type-checks only the one it makes, the
//! cost raw wasmtime pays for a typed call.

use super::NotInContract;
use crate::capability::HostState;
use wasmtime::Store;
use wasmtime::component::{ComponentExportIndex, ComponentNamedList, Instance, InstancePre, Lift, Lower};

/// The API interface a world exports: its name and its functions.
pub(super) struct ApiInterface {
    /// The interface's full name, `omnify:plugin/connector-api@1.1.0`.
    pub name: &'static str,
    /// The contract version it belongs to, `major.minor`.
    pub contract: &'static str,
    /// The names of its functions.
    pub functions: &'static [&'static str],
}

/// Where the functions of a component's API interface are.
pub(super) struct ApiExports {
    interface: &'static ApiInterface,
    functions: Vec<(&'static str, ComponentExportIndex)>,
}

impl ApiExports {
    /// Find every function of `interface` in `pre`'s component; a component
    /// that lacks one does not load.
    pub(super) fn find(
        pre: &InstancePre<HostState>,
        interface: &'static ApiInterface,
    ) -> wasmtime::Result<Self> {
        let component = pre.component();
        let api = component
            .get_export_index(None, interface.name)
            .ok_or_else(|| wasmtime::format_err!("the component does not export `{}`", interface.name))?;
        let functions = interface
            .functions
            .iter()
            .map(|&name| {
                component
                    .get_export_index(Some(&api), name)
                    .map(|index| (name, index))
                    .ok_or_else(|| wasmtime::format_err!("`{}` has no function `{name}`", interface.name))
            })
            .collect::<wasmtime::Result<_>>()?;
        Ok(Self { interface, functions })
    }

    /// Why `export` cannot be called, when the component's contract
    /// version does not have it.
    pub(super) fn lacks(&self, export: &'static str) -> Option<NotInContract> {
        (!self.interface.functions.contains(&export)).then_some(NotInContract {
            export,
            contract: self.interface.contract,
        })
    }
}

/// A fresh instance, ready for one call of its API.
pub(super) struct Api<'a> {
    pub(super) exports: &'a ApiExports,
    pub(super) instance: Instance,
    pub(super) store: &'a mut Store<HostState>,
}

impl Api<'_> {
    /// Call `name` with `params`; its result.
    pub(super) async fn call<P, R>(&mut self, name: &str, params: P) -> wasmtime::Result<R>
    where
        P: ComponentNamedList + Lower + Send + Sync,
        R: Lift + Send + Sync + 'static,
        (R,): ComponentNamedList + Lift,
    {
        let index = self
            .exports
            .functions
            .iter()
            .find_map(|(function, index)| (*function == name).then_some(index))
            .ok_or_else(|| wasmtime::format_err!("the API has no function `{name}`"))?;
        let func = self.instance.get_typed_func::<P, (R,)>(&mut *self.store, index)?;
        let (result,) = func.call_async(&mut *self.store, params).await?;
        Ok(result)
    }
}
