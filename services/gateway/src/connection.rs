//! How the gateway answers a connection: API calls (`/api/v{N}/...`) go straight to the proxy
//! under the standard middleware (and CORS when configured), everything else through the
//! router. The direct path is the hot one: it skips the router's matching, its path-parameter,
//! matched-path and route-label extensions, and three of the four boxed futures per request,
//! and it knows the peer address without an extension. Both paths give the same responses, headers and metrics.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::routing::future::RouteFuture;
use dzinza_kit::connections::{MakeConnection, RouterConnection};
use dzinza_kit::server::StandardLayer;
use futures_util::future::{BoxFuture, Either};
use http::{Request, Response};
use hyper::body::Incoming;
use tower::{Layer as _, Service};
use tower_http::cors::{Cors, CorsLayer};
use tracing::Instrument as _;

use crate::Gateway;
use crate::proxy;

/// Whether the router would send `path` to the proxy (its `/api/{*rest}` route) rather than to
/// the API description, the reference page or the fallback.
pub(crate) fn is_proxied(path: &str) -> bool {
    path.len() > "/api/".len()
        && path.starts_with("/api/")
        && path != crate::OPENAPI_PATH
        && path != crate::DOCS_PATH
}

/// Makes each connection's service; one per server thread (its gateway has its own pool).
#[derive(Clone, Debug)]
pub struct GatewayServer {
    gw: Arc<Gateway>,
    router: Router,
    standard: StandardLayer,
    cors: Option<CorsLayer>,
}

impl GatewayServer {
    pub(crate) fn new(
        gw: Arc<Gateway>,
        router: Router,
        standard: StandardLayer,
        cors: Option<CorsLayer>,
    ) -> Self {
        Self {
            gw,
            router,
            standard,
            cors,
        }
    }
}

impl MakeConnection for GatewayServer {
    type Service = GatewayConnection;

    fn connection(&self, peer: SocketAddr) -> GatewayConnection {
        let api = DirectApi {
            gw: self.gw.clone(),
            standard: self.standard.clone(),
            peer: peer.ip(),
        };
        GatewayConnection {
            api: match &self.cors {
                None => Api::Plain(api),
                Some(cors) => Api::Cors(Box::new(cors.layer(api))),
            },
            router: RouterConnection::new(self.router.clone(), peer),
        }
    }
}

/// One connection's requests.
#[derive(Clone, Debug)]
pub struct GatewayConnection {
    api: Api,
    router: RouterConnection,
}

/// The direct API path, with CORS around it when the router has it too.
#[derive(Clone, Debug)]
enum Api {
    Plain(DirectApi),
    // Boxed: CORS state is large and most deployments serve the web app from the same origin.
    Cors(Box<Cors<DirectApi>>),
}

type Answer = Result<Response<Body>, Infallible>;

impl hyper::service::Service<Request<Incoming>> for GatewayConnection {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Either<BoxFuture<'static, Answer>, RouteFuture<Infallible>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let req = req.map(Body::new);
        if !is_proxied(req.uri().path()) {
            return Either::Right(self.router.route(req));
        }
        // The services are always ready (no back-pressure below them), as the router's are;
        // a call takes `&mut`, so each request calls a clone (reference counts only).
        Either::Left(match &self.api {
            Api::Plain(api) => api.clone().call(req),
            Api::Cors(api) => Box::pin(api.as_ref().clone().call(req)),
        })
    }
}

/// The proxy for one connection's API calls, inside the standard middleware (one boxed future
/// for both).
#[derive(Clone, Debug)]
pub struct DirectApi {
    gw: Arc<Gateway>,
    standard: StandardLayer,
    peer: IpAddr,
}

impl Service<Request<Body>> for DirectApi {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Answer>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        let scope = self.standard.begin(&mut req);
        let span = scope.span().clone();
        let gw = self.gw.clone();
        let peer = self.peer;
        Box::pin(
            async move {
                // The proxy's future is large (kilobytes): boxed on its own it is built in place
                // once, where inline it would be copied with this one at every move (into the
                // span wrapper, into the box).
                let (mut response, label) = Box::pin(proxy::api_from(&gw, peer, req)).await;
                scope.finish(&mut response, Some(label));
                Ok(response)
            }
            .instrument(span),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths_are_proxied_and_the_gateways_own_are_not() {
        for path in [
            "/api/v1/trees",
            "/api/v2/x/y",
            "/api/x",
            "/api/openapi.json/",
            "/api/docs/x",
        ] {
            assert!(is_proxied(path), "{path}");
        }
        for path in [
            "/api/",
            "/api",
            "/api/openapi.json",
            "/api/docs",
            "/",
            "/apix/v1",
            "/healthz",
        ] {
            assert!(!is_proxied(path), "{path}");
        }
    }
}
