//! The on-disk record formats: segment records (messages, delivery marks) and ack entries.
//! Every record carries a crc32c so a torn or damaged write is found and never served.
//! All integers are little-endian. docs/storage.md describes the layout.

use bytes::Bytes;

/// First bytes of every segment file: format name and version.
pub const SEGMENT_MAGIC: &[u8; 8] = b"WRNSEG\x00\x01";
/// The same format, rewritten by compaction: records dropped from it may still have ack
/// entries, and records are no longer at the offset their msg_id names.
pub const SEGMENT_MAGIC_COMPACTED: &[u8; 8] = b"WRNSEG\x01\x01";
/// Length and checksum in front of every record.
pub const RECORD_PREFIX: usize = 8;
/// Records above this are refused as corrupt (a message is at most 128 MiB plus names).
pub const RECORD_MAX: usize = 129 << 20;

pub const KIND_MESSAGE: u8 = 1;
pub const KIND_MARKS: u8 = 2;

/// Message flag: recover it at start-up (persistent message in durable queues). Without it the
/// record is only a paged-out copy of a transient message.
pub const FLAG_PERSISTENT: u8 = 1;
/// The queue count is a u32 (after the u16 field, which then holds 0): a message routed to
/// more than 65,535 queues. Records without the flag keep the original u16 layout.
const FLAG_WIDE_COUNT: u8 = 2;
/// A u64 publish time (ms since the Unix epoch) follows the queue list: message TTLs count
/// from it after a restart. Records without the flag (older ones) have none.
const FLAG_TIMESTAMP: u8 = 4;

/// One ack entry in a segment's `.ack` file: msg_id u64, queue_id u32, crc32c u32.
pub const ACK_ENTRY: usize = 16;

/// A message record's fixed part after the prefix: kind, msg_id, flags, queue count.
const MESSAGE_FIXED: usize = 1 + 8 + 1 + 2;

/// The parts of a message as stored: names, raw properties and body.
pub struct MessageParts<'a> {
    /// When it was published (persistent messages: their TTL deadlines survive restarts).
    pub published_at_ms: Option<u64>,
    pub exchange: &'a [u8],
    pub routing_key: &'a [u8],
    pub properties: &'a [u8],
    pub body: &'a [u8],
}

/// Size of a message record, prefix included.
pub fn message_record_len(queues: usize, parts: &MessageParts<'_>) -> usize {
    let wide = if queues > usize::from(u16::MAX) { 4 } else { 0 };
    RECORD_PREFIX
        + MESSAGE_FIXED
        + wide
        + 4 * queues
        + if parts.published_at_ms.is_some() {
            8
        } else {
            0
        }
        + 1
        + 1
        + 4
        + parts.exchange.len()
        + parts.routing_key.len()
        + parts.properties.len()
        + parts.body.len()
}

/// Append a message record to `out`.
pub fn encode_message(
    out: &mut Vec<u8>,
    msg_id: u64,
    flags: u8,
    queues: &[u32],
    parts: &MessageParts<'_>,
) {
    let start = out.len();
    out.extend_from_slice(&[0; RECORD_PREFIX]);
    out.push(KIND_MESSAGE);
    out.extend_from_slice(&msg_id.to_le_bytes());
    let flags = flags & !(FLAG_WIDE_COUNT | FLAG_TIMESTAMP)
        | if parts.published_at_ms.is_some() {
            FLAG_TIMESTAMP
        } else {
            0
        };
    match u16::try_from(queues.len()) {
        Ok(n) => {
            out.push(flags);
            out.extend_from_slice(&n.to_le_bytes());
        }
        Err(_) => {
            let n = u32::try_from(queues.len()).expect("fewer than 2^32 queues");
            out.push(flags | FLAG_WIDE_COUNT);
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(&n.to_le_bytes());
        }
    }
    for q in queues {
        out.extend_from_slice(&q.to_le_bytes());
    }
    if let Some(at) = parts.published_at_ms {
        out.extend_from_slice(&at.to_le_bytes());
    }
    out.push(parts.exchange.len() as u8);
    out.push(parts.routing_key.len() as u8);
    out.extend_from_slice(&(parts.properties.len() as u32).to_le_bytes());
    out.extend_from_slice(parts.exchange);
    out.extend_from_slice(parts.routing_key);
    out.extend_from_slice(parts.properties);
    out.extend_from_slice(parts.body);
    seal(out, start);
}

/// Append a delivery-marks record: for each queue, the highest msg_id delivered from it.
pub fn encode_marks(out: &mut Vec<u8>, marks: &[(u32, u64)]) {
    let start = out.len();
    out.extend_from_slice(&[0; RECORD_PREFIX]);
    out.push(KIND_MARKS);
    out.extend_from_slice(&(marks.len() as u32).to_le_bytes());
    for (queue, msg_id) in marks {
        out.extend_from_slice(&queue.to_le_bytes());
        out.extend_from_slice(&msg_id.to_le_bytes());
    }
    seal(out, start);
}

