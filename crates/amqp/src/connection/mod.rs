//! One client connection: the handshake, then a driver task that reads frames, runs channel
//! methods, encodes deliveries from its outbox, and keeps heartbeats, with a separate writer
//! task for the socket.

mod frames;
pub mod handshake;
pub mod transport;
pub mod writer;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::net::TcpStream;
use warren_codec::frame::write_heartbeat;
use warren_codec::method::{write_method, BASIC_GET, CLASS_BASIC};
use warren_codec::protocol::{connection, AMQPClass};

use crate::channel::{Channel, ConnCtx, PendingGet};
use crate::error::AmqpError;
use handshake::{Handshake, HandshakeError, Negotiated};
use transport::ReadHalf;
use warren_broker::broker::Broker;
use warren_broker::exchange::stats::ExchangeTally;
use warren_broker::queue::outbox::{canonical, ConnectionInfo, OutboxEvent};
use warren_broker::queue::{Queue, QueuedMessage};
use warren_broker::totals::ChurnEvent;
use warren_store::StoreError;
use writer::Writer;

/// Read buffer sizing: idle connections keep a small buffer, busy ones grow it (see `ReadSizer`).
const READ_SIZE_MIN: usize = 4 * 1024;
const READ_SIZE_MAX: usize = 256 * 1024;

/// Adapts the read buffer to the traffic: doubles when a read fills it, halves when reads
/// stay small, and drops a large idle buffer so thousands of quiet connections stay cheap.
struct ReadSizer {
    hint: usize,
}

impl ReadSizer {
    fn prepare(&self, rbuf: &mut BytesMut) {
        if rbuf.is_empty() && rbuf.capacity() > 4 * self.hint {
            *rbuf = BytesMut::with_capacity(self.hint);
        } else if rbuf.capacity() - rbuf.len() < self.hint / 2 {
            // Only when the tail is nearly used up: messages keep the old buffer alive, so
            // any spare left in it would be memory held and never used.
            rbuf.reserve(self.hint);
        }
    }

    fn observe(&mut self, read: usize, spare_before: usize) {
        if read >= spare_before {
            self.hint = (self.hint * 2).min(READ_SIZE_MAX);
        } else if read < self.hint / 8 {
            self.hint = (self.hint / 2).max(READ_SIZE_MIN);
        }
    }
}

/// Longest a publisher is held back per batch while its queues' consumers catch up.
const FLOW_WAIT_MAX: Duration = Duration::from_millis(50);

/// How long we wait for close-ok when closing for a broker shutdown.
const SHUTDOWN_CLOSE_OK_TIMEOUT: Duration = Duration::from_millis(500);

/// How long we wait for connection.close-ok after sending connection.close.
const CLOSE_OK_TIMEOUT: Duration = Duration::from_secs(3);

/// After the close handshake, how long we read (and discard) until the peer closes.
const CLOSED_DRAIN_TIMEOUT: Duration = Duration::from_secs(3);

