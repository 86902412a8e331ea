//! Where a queue's ready messages wait, in order. A message is in memory, on disk (paged out
//! or recovered), or both; its [`StoreRef`] keeps the stored copy alive until it is settled.
//! Reading a message back from disk is blocking I/O: it runs on the blocking pool, never on
//! a runtime worker (see [`load_paged`]).

use std::collections::VecDeque;
use std::sync::Arc;

use warren_store::message::Message;
use warren_store::{Store, StoreError, StoreLoc, StoreRef};

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
    /// The message's size (exchange, routing key, properties and body; for a message
    /// recovered from disk, its record's), for the queue's byte counts.
    size_bytes: u32,
}

impl QueuedMessage {
    /// A message kept in memory only.
    pub fn new(message: Arc<Message>) -> Self {
        Self {
            size_bytes: u32::try_from(message.size()).unwrap_or(u32::MAX),
            message: Some(message),
            stored: None,
            redelivered: false,
            seq: 0,
        }
    }

    /// A message with a stored copy; `message` is None when it is kept on disk only.
    pub fn stored(message: Option<Arc<Message>>, stored: StoreRef) -> Self {
        let size_bytes = match &message {
            Some(m) => u32::try_from(m.size()).unwrap_or(u32::MAX),
            None => stored.loc.record_len(),
        };
        Self {
            message,
            stored: Some(stored),
            redelivered: false,
            seq: 0,
            size_bytes,
        }
    }

    /// The message's size: exchange, routing key, properties and body.
    pub fn size_bytes(&self) -> u32 {
        self.size_bytes
    }

    /// Bytes of this message held in memory (0 while it is on disk only).
    fn memory_bytes(&self) -> u64 {
        if self.message.is_some() {
            u64::from(self.size_bytes)
        } else {
            0
        }
    }

    /// The message if it is in memory (messages on disk only are read back, off the
    /// runtime's workers, by [`load_paged`]).
    pub fn in_memory(&self) -> Option<Arc<Message>> {
        self.message.clone()
    }

