//! Writing a platform connector: implement [`Connector`] and export it with
//! [`export_connector!`](crate::export_connector).

use crate::Error;
use crate::bindings::connector_world::exports::omnify::plugin::connector_api as wit;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// How a stream is synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncMode {
    /// Everything, on every sync.
    #[default]
    FullRefresh,
    /// What changed since the saved state.
    Incremental,
}

/// A stream the connector can read.
#[derive(Debug, Clone, PartialEq)]
pub struct Stream {
    /// Unique within the connector, for example `campaigns`.
    pub name: String,
    /// JSON Schema of one record.
    pub json_schema: Value,
    /// The fields that identify a record.
    pub primary_key: Vec<String>,
    /// The field incremental syncs advance on.
    pub cursor_field: Option<String>,
    /// The modes the stream supports.
    pub sync_modes: Vec<SyncMode>,
}

impl Stream {
    /// A full-refresh stream keyed by `primary_key`.
    pub fn new(name: &str, primary_key: &[&str], json_schema: Value) -> Self {
        Self {
            name: name.to_string(),
            json_schema,
            primary_key: primary_key.iter().map(|k| k.to_string()).collect(),
            cursor_field: None,
            sync_modes: vec![SyncMode::FullRefresh],
        }
    }

    /// Also allow incremental syncs that advance on `cursor_field`.
    pub fn incremental(mut self, cursor_field: &str) -> Self {
        self.cursor_field = Some(cursor_field.to_string());
        if !self.sync_modes.contains(&SyncMode::Incremental) {
            self.sync_modes.push(SyncMode::Incremental);
        }
        self
    }
}

/// A request for the next batch of a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadRequest {
    /// The stream's name.
    pub stream: String,
    /// The sync mode.
    pub mode: SyncMode,
    /// The state returned with the previous batch.
    pub state: Option<Value>,
    /// The most records the host wants.
    pub limit: u32,
}

impl ReadRequest {
    /// The limit the host asks for when none is configured.
    pub const DEFAULT_LIMIT: u32 = 500;

    /// The first read of a full-refresh sync of `stream`: no state and the
    /// host's default limit. Use it (and the `with_` methods) to build the
    /// input of [`Connector::read`] in tests.
    pub fn new(stream: &str) -> Self {
        Self {
            stream: stream.to_string(),
            mode: SyncMode::FullRefresh,
            state: None,
            limit: Self::DEFAULT_LIMIT,
        }
    }

    /// Read in `mode`.
    pub fn with_mode(mut self, mode: SyncMode) -> Self {
        self.mode = mode;
        self
    }

    /// Resume after `state`, the state of a previous batch.
    pub fn with_state(mut self, state: Value) -> Self {
        self.state = Some(state);
        self
    }

    /// Ask for at most `limit` records.
    pub fn with_limit(mut self, limit: u32) -> Self {
        self.limit = limit;
        self
    }

    /// The state deserialized into `T`, or `None` on a fresh sync.
    pub fn state_as<T: DeserializeOwned>(&self) -> Result<Option<T>, Error> {
        match &self.state {
            None | Some(Value::Null) => Ok(None),
            Some(state) => serde_json::from_value(state.clone())
                .map(Some)
                .map_err(|e| Error::InvalidInput(format!("stream state: {e}"))),
        }
    }
}

/// A batch of records and the state to resume after it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Batch {
    /// The records, each a JSON object.
    pub records: Vec<Value>,
    /// The state for the next `read`.
    pub state: Option<Value>,
    /// Whether more records follow.
    pub has_more: bool,
}

impl Batch {
    /// A batch from any serializable records.
    pub fn from_records<T: Serialize>(records: &[T]) -> Result<Self, Error> {
        let records = records
            .iter()
            .map(serde_json::to_value)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            records,
            ..Self::default()
        })
    }

    /// Set the state to resume after this batch.
    pub fn with_state<T: Serialize>(mut self, state: &T) -> Result<Self, Error> {
        self.state = Some(serde_json::to_value(state)?);
        Ok(self)
    }

    /// Set whether more records follow.
    pub fn with_more(mut self, has_more: bool) -> Self {
        self.has_more = has_more;
        self
    }
}

/// A write the connector offers.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionSpec {
    /// For example `pause-campaign`.
    pub name: String,
    /// What it does, for people.
    pub description: String,
    /// JSON Schema of the input.
    pub input_schema: Value,
}

/// What an action would change, read from the platform without changing
/// anything: the host decides from it what may run unattended.
#[derive(Debug, Clone, PartialEq)]
pub struct Preview {
    /// The kind of object changed, for example `campaign`.
    pub target_kind: String,
    /// The platform's id of that object.
    pub target_id: String,
    /// What changes, for example `daily-budget`.
    pub metric: String,
    /// Its value now, as the platform reports it.
    pub current: f64,
    /// Its value after the action.
    pub after: f64,
    /// An ISO 4217 currency code for money, otherwise a unit such as
    /// `status` (1 for on, 0 for off).
    pub unit: String,
}

