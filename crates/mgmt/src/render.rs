//! Snapshots rendered as RabbitMQ 3.10's management JSON (field names, shapes, the
//! `*_details: {"rate": …}` companions of counters).

use serde_json::{json, Map, Value};
use warren_codec::types::FieldTable;
use warren_model::json_args::table_to_json;
use warren_model::query::{
    BindingInfo, ChannelCounters, ChurnCounters, ConnectionSummary, ConsumerInfo, ExchangeInfo,
    PermissionInfo, QueueInfo, TopicPermissionInfo, UserInfo, VhostInfo,
};

use crate::rates::Rates;

/// A field table as the API shows it (a table that cannot be shown is shown empty; tables
/// come from clients through the codec, which bounds their depth).
pub fn table(t: &FieldTable) -> Value {
    table_to_json(t).unwrap_or_else(|_| Value::Object(Map::new()))
}

/// A moment as RabbitMQ's API writes it: "2026-12-07T03:35:20.127+00:00".
fn timestamp(at: std::time::SystemTime) -> String {
    let utc = humantime::format_rfc3339_millis(at).to_string();
    match utc.strip_suffix('Z') {
        Some(rest) => format!("{rest}+00:00"),
        None => utc,
    }
}

/// `name` and `name_details: {"rate": r}`.
fn counter(out: &mut Map<String, Value>, name: &str, value: u64, rate: f64) {
    out.insert(name.to_owned(), json!(value));
    out.insert(format!("{name}_details"), json!({ "rate": rate }));
}

/// Counters with their rates, as `message_stats` objects carry them.
fn stats(names: &[&str], values: &[u64], rates: &[f64]) -> Value {
    Value::Object(stats_fields(names, values, rates))
}

fn stats_fields(names: &[&str], values: &[u64], rates: &[f64]) -> Map<String, Value> {
    let mut out = Map::new();
    for ((name, value), rate) in names.iter().zip(values).zip(rates) {
        counter(&mut out, name, *value, *rate);
    }
    out
}

/// `message_stats` of a channel or of the whole broker: each counter with its rate.
pub fn message_stats(rates: &Rates, key: &str, c: &ChannelCounters) -> Value {
    let counts = [
        ("publish", c.publish),
        ("confirm", c.confirm),
        ("deliver", c.deliver),
        ("deliver_no_ack", c.deliver_no_ack),
        ("get", c.get),
        ("get_no_ack", c.get_no_ack),
        ("get_empty", c.get_empty),
        ("redeliver", c.redeliver),
        ("ack", c.ack),
        ("return_unroutable", c.return_unroutable),
        ("drop_unroutable", c.drop_unroutable),
        (
            "deliver_get",
            c.deliver + c.deliver_no_ack + c.get + c.get_no_ack,
        ),
    ];
    Value::Object(named_stats(rates, key, &counts))
}

/// Named counters of the object `key`, each with its rate.
fn named_stats(rates: &Rates, key: &str, counts: &[(&str, u64)]) -> Map<String, Value> {
    let names: Vec<&str> = counts.iter().map(|(n, _)| *n).collect();
    let values: Vec<u64> = counts.iter().map(|(_, v)| *v).collect();
    stats_fields(&names, &values, &rates.rates(key, &values))
}

/// Connections, channels and queues created and closed (the overview's `churn_rates`, and
/// the same fields on a node), each with its rate.
pub fn churn(rates: &Rates, c: &ChurnCounters) -> Map<String, Value> {
    let counts = [
        ("channel_closed", c.channel_closed),
        ("channel_created", c.channel_created),
        ("connection_closed", c.connection_closed),
        ("connection_created", c.connection_created),
        ("queue_created", c.queue_created),
        ("queue_declared", c.queue_declared),
        ("queue_deleted", c.queue_deleted),
    ];
    named_stats(rates, "churn", &counts)
}

/// RabbitMQ's properties key for a binding: the routing key percent-encoded when there are
/// no arguments, else `~` and a digest of key and arguments (opaque to clients).
pub fn properties_key(routing_key: &str, arguments: &FieldTable) -> String {
    if arguments.inner().is_empty() {
        return percent_encoding::utf8_percent_encode(routing_key, crate::path::COMPONENT)
            .to_string();
    }
    let encoded = warren_codec::content::encode_table(arguments);
    // A digest of key and arguments: stable across restarts and nodes.
    let h = crate::digest::fnv1a(routing_key.bytes().chain([0]).chain(encoded));
    use base64::Engine;
    let digest = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&h.to_be_bytes()[..6]);
    format!("~{digest}")
}

