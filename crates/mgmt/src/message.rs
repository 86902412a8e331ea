//! Messages through the API: publish (`POST /api/exchanges/…/publish`) and get
//! (`POST /api/queues/…/get`), with AMQP properties as RabbitMQ's JSON.

use std::sync::Arc;

use base64::Engine;
use serde_json::{json, Map, Value};
use warren_broker::exchange::stats::ExchangeTally;
use warren_broker::queue::{load_paged, QueueDelta};
use warren_broker::vhost::RouteScratch;
use warren_codec::content::{decode_properties, encode_properties, PropertiesView};
use warren_codec::protocol::basic::AMQPProperties;
use warren_codec::types::ShortString;
use warren_model::command::Origin;
use warren_model::query::ChannelCounters;
use warren_store::message::Message;

use crate::error::{ApiError, ApiResult};
use crate::render::table;
use crate::Api;

const SHORT_STRING_PROPERTIES: [&str; 10] = [
    "content_type",
    "content_encoding",
    "correlation_id",
    "reply_to",
    "expiration",
    "message_id",
    "type",
    "user_id",
    "app_id",
    "cluster_id",
];

fn short(key: &str, v: &Value) -> ApiResult<ShortString> {
    match v {
        Value::String(s) if s.len() <= 255 => Ok(ShortString::from(s.clone())),
        Value::String(_) => Err(ApiError::bad_request(format!(
            "{key}: longer than 255 bytes"
        ))),
        _ => Err(ApiError::bad_request(format!("{key}: expected a string"))),
    }
}

fn octet(key: &str, v: &Value) -> ApiResult<u8> {
    v.as_u64()
        .and_then(|n| u8::try_from(n).ok())
        .ok_or_else(|| ApiError::bad_request(format!("{key}: expected an integer 0-255")))
}

/// AMQP basic properties from the API's `properties` object.
pub fn properties_from_json(p: &Map<String, Value>) -> ApiResult<AMQPProperties> {
    let mut props = AMQPProperties::default();
    for (key, v) in p {
        props = match key.as_str() {
            "content_type" => props.with_content_type(short(key, v)?),
            "content_encoding" => props.with_content_encoding(short(key, v)?),
            "correlation_id" => props.with_correlation_id(short(key, v)?),
            "reply_to" => props.with_reply_to(short(key, v)?),
            "expiration" => props.with_expiration(short(key, v)?),
            "message_id" => props.with_message_id(short(key, v)?),
            "type" => props.with_type(short(key, v)?),
            "user_id" => props.with_user_id(short(key, v)?),
            "app_id" => props.with_app_id(short(key, v)?),
            "cluster_id" => props.with_cluster_id(short(key, v)?),
            "delivery_mode" => props.with_delivery_mode(octet(key, v)?),
            "priority" => props.with_priority(octet(key, v)?),
            "timestamp" => props.with_timestamp(
                v.as_u64()
                    .ok_or_else(|| ApiError::bad_request("timestamp: expected an integer"))?,
            ),
            "headers" => props.with_headers(
                warren_model::json_args::json_to_table(v)
                    .map_err(|e| ApiError::bad_request(e.to_string()))?,
            ),
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown message property {other}"
                )))
            }
        };
    }
    Ok(props)
}

/// The API's `properties` of a message: an object, or `[]` when there are none (RabbitMQ).
pub fn properties_to_json(raw: &[u8]) -> Value {
    let Ok(p) = decode_properties(raw) else {
        return json!([]);
    };
    let mut out = Map::new();
    let mut put_short = |k: &str, v: &Option<ShortString>| {
        if let Some(v) = v {
            out.insert(k.to_owned(), json!(v.as_str()));
        }
    };
    put_short(SHORT_STRING_PROPERTIES[0], p.content_type());
    put_short(SHORT_STRING_PROPERTIES[1], p.content_encoding());
    put_short(SHORT_STRING_PROPERTIES[2], p.correlation_id());
    put_short(SHORT_STRING_PROPERTIES[3], p.reply_to());
    put_short(SHORT_STRING_PROPERTIES[4], p.expiration());
    put_short(SHORT_STRING_PROPERTIES[5], p.message_id());
    put_short(SHORT_STRING_PROPERTIES[6], p.kind());
    put_short(SHORT_STRING_PROPERTIES[7], p.user_id());
    put_short(SHORT_STRING_PROPERTIES[8], p.app_id());
    put_short(SHORT_STRING_PROPERTIES[9], p.cluster_id());
    if let Some(v) = p.delivery_mode() {
        out.insert("delivery_mode".into(), json!(v));
    }
    if let Some(v) = p.priority() {
        out.insert("priority".into(), json!(v));
    }
    if let Some(v) = p.timestamp() {
        out.insert("timestamp".into(), json!(v));
    }
    if let Some(h) = p.headers() {
        out.insert("headers".into(), table(h));
    }
    if out.is_empty() {
        json!([])
    } else {
        Value::Object(out)
    }
}

