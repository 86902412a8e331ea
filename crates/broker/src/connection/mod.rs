//! One client connection: the handshake, then a driver task that reads frames, runs channel
//! methods, encodes deliveries from its outbox, and keeps heartbeats, with a separate writer
//! task for the socket.

pub mod handshake;
pub mod shared;
pub mod writer;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::TcpStream;
use warren_codec::frame::{
    split_frame, write_heartbeat, Frame, FrameError, FRAME_BODY, FRAME_HEADER, FRAME_HEARTBEAT,
    FRAME_METHOD,
};
use warren_codec::method::{decode_method, write_method, Method};
use warren_codec::protocol::{channel as chp, connection, AMQPClass};
use warren_codec::types::AMQPValue;

use crate::broker::Broker;
use crate::channel::{method_error, Channel, ChannelState, ConnCtx};
use crate::error::AmqpError;
use crate::queue::{Queue, QueuedMessage};
use handshake::{Handshake, HandshakeError, Negotiated};
use shared::OutboxEvent;
use writer::Writer;

/// How long we wait for connection.close-ok after sending connection.close.
const CLOSE_OK_TIMEOUT: Duration = Duration::from_secs(3);

/// Serve one accepted socket until it closes.
pub async fn serve(stream: TcpStream, peer: SocketAddr, broker: Arc<Broker>) {
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let mut rbuf = BytesMut::with_capacity(64 * 1024);
    let negotiated = {
        let mut hs = Handshake {
            broker: &broker,
            peer,
            reader: &mut rd,
            writer: &mut wr,
            rbuf: &mut rbuf,
        };
        match tokio::time::timeout(broker.config.handshake_timeout, hs.run()).await {
            Ok(Ok(n)) => n,
            Ok(Err(HandshakeError::Close(e))) => {
                tracing::info!(%peer, error = %e, "closing connection during handshake");
                let mut out = Vec::new();
                write_close(&mut out, &e);
                let _ = wr.write_all(&out).await;
                // Give the client a moment to read the close before the socket goes.
                let mut scratch = [0u8; 512];
                let _ =
                    tokio::time::timeout(Duration::from_millis(500), rd.read(&mut scratch)).await;
                return;
            }
            Ok(Err(HandshakeError::Closed)) | Err(_) => return,
        }
    };
    let shared = broker.register_connection();
    tracing::debug!(%peer, id = shared.id, user = %negotiated.grant.user, vhost = %negotiated.grant.vhost, "connection opened");
    let writer = Writer::new();
    let writer_task = tokio::spawn(Arc::clone(&writer).run(wr));
    let mut driver = Driver::new(Arc::clone(&broker), shared, Arc::clone(&writer), negotiated);
    driver.run(&mut rd, &mut rbuf).await;
    driver.shutdown();
    broker.unregister_connection(driver.ctx.shared.id);
    writer.submit(&mut driver.ctx.out);
    writer.close();
    let _ = tokio::time::timeout(Duration::from_secs(5), writer_task).await;
    tracing::debug!(%peer, "connection closed");
}