pub fn binding(b: &BindingInfo) -> Value {
    json!({
        "source": b.source,
        "vhost": b.vhost,
        "destination": b.destination,
        "destination_type": b.destination_kind.as_str(),
        "routing_key": b.routing_key,
        "arguments": table(&b.arguments),
        "properties_key": properties_key(&b.routing_key, &b.arguments),
    })
}

pub fn exchange(x: &ExchangeInfo, rates: &Rates) -> Value {
    let mut v = json!({
        "arguments": table(&x.arguments),
        "auto_delete": x.auto_delete,
        "durable": x.durable,
        "internal": x.internal,
        "name": x.name,
        "type": x.kind,
        "user_who_performed_action": "",
        "vhost": x.vhost,
    });
    // RabbitMQ shows `policy` only on exchanges a policy applies to, and `message_stats`
    // only on exchanges that had messages published to them.
    if let Some(policy) = &x.policy {
        v["policy"] = json!(policy);
    }
    // `publish_out` only once a message was routed to a queue.
    let c = &x.counters;
    if c.publish_in > 0 {
        let values = [c.publish_in, c.publish_out];
        let key = format!("x\0{}\0{}", x.vhost, x.name);
        let shown = if c.publish_out > 0 { 2 } else { 1 };
        v["message_stats"] = stats(
            &["publish_in", "publish_out"][..shown],
            &values,
            &rates.rates(&key, &values),
        );
    }
    v
}

const QUEUE_STATS: [&str; 9] = [
    "publish",
    "deliver",
    "deliver_no_ack",
    "get",
    "get_no_ack",
    "get_empty",
    "redeliver",
    "ack",
    "deliver_get",
];

pub fn queue(q: &QueueInfo, node: &str, rates: &Rates) -> Value {
    let c = &q.counters;
    let values = [
        c.publish,
        c.deliver,
        c.deliver_no_ack,
        c.get,
        c.get_no_ack,
        c.get_empty,
        c.redeliver,
        c.ack,
        c.deliver + c.deliver_no_ack + c.get + c.get_no_ack,
    ];
    let total = q.messages_ready + q.messages_unacknowledged;
    let depth = [total, q.messages_ready, q.messages_unacknowledged];
    let key = format!("q\0{}\0{}", q.vhost, q.name);
    let all: Vec<u64> = values.iter().chain(&depth).copied().collect();
    let sampled = rates.sample(&key, &all);
    let r = &sampled.rates;
    let mut out = Map::new();
    out.insert("arguments".into(), table(&q.arguments));
    out.insert("auto_delete".into(), json!(q.auto_delete));
    // RabbitMQ writes an integer 0 for a queue without consumers.
    let capacity = if q.consumers == 0 {
        json!(0)
    } else {
        json!(q.consumer_capacity)
    };
    out.insert("consumer_capacity".into(), capacity.clone());
    out.insert("consumer_utilisation".into(), capacity);
    out.insert("consumers".into(), json!(q.consumers));
    out.insert("durable".into(), json!(q.durable));
    out.insert(
        "effective_policy_definition".into(),
        Value::Object(q.effective_policy_definition.clone()),
    );
    out.insert("exclusive".into(), json!(q.exclusive));
    out.insert(
        "exclusive_consumer_tag".into(),
        json!(q.exclusive_consumer_tag),
    );
    out.insert(
        "single_active_consumer_tag".into(),
        json!(q.single_active_consumer_tag),
    );
    if let Some(at) = sampled.idle_since {
        out.insert("idle_since".into(), json!(timestamp(at)));
    }
    out.insert(
        "message_stats".into(),
        stats(&QUEUE_STATS, &values, &r[..QUEUE_STATS.len()]),
    );
    let n = QUEUE_STATS.len();
    counter(&mut out, "messages", total, r[n]);
    counter(&mut out, "messages_ready", q.messages_ready, r[n + 1]);
    counter(
        &mut out,
        "messages_unacknowledged",
        q.messages_unacknowledged,
        r[n + 2],
    );
    let ready_ram = q.messages_ready.saturating_sub(q.messages_paged_out);
    out.insert("messages_paged_out".into(), json!(q.messages_paged_out));
    out.insert(
        "messages_ram".into(),
        json!(ready_ram + q.messages_unacknowledged),
    );
    out.insert("messages_ready_ram".into(), json!(ready_ram));
    out.insert(
        "messages_unacknowledged_ram".into(),
        json!(q.messages_unacknowledged),
    );
    out.insert(
        "message_bytes".into(),
        json!(q.message_bytes_ready + q.message_bytes_unacknowledged),
    );
    out.insert("message_bytes_ready".into(), json!(q.message_bytes_ready));
    out.insert(
        "message_bytes_unacknowledged".into(),
        json!(q.message_bytes_unacknowledged),
    );
    out.insert(
        "message_bytes_ram".into(),
        json!(q.message_bytes_ram + q.message_bytes_unacknowledged),
    );
    out.insert(
        "message_bytes_paged_out".into(),
        json!(q.message_bytes_ready.saturating_sub(q.message_bytes_ram)),
    );
    out.insert("memory".into(), json!(q.memory_bytes));
    out.insert("name".into(), json!(q.name));
    out.insert("node".into(), json!(node));
    out.insert("operator_policy".into(), Value::Null);
    out.insert("policy".into(), json!(q.policy));
    out.insert("recoverable_slaves".into(), Value::Null);
    out.insert("state".into(), json!("running"));
    out.insert("type".into(), json!("classic"));
    out.insert("vhost".into(), json!(q.vhost));
    if let Some(owner) = &q.owner {
        out.insert(
            "owner_pid_details".into(),
            json!({
                "name": owner.name,
                "peer_host": owner.peer_host,
                "peer_port": owner.peer_port,
            }),
        );
    }
    Value::Object(out)
}

