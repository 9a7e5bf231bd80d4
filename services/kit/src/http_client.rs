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

pub use pool::{ClientError, LocalPool, PooledBody};

/// A connection pool on `hyper::client::conn::http1` for one server thread.
mod pool {
    use std::collections::VecDeque;
    use std::pin::Pin;
    use std::sync::{Arc, Mutex, PoisonError};
    use std::task::{Context, Poll, ready};
    use std::time::{Duration, Instant};

    use axum::body::Body;
    use bytes::Bytes;
    use http::uri::Authority;
    use http::{HeaderValue, Request, Response, Uri};
    use http_body::{Body as _, Frame, SizeHint};
    use hyper::body::Incoming;
    use hyper::client::conn::http1::{self, SendRequest};
    use hyper_util::rt::TokioIo;
    use tokio::net::TcpStream;

    /// How long a connection may sit idle before it is closed rather than reused (as the
    /// pooled client's `pool_idle_timeout`).
    const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
    /// Idle connections kept per authority (as the pooled client's `pool_max_idle_per_host`).
    const MAX_IDLE: usize = 256;

    /// Idle HTTP/1.1 connections per upstream authority, for the thread that owns the pool.
    ///
    /// Unlike [`super::HttpClient`] there is no pool-wide checkout machinery and no task per
    /// request waiting for the connection to become idle again: a request takes an idle sender
    /// (or connects), and the response body puts it back when it has been read to the end.
    /// Each connection's dispatcher is spawned on the runtime current at connect time, so a
    /// pool used from one current-thread runtime keeps its connections on that thread. A
    /// connection that failed, closed, or whose response body was not read to the end is
    /// dropped and never reused.
    #[derive(Clone, Debug)]
    pub struct LocalPool {
        inner: Arc<Inner>,
    }

    #[derive(Debug)]
    struct Inner {
        connect_timeout: Duration,
        // Owned by one thread in practice: the lock is uncontended and only keeps the type Sync
        // (axum's handlers must be Send).
        idle: Mutex<Vec<(Authority, VecDeque<Idle>)>>,
    }

    #[derive(Debug)]
    struct Idle {
        sender: SendRequest<Body>,
        since: Instant,
    }

    /// Why a request through a [`LocalPool`] failed.
    #[derive(Debug)]
    pub enum ClientError {
        /// The URI has no `http` scheme and authority to connect to.
        InvalidUri,
        /// No connection could be opened (resolution, refusal or the connect timeout).
        Connect(std::io::Error),
        /// The connection failed while sending the request or reading the response head.
        Send(hyper::Error),
    }

    impl ClientError {
        /// Whether the request never reached the upstream because no connection was made.
        pub fn is_connect(&self) -> bool {
            matches!(self, Self::Connect(_))
        }
    }

