//! The write half of a connection. The driver hands over each batch of encoded frames; when
//! nothing is queued it is written at once with a non-blocking write (no task hop on the
//! delivery path), and whatever the socket does not take is queued for the writer task. The
//! driver never waits on the socket, so a client that is slow to read cannot stall the
//! driver's reading (which would deadlock single-threaded clients that publish while
//! deliveries pile up).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::Notify;

use super::transport::{seal, TlsSession};

/// Above this many unwritten bytes the driver stops encoding deliveries.
pub const PENDING_HIGH_BYTES: usize = 4 << 20;

/// Above this many unwritten bytes (replies included) the driver stops reading the client:
/// a peer that sends requests but never reads the answers is pushed back by TCP instead of
/// growing our buffers. Above the delivery limit, so consumers that ack keep being read.
pub const OUTPUT_HIGH_BYTES: usize = 8 << 20;

#[derive(Debug)]
pub struct Writer {
    socket: OwnedWriteHalf,
    /// A TLS connection's session: each batch is sealed into records before it is written.
    tls: Option<TlsSession>,
    buf: Mutex<Queued>,
    wake: Notify,
    drained: Notify,
    pending: AtomicUsize,
    written_total: AtomicU64,
    closing: AtomicBool,
    failed: AtomicBool,
}

/// Bytes waiting for the writer task, and whether it is writing a batch right now.
#[derive(Debug, Default)]
struct Queued {
    bytes: Vec<u8>,
    writing: bool,
}

impl Writer {
    pub fn new(socket: OwnedWriteHalf, tls: Option<TlsSession>) -> Arc<Self> {
        Arc::new(Self {
            socket,
            tls,
            buf: Mutex::default(),
            wake: Notify::new(),
            drained: Notify::new(),
            pending: AtomicUsize::new(0),
            written_total: AtomicU64::new(0),
            closing: AtomicBool::new(false),
            failed: AtomicBool::new(false),
        })
    }

    /// Hand over everything in `out` for writing; `out` is left empty (its capacity may move).
    ///
    /// Only the connection's driver submits. When nothing is queued it claims the socket
    /// (the `writing` flag) and writes at once with a non-blocking write, outside the lock.
    pub fn submit(&self, out: &mut Vec<u8>) {
        if let Some(tls) = &self.tls {
            // Sealed in place (plaintext in, records out), in the driver's submit order.
            if seal(tls, out).is_err() {
                self.failed.store(true, Ordering::Release);
                out.clear();
                return;
            }
        }
        if out.is_empty() {
            return;
        }
        let inline = {
            let mut queued = self.buf.lock();
            let free = queued.bytes.is_empty() && !queued.writing && !self.failed();
            queued.writing |= free;
            free
        };
        let written = if inline { self.try_write_now(out) } else { 0 };
        let mut queued = self.buf.lock();
        if inline {
            queued.writing = false;
        }
        if written == out.len() {
            out.clear();
            return;
        }
        out.drain(..written);
        let n = out.len();
        if queued.bytes.is_empty() {
            std::mem::swap(&mut queued.bytes, out);
        } else {
            queued.bytes.extend_from_slice(out);
            out.clear();
        }
        drop(queued);
        self.pending.fetch_add(n, Ordering::AcqRel);
        self.wake.notify_one();
    }

    /// A non-blocking write of as much of `data` as the socket takes.
    fn try_write_now(&self, data: &[u8]) -> usize {
        let mut done = 0;
        while done < data.len() {
            match self.socket.try_write(&data[done..]) {
                Ok(n) if n > 0 => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                // A closed or failed socket (a 0-byte write means the same).
                _ => {
                    self.failed.store(true, Ordering::Release);
                    break;
                }
            }
        }
        self.written_total.fetch_add(done as u64, Ordering::AcqRel);
        done
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

    /// The writer task: writes what the socket did not take at once; runs until closed
    /// (after flushing) or the socket fails.
    pub async fn run(self: Arc<Self>) {
        let mut batch = Vec::new();
        loop {
            {
                let mut queued = self.buf.lock();
                if !queued.writing {
                    // Claim the socket for this batch; while the driver writes inline the
                    // queue is empty, and it is left to the driver.
                    std::mem::swap(&mut queued.bytes, &mut batch);
                    queued.writing = !batch.is_empty();
                }
            }
            if batch.is_empty() {
                if self.closing.load(Ordering::Acquire) || self.failed() {
                    break;
                }
                self.wake.notified().await;
                continue;
            }
            let mut done = 0;
            while done < batch.len() && !self.failed() {
                if self.socket.writable().await.is_err() {
                    self.failed.store(true, Ordering::Release);
                    break;
                }
                done += self.try_write_now(&batch[done..]);
            }
            self.buf.lock().writing = false;
            if self.failed() {
                self.drained.notify_one();
                break;
            }
            self.pending.fetch_sub(batch.len(), Ordering::AcqRel);
            // Keep a buffer sized for steady traffic, not for one burst or one large message.
            if batch.capacity() > 1 << 20 {
                batch = Vec::new();
            } else {
                batch.clear();
            }
            self.drained.notify_one();
        }
    }
}
