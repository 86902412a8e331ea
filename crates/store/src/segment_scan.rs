//! Reading segment and ack files back: walking a segment's records (resuming after damage)
//! and the valid entries of an ack file. Recovery and compaction both read segments so.

use std::collections::HashSet;
use std::path::Path;

use bytes::Bytes;

use super::io::StoreFs;
use super::record::{
    self, Record, RecordError, ACK_ENTRY, KIND_MESSAGE, RECORD_PREFIX, SEGMENT_MAGIC,
    SEGMENT_MAGIC_COMPACTED,
};
use super::{io_error, StoreError};

/// A stretch of a segment that could not be read.
#[derive(Debug, Clone)]
pub struct Dropped {
    pub offset: usize,
    pub len: usize,
    pub reason: RecordError,
}

/// One segment read front to back.
pub(super) struct Scan {
    /// Rewritten by compaction.
    pub(super) compacted: bool,
    pub(super) dropped: Vec<Dropped>,
    /// Where the intact data ends when the segment ends in damage (a torn tail).
    pub(super) torn_from: Option<usize>,
}

/// Walk a segment's records, calling `each` with every intact one and its offset and length.
/// After damage, reading resumes at the next intact message record (found by its id, which
/// encodes its own position), so one bad record does not take the rest with it.
pub(super) fn scan(id: u32, data: &Bytes, mut each: impl FnMut(Record, usize, usize)) -> Scan {
    let magic = data.get(..SEGMENT_MAGIC.len());
    let mut out = Scan {
        compacted: magic == Some(&SEGMENT_MAGIC_COMPACTED[..]),
        dropped: Vec::new(),
        torn_from: None,
    };
    if magic != Some(&SEGMENT_MAGIC[..]) && !out.compacted {
        if !data.is_empty() {
            out.dropped.push(Dropped {
                offset: 0,
                len: data.len(),
                reason: RecordError::Malformed,
            });
        }
        out.torn_from = Some(0);
        return out;
    }
    let mut at = SEGMENT_MAGIC.len();
    while at < data.len() {
        match record::decode(&data.slice(at..)) {
            Ok((rec, len)) => {
                each(rec, at, len);
                at += len;
            }
            Err(reason) => {
                let next = resync(id, data, at + 1);
                let end = next.unwrap_or(data.len());
                out.dropped.push(Dropped {
                    offset: at,
                    len: end - at,
                    reason,
                });
                match next {
                    Some(n) => at = n,
                    None => {
                        out.torn_from = Some(at);
                        break;
                    }
                }
            }
        }
    }
    out
}

/// The next offset from `from` where an intact message record written at that very offset
/// starts (its msg_id is segment << 32 | offset, a cheap filter before the checksum).
fn resync(id: u32, data: &[u8], from: usize) -> Option<usize> {
    let id_at = RECORD_PREFIX + 1;
    (from..data.len().saturating_sub(id_at + 8)).find(|&p| {
        data[p + RECORD_PREFIX] == KIND_MESSAGE
            && data[p + id_at..p + id_at + 8] == ((u64::from(id) << 32) | p as u64).to_le_bytes()
            && record::checked_len(&data[p..]).is_ok()
    })
}

/// Valid ack entries of a segment: (msg_id, queue_id).
pub(super) fn read_acks(fs: &dyn StoreFs, path: &Path) -> HashSet<(u64, u32)> {
    let Ok(data) = fs.read(path) else {
        return HashSet::new();
    };
    data.chunks_exact(ACK_ENTRY)
        .filter_map(record::decode_ack)
        .collect()
}

/// A whole file's bytes.
pub(super) fn read_file(fs: &dyn StoreFs, path: &Path) -> Result<Bytes, StoreError> {
    fs.read(path)
        .map(Bytes::from)
        .map_err(io_error(format!("reading {}", path.display())))
}
