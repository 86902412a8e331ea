//! The publish path: basic.publish → content header → body frames → route → enqueue.
//!
//! An explicit state machine (Idle → AwaitHeader → AwaitBody) so a frame out of order is
//! caught at once. Single-frame bodies are kept as a zero-copy slice of the read buffer.

use std::sync::Arc;

use bytes::Bytes;
use warren_broker::deadletter::header_keys;
use warren_codec::content::{
    decode_content_header, decode_properties, encode_properties, PropertiesView, Span,
};
use warren_codec::method::{write_return, Publish, CLASS_BASIC};
use warren_codec::reply::NO_ROUTE;
use warren_codec::table::table_has_key;
use warren_codec::types::{AMQPValue, FieldTable};

use super::{Channel, ConnCtx};
use crate::error::{AmqpError, AmqpResult};
use warren_broker::auth::{Access, ResourceKind};
use warren_broker::queue::outbox::OutboxEvent;
use warren_broker::queue::Queue;
use warren_store::message::Message;

pub const REPLY_TO_QUEUE: &str = "amq.rabbitmq.reply-to";
const REPLY_TO_PREFIX: &[u8] = b"amq.rabbitmq.reply-to.";

#[derive(Debug, Default)]
pub enum PublishState {
    #[default]
    Idle,
    AwaitHeader(Publish),
    /// A publish that will fail: RabbitMQ reports it only once the whole message arrived,
    /// so the content is read (and dropped) first.
    Rejected(AmqpError),
    AwaitBody {
        publish: Publish,
        properties: Bytes,
        view: PropertiesView,
        body_size: u64,
        body: Body,
    },
    /// The content of a rejected publish: its body frames are counted and dropped, then
    /// `error` is raised (RabbitMQ reports it only once the whole message has arrived).
    Discard {
        remaining: u64,
        error: AmqpError,
    },
}

/// A body being assembled: usually one frame (kept as is), sometimes several (copied once).
#[derive(Debug, Default)]
pub enum Body {
    #[default]
    Empty,
    One(Bytes),
    Many(Vec<u8>),
}

impl Body {
    fn len(&self) -> usize {
        match self {
            Body::Empty => 0,
            Body::One(b) => b.len(),
            Body::Many(b) => b.len(),
        }
    }

    fn push(&mut self, chunk: Bytes, body_size: usize) {
        *self = match std::mem::take(self) {
            Body::Empty => Body::One(chunk),
            Body::One(first) => {
                // Sized by what arrived, never by what the header claims: memory grows only
                // as fast as the client actually sends.
                let have = first.len() + chunk.len();
                let mut all = Vec::with_capacity(have.saturating_mul(2).min(body_size));
                all.extend_from_slice(&first);
                all.extend_from_slice(&chunk);
                Body::Many(all)
            }
            Body::Many(mut all) => {
                let need = all.len() + chunk.len();
                if need > all.capacity() {
                    // Double, but never past the announced size (already checked against
                    // the maximum): no slack beyond what the message needs.
                    let target = need.max(all.len() * 2).min(body_size.max(need));
                    all.reserve_exact(target - all.len());
                }
                all.extend_from_slice(&chunk);
                Body::Many(all)
            }
        }
    }

    fn freeze(self) -> Bytes {
        match self {
            Body::Empty => Bytes::new(),
            Body::One(b) => b,
            Body::Many(b) => Bytes::from(b),
        }
    }
}

/// A message ready to route: kept whole so transactions can route it at commit.
#[derive(Debug)]
pub struct ReadyPublish {
    pub mandatory: bool,
    pub message: Message,
    /// The message's `expiration`, parsed (ms).
    pub ttl_ms: Option<u64>,
    /// Sender-selected distribution: the keys of its `CC` and `BCC` headers, routed with
    /// its routing key (empty, unallocated, for almost every message).
    pub extra_keys: Vec<Vec<u8>>,
}

/// What RabbitMQ checks before routing a publish. A missing exchange is found by routing
/// itself, except in a transaction, where routing waits for tx.commit but the 404 does not.
fn check_publish(ctx: &ConnCtx, p: &Publish, in_tx: bool) -> AmqpResult<()> {
    if p.immediate {
        return Err(AmqpError::not_implemented("immediate=true"));
    }
    let exchange = name_str(&p.exchange);
    ctx.grant
        .check(Access::Write, ResourceKind::Exchange, exchange)?;
    if !ctx.grant.topic.is_empty() && ctx.vhost.is_topic_exchange(exchange) {
        ctx.grant
            .check_topic(Access::Write, exchange, name_str(&p.routing_key))?;
    }
    if in_tx && !ctx.vhost.exchange_exists(exchange) {
        return Err(AmqpError::not_found(format!(
            "no exchange '{exchange}' in vhost '{}'",
            ctx.vhost.name
        )));
    }
    Ok(())
}

