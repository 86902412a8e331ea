//! Frame dispatch for an open connection: which frames are legal where, and the exact
//! error RabbitMQ answers for each that is not (see docs/rabbitmq-behaviour.md).

use bytes::BytesMut;
use warren_codec::frame::{
    is_known_kind, split_frame, Frame, FrameError, FRAME_BODY, FRAME_HEADER, FRAME_HEARTBEAT,
    FRAME_METHOD,
};
use warren_codec::method::{decode_method, Method, MethodError};
use warren_codec::protocol::{channel as chp, connection, AMQPClass};
use warren_codec::reply::{describe_frame, erlang_bytes};

use super::writer::OUTPUT_HIGH_BYTES;
use super::{Driver, Lifecycle};
use crate::channel::{Channel, ChannelState};
use crate::error::AmqpError;
use std::time::Instant;
use warren_broker::totals::ChurnEvent;

impl Driver {
    /// Handle every complete frame in `rbuf`, or stop early, leaving the rest buffered: once
    /// the output waiting for this client passes its limit (`input_paused` set), or after a
    /// basic.get whose message must be read from disk first (`pending_get` set).
    pub(super) fn process_frames(&mut self, rbuf: &mut BytesMut) {
        // The writer's backlog only shrinks while we run: read it once, count our own output.
        let out_budget = OUTPUT_HIGH_BYTES.saturating_sub(self.writer.pending_bytes());
        while matches!(
            self.lifecycle,
            Lifecycle::Running | Lifecycle::Closing { .. } | Lifecycle::Closed { .. }
        ) {
            if self.ctx.out.len() > out_budget {
                self.input_paused = true;
                return;
            }
            if self.ctx.pending_get.is_some() {
                // Answered by `process_input` before the frames after it.
                return;
            }
            match split_frame(rbuf, self.ctx.frame_max) {
                Ok(Some(frame)) => {
                    if let Err(e) = self.handle_frame(frame) {
                        self.start_close(e);
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    // The stream cannot be parsed past this point: close and hang up.
                    self.start_close(envelope_error(e));
                    self.lifecycle = Lifecycle::Poisoned;
                    break;
                }
            }
        }
        rbuf.clear();
    }

    fn handle_frame(&mut self, frame: Frame) -> Result<(), AmqpError> {
        match self.lifecycle {
            Lifecycle::Closing { .. } => {
                self.while_closing(frame);
                return Ok(());
            }
            Lifecycle::Closed { .. } => {
                self.while_closed(frame);
                return Ok(());
            }
            _ => {}
        }
        if !is_known_kind(frame.kind) {
            return Err(unknown_frame(&frame));
        }
        match frame.kind {
            FRAME_HEARTBEAT if !frame.payload.is_empty() => Err(unknown_frame(&frame)),
            FRAME_HEARTBEAT if frame.channel != 0 => Err(AmqpError::unexpected_frame(
                describe_frame(frame.kind, &frame.payload),
            )),
            FRAME_HEARTBEAT => Ok(()),
            FRAME_METHOD => {
                if frame.payload.len() < 4 {
                    return Err(unknown_frame(&frame));
                }
                let method = decode_method(frame.payload.clone())
                    .map_err(|e| method_error(e, &frame.payload))?;
                if frame.channel == 0 {
                    self.connection_method(method)
                } else {
                    self.channel_method(frame.channel, method)
                }
            }
            _ => self.content_frame(frame),
        }
    }

    /// After we sent connection.close only close / close-ok matter (spec 2.2.4).
    fn while_closing(&mut self, frame: Frame) {
        if frame.kind != FRAME_METHOD || frame.channel != 0 {
            return;
        }
        match decode_method(frame.payload) {
            Ok(Method::Other(AMQPClass::Connection(connection::AMQPMethod::CloseOk(_)))) => {
                self.lifecycle = Lifecycle::Done;
            }
            Ok(Method::Other(AMQPClass::Connection(connection::AMQPMethod::Close(_)))) => {
                self.answer_close();
            }
            _ => {}
        }
    }

    /// After we answered the client's connection.close: every further close gets its own
    /// close-ok (several threads of one client may close at once), everything else is
    /// dropped, until the client closes the socket (RabbitMQ does the same).
    fn while_closed(&mut self, frame: Frame) {
        if frame.kind != FRAME_METHOD || frame.channel != 0 {
            return;
        }
        if let Ok(Method::Other(AMQPClass::Connection(connection::AMQPMethod::Close(_)))) =
            decode_method(frame.payload)
        {
            self.answer_close();
        }
    }

    /// Send close-ok for a client's connection.close and wait for the client to hang up.
    fn answer_close(&mut self) {
        self.ctx.send(
            0,
            AMQPClass::Connection(connection::AMQPMethod::CloseOk(connection::CloseOk {})),
        );
        if !matches!(self.lifecycle, Lifecycle::Closed { .. }) {
            self.lifecycle = Lifecycle::Closed {
                deadline: Instant::now() + self.closed_linger(),
            };
        }
    }

    fn connection_method(&mut self, method: Method) -> Result<(), AmqpError> {
        let (class_id, method_id) = method.ids();
        let Method::Other(AMQPClass::Connection(m)) = method else {
            return Err(unexpected_on_channel_zero(class_id, method_id));
        };
        match m {
            connection::AMQPMethod::Close(c) => {
                tracing::debug!(code = c.reply_code, text = %c.reply_text, "client closed connection");
                self.release_channels();
                self.answer_close();
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
            _ => Err(unexpected_on_channel_zero(class_id, method_id)),
        }
    }

    fn channel_slot(&mut self, id: u16) -> &mut Option<Box<Channel>> {
        let i = usize::from(id);
        if self.channels.len() <= i {
            self.channels.resize_with(i + 1, || None);
        }
        &mut self.channels[i]
    }

    fn channel_method(&mut self, id: u16, method: Method) -> Result<(), AmqpError> {
        let (class_id, method_id) = method.ids();
        // The spec allows channel numbers 1..=channel_max; per-connection state is indexed by
        // the number, so a larger one is refused before anything is sized by it (RabbitMQ
        // 3.10 accepts it: a deliberate difference).
        if id > self.channel_max {
            return Err(AmqpError::not_allowed(format!(
                "channel number {id} is above the negotiated channel_max ({})",
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
                // channel_max limits how many channels are open, not their numbers (RabbitMQ).
                if self.open_channels >= usize::from(self.channel_max) {
                    return Err(AmqpError::not_allowed(format!(
                        "number of channels opened ({}) has reached the negotiated channel_max ({})",
                        self.open_channels, self.channel_max
                    )));
                }
                self.check_user_channel_limit()?;
                *self.channel_slot(id) = Some(Box::new(Channel::new(id)));
                self.open_channels += 1;
                self.ctx
                    .shared
                    .channels
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.ctx.broker.churn.count(ChurnEvent::ChannelCreated, 1);
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
                        self.free_channel(id);
                    }
                    Method::Other(AMQPClass::Channel(chp::AMQPMethod::Close(_))) => {
                        // Answered, but the channel stays closing until close-ok (RabbitMQ).
                        self.ctx.send(
                            id,
                            AMQPClass::Channel(chp::AMQPMethod::CloseOk(chp::CloseOk {})),
                        );
                    }
                    Method::Other(AMQPClass::Channel(chp::AMQPMethod::Open(_))) => {
                        return Err(AmqpError::channel_error("second 'channel.open' seen")
                            .on_method(class_id, method_id));
                    }
                    _ => {}
                }
                Ok(())
            }
            Some(ChannelState::Open) => self.open_channel_method(id, method),
        }
    }

    /// The user's `max-channels` limit counts channels on all its connections; going over it
    /// closes this connection (RabbitMQ's 530).
    fn check_user_channel_limit(&self) -> Result<(), AmqpError> {
        let user = &self.ctx.grant.user;
        let Some(max) = self.ctx.broker.user_limit(user, "max-channels") else {
            return Ok(());
        };
        if self.ctx.broker.channels_of(user) >= max {
            return Err(AmqpError::not_allowed(format!(
                "number of channels opened for user '{user}' has reached the maximum allowed user limit of ({max})"
            )));
        }
        Ok(())
    }

    fn free_channel(&mut self, id: u16) {
        if self.channel_slot(id).take().is_some() {
            self.open_channels -= 1;
            self.ctx
                .shared
                .channels
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            self.ctx.broker.churn.count(ChurnEvent::ChannelClosed, 1);
        }
    }

    fn open_channel_method(&mut self, id: u16, method: Method) -> Result<(), AmqpError> {
        let (class_id, method_id) = method.ids();
        let Some(ch) = self
            .channels
            .get_mut(usize::from(id))
            .and_then(Option::as_mut)
        else {
            return Ok(());
        };
        if let Method::Other(AMQPClass::Channel(chp::AMQPMethod::Close(_))) = method {
            ch.release(&mut self.ctx);
            self.return_outbox_deliveries(Some(id));
            self.ctx.send(
                id,
                AMQPClass::Channel(chp::AMQPMethod::CloseOk(chp::CloseOk {})),
            );
            self.free_channel(id);
            return Ok(());
        }
        match ch.handle_method(&mut self.ctx, method) {
            Ok(()) => Ok(()),
            Err(e) => {
                let e = e.on_method(class_id, method_id);
                if e.is_connection_error() {
                    return Err(e);
                }
                self.close_channel(id, &e);
                Ok(())
            }
        }
    }

    fn content_frame(&mut self, frame: Frame) -> Result<(), AmqpError> {
        let id = frame.channel;
        if id == 0 {
            return Err(AmqpError::unexpected_frame(describe_frame(
                frame.kind,
                &frame.payload,
            )));
        }
        let Some(ch) = self
            .channels
            .get_mut(usize::from(id))
            .and_then(Option::as_mut)
        else {
            return Err(AmqpError::unexpected_frame(
                "expected method frame, got non method frame instead",
            ));
        };
        if ch.state == ChannelState::Closing {
            return Ok(());
        }
        let result = if frame.kind == FRAME_HEADER {
            ch.handle_header(&mut self.ctx, frame.payload)
        } else {
            debug_assert_eq!(frame.kind, FRAME_BODY);
            ch.handle_body(&mut self.ctx, frame.payload)
        };
        match result {
            Ok(()) => Ok(()),
            Err(e) if e.is_connection_error() => Err(e),
            Err(e) => {
                let e = e.on_method(60, 40);
                self.close_channel(id, &e);
                Ok(())
            }
        }
    }

    /// A manual-ack delivery still unacknowledged past its consumer timeout closes its
    /// channel (RabbitMQ checks the oldest one only, as here); the channel's unacknowledged
    /// messages go back to their queues.
    pub(super) fn close_timed_out_channels(&mut self) {
        let now = crate::channel::clock_ms_since(self.ctx.started);
        let ctx = &self.ctx;
        let due: Vec<(u16, u64)> = self
            .channels
            .iter()
            .flatten()
            .filter(|ch| ch.state == ChannelState::Open)
            .filter_map(|ch| {
                let oldest = ch.unacked.front()?;
                let ms = ctx.ack_timeout_ms(&oldest.queue)?;
                let age = u64::from(now.wrapping_sub(oldest.delivered_ms));
                (age > ms).then_some((ch.id, ms))
            })
            .collect();
        for (id, ms) in due {
            tracing::warn!(
                channel = id,
                timeout_ms = ms,
                "consumer ack timed out, closing the channel"
            );
            let e = AmqpError::precondition_failed(format!(
                "delivery acknowledgement on channel {id} timed out. Timeout value used: {ms} ms. \
                 This timeout value can be configured, see consumers doc guide to learn more"
            ));
            self.close_channel(id, &e);
        }
    }

    /// A channel exception: release what the channel holds, send channel.close, and ignore
    /// everything else on that channel until close-ok.
    pub(super) fn close_channel(&mut self, id: u16, e: &AmqpError) {
        tracing::debug!(channel = id, error = %e, "channel error");
        if let Some(ch) = self
            .channels
            .get_mut(usize::from(id))
            .and_then(Option::as_mut)
        {
            ch.release(&mut self.ctx);
            ch.state = ChannelState::Closing;
            self.return_outbox_deliveries(Some(id));
        }
        self.ctx.send(
            id,
            AMQPClass::Channel(chp::AMQPMethod::Close(chp::Close {
                reply_code: e.code,
                reply_text: warren_broker::util::short_string(e.text.clone()),
                class_id: e.class_id,
                method_id: e.method_id,
            })),
        );
    }
}

fn unknown_frame(frame: &Frame) -> AmqpError {
    AmqpError::frame_error(format!(
        "{}: unknown_frame",
        describe_frame(frame.kind, &frame.payload)
    ))
}

fn unexpected_on_channel_zero(class_id: u16, method_id: u16) -> AmqpError {
    AmqpError::channel_error("unexpected method in connection state running")
        .on_method(class_id, method_id)
}

fn envelope_error(e: FrameError) -> AmqpError {
    match e {
        FrameError::TooLarge {
            kind,
            size,
            frame_max,
        } => AmqpError::frame_error(format!(
            "{}: {{frame_too_large,{size},{}}}",
            describe_frame(kind, &[]),
            frame_max.saturating_sub(8)
        )),
        FrameError::BadFrameEnd { kind, end, payload } => AmqpError::frame_error(format!(
            "{}: {{invalid_frame_end_marker,{end}}}",
            describe_frame(kind, &payload)
        )),
    }
}

/// A method frame that did not decode. Unknown ids make RabbitMQ's reader crash (the socket
/// just drops); Warren answers 540 NOT_IMPLEMENTED instead so the client learns why.
fn method_error(e: MethodError, payload: &[u8]) -> AmqpError {
    match e {
        MethodError::Unknown {
            class_id,
            method_id,
        } => AmqpError::not_implemented(format!(
            "unknown method class {class_id} method {method_id}"
        ))
        .on_method(class_id, method_id),
        MethodError::Malformed {
            class_id,
            method_id,
        } => AmqpError::frame_error(format!(
            "cannot decode {}",
            erlang_bytes(payload.get(4..).unwrap_or_default())
        ))
        .on_method(class_id, method_id),
        MethodError::TooDeep {
            class_id,
            method_id,
        } => AmqpError::frame_error(e).on_method(class_id, method_id),
        MethodError::TooShort => AmqpError::frame_error("method frame too short"),
    }
}