pub fn vhost(v: &VhostInfo, node: &str, rates: &Rates) -> Value {
    let s = &v.spec;
    let total = v.messages_ready + v.messages_unacknowledged;
    let r = rates.rates(
        &format!("v\0{}", s.name),
        &[
            total,
            v.messages_ready,
            v.messages_unacknowledged,
            v.recv_oct,
            v.send_oct,
        ],
    );
    let mut out = Map::new();
    out.insert("cluster_state".into(), json!({ node: "running" }));
    out.insert(
        "default_queue_type".into(),
        json!(s.default_queue_type.as_deref().unwrap_or("undefined")),
    );
    out.insert("description".into(), json!(s.description));
    counter(&mut out, "messages", total, r[0]);
    counter(&mut out, "messages_ready", v.messages_ready, r[1]);
    counter(
        &mut out,
        "messages_unacknowledged",
        v.messages_unacknowledged,
        r[2],
    );
    // Like RabbitMQ, traffic fields appear once the vhost has had traffic.
    if v.counters != ChannelCounters::default() {
        out.insert(
            "message_stats".into(),
            message_stats(rates, &format!("vs\0{}", s.name), &v.counters),
        );
    }
    if v.recv_oct > 0 || v.send_oct > 0 {
        counter(&mut out, "recv_oct", v.recv_oct, r[3]);
        counter(&mut out, "send_oct", v.send_oct, r[4]);
    }
    out.insert(
        "metadata".into(),
        json!({ "description": s.description, "tags": s.tags }),
    );
    out.insert("name".into(), json!(s.name));
    out.insert("tags".into(), json!(s.tags));
    out.insert("tracing".into(), json!(false));
    Value::Object(out)
}

pub fn user(u: &UserInfo) -> Value {
    json!({
        "name": u.name,
        "password_hash": u.password_hash,
        "hashing_algorithm": u.hashing_algorithm,
        "tags": u.tags,
        "limits": u.limits,
    })
}

pub fn permission(p: &PermissionInfo) -> Value {
    json!({
        "user": p.user,
        "vhost": p.vhost,
        "configure": p.configure,
        "write": p.write,
        "read": p.read,
    })
}

