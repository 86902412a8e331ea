//! `/api/users`, `/api/permissions`, `/api/topic-permissions` (administrators only).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::Value;
use warren_broker::auth::password;
use warren_model::command::{Command, Origin, PermissionSpec, TopicPermissionSpec, UserSpec};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::{body_object, json, list_response, render, str_field, Api};

pub fn routes() -> Router<Arc<Api>> {
    Router::new()
        .route("/api/users", get(list))
        .route("/api/users/without-permissions", get(without_permissions))
        .route("/api/users/bulk-delete", axum::routing::post(bulk_delete))
        .route("/api/users/{user}", get(show).put(put).delete(delete))
        .route("/api/users/{user}/permissions", get(user_permissions))
        .route(
            "/api/users/{user}/topic-permissions",
            get(user_topic_permissions),
        )
        .route("/api/permissions", get(all_permissions))
        .route(
            "/api/permissions/{vhost}/{user}",
            get(show_permission)
                .put(put_permission)
                .delete(delete_permission),
        )
        .route("/api/topic-permissions", get(all_topic_permissions))
        .route(
            "/api/topic-permissions/{vhost}/{user}",
            get(show_topic_permission)
                .put(put_topic_permission)
                .delete(delete_topic_permission),
        )
}

async fn list(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    caller.require_admin()?;
    list_response(
        api.broker.user_infos(),
        &q,
        |u| &u.name,
        |u| ("", &u.name),
        render::user,
    )
}

async fn without_permissions(State(api): State<Arc<Api>>, caller: Caller) -> ApiResult<Response> {
    caller.require_admin()?;
    let permissions = api.broker.permission_infos();
    let mut users = api.broker.user_infos();
    users.retain(|u| !permissions.iter().any(|p| p.user == u.name));
    users.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(json(users.iter().map(render::user).collect()))
}

/// `{"users": [NAME, …]}`: delete them in order; an unknown name stops there with 400
/// `["no_such_user", NAME]` (the ones before it are gone, as in RabbitMQ).
async fn bulk_delete(
    State(api): State<Arc<Api>>,
    caller: Caller,
    body: Bytes,
) -> ApiResult<Response> {
    caller.require_admin()?;
    let body = body_object(&body)?;
    let names: Vec<String> = match body.get("users") {
        Some(Value::Array(list)) => list
            .iter()
            .map(|n| n.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(|| ApiError::bad_request("users: expected a list of names"))?,
        _ => return Err(ApiError::bad_request("[{key_missing,users}]")),
    };
    for name in names {
        let deleted = api
            .broker
            .execute(Origin::Operator, Command::DeleteUser { name: name.clone() });
        if let Err(e) = deleted {
            api.broker.sync_metadata().await;
            return Err(match e.kind {
                warren_model::ErrorKind::NotFound => {
                    ApiError::BadRequestTerm(serde_json::json!(["no_such_user", name]))
                }
                _ => e.into(),
            });
        }
    }
    api.broker.sync_metadata().await;
    Ok(axum::response::IntoResponse::into_response(
        axum::http::StatusCode::NO_CONTENT,
    ))
}

async fn show(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path(user): Path<String>,
) -> ApiResult<Response> {
    caller.require_admin()?;
    let u = api
        .broker
        .user_infos()
        .into_iter()
        .find(|u| u.name == user)
        .ok_or(ApiError::NotFound)?;
    Ok(json(render::user(&u)))
}

/// Tags as RabbitMQ takes them: a comma-separated string or a list; required (the
/// pre-3.0 `administrator` flag stands in for them).
fn tags(body: &serde_json::Map<String, Value>) -> ApiResult<Vec<String>> {
    match body.get("tags") {
        None => match body.get("administrator") {
            None => Err(ApiError::bad_request("tags_not_present")),
            Some(v) if v == "true" || v == true => Ok(vec!["administrator".to_owned()]),
            Some(_) => Ok(Vec::new()),
        },
        Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(s
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect()),
        Some(Value::Array(list)) => list
            .iter()
            .map(|t| {
                t.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| ApiError::bad_request("tags: expected strings"))
            })
            .collect(),
        Some(_) => Err(ApiError::bad_request("tags: expected a string or a list")),
    }
}

async fn put(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path(user): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    caller.require_admin()?;
    let body = body_object(&body)?;
    let tags = tags(&body)?;
    let existing = api.broker.user_infos().into_iter().find(|u| u.name == user);
    let (password_hash, hashing_algorithm) = match (body.get("password"), body.get("password_hash"))
    {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "both_password_and_password_hash_are_provided",
            ))
        }
        (Some(Value::String(p)), _) => (
            password::hash_password(p.as_bytes()),
            password::DEFAULT_ALGORITHM.to_owned(),
        ),
        (_, Some(Value::String(h))) => {
            // RabbitMQ decodes the hash first: 400 not_base64 (an empty hash clears it).
            use base64::Engine;
            if base64::engine::general_purpose::STANDARD.decode(h).is_err() {
                return Err(ApiError::bad_request(format!("not_base64: {h}")));
            }
            let algorithm = str_field(&body, "hashing_algorithm", password::DEFAULT_ALGORITHM)?;
            if !password::KNOWN_ALGORITHMS.contains(&algorithm.as_str()) {
                return Err(ApiError::bad_request(format!(
                    "unknown hashing algorithm {algorithm}"
                )));
            }
            (h.clone(), algorithm)
        }
        (Some(_), _) | (_, Some(_)) => {
            return Err(ApiError::bad_request("password must be a string"))
        }
        // RabbitMQ: neither creates a user, or leaves one, without a password (no login
        // with a password; other mechanisms may still authenticate it).
        (None, None) => (
            String::new(),
            existing.map_or_else(
                || password::DEFAULT_ALGORITHM.to_owned(),
                |u| u.hashing_algorithm,
            ),
        ),
    };
    api.run(Command::PutUser(UserSpec {
        name: user,
        password_hash,
        hashing_algorithm,
        tags,
    }))
    .await
}

