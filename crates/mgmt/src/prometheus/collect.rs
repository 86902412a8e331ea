//! One scrape: a snapshot of the broker (queues, connections, channels for per-object,
//! counters), then the families written from it. Aggregated, object families are one
//! unlabelled sum each; per object, one sample per queue (`vhost`, `queue`), connection or
//! channel (`channel`, as RabbitMQ labels both).

use std::sync::Arc;
use std::time::UNIX_EPOCH;

use bytes::Bytes;
use warren_broker::queue::outbox::ConnectionShared;
use warren_broker::queue::{DeadLetterCounts, DeadLetterStrategy, DeathReason, Queue, QueueSizes};
use warren_broker::totals::SizeTally;
use warren_broker::Broker;
use warren_model::query::{ChannelCounters, ChannelInfo, ChurnCounters};

use super::families as f;
use super::text::{Family, Value, Writer};
use super::Identity;

/// Which registry a scrape asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registry {
    /// `/metrics`: object families summed, plus alarms and the process start time.
    Aggregated,
    /// `/metrics/per-object`.
    PerObject,
    /// `/metrics/detailed` without `family`: identity and build info only (as RabbitMQ).
    Detailed,
}

impl Registry {
    /// The `rabbitmq_endpoint` label RabbitMQ 4 puts on `rabbitmq_identity_info`.
    fn endpoint(self) -> &'static str {
        match self {
            Registry::Aggregated => "aggregated",
            Registry::PerObject => "per-object",
            Registry::Detailed => "detailed",
        }
    }
}

/// The message size histogram's `le` labels, as Prometheus normalises RabbitMQ's bounds (the
/// form RabbitMQ's dashboards match on).
const MESSAGE_SIZE_LE: [&str; warren_broker::totals::MESSAGE_SIZE_BOUNDS_BYTES.len() + 1] = [
    "100.0", "1000.0", "10000.0", "100000.0", "1e+06", "1e+07", "5e+07", "1e+08", "+Inf",
];

type CounterValue = fn(&ChannelCounters) -> u64;

/// RabbitMQ's channel counters and which of a channel's counts each shows.
const CHANNEL_COUNTER_FAMILIES: [(Family, CounterValue); 11] = [
    (f::CHANNEL_PUBLISHED, |c| c.publish),
    (f::CHANNEL_CONFIRMED, |c| c.confirm),
    (f::CHANNEL_UNROUTABLE_RETURNED, |c| c.return_unroutable),
    (f::CHANNEL_UNROUTABLE_DROPPED, |c| c.drop_unroutable),
    (f::CHANNEL_GET_ACK, |c| c.get),
    (f::CHANNEL_GET, |c| c.get_no_ack),
    (f::CHANNEL_DELIVERED_ACK, |c| c.deliver),
    (f::CHANNEL_DELIVERED, |c| c.deliver_no_ack),
    (f::CHANNEL_REDELIVERED, |c| c.redeliver),
    (f::CHANNEL_ACKED, |c| c.ack),
    (f::CHANNEL_GET_EMPTY, |c| c.get_empty),
];

/// What one queue shows, read under its lock once.
struct QueueRow {
    queue: Arc<Queue>,
    sizes: QueueSizes,
    unacked: u64,
    unacked_bytes: u64,
    published: u64,
}

impl QueueRow {
    fn of(queue: Arc<Queue>) -> Self {
        QueueRow {
            sizes: queue.sizes(),
            unacked: queue.unacked(),
            unacked_bytes: queue.unacked_bytes(),
            published: queue.counters().publish,
            queue,
        }
    }

    fn ready_ram(&self) -> u64 {
        u64::from(self.sizes.ready).saturating_sub(self.sizes.bytes.paged_out)
    }
}

