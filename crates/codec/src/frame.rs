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

/// What can be wrong with a frame's envelope. Both are connection errors (501 FRAME_ERROR).
/// Frames of unknown type are returned as frames: the connection reports them with their payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame of type {kind} has size {size}, larger than frame_max {frame_max}")]
    TooLarge { kind: u8, size: u32, frame_max: u32 },
    #[error("frame of type {kind} has bad frame end marker {end:#04x}")]
    BadFrameEnd { kind: u8, end: u8, payload: Bytes },
}

/// True for the four frame types AMQP 0-9-1 defines.
pub fn is_known_kind(kind: u8) -> bool {
    matches!(
        kind,
        FRAME_METHOD | FRAME_HEADER | FRAME_BODY | FRAME_HEARTBEAT
    )
}

/// Split one frame off the front of `buf`, or `Ok(None)` if more bytes are needed.
///
/// A payload may be as large as `frame_max` (RabbitMQ allows the 8 envelope bytes as slack
/// beyond the spec's limit of frame_max - 8); 0 means no limit.
pub fn split_frame(buf: &mut BytesMut, frame_max: u32) -> Result<Option<Frame>, FrameError> {
    if buf.len() < FRAME_PREFIX_SIZE {
        return Ok(None);
    }
    let kind = buf[0];
    let channel = u16::from_be_bytes([buf[1], buf[2]]);
    let size = u32::from_be_bytes([buf[3], buf[4], buf[5], buf[6]]);
    if frame_max != 0 && size > frame_max {
        return Err(FrameError::TooLarge {
            kind,
            size,
            frame_max,
        });
    }
    let total = size as usize + FRAME_OVERHEAD_SIZE;
    if buf.len() < total {
        // Reserve once for the rest of this frame so large bodies are read with few reallocations.
        buf.reserve(total - buf.len());
        return Ok(None);
    }
    let end = buf[total - 1];
    buf.advance(FRAME_PREFIX_SIZE);
    let payload = buf.split_to(size as usize).freeze();
    buf.advance(1);
    if end != FRAME_END {
        return Err(FrameError::BadFrameEnd { kind, end, payload });
    }
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
    fn refuses_bad_end_and_returns_unknown_types_whole() {
        let mut out = Vec::new();
        write_frame(&mut out, FRAME_BODY, 1, b"x");
        *out.last_mut().unwrap() = 0;
        assert!(matches!(
            split_frame(&mut BytesMut::from(&out[..]), 0),
            Err(FrameError::BadFrameEnd {
                kind: FRAME_BODY,
                end: 0,
                ..
            })
        ));
        let mut buf = BytesMut::from(&[5u8, 0, 0, 0, 0, 0, 0, FRAME_END][..]);
        let frame = split_frame(&mut buf, 0).unwrap().unwrap();
        assert!(!is_known_kind(frame.kind));
    }

    #[test]
    fn accepts_payload_of_exactly_frame_max() {
        let mut out = Vec::new();
        write_frame(&mut out, FRAME_BODY, 1, &[7u8; 4096]);
        assert!(split_frame(&mut BytesMut::from(&out[..]), 4096)
            .unwrap()
            .is_some());
        write_frame(&mut out, FRAME_BODY, 1, &[7u8; 4097]);
        let mut buf = BytesMut::from(&out[4096 + 8..]);
        assert!(matches!(
            split_frame(&mut buf, 4096),
            Err(FrameError::TooLarge { size: 4097, .. })
        ));
    }
}
