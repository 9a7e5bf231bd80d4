//! The Dzinza API gateway: one entry point that routes `/api/v{N}/{prefix}/...` to the service
//! owning `{prefix}`, authenticates, authorises, rate-limits, and protects itself and the
//! services with timeouts, retries and circuit breakers. It also serves the merged OpenAPI
//! document, the API reference page and the web app.

pub mod breaker;
pub mod config;
mod connection;
mod metrics;
pub mod proxy;
pub mod ratelimit;
pub mod routes;
mod web;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{any, get};
use dzinza_kit::health::Health;
use dzinza_kit::http_client::{self, HttpClient, LocalPool};
use dzinza_kit::identity::TokenValidator;
use dzinza_kit::metrics::Metrics;
use dzinza_kit::server::{StandardLayer, StandardOptions};
use http::header::{self, HeaderName, HeaderValue};
use tokio_util::sync::CancellationToken;
use tower_http::cors::{AllowOrigin, CorsLayer};

pub use config::{GatewayArgs, GatewayConfig};
pub use connection::{GatewayConnection, GatewayServer};

use crate::breaker::CircuitBreaker;
use crate::config::ConfigError;
use crate::ratelimit::RateLimits;
use crate::routes::RuleTable;

/// The gateway's own operations, for the merged API description.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(web::openapi_json, web::docs_page),
    components(schemas(dzinza_kit::problem::ProblemBody, dzinza_kit::problem::FieldError)),
    tags((name = "gateway", description = "API description and reference"))
)]
struct GatewayApi;

/// The gateway's OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    <GatewayApi as utoipa::OpenApi>::openapi()
}

/// One upstream service.
#[derive(Debug)]
pub struct Upstream {
    /// Service name (`auth`, ...).
    pub name: String,
    base: String,
    /// `base` split once, when it is a plain `scheme://authority[/path]`.
    origin: Option<Origin>,
    /// This upstream's circuit breaker.
    pub breaker: CircuitBreaker,
    metrics: metrics::UpstreamMetrics,
}

/// The parts of an upstream's base URL every request URI repeats.
#[derive(Debug)]
struct Origin {
    scheme: http::uri::Scheme,
    authority: http::uri::Authority,
    /// The base URL's path, empty or starting with `/`.
    path: String,
}

/// `http::Uri` refuses URIs longer than this (its `MAX_LEN`); the split-up form checks it too.
const MAX_URI_LEN: usize = u16::MAX as usize - 1;

impl Origin {
    /// `base` split up, or `None` unless it is exactly `scheme://authority` plus an optional path
    /// (no query, no fragment), so appending to its path means what appending to `base` means.
    fn parse(base: &str) -> Option<Self> {
        if base.contains(['?', '#']) {
            return None;
        }
        let parts = http::Uri::try_from(base).ok()?.into_parts();
        let (scheme, authority) = (parts.scheme?, parts.authority?);
        let path = base
            .strip_prefix(scheme.as_str())?
            .strip_prefix("://")?
            .strip_prefix(authority.as_str())?;
        (path.is_empty() || path.starts_with('/')).then(|| Self {
            scheme,
            authority,
            path: path.to_owned(),
        })
    }
}

impl Upstream {
    fn new(
        name: String,
        base: String,
        breaker: CircuitBreaker,
        metrics: metrics::UpstreamMetrics,
    ) -> Self {
        Self {
            name,
            origin: Origin::parse(&base),
            base,
            breaker,
            metrics,
        }
    }

    /// The upstream URI for the path made of `segments` (the first starting with `/`) and
    /// `query`, in one allocation; scheme and authority are the base's, parsed once rather than
    /// from the whole URI text per request.
    fn uri_for(&self, segments: &[&str], query: Option<&str>) -> Result<http::Uri, ()> {
        let Some(origin) = &self.origin else {
            return self.uri_from_text(segments, query);
        };
        let len = origin.path.len()
            + segments.iter().map(|s| s.len()).sum::<usize>()
            + query.map_or(0, |q| q.len() + 1);
        if self.base.len() - origin.path.len() + len > MAX_URI_LEN {
            return Err(());
        }
        let mut path = String::with_capacity(len);
        path.push_str(&origin.path);
        for segment in segments {
            path.push_str(segment);
        }
        if let Some(q) = query {
            path.push('?');
            path.push_str(q);
        }
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(origin.scheme.clone());
        parts.authority = Some(origin.authority.clone());
        // From the owned string: the path takes the buffer over instead of copying it.
        parts.path_and_query = Some(
            http::uri::PathAndQuery::from_maybe_shared(bytes::Bytes::from(path)).map_err(|_| ())?,
        );
        http::Uri::from_parts(parts).map_err(|_| ())
    }

