//! Queues: ready messages, attached consumers, and round-robin dispatch under the queue's lock.
//!
//! Lock order: vhost topology → queue state → connection outbox. The queue lock is never
//! held while taking a topology lock, and is held only for short, allocation-free work.

pub mod args;
pub mod backlog;
pub mod consumer;
pub mod features;
pub mod outbox;
pub mod settings;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::{Mutex, MutexGuard};
use tokio::sync::Notify;
use warren_codec::types::FieldTable;
use warren_model::query::QueueCounters;

pub use backlog::{load_paged, load_peeked, Backlog, BacklogBytes, PeekedMessage, QueuedMessage};
pub use consumer::{ChannelCredit, Consumer};
use features::Features;
pub use features::{now_ms, parse_expiration, DeadLetterCounts, DeadLetterStrategy, DeathReason};
use outbox::OutboxEvent;
pub use settings::QueueSettings;

/// Starts a queue's janitor task (given by the queue's vhost, which routes dead letters and
/// deletes expired queues; see `crate::janitor`).
#[derive(Clone)]
pub struct JanitorSpawner(pub Arc<dyn Fn(Arc<Queue>) + Send + Sync>);

impl std::fmt::Debug for JanitorSpawner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JanitorSpawner")
    }
}

/// Declared properties of a queue; fixed for its life.
#[derive(Debug, Clone)]
pub struct QueueSpec {
    pub name: Arc<str>,
    pub durable: bool,
    pub exclusive: bool,
    pub auto_delete: bool,
    pub arguments: FieldTable,
}

#[derive(Debug)]
pub struct Queue {
    pub spec: QueueSpec,
    pub vhost: Arc<str>,
    /// The connection that declared an exclusive queue.
    pub owner: Option<u64>,
    /// The queue's id in the message store: records list the queues holding them and ack
    /// entries name the queue that let go. Unique for the life of the data directory.
    pub ref_id: u32,
    /// `Some(ref_id)` for queues that outlive the broker (durable, not exclusive, not
    /// auto-delete): their persistent messages are recovered at start-up.
    pub store_id: Option<u32>,
    state: Mutex<QueueState>,
    deleted: AtomicBool,
    /// Flow control: set while publishers are held back, cleared (and waiters woken) once
    /// consumers have caught up.
    throttled: AtomicBool,
    caught_up: Notify,
    /// Delivery and settlement counters, added by connections once per batch.
    stats: QueueStats,
    /// Wakes the janitor task (dead letters waiting, a nearer deadline, a changed setting).
    janitor_wake: Notify,
    janitor_started: AtomicBool,
    spawner: Option<JanitorSpawner>,
    /// `x-consumer-timeout` (or policy `consumer-timeout`) in ms; 0: the broker's. Read by
    /// connections for every manual-ack delivery, so kept out of the lock.
    consumer_timeout_ms: AtomicU64,
    /// Bytes of ready messages kept in memory (the head); past them new messages are
    /// stored and held on disk only. A lazy queue keeps none.
    memory_cap_bytes: AtomicU64,
    /// Set (under the lock) while the head is full: publishers then store new messages
    /// for this queue on disk only; cleared once the head is half empty.
    paging: AtomicBool,
}

/// What the connections that deliver and settle a queue's messages count for it. Each adds
/// its [`QueueDelta`] once per batch of frames, so no message touches these atomics.
#[derive(Debug, Default)]
struct QueueStats {
    deliver: AtomicU64,
    deliver_no_ack: AtomicU64,
    get: AtomicU64,
    get_no_ack: AtomicU64,
    get_empty: AtomicU64,
    redeliver: AtomicU64,
    ack: AtomicU64,
    unacked: AtomicI64,
    unacked_bytes: AtomicI64,
}

/// A queue's sizes at one moment (for the management API).
#[derive(Debug, Clone)]
pub struct QueueSizes {
    pub ready: u32,
    pub consumers: u32,
    pub bytes: BacklogBytes,
    /// Messages in memory plus the queue's own structures.
    pub memory_bytes: u64,
    /// The share of consumers that could take a message now (0 without consumers).
    pub consumer_capacity: f64,
    /// The exclusive consumer's tag (queues without single active consumer).
    pub exclusive_consumer_tag: Option<Bytes>,
    /// The receiving consumer's tag on a single-active-consumer queue.
    pub single_active_consumer_tag: Option<Bytes>,
}

