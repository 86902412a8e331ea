//! The write half of a connection: a task that turns batches of encoded frames into as few
//! socket writes as possible. The connection's driver appends to a shared buffer and never
//! waits on the socket, so a client that is slow to read cannot stall the driver's reading
//! (which would deadlock single-threaded clients that publish while deliveries pile up).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::Notify;

/// Above this many unwritten bytes the driver stops encoding deliveries.
pub const PENDING_HIGH_BYTES: usize = 4 << 20;

#[derive(Debug, Default)]
pub struct Writer {
    buf: Mutex<Vec<u8>>,
    wake: Notify,
    drained: Notify,
    pending: AtomicUsize,
    written_total: AtomicU64,
    closing: AtomicBool,
    failed: AtomicBool,
}

impl Writer {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Hand over everything in `out` for writing; `out` is left empty (its capacity may move).
    pub fn submit(&self, out: &mut Vec<u8>) {
        if out.is_empty() {
            return;
        }
        let n = out.len();
        {
            let mut buf = self.buf.lock();
            if buf.is_empty() {
                std::mem::swap(&mut *buf, out);
            } else {
                buf.extend_from_slice(out);
                out.clear();
            }
        }
        self.pending.fetch_add(n, Ordering::AcqRel);
        self.wake.notify_one();
    }

    pub fn pending_bytes(&self) -> usize {
        self.pending.load(Ordering::Acquire)
    }

    pub fn congested(&self) -> bool {
        self.pending_bytes() > PENDING_HIGH_BYTES
    }

    /// Total bytes written to the socket so far (heartbeat bookkeeping).
    pub fn written_total(&self) -> u64 {
        self.written_total.load(Ordering::Acquire)
    }

    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    /// Resolves after the writer made progress.
    pub async fn drained(&self) {
        self.drained.notified().await;
    }

    /// Write what is buffered, then stop.
    pub fn close(&self) {
        self.closing.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    /// The writer task: runs until closed (after flushing) or the socket fails.
    pub async fn run(self: Arc<Self>, mut socket: OwnedWriteHalf) {
        let mut batch = Vec::new();
        loop {
            {
                let mut buf = self.buf.lock();
                std::mem::swap(&mut *buf, &mut batch);
            }
            if batch.is_empty() {
                if self.closing.load(Ordering::Acquire) {
                    break;
                }
                self.wake.notified().await;
                continue;
            }
            if socket.write_all(&batch).await.is_err() {
                self.failed.store(true, Ordering::Release);
                self.drained.notify_one();
                break;
            }
            self.pending.fetch_sub(batch.len(), Ordering::AcqRel);
            self.written_total
                .fetch_add(batch.len() as u64, Ordering::AcqRel);
            // Keep a buffer sized for steady traffic, not for one burst or one large message.
            if batch.capacity() > 1 << 20 {
                batch = Vec::new();
            } else {
                batch.clear();
            }
            self.drained.notify_one();
        }
        let _ = socket.shutdown().await;
    }
}
