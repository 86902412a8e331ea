//! Primitive readers and writers for AMQP's big-endian wire types, used by the hand-rolled methods.

use bytes::Bytes;

/// The payload ended before a field did, or a field was malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed or truncated field")]
pub struct Truncated;

/// A cursor over a frame payload. Strings are returned as zero-copy slices of the payload.
pub struct WireReader {
    buf: Bytes,
    pos: usize,
}

impl WireReader {
    pub fn new(buf: Bytes) -> Self {
        Self { buf, pos: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&[u8], Truncated> {
        if self.remaining() < n {
            return Err(Truncated);
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn u8(&mut self) -> Result<u8, Truncated> {
        Ok(self.take(1)?[0])
    }

    pub fn u16(&mut self) -> Result<u16, Truncated> {
        let s = self.take(2)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }

    pub fn u32(&mut self) -> Result<u32, Truncated> {
        let s = self.take(4)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }

    pub fn u64(&mut self) -> Result<u64, Truncated> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_be_bytes(a))
    }

    /// A short string (u8 length prefix) as a slice of the payload.
    pub fn short_str(&mut self) -> Result<Bytes, Truncated> {
        let len = self.u8()? as usize;
        if self.remaining() < len {
            return Err(Truncated);
        }
        let s = self.buf.slice(self.pos..self.pos + len);
        self.pos += len;
        Ok(s)
    }

    /// Everything not read yet.
    pub fn rest(&mut self) -> Bytes {
        let s = self.buf.slice(self.pos..);
        self.pos = self.buf.len();
        s
    }
}

pub fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

pub fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

pub fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Append a short string; callers guarantee `s.len() <= 255` (names are validated on entry).
pub fn put_short_str(out: &mut Vec<u8>, s: &[u8]) {
    let len = s.len().min(255);
    out.push(len as u8);
    out.extend_from_slice(&s[..len]);
}
