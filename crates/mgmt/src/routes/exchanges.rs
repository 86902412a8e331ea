//! `/api/exchanges`: list, show, declare, delete, an exchange's bindings, publish.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json as j, Value};
use warren_broker::auth::{Access, ResourceKind};
use warren_model::command::{Command, DestinationKind, ExchangeSpec};
use warren_model::query::{BindingInfo, ExchangeInfo};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::path::exchange_name;
use crate::{
    arguments_field, body_object, bool_field, json, list_params, list_response, listing, render,
    str_field, Api,
};

pub fn routes() -> Router<Arc<Api>> {
    Router::new()
        .route("/api/exchanges", get(list_all))
        .route("/api/exchanges/{vhost}", get(list_vhost))
        .route(
            "/api/exchanges/{vhost}/{name}",
            get(show).put(put).delete(delete),
        )
        .route(
            "/api/exchanges/{vhost}/{name}/bindings/source",
            get(bindings_source),
        )
        .route(
            "/api/exchanges/{vhost}/{name}/bindings/destination",
            get(bindings_destination),
        )
        .route("/api/exchanges/{vhost}/{name}/publish", post(publish))
}

fn listing_of(
    api: &Api,
    items: Vec<ExchangeInfo>,
    q: &HashMap<String, String>,
) -> ApiResult<Response> {
    list_response(
        items,
        q,
        |x| &x.name,
        |x| (&x.vhost, &x.name),
        |x| render::exchange(x, &api.rates),
    )
}

async fn list_all(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let mut items = api.broker.exchange_infos(None);
    items.retain(|x| caller.lists_in_vhost(&api, &x.vhost));
    listing_of(&api, items, &q)
}

/// A vhost the caller may look into: 404 if it does not exist.
pub fn visible_vhost(api: &Api, caller: &Caller, vhost: &str) -> ApiResult<()> {
    if api.broker.vhost(vhost).is_none() {
        return Err(ApiError::NotFound);
    }
    if !caller.lists_in_vhost(api, vhost) {
        return Err(ApiError::not_authorised(
            "User not authorised to access virtual host",
        ));
    }
    Ok(())
}

async fn list_vhost(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path(vhost): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    visible_vhost(&api, &caller, &vhost)?;
    listing_of(&api, api.broker.exchange_infos(Some(&vhost)), &q)
}

fn find(api: &Api, vhost: &str, name: &str) -> ApiResult<ExchangeInfo> {
    let name = exchange_name(name);
    api.broker
        .exchange_infos(Some(vhost))
        .into_iter()
        .find(|x| x.name == name)
        .ok_or(ApiError::NotFound)
}

async fn show(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path((vhost, name)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    visible_vhost(&api, &caller, &vhost)?;
    let x = find(&api, &vhost, &name)?;
    let mut v = render::exchange(&x, &api.rates);
    v["incoming"] = j!([]);
    v["outgoing"] = j!([]);
    let params = list_params(&q)?;
    Ok(json(listing::columns(v, &params)))
}

async fn put(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path((vhost, name)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    let body = body_object(&body)?;
    if api.broker.vhost(&vhost).is_none() {
        return Err(ApiError::NotFoundReason("vhost_not_found".into()));
    }
    caller.require_permission(
        &api,
        &vhost,
        Access::Configure,
        ResourceKind::Exchange,
        &name,
    )?;
    // RabbitMQ fills what the body leaves out from exchange.declare's defaults: a direct
    // exchange, not durable.
    let spec = ExchangeSpec {
        vhost,
        name,
        kind: str_field(&body, "type", "direct")?,
        durable: bool_field(&body, "durable", false)?,
        auto_delete: bool_field(&body, "auto_delete", false)?,
        internal: bool_field(&body, "internal", false)?,
        arguments: arguments_field(&body)?,
    };
    api.run(Command::DeclareExchange(spec)).await
}

async fn delete(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path((vhost, name)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let x = find(&api, &vhost, &name)?;
    caller.require_permission(
        &api,
        &vhost,
        Access::Configure,
        ResourceKind::Exchange,
        &x.name,
    )?;
    api.run(Command::DeleteExchange {
        vhost,
        name: x.name,
        if_unused: q.get("if-unused").is_some_and(|v| v == "true"),
    })
    .await
}

/// The bindings of an exchange in one direction, as a sorted JSON list.
fn exchange_bindings(
    api: &Api,
    caller: &Caller,
    vhost: &str,
    name: &str,
    keep: impl Fn(&BindingInfo, &str) -> bool,
    order: impl Fn(&BindingInfo) -> (&str, &str),
) -> ApiResult<Response> {
    visible_vhost(api, caller, vhost)?;
    let x = find(api, vhost, name)?;
    let mut list = api.broker.binding_infos(Some(vhost));
    list.retain(|b| keep(b, &x.name));
    list.sort_by(|a, b| order(a).cmp(&order(b)));
    Ok(json(list.iter().map(render::binding).collect()))
}

async fn bindings_source(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path((vhost, name)): Path<(String, String)>,
) -> ApiResult<Response> {
    exchange_bindings(
        &api,
        &caller,
        &vhost,
        &name,
        |b, x| b.source == x,
        |b| (&b.destination, &b.routing_key),
    )
}

async fn bindings_destination(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path((vhost, name)): Path<(String, String)>,
) -> ApiResult<Response> {
    exchange_bindings(
        &api,
        &caller,
        &vhost,
        &name,
        |b, x| b.destination_kind == DestinationKind::Exchange && b.destination == x,
        |b| (&b.source, &b.routing_key),
    )
}

async fn publish(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path((vhost, name)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    let body = body_object(&body)?;
    // RabbitMQ publishes on a channel: a missing exchange is that channel's 404, as a 400.
    let x = find(&api, &vhost, &name).map_err(|_| {
        ApiError::bad_request(format!(
            "404 NOT_FOUND - no exchange '{}' in vhost '{vhost}'",
            exchange_name(&name)
        ))
    })?;
    caller.require_permission(&api, &vhost, Access::Write, ResourceKind::Exchange, &x.name)?;
    let missing: Vec<&str> = ["properties", "routing_key", "payload", "payload_encoding"]
        .into_iter()
        .filter(|k| !body.contains_key(*k))
        .collect();
    if !missing.is_empty() {
        let list: Vec<String> = missing
            .iter()
            .map(|k| format!("{{key_missing,{k}}}"))
            .collect();
        return Err(ApiError::bad_request(format!("[{}]", list.join(","))));
    }
    let routing_key = str_field(&body, "routing_key", "")?;
    let payload = str_field(&body, "payload", "")?;
    let payload = match str_field(&body, "payload_encoding", "string")?.as_str() {
        "string" => payload.into_bytes(),
        "base64" => {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD
                .decode(payload.trim())
                .map_err(|_| ApiError::bad_request("payload_not_base64"))?
        }
        _ => return Err(ApiError::bad_request("invalid_payload_encoding")),
    };
    let properties = match body.get("properties") {
        Some(Value::Object(p)) => crate::message::properties_from_json(p)?,
        Some(Value::Array(a)) if a.is_empty() => Default::default(),
        _ => return Err(ApiError::bad_request("properties: expected an object")),
    };
    let routed =
        crate::message::publish(&api, &vhost, &x.name, &routing_key, &properties, &payload).await?;
    Ok(json(j!({ "routed": routed })))
}