/// Fill in the length and checksum of the record that starts at `start`.
pub fn seal(out: &mut [u8], start: usize) {
    let payload = &out[start + RECORD_PREFIX..];
    let len = payload.len() as u32;
    let crc = crc32c::crc32c(payload);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Why a record could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("truncated record ({have} of {need} bytes)")]
    Truncated { have: usize, need: usize },
    #[error("implausible record length {0}")]
    BadLength(usize),
    #[error("checksum mismatch")]
    Checksum,
    #[error("malformed record")]
    Malformed,
    #[error("unknown record kind {0}")]
    UnknownKind(u8),
}

/// A record read back and verified.
#[derive(Debug)]
pub enum Record {
    Message(StoredMessage),
    Marks(Vec<(u32, u64)>),
}

/// A message record: its identity, which queues hold it, and where its parts are.
#[derive(Debug)]
pub struct StoredMessage {
    pub msg_id: u64,
    pub flags: u8,
    pub queues: Vec<u32>,
    pub exchange_len: u8,
    pub routing_key_len: u8,
    pub properties_len: u32,
    /// When it was published, if the record says (ms since the Unix epoch).
    pub published_at_ms: Option<u64>,
    /// exchange ‖ routing key ‖ properties ‖ body.
    pub data: Bytes,
}

/// Parse the record at the start of `buf`; returns it and its total length.
/// `buf` must begin at a record boundary; `Truncated` means it ends mid-record.
pub fn decode(buf: &Bytes) -> Result<(Record, usize), RecordError> {
    let total = checked_len(buf)?;
    let payload = buf.slice(RECORD_PREFIX..total);
    Ok((decode_payload(&payload)?, total))
}

/// Check the prefix and checksum of the record at the start of `buf`; returns its length.
pub fn checked_len(buf: &[u8]) -> Result<usize, RecordError> {
    if buf.len() < RECORD_PREFIX {
        return Err(RecordError::Truncated {
            have: buf.len(),
            need: RECORD_PREFIX,
        });
    }
    let len = u32_at(buf, 0) as usize;
    if len == 0 || len > RECORD_MAX {
        return Err(RecordError::BadLength(len));
    }
    let total = RECORD_PREFIX + len;
    if buf.len() < total {
        return Err(RecordError::Truncated {
            have: buf.len(),
            need: total,
        });
    }
    if crc32c::crc32c(&buf[RECORD_PREFIX..total]) != u32_at(buf, 4) {
        return Err(RecordError::Checksum);
    }
    Ok(total)
}

fn decode_payload(p: &Bytes) -> Result<Record, RecordError> {
    match p.first() {
        Some(&KIND_MESSAGE) => decode_message(p).map(Record::Message),
        Some(&KIND_MARKS) => {
            let n = p
                .get(1..5)
                .map(|b| u32_at(b, 0) as usize)
                .ok_or(RecordError::Malformed)?;
            if p.len() != 5 + n * 12 {
                return Err(RecordError::Malformed);
            }
            Ok(Record::Marks(
                (0..n)
                    .map(|i| {
                        let at = 5 + i * 12;
                        (u32_at(p, at), u64_at(p, at + 4))
                    })
                    .collect(),
            ))
        }
        Some(&other) => Err(RecordError::UnknownKind(other)),
        None => Err(RecordError::Malformed),
    }
}

fn decode_message(p: &Bytes) -> Result<StoredMessage, RecordError> {
    if p.len() < MESSAGE_FIXED {
        return Err(RecordError::Malformed);
    }
    let msg_id = u64_at(p, 1);
    let flags = p[9];
    let (n, queues_at) = if flags & FLAG_WIDE_COUNT == 0 {
        (
            usize::from(u16::from_le_bytes([p[10], p[11]])),
            MESSAGE_FIXED,
        )
    } else {
        // Only the encoder's own layout: the u16 field zero, a count the u16 could not hold.
        if p.len() < MESSAGE_FIXED + 4 || p[10..12] != [0, 0] {
            return Err(RecordError::Malformed);
        }
        let n = u32_at(p, MESSAGE_FIXED) as usize;
        if n <= usize::from(u16::MAX) {
            return Err(RecordError::Malformed);
        }
        (n, MESSAGE_FIXED + 4)
    };
    let after_queues = n
        .checked_mul(4)
        .and_then(|b| b.checked_add(queues_at))
        .ok_or(RecordError::Malformed)?;
    let stamped = flags & FLAG_TIMESTAMP != 0;
    let names_at = after_queues + if stamped { 8 } else { 0 };
    let data_at = names_at + 6;
    if p.len() < data_at {
        return Err(RecordError::Malformed);
    }
    let queues = (0..n).map(|i| u32_at(p, queues_at + 4 * i)).collect();
    let published_at_ms = stamped.then(|| u64_at(p, after_queues));
    let flags = flags & !(FLAG_WIDE_COUNT | FLAG_TIMESTAMP);
    let exchange_len = p[names_at];
    let routing_key_len = p[names_at + 1];
    let properties_len = u32_at(p, names_at + 2);
    let heads = usize::from(exchange_len) + usize::from(routing_key_len) + properties_len as usize;
    if p.len() - data_at < heads {
        return Err(RecordError::Malformed);
    }
    Ok(StoredMessage {
        msg_id,
        flags,
        queues,
        exchange_len,
        routing_key_len,
        properties_len,
        published_at_ms,
        data: p.slice(data_at..),
    })
}

