//! Prometheus Operator ServiceMonitor for the Dzinza services' `/metrics`.

use serde_json::json;

use super::workloads::{self, Target};
use super::{Ctx, Inputs};
use crate::kinds::ChildKind;

/// The ServiceMonitor, when enabled and its CRD exists (the controller warns otherwise).
pub fn service_monitors(ctx: &Ctx, inputs: &Inputs) -> Vec<serde_json::Value> {
    if !ctx.p.spec.observability.service_monitor || !inputs.crds.service_monitor {
        return Vec::new();
    }
    let components: Vec<&str> = Target::ALL
        .iter()
        .filter(|t| workloads::enabled(ctx, **t))
        .map(|t| t.name())
        .collect();
    let (_, _, kind, _) = ChildKind::ServiceMonitor.gvkp();
    vec![json!({
        "apiVersion": ChildKind::ServiceMonitor.api_version(),
        "kind": kind,
        "metadata": ctx.meta(ctx.name.clone(), "platform"),
        "spec": {
            "selector": {
                "matchLabels": {
                    "app.kubernetes.io/instance": ctx.name,
                    "app.kubernetes.io/managed-by": super::MANAGED_BY,
                },
                "matchExpressions": [{
                    "key": "app.kubernetes.io/component",
                    "operator": "In",
                    "values": components,
                }],
            },
            // The instance label lets a metrics adapter select this platform's queue depth.
            "targetLabels": ["app.kubernetes.io/instance", "app.kubernetes.io/component"],
            "endpoints": [{ "port": "http", "path": "/metrics", "interval": "30s" }],
        },
    })]
}