/// Each queue family and how to read it from a row.
type QueueValue = fn(&QueueRow) -> Value;
const QUEUE_FAMILIES: [(Family, QueueValue); 16] = [
    (f::QUEUE_READY, |r| u64::from(r.sizes.ready).into()),
    (f::QUEUE_UNACKED, |r| r.unacked.into()),
    (f::QUEUE_MESSAGES, |r| {
        (u64::from(r.sizes.ready) + r.unacked).into()
    }),
    (f::QUEUE_CONSUMERS, |r| u64::from(r.sizes.consumers).into()),
    (f::QUEUE_CONSUMER_CAPACITY, |r| {
        r.sizes.consumer_capacity.into()
    }),
    (f::QUEUE_CONSUMER_UTILISATION, |r| {
        r.sizes.consumer_capacity.into()
    }),
    (f::QUEUE_MEMORY, |r| r.sizes.memory_bytes.into()),
    (f::QUEUE_RAM, |r| (r.ready_ram() + r.unacked).into()),
    (f::QUEUE_RAM_BYTES, |r| {
        (r.sizes.bytes.in_memory + r.unacked_bytes).into()
    }),
    (f::QUEUE_READY_RAM, |r| r.ready_ram().into()),
    (f::QUEUE_UNACKED_RAM, |r| r.unacked.into()),
    (f::QUEUE_BYTES, |r| {
        (r.sizes.bytes.total + r.unacked_bytes).into()
    }),
    (f::QUEUE_READY_BYTES, |r| r.sizes.bytes.total.into()),
    (f::QUEUE_UNACKED_BYTES, |r| r.unacked_bytes.into()),
    (f::QUEUE_PAGED_OUT, |r| r.sizes.bytes.paged_out.into()),
    (f::QUEUE_PAGED_OUT_BYTES, |r| {
        r.sizes
            .bytes
            .total
            .saturating_sub(r.sizes.bytes.in_memory)
            .into()
    }),
];

type ConnectionValue = fn(&ConnectionShared) -> u64;
const CONNECTION_FAMILIES: [(Family, ConnectionValue); 5] = [
    (f::CONNECTION_IN_BYTES, |c| load(&c.recv_oct)),
    (f::CONNECTION_OUT_BYTES, |c| load(&c.send_oct)),
    (f::CONNECTION_IN_PACKETS, |c| load(&c.recv_cnt)),
    (f::CONNECTION_OUT_PACKETS, |c| load(&c.send_cnt)),
    (f::CONNECTION_CHANNELS, channels_of),
];

/// A connection's open channels.
fn channels_of(c: &ConnectionShared) -> u64 {
    u64::from(c.channels.load(std::sync::atomic::Ordering::Relaxed))
}

fn load(a: &std::sync::atomic::AtomicU64) -> u64 {
    a.load(std::sync::atomic::Ordering::Relaxed)
}

/// Everything a scrape shows, taken before writing starts.
pub struct Snapshot {
    registry: Registry,
    /// Objects labelled one by one (`/metrics/per-object`, or `/metrics` when configured).
    per_object: bool,
    queues: Vec<QueueRow>,
    connections: Vec<Arc<ConnectionShared>>,
    /// Per-object only: each connection's channels, as its driver reports them.
    channels: Vec<ChannelInfo>,
    totals: ChannelCounters,
    message_sizes: SizeTally,
    churn: ChurnCounters,
    dead_lettered: DeadLetterCounts,
    /// AMQP logins (succeeded, failed).
    auth: (u64, u64),
    publishers: u64,
    alarms: warren_broker::alarm::Alarms,
    memory_limit_bytes: u64,
    disk_limit_bytes: u64,
    data_dir: std::path::PathBuf,
}

