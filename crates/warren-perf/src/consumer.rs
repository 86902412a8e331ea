//! The consuming side of the data plane: a sans-I/O frame parser that follows deliveries in
//! place in a large read buffer (no per-message allocation), checks sequence numbers per
//! stream, records latency, and emits batched `basic.ack multiple=true`; plus an async and a
//! blocking driver around it.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use warren_codec::frame::{FRAME_BODY, FRAME_HEADER, FRAME_HEARTBEAT, FRAME_METHOD};
use warren_codec::method::{decode_method, write_ack, write_method, Method};
use warren_codec::protocol::{basic, channel, connection, AMQPClass};

use crate::stream::Stream;

use crate::client::connection_close;
use crate::stats::{Histogram, Track};
use crate::wire::{now_ns, scan_frame, BODY_HEADER, SEQ_BITS, SEQ_MASK};

#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// Number of producers (stream index = queue * producers + producer).
    pub producers: usize,
    /// Number of queues in the run (queue indexes come from consumer tags).
    pub queues: usize,
    /// Manual acknowledgements, sent as `basic.ack multiple=true` every `ack_every` messages.
    pub manual_ack: bool,
    pub ack_every: u64,
    pub channel: u16,
    /// Keep every latency sample (latency scenario) instead of only the histogram.
    pub exact_latency: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Method,
    Header,
    Body { remaining: u64, first: bool },
}

/// What one consumer saw.
pub struct ConsumerCore {
    cfg: ConsumerConfig,
    state: State,
    queue: u32,
    tag: u64,
    word: u64,
    ts: u64,
    size: u64,
    has_header: bool,
    unacked: u64,
    last_tag: u64,
    pub consumed: u64,
    pub body_bytes: u64,
    pub redelivered: u64,
    /// Messages not produced by this run (no sequence header or unknown stream).
    pub foreign: u64,
    pub tracks: Vec<Track>,
    pub hist: Histogram,
    pub raw: Vec<u64>,
    /// Frames to send (acks, close-ok); the driver writes and clears it.
    pub out: Vec<u8>,
    /// Bytes the next incomplete frame needs in total.
    pub need: usize,
    /// connection.close-ok seen (after we asked to close).
    pub closed: bool,
}

impl ConsumerCore {
    pub fn new(cfg: ConsumerConfig) -> Self {
        let streams = cfg.queues.max(1) * cfg.producers.max(1);
        Self {
            tracks: vec![Track::default(); streams],
            cfg,
            state: State::Method,
            queue: 0,
            tag: 0,
            word: 0,
            ts: 0,
            size: 0,
            has_header: false,
            unacked: 0,
            last_tag: 0,
            consumed: 0,
            body_bytes: 0,
            redelivered: 0,
            foreign: 0,
            hist: Histogram::default(),
            raw: Vec::new(),
            out: Vec::with_capacity(4096),
            need: 0,
            closed: false,
        }
    }

    /// Parse as many whole frames from `buf` as there are; returns the bytes used.
    /// `now` is when these bytes arrived (ns since the time base).
    pub fn feed(&mut self, buf: &[u8], now: u64) -> Result<usize> {
        let mut pos = 0;
        loop {
            let (frame, used) = match scan_frame(&buf[pos..], &mut self.need) {
                Ok(Some(x)) => x,
                Ok(None) => break,
                Err(end) => bail!("bad frame end marker {end:#04x} from server"),
            };
            pos += used;
            let p = frame.payload;
            match (frame.kind, self.state) {
                (FRAME_METHOD, State::Method) => self.method(frame.channel, p)?,
                (FRAME_HEADER, State::Header) => {
                    if p.len() < 12 {
                        bail!("short content header");
                    }
                    let size = u64::from_be_bytes(p[4..12].try_into().unwrap_or_default());
                    self.size = size;
                    self.has_header = false;
                    if size == 0 {
                        self.complete(now);
                    } else {
                        self.state = State::Body {
                            remaining: size,
                            first: true,
                        };
                    }
                }
                (FRAME_BODY, State::Body { remaining, first }) => {
                    if first && p.len() >= BODY_HEADER {
                        self.word = u64::from_le_bytes(p[0..8].try_into().unwrap_or_default());
                        self.ts = u64::from_le_bytes(p[8..16].try_into().unwrap_or_default());
                        self.has_header = true;
                    }
                    let remaining = remaining.saturating_sub(p.len() as u64);
                    if remaining == 0 {
                        self.complete(now);
                    } else {
                        self.state = State::Body {
                            remaining,
                            first: false,
                        };
                    }
                }
                (FRAME_HEARTBEAT, _) => {}
                (kind, state) => bail!("unexpected frame type {kind} while in {state:?}"),
            }
        }
        if self.cfg.manual_ack && self.unacked >= self.cfg.ack_every {
            self.ack_all();
        }
        Ok(pos)
    }

