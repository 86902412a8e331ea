//! Start-up: read the journal and the segments back, drop what is torn or damaged (and say
//! so), rebuild each durable queue's messages, delete segments nobody needs. Also the offline
//! consistency check behind `warren check-store`.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

use super::io::{write_all_at, OpenMode, OsFs, StoreFs};
use super::meta::{self, MetaModel};
use super::record::{self, Record, ACK_ENTRY, FLAG_PERSISTENT, SEGMENT_MAGIC};
use super::segment_scan::{read_acks, read_file, scan};
use super::{
    ack_path, io_error, segment_path, LogState, SegInfo, SegState, Store, StoreConfig, StoreError,
    StoreLoc, Tail, Writer,
};

const JOURNAL: &str = "meta.log";
const JOURNAL_NEW: &str = "meta.log.new";

/// What start-up found on disk.
#[derive(Debug, Default)]
pub struct Recovered {
    pub meta: MetaModel,
    /// No journal existed: a fresh data directory (defaults are created).
    pub first_boot: bool,
    /// Per durable queue id: its messages in order.
    pub messages: HashMap<u32, Vec<RecoveredMessage>>,
}

/// A message a durable queue held, with what its queue needs to know of it without reading
/// it back: its place in the order of delivery (priority) and of expiry (TTL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveredMessage {
    pub loc: StoreLoc,
    /// Delivered before the restart (a delivery mark covers it).
    pub redelivered: bool,
    /// Its `priority` property (0 without one).
    pub priority: u8,
    /// Its body size.
    pub body_bytes: u32,
    /// Its `expiration` property, in ms (validated when it was published).
    pub expiration_ms: Option<u64>,
    /// When it was published (None for records written before publish times were kept).
    pub published_at_ms: Option<u64>,
}

impl RecoveredMessage {
    fn of(loc: StoreLoc, m: &crate::record::StoredMessage) -> Self {
        let heads = usize::from(m.exchange_len) + usize::from(m.routing_key_len);
        let props = m
            .data
            .get(heads..heads + m.properties_len as usize)
            .unwrap_or_default();
        let view = warren_codec::content::PropertiesView::parse(props).unwrap_or_default();
        let expiration_ms = view
            .expiration
            .and_then(|span| std::str::from_utf8(span.of(props)).ok()?.parse().ok());
        let body_bytes = m
            .data
            .len()
            .saturating_sub(heads + m.properties_len as usize);
        RecoveredMessage {
            loc,
            redelivered: false,
            priority: view.priority.unwrap_or(0),
            body_bytes: u32::try_from(body_bytes).unwrap_or(u32::MAX),
            expiration_ms,
            published_at_ms: m.published_at_ms,
        }
    }
}

/// Segment ids present in a messages directory, ascending.
fn segment_ids(fs: &dyn StoreFs, msgs_dir: &Path, ext: &str) -> Vec<u32> {
    let mut ids: Vec<u32> = fs
        .list(msgs_dir)
        .unwrap_or_default()
        .iter()
        .filter_map(|name| name.strip_suffix(ext)?.parse().ok())
        .collect();
    ids.sort_unstable();
    ids
}

fn next_id(last: u32, what: &str) -> Result<u32, StoreError> {
    last.checked_add(1).ok_or_else(|| StoreError::Io {
        context: format!("choosing the next {what} id"),
        source: std::io::Error::other(format!("{what} id {last} is the largest there is")),
    })
}

