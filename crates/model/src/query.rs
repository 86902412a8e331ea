//! Control-plane queries: point-in-time snapshots of what the broker holds, as plain data.
//! The management API renders them as RabbitMQ's JSON; warrenctl reads that JSON.

use warren_codec::types::FieldTable;

use crate::command::{DestinationKind, VhostSpec};

/// Message counters of a queue since it was declared (RabbitMQ's `message_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueCounters {
    pub publish: u64,
    /// Deliveries to consumers that must acknowledge.
    pub deliver: u64,
    pub deliver_no_ack: u64,
    /// basic.get answered with a message that must be acknowledged.
    pub get: u64,
    pub get_no_ack: u64,
    pub get_empty: u64,
    pub redeliver: u64,
    pub ack: u64,
}

#[derive(Debug, Clone)]
pub struct QueueInfo {
    pub vhost: String,
    pub name: String,
    pub durable: bool,
    pub auto_delete: bool,
    pub exclusive: bool,
    /// The connection that owns an exclusive queue.
    pub owner: Option<QueueOwner>,
    pub arguments: FieldTable,
    pub messages_ready: u64,
    pub messages_unacknowledged: u64,
    /// Bytes of the ready messages (content: properties and body).
    pub message_bytes_ready: u64,
    /// Bytes of the delivered messages awaiting acknowledgement.
    pub message_bytes_unacknowledged: u64,
    /// Of those, the bytes held in memory.
    pub message_bytes_ram: u64,
    /// Ready messages whose bodies live only on disk.
    pub messages_paged_out: u64,
    /// Memory the queue holds: messages in memory plus its own structures, in bytes.
    pub memory_bytes: u64,
    pub consumers: u32,
    /// The share of consumers able to take a message now (RabbitMQ's
    /// `consumer_capacity`); 0 without consumers.
    pub consumer_capacity: f64,
    pub counters: QueueCounters,
    /// The policy that applies (name), and its definition.
    pub policy: Option<String>,
    pub effective_policy_definition: serde_json::Map<String, serde_json::Value>,
    /// The tag of its exclusive consumer (a queue without single active consumer).
    pub exclusive_consumer_tag: Option<String>,
    /// The tag of the consumer receiving on a single-active-consumer queue.
    pub single_active_consumer_tag: Option<String>,
}

/// The connection that declared an exclusive queue.
#[derive(Debug, Clone)]
pub struct QueueOwner {
    pub name: String,
    pub peer_host: String,
    pub peer_port: u16,
}

/// Messages routed into and out of an exchange.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExchangeCounters {
    pub publish_in: u64,
    pub publish_out: u64,
}

#[derive(Debug, Clone)]
pub struct ExchangeInfo {
    pub vhost: String,
    /// "" for the default exchange.
    pub name: String,
    pub kind: String,
    pub durable: bool,
    pub auto_delete: bool,
    pub internal: bool,
    pub arguments: FieldTable,
    pub policy: Option<String>,
    pub counters: ExchangeCounters,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BindingInfo {
    pub vhost: String,
    /// "" for the default exchange's implicit bindings.
    pub source: String,
    pub destination_kind: DestinationKind,
    pub destination: String,
    pub routing_key: String,
    pub arguments: FieldTable,
}

#[derive(Debug, Clone)]
pub struct VhostInfo {
    pub spec: VhostSpec,
    pub messages_ready: u64,
    pub messages_unacknowledged: u64,
    /// Messages through the vhost's channels since start.
    pub counters: ChannelCounters,
    /// Bytes received from and sent to its open connections.
    pub recv_oct: u64,
    pub send_oct: u64,
}

#[derive(Debug, Clone)]
pub struct UserInfo {
    pub name: String,
    pub password_hash: String,
    pub hashing_algorithm: String,
    pub tags: Vec<String>,
    /// `max-connections`, `max-channels` as set.
    pub limits: crate::limits::Limits,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionInfo {
    pub user: String,
    pub vhost: String,
    pub configure: String,
    pub write: String,
    pub read: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicPermissionInfo {
    pub user: String,
    pub vhost: String,
    pub exchange: String,
    pub write: String,
    pub read: String,
}

/// Traffic counters of a connection, updated once per batch of frames.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrafficCounters {
    pub recv_oct: u64,
    pub recv_cnt: u64,
    pub send_oct: u64,
    pub send_cnt: u64,
}

#[derive(Debug, Clone)]
pub struct ConnectionSummary {
    /// "PEER -> LOCAL".
    pub name: String,
    pub peer_host: String,
    pub peer_port: u16,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub vhost: String,
    pub client_properties: FieldTable,
    pub connected_at_ms: u64,
    pub channel_max: u16,
    pub frame_max: u32,
    pub heartbeat_s: u16,
    pub auth_mechanism: String,
    /// Over TLS: the protocol version as RabbitMQ names it (`tlsv1.3`) and the client
    /// certificate's subject, if it sent one.
    pub tls: Option<TlsFacts>,
    pub channels: u32,
    pub traffic: TrafficCounters,
    /// "running", "blocked" (a resource alarm holds it), "blocking".
    pub state: &'static str,
}

/// What the API shows of a TLS connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFacts {
    /// `tlsv1.2`, `tlsv1.3`.
    pub protocol: String,
    /// The negotiated suite as RabbitMQ describes it: `ecdhe_rsa` (`any` under TLS 1.3),
    /// `aes_256_gcm`, `aead`.
    pub key_exchange: String,
    pub cipher: String,
    pub hash: String,
    /// The client certificate: its subject and issuer (RabbitMQ's distinguished name form)
    /// and validity (`START - END`).
    pub peer_cert: Option<PeerCert>,
}

/// What the management API shows of a client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCert {
    pub subject: String,
    pub issuer: String,
    pub validity: String,
}

/// Objects created and closed since start (the overview's `churn_rates`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChurnCounters {
    pub connection_created: u64,
    pub connection_closed: u64,
    pub channel_created: u64,
    pub channel_closed: u64,
    /// Every queue.declare (and API or definitions declare), created or not.
    pub queue_declared: u64,
    pub queue_created: u64,
    pub queue_deleted: u64,
}

/// Messages through a channel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChannelCounters {
    pub publish: u64,
    /// Of those, published on a channel in confirm mode.
    pub publish_confirm: u64,
    pub confirm: u64,
    pub deliver: u64,
    pub deliver_no_ack: u64,
    pub get: u64,
    pub get_no_ack: u64,
    pub get_empty: u64,
    pub redeliver: u64,
    pub ack: u64,
    pub return_unroutable: u64,
    pub drop_unroutable: u64,
}

#[derive(Debug, Clone)]
pub struct ChannelInfo {
    pub connection: String,
    pub number: u16,
    pub user: String,
    pub vhost: String,
    pub prefetch_count: u16,
    pub global_prefetch_count: u16,
    pub messages_unacknowledged: u64,
    pub messages_unconfirmed: u64,
    pub consumer_count: u32,
    pub confirm: bool,
    pub transactional: bool,
    pub counters: ChannelCounters,
}

#[derive(Debug, Clone)]
pub struct ConsumerInfo {
    pub vhost: String,
    pub queue: String,
    pub connection: String,
    pub channel: u16,
    pub consumer_tag: String,
    pub ack_required: bool,
    pub exclusive: bool,
    pub prefetch_count: u16,
    pub arguments: FieldTable,
    pub active: bool,
    /// RabbitMQ's `activity_status`: `up`, or on a single-active-consumer queue
    /// `single_active` (the one receiving) and `waiting`.
    pub activity_status: &'static str,
}
