//! warren-store: messages and the message store: append-only segment files holding persistent messages (once, however
//! many queues they reach) and paged-out copies of messages beyond the memory budget, plus
//! the metadata journal. docs/storage.md has the on-disk layout and the recovery rules.
//!
//! Publishers append records into an in-memory buffer under a short lock; the writer swaps
//! the buffer out and writes it with no lock held that a publisher needs; one flusher thread
//! fdatasyncs (group commit), then publishes the synced position so confirms and tx.commit-ok
//! go out only for what is on disk. Every queue's hold on a stored message is a [`StoreRef`];
//! when the last one for a segment goes, the segment is deleted. No lock a runtime task takes
//! is held across disk I/O; docs/architecture.md has the lock order.

mod compact;
mod flusher;
mod handles;
pub mod io;
pub mod message;
pub mod meta;
pub mod record;
pub mod recovery;
mod segment_scan;
mod writer;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use bytes::Bytes;
use parking_lot::{Condvar, Mutex};

use crate::message::Message;
use handles::Handle;
use io::{OpenMode, StoreFile, StoreFs};
use meta::MetaRecord;
use record::{MessageParts, Record, RecordError, FLAG_PERSISTENT, SEGMENT_MAGIC};
pub use recovery::{check, check_in, Recovered, RecoveredMessage};
use writer::Writer;

/// Where to keep data and how much message data may stay in memory.
/// The longest run of adjacent records [`Store::read_many`] reads with one call.
const READ_RUN_MAX_BYTES: u64 = 256 << 10;

/// The default per-queue head kept in memory: 16 MiB of message bodies.
pub const QUEUE_MEMORY_BYTES_DEFAULT: u64 = 16 << 20;

#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Every file access goes through it: [`io::OsFs`], or a simulated disk in tests.
    pub fs: Arc<dyn StoreFs>,
    pub dir: PathBuf,
    pub segment_size: u64,
    /// Bytes of message data kept in memory; beyond it new messages are paged to disk.
    pub memory_budget: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("stored message {msg_id:#x} is damaged: {reason}")]
    Damaged { msg_id: u64, reason: RecordError },
    #[error("segment {0} is gone")]
    SegmentGone(u32),
}

impl StoreError {
    /// Whether reading again later may succeed: the process or the disk was short of
    /// something (file descriptors, memory, a failing request), as opposed to data that is
    /// gone or damaged.
    pub fn is_transient(&self) -> bool {
        use std::io::ErrorKind;
        match self {
            StoreError::Io { source, .. } => !matches!(
                source.kind(),
                ErrorKind::NotFound | ErrorKind::UnexpectedEof | ErrorKind::InvalidData
            ),
            StoreError::Damaged { .. } | StoreError::SegmentGone(_) => false,
        }
    }
}

fn io_error(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> StoreError {
    let context = context.into();
    move |source| StoreError::Io { context, source }
}

/// Where a stored message is: its id (segment << 32 | original offset) and its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreLoc {
    pub msg_id: u64,
    pub offset: u32,
    /// Record length; the top bit marks a persistent record.
    len_flags: u32,
}

const LOC_PERSISTENT: u32 = 1 << 31;

impl StoreLoc {
    pub fn new(msg_id: u64, offset: u32, len: u32, persistent: bool) -> Self {
        Self {
            msg_id,
            offset,
            len_flags: len | if persistent { LOC_PERSISTENT } else { 0 },
        }
    }

    pub fn segment(&self) -> u32 {
        (self.msg_id >> 32) as u32
    }

    pub fn record_len(&self) -> u32 {
        self.len_flags & !LOC_PERSISTENT
    }

    pub fn is_persistent(&self) -> bool {
        self.len_flags & LOC_PERSISTENT != 0
    }
}

/// One queue's hold on a stored message. Dropping it releases the hold; for a durable queue
/// holding a persistent message that also records an ack, so the message stays gone.
#[derive(Debug)]
pub struct StoreRef {
    store: Arc<Store>,
    pub loc: StoreLoc,
    /// The queue holding it (its `ref_id`).
    queue_id: u32,
    /// A persistent message in a durable queue: recovered after a restart.
    durable: bool,
}

impl StoreRef {
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The queue holding it.
    pub fn queue_id(&self) -> u32 {
        self.queue_id
    }

