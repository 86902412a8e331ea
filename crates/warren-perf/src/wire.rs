//! Data-plane framing: pre-encoded publish templates and an in-place frame scanner.
//!
//! A message body starts with two little-endian u64s: the stream word (producer id in the top
//! 16 bits, per-stream sequence number below) and the send time in nanoseconds since the
//! process's time base. The rest is padding.

use std::sync::OnceLock;
use std::time::Instant;

use warren_codec::content::write_content;
use warren_codec::frame::{begin_frame, end_frame, FRAME_METHOD, FRAME_OVERHEAD_SIZE};
use warren_codec::method::{BASIC_PUBLISH, CLASS_BASIC};
use warren_codec::wire::{put_short_str, put_u16};

/// Bytes of the body the tool itself uses (stream word + timestamp).
pub const BODY_HEADER: usize = 16;
/// Bits of the stream word holding the sequence number.
pub const SEQ_BITS: u32 = 48;
pub const SEQ_MASK: u64 = (1 << SEQ_BITS) - 1;

static BASE: OnceLock<Instant> = OnceLock::new();

/// Nanoseconds since the process's time base (monotonic, shared by all tasks and threads).
#[inline]
pub fn now_ns() -> u64 {
    BASE.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// Fix the time base early so later readings are small numbers.
pub fn init_clock() {
    let _ = now_ns();
}

#[inline]
pub fn stream_word(producer: u16, seq: u64) -> u64 {
    (u64::from(producer) << SEQ_BITS) | (seq & SEQ_MASK)
}

/// Append basic.publish (no frame-level allocation).
pub fn write_publish(out: &mut Vec<u8>, channel: u16, exchange: &str, routing_key: &str) {
    let at = begin_frame(out, FRAME_METHOD, channel);
    put_u16(out, CLASS_BASIC);
    put_u16(out, BASIC_PUBLISH);
    put_u16(out, 0); // ticket
    put_short_str(out, exchange.as_bytes());
    put_short_str(out, routing_key.as_bytes());
    out.push(0); // mandatory, immediate
    end_frame(out, at);
}

/// One message, fully framed (publish + header + body frames), ready to be copied into a
/// write buffer; only the stream word and timestamp are patched per message.
#[derive(Debug, Clone)]
pub struct Template {
    bytes: Vec<u8>,
    body_at: usize,
}

impl Template {
    pub fn new(
        channel: u16,
        exchange: &str,
        routing_key: &str,
        properties: &[u8],
        size: usize,
        frame_max: u32,
    ) -> Self {
        let size = size.max(BODY_HEADER);
        let mut bytes = Vec::with_capacity(size + 256);
        write_publish(&mut bytes, channel, exchange, routing_key);
        let header_at = bytes.len();
        // Padding that does not compress to nothing and is recognisable in a capture.
        let body: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
        write_content(
            &mut bytes,
            channel,
            CLASS_BASIC,
            properties,
            &body,
            frame_max,
        );
        // header frame: prefix(7) + class(2) + weight(2) + size(8) + properties + end(1)
        let header_len = FRAME_OVERHEAD_SIZE + 12 + properties.len();
        let body_at = header_at + header_len + 7;
        debug_assert_eq!(bytes[body_at..body_at + 2], body[..2]);
        Self { bytes, body_at }
    }

    /// Bytes per message on the wire.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    #[inline]
    pub fn append(&self, out: &mut Vec<u8>, word: u64, ts: u64) {
        let at = out.len() + self.body_at;
        out.extend_from_slice(&self.bytes);
        out[at..at + 8].copy_from_slice(&word.to_le_bytes());
        out[at + 8..at + 16].copy_from_slice(&ts.to_le_bytes());
    }
}

/// One frame seen in place: kind, channel, payload range.
#[derive(Debug, Clone, Copy)]
pub struct RawFrame<'a> {
    pub kind: u8,
    pub channel: u16,
    pub payload: &'a [u8],
}

/// Parse one frame from the front of `buf`: `Ok(Some((frame, bytes used)))`, `Ok(None)` if
/// incomplete (and how many bytes the whole frame needs, via `need`).
#[inline]
pub fn scan_frame<'a>(
    buf: &'a [u8],
    need: &mut usize,
) -> Result<Option<(RawFrame<'a>, usize)>, u8> {
    if buf.len() < 7 {
        *need = 7;
        return Ok(None);
    }
    let size = u32::from_be_bytes([buf[3], buf[4], buf[5], buf[6]]) as usize;
    let total = size + FRAME_OVERHEAD_SIZE;
    if buf.len() < total {
        *need = total;
        return Ok(None);
    }
    let end = buf[total - 1];
    if end != warren_codec::frame::FRAME_END {
        return Err(end);
    }
    Ok(Some((
        RawFrame {
            kind: buf[0],
            channel: u16::from_be_bytes([buf[1], buf[2]]),
            payload: &buf[7..7 + size],
        },
        total,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{Bytes, BytesMut};
    use warren_codec::content::decode_content_header;
    use warren_codec::frame::{split_frame, FRAME_BODY, FRAME_HEADER};
    use warren_codec::method::{decode_method, Method};

    #[test]
    fn template_is_a_valid_publish_and_patches_the_body() {
        for (size, frame_max) in [(16usize, 131072u32), (1000, 4096), (10_000, 4096)] {
            let t = Template::new(3, "ex", "key", &[0, 0], size, frame_max);
            let mut out = vec![9u8; 5];
            t.append(&mut out, stream_word(7, 42), 1234);
            let mut buf = BytesMut::from(&out[5..]);
            let f = split_frame(&mut buf, frame_max).unwrap().unwrap();
            match decode_method(f.payload).unwrap() {
                Method::Publish(p) => {
                    assert_eq!(&p.exchange[..], b"ex");
                    assert_eq!(&p.routing_key[..], b"key");
                }
                m => panic!("{m:?}"),
            }
            let h = split_frame(&mut buf, frame_max).unwrap().unwrap();
            assert_eq!(h.kind, FRAME_HEADER);
            let hdr = decode_content_header(h.payload).unwrap();
            assert_eq!(hdr.body_size, size as u64);
            let mut body = Vec::new();
            while let Some(b) = split_frame(&mut buf, frame_max).unwrap() {
                assert_eq!(b.kind, FRAME_BODY);
                assert_eq!(b.channel, 3);
                body.extend_from_slice(&b.payload);
            }
            assert_eq!(body.len(), size);
            assert_eq!(
                u64::from_le_bytes(body[..8].try_into().unwrap()),
                stream_word(7, 42)
            );
            assert_eq!(u64::from_le_bytes(body[8..16].try_into().unwrap()), 1234);
            let _ = Bytes::new();
        }
    }

    #[test]
    fn scan_frame_waits_for_whole_frames() {
        let t = Template::new(1, "", "q", &[0, 0], 16, 131072);
        let mut out = Vec::new();
        t.append(&mut out, 1, 2);
        let mut need = 0;
        assert!(scan_frame(&out[..3], &mut need).unwrap().is_none());
        assert_eq!(need, 7);
        assert!(scan_frame(&out[..10], &mut need).unwrap().is_none());
        let (f, used) = scan_frame(&out, &mut need).unwrap().unwrap();
        assert_eq!(f.kind, FRAME_METHOD);
        assert_eq!(f.channel, 1);
        assert_eq!(used, need.max(used));
    }
}
