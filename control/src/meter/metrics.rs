//! Prometheus metrics of plugin calls, per tenant and plugin.

use super::CallRecord;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginLabels {
    tenant: String,
    plugin: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    tenant: String,
    plugin: String,
    kind: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    tenant: String,
    connector: String,
    reason: String,
}

fn latency_histogram() -> Histogram {
    // 100 µs to about 100 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 21))
}

/// The host's metrics registry.
pub struct Metrics {
    registry: Registry,
    invocations: Family<PluginLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
    fuel: Family<PluginLabels, Counter>,
    latency: Family<PluginLabels, Histogram, fn() -> Histogram>,
    webhook_refusals: Family<RefusalLabels, Counter>,
}

impl Metrics {
    pub(super) fn new() -> Self {
        let mut registry = Registry::with_prefix("omnify");
        let invocations = Family::<PluginLabels, Counter>::default();
        let errors = Family::<ErrorLabels, Counter>::default();
        let fuel = Family::<PluginLabels, Counter>::default();
        let latency =
            Family::<PluginLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
        registry.register("invocations", "Plugin calls", invocations.clone());
        registry.register(
            "invocation_errors",
            "Failed plugin calls by error kind",
            errors.clone(),
        );
        registry.register("fuel", "Fuel consumed by plugin calls", fuel.clone());
        registry.register(
            "invocation_duration_seconds",
            "Wall time of plugin calls",
            latency.clone(),
        );
        let webhook_refusals = Family::<RefusalLabels, Counter>::default();
        registry.register(
            "webhook_refusals",
            "Webhook deliveries refused, by reason",
            webhook_refusals.clone(),
        );
        Self {
            registry,
            invocations,
            errors,
            fuel,
            latency,
            webhook_refusals,
        }
    }

    /// Count a webhook delivery to `connector` of `tenant` refused for
    /// `reason`.
    pub fn webhook_refused(&self, tenant: &str, connector: &str, reason: &str) {
        self.webhook_refusals
            .get_or_create(&RefusalLabels {
                tenant: tenant.to_string(),
                connector: connector.to_string(),
                reason: reason.to_string(),
            })
            .inc();
    }

    pub(super) fn observe(&self, record: &CallRecord) {
        let labels = PluginLabels {
            tenant: record.tenant.clone(),
            plugin: record.plugin.clone(),
        };
        self.invocations.get_or_create(&labels).inc();
        self.fuel.get_or_create(&labels).inc_by(record.usage.fuel);
        self.latency
            .get_or_create(&labels)
            .observe(record.usage.wall_time.as_secs_f64());
        if let Some(error) = &record.error {
            self.errors
                .get_or_create(&ErrorLabels {
                    tenant: record.tenant.clone(),
                    plugin: record.plugin.clone(),
                    kind: error.code().to_string(),
                })
                .inc();
        }
    }

    /// The metrics in Prometheus' text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}
