//! The accept loop under every server: each accepted connection gets a hyper service of its own
//! (made by a [`MakeConnection`]), served over HTTP/1.1 or HTTP/2 with upgrades, and shutdown
//! stops accepting and lets open connections finish their requests.
//!
//! A service answers hyper's requests directly, so a server that handles some requests itself
//! (the gateway's proxy path) skips axum's router and its layers for them; everything else goes
//! through a [`Router`] with [`ConnectInfo`] as `axum::serve` would give it.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::routing::future::RouteFuture;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

/// Makes the service that answers one connection's requests.
pub trait MakeConnection: Send + 'static {
    /// The per-connection service.
    type Service: hyper::service::Service<
            Request<Incoming>,
            Response = Response<Body>,
            Error = Infallible,
            Future: Send + 'static,
        > + Send
        + 'static;

    /// The service for a connection from `peer`.
    fn connection(&self, peer: SocketAddr) -> Self::Service;
}

/// A router answers every request of the connection, seeing the peer as [`ConnectInfo`].
impl MakeConnection for Router {
    type Service = RouterConnection;

    fn connection(&self, peer: SocketAddr) -> RouterConnection {
        RouterConnection {
            router: self.clone(),
            peer,
        }
    }
}

/// One connection's requests through a [`Router`].
#[derive(Clone, Debug)]
pub struct RouterConnection {
    router: Router,
    peer: SocketAddr,
}

impl RouterConnection {
    /// A connection from `peer` answered by `router`.
    pub fn new(router: Router, peer: SocketAddr) -> Self {
        Self { router, peer }
    }

    /// Answers `req` with the router, the peer added as [`ConnectInfo`].
    pub fn route(&self, mut req: Request<Body>) -> RouteFuture<Infallible> {
        req.extensions_mut().insert(ConnectInfo(self.peer));
        // A router is always ready; calling a clone is what `axum::serve` does per request.
        tower::Service::call(&mut self.router.clone(), req)
    }
}

impl hyper::service::Service<Request<Incoming>> for RouterConnection {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = RouteFuture<Infallible>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        self.route(req.map(Body::new))
    }
}

/// Accepts connections on `listener` and serves each with `make`'s service until `stop`
/// resolves; then stops accepting, runs `on_stop`, and waits until every open connection has
/// finished its in-flight requests (HTTP/1 connections close after their current response,
/// HTTP/2 ones are sent GOAWAY). The caller bounds that wait.
pub async fn serve_connections<M: MakeConnection>(
    listener: TcpListener,
    make: M,
    stop: impl Future<Output = ()>,
    on_stop: impl FnOnce(),
) {
    let graceful = GracefulShutdown::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let service = make.connection(peer);
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let mut builder = auto::Builder::new(TokioExecutor::new());
            // Extended CONNECT, for WebSockets over HTTP/2.
            builder.http2().enable_connect_protocol();
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            if let Err(e) = watcher.watch(conn).await {
                // A client going away mid-request is normal; nothing to report above debug.
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    on_stop();
    graceful.shutdown().await;
}

/// Connection-level accept errors (the peer reset before we took it) are routine; others (out
/// of file descriptors) are logged and retried after a pause rather than spinning.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn listener() -> (TcpListener, SocketAddr) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        (listener, addr)
    }

    /// Serves `router` on a loopback port until the task is aborted.
    async fn serve_router(router: Router) -> (tokio::task::JoinHandle<()>, SocketAddr) {
        let (listener, addr) = listener().await;
        let server = tokio::spawn(serve_connections(
            listener,
            router,
            std::future::pending(),
            || {},
        ));
        (server, addr)
    }

    #[tokio::test]
    async fn a_router_sees_the_peer_address() {
        let router = Router::new().route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
        );
        let (server, addr) = serve_router(router).await;
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let local = stream.local_addr().unwrap();
        stream
            .write_all(b"GET /peer HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with(&local.to_string()), "{answer}");
        server.abort();
    }

    #[tokio::test]
    async fn http2_with_prior_knowledge_is_served_too() {
        use http_body_util::BodyExt as _;
        let router = Router::new().route(
            "/v",
            get(|req: Request<Body>| async move { format!("{:?}", req.version()) }),
        );
        let (server, addr) = serve_router(router).await;
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut sender, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .unwrap();
        tokio::spawn(conn);
        let req = Request::get(format!("http://{addr}/v"))
            .body(Body::empty())
            .unwrap();
        let resp = sender.send_request(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"HTTP/2.0");
        server.abort();
    }

    #[tokio::test]
    async fn stopping_finishes_the_request_in_flight_then_closes() {
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let released = std::sync::Arc::new(tokio::sync::Mutex::new(Some(released)));
        let router = Router::new().route(
            "/slow",
            get(move || {
                let released = released.clone();
                async move {
                    if let Some(rx) = released.lock().await.take() {
                        let _ = rx.await;
                    }
                    "done"
                }
            }),
        );
        let (listener, addr) = listener().await;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let stopped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stopped.clone();
        let server = tokio::spawn(serve_connections(
            listener,
            router,
            async move {
                let _ = stop_rx.await;
            },
            move || flag.store(true, std::sync::atomic::Ordering::SeqCst),
        ));
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        stop_tx.send(()).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(stopped.load(std::sync::atomic::Ordering::SeqCst));
        assert!(
            !server.is_finished(),
            "the request in flight holds the drain"
        );
        assert!(
            tokio::net::TcpStream::connect(addr).await.is_err(),
            "no new connections once stopping"
        );
        release.send(()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("done"), "{answer}");
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("drained once the request finished")
            .unwrap();
    }
}