    /// [`Upstream::uri_for`] by parsing the whole text, for a base that does not split up.
    fn uri_from_text(&self, segments: &[&str], query: Option<&str>) -> Result<http::Uri, ()> {
        let len = self.base.len()
            + segments.iter().map(|s| s.len()).sum::<usize>()
            + query.map_or(0, |q| q.len() + 1);
        let mut uri = String::with_capacity(len);
        uri.push_str(&self.base);
        for segment in segments {
            uri.push_str(segment);
        }
        if let Some(q) = query {
            uri.push('?');
            uri.push_str(q);
        }
        // From the owned string: the URI takes the buffer over instead of copying it.
        http::Uri::try_from(uri).map_err(|_| ())
    }
}

/// How the gateway reaches its upstreams.
#[derive(Clone, Debug)]
enum UpstreamClient {
    /// hyper-util's pooled client, shared by every task of a multi-threaded runtime.
    /// (Boxed: it is large and only the shared-runtime mode uses it.)
    Shared(Box<HttpClient>),
    /// Connections owned by one server thread and driven on its runtime.
    PerThread(LocalPool),
}

/// A failed upstream call: whether no connection was made, and the error itself.
#[derive(Debug)]
struct CallError {
    connect: bool,
    error: Box<dyn std::error::Error + Send + Sync>,
}

impl UpstreamClient {
    /// Sends `req` (absolute URI) and answers the response head; the body streams.
    async fn request(
        &self,
        req: http::Request<axum::body::Body>,
    ) -> Result<http::Response<axum::body::Body>, CallError> {
        match self {
            Self::Shared(client) => match client.request(req).await {
                Ok(resp) => Ok(resp.map(axum::body::Body::new)),
                Err(e) => Err(CallError {
                    connect: e.is_connect(),
                    error: Box::new(e),
                }),
            },
            Self::PerThread(pool) => match pool.request(req).await {
                Ok(resp) => Ok(resp.map(axum::body::Body::new)),
                Err(e) => Err(CallError {
                    connect: e.is_connect(),
                    error: Box::new(e),
                }),
            },
        }
    }
}

/// Where one resource prefix goes, resolved at start.
#[derive(Debug)]
struct ApiRoute {
    service: String,
    /// The metrics route label, `/api/{version}/<prefix>`.
    label: Arc<str>,
}

/// The gateway's shared state.
#[derive(Debug)]
pub struct Gateway {
    config: Arc<GatewayConfig>,
    rules: Arc<RuleTable>,
    routes: Arc<BTreeMap<String, ApiRoute>>,
    upstreams: Arc<BTreeMap<String, Arc<Upstream>>>,
    client: UpstreamClient,
    validator: Option<Arc<TokenValidator>>,
    limits: Arc<RateLimits>,
    docs: Arc<web::Docs>,
}

impl Gateway {
    /// Builds the gateway; `openapi` is the merged API description it publishes.
    pub fn new(
        config: GatewayConfig,
        validator: Option<Arc<TokenValidator>>,
        registry: &Metrics,
        openapi: utoipa::openapi::OpenApi,
    ) -> Result<Arc<Self>, ConfigError> {
        config.validate()?;
        let r = &config.resilience;
        let metrics = metrics::GatewayMetrics::register(registry);
        let upstreams = config
            .upstreams
            .iter()
            .map(|(name, url)| {
                let upstream = Upstream::new(
                    name.clone(),
                    url.trim_end_matches('/').to_owned(),
                    CircuitBreaker::new(r.breaker_failures, r.breaker_cooldown, r.request_timeout),
                    metrics.for_upstream(name),
                );
                (name.clone(), Arc::new(upstream))
            })
            .collect();
        let routes = config
            .prefixes
            .iter()
            .map(|(prefix, service)| {
                let route = ApiRoute {
                    service: service.clone(),
                    label: format!("/api/{{version}}/{prefix}").into(),
                };
                (prefix.clone(), route)
            })
            .collect();
        Ok(Arc::new(Self {
            rules: Arc::new(RuleTable::new(config.rules.clone())),
            routes: Arc::new(routes),
            limits: Arc::new(RateLimits::new(&config.rate_limits)),
            client: UpstreamClient::Shared(Box::new(http_client::build(r.connect_timeout))),
            docs: Arc::new(web::Docs::new(openapi)),
            upstreams: Arc::new(upstreams),
            validator,
            config: Arc::new(config),
        }))
    }

