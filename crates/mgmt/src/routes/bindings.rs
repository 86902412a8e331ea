//! `/api/bindings`: list; bindings between an exchange and a queue or exchange: list,
//! create (201 with a relative `location`), show and delete by properties key.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use warren_broker::auth::{Access, ResourceKind};
use warren_model::command::{BindingSpec, Command, DestinationKind, Origin};
use warren_model::query::BindingInfo;

use super::exchanges::visible_vhost;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::path::{encode, exchange_name};
use crate::{arguments_field, body_object, json, list_response, render, str_field, Api};

pub fn routes() -> Router<Arc<Api>> {
    Router::new()
        .route("/api/bindings", get(list_all))
        .route("/api/bindings/{vhost}", get(list_vhost))
        .route(
            "/api/bindings/{vhost}/e/{source}/{kind}/{destination}",
            get(between).post(create),
        )
        .route(
            "/api/bindings/{vhost}/e/{source}/{kind}/{destination}/{props}",
            get(show).delete(delete),
        )
}

fn listing_of(items: Vec<BindingInfo>, q: &HashMap<String, String>) -> ApiResult<Response> {
    let mut items = items;
    // RabbitMQ lists bindings by vhost, source, destination, routing key.
    items.sort_by(|a, b| {
        (&a.vhost, &a.source, &a.destination, &a.routing_key).cmp(&(
            &b.vhost,
            &b.source,
            &b.destination,
            &b.routing_key,
        ))
    });
    list_response(items, q, |b| &b.source, |_| ("", ""), render::binding)
}

async fn list_all(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let mut items = api.broker.binding_infos(None);
    items.retain(|b| caller.lists_in_vhost(&api, &b.vhost));
    listing_of(items, &q)
}

async fn list_vhost(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path(vhost): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    visible_vhost(&api, &caller, &vhost)?;
    listing_of(api.broker.binding_infos(Some(&vhost)), &q)
}

fn destination_kind(kind: &str) -> ApiResult<DestinationKind> {
    match kind {
        "q" => Ok(DestinationKind::Queue),
        "e" => Ok(DestinationKind::Exchange),
        _ => Err(ApiError::NotFound),
    }
}

/// The bindings from `source` to `destination`, after checking both exist.
fn bindings_between(
    api: &Api,
    vhost: &str,
    source: &str,
    kind: DestinationKind,
    destination: &str,
) -> ApiResult<Vec<BindingInfo>> {
    let v = api.broker.vhost(vhost).ok_or(ApiError::NotFound)?;
    let source = exchange_name(source);
    if !v.exchange_exists(source) {
        return Err(ApiError::NotFound);
    }
    let exists = match kind {
        DestinationKind::Queue => v.queue(destination).is_some(),
        DestinationKind::Exchange => {
            let d = exchange_name(destination);
            !d.is_empty() && v.exchange_exists(d)
        }
    };
    if !exists {
        return Err(ApiError::NotFound);
    }
    let mut list = v.binding_infos();
    list.retain(|b| {
        b.source == source && b.destination_kind == kind && b.destination == destination
    });
    list.sort_by(|a, b| a.routing_key.cmp(&b.routing_key));
    Ok(list)
}

async fn between(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path((vhost, source, kind, destination)): Path<(String, String, String, String)>,
) -> ApiResult<Response> {
    visible_vhost(&api, &caller, &vhost)?;
    let kind = destination_kind(&kind)?;
    // RabbitMQ lists no bindings (200 []) when an end is missing.
    let list = bindings_between(&api, &vhost, &source, kind, &destination).unwrap_or_default();
    Ok(json(list.iter().map(render::binding).collect()))
}

fn check_bind(
    api: &Api,
    caller: &Caller,
    vhost: &str,
    source: &str,
    kind: DestinationKind,
    destination: &str,
) -> ApiResult<()> {
    let resource = match kind {
        DestinationKind::Queue => ResourceKind::Queue,
        DestinationKind::Exchange => ResourceKind::Exchange,
    };
    caller.require_permission(api, vhost, Access::Write, resource, destination)?;
    caller.require_permission(api, vhost, Access::Read, ResourceKind::Exchange, source)
}

async fn create(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path((vhost, source, kind, destination)): Path<(String, String, String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    let body = body_object(&body)?;
    let kind = destination_kind(&kind)?;
    // A missing end is queue.bind's 404, with its text (RabbitMQ), source first.
    let v = api.broker.vhost(&vhost).ok_or(ApiError::NotFound)?;
    let missing = |what: &str, name: &str| {
        ApiError::NotFoundReason(format!("no {what} '{name}' in vhost '{vhost}'"))
    };
    if !v.exchange_exists(exchange_name(&source)) {
        return Err(missing("exchange", &source));
    }
    let destination_exists = match kind {
        DestinationKind::Queue => v.queue(&destination).is_some(),
        DestinationKind::Exchange => {
            let d = exchange_name(&destination);
            !d.is_empty() && v.exchange_exists(d)
        }
    };
    if !destination_exists {
        let what = match kind {
            DestinationKind::Queue => "queue",
            DestinationKind::Exchange => "exchange",
        };
        return Err(missing(what, &destination));
    }
    let source = exchange_name(&source).to_owned();
    check_bind(&api, &caller, &vhost, &source, kind, &destination)?;
    let spec = BindingSpec {
        vhost,
        source,
        destination_kind: kind,
        destination,
        routing_key: str_field(&body, "routing_key", "")?,
        arguments: arguments_field(&body)?,
    };
    let location = format!(
        "{}/{}",
        encode(&spec.destination),
        encode(&render::properties_key(&spec.routing_key, &spec.arguments))
    );
    api.broker.execute(Origin::Operator, Command::Bind(spec))?;
    api.broker.sync_metadata().await;
    let mut response = StatusCode::CREATED.into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

fn find(
    api: &Api,
    vhost: &str,
    source: &str,
    kind: &str,
    destination: &str,
    props: &str,
) -> ApiResult<BindingInfo> {
    let kind = destination_kind(kind)?;
    bindings_between(api, vhost, source, kind, destination)?
        .into_iter()
        .find(|b| render::properties_key(&b.routing_key, &b.arguments) == props)
        .ok_or(ApiError::NotFound)
}

async fn show(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path((vhost, source, kind, destination, props)): Path<(String, String, String, String, String)>,
) -> ApiResult<Response> {
    visible_vhost(&api, &caller, &vhost)?;
    let b = find(&api, &vhost, &source, &kind, &destination, &props)?;
    Ok(json(render::binding(&b)))
}

async fn delete(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path((vhost, source, kind, destination, props)): Path<(String, String, String, String, String)>,
) -> ApiResult<Response> {
    let b = find(&api, &vhost, &source, &kind, &destination, &props)?;
    check_bind(
        &api,
        &caller,
        &vhost,
        &b.source,
        b.destination_kind,
        &b.destination,
    )?;
    let spec = BindingSpec {
        vhost: b.vhost,
        source: b.source,
        destination_kind: b.destination_kind,
        destination: b.destination,
        routing_key: b.routing_key,
        arguments: b.arguments,
    };
    api.broker
        .execute(Origin::Operator, Command::Unbind(spec))?;
    api.broker.sync_metadata().await;
    Ok(StatusCode::NO_CONTENT.into_response())
}
