//! The floor under the gateway's per-request cost: axum plus the same pooled hyper client, with
//! nothing else (no identity, limits, metrics, spans or headers). `cargo xtask bench gateway`
//! runs it beside the gateway so the difference between the two is the gateway's own work.
//!
//! Usage: `bare_proxy LISTEN_ADDR UPSTREAM_BASE_URL`.

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use dzinza_kit::http_client::{self, HttpClient};
use std::time::Duration;

// The allocator the `dzinza` binary uses, so the floor is measured like the gateway.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Clone)]
struct Proxy {
    client: HttpClient,
    base: String,
}

async fn forward(State(p): State<Proxy>, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("/");
    let Ok(uri) = format!("{}{path}", p.base).parse() else {
        return http::StatusCode::BAD_REQUEST.into_response();
    };
    parts.uri = uri;
    parts.headers.remove(http::header::HOST);
    match p
        .client
        .request(http::Request::from_parts(parts, body))
        .await
    {
        Ok(resp) => resp.map(Body::new),
        Err(_) => http::StatusCode::BAD_GATEWAY.into_response(),
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:8099".into());
    let base = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:8098".into());
    let state = Proxy {
        client: http_client::build(Duration::from_secs(2)),
        base: base.trim_end_matches('/').to_owned(),
    };
    let app = Router::new().fallback(forward).with_state(state);
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
