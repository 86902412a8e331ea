//! The part of a connection other connections may touch: its outbox of events.
//!
//! Queues running on a publisher's task hand deliveries to a consumer's connection here; the
//! consumer's own task encodes them, so per-channel state (delivery tags, unacked messages)
//! stays owned by one task and needs no lock.

use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::Notify;

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
}

#[derive(Debug)]
pub struct ConnectionShared {
    pub id: u64,
    outbox: Mutex<Vec<OutboxEvent>>,
    notify: Notify,
}

impl ConnectionShared {
    pub fn new(id: u64) -> Arc<Self> {
        Arc::new(Self {
            id,
            outbox: Mutex::new(Vec::new()),
            notify: Notify::new(),
        })
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
