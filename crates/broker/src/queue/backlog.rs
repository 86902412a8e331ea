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
    /// The message's `priority` property (0 without one); a priority queue serves higher
    /// ones first.
    pub priority: u8,
    /// Position in this queue, assigned on enqueue; requeued messages return to it.
    pub seq: u64,
    /// The message's body size (as RabbitMQ counts `message_bytes` and `max-length-bytes`;
    /// for a message recovered from disk, its record's size), for the queue's byte counts.
    size_bytes: u32,
    /// When the message expires, in ms since the Unix epoch (wall clock, so the deadline
    /// means the same after a restart); 0: never.
    pub expires_at_ms: u64,
}

impl QueuedMessage {
    /// A message kept in memory only.
    pub fn new(message: Arc<Message>) -> Self {
        Self {
            size_bytes: body_size(&message),
            priority: message.view.priority.unwrap_or(0),
            message: Some(message),
            stored: None,
            redelivered: false,
            seq: 0,
            expires_at_ms: 0,
        }
    }

    /// A message with a stored copy, kept in memory too or (`keep` false) on disk only.
    pub fn stored(message: &Arc<Message>, keep: bool, stored: StoreRef) -> Self {
        Self {
            size_bytes: body_size(message),
            priority: message.view.priority.unwrap_or(0),
            message: keep.then(|| Arc::clone(message)),
            stored: Some(stored),
            redelivered: false,
            seq: 0,
            expires_at_ms: 0,
        }
    }

    /// A persistent message recovered at start-up, on disk only.
    pub fn recovered(stored: StoreRef, facts: &warren_store::RecoveredMessage) -> Self {
        Self {
            message: None,
            stored: Some(stored),
            redelivered: facts.redelivered,
            priority: facts.priority,
            seq: 0,
            size_bytes: facts.body_bytes,
            expires_at_ms: 0,
        }
    }

