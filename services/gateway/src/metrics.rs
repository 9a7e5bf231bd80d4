//! Gateway-specific metrics: upstream call outcomes and retries.

use dzinza_kit::metrics::Metrics;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    upstream: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabel {
    upstream: String,
}

/// Counters the proxy updates.
#[derive(Clone, Debug)]
pub(crate) struct GatewayMetrics {
    calls: Family<CallLabels, Counter>,
    retries: Family<UpstreamLabel, Counter>,
}

impl GatewayMetrics {
    pub(crate) fn register(registry: &Metrics) -> Self {
        let calls = Family::<CallLabels, Counter>::default();
        let retries = Family::<UpstreamLabel, Counter>::default();
        registry.register(
            "gateway_upstream_calls",
            "Upstream call attempts by upstream and outcome",
            calls.clone(),
        );
        registry.register(
            "gateway_upstream_retries",
            "Retries of idempotent requests by upstream",
            retries.clone(),
        );
        Self { calls, retries }
    }

    pub(crate) fn upstream_call(&self, upstream: &str, outcome: &'static str) {
        self.calls
            .get_or_create(&CallLabels {
                upstream: upstream.to_owned(),
                outcome,
            })
            .inc();
    }

    pub(crate) fn upstream_retry(&self, upstream: &str) {
        self.retries
            .get_or_create(&UpstreamLabel {
                upstream: upstream.to_owned(),
            })
            .inc();
    }
}