    impl std::fmt::Display for ClientError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match self {
                Self::InvalidUri => f.write_str("the request URI is not an absolute http URI"),
                Self::Connect(_) => f.write_str("error connecting to the upstream"),
                Self::Send(_) => f.write_str("error sending the request"),
            }
        }
    }

    impl std::error::Error for ClientError {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            match self {
                Self::InvalidUri => None,
                Self::Connect(e) => Some(e),
                Self::Send(e) => Some(e),
            }
        }
    }

    impl LocalPool {
        /// An empty pool whose connection attempts give up after `connect_timeout`.
        pub fn new(connect_timeout: Duration) -> Self {
            Self {
                inner: Arc::new(Inner {
                    connect_timeout,
                    idle: Mutex::new(Vec::new()),
                }),
            }
        }

        /// Sends `req` (absolute-form `http` URI) over an idle connection to its authority or a
        /// new one, adding `Host` if absent. The response body streams from the connection.
        pub async fn request(
            &self,
            mut req: Request<Body>,
        ) -> Result<Response<PooledBody>, ClientError> {
            let uri = req.uri();
            if uri.scheme() != Some(&http::uri::Scheme::HTTP) {
                return Err(ClientError::InvalidUri);
            }
            let Some(authority) = uri.authority().cloned() else {
                return Err(ClientError::InvalidUri);
            };
            if !req.headers().contains_key(http::header::HOST) {
                // The authority of a parsed URI is always a valid header value; port 80 is
                // left in if given, which servers accept.
                if let Ok(host) = HeaderValue::from_str(authority.as_str()) {
                    req.headers_mut().insert(http::header::HOST, host);
                }
            }
            *req.uri_mut() = origin_form(req.uri());
            loop {
                let (mut sender, reused) = match self.inner.checkout(&authority) {
                    Some(sender) => (sender, true),
                    // Boxed: connecting is rare on kept-alive connections and its future
                    // large; inline, every request's future would carry (and move) its size.
                    None => (Box::pin(self.inner.connect(&authority)).await?, false),
                };
                match sender.try_send_request(req).await {
                    Ok(response) => {
                        let back = Return {
                            sender,
                            pool: self.inner.clone(),
                            authority,
                        };
                        return Ok(response.map(|body| PooledBody {
                            inner: body,
                            back: Some(back),
                        }));
                    }
                    Err(mut e) => match e.take_message() {
                        // A reused connection closed before taking the request (the upstream
                        // ended an idle connection): nothing was sent, so a fresh one may.
                        Some(unsent) if reused => req = unsent,
                        _ => return Err(ClientError::Send(e.into_error())),
                    },
                }
            }
        }
    }

    /// `/path?query` of an absolute URI: what HTTP/1.1 sends to an origin server.
    fn origin_form(uri: &Uri) -> Uri {
        match uri.path_and_query() {
            Some(pq) if pq.as_str() != "/" => Uri::from(pq.clone()),
            _ => Uri::from_static("/"),
        }
    }

    impl Inner {
        fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(Authority, VecDeque<Idle>)>> {
            // The pool holds no invariant a panicking holder could break.
            self.idle.lock().unwrap_or_else(PoisonError::into_inner)
        }

        /// The most recently used idle connection to `authority` that is still ready.
        fn checkout(&self, authority: &Authority) -> Option<SendRequest<Body>> {
            let mut idle = self.lock();
            let (_, queue) = idle.iter_mut().find(|(a, _)| a == authority)?;
            let now = Instant::now();
            while let Some(entry) = queue.pop_back() {
                if now.duration_since(entry.since) > IDLE_TIMEOUT {
                    // Everything older is older still.
                    queue.clear();
                    return None;
                }
                if entry.sender.is_ready() {
                    return Some(entry.sender);
                }
                // Closed or failed: dropping the sender lets its dispatcher end.
            }
            None
        }

        fn put(&self, authority: Authority, sender: SendRequest<Body>) {
            let entry = Idle {
                sender,
                since: Instant::now(),
            };
            let mut idle = self.lock();
            let queue = match idle.iter().position(|(a, _)| *a == authority) {
                Some(i) => &mut idle[i].1,
                None => {
                    idle.push((authority, VecDeque::new()));
                    let last = idle.len() - 1;
                    &mut idle[last].1
                }
            };
            if queue.len() >= MAX_IDLE {
                queue.pop_front();
            }
            queue.push_back(entry);
        }

        async fn connect(&self, authority: &Authority) -> Result<SendRequest<Body>, ClientError> {
            let port = authority.port_u16().unwrap_or(80);
            let host = authority.host();
            // An IPv6 literal comes bracketed in the authority; the resolver wants it bare.
            let host = host
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .unwrap_or(host);
            let stream = tokio::time::timeout(self.connect_timeout, connect_any(host, port))
                .await
                .map_err(|_| {
                    ClientError::Connect(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!(
                            "connect timed out after {} ms",
                            self.connect_timeout.as_millis()
                        ),
                    ))
                })?
                .map_err(ClientError::Connect)?;
            // Requests and responses are small writes; Nagle would hold them back.
            stream.set_nodelay(true).map_err(ClientError::Connect)?;
            let (sender, connection) = http1::handshake(TokioIo::new(stream))
                .await
                .map_err(ClientError::Send)?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, "upstream connection ended with an error");
                }
            });
            Ok(sender)
        }
    }

    /// Connects to the first address of `host` that accepts.
    async fn connect_any(host: &str, port: u16) -> std::io::Result<TcpStream> {
        let mut last = None;
        for addr in tokio::net::lookup_host((host, port)).await? {
            match TcpStream::connect(addr).await {
                Ok(stream) => return Ok(stream),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{host} resolves to no address"),
            )
        }))
    }

    /// A connection waiting for its response body to end before going back to the pool.
    struct Return {
        sender: SendRequest<Body>,
        pool: Arc<Inner>,
        authority: Authority,
    }

    impl Return {
        fn release(self) {
            let Self {
                mut sender,
                pool,
                authority,
            } = self;
            if sender.is_ready() {
                pool.put(authority, sender);
            } else if !sender.is_closed()
                && let Ok(runtime) = tokio::runtime::Handle::try_current()
            {
                // The dispatcher has not yet asked for the next request (it finishes the
                // response on its next poll): pool the connection once it does.
                runtime.spawn(async move {
                    if sender.ready().await.is_ok() {
                        pool.put(authority, sender);
                    }
                });
            }
        }
    }

    /// An upstream response body that returns its connection to the pool once read to the end.
    pub struct PooledBody {
        inner: Incoming,
        back: Option<Return>,
    }

    impl std::fmt::Debug for PooledBody {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("PooledBody").finish_non_exhaustive()
        }
    }

    impl http_body::Body for PooledBody {
        type Data = Bytes;
        type Error = hyper::Error;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
            let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
            match &frame {
                Some(Ok(_)) if !self.inner.is_end_stream() => {}
                Some(Ok(_)) | None => {
                    if let Some(back) = self.back.take() {
                        back.release();
                    }
                }
                // A failed body means a failed connection.
                Some(Err(_)) => self.back = None,
            }
            Poll::Ready(frame)
        }

        fn is_end_stream(&self) -> bool {
            self.inner.is_end_stream()
        }

        fn size_hint(&self) -> SizeHint {
            self.inner.size_hint()
        }
    }

    impl Drop for PooledBody {
        fn drop(&mut self) {
            // Read to the end (or empty) but not polled to `None`: the connection is clean.
            // Otherwise dropping the sender with an unread body closes the connection.
            if self.inner.is_end_stream()
                && let Some(back) = self.back.take()
            {
                back.release();
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use http_body_util::BodyExt;
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        use tokio::net::TcpListener;

        /// How a scripted upstream treats each connection after reading one request head.
        #[derive(Clone, Copy)]
        enum Script {
            /// Answers every request on the connection (keep-alive).
            KeepAlive,
            /// Answers one request, then closes without saying so (no `Connection: close`).
            CloseAfterOne,
            /// Sends half a response head, then closes.
            DropInHead,
            /// Sends the head and part of a 10-byte body, then closes.
            DropInBody,
        }

        /// A raw loopback upstream following `script`; counts accepted connections.
        async fn upstream(script: Script) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let accepted = Arc::new(AtomicUsize::new(0));
            let count = accepted.clone();
            tokio::spawn(async move {
                while let Ok((mut socket, _)) = listener.accept().await {
                    count.fetch_add(1, Ordering::SeqCst);
                    tokio::spawn(async move {
                        let mut buf = Vec::new();
                        loop {
                            // Requests here have no body: a head ends the request.
                            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                                let mut chunk = [0u8; 1024];
                                match socket.read(&mut chunk).await {
                                    Ok(0) | Err(_) => return,
                                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                                }
                            }
                            buf.clear();
                            let reply: &[u8] = match script {
                                Script::KeepAlive | Script::CloseAfterOne => {
                                    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
                                }
                                Script::DropInHead => b"HTTP/1.1 200 OK\r\ncontent-le",
                                Script::DropInBody => {
                                    b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\npart"
                                }
                            };
                            if socket.write_all(reply).await.is_err() {
                                return;
                            }
                            if !matches!(script, Script::KeepAlive) {
                                return;
                            }
                        }
                    });
                }
            });
            (addr, accepted)
        }

        fn get(addr: std::net::SocketAddr) -> Request<Body> {
            Request::get(format!("http://{addr}/v1/x?y=1"))
                .body(Body::empty())
                .unwrap()
        }

        async fn body_text(resp: Response<PooledBody>) -> Result<String, hyper::Error> {
            let bytes = resp.into_body().collect().await?.to_bytes();
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        }

        #[tokio::test]
        async fn sequential_requests_reuse_one_connection() {
            let (addr, accepted) = upstream(Script::KeepAlive).await;
            let pool = LocalPool::new(Duration::from_secs(1));
            for _ in 0..5 {
                let resp = pool.request(get(addr)).await.unwrap();
                assert_eq!(resp.status(), 200);
                assert_eq!(body_text(resp).await.unwrap(), "ok");
            }
            assert_eq!(accepted.load(Ordering::SeqCst), 1);
        }

        #[tokio::test]
        async fn a_body_dropped_unread_closes_its_connection() {
            let (addr, accepted) = upstream(Script::KeepAlive).await;
            let pool = LocalPool::new(Duration::from_secs(1));
            let resp = pool.request(get(addr)).await.unwrap();
            drop(resp);
            let resp = pool.request(get(addr)).await.unwrap();
            assert_eq!(body_text(resp).await.unwrap(), "ok");
            assert_eq!(accepted.load(Ordering::SeqCst), 2);
        }

        #[tokio::test]
        async fn a_connection_closed_by_the_upstream_is_not_reused() {
            let (addr, accepted) = upstream(Script::CloseAfterOne).await;
            let pool = LocalPool::new(Duration::from_secs(1));
            for i in 0..3 {
                let resp = pool.request(get(addr)).await.unwrap();
                assert_eq!(body_text(resp).await.unwrap(), "ok", "request {i}");
                // Lets the connection's dispatcher see the upstream's FIN.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert_eq!(accepted.load(Ordering::SeqCst), 3);
        }

        #[tokio::test]
        async fn a_connection_closed_while_pooled_is_retried_unsent_on_a_fresh_one() {
            let (addr, accepted) = upstream(Script::CloseAfterOne).await;
            let pool = LocalPool::new(Duration::from_secs(1));
            // No pause: the next request may find the closed connection still looking ready.
            for i in 0..3 {
                let resp = pool.request(get(addr)).await.unwrap();
                assert_eq!(body_text(resp).await.unwrap(), "ok", "request {i}");
            }
            assert_eq!(accepted.load(Ordering::SeqCst), 3);
        }

        #[tokio::test]
        async fn an_upstream_dropping_mid_head_is_a_send_error() {
            let (addr, _) = upstream(Script::DropInHead).await;
            let pool = LocalPool::new(Duration::from_secs(1));
            let err = pool.request(get(addr)).await.unwrap_err();
            assert!(matches!(err, ClientError::Send(_)), "{err:?}");
            assert!(!err.is_connect());
        }

        #[tokio::test]
        async fn an_upstream_dropping_mid_body_fails_the_body_and_the_connection() {
            let (addr, accepted) = upstream(Script::DropInBody).await;
            let pool = LocalPool::new(Duration::from_secs(1));
            let resp = pool.request(get(addr)).await.unwrap();
            assert!(body_text(resp).await.is_err());
            let resp = pool.request(get(addr)).await.unwrap();
            assert!(body_text(resp).await.is_err());
            assert_eq!(accepted.load(Ordering::SeqCst), 2);
        }

        #[tokio::test]
        async fn requests_go_out_in_origin_form_with_a_host() {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let seen = tokio::spawn(async move {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut buf = vec![0u8; 4096];
                let n = socket.read(&mut buf).await.unwrap();
                socket
                    .write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
                    .await
                    .unwrap();
                String::from_utf8_lossy(&buf[..n]).into_owned()
            });
            let pool = LocalPool::new(Duration::from_secs(1));
            let resp = pool.request(get(addr)).await.unwrap();
            assert_eq!(resp.status(), 204);
            let head = seen.await.unwrap().to_ascii_lowercase();
            assert!(head.starts_with("get /v1/x?y=1 http/1.1\r\n"), "{head}");
            assert!(head.contains(&format!("host: {addr}\r\n")), "{head}");
        }

        #[tokio::test]
        async fn refused_and_unresolvable_upstreams_are_connect_errors() {
            let dead = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = dead.local_addr().unwrap();
            drop(dead);
            let pool = LocalPool::new(Duration::from_secs(1));
            assert!(pool.request(get(addr)).await.unwrap_err().is_connect());
            let req = Request::get("http://no-such-host.invalid/")
                .body(Body::empty())
                .unwrap();
            assert!(pool.request(req).await.unwrap_err().is_connect());
            let req = Request::get("/relative").body(Body::empty()).unwrap();
            assert!(matches!(
                pool.request(req).await.unwrap_err(),
                ClientError::InvalidUri
            ));
        }
    }
}
