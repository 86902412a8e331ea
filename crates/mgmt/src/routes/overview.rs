//! `/api/overview`, `/api/nodes`, `/api/whoami`, health checks, aliveness test, extensions,
//! cluster name and the other node-wide endpoints.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json as j, Value};
use warren_model::command::{Command, Origin, QueueSpec};

use super::exchanges::visible_vhost;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::{json, render, Api, RABBITMQ_API_VERSION};

pub fn routes() -> Router<Arc<Api>> {
    Router::new()
        .route("/api/overview", get(overview))
        .route("/api/nodes", get(nodes))
        .route("/api/nodes/{node}", get(node))
        .route("/api/whoami", get(whoami))
        .route("/api/extensions", get(extensions))
        .route("/api/auth", get(auth))
        .route("/api/cluster-name", get(cluster_name))
        .route("/api/health/checks/alarms", get(alarms))
        .route("/api/health/checks/local-alarms", get(alarms))
        .route("/api/health/checks/virtual-hosts", get(ok))
        .route(
            "/api/health/checks/port-listener/{port}",
            get(port_listener),
        )
        .route(
            "/api/health/checks/protocol-listener/{protocol}",
            get(protocol_listener),
        )
        .route(
            "/api/health/checks/node-is-quorum-critical",
            get(single_node),
        )
        .route(
            "/api/health/checks/node-is-mirror-sync-critical",
            get(single_node),
        )
        .route(
            "/api/health/checks/certificate-expiration/{within}/{unit}",
            get(certificate_expiration),
        )
        .route("/api/aliveness-test/{vhost}", get(aliveness))
        .route("/api/feature-flags", get(empty_list))
        .route("/api/global-parameters", get(empty_list))
}

const EXCHANGE_TYPES: [&str; 4] = ["direct", "fanout", "headers", "topic"];

fn exchange_types() -> Value {
    EXCHANGE_TYPES
        .iter()
        .map(|t| {
            j!({
                "name": t,
                "description": format!("AMQP {t} exchange, as per the AMQP specification"),
                "enabled": true,
            })
        })
        .collect()
}

fn listeners(api: &Api) -> Value {
    api.listeners
        .iter()
        .map(|(protocol, at)| {
            j!({"node": api.node, "protocol": protocol, "ip_address": at.ip().to_string(),
                "port": at.port(), "socket_opts": {}})
        })
        .collect()
}

/// The management UI's web contexts: one per listener serving it (HTTP, HTTPS).
fn contexts(api: &Api) -> Value {
    api.listeners
        .iter()
        .filter(|(protocol, _)| matches!(*protocol, "http" | "https"))
        .map(|(protocol, at)| {
            let ssl = if *protocol == "https" {
                j!([{"protocol": "https"}])
            } else {
                j!([])
            };
            j!({ "ssl_opts": ssl, "node": api.node, "description": "Warren Management",
                 "path": "/", "ip": at.ip().to_string(), "port": at.port().to_string() })
        })
        .collect()
}

