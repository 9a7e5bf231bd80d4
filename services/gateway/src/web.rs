//! What the gateway serves itself: the OpenAPI document, the reference page, the web app (or a
//! landing page when none is configured).

use std::path::Path;
use std::sync::Arc;

use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use dzinza_kit::Problem;
use http::{HeaderValue, Uri, header};
use tower_http::services::{ServeDir, ServeFile};

use crate::Gateway;

/// The published API description, rendered once at start.
#[derive(Debug)]
pub(crate) struct Docs {
    json: String,
    html: String,
}

impl Docs {
    pub(crate) fn new(openapi: utoipa::openapi::OpenApi) -> Self {
        let html = dzinza_kit::openapi::reference_page(&openapi);
        let json = openapi.to_pretty_json().unwrap_or_else(|_| "{}".to_owned());
        Self { json, html }
    }
}

/// `GET /api/openapi.json`.
#[utoipa::path(get, path = "/api/openapi.json", tag = "gateway",
    responses((status = 200, description = "The merged OpenAPI 3.1 document of every service")))]
pub(crate) async fn openapi_json(State(gw): State<Arc<Gateway>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        gw.docs.json.clone(),
    )
        .into_response()
}

/// `GET /api/docs`.
#[utoipa::path(get, path = "/api/docs", tag = "gateway",
    responses((status = 200, description = "A browsable HTML reference of the API", content_type = "text/html")))]
pub(crate) async fn docs_page(State(gw): State<Arc<Gateway>>) -> Html<String> {
    Html(gw.docs.html.clone())
}

/// The web app from `dir`, with `index.html` for client-side routes.
pub(crate) fn spa(dir: &Path) -> ServeDir<ServeFile> {
    ServeDir::new(dir)
        .append_index_html_on_directories(true)
        .fallback(ServeFile::new(dir.join("index.html")))
}

/// Without a web app: a small page pointing at the API, and 404 problems elsewhere.
pub(crate) async fn landing(State(gw): State<Arc<Gateway>>, uri: Uri) -> Response {
    if uri.path() != "/" {
        return Problem::not_found(format!("Nothing is served at {}.", uri.path())).into_response();
    }
    let upstreams: String = gw
        .upstream_states()
        .map(|(name, state)| format!("<li>{name}: circuit {state}</li>"))
        .collect();
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Dzinza</title>\
         <style>body{{font:16px/1.5 system-ui,sans-serif;max-width:720px;margin:3rem auto;padding:0 1rem}}</style>\
         </head><body><h1>Dzinza</h1><p>The genealogy platform's API gateway is running.</p>\
         <ul><li><a href=\"/api/docs\">API reference</a> (<a href=\"/api/openapi.json\">openapi.json</a>)</li>\
         <li><a href=\"/readyz\">Readiness</a> · <a href=\"/healthz\">Liveness</a> · <a href=\"/metrics\">Metrics</a></li></ul>\
         <h2>Services</h2><ul>{upstreams}</ul>\
         <p>No web app is configured; set DZINZA_SPA_DIR to serve one here.</p></body></html>"
    ))
    .into_response()
}