impl Snapshot {
    /// Read the broker (channels are asked of their connections for per-object scrapes).
    pub async fn take(broker: &Broker, registry: Registry) -> Self {
        let per_object = registry == Registry::PerObject
            || (registry == Registry::Aggregated && broker.config.prometheus_per_object);
        let channels = if per_object {
            broker.channel_infos(None).await
        } else {
            Vec::new()
        };
        let (queues, connections) = if registry == Registry::Detailed {
            (Vec::new(), Vec::new())
        } else {
            let queues = broker
                .vhosts()
                .iter()
                .flat_map(|v| v.queues())
                .map(QueueRow::of)
                .collect();
            (queues, broker.connections())
        };
        Snapshot {
            registry,
            per_object,
            queues,
            connections,
            channels,
            totals: broker.totals.snapshot(),
            message_sizes: broker.message_sizes.snapshot(),
            churn: broker.churn.snapshot(),
            // Reading it moves every queue's own counts into the totals: not for /detailed.
            dead_lettered: if registry == Registry::Detailed {
                DeadLetterCounts::default()
            } else {
                broker.dead_lettered()
            },
            auth: broker.auth_attempts.snapshot(),
            publishers: broker.publishers.load(std::sync::atomic::Ordering::Relaxed),
            alarms: broker.alarm(),
            memory_limit_bytes: broker.config.memory_high_watermark_bytes,
            disk_limit_bytes: broker.config.disk_free_limit,
            data_dir: broker.config.data_dir.clone(),
        }
    }

    /// Write the scrape (blocking: it reads /proc and the data directory's file system).
    pub fn write(&self, identity: &Identity, sink: impl FnMut(Bytes) -> bool) {
        let mut w = Writer::new(sink);
        if self.registry != Registry::Detailed {
            self.churn(&mut w);
            self.node(&mut w, identity);
            self.queues(&mut w);
            self.channels(&mut w);
            self.connections(&mut w);
            self.object_totals(&mut w);
            self.global(&mut w);
            self.dead_lettered(&mut w);
            self.message_sizes(&mut w);
            self.auth(&mut w);
        }
        let endpoint = if self.per_object {
            Registry::PerObject
        } else {
            self.registry
        };
        build_and_identity(&mut w, identity, endpoint);
        if self.registry == Registry::Aggregated {
            self.alarms_and_start(&mut w, identity);
        }
        w.finish();
    }

    /// Consumers over every queue.
    fn consumers(&self) -> u64 {
        self.queues
            .iter()
            .map(|r| u64::from(r.sizes.consumers))
            .sum()
    }

    fn per_object(&self) -> bool {
        self.per_object
    }

    fn churn(&self, w: &mut Writer<impl FnMut(Bytes) -> bool>) {
        let c = &self.churn;
        for (family, value) in [
            (f::CONNECTIONS_OPENED, c.connection_created),
            (f::CONNECTIONS_CLOSED, c.connection_closed),
            (f::CHANNELS_OPENED, c.channel_created),
            (f::CHANNELS_CLOSED, c.channel_closed),
            (f::QUEUES_DECLARED, c.queue_declared),
            (f::QUEUES_CREATED, c.queue_created),
            (f::QUEUES_DELETED, c.queue_deleted),
        ] {
            w.single(&family, value);
        }
    }

    fn node(&self, w: &mut Writer<impl FnMut(Bytes) -> bool>, identity: &Identity) {
        let disk_free = warren_broker::alarm::free_space(&self.data_dir).unwrap_or(0);
        let max_fds = crate::process::max_fds();
        w.single(&f::OPEN_FDS, crate::process::open_fds());
        w.single(&f::OPEN_TCP_SOCKETS, self.connections.len() as u64);
        w.single(&f::RESIDENT_MEMORY, crate::process::resident_bytes());
        w.single(&f::DISK_AVAILABLE, disk_free);
        w.single(&f::MAX_FDS, max_fds);
        w.single(&f::MAX_TCP_SOCKETS, max_fds);
        w.single(&f::MEMORY_LIMIT, self.memory_limit_bytes);
        w.single(&f::DISK_LIMIT, self.disk_limit_bytes);
        w.single(&f::UPTIME, identity.started.elapsed().as_secs_f64());
    }