async fn overview(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let params = crate::list_params(&q)?;
    let b = &api.broker;
    let mut queues = b.queue_infos(None);
    queues.retain(|q| caller.sees_vhost(&api, &q.vhost));
    let (ready, unacked) = queues.iter().fold((0, 0), |(r, u), q| {
        (r + q.messages_ready, u + q.messages_unacknowledged)
    });
    let mut exchanges = b.exchange_infos(None);
    exchanges.retain(|x| caller.sees_vhost(&api, &x.vhost));
    let connections: Vec<_> = b
        .connection_summaries()
        .into_iter()
        .filter(|c| caller.is_monitor() || c.user == caller.name)
        .collect();
    let channels: u64 = connections.iter().map(|c| u64::from(c.channels)).sum();
    let consumers: u64 = queues.iter().map(|q| u64::from(q.consumers)).sum();
    let r = api
        .rates
        .rates("overview", &[ready + unacked, ready, unacked]);
    let message_stats = render::message_stats(&api.rates, "overview-msgs", &b.totals.snapshot());
    let mut v = j!({
        "management_version": RABBITMQ_API_VERSION,
        "rates_mode": "basic",
        "sample_retention_policies": {"global": [600, 3600, 28800, 86400], "basic": [600, 3600], "detailed": [600]},
        "exchange_types": exchange_types(),
        "product_version": env!("CARGO_PKG_VERSION"),
        "product_name": "Warren",
        "rabbitmq_version": RABBITMQ_API_VERSION,
        "cluster_name": api.node,
        "disable_stats": false,
        "enable_queue_totals": false,
        "message_stats": message_stats,
        "churn_rates": render::churn(&api.rates, &b.churn.snapshot()),
        "queue_totals": {
            "messages": ready + unacked, "messages_details": {"rate": r[0]},
            "messages_ready": ready, "messages_ready_details": {"rate": r[1]},
            "messages_unacknowledged": unacked, "messages_unacknowledged_details": {"rate": r[2]},
        },
        "object_totals": {
            "channels": channels,
            "connections": connections.len(),
            "consumers": consumers,
            "exchanges": exchanges.len(),
            "queues": queues.len(),
        },
        "statistics_db_event_queue": 0,
    });
    // Policymakers and plain management users do not see node details (RabbitMQ).
    if caller.is_monitor() {
        v["node"] = j!(api.node);
        v["listeners"] = listeners(&api);
        v["contexts"] = contexts(&api);
    }
    Ok(json(crate::listing::columns(v, &params)))
}

fn node_json(api: &Api) -> Value {
    let b = &api.broker;
    let alarms = b.alarm();
    let processors = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut node = j!({
        "name": api.node,
        "type": "disc",
        "running": true,
        "os_pid": std::process::id().to_string(),
        "uptime": api.started.elapsed().as_millis() as u64,
        "processors": processors,
        "mem_used": crate::process::resident_bytes(),
        "mem_limit": b.config.memory_high_watermark_bytes,
        "mem_alarm": alarms.memory,
        "mem_calculation_strategy": "rss",
        "disk_free_limit": b.config.disk_free_limit,
        "disk_free_alarm": alarms.disk,
        "fd_used": crate::process::open_fds(),
        "fd_total": crate::process::max_fds(),
        "sockets_used": b.connection_summaries().len(),
        "sockets_total": crate::process::max_fds(),
        "partitions": [],
        "exchange_types": exchange_types(),
        "auth_mechanisms": b.config.auth_mechanisms.iter()
            .map(|m| j!({"name": m, "description": "", "enabled": true}))
            .collect::<Vec<_>>(),
        "applications": [{"name": "warren", "description": "Warren", "version": env!("CARGO_PKG_VERSION")}],
        "contexts": contexts(api),
        "rates_mode": "basic",
        "db_dir": b.config.data_dir.display().to_string(),
        "config_files": [],
        "log_files": ["<stdout>"],
        "enabled_plugins": ["rabbitmq_management"],
        "net_ticktime": 60,
        "run_queue": 0,
        "proc_used": 0,
        "proc_total": 0,
    });
    if let Value::Object(fields) = &mut node {
        fields.extend(render::churn(&api.rates, &b.churn.snapshot()));
    }
    node
}

async fn nodes(State(api): State<Arc<Api>>, caller: Caller) -> ApiResult<Response> {
    caller.require_monitor()?;
    Ok(json(j!([node_json(&api)])))
}

async fn node(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    caller.require_monitor()?;
    if name != api.node {
        return Err(ApiError::NotFound);
    }
    Ok(json(node_json(&api)))
}

async fn whoami(caller: Caller) -> Response {
    json(j!({ "name": caller.name, "tags": caller.tags }))
}

async fn extensions(_caller: Caller) -> Response {
    json(j!([]))
}

async fn auth() -> Response {
    json(j!({"enable_uaa": false, "uaa_client_id": "", "uaa_location": ""}))
}

async fn cluster_name(State(api): State<Arc<Api>>, _caller: Caller) -> Response {
    json(j!({ "name": api.node }))
}

async fn ok(_caller: Caller) -> Response {
    json(j!({ "status": "ok" }))
}

async fn empty_list(_caller: Caller) -> Response {
    json(j!([]))
}