impl Store {
    /// Open (or create) the store in `cfg.dir` and recover what it holds. The caller
    /// re-declares `Recovered::meta` through the normal paths, which journals it afresh, then
    /// calls [`Store::commit_journal`].
    pub fn open(cfg: StoreConfig) -> Result<(Arc<Store>, Recovered), StoreError> {
        let started = Instant::now();
        let fs = &*cfg.fs;
        let msgs_dir = cfg.dir.join("msgs");
        fs.create_dir_all(&msgs_dir)
            .map_err(io_error(format!("creating {}", msgs_dir.display())))?;
        let journal_path = cfg.dir.join(JOURNAL);
        let mut recovered = Recovered::default();
        match fs.read(&journal_path) {
            Ok(data) => {
                let (records, dropped) = meta::decode_all(&data);
                if dropped > 0 {
                    tracing::warn!(
                        bytes = dropped,
                        "metadata journal: dropped a torn or damaged tail"
                    );
                }
                recovered.meta = MetaModel::replay(records);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => recovered.first_boot = true,
            Err(e) => return Err(io_error(format!("reading {}", journal_path.display()))(e)),
        }
        let live_queues: HashSet<u32> = recovered.meta.queue_ids().collect();

        // A compaction cut short by a crash leaves its unfinished copy behind.
        for name in fs.list(&msgs_dir).unwrap_or_default() {
            if name.ends_with(".compact") {
                let _ = fs.remove(&msgs_dir.join(name));
            }
        }
        // Ack files whose segment is gone (deleted just before a crash) mean nothing.
        let seg_ids = segment_ids(fs, &msgs_dir, ".seg");
        for id in segment_ids(fs, &msgs_dir, ".ack") {
            if seg_ids.binary_search(&id).is_err() {
                // Must go: a new segment may take this id, and these entries would hide
                // its records at the next recovery.
                let path = ack_path(&msgs_dir, id);
                fs.remove(&path)
                    .map_err(super::io_error(format!("remove {}", path.display())))?;
            }
        }

        let mut segs = SegState::default();
        let mut marks: HashMap<u32, u64> = HashMap::new();
        // Ids ever used by records, so no new queue takes the id of one they name.
        let mut max_queue_id = recovered.meta.max_queue_id;
        let mut unneeded = Vec::new();
        let mut total = 0u64;
        for &id in &seg_ids {
            let path = segment_path(&msgs_dir, id);
            let data = read_file(fs, &path)?;
            let acked = read_acks(fs, &ack_path(&msgs_dir, id));
            let mut live = 0u64;
            let result = scan(id, &data, |rec, at, len| {
                if let Record::Message(m) = &rec {
                    let highest = m.queues.iter().copied().max().unwrap_or(0);
                    max_queue_id = max_queue_id.max(highest);
                }
                match rec {
                    Record::Message(m) if m.flags & FLAG_PERSISTENT != 0 => {
                        let loc = StoreLoc::new(m.msg_id, at as u32, len as u32, true);
                        let facts = RecoveredMessage::of(loc, &m);
                        for &q in &m.queues {
                            if live_queues.contains(&q) && !acked.contains(&(m.msg_id, q)) {
                                recovered.messages.entry(q).or_default().push(facts);
                                live += 1;
                            }
                        }
                    }
                    Record::Message(_) => {}
                    Record::Marks(list) => {
                        for (q, m) in list {
                            let cur = marks.entry(q).or_insert(0);
                            *cur = (*cur).max(m);
                        }
                    }
                }
            });
            for d in &result.dropped {
                tracing::warn!(
                    segment = %path.display(),
                    offset = d.offset,
                    bytes = d.len,
                    reason = %d.reason,
                    "store: dropped damaged or torn data"
                );
            }
            if let (Some(end), true) = (result.torn_from, Some(&id) == seg_ids.last()) {
                // A torn write at the newest segment's end: cut it so it is not reported
                // again. Damage anywhere else is left for a person to look at.
                if let Ok(f) = fs.open(&path, OpenMode::Write) {
                    let _ = f.set_len(end as u64);
                }
            }
            total += live;
            if live == 0 {
                unneeded.push(id);
            } else {
                segs.segs.insert(
                    id,
                    SegInfo {
                        live,
                        total: live,
                        ..SegInfo::default()
                    },
                );
            }
        }
        marks.retain(|q, _| live_queues.contains(q));
        for (q, list) in recovered.messages.iter_mut() {
            let mark = marks.get(q).copied().unwrap_or(0);
            for m in list.iter_mut() {
                m.redelivered = m.loc.msg_id <= mark;
            }
        }

        // Ids are u32s: a directory naming the largest one (damaged, or made by hand) is
        // refused rather than wrapped around onto ids in use.
        let active_id = next_id(seg_ids.last().copied().unwrap_or(0), "segment")?;
        let next_queue_id = next_id(max_queue_id, "queue")?;
        let active_path = segment_path(&msgs_dir, active_id);
        let active = fs
            .open(&active_path, OpenMode::CreateNew)
            .map_err(io_error(format!("creating {}", active_path.display())))?;
        segs.segs.insert(active_id, SegInfo::default());
        let mut pending = SEGMENT_MAGIC.to_vec();
        // The new segment's bytes are written here, before any thread runs.
        let mark_list: Vec<(u32, u64)> = marks.iter().map(|(q, m)| (*q, *m)).collect();
        if !mark_list.is_empty() {
            record::encode_marks(&mut pending, &mark_list);
        }
        // The marks are restated in the new segment before the old ones holding them go.
        if let (_, Some(e)) = write_all_at(&*active, &pending, 0) {
            return Err(io_error(format!("writing {}", active_path.display()))(e));
        }
        active
            .sync_data()
            .map_err(io_error("syncing the new segment"))?;
        for id in unneeded {
            super::delete_segment(fs, &msgs_dir, id);
        }
        let journal_new = cfg.dir.join(JOURNAL_NEW);
        let journal = fs
            .open(&journal_new, OpenMode::Truncate)
            .map_err(io_error(format!("creating {}", journal_new.display())))?;

        let (synced_tx, _) = tokio::sync::watch::channel(0);
        let store = Arc::new(Store {
            fs: Arc::clone(&cfg.fs),
            dir: cfg.dir.clone(),
            msgs_dir,
            segment_size: cfg.segment_size.max(64 << 10),
            memory_budget: cfg.memory_budget,
            queue_memory_bytes: AtomicU64::new(crate::QUEUE_MEMORY_BYTES_DEFAULT),
            log: Mutex::new(LogState {
                active: Tail {
                    id: active_id,
                    at: pending.len() as u64,
                    buf: Vec::new(),
                },
                sealed: Vec::new(),
                written_to: (active_id, pending.len() as u64),
                journal: Vec::new(),
                appended: 0,
                sync_needed: 0,
                unsynced: Vec::new(),
                dir_dirty: true,
                marks,
                spare: Vec::new(),
            }),
            wake: Condvar::new(),
            writer: Mutex::new(Writer::new(active_id, active)),
            behind: AtomicBool::new(false),
            caught_up: tokio::sync::Notify::new(),
            journal,
            segs: Mutex::new(segs),
            active_id: AtomicU32::new(active_id),
            synced: AtomicU64::new(0),
            journaled: AtomicU64::new(0),
            synced_tx,
            next_queue_id: AtomicU32::new(next_queue_id),
            closing: AtomicBool::new(false),
            flusher: Mutex::new(None),
            compactor: Mutex::new(None),
            compactor_stop: Mutex::new(false),
            compactor_wake: Condvar::new(),
            boot_segment: active_id,
            recovered_queues: recovered.messages.keys().copied().collect(),
        });
        Store::start_threads(&store)?;
        tracing::info!(
            "recovered {total} messages in {} queues from {} segments in {} ms",
            recovered.messages.len(),
            seg_ids.len(),
            started.elapsed().as_millis()
        );
        Ok((store, recovered))
    }

    /// Make the journal written since [`Store::open`] (a compact restatement of everything
    /// recovered, plus changes since) the current one.
    pub fn commit_journal(&self) -> Result<(), StoreError> {
        {
            let mut w = self.writer.lock();
            self.write_round(&mut w);
            if !w.journal_is_written() {
                // Renaming an incomplete restatement over the old journal would lose metadata.
                return Err(StoreError::Io {
                    context: "writing the journal".into(),
                    source: std::io::Error::other("incomplete write"),
                });
            }
        }
        self.journal
            .sync_data()
            .map_err(io_error("syncing the journal"))?;
        self.fs
            .rename(&self.dir.join(JOURNAL_NEW), &self.dir.join(JOURNAL))
            .map_err(io_error("replacing the journal"))?;
        self.fs
            .sync_dir(&self.dir)
            .map_err(io_error("syncing the data directory"))
    }
}

/// What `warren check-store` reports for a consistent store.
#[derive(Debug, Default, serde::Serialize)]
pub struct CheckReport {
    pub segments: usize,
    pub records: u64,
    pub messages: u64,
    pub persistent_messages: u64,
    pub acks: u64,
    pub journal_records: usize,
    pub journal_torn_bytes: usize,
    pub torn_tail_bytes: usize,
}

/// Check a (stopped) broker's data directory: every record intact except a torn tail in the
/// newest segment, every ack entry naming a message of its segment. Read-only.
pub fn check(dir: &Path) -> Result<CheckReport, String> {
    check_in(&OsFs, dir)
}

/// [`check`] through any file system.
pub fn check_in(fs: &dyn StoreFs, dir: &Path) -> Result<CheckReport, String> {
    let mut report = CheckReport::default();
    match fs.read(&dir.join(JOURNAL)) {
        Ok(data) => {
            let (records, torn) = meta::decode_all(&data);
            report.journal_records = records.len();
            report.journal_torn_bytes = torn;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot read the journal: {e}")),
    }
    let msgs_dir = dir.join("msgs");
    let ids = segment_ids(fs, &msgs_dir, ".seg");
    report.segments = ids.len();
    for (i, &id) in ids.iter().enumerate() {
        let newest = i + 1 == ids.len();
        let path = segment_path(&msgs_dir, id);
        let data = read_file(fs, &path).map_err(|e| e.to_string())?;
        let mut messages: HashMap<u64, Vec<u32>> = HashMap::new();
        let result = scan(id, &data, |rec, _, _| {
            report.records += 1;
            if let Record::Message(m) = rec {
                report.messages += 1;
                if m.flags & FLAG_PERSISTENT != 0 {
                    report.persistent_messages += 1;
                }
                messages.insert(m.msg_id, m.queues);
            }
        });
        let intact_end = result.torn_from.unwrap_or(data.len());
        for d in &result.dropped {
            let is_tail = Some(d.offset) == result.torn_from;
            if !(newest && is_tail) {
                return Err(format!(
                    "segment {}: {} damaged bytes at offset {} ({})",
                    path.display(),
                    d.len,
                    d.offset,
                    d.reason
                ));
            }
            report.torn_tail_bytes += d.len;
        }
        let acks = fs.read(&ack_path(&msgs_dir, id)).unwrap_or_default();
        let whole = acks.len() - acks.len() % ACK_ENTRY;
        for (n, entry) in acks[..whole].chunks_exact(ACK_ENTRY).enumerate() {
            let last = (n + 1) * ACK_ENTRY == whole;
            let Some((msg_id, queue)) = record::decode_ack(entry) else {
                if last {
                    continue;
                }
                return Err(format!("segment {id}: damaged ack entry {n}"));
            };
            report.acks += 1;
            let named = match messages.get(&msg_id) {
                Some(holders) => holders.contains(&queue),
                // Compaction drops released records and leaves their ack entries.
                None => result.compacted,
            };
            // An ack may reach the file before its message when both were written in the
            // last moments before a kill: only possible past the newest segment's end.
            let unwritten = newest && (msg_id & 0xffff_ffff) as usize >= intact_end;
            if (msg_id >> 32) as u32 != id || !(named || unwritten) {
                return Err(format!(
                    "segment {id}: ack entry {n} names message {msg_id:#x} of queue {queue}, which it does not hold"
                ));
            }
        }
    }
    Ok(report)
}
