//! `/api/queues`: list, show, declare, delete, purge, get messages, a queue's bindings.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete as delete_route, get, post};
use axum::Router;
use serde_json::{json as j, Value};
use warren_broker::auth::{Access, ResourceKind};
use warren_model::command::{Command, DestinationKind, Origin, QueueSpec};
use warren_model::query::QueueInfo;

use super::exchanges::visible_vhost;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::message::{self, AckMode};
use crate::{
    arguments_field, body_object, bool_field, json, list_params, list_response, listing, render,
    str_field, Api,
};

pub fn routes() -> Router<Arc<Api>> {
    Router::new()
        .route("/api/queues", get(list_all))
        .route("/api/queues/{vhost}", get(list_vhost))
        .route(
            "/api/queues/{vhost}/{name}",
            get(show).put(put).delete(delete),
        )
        .route("/api/queues/{vhost}/{name}/contents", delete_route(purge))
        .route("/api/queues/{vhost}/{name}/get", post(get_messages))
        .route("/api/queues/{vhost}/{name}/peek", get(peek))
        .route("/api/queues/{vhost}/{name}/bindings", get(bindings))
}

/// RabbitMQ's API works on its own channel: another connection's exclusive queue is locked
/// to it (AMQP's RESOURCE_LOCKED text, as a 400).
fn unlocked(info: &QueueInfo) -> ApiResult<()> {
    if !info.exclusive {
        return Ok(());
    }
    Err(ApiError::bad_request(format!(
        "cannot obtain exclusive access to locked queue '{}' in vhost '{}'. It could be \
         originally declared on another connection or the exclusive property value does not \
         match that of the original declaration.",
        info.name, info.vhost
    )))
}

fn listing_of(
    api: &Api,
    items: Vec<QueueInfo>,
    q: &HashMap<String, String>,
) -> ApiResult<Response> {
    list_response(
        items,
        q,
        |q| &q.name,
        |q| (&q.vhost, &q.name),
        |q| render::queue(q, &api.node, &api.rates),
    )
}

/// A queue the request names, which the caller needs `access` to.
fn existing_queue(
    api: &Api,
    caller: &Caller,
    vhost: &str,
    name: &str,
    access: Access,
) -> ApiResult<QueueInfo> {
    let info = api
        .broker
        .queue_info(vhost, name)
        .ok_or(ApiError::NotFound)?;
    caller.require_permission(api, vhost, access, ResourceKind::Queue, name)?;
    Ok(info)
}

async fn list_all(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let mut items = api.broker.queue_infos(None);
    items.retain(|i| caller.lists_in_vhost(&api, &i.vhost));
    listing_of(&api, items, &q)
}

async fn list_vhost(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path(vhost): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    visible_vhost(&api, &caller, &vhost)?;
    listing_of(&api, api.broker.queue_infos(Some(&vhost)), &q)
}

