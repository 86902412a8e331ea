//! The queue's storage seam: where ready messages wait. In memory today; the durable message
//! store replaces this module behind the same methods.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::message::Message;

/// A message as one queue holds it.
#[derive(Debug, Clone)]
pub struct QueuedMessage {
    pub message: Arc<Message>,
    pub redelivered: bool,
    /// Position in this queue, assigned on enqueue; requeued messages return to it.
    pub seq: u64,
}

impl QueuedMessage {
    pub fn new(message: Arc<Message>) -> Self {
        Self {
            message,
            redelivered: false,
            seq: 0,
        }
    }
}

/// Ready messages in delivery order (ascending `seq`).
#[derive(Debug, Default)]
pub struct Backlog {
    ready: VecDeque<QueuedMessage>,
    bytes: usize,
    next_seq: u64,
}

impl Backlog {
    pub fn len(&self) -> usize {
        self.ready.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ready.is_empty()
    }

    /// Body bytes held by ready messages.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn push_back(&mut self, mut m: QueuedMessage) {
        m.seq = self.next_seq;
        self.next_seq += 1;
        self.bytes += m.message.body().len();
        self.ready.push_back(m);
    }

    pub fn pop_front(&mut self) -> Option<QueuedMessage> {
        let m = self.ready.pop_front()?;
        self.bytes -= m.message.body().len();
        Some(m)
    }

    /// Put returned messages back where they were, as RabbitMQ does: ordered by their
    /// original position, ahead of anything published after them.
    pub fn requeue(&mut self, messages: impl Iterator<Item = QueuedMessage>) {
        for m in messages {
            self.bytes += m.message.body().len();
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
        self.bytes = 0;
        n
    }
}