    /// Acknowledge everything received so far (multiple=true).
    pub fn ack_all(&mut self) {
        if self.unacked > 0 {
            write_ack(&mut self.out, self.cfg.channel, self.last_tag, true);
            self.unacked = 0;
        }
    }

    #[inline]
    fn method(&mut self, channel: u16, p: &[u8]) -> Result<()> {
        if p.len() >= 4 && p[0] == 0 && p[1] == 60 && p[2] == 0 {
            match p[3] {
                // basic.deliver: consumer-tag, delivery-tag, redelivered, exchange, routing-key
                60 => {
                    let tl = *p.get(4).ok_or_else(|| anyhow!("short deliver"))? as usize;
                    let tag = p.get(5..5 + tl).ok_or_else(|| anyhow!("short deliver"))?;
                    let rest = p
                        .get(5 + tl..5 + tl + 9)
                        .ok_or_else(|| anyhow!("short deliver"))?;
                    self.queue = parse_index(tag);
                    self.tag = u64::from_be_bytes(rest[..8].try_into().unwrap_or_default());
                    if rest[8] != 0 {
                        self.redelivered += 1;
                    }
                    self.state = State::Header;
                    return Ok(());
                }
                // basic.publish: the raw pipe carries publishes straight through.
                40 => {
                    self.queue = 0;
                    self.tag = 0;
                    self.state = State::Header;
                    return Ok(());
                }
                _ => {}
            }
        }
        let m = decode_method(Bytes::copy_from_slice(p)).map_err(|e| anyhow!("{e}"))?;
        match m {
            Method::Other(AMQPClass::Basic(basic::AMQPMethod::Cancel(c))) => {
                bail!("server cancelled consumer {}", c.consumer_tag.as_str())
            }
            Method::Other(AMQPClass::Channel(channel::AMQPMethod::Close(c))) => bail!(
                "server closed channel {channel}: {}",
                crate::client::reply(c.reply_code, c.reply_text.as_str(), c.class_id, c.method_id)
            ),
            Method::Other(AMQPClass::Connection(connection::AMQPMethod::Close(c))) => {
                write_method(
                    &mut self.out,
                    0,
                    &AMQPClass::Connection(connection::AMQPMethod::CloseOk(connection::CloseOk {})),
                );
                bail!(
                    "server closed the connection: {} {}",
                    c.reply_code,
                    c.reply_text.as_str()
                )
            }
            Method::Other(AMQPClass::Connection(connection::AMQPMethod::CloseOk(_))) => {
                self.closed = true;
                Ok(())
            }
            // consume-ok, qos-ok, blocked/unblocked and the like need nothing.
            _ => Ok(()),
        }
    }

    #[inline]
    fn complete(&mut self, now: u64) {
        self.state = State::Method;
        self.consumed += 1;
        self.body_bytes += self.size;
        if self.has_header {
            let producer = (self.word >> SEQ_BITS) as usize;
            let idx = self.queue as usize * self.cfg.producers.max(1) + producer;
            match self.tracks.get_mut(idx) {
                Some(t) if producer < self.cfg.producers.max(1) => {
                    t.record(self.word & SEQ_MASK);
                    let lat = now.saturating_sub(self.ts);
                    if self.cfg.exact_latency {
                        self.raw.push(lat);
                    } else {
                        self.hist.record(lat);
                    }
                }
                _ => self.foreign += 1,
            }
        } else {
            self.foreign += 1;
        }
        if self.cfg.manual_ack {
            self.last_tag = self.tag;
            self.unacked += 1;
        }
    }
}