/// One connection's counts for one queue during a batch.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct QueueDelta {
    pub deliver: u64,
    pub deliver_no_ack: u64,
    pub get: u64,
    pub get_no_ack: u64,
    pub get_empty: u64,
    pub redeliver: u64,
    pub ack: u64,
    /// Deliveries now awaiting acknowledgement, less those settled.
    pub unacked: i64,
    /// Their sizes, likewise.
    pub unacked_bytes: i64,
}

/// A queue with consumers and more ready messages than this asks its publishers to wait
/// (RabbitMQ's credit flow plays this role): consumers get CPU time and memory stays bounded.
pub const FLOW_HIGH_MESSAGES: usize = 20_000;
/// Publishers resume once the backlog is below this.
pub const FLOW_LOW_MESSAGES: usize = 10_000;
/// Dead letters waiting for the janitor above which a publisher waits (as for a backlog
/// with consumers): dead-lettering is bounded in memory, however fast messages die.
const DEAD_HIGH_MESSAGES: usize = 8_192;
const DEAD_LOW_MESSAGES: usize = 4_096;
/// Most dead letters the janitor takes in one turn.
const JANITOR_BATCH: usize = 2_048;

#[derive(Debug, Default)]
struct QueueState {
    backlog: Backlog,
    consumers: Vec<Arc<Consumer>>,
    next_consumer: usize,
    has_exclusive_consumer: bool,
    /// Messages enqueued since the queue was declared.
    published: u64,
    /// TTL, limits, dead-lettering, expiry, single active consumer: None for plain queues.
    features: Option<Box<Features>>,
    /// A plain queue's messages rejected without requeue (dropped: it has no dead-letter
    /// exchange), not yet moved to the broker's totals.
    rejected_dropped: u64,
}

/// What enqueueing one message did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PublishOutcome {
    /// Consumers are falling behind: the publisher should wait for [`Queue::caught_up`].
    pub throttle: bool,
    /// The queue refused the message (a length limit with `reject-publish(-dlx)`): a
    /// confirming publisher gets basic.nack.
    pub rejected: bool,
}

/// What the janitor does next, decided under the queue lock by [`Queue::janitor_turn`].
#[derive(Debug, Default)]
pub struct JanitorTurn {
    pub dead: Vec<(QueuedMessage, DeathReason)>,
    /// Where dead letters go: (exchange, routing key), as set when they were taken.
    pub dead_letter_exchange: Option<Arc<str>>,
    pub dead_letter_routing_key: Option<Arc<str>>,
    /// Wake again at this wall-clock time (ms) at the latest.
    pub next_wake_ms: Option<u64>,
    /// The queue was unused for its `x-expires` period: delete it.
    pub expired: bool,
    /// The queue is gone (deleted): the janitor ends.
    pub gone: bool,
    /// More dead letters wait: the janitor goes on without sleeping.
    pub more: bool,
}

/// Why a consumer could not be attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachError {
    ExclusiveInUse,
    Deleted,
}

impl Queue {
    /// A queue with the settings its arguments and policy give it (`settings`); `spawner`
    /// starts its janitor when it needs one.
    pub fn new(
        spec: QueueSpec,
        vhost: Arc<str>,
        owner: Option<u64>,
        ref_id: u32,
        persisted: bool,
        settings: QueueSettings,
        spawner: Option<JanitorSpawner>,
    ) -> Self {
        let mut state = QueueState::default();
        let consumer_timeout_ms = AtomicU64::new(settings.consumer_timeout_ms.unwrap_or(0));
        if let Some(max) = settings.max_priority {
            state.backlog = Backlog::with_max_priority(max);
        }
        if settings != QueueSettings::default() {
            state.features = Some(Box::new(Features::new(Arc::new(settings))));
        }
        Self {
            spec,
            vhost,
            owner,
            ref_id,
            store_id: persisted.then_some(ref_id),
            state: Mutex::new(state),
            deleted: AtomicBool::new(false),
            throttled: AtomicBool::new(false),
            caught_up: Notify::new(),
            stats: QueueStats::default(),
            janitor_wake: Notify::new(),
            janitor_started: AtomicBool::new(false),
            spawner,
            consumer_timeout_ms,
            memory_cap_bytes: AtomicU64::new(warren_store::QUEUE_MEMORY_BYTES_DEFAULT),
            paging: AtomicBool::new(false),
        }
    }

    /// How many bytes of ready messages the queue keeps in memory (see `memory_cap_bytes`).
    pub fn set_memory_cap(&self, bytes: u64) {
        self.memory_cap_bytes.store(bytes, Ordering::Relaxed);
    }

