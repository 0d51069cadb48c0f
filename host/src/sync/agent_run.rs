//! Agent runs: one task of an agent plugin, run like a sync (on demand or
//! by a job) with the same retries, recorded with its insights and
//! proposals.

use super::engine::{Next, after_failure};
use super::{Run, RunStatus, new_run_id};
use crate::audit;
use crate::control::{ControlError, ControlPlane};
use crate::enablement::tenant_and_enablement;
use crate::invoke::{Call, Task};
use crate::store::Storage;
use crate::tenant::Principal;
use omnify_registry::PluginKind;
use serde_json::Value;
use std::sync::Arc;

impl ControlPlane {
    /// Start a task of the agent `plugin` for `tenant_id`; the run goes on
    /// in the background.
    pub async fn start_agent_run(
        self: &Arc<Self>,
        principal: &Principal,
        tenant_id: &str,
        plugin: &str,
        task: Task,
    ) -> Result<Run, ControlError> {
        let run = self.prepare_agent_run(principal, tenant_id, plugin, task).await?;
        self.spawn_execution(principal, &run);
        Ok(run)
    }

    /// Record a new agent run; [`ControlPlane::execute_run`] then drives it.
    pub(crate) async fn prepare_agent_run(
        &self,
        principal: &Principal,
        tenant_id: &str,
        plugin: &str,
        task: Task,
    ) -> Result<Run, ControlError> {
        principal.require_tenant(tenant_id)?;
        let (_, enablement) = tenant_and_enablement(&*self.store.read()?, tenant_id, plugin)?;
        if enablement.kind != PluginKind::Agent {
            return Err(ControlError::Invalid(format!(
                "`{plugin}` is a {}, not an agent",
                enablement.kind
            )));
        }
        let run = Run {
            id: new_run_id()?,
            tenant: tenant_id.to_string(),
            plugin: plugin.to_string(),
            version: enablement.version,
            status: RunStatus::Running,
            requested_by: principal.actor(),
            started_at: audit::now(),
            ended_at: None,
            batch_size: 0,
            streams: Vec::new(),
            fuel: 0,
            attempts: 0,
            last_error: None,
            task: Some(task),
            output: None,
        };
        let details = serde_json::json!({ "run": run.id, "task": run.task.as_ref().map(|t| &t.kind) });
        self.record_new_run(&run, "agent.start", details).await?;
        Ok(run)
    }

    /// Call the agent's `run` with retries; its output on success.
    pub(super) async fn drive_agent_run(
        &self,
        principal: &Principal,
        run: Run,
    ) -> Result<Option<Value>, String> {
        let mut task = run.task.clone().ok_or("the run has no task")?;
        // Agents keep their proposals within the tenant's guardrails.
        let autonomy = self
            .autonomy(&Principal::admin(), &run.tenant)
            .await
            .map_err(|e| e.to_string())?;
        if task.input.is_null() {
            task.input = Value::Object(Default::default());
        }
        if let Some(input) = task.input.as_object_mut() {
            let guardrails = serde_json::to_value(&autonomy.guardrails).map_err(|e| e.to_string())?;
            input.insert("guardrails".into(), guardrails);
        }
        let config = self.sync_config();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self
                .invoke_enabled(
                    principal,
                    &run.tenant,
                    &run.plugin,
                    Call::Run(task.clone()),
                    &run.id,
                )
                .await;
            let fuel = match &result {
                Ok(output) => output.usage.fuel,
                Err(ControlError::Invoke(failure)) => failure.usage.fuel,
                Err(_) => 0,
            };
            let error = result.as_ref().err().map(ToString::to_string);
            self.count_attempt(&run, fuel, error).await;
            let error = match result {
                Ok(output) => {
                    let output = serde_json::to_value(&output.value).map_err(|e| e.to_string())?;
                    let mut ended = Run {
                        output: Some(output["result"].clone()),
                        ..run
                    };
                    // Proposals are recorded (and executed, when the policy
                    // allows) before the run reads as succeeded; what the
                    // host refused is kept on the run with its reasons.
                    match self.receive_agent_output(&ended).await {
                        Ok(refused) if !refused.is_empty() => {
                            if let Some(Value::Object(output)) = &mut ended.output {
                                let refused = serde_json::to_value(refused).map_err(|e| e.to_string())?;
                                output.insert("refused".into(), refused);
                            }
                        }
                        Ok(_) => {}
                        Err(error) => {
                            tracing::error!(%error, run = ended.id, "cannot record an agent run's proposals");
                        }
                    }
                    return Ok(ended.output);
                }
                Err(error) => error,
            };
            match after_failure(&config, &error, attempt) {
                Next::RetryAfter(wait) if attempt < config.max_attempts => tokio::time::sleep(wait).await,
                Next::RetryAfter(_) => {
                    return Err(format!("gave up after {attempt} attempts; last error: {error}"));
                }
                Next::Fail(message) => return Err(message),
            }
        }
    }
}
