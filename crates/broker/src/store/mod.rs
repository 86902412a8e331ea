//! The message store: append-only segment files holding persistent messages (once, however
//! many queues they reach) and paged-out copies of messages beyond the memory budget, plus
//! the metadata journal. docs/storage.md has the on-disk layout and the recovery rules.
//!
//! Writers append records into an in-memory buffer under a short lock; one flusher thread
//! writes the buffer out and fdatasyncs (group commit), then publishes the synced position so
//! confirms and tx.commit-ok go out only for what is on disk. Every queue's hold on a stored
//! message is a [`StoreRef`]; when the last one for a segment goes, the segment is deleted.

mod compact;
mod flusher;
pub mod io;
pub mod meta;
pub mod record;
pub mod recovery;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use bytes::Bytes;
use parking_lot::{Condvar, Mutex};

use crate::message::Message;
use io::{write_all_at, OpenMode, StoreFile, StoreFs};
use meta::MetaRecord;
use record::{MessageParts, Record, RecordError, FLAG_PERSISTENT, SEGMENT_MAGIC};
pub use recovery::{check, check_in, Recovered};

/// Where to keep data and how much message data may stay in memory.
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

/// The active segment and everything not yet written out.
struct LogState {
    active_id: u32,
    active: Arc<dyn StoreFile>,
    /// Bytes of the active segment already written to its file.
    written: u64,
    /// Bytes appended after `written`, waiting for the flusher.
    pending: Vec<u8>,
    /// Total bytes ever appended (segments and journal): positions for group commit.
    appended: u64,
    /// Position up to which an fdatasync is owed (persistent records, journal records).
    sync_needed: u64,
    /// Segments rolled since the last sync; they are synced before the position advances.
    unsynced: Vec<Arc<dyn StoreFile>>,
    /// A segment file was created: the directory needs a sync too.
    dir_dirty: bool,
    journal: Arc<dyn StoreFile>,
    journal_written: u64,
    journal_pending: Vec<u8>,
    /// Per durable queue, the highest msg_id delivered from it (restated in every segment).
    marks: HashMap<u32, u64>,
    write_error_logged: bool,
}

/// Per-segment reference counts and the ack entries waiting to be written.
#[derive(Default)]
struct SegState {
    segs: BTreeMap<u32, SegInfo>,
    /// Segments nobody references: deleted by the flusher once the journal is synced.
    doomed: Vec<u32>,
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
    reader: Option<Arc<dyn StoreFile>>,
}

