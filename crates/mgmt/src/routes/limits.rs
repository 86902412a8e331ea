//! `/api/vhost-limits` and `/api/user-limits`: a vhost's `max-connections` and `max-queues`,
//! a user's `max-connections` and `max-channels`, as RabbitMQ lists, sets and clears them
//! (administrators set and clear; listing is for administrators and monitoring users); and
//! `/api/parameters`, where RabbitMQ also lists vhost limits (as component `vhost-limits`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::Router;
use serde_json::{json as j, Value};
use warren_model::command::Command;
use warren_model::limits::{self, LimitScope, Limits, LimitsChange};

use warren_broker::definitions;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::{json, Api};

pub fn routes() -> Router<Arc<Api>> {
    Router::new()
        .route("/api/vhost-limits", get(list_all))
        .route("/api/vhost-limits/{vhost}", get(list_vhost))
        .route("/api/vhost-limits/{vhost}/{name}", put(set).delete(clear))
        .route("/api/user-limits", get(list_all_users))
        .route("/api/user-limits/{user}", get(list_user))
        .route(
            "/api/user-limits/{user}/{name}",
            put(set_user).delete(clear_user),
        )
        .route("/api/parameters", get(parameters))
        .route("/api/parameters/{component}", get(parameters_of))
        .route("/api/parameters/{component}/{vhost}", get(parameters_in))
        .route(
            "/api/parameters/{component}/{vhost}/{name}",
            get(parameter).put(put_parameter).delete(delete_parameter),
        )
}

