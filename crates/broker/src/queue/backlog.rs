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
}

/// Ready messages in delivery order.
#[derive(Debug, Default)]
pub struct Backlog {
    ready: VecDeque<QueuedMessage>,
    bytes: usize,
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

    pub fn push_back(&mut self, m: QueuedMessage) {
        self.bytes += m.message.body.len();
        self.ready.push_back(m);
    }

    pub fn pop_front(&mut self) -> Option<QueuedMessage> {
        let m = self.ready.pop_front()?;
        self.bytes -= m.message.body.len();
        Some(m)
    }

    /// Put returned messages back at the head, keeping their relative order.
    pub fn requeue_front(&mut self, messages: impl DoubleEndedIterator<Item = QueuedMessage>) {
        for m in messages.rev() {
            self.bytes += m.message.body.len();
            self.ready.push_front(m);
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
