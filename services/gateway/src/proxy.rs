//! The streaming reverse proxy: policy (identity, roles, rate limits, body limits) then the
//! upstream call with timeouts, retries for idempotent requests and circuit breaking.

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use dzinza_kit::Problem;
use dzinza_kit::identity::{VerifiedIdentity, bearer_token};
use dzinza_kit::metrics::RouteLabel;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::request::Parts;
use http::{Method, StatusCode, Uri};
use rand::Rng;

use crate::breaker::Admission;
use crate::config::RouteRule;
use crate::ratelimit::RateKey;
use crate::routes;
use crate::{Gateway, Upstream};

/// Route labels of responses not from a resource prefix, built once.
static UNMATCHED_LABEL: LazyLock<Arc<str>> =
    LazyLock::new(|| dzinza_kit::metrics::UNMATCHED_ROUTE.into());
static JWKS_LABEL: LazyLock<Arc<str>> = LazyLock::new(|| "/.well-known/jwks.json".into());

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_USER_ID: HeaderName = HeaderName::from_static("x-user-id");
const X_USER_EMAIL: HeaderName = HeaderName::from_static("x-user-email");
const X_USER_ROLES: HeaderName = HeaderName::from_static("x-user-roles");

const HOPS: usize = 8;
/// Headers that describe one connection and must not be forwarded (RFC 9110 §7.6.1);
/// `Connection` first.
const HOP_BY_HOP: [HeaderName; HOPS] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// `ANY /api/{*rest}`: routes by resource prefix and forwards.
pub async fn api(State(gw): State<Arc<Gateway>>, request: Request) -> Response {
    let peer = peer_of(&request);
    let (response, label) = api_from(&gw, peer, request).await;
    with_label(response, label)
}

/// An API call from `peer` (unspecified when not known): routed by resource prefix and
/// forwarded; answers the response and its metrics route label. The router's `/api/{*rest}`
/// and the gateway's direct path both end here.
pub(crate) async fn api_from(
    gw: &Gateway,
    peer: IpAddr,
    request: Request,
) -> (Response, &Arc<str>) {
    let (parts, body) = request.into_parts();
    // The URI is shared bytes: this clone lets the parsed path borrow from it while `parts` moves.
    let uri = parts.uri.clone();
    let api = match routes::parse(uri.path()) {
        Ok(api) => api,
        Err(e) => {
            return (
                Problem::not_found(e.to_string()).into_response(),
                &UNMATCHED_LABEL,
            );
        }
    };
    let Some(route) = gw.routes.get(api.prefix) else {
        let problem =
            Problem::not_found(format!("There is no API resource named {:?}.", api.prefix));
        return (problem.into_response(), &UNMATCHED_LABEL);
    };
    let rule = gw.rules.lookup(&parts.method, api.service_path);
    let upstream_path = ["/", api.version, api.service_path];
    let response = handle(gw, &route.service, &upstream_path, rule, peer, parts, body).await;
    (response, &route.label)
}

