//! Prometheus metrics on their own listener (`--prometheus-port`, 15692 by default), as
//! RabbitMQ's `rabbitmq_prometheus` plugin serves them: `/metrics` (object families summed),
//! `/metrics/per-object` (one sample per queue, connection and channel) and
//! `/metrics/detailed` (identity only), text format 0.0.4, no authentication.
//!
//! A scrape reads the broker once (each queue's lock briefly, the registry of connections)
//! and writes the text on the blocking pool, streamed in chunks: nothing is kept between
//! scrapes and nothing is counted for it on the message path.

mod collect;
mod families;
pub mod text;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime};

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use warren_broker::Broker;

pub use collect::Registry;

/// The content type RabbitMQ answers with.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4";
/// Chunks in flight between the writer and a slow scraper.
const CHUNKS_IN_FLIGHT: usize = 4;

/// Who this node is, as `rabbitmq_identity_info` tells dashboards.
#[derive(Debug, Clone)]
pub struct Identity {
    pub node: String,
    pub cluster: String,
    /// Stable for a node: derived from its name (a cluster will share one).
    pub cluster_id: String,
    pub started: Instant,
    pub started_at: SystemTime,
}

impl Identity {
    pub fn new(node: &str) -> Self {
        use base64::Engine;
        use sha2::Digest;
        let digest = sha2::Sha256::digest(node.as_bytes());
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16]);
        Identity {
            node: node.to_owned(),
            cluster: node.to_owned(),
            cluster_id: format!("rabbitmq-cluster-id-{id}"),
            started: Instant::now(),
            started_at: SystemTime::now(),
        }
    }
}

struct Metrics {
    broker: Arc<Broker>,
    identity: Identity,
}

/// Serve the metrics on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<warren_tls::ServerTls>>,
    broker: Arc<Broker>,
    identity: Identity,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    crate::server::run(listener, tls, router(broker, identity), shutdown).await
}

pub fn router(broker: Arc<Broker>, identity: Identity) -> Router {
    let state = Arc::new(Metrics { broker, identity });
    Router::new()
        .route("/metrics", get(aggregated))
        .route("/metrics/{registry}", get(named))
        .fallback(|| async { (StatusCode::NOT_FOUND, "Not Found") })
        .with_state(state)
}

async fn aggregated(State(m): State<Arc<Metrics>>, headers: HeaderMap) -> Response {
    scrape(m, Registry::Aggregated, &headers).await
}

async fn named(
    State(m): State<Arc<Metrics>>,
    Path(registry): Path<String>,
    headers: HeaderMap,
) -> Response {
    let registry = match registry.as_str() {
        "default" => Registry::Aggregated,
        "per-object" => Registry::PerObject,
        "detailed" => Registry::Detailed,
        _ => return (StatusCode::NOT_FOUND, "Unknown Registry").into_response(),
    };
    scrape(m, registry, &headers).await
}

async fn scrape(m: Arc<Metrics>, registry: Registry, headers: &HeaderMap) -> Response {
    // RabbitMQ answers 406 to a scraper that accepts no plain text.
    if !accepts_text(headers) {
        return StatusCode::NOT_ACCEPTABLE.into_response();
    }
    let gzip = accepts_gzip(headers);
    let snapshot = collect::Snapshot::take(&m.broker, registry).await;
    let (tx, rx) = mpsc::channel::<Bytes>(CHUNKS_IN_FLIGHT);
    tokio::task::spawn_blocking(move || {
        let send = |chunk| tx.blocking_send(chunk).is_ok();
        if gzip {
            let mut gz = GzipChunks::new(send);
            snapshot.write(&m.identity, |chunk| gz.push(&chunk));
            gz.finish();
        } else {
            snapshot.write(&m.identity, send);
        }
    });
    let encoding = if gzip { "gzip" } else { "identity" };
    (
        [
            (header::CONTENT_TYPE, CONTENT_TYPE),
            (header::CONTENT_ENCODING, encoding),
        ],
        Body::new(ChunkBody { rx }),
    )
        .into_response()
}