fn name_str(b: &[u8]) -> &str {
    // Names are binary in AMQP; non-UTF-8 names simply match nothing.
    std::str::from_utf8(b).unwrap_or("\u{fffd}")
}

fn expected_method_frame() -> AmqpError {
    // A content frame where a method belongs: RabbitMQ reports it with no method ids.
    AmqpError::unexpected_frame("expected method frame, got non method frame instead")
        .with_ids(0, 0)
}

fn expected_header() -> AmqpError {
    AmqpError::unexpected_frame(
        "expected content header for class 60, got non content header frame instead",
    )
    .with_ids(60, 40)
}

fn expected_body() -> AmqpError {
    AmqpError::unexpected_frame("expected content body, got non content body frame instead")
        .with_ids(60, 40)
}

impl Channel {
    /// The error for a method that arrives while a publish still waits for its content.
    pub(super) fn publish_interrupted(&self) -> AmqpError {
        match self.publish {
            PublishState::AwaitBody { .. } | PublishState::Discard { .. } => expected_body(),
            _ => expected_header(),
        }
    }

    pub(super) fn start_publish(&mut self, ctx: &mut ConnCtx, p: Publish) -> AmqpResult<()> {
        ctx.published = true;
        self.publish = match check_publish(ctx, &p, self.tx.is_some()) {
            Ok(()) => PublishState::AwaitHeader(p),
            Err(e) => PublishState::Rejected(e.with_ids(60, 40)),
        };
        Ok(())
    }

    /// A content header frame arrived on this channel.
    pub fn handle_header(&mut self, ctx: &mut ConnCtx, payload: Bytes) -> AmqpResult<()> {
        let (publish, rejected) = match std::mem::take(&mut self.publish) {
            PublishState::AwaitHeader(p) => (Some(p), None),
            PublishState::Rejected(e) => (None, Some(e)),
            PublishState::Idle => return Err(expected_method_frame()),
            PublishState::AwaitBody { .. } | PublishState::Discard { .. } => {
                return Err(expected_body())
            }
        };
        let header = decode_content_header(payload.clone()).map_err(|_| {
            AmqpError::frame_error(format!(
                "cannot decode content header {}",
                warren_codec::reply::erlang_bytes(&payload)
            ))
            .with_ids(60, 40)
        })?;
        if header.class_id != CLASS_BASIC {
            return Err(AmqpError::unexpected_frame(format!(
                "expected content header for class 60, got one for class {} instead",
                header.class_id
            ))
            .with_ids(60, 40));
        }
        if payload[2..4] != [0, 0] {
            // The weight field must be zero.
            return Err(expected_header());
        }
        let size_max = ctx.broker.config.max_message_size_bytes;
        if header.body_size > size_max {
            // Refused from the header: nothing is allocated for a size a client merely
            // claims (RabbitMQ 3.10 refuses only once the whole body has arrived, and says
            // nothing at all to a 1 GiB or 2^62-byte announcement). The channel closes; the
            // body frames that follow are ignored with everything else until close-ok.
            return Err(AmqpError::precondition_failed(format!(
                "message size {} is larger than configured max size {size_max}",
                header.body_size
            ))
            .with_ids(60, 40));
        }
        if let Some(error) = rejected {
            if header.body_size == 0 {
                return Err(error);
            }
            self.publish = PublishState::Discard {
                remaining: header.body_size,
                error,
            };
            return Ok(());
        }
        let Some(publish) = publish else {
            return Ok(());
        };
        let view = PropertiesView::parse(&header.properties).map_err(|_| {
            AmqpError::frame_error("cannot decode content header properties").with_ids(60, 40)
        })?;
        self.publish = PublishState::AwaitBody {
            publish,
            properties: header.properties,
            view,
            body_size: header.body_size,
            body: Body::Empty,
        };
        if header.body_size == 0 {
            return self.finish_publish(ctx);
        }
        Ok(())
    }