    /// The same gateway (rules, limits, circuit breakers, metrics, token cache) with an upstream
    /// connection pool of its own, for one server thread: its connections then live on that
    /// thread's runtime and a request never waits on another thread's connection task. The pool
    /// is the kit's [`LocalPool`] (no shared checkout, no task per request to re-pool the
    /// connection), which only pays off when one thread owns it.
    pub fn with_own_pool(&self) -> Arc<Self> {
        Arc::new(Self {
            config: self.config.clone(),
            rules: self.rules.clone(),
            routes: self.routes.clone(),
            upstreams: self.upstreams.clone(),
            client: UpstreamClient::PerThread(LocalPool::new(
                self.config.resilience.connect_timeout,
            )),
            validator: self.validator.clone(),
            limits: self.limits.clone(),
            docs: self.docs.clone(),
        })
    }

    /// Registers readiness details: upstream health and circuit state (reported, never failing
    /// the gateway's own readiness, so one broken service does not take the whole API down).
    pub fn register_checks(self: &Arc<Self>, health: &Health) {
        for upstream in self.upstreams.values() {
            let upstream = upstream.clone();
            let client = self.client.clone();
            health.register(format!("upstream:{}", upstream.name), false, move || {
                let upstream = upstream.clone();
                let client = client.clone();
                async move { probe(&client, &upstream).await }
            });
        }
        if let Some(validator) = &self.validator {
            let validator = validator.clone();
            health.register("jwks", false, move || {
                let validator = validator.clone();
                async move { validator.check_keys().await }
            });
        }
    }

    /// Background upkeep (forgetting idle rate-limit buckets) until `stop` fires.
    pub fn spawn_maintenance(self: &Arc<Self>, stop: CancellationToken) {
        let gw = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tokio::select! {
                    _ = tick.tick() => gw.limits.forget_idle(),
                    () = stop.cancelled() => break,
                }
            }
        });
    }

    fn upstream_states(&self) -> impl Iterator<Item = (&str, &'static str)> {
        self.upstreams
            .values()
            .map(|u| (u.name.as_str(), u.breaker.state_name()))
    }
}

async fn probe(client: &UpstreamClient, upstream: &Upstream) -> Result<String, String> {
    let breaker = upstream.breaker.state_name();
    let uri = upstream
        .uri_for(&["/healthz"], None)
        .map_err(|()| "bad upstream URL".to_owned())?;
    let req = http::Request::get(uri)
        .body(axum::body::Body::empty())
        .map_err(|e| e.to_string())?;
    match tokio::time::timeout(Duration::from_secs(1), client.request(req)).await {
        Ok(Ok(resp)) if resp.status().is_success() => Ok(format!("healthy; circuit {breaker}")),
        Ok(Ok(resp)) => Err(format!(
            "healthz answered {}; circuit {breaker}",
            resp.status()
        )),
        Ok(Err(e)) => Err(format!("unreachable ({}); circuit {breaker}", e.error)),
        Err(_) => Err(format!("no answer within 1 s; circuit {breaker}")),
    }
}

/// Where the gateway serves its merged API description and the reference page; the only
/// `/api/...` paths it answers itself.
pub(crate) const OPENAPI_PATH: &str = "/api/openapi.json";
pub(crate) const DOCS_PATH: &str = "/api/docs";

/// The gateway's routes wrapped in the standard service layers plus CORS, security headers and
/// `X-Response-Time`.
pub fn router(gw: Arc<Gateway>, health: Health, registry: Metrics) -> Router {
    let standard = StandardLayer::new("gateway", registry, standard_options(&gw.config));
    routes_within(
        gw.clone(),
        health,
        &standard,
        cors_layer(&gw.config).as_ref(),
    )
}

/// What the gateway serves a connection with: [`router`], except that API calls go to the proxy
/// directly (same middleware, same answers, less work per request).
pub fn server(gw: Arc<Gateway>, health: Health, registry: Metrics) -> GatewayServer {
    let standard = StandardLayer::new("gateway", registry, standard_options(&gw.config));
    let cors = cors_layer(&gw.config);
    let router = routes_within(gw.clone(), health, &standard, cors.as_ref());
    GatewayServer::new(gw, router, standard, cors)
}

