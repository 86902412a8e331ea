//! warren-mgmt: the management HTTP API, compatible with RabbitMQ 3.x's management plugin
//! (paths, methods, status codes, JSON shapes, `%2F` for the vhost "/"). Every change goes
//! through the broker's control plane ([`warren_broker::control`]); listings are snapshots
//! from its queries.
//!
//! - [`auth`]: basic auth and what user tags allow.
//! - [`listing`]: sorting, filtering, columns and pagination.
//! - [`render`]: snapshots as RabbitMQ's JSON; [`rates`]: `*_details.rate`.
//! - `routes::*`: one module per group of endpoints.
//! - [`prometheus`]: the metrics listener (its own port, RabbitMQ's metric names).
//! - `ui`: the web UI's files, embedded, at `/`.

pub mod auth;
mod digest;
pub mod error;
pub mod listing;
pub mod message;
pub mod path;
pub mod process;
pub mod prometheus;
pub mod rates;
pub mod render;
mod routes;
pub mod server;
mod ui;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{Map, Value};
use tokio::net::TcpListener;
use warren_broker::control::Outcome;
use warren_broker::Broker;

use crate::error::{ApiError, ApiResult};
use crate::listing::ListParams;

/// The RabbitMQ release whose management API (and metrics) Warren implements; tools read it
/// to pick what to call.
pub const RABBITMQ_API_VERSION: &str = "3.10.8";

/// RabbitMQ's default `management.http.max_body_size` (definitions files can be large).
pub const BODY_LIMIT_BYTES: usize = 20 << 20;

/// Failed API logins one address may make, over all user names, before its logins wait.
const ADDRESS_FREE_FAILURES: u32 = 50;

/// What the API's handlers share.
#[derive(Debug)]
pub struct Api {
    pub broker: Arc<Broker>,
    /// This node's name (`warren@HOST`), where RabbitMQ shows `rabbit@HOST`.
    pub node: String,
    pub started: Instant,
    /// The node's listeners as RabbitMQ lists them: (protocol, address), the protocol one
    /// of `amqp`, `amqp/ssl`, `http`, `https`, `http/prometheus`, `https/prometheus`.
    pub listeners: Vec<(&'static str, SocketAddr)>,
    pub rates: rates::Rates,
    /// Failed basic-auth logins per (client address, hash of the user name tried): the API's
    /// brake, apart from AMQP's, so that one user's guesser neither slows nor is cleared by
    /// another user's requests from the same address (a proxy, the operator's own machine).
    /// A hash, so that the 65,536 keys it keeps at most stay small whatever names are tried.
    pub login_throttle: warren_broker::auth::throttle::LoginThrottle<(std::net::IpAddr, u64)>,
    /// And per address over all names, with a larger allowance: one address trying many
    /// names (password spraying, or filling the table above) is slowed too. A success does
    /// not clear it; a quiet minute does.
    pub address_throttle: warren_broker::auth::throttle::LoginThrottle,
}

impl Api {
    /// An API for a node with an AMQP listener at `amqp_addr` and the API's own at
    /// `http_addr` (any other set with [`Api::with_listeners`]).
    pub fn new(broker: Arc<Broker>, amqp_addr: SocketAddr, http_addr: SocketAddr) -> Self {
        Self::with_listeners(broker, vec![("amqp", amqp_addr), ("http", http_addr)])
    }

    pub fn with_listeners(broker: Arc<Broker>, listeners: Vec<(&'static str, SocketAddr)>) -> Self {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "localhost".into());
        Self {
            broker,
            node: format!("warren@{host}"),
            started: Instant::now(),
            listeners,
            rates: rates::Rates::default(),
            login_throttle: Default::default(),
            address_throttle: warren_broker::auth::throttle::LoginThrottle::with_free_failures(
                ADDRESS_FREE_FAILURES,
            ),
        }
    }
}

/// Serve the API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<warren_tls::ServerTls>>,
    api: Arc<Api>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(Arc::clone(&api));
    let pruner = tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
            api.rates.prune();
        }
    });
    let served = server::run(listener, tls, app, shutdown).await;
    pruner.abort();
    served
}

pub fn router(api: Arc<Api>) -> Router {
    routes::all()
        .merge(ui::routes())
        .fallback(|| async { ApiError::NotFound })
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(axum::middleware::map_response(common_headers))
        .layer(axum::middleware::from_fn(quiet_challenge))
        .layer(axum::middleware::from_fn(same_site_changes_only))
        .with_state(api)
}

/// A page's script (the UI sends `X-Requested-With: XMLHttpRequest`) checks credentials
/// itself: a `www-authenticate` challenge would make the browser ask with its own dialog
/// (and a headless one wait for it), so those requests get the 401 without it.
async fn quiet_challenge(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let from_script = request
        .headers()
        .get("x-requested-with")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"XMLHttpRequest"));
    let mut response = next.run(request).await;
    if from_script {
        response.headers_mut().remove(header::WWW_AUTHENTICATE);
    }
    response
}

