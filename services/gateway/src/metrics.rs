//! Gateway-specific metrics: upstream call outcomes and retries.

use std::sync::OnceLock;

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

/// Every value of the `outcome` label.
const OUTCOMES: [&str; 7] = [
    "ok",
    "bad_status",
    "circuit_open",
    "connect_error",
    "timeout",
    "body_too_large",
    "error",
];

/// The gateway's metric families.
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

    /// The counters of one upstream.
    pub(crate) fn for_upstream(&self, upstream: &str) -> UpstreamMetrics {
        UpstreamMetrics {
            upstream: upstream.to_owned(),
            families: self.clone(),
            calls: Default::default(),
            retries: OnceLock::new(),
        }
    }
}

/// One upstream's counters, each looked up in its family once (on first use, so outcomes that
/// never happened are not exported as zero series) and then kept: a call costs one atomic add.
#[derive(Debug)]
pub(crate) struct UpstreamMetrics {
    upstream: String,
    families: GatewayMetrics,
    calls: [OnceLock<Counter>; OUTCOMES.len()],
    retries: OnceLock<Counter>,
}

impl UpstreamMetrics {
    pub(crate) fn call(&self, outcome: &'static str) {
        // Every outcome the proxy reports is listed; an unlisted one would go uncounted.
        let Some(i) = OUTCOMES.iter().position(|o| *o == outcome) else {
            return;
        };
        self.calls[i]
            .get_or_init(|| {
                self.families
                    .calls
                    .get_or_create(&CallLabels {
                        upstream: self.upstream.clone(),
                        outcome: OUTCOMES[i],
                    })
                    .clone()
            })
            .inc();
    }

    pub(crate) fn retry(&self) {
        self.retries
            .get_or_init(|| {
                self.families
                    .retries
                    .get_or_create(&UpstreamLabel {
                        upstream: self.upstream.clone(),
                    })
                    .clone()
            })
            .inc();
    }
}
