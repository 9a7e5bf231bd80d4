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
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex, PoisonError, Weak};
    use std::task::{Context, Poll, Waker, ready};
    use std::time::{Duration, Instant};

    use axum::body::Body;
    use bytes::Bytes;
    use http::uri::Authority;
    use http::{HeaderValue, Request, Response, Uri};
    use http_body::{Body as _, Frame, SizeHint};
    use hyper::body::Incoming;
    use hyper::client::conn::TrySendError;
    use hyper::client::conn::http1::{self, SendRequest};
    use hyper_util::rt::TokioIo;
    use tokio::net::TcpStream;

    /// How long a connection may sit idle before it is closed rather than reused (as the
    /// pooled client's `pool_idle_timeout`).
    const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
    /// Idle connections kept per authority (as the pooled client's `pool_max_idle_per_host`).
    const MAX_IDLE: usize = 256;
    /// How often idle connections are looked at, so that one the upstream closed (or one idle
    /// for too long) is closed on our side too instead of lingering until its next use.
    const REAP_INTERVAL: Duration = Duration::from_secs(1);

    /// Idle HTTP/1.1 connections per upstream authority, for the thread that owns the pool.
    ///
    /// Unlike [`super::HttpClient`] there is no pool-wide checkout machinery and no task per
    /// connection or per request: a request takes an idle connection (or connects) and drives
    /// it itself, polling hyper's connection state machine while it waits for the response
    /// head and again from the response body, which puts the connection back when it has been
    /// read to the end. So the request, its response and the connection's I/O are one task's
    /// work, with no hand-off to a connection task and back. While a connection is idle, a
    /// small task per pool looks at it every [`REAP_INTERVAL`] and closes it if the upstream
    /// has, or if it has been idle for longer than [`IDLE_TIMEOUT`]; a request that finds its
    /// connection closed before the request went out sends it again on a fresh one. A
    /// connection that failed, or whose response body was not read to the end, is dropped
    /// (closed) and never reused. Connections stay on the runtime that opened them, so the
    /// pool belongs to one current-thread runtime.
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
        reaping: AtomicBool,
    }

    type Connection = http1::Connection<TokioIo<TcpStream>, Body>;

    /// One upstream connection: the half that sends requests and hyper's state machine for
    /// the connection, which whoever holds the link polls (it is never spawned). Boxed where
    /// it is moved around: the state machine holds the connection's buffers.
    struct Link {
        sender: SendRequest<Body>,
        conn: Connection,
        /// The waker the body is read with; see [`OwnWakes`].
        wakes: Arc<OwnWakes>,
    }

    /// A waker for reading a response body that keeps the reader's own wake-ups to itself.
    ///
    /// Taking a chunk from the body wakes whoever last waited to send one, and that is the
    /// connection, polled by the reader's task: woken through its real waker, the task would
    /// be polled again, all the way down from the server connection, to find nothing to do.
    /// While the reader is inside `poll_frame` this waker only notes a wake-up (and the reader
    /// runs the connection again before returning); outside, it passes wake-ups on to the task.
    #[derive(Default)]
    struct OwnWakes {
        task: Mutex<Option<Waker>>,
        inside: AtomicBool,
        woken: AtomicBool,
    }

    impl OwnWakes {
        /// Enters `poll_frame` on behalf of the task of `cx`.
        fn enter(&self, cx: &Context<'_>) {
            let mut task = self.task.lock().unwrap_or_else(PoisonError::into_inner);
            if !task.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *task = Some(cx.waker().clone());
            }
            drop(task);
            self.woken.store(false, Ordering::SeqCst);
            self.inside.store(true, Ordering::SeqCst);
        }

        /// Whether a wake-up arrived since the last call (or since `enter`).
        fn take_woken(&self) -> bool {
            self.woken.swap(false, Ordering::SeqCst)
        }

        /// Leaves `poll_frame`: a wake-up that came in since the last look goes to the task.
        fn leave(&self) {
            self.inside.store(false, Ordering::SeqCst);
            if self.take_woken() {
                self.wake_task();
            }
        }

        fn wake_task(&self) {
            let task = self.task.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(waker) = task.as_ref() {
                waker.wake_by_ref();
            }
        }
    }

    impl std::task::Wake for OwnWakes {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }

        fn wake_by_ref(self: &Arc<Self>) {
            self.woken.store(true, Ordering::SeqCst);
            if !self.inside.load(Ordering::SeqCst) {
                // Not reading now; `leave` catches the race with a reader that is just leaving.
                if self.take_woken() {
                    self.wake_task();
                }
            }
        }
    }

    impl std::fmt::Debug for Link {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Link").finish_non_exhaustive()
        }
    }

    impl Link {
        /// Polls the connection with `cx`; `true` once it has ended (closed or failed).
        fn drive(&mut self, cx: &mut Context<'_>) -> bool {
            Pin::new(&mut self.conn).poll(cx).is_ready()
        }

        /// Gives the connection one poll with a waker that does nothing, outside the task's
        /// cooperative budget (an exhausted budget would make the poll do nothing): it notices
        /// a close, and it leaves no task's waker behind for an idle connection to wake.
        /// `true` if it is still open and ready for another request.
        fn settle(&mut self) -> bool {
            let mut quiet = Context::from_waker(Waker::noop());
            let ended = Pin::new(&mut tokio::task::coop::unconstrained(&mut self.conn))
                .poll(&mut quiet)
                .is_ready();
            !ended && self.sender.is_ready()
        }
    }

    #[derive(Debug)]
    struct Idle {
        link: Box<Link>,
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
                    reaping: AtomicBool::new(false),
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
                let (link, reused) = match self.inner.checkout(&authority) {
                    Some(link) => (link, true),
                    None => (self.inner.connect(&authority).await?, false),
                };
                match exchange(link, req).await {
                    Ok((response, link)) => {
                        return Ok(response.map(|body| PooledBody {
                            inner: body,
                            link,
                            pool: self.inner.clone(),
                            authority,
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

    /// Sends `req` on `link` and drives the connection until the response head is in; answers
    /// it with the link when the connection is still open (its body is still to be read).
    async fn exchange(
        mut link: Box<Link>,
        req: Request<Body>,
    ) -> Result<(Response<Incoming>, Option<Box<Link>>), TrySendError<Request<Body>>> {
        // Only the connection, polled below with this task's context, ever completes the
        // answer; so the answer is polled with a waker that does nothing (its own waker would
        // only wake this task again, for nothing, once the connection has delivered it) and
        // outside the cooperative budget (which would otherwise hold it back and count on that
        // waker to come back to it).
        let answer = tokio::task::coop::unconstrained(link.sender.try_send_request(req));
        let mut answer = std::pin::pin!(answer);
        // The connection is run with the link's own waker, so that what it registers now (the
        // body's room for a chunk, above all) later wakes the task only when it has to.
        let wakes = link.wakes.clone();
        let waker = Waker::from(wakes.clone());
        let mut link = Some(link);
        std::future::poll_fn(move |cx| {
            wakes.enter(cx);
            let mut own = Context::from_waker(&waker);
            let mut quiet = Context::from_waker(Waker::noop());
            let answer = loop {
                if link.as_mut().is_some_and(|l| l.drive(&mut own)) {
                    // The connection ended (closed by the upstream, or failed). Dropping it
                    // hands an unsent request back or fails the one in flight, through the
                    // answer.
                    link = None;
                }
                let answer = answer.as_mut().poll(&mut quiet);
                if answer.is_ready() || link.is_none() || !wakes.take_woken() {
                    break answer;
                }
            };
            wakes.leave();
            match answer {
                Poll::Ready(Ok(response)) => Poll::Ready(Ok((response, link.take()))),
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            }
        })
        .await
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
        fn checkout(&self, authority: &Authority) -> Option<Box<Link>> {
            let mut idle = self.lock();
            let (_, queue) = idle.iter_mut().find(|(a, _)| a == authority)?;
            let now = Instant::now();
            while let Some(entry) = queue.pop_back() {
                if now.duration_since(entry.since) > IDLE_TIMEOUT {
                    // Everything older is older still.
                    queue.clear();
                    return None;
                }
                if entry.link.sender.is_ready() {
                    return Some(entry.link);
                }
                // Closed or failed: dropping the link closes the connection.
            }
            None
        }

        fn put(&self, authority: Authority, link: Box<Link>) {
            let entry = Idle {
                link,
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

        /// Closes the idle connections that the upstream closed, that failed, or that have
        /// been idle for longer than [`IDLE_TIMEOUT`].
        fn reap(&self) {
            let now = Instant::now();
            let mut idle = self.lock();
            for (_, queue) in idle.iter_mut() {
                queue.retain_mut(|entry| {
                    now.duration_since(entry.since) <= IDLE_TIMEOUT && entry.link.settle()
                });
            }
            idle.retain(|(_, queue)| !queue.is_empty());
        }

        /// Starts the reaping task on the current runtime, once per pool; it ends with the pool.
        fn start_reaping(self: &Arc<Self>) {
            if self.reaping.swap(true, Ordering::Relaxed) {
                return;
            }
            let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                self.reaping.store(false, Ordering::Relaxed);
                return;
            };
            let pool: Weak<Self> = Arc::downgrade(self);
            runtime.spawn(async move {
                let mut tick = tokio::time::interval(REAP_INTERVAL);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    match pool.upgrade() {
                        Some(pool) => pool.reap(),
                        None => break,
                    }
                }
            });
        }

        async fn connect(
            self: &Arc<Self>,
            authority: &Authority,
        ) -> Result<Box<Link>, ClientError> {
            self.start_reaping();
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
            // Without I/O of its own, the handshake is ready on its first poll.
            let (sender, conn) = http1::handshake(TokioIo::new(stream))
                .await
                .map_err(ClientError::Send)?;
            Ok(Box::new(Link {
                sender,
                conn,
                wakes: Arc::default(),
            }))
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

    /// An upstream response body that drives its connection while it is read and returns the
    /// connection to the pool once read to the end.
    pub struct PooledBody {
        inner: Incoming,
        /// The connection, while it is open and the body is not yet read to the end.
        link: Option<Box<Link>>,
        pool: Arc<Inner>,
        authority: Authority,
    }

    impl PooledBody {
        /// Runs the connection and reads the body with `wakes` (entered): wake-ups that this
        /// very poll causes are answered here, by running the connection again, instead of by
        /// polling the task again.
        fn poll_driving(
            &mut self,
            wakes: &Arc<OwnWakes>,
        ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
            let waker = Waker::from(wakes.clone());
            let mut own = Context::from_waker(&waker);
            loop {
                // The connection feeds the body: it has to run for the body to move.
                self.drive(&mut own);
                let frame = Pin::new(&mut self.inner).poll_frame(&mut own);
                if frame.is_ready() {
                    // Taking a chunk made room for the next: let the connection go on now.
                    // Whoever gets this frame polls again for the next, so the wake-up is
                    // answered without waking the task.
                    while self.link.is_some() && wakes.take_woken() {
                        self.drive(&mut own);
                    }
                    return frame;
                }
                if self.link.is_none() || !wakes.take_woken() {
                    // Waiting for the upstream; its wake-ups reach the task through `wakes`.
                    return frame;
                }
            }
        }

        /// Polls the connection; forgets it once it has ended (what it read is in the body
        /// already, or the body reports the failure).
        fn drive(&mut self, cx: &mut Context<'_>) {
            if self.link.as_mut().is_some_and(|l| l.drive(cx)) {
                self.link = None;
            }
        }

        /// Pools the connection if the exchange finished cleanly; otherwise closes it.
        fn release(&mut self) {
            // Settled even when it looks ready: the last poll left this task's waker in the
            // connection (its request queue, its socket), and the next request on it, from
            // another client connection's task, would otherwise wake this one for nothing.
            if let Some(mut link) = self.link.take()
                && link.settle()
            {
                // Nor a waker of the reader's task, which may be long gone by the next use.
                *link
                    .wakes
                    .task
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = None;
                self.pool.put(self.authority.clone(), link);
            }
        }
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
            let frame = match self.link.as_ref().map(|l| l.wakes.clone()) {
                Some(wakes) => {
                    wakes.enter(cx);
                    let frame = self.poll_driving(&wakes);
                    wakes.leave();
                    frame
                }
                // No connection any more: the body holds what is left of it.
                None => Pin::new(&mut self.inner).poll_frame(cx),
            };
            let frame = ready!(frame);
            match &frame {
                Some(Ok(_)) if !self.inner.is_end_stream() => {}
                Some(Ok(_)) | None => self.release(),
                // A failed body means a failed connection.
                Some(Err(_)) => self.link = None,
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
            // Otherwise dropping the link with an unread body closes the connection.
            if self.inner.is_end_stream() {
                self.release();
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

        fn idle_count(pool: &LocalPool) -> usize {
            pool.inner.lock().iter().map(|(_, q)| q.len()).sum()
        }

        #[tokio::test]
        async fn idle_connections_the_upstream_closed_are_reaped_and_open_ones_kept() {
            let (closing, _) = upstream(Script::CloseAfterOne).await;
            let (open, accepted) = upstream(Script::KeepAlive).await;
            let pool = LocalPool::new(Duration::from_secs(1));
            for addr in [closing, open] {
                let resp = pool.request(get(addr)).await.unwrap();
                assert_eq!(body_text(resp).await.unwrap(), "ok");
            }
            // Lets the closing upstream's FIN arrive.
            tokio::time::sleep(Duration::from_millis(50)).await;
            pool.inner.reap();
            assert_eq!(idle_count(&pool), 1);
            let resp = pool.request(get(open)).await.unwrap();
            assert_eq!(body_text(resp).await.unwrap(), "ok");
            assert_eq!(accepted.load(Ordering::SeqCst), 1);
        }

        #[tokio::test]
        async fn the_reaping_task_closes_a_connection_the_upstream_closed() {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            // Answers one request, then waits for our side to close the connection too.
            let closed = tokio::spawn(async move {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut buf = vec![0u8; 4096];
                let _ = socket.read(&mut buf).await.unwrap();
                socket
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await
                    .unwrap();
                socket.shutdown().await.unwrap();
                // Zero bytes: the pool closed its end without a further request.
                socket.read(&mut buf).await.unwrap()
            });
            let pool = LocalPool::new(Duration::from_secs(1));
            let resp = pool.request(get(addr)).await.unwrap();
            assert_eq!(body_text(resp).await.unwrap(), "ok");
            // A bound only so that a broken reaper fails the test instead of hanging it.
            let closed = tokio::time::timeout(Duration::from_secs(60), closed).await;
            assert_eq!(closed.expect("the pool never closed its end").unwrap(), 0);
            assert_eq!(idle_count(&pool), 0);
        }

        /// A waker that counts its wake-ups and lets [`drive_with`] wait for the next one.
        #[derive(Default)]
        struct Counting {
            wakes: AtomicUsize,
            notify: tokio::sync::Notify,
        }

        impl std::task::Wake for Counting {
            fn wake(self: Arc<Self>) {
                self.wakes.fetch_add(1, Ordering::SeqCst);
                self.notify.notify_one();
            }
        }

        /// Runs `fut` to completion polling it only with `waker`, as if it were its own task.
        async fn drive_with<F: Future>(waker: &Arc<Counting>, fut: F) -> F::Output {
            let mut fut = std::pin::pin!(fut);
            let w = Waker::from(waker.clone());
            loop {
                if let Poll::Ready(out) = fut.as_mut().poll(&mut Context::from_waker(&w)) {
                    return out;
                }
                waker.notify.notified().await;
            }
        }

        #[tokio::test]
        async fn a_pooled_connection_wakes_no_task_that_used_it_before() {
            let (addr, accepted) = upstream(Script::KeepAlive).await;
            let pool = LocalPool::new(Duration::from_secs(1));
            let first = Arc::new(Counting::default());
            let resp = drive_with(&first, pool.request(get(addr))).await.unwrap();
            let woken = first.wakes.load(Ordering::SeqCst);
            assert_eq!(drive_with(&first, body_text(resp)).await.unwrap(), "ok");
            assert_eq!(
                first.wakes.load(Ordering::SeqCst),
                woken,
                "reading a body that was in already woke its own task"
            );
            let second = Arc::new(Counting::default());
            let resp = drive_with(&second, pool.request(get(addr))).await.unwrap();
            assert_eq!(drive_with(&second, body_text(resp)).await.unwrap(), "ok");
            assert_eq!(accepted.load(Ordering::SeqCst), 1);
            assert_eq!(
                first.wakes.load(Ordering::SeqCst),
                woken,
                "the second request woke the task of the first"
            );
        }

        #[tokio::test]
        async fn large_bodies_stream_both_ways_and_the_connection_is_reused() {
            let router = axum::Router::new().fallback(|req: Request<Body>| async move {
                Response::new(Body::from_stream(req.into_body().into_data_stream()))
            });
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move { axum::serve(listener, router).await });
            let pool = LocalPool::new(Duration::from_secs(1));
            // Far more than the socket buffers hold: both directions have to make way.
            let chunk = Bytes::from(vec![7u8; 64 * 1024]);
            for _ in 0..2 {
                let chunk = chunk.clone();
                let chunks = futures_util::stream::iter(
                    (0..128).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
                );
                let req = Request::post(format!("http://{addr}/echo"))
                    .body(Body::from_stream(chunks))
                    .unwrap();
                let resp = pool.request(req).await.unwrap();
                assert_eq!(resp.status(), 200);
                let mut body = resp.into_body();
                let mut total = 0usize;
                while let Some(frame) = body.frame().await {
                    let data = frame.unwrap().into_data().unwrap();
                    assert!(data.iter().all(|&b| b == 7));
                    total += data.len();
                }
                assert_eq!(total, 128 * 64 * 1024);
            }
            assert_eq!(idle_count(&pool), 1);
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