    fn queues(&self, w: &mut Writer<impl FnMut(Bytes) -> bool>) {
        for (family, value) in &QUEUE_FAMILIES {
            w.family(family);
            if self.per_object() {
                for row in &self.queues {
                    let labels = [("vhost", &*row.queue.vhost), ("queue", row.queue.name())];
                    w.sample(family, &labels, value(row));
                }
                if !w.is_open() {
                    return;
                }
            } else if family.name != f::QUEUE_CONSUMER_CAPACITY.name {
                // RabbitMQ's aggregate has no capacity sample, only its header.
                w.sample(family, &[], sum(self.queues.iter().map(value)));
            }
        }
        w.family(&f::QUEUE_PUBLISHED);
        if self.per_object() {
            for row in &self.queues {
                let labels = [
                    ("queue_vhost", &*row.queue.vhost),
                    ("queue", row.queue.name()),
                ];
                w.sample(&f::QUEUE_PUBLISHED, &labels, row.published);
            }
        } else {
            let published = self.queues.iter().map(|r| r.published).sum::<u64>();
            w.sample(&f::QUEUE_PUBLISHED, &[], published);
        }
    }

    fn channels(&self, w: &mut Writer<impl FnMut(Bytes) -> bool>) {
        if !self.per_object() {
            // Summed without asking every connection: the queues know the same totals.
            let consumers = self.consumers();
            let unacked: u64 = self.queues.iter().map(|r| r.unacked).sum();
            w.single(&f::CHANNEL_CONSUMERS, consumers);
            w.single(&f::CHANNEL_UNACKED, unacked);
            // Counted since start (RabbitMQ sums its open channels': the same for a
            // dashboard's rate(), without resets as channels close).
            for (family, value) in &CHANNEL_COUNTER_FAMILIES {
                w.single(family, value(&self.totals));
            }
            return;
        }
        type ChannelValue = fn(&ChannelInfo) -> u64;
        let families: [(Family, ChannelValue); 5] = [
            (f::CHANNEL_CONSUMERS, |c| u64::from(c.consumer_count)),
            (f::CHANNEL_UNACKED, |c| c.messages_unacknowledged),
            (f::CHANNEL_UNCONFIRMED, |c| c.messages_unconfirmed),
            (f::CONSUMER_PREFETCH, |c| u64::from(c.prefetch_count)),
            (f::CHANNEL_PREFETCH, |c| u64::from(c.global_prefetch_count)),
        ];
        for (family, value) in &families {
            w.family(family);
            for c in &self.channels {
                let name = crate::render::channel_name(&c.connection, c.number);
                w.sample(family, &[("channel", &name)], value(c));
            }
        }
        // Per channel and its vhost (RabbitMQ also splits these by exchange or queue).
        for (family, value) in &CHANNEL_COUNTER_FAMILIES {
            w.family(family);
            for c in &self.channels {
                let name = crate::render::channel_name(&c.connection, c.number);
                let labels = [("channel", name.as_str()), ("vhost", c.vhost.as_str())];
                w.sample(family, &labels, value(&c.counters));
            }
        }
    }

    fn message_sizes(&self, w: &mut Writer<impl FnMut(Bytes) -> bool>) {
        let s = &self.message_sizes;
        let mut buckets = [("", 0u64); MESSAGE_SIZE_LE.len()];
        for (bucket, (le, count)) in buckets.iter_mut().zip(MESSAGE_SIZE_LE.iter().zip(s.counts)) {
            *bucket = (le, count);
        }
        w.family(&f::MESSAGE_SIZE);
        w.histogram(
            &f::MESSAGE_SIZE,
            &[("protocol", "amqp091")],
            &buckets,
            s.sum_bytes,
        );
    }

