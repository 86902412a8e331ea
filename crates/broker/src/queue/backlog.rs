//! Where a queue's ready messages wait, in order. A message is in memory, on disk (paged out
//! or recovered), or both; its [`StoreRef`] keeps the stored copy alive until it is settled.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::message::Message;
use crate::store::{StoreError, StoreRef};

/// A message as one queue holds it.
#[derive(Debug)]
pub struct QueuedMessage {
    /// The message in memory; None while it lives only on disk.
    message: Option<Arc<Message>>,
    /// This queue's hold on the stored copy, if there is one. Dropping the queued message
    /// (ack, purge, delete) releases it.
    stored: Option<StoreRef>,
    pub redelivered: bool,
    /// Position in this queue, assigned on enqueue; requeued messages return to it.
    pub seq: u64,
}

impl QueuedMessage {
    /// A message kept in memory only.
    pub fn new(message: Arc<Message>) -> Self {
        Self {
            message: Some(message),
            stored: None,
            redelivered: false,
            seq: 0,
        }
    }

    /// A message with a stored copy; `message` is None when it is kept on disk only.
    pub fn stored(message: Option<Arc<Message>>, stored: StoreRef) -> Self {
        Self {
            message,
            stored: Some(stored),
            redelivered: false,
            seq: 0,
        }
    }

    /// The message, read back from disk if it is not in memory.
    pub fn load(&mut self) -> Result<Arc<Message>, StoreError> {
        if let Some(m) = &self.message {
            return Ok(Arc::clone(m));
        }
        let Some(stored) = &self.stored else {
            return Err(StoreError::SegmentGone(0));
        };
        let m = stored.store().read(&stored.loc)?;
        self.message = Some(Arc::clone(&m));
        Ok(m)
    }

    /// Drop the in-memory copy of a message that is also on disk.
    pub fn page_out(&mut self) {
        if self.stored.is_some() {
            self.message = None;
        }
    }

    /// For a persistent message in a durable queue: (queue id, msg_id), for delivery marks.
    pub fn durable_id(&self) -> Option<(u32, u64)> {
        let s = self.stored.as_ref()?;
        s.is_durable().then_some((s.queue_id(), s.loc.msg_id))
    }
}

/// Ready messages in delivery order (ascending `seq`).
#[derive(Debug, Default)]
pub struct Backlog {
    ready: VecDeque<QueuedMessage>,
    next_seq: u64,
}

impl Backlog {
    pub fn len(&self) -> usize {
        self.ready.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ready.is_empty()
    }

    pub fn push_back(&mut self, mut m: QueuedMessage) {
        m.seq = self.next_seq;
        self.next_seq += 1;
        self.ready.push_back(m);
    }

    pub fn pop_front(&mut self) -> Option<QueuedMessage> {
        self.ready.pop_front()
    }

    /// Put returned messages back where they were, as RabbitMQ does: ordered by their
    /// original position, ahead of anything published after them.
    pub fn requeue(&mut self, messages: impl Iterator<Item = QueuedMessage>) {
        for m in messages {
            // Requeues usually land at the front: check there before searching.
            let at = if self.ready.front().is_none_or(|f| f.seq > m.seq) {
                0
            } else {
                self.ready.partition_point(|x| x.seq < m.seq)
            };
            self.ready.insert(at, m);
        }
    }

    /// Drop every ready message; returns how many there were.
    pub fn purge(&mut self) -> usize {
        let n = self.ready.len();
        self.ready.clear();
        n
    }
}
