//! `omnify serve --demo`: the platform sandboxes on loopback, and a `demo`
//! tenant with every first-party connector enabled against them, signed in
//! to its sandboxed platform through the host's OAuth flow and synced, and
//! the agents run on that data, so that a newcomer sees data flowing from
//! every platform and what the agents make of it.

use anyhow::Context;
use omnify_control::control::{ControlError, ControlPlane};
use omnify_control::enablement::EnableRequest;
use omnify_control::oauth::{ConnectRequest, OAuthClientRequest};
use omnify_control::scheduler::jobs::{NewJob, Schedule};
use omnify_control::sync::{Run, RunStatus, SyncRequest};
use omnify_control::tenant::{NewTenant, Principal, Role};
use omnify_runtime::invoke::Task;
use omnify_sandbox::server::PlatformServer;
use omnify_sandbox::{Sandbox, SandboxConfig};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The demo tenant.
pub const DEMO_TENANT: &str = "demo";

/// The label of the demo's API key; a new start revokes the previous one.
const KEY_LABEL: &str = "demo frontend";

/// How often the demo syncs each connector.
const SYNC_SCHEDULE: &str = "*/15 * * * *";

/// The crate directories of the first-party plugins: `plugins/*` of the
/// current directory, or of the source tree this binary was built from.
pub fn first_party_plugins() -> anyhow::Result<Vec<PathBuf>> {
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins");
    let root = [PathBuf::from("plugins"), built_from]
        .into_iter()
        .find(|dir| dir.is_dir())
        .context("--demo needs the first-party plugins: run it from the repository root")?;
    let mut plugins: Vec<PathBuf> = std::fs::read_dir(&root)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|dir| dir.join("plugin.toml").is_file())
        .collect();
    plugins.sort();
    Ok(plugins)
}

/// The first-party agents the demo runs, with the task each runs.
const DEMO_AGENTS: [(&str, &str); 3] = [
    ("analytics", "daily-review"),
    ("creative", "creative-review"),
    ("client-learning", "learn-preferences"),
];

/// How often the demo runs each agent.
const AGENT_SCHEDULE: &str = "5 * * * *";

/// Start the sandboxes and set up the demo tenant: connectors enabled and
/// synced, agents enabled and run once, all of them scheduled. Returns the
/// sandboxes (they serve as long as they are kept) and a new API key of the
/// tenant.
pub async fn prepare(control: &Arc<ControlPlane>) -> anyhow::Result<(Sandbox, String)> {
    let sandbox = Sandbox::start(SandboxConfig::default())
        .await
        .context("cannot start the platform sandboxes")?;
    let admin = Principal::admin();
    let tenant = NewTenant {
        id: DEMO_TENANT.into(),
        name: "Demo store".into(),
        quotas: Default::default(),
    };
    match control.create_tenant(&admin, tenant).await {
        Ok(_) | Err(ControlError::Conflict(_)) => {}
        Err(error) => return Err(error).context("cannot create the demo tenant"),
    }
    let jobs = control.jobs(&admin, DEMO_TENANT).await?;
    let scheduled = |plugin: &str| jobs.iter().any(|job| job.plugin == plugin);
    let mut syncs = Vec::new();
    for (plugin, body) in sandbox.enablements() {
        // The sandboxes listen on new ports at every start: re-point the
        // connectors at them.
        let request: EnableRequest = serde_json::from_value(body)?;
        control
            .enable(&admin, DEMO_TENANT, plugin, request)
            .await
            .with_context(|| format!("cannot enable {plugin} for the demo tenant"))?;
        if let Some(server) = sandbox.server_of(plugin) {
            sign_in(control, plugin, server)
                .await
                .with_context(|| format!("cannot sign {plugin} in to its sandbox"))?;
        }
        if !scheduled(plugin) {
            schedule(control, plugin, SYNC_SCHEDULE, None).await?;
        }
        syncs.push(
            control
                .start_sync(&admin, DEMO_TENANT, plugin, SyncRequest::default())
                .await?,
        );
    }
    print_runs("synced", control, syncs).await?;
    let published = control.list_plugins().await?;
    let mut agent_runs = Vec::new();
    for (agent, kind) in DEMO_AGENTS {
        if !published.iter().any(|p| p.name == agent) {
            continue;
        }
        control
            .enable(&admin, DEMO_TENANT, agent, EnableRequest::default())
            .await
            .with_context(|| format!("cannot enable {agent} for the demo tenant"))?;
        let task = Task {
            kind: kind.into(),
            input: serde_json::json!({}),
        };
        if !scheduled(agent) {
            schedule(control, agent, AGENT_SCHEDULE, Some(task.clone())).await?;
        }
        agent_runs.push(control.start_agent_run(&admin, DEMO_TENANT, agent, task).await?);
    }
    print_runs("ran", control, agent_runs).await?;
    for key in control.list_keys(&admin, DEMO_TENANT).await? {
        if key.label == KEY_LABEL && key.revoked_at.is_none() {
            control.revoke_key(&admin, DEMO_TENANT, &key.id).await?;
        }
    }
    let (_, key) = control
        .create_key(&admin, DEMO_TENANT, Role::Operator, KEY_LABEL.into())
        .await?;
    Ok((sandbox, key))
}