impl Preview {
    /// A preview of `metric` on the `target_kind` `target_id`, going from
    /// `current` to `after` in `unit`.
    pub fn new(
        target_kind: &str,
        target_id: &str,
        metric: &str,
        (current, after): (f64, f64),
        unit: &str,
    ) -> Self {
        Self {
            target_kind: target_kind.to_string(),
            target_id: target_id.to_string(),
            metric: metric.to_string(),
            current,
            after,
            unit: unit.to_string(),
        }
    }
}

/// An event decoded from a verified webhook delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookEvent {
    /// The platform's event type.
    pub kind: String,
    /// The payload as sent.
    pub payload: Value,
}

/// A platform connector. Each method runs in a fresh instance, so there is no
/// `self`: keep what must survive in the stream state or in [`crate::kv`].
pub trait Connector {
    /// JSON Schema of the configuration.
    fn spec() -> Value;

    /// Check that configuration and secrets work.
    fn check() -> Result<(), Error>;

    /// The streams available.
    fn discover() -> Result<Vec<Stream>, Error>;

    /// The next batch of a stream.
    fn read(request: ReadRequest) -> Result<Batch, Error>;

    /// The writes this connector offers; none by default.
    fn actions() -> Vec<ActionSpec> {
        Vec::new()
    }

    /// Perform an action. `idempotency_key` is the same on every retry of the
    /// same action.
    fn act(name: &str, input: Value, idempotency_key: &str) -> Result<Value, Error> {
        let _ = (input, idempotency_key);
        Err(Error::NotFound(format!("this connector has no action `{name}`")))
    }

    /// Preview an action without performing it: read its target's current
    /// value from the platform and compute the value after. By default no
    /// action can be previewed, and the host never runs one unattended.
    fn preview(name: &str, input: Value) -> Result<Preview, Error> {
        let _ = input;
        Err(Error::NotFound(format!("action `{name}` cannot be previewed")))
    }

    /// Verify a webhook delivery and decode its events.
    fn verify_webhook(headers: &[(String, String)], body: &[u8]) -> Result<Vec<WebhookEvent>, Error> {
        let _ = (headers, body);
        Err(Error::InvalidInput(
            "this connector does not accept webhooks".into(),
        ))
    }
}

/// Glue between [`Connector`] and the generated bindings, used by
/// [`export_connector!`](crate::export_connector).
#[doc(hidden)]
pub mod glue {
    use super::*;
    use crate::bindings::imports::types::PluginError;

    fn json(value: &Value) -> String {
        value.to_string()
    }

    fn mode_from(mode: wit::SyncMode) -> SyncMode {
        match mode {
            wit::SyncMode::FullRefresh => SyncMode::FullRefresh,
            wit::SyncMode::Incremental => SyncMode::Incremental,
        }
    }

    fn mode_to(mode: SyncMode) -> wit::SyncMode {
        match mode {
            SyncMode::FullRefresh => wit::SyncMode::FullRefresh,
            SyncMode::Incremental => wit::SyncMode::Incremental,
        }
    }

    fn parse(what: &str, text: &str) -> Result<Value, PluginError> {
        serde_json::from_str(text).map_err(|e| PluginError::InvalidInput(format!("{what} is not JSON: {e}")))
    }

    pub fn spec<C: Connector>() -> String {
        json(&C::spec())
    }

    pub fn check<C: Connector>() -> Result<(), PluginError> {
        Ok(C::check()?)
    }

    pub fn discover<C: Connector>() -> Result<Vec<wit::StreamSpec>, PluginError> {
        Ok(C::discover()?
            .into_iter()
            .map(|s| wit::StreamSpec {
                name: s.name,
                json_schema: json(&s.json_schema),
                primary_key: s.primary_key,
                cursor_field: s.cursor_field,
                sync_modes: s.sync_modes.into_iter().map(mode_to).collect(),
            })
            .collect())
    }

    pub fn read<C: Connector>(request: wit::ReadRequest) -> Result<wit::Batch, PluginError> {
        let state = request
            .state
            .as_deref()
            .map(|s| parse("stream state", s))
            .transpose()?;
        let batch = C::read(ReadRequest {
            stream: request.stream,
            mode: mode_from(request.mode),
            state,
            limit: request.limit,
        })?;
        Ok(wit::Batch {
            records: batch.records.iter().map(json).collect(),
            state: batch.state.as_ref().map(json),
            has_more: batch.has_more,
        })
    }