/// Encode one ack entry.
pub fn encode_ack(out: &mut Vec<u8>, msg_id: u64, queue_id: u32) {
    let start = out.len();
    out.extend_from_slice(&msg_id.to_le_bytes());
    out.extend_from_slice(&queue_id.to_le_bytes());
    let crc = crc32c::crc32c(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// Decode an ack entry; None when its checksum does not match (torn or damaged).
pub fn decode_ack(entry: &[u8]) -> Option<(u64, u32)> {
    if entry.len() != ACK_ENTRY || crc32c::crc32c(&entry[..12]) != u32_at(entry, 12) {
        return None;
    }
    Some((u64_at(entry, 0), u32_at(entry, 8)))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts() -> MessageParts<'static> {
        MessageParts {
            published_at_ms: None,
            exchange: b"amq.direct",
            routing_key: b"key",
            properties: &[0x10, 0, 2],
            body: b"hello",
        }
    }

    #[test]
    fn more_than_65535_queues_round_trip() {
        let queues: Vec<u32> = (0..70_000).collect();
        let mut out = Vec::new();
        encode_message(&mut out, 7, FLAG_PERSISTENT, &queues, &parts());
        assert_eq!(out.len(), message_record_len(queues.len(), &parts()));
        let (rec, len) = decode(&Bytes::from(out.clone())).expect("decodes");
        assert_eq!(len, out.len());
        match rec {
            Record::Message(m) => assert_eq!((m.flags, m.queues), (FLAG_PERSISTENT, queues)),
            other => panic!("expected a message record, got {other:?}"),
        }
    }

    #[test]
    fn message_round_trips() {
        let mut out = Vec::new();
        encode_message(&mut out, 42, FLAG_PERSISTENT, &[3, 9], &parts());
        assert_eq!(out.len(), message_record_len(2, &parts()));
        let (rec, len) = decode(&Bytes::from(out.clone())).expect("decodes");
        assert_eq!(len, out.len());
        let Record::Message(m) = rec else {
            panic!("not a message")
        };
        assert_eq!(
            (m.msg_id, m.flags, m.queues),
            (42, FLAG_PERSISTENT, vec![3, 9])
        );
        assert_eq!(&m.data[..], b"amq.directkey\x10\x00\x02hello");
    }

    #[test]
    fn a_publish_time_round_trips_and_older_records_have_none() {
        let stamped = MessageParts {
            published_at_ms: Some(1_700_000_000_123),
            ..parts()
        };
        let mut out = Vec::new();
        encode_message(&mut out, 5, FLAG_PERSISTENT, &[4], &stamped);
        assert_eq!(out.len(), message_record_len(1, &stamped));
        let Ok((Record::Message(m), _)) = decode(&Bytes::from(out)) else {
            panic!("not a message")
        };
        assert_eq!(
            (m.flags, m.published_at_ms),
            (FLAG_PERSISTENT, Some(1_700_000_000_123))
        );
        assert_eq!(&m.data[..], b"amq.directkey\x10\x00\x02hello");
        let mut plain = Vec::new();
        encode_message(&mut plain, 5, FLAG_PERSISTENT, &[4], &parts());
        let Ok((Record::Message(m), _)) = decode(&Bytes::from(plain)) else {
            panic!("not a message")
        };
        assert_eq!(m.published_at_ms, None);
    }

    #[test]
    fn every_flipped_byte_and_every_cut_is_detected() {
        let mut out = Vec::new();
        encode_message(&mut out, 7, 0, &[1], &parts());
        for i in 0..out.len() {
            let mut bad = out.clone();
            bad[i] ^= 0x40;
            assert!(decode(&Bytes::from(bad)).is_err(), "flip at {i} undetected");
        }
        for cut in 0..out.len() {
            assert!(decode(&Bytes::copy_from_slice(&out[..cut])).is_err());
        }
    }

    #[test]
    fn marks_and_acks_round_trip() {
        let mut out = Vec::new();
        encode_marks(&mut out, &[(1, 10), (2, 20)]);
        let (rec, _) = decode(&Bytes::from(out)).expect("decodes");
        assert!(matches!(rec, Record::Marks(m) if m == vec![(1, 10), (2, 20)]));
        let mut ack = Vec::new();
        encode_ack(&mut ack, u64::MAX - 1, 77);
        assert_eq!(decode_ack(&ack), Some((u64::MAX - 1, 77)));
        ack[3] ^= 1;
        assert_eq!(decode_ack(&ack), None);
    }
}
