//! The frame layer: splitting a byte stream into AMQP frames, checked before buffering.
//!
//! A frame is `type:u8 channel:u16 size:u32 payload[size] 0xCE`. The size is checked against
//! the negotiated `frame_max` as soon as the 7-byte header is readable, so an oversized frame
//! is refused before a single byte of its payload is held in memory.

use bytes::{Buf, Bytes, BytesMut};

pub const FRAME_METHOD: u8 = 1;
pub const FRAME_HEADER: u8 = 2;
pub const FRAME_BODY: u8 = 3;
pub const FRAME_HEARTBEAT: u8 = 8;
pub const FRAME_END: u8 = 0xCE;

/// Bytes before the payload: type, channel, size.
pub const FRAME_PREFIX_SIZE: usize = 7;
/// Bytes a frame adds around its payload: prefix plus the end octet.
pub const FRAME_OVERHEAD_SIZE: usize = 8;
/// The smallest frame_max a peer may negotiate (spec: frame-min-size).
pub const FRAME_MIN_SIZE: u32 = 4096;

/// The protocol header a 0-9-1 client sends first, and what we answer to a wrong one.
pub const PROTOCOL_HEADER: &[u8; 8] = b"AMQP\x00\x00\x09\x01";

/// One complete frame; the payload shares the read buffer's allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub kind: u8,
    pub channel: u16,
    pub payload: Bytes,
}

/// What can be wrong with a frame's envelope. All are connection errors (501 FRAME_ERROR
/// or 505 UNEXPECTED_FRAME for an unknown type, as RabbitMQ answers).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame size {size} larger than negotiated maximum {frame_max}")]
    TooLarge { size: u32, frame_max: u32 },
    #[error("bad frame end marker {0:#04x}")]
    BadFrameEnd(u8),
    #[error("unknown frame type {0}")]
    UnknownType(u8),
}

/// Split one frame off the front of `buf`, or `Ok(None)` if more bytes are needed.
///
/// `frame_max` counts the whole frame including its 8 bytes of envelope (spec semantics);
/// 0 means "no limit" and is treated as u32::MAX.
pub fn split_frame(buf: &mut BytesMut, frame_max: u32) -> Result<Option<Frame>, FrameError> {
    if buf.len() < FRAME_PREFIX_SIZE {
        return Ok(None);
    }
    let kind = buf[0];
    let channel = u16::from_be_bytes([buf[1], buf[2]]);
    let size = u32::from_be_bytes([buf[3], buf[4], buf[5], buf[6]]);
    if !matches!(
        kind,
        FRAME_METHOD | FRAME_HEADER | FRAME_BODY | FRAME_HEARTBEAT
    ) {
        return Err(FrameError::UnknownType(kind));
    }
    let limit = if frame_max == 0 { u32::MAX } else { frame_max };
    if u64::from(size) + FRAME_OVERHEAD_SIZE as u64 > u64::from(limit) {
        return Err(FrameError::TooLarge {
            size,
            frame_max: limit,
        });
    }
    let total = size as usize + FRAME_OVERHEAD_SIZE;
    if buf.len() < total {
        // Reserve once for the rest of this frame so large bodies are read with few reallocations.
        buf.reserve(total - buf.len());
        return Ok(None);
    }
    let end = buf[total - 1];
    if end != FRAME_END {
        return Err(FrameError::BadFrameEnd(end));
    }
    buf.advance(FRAME_PREFIX_SIZE);
    let payload = buf.split_to(size as usize).freeze();
    buf.advance(1);
    Ok(Some(Frame {
        kind,
        channel,
        payload,
    }))
}

/// Append a frame envelope around `payload`.
pub fn write_frame(out: &mut Vec<u8>, kind: u8, channel: u16, payload: &[u8]) {
    out.reserve(payload.len() + FRAME_OVERHEAD_SIZE);
    out.push(kind);
    out.extend_from_slice(&channel.to_be_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out.push(FRAME_END);
}

/// Append a heartbeat frame (always on channel 0).
pub fn write_heartbeat(out: &mut Vec<u8>) {
    out.extend_from_slice(&[FRAME_HEARTBEAT, 0, 0, 0, 0, 0, 0, FRAME_END]);
}

/// Start a frame whose payload is written next; finish it with [`end_frame`].
/// Returns the offset of the size field so the size can be patched in.
pub fn begin_frame(out: &mut Vec<u8>, kind: u8, channel: u16) -> usize {
    out.push(kind);
    out.extend_from_slice(&channel.to_be_bytes());
    let at = out.len();
    out.extend_from_slice(&[0, 0, 0, 0]);
    at
}

/// Patch the size of a frame begun with [`begin_frame`] and append the end octet.
pub fn end_frame(out: &mut Vec<u8>, size_at: usize) {
    let size = (out.len() - size_at - 4) as u32;
    out[size_at..size_at + 4].copy_from_slice(&size.to_be_bytes());
    out.push(FRAME_END);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_complete_frames_and_waits_for_partial_ones() {
        let mut out = Vec::new();
        write_frame(&mut out, FRAME_BODY, 7, b"hello");
        write_heartbeat(&mut out);
        let mut buf = BytesMut::from(&out[..out.len() - 3]);
        let frame = split_frame(&mut buf, 131072).unwrap().unwrap();
        assert_eq!(frame.channel, 7);
        assert_eq!(&frame.payload[..], b"hello");
        assert_eq!(split_frame(&mut buf, 131072).unwrap(), None);
        buf.extend_from_slice(&out[out.len() - 3..]);
        let hb = split_frame(&mut buf, 131072).unwrap().unwrap();
        assert_eq!(hb.kind, FRAME_HEARTBEAT);
        assert!(buf.is_empty());
    }

    #[test]
    fn refuses_oversized_frame_from_its_header_alone() {
        let mut buf = BytesMut::from(&[FRAME_METHOD, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF][..]);
        assert!(matches!(
            split_frame(&mut buf, 131072),
            Err(FrameError::TooLarge { .. })
        ));
    }

    #[test]
    fn refuses_bad_end_and_unknown_type() {
        let mut out = Vec::new();
        write_frame(&mut out, FRAME_BODY, 1, b"x");
        *out.last_mut().unwrap() = 0;
        assert_eq!(
            split_frame(&mut BytesMut::from(&out[..]), 0),
            Err(FrameError::BadFrameEnd(0))
        );
        let mut buf = BytesMut::from(&[5u8, 0, 0, 0, 0, 0, 0, FRAME_END][..]);
        assert_eq!(split_frame(&mut buf, 0), Err(FrameError::UnknownType(5)));
    }
}