    /// Whether it is recovered after a restart (persistent message, durable queue).
    pub fn is_durable(&self) -> bool {
        self.durable
    }
}

impl Drop for StoreRef {
    fn drop(&mut self) {
        self.store.release(&self.loc, self.queue_id);
    }
}

/// Bytes appended to one segment and not yet written, starting at offset `at` of it.
struct Tail {
    id: u32,
    at: u64,
    buf: Vec<u8>,
}

impl Tail {
    fn end(&self) -> u64 {
        self.at + self.buf.len() as u64
    }
}

/// What appenders share: buffers and positions, no file handles. Held only for memory work.
struct LogState {
    /// The active segment's bytes not yet taken by the writer.
    active: Tail,
    /// Segments rolled before the writer took their last bytes, oldest first.
    sealed: Vec<Tail>,
    /// Everything before this (segment, offset) is in its file; between it and the tails,
    /// bytes are with the writer.
    written_to: (u32, u64),
    /// Journal bytes not yet taken by the writer.
    journal: Vec<u8>,
    /// Total bytes ever appended (segments and journal): positions for group commit.
    appended: u64,
    /// Position up to which an fdatasync is owed (persistent records, journal records).
    sync_needed: u64,
    /// Segment files written since the last sync, by id.
    unsynced: Vec<(u32, Arc<dyn StoreFile>)>,
    /// A segment file was created or renamed: the directory needs a sync too.
    dir_dirty: bool,
    /// Per durable queue, the highest msg_id delivered from it (restated in every segment).
    marks: HashMap<u32, u64>,
    /// An emptied buffer the writer gave back: the next one the active segment gets, so
    /// buffers circulate instead of being grown on one thread and freed on another.
    spare: Vec<u8>,
}

impl LogState {
    fn unwritten_len(&self) -> usize {
        self.active.buf.len() + self.sealed.iter().map(|t| t.buf.len()).sum::<usize>()
    }
}

/// Per-segment reference counts and the ack entries waiting to be written.
#[derive(Default)]
struct SegState {
    segs: BTreeMap<u32, SegInfo>,
    /// Segments nobody references: deleted by the flusher once the journal is synced.
    doomed: Vec<u32>,
    /// Compacted segments whose copy the flusher renames over the original.
    renames: Vec<u32>,
    /// Counts handle uses, for closing the least recently used (see `handles.rs`).
    clock: u64,
}

#[derive(Default)]
struct SegInfo {
    /// Queue holds not yet released.
    live: u64,
    /// Holds ever counted (since the last compaction); live/total says how sparse it is.
    total: u64,
    /// After compaction: where surviving records moved (msg_id → offset).
    relocated: HashMap<u64, u32>,
    acks: Vec<u8>,
    ack_file: Option<Arc<dyn StoreFile>>,
    ack_written: u64,
    ack_used: u64,
    reader: Option<Arc<dyn StoreFile>>,
    reader_used: u64,
    /// Its compacted copy waits to be renamed over it.
    renaming: bool,
}

pub struct Store {
    fs: Arc<dyn StoreFs>,
    dir: PathBuf,
    msgs_dir: PathBuf,
    segment_size: u64,
    memory_budget: usize,
    /// Bytes of ready messages one queue keeps in memory; beyond them its new messages go
    /// to disk from the start (see [`Store::queue_memory_bytes`]).
    queue_memory_bytes: AtomicU64,
    log: Mutex<LogState>,
    wake: Condvar,
    /// The right to write to segment files and the journal (see `writer.rs`).
    writer: Mutex<Writer>,
    /// More than [`flusher::BEHIND_BYTES`] wait for the writer: publishers pause (see
    /// [`Store::writer_caught_up`]); cleared, and waiters woken, when the writer takes them.
    behind: AtomicBool,
    caught_up: tokio::sync::Notify,
    /// `meta.log.new` until [`Store::commit_journal`] renames it.
    journal: Arc<dyn StoreFile>,
    segs: Mutex<SegState>,
    active_id: AtomicU32,
    synced: AtomicU64,
    journaled: AtomicU64,
    synced_tx: tokio::sync::watch::Sender<u64>,
    next_queue_id: AtomicU32,
    closing: AtomicBool,
    flusher: Mutex<Option<JoinHandle<()>>>,
    compactor: Mutex<Option<JoinHandle<()>>>,
    compactor_stop: Mutex<bool>,
    compactor_wake: Condvar,
    /// The first segment written since start-up; older ones hold only recovered data.
    boot_segment: u32,
    /// Durable queues that had messages recovered at start-up.
    recovered_queues: std::collections::HashSet<u32>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("dir", &self.dir).finish()
    }
}

