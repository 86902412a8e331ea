//! Broker-wide message counts (published, confirmed, delivered, acked …) since start: the
//! overview's `message_stats` and, later, Prometheus' global counters. Connections add their
//! batch's counts once per batch, so no message touches these atomics. Also the churn of
//! connections, channels and queues (counted as they open and close, never per message).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::queue::{DeadLetterCounts, DeadLetterStrategy, DeathReason};

use warren_model::query::{ChannelCounters, ChurnCounters};

/// Logins over AMQP (RabbitMQ's `rabbitmq_auth_attempts_*` with `protocol="amqp091"`).
#[derive(Debug, Default)]
pub struct AuthAttempts {
    succeeded: AtomicU64,
    failed: AtomicU64,
}

impl AuthAttempts {
    pub fn record(&self, succeeded: bool) {
        let counter = if succeeded {
            &self.succeeded
        } else {
            &self.failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// (succeeded, failed).
    pub fn snapshot(&self) -> (u64, u64) {
        (
            self.succeeded.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}

/// What [`Churn`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChurnEvent {
    ConnectionCreated,
    ConnectionClosed,
    ChannelCreated,
    ChannelClosed,
    QueueDeclared,
    QueueCreated,
    QueueDeleted,
}

/// Objects created and closed since start.
#[derive(Debug, Default)]
pub struct Churn {
    counts: [AtomicU64; 7],
}

impl Churn {
    pub fn count(&self, event: ChurnEvent, n: u64) {
        if n != 0 {
            self.counts[event as usize].fetch_add(n, Ordering::Relaxed);
        }
    }

    pub fn snapshot(&self) -> ChurnCounters {
        let [connection_created, connection_closed, channel_created, channel_closed, queue_declared, queue_created, queue_deleted] =
            self.counts.each_ref().map(|a| a.load(Ordering::Relaxed));
        ChurnCounters {
            connection_created,
            connection_closed,
            channel_created,
            channel_closed,
            queue_declared,
            queue_created,
            queue_deleted,
        }
    }
}

/// Messages dead-lettered since start, by reason and strategy, once they are counted here:
/// janitors add their batches; what queues dropped for want of a dead-letter exchange is
/// moved here from each queue when it is deleted and when totals are read
/// ([`crate::Broker::dead_lettered`]), so the totals only grow.
#[derive(Debug, Default)]
pub struct DeadLetterTotals {
    counts: [[AtomicU64; 2]; 3],
}

impl DeadLetterTotals {
    pub fn add(&self, c: &DeadLetterCounts) {
        for (reason, strategy, n) in c.each() {
            if n != 0 {
                self.counts[reason as usize][strategy as usize].fetch_add(n, Ordering::Relaxed);
            }
        }
    }

    pub fn snapshot(&self) -> DeadLetterCounts {
        let mut out = DeadLetterCounts::default();
        for reason in DeathReason::ALL {
            for strategy in [DeadLetterStrategy::Disabled, DeadLetterStrategy::AtMostOnce] {
                let n = self.counts[reason as usize][strategy as usize].load(Ordering::Relaxed);
                out.note(reason, strategy, n);
            }
        }
        out
    }
}

/// Upper bounds (bytes) of the message size histogram's buckets, RabbitMQ 4's; one more
/// bucket takes everything larger.
pub const MESSAGE_SIZE_BOUNDS_BYTES: [u64; 8] = [
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    50_000_000,
    100_000_000,
];

/// One batch's published body sizes, bucketed: kept by the connection and added to
/// [`MessageSizes`] once per batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SizeTally {
    /// Observations per bucket (not cumulative); the last is above every bound.
    pub counts: [u64; MESSAGE_SIZE_BOUNDS_BYTES.len() + 1],
    pub sum_bytes: u64,
}

impl SizeTally {
    pub fn observe(&mut self, size_bytes: u64) {
        let bucket = MESSAGE_SIZE_BOUNDS_BYTES.partition_point(|&bound| bound < size_bytes);
        self.counts[bucket] += 1;
        self.sum_bytes += size_bytes;
    }

    pub fn is_empty(&self) -> bool {
        self.counts.iter().all(|&n| n == 0)
    }
}

/// Sizes of the messages received from publishers since start (RabbitMQ's
/// `rabbitmq_message_size_bytes` histogram).
#[derive(Debug, Default)]
pub struct MessageSizes {
    counts: [AtomicU64; MESSAGE_SIZE_BOUNDS_BYTES.len() + 1],
    sum_bytes: AtomicU64,
}

impl MessageSizes {
    pub fn add(&self, batch: &SizeTally) {
        for (total, &n) in self.counts.iter().zip(&batch.counts) {
            if n != 0 {
                total.fetch_add(n, Ordering::Relaxed);
            }
        }
        self.sum_bytes.fetch_add(batch.sum_bytes, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> SizeTally {
        SizeTally {
            counts: self.counts.each_ref().map(|a| a.load(Ordering::Relaxed)),
            sum_bytes: self.sum_bytes.load(Ordering::Relaxed),
        }
    }
}

/// How many counters a [`ChannelCounters`] has.
const COUNTERS: usize = 12;

#[derive(Debug, Default)]
pub struct Totals {
    counts: [AtomicU64; COUNTERS],
}

impl Totals {
    /// Add one connection's batch.
    pub fn add(&self, c: &ChannelCounters) {
        for (total, n) in self.counts.iter().zip(values(c)) {
            if n != 0 {
                total.fetch_add(n, Ordering::Relaxed);
            }
        }
    }

    pub fn snapshot(&self) -> ChannelCounters {
        let [publish, publish_confirm, confirm, deliver, deliver_no_ack, get, get_no_ack, get_empty, redeliver, ack, return_unroutable, drop_unroutable] =
            self.counts.each_ref().map(|a| a.load(Ordering::Relaxed));
        ChannelCounters {
            publish,
            publish_confirm,
            confirm,
            deliver,
            deliver_no_ack,
            get,
            get_no_ack,
            get_empty,
            redeliver,
            ack,
            return_unroutable,
            drop_unroutable,
        }
    }
}

/// The counters in the order of [`Totals::snapshot`].
fn values(c: &ChannelCounters) -> [u64; COUNTERS] {
    [
        c.publish,
        c.publish_confirm,
        c.confirm,
        c.deliver,
        c.deliver_no_ack,
        c.get,
        c.get_no_ack,
        c.get_empty,
        c.redeliver,
        c.ack,
        c.return_unroutable,
        c.drop_unroutable,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_add_up_field_by_field() {
        let t = Totals::default();
        let batch = ChannelCounters {
            publish: 3,
            ack: 2,
            drop_unroutable: 1,
            ..ChannelCounters::default()
        };
        t.add(&batch);
        t.add(&batch);
        let s = t.snapshot();
        assert_eq!(
            (s.publish, s.ack, s.drop_unroutable, s.deliver),
            (6, 4, 2, 0)
        );
        assert_eq!(
            values(&s),
            values(&batch).map(|n| n * 2),
            "every field round-trips"
        );
    }

    #[test]
    fn sizes_fall_in_the_first_bucket_whose_bound_holds_them() {
        let mut batch = SizeTally::default();
        for size in [0, 100, 101, 1_000, 100_000_001] {
            batch.observe(size);
        }
        assert_eq!(batch.counts, [2, 2, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(batch.sum_bytes, 100_001_202);
        let sizes = MessageSizes::default();
        sizes.add(&batch);
        sizes.add(&batch);
        assert_eq!(sizes.snapshot().counts[0], 4);
        assert_eq!(sizes.snapshot().sum_bytes, 200_002_404);
    }

    #[test]
    fn churn_counts_each_event_apart() {
        let c = Churn::default();
        c.count(ChurnEvent::ChannelCreated, 3);
        c.count(ChurnEvent::ChannelClosed, 2);
        c.count(ChurnEvent::QueueDeleted, 1);
        let s = c.snapshot();
        assert_eq!(
            (
                s.channel_created,
                s.channel_closed,
                s.queue_deleted,
                s.queue_created
            ),
            (3, 2, 1, 0)
        );
    }
}
