//! The outbound HTTP client shared by the kit (JWKS) and the gateway (proxying).

use std::time::Duration;

use axum::body::Body;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// A pooled HTTP/1.1 client over plain TCP (in-cluster traffic; TLS terminates at the ingress).
pub type HttpClient = Client<HttpConnector, Body>;

/// Builds a client with a connect timeout and keep-alive pooling.
pub fn build(connect_timeout: Duration) -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(connect_timeout));
    connector.set_nodelay(true);
    connector.enforce_http(true);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(256)
        .build(connector)
}