/// Sign `plugin` in to its sandboxed platform as a person would: the host's
/// client of the provider pointed at the sandbox, the sign-in started, the
/// platform's consent followed, and the callback finished. The access token
/// the enablement was given is replaced by the one the platform issued.
async fn sign_in(control: &ControlPlane, plugin: &str, server: &PlatformServer) -> anyhow::Result<()> {
    let admin = Principal::admin();
    let issuer = server.oauth();
    let client = OAuthClientRequest {
        client_id: issuer.client_id().into(),
        client_secret: issuer.client_secret().into(),
        authorize_url: Some(format!("{}{}", server.url, issuer.authorize_path())),
        token_url: Some(format!("{}{}", server.url, issuer.token_path())),
    };
    control
        .set_oauth_client(&admin, None, issuer.dialect().provider(), client)
        .await?;
    let request = ConnectRequest {
        shop: (plugin == "shopify").then(|| omnify_sandbox::shopify::SHOP_DOMAIN.to_string()),
    };
    let started = control.connect(&admin, DEMO_TENANT, plugin, request).await?;
    // The browser's part: the sandbox consents and redirects back here.
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let answer = browser.get(&started.authorization_url).send().await?;
    let callback = answer
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|location| location.to_str().ok())
        .and_then(|location| url::Url::parse(location).ok())
        .context("the sandbox did not send the browser back")?;
    let params = callback.query_pairs().into_owned().collect();
    let connection = control.finish_connect(params).await?;
    let account = connection
        .account
        .map(|a| format!(", account {a}"))
        .unwrap_or_default();
    let provider = issuer.dialect().provider();
    println!("signed {plugin} in to {provider} through OAuth{account}");
    Ok(())
}

async fn schedule(
    control: &ControlPlane,
    plugin: &str,
    expression: &str,
    task: Option<Task>,
) -> Result<(), ControlError> {
    let job = NewJob {
        plugin: plugin.into(),
        schedule: Schedule::Cron {
            expression: expression.into(),
            timezone: "UTC".into(),
        },
        sync: SyncRequest::default(),
        task,
    };
    control.create_job(&Principal::admin(), DEMO_TENANT, job).await?;
    Ok(())
}

/// Wait for `runs` to end and print one line each.
async fn print_runs(verb: &str, control: &ControlPlane, runs: Vec<Run>) -> anyhow::Result<()> {
    for started in runs {
        let run = loop {
            let run = control.run(&Principal::admin(), DEMO_TENANT, &started.id).await?;
            if run.status != RunStatus::Running {
                break run;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let records: u64 = run.streams.iter().map(|s| s.records_written).sum();
        match (&run.status, &run.last_error) {
            (RunStatus::Succeeded, _) if run.task.is_some() => {
                let count = |what: &str| {
                    run.output
                        .as_ref()
                        .and_then(|o| o[what].as_array())
                        .map_or(0, Vec::len)
                };
                println!(
                    "{verb} {}: {} insights, {} proposals",
                    run.plugin,
                    count("insights"),
                    count("proposals")
                );
            }
            (RunStatus::Succeeded, _) => println!("{verb} {}: {records} records", run.plugin),
            (_, error) => println!(
                "{} failed: {}",
                run.plugin,
                error.as_deref().unwrap_or("unknown error")
            ),
        }
    }
    Ok(())
}

/// What to try once the demo runs.
pub fn instructions(api_url: &str, key: &str) -> String {
    format!(
        "\nDemo tenant `{DEMO_TENANT}`: every connector enabled against the sandboxes and
signed in to its platform through OAuth, synced now and every 15 minutes; the
agents run hourly.
Its API key (operator):

  export OMNIFY_KEY={key}

Open the console at {api_url}/console and sign in with this key to decide
the agents' proposals; or call the API:

  # 1. the sync runs and their record counts
  curl -s -H \"authorization: Bearer $OMNIFY_KEY\" {api_url}/v1/tenants/{DEMO_TENANT}/runs
  # 2. daily campaign metrics from Meta (also google-ads, tiktok-ads, linkedin-ads)
  curl -s -H \"authorization: Bearer $OMNIFY_KEY\" '{api_url}/v1/tenants/{DEMO_TENANT}/records/meta-ads/campaign_insights?limit=5'
  # 3. Shopify orders (also stripe/charges)
  curl -s -H \"authorization: Bearer $OMNIFY_KEY\" '{api_url}/v1/tenants/{DEMO_TENANT}/records/shopify/orders?limit=5'
  # what the agents propose, waiting for a person
  curl -s -H \"authorization: Bearer $OMNIFY_KEY\" '{api_url}/v1/tenants/{DEMO_TENANT}/proposals?status=pending'
"
    )
}