    /// Whether new messages for this queue should be stored and kept on disk only.
    #[inline]
    pub fn is_paging(&self) -> bool {
        self.paging.load(Ordering::Relaxed)
    }

    /// Page new messages once the head in memory is past its cap; stop at half of it.
    #[inline]
    fn update_paging(&self, st: &QueueState) {
        let lazy = st.features.as_deref().is_some_and(|f| f.settings.lazy);
        let cap = if lazy {
            0
        } else {
            self.memory_cap_bytes.load(Ordering::Relaxed)
        };
        let in_memory = st.backlog.bytes().in_memory;
        let paging = self.paging.load(Ordering::Relaxed);
        if !paging && in_memory > cap {
            self.paging.store(true, Ordering::Relaxed);
        } else if paging && in_memory <= cap / 2 {
            self.paging.store(false, Ordering::Relaxed);
        }
    }

    /// How long a delivery from this queue may stay unacknowledged, if the queue sets it.
    pub fn consumer_timeout_ms(&self) -> Option<u64> {
        match self.consumer_timeout_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(ms),
        }
    }

    /// Start the janitor if the queue's settings need one and it is not running yet (call
    /// without holding the queue lock).
    pub fn ensure_janitor(self: &Arc<Self>) {
        let st = self.state.lock();
        let head_expires = st.backlog.front().is_some_and(|m| m.expires_at_ms != 0);
        let needed = head_expires || st.features.as_deref().is_some_and(|f| f.needs_janitor());
        drop(st);
        if needed {
            self.start_janitor();
        }
    }

    fn start_janitor(self: &Arc<Self>) {
        if self.janitor_started.swap(true, Ordering::AcqRel) {
            self.janitor_wake.notify_one();
            return;
        }
        if let Some(spawn) = &self.spawner {
            (spawn.0)(Arc::clone(self));
        }
    }

    /// Wake (or start) the janitor: call after releasing the queue lock.
    fn wake_janitor(self: &Arc<Self>) {
        if self.janitor_started.load(Ordering::Acquire) {
            self.janitor_wake.notify_one();
        } else {
            self.start_janitor();
        }
    }

    /// Resolves when the janitor has something to do.
    pub async fn janitor_woken(&self) {
        self.janitor_wake.notified().await;
    }

    /// The queue's effective settings.
    pub fn settings(&self) -> Arc<QueueSettings> {
        self.state
            .lock()
            .features
            .as_ref()
            .map(|f| Arc::clone(&f.settings))
            .unwrap_or_default()
    }

    /// New effective settings (a policy was set or cleared): limits apply at once, TTLs to
    /// messages enqueued from now on, as in RabbitMQ. Priorities stay as declared.
    pub fn apply_settings(self: &Arc<Self>, settings: QueueSettings) {
        let mut guard = self.state.lock();
        if self.is_deleted() {
            return;
        }
        let unchanged = match &guard.features {
            Some(f) => *f.settings == settings,
            None => settings == QueueSettings::default(),
        };
        if unchanged {
            return;
        }
        let st = &mut *guard;
        self.consumer_timeout_ms
            .store(settings.consumer_timeout_ms.unwrap_or(0), Ordering::Relaxed);
        let f = st
            .features
            .get_or_insert_with(|| Box::new(Features::new(Arc::default())));
        f.settings = Arc::new(settings);
        f.last_used_ms = now_ms();
        f.trim(&mut st.backlog);
        self.dispatch(st);
        drop(guard);
        self.wake_janitor();
    }

    /// Add one connection's counts from a batch.
    pub fn add_stats(&self, d: &QueueDelta) {
        let s = &self.stats;
        for (counter, n) in [
            (&s.deliver, d.deliver),
            (&s.deliver_no_ack, d.deliver_no_ack),
            (&s.get, d.get),
            (&s.get_no_ack, d.get_no_ack),
            (&s.get_empty, d.get_empty),
            (&s.redeliver, d.redeliver),
            (&s.ack, d.ack),
        ] {
            if n != 0 {
                counter.fetch_add(n, Ordering::Relaxed);
            }
        }
        if d.unacked != 0 {
            s.unacked.fetch_add(d.unacked, Ordering::Relaxed);
            s.unacked_bytes
                .fetch_add(d.unacked_bytes, Ordering::Relaxed);
        }
    }

    /// Message counters since the queue was declared.
    pub fn counters(&self) -> QueueCounters {
        let s = &self.stats;
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        QueueCounters {
            publish: self.state.lock().published,
            deliver: load(&s.deliver),
            deliver_no_ack: load(&s.deliver_no_ack),
            get: load(&s.get),
            get_no_ack: load(&s.get_no_ack),
            get_empty: load(&s.get_empty),
            redeliver: load(&s.redeliver),
            ack: load(&s.ack),
        }
    }

    /// Deliveries awaiting acknowledgement (as of the connections' last batches).
    pub fn unacked(&self) -> u64 {
        u64::try_from(self.stats.unacked.load(Ordering::Relaxed)).unwrap_or(0)
    }

    /// Bytes of the deliveries awaiting acknowledgement.
    pub fn unacked_bytes(&self) -> u64 {
        u64::try_from(self.stats.unacked_bytes.load(Ordering::Relaxed)).unwrap_or(0)
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    pub fn is_deleted(&self) -> bool {
        self.deleted.load(Ordering::Acquire)
    }

    pub fn message_count(&self) -> u32 {
        count(self.state.lock().backlog.len())
    }

    pub fn consumer_count(&self) -> u32 {
        count(self.state.lock().consumers.len())
    }

    /// Sizes for the management API, read under one lock: (ready messages, consumers, byte
    /// counts of the ready messages, estimated memory the queue holds in bytes).
    pub fn sizes(&self) -> QueueSizes {
        let st = self.state.lock();
        let bytes = st.backlog.bytes();
        let memory = std::mem::size_of::<Queue>()
            + st.backlog.len() * std::mem::size_of::<QueuedMessage>()
            + st.consumers.len() * std::mem::size_of::<Consumer>();
        // Ready messages wait only if no consumer can take one now.
        let consumer_capacity = if st.consumers.is_empty() {
            0.0
        } else if st.backlog.is_empty() {
            1.0
        } else {
            let able = st.consumers.iter().filter(|c| c.has_credit()).count();
            able as f64 / st.consumers.len() as f64
        };
        let exclusive_consumer_tag = st
            .has_exclusive_consumer
            .then(|| st.consumers.iter().find(|c| c.exclusive))
            .flatten()
            .map(|c| c.tag.clone());
        let single_active_consumer_tag = st
            .features
            .as_deref()
            .and_then(|f| f.active.as_ref())
            .map(|c| c.tag.clone());
        QueueSizes {
            ready: count(st.backlog.len()),
            consumers: count(st.consumers.len()),
            bytes,
            memory_bytes: bytes.in_memory + memory as u64,
            consumer_capacity,
            exclusive_consumer_tag,
            single_active_consumer_tag,
        }
    }

    /// The attached consumers with RabbitMQ's `activity_status` of each: `up`, or on a
    /// single-active-consumer queue `single_active` and `waiting`.
    pub fn consumers_with_activity(&self) -> Vec<(Arc<Consumer>, &'static str)> {
        let st = self.state.lock();
        let sac = st
            .features
            .as_deref()
            .filter(|f| f.settings.single_active_consumer);
        st.consumers
            .iter()
            .map(|c| {
                let status = match sac {
                    None => "up",
                    Some(f) if f.active.as_ref().is_some_and(|a| Arc::ptr_eq(a, c)) => {
                        "single_active"
                    }
                    Some(_) => "waiting",
                };
                (Arc::clone(c), status)
            })
            .collect()
    }

    /// The attached consumers, in dispatch order.
    pub fn consumers(&self) -> Vec<Arc<Consumer>> {
        self.state.lock().consumers.clone()
    }

    /// (messages ready, consumers), read under one lock.
    pub fn counts(&self) -> (u32, u32) {
        let st = self.state.lock();
        (count(st.backlog.len()), count(st.consumers.len()))
    }

    /// Enqueue one message and hand it to a consumer if one has credit. `message_ttl_ms` is
    /// the message's own `expiration`, if it has one.
    pub fn publish(
        self: &Arc<Self>,
        message: QueuedMessage,
        message_ttl_ms: Option<u64>,
    ) -> PublishOutcome {
        let mut guard = self.state.lock();
        if self.is_deleted() {
            return PublishOutcome::default();
        }
        if guard.features.is_some() || message_ttl_ms.is_some() {
            return self.publish_featured(guard, message, message_ttl_ms);
        }
        // The hot path: a queue without features, a message without a TTL.
        let st = &mut *guard;
        st.backlog.push_back(message);
        st.published += 1;
        self.dispatch_plain(st);
        self.release_publishers(st);
        self.update_paging(st);
        let throttle = st.backlog.len() > FLOW_HIGH_MESSAGES && !st.consumers.is_empty();
        if throttle {
            self.throttled.store(true, Ordering::Release);
        }
        PublishOutcome {
            throttle,
            rejected: false,
        }
    }

    /// [`Queue::publish`] for a queue with features or a message with its own TTL.
    #[inline(never)]
    fn publish_featured(
        self: &Arc<Self>,
        mut guard: MutexGuard<'_, QueueState>,
        mut message: QueuedMessage,
        message_ttl_ms: Option<u64>,
    ) -> PublishOutcome {
        let st = &mut *guard;
        let f = st
            .features
            .get_or_insert_with(|| Box::new(Features::new(Arc::default())));
        let mut now = None;
        if f.settings.message_ttl_ms.is_some() || message_ttl_ms.is_some() {
            let at = *now.get_or_insert_with(now_ms);
            message.expires_at_ms = f.deadline_ms(message_ttl_ms, at);
        }
        let s = &f.settings;
        if s.overflow != settings::Overflow::DropHead
            && f.would_overflow(&st.backlog, u64::from(message.size_bytes()))
        {
            let dlx = s.overflow == settings::Overflow::RejectPublishDlx;
            let wake = dlx && f.bury(message, DeathReason::Maxlen);
            drop(guard);
            if wake {
                self.wake_janitor();
            }
            return PublishOutcome {
                throttle: false,
                rejected: true,
            };
        }
        // Stale heads go first; the new message may then reach a waiting consumer even with
        // a TTL of 0, as in RabbitMQ, and expires only if it waits.
        let mut wake = f.expire_head(&mut st.backlog, &mut now);
        st.backlog.push_back(message);
        st.published += 1;
        self.dispatch_featured(st, false);
        if let Some(f) = st.features.as_deref_mut() {
            wake |= f.trim(&mut st.backlog);
            wake |= f.expire_head(&mut st.backlog, &mut now);
        }
        self.update_paging(st);
        let throttle = (st.backlog.len() > FLOW_HIGH_MESSAGES && !st.consumers.is_empty())
            || st
                .features
                .as_deref()
                .is_some_and(|f| f.dead_backlog() > DEAD_HIGH_MESSAGES);
        if throttle {
            self.throttled.store(true, Ordering::Release);
        }
        drop(guard);
        if wake {
            self.wake_janitor();
        }
        PublishOutcome {
            throttle,
            rejected: false,
        }
    }

    /// Messages recovered from the store at start-up, in order. Their TTL deadlines count
    /// from when they were published (from now for records that do not say).
    pub fn restore(
        &self,
        messages: impl IntoIterator<Item = (QueuedMessage, warren_store::RecoveredMessage)>,
    ) {
        let mut st = self.state.lock();
        let st = &mut *st;
        let now = now_ms();
        for (mut m, facts) in messages {
            let ttl_possible = facts.expiration_ms.is_some()
                || st
                    .features
                    .as_ref()
                    .is_some_and(|f| f.settings.message_ttl_ms.is_some());
            if ttl_possible {
                let f = st
                    .features
                    .get_or_insert_with(|| Box::new(Features::new(Arc::default())));
                let published = facts.published_at_ms.unwrap_or(now);
                m.expires_at_ms = f.deadline_ms(facts.expiration_ms, published);
            }
            st.backlog.push_back(m);
        }
    }

    /// Resolves once consumers have brought the backlog under the low-water mark (or at once
    /// if they already have, or if the queue lost its consumers).
    pub async fn caught_up(&self) {
        loop {
            let notified = self.caught_up.notified();
            if is_caught_up(&self.state.lock()) || self.is_deleted() {
                return;
            }
            notified.await;
        }
    }

    /// Return messages to their original positions (callers mark them redelivered).
    pub fn requeue(self: &Arc<Self>, messages: Vec<QueuedMessage>) {
        if messages.is_empty() {
            return;
        }
        let mut guard = self.state.lock();
        if self.is_deleted() {
            return;
        }
        let st = &mut *guard;
        st.backlog.requeue(messages.into_iter());
        // A requeue can put the queue over its limit, or bring back an expired message.
        let mut wake = false;
        if let Some(f) = st.features.as_deref_mut() {
            wake |= f.trim(&mut st.backlog);
            wake |= f.expire_head(&mut st.backlog, &mut None);
        }
        self.dispatch(st);
        drop(guard);
        if wake {
            self.wake_janitor();
        }
    }

    /// Messages rejected without requeue (basic.reject / basic.nack requeue=false): to the
    /// dead-letter exchange if the queue has one, else dropped.
    pub fn dead_letter(self: &Arc<Self>, messages: Vec<QueuedMessage>) {
        let mut st = self.state.lock();
        let n = messages.len() as u64;
        let wake = match st.features.as_deref_mut() {
            _ if self.is_deleted() => false,
            Some(f) if f.dead_letters() => {
                f.dead
                    .extend(messages.into_iter().map(|m| (m, DeathReason::Rejected)));
                true
            }
            Some(f) => {
                f.dropped
                    .note(DeathReason::Rejected, DeadLetterStrategy::Disabled, n);
                false
            }
            None => {
                st.rejected_dropped += n;
                false
            }
        };
        drop(st);
        if wake {
            self.wake_janitor();
        }
    }

    /// The queue was used (basic.get, a redeclare, its last consumer left): its
    /// `x-expires` countdown starts again.
    pub fn touch(self: &Arc<Self>) {
        let mut st = self.state.lock();
        let Some(f) = st.features.as_deref_mut() else {
            return;
        };
        if f.settings.expires_ms.is_some() {
            f.last_used_ms = now_ms();
            drop(st);
            self.wake_janitor();
        }
    }

    /// Messages this queue dropped for want of a dead-letter exchange since the last call
    /// (those its janitor dead-lettered are counted by the janitor).
    pub fn take_dropped(&self) -> DeadLetterCounts {
        let mut st = self.state.lock();
        let mut out = DeadLetterCounts::default();
        out.note(
            DeathReason::Rejected,
            DeadLetterStrategy::Disabled,
            std::mem::take(&mut st.rejected_dropped),
        );
        if let Some(f) = st.features.as_deref_mut() {
            out.add(&std::mem::take(&mut f.dropped));
        }
        out
    }

    /// The janitor has routed the dead letters it took: publishers held back by them may go.
    pub fn janitor_done(&self) {
        let mut st = self.state.lock();
        let Some(f) = st.features.as_deref_mut() else {
            return;
        };
        f.dead_in_flight = 0;
        self.release_publishers(&st);
    }

    /// Let publishers held back by this queue go, once it has caught up.
    fn release_publishers(&self, st: &QueueState) {
        if self.throttled.load(Ordering::Acquire) && is_caught_up(st) {
            self.throttled.store(false, Ordering::Release);
            self.caught_up.notify_waiters();
        }
    }

    /// The janitor's turn: expire the head, take the dead letters, and say when to wake
    /// next (the head's deadline, or when the queue expires if unused).
    pub fn janitor_turn(&self) -> JanitorTurn {
        let mut guard = self.state.lock();
        if self.is_deleted() {
            return JanitorTurn {
                gone: true,
                ..JanitorTurn::default()
            };
        }
        let st = &mut *guard;
        let Some(f) = st.features.as_deref_mut() else {
            return JanitorTurn::default();
        };
        let now = now_ms();
        f.expire_head(&mut st.backlog, &mut Some(now));
        let mut next = st
            .backlog
            .front()
            .map(|m| m.expires_at_ms)
            .filter(|&at| at != 0);
        let mut expired = false;
        if let Some(expires) = f.settings.expires_ms {
            if st.consumers.is_empty() {
                let at = f.last_used_ms.saturating_add(expires);
                if at <= now {
                    expired = true;
                } else {
                    next = Some(next.map_or(at, |n| n.min(at)));
                }
            }
        }
        f.armed_ms = next.unwrap_or(u64::MAX);
        let take = f.dead.len().min(JANITOR_BATCH);
        let dead: Vec<_> = f.dead.drain(..take).collect();
        f.dead_in_flight = dead.len();
        JanitorTurn {
            more: !f.dead.is_empty(),
            dead,
            dead_letter_exchange: f.settings.dead_letter_exchange.clone(),
            dead_letter_routing_key: f.settings.dead_letter_routing_key.clone(),
            next_wake_ms: next,
            expired,
            gone: false,
        }
    }

    /// Try to deliver again, after some consumer regained credit.
    pub fn kick(self: &Arc<Self>) {
        let mut st = self.state.lock();
        self.dispatch(&mut st);
    }

    /// The first `n` ready messages, left where they are.
    pub fn peek(&self, n: usize) -> Vec<PeekedMessage> {
        self.state.lock().backlog.peek(n)
    }

    /// basic.get: take the head message, with the count of those left behind. Expired
    /// messages at the head are never handed out.
    pub fn get(self: &Arc<Self>) -> Option<(QueuedMessage, u32)> {
        let mut guard = self.state.lock();
        let st = &mut *guard;
        let mut wake = false;
        if let Some(f) = st.features.as_deref_mut() {
            wake |= f.expire_head(&mut st.backlog, &mut None);
            if f.settings.expires_ms.is_some() {
                f.last_used_ms = now_ms();
            }
        }
        let taken = st.backlog.pop_front();
        if let (Some(f), Some(_)) = (st.features.as_deref_mut(), &taken) {
            wake |= f.expire_head(&mut st.backlog, &mut None);
        }
        let left = count(st.backlog.len());
        drop(guard);
        if wake {
            self.wake_janitor();
        }
        Some((taken?, left))
    }

    pub fn purge(&self) -> u32 {
        count(self.state.lock().backlog.purge())
    }

    pub fn attach(self: &Arc<Self>, consumer: Arc<Consumer>) -> Result<(), AttachError> {
        let mut st = self.state.lock();
        if self.is_deleted() {
            return Err(AttachError::Deleted);
        }
        let single_active = st
            .features
            .as_deref()
            .is_some_and(|f| f.settings.single_active_consumer);
        if st.has_exclusive_consumer
            || (consumer.exclusive && (single_active || !st.consumers.is_empty()))
        {
            return Err(AttachError::ExclusiveInUse);
        }
        if let Some(f) = st.features.as_deref_mut() {
            // Single active consumer: the first to come receives, whatever its priority.
            if f.settings.single_active_consumer && f.active.is_none() {
                f.active = Some(Arc::clone(&consumer));
            }
        }
        st.has_exclusive_consumer = consumer.exclusive;
        // Higher x-priority consumers are tried first; equal priorities keep arrival order.
        let at = st
            .consumers
            .iter()
            .position(|c| c.priority < consumer.priority)
            .unwrap_or(st.consumers.len());
        st.consumers.insert(at, consumer);
        self.dispatch(&mut st);
        Ok(())
    }

    /// Remove a consumer. Returns true when the queue is auto-delete and has none left.
    /// With features, the next active consumer gets the backlog at once and the expiry
    /// countdown starts when the last consumer leaves.
    pub fn detach(self: &Arc<Self>, connection_id: u64, channel: u16, tag: &[u8]) -> bool {
        let mut st = self.state.lock();
        let before = st.consumers.len();
        st.consumers.retain(|c| {
            !(c.connection.id == connection_id && c.channel == channel && c.tag == tag)
        });
        // A single active consumer leaving with deliveries unsettled hands over without a
        // dispatch (as RabbitMQ's basic.cancel): those may come back and go first.
        let mut hand_over_later = false;
        if st.consumers.len() != before {
            st.has_exclusive_consumer = false;
            if st.next_consumer >= st.consumers.len() {
                st.next_consumer = 0;
            }
            let st = &mut *st;
            if let Some(f) = st.features.as_deref_mut() {
                let was_active = f.active.as_ref().filter(|a| {
                    a.connection.id == connection_id && a.channel == channel && a.tag == tag
                });
                if let Some(old) = was_active {
                    hand_over_later = old.unacked.load(Ordering::Acquire) != 0;
                    // The next in line: the highest priority, then the earliest.
                    f.active = st.consumers.first().cloned();
                }
                if st.consumers.is_empty() {
                    f.last_used_ms = now_ms();
                }
            }
        }
        let detached = st.consumers.len() != before;
        let gone = detached && st.consumers.is_empty() && self.spec.auto_delete;
        let expires = st
            .features
            .as_deref()
            .is_some_and(|f| f.settings.expires_ms.is_some());
        if detached && st.features.is_some() && !gone && !hand_over_later {
            self.dispatch(&mut st);
        }
        drop(st);
        if detached && expires {
            self.wake_janitor();
        }
        gone
    }

    /// Mark deleted, drop messages and tell every consumer it was cancelled.
    /// Returns the number of messages that were ready.
    pub fn delete(&self) -> u32 {
        let mut st = self.state.lock();
        self.deleted.store(true, Ordering::Release);
        self.caught_up.notify_waiters();
        let n = count(st.backlog.purge());
        if let Some(f) = st.features.as_deref_mut() {
            f.dead.clear();
            f.active = None;
        }
        for c in st.consumers.drain(..) {
            c.connection.push(OutboxEvent::ConsumerCancelled {
                channel: c.channel,
                consumer_tag: c.tag.clone(),
            });
        }
        n
    }

    /// Round-robin over consumers with credit, in priority order, until messages or credit run out.
    fn dispatch(self: &Arc<Self>, st: &mut QueueState) {
        if st.features.is_some() {
            self.dispatch_featured(st, true);
        } else {
            self.dispatch_plain(st);
        }
        self.release_publishers(st);
    }

    fn dispatch_plain(self: &Arc<Self>, st: &mut QueueState) {
        while !st.backlog.is_empty() && !st.consumers.is_empty() {
            let Some(idx) = pick_consumer(&st.consumers, st.next_consumer) else {
                break;
            };
            st.next_consumer = idx + 1;
            let Some(message) = st.backlog.pop_front() else {
                break;
            };
            let c = &st.consumers[idx];
            c.connection.push(OutboxEvent::Deliver {
                consumer: Arc::clone(c),
                queue: Arc::clone(self),
                message,
            });
        }
    }

    /// Dispatch for queues with features: expired heads are never delivered, and a single
    /// active consumer queue delivers to its active consumer only.
    #[inline(never)]
    fn dispatch_featured(self: &Arc<Self>, st: &mut QueueState, expire_first: bool) {
        let Some(f) = st.features.as_deref_mut() else {
            return;
        };
        let mut now = None;
        let mut wake = expire_first && f.expire_head(&mut st.backlog, &mut now);
        while !st.backlog.is_empty() && !st.consumers.is_empty() {
            let consumer = if f.settings.single_active_consumer {
                // A cancelled active consumer (its channel closing) takes nothing more: its
                // unacknowledged messages go back first, then the next one receives.
                match &f.active {
                    Some(a) if a.is_active() && a.try_take_credit() => Arc::clone(a),
                    _ => break,
                }
            } else {
                let Some(idx) = pick_consumer(&st.consumers, st.next_consumer) else {
                    break;
                };
                st.next_consumer = idx + 1;
                Arc::clone(&st.consumers[idx])
            };
            let Some(message) = st.backlog.pop_front() else {
                consumer.undo_dispatch();
                break;
            };
            consumer.connection.push(OutboxEvent::Deliver {
                consumer: Arc::clone(&consumer),
                queue: Arc::clone(self),
                message,
            });
            wake |= f.expire_head(&mut st.backlog, &mut now);
        }
        if wake {
            // Only notifies or spawns: the janitor takes the lock once this one is released.
            self.wake_janitor();
        }
    }
}

