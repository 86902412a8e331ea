//! `/api/policies`: list (any management user, the vhosts they have permissions in), show,
//! set, clear (policymakers and administrators, in vhosts they have permissions in).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use warren_model::command::{Command, Origin};
use warren_model::policy::Policy;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::{json, list_response, Api};

const NOT_AUTHORISED: &str = "User not authorised to access object";

pub fn routes() -> Router<Arc<Api>> {
    Router::new()
        .route("/api/policies", get(list_all))
        .route("/api/policies/{vhost}", get(list_vhost))
        .route(
            "/api/policies/{vhost}/{name}",
            get(show).put(put).delete(delete),
        )
        .route("/api/operator-policies", get(empty))
        .route("/api/operator-policies/{vhost}", get(empty))
}

/// Policymakers and administrators, in a vhost they have permissions in.
fn require(api: &Api, caller: &Caller, vhost: Option<&str>) -> ApiResult<()> {
    if !caller.is_policymaker() {
        return Err(ApiError::not_authorised(NOT_AUTHORISED));
    }
    if let Some(vhost) = vhost {
        if api.broker.vhost(vhost).is_none() {
            return Err(ApiError::NotFound);
        }
        if !caller.is_admin() && !caller.has_permissions_in(api, vhost) {
            return Err(ApiError::not_authorised(NOT_AUTHORISED));
        }
    }
    Ok(())
}

fn render(p: &Policy) -> serde_json::Value {
    serde_json::to_value(p).unwrap_or_default()
}

/// Policies listed as RabbitMQ lists them: by priority (then vhost and name).
fn listing_of(mut items: Vec<Policy>, q: &HashMap<String, String>) -> ApiResult<Response> {
    items.sort_by(|a, b| (a.priority, &a.vhost, &a.name).cmp(&(b.priority, &b.vhost, &b.name)));
    list_response(items, q, |p| &p.name, |_| ("", ""), render)
}

async fn list_all(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let mut items = api.broker.policy_list(None);
    items.retain(|p| caller.lists_in_vhost(&api, &p.vhost));
    listing_of(items, &q)
}

async fn list_vhost(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path(vhost): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    super::exchanges::visible_vhost(&api, &caller, &vhost)?;
    listing_of(api.broker.policy_list(Some(&vhost)), &q)
}

async fn show(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path((vhost, name)): Path<(String, String)>,
) -> ApiResult<Response> {
    require(&api, &caller, Some(&vhost))?;
    let p = api
        .broker
        .policy_list(Some(&vhost))
        .into_iter()
        .find(|p| p.name == name)
        .ok_or(ApiError::NotFound)?;
    Ok(json(render(&p)))
}

async fn put(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path((vhost, name)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    if api.broker.vhost(&vhost).is_none() {
        require(&api, &caller, None)?;
        return Err(ApiError::NotFoundReason("vhost_not_found".into()));
    }
    require(&api, &caller, Some(&vhost))?;
    let text = std::str::from_utf8(&body).map_err(|_| ApiError::not_json())?;
    let policy = Policy::from_api_body(&vhost, &name, text.trim()).map_err(|e| {
        let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
        match e.http_reason() {
            Some(reason) if status == StatusCode::BAD_REQUEST => ApiError::BadRequest(reason),
            Some(reason) => ApiError::Other {
                status,
                error: "bad_request",
                reason,
            },
            // Deviation: RabbitMQ's validator crashes (500, empty body); say what is wrong.
            None => ApiError::bad_request(e.to_string()),
        }
    })?;
    api.run(Command::SetPolicy(policy)).await
}

async fn delete(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path((vhost, name)): Path<(String, String)>,
) -> ApiResult<Response> {
    require(&api, &caller, Some(&vhost))?;
    api.broker
        .execute(Origin::Operator, Command::ClearPolicy { vhost, name })?;
    api.broker.sync_metadata().await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn empty(_caller: Caller) -> Response {
    json(serde_json::json!([]))
}