/// Serve one accepted socket until it closes; `tls` is its session once the TLS handshake
/// is done (AMQPS), None for plain AMQP.
pub async fn serve(
    stream: TcpStream,
    tls: Option<rustls::ServerConnection>,
    peer: SocketAddr,
    broker: Arc<Broker>,
) {
    let _ = stream.set_nodelay(true);
    let local = stream.local_addr().unwrap_or(peer);
    let (rd, mut wr) = stream.into_split();
    let tls = tls.map(|mut session| {
        // The writer hands the session whole batches and takes the records out at once.
        session.set_buffer_limit(None);
        Arc::new(parking_lot::Mutex::new(session))
    });
    // The client certificate is settled by the TLS handshake: read its subject once.
    let client_subject = tls
        .as_ref()
        .and_then(|t| transport::client_subject(&t.lock()));
    let mut rd = ReadHalf::new(rd, tls.clone());
    let mut rbuf = BytesMut::with_capacity(READ_SIZE_MIN);
    let mut negotiated = {
        let mut hs = Handshake {
            broker: &broker,
            peer,
            reader: &mut rd,
            writer: &mut wr,
            rbuf: &mut rbuf,
            client_subject: client_subject.as_ref(),
            tuned: false,
        };
        match tokio::time::timeout(broker.config.handshake_timeout, hs.run()).await {
            Ok(Ok(n)) => n,
            Ok(Err(HandshakeError::Close(e))) => {
                tracing::info!(%peer, error = %e, "closing connection during handshake");
                let mut out = Vec::new();
                write_close(&mut out, &e);
                let _ = transport::write_all(&mut wr, tls.as_ref(), &out).await;
                // Give the client a moment to read the close before the socket goes.
                let mut scratch = [0u8; 512];
                let _ = tokio::time::timeout(Duration::from_millis(500), rd.discard(&mut scratch))
                    .await;
                return;
            }
            Ok(Err(HandshakeError::Silent(why))) => {
                tracing::info!(%peer, reason = why, "handshake failed");
                drain_then_close(&mut rd, Duration::from_secs(3)).await;
                return;
            }
            Ok(Err(HandshakeError::Closed)) | Err(_) => return,
        }
    };
    let admission = negotiated.admission.take();
    let shared = broker.register_connection(
        ConnectionInfo {
            name: ConnectionInfo::name_for(peer, local),
            peer: canonical(peer),
            local: canonical(local),
            user: negotiated.grant.user.clone(),
            vhost: negotiated.grant.vhost.clone(),
            client_properties: bytes::Bytes::from(warren_codec::content::encode_table(
                &negotiated.client_properties,
            )),
            connected_at_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            channel_max: negotiated.channel_max,
            frame_max: negotiated.frame_max,
            heartbeat_s: negotiated.heartbeat_s,
            auth_mechanism: negotiated.auth_mechanism.clone(),
            tls: tls
                .as_ref()
                .map(|t| transport::facts(&t.lock(), client_subject.as_ref())),
        },
        admission,
    );
    tracing::debug!(%peer, id = shared.id, user = %negotiated.grant.user, vhost = %negotiated.grant.vhost, "connection opened");
    let writer = Writer::new(wr, tls);
    let writer_task = tokio::spawn(Arc::clone(&writer).run());
    let mut driver = Driver::new(Arc::clone(&broker), shared, Arc::clone(&writer), negotiated);
    let ended = driver.run(&mut rd, &mut rbuf).await;
    driver.shutdown();
    broker.unregister_connection(driver.ctx.shared.id);
    writer.submit(&mut driver.ctx.out);
    writer.close();
    let _ = tokio::time::timeout(Duration::from_secs(5), writer_task).await;
    // The last reference to the write half goes here: the peer sees our FIN right after the
    // final close / close-ok (a client waiting for the socket to close is released at once).
    drop(driver);
    drop(writer);
    if ended == Ended::Closed {
        // Read and discard until the peer closes too: closing with its unread bytes still
        // in our receive buffer would send a TCP reset, and the client could lose our
        // close-ok to it (RabbitMQ also reads until the client closes, bounded in time).
        drain_then_close(&mut rd, CLOSED_DRAIN_TIMEOUT).await;
    }
    tracing::debug!(%peer, "connection closed");
}

/// How a connection's driver ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// The close handshake finished, or a close was sent and the stream was given up on:
    /// the peer may still send bytes.
    Closed,
    /// The peer closed the socket, or it failed: nothing more to read.
    PeerGone,
}

/// Read and discard until the peer closes or `wait` passes, then return (dropping the socket).
async fn drain_then_close(rd: &mut ReadHalf, wait: Duration) {
    let deadline = tokio::time::Instant::now() + wait;
    let mut scratch = [0u8; 4096];
    while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, rd.discard(&mut scratch)).await {
        if n == 0 {
            return;
        }
    }
}

/// Resolves at the close-ok deadline while closing; never otherwise.
async fn closing_deadline(lifecycle: Lifecycle) {
    match lifecycle {
        Lifecycle::Closing { deadline } | Lifecycle::Closed { deadline } => {
            tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)).await;
        }
        _ => std::future::pending().await,
    }
}

/// Drop a message whose stored copy is damaged or gone (it can never be read back); its
/// hold on the store is released with it.
fn drop_unreadable(queue: &Queue, message: QueuedMessage, e: &StoreError) {
    tracing::error!(queue = queue.name(), vhost = %queue.vhost, error = %e, "dropping a message that cannot be read back");
    drop(message);
}