    /// Whether the message's deadline has passed at `now_ms`.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expires_at_ms != 0 && self.expires_at_ms <= now_ms
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

fn body_size(m: &Message) -> u32 {
    u32::try_from(m.body().len()).unwrap_or(u32::MAX)
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

/// The most a runtime worker copies out of the page cache in one go; a larger batch is read
/// on the blocking pool, so no other task on the worker waits long behind it.
const CACHED_READ_MAX_BYTES: u64 = 4 << 20;

/// One attempt at reading `paged` back: on this worker when the page cache has it all
/// (see [`Store::read_many_cached`]: a backlog drained while its records are still cached
/// costs no thread hand-off per batch), else on the blocking pool.
async fn read_batch(paged: &mut [&mut QueuedMessage]) -> Vec<(u64, StoreError)> {
    let reads: Vec<(Arc<Store>, StoreLoc)> = paged
        .iter()
        .filter_map(|m| m.stored.as_ref())
        .map(|s| (Arc::clone(s.store()), s.loc))
        .collect();
    // One store in practice: its runs of adjacent records are read with one call each.
    let one_store = match reads.first() {
        Some((store, _)) if reads.iter().all(|(s, _)| Arc::ptr_eq(s, store)) => {
            let locs: Vec<StoreLoc> = reads.iter().map(|(_, loc)| *loc).collect();
            Some((Arc::clone(store), locs))
        }
        _ => None,
    };
    if let Some((store, locs)) = &one_store {
        let bytes: u64 = locs.iter().map(|l| u64::from(l.record_len())).sum();
        let cached = (bytes <= CACHED_READ_MAX_BYTES)
            .then(|| store.read_many_cached(locs))
            .flatten();
        if let Some(loaded) = cached {
            for (m, message) in paged.iter_mut().zip(loaded) {
                m.message = Some(message);
            }
            return Vec::new();
        }
    }
    let read_all = move || match one_store {
        Some((store, locs)) => store
            .read_many(&locs)
            .into_iter()
            .zip(&locs)
            .map(|(r, loc)| r.map_err(|e| (loc.msg_id, e)))
            .collect::<Vec<_>>(),
        None => reads
            .into_iter()
            .map(|(store, loc)| store.read(&loc).map_err(|e| (loc.msg_id, e)))
            .collect::<Vec<_>>(),
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

/// Ready messages in delivery order, with their byte counts (kept as messages come and go,
/// under the queue lock the caller holds anyway). A plain queue is one FIFO in ascending
/// `seq`; a priority queue (`x-max-priority`) keeps one FIFO per priority and serves the
/// highest non-empty one first.
#[derive(Debug, Default)]
pub struct Backlog {
    lanes: Lanes,
    len: usize,
    next_seq: u64,
    bytes: BacklogBytes,
}

#[derive(Debug)]
enum Lanes {
    Fifo(VecDeque<QueuedMessage>),
    Priority(Box<PriorityLanes>),
}

impl Default for Lanes {
    fn default() -> Self {
        Lanes::Fifo(VecDeque::new())
    }
}

/// One FIFO per priority 0..=max, and which are non-empty (bit p of the mask), so finding
/// the next message is a leading-zeros count rather than a scan of 256 lanes.
#[derive(Debug)]
struct PriorityLanes {
    lanes: Vec<VecDeque<QueuedMessage>>,
    non_empty: [u64; 4],
}

impl PriorityLanes {
    fn new(max_priority: u8) -> Self {
        Self {
            lanes: (0..=max_priority).map(|_| VecDeque::new()).collect(),
            non_empty: [0; 4],
        }
    }

    /// The lane of a message: its priority, capped at the queue's maximum.
    fn lane_of(&self, m: &QueuedMessage) -> usize {
        usize::from(m.priority).min(self.lanes.len() - 1)
    }

    fn mark(&mut self, lane: usize) {
        let bit = 1u64 << (lane % 64);
        if self.lanes[lane].is_empty() {
            self.non_empty[lane / 64] &= !bit;
        } else {
            self.non_empty[lane / 64] |= bit;
        }
    }

    #[inline(never)]
    fn push_back(&mut self, m: QueuedMessage) {
        let lane = self.lane_of(&m);
        self.lanes[lane].push_back(m);
        self.mark(lane);
    }

    #[inline(never)]
    fn pop_front(&mut self) -> Option<QueuedMessage> {
        let lane = self.top()?;
        let m = self.lanes[lane].pop_front()?;
        self.mark(lane);
        Some(m)
    }

    /// The highest non-empty lane.
    fn top(&self) -> Option<usize> {
        (0..4).rev().find_map(|word| {
            let bits = self.non_empty[word];
            (bits != 0).then(|| word * 64 + 63 - bits.leading_zeros() as usize)
        })
    }
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
    #[inline]
    fn add(&mut self, m: &QueuedMessage) {
        self.total += u64::from(m.size_bytes);
        self.in_memory += m.memory_bytes();
        self.paged_out += u64::from(m.message.is_none());
    }

    #[inline]
    fn remove(&mut self, m: &QueuedMessage) {
        self.total -= u64::from(m.size_bytes);
        self.in_memory -= m.memory_bytes();
        self.paged_out -= u64::from(m.message.is_none());
    }
}

/// Put `m` into `lane` at its `seq` position: requeues usually land at the front, so check
/// there before searching.
fn insert_by_seq(lane: &mut VecDeque<QueuedMessage>, m: QueuedMessage) {
    let at = if lane.front().is_none_or(|f| f.seq > m.seq) {
        0
    } else {
        lane.partition_point(|x| x.seq < m.seq)
    };
    lane.insert(at, m);
}

impl Backlog {
    /// A backlog that keeps priorities 0..=`max_priority` apart (RabbitMQ's
    /// `x-max-priority`); higher priorities count as the maximum.
    pub fn with_max_priority(max_priority: u8) -> Self {
        Self {
            lanes: Lanes::Priority(Box::new(PriorityLanes::new(max_priority))),
            ..Self::default()
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn bytes(&self) -> BacklogBytes {
        self.bytes
    }

    /// The message that would be delivered next.
    pub fn front(&self) -> Option<&QueuedMessage> {
        match &self.lanes {
            Lanes::Fifo(q) => q.front(),
            Lanes::Priority(p) => p.lanes[p.top()?].front(),
        }
    }

    /// The first `n` ready messages in delivery order, as they are.
    pub fn peek(&self, n: usize) -> Vec<PeekedMessage> {
        match &self.lanes {
            Lanes::Fifo(q) => q.iter().take(n).map(PeekedMessage::of).collect(),
            Lanes::Priority(p) => p
                .lanes
                .iter()
                .rev()
                .flatten()
                .take(n)
                .map(PeekedMessage::of)
                .collect(),
        }
    }

    // The FIFO paths are inlined into the hot publish and dispatch loops; a priority
    // queue's lanes are reached through out-of-line calls.
    #[inline]
    pub fn push_back(&mut self, mut m: QueuedMessage) {
        m.seq = self.next_seq;
        self.next_seq += 1;
        self.bytes.add(&m);
        self.len += 1;
        match &mut self.lanes {
            Lanes::Fifo(q) => q.push_back(m),
            Lanes::Priority(p) => p.push_back(m),
        }
    }

    #[inline]
    pub fn pop_front(&mut self) -> Option<QueuedMessage> {
        let m = match &mut self.lanes {
            Lanes::Fifo(q) => q.pop_front()?,
            Lanes::Priority(p) => p.pop_front()?,
        };
        self.bytes.remove(&m);
        self.len -= 1;
        Some(m)
    }

    /// Put returned messages back where they were, as RabbitMQ does: ordered by their
    /// original position (within their priority), ahead of anything published after them.
    pub fn requeue(&mut self, messages: impl Iterator<Item = QueuedMessage>) {
        for m in messages {
            self.bytes.add(&m);
            self.len += 1;
            match &mut self.lanes {
                Lanes::Fifo(q) => insert_by_seq(q, m),
                Lanes::Priority(p) => {
                    let lane = p.lane_of(&m);
                    insert_by_seq(&mut p.lanes[lane], m);
                    p.mark(lane);
                }
            }
        }
    }

    /// Drop every ready message; returns how many there were.
    pub fn purge(&mut self) -> usize {
        let n = self.len;
        match &mut self.lanes {
            Lanes::Fifo(q) => q.clear(),
            Lanes::Priority(p) => {
                p.lanes.iter_mut().for_each(VecDeque::clear);
                p.non_empty = [0; 4];
            }
        }
        self.len = 0;
        self.bytes = BacklogBytes::default();
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warren_codec::content::PropertiesView;

    fn message(body: &str, priority: Option<u8>) -> QueuedMessage {
        let view = PropertiesView {
            priority,
            ..PropertiesView::default()
        };
        let m = Message::new(b"", b"q", &[0, 0], view, body.as_bytes());
        QueuedMessage::new(Arc::new(m))
    }

    fn drain(b: &mut Backlog) -> Vec<String> {
        std::iter::from_fn(|| b.pop_front())
            .map(|m| String::from_utf8_lossy(m.in_memory().expect("in memory").body()).into_owned())
            .collect()
    }

    #[test]
    fn priorities_are_served_highest_first_and_fifo_within_one() {
        let mut b = Backlog::with_max_priority(10);
        for (body, p) in [
            ("low", Some(1)),
            ("none", None),
            ("high", Some(9)),
            ("over", Some(200)),
            ("high2", Some(9)),
        ] {
            b.push_back(message(body, p));
        }
        assert_eq!(b.len(), 5);
        assert_eq!(b.peek(2).len(), 2);
        assert_eq!(drain(&mut b), ["over", "high", "high2", "low", "none"]);
        assert!(b.is_empty() && b.bytes() == BacklogBytes::default());
    }

    #[test]
    fn requeued_messages_return_to_their_place_in_their_lane() {
        let mut b = Backlog::with_max_priority(255);
        for (body, p) in [
            ("a", Some(5)),
            ("b", Some(5)),
            ("c", Some(255)),
            ("d", Some(5)),
        ] {
            b.push_back(message(body, p));
        }
        let c = b.pop_front().expect("c");
        let a = b.pop_front().expect("a");
        b.requeue([a, c].into_iter());
        assert_eq!(drain(&mut b), ["c", "a", "b", "d"]);
    }

    #[test]
    fn a_plain_backlog_is_one_fifo_counting_body_bytes() {
        let mut b = Backlog::default();
        b.push_back(message("12345", Some(9)));
        b.push_back(message("1", None));
        assert_eq!(b.bytes().total, 6);
        let first = b.pop_front().expect("first");
        b.requeue(std::iter::once(first));
        assert_eq!(drain(&mut b), ["12345", "1"]);
        assert_eq!(b.purge(), 0);
    }
}
