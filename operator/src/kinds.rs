//! Every kind of child object the operator manages, and the API verbs it uses on each.
//!
//! This table is the single source for three things that must agree: what `apply` reads,
//! writes and prunes, what the controller watches, and the RBAC the Helm chart grants
//! (`dzinza-operator rbac-needs` prints it; `.ci/helm-check` compares it with the chart).

use kube::core::{ApiResource, GroupVersionKind};

/// A kind of object the operator creates for a DzinzaPlatform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChildKind {
    /// core/v1 ServiceAccount.
    ServiceAccount,
    /// core/v1 ConfigMap.
    ConfigMap,
    /// core/v1 Secret.
    Secret,
    /// networking.k8s.io/v1 NetworkPolicy.
    NetworkPolicy,
    /// core/v1 Service.
    Service,
    /// apps/v1 StatefulSet.
    StatefulSet,
    /// CloudNativePG `Cluster`.
    CnpgCluster,
    /// ECK `Elasticsearch`.
    EckElasticsearch,
    /// batch/v1 Job.
    Job,
    /// apps/v1 Deployment.
    Deployment,
    /// policy/v1 PodDisruptionBudget.
    PodDisruptionBudget,
    /// autoscaling/v2 HorizontalPodAutoscaler.
    HorizontalPodAutoscaler,
    /// networking.k8s.io/v1 Ingress.
    Ingress,
    /// Prometheus Operator `ServiceMonitor`.
    ServiceMonitor,
}

impl ChildKind {
    /// All kinds, in apply order.
    pub const ALL: [ChildKind; 14] = [
        ChildKind::ServiceAccount,
        ChildKind::ConfigMap,
        ChildKind::Secret,
        ChildKind::NetworkPolicy,
        ChildKind::Service,
        ChildKind::StatefulSet,
        ChildKind::CnpgCluster,
        ChildKind::EckElasticsearch,
        ChildKind::Job,
        ChildKind::Deployment,
        ChildKind::PodDisruptionBudget,
        ChildKind::HorizontalPodAutoscaler,
        ChildKind::Ingress,
        ChildKind::ServiceMonitor,
    ];

    /// (group, version, kind, plural).
    pub fn gvkp(self) -> (&'static str, &'static str, &'static str, &'static str) {
        match self {
            Self::ServiceAccount => ("", "v1", "ServiceAccount", "serviceaccounts"),
            Self::ConfigMap => ("", "v1", "ConfigMap", "configmaps"),
            Self::Secret => ("", "v1", "Secret", "secrets"),
            Self::NetworkPolicy => (
                "networking.k8s.io",
                "v1",
                "NetworkPolicy",
                "networkpolicies",
            ),
            Self::Service => ("", "v1", "Service", "services"),
            Self::StatefulSet => ("apps", "v1", "StatefulSet", "statefulsets"),
            Self::CnpgCluster => ("postgresql.cnpg.io", "v1", "Cluster", "clusters"),
            Self::EckElasticsearch => (
                "elasticsearch.k8s.elastic.co",
                "v1",
                "Elasticsearch",
                "elasticsearches",
            ),
            Self::Job => ("batch", "v1", "Job", "jobs"),
            Self::Deployment => ("apps", "v1", "Deployment", "deployments"),
            Self::PodDisruptionBudget => (
                "policy",
                "v1",
                "PodDisruptionBudget",
                "poddisruptionbudgets",
            ),
            Self::HorizontalPodAutoscaler => (
                "autoscaling",
                "v2",
                "HorizontalPodAutoscaler",
                "horizontalpodautoscalers",
            ),
            Self::Ingress => ("networking.k8s.io", "v1", "Ingress", "ingresses"),
            Self::ServiceMonitor => (
                "monitoring.coreos.com",
                "v1",
                "ServiceMonitor",
                "servicemonitors",
            ),
        }
    }

    /// The kube `ApiResource` for dynamic access.
    pub fn api_resource(self) -> ApiResource {
        let (group, version, kind, plural) = self.gvkp();
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
    }