/// The connection's peer address as the router gives it, unspecified without one.
fn peer_of(request: &Request) -> IpAddr {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

/// `GET /.well-known/jwks.json`: the auth service's public keys.
pub async fn jwks(State(gw): State<Arc<Gateway>>, request: Request) -> Response {
    static RULE: LazyLock<RouteRule> = LazyLock::new(|| RouteRule {
        public: true,
        ..RouteRule::default()
    });
    let peer = peer_of(&request);
    let (parts, body) = request.into_parts();
    let path = ["/.well-known/jwks.json"];
    let response = handle(&gw, "auth", &path, &RULE, peer, parts, body).await;
    with_label(response, &JWKS_LABEL)
}

fn with_label(mut response: Response, label: &Arc<str>) -> Response {
    response.extensions_mut().insert(RouteLabel(label.clone()));
    response
}

async fn handle(
    gw: &Gateway,
    service: &str,
    upstream_path: &[&str],
    rule: &RouteRule,
    peer: IpAddr,
    mut parts: Parts,
    body: Body,
) -> Response {
    // A service this deployment does not run: say so before anything else (it is no secret).
    let Some(upstream) = gw.upstreams.get(service) else {
        return Problem::unavailable(format!(
            "The {service} service is not part of this deployment (no upstream is configured for it)."
        ))
        .into_response();
    };
    let client_ip = client_ip(peer, &parts.headers, gw.config.forwarded_hops);

    // Identity: nothing the client says about itself gets through except a valid token.
    strip_identity_headers(&mut parts.headers);
    let identity = match authenticate(gw, &parts.headers, rule).await {
        Ok(identity) => identity,
        Err(problem) => return problem.into_response(),
    };
    if let Some(id) = &identity
        && !rule.roles.is_empty()
        && !rule.roles.iter().any(|r| id.identity.has_role(r))
    {
        return Problem::forbidden("Your account does not have the role this endpoint needs.")
            .into_response();
    }

    let class = rule.rate_class.as_deref().unwrap_or(if identity.is_some() {
        "authenticated"
    } else {
        "anonymous"
    });
    let key = match &identity {
        Some(id) => RateKey::user(&id.identity.user_id),
        None => RateKey::Ip(client_ip),
    };
    let decision = gw.limits.check(class, &key);
    if let Some(d) = decision.filter(|d| !d.allowed) {
        let mut response = Problem::too_many_requests(d.reset_secs).into_response();
        d.write_headers(response.headers_mut());
        return response;
    }

    let limit = rule.body_limit.unwrap_or(gw.config.default_body_limit);
    if content_length(&parts.headers).is_some_and(|len| len > limit) {
        return Problem::payload_too_large(limit).into_response();
    }

    prepare_headers(gw, &mut parts, client_ip, identity.as_deref());
    let uri = match upstream.uri_for(upstream_path, parts.uri.query()) {
        Ok(uri) => uri,
        Err(()) => {
            return Problem::bad_request("The request path cannot be forwarded.").into_response();
        }
    };
    let retryable = is_retryable(&parts.method, &parts.headers);
    let timeout = rule.timeout.unwrap_or(gw.config.resilience.request_timeout);
    // An empty body cannot exceed the limit: it goes out as it is, without a wrapper.
    let body = if http_body::Body::is_end_stream(&body) {
        body
    } else {
        Body::new(http_body_util::Limited::new(
            body,
            usize::try_from(limit).unwrap_or(usize::MAX),
        ))
    };

    let mut response = match forward(gw, upstream, parts, uri, body, timeout, retryable).await {
        Ok(resp) => finish_response(resp),
        Err(e) => e.into_problem(&upstream.name, limit).into_response(),
    };
    if let Some(d) = decision {
        d.write_headers(response.headers_mut());
    }
    response
}

async fn authenticate(
    gw: &Gateway,
    headers: &HeaderMap,
    rule: &RouteRule,
) -> Result<Option<Arc<VerifiedIdentity>>, Problem> {
    let token = bearer_token(headers);
    match (token, &gw.validator) {
        (None, _) if rule.public => Ok(None),
        (None, _) => Err(Problem::unauthorized("Sign in to use this endpoint.")),
        (Some(_), None) if rule.public => Ok(None),
        (Some(_), None) => Err(Problem::unavailable(
            "The gateway has no identity provider configured (DZINZA_JWKS_URL).",
        )),
        (Some(token), Some(validator)) => match validator.validate_shared(token).await {
            Ok(identity) => Ok(Some(identity)),
            // A stale token must not lock anyone out of login or refresh.
            Err(_) if rule.public => Ok(None),
            Err(e) => Err(e.into()),
        },
    }
}

fn strip_identity_headers(headers: &mut HeaderMap) {
    let is_identity = |k: &HeaderName| k.as_str().starts_with("x-user-");
    // Almost no request carries any: look before collecting.
    if !headers.keys().any(is_identity) {
        return;
    }
    let forged: Vec<HeaderName> = headers.keys().filter(|k| is_identity(k)).cloned().collect();
    for name in forged {
        headers.remove(name);
    }
}

fn client_ip(peer: IpAddr, headers: &HeaderMap, hops: usize) -> IpAddr {
    if hops == 0 {
        return peer;
    }
    let chain: Vec<&str> = headers
        .get_all(&X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    chain
        .len()
        .checked_sub(hops)
        .and_then(|i| chain.get(i))
        .and_then(|s| s.parse().ok())
        .unwrap_or(peer)
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

fn is_retryable(method: &Method, headers: &HeaderMap) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
        && content_length(headers).unwrap_or(0) == 0
        && !headers.contains_key(header::TRANSFER_ENCODING)
}

fn remove_hop_by_hop(headers: &mut HeaderMap) {
    // One pass over the names marks those present (usually none, or nginx's `Connection`)
    // instead of a hashed removal per hop-by-hop name, and builds no list. `Connection` is one
    // of them, so without any there is nothing it names either.
    let mut present = [false; HOPS];
    let mut any = false;
    for name in headers.keys() {
        if let Some(i) = HOP_BY_HOP.iter().position(|h| h == name) {
            present[i] = true;
            any = true;
        }
    }
    if !any {
        return;
    }
    if present[0] {
        // Only names that are there get a `HeaderName` (an allocation for most): `Connection`
        // usually lists `keep-alive` or `close` with no such header present.
        let named: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|name| headers.contains_key(*name))
            .filter_map(|name| HeaderName::from_bytes(name.as_bytes()).ok())
            .collect();
        for name in named {
            headers.remove(name);
        }
    }
    for (name, present) in HOP_BY_HOP.iter().zip(present) {
        if present {
            headers.remove(name);
        }
    }
}

fn prepare_headers(
    gw: &Gateway,
    parts: &mut Parts,
    client_ip: IpAddr,
    identity: Option<&VerifiedIdentity>,
) {
    let trusted = gw.config.forwarded_hops > 0;
    let headers = &mut parts.headers;
    remove_hop_by_hop(headers);
    let host = headers.remove(header::HOST);

    let forwarded_for = match headers.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        // From the owned string: the value takes the buffer over instead of copying it.
        Some(existing) if trusted => HeaderValue::try_from(format!("{existing}, {client_ip}")).ok(),
        _ => ip_value(client_ip),
    };
    if let Some(v) = forwarded_for {
        headers.insert(X_FORWARDED_FOR, v);
    }
    if !(trusted && headers.contains_key(&X_FORWARDED_PROTO)) {
        let proto = if gw.config.behind_tls {
            "https"
        } else {
            "http"
        };
        headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(proto));
    }
    if !(trusted && headers.contains_key(&X_FORWARDED_HOST))
        && let Some(host) = host.or_else(|| {
            parts
                .uri
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        })
    {
        headers.insert(X_FORWARDED_HOST, host);
    }

    if let Some(id) = identity {
        // Built with the verified-token cache entry: a clone shares the bytes.
        if let Some(v) = &id.user_id_header {
            headers.insert(X_USER_ID, v.clone());
        }
        if let Some(v) = &id.email_header {
            headers.insert(X_USER_EMAIL, v.clone());
        }
        if let Some(v) = &id.roles_header {
            headers.insert(X_USER_ROLES, v.clone());
        }
        // Cookie-authenticated browsers: services validate the same token from Authorization.
        if !headers.contains_key(header::AUTHORIZATION)
            && let Some(Ok(v)) =
                bearer_token(headers).map(|t| HeaderValue::try_from(format!("Bearer {t}")))
        {
            headers.insert(header::AUTHORIZATION, v);
        }
    }
    dzinza_kit::telemetry::inject_context(headers);
}