/// `[{"vhost": ..., "value": {...}}]` for the vhosts that have limits: their `vhost-limits`
/// parameters (by vhost), as `/api/vhost-limits` shows them.
fn listing(api: &Api, only: Option<&str>) -> Value {
    definitions::runtime_parameters(&api.broker, only)
        .into_iter()
        .map(|p| j!({"vhost": p.vhost, "value": p.value}))
        .collect()
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

/// The `value` of a limit PUT's body, as RabbitMQ reads it.
fn value_of(body: &Bytes) -> ApiResult<Value> {
    let body: Value = serde_json::from_slice(body).map_err(|_| ApiError::not_json())?;
    if !body.is_object() {
        return Err(ApiError::not_json());
    }
    body.get("value")
        .cloned()
        .ok_or_else(|| ApiError::bad_request("[{key_missing,value}]"))
}

async fn set(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path((vhost, name)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    caller.require_admin()?;
    api.broker.vhost(&vhost).ok_or(ApiError::NotFound)?;
    let value = value_of(&body)?;
    // Vhost limits are refused under RabbitMQ's "Validation failed" heading.
    let n = limits::check(LimitScope::Vhost, &name, &value)
        .map_err(|e| ApiError::bad_request(limits::validation_failed(e)))?;
    let change = LimitsChange::set(&name, n);
    api.run(Command::ChangeVhostLimits { vhost, change })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn clear(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path((vhost, name)): Path<(String, String)>,
) -> ApiResult<Response> {
    caller.require_admin()?;
    api.broker.vhost(&vhost).ok_or(ApiError::NotFound)?;
    let change = LimitsChange::Clear(name);
    api.run(Command::ChangeVhostLimits { vhost, change })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `[{"user": ..., "value": {...}}]` for the users that have limits.
fn user_listing(api: &Api, only: Option<&str>) -> Value {
    let mut users = api.broker.user_infos();
    users.retain(|u| !u.limits.is_empty() && only.is_none_or(|name| u.name == name));
    users.sort_by(|a, b| a.name.cmp(&b.name));
    users
        .into_iter()
        .map(|u| j!({"user": u.name, "value": u.limits}))
        .collect()
}

async fn list_all_users(State(api): State<Arc<Api>>, caller: Caller) -> ApiResult<Response> {
    caller.require_monitor()?;
    Ok(json(user_listing(&api, None)))
}

async fn list_user(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path(user): Path<String>,
) -> ApiResult<Response> {
    caller.require_monitor()?;
    if api.broker.users.read().user(&user).is_none() {
        return Err(ApiError::NotFound);
    }
    Ok(json(user_listing(&api, Some(&user))))
}

/// RabbitMQ's answer for limits of a user that does not exist: its `no_such_user` term.
fn require_user(api: &Api, user: &str) -> ApiResult<()> {
    if api.broker.users.read().user(user).is_none() {
        return Err(ApiError::BadRequestTerm(j!(["no_such_user", user])));
    }
    Ok(())
}

async fn set_user(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path((user, name)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    caller.require_admin()?;
    let value = value_of(&body)?;
    let n = limits::check(LimitScope::User, &name, &value)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    require_user(&api, &user)?;
    let change = LimitsChange::set(&name, n);
    api.run(Command::ChangeUserLimits { user, change }).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// RabbitMQ 3.10 answers 500 for an unknown user here (a crash); Warren says 404.
async fn clear_user(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path((user, name)): Path<(String, String)>,
) -> ApiResult<Response> {
    caller.require_admin()?;
    require_user(&api, &user).map_err(|_| ApiError::NotFound)?;
    let change = LimitsChange::Clear(name);
    api.run(Command::ChangeUserLimits { user, change }).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Runtime parameters (Warren's are the vhosts' limits, component `vhost-limits`), for
/// policymakers; others than administrators see the vhosts they have permissions in.
fn parameter_listing(
    api: &Api,
    caller: &Caller,
    component: Option<&str>,
    vhost: Option<&str>,
) -> ApiResult<Response> {
    require_policymaker(caller, true)?;
    if let Some(vhost) = vhost {
        if api.broker.vhost(vhost).is_none() {
            return Err(ApiError::NotFound);
        }
    }
    let mut parameters = definitions::runtime_parameters(&api.broker, vhost);
    parameters.retain(|p| {
        component.is_none_or(|c| c == p.component)
            && (caller.is_admin()
                || p.vhost
                    .as_deref()
                    .is_some_and(|v| caller.has_permissions_in(api, v)))
    });
    Ok(json(serde_json::to_value(parameters).unwrap_or_default()))
}

async fn parameters(State(api): State<Arc<Api>>, caller: Caller) -> ApiResult<Response> {
    parameter_listing(&api, &caller, None, None)
}

async fn parameters_of(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path(component): Path<String>,
) -> ApiResult<Response> {
    parameter_listing(&api, &caller, Some(&component), None)
}

async fn parameters_in(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path((component, vhost)): Path<(String, String)>,
) -> ApiResult<Response> {
    parameter_listing(&api, &caller, Some(&component), Some(&vhost))
}

/// The one parameter Warren keeps per vhost: its limits (`vhost-limits`, named `limits`).
const VHOST_LIMITS: &str = "vhost-limits";
const LIMITS_NAME: &str = "limits";

/// Policymakers with permissions in the vhost (administrators everywhere), as RabbitMQ.
fn require_parameter_access(api: &Api, caller: &Caller, vhost: &str) -> ApiResult<()> {
    require_policymaker(
        caller,
        caller.is_admin() || caller.has_permissions_in(api, vhost),
    )
}

/// RabbitMQ's refusal of runtime parameters to other than policymakers (and `in_vhost`:
/// with access to the vhost concerned).
fn require_policymaker(caller: &Caller, in_vhost: bool) -> ApiResult<()> {
    if caller.is_policymaker() && in_vhost {
        Ok(())
    } else {
        Err(ApiError::not_authorised(
            "User not authorised to access object",
        ))
    }
}

/// Changing: administrators only. RabbitMQ 3.10 lets any policymaker of the vhost change
/// its `vhost-limits` parameter, which would let a tenant lift the quota an administrator
/// set through `/api/vhost-limits` (administrators only); Warren closes that door.
fn require_parameter_change(caller: &Caller) -> ApiResult<()> {
    caller.require_admin()
}

async fn parameter(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path((component, vhost, name)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    require_parameter_access(&api, &caller, &vhost)?;
    definitions::runtime_parameters(&api.broker, Some(&vhost))
        .into_iter()
        .find(|p| p.component == component && p.name == name)
        .map(|p| json(serde_json::to_value(p).unwrap_or_default()))
        .ok_or(ApiError::NotFound)
}

/// Sets all of a vhost's limits at once (rabbitmqctl `set_vhost_limits` replaces them).
async fn put_parameter(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path((component, vhost, name)): Path<(String, String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    require_parameter_change(&caller)?;
    if api.broker.vhost(&vhost).is_none() {
        return Err(ApiError::NotFoundReason("vhost_not_found".into()));
    }
    let value = value_of(&body)?;
    let limits = limits::vhost_limits_parameter(&component, &name, &value)
        .map_err(|e| ApiError::bad_request(limits::validation_failed(e)))?;
    let change = LimitsChange::Replace(limits);
    api.run(Command::ChangeVhostLimits { vhost, change })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn delete_parameter(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path((component, vhost, name)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    require_parameter_change(&caller)?;
    let v = api.broker.vhost(&vhost).ok_or(ApiError::NotFound)?;
    if component != VHOST_LIMITS || name != LIMITS_NAME || v.limits.lock().is_empty() {
        return Err(ApiError::NotFound);
    }
    let change = LimitsChange::Replace(Limits::new());
    api.run(Command::ChangeVhostLimits { vhost, change })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