pub struct Store {
    fs: Arc<dyn StoreFs>,
    dir: PathBuf,
    msgs_dir: PathBuf,
    segment_size: u64,
    memory_budget: usize,
    log: Mutex<LogState>,
    wake: Condvar,
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
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// True when message data in memory exceeds the budget: new messages go to disk only.
    pub fn over_budget(&self) -> bool {
        crate::message::memory_in_use() > self.memory_budget
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
            exchange: message.exchange(),
            routing_key: message.routing_key(),
            properties: message.properties(),
            body: message.body(),
        };
        let len = record::message_record_len(queues.len(), &parts) as u64;
        let mut log = self.log.lock();
        let mut at = log.written + log.pending.len() as u64;
        if at > SEGMENT_MAGIC.len() as u64 && at + len > self.segment_size {
            self.roll(&mut log);
            at = log.written + log.pending.len() as u64;
        }
        let msg_id = (u64::from(log.active_id) << 32) | at;
        let flags = if persistent { FLAG_PERSISTENT } else { 0 };
        record::encode_message(&mut log.pending, msg_id, flags, queues, &parts);
        log.appended += len;
        if persistent {
            log.sync_needed = log.appended;
        }
        let lsn = log.appended;
        {
            let mut segs = self.segs.lock();
            if let Some(info) = segs.segs.get_mut(&log.active_id) {
                info.live += queues.len() as u64;
                info.total += queues.len() as u64;
            }
        }
        let big = log.pending.len() > flusher::WRITE_EARLY;
        drop(log);
        if persistent || big {
            self.wake.notify_one();
        }
        Appended {
            loc: StoreLoc::new(msg_id, at as u32, len as u32, persistent),
            lsn,
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
    /// that made it wait for that sync (see [`Store::journaled`]).
    pub fn journal(&self, record: &MetaRecord) {
        let mut log = self.log.lock();
        let before = log.journal_pending.len();
        meta::encode(&mut log.journal_pending, record);
        log.appended += (log.journal_pending.len() - before) as u64;
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
    /// a message delivered but not acked comes back with redelivered set.
    pub fn write_marks(&self, marks: &[(u32, u64)]) {
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
            return;
        }
        record::encode_marks(&mut log.pending, &changed);
        self.write_out(&mut log);
    }

    /// A durable queue was deleted: forget its mark.
    pub fn forget_queue(&self, queue_id: u32) {
        self.log.lock().marks.remove(&queue_id);
    }

    /// Read a stored message back (paged-out or recovered messages).
    pub fn read(&self, loc: &StoreLoc) -> Result<Arc<Message>, StoreError> {
        let seg = loc.segment();
        let len = loc.record_len() as usize;
        let mut buf = vec![0u8; len];
        let file = {
            let log = self.log.lock();
            if seg != log.active_id {
                None
            } else if u64::from(loc.offset) < log.written {
                Some((Arc::clone(&log.active), loc.offset))
            } else {
                // Not written out yet: copy it from the pending buffer.
                let from = (u64::from(loc.offset) - log.written) as usize;
                let src = log
                    .pending
                    .get(from..from + len)
                    .ok_or(StoreError::Damaged {
                        msg_id: loc.msg_id,
                        reason: RecordError::Truncated {
                            have: log.pending.len().saturating_sub(from),
                            need: len,
                        },
                    })?;
                buf.copy_from_slice(src);
                drop(log);
                return decode_stored(Bytes::from(buf), loc.msg_id);
            }
        };
        let (file, offset) = match file {
            Some(f) => f,
            None => self.reader(seg, loc)?,
        };
        file.read_exact_at(&mut buf, u64::from(offset))
            .map_err(io_error(format!("reading segment {seg}")))?;
        decode_stored(Bytes::from(buf), loc.msg_id)
    }

    /// A sealed segment's file and where a record is in it (records move when compacted).
    fn reader(&self, seg: u32, loc: &StoreLoc) -> Result<(Arc<dyn StoreFile>, u32), StoreError> {
        let mut segs = self.segs.lock();
        let info = segs
            .segs
            .get_mut(&seg)
            .ok_or(StoreError::SegmentGone(seg))?;
        let offset = info
            .relocated
            .get(&loc.msg_id)
            .copied()
            .unwrap_or(loc.offset);
        if let Some(f) = &info.reader {
            return Ok((Arc::clone(f), offset));
        }
        let path = segment_path(&self.msgs_dir, seg);
        let f = self
            .fs
            .open(&path, OpenMode::Read)
            .map_err(io_error(format!("opening {}", path.display())))?;
        info.reader = Some(Arc::clone(&f));
        Ok((f, offset))
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
        info.live = info.live.saturating_sub(1);
        if info.live == 0 && seg != self.active_id.load(Ordering::Acquire) {
            segs.segs.remove(&seg);
            segs.doomed.push(seg);
        }
    }

    /// Start a new segment: write out the current one and restate the delivery marks.
    fn roll(&self, log: &mut LogState) {
        self.write_out(log);
        if !log.pending.is_empty() {
            // The old segment could not be written completely; keep appending to it rather
            // than lose records (the flusher keeps retrying).
            return;
        }
        let next = log.active_id + 1;
        let path = segment_path(&self.msgs_dir, next);
        let file = match self.fs.open(&path, OpenMode::CreateNew) {
            Ok(f) => f,
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "cannot create segment");
                return;
            }
        };
        let old = std::mem::replace(&mut log.active, file);
        log.unsynced.push(old);
        let old_id = log.active_id;
        log.active_id = next;
        log.written = 0;
        log.dir_dirty = true;
        log.pending.extend_from_slice(SEGMENT_MAGIC);
        let marks: Vec<(u32, u64)> = log.marks.iter().map(|(q, m)| (*q, *m)).collect();
        if !marks.is_empty() {
            record::encode_marks(&mut log.pending, &marks);
        }
        self.active_id.store(next, Ordering::Release);
        let mut segs = self.segs.lock();
        segs.segs.insert(next, SegInfo::default());
        if segs.segs.get(&old_id).is_some_and(|i| i.live == 0) {
            segs.segs.remove(&old_id);
            segs.doomed.push(old_id);
        }
    }

    /// Write pending bytes to the active segment. On error the unwritten rest stays pending
    /// (the file only ever holds a prefix of what was appended) and is retried later.
    fn write_out(&self, log: &mut LogState) {
        let (written, err) = write_all_at(&*log.active, &log.pending, log.written);
        log.written += written as u64;
        log.pending.drain(..written);
        let (jw, jerr) = write_all_at(&*log.journal, &log.journal_pending, log.journal_written);
        log.journal_written += jw as u64;
        log.journal_pending.drain(..jw);
        match err.or(jerr) {
            Some(e) if !log.write_error_logged => {
                tracing::error!(error = %e, "store write failed; retrying");
                log.write_error_logged = true;
            }
            Some(_) => {}
            None => log.write_error_logged = false,
        }
    }

    /// Stop: write and sync everything, then ignore releases (what is held stays stored).
    pub fn close(&self) {
        *self.compactor_stop.lock() = true;
        self.compactor_wake.notify_all();
        if let Some(handle) = self.compactor.lock().take() {
            let _ = handle.join();
        }
        self.closing.store(true, Ordering::Release);
        self.wake.notify_all();
        if let Some(handle) = self.flusher.lock().take() {
            let _ = handle.join();
        }
    }
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