/// 200 `{"status":"ok"}`, or 503 `{"status":"failed","reason":…}` while an alarm is set.
async fn alarms(State(api): State<Arc<Api>>, _caller: Caller) -> Response {
    let a = api.broker.alarm();
    if !a.any() {
        return json(j!({ "status": "ok" }));
    }
    let mut list = Vec::new();
    if a.memory {
        list.push(j!({"node": api.node, "resource": "memory"}));
    }
    if a.disk {
        list.push(j!({"node": api.node, "resource": "disk"}));
    }
    let body = j!({"status": "failed", "reason": "resource alarm(s) in effect in the cluster", "alarms": list});
    (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
}

/// RabbitMQ's names for AMQP 0-9-1 in this check.
fn protocol_name(text: &str) -> &str {
    match text {
        "amqp" | "amqp091" | "amqp0-9-1" | "amqp0.9.1" | "amqp0_9_1" => "amqp",
        "amqps" | "amqp/ssl" | "amqp091/ssl" => "amqp/ssl",
        "https" | "management/ssl" => "https",
        "http" | "management" => "http",
        other => other,
    }
}

/// 200 when a listener for the protocol runs, else 503 listing the ones that do.
async fn protocol_listener(
    State(api): State<Arc<Api>>,
    _caller: Caller,
    Path(protocol): Path<String>,
) -> Response {
    let wanted = protocol_name(&protocol);
    let running: Vec<&str> = api.listeners.iter().map(|(p, _)| *p).collect();
    if running.contains(&wanted) {
        return json(j!({ "status": "ok", "protocol": wanted }));
    }
    let body = j!({"status": "failed", "reason": "No active listener", "missing": wanted, "protocols": running});
    (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
}

/// Quorum and mirror-sync criticality: nothing is critical on a single node.
async fn single_node(_caller: Caller) -> Response {
    json(j!({ "status": "ok", "reason": "single node cluster" }))
}

/// No TLS listener holds a certificate (yet), so none expires.
async fn certificate_expiration(
    _caller: Caller,
    Path((within, unit)): Path<(String, String)>,
) -> ApiResult<Response> {
    if within.parse::<u32>().is_err() {
        return Err(ApiError::bad_request(
            "Time period must be a positive integer.",
        ));
    }
    if !["days", "weeks", "months", "years"].contains(&unit.as_str()) {
        return Err(ApiError::bad_request(
            "Time unit not recognised. Supported units: days, weeks, months, years.",
        ));
    }
    Ok(json(j!({ "status": "ok" })))
}

async fn port_listener(
    State(api): State<Arc<Api>>,
    _caller: Caller,
    Path(port): Path<String>,
) -> Response {
    let listening: Vec<u16> = api.listeners.iter().map(|(_, at)| at.port()).collect();
    match port.parse::<u16>() {
        Ok(p) if listening.contains(&p) => json(j!({ "status": "ok", "port": p })),
        Ok(p) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(j!({"status": "failed", "reason": format!("No active listener on port {p}"), "missing": p, "ports": listening})),
        )
            .into_response(),
        Err(_) => ApiError::bad_request(format!("{port} is not a port")).into_response(),
    }
}

/// Declare `aliveness-test` in the vhost, publish a message to it and get it back (the queue
/// stays, as in RabbitMQ).
async fn aliveness(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path(vhost): Path<String>,
) -> ApiResult<Response> {
    visible_vhost(&api, &caller, &vhost)?;
    caller.require_vhost_access(&api, &vhost)?;
    let q = api
        .broker
        .execute(
            Origin::Operator,
            Command::DeclareQueue(QueueSpec {
                vhost: vhost.clone(),
                name: "aliveness-test".into(),
                server_named: false,
                durable: false,
                exclusive: false,
                auto_delete: false,
                arguments: Default::default(),
            }),
        )?
        .into_queue()?
        .queue;
    let props = Default::default();
    crate::message::publish(&api, &vhost, "", "aliveness-test", &props, b"test_message").await?;
    match q.get() {
        Some(_) => Ok(json(j!({ "status": "ok" }))),
        None => Ok((
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(j!({"status": "failed", "reason": "aliveness test message not received"})),
        )
            .into_response()),
    }
}
