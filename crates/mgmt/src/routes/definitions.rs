//! `/api/definitions` (and per vhost): export everything as a RabbitMQ definitions file, or
//! import one. An import applies every item it can and answers 400 listing what it could
//! not apply (RabbitMQ stops at its first failure).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use warren_broker::definitions;
use warren_model::definitions::Definitions;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::Api;

pub fn routes() -> Router<Arc<Api>> {
    Router::new()
        .route("/api/definitions", get(export_all).post(import_all))
        .route(
            "/api/definitions/{vhost}",
            get(export_vhost).post(import_vhost),
        )
}

fn json_text(text: String) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        text,
    )
        .into_response()
}

async fn export_all(State(api): State<Arc<Api>>, caller: Caller) -> ApiResult<Response> {
    caller.require_admin()?;
    Ok(json_text(definitions::export(&api.broker, None).to_json()))
}

async fn export_vhost(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path(vhost): Path<String>,
) -> ApiResult<Response> {
    caller.require_admin()?;
    api.broker.vhost(&vhost).ok_or(ApiError::NotFound)?;
    Ok(json_text(
        definitions::export(&api.broker, Some(&vhost)).to_json(),
    ))
}

async fn import(api: &Api, body: &Bytes, scope: Option<&str>) -> ApiResult<Response> {
    let text = std::str::from_utf8(body).map_err(|_| ApiError::not_json())?;
    let defs = Definitions::from_json(text).map_err(|e| match e.http_status_and_reason() {
        (_, Some(reason)) => ApiError::bad_request(reason),
        _ => ApiError::bad_request(e.to_string()),
    })?;
    let report = definitions::import(&api.broker, &defs, scope);
    api.broker.sync_metadata().await;
    if report.is_clean() {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    for problem in &report.problems {
        tracing::warn!("definitions import: {problem}");
    }
    Err(ApiError::bad_request(format!(
        "Imported with {} item(s) not applied: {}",
        report.problems.len(),
        report.problems.join("; ")
    )))
}

async fn import_all(
    State(api): State<Arc<Api>>,
    caller: Caller,
    body: Bytes,
) -> ApiResult<Response> {
    caller.require_admin()?;
    import(&api, &body, None).await
}

async fn import_vhost(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path(vhost): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    caller.require_admin()?;
    api.broker.vhost(&vhost).ok_or(ApiError::NotFound)?;
    import(&api, &body, Some(&vhost)).await
}
