//! The input format of the `store_recovery` target: a data directory as a list of items, so
//! the fuzzer can reach past the checksums that guard every record.
//!
//! Each item is `tag:u8 len:u16le body[len]` (a short last item takes what is left). Tags
//! (taken mod 8):
//! - 0: a journal record (`meta.log`) with its length and crc32c filled in; 1: raw journal bytes.
//! - 2: start segment `body[0..4]` (u32le, zero-padded) whose header is chosen by `body[4]`:
//!   0 the segment magic, 1 the compacted magic, 2 none.
//! - 3: a segment record, sealed; 4: a message record moved to where it lands (its msg_id set
//!   to segment << 32 | offset, as the writer does), sealed; 5: raw segment bytes.
//! - 6: an ack entry for the current segment from 12 body bytes, checksum added; 7: raw ack bytes.
//!
//! Segment items before any segment item 2 go to segment 1.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use warren_store::record::{seal, RECORD_PREFIX, SEGMENT_MAGIC, SEGMENT_MAGIC_COMPACTED};
use warren_store::{ack_path, segment_path};

pub const TAG_JOURNAL: u8 = 0;
pub const TAG_JOURNAL_RAW: u8 = 1;
pub const TAG_SEGMENT: u8 = 2;
pub const TAG_RECORD: u8 = 3;
pub const TAG_MESSAGE_AT: u8 = 4;
pub const TAG_SEGMENT_RAW: u8 = 5;
pub const TAG_ACK: u8 = 6;
pub const TAG_ACK_RAW: u8 = 7;

/// Segment header choices for [`TAG_SEGMENT`].
pub const MAGIC_PLAIN: u8 = 0;
pub const MAGIC_COMPACTED: u8 = 1;
pub const MAGIC_NONE: u8 = 2;

#[derive(Debug, Default)]
pub struct Segment {
    pub data: Vec<u8>,
    pub acks: Option<Vec<u8>>,
}

/// The files of a data directory. No journal means a first boot.
#[derive(Debug, Default)]
pub struct Image {
    pub journal: Option<Vec<u8>>,
    pub segments: BTreeMap<u32, Segment>,
}

fn sealed(body: &[u8]) -> Vec<u8> {
    let mut out = vec![0; RECORD_PREFIX];
    out.extend_from_slice(body);
    seal(&mut out, 0);
    out
}

fn ack_entry(body: &[u8]) -> Vec<u8> {
    let mut entry = [0u8; 12];
    let n = body.len().min(12);
    entry[..n].copy_from_slice(&body[..n]);
    let mut out = entry.to_vec();
    out.extend_from_slice(&crc32c::crc32c(&entry).to_le_bytes());
    out
}

impl Image {
    pub fn parse(mut input: &[u8]) -> Self {
        let mut image = Image::default();
        let mut current = 1u32;
        while let Some((&tag, rest)) = input.split_first() {
            let len = match rest {
                [lo, hi, ..] => usize::from(u16::from_le_bytes([*lo, *hi])),
                _ => rest.len(),
            };
            let rest = rest.get(2..).unwrap_or_default();
            let (body, next) = rest.split_at(len.min(rest.len()));
            input = next;
            match tag % 8 {
                TAG_JOURNAL => image
                    .journal
                    .get_or_insert_with(Vec::new)
                    .extend_from_slice(&sealed(body)),
                TAG_JOURNAL_RAW => image
                    .journal
                    .get_or_insert_with(Vec::new)
                    .extend_from_slice(body),
                TAG_SEGMENT => {
                    let mut id = [0u8; 4];
                    let n = body.len().min(4);
                    id[..n].copy_from_slice(&body[..n]);
                    current = u32::from_le_bytes(id);
                    let seg = image.segments.entry(current).or_default();
                    match body.get(4).copied().unwrap_or(MAGIC_PLAIN) {
                        MAGIC_PLAIN => seg.data.extend_from_slice(SEGMENT_MAGIC),
                        MAGIC_COMPACTED => seg.data.extend_from_slice(SEGMENT_MAGIC_COMPACTED),
                        _ => {}
                    }
                }
                TAG_RECORD => image.segment(current).data.extend_from_slice(&sealed(body)),
                TAG_MESSAGE_AT => {
                    let seg = image.segment(current);
                    let mut payload = body.to_vec();
                    if payload.len() >= 9 {
                        let msg_id = (u64::from(current) << 32) | seg.data.len() as u64;
                        payload[1..9].copy_from_slice(&msg_id.to_le_bytes());
                    }
                    seg.data.extend_from_slice(&sealed(&payload));
                }
                TAG_SEGMENT_RAW => image.segment(current).data.extend_from_slice(body),
                TAG_ACK => image
                    .segment(current)
                    .acks
                    .get_or_insert_with(Vec::new)
                    .extend_from_slice(&ack_entry(body)),
                _ => image
                    .segment(current)
                    .acks
                    .get_or_insert_with(Vec::new)
                    .extend_from_slice(body),
            }
        }
        image
    }

    /// The segment items go to; a segment started implicitly begins with the magic.
    fn segment(&mut self, id: u32) -> &mut Segment {
        self.segments.entry(id).or_insert_with(|| Segment {
            data: SEGMENT_MAGIC.to_vec(),
            acks: None,
        })
    }

    /// Lay the files out in `dir` (which must be empty).
    pub fn write(&self, dir: &Path) -> io::Result<()> {
        let msgs = dir.join("msgs");
        std::fs::create_dir_all(&msgs)?;
        if let Some(journal) = &self.journal {
            std::fs::write(dir.join("meta.log"), journal)?;
        }
        for (&id, seg) in &self.segments {
            std::fs::write(segment_path(&msgs, id), &seg.data)?;
            if let Some(acks) = &seg.acks {
                std::fs::write(ack_path(&msgs, id), acks)?;
            }
        }
        Ok(())
    }
}

/// Writes inputs in the format [`Image::parse`] reads (for seeds).
#[derive(Debug, Default)]
pub struct ImageWriter {
    pub out: Vec<u8>,
}

impl ImageWriter {
    pub fn item(&mut self, tag: u8, body: &[u8]) -> &mut Self {
        let len = u16::try_from(body.len()).expect("seed items stay below 64 KiB");
        self.out.push(tag);
        self.out.extend_from_slice(&len.to_le_bytes());
        self.out.extend_from_slice(body);
        self
    }

    pub fn segment(&mut self, id: u32, magic: u8) -> &mut Self {
        let mut body = id.to_le_bytes().to_vec();
        body.push(magic);
        self.item(TAG_SEGMENT, &body)
    }

    pub fn ack(&mut self, msg_id: u64, queue_id: u32) -> &mut Self {
        let mut body = msg_id.to_le_bytes().to_vec();
        body.extend_from_slice(&queue_id.to_le_bytes());
        self.item(TAG_ACK, &body)
    }
}