fn write_close(out: &mut Vec<u8>, e: &AmqpError) {
    write_method(
        out,
        0,
        &AMQPClass::Connection(connection::AMQPMethod::Close(connection::Close {
            reply_code: e.code,
            reply_text: crate::util::short_string(e.text.clone()),
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
    /// The stream can no longer be parsed (framing error): flush and hang up.
    Poisoned,
    Done,
}

struct Driver {
    ctx: ConnCtx,
    channels: Vec<Option<Channel>>,
    channel_max: u16,
    heartbeat: Duration,
    writer: Arc<Writer>,
    lifecycle: Lifecycle,
    events: Vec<OutboxEvent>,
    returned: Vec<(Arc<Queue>, Vec<QueuedMessage>)>,
    last_recv: Instant,
    last_written: u64,
}

impl Driver {
    fn new(
        broker: Arc<Broker>,
        shared: Arc<shared::ConnectionShared>,
        writer: Arc<Writer>,
        n: Negotiated,
    ) -> Self {
        let consumer_cancel_notify = match n.client_properties.inner().get("capabilities") {
            Some(AMQPValue::FieldTable(caps)) => matches!(
                caps.inner().get("consumer_cancel_notify"),
                Some(AMQPValue::Boolean(true))
            ),
            _ => false,
        };
        Self {
            ctx: ConnCtx {
                broker,
                vhost: n.vhost,
                grant: n.grant,
                shared,
                out: Vec::with_capacity(64 * 1024),
                frame_max: n.frame_max,
                exclusive_queues: Vec::new(),
                consumer_cancel_notify,
                kicks: Vec::new(),
            },
            channels: Vec::new(),
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

    async fn run(&mut self, rd: &mut OwnedReadHalf, rbuf: &mut BytesMut) {
        let shared = Arc::clone(&self.ctx.shared);
        let writer = Arc::clone(&self.writer);
        let tick_every = if self.heartbeat.is_zero() {
            Duration::from_secs(1)
        } else {
            (self.heartbeat / 2).max(Duration::from_millis(500))
        };
        let mut tick = tokio::time::interval(tick_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Frames already buffered behind the handshake.
        self.process_frames(rbuf);
        self.end_batch();
        loop {
            match self.lifecycle {
                Lifecycle::Done | Lifecycle::Poisoned => return,
                Lifecycle::Closing { deadline } if Instant::now() >= deadline => return,
                _ => {}
            }
            if writer.failed() {
                return;
            }
            let congested = writer.congested();
            tokio::select! {
                read = rd.read_buf(rbuf) => match read {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        self.last_recv = Instant::now();
                        self.process_frames(rbuf);
                    }
                },
                _ = shared.wait(), if !congested => self.handle_events(),
                _ = writer.drained(), if congested => {}
                _ = tick.tick() => {
                    if !self.on_tick() {
                        return;
                    }
                }
            }
            self.end_batch();
        }
    }

    /// Work done once per batch of input: confirms, queue kicks, and handing bytes to the writer.
    fn end_batch(&mut self) {
        for ch in self.channels.iter_mut().flatten() {
            ch.flush_confirms(&mut self.ctx);
        }
        for q in self.ctx.kicks.drain(..) {
            q.kick();
        }
        self.writer.submit(&mut self.ctx.out);
    }

    fn process_frames(&mut self, rbuf: &mut BytesMut) {
        while matches!(
            self.lifecycle,
            Lifecycle::Running | Lifecycle::Closing { .. }
        ) {
            match split_frame(rbuf, self.ctx.frame_max) {
                Ok(Some(frame)) => {
                    if let Err(e) = self.handle_frame(frame) {
                        self.start_close(e);
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    let err = frame_error(e);
                    self.start_close(err);
                    self.lifecycle = Lifecycle::Poisoned;
                    rbuf.clear();
                    return;
                }
            }
        }
        // Closed or poisoned: whatever else the client sent is ignored.
        rbuf.clear();
    }

    fn handle_frame(&mut self, frame: Frame) -> Result<(), AmqpError> {
        if let Lifecycle::Closing { .. } = self.lifecycle {
            return self.while_closing(frame);
        }
        match frame.kind {
            FRAME_HEARTBEAT => {
                if frame.channel != 0 {
                    return Err(AmqpError::frame_error(
                        "heartbeat frame received on a non-zero channel",
                    ));
                }
                Ok(())
            }
            FRAME_METHOD => {
                let method = decode_method(frame.payload).map_err(method_error)?;
                if frame.channel == 0 {
                    self.connection_method(method)
                } else {
                    self.channel_method(frame.channel, method)
                }
            }
            FRAME_HEADER | FRAME_BODY => self.content_frame(frame),
            _ => Err(AmqpError::frame_error(format!(
                "unknown frame type {}",
                frame.kind
            ))),
        }
    }

    /// After we sent connection.close only close / close-ok matter (spec 2.2.4).
    fn while_closing(&mut self, frame: Frame) -> Result<(), AmqpError> {
        if frame.kind != FRAME_METHOD || frame.channel != 0 {
            return Ok(());
        }
        match decode_method(frame.payload) {
            Ok(Method::Other(AMQPClass::Connection(connection::AMQPMethod::CloseOk(_)))) => {
                self.lifecycle = Lifecycle::Done;
            }
            Ok(Method::Other(AMQPClass::Connection(connection::AMQPMethod::Close(_)))) => {
                self.ctx.send(
                    0,
                    AMQPClass::Connection(connection::AMQPMethod::CloseOk(connection::CloseOk {})),
                );
                self.lifecycle = Lifecycle::Done;
            }
            _ => {}
        }
        Ok(())
    }

    fn connection_method(&mut self, method: Method) -> Result<(), AmqpError> {
        let (class_id, method_id) = method.ids();
        match method {
            Method::Other(AMQPClass::Connection(m)) => match m {
                connection::AMQPMethod::Close(c) => {
                    tracing::debug!(code = c.reply_code, text = %c.reply_text, "client closed connection");
                    self.release_channels();
                    self.ctx.send(
                        0,
                        AMQPClass::Connection(connection::AMQPMethod::CloseOk(
                            connection::CloseOk {},
                        )),
                    );
                    self.lifecycle = Lifecycle::Done;
                    Ok(())
                }
                connection::AMQPMethod::CloseOk(_) => {
                    self.lifecycle = Lifecycle::Done;
                    Ok(())
                }
                connection::AMQPMethod::UpdateSecret(_) => {
                    self.ctx.send(
                        0,
                        AMQPClass::Connection(connection::AMQPMethod::UpdateSecretOk(
                            connection::UpdateSecretOk {},
                        )),
                    );
                    Ok(())
                }
                connection::AMQPMethod::Blocked(_) | connection::AMQPMethod::Unblocked(_) => Ok(()),
                _ => Err(AmqpError::command_invalid(format!(
                    "unexpected method '{}' on channel 0",
                    warren_codec::method::method_name(class_id, method_id)
                ))
                .on_method(class_id, method_id)),
            },
            _ => Err(AmqpError::command_invalid(format!(
                "unexpected method '{}' on channel 0",
                warren_codec::method::method_name(class_id, method_id)
            ))
            .on_method(class_id, method_id)),
        }
    }

    fn channel_slot(&mut self, id: u16) -> &mut Option<Channel> {
        let i = usize::from(id);
        if self.channels.len() <= i {
            self.channels.resize_with(i + 1, || None);
        }
        &mut self.channels[i]
    }

    fn channel_method(&mut self, id: u16, method: Method) -> Result<(), AmqpError> {
        let (class_id, method_id) = method.ids();
        if id > self.channel_max {
            return Err(AmqpError::channel_error(format!(
                "channel number {id} exceeds the negotiated channel_max {}",
                self.channel_max
            ))
            .on_method(class_id, method_id));
        }
        let is_open = matches!(
            method,
            Method::Other(AMQPClass::Channel(chp::AMQPMethod::Open(_)))
        );
        let slot_state = self.channel_slot(id).as_ref().map(|c| c.state);
        match slot_state {
            None if is_open => {
                *self.channel_slot(id) = Some(Channel::new(id));
                self.ctx.send(
                    id,
                    AMQPClass::Channel(chp::AMQPMethod::OpenOk(chp::OpenOk {})),
                );
                Ok(())
            }
            None => {
                Err(AmqpError::channel_error("expected 'channel.open'")
                    .on_method(class_id, method_id))
            }
            Some(ChannelState::Closing) => {
                match method {
                    Method::Other(AMQPClass::Channel(chp::AMQPMethod::CloseOk(_))) => {
                        *self.channel_slot(id) = None;
                    }
                    Method::Other(AMQPClass::Channel(chp::AMQPMethod::Close(_))) => {
                        self.ctx.send(
                            id,
                            AMQPClass::Channel(chp::AMQPMethod::CloseOk(chp::CloseOk {})),
                        );
                        *self.channel_slot(id) = None;
                    }
                    _ => {}
                }
                Ok(())
            }
            Some(ChannelState::Open) => self.open_channel_method(id, method),
        }
    }

    fn open_channel_method(&mut self, id: u16, method: Method) -> Result<(), AmqpError> {
        let (class_id, method_id) = method.ids();
        let i = usize::from(id);
        let Some(ch) = self.channels.get_mut(i).and_then(Option::as_mut) else {
            return Ok(());
        };
        match method {
            Method::Other(AMQPClass::Channel(chp::AMQPMethod::Close(_))) => {
                ch.release(&mut self.ctx);
                self.ctx.send(
                    id,
                    AMQPClass::Channel(chp::AMQPMethod::CloseOk(chp::CloseOk {})),
                );
                self.channels[i] = None;
                Ok(())
            }
            Method::Other(AMQPClass::Channel(chp::AMQPMethod::CloseOk(_))) => Ok(()),
            method => match ch.handle_method(&mut self.ctx, method) {
                Ok(()) => Ok(()),
                Err(e) => {
                    let e = e.on_method(class_id, method_id);
                    if e.is_connection_error() {
                        return Err(e);
                    }
                    self.close_channel(id, &e);
                    Ok(())
                }
            },
        }
    }

    fn content_frame(&mut self, frame: Frame) -> Result<(), AmqpError> {
        let id = frame.channel;
        let i = usize::from(id);
        let Some(ch) = self.channels.get_mut(i).and_then(Option::as_mut) else {
            return Err(AmqpError::channel_error("expected 'channel.open'"));
        };
        if ch.state == ChannelState::Closing {
            return Ok(());
        }
        let result = if frame.kind == FRAME_HEADER {
            ch.handle_header(&mut self.ctx, frame.payload)
        } else {
            ch.handle_body(&mut self.ctx, frame.payload)
        };
        match result {
            Ok(()) => Ok(()),
            Err(e) => {
                let e = e.on_method(60, 40);
                if e.is_connection_error() {
                    return Err(e);
                }
                self.close_channel(id, &e);
                Ok(())
            }
        }
    }

    /// A channel exception: release what the channel holds, send channel.close, and wait
    /// for close-ok while ignoring everything else on that channel.
    fn close_channel(&mut self, id: u16, e: &AmqpError) {
        tracing::debug!(channel = id, error = %e, "channel error");
        if let Some(ch) = self
            .channels
            .get_mut(usize::from(id))
            .and_then(Option::as_mut)
        {
            ch.release(&mut self.ctx);
            ch.state = ChannelState::Closing;
        }
        self.ctx.send(
            id,
            AMQPClass::Channel(chp::AMQPMethod::Close(chp::Close {
                reply_code: e.code,
                reply_text: crate::util::short_string(e.text.clone()),
                class_id: e.class_id,
                method_id: e.method_id,
            })),
        );
    }

    /// A connection exception (or a forced close): send connection.close and release everything.
    fn start_close(&mut self, e: AmqpError) {
        if !matches!(self.lifecycle, Lifecycle::Running) {
            return;
        }
        tracing::info!(id = self.ctx.shared.id, error = %e, "closing connection");
        self.release_channels();
        write_close(&mut self.ctx.out, &e);
        self.lifecycle = Lifecycle::Closing {
            deadline: Instant::now() + CLOSE_OK_TIMEOUT,
        };
    }

    fn handle_events(&mut self) {
        self.ctx.shared.take(&mut self.events);
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
                        match self
                            .returned
                            .iter_mut()
                            .find(|(q, _)| Arc::ptr_eq(q, &queue))
                        {
                            Some((_, list)) => list.push(m),
                            None => self.returned.push((queue, vec![m])),
                        }
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
                OutboxEvent::Close(e) => self.start_close(e),
                OutboxEvent::Blocked(reason) => {
                    let class = match reason {
                        Some(reason) => connection::AMQPMethod::Blocked(connection::Blocked {
                            reason: crate::util::short_string(reason),
                        }),
                        None => connection::AMQPMethod::Unblocked(connection::Unblocked {}),
                    };
                    self.ctx.send(0, AMQPClass::Connection(class));
                }
            }
        }
        self.events = events;
        // Deliveries that found their consumer gone go back to the head, in order.
        for (q, list) in self.returned.drain(..) {
            q.requeue(list);
        }
    }

    /// Heartbeats: send one when we have been quiet, give up on a silent peer.
    fn on_tick(&mut self) -> bool {
        if self.heartbeat.is_zero() {
            return true;
        }
        if self.last_recv.elapsed() > self.heartbeat * 2 {
            tracing::warn!(
                id = self.ctx.shared.id,
                timeout_s = self.heartbeat.as_secs(),
                "missed heartbeats from client, closing"
            );
            return false;
        }
        let written = self.writer.written_total();
        if written == self.last_written
            && self.ctx.out.is_empty()
            && self.writer.pending_bytes() == 0
        {
            write_heartbeat(&mut self.ctx.out);
        }
        self.last_written = written;
        true
    }

    fn release_channels(&mut self) {
        for slot in self.channels.iter_mut() {
            if let Some(ch) = slot.as_mut() {
                ch.release(&mut self.ctx);
            }
        }
    }

    /// The connection is over: give back everything and delete exclusive queues.
    fn shutdown(&mut self) {
        self.release_channels();
        self.channels.clear();
        // Deliveries still in the outbox go back to their queues.
        self.handle_events();
        for q in std::mem::take(&mut self.ctx.exclusive_queues) {
            self.ctx.vhost.remove_queue(&q);
        }
        for q in self.ctx.kicks.drain(..) {
            q.kick();
        }
    }
}

fn frame_error(e: FrameError) -> AmqpError {
    match e {
        FrameError::TooLarge { size, frame_max } => AmqpError::frame_error(format!(
            "frame size {size} exceeds negotiated frame_max {frame_max}"
        )),
        FrameError::BadFrameEnd(b) => {
            AmqpError::frame_error(format!("invalid frame end byte {b:#04x}"))
        }
        FrameError::UnknownType(t) => AmqpError::frame_error(format!("unknown frame type {t}")),
    }
}
