//! OpenAPI helpers: merging service documents and rendering a self-contained reference page
//! (no CDN scripts, so it works offline and under a strict CSP).

use std::fmt::Write as _;

use utoipa::openapi::path::{HttpMethod, Operation, ParameterIn};
use utoipa::openapi::{OpenApi, RefOr};

/// Merges several service documents into one, titled for the whole platform.
pub fn merge(title: &str, version: &str, docs: impl IntoIterator<Item = OpenApi>) -> OpenApi {
    let mut merged = utoipa::openapi::OpenApiBuilder::new()
        .info(
            utoipa::openapi::InfoBuilder::new()
                .title(title)
                .version(version)
                .description(Some(
                    "The Dzinza REST API. Every path is served through the gateway under /api; \
                     errors are application/problem+json (RFC 9457).",
                ))
                .build(),
        )
        .build();
    for doc in docs {
        merged.merge(doc);
    }
    merged
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn method_name(m: &HttpMethod) -> &'static str {
    match m {
        HttpMethod::Get => "GET",
        HttpMethod::Post => "POST",
        HttpMethod::Put => "PUT",
        HttpMethod::Delete => "DELETE",
        HttpMethod::Options => "OPTIONS",
        HttpMethod::Head => "HEAD",
        HttpMethod::Patch => "PATCH",
        HttpMethod::Trace => "TRACE",
    }
}

fn operations(item: &utoipa::openapi::PathItem) -> Vec<(HttpMethod, &Operation)> {
    [
        (HttpMethod::Get, &item.get),
        (HttpMethod::Post, &item.post),
        (HttpMethod::Put, &item.put),
        (HttpMethod::Patch, &item.patch),
        (HttpMethod::Delete, &item.delete),
        (HttpMethod::Head, &item.head),
        (HttpMethod::Options, &item.options),
        (HttpMethod::Trace, &item.trace),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.as_ref().map(|op| (m, op)))
    .collect()
}

/// Renders a browsable HTML reference of every operation and schema in `doc`.
pub fn reference_page(doc: &OpenApi) -> String {
    let mut html = String::new();
    let title = esc(&doc.info.title);
    let _ = write!(
        html,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{title} reference</title><style>\
         body{{font:15px/1.5 system-ui,sans-serif;margin:0 auto;max-width:980px;padding:1rem 2rem;color:#222}}\
         h1{{margin-bottom:0}} .op{{border:1px solid #ddd;border-radius:6px;margin:.6rem 0;padding:.4rem .8rem}}\
         .m{{display:inline-block;min-width:4.5rem;font-weight:700;font-family:monospace}}\
         .GET{{color:#1b6ac9}}.POST{{color:#1a8a3a}}.PUT,.PATCH{{color:#a86b00}}.DELETE{{color:#b3261e}}\
         code,pre{{background:#f5f5f5;border-radius:4px;padding:0 .3rem}} pre{{padding:.6rem;overflow:auto}}\
         table{{border-collapse:collapse}} td,th{{border-bottom:1px solid #eee;padding:.2rem .6rem;text-align:left}}\
         details>summary{{cursor:pointer}}</style></head><body>\
         <h1>{title}</h1><p>Version {} · <a href=\"/api/openapi.json\">openapi.json</a></p>",
        esc(&doc.info.version)
    );
    if let Some(d) = &doc.info.description {
        let _ = write!(html, "<p>{}</p>", esc(d));
    }
    html.push_str("<h2>Operations</h2>");
    for (path, item) in &doc.paths.paths {
        for (method, op) in operations(item) {
            let m = method_name(&method);
            let _ = write!(
                html,
                "<div class=\"op\"><details><summary><span class=\"m {m}\">{m}</span> <code>{}</code> {}</summary>",
                esc(path),
                esc(op.summary.as_deref().unwrap_or(""))
            );
            if let Some(d) = &op.description {
                let _ = write!(html, "<p>{}</p>", esc(d));
            }
            if let Some(params) = &op.parameters {
                html.push_str("<table><tr><th>parameter</th><th>in</th><th>required</th><th>description</th></tr>");
                for p in params {
                    let location = match p.parameter_in {
                        ParameterIn::Path => "path",
                        ParameterIn::Query => "query",
                        ParameterIn::Header => "header",
                        ParameterIn::Cookie => "cookie",
                    };
                    let required = matches!(p.required, utoipa::openapi::Required::True);
                    let _ = write!(
                        html,
                        "<tr><td><code>{}</code></td><td>{location}</td><td>{}</td><td>{}</td></tr>",
                        esc(&p.name),
                        if required { "yes" } else { "no" },
                        esc(p.description.as_deref().unwrap_or(""))
                    );
                }
                html.push_str("</table>");
            }
            if let Some(body) = &op.request_body {
                let json = serde_json::to_string_pretty(body).unwrap_or_default();
                let _ = write!(html, "<p>Request body</p><pre>{}</pre>", esc(&json));
            }
            html.push_str("<table><tr><th>status</th><th>meaning</th></tr>");
            for (status, resp) in &op.responses.responses {
                let text = match resp {
                    RefOr::T(r) => r.description.clone(),
                    RefOr::Ref(r) => r.ref_location.clone(),
                };
                let _ = write!(
                    html,
                    "<tr><td>{}</td><td>{}</td></tr>",
                    esc(status),
                    esc(&text)
                );
            }
            html.push_str("</table></details></div>");
        }
    }
    if let Some(components) = &doc.components {
        html.push_str("<h2>Schemas</h2>");
        for (name, schema) in &components.schemas {
            let json = serde_json::to_string_pretty(schema).unwrap_or_default();
            let _ = write!(
                html,
                "<details id=\"schema-{0}\"><summary><code>{0}</code></summary><pre>{1}</pre></details>",
                esc(name),
                esc(&json)
            );
        }
    }
    html.push_str("</body></html>");
    html
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::openapi::path::{OperationBuilder, PathItem};
    use utoipa::openapi::{PathsBuilder, ResponseBuilder};

    fn doc(path: &str, summary: &str) -> OpenApi {
        let op = OperationBuilder::new()
            .summary(Some(summary))
            .response(
                "200",
                ResponseBuilder::new().description("ok <fine>").build(),
            )
            .build();
        utoipa::openapi::OpenApiBuilder::new()
            .paths(PathsBuilder::new().path(path, PathItem::new(HttpMethod::Get, op)))
            .build()
    }

    #[test]
    fn merges_paths_and_renders_escaped_html() {
        let merged = merge("Dzinza", "1", [doc("/a", "list a"), doc("/b", "list b")]);
        assert_eq!(merged.paths.paths.len(), 2);
        let html = reference_page(&merged);
        assert!(html.contains("<code>/a</code> list a"));
        assert!(html.contains("ok &lt;fine&gt;"));
        assert!(!html.contains("<script"));
    }
}