    fn connections(&self, w: &mut Writer<impl FnMut(Bytes) -> bool>) {
        for (family, value) in &CONNECTION_FAMILIES {
            w.family(family);
            if self.per_object() {
                for c in &self.connections {
                    w.sample(family, &[("channel", &c.info.name)], value(c));
                }
            } else {
                let total: u64 = self.connections.iter().map(|c| value(c)).sum();
                w.sample(family, &[], total);
            }
        }
    }

    fn object_totals(&self, w: &mut Writer<impl FnMut(Bytes) -> bool>) {
        let channels: u64 = self.connections.iter().map(|c| channels_of(c)).sum();
        let consumers = self.consumers();
        w.single(&f::CONNECTIONS, self.connections.len() as u64);
        w.single(&f::CHANNELS, channels);
        w.single(&f::CONSUMERS, consumers);
        w.single(&f::QUEUES, self.queues.len() as u64);
    }

    fn global(&self, w: &mut Writer<impl FnMut(Bytes) -> bool>) {
        let t = &self.totals;
        let amqp = [("protocol", "amqp091")];
        let unroutable = t.drop_unroutable + t.return_unroutable;
        for (family, value) in [
            (f::RECEIVED, t.publish),
            (f::RECEIVED_CONFIRM, t.publish_confirm),
            (f::ROUTED, t.publish.saturating_sub(unroutable)),
            (f::UNROUTABLE_DROPPED, t.drop_unroutable),
            (f::UNROUTABLE_RETURNED, t.return_unroutable),
            (f::CONFIRMED, t.confirm),
        ] {
            w.family(&family);
            w.sample(&family, &amqp, value);
        }
        let consumers = self.consumers();
        w.family(&f::GLOBAL_CONSUMERS);
        w.sample(&f::GLOBAL_CONSUMERS, &amqp, consumers);
        w.family(&f::GLOBAL_PUBLISHERS);
        w.sample(&f::GLOBAL_PUBLISHERS, &amqp, self.publishers);
        // Per queue type, as RabbitMQ: every queue is classic here.
        let delivered = t.deliver + t.deliver_no_ack + t.get + t.get_no_ack;
        for (family, value) in [
            (f::DELIVERED, delivered),
            (f::DELIVERED_CONSUME_MANUAL_ACK, t.deliver),
            (f::DELIVERED_CONSUME_AUTO_ACK, t.deliver_no_ack),
            (f::DELIVERED_GET_MANUAL_ACK, t.get),
            (f::DELIVERED_GET_AUTO_ACK, t.get_no_ack),
            (f::GET_EMPTY, t.get_empty),
            (f::REDELIVERED, t.redeliver),
            (f::ACKNOWLEDGED, t.ack),
        ] {
            w.family(&family);
            for (queue_type, v) in [
                ("rabbit_classic_queue", value),
                ("rabbit_quorum_queue", 0),
                ("rabbit_stream_queue", 0),
            ] {
                w.sample(
                    &family,
                    &[("protocol", "amqp091"), ("queue_type", queue_type)],
                    v,
                );
            }
        }
    }