async fn delete(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path(user): Path<String>,
) -> ApiResult<Response> {
    caller.require_admin()?;
    api.run(Command::DeleteUser { name: user }).await
}

/// A user's permissions (or topic permissions), after checking the user exists.
fn of_user<T>(
    api: &Api,
    user: &str,
    mut list: Vec<T>,
    owner: impl Fn(&T) -> &str,
    order: impl Fn(&T) -> (&str, &str),
    render: impl Fn(&T) -> Value,
) -> ApiResult<Response> {
    if !api.broker.user_infos().iter().any(|u| u.name == user) {
        return Err(ApiError::NotFound);
    }
    list.retain(|p| owner(p) == user);
    list.sort_by(|a, b| order(a).cmp(&order(b)));
    Ok(json(list.iter().map(render).collect()))
}

async fn user_permissions(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path(user): Path<String>,
) -> ApiResult<Response> {
    caller.require_admin()?;
    let list = api.broker.permission_infos();
    of_user(
        &api,
        &user,
        list,
        |p| &p.user,
        |p| (&p.vhost, ""),
        render::permission,
    )
}

async fn user_topic_permissions(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path(user): Path<String>,
) -> ApiResult<Response> {
    caller.require_admin()?;
    let list = api.broker.topic_permission_infos();
    of_user(
        &api,
        &user,
        list,
        |p| &p.user,
        |p| (&p.vhost, &p.exchange),
        render::topic_permission,
    )
}

async fn all_permissions(State(api): State<Arc<Api>>, caller: Caller) -> ApiResult<Response> {
    caller.require_admin()?;
    let mut list = api.broker.permission_infos();
    list.sort_by(|a, b| (&a.vhost, &a.user).cmp(&(&b.vhost, &b.user)));
    Ok(json(list.iter().map(render::permission).collect()))
}

async fn show_permission(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path((vhost, user)): Path<(String, String)>,
) -> ApiResult<Response> {
    caller.require_admin()?;
    let p = api
        .broker
        .permission_infos()
        .into_iter()
        .find(|p| p.vhost == vhost && p.user == user)
        .ok_or(ApiError::NotFound)?;
    Ok(json(render::permission(&p)))
}

/// PUT needs an existing user and vhost (RabbitMQ: 400 `vhost_or_user_not_found`).
fn user_and_vhost(api: &Api, vhost: &str, user: &str) -> ApiResult<()> {
    if api.broker.vhost(vhost).is_none() || !api.broker.user_infos().iter().any(|u| u.name == user)
    {
        return Err(ApiError::bad_request("vhost_or_user_not_found"));
    }
    Ok(())
}

/// The string fields of a permission body, or RabbitMQ's list of every missing one.
fn string_fields(body: &serde_json::Map<String, Value>, keys: [&str; 3]) -> ApiResult<[String; 3]> {
    let missing: Vec<String> = keys
        .iter()
        .filter(|k| !matches!(body.get(**k), Some(Value::String(_))))
        .map(|k| format!("{{key_missing,{k}}}"))
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::bad_request(format!("[{}]", missing.join(","))));
    }
    Ok(keys.map(|k| body[k].as_str().unwrap_or_default().to_owned()))
}

async fn put_permission(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path((vhost, user)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    caller.require_admin()?;
    let body = body_object(&body)?;
    user_and_vhost(&api, &vhost, &user)?;
    let [configure, write, read] = string_fields(&body, ["configure", "write", "read"])?;
    let spec = PermissionSpec {
        user,
        vhost,
        configure,
        write,
        read,
    };
    api.run(Command::SetPermissions(spec)).await
}

async fn delete_permission(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path((vhost, user)): Path<(String, String)>,
) -> ApiResult<Response> {
    caller.require_admin()?;
    api.run(Command::ClearPermissions { user, vhost }).await
}

async fn all_topic_permissions(State(api): State<Arc<Api>>, caller: Caller) -> ApiResult<Response> {
    caller.require_admin()?;
    let mut list = api.broker.topic_permission_infos();
    list.sort_by(|a, b| (&a.vhost, &a.user, &a.exchange).cmp(&(&b.vhost, &b.user, &b.exchange)));
    Ok(json(list.iter().map(render::topic_permission).collect()))
}

async fn show_topic_permission(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path((vhost, user)): Path<(String, String)>,
) -> ApiResult<Response> {
    caller.require_admin()?;
    let mut list = api.broker.topic_permission_infos();
    list.retain(|p| p.vhost == vhost && p.user == user);
    if list.is_empty() {
        return Err(ApiError::NotFound);
    }
    list.sort_by(|a, b| a.exchange.cmp(&b.exchange));
    Ok(json(list.iter().map(render::topic_permission).collect()))
}

async fn put_topic_permission(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path((vhost, user)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    caller.require_admin()?;
    let body = body_object(&body)?;
    user_and_vhost(&api, &vhost, &user)?;
    let [exchange, write, read] = string_fields(&body, ["exchange", "write", "read"])?;
    let spec = TopicPermissionSpec {
        user,
        vhost,
        exchange,
        write,
        read,
    };
    api.run(Command::SetTopicPermissions(spec)).await
}

async fn delete_topic_permission(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path((vhost, user)): Path<(String, String)>,
) -> ApiResult<Response> {
    caller.require_admin()?;
    api.run(Command::ClearTopicPermissions {
        user,
        vhost,
        exchange: None,
    })
    .await
}