/// Cross-site request forgery guard. A browser that once logged in through its Basic
/// dialog replays those credentials on any request to this origin, including a form
/// another site posts; so a request that would change something (anything but GET, HEAD,
/// OPTIONS) is refused with 403 when the browser says it comes from another site
/// (`Sec-Fetch-Site: cross-site`) or names another `Origin` than the host it was sent to.
/// Clients that are not browsers (rabbitmqadmin, curl, warrenctl) send neither and are not
/// affected; the web UI's own requests are same-origin.
async fn same_site_changes_only(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use axum::http::Method;
    let changes = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if changes && is_cross_site(request.headers()) {
        tracing::warn!(
            method = %request.method(),
            path = request.uri().path(),
            "cross-site request refused"
        );
        let body =
            serde_json::json!({"error": "forbidden", "reason": "cross-site request refused"});
        return (StatusCode::FORBIDDEN, axum::Json(body)).into_response();
    }
    next.run(request).await
}

/// Whether a browser marked the request as coming from another site.
fn is_cross_site(headers: &axum::http::HeaderMap) -> bool {
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"))
    {
        return true;
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    // `Origin: null` (sandboxed frames, file: pages) counts as another site.
    let origin = origin.to_str().unwrap_or("null");
    let origin_host = origin
        .split_once("://")
        .map(|(_, rest)| rest.trim_end_matches('/'));
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    match (origin_host, host) {
        (Some(o), Some(h)) => !o.eq_ignore_ascii_case(h),
        _ => true,
    }
}

/// Headers every RabbitMQ management response carries.
async fn common_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::VARY,
        HeaderValue::from_static("accept, accept-encoding, origin"),
    );
    h.insert(header::SERVER, HeaderValue::from_static("Warren"));
    response
}

impl Api {
    /// Run an operator's command, wait until its change is durable, and answer 201 for
    /// something new or 204 otherwise.
    pub async fn run(&self, command: warren_model::command::Command) -> ApiResult<Response> {
        let done = self
            .broker
            .execute(warren_model::command::Origin::Operator, command)?;
        self.broker.sync_metadata().await;
        Ok(outcome(done))
    }
}

/// A JSON response.
pub fn json(value: Value) -> Response {
    axum::Json(value).into_response()
}

/// 201 for something new, 204 otherwise (RabbitMQ's answers to PUT and DELETE).
pub fn outcome(outcome: Outcome) -> Response {
    match outcome {
        Outcome::Created => StatusCode::CREATED.into_response(),
        _ => StatusCode::NO_CONTENT.into_response(),
    }
}

/// A request body as a JSON object; an empty body is an empty object. Anything else is
/// RabbitMQ's `not_json`.
pub fn body_object(body: &Bytes) -> ApiResult<Map<String, Value>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(ApiError::not_json()),
    }
}

/// Parse a listing's query parameters.
pub fn list_params(query: &HashMap<String, String>) -> ApiResult<ListParams> {
    ListParams::parse(query)
}

/// Answer a listing request: parse its query, then filter, sort, page and render `items`
/// (see [`listing::list`]).
pub fn list_response<T>(
    items: Vec<T>,
    query: &HashMap<String, String>,
    name_of: impl Fn(&T) -> &str,
    default_key: impl Fn(&T) -> (&str, &str),
    render: impl Fn(&T) -> Value,
) -> ApiResult<Response> {
    let params = ListParams::parse(query)?;
    let body = listing::list(items, &params, name_of, default_key, render)?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// A boolean field RabbitMQ accepts as JSON bool or the strings "true"/"false".
pub fn bool_field(body: &Map<String, Value>, key: &str, default: bool) -> ApiResult<bool> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s == "true" => Ok(true),
        Some(Value::String(s)) if s == "false" => Ok(false),
        Some(other) => Err(ApiError::bad_request(format!(
            "{key}: expected a boolean, got {other}"
        ))),
    }
}

/// A string field, or the default when absent.
pub fn str_field(body: &Map<String, Value>, key: &str, default: &str) -> ApiResult<String> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(default.to_owned()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(ApiError::bad_request(format!(
            "{key}: expected a string, got {other}"
        ))),
    }
}

/// The `arguments` object of a body as a field table.
pub fn arguments_field(body: &Map<String, Value>) -> ApiResult<warren_codec::types::FieldTable> {
    match body.get("arguments") {
        None | Some(Value::Null) => Ok(Default::default()),
        Some(Value::Array(a)) if a.is_empty() => Ok(Default::default()),
        Some(v) => warren_model::json_args::json_to_table(v)
            .map_err(|e| ApiError::bad_request(e.to_string())),
    }
}
