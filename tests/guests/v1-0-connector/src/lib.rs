//! A connector written against the frozen contract 1.0 (`wit/v1.0.0`)
//! with `wit-bindgen` alone, as a plugin built before 1.1 was: it has no
//! `preview`. It keeps budgets in its key-value store: `set-budget` writes
//! one, stream `budgets` reads them back, so a test sees what `act` did.

wit_bindgen::generate!({
    path: "../../../wit/v1.0.0",
    world: "omnify:plugin/connector@1.0.0",
});

use exports::omnify::plugin::connector_api::{
    ActionSpec, Batch, Guest, ReadRequest, StreamSpec, SyncMode, WebhookEvent,
};
use omnify::plugin::kv;
use omnify::plugin::types::PluginError;

struct Budgets;

fn storage(error: kv::KvError) -> PluginError {
    PluginError::Internal(format!("kv: {error:?}"))
}

impl Guest for Budgets {
    fn spec() -> String {
        r#"{"type":"object"}"#.into()
    }

    fn check() -> Result<(), PluginError> {
        Ok(())
    }

    fn discover() -> Result<Vec<StreamSpec>, PluginError> {
        Ok(vec![StreamSpec {
            name: "budgets".into(),
            json_schema: r#"{"type":"object"}"#.into(),
            primary_key: vec!["campaign".into()],
            cursor_field: None,
            sync_modes: vec![SyncMode::FullRefresh],
        }])
    }

    fn read(request: ReadRequest) -> Result<Batch, PluginError> {
        if request.stream != "budgets" {
            return Err(PluginError::NotFound(format!("no stream `{}`", request.stream)));
        }
        let mut records = Vec::new();
        for campaign in kv::list_keys("budget/", None, 100).map_err(storage)? {
            let value = kv::get(&campaign).map_err(storage)?.unwrap_or_default();
            let amount = String::from_utf8_lossy(&value).into_owned();
            let id = campaign.trim_start_matches("budget/");
            records.push(format!(r#"{{"campaign":"{id}","daily_budget":{amount}}}"#));
        }
        Ok(Batch {
            records,
            state: None,
            has_more: false,
        })
    }

    fn actions() -> Vec<ActionSpec> {
        vec![ActionSpec {
            name: "set-budget".into(),
            description: "Set a campaign's daily budget".into(),
            input_schema: r#"{"type":"object","required":["campaign","daily_budget"],"properties":{"campaign":{"type":"string","pattern":"^[a-z0-9]+$"},"daily_budget":{"type":"number"}}}"#.into(),
        }]
    }

    fn act(name: String, input: String, _idempotency_key: String) -> Result<String, PluginError> {
        if name != "set-budget" {
            return Err(PluginError::NotFound(format!("no action `{name}`")));
        }
        // The schema keeps `campaign` to [a-z0-9]; read the two fields
        // without a JSON library to stay a minimal 1.0 guest.
        let field = |name: &str| {
            let start = input.find(&format!("\"{name}\""))? + name.len() + 2;
            let rest = input[start..].trim_start().strip_prefix(':')?.trim_start();
            let end = rest.find([',', '}']).unwrap_or(rest.len());
            Some(rest[..end].trim().trim_matches('"').to_string())
        };
        let (Some(campaign), Some(amount)) = (field("campaign"), field("daily_budget")) else {
            return Err(PluginError::InvalidInput(
                "`campaign` and `daily_budget` are required".into(),
            ));
        };
        kv::set(&format!("budget/{campaign}"), amount.as_bytes()).map_err(storage)?;
        Ok(format!(r#"{{"campaign":"{campaign}","daily_budget":{amount}}}"#))
    }

    fn verify_webhook(
        _headers: Vec<(String, String)>,
        _body: Vec<u8>,
    ) -> Result<Vec<WebhookEvent>, PluginError> {
        Err(PluginError::InvalidInput("no webhooks".into()))
    }
}

export!(Budgets);