    /// The stored message's id, if it has a stored copy.
    pub fn stored_id(&self) -> Option<u64> {
        self.stored.as_ref().map(|s| s.loc.msg_id)
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

/// How often, and after what pauses, a read that failed for a passing reason is tried
/// again before it is given up for now.
const READ_RETRY_PAUSES_MS: [u64; 3] = [10, 50, 250];

/// Read back, on the blocking pool, the messages among `messages` that are on disk only, so
/// no runtime worker waits for the disk: one blocking task per attempt for the whole batch,
/// none when every message is in memory. Reads that fail for a passing reason (out of file
/// descriptors, an I/O error) are retried after short pauses. Returns why each message
/// still on disk only could not be read, by stored id; see [`StoreError::is_transient`].
pub async fn load_paged<'a>(
    messages: impl Iterator<Item = &'a mut QueuedMessage>,
) -> Vec<(u64, StoreError)> {
    let mut paged: Vec<&mut QueuedMessage> = messages
        .filter(|m| m.message.is_none() && m.stored.is_some())
        .collect();
    let mut failed = Vec::new();
    for pause_ms in READ_RETRY_PAUSES_MS.iter().map(Some).chain([None]) {
        if paged.is_empty() {
            break;
        }
        failed = read_batch(&mut paged).await;
        let again = failed.iter().any(|(_, e)| e.is_transient());
        let Some(pause_ms) = pause_ms.filter(|_| again) else {
            break;
        };
        tracing::warn!(pause_ms, error = %failed[0].1, "cannot read messages back from disk; trying again");
        tokio::time::sleep(std::time::Duration::from_millis(*pause_ms)).await;
        paged.retain(|m| m.message.is_none());
    }
    failed
}

/// One attempt at reading `paged` back, on the blocking pool.
async fn read_batch(paged: &mut [&mut QueuedMessage]) -> Vec<(u64, StoreError)> {
    let reads: Vec<(Arc<Store>, StoreLoc)> = paged
        .iter()
        .filter_map(|m| m.stored.as_ref())
        .map(|s| (Arc::clone(s.store()), s.loc))
        .collect();
    let read_all = move || {
        reads
            .into_iter()
            .map(|(store, loc)| store.read(&loc).map_err(|e| (loc.msg_id, e)))
            .collect::<Vec<_>>()
    };
    let loaded = match tokio::task::spawn_blocking(read_all).await {
        Ok(loaded) => loaded,
        // The runtime is shutting down: nothing was read.
        Err(e) => {
            let gone = |id| {
                let source = std::io::Error::other(e.to_string());
                let context = "reading messages back".to_string();
                (id, StoreError::Io { context, source })
            };
            return paged
                .iter()
                .filter_map(|m| m.stored_id())
                .map(gone)
                .collect();
        }
    };
    let mut failed = Vec::new();
    for (m, loaded) in paged.iter_mut().zip(loaded) {
        match loaded {
            Ok(message) => m.message = Some(message),
            Err(e) => failed.push(e),
        }
    }
    failed
}

/// A ready message looked at without taking it (the management UI's view of a queue's
/// head): the message if it is in memory, else where it is stored.
#[derive(Debug, Clone)]
pub struct PeekedMessage {
    pub message: Option<Arc<Message>>,
    stored_at: Option<(Arc<Store>, StoreLoc)>,
    pub redelivered: bool,
}

impl PeekedMessage {
    fn of(m: &QueuedMessage) -> Self {
        PeekedMessage {
            message: m.message.clone(),
            stored_at: m.stored.as_ref().map(|s| (Arc::clone(s.store()), s.loc)),
            redelivered: m.redelivered,
        }
    }
}

/// Read peeked messages that live on disk only (on the blocking pool). A message consumed
/// and removed from the store since it was peeked is left out.
pub async fn load_peeked(peeked: Vec<PeekedMessage>) -> Vec<(Arc<Message>, bool)> {
    let read = move || {
        peeked
            .into_iter()
            .filter_map(|p| {
                let message = match (p.message, p.stored_at) {
                    (Some(m), _) => m,
                    (None, Some((store, loc))) => store.read(&loc).ok()?,
                    (None, None) => return None,
                };
                Some((message, p.redelivered))
            })
            .collect()
    };
    tokio::task::spawn_blocking(read).await.unwrap_or_default()
}

/// Ready messages in delivery order (ascending `seq`), with their byte counts (kept as
/// messages come and go, under the queue lock the caller holds anyway).
#[derive(Debug, Default)]
pub struct Backlog {
    ready: VecDeque<QueuedMessage>,
    next_seq: u64,
    bytes: BacklogBytes,
}

/// Sizes of a backlog's messages.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BacklogBytes {
    /// All ready messages.
    pub total: u64,
    /// Those held in memory.
    pub in_memory: u64,
    /// How many ready messages are on disk only.
    pub paged_out: u64,
}

impl BacklogBytes {
    fn add(&mut self, m: &QueuedMessage) {
        self.total += u64::from(m.size_bytes);
        self.in_memory += m.memory_bytes();
        self.paged_out += u64::from(m.message.is_none());
    }

    fn remove(&mut self, m: &QueuedMessage) {
        self.total -= u64::from(m.size_bytes);
        self.in_memory -= m.memory_bytes();
        self.paged_out -= u64::from(m.message.is_none());
    }
}

impl Backlog {
    pub fn len(&self) -> usize {
        self.ready.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ready.is_empty()
    }

    pub fn bytes(&self) -> BacklogBytes {
        self.bytes
    }

    /// The first `n` ready messages, as they are.
    pub fn peek(&self, n: usize) -> Vec<PeekedMessage> {
        self.ready.iter().take(n).map(PeekedMessage::of).collect()
    }

    pub fn push_back(&mut self, mut m: QueuedMessage) {
        m.seq = self.next_seq;
        self.next_seq += 1;
        self.bytes.add(&m);
        self.ready.push_back(m);
    }

    pub fn pop_front(&mut self) -> Option<QueuedMessage> {
        let m = self.ready.pop_front()?;
        self.bytes.remove(&m);
        Some(m)
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
            self.bytes.add(&m);
            self.ready.insert(at, m);
        }
    }

    /// Drop every ready message; returns how many there were.
    pub fn purge(&mut self) -> usize {
        let n = self.ready.len();
        self.ready.clear();
        self.bytes = BacklogBytes::default();
        n
    }
}