/// `ip` as a header value. A connection sends many requests from one address, so each thread
/// keeps the last address's value: a repeat costs a comparison and a reference count instead
/// of formatting the address and allocating twice (the text, then sharing it for the retry copy).
fn ip_value(ip: IpAddr) -> Option<HeaderValue> {
    thread_local! {
        static LAST: RefCell<Option<(IpAddr, HeaderValue)>> = const { RefCell::new(None) };
    }
    let make = || HeaderValue::from_maybe_shared(Bytes::from(ip.to_string())).ok();
    LAST.try_with(|last| {
        // Nothing here re-enters, so the borrow always succeeds; were it not to, no caching.
        let Ok(mut last) = last.try_borrow_mut() else {
            return make();
        };
        if let Some((cached, value)) = &*last
            && *cached == ip
        {
            return Some(value.clone());
        }
        let value = make()?;
        *last = Some((ip, value.clone()));
        Some(value)
    })
    .unwrap_or_else(|_| make())
}

fn finish_response(mut response: Response) -> Response {
    remove_hop_by_hop(response.headers_mut());
    response
}

/// Why forwarding failed.
#[derive(Debug)]
pub(crate) enum ForwardError {
    CircuitOpen(Duration),
    Connect(String),
    Timeout(Duration),
    BodyTooLarge,
    Upstream(String),
}

