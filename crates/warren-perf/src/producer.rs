//! The publishing side of the data plane: pre-encoded messages copied into a large write
//! buffer and sent with one write per batch, an optional publisher-confirm window, an optional
//! rate, and a reader task for confirms, returns, flow control and errors.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::stream::ReadHalf;
use anyhow::{anyhow, bail, Result};
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;
use tokio::time::Instant;
use warren_codec::method::{decode_method, write_method, Method};
use warren_codec::protocol::{channel, connection, AMQPClass};

use crate::client::{connection_close, Parts};
use crate::wire::{now_ns, scan_frame, stream_word, Template};

/// Where a producer's messages go.
pub struct Target {
    pub template: Template,
    /// The queue this target feeds (None: every queue, i.e. fanout).
    pub queue: Option<usize>,
    /// Messages sent to this target so far (also the next sequence number).
    pub sent: u64,
}

pub struct ProducerPlan {
    pub id: u16,
    pub targets: Vec<Target>,
    /// Flush the write buffer once it holds this many bytes.
    pub batch_bytes: usize,
    /// Publisher confirms with at most this many unconfirmed messages (0 = no confirms).
    pub window: u64,
    /// Messages per second for this producer (0 = as fast as possible).
    pub rate: f64,
    /// Stop after this many messages.
    pub limit: u64,
    /// Stop publishing at this instant.
    pub deadline: Instant,
    /// After publishing, wait at most until here for outstanding confirms.
    pub confirm_deadline: Instant,
    /// Close the connection politely at the end (false for the raw pipe: no broker).
    pub close: bool,
}

/// Counters the main task samples while the producer runs.
#[derive(Default)]
pub struct ProducerShared {
    pub published: AtomicU64,
    /// Confirmed (acked or nacked) messages.
    pub settled: AtomicU64,
    pub nacked: AtomicU64,
    pub returned: AtomicU64,
    pub blocked: AtomicBool,
    notify: Notify,
    error: Mutex<Option<String>>,
}

impl ProducerShared {
    fn fail(&self, e: String) {
        if let Ok(mut g) = self.error.lock() {
            g.get_or_insert(e);
        }
        self.notify.notify_one();
    }

    fn error(&self) -> Option<String> {
        self.error.lock().ok().and_then(|g| g.clone())
    }
}

pub struct ProducerResult {
    pub published: u64,
    /// (queue or None for all queues, messages sent there).
    pub per_target: Vec<(Option<usize>, u64)>,
    pub settled: u64,
    pub nacked: u64,
    pub returned: u64,
}

/// Publish per `plan` on an open channel 1 (confirm.select already done if `plan.window > 0`).
pub async fn run(
    parts: Parts,
    mut plan: ProducerPlan,
    shared: Arc<ProducerShared>,
) -> Result<ProducerResult> {
    let (rd, mut wr) = parts.stream.into_split();
    let reader = tokio::spawn(read_loop(rd, parts.leftover, Arc::clone(&shared)));
    let max_msg = plan
        .targets
        .iter()
        .map(|t| t.template.len())
        .max()
        .unwrap_or(0);
    let mut wbuf: Vec<u8> = Vec::with_capacity(plan.batch_bytes + max_msg);
    let mut published = 0u64;
    let mut next_target = 0usize;
    let ntargets = plan.targets.len();
    let started = Instant::now();
    let result: Result<()> = async {
        if ntargets == 0 {
            return Ok(());
        }
        loop {
            if let Some(e) = shared.error() {
                bail!(e);
            }
            let now = Instant::now();
            if now >= plan.deadline || published >= plan.limit {
                return Ok(());
            }
            let mut allowed = plan.limit - published;
            if plan.window > 0 {
                let outstanding = published - shared.settled.load(Ordering::Acquire);
                if outstanding >= plan.window {
                    let _ = tokio::time::timeout_at(plan.deadline, shared.notify.notified()).await;
                    continue;
                }
                allowed = allowed.min(plan.window - outstanding);
            }
            if plan.rate > 0.0 {
                let due = (now.duration_since(started).as_secs_f64() * plan.rate) as u64 + 1;
                if published >= due {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                }
                allowed = allowed.min(due - published);
            }
            let ts = now_ns();
            let mut n = 0u64;
            while n < allowed && wbuf.len() < plan.batch_bytes {
                let t = &mut plan.targets[next_target];
                t.template
                    .append(&mut wbuf, stream_word(plan.id, t.sent), ts);
                t.sent += 1;
                next_target += 1;
                if next_target == ntargets {
                    next_target = 0;
                }
                n += 1;
            }
            wr.write_all(&wbuf).await?;
            // TLS streams hold written data until flushed (a no-op for plain TCP).
            wr.flush().await?;
            wbuf.clear();
            published += n;
            shared.published.store(published, Ordering::Release);
        }
    }
    .await;
    // Wait for outstanding confirms (bounded), then close.
    if result.is_ok() && plan.window > 0 {
        while shared.settled.load(Ordering::Acquire) < published && shared.error().is_none() {
            if tokio::time::timeout_at(plan.confirm_deadline, shared.notify.notified())
                .await
                .is_err()
            {
                break;
            }
        }
    }
    if plan.close {
        let mut close = Vec::new();
        write_method(&mut close, 0, &connection_close());
        let _ = wr.write_all(&close).await;
        let _ = wr.flush().await;
        // close-ok means the broker has processed everything we wrote; dropping the socket
        // before that would discard what a flow-controlled broker has not read yet.
        let limit = plan
            .confirm_deadline
            .max(Instant::now() + Duration::from_secs(3));
        let _ = tokio::time::timeout_at(limit, reader).await;
    } else {
        reader.abort();
    }
    result?;
    Ok(ProducerResult {
        published,
        per_target: plan.targets.iter().map(|t| (t.queue, t.sent)).collect(),
        settled: shared.settled.load(Ordering::Acquire),
        nacked: shared.nacked.load(Ordering::Acquire),
        returned: shared.returned.load(Ordering::Acquire),
    })
}

