//! The public entry: an Ingress sending `/api` and the web app to the gateway.

use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, IngressTLS, ServiceBackendPort,
};

use super::workloads::{self, Target};
use super::{Ctx, HTTP_PORT};

fn path(ctx: &Ctx, p: &str) -> HTTPIngressPath {
    HTTPIngressPath {
        path: Some(p.into()),
        path_type: "Prefix".into(),
        backend: IngressBackend {
            service: Some(IngressServiceBackend {
                name: ctx.child(Target::Gateway.name()),
                port: Some(ServiceBackendPort {
                    number: Some(HTTP_PORT),
                    name: None,
                }),
            }),
            resource: None,
        },
    }
}

/// The Ingress, when `spec.ingress` is set and the gateway runs.
pub fn ingress(ctx: &Ctx) -> Option<Ingress> {
    let i = ctx.p.spec.ingress.as_ref()?;
    if !workloads::enabled(ctx, Target::Gateway) {
        return None;
    }
    let mut meta = ctx.meta(ctx.name.clone(), Target::Gateway.name());
    if !i.annotations.is_empty() {
        meta.annotations = Some(i.annotations.clone());
    }
    Some(Ingress {
        metadata: meta,
        spec: Some(IngressSpec {
            ingress_class_name: i.class_name.clone(),
            tls: i.tls_secret_name.as_ref().map(|s| {
                vec![IngressTLS {
                    hosts: Some(vec![i.host.clone()]),
                    secret_name: Some(s.clone()),
                }]
            }),
            rules: Some(vec![IngressRule {
                host: Some(i.host.clone()),
                http: Some(HTTPIngressRuleValue {
                    // The gateway serves the API under /api and the SPA everywhere else;
                    // two paths keep the split visible to whoever reads the Ingress.
                    paths: vec![path(ctx, "/api"), path(ctx, "/")],
                }),
            }]),
            ..IngressSpec::default()
        }),
        ..Ingress::default()
    })
}