fn write_close(out: &mut Vec<u8>, e: &AmqpError) {
    write_method(
        out,
        0,
        &AMQPClass::Connection(connection::AMQPMethod::Close(connection::Close {
            reply_code: e.code,
            reply_text: warren_broker::util::short_string(e.text.clone()),
            class_id: e.class_id,
            method_id: e.method_id,
        })),
    );
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lifecycle {
    Running,
    /// We sent connection.close; waiting for close-ok until the deadline.
    Closing {
        deadline: Instant,
    },
    /// We answered the client's connection.close; reading (and answering further closes)
    /// until the client closes the socket or the deadline passes.
    Closed {
        deadline: Instant,
    },
    /// The stream can no longer be parsed (framing error): flush and hang up.
    Poisoned,
    Done,
}

struct Driver {
    ctx: ConnCtx,
    channels: Vec<Option<Box<Channel>>>,
    open_channels: usize,
    channel_max: u16,
    heartbeat: Duration,
    writer: Arc<Writer>,
    lifecycle: Lifecycle,
    events: Vec<OutboxEvent>,
    returned: Vec<(Arc<Queue>, Vec<QueuedMessage>)>,
    last_recv: Instant,
    last_written: u64,
    /// Stopped reading because a resource alarm is set and this connection publishes.
    blocked: bool,
    /// Stopped reading because too much output waits for a client that does not read;
    /// the frames already read wait in the read buffer until the output drains.
    input_paused: bool,
    /// The client understands connection.blocked / connection.unblocked.
    blocked_notify: bool,
}

impl Driver {
    fn new(
        broker: Arc<Broker>,
        shared: Arc<warren_broker::queue::outbox::ConnectionShared>,
        writer: Arc<Writer>,
        n: Negotiated,
    ) -> Self {
        let consumer_cancel_notify =
            handshake::client_capability(&n.client_properties, "consumer_cancel_notify");
        let blocked_notify =
            handshake::client_capability(&n.client_properties, "connection.blocked");
        Self {
            ctx: ConnCtx {
                broker,
                vhost: n.vhost,
                grant: n.grant,
                shared,
                out: Vec::new(),
                frame_max: n.frame_max,
                exclusive_queues: Vec::new(),
                consumer_cancel_notify,
                kicks: Vec::new(),
                queue_deltas: Vec::new(),
                exchange_tally: ExchangeTally::default(),
                totals: Default::default(),
                message_sizes: Default::default(),
                throttled: Vec::new(),
                marks: Vec::new(),
                awaiting_sync: 0,
                hold_until: 0,
                published: false,
                pending_get: None,
                started: Instant::now(),
                clock_ms: 0,
                ack_timeout_min_ms: u64::MAX,
            },
            blocked: false,
            input_paused: false,
            blocked_notify,
            channels: Vec::new(),
            open_channels: 0,
            channel_max: n.channel_max,
            heartbeat: Duration::from_secs(u64::from(n.heartbeat_s)),
            writer,
            lifecycle: Lifecycle::Running,
            events: Vec::new(),
            returned: Vec::new(),
            last_recv: Instant::now(),
            last_written: 0,
        }
    }

    async fn run(&mut self, rd: &mut ReadHalf, rbuf: &mut BytesMut) -> Ended {
        let shared = Arc::clone(&self.ctx.shared);
        let writer = Arc::clone(&self.writer);
        let mut tick_every = if self.heartbeat.is_zero() {
            Duration::from_secs(1)
        } else {
            (self.heartbeat / 2).max(Duration::from_millis(500))
        };
        let mut sizer = ReadSizer {
            hint: READ_SIZE_MIN,
        };
        let mut tick = tokio::time::interval(tick_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let store = Arc::clone(&self.ctx.broker.store);
        let mut synced = store.subscribe_synced();
        let mut alarm = self.ctx.broker.subscribe_alarm();
        // Frames already buffered behind the handshake.
        self.process_input(rbuf).await;
        self.end_batch().await;
        loop {
            match self.lifecycle {
                Lifecycle::Done | Lifecycle::Poisoned => return Ended::Closed,
                Lifecycle::Closing { deadline } | Lifecycle::Closed { deadline }
                    if Instant::now() >= deadline =>
                {
                    return Ended::Closed
                }
                _ => {}
            }
            if writer.failed() {
                return Ended::PeerGone;
            }
            let congested = writer.congested();
            let output_full = self.output_full();
            // Frames left in the buffer when output filled up go first once it drains.
            let resume = self.input_paused && !output_full;
            let read_allowed = !self.blocked && !self.input_paused;
            // Frames we handed out keep their part of the buffer alive, so each read gets a
            // fresh region sized to the traffic rather than the few bytes BytesMut would add.
            if read_allowed {
                sizer.prepare(rbuf);
            }
            let spare = rbuf.capacity() - rbuf.len();
            // Any sync since we last looked wakes this at once, so no sync is missed.
            let awaiting_sync = self.ctx.awaiting_sync != 0;
            tokio::select! {
                () = std::future::ready(()), if resume => {
                    self.input_paused = false;
                    self.process_input(rbuf).await;
                }
                read = rd.read_buf(rbuf), if read_allowed => match read {
                    Ok(0) | Err(_) => return Ended::PeerGone,
                    Ok(n) => {
                        sizer.observe(n, spare);
                        shared.recv_oct.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
                        shared.recv_cnt.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        self.last_recv = Instant::now();
                        self.process_input(rbuf).await;
                    }
                },
                _ = shared.wait(), if !congested => {
                    self.take_events_loaded().await;
                    self.handle_events();
                }
                // Publisher confirms waiting for the store's group commit.
                _ = synced.changed(), if awaiting_sync => self.ctx.awaiting_sync = 0,
                _ = alarm.changed(), if self.blocked => self.unblock_if_clear(),
                _ = writer.drained(), if congested || output_full => {}
                () = closing_deadline(self.lifecycle) => return Ended::Closed,
                _ = tick.tick() => {
                    if !self.on_tick() {
                        return Ended::Closed;
                    }
                }
            }
            self.end_batch().await;
            // A short consumer timeout (a queue's x-consumer-timeout) is checked more often:
            // a quarter of it, at least every 100 ms.
            let ack_check = Duration::from_millis(self.ctx.ack_timeout_min_ms / 4)
                .max(Duration::from_millis(100));
            if ack_check < tick_every {
                tick_every = ack_check;
                tick = tokio::time::interval(tick_every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            }
            self.block_if_alarm();
            self.wait_for_consumers().await;
            // Give other connections a turn after every batch: a publisher whose socket
            // always has data would otherwise hold a worker until tokio's budget runs out,
            // starving the consumers that drain its queues.
            tokio::task::yield_now().await;
        }
    }

    /// How long a connection the client closed stays open for the client to hang up:
    /// RabbitMQ's rule, the heartbeat interval, at most 30 s.
    fn closed_linger(&self) -> Duration {
        const LINGER_MAX: Duration = Duration::from_secs(30);
        if self.heartbeat.is_zero() {
            LINGER_MAX
        } else {
            self.heartbeat.min(LINGER_MAX)
        }
    }

    /// Whether this connection's unwritten output (encoded, or waiting for the socket) is
    /// past the limit at which we stop reading its requests.
    fn output_full(&self) -> bool {
        self.ctx.out.len() + self.writer.pending_bytes() > writer::OUTPUT_HIGH_BYTES
    }

    /// Flow control: when this connection published into queues whose consumers fell behind,
    /// stop reading for a while so they catch up (TCP pushes back on the publisher). Bounded,
    /// so a connection that also consumes from those queues can still read its own acks.
    async fn wait_for_consumers(&mut self) {
        if self.ctx.throttled.is_empty() {
            return;
        }
        let queues = std::mem::take(&mut self.ctx.throttled);
        let all_caught_up = async {
            for q in &queues {
                q.caught_up().await;
            }
        };
        let _ = tokio::time::timeout(FLOW_WAIT_MAX, all_caught_up).await;
    }

    /// Work done once per batch of input: confirms, queue kicks, delivery marks, and handing
    /// bytes to the writer (after the store synced, when a tx.commit-ok is among them).
    async fn end_batch(&mut self) {
        for ch in self.channels.iter_mut().flatten() {
            ch.flush_confirms(&mut self.ctx);
        }
        for q in self.ctx.kicks.drain(..) {
            q.kick();
        }
        self.ctx.flush_stats();
        if !self.ctx.marks.is_empty() {
            self.ctx.broker.store.write_marks(&self.ctx.marks).await;
            self.ctx.marks.clear();
        }
        if self.ctx.hold_until > 0 {
            let lsn = std::mem::take(&mut self.ctx.hold_until);
            self.ctx.broker.store.wait_synced(lsn).await;
        }
        if !self.ctx.out.is_empty() {
            let shared = &self.ctx.shared;
            shared.send_oct.fetch_add(
                self.ctx.out.len() as u64,
                std::sync::atomic::Ordering::Relaxed,
            );
            shared
                .send_cnt
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        self.writer.submit(&mut self.ctx.out);
        if self.ctx.published {
            // Paging faster than the disk writes: read no more until the store catches up.
            self.ctx.broker.store.writer_caught_up().await;
        }
    }

    /// A publishing connection stops being read while a resource alarm is set (RabbitMQ's
    /// blocking): TCP pushes back on the publisher; consumers and acks on other connections go on.
    fn block_if_alarm(&mut self) {
        let published = std::mem::take(&mut self.ctx.published);
        if self.blocked || !published {
            return;
        }
        let alarms = self.ctx.broker.alarm();
        if !alarms.any() {
            return;
        }
        self.set_blocked(Some(alarms.reason()));
        self.writer.submit(&mut self.ctx.out);
    }

    fn unblock_if_clear(&mut self) {
        if !self.ctx.broker.alarm().any() {
            self.set_blocked(None);
        }
    }

    /// Enter (with the alarm's reason) or leave the blocked state, telling clients that asked
    /// for connection.blocked / connection.unblocked.
    fn set_blocked(&mut self, reason: Option<&'static str>) {
        self.blocked = reason.is_some();
        if !self.blocked_notify {
            return;
        }
        let method = match reason {
            Some(reason) => connection::AMQPMethod::Blocked(connection::Blocked {
                reason: reason.into(),
            }),
            None => connection::AMQPMethod::Unblocked(connection::Unblocked {}),
        };
        self.ctx.send(0, AMQPClass::Connection(method));
    }

    /// A connection exception (or a forced close): send connection.close and release everything.
    fn start_close(&mut self, e: AmqpError) {
        if let Lifecycle::Closed { .. } = self.lifecycle {
            // Already closed by the client; a shutdown need not wait for it to hang up.
            self.lifecycle = Lifecycle::Done;
        }
        if !matches!(self.lifecycle, Lifecycle::Running) {
            return;
        }
        tracing::info!(id = self.ctx.shared.id, error = %e, "closing connection");
        self.release_channels();
        write_close(&mut self.ctx.out, &e);
        // A broker shutdown does not wait long for close-ok; a protocol error gives the
        // client a little longer to read the reason.
        let wait = if e.code == warren_codec::reply::CONNECTION_FORCED {
            SHUTDOWN_CLOSE_OK_TIMEOUT
        } else {
            CLOSE_OK_TIMEOUT
        };
        self.lifecycle = Lifecycle::Closing {
            deadline: Instant::now() + wait,
        };
    }

    /// Handle every complete frame in `rbuf`. A basic.get whose message is on disk only
    /// holds back the frames after it until it is read back (off this worker) and answered.
    async fn process_input(&mut self, rbuf: &mut BytesMut) {
        self.ctx.tick_clock();
        self.process_frames(rbuf);
        while let Some(pending) = self.ctx.pending_get.take() {
            self.finish_get(pending).await;
            self.process_frames(rbuf);
        }
    }

    /// Read a basic.get's message back and answer. A message that is damaged or gone is
    /// dropped (logged) and the next one is taken; one that cannot be read for a passing
    /// reason goes back to its queue and the connection closes with 541 INTERNAL_ERROR, as
    /// RabbitMQ's does when a queue fails under a basic.get.
    async fn finish_get(&mut self, mut p: PendingGet) {
        let failed = warren_broker::queue::load_paged(std::iter::once(&mut p.message)).await;
        let Some(ch) = self
            .channels
            .get_mut(usize::from(p.channel))
            .and_then(Option::as_mut)
        else {
            p.queue.requeue(vec![p.message]);
            return;
        };
        let result = match (p.message.in_memory(), failed.into_iter().next()) {
            (Some(msg), _) => {
                ch.get_ok(
                    &mut self.ctx,
                    p.queue,
                    p.message,
                    &msg,
                    p.remaining,
                    p.get.no_ack,
                );
                Ok(())
            }
            (None, Some((_, e))) if !e.is_transient() => {
                drop_unreadable(&p.queue, p.message, &e);
                ch.get(&mut self.ctx, p.get)
            }
            (None, failure) => {
                let why =
                    failure.map_or_else(|| "unknown error".to_string(), |(_, e)| e.to_string());
                p.queue.requeue(vec![p.message]);
                Err(AmqpError::internal(format!(
                    "cannot read a message back from disk: {why}"
                )))
            }
        };
        if let Err(e) = result {
            let e = e.on_method(CLASS_BASIC, BASIC_GET);
            if e.is_connection_error() {
                self.start_close(e);
            } else {
                self.close_channel(p.channel, &e);
            }
        }
    }

    /// Take the outbox, reading paged-out deliveries back on the blocking pool first: this
    /// task's worker never waits for the disk.
    async fn take_events_loaded(&mut self) {
        self.ctx.shared.take(&mut self.events);
        let paged = self.events.iter_mut().filter_map(|e| match e {
            OutboxEvent::Deliver { message, .. } => Some(message),
            _ => None,
        });
        let failed = warren_broker::queue::load_paged(paged).await;
        if !failed.is_empty() {
            self.set_aside_unreadable(&failed);
        }
    }

    /// Deliveries whose message could not be read back: one damaged or gone is dropped
    /// (logged); one that failed for a passing reason goes back to its queue unsent, to be
    /// tried again (after the pauses `load_paged` already made).
    fn set_aside_unreadable(&mut self, failed: &[(u64, StoreError)]) {
        for event in std::mem::take(&mut self.events) {
            let OutboxEvent::Deliver {
                consumer,
                queue,
                message,
            } = event
            else {
                self.events.push(event);
                continue;
            };
            if message.in_memory().is_some() {
                self.events.push(OutboxEvent::Deliver {
                    consumer,
                    queue,
                    message,
                });
                continue;
            }
            consumer.undo_dispatch();
            let error = message
                .stored_id()
                .and_then(|id| failed.iter().find(|(f, _)| *f == id))
                .map(|(_, e)| e);
            match error {
                Some(e) if !e.is_transient() => {
                    drop_unreadable(&queue, message, e);
                    self.ctx.kick(&queue);
                }
                _ => self.note_returned(queue, message),
            }
        }
    }

    /// Handle the events `take_events_loaded` took. Anything queued since has woken the
    /// outbox again, and is taken (and its paged messages read) on the next turn: this never
    /// takes the outbox itself, so no delivery is read from disk on this worker.
    fn handle_events(&mut self) {
        self.ctx.tick_clock();
        let mut events = std::mem::take(&mut self.events);
        for event in events.drain(..) {
            match event {
                OutboxEvent::Deliver {
                    consumer,
                    queue,
                    message,
                } => {
                    let ch = self
                        .channels
                        .get_mut(usize::from(consumer.channel))
                        .and_then(Option::as_mut);
                    let back = match ch {
                        Some(ch) => ch.deliver(&mut self.ctx, &consumer, &queue, message),
                        None => {
                            consumer.undo_dispatch();
                            Some(message)
                        }
                    };
                    if let Some(m) = back {
                        self.note_returned(queue, m);
                    }
                }
                OutboxEvent::DirectReply {
                    channel,
                    consumer_tag,
                    message,
                } => {
                    if let Some(ch) = self
                        .channels
                        .get_mut(usize::from(channel))
                        .and_then(Option::as_mut)
                    {
                        ch.deliver_reply(&mut self.ctx, &consumer_tag, &message);
                    }
                }
                OutboxEvent::ConsumerCancelled {
                    channel,
                    consumer_tag,
                } => {
                    if let Some(ch) = self
                        .channels
                        .get_mut(usize::from(channel))
                        .and_then(Option::as_mut)
                    {
                        ch.consumer_cancelled(&mut self.ctx, &consumer_tag);
                    }
                }
                OutboxEvent::Close(e) => self.start_close(e.into()),
                OutboxEvent::Snapshot(reply) => {
                    let infos = self
                        .channels
                        .iter()
                        .flatten()
                        .filter(|ch| ch.state == crate::channel::ChannelState::Open)
                        .map(|ch| ch.info(&self.ctx))
                        .collect();
                    let _ = reply.send(infos);
                }
            }
        }
        self.events = events;
        self.requeue_returned();
    }

    /// Consumer timeouts, then heartbeats: send one when we have been quiet, give up on a
    /// silent peer.
    fn on_tick(&mut self) -> bool {
        self.close_timed_out_channels();
        if self.heartbeat.is_zero() {
            return true;
        }
        if self.blocked || self.input_paused {
            // We are not reading: the peer's heartbeats wait in the socket (RabbitMQ pauses
            // its heartbeat monitor while blocked too).
            self.last_recv = Instant::now();
        }
        // RabbitMQ gives a silent peer three intervals.
        if self.last_recv.elapsed() > self.heartbeat * 3 {
            tracing::warn!(
                id = self.ctx.shared.id,
                timeout_s = self.heartbeat.as_secs(),
                "missed heartbeats from client, closing"
            );
            return false;
        }
        // Every half interval, a heartbeat unless something else went out meanwhile (our own
        // heartbeats do not count as traffic).
        let written = self.writer.written_total();
        self.last_written = if written == self.last_written
            && self.ctx.out.is_empty()
            && self.writer.pending_bytes() == 0
        {
            write_heartbeat(&mut self.ctx.out);
            written + 8
        } else {
            written
        };
        true
    }

    fn release_channels(&mut self) {
        for slot in self.channels.iter_mut() {
            if let Some(ch) = slot.as_mut() {
                ch.release(&mut self.ctx);
            }
        }
        self.return_outbox_deliveries(None);
    }

    /// Deliveries dispatched to `channel` (None: any) that still wait in the outbox go back
    /// to their queues now, not when the outbox is next handled: a client that closed the
    /// channel and asks the queue for its count right after close-ok sees them there.
    pub(super) fn return_outbox_deliveries(&mut self, channel: Option<u16>) {
        let back = self.ctx.shared.extract(|e| match e {
            OutboxEvent::Deliver { consumer, .. } => channel.is_none_or(|c| c == consumer.channel),
            _ => false,
        });
        for event in back {
            if let OutboxEvent::Deliver {
                consumer,
                queue,
                message,
            } = event
            {
                consumer.undo_dispatch();
                self.note_returned(queue, message);
            }
        }
        self.requeue_returned();
    }

    /// Deliveries noted by `note_returned` go back to the head of their queues, in order.
    fn requeue_returned(&mut self) {
        for (q, list) in self.returned.drain(..) {
            q.requeue(list);
        }
    }

    /// A delivery that goes back to its queue (requeued per queue, in order, at the end).
    fn note_returned(&mut self, queue: Arc<Queue>, message: QueuedMessage) {
        match self
            .returned
            .iter_mut()
            .find(|(q, _)| Arc::ptr_eq(q, &queue))
        {
            Some((_, list)) => list.push(message),
            None => self.returned.push((queue, vec![message])),
        }
    }

    /// The connection is over: give back everything and delete exclusive queues.
    fn shutdown(&mut self) {
        // Deliveries still in the outbox go back to their queues (no channel is left to
        // deliver them, so nothing is read from disk).
        self.release_channels();
        self.channels.clear();
        let closed = std::mem::take(&mut self.open_channels) as u64;
        self.ctx
            .broker
            .churn
            .count(ChurnEvent::ChannelClosed, closed);
        self.ctx.shared.take(&mut self.events);
        self.handle_events();
        for q in std::mem::take(&mut self.ctx.exclusive_queues) {
            self.ctx.vhost.remove_queue(&q);
        }
        for q in self.ctx.kicks.drain(..) {
            q.kick();
        }
        self.ctx.flush_stats();
    }
}