/// Whether publishers held back by a queue may go: its consumers brought the backlog under
/// the low-water mark (or it has none), and its dead letters are under theirs.
fn is_caught_up(st: &QueueState) -> bool {
    let dead = st.features.as_deref().map_or(0, |f| f.dead_backlog());
    (st.backlog.len() < FLOW_LOW_MESSAGES || st.consumers.is_empty()) && dead < DEAD_LOW_MESSAGES
}

/// The next consumer to receive a message: the highest priority group that has one with
/// credit, rotating within the group from `next`. Takes that consumer's credit.
fn pick_consumer(consumers: &[Arc<Consumer>], next: usize) -> Option<usize> {
    let n = consumers.len();
    let mut group_start = 0;
    while group_start < n {
        let priority = consumers[group_start].priority;
        let group_end = consumers[group_start..]
            .iter()
            .position(|c| c.priority != priority)
            .map_or(n, |p| group_start + p);
        let group_len = group_end - group_start;
        let rotation = if (group_start..group_end).contains(&next) {
            next - group_start
        } else {
            0
        };
        for k in 0..group_len {
            let idx = group_start + (rotation + k) % group_len;
            if consumers[idx].try_take_credit() {
                return Some(idx);
            }
        }
        group_start = group_end;
    }
    None
}

/// Generate a server-named queue name, as RabbitMQ does: "amq.gen-" and 22 url-safe base64 chars.
pub fn generate_name() -> Arc<str> {
    Arc::from(crate::util::random_name::<16>("amq.gen-"))
}

/// Tag bytes for a server-generated consumer tag: "amq.ctag-" and 22 url-safe base64 chars.
pub fn generate_consumer_tag() -> Bytes {
    Bytes::from(crate::util::random_name::<16>("amq.ctag-"))
}

/// A count as AMQP carries it (u32), saturating rather than wrapping.
fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
