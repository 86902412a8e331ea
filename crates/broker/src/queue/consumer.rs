//! A consumer as its queue sees it: where to deliver, and the credit that limits how much.
//!
//! Credit is shared between the queue (which takes it when dispatching) and the consumer's
//! connection (which gives it back on ack or once a no-ack delivery is written), so it lives
//! in atomics rather than behind either side's lock.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use bytes::Bytes;

use crate::queue::outbox::ConnectionShared;

/// How many deliveries may wait to be encoded by a consumer's connection. Bounds memory when
/// a consumer (or its socket) is slow, whatever its prefetch.
pub const UNSENT_WINDOW: u32 = 2048;

/// The channel-wide prefetch shared by all consumers of one channel (basic.qos global=true).
#[derive(Debug, Default)]
pub struct ChannelCredit {
    pub prefetch: AtomicU32,
    pub unacked: AtomicU32,
}

#[derive(Debug)]
pub struct Consumer {
    pub tag: Bytes,
    pub channel: u16,
    pub connection: Arc<ConnectionShared>,
    pub no_ack: bool,
    pub exclusive: bool,
    pub priority: i32,
    /// Per-consumer prefetch (basic.qos global=false at consume time); 0 = unlimited.
    pub prefetch: u32,
    pub unacked: AtomicU32,
    pub unsent: AtomicU32,
    pub channel_credit: Arc<ChannelCredit>,
    /// Set by the queue when it skipped this consumer for lack of credit.
    pub starved: AtomicBool,
    /// Cleared when the consumer is cancelled or its channel closes; deliveries still on
    /// their way are then returned to the queue.
    pub active: AtomicBool,
    /// basic.consume's arguments (shown by the management API).
    pub arguments: warren_codec::types::FieldTable,
}

impl Consumer {
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    pub fn deactivate(&self) {
        self.active.store(false, Ordering::Release);
    }

    /// Whether the consumer's windows leave room for one more message: the unsent window
    /// and, when it must acknowledge, its own and its channel's prefetch.
    fn within_limits(&self) -> bool {
        if self.unsent.load(Ordering::Acquire) >= UNSENT_WINDOW {
            return false;
        }
        if self.no_ack {
            return true;
        }
        if self.prefetch != 0 && self.unacked.load(Ordering::Acquire) >= self.prefetch {
            return false;
        }
        let channel_prefetch = self.channel_credit.prefetch.load(Ordering::Acquire);
        channel_prefetch == 0
            || self.channel_credit.unacked.load(Ordering::Acquire) < channel_prefetch
    }

    /// Whether the consumer could take another message now (what [`Self::try_take_credit`]
    /// checks, without taking it).
    pub fn has_credit(&self) -> bool {
        self.is_active() && self.within_limits()
    }

    /// Take one unit of credit if the consumer may receive another message.
    pub fn try_take_credit(&self) -> bool {
        if !self.within_limits() {
            self.starved.store(true, Ordering::Release);
            return false;
        }
        if !self.no_ack {
            self.unacked.fetch_add(1, Ordering::AcqRel);
            self.channel_credit.unacked.fetch_add(1, Ordering::AcqRel);
        }
        self.unsent.fetch_add(1, Ordering::AcqRel);
        true
    }

    /// A delivery was encoded for the socket. Returns true if the queue should be kicked.
    pub fn sent(&self) -> bool {
        self.unsent.fetch_sub(1, Ordering::AcqRel);
        self.starved.swap(false, Ordering::AcqRel)
    }

    /// A dispatched delivery never reached the socket (consumer gone): undo its credit.
    pub fn undo_dispatch(&self) {
        self.unsent.fetch_sub(1, Ordering::AcqRel);
        if !self.no_ack {
            self.settled(1);
        }
    }

    /// `n` unacked deliveries were settled (ack, nack, reject, requeue). Returns true if the
    /// queue should be kicked because this consumer had been skipped.
    pub fn settled(&self, n: u32) -> bool {
        self.unacked.fetch_sub(n, Ordering::AcqRel);
        self.channel_credit.unacked.fetch_sub(n, Ordering::AcqRel);
        self.starved.swap(false, Ordering::AcqRel)
    }
}
