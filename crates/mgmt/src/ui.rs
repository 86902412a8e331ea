//! The web UI: static files embedded in the binary (no build step; `crates/mgmt/ui`), served
//! at `/` and `/ui/…` on the management listener. The pages talk to the API like any other
//! client, with the user's basic-auth credentials.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// Every file of the UI: its path under `ui/`, content type and bytes.
const FILES: &[(&str, &str, &[u8])] = &[
    ("index.html", HTML, include_bytes!("../ui/index.html")),
    ("app.css", CSS, include_bytes!("../ui/app.css")),
    ("js/api.js", JS, include_bytes!("../ui/js/api.js")),
    ("js/app.js", JS, include_bytes!("../ui/js/app.js")),
    ("js/charts.js", JS, include_bytes!("../ui/js/charts.js")),
    ("js/dom.js", JS, include_bytes!("../ui/js/dom.js")),
    ("js/messages.js", JS, include_bytes!("../ui/js/messages.js")),
    ("js/table.js", JS, include_bytes!("../ui/js/table.js")),
    ("js/topology.js", JS, include_bytes!("../ui/js/topology.js")),
    ("js/vhosts.js", JS, include_bytes!("../ui/js/vhosts.js")),
    (
        "js/pages/admin.js",
        JS,
        include_bytes!("../ui/js/pages/admin.js"),
    ),
    (
        "js/pages/channels.js",
        JS,
        include_bytes!("../ui/js/pages/channels.js"),
    ),
    (
        "js/pages/connections.js",
        JS,
        include_bytes!("../ui/js/pages/connections.js"),
    ),
    (
        "js/pages/definitions.js",
        JS,
        include_bytes!("../ui/js/pages/definitions.js"),
    ),
    (
        "js/pages/exchange.js",
        JS,
        include_bytes!("../ui/js/pages/exchange.js"),
    ),
    (
        "js/pages/exchanges.js",
        JS,
        include_bytes!("../ui/js/pages/exchanges.js"),
    ),
    (
        "js/pages/overview.js",
        JS,
        include_bytes!("../ui/js/pages/overview.js"),
    ),
    (
        "js/pages/queue.js",
        JS,
        include_bytes!("../ui/js/pages/queue.js"),
    ),
    (
        "js/pages/queues.js",
        JS,
        include_bytes!("../ui/js/pages/queues.js"),
    ),
    (
        "vendor/uPlot.iife.min.js",
        JS,
        include_bytes!("../ui/vendor/uPlot.iife.min.js"),
    ),
    (
        "vendor/uPlot.min.css",
        CSS,
        include_bytes!("../ui/vendor/uPlot.min.css"),
    ),
    (
        "vendor/uPlot.LICENSE",
        TEXT,
        include_bytes!("../ui/vendor/uPlot.LICENSE"),
    ),
];

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

/// Scripts and styles only from this origin; the page is never framed.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; \
     style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|headers: HeaderMap| async move { serve("index.html", &headers) }))
        .route(
            "/ui/{*path}",
            get(|Path(path): Path<String>, headers: HeaderMap| async move {
                serve(&path, &headers)
            }),
        )
}

/// A file with its validator (files change only with the binary, so a digest of the bytes
/// is a stable ETag).
fn serve(path: &str, headers: &HeaderMap) -> Response {
    let Some((i, (_, content_type, bytes))) = FILES
        .iter()
        .enumerate()
        .find(|(_, (name, _, _))| *name == path)
    else {
        return (StatusCode::NOT_FOUND, "Not Found").into_response();
    };
    let etag = &etags()[i];
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes());
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, *content_type)], *bytes).into_response()
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

fn etags() -> &'static [String] {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        FILES
            .iter()
            .map(|(_, _, bytes)| {
                format!("\"{:016x}\"", crate::digest::fnv1a(bytes.iter().copied()))
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file under `ui/` is embedded (a new page not listed would be a 404).
    #[test]
    fn every_ui_file_is_embedded() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ui");
        let mut found = Vec::new();
        let mut dirs = vec![root.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).expect("ui dir") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    let rel = path.strip_prefix(&root).expect("under ui");
                    found.push(rel.to_string_lossy().replace('\\', "/"));
                }
            }
        }
        found.sort();
        let mut listed: Vec<String> = FILES.iter().map(|(p, _, _)| (*p).to_owned()).collect();
        listed.sort();
        assert_eq!(found, listed);
    }

    #[test]
    fn unknown_files_are_not_found_and_known_ones_revalidate() {
        assert_eq!(
            serve("../Cargo.toml", &HeaderMap::new()).status(),
            StatusCode::NOT_FOUND
        );
        let first = serve("js/app.js", &HeaderMap::new());
        assert_eq!(first.status(), StatusCode::OK);
        let etag = first.headers()[header::ETAG].clone();
        let mut again = HeaderMap::new();
        again.insert(header::IF_NONE_MATCH, etag);
        assert_eq!(
            serve("js/app.js", &again).status(),
            StatusCode::NOT_MODIFIED
        );
    }
}
