//! Agent runs: one task of an agent plugin, run like a sync (on demand or
//! by a job) with the same retries, recorded with its insights and
//! proposals.

use super::engine::{Next, after_failure};
use super::limits::{Budget, CancelToken, RunError};
use super::{Run, RunStatus, new_run_id};
use crate::audit;
use crate::control::{ControlError, ControlPlane};
use crate::tenant::Principal;
use omnify_registry::PluginKind;
use omnify_runtime::invoke::{Call, Task};
use serde_json::Value;
use std::sync::Arc;

impl ControlPlane {
    /// Start a task of the agent `plugin` for `tenant_id`; the run waits
    /// for a slot in the host's run pool and goes on in the background.
    pub async fn start_agent_run(
        self: &Arc<Self>,
        principal: &Principal,
        tenant_id: &str,
        plugin: &str,
        task: Task,
    ) -> Result<Run, ControlError> {
        let run = self.prepare_agent_run(principal, tenant_id, plugin, task).await?;
        self.queue_run(&run);
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
        let enablement = self.enablement_of(tenant_id, plugin).await?;
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
            queued: true,
            cancelled_by: None,
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

    /// Call the agent's `run` with retries; its output on success. A
    /// cancellation stops it between attempts; one that arrives during the
    /// call discards its output (nothing it proposed is recorded).
    pub(super) async fn drive_agent_run(
        &self,
        principal: &Principal,
        run: Run,
        cancel: &CancelToken,
    ) -> Result<Option<Value>, RunError> {
        let failed = |e: serde_json::Error| RunError::Failed(e.to_string());
        let mut task = run
            .task
            .clone()
            .ok_or_else(|| RunError::Failed("the run has no task".into()))?;
        let limits = self.run_limits(&run.tenant, &run.plugin).await?;
        let budget = Budget::new(limits, cancel.clone(), (0, 0, 0));
        // Agents keep their proposals within the tenant's guardrails.
        let autonomy = self.autonomy(&Principal::admin(), &run.tenant).await?;
        if task.input.is_null() {
            task.input = Value::Object(Default::default());
        }
        if let Some(input) = task.input.as_object_mut() {
            let guardrails = serde_json::to_value(&autonomy.guardrails).map_err(failed)?;
            input.insert("guardrails".into(), guardrails);
        }
        let config = self.sync_config();
        let mut attempt = 0;
        loop {
            attempt += 1;
            budget.check()?;
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
                    if let Some(stop) = cancel.stopped() {
                        return Err(stop);
                    }
                    let output = serde_json::to_value(&output.value).map_err(failed)?;
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
                                let refused = serde_json::to_value(refused).map_err(failed)?;
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
                Next::RetryAfter(wait) if attempt < config.max_attempts => budget.sleep(wait).await?,
                Next::RetryAfter(_) => {
                    return Err(RunError::Failed(format!(
                        "gave up after {attempt} attempts; last error: {error}"
                    )));
                }
                Next::Fail(message) => return Err(RunError::Failed(message)),
            }
        }
    }
}
