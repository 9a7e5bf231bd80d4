//! The floor under the gateway's per-request cost: axum plus the same upstream client, with
//! nothing else (no identity, limits, metrics, spans or headers). `cargo xtask bench gateway`
//! runs it beside the gateway so the difference between the two is the gateway's own work.
//! Since the gateway answers API calls without axum's router and `serve` loop (hyper-util
//! directly, see `dzinza_kit::connections`), it can now cost less than this "floor"; the proxy
//! stays as it was so that rounds compare with earlier ones.
//!
//! Usage: `bare_proxy LISTEN_ADDR UPSTREAM_BASE_URL`. Each thread reaches the upstream through
//! its own kit `LocalPool`, as the gateway's server threads do; `BARE_PROXY_CLIENT=shared`
//! uses hyper-util's pooled client instead (the floor of the rounds before the gateway moved
//! to `LocalPool`).

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use dzinza_kit::http_client::{self, HttpClient, LocalPool};
use std::time::Duration;

// The allocator the `dzinza` binary uses, so the floor is measured like the gateway.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Clone)]
struct Proxy {
    client: Client,
    base: String,
}

#[derive(Clone)]
enum Client {
    // Boxed: it is large, and only the comparison with earlier rounds uses it.
    Shared(Box<HttpClient>),
    Local(LocalPool),
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
    let req = http::Request::from_parts(parts, body);
    let resp = match &p.client {
        Client::Shared(client) => client.request(req).await.map(|r| r.map(Body::new)).ok(),
        Client::Local(pool) => pool.request(req).await.map(|r| r.map(Body::new)).ok(),
    };
    resp.unwrap_or_else(|| http::StatusCode::BAD_GATEWAY.into_response())
}

/// Serves the proxy on one thread per core, each with a current-thread runtime, its own
/// `SO_REUSEPORT` listener and its own client pool: the gateway's serving model, so the floor
/// compares with it (`BARE_PROXY_THREADS`, default the number of cores).
fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:8099".into());
    let base = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:8098".into());
    let base = base.trim_end_matches('/').to_owned();
    let addr = listen
        .parse()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let threads = std::env::var("BARE_PROXY_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(dzinza_kit::server::default_threads);
    let shared = std::env::var("BARE_PROXY_CLIENT").is_ok_and(|v| v == "shared");
    let listeners = dzinza_kit::server::bind_reuseport(addr, threads)?;
    let handles: Vec<_> = listeners
        .into_iter()
        .map(|listener| {
            let base = base.clone();
            std::thread::spawn(move || -> std::io::Result<()> {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                runtime.block_on(async move {
                    let connect_timeout = Duration::from_secs(2);
                    let client = if shared {
                        Client::Shared(Box::new(http_client::build(connect_timeout)))
                    } else {
                        Client::Local(LocalPool::new(connect_timeout))
                    };
                    let state = Proxy { client, base };
                    let app = Router::new().fallback(forward).with_state(state);
                    let listener = tokio::net::TcpListener::from_std(listener)?;
                    axum::serve(listener, app).await
                })
            })
        })
        .collect();
    for handle in handles {
        handle
            .join()
            .map_err(|_| std::io::Error::other("a proxy thread panicked"))??;
    }
    Ok(())
}