impl ForwardError {
    fn into_problem(self, upstream: &str, limit: u64) -> Problem {
        match self {
            Self::CircuitOpen(wait) => {
                let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "upstream_circuit_open",
                    "Service temporarily unavailable",
                )
                .with_detail(format!(
                    "The {upstream} service is failing; calls are paused for {secs} s."
                ))
                .with_header(header::RETRY_AFTER, HeaderValue::from(secs))
            }
            Self::Connect(e) => {
                tracing::warn!(upstream, error = %e, "upstream unreachable");
                Problem::new(
                    StatusCode::BAD_GATEWAY,
                    "upstream_unavailable",
                    "Upstream unavailable",
                )
                .with_detail(format!("The {upstream} service cannot be reached."))
            }
            Self::Timeout(after) => Problem::new(
                StatusCode::GATEWAY_TIMEOUT,
                "upstream_timeout",
                "Upstream timed out",
            )
            .with_detail(format!(
                "The {upstream} service did not answer within {} ms.",
                after.as_millis()
            )),
            Self::BodyTooLarge => Problem::payload_too_large(limit),
            Self::Upstream(e) => {
                tracing::warn!(upstream, error = %e, "upstream call failed");
                Problem::new(StatusCode::BAD_GATEWAY, "upstream_error", "Upstream error")
                    .with_detail(format!("The {upstream} service failed to answer."))
            }
        }
    }

    fn outcome(&self) -> &'static str {
        match self {
            Self::CircuitOpen(_) => "circuit_open",
            Self::Connect(_) => "connect_error",
            Self::Timeout(_) => "timeout",
            Self::BodyTooLarge => "body_too_large",
            Self::Upstream(_) => "error",
        }
    }
}

fn is_body_limit_error(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cause {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = err.source();
    }
    false
}

fn backoff(base: Duration, attempt: u32) -> Duration {
    let cap = base.saturating_mul(1 << attempt.min(10));
    // Full jitter: spreads retries of many clients over the whole window.
    let ms = rand::rng().random_range(0..=cap.as_millis().max(1) as u64);
    Duration::from_millis(ms)
}

async fn forward(
    gw: &Gateway,
    upstream: &Upstream,
    parts: Parts,
    uri: Uri,
    body: Body,
    timeout: Duration,
    retryable: bool,
) -> Result<Response, ForwardError> {
    let max_attempts = if retryable {
        gw.config.resilience.retries + 1
    } else {
        1
    };
    let mut body = Some(body);
    let mut headers = Some(parts.headers);
    let mut uri = Some(uri);
    let mut attempt = 0;
    loop {
        attempt += 1;
        // The last possible attempt takes the headers and URI; earlier ones copy them for a
        // retry (a URI's first copy allocates, to share its text).
        let (attempt_headers, attempt_uri) = if attempt < max_attempts {
            (headers.clone(), uri.clone())
        } else {
            (headers.take(), uri.take())
        };
        let (Some(attempt_headers), Some(attempt_uri)) = (attempt_headers, attempt_uri) else {
            return Err(ForwardError::Upstream("no request left to send".into()));
        };
        let mut req = http::Request::new(body.take().unwrap_or_else(Body::empty));
        *req.method_mut() = parts.method.clone();
        *req.uri_mut() = attempt_uri;
        *req.version_mut() = http::Version::HTTP_11;
        *req.headers_mut() = attempt_headers;

        let result = attempt_once(gw, upstream, req, timeout).await;
        let retry = attempt < max_attempts
            && match &result {
                Ok(resp) => is_gateway_failure(resp.status()),
                Err(ForwardError::Connect(_)) => true,
                Err(_) => false,
            };
        let outcome = match &result {
            Ok(resp) if is_gateway_failure(resp.status()) => "bad_status",
            Ok(_) => "ok",
            Err(e) => e.outcome(),
        };
        upstream.metrics.call(outcome);
        if !retry {
            return result;
        }
        upstream.metrics.retry();
        tokio::time::sleep(backoff(gw.config.resilience.retry_base_delay, attempt - 1)).await;
    }
}

fn is_gateway_failure(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT
    )
}