    /// A body frame arrived on this channel.
    pub fn handle_body(&mut self, ctx: &mut ConnCtx, payload: Bytes) -> AmqpResult<()> {
        if let PublishState::Discard { remaining, .. } = &mut self.publish {
            *remaining = remaining.saturating_sub(payload.len() as u64);
            if *remaining == 0 {
                if let PublishState::Discard { error, .. } = std::mem::take(&mut self.publish) {
                    return Err(error);
                }
            }
            return Ok(());
        }
        let (body_size, body) = match &mut self.publish {
            PublishState::AwaitBody {
                body_size, body, ..
            } => (body_size, body),
            PublishState::Discard { .. } => return Ok(()),
            PublishState::Idle => return Err(expected_method_frame()),
            PublishState::AwaitHeader(_) | PublishState::Rejected(_) => {
                return Err(expected_header())
            }
        };
        let have = body.len() as u64 + payload.len() as u64;
        if have > *body_size {
            // RabbitMQ silently swallows such a message; Warren reports the framing error.
            return Err(AmqpError::frame_error(format!(
                "received body frames totalling {have} bytes but the content header announced {body_size}"
            ))
            .with_ids(60, 40));
        }
        body.push(payload, *body_size as usize);
        if have == *body_size {
            return self.finish_publish(ctx);
        }
        Ok(())
    }

    fn finish_publish(&mut self, ctx: &mut ConnCtx) -> AmqpResult<()> {
        let PublishState::AwaitBody {
            publish,
            mut properties,
            mut view,
            body,
            ..
        } = std::mem::take(&mut self.publish)
        else {
            return Ok(());
        };
        if let Some(span) = view.user_id {
            let claimed = span.of(&properties);
            if claimed != ctx.grant.user.as_bytes() {
                return Err(AmqpError::precondition_failed(format!(
                    "user_id property set to '{}' but authenticated user was '{}'",
                    String::from_utf8_lossy(claimed),
                    ctx.grant.user
                )));
            }
        }
        let ttl_ms = match view.expiration {
            Some(span) => {
                let raw = span.of(&properties);
                let ttl = warren_broker::queue::parse_expiration(raw).map_err(|why| {
                    AmqpError::precondition_failed(format!(
                        "invalid expiration '{}': {why}",
                        String::from_utf8_lossy(raw)
                    ))
                    .with_ids(60, 40)
                })?;
                Some(ttl)
            }
            None => None,
        };
        if let Some(span) = view.reply_to {
            if span.of(&properties) == REPLY_TO_QUEUE.as_bytes() {
                (properties, view) = self.rewrite_reply_to(&properties, span)?;
            }
        }
        let mut extra_keys = Vec::new();
        if let Some(span) = view.headers {
            if table_has_key(span.of(&properties), &[b"CC", b"BCC"]) {
                (properties, view, extra_keys) = sender_selected(&properties)?;
            }
        }
        let ready = ReadyPublish {
            ttl_ms,
            extra_keys,
            mandatory: publish.mandatory,
            message: Message::new(
                &publish.exchange,
                &publish.routing_key,
                &properties,
                view,
                &body.freeze(),
            ),
        };
        if let Some(tx) = &mut self.tx {
            tx.publishes.push(ready);
            return Ok(());
        }
        let seq = self.confirm.as_mut().map(|c| {
            let s = c.next_seq;
            c.next_seq += 1;
            s
        });
        let enqueued = self.route_and_enqueue(ctx, ready)?;
        if let (Some(c), Some(seq)) = (&mut self.confirm, seq) {
            // Confirm only what is on disk; later confirms queue behind a waiting one. A
            // refused message is nacked in its turn.
            match enqueued.lsn {
                _ if enqueued.rejected => c.waiting.push_back((seq, 0, true)),
                Some(lsn) => c.waiting.push_back((seq, lsn, false)),
                None if c.waiting.is_empty() => c.ready_upto = seq,
                None => c.waiting.push_back((seq, 0, false)),
            }
        }
        Ok(())
    }