pub fn topic_permission(p: &TopicPermissionInfo) -> Value {
    json!({
        "user": p.user,
        "vhost": p.vhost,
        "exchange": p.exchange,
        "write": p.write,
        "read": p.read,
    })
}

pub fn connection(c: &ConnectionSummary, node: &str, rates: &Rates) -> Value {
    let t = &c.traffic;
    let r = rates.rates(
        &format!("c\0{}", c.name),
        &[t.recv_oct, t.send_oct, t.recv_cnt, t.send_cnt],
    );
    let mut out = Map::new();
    out.insert("auth_mechanism".into(), json!(c.auth_mechanism));
    out.insert("channel_max".into(), json!(c.channel_max));
    out.insert("channels".into(), json!(c.channels));
    let client_properties = table(&c.client_properties);
    // RabbitMQ shows the client's `connection_name` as `user_provided_name` (absent if none).
    if let Some(name) = client_properties
        .get("connection_name")
        .filter(|n| n.is_string())
    {
        out.insert("user_provided_name".into(), name.clone());
    }
    out.insert("client_properties".into(), client_properties);
    out.insert("connected_at".into(), json!(c.connected_at_ms));
    out.insert("frame_max".into(), json!(c.frame_max));
    out.insert("host".into(), json!(c.host));
    out.insert("name".into(), json!(c.name));
    out.insert("node".into(), json!(node));
    out.insert("peer_host".into(), json!(c.peer_host));
    out.insert("peer_port".into(), json!(c.peer_port));
    out.insert("port".into(), json!(c.port));
    out.insert("protocol".into(), json!("AMQP 0-9-1"));
    counter(&mut out, "recv_oct", t.recv_oct, r[0]);
    counter(&mut out, "send_oct", t.send_oct, r[1]);
    out.insert("recv_cnt".into(), json!(t.recv_cnt));
    out.insert("send_cnt".into(), json!(t.send_cnt));
    // As RabbitMQ: the TLS fields are there for every connection, null without TLS (or
    // without a client certificate).
    let tls = c.tls.as_ref();
    let cert = tls.and_then(|t| t.peer_cert.as_ref());
    out.insert("ssl".into(), json!(tls.is_some()));
    out.insert("ssl_protocol".into(), json!(tls.map(|t| &t.protocol)));
    out.insert(
        "ssl_key_exchange".into(),
        json!(tls.map(|t| &t.key_exchange)),
    );
    out.insert("ssl_cipher".into(), json!(tls.map(|t| &t.cipher)));
    out.insert("ssl_hash".into(), json!(tls.map(|t| &t.hash)));
    out.insert("peer_cert_subject".into(), json!(cert.map(|p| &p.subject)));
    out.insert("peer_cert_issuer".into(), json!(cert.map(|p| &p.issuer)));
    out.insert(
        "peer_cert_validity".into(),
        json!(cert.map(|p| &p.validity)),
    );
    out.insert("state".into(), json!(c.state));
    out.insert("timeout".into(), json!(c.heartbeat_s));
    out.insert("type".into(), json!("network"));
    out.insert("user".into(), json!(c.user));
    out.insert("user_who_performed_action".into(), json!(c.user));
    out.insert("vhost".into(), json!(c.vhost));
    Value::Object(out)
}

/// RabbitMQ's channel name: the connection's name and the channel number.
pub fn channel_name(connection: &str, number: u16) -> String {
    format!("{connection} ({number})")
}

pub fn consumer(c: &ConsumerInfo, connection: Option<&ConnectionSummary>) -> Value {
    let (peer_host, peer_port, user) = connection
        .map_or((json!(null), json!(null), json!(null)), |s| {
            (json!(s.peer_host), json!(s.peer_port), json!(s.user))
        });
    json!({
        "arguments": table(&c.arguments),
        "ack_required": c.ack_required,
        "active": c.active,
        "activity_status": c.activity_status,
        "channel_details": {
            "connection_name": c.connection,
            "name": channel_name(&c.connection, c.channel),
            "number": c.channel,
            "peer_host": peer_host,
            "peer_port": peer_port,
            "user": user,
        },
        "consumer_tag": c.consumer_tag,
        "exclusive": c.exclusive,
        "prefetch_count": c.prefetch_count,
        "queue": { "name": c.queue, "vhost": c.vhost },
    })
}