/// The result of an append: where the record is and the position to sync for it.
#[derive(Debug, Clone, Copy)]
pub struct Appended {
    pub loc: StoreLoc,
    pub lsn: u64,
}

pub fn segment_path(msgs_dir: &Path, id: u32) -> PathBuf {
    msgs_dir.join(format!("{id:010}.seg"))
}

pub fn ack_path(msgs_dir: &Path, id: u32) -> PathBuf {
    msgs_dir.join(format!("{id:010}.ack"))
}

/// Delete a segment nobody needs. The segment goes first: an ack file without its segment
/// is harmless (removed at start), a segment without its acks would bring acked messages back.
pub fn delete_segment(fs: &dyn StoreFs, msgs_dir: &Path, id: u32) {
    let _ = fs.remove(&segment_path(msgs_dir, id));
    let _ = fs.remove(&ack_path(msgs_dir, id));
}

impl Store {
    /// Start the flusher (group commit) and compactor threads of a freshly opened store.
    fn start_threads(store: &Arc<Store>) -> Result<(), StoreError> {
        let handle = flusher::spawn(Arc::clone(store))
            .map_err(io_error("starting the store's flusher thread"))?;
        *store.flusher.lock() = Some(handle);
        let handle = compact::spawn(Arc::clone(store))
            .map_err(io_error("starting the store's compactor thread"))?;
        *store.compactor.lock() = Some(handle);
        Ok(())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// True when message data in memory exceeds the budget: new messages go to disk only.
    pub fn over_budget(&self) -> bool {
        crate::message::memory_in_use() > self.memory_budget
    }

    /// How many bytes of ready messages one queue keeps in memory (its head): beyond them a
    /// queue's new messages are stored and kept on disk only, read back for consumers.
    pub fn queue_memory_bytes(&self) -> u64 {
        self.queue_memory_bytes.load(Ordering::Relaxed)
    }

    pub fn set_queue_memory_bytes(&self, bytes: u64) {
        self.queue_memory_bytes.store(bytes, Ordering::Relaxed);
    }

    pub fn memory_budget(&self) -> usize {
        self.memory_budget
    }

    pub fn next_queue_id(&self) -> u32 {
        self.next_queue_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Position known to be on disk.
    pub fn synced(&self) -> u64 {
        self.synced.load(Ordering::Acquire)
    }

    pub fn subscribe_synced(&self) -> tokio::sync::watch::Receiver<u64> {
        self.synced_tx.subscribe()
    }

    /// Wait until everything appended up to `lsn` is on disk.
    pub async fn wait_synced(&self, lsn: u64) {
        if self.synced() >= lsn {
            return;
        }
        let mut rx = self.synced_tx.subscribe();
        let _ = rx.wait_for(|s| *s >= lsn).await;
    }

    /// Store a message for the queues in `queues` (their `ref_id`s); the caller creates one
    /// [`StoreRef`] for each. `persistent` records are recovered at start-up (for the durable
    /// queues among them) and synced before they are confirmed.
    pub fn append(
        self: &Arc<Self>,
        message: &Message,
        queues: &[u32],
        persistent: bool,
    ) -> Appended {
        let parts = MessageParts {
            published_at_ms: persistent.then(now_ms),
            exchange: message.exchange(),
            routing_key: message.routing_key(),
            properties: message.properties(),
            body: message.body(),
        };
        let len = record::message_record_len(queues.len(), &parts) as u64;
        let mut log = self.log.lock();
        let mut at = log.active.end();
        if at > SEGMENT_MAGIC.len() as u64 && at + len > self.segment_size {
            self.roll(&mut log);
            at = log.active.end();
        }
        let msg_id = (u64::from(log.active.id) << 32) | at;
        let flags = if persistent { FLAG_PERSISTENT } else { 0 };
        record::encode_message(&mut log.active.buf, msg_id, flags, queues, &parts);
        log.appended += len;
        if persistent {
            log.sync_needed = log.appended;
        }
        let lsn = log.appended;
        {
            let mut segs = self.segs.lock();
            if let Some(info) = segs.segs.get_mut(&log.active.id) {
                info.live += queues.len() as u64;
                info.total += queues.len() as u64;
            }
        }
        let unwritten = log.unwritten_len();
        let big = unwritten > flusher::WRITE_EARLY;
        if unwritten > flusher::BEHIND_BYTES {
            self.behind.store(true, Ordering::Release);
        }
        drop(log);
        if persistent || big {
            self.wake.notify_one();
        }
        Appended {
            loc: StoreLoc::new(msg_id, at as u32, len as u32, persistent),
            lsn,
        }
    }

    /// Resolves once the writer has taken what was appended, if more than
    /// [`flusher::BEHIND_BYTES`] were waiting. A publishing connection awaits it before
    /// reading more, so paging faster than the disk writes pushes back on the publisher (TCP)
    /// instead of piling up in memory; publishers used to block on the log lock instead.
    pub async fn writer_caught_up(&self) {
        loop {
            let notified = self.caught_up.notified();
            if !self.behind.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }

    /// One queue's hold on a stored message (one of the `queues` given to append).
    pub fn make_ref(self: &Arc<Self>, loc: StoreLoc, queue_id: u32, durable: bool) -> StoreRef {
        StoreRef {
            store: Arc::clone(self),
            loc,
            queue_id,
            durable,
        }
    }

    /// Record a metadata change; synced with the next group commit. Replies to the method
    /// that made it wait for that sync (see [`Store::journaled`]). Only memory work: callers
    /// hold the vhost topology lock, so journal order is the order of the changes.
    pub fn journal(&self, record: &MetaRecord) {
        let mut encoded = Vec::new();
        meta::encode(&mut encoded, record);
        let mut log = self.log.lock();
        log.journal.extend_from_slice(&encoded);
        log.appended += encoded.len() as u64;
        log.sync_needed = log.appended;
        self.journaled.store(log.appended, Ordering::Release);
        drop(log);
        self.wake.notify_one();
    }

    /// Position of the latest journal record: a declare-ok, bind-ok or delete-ok goes out
    /// once the store has synced this far, so a durable object confirmed to a client
    /// survives a kill -9 (as in RabbitMQ).
    pub fn journaled(&self) -> u64 {
        self.journaled.load(Ordering::Acquire)
    }

    /// Persist delivery marks before the deliveries leave (a plain write survives kill -9):
    /// a message delivered but not acked comes back with redelivered set. The write runs on
    /// the blocking pool, so the runtime worker never waits for the disk.
    pub async fn write_marks(self: &Arc<Self>, marks: &[(u32, u64)]) {
        let Some(lsn) = self.note_marks(marks) else {
            return;
        };
        let store = Arc::clone(self);
        let _ = tokio::task::spawn_blocking(move || store.write_through(lsn)).await;
    }

    /// Append a marks record for the marks that moved; returns the log position to write
    /// out before the deliveries leave, None when no mark moved.
    pub fn note_marks(&self, marks: &[(u32, u64)]) -> Option<u64> {
        let mut log = self.log.lock();
        let mut changed = Vec::with_capacity(marks.len());
        for &(q, id) in marks {
            let cur = log.marks.entry(q).or_insert(0);
            if id > *cur {
                *cur = id;
                changed.push((q, id));
            }
        }
        if changed.is_empty() {
            return None;
        }
        let before = log.active.buf.len();
        record::encode_marks(&mut log.active.buf, &changed);
        log.appended += (log.active.buf.len() - before) as u64;
        Some(log.appended)
    }

    /// Blocking [`Store::write_marks`], for a thread that may wait for the disk.
    pub fn write_marks_blocking(&self, marks: &[(u32, u64)]) {
        if let Some(lsn) = self.note_marks(marks) {
            self.write_through(lsn);
        }
    }

    /// A durable queue was deleted: forget its mark.
    pub fn forget_queue(&self, queue_id: u32) {
        self.log.lock().marks.remove(&queue_id);
    }

    /// Read a stored message back (paged-out or recovered messages). Blocking: call it from
    /// the blocking pool (see `queue::backlog`), never from a runtime worker directly.
    pub fn read(&self, loc: &StoreLoc) -> Result<Arc<Message>, StoreError> {
        // At most twice: once the writer lock is ours, the bytes are in the writer's hands
        // or written.
        for _ in 0..2 {
            match self.unwritten_copy(loc)? {
                Unwritten::Copied(buf) => return decode_stored(Bytes::from(buf), loc.msg_id),
                Unwritten::InFile => break,
                Unwritten::BeingWritten => {
                    // Waits for the write in progress, if any (on the blocking pool).
                    let copied = self.writer.lock().copy(loc);
                    if let Some(buf) = copied {
                        return decode_stored(Bytes::from(buf), loc.msg_id);
                    }
                }
            }
        }
        let seg = loc.segment();
        let (file, offset) = self.reader(seg, loc)?;
        let mut buf = vec![0u8; loc.record_len() as usize];
        file.read_exact_at(&mut buf, u64::from(offset))
            .map_err(io_error(format!("reading segment {seg}")))?;
        decode_stored(Bytes::from(buf), loc.msg_id)
    }

    /// Read several stored messages back, in order (blocking: call it from the blocking
    /// pool). Records lying one after another in a segment's file are read with one call per
    /// run, so draining a backlog that lives on disk costs a read per run of messages rather
    /// than a lock round and a read per message; the messages of a run share its buffer.
    pub fn read_many(&self, locs: &[StoreLoc]) -> Vec<Result<Arc<Message>, StoreError>> {
        let mut out = Vec::with_capacity(locs.len());
        for (run, start, end) in runs(locs) {
            match self.read_run(run, start, end) {
                Some(messages) => out.extend(messages),
                None => out.extend(run.iter().map(|loc| self.read(loc))),
            }
        }
        out
    }

    /// [`Store::read_many`] for a caller that must not wait (a runtime worker): the messages
    /// if every record could be had without waiting for the disk, the writer or a file to
    /// open (from the log's buffers, or the page cache by `preadv2(RWF_NOWAIT)`); None
    /// otherwise, or if any record fails, and the caller reads them on the blocking pool.
    /// A backlog drained soon after it was written is read here, with no thread hand-off.
    pub fn read_many_cached(&self, locs: &[StoreLoc]) -> Option<Vec<Arc<Message>>> {
        let mut out = Vec::with_capacity(locs.len());
        for (run, start, end) in runs(locs) {
            out.extend(self.read_run_cached(run, start, end)?);
        }
        Some(out)
    }

    /// One run of adjacent records from its buffers or the page cache, or None.
    fn read_run_cached(&self, run: &[StoreLoc], start: u64, end: u64) -> Option<Vec<Arc<Message>>> {
        let first = run.first()?;
        let seg = first.segment();
        if (seg, end) > self.log.lock().written_to {
            // (Partly) still in the log's buffers: copies of those, or wait elsewhere.
            return run
                .iter()
                .map(|loc| match self.unwritten_copy(loc).ok()? {
                    Unwritten::Copied(buf) => decode_stored(Bytes::from(buf), loc.msg_id).ok(),
                    Unwritten::InFile | Unwritten::BeingWritten => None,
                })
                .collect();
        }
        let (file, offset) = self.open_reader(seg, first).ok()?;
        let file = file?;
        if offset != first.offset {
            return None; // moved by compaction
        }
        let mut buf = vec![0u8; (end - start) as usize];
        if !file.read_cached_at(&mut buf, start) {
            return None;
        }
        decode_run(Bytes::from(buf), run, start)
            .map(Result::ok)
            .collect()
    }

    /// One run of adjacent records, read with one call; None when the run is a single
    /// record, not all written to its file yet, moved by compaction, or the read fails (then
    /// each record is read on its own).
    fn read_run(
        &self,
        run: &[StoreLoc],
        start: u64,
        end: u64,
    ) -> Option<Vec<Result<Arc<Message>, StoreError>>> {
        let first = run.first()?;
        let seg = first.segment();
        if run.len() < 2 || (seg, end) > self.log.lock().written_to {
            return None;
        }
        let (file, offset) = self.reader(seg, first).ok()?;
        if offset != first.offset {
            return None;
        }
        let mut buf = vec![0u8; (end - start) as usize];
        // A failed read is tried again record by record, each reporting its own error.
        file.read_exact_at(&mut buf, start).ok()?;
        Some(decode_run(Bytes::from(buf), run, start).collect())
    }

    /// Where a record's bytes are: still in the log's buffers (copied), in its file, or
    /// with the writer.
    fn unwritten_copy(&self, loc: &StoreLoc) -> Result<Unwritten, StoreError> {
        let (seg, from) = (loc.segment(), u64::from(loc.offset));
        let to = from + u64::from(loc.record_len());
        let log = self.log.lock();
        let tail = log
            .sealed
            .iter()
            .chain(std::iter::once(&log.active))
            .find(|t| t.id == seg && t.at <= from);
        if let Some(t) = tail {
            let src = t.buf.get((from - t.at) as usize..(to - t.at) as usize);
            return src
                .map(|b| Unwritten::Copied(b.to_vec()))
                .ok_or(StoreError::Damaged {
                    msg_id: loc.msg_id,
                    reason: RecordError::Truncated {
                        have: (t.end() - from) as usize,
                        need: loc.record_len() as usize,
                    },
                });
        }
        Ok(if (seg, to) <= log.written_to {
            Unwritten::InFile
        } else {
            Unwritten::BeingWritten
        })
    }

    /// A segment's file and where a record is in it (records move when compacted). The
    /// file is opened with no lock held; at most [`handles::READERS_OPEN_MAX`] stay open.
    fn reader(&self, seg: u32, loc: &StoreLoc) -> Result<(Arc<dyn StoreFile>, u32), StoreError> {
        if let (Some(f), offset) = self.open_reader(seg, loc)? {
            return Ok((f, offset));
        }
        let path = segment_path(&self.msgs_dir, seg);
        let opened = self
            .fs
            .open(&path, OpenMode::Read)
            .map_err(io_error(format!("opening {}", path.display())))?;
        let mut segs = self.segs.lock();
        // Compaction may have installed its copy meanwhile: then its file and offsets count.
        let (cached, offset) = find_reader(&mut segs, seg, loc)?;
        if let Some(f) = cached {
            return Ok((f, offset));
        }
        segs.keep_open(Handle::Reader, seg, Arc::clone(&opened));
        Ok((opened, offset))
    }

    /// A segment's reader if it is open already, and where a record is in it.
    fn open_reader(
        &self,
        seg: u32,
        loc: &StoreLoc,
    ) -> Result<(Option<Arc<dyn StoreFile>>, u32), StoreError> {
        find_reader(&mut self.segs.lock(), seg, loc)
    }

    fn release(&self, loc: &StoreLoc, queue_id: u32) {
        if self.closing.load(Ordering::Acquire) {
            // Shutting down: what is still held stays stored.
            return;
        }
        let seg = loc.segment();
        let mut segs = self.segs.lock();
        let Some(info) = segs.segs.get_mut(&seg) else {
            return;
        };
        // Every release is recorded: recovery needs it for durable queues, compaction to
        // know which records are still live.
        record::encode_ack(&mut info.acks, loc.msg_id, queue_id);
        debug_assert!(info.live > 0, "segment {seg}: more releases than holds");
        info.live = info.live.saturating_sub(1);
        if info.live == 0 && seg != self.active_id.load(Ordering::Acquire) {
            segs.segs.remove(&seg);
            segs.doomed.push(seg);
        }
    }

    /// Start a new segment, in memory only: the writer creates its file when it first
    /// writes to it. The new segment restates the delivery marks.
    fn roll(&self, log: &mut LogState) {
        let Some(next) = log.active.id.checked_add(1) else {
            // 2^32 segments (256 PiB at the default size), or a data directory crafted to
            // start at the last id: appending on would overflow record offsets. Stop.
            tracing::error!("store: segment ids exhausted; stopping");
            std::process::abort();
        };
        let mut buf = std::mem::take(&mut log.spare);
        debug_assert!(buf.is_empty(), "spare buffers come back empty");
        buf.extend_from_slice(SEGMENT_MAGIC);
        let marks: Vec<(u32, u64)> = log.marks.iter().map(|(q, m)| (*q, *m)).collect();
        if !marks.is_empty() {
            record::encode_marks(&mut buf, &marks);
        }
        log.appended += buf.len() as u64;
        let old = std::mem::replace(
            &mut log.active,
            Tail {
                id: next,
                at: 0,
                buf,
            },
        );
        let old_id = old.id;
        if !old.buf.is_empty() {
            log.sealed.push(old);
        }
        self.active_id.store(next, Ordering::Release);
        let mut segs = self.segs.lock();
        segs.segs.insert(next, SegInfo::default());
        if segs.segs.get(&old_id).is_some_and(|i| i.live == 0) {
            segs.segs.remove(&old_id);
            segs.doomed.push(old_id);
        }
    }

    /// Stop: write and sync everything, then ignore releases (what is held stays stored).
    pub fn close(&self) {
        *self.compactor_stop.lock() = true;
        self.compactor_wake.notify_all();
        let compactor = self.compactor.lock().take();
        if let Some(handle) = compactor {
            let _ = handle.join();
        }
        self.closing.store(true, Ordering::Release);
        self.wake.notify_all();
        let flusher = self.flusher.lock().take();
        if let Some(handle) = flusher {
            let _ = handle.join();
        }
    }
}

/// Where [`Store::read`] finds a record's bytes.
enum Unwritten {
    Copied(Vec<u8>),
    InFile,
    BeingWritten,
}

/// A segment's open reader, if any (marked as used), and where a record is in its file.
fn find_reader(
    segs: &mut SegState,
    seg: u32,
    loc: &StoreLoc,
) -> Result<(Option<Arc<dyn StoreFile>>, u32), StoreError> {
    let info = segs.segs.get(&seg).ok_or(StoreError::SegmentGone(seg))?;
    let offset = info
        .relocated
        .get(&loc.msg_id)
        .copied()
        .unwrap_or(loc.offset);
    let reader = info.reader.clone();
    if reader.is_some() {
        segs.touch(Handle::Reader, seg);
    }
    Ok((reader, offset))
}

/// `locs` cut into runs of records lying one after another in one segment's file (at most
/// [`READ_RUN_MAX_BYTES`] each), with each run's start and end offsets.
fn runs(locs: &[StoreLoc]) -> impl Iterator<Item = (&[StoreLoc], u64, u64)> {
    let mut i = 0;
    std::iter::from_fn(move || {
        let first = *locs.get(i)?;
        let start = u64::from(first.offset);
        let mut end = start + u64::from(first.record_len());
        let mut j = i + 1;
        while j < locs.len()
            && locs[j].segment() == first.segment()
            && u64::from(locs[j].offset) == end
            && end - start < READ_RUN_MAX_BYTES
        {
            end += u64::from(locs[j].record_len());
            j += 1;
        }
        let run = &locs[i..j];
        i = j;
        Some((run, start, end))
    })
}

/// The messages of a run of adjacent records read into `buf` from file offset `start`
/// (each shares `buf`).
fn decode_run(
    buf: Bytes,
    run: &[StoreLoc],
    start: u64,
) -> impl Iterator<Item = Result<Arc<Message>, StoreError>> + '_ {
    run.iter().map(move |loc| {
        let at = (u64::from(loc.offset) - start) as usize;
        decode_stored(buf.slice(at..at + loc.record_len() as usize), loc.msg_id)
    })
}

/// Decode a message record read back for delivery, checking it is the one we asked for.
fn decode_stored(buf: Bytes, msg_id: u64) -> Result<Arc<Message>, StoreError> {
    let damaged = |reason| StoreError::Damaged { msg_id, reason };
    let (rec, _) = record::decode(&buf).map_err(damaged)?;
    let Record::Message(m) = rec else {
        return Err(damaged(RecordError::Malformed));
    };
    if m.msg_id != msg_id {
        return Err(damaged(RecordError::Malformed));
    }
    Message::from_stored(m.data, m.exchange_len, m.routing_key_len, m.properties_len)
        .map(Arc::new)
        .ok_or(damaged(RecordError::Malformed))
}

/// Wall-clock ms since the Unix epoch: a persistent record's publish time, and the clock
/// message TTL deadlines are kept in.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