/// Publisher confirms: tags up to `low` are settled, plus any single acks above it.
#[derive(Default)]
struct Confirms {
    low: u64,
    above: BTreeSet<u64>,
}

impl Confirms {
    fn settle(&mut self, tag: u64, multiple: bool) {
        if multiple {
            if tag > self.low {
                self.above = self.above.split_off(&(tag + 1));
                self.low = tag;
            }
        } else if tag == self.low + 1 {
            self.low = tag;
        } else if tag > self.low {
            self.above.insert(tag);
        }
        while self.above.remove(&(self.low + 1)) {
            self.low += 1;
        }
    }

    fn count(&self) -> u64 {
        self.low + self.above.len() as u64
    }
}

async fn read_loop(mut rd: ReadHalf, leftover: Vec<u8>, shared: Arc<ProducerShared>) {
    if let Err(e) = read_loop_inner(&mut rd, leftover, &shared).await {
        shared.fail(e.to_string());
    }
}

async fn read_loop_inner(
    rd: &mut ReadHalf,
    leftover: Vec<u8>,
    shared: &ProducerShared,
) -> Result<()> {
    let mut buf = vec![0u8; 256 << 10];
    let mut end = leftover.len().min(buf.len());
    buf[..end].copy_from_slice(&leftover[..end]);
    let mut confirms = Confirms::default();
    let mut need = 0usize;
    loop {
        let mut pos = 0;
        let mut changed = false;
        while let Some((f, used)) =
            scan_frame(&buf[pos..end], &mut need).map_err(|e| anyhow!("bad frame end {e:#04x}"))?
        {
            pos += used;
            let p = f.payload;
            if f.kind != warren_codec::frame::FRAME_METHOD {
                continue; // returned message content, heartbeats
            }
            if p.len() >= 13 && p[..3] == [0, 60, 0] && (p[3] == 80 || p[3] == 120) {
                let tag = u64::from_be_bytes(p[4..12].try_into().unwrap_or_default());
                let before = confirms.count();
                confirms.settle(tag, p[12] & 1 != 0);
                if p[3] == 120 {
                    shared
                        .nacked
                        .fetch_add(confirms.count() - before, Ordering::Relaxed);
                }
                changed = true;
                continue;
            }
            match decode_method(Bytes::copy_from_slice(p)).map_err(|e| anyhow!("{e}"))? {
                Method::Other(AMQPClass::Basic(
                    warren_codec::protocol::basic::AMQPMethod::Return(_),
                )) => {
                    shared.returned.fetch_add(1, Ordering::Relaxed);
                }
                Method::Other(AMQPClass::Connection(connection::AMQPMethod::Blocked(_))) => {
                    shared.blocked.store(true, Ordering::Release);
                }
                Method::Other(AMQPClass::Connection(connection::AMQPMethod::Unblocked(_))) => {
                    shared.blocked.store(false, Ordering::Release);
                }
                Method::Other(AMQPClass::Connection(connection::AMQPMethod::CloseOk(_))) => {
                    return Ok(());
                }
                Method::Other(AMQPClass::Connection(connection::AMQPMethod::Close(c))) => bail!(
                    "server closed the connection: {}",
                    crate::client::reply(
                        c.reply_code,
                        c.reply_text.as_str(),
                        c.class_id,
                        c.method_id
                    )
                ),
                Method::Other(AMQPClass::Channel(channel::AMQPMethod::Close(c))) => bail!(
                    "server closed the channel: {}",
                    crate::client::reply(
                        c.reply_code,
                        c.reply_text.as_str(),
                        c.class_id,
                        c.method_id
                    )
                ),
                _ => {}
            }
        }
        if changed {
            shared.settled.store(confirms.count(), Ordering::Release);
            shared.notify.notify_one();
        }
        buf.copy_within(pos..end, 0);
        end -= pos;
        if need > buf.len() {
            buf.resize(need, 0);
        }
        let n = rd.read(&mut buf[end..]).await?;
        if n == 0 {
            return Ok(());
        }
        end += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirms_settle_in_any_order() {
        let mut c = Confirms::default();
        c.settle(2, false);
        assert_eq!(c.count(), 1);
        c.settle(1, false);
        assert_eq!((c.low, c.count()), (2, 2));
        c.settle(5, false);
        c.settle(4, true);
        assert_eq!((c.low, c.count()), (5, 5));
        c.settle(3, true);
        assert_eq!(c.count(), 5);
        c.settle(9, true);
        assert_eq!(c.count(), 9);
    }
}