async fn attempt_once(
    gw: &Gateway,
    upstream: &Upstream,
    req: http::Request<Body>,
    timeout: Duration,
) -> Result<Response, ForwardError> {
    if let Admission::Refused(wait) = upstream.breaker.admit() {
        return Err(ForwardError::CircuitOpen(wait));
    }
    match tokio::time::timeout(timeout, gw.client.request(req)).await {
        Err(_) => {
            upstream.breaker.record_failure();
            Err(ForwardError::Timeout(timeout))
        }
        Ok(Ok(resp)) => {
            if is_gateway_failure(resp.status()) {
                upstream.breaker.record_failure();
            } else {
                upstream.breaker.record_success();
            }
            Ok(resp)
        }
        Ok(Err(e)) if is_body_limit_error(&*e.error) => Err(ForwardError::BodyTooLarge),
        Ok(Err(e)) => {
            upstream.breaker.record_failure();
            let text = error_chain(&*e.error);
            if e.connect {
                Err(ForwardError::Connect(text))
            } else {
                Err(ForwardError::Upstream(text))
            }
        }
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_and_connection_named_ones_are_removed() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            "keep-alive, x-secret-hop".parse().unwrap(),
        );
        h.insert("x-secret-hop", "1".parse().unwrap());
        h.insert(header::TRANSFER_ENCODING, "chunked".parse().unwrap());
        h.insert(header::UPGRADE, "websocket".parse().unwrap());
        h.insert(header::ACCEPT, "application/json".parse().unwrap());
        remove_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key(header::ACCEPT));
    }

    #[test]
    fn connection_is_the_first_hop_by_hop_name() {
        assert_eq!(HOP_BY_HOP[0], header::CONNECTION);
    }

    #[test]
    fn connection_names_are_removed_only_when_present_and_in_any_case() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            "close, X-Secret-Hop, bad name, ,keep-alive"
                .parse()
                .unwrap(),
        );
        h.insert("x-secret-hop", "1".parse().unwrap());
        h.insert("keep-alive", "timeout=5".parse().unwrap());
        h.insert(header::ACCEPT, "application/json".parse().unwrap());
        h.insert("close-call", "kept".parse().unwrap());
        remove_hop_by_hop(&mut h);
        assert_eq!(h.len(), 2, "{h:?}");
        assert!(h.contains_key(header::ACCEPT));
        assert!(h.contains_key("close-call"));

        let mut only_connection = HeaderMap::new();
        only_connection.insert(header::CONNECTION, "keep-alive".parse().unwrap());
        only_connection.insert(header::SERVER, "nginx".parse().unwrap());
        remove_hop_by_hop(&mut only_connection);
        assert_eq!(only_connection.len(), 1);
        assert!(only_connection.contains_key(header::SERVER));

        let mut none = HeaderMap::new();
        none.insert(header::SERVER, "nginx".parse().unwrap());
        remove_hop_by_hop(&mut none);
        assert_eq!(none.len(), 1);
    }

    #[test]
    fn ip_values_are_the_address_text_whether_remembered_or_not() {
        let a: IpAddr = "10.1.2.3".parse().unwrap();
        let b: IpAddr = "2001:db8::1".parse().unwrap();
        for ip in [a, a, b, b, a, IpAddr::V4(Ipv4Addr::UNSPECIFIED)] {
            assert_eq!(ip_value(ip).unwrap(), ip.to_string().as_str());
        }
    }

    #[test]
    fn only_bodiless_safe_methods_retry() {
        let empty = HeaderMap::new();
        assert!(is_retryable(&Method::GET, &empty));
        assert!(!is_retryable(&Method::POST, &empty));
        assert!(!is_retryable(&Method::DELETE, &empty));
        let mut with_body = HeaderMap::new();
        with_body.insert(header::CONTENT_LENGTH, "5".parse().unwrap());
        assert!(!is_retryable(&Method::GET, &with_body));
    }

    #[test]
    fn client_ip_uses_trusted_forwarded_hops_only() {
        let mut headers = HeaderMap::new();
        headers.insert(X_FORWARDED_FOR, "6.6.6.6, 10.0.0.7".parse().unwrap());
        let peer = IpAddr::from([10, 1, 1, 1]);
        assert_eq!(client_ip(peer, &headers, 0).to_string(), "10.1.1.1");
        assert_eq!(client_ip(peer, &headers, 1).to_string(), "10.0.0.7");
        assert_eq!(client_ip(peer, &headers, 2).to_string(), "6.6.6.6");
        assert_eq!(client_ip(peer, &headers, 3).to_string(), "10.1.1.1");
    }

    #[test]
    fn the_router_gives_the_connection_peer() {
        let mut req = Request::new(Body::empty());
        assert_eq!(peer_of(&req), IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([10, 1, 1, 1], 5000))));
        assert_eq!(peer_of(&req).to_string(), "10.1.1.1");
    }

    #[test]
    fn backoff_stays_within_the_doubling_cap() {
        for attempt in 0..5 {
            let d = backoff(Duration::from_millis(10), attempt);
            assert!(d <= Duration::from_millis(10 << attempt));
        }
    }
}
