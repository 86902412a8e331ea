//! The flusher thread: writes appended records out, fdatasyncs them in groups (one sync for
//! everything that arrived meanwhile, from every connection), publishes the synced position,
//! writes ack entries and deletes segments nobody references any more.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::io::{write_all_at, OpenMode, StoreFile};
use super::record::ACK_ENTRY;
use super::{ack_path, delete_segment, Store};

/// Pending bytes above this wake the flusher even without a sync request (paging).
pub const WRITE_EARLY: usize = 4 << 20;
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
        let doomed = std::mem::take(&mut store.segs.lock().doomed);
        let complete;
        let (target, mut files, journal, dir_dirty) = {
            let mut log = store.log.lock();
            let idle = log.sync_needed <= store.synced()
                && log.pending.len() < WRITE_EARLY
                && doomed.is_empty()
                && !closing;
            if idle {
                store.wake.wait_for(&mut log, IDLE_WAIT);
            }
            store.write_out(&mut log);
            complete = log.pending.is_empty() && log.journal_pending.is_empty();
            let target = if complete {
                log.sync_needed
            } else {
                store.synced()
            };
            let will_sync = target > store.synced() || !doomed.is_empty() || closing;
            // Rolled segments stay listed until a sync that covers them succeeds.
            let mut files = if will_sync {
                std::mem::take(&mut log.unsynced)
            } else {
                Vec::new()
            };
            files.push(Arc::clone(&log.active));
            let dir_dirty = will_sync && std::mem::take(&mut log.dir_dirty);
            (target, files, Arc::clone(&log.journal), dir_dirty)
        };
        write_acks(store);
        if !complete {
            // A write failed (disk full?): retry shortly rather than spin.
            std::thread::sleep(IDLE_WAIT);
        }
        if target > store.synced() || !doomed.is_empty() || closing {
            if let Err(e) = sync_all(store, &*journal, &files, dir_dirty) {
                // Nothing counts as synced until every file syncs: put the work back.
                tracing::error!(error = %e, "store sync failed; confirms wait, retrying");
                {
                    let mut log = store.log.lock();
                    files.truncate(files.len().saturating_sub(1));
                    let mut files = files;
                    files.append(&mut log.unsynced);
                    log.unsynced = files;
                    log.dir_dirty |= dir_dirty;
                }
                store.segs.lock().doomed.extend(doomed);
                std::thread::sleep(IDLE_WAIT);
                continue;
            }
            if target > store.synced() {
                store.synced.store(target, Ordering::Release);
                store.synced_tx.send_replace(target);
            }
        }
        for id in doomed {
            delete_segment(&*store.fs, &store.msgs_dir, id);
        }
        if closing {
            closing_rounds += 1;
            let log = store.log.lock();
            let done = log.pending.is_empty() && log.journal_pending.is_empty();
            if done || closing_rounds > CLOSING_ROUNDS_MAX {
                if !done {
                    tracing::error!(
                        "store: giving up writing at shutdown; unwritten records are lost"
                    );
                }
                return;
            }
            drop(log);
            std::thread::sleep(IDLE_WAIT);
        }
    }
}

fn sync_all(
    store: &Store,
    journal: &dyn StoreFile,
    files: &[Arc<dyn StoreFile>],
    dir: bool,
) -> std::io::Result<()> {
    journal.sync_data()?;
    for f in files {
        f.sync_data()?;
    }
    if dir {
        store.fs.sync_dir(&store.msgs_dir)?;
    }
    Ok(())
}

/// Append buffered ack entries to their segments' `.ack` files (a write survives kill -9;
/// an ack lost with the machine only brings a message back, never loses one).
fn write_acks(store: &Store) {
    let mut segs = store.segs.lock();
    for (id, info) in segs.segs.iter_mut() {
        if info.acks.is_empty() {
            continue;
        }
        if info.ack_file.is_none() {
            let path = ack_path(&store.msgs_dir, *id);
            match store.fs.open(&path, OpenMode::Create) {
                Ok(f) => {
                    // Continue after the last whole entry (a torn one is overwritten).
                    let len = f.size().unwrap_or(0);
                    info.ack_written = len - len % ACK_ENTRY as u64;
                    info.ack_file = Some(f);
                }
                Err(e) => {
                    tracing::error!(path = %path.display(), error = %e, "cannot open ack file");
                    continue;
                }
            }
        }
        if let Some(f) = &info.ack_file {
            // Positioned writes: a failed write is retried from the first unwritten byte.
            let (n, err) = write_all_at(&**f, &info.acks, info.ack_written);
            info.ack_written += n as u64;
            info.acks.drain(..n);
            if let Some(e) = err {
                tracing::error!(segment = id, error = %e, "cannot write acks");
            }
        }
    }
}
