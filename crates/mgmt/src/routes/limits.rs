//! `/api/vhost-limits`: a vhost's `max-connections` and `max-queues` as RabbitMQ lists, sets
//! and clears them (administrators set and clear; listing is for administrators and
//! monitoring users).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::Router;
use serde_json::{json as j, Value};
use warren_model::command::Command;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::{json, Api};

/// The limits RabbitMQ 3.10 knows for a vhost.
const LIMITS: [&str; 2] = ["max-connections", "max-queues"];

pub fn routes() -> Router<Arc<Api>> {
    Router::new()
        .route("/api/vhost-limits", get(list_all))
        .route("/api/vhost-limits/{vhost}", get(list_vhost))
        .route("/api/vhost-limits/{vhost}/{name}", put(set).delete(clear))
}

/// `[{"vhost": ..., "value": {...}}]` for the vhosts that have limits.
fn listing(api: &Api, only: Option<&str>) -> Value {
    let mut out: Vec<Value> = api
        .broker
        .vhosts()
        .iter()
        .filter(|v| only.is_none_or(|name| &*v.name == name))
        .filter_map(|v| {
            let limits = v.limits.lock().clone();
            (!limits.is_empty()).then(|| j!({"vhost": &*v.name, "value": limits}))
        })
        .collect();
    out.sort_by(|a, b| a["vhost"].as_str().cmp(&b["vhost"].as_str()));
    Value::Array(out)
}

async fn list_all(State(api): State<Arc<Api>>, caller: Caller) -> ApiResult<Response> {
    caller.require_monitor()?;
    Ok(json(listing(&api, None)))
}

async fn list_vhost(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path(vhost): Path<String>,
) -> ApiResult<Response> {
    caller.require_monitor()?;
    if api.broker.vhost(&vhost).is_none() {
        return Err(ApiError::NotFound);
    }
    Ok(json(listing(&api, Some(&vhost))))
}

/// RabbitMQ's validation failure: 400 with its "Validation failed" text.
fn invalid(why: String) -> ApiError {
    ApiError::bad_request(format!("Validation failed\n\n{why}\n"))
}

async fn set(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path((vhost, name)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    caller.require_admin()?;
    let v = api.broker.vhost(&vhost).ok_or(ApiError::NotFound)?;
    let body: Value = serde_json::from_slice(&body).map_err(|_| ApiError::not_json())?;
    let value = body
        .get("value")
        .ok_or_else(|| ApiError::bad_request("value is missing"))?;
    if !LIMITS.contains(&name.as_str()) {
        return Err(invalid(format!(
            "Unrecognised terms [{{<<\"{name}\">>,{value}}}] in limits"
        )));
    }
    let Some(n) = value.as_i64() else {
        let shown = match value {
            Value::String(s) => format!("<<\"{s}\">>"),
            other => other.to_string(),
        };
        return Err(invalid(format!(
            "{name} should be a number, actually was {shown}"
        )));
    };
    let mut limits: BTreeMap<String, i64> = v.limits.lock().clone();
    limits.insert(name, n);
    api.run(Command::SetVhostLimits { vhost, limits }).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn clear(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path((vhost, name)): Path<(String, String)>,
) -> ApiResult<Response> {
    caller.require_admin()?;
    let v = api.broker.vhost(&vhost).ok_or(ApiError::NotFound)?;
    let mut limits: BTreeMap<String, i64> = v.limits.lock().clone();
    limits.remove(&name);
    api.run(Command::SetVhostLimits { vhost, limits }).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
