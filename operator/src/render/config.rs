//! Identity and non-secret settings: the workloads' ServiceAccount and the shared ConfigMap.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};

use super::{Ctx, HTTP_PORT};
use crate::render::backends;

/// Component label of objects shared by the whole platform.
pub const PLATFORM: &str = "platform";

/// ServiceAccount the Dzinza pods run as; it has no API permissions and no mounted token.
pub fn service_account(ctx: &Ctx) -> ServiceAccount {
    ServiceAccount {
        metadata: ctx.meta(ctx.name.clone(), PLATFORM),
        automount_service_account_token: Some(false),
        ..ServiceAccount::default()
    }
}

/// Name of the shared ConfigMap.
pub fn config_map_name(ctx: &Ctx) -> String {
    ctx.child("config")
}

/// Base URL of a Dzinza target's Service inside the cluster.
pub fn service_url(ctx: &Ctx, target: &str) -> String {
    format!("http://{}:{HTTP_PORT}", ctx.child(target))
}

/// Settings every workload reads (the contract with the `dzinza` binary). Secrets are never
/// here: they are mounted as files and passed as `*_FILE`.
pub fn settings(ctx: &Ctx) -> BTreeMap<String, String> {
    let spec = &ctx.p.spec;
    let obs = &spec.observability;
    let public_url = ctx.public_url();
    let mut m = BTreeMap::new();
    let mut set = |k: &str, v: String| {
        m.insert(k.to_string(), v);
    };
    set("DZINZA_LISTEN", format!("0.0.0.0:{HTTP_PORT}"));
    set("DZINZA_DATA_DIR", "/var/lib/dzinza".into());
    set("DZINZA_LOG_FORMAT", obs.log_format.as_str().into());
    set("DZINZA_LOG_LEVEL", obs.log_level.clone());
    set("DZINZA_SHUTDOWN_GRACE", "25s".into());
    if let Some(otlp) = &obs.otlp_endpoint {
        set("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.clone());
    }
    set(
        "DZINZA_JWKS_URL",
        format!("{}/.well-known/jwks.json", service_url(ctx, "auth")),
    );
    set("DZINZA_JWT_ISSUER", public_url.clone());
    set("DZINZA_JWT_AUDIENCE", "dzinza".into());
    set("DZINZA_PUBLIC_URL", public_url.clone());
    // Gateway upstreams: the jobs API is served by the worker target.
    set("DZINZA_UPSTREAM_AUTH", service_url(ctx, "auth"));
    set("DZINZA_UPSTREAM_GENEALOGY", service_url(ctx, "genealogy"));
    set("DZINZA_UPSTREAM_STORAGE", service_url(ctx, "storage"));
    set("DZINZA_UPSTREAM_SEARCH", service_url(ctx, "search"));
    set("DZINZA_UPSTREAM_JOBS", service_url(ctx, "worker"));
    set("DZINZA_CORS_ORIGINS", public_url);
    let tls = spec
        .ingress
        .as_ref()
        .is_some_and(|i| i.tls_secret_name.is_some());
    set("DZINZA_BEHIND_TLS", tls.to_string());
    // Behind the ingress controller the TCP peer is the controller: the client is one
    // X-Forwarded-For hop back, and per-IP rate limits must key on it.
    let hops = if spec.ingress.is_some() { "1" } else { "0" };
    set("DZINZA_FORWARDED_HOPS", hops.into());
    set("DZINZA_SPA_DIR", "/usr/share/dzinza/web".into());
    // Auth policy.
    set(
        "DZINZA_ACCESS_TOKEN_TTL",
        spec.auth.access_token_ttl.clone(),
    );
    set(
        "DZINZA_REFRESH_TOKEN_TTL",
        spec.auth.refresh_token_ttl.clone(),
    );
    set(
        "DZINZA_MFA_REQUIRED_ROLES",
        spec.auth.mfa_required_roles.join(","),
    );
    // Object storage location (credentials are files).
    let s3 = backends::object_storage_location(ctx);
    set("DZINZA_S3_ENDPOINT", s3.endpoint);
    set("DZINZA_S3_BUCKET", s3.bucket);
    set("DZINZA_S3_REGION", s3.region);
    set("DZINZA_S3_CREATE_BUCKET", s3.create_bucket.to_string());
    set(
        "DZINZA_WORKER_CONCURRENCY",
        spec.workers.concurrency.to_string(),
    );
    m
}

/// The shared ConfigMap of non-secret settings.
pub fn config_map(ctx: &Ctx) -> ConfigMap {
    ConfigMap {
        metadata: ctx.meta(config_map_name(ctx), PLATFORM),
        data: Some(settings(ctx)),
        ..ConfigMap::default()
    }
}
