//! `/api/connections` (list, show, close), `/api/channels`, `/api/consumers`. Monitors and
//! administrators see everyone's; other users see their own connections and channels.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json as j, Value};
use warren_model::command::{Command, Origin};
use warren_model::query::{ChannelInfo, ConnectionSummary};

use super::exchanges::visible_vhost;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::{json, list_response, render, Api};

pub fn routes() -> Router<Arc<Api>> {
    Router::new()
        .route("/api/connections", get(list))
        .route("/api/connections/{name}", get(show).delete(close))
        .route("/api/connections/{name}/channels", get(connection_channels))
        .route(
            "/api/connections/username/{user}",
            get(user_connections).delete(close_user_connections),
        )
        .route("/api/vhosts/{vhost}/connections", get(vhost_connections))
        .route("/api/vhosts/{vhost}/channels", get(vhost_channels))
        .route("/api/channels", get(channels))
        .route("/api/channels/{name}", get(channel))
        .route("/api/consumers", get(consumers))
        .route("/api/consumers/{vhost}", get(vhost_consumers))
}

fn visible_connections(api: &Api, caller: &Caller) -> Vec<ConnectionSummary> {
    let mut all = api.broker.connection_summaries();
    if !caller.is_monitor() {
        all.retain(|c| c.user == caller.name);
    }
    all
}

fn connection_listing(
    api: &Api,
    items: Vec<ConnectionSummary>,
    q: &HashMap<String, String>,
) -> ApiResult<Response> {
    list_response(
        items,
        q,
        |c| &c.name,
        // RabbitMQ's default order: vhost, then name.
        |c| (&c.vhost, &c.name),
        |c| render::connection(c, &api.node, &api.rates),
    )
}

async fn list(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let items = visible_connections(&api, &caller);
    connection_listing(&api, items, &q)
}

async fn vhost_connections(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path(vhost): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    visible_vhost(&api, &caller, &vhost)?;
    let mut items = visible_connections(&api, &caller);
    items.retain(|c| c.vhost == vhost);
    connection_listing(&api, items, &q)
}

async fn user_connections(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path(user): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    if !caller.is_admin() && user != caller.name {
        return Err(ApiError::not_authorised(
            "User not authorised to access object",
        ));
    }
    let mut items = visible_connections(&api, &caller);
    items.retain(|c| c.user == user);
    connection_listing(&api, items, &q)
}