    pub fn actions<C: Connector>() -> Vec<wit::ActionSpec> {
        C::actions()
            .into_iter()
            .map(|a| wit::ActionSpec {
                name: a.name,
                description: a.description,
                input_schema: json(&a.input_schema),
            })
            .collect()
    }

    pub fn act<C: Connector>(
        name: String,
        input: String,
        idempotency_key: String,
    ) -> Result<String, PluginError> {
        let input = parse("action input", &input)?;
        Ok(json(&C::act(&name, input, &idempotency_key)?))
    }

    pub fn preview<C: Connector>(name: String, input: String) -> Result<wit::ActionPreview, PluginError> {
        let input = parse("action input", &input)?;
        let preview = C::preview(&name, input)?;
        Ok(wit::ActionPreview {
            target_kind: preview.target_kind,
            target_id: preview.target_id,
            metric: preview.metric,
            current: preview.current,
            after: preview.after,
            unit: preview.unit,
        })
    }

    pub fn verify_webhook<C: Connector>(
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<Vec<wit::WebhookEvent>, PluginError> {
        Ok(C::verify_webhook(&headers, &body)?
            .into_iter()
            .map(|e| wit::WebhookEvent {
                kind: e.kind,
                payload: json(&e.payload),
            })
            .collect())
    }
}

/// Export a type implementing [`Connector`] as this component's connector.
///
/// ```no_run
/// use omnify_sdk::connector::{Batch, Connector, ReadRequest, Stream};
/// use omnify_sdk::{Error, json};
///
/// struct Hello;
///
/// impl Connector for Hello {
///     fn spec() -> serde_json::Value {
///         json!({"type": "object"})
///     }
///     fn check() -> Result<(), Error> {
///         Ok(())
///     }
///     fn discover() -> Result<Vec<Stream>, Error> {
///         Ok(vec![Stream::new("greetings", &["id"], json!({"type": "object"}))])
///     }
///     fn read(_request: ReadRequest) -> Result<Batch, Error> {
///         Batch::from_records(&[json!({"id": 1, "text": "hello"})])
///     }
/// }
///
/// omnify_sdk::export_connector!(Hello);
/// ```
#[macro_export]
macro_rules! export_connector {
    ($connector:ty) => {
        // Exports exist only in the component. A native build of the same
        // crate (for its unit tests) exports nothing, but refers to the
        // implementation so that it does not read as dead code.
        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            use $crate::connector::Connector as __Connector;
            let _ = (
                <$connector as __Connector>::spec,
                <$connector as __Connector>::check,
                <$connector as __Connector>::discover,
                <$connector as __Connector>::read,
                <$connector as __Connector>::actions,
                <$connector as __Connector>::act,
                <$connector as __Connector>::preview,
                <$connector as __Connector>::verify_webhook,
            );
        };
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            use $crate::bindings::connector_world::exports::omnify::plugin::connector_api as __wit;
            use $crate::bindings::imports::types::PluginError as __PluginError;
            use $crate::connector::glue as __glue;

            struct __OmnifyConnector;

            impl __wit::Guest for __OmnifyConnector {
                fn spec() -> ::std::string::String {
                    __glue::spec::<$connector>()
                }
                fn check() -> ::std::result::Result<(), __PluginError> {
                    __glue::check::<$connector>()
                }
                fn discover() -> ::std::result::Result<::std::vec::Vec<__wit::StreamSpec>, __PluginError> {
                    __glue::discover::<$connector>()
                }
                fn read(request: __wit::ReadRequest) -> ::std::result::Result<__wit::Batch, __PluginError> {
                    __glue::read::<$connector>(request)
                }
                fn actions() -> ::std::vec::Vec<__wit::ActionSpec> {
                    __glue::actions::<$connector>()
                }
                fn act(
                    name: ::std::string::String,
                    input: ::std::string::String,
                    idempotency_key: ::std::string::String,
                ) -> ::std::result::Result<::std::string::String, __PluginError> {
                    __glue::act::<$connector>(name, input, idempotency_key)
                }
                fn preview(
                    name: ::std::string::String,
                    input: ::std::string::String,
                ) -> ::std::result::Result<__wit::ActionPreview, __PluginError> {
                    __glue::preview::<$connector>(name, input)
                }
                fn verify_webhook(
                    headers: ::std::vec::Vec<(::std::string::String, ::std::string::String)>,
                    body: ::std::vec::Vec<u8>,
                ) -> ::std::result::Result<::std::vec::Vec<__wit::WebhookEvent>, __PluginError> {
                    __glue::verify_webhook::<$connector>(headers, body)
                }
            }

            $crate::bindings::connector_world::__export_connector_world!(__OmnifyConnector with_types_in $crate::bindings::connector_world);
        };
    };
}