/// The gateway's routes inside `standard` and, when configured, `cors`.
fn routes_within(
    gw: Arc<Gateway>,
    health: Health,
    standard: &StandardLayer,
    cors: Option<&CorsLayer>,
) -> Router {
    let app = Router::new()
        .route(OPENAPI_PATH, get(web::openapi_json))
        .route(DOCS_PATH, get(web::docs_page))
        .route("/.well-known/jwks.json", get(proxy::jwks))
        .route("/api/{*rest}", any(proxy::api));
    let spa = gw.config.spa_dir.as_deref().filter(|dir| {
        let present = dir.join("index.html").is_file();
        if !present {
            tracing::warn!(dir = %dir.display(), "no index.html in the web app directory; serving the landing page");
        }
        present
    });
    let app = match spa {
        Some(dir) => app.fallback_service(web::spa(dir)),
        None => app.fallback(web::landing),
    }
    .with_state(gw);
    let router = standard.wrap(app, health);
    match cors {
        None => router,
        Some(cors) => router.layer(cors.clone()),
    }
}

fn standard_options(config: &GatewayConfig) -> StandardOptions {
    StandardOptions {
        response_headers: security_headers(config.behind_tls),
        response_time: true,
    }
}

fn cors_layer(config: &GatewayConfig) -> Option<CorsLayer> {
    (!config.cors_origins.is_empty()).then(|| cors(&config.cors_origins))
}

/// Content-Security-Policy for the web app: only our own origin, no inline scripts.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; \
                   object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'";

fn security_headers(behind_tls: bool) -> Vec<(HeaderName, HeaderValue)> {
    let mut headers = vec![
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("strict-origin-when-cross-origin"),
        ),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ),
    ];
    if behind_tls {
        headers.push((
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        ));
    }
    headers
}

fn cors(origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_credentials(true)
        .allow_methods([
            http::Method::GET,
            http::Method::POST,
            http::Method::PUT,
            http::Method::PATCH,
            http::Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            HeaderName::from_static("x-request-id"),
            HeaderName::from_static("x-csrf-token"),
        ])
        .expose_headers([
            HeaderName::from_static("x-request-id"),
            header::RETRY_AFTER,
            HeaderName::from_static("ratelimit-limit"),
            HeaderName::from_static("ratelimit-remaining"),
            HeaderName::from_static("ratelimit-reset"),
        ])
        .max_age(Duration::from_secs(600))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(base: &str) -> Upstream {
        let metrics = metrics::GatewayMetrics::register(&Metrics::new());
        Upstream::new(
            "u".into(),
            base.into(),
            CircuitBreaker::new(5, Duration::from_secs(1), Duration::from_secs(1)),
            metrics.for_upstream("u"),
        )
    }

    #[test]
    fn split_base_gives_the_uri_the_whole_text_gives() {
        let bases = [
            ("http://127.0.0.1:8080", true),
            ("http://genealogy:8080/base", true),
            ("https://user@auth.internal", true),
            ("http://[::1]:9000/a/b", true),
            ("http://h?x=1", false),
            ("http://h/p#frag", false),
            ("HTTP://H", false),
        ];
        let long = format!("/{}", "a".repeat(MAX_URI_LEN));
        let paths: [(&[&str], Option<&str>); 7] = [
            (&["/", "v1", "/trees/42"], None),
            (&["/", "v1", "/trees/42"], Some("page=2&q=x%20y")),
            (&["/.well-known/jwks.json"], Some("")),
            (&["/", "v1", "/a b"], None),
            (&["/", "v1", "/x"], Some("a#b")),
            (&["/", "v1", "/\u{e9}"], None),
            (&[long.as_str()], None),
        ];
        for (base, splits) in bases {
            let u = upstream(base);
            assert_eq!(u.origin.is_some(), splits, "{base}");
            assert!(u.uri_for(paths[0].0, None).is_ok(), "{base}");
            for (segments, query) in paths {
                assert_eq!(
                    u.uri_for(segments, query),
                    u.uri_from_text(segments, query),
                    "{base} {segments:?} {query:?}"
                );
            }
        }
        let at_limit = format!("/{}", "a".repeat(MAX_URI_LEN - "http://h".len() - 1));
        let u = upstream("http://h");
        assert!(u.uri_for(&[&at_limit], None).is_ok());
        assert_eq!(
            u.uri_for(&[&at_limit, "a"], None),
            u.uri_from_text(&[&at_limit, "a"], None)
        );
    }
}