    /// RabbitMQ's dead-letter counters with every series 3.10 has (those of quorum
    /// queues stay 0 here).
    fn dead_lettered(&self, w: &mut Writer<impl FnMut(Bytes) -> bool>) {
        use DeadLetterStrategy::{AtMostOnce, Disabled};
        const CLASSIC: &str = "rabbit_classic_queue";
        const QUORUM: &str = "rabbit_quorum_queue";
        let d = &self.dead_lettered;
        let counted = |reason, quorum_at_least_once: bool| {
            let mut series = vec![
                (CLASSIC, "disabled", d.get(reason, Disabled)),
                (CLASSIC, "at_most_once", d.get(reason, AtMostOnce)),
                (QUORUM, "disabled", 0),
                (QUORUM, "at_most_once", 0),
            ];
            if quorum_at_least_once {
                series.push((QUORUM, "at_least_once", 0));
            }
            series
        };
        let families = [
            (
                f::DEAD_LETTERED_EXPIRED,
                counted(DeathReason::Expired, true),
            ),
            (
                f::DEAD_LETTERED_REJECTED,
                counted(DeathReason::Rejected, true),
            ),
            (f::DEAD_LETTERED_MAXLEN, counted(DeathReason::Maxlen, false)),
            (
                f::DEAD_LETTERED_DELIVERY_LIMIT,
                vec![
                    (QUORUM, "disabled", 0),
                    (QUORUM, "at_most_once", 0),
                    (QUORUM, "at_least_once", 0),
                ],
            ),
            (
                f::DEAD_LETTERED_CONFIRMED,
                vec![(QUORUM, "at_least_once", 0)],
            ),
        ];
        for (family, series) in families {
            w.family(&family);
            for (queue_type, strategy, value) in series {
                w.sample(
                    &family,
                    &[
                        ("queue_type", queue_type),
                        ("dead_letter_strategy", strategy),
                    ],
                    value,
                );
            }
        }
    }

    fn auth(&self, w: &mut Writer<impl FnMut(Bytes) -> bool>) {
        let (succeeded, failed) = self.auth;
        let amqp = [("protocol", "amqp091")];
        for (family, value) in [
            (f::AUTH_ATTEMPTS, succeeded + failed),
            (f::AUTH_SUCCEEDED, succeeded),
            (f::AUTH_FAILED, failed),
        ] {
            w.family(&family);
            w.sample(&family, &amqp, value);
        }
    }

    fn alarms_and_start(&self, w: &mut Writer<impl FnMut(Bytes) -> bool>, identity: &Identity) {
        w.single(&f::ALARM_FDS, 0u64);
        w.single(&f::ALARM_DISK, u64::from(self.alarms.disk));
        w.single(&f::ALARM_MEMORY, u64::from(self.alarms.memory));
        let start = identity
            .started_at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        w.single(&f::PROCESS_START, start);
    }
}

fn build_and_identity(
    w: &mut Writer<impl FnMut(Bytes) -> bool>,
    identity: &Identity,
    registry: Registry,
) {
    w.family(&f::BUILD_INFO);
    w.sample(
        &f::BUILD_INFO,
        &[
            ("product_name", "Warren"),
            ("product_version", env!("CARGO_PKG_VERSION")),
            ("rabbitmq_version", crate::RABBITMQ_API_VERSION),
            ("prometheus_plugin_version", crate::RABBITMQ_API_VERSION),
            ("prometheus_client_version", "none"),
            ("erlang_version", "none"),
        ],
        1u64,
    );
    w.family(&f::IDENTITY_INFO);
    w.sample(
        &f::IDENTITY_INFO,
        &[
            ("rabbitmq_node", &identity.node),
            ("rabbitmq_cluster", &identity.cluster),
            ("rabbitmq_cluster_permanent_id", &identity.cluster_id),
            ("rabbitmq_endpoint", registry.endpoint()),
        ],
        1u64,
    );
}

/// The sum of integer or float values (a float sum once any value is a float).
fn sum(values: impl Iterator<Item = Value>) -> Value {
    let (mut int, mut float, mut any_float) = (0u64, 0.0f64, false);
    for v in values {
        match v {
            Value::Int(n) => int = int.saturating_add(n),
            Value::Float(x) => {
                float += x;
                any_float = true;
            }
        }
    }
    if any_float {
        Value::Float(float + int as f64)
    } else {
        Value::Int(int)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_bucket_labels_are_the_bounds() {
        let bounds = warren_broker::totals::MESSAGE_SIZE_BOUNDS_BYTES;
        for (le, bound) in MESSAGE_SIZE_LE.iter().zip(bounds) {
            assert_eq!(le.parse::<f64>().ok(), Some(bound as f64), "{le}");
        }
        assert_eq!(MESSAGE_SIZE_LE.last(), Some(&"+Inf"));
    }
}
