//! The part of a connection other connections may touch: its outbox of events.
//!
//! Queues running on a publisher's task hand deliveries to a consumer's connection here; the
//! consumer's own task encodes them, so per-channel state (delivery tags, unacked messages)
//! stays owned by one task and needs no lock.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::Notify;
use warren_model::query::{ChannelInfo, ConnectionSummary, TrafficCounters};

use crate::queue::{Consumer, Queue, QueuedMessage};
use warren_model::ControlError;
use warren_store::message::Message;

#[derive(Debug)]
pub enum OutboxEvent {
    /// A queue dispatched a message to one of this connection's consumers.
    Deliver {
        consumer: Arc<Consumer>,
        queue: Arc<Queue>,
        message: QueuedMessage,
    },
    /// A reply published to this connection's direct reply-to pseudo-queue.
    DirectReply {
        channel: u16,
        consumer_tag: Bytes,
        message: Arc<Message>,
    },
    /// The queue a consumer was attached to went away (consumer cancel notification).
    ConsumerCancelled { channel: u16, consumer_tag: Bytes },
    /// Close the connection with this error (shutdown, vhost deleted, ...).
    Close(ControlError),
    /// The management API asks for the connection's channels.
    Snapshot(tokio::sync::oneshot::Sender<Vec<ChannelInfo>>),
}

/// What a connection settled in its handshake: fixed for its life, shown by the management
/// API and warrenctl.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    /// RabbitMQ's connection name: "PEER_IP:PEER_PORT -> LOCAL_IP:LOCAL_PORT".
    pub name: String,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub user: String,
    pub vhost: String,
    /// The client's properties as sent (encoded field table): kept compact for the
    /// connection's life, decoded only when the management API shows them.
    pub client_properties: bytes::Bytes,
    /// Milliseconds since the Unix epoch.
    pub connected_at_ms: u64,
    pub channel_max: u16,
    pub frame_max: u32,
    pub heartbeat_s: u16,
    /// The SASL mechanism the client logged in with ("PLAIN", "AMQPLAIN", "EXTERNAL").
    pub auth_mechanism: String,
    /// Over TLS: what was negotiated.
    pub tls: Option<warren_model::query::TlsFacts>,
}

impl ConnectionInfo {
    /// RabbitMQ's name for a connection from `peer` to `local` (IPv4 clients of a dual-stack
    /// listener show as IPv4, as in RabbitMQ).
    pub fn name_for(peer: SocketAddr, local: SocketAddr) -> String {
        format!("{} -> {}", canonical(peer), canonical(local))
    }
}

#[derive(Debug)]
pub struct ConnectionShared {
    pub id: u64,
    pub info: ConnectionInfo,
    /// Traffic counters; the connection adds to them once per read and once per batch
    /// written.
    pub recv_oct: AtomicU64,
    pub recv_cnt: AtomicU64,
    pub send_oct: AtomicU64,
    pub send_cnt: AtomicU64,
    /// Open channels.
    pub channels: AtomicU32,
    outbox: Mutex<Vec<OutboxEvent>>,
    notify: Notify,
}

impl ConnectionShared {
    pub fn new(id: u64, info: ConnectionInfo) -> Arc<Self> {
        Arc::new(Self {
            id,
            info,
            recv_oct: AtomicU64::new(0),
            recv_cnt: AtomicU64::new(0),
            send_oct: AtomicU64::new(0),
            send_cnt: AtomicU64::new(0),
            channels: AtomicU32::new(0),
            outbox: Mutex::new(Vec::new()),
            notify: Notify::new(),
        })
    }

    /// What the management API shows of this connection; `blocked` when a resource alarm
    /// holds publishers.
    pub fn summary(&self, blocked: bool) -> ConnectionSummary {
        let i = &self.info;
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ConnectionSummary {
            name: i.name.clone(),
            peer_host: i.peer.ip().to_string(),
            peer_port: i.peer.port(),
            host: i.local.ip().to_string(),
            port: i.local.port(),
            user: i.user.clone(),
            vhost: i.vhost.clone(),
            client_properties: warren_codec::content::decode_table(&i.client_properties)
                .unwrap_or_default(),
            connected_at_ms: i.connected_at_ms,
            channel_max: i.channel_max,
            frame_max: i.frame_max,
            heartbeat_s: i.heartbeat_s,
            auth_mechanism: i.auth_mechanism.clone(),
            tls: i.tls.clone(),
            channels: self.channels.load(Ordering::Relaxed),
            traffic: TrafficCounters {
                recv_oct: load(&self.recv_oct),
                recv_cnt: load(&self.recv_cnt),
                send_oct: load(&self.send_oct),
                send_cnt: load(&self.send_cnt),
            },
            state: if blocked { "blocked" } else { "running" },
        }
    }

    pub fn push(&self, event: OutboxEvent) {
        let was_empty = {
            let mut outbox = self.outbox.lock();
            outbox.push(event);
            outbox.len() == 1
        };
        // One wake-up per batch: the connection drains everything when it runs.
        if was_empty {
            self.notify.notify_one();
        }
    }

    /// Take out the events `pred` picks, keeping the rest in their order.
    pub fn extract(&self, pred: impl FnMut(&mut OutboxEvent) -> bool) -> Vec<OutboxEvent> {
        self.outbox.lock().extract_if(.., pred).collect()
    }

    /// Swap out everything queued so far.
    pub fn take(&self, into: &mut Vec<OutboxEvent>) {
        std::mem::swap(&mut *self.outbox.lock(), into);
    }

    pub async fn wait(&self) {
        self.notify.notified().await;
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it carries.
pub fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}