/// Consumer tags are the queue's index in decimal.
#[inline]
fn parse_index(tag: &[u8]) -> u32 {
    let mut v: u32 = 0;
    for &b in tag {
        if !b.is_ascii_digit() {
            return u32::MAX;
        }
        v = v.wrapping_mul(10).wrapping_add(u32::from(b - b'0'));
    }
    v
}

/// Read buffer size: large, and at least two maximal frames.
fn buffer_size(frame_max: u32) -> usize {
    (1usize << 20).max(2 * (frame_max as usize + 8))
}

/// A read buffer with a parse cursor, reused for the whole run.
struct ReadBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl ReadBuf {
    fn new(frame_max: u32, leftover: &[u8]) -> Self {
        let mut buf = vec![0u8; buffer_size(frame_max).max(leftover.len() * 2)];
        buf[..leftover.len()].copy_from_slice(leftover);
        Self {
            buf,
            start: 0,
            end: leftover.len(),
        }
    }

    fn parse(&mut self, core: &mut ConsumerCore, now: u64) -> Result<()> {
        if self.end > self.start {
            let used = core.feed(&self.buf[self.start..self.end], now)?;
            self.start += used;
        }
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.buf.len() - self.end < (64 << 10) || self.start + core.need > self.buf.len()
        {
            // Move the incomplete frame to the front so the next read has room.
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if core.need > self.buf.len() {
                self.buf.resize(core.need, 0);
            }
        }
        Ok(())
    }

    fn space(&mut self) -> &mut [u8] {
        &mut self.buf[self.end..]
    }
}

/// Run a consumer on its socket until `stop` turns true; then close the connection politely.
/// `consumed` is updated after every read (it is what the sampler sees).
pub async fn run_async(
    mut stream: Stream,
    leftover: Vec<u8>,
    frame_max: u32,
    core: &mut ConsumerCore,
    consumed: &AtomicU64,
    mut stop: watch::Receiver<bool>,
    close: bool,
) -> Result<()> {
    let mut rb = ReadBuf::new(frame_max, &leftover);
    let mut stopping = false;
    loop {
        rb.parse(core, now_ns())?;
        if !core.out.is_empty() {
            stream.write_all(&core.out).await?;
            // TLS streams hold written data until flushed (a no-op for plain TCP).
            stream.flush().await?;
            core.out.clear();
        }
        consumed.store(core.consumed, Ordering::Relaxed);
        if stopping || *stop.borrow() {
            break;
        }
        tokio::select! {
            biased;
            r = stream.read(rb.space()) => {
                let n = r?;
                if n == 0 {
                    bail!("server closed the connection");
                }
                rb.end += n;
            }
            // A dropped sender means the run is over too.
            r = stop.changed() => stopping = r.is_err(),
        }
    }
    if !close {
        return Ok(());
    }
    // Close: acknowledge what was consumed (so the broker does not requeue it), then
    // connection.close, then keep reading (deliveries still count) until close-ok or a short
    // timeout.
    if core.cfg.manual_ack {
        core.ack_all();
    }
    write_method(&mut core.out, 0, &connection_close());
    stream.write_all(&core.out).await?;
    // TLS streams hold written data until flushed (a no-op for plain TCP).
    stream.flush().await?;
    core.out.clear();
    let closing = async {
        while !core.closed {
            let n = stream.read(rb.space()).await?;
            if n == 0 {
                break;
            }
            rb.end += n;
            if rb.parse(core, now_ns()).is_err() {
                break;
            }
        }
        Ok::<_, anyhow::Error>(())
    };
    let _ = tokio::time::timeout(Duration::from_secs(3), closing).await;
    Ok(())
}