/// Whether `Accept-Encoding` admits gzip (RabbitMQ negotiates gzip or identity; Prometheus
/// asks for gzip).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    let Some(accept) = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    accept.split(',').any(|item| {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim();
        let refused = parts.any(|p| {
            let p = p.trim();
            p.strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        !refused && (coding.eq_ignore_ascii_case("gzip") || coding == "*")
    })
}

/// Compresses the writer's chunks as one gzip stream, handing on what each produces. Level
/// 1: a scrape of 100,000 queues is tens of megabytes of text, and the broker's CPU matters
/// more than the last few percent of size.
struct GzipChunks<F: FnMut(Bytes) -> bool> {
    encoder: flate2::write::GzEncoder<Vec<u8>>,
    send: F,
    open: bool,
}

impl<F: FnMut(Bytes) -> bool> GzipChunks<F> {
    fn new(send: F) -> Self {
        Self {
            encoder: flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()),
            send,
            open: true,
        }
    }

    /// Compress one chunk; false once the scraper went away.
    fn push(&mut self, chunk: &[u8]) -> bool {
        use std::io::Write;
        if self.open && self.encoder.write_all(chunk).is_ok() {
            let out = std::mem::take(self.encoder.get_mut());
            if !out.is_empty() {
                self.open = (self.send)(Bytes::from(out));
            }
        } else {
            self.open = false;
        }
        self.open
    }

    fn finish(mut self) {
        if !self.open {
            return;
        }
        if let Ok(rest) = self.encoder.finish() {
            if !rest.is_empty() {
                (self.send)(Bytes::from(rest));
            }
        }
    }
}

/// Whether an `Accept` header (if any) admits `text/plain`.
fn accepts_text(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    accept.split(',').any(|item| {
        let media = item.split(';').next().unwrap_or("").trim();
        matches!(media, "*/*" | "text/*" | "text/plain" | "")
    })
}

/// A response body fed by the writer's chunks.
struct ChunkBody {
    rx: mpsc::Receiver<Bytes>,
}

impl http_body::Body for ChunkBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        self.rx
            .poll_recv(cx)
            .map(|chunk| chunk.map(|c| Ok(http_body::Frame::data(c))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_accept(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, value.parse().expect("header"));
        h
    }

    #[test]
    fn plain_text_is_refused_only_to_scrapers_that_exclude_it() {
        assert!(accepts_text(&HeaderMap::new()));
        assert!(accepts_text(&with_accept(
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
        )));
        assert!(!accepts_text(&with_accept("application/json")));
    }

    #[test]
    fn gzip_is_chosen_only_when_the_scraper_accepts_it() {
        let with = |value: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT_ENCODING, value.parse().expect("header"));
            h
        };
        assert!(!accepts_gzip(&HeaderMap::new()));
        assert!(accepts_gzip(&with("gzip")));
        assert!(accepts_gzip(&with("deflate, GZIP;q=0.5")));
        assert!(accepts_gzip(&with("*")));
        assert!(!accepts_gzip(&with("deflate")));
        assert!(!accepts_gzip(&with("gzip;q=0")));
    }

    #[test]
    fn gzipped_chunks_decompress_to_the_text() {
        use std::io::Read;
        let mut out = Vec::new();
        let mut gz = GzipChunks::new(|b: Bytes| {
            out.extend_from_slice(&b);
            true
        });
        let text = "rabbitmq_queues 3\n".repeat(50_000);
        for piece in text.as_bytes().chunks(7_000) {
            assert!(gz.push(piece));
        }
        gz.finish();
        let mut plain = String::new();
        flate2::read::GzDecoder::new(&out[..])
            .read_to_string(&mut plain)
            .expect("a gzip stream");
        assert_eq!(plain, text);
        assert!(out.len() < text.len() / 10, "compressed: {}", out.len());
    }

    #[test]
    fn a_node_keeps_its_cluster_id() {
        let a = Identity::new("warren@host");
        assert_eq!(a.cluster_id, Identity::new("warren@host").cluster_id);
        assert_ne!(a.cluster_id, Identity::new("warren@other").cluster_id);
        assert!(a.cluster_id.starts_with("rabbitmq-cluster-id-"));
    }
}