    /// `apiVersion` as written in manifests.
    pub fn api_version(self) -> String {
        let (group, version, _, _) = self.gvkp();
        if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        }
    }

    /// Name of the CRD that must exist before objects of this kind can be created, if any.
    pub fn required_crd(self) -> Option<&'static str> {
        match self {
            Self::CnpgCluster => Some("clusters.postgresql.cnpg.io"),
            Self::EckElasticsearch => Some("elasticsearches.elasticsearch.k8s.elastic.co"),
            Self::ServiceMonitor => Some("servicemonitors.monitoring.coreos.com"),
            _ => None,
        }
    }

    /// Whether objects of this kind no longer desired are deleted. Finished migration Jobs are
    /// left to `ttlSecondsAfterFinished` so their logs stay readable for a while.
    pub fn pruned(self) -> bool {
        !matches!(self, Self::Job)
    }

    /// Whether the controller watches this kind (built-in kinds only: watching a kind whose CRD
    /// is missing would fail the whole controller).
    pub fn watched(self) -> bool {
        self.required_crd().is_none()
    }

    /// Verbs the reconciler uses on this kind.
    pub fn verbs(self) -> Vec<&'static str> {
        let mut verbs = vec!["get", "list", "patch"];
        if self.watched() {
            verbs.push("watch");
        }
        if self.pruned() {
            verbs.push("delete");
        }
        verbs
    }
}

/// One RBAC permission the operator needs.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Need {
    /// API group ("" for core).
    pub group: &'static str,
    /// Resource (plural, with `/subresource` if any).
    pub resource: &'static str,
    /// Verb.
    pub verb: &'static str,
}

/// Every (group, resource, verb) the operator uses, sorted and without duplicates.
pub fn rbac_needs() -> Vec<Need> {
    let mut needs = Vec::new();
    let mut add = |group, resource, verbs: &[&'static str]| {
        for verb in verbs {
            needs.push(Need {
                group,
                resource,
                verb,
            });
        }
    };
    for kind in ChildKind::ALL {
        let (group, _, _, plural) = kind.gvkp();
        add(group, plural, &kind.verbs());
    }
    // The resource itself: watched; patched to add/remove the finalizer; status written.
    add(
        crate::types::GROUP,
        "dzinzaplatforms",
        &["get", "list", "watch", "patch"],
    );
    add(
        crate::types::GROUP,
        "dzinzaplatforms/status",
        &["get", "patch"],
    );
    // Optional integrations are detected by reading their CRD.
    add(
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        &["get"],
    );
    // kube-runtime's event Recorder creates events and patches them into series.
    add("events.k8s.io", "events", &["create", "patch"]);
    // kube-lease-manager leader election.
    add("coordination.k8s.io", "leases", &["get", "create", "patch"]);
    needs.sort();
    needs.dedup();
    needs
}

/// Whether `rbac_needs` lists (group, resource, verb); used by debug assertions at every call
/// site so an API call added without updating the table fails the tests.
pub fn is_needed(group: &str, resource: &str, verb: &str) -> bool {
    rbac_needs()
        .iter()
        .any(|n| n.group == group && n.resource == resource && n.verb == verb)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_cover_every_child_kind_and_nothing_twice() {
        let needs = rbac_needs();
        let mut dedup = needs.clone();
        dedup.dedup();
        assert_eq!(needs, dedup);
        for kind in ChildKind::ALL {
            let (group, _, _, plural) = kind.gvkp();
            for verb in ["get", "list", "patch"] {
                assert!(is_needed(group, plural, verb), "{kind:?} {verb}");
            }
            // Built-in kinds are watched; third-party kinds are not (their CRD may be missing).
            assert_eq!(
                is_needed(group, plural, "watch"),
                kind.required_crd().is_none()
            );
        }
        // Server-side apply creates objects with `patch`; the operator never needs `create`
        // except for Events and its Lease.
        let creates: Vec<&str> = needs
            .iter()
            .filter(|n| n.verb == "create")
            .map(|n| n.resource)
            .collect();
        assert_eq!(creates, ["leases", "events"]);
        assert!(
            !is_needed("batch", "jobs", "delete"),
            "migration Jobs are left to their TTL"
        );
    }
}