/// The blocking variant (latency scenario): a dedicated thread, so wake-ups are immediate.
pub fn run_blocking(
    mut stream: std::net::TcpStream,
    leftover: Vec<u8>,
    frame_max: u32,
    core: &mut ConsumerCore,
    consumed: &AtomicU64,
    stop: &AtomicBool,
) -> Result<()> {
    stream.set_read_timeout(Some(Duration::from_millis(50)))?;
    let mut rb = ReadBuf::new(frame_max, &leftover);
    loop {
        rb.parse(core, now_ns())?;
        if !core.out.is_empty() {
            stream.write_all(&core.out)?;
            core.out.clear();
        }
        consumed.store(core.consumed, Ordering::Relaxed);
        if stop.load(Ordering::Acquire) {
            break;
        }
        match stream.read(rb.space()) {
            Ok(0) => bail!("server closed the connection"),
            Ok(n) => rb.end += n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    if core.cfg.manual_ack {
        core.ack_all();
    }
    write_method(&mut core.out, 0, &connection_close());
    stream.write_all(&core.out)?;
    core.out.clear();
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while !core.closed && std::time::Instant::now() < deadline {
        match stream.read(rb.space()) {
            Ok(0) => break,
            Ok(n) => {
                rb.end += n;
                if rb.parse(core, now_ns()).is_err() {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) => {}
            Err(_) => break,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{stream_word, Template};
    use warren_codec::content::write_content;
    use warren_codec::method::write_deliver;

    fn deliver(out: &mut Vec<u8>, queue: usize, tag: u64, word: u64, size: usize, frame_max: u32) {
        write_deliver(out, 1, queue.to_string().as_bytes(), tag, false, b"x", b"k");
        let mut body = vec![0u8; size];
        body[..8].copy_from_slice(&word.to_le_bytes());
        body[8..16].copy_from_slice(&5u64.to_le_bytes());
        write_content(out, 1, 60, &[0, 0], &body, frame_max);
    }

    #[test]
    fn follows_deliveries_split_anywhere_and_acks_in_batches() {
        let cfg = ConsumerConfig {
            producers: 2,
            queues: 2,
            manual_ack: true,
            ack_every: 3,
            channel: 1,
            exact_latency: false,
        };
        let mut wire = Vec::new();
        let mut tag = 0;
        for seq in 0..5u64 {
            for (q, p) in [(0usize, 0u16), (1, 1), (1, 0)] {
                tag += 1;
                deliver(&mut wire, q, tag, stream_word(p, seq), 5000, 4096);
            }
        }
        // Swap two messages of stream (1,1) to create one reordering.
        let mut core = ConsumerCore::new(cfg.clone());
        // Feed in awkward pieces.
        let mut buf: Vec<u8> = Vec::new();
        for chunk in wire.chunks(777) {
            buf.extend_from_slice(chunk);
            let used = core.feed(&buf, 10).unwrap();
            buf.drain(..used);
        }
        assert!(buf.is_empty());
        assert_eq!(core.consumed, 15);
        assert_eq!(core.foreign, 0);
        let idx = |q: usize, p: usize| q * 2 + p;
        assert_eq!(core.tracks[idx(0, 0)].received, 5);
        assert_eq!(core.tracks[idx(1, 1)].received, 5);
        assert_eq!(core.tracks[idx(1, 0)].received, 5);
        assert_eq!(core.tracks[idx(0, 1)].received, 0);
        assert!(core.tracks.iter().all(|t| t.reordered == 0));
        // Acks: multiple=true, each covering everything so far.
        let mut acks = BytesMut::from(&core.out[..]);
        let mut last = 0;
        while let Some(f) = warren_codec::frame::split_frame(&mut acks, 0).unwrap() {
            match decode_method(f.payload).unwrap() {
                Method::Ack {
                    delivery_tag,
                    multiple,
                } => {
                    assert!(multiple);
                    assert!(delivery_tag > last);
                    last = delivery_tag;
                }
                m => panic!("{m:?}"),
            }
        }
        assert!(last >= 12);
        core.ack_all();
        assert_eq!(core.hist.total, 15);
    }

    #[test]
    fn reads_raw_publishes_too() {
        let t = Template::new(1, "", "q", &[0, 0], 16, 131072);
        let mut wire = Vec::new();
        for s in [0u64, 2, 1] {
            t.append(&mut wire, stream_word(0, s), 1);
        }
        let mut core = ConsumerCore::new(ConsumerConfig {
            producers: 1,
            queues: 1,
            manual_ack: false,
            ack_every: 1,
            channel: 1,
            exact_latency: true,
        });
        assert_eq!(core.feed(&wire, 100).unwrap(), wire.len());
        assert_eq!(core.consumed, 3);
        assert_eq!(core.tracks[0].reordered, 1);
        assert_eq!(core.raw, vec![99, 99, 99]);
        assert!(core.out.is_empty());
    }

    use bytes::BytesMut;
}