/// Close every connection of a user (the `X-Reason` header gives the reason).
async fn close_user_connections(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path(user): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if !caller.is_admin() && user != caller.name {
        return Err(ApiError::not_authorised(
            "User not authorised to access object",
        ));
    }
    let reason = close_reason(&headers);
    for c in api.broker.connection_summaries() {
        if c.user == user {
            let command = Command::CloseConnection {
                name: c.name,
                reason: reason.clone(),
            };
            // A connection that closed meanwhile is not an error.
            let _ = api.broker.execute(Origin::Operator, command);
        }
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The close reason a DELETE gives in `X-Reason` (RabbitMQ's default otherwise).
fn close_reason(headers: &HeaderMap) -> String {
    headers
        .get("x-reason")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("Closed via management plugin")
        .to_owned()
}

fn find_connection(api: &Api, caller: &Caller, name: &str) -> ApiResult<ConnectionSummary> {
    visible_connections(api, caller)
        .into_iter()
        .find(|c| c.name == name)
        .ok_or(ApiError::NotFound)
}

async fn show(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let c = find_connection(&api, &caller, &name)?;
    Ok(json(render::connection(&c, &api.node, &api.rates)))
}

/// Close a connection; the `X-Reason` header gives the close reason (RabbitMQ's default:
/// "Closed via management plugin").
async fn close(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let c = find_connection(&api, &caller, &name)?;
    if !caller.is_admin() && c.user != caller.name {
        return Err(ApiError::not_authorised(
            "User not authorised to access object",
        ));
    }
    let reason = close_reason(&headers);
    api.broker
        .execute(Origin::Operator, Command::CloseConnection { name, reason })?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn channel_json(ch: &ChannelInfo, connections: &[ConnectionSummary], api: &Api) -> Value {
    let node = &api.node;
    let conn = connections.iter().find(|c| c.name == ch.connection);
    let name = render::channel_name(&ch.connection, ch.number);
    let stats = render::message_stats(&api.rates, &format!("ch\0{name}"), &ch.counters);
    j!({
        "acks_uncommitted": 0,
        "confirm": ch.confirm,
        "connection_details": {
            "name": ch.connection,
            "peer_host": conn.map(|c| c.peer_host.clone()),
            "peer_port": conn.map(|c| c.peer_port),
        },
        "consumer_count": ch.consumer_count,
        "global_prefetch_count": ch.global_prefetch_count,
        "message_stats": stats,
        "messages_unacknowledged": ch.messages_unacknowledged,
        "messages_unconfirmed": ch.messages_unconfirmed,
        "messages_uncommitted": 0,
        "name": name,
        "node": node,
        "number": ch.number,
        "prefetch_count": ch.prefetch_count,
        "state": "running",
        "transactional": ch.transactional,
        "user": ch.user,
        "user_who_performed_action": ch.user,
        "vhost": ch.vhost,
    })
}

async fn channel_listing(
    api: &Api,
    caller: &Caller,
    connection: Option<&str>,
    vhost: Option<&str>,
    q: &HashMap<String, String>,
) -> ApiResult<Response> {
    let connections = visible_connections(api, caller);
    let mut items = api.broker.channel_infos(connection).await;
    items.retain(|ch| {
        connections.iter().any(|c| c.name == ch.connection) && vhost.is_none_or(|v| v == ch.vhost)
    });
    let names: Vec<String> = items
        .iter()
        .map(|ch| render::channel_name(&ch.connection, ch.number))
        .collect();
    let items: Vec<(String, ChannelInfo)> = names.into_iter().zip(items).collect();
    list_response(
        items,
        q,
        |(name, _)| name,
        |(name, ch)| (&ch.vhost, name),
        |(_, ch)| channel_json(ch, &connections, api),
    )
}

async fn channels(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    channel_listing(&api, &caller, None, None, &q).await
}

async fn vhost_channels(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path(vhost): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    visible_vhost(&api, &caller, &vhost)?;
    channel_listing(&api, &caller, None, Some(&vhost), &q).await
}

async fn connection_channels(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    find_connection(&api, &caller, &name)?;
    channel_listing(&api, &caller, Some(&name), None, &q).await
}

async fn channel(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    // "CONNECTION (N)": the connection is everything before the last " (".
    let (connection, _) = name.rsplit_once(" (").ok_or(ApiError::NotFound)?;
    let connections = visible_connections(&api, &caller);
    if !connections.iter().any(|c| c.name == connection) {
        return Err(ApiError::NotFound);
    }
    let ch = api
        .broker
        .channel_infos(Some(connection))
        .await
        .into_iter()
        .find(|ch| render::channel_name(&ch.connection, ch.number) == name)
        .ok_or(ApiError::NotFound)?;
    Ok(json(channel_json(&ch, &connections, &api)))
}

async fn consumer_listing(api: &Api, caller: &Caller, vhost: Option<&str>) -> ApiResult<Response> {
    let connections = api.broker.connection_summaries();
    let mut items = api.broker.consumer_infos(vhost);
    // RabbitMQ: monitors see every consumer, other users their own connections' only.
    items.retain(|c| {
        caller.is_monitor()
            || connections
                .iter()
                .any(|s| s.name == c.connection && s.user == caller.name)
    });
    items.sort_by(|a, b| {
        (&a.vhost, &a.queue, &a.consumer_tag).cmp(&(&b.vhost, &b.queue, &b.consumer_tag))
    });
    let list: Vec<Value> = items
        .iter()
        .map(|c| {
            let conn = connections.iter().find(|s| s.name == c.connection);
            render::consumer(c, conn)
        })
        .collect();
    Ok(json(Value::Array(list)))
}

async fn consumers(State(api): State<Arc<Api>>, caller: Caller) -> ApiResult<Response> {
    consumer_listing(&api, &caller, None).await
}

async fn vhost_consumers(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path(vhost): Path<String>,
) -> ApiResult<Response> {
    visible_vhost(&api, &caller, &vhost)?;
    consumer_listing(&api, &caller, Some(&vhost)).await
}
