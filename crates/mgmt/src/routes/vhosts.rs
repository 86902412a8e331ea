//! `/api/vhosts`: list, show, create or update, delete; a vhost's permissions.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use warren_broker::auth::Permission;
use warren_model::command::{Command, Origin, VhostSpec};
use warren_model::query::VhostInfo;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::{body_object, json, list_response, outcome, render, str_field, Api};

pub fn routes() -> Router<Arc<Api>> {
    Router::new()
        .route("/api/vhosts", get(list))
        .route("/api/vhosts/{vhost}", get(show).put(put).delete(delete))
        .route("/api/vhosts/{vhost}/permissions", get(permissions))
        .route(
            "/api/vhosts/{vhost}/topic-permissions",
            get(topic_permissions),
        )
}

fn visible(api: &Api, caller: &Caller) -> Vec<VhostInfo> {
    let mut all = api.broker.vhost_infos();
    all.retain(|v| caller.sees_vhost(api, &v.spec.name));
    all
}

async fn list(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    list_response(
        visible(&api, &caller),
        &q,
        |v| &v.spec.name,
        |v| ("", &v.spec.name),
        |v| render::vhost(v, &api.node, &api.rates),
    )
}

async fn show(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path(vhost): Path<String>,
) -> ApiResult<Response> {
    // RabbitMQ shows a single vhost to administrators only.
    caller.require_admin()?;
    let v = visible(&api, &caller)
        .into_iter()
        .find(|v| v.spec.name == vhost)
        .ok_or(ApiError::NotFound)?;
    Ok(json(render::vhost(&v, &api.node, &api.rates)))
}

async fn put(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path(vhost): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    caller.require_admin()?;
    let body = body_object(&body)?;
    let tags = match body.get("tags") {
        Some(serde_json::Value::Array(list)) => list
            .iter()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect(),
        Some(serde_json::Value::String(s)) => s
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    let default_queue_type = match str_field(&body, "default_queue_type", "")?.as_str() {
        "" | "undefined" => None,
        "classic" => Some("classic".to_owned()),
        other => {
            return Err(ApiError::bad_request(format!(
                "default queue type '{other}' is not supported"
            )))
        }
    };
    let spec = VhostSpec {
        name: vhost.clone(),
        description: str_field(&body, "description", "")?,
        tags,
        default_queue_type,
    };
    let done = api
        .broker
        .execute(Origin::Operator, Command::AddVhost(spec))?;
    if matches!(done, warren_broker::control::Outcome::Created) {
        // The creator gets full permissions on it, as RabbitMQ's API grants them.
        api.broker
            .set_permission(&caller.name, &vhost, Permission::all());
    }
    api.broker.sync_metadata().await;
    Ok(outcome(done))
}

async fn delete(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path(vhost): Path<String>,
) -> ApiResult<Response> {
    caller.require_admin()?;
    api.run(Command::DeleteVhost { name: vhost }).await
}

/// A vhost's permissions (or topic permissions), after checking the vhost exists.
fn of_vhost<T>(
    api: &Api,
    vhost: &str,
    mut list: Vec<T>,
    vhost_of: impl Fn(&T) -> &str,
    order: impl Fn(&T) -> (&str, &str),
    render: impl Fn(&T) -> serde_json::Value,
) -> ApiResult<Response> {
    api.broker.vhost(vhost).ok_or(ApiError::NotFound)?;
    list.retain(|p| vhost_of(p) == vhost);
    list.sort_by(|a, b| order(a).cmp(&order(b)));
    Ok(json(list.iter().map(render).collect()))
}

async fn permissions(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path(vhost): Path<String>,
) -> ApiResult<Response> {
    caller.require_admin()?;
    let list = api.broker.permission_infos();
    of_vhost(
        &api,
        &vhost,
        list,
        |p| &p.vhost,
        |p| (&p.user, ""),
        render::permission,
    )
}

async fn topic_permissions(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path(vhost): Path<String>,
) -> ApiResult<Response> {
    caller.require_admin()?;
    let list = api.broker.topic_permission_infos();
    of_vhost(
        &api,
        &vhost,
        list,
        |p| &p.vhost,
        |p| (&p.user, &p.exchange),
        render::topic_permission,
    )
}
