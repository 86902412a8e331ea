//! Where a queue's ready messages wait, in order. A message is in memory, on disk (paged out
//! or recovered), or both; its [`StoreRef`] keeps the stored copy alive until it is settled.
//! Reading a message back from disk is blocking I/O: it never runs on a runtime worker as
//! such (see [`load_paged`] and [`QueuedMessage::load`]).

use std::collections::VecDeque;
use std::sync::Arc;

use crate::message::Message;
use crate::store::{Store, StoreError, StoreLoc, StoreRef};

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

    /// The message, read back from disk if it is not in memory (deliveries are read ahead
    /// by [`load_paged`]; what is left, basic.get and unreadable messages, is read here with
    /// the runtime told first, so it moves this worker's other tasks to another thread).
    pub fn load(&mut self) -> Result<Arc<Message>, StoreError> {
        if let Some(m) = &self.message {
            return Ok(Arc::clone(m));
        }
        let Some(stored) = &self.stored else {
            return Err(StoreError::SegmentGone(0));
        };
        let m = blocking(|| stored.store().read(&stored.loc))?;
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

/// Read back, on the blocking pool, the messages among `messages` that are on disk only, so
/// no runtime worker waits for the disk: one blocking task for the whole batch, none when
/// every message is in memory. A message that cannot be read stays on disk only, and
/// [`QueuedMessage::load`] reports why.
pub async fn load_paged<'a>(messages: impl Iterator<Item = &'a mut QueuedMessage>) {
    let mut paged: Vec<&mut QueuedMessage> = messages
        .filter(|m| m.message.is_none() && m.stored.is_some())
        .collect();
    if paged.is_empty() {
        return;
    }
    let reads: Vec<(Arc<Store>, StoreLoc)> = paged
        .iter()
        .filter_map(|m| m.stored.as_ref())
        .map(|s| (Arc::clone(s.store()), s.loc))
        .collect();
    let read_all = move || {
        reads
            .into_iter()
            .map(|(store, loc)| store.read(&loc).ok())
            .collect::<Vec<_>>()
    };
    let Ok(loaded) = tokio::task::spawn_blocking(read_all).await else {
        return;
    };
    for (m, loaded) in paged.iter_mut().zip(loaded) {
        if loaded.is_some() {
            m.message = loaded;
        }
    }
}

/// Run blocking I/O from whatever thread we are on: on a multi-thread runtime's worker,
/// tokio first hands the worker's other tasks to a fresh thread (`block_in_place`).
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
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