    /// Route one message and hand it to every queue it reaches; basic.return if it reaches
    /// none and was mandatory. Returns the store position to sync when it was stored
    /// persistently (a persistent message reaching a durable queue).
    pub(super) fn route_and_enqueue(
        &mut self,
        ctx: &mut ConnCtx,
        ready: ReadyPublish,
    ) -> AmqpResult<warren_broker::enqueue::Enqueued> {
        let ReadyPublish {
            mandatory,
            message,
            ttl_ms,
            extra_keys,
        } = ready;
        if !self.publisher {
            self.publisher = true;
            ctx.broker
                .publishers
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let confirm = u64::from(self.confirm.is_some());
        self.bump(&mut ctx.totals, |c| {
            c.publish += 1;
            c.publish_confirm += confirm;
        });
        ctx.message_sizes.observe(message.body().len() as u64);
        let exchange = name_str(message.exchange());
        if exchange.is_empty() && message.routing_key().starts_with(REPLY_TO_PREFIX) {
            self.publish_direct_reply(ctx, message, mandatory)?;
            return Ok(Default::default());
        }
        let mut out = std::mem::take(&mut self.route_out);
        let routed = ctx.vhost.route_keys(
            exchange,
            &message,
            &extra_keys,
            false,
            &mut self.scratch,
            &mut out,
            &mut ctx.exchange_tally,
        );
        if let Err(e) = routed {
            self.route_out = out;
            return Err(e.into());
        }
        let mut enqueued = warren_broker::enqueue::Enqueued::default();
        if out.is_empty() {
            if mandatory {
                self.bump(&mut ctx.totals, |c| c.return_unroutable += 1);
                write_return_frames(ctx, self.id, &message);
            } else {
                self.bump(&mut ctx.totals, |c| c.drop_unroutable += 1);
            }
        } else {
            enqueued = enqueue(ctx, Arc::new(message), ttl_ms, &mut out, &mut self.holders);
        }
        self.route_out = out;
        Ok(enqueued)
    }

    fn publish_direct_reply(
        &mut self,
        ctx: &mut ConnCtx,
        message: Message,
        mandatory: bool,
    ) -> AmqpResult<()> {
        match ctx.broker.reply_target(message.routing_key()) {
            Some(target) => target.connection.push(OutboxEvent::DirectReply {
                channel: target.channel,
                consumer_tag: target.consumer_tag,
                message: Arc::new(message),
            }),
            None if mandatory => write_return_frames(ctx, self.id, &message),
            None => {}
        }
        Ok(())
    }

    /// Replace reply_to "amq.rabbitmq.reply-to" by this channel's own reply address.
    /// Only those bytes change: other properties stay exactly as sent (RabbitMQ does not
    /// check that short strings are UTF-8 either).
    fn rewrite_reply_to(&self, raw: &Bytes, span: Span) -> AmqpResult<(Bytes, PropertiesView)> {
        let Some((token, _)) = &self.reply_consumer else {
            return Err(AmqpError::precondition_failed(
                "fast reply consumer does not exist",
            ));
        };
        let rewritten = PropertiesView::replace_short_str(raw, span, token)
            .ok_or_else(|| AmqpError::internal("cannot rewrite reply_to"))?;
        let view = PropertiesView::parse(&rewritten)
            .map_err(|_| AmqpError::internal("rewritten properties do not parse"))?;
        Ok((Bytes::from(rewritten), view))
    }
}

/// Sender-selected distribution (RabbitMQ's `CC` and `BCC` headers): the keys both list,
/// and the properties without `BCC`, which no consumer may see.
fn sender_selected(raw: &Bytes) -> AmqpResult<(Bytes, PropertiesView, Vec<Vec<u8>>)> {
    let malformed = || AmqpError::internal("properties do not decode");
    let props = decode_properties(raw).map_err(|_| malformed())?;
    let Some(headers) = props.headers().clone() else {
        return Ok((
            raw.clone(),
            PropertiesView::parse(raw).map_err(|_| malformed())?,
            Vec::new(),
        ));
    };
    let mut keys = Vec::new();
    for name in ["CC", "BCC"] {
        match headers.inner().get(name) {
            None => {}
            Some(AMQPValue::FieldArray(_)) => keys.extend(header_keys(&headers, name)),
            Some(other) => {
                return Err(AmqpError::precondition_failed(format!(
                    "invalid message: {{unacceptable_type_in_header,\"{name}\",{}}}",
                    warren_broker::arguments::type_name(other)
                ))
                .with_ids(60, 40))
            }
        }
    }
    if !headers.contains_key("BCC") {
        let view = PropertiesView::parse(raw).map_err(|_| malformed())?;
        return Ok((raw.clone(), view, keys));
    }
    let mut map = headers.inner().clone();
    map.remove("BCC");
    let rewritten = encode_properties(&props.with_headers(FieldTable::from(map)));
    let view = PropertiesView::parse(&rewritten).map_err(|_| malformed())?;
    Ok((rewritten, view, keys))
}

/// Hand a routed message to its queues (see [`warren_broker::enqueue::enqueue`]); queues
/// whose consumers fell behind throttle this connection.
fn enqueue(
    ctx: &mut ConnCtx,
    message: Arc<Message>,
    ttl_ms: Option<u64>,
    queues: &mut Vec<Arc<Queue>>,
    holders: &mut Vec<u32>,
) -> warren_broker::enqueue::Enqueued {
    let store = Arc::clone(&ctx.broker.store);
    warren_broker::enqueue::enqueue(&store, message, ttl_ms, queues, holders, |q| {
        ctx.throttle(q)
    })
}

fn write_return_frames(ctx: &mut ConnCtx, channel: u16, message: &Message) {
    write_return(
        &mut ctx.out,
        channel,
        NO_ROUTE,
        b"NO_ROUTE",
        message.exchange(),
        message.routing_key(),
    );
    warren_codec::content::write_content(
        &mut ctx.out,
        channel,
        CLASS_BASIC,
        message.properties(),
        message.body(),
        ctx.frame_max,
    );
}
