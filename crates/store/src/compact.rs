//! Compaction: a sealed segment whose holds are mostly released is rewritten with only the
//! records still held, in the same order and under the same name, so a slow queue pinning a
//! few old messages does not pin whole segments. Readers find moved records through the
//! segment's relocation table (records keep their msg_id, which names their first offset).
//! The copy is written and synced with no lock held; under the segment lock it becomes the
//! segment's reader, and the flusher renames it over the original (the flusher also deletes
//! segments, so a rename never brings back a segment deleted meanwhile).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::handles::Handle;
use super::io::{write_all_at, OpenMode};
use super::record::{Record, FLAG_PERSISTENT, SEGMENT_MAGIC_COMPACTED};
use super::segment_scan::{read_acks, read_file, scan};
use super::{ack_path, segment_path, Store};

/// How often sealed segments are looked at.
const EVERY: Duration = Duration::from_secs(1);
/// A segment is rewritten once at most this fraction of its holds is left.
const LIVE_FRACTION_MAX: f64 = 0.25;
/// Segments smaller than this are left alone (deleted whole once empty).
const SIZE_MIN: u64 = 64 << 10;

pub fn spawn(store: Arc<Store>) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("warren-compactor".into())
        .spawn(move || {
            let mut sparse_seen = HashMap::new();
            loop {
                {
                    let mut stop = store.compactor_stop.lock();
                    if !*stop {
                        store.compactor_wake.wait_for(&mut stop, EVERY);
                    }
                    if *stop {
                        return;
                    }
                }
                for id in candidates(&store, &mut sparse_seen) {
                    if let Err(e) = compact(&store, id) {
                        tracing::warn!(segment = id, error = %e, "segment compaction failed");
                    }
                }
            }
        })
}

/// Sealed segments, completely written, sparse enough to rewrite, and pinned: as sparse
/// as they were a look ago. A segment a consumer is draining loses holds from one look to
/// the next and is left to empty and be deleted whole; rewriting it would copy records
/// about to go, and scatter the reads of those that remain. `sparse_seen` carries each
/// sparse segment's live count from one look to the next.
fn candidates(store: &Store, sparse_seen: &mut HashMap<u32, u64>) -> Vec<u32> {
    let written_below = store.log.lock().written_to.0;
    let segs = store.segs.lock();
    let mut now_sparse = HashMap::new();
    let mut out = Vec::new();
    for (id, info) in &segs.segs {
        let sparse = *id < written_below
            && !info.renaming
            && info.total > 0
            && (info.live as f64) <= info.total as f64 * LIVE_FRACTION_MAX;
        if !sparse {
            continue;
        }
        if sparse_seen.get(id) == Some(&info.live) {
            out.push(*id);
        }
        now_sparse.insert(*id, info.live);
    }
    *sparse_seen = now_sparse;
    out
}

/// Rewrite one segment with the records some queue still holds.
pub fn compact(store: &Store, id: u32) -> std::io::Result<()> {
    let path = segment_path(&store.msgs_dir, id);
    if store.fs.open(&path, OpenMode::Read)?.size()? < SIZE_MIN {
        mark_compacted(store, id);
        return Ok(());
    }
    let data = read_file(&*store.fs, &path).map_err(std::io::Error::other)?;
    let released = read_acks(&*store.fs, &ack_path(&store.msgs_dir, id));
    let from_earlier_boot = id < store.boot_segment;
    let held = |msg_id: u64, persistent: bool, queue: u32| {
        if released.contains(&(msg_id, queue)) {
            return false;
        }
        // Holds from before the last restart exist only for recovered durable queues.
        !from_earlier_boot || (persistent && store.recovered_queues.contains(&queue))
    };
    let mut kept = SEGMENT_MAGIC_COMPACTED.to_vec();
    let mut relocated = HashMap::new();
    scan(id, &data, |rec, at, len| {
        if let Record::Message(m) = rec {
            let persistent = m.flags & FLAG_PERSISTENT != 0;
            if m.queues.iter().any(|q| held(m.msg_id, persistent, *q)) {
                relocated.insert(m.msg_id, kept.len() as u32);
                kept.extend_from_slice(&data[at..at + len]);
            }
        }
    });
    if kept.len() as f64 > data.len() as f64 * 0.75 {
        // Not worth it yet: most bytes belong to records still held.
        mark_compacted(store, id);
        return Ok(());
    }
    let tmp = path.with_extension("compact");
    let copy = store.fs.open(&tmp, OpenMode::Truncate)?;
    if let (_, Some(e)) = write_all_at(&*copy, &kept, 0) {
        return Err(e);
    }
    copy.sync_data()?;
    let mut segs = store.segs.lock();
    let Some(info) = segs.segs.get_mut(&id) else {
        // Deleted meanwhile (every hold released).
        drop(segs);
        return store.fs.remove(&tmp);
    };
    info.relocated = relocated;
    info.total = info.live;
    info.renaming = true;
    segs.renames.push(id);
    segs.keep_open(Handle::Reader, id, copy);
    drop(segs);
    tracing::debug!(
        segment = id,
        before = data.len(),
        after = kept.len(),
        "compacted segment"
    );
    Ok(())
}

fn mark_compacted(store: &Store, id: u32) {
    if let Some(info) = store.segs.lock().segs.get_mut(&id) {
        info.total = info.live;
    }
}