/// Publish one message as a client would; true if it reached a queue. A persistent message
/// stored for durable queues is synced before this returns.
pub async fn publish(
    api: &Api,
    vhost: &str,
    exchange: &str,
    routing_key: &str,
    properties: &AMQPProperties,
    body: &[u8],
) -> ApiResult<bool> {
    if body.len() as u64 > api.broker.config.max_message_size_bytes {
        return Err(ApiError::bad_request("message_too_large"));
    }
    if routing_key.len() > 255 {
        return Err(ApiError::bad_request("routing_key: longer than 255 bytes"));
    }
    let raw = encode_properties(properties);
    let view = PropertiesView::parse(&raw).map_err(|_| ApiError::Internal)?;
    let message = Message::new(
        exchange.as_bytes(),
        routing_key.as_bytes(),
        &raw,
        view,
        body,
    );
    let v = api.broker.vhost_or_err(vhost)?;
    let mut queues = Vec::new();
    let mut tally = ExchangeTally::default();
    v.route(
        exchange,
        &message,
        &mut RouteScratch::default(),
        &mut queues,
        &mut tally,
    )?;
    tally.flush();
    // Counted as RabbitMQ counts the management plugin's own channel.
    let counts = ChannelCounters {
        publish: 1,
        drop_unroutable: u64::from(queues.is_empty()),
        ..ChannelCounters::default()
    };
    v.totals.add(&counts);
    api.broker.totals.add(&counts);
    if queues.is_empty() {
        return Ok(false);
    }
    let expiration = message
        .view
        .expiration
        .map(|span| span.of(message.properties()).to_vec());
    let message_ttl_ms = match expiration {
        Some(raw) => Some(warren_broker::queue::parse_expiration(&raw).map_err(|why| {
            ApiError::bad_request(format!(
                "invalid expiration '{}': {why}",
                String::from_utf8_lossy(&raw)
            ))
        })?),
        None => None,
    };
    let enqueued = warren_broker::enqueue::enqueue(
        &api.broker.store,
        Arc::new(message),
        message_ttl_ms,
        &mut queues,
        &mut Vec::new(),
        |_| {},
    );
    if let Some(lsn) = enqueued.lsn {
        api.broker.store.wait_synced(lsn).await;
    }
    Ok(true)
}

/// A message as `/get` shows it (without `message_count`): payload as text when it is UTF-8
/// (unless `base64_always`), cut at `truncate` bytes.
fn message_json(
    msg: &Message,
    redelivered: bool,
    base64_always: bool,
    truncate: Option<usize>,
) -> Value {
    let body = msg.body();
    let shown = &body[..truncate.map_or(body.len(), |t| t.min(body.len()))];
    let (payload, encoding) = match std::str::from_utf8(shown) {
        Ok(text) if !base64_always => (text.to_owned(), "string"),
        _ => (
            base64::engine::general_purpose::STANDARD.encode(shown),
            "base64",
        ),
    };
    json!({
        "payload_bytes": body.len(),
        "redelivered": redelivered,
        "exchange": String::from_utf8_lossy(msg.exchange()),
        "routing_key": String::from_utf8_lossy(msg.routing_key()),
        "properties": properties_to_json(msg.properties()),
        "payload": payload,
        "payload_encoding": encoding,
    })
}

/// Most messages one peek shows.
pub const PEEK_MAX: usize = 100;
/// Payload bytes a peek shows of each message.
const PEEK_TRUNCATE_BYTES: usize = 4096;

/// The first `count` ready messages of a queue, left where they are (Warren's own
/// `/peek`: RabbitMQ's `/get` with requeue marks them redelivered and moves them).
pub async fn peek(api: &Api, vhost: &str, queue: &str, count: usize) -> ApiResult<Value> {
    let q = api
        .broker
        .vhost_or_err(vhost)?
        .lookup_queue(queue, Origin::Operator)?;
    let peeked = warren_broker::queue::load_peeked(q.peek(count.min(PEEK_MAX))).await;
    Ok(Value::Array(
        peeked
            .iter()
            .map(|(m, redelivered)| message_json(m, *redelivered, false, Some(PEEK_TRUNCATE_BYTES)))
            .collect(),
    ))
}

/// How `/get` settles what it took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckMode {
    AckRequeueTrue,
    AckRequeueFalse,
    RejectRequeueTrue,
    RejectRequeueFalse,
}

impl AckMode {
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "ack_requeue_true" => Self::AckRequeueTrue,
            "ack_requeue_false" => Self::AckRequeueFalse,
            "reject_requeue_true" => Self::RejectRequeueTrue,
            "reject_requeue_false" => Self::RejectRequeueFalse,
            _ => return None,
        })
    }

    fn requeue(self) -> bool {
        matches!(self, Self::AckRequeueTrue | Self::RejectRequeueTrue)
    }
}

/// Take up to `count` messages from a queue, render them, and requeue or drop them.
pub async fn get(
    api: &Api,
    vhost: &str,
    queue: &str,
    count: usize,
    mode: AckMode,
    base64_always: bool,
    truncate: Option<usize>,
) -> ApiResult<Value> {
    let q = api
        .broker
        .vhost_or_err(vhost)?
        .lookup_queue(queue, Origin::Operator)?;
    let mut taken = Vec::new();
    let mut remaining = Vec::new();
    for _ in 0..count {
        let Some((m, left)) = q.get() else {
            break;
        };
        taken.push(m);
        remaining.push(left);
    }
    let failed = load_paged(taken.iter_mut()).await;
    if !failed.is_empty() {
        q.requeue(taken);
        return Err(ApiError::Internal);
    }
    let mut out = Vec::with_capacity(taken.len());
    for (m, left) in taken.iter().zip(&remaining) {
        let Some(msg) = m.in_memory() else {
            continue;
        };
        let mut shown = message_json(&msg, m.redelivered, base64_always, truncate);
        shown["message_count"] = json!(left);
        out.push(shown);
    }
    q.add_stats(&QueueDelta {
        get: taken.len() as u64,
        get_empty: u64::from(taken.is_empty()),
        ack: if mode.requeue() {
            0
        } else {
            taken.len() as u64
        },
        ..QueueDelta::default()
    });
    if mode.requeue() {
        for m in &mut taken {
            m.redelivered = true;
        }
        q.requeue(taken);
    }
    Ok(Value::Array(out))
}
