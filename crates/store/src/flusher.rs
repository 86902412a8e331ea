//! The flusher thread: writes appended records out, fdatasyncs them in groups (one sync for
//! everything that arrived meanwhile, from every connection), publishes the synced position,
//! writes ack entries, renames compacted copies into place and deletes segments nobody
//! references any more. It takes the log and segment locks only to swap buffers and lists
//! out; every write, sync, rename and removal happens with neither held.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::handles::Handle;
use super::io::{write_all_at, OpenMode, StoreFile};
use super::record::ACK_ENTRY;
use super::{ack_path, delete_segment, segment_path, Store};

/// Unwritten bytes above this wake the flusher even without a sync request (paging). Small
/// enough that the few buffers in circulation (being filled, being written, spare) stay
/// small next to the memory budget; large enough for efficient writes.
pub const WRITE_EARLY: usize = 1 << 20;
/// Unwritten bytes above this make publishers pause until the writer takes them.
pub const BEHIND_BYTES: usize = 2 * WRITE_EARLY;
/// Longest the flusher sleeps: ack entries reach the file at least this often.
const IDLE_WAIT: Duration = Duration::from_millis(10);

pub fn spawn(store: Arc<Store>) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("warren-flusher".into())
        .spawn(move || run(&store))
}

/// Rounds a closing flusher keeps retrying writes that fail before giving up (about 1 s).
const CLOSING_ROUNDS_MAX: u32 = 100;

fn run(store: &Store) {
    let mut closing_rounds = 0;
    loop {
        let closing = store.closing.load(Ordering::Acquire);
        // Taken before the journal is written: every metadata change made before a segment
        // lost its last reference is synced before that segment is deleted.
        let (doomed, renames) = take_segment_work(store);
        wait_for_work(store, closing, doomed.is_empty() && renames.is_empty());
        let round = store.write_round(&mut store.writer.lock());
        write_acks(store);
        if !round.complete {
            // A write failed (disk full?): retry shortly rather than spin.
            std::thread::sleep(IDLE_WAIT);
        }
        let target = if round.complete {
            round.need
        } else {
            store.synced()
        };
        let files_owed = target > store.synced() || closing;
        if files_owed || !doomed.is_empty() {
            // Deleting segments needs only the journal on disk first (see
            // take_segment_work): segment files are synced when a confirm or commit waits
            // for them, so records that die unsynced (a paged-out backlog drained) are
            // never written to the disk at all.
            if let Err(e) = sync(store, files_owed) {
                // After a failed fdatasync the kernel may have dropped the dirty pages and
                // marked them clean: a retry would succeed and confirm data that is not on
                // disk. Stop instead (as PostgreSQL does); recovery reads what really is.
                tracing::error!(error = %e, "store sync failed: stopping so nothing unsynced is confirmed");
                std::process::abort();
            }
            if target > store.synced() {
                store.synced.store(target, Ordering::Release);
                store.synced_tx.send_replace(target);
            }
        }
        if round.complete {
            rename_compacted(store, renames);
            if !doomed.is_empty() {
                // A deleted segment is never synced: its handle goes, and the file's
                // dirty pages with it.
                store
                    .log
                    .lock()
                    .unsynced
                    .retain(|(id, _)| !doomed.contains(id));
            }
            for id in doomed {
                delete_segment(&*store.fs, &store.msgs_dir, id);
            }
        } else {
            // The journal may not be written: a queue deletion that released these segments
            // must be on disk before its messages disappear. Next round.
            let mut segs = store.segs.lock();
            segs.doomed.extend(doomed);
            segs.renames.extend(renames);
        }
        if closing {
            closing_rounds += 1;
            // One lock at a time: the writer lock is taken before the log lock, never after.
            let log_empty = {
                let log = store.log.lock();
                log.unwritten_len() == 0 && log.journal.is_empty()
            };
            let done = log_empty && store.writer.lock().is_idle();
            if done || closing_rounds > CLOSING_ROUNDS_MAX {
                if !done {
                    tracing::error!(
                        "store: giving up writing at shutdown; unwritten records are lost"
                    );
                }
                return;
            }
            std::thread::sleep(IDLE_WAIT);
        }
    }
}

/// Segments to delete and compacted copies to rename. A doomed segment whose last bytes are
/// still unwritten waits: the writer would create its file again.
fn take_segment_work(store: &Store) -> (Vec<u32>, Vec<u32>) {
    let written_below = store.log.lock().written_to.0;
    let mut segs = store.segs.lock();
    let (doomed, later) = segs.doomed.drain(..).partition(|id| *id < written_below);
    segs.doomed = later;
    (doomed, std::mem::take(&mut segs.renames))
}

fn wait_for_work(store: &Store, closing: bool, no_segment_work: bool) {
    let mut log = store.log.lock();
    let idle = log.sync_needed <= store.synced()
        && log.unwritten_len() < WRITE_EARLY
        && no_segment_work
        && !closing;
    if idle {
        store.wake.wait_for(&mut log, IDLE_WAIT);
    }
}

