//! NetworkPolicies: each managed database admits traffic only from the services that own its
//! data (and the migration Job).

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::Ctx;
use super::backends::Backend;

/// One NetworkPolicy per managed backend.
pub fn network_policies(ctx: &Ctx) -> Vec<NetworkPolicy> {
    Backend::ALL
        .iter()
        .filter(|b| b.managed(ctx).is_some())
        .map(|b| NetworkPolicy {
            metadata: ctx.meta(ctx.child(b.component()), b.component()),
            spec: Some(NetworkPolicySpec {
                pod_selector: Some(LabelSelector {
                    match_labels: Some(ctx.selector(b.component())),
                    ..LabelSelector::default()
                }),
                policy_types: Some(vec!["Ingress".into()]),
                ingress: Some(vec![NetworkPolicyIngressRule {
                    from: Some(vec![NetworkPolicyPeer {
                        pod_selector: Some(LabelSelector {
                            match_labels: Some(BTreeMap::from([(
                                "app.kubernetes.io/instance".to_string(),
                                ctx.name.clone(),
                            )])),
                            match_expressions: Some(vec![LabelSelectorRequirement {
                                key: "app.kubernetes.io/component".into(),
                                operator: "In".into(),
                                values: Some(b.clients().iter().map(|c| c.to_string()).collect()),
                            }]),
                        }),
                        ..NetworkPolicyPeer::default()
                    }]),
                    ports: Some(vec![NetworkPolicyPort {
                        port: Some(IntOrString::Int(b.port())),
                        protocol: Some("TCP".into()),
                        ..NetworkPolicyPort::default()
                    }]),
                }]),
                ..NetworkPolicySpec::default()
            }),
        })
        .collect()
}