async fn show(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path((vhost, name)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    visible_vhost(&api, &caller, &vhost)?;
    let info = api
        .broker
        .queue_info(&vhost, &name)
        .ok_or(ApiError::NotFound)?;
    let mut v = render::queue(&info, &api.node, &api.rates);
    let consumers: Vec<Value> = api
        .broker
        .consumer_infos(Some(&vhost))
        .iter()
        .filter(|c| c.queue == name)
        .map(|c| render::consumer(c, None))
        .collect();
    v["consumer_details"] = Value::Array(consumers);
    v["deliveries"] = j!([]);
    v["incoming"] = j!([]);
    let params = list_params(&q)?;
    Ok(json(listing::columns(v, &params)))
}

async fn put(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path((vhost, name)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    // An AMQP queue name is a short string (RabbitMQ checks this first).
    if name.len() > 255 {
        return Err(ApiError::bad_request(format!(
            "queue should be less than 255 bytes, actually was {}\n",
            name.len()
        )));
    }
    let body = body_object(&body)?;
    if api.broker.vhost(&vhost).is_none() {
        return Err(ApiError::NotFoundReason("vhost_not_found".into()));
    }
    caller.require_permission(&api, &vhost, Access::Configure, ResourceKind::Queue, &name)?;
    if name.is_empty() {
        return Err(ApiError::bad_request("queue name must not be empty"));
    }
    let spec = QueueSpec {
        vhost,
        name,
        server_named: false,
        durable: bool_field(&body, "durable", false)?,
        exclusive: false,
        auto_delete: bool_field(&body, "auto_delete", false)?,
        arguments: arguments_field(&body)?,
    };
    let declared = api
        .broker
        .execute(Origin::Operator, Command::DeclareQueue(spec))?
        .into_queue()?;
    api.broker.sync_metadata().await;
    Ok(if declared.created {
        StatusCode::CREATED.into_response()
    } else {
        StatusCode::NO_CONTENT.into_response()
    })
}

async fn delete(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path((vhost, name)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let info = existing_queue(&api, &caller, &vhost, &name, Access::Configure)?;
    unlocked(&info)?;
    let flag = |k: &str| q.get(k).is_some_and(|v| v == "true");
    api.broker.execute(
        Origin::Operator,
        Command::DeleteQueue {
            vhost,
            name,
            if_unused: flag("if-unused"),
            if_empty: flag("if-empty"),
        },
    )?;
    api.broker.sync_metadata().await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn purge(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path((vhost, name)): Path<(String, String)>,
) -> ApiResult<Response> {
    let info = existing_queue(&api, &caller, &vhost, &name, Access::Read)?;
    unlocked(&info)?;
    api.broker
        .execute(Origin::Operator, Command::PurgeQueue { vhost, name })?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Warren's own: the queue's first ready messages, not taken (`count`, default 5, at most
/// [`message::PEEK_MAX`]). Needs read permission, like `/get`.
async fn peek(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path((vhost, name)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let info = existing_queue(&api, &caller, &vhost, &name, Access::Read)?;
    let count = match q.get("count") {
        None => 5,
        Some(c) => c
            .parse::<usize>()
            .map_err(|_| ApiError::bad_request("count: expected a non-negative integer"))?,
    };
    Ok(json(
        message::peek(&api, &info.vhost, &info.name, count).await?,
    ))
}

async fn get_messages(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path((vhost, name)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    let body = body_object(&body)?;
    let info = existing_queue(&api, &caller, &vhost, &name, Access::Read)?;
    unlocked(&info).map_err(|e| match e {
        ApiError::BadRequest(reason) => {
            ApiError::BadRequest(format!("405 RESOURCE_LOCKED - {reason}"))
        }
        other => other,
    })?;
    let missing: Vec<String> = ["count", "ackmode", "encoding"]
        .into_iter()
        .filter(|k| !body.contains_key(*k))
        .map(|k| format!("{{key_missing,{k}}}"))
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::bad_request(format!("[{}]", missing.join(","))));
    }
    let count = match &body["count"] {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| ApiError::bad_request("count: expected a non-negative integer"))?;
    // Deviation: RabbitMQ answers an unknown ackmode with 500 (a crash); 400 says why.
    let mode = AckMode::parse(&str_field(&body, "ackmode", "")?)
        .ok_or_else(|| ApiError::bad_request("ackmode: expected ack_requeue_true, ack_requeue_false, reject_requeue_true or reject_requeue_false"))?;
    let base64_always = match str_field(&body, "encoding", "auto")?.as_str() {
        "auto" => false,
        "base64" => true,
        _ => return Err(ApiError::bad_request("encoding: expected auto or base64")),
    };
    let truncate = match body.get("truncate") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .ok_or_else(|| ApiError::bad_request("truncate: expected an integer"))?
                as usize,
        ),
    };
    // A bound on one request's work, whatever count a client asks for.
    let count = usize::try_from(count).unwrap_or(usize::MAX).min(10_000);
    let out = message::get(&api, &vhost, &name, count, mode, base64_always, truncate).await?;
    Ok(json(out))
}

async fn bindings(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path((vhost, name)): Path<(String, String)>,
) -> ApiResult<Response> {
    visible_vhost(&api, &caller, &vhost)?;
    if api.broker.queue_info(&vhost, &name).is_none() {
        return Err(ApiError::NotFound);
    }
    let mut list = api.broker.binding_infos(Some(&vhost));
    list.retain(|b| b.destination_kind == DestinationKind::Queue && b.destination == name);
    list.sort_by(|a, b| (&a.source, &a.routing_key).cmp(&(&b.source, &b.routing_key)));
    Ok(json(list.iter().map(render::binding).collect()))
}