/// Sync the journal and, with `files`, every segment file written since the last sync and
/// the directory if a file was created or renamed in it. On error everything stays listed
/// for the next try.
fn sync(store: &Store, files: bool) -> std::io::Result<()> {
    if !files {
        return store.journal.sync_data();
    }
    let (files, dir) = {
        let mut log = store.log.lock();
        (
            std::mem::take(&mut log.unsynced),
            std::mem::take(&mut log.dir_dirty),
        )
    };
    let result = (|| {
        store.journal.sync_data()?;
        for (_, f) in &files {
            f.sync_data()?;
        }
        if dir {
            store.fs.sync_dir(&store.msgs_dir)?;
        }
        Ok(())
    })();
    if result.is_err() {
        let mut log = store.log.lock();
        for (id, f) in files {
            if !log.unsynced.iter().any(|(u, _)| *u == id) {
                log.unsynced.push((id, f));
            }
        }
        log.dir_dirty |= dir;
    }
    result
}

/// Put compacted copies in place of their segments (readers already use the copies). A
/// rename that fails stays listed and is tried again: the segment must not be compacted
/// again meanwhile (that would truncate the copy its readers use).
fn rename_compacted(store: &Store, ids: Vec<u32>) {
    for id in ids {
        let path = segment_path(&store.msgs_dir, id);
        if let Err(e) = store.fs.rename(&path.with_extension("compact"), &path) {
            tracing::warn!(segment = id, error = %e, "cannot put the compacted segment in place; retrying");
            store.segs.lock().renames.push(id);
            continue;
        }
        store.log.lock().dir_dirty = true;
        if let Some(info) = store.segs.lock().segs.get_mut(&id) {
            info.renaming = false;
        }
    }
}

/// Take the entries for messages whose record starts before `written` (the segment file's
/// end); the others stay.
fn take_written(acks: &mut Vec<u8>, written: u64) -> Vec<u8> {
    debug_assert_eq!(acks.len() % ACK_ENTRY, 0, "ack buffers hold whole entries");
    let (mut ready, mut waiting) = (Vec::new(), Vec::new());
    for entry in acks.chunks_exact(ACK_ENTRY) {
        let msg_id = u64::from_le_bytes(entry[..8].try_into().expect("8 bytes"));
        let to = if msg_id & 0xffff_ffff < written {
            &mut ready
        } else {
            &mut waiting
        };
        to.extend_from_slice(entry);
    }
    *acks = waiting;
    ready
}

/// One segment's ack entries taken out for writing.
struct AckBatch {
    id: u32,
    entries: Vec<u8>,
    file: Option<Arc<dyn StoreFile>>,
    at: u64,
}

/// Append buffered ack entries to their segments' `.ack` files (a write survives kill -9;
/// an ack lost with the machine only brings a message back, never loses one). The entries
/// are taken out under the segment lock and written with no lock held. An entry waits
/// until its message's record is in the segment file: no ack reaches a file before its
/// message.
fn write_acks(store: &Store) {
    let written_to = store.log.lock().written_to;
    let batches: Vec<AckBatch> = {
        let mut segs = store.segs.lock();
        segs.segs
            .iter_mut()
            .filter(|(id, info)| !info.acks.is_empty() && **id <= written_to.0)
            .filter_map(|(id, info)| {
                let entries = if *id < written_to.0 {
                    std::mem::take(&mut info.acks)
                } else {
                    take_written(&mut info.acks, written_to.1)
                };
                (!entries.is_empty()).then(|| AckBatch {
                    id: *id,
                    entries,
                    file: info.ack_file.clone(),
                    at: info.ack_written,
                })
            })
            .collect()
    };
    let mut results = Vec::with_capacity(batches.len());
    for mut b in batches {
        if b.file.is_none() {
            let path = ack_path(&store.msgs_dir, b.id);
            match store.fs.open(&path, OpenMode::Create) {
                Ok(f) => match f.size() {
                    // Continue after the last whole entry (a torn one is overwritten).
                    Ok(len) => {
                        b.at = len - len % ACK_ENTRY as u64;
                        b.file = Some(f);
                    }
                    Err(e) => {
                        // Writing at a guessed offset could overwrite entries: next round.
                        tracing::error!(path = %path.display(), error = %e, "cannot size ack file");
                        results.push((b, 0));
                        continue;
                    }
                },
                Err(e) => {
                    tracing::error!(path = %path.display(), error = %e, "cannot open ack file");
                    results.push((b, 0));
                    continue;
                }
            }
        }
        let file = b.file.as_deref().expect("opened above");
        // Positioned writes: after a failure the torn entry is written again from its start.
        let (n, err) = write_all_at(file, &b.entries, b.at);
        if let Some(e) = err {
            tracing::error!(segment = b.id, error = %e, "cannot write acks");
        }
        results.push((b, n - n % ACK_ENTRY));
    }
    let mut segs = store.segs.lock();
    for (b, n) in results {
        // A segment gone meanwhile needs no acks.
        let Some(info) = segs.segs.get_mut(&b.id) else {
            continue;
        };
        if n < b.entries.len() {
            let mut rest = b.entries[n..].to_vec();
            rest.append(&mut info.acks);
            info.acks = rest;
        }
        if let Some(file) = b.file {
            info.ack_written = b.at + n as u64;
            segs.keep_open(Handle::AckFile, b.id, file);
        }
    }
}
