//! The writer: moves appended bytes from the log's buffers into the segment files and the
//! journal. Whoever writes (the flusher thread, or a blocking-pool task writing delivery
//! marks) holds [`Store::writer`]; it takes the log lock only to swap the buffers out and to
//! record what was written, so appenders never wait for the disk. Nothing on a runtime worker
//! takes the writer lock.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::io::{write_all_at, OpenMode, StoreFile};
use super::{segment_path, Store, StoreLoc, Tail};

/// State only the holder of [`Store::writer`] touches.
pub(super) struct Writer {
    /// Bytes taken from the log and not yet in their files, in log order. A failed write
    /// leaves its chunk here whole, to be written again from its start: positioned writes
    /// make that harmless, and a file only ever holds a prefix of what was appended to it.
    chunks: VecDeque<Tail>,
    journal: Vec<u8>,
    /// Bytes of the journal file written.
    journal_at: u64,
    /// Segment files that may still be written to (the frontier's and later ones).
    files: BTreeMap<u32, Arc<dyn StoreFile>>,
    /// Log position up to which everything is in its file.
    written_lsn: u64,
    error_logged: bool,
}

/// What one round of writing achieved.
pub(super) struct Round {
    /// Everything taken was written.
    pub complete: bool,
    /// Sync position owed when the round took the buffers: covered once `complete`.
    pub need: u64,
}

/// Buffers above this are not kept for reuse.
const SPARE_MAX: usize = 8 << 20;

impl Writer {
    /// The writer of a store whose active segment is `file`, `active` its id.
    pub(super) fn new(active: u32, file: Arc<dyn StoreFile>) -> Self {
        Self {
            chunks: VecDeque::new(),
            journal: Vec::new(),
            journal_at: 0,
            files: BTreeMap::from([(active, file)]),
            written_lsn: 0,
            error_logged: false,
        }
    }

    /// Nothing taken is left unwritten.
    pub(super) fn is_idle(&self) -> bool {
        self.chunks.is_empty() && self.journal.is_empty()
    }

    pub(super) fn journal_is_written(&self) -> bool {
        self.journal.is_empty()
    }

    /// A copy of a record the writer holds (taken from the log, not yet written).
    pub(super) fn copy(&self, loc: &StoreLoc) -> Option<Vec<u8>> {
        let from = u64::from(loc.offset);
        let to = from + u64::from(loc.record_len());
        self.chunks
            .iter()
            .find(|c| c.id == loc.segment() && c.at <= from && to <= c.end())
            .map(|c| c.buf[(from - c.at) as usize..(to - c.at) as usize].to_vec())
    }
}

impl Store {
    /// Take everything appended so far and write it out (holding `w`, not the log lock).
    pub(super) fn write_round(&self, w: &mut Writer) -> Round {
        let (need, covered) = self.take_pending(w);
        let mut touched: Vec<(u32, Arc<dyn StoreFile>)> = Vec::new();
        let mut spare = Vec::new();
        let mut created = false;
        let mut frontier = None;
        let mut error = None;
        while let Some(chunk) = w.chunks.front() {
            let file = match w.files.get(&chunk.id) {
                Some(f) => Arc::clone(f),
                None => {
                    let path = segment_path(&self.msgs_dir, chunk.id);
                    match self.fs.open(&path, OpenMode::CreateNew) {
                        Ok(f) => {
                            created = true;
                            w.files.insert(chunk.id, Arc::clone(&f));
                            f
                        }
                        Err(e) => {
                            error = Some(e);
                            break;
                        }
                    }
                }
            };
            let (_, e) = write_all_at(&*file, &chunk.buf, chunk.at);
            if !touched.iter().any(|(id, _)| *id == chunk.id) {
                touched.push((chunk.id, file));
            }
            if let Some(e) = e {
                error = Some(e);
                break;
            }
            frontier = Some((chunk.id, chunk.end()));
            let mut done = w.chunks.pop_front().expect("a chunk was in front");
            if done.buf.capacity() > spare.capacity() && done.buf.capacity() <= SPARE_MAX {
                done.buf.clear();
                spare = done.buf;
            }
        }
        if !w.journal.is_empty() {
            match write_all_at(&*self.journal, &w.journal, w.journal_at) {
                (n, None) => {
                    w.journal_at += n as u64;
                    w.journal.clear();
                }
                (_, Some(e)) => error = error.or(Some(e)),
            }
        }
        let complete = w.is_idle();
        if complete {
            w.written_lsn = w.written_lsn.max(covered);
        }
        if let Some((id, _)) = frontier {
            // Segments before the frontier are complete: never written again.
            w.files.retain(|f, _| *f >= id);
        }
        self.record_written(frontier, touched, created, spare);
        match error {
            Some(e) if !w.error_logged => {
                tracing::error!(error = %e, "store write failed; retrying");
                w.error_logged = true;
            }
            Some(_) => {}
            None => w.error_logged = false,
        }
        Round { complete, need }
    }

    /// Move the log's buffers to the writer; returns the sync position owed and the log
    /// position they reach.
    fn take_pending(&self, w: &mut Writer) -> (u64, u64) {
        // Chunks left from a failed round mean the disk is not keeping up at all: publishers
        // stay paused (memory stays bounded) until a round writes everything.
        let caught_up = w.chunks.is_empty();
        let mut log = self.log.lock();
        w.chunks.extend(log.sealed.drain(..));
        if !log.active.buf.is_empty() {
            let spare = std::mem::take(&mut log.spare);
            let buf = std::mem::replace(&mut log.active.buf, spare);
            let chunk = Tail {
                id: log.active.id,
                at: log.active.at,
                buf,
            };
            log.active.at = chunk.end();
            w.chunks.push_back(chunk);
        }
        if w.journal.is_empty() {
            std::mem::swap(&mut w.journal, &mut log.journal);
        } else {
            // A failed journal write is retried with what came since.
            w.journal.append(&mut log.journal);
        }
        if caught_up && self.behind.swap(false, Ordering::AcqRel) {
            self.caught_up.notify_waiters();
        }
        (log.sync_needed, log.appended)
    }

    /// After a round: where the files end now, which files need a sync.
    fn record_written(
        &self,
        frontier: Option<(u32, u64)>,
        touched: Vec<(u32, Arc<dyn StoreFile>)>,
        created: bool,
        spare: Vec<u8>,
    ) {
        let mut log = self.log.lock();
        if spare.capacity() > log.spare.capacity() {
            log.spare = spare;
        }
        if let Some(f) = frontier {
            debug_assert!(f >= log.written_to, "the write frontier only moves forward");
            log.written_to = f;
        }
        for (id, file) in touched {
            if !log.unsynced.iter().any(|(u, _)| *u == id) {
                log.unsynced.push((id, file));
            }
        }
        log.dir_dirty |= created;
    }

    /// Write out everything appended up to log position `lsn`, unless that is done already.
    /// Blocking: for the flusher or a blocking-pool thread.
    pub(super) fn write_through(&self, lsn: u64) {
        let mut w = self.writer.lock();
        if w.written_lsn < lsn {
            self.write_round(&mut w);
        }
    }
}
