//! Consuming: basic.consume / cancel / get, and encoding the deliveries queues hand us.

use std::sync::atomic::{AtomicBool, AtomicU32};
use std::sync::Arc;

use bytes::Bytes;
use warren_codec::content::write_content;
use warren_codec::method::{write_deliver, write_get_ok, CLASS_BASIC};
use warren_codec::protocol::{basic, AMQPClass};

use super::ack::Unacked;
use super::publish::REPLY_TO_QUEUE;
use super::{Channel, ConnCtx, ConsumerEntry};
use crate::error::{AmqpError, AmqpResult};
use warren_broker::auth::{Access, ResourceKind};
use warren_broker::broker::ReplyTarget;
use warren_broker::queue::{self, AttachError, Consumer, Queue, QueuedMessage};
use warren_store::message::Message;

impl Channel {
    /// The queue a method names, applying the spec's "empty name = last declared" rule.
    pub(super) fn queue_name(&self, name: &str) -> AmqpResult<String> {
        if !name.is_empty() {
            return Ok(name.to_owned());
        }
        self.last_queue
            .as_deref()
            .map(str::to_owned)
            .ok_or_else(|| AmqpError::not_found("no previously declared queue"))
    }

    pub(super) fn consume(&mut self, ctx: &mut ConnCtx, c: basic::Consume) -> AmqpResult<()> {
        let queue_name = self.queue_name(c.queue.as_str())?;
        let tag = if c.consumer_tag.as_str().is_empty() {
            queue::generate_consumer_tag()
        } else {
            Bytes::copy_from_slice(c.consumer_tag.as_str().as_bytes())
        };
        if self.consumers.contains_key(&tag)
            || self.reply_consumer.as_ref().is_some_and(|(_, t)| *t == tag)
        {
            return Err(AmqpError::not_allowed(format!(
                "attempt to reuse consumer tag '{}'",
                String::from_utf8_lossy(&tag)
            )));
        }
        // RabbitMQ counts the channel's consumers but its direct reply-to one, and closes
        // the connection.
        if let Some(max) = ctx.broker.config.consumer_max_per_channel {
            if self.consumers.len() >= max as usize {
                return Err(AmqpError::not_allowed(format!(
                    "reached maximum ({max}) of consumers per channel"
                )));
            }
        }
        if queue_name == REPLY_TO_QUEUE {
            return self.consume_direct_reply(ctx, tag, c.no_ack, c.nowait);
        }
        ctx.grant
            .check(Access::Read, ResourceKind::Queue, &queue_name)?;
        let q = ctx.vhost.lookup_queue(
            &queue_name,
            warren_model::command::Origin::Connection(ctx.shared.id),
        )?;
        let priority = match c.arguments.inner().get("x-priority") {
            Some(v) => warren_broker::util::int_value(v).ok_or_else(|| {
                AmqpError::precondition_failed(format!(
                    "invalid arg 'x-priority' for queue '{queue_name}' in vhost '{}': \"expected integer, got {}\"",
                    ctx.vhost.name,
                    warren_broker::arguments::type_name(v)
                ))
            })?,
            None => 0,
        };
        let consumer = Arc::new(Consumer {
            tag: tag.clone(),
            channel: self.id,
            connection: Arc::clone(&ctx.shared),
            no_ack: c.no_ack,
            exclusive: c.exclusive,
            priority: priority as i32,
            prefetch: self.consumer_prefetch,
            unacked: AtomicU32::new(0),
            unsent: AtomicU32::new(0),
            channel_credit: Arc::clone(&self.credit),
            starved: AtomicBool::new(false),
            active: AtomicBool::new(true),
            arguments: c.arguments.clone(),
        });
        if !c.no_ack {
            ctx.note_ack_timeout(&q);
        }
        match q.attach(Arc::clone(&consumer)) {
            Ok(()) => {}
            Err(AttachError::ExclusiveInUse) => {
                return Err(AmqpError::access_refused(format!(
                    "queue '{queue_name}' in vhost '{}' in exclusive use",
                    ctx.vhost.name
                )))
            }
            Err(AttachError::Deleted) => {
                return Err(AmqpError::not_found(format!(
                    "no queue '{queue_name}' in vhost '{}'",
                    ctx.vhost.name
                )))
            }
        }
        // consume-ok precedes any delivery: deliveries reach us through the outbox, encoded later.
        if !c.nowait {
            ctx.send(
                self.id,
                AMQPClass::Basic(basic::AMQPMethod::ConsumeOk(basic::ConsumeOk {
                    consumer_tag: warren_broker::util::short_string(String::from_utf8_lossy(&tag)),
                })),
            );
        }
        self.consumers
            .insert(tag, ConsumerEntry { consumer, queue: q });
        Ok(())
    }

    fn consume_direct_reply(
        &mut self,
        ctx: &mut ConnCtx,
        tag: Bytes,
        no_ack: bool,
        nowait: bool,
    ) -> AmqpResult<()> {
        if !no_ack {
            return Err(AmqpError::precondition_failed(
                "reply consumer cannot acknowledge",
            ));
        }
        if self.reply_consumer.is_some() {
            return Err(AmqpError::precondition_failed("reply consumer already set"));
        }
        let token = Bytes::from(warren_broker::util::random_name::<18>(
            "amq.rabbitmq.reply-to.",
        ));
        ctx.broker.register_reply_target(
            token.clone(),
            ReplyTarget {
                connection: Arc::clone(&ctx.shared),
                channel: self.id,
                consumer_tag: tag.clone(),
            },
        );
        self.reply_consumer = Some((token, tag.clone()));
        if !nowait {
            ctx.send(
                self.id,
                AMQPClass::Basic(basic::AMQPMethod::ConsumeOk(basic::ConsumeOk {
                    consumer_tag: warren_broker::util::short_string(String::from_utf8_lossy(&tag)),
                })),
            );
        }
        Ok(())
    }

    pub(super) fn cancel(&mut self, ctx: &mut ConnCtx, c: basic::Cancel) -> AmqpResult<()> {
        let tag = Bytes::copy_from_slice(c.consumer_tag.as_str().as_bytes());
        if let Some(entry) = self.consumers.remove(&tag) {
            entry.consumer.deactivate();
            if entry.queue.detach(ctx.shared.id, self.id, &tag) {
                ctx.vhost.remove_queue(&entry.queue);
            }
        } else if self.reply_consumer.as_ref().is_some_and(|(_, t)| *t == tag) {
            if let Some((token, _)) = self.reply_consumer.take() {
                ctx.broker.remove_reply_target(&token);
            }
        }
        // Cancelling an unknown tag is not an error in RabbitMQ.
        if !c.nowait {
            ctx.send(
                self.id,
                AMQPClass::Basic(basic::AMQPMethod::CancelOk(basic::CancelOk {
                    consumer_tag: c.consumer_tag,
                })),
            );
        }
        Ok(())
    }

    pub fn get(&mut self, ctx: &mut ConnCtx, g: basic::Get) -> AmqpResult<()> {
        let queue_name = self.queue_name(g.queue.as_str())?;
        ctx.grant
            .check(Access::Read, ResourceKind::Queue, &queue_name)?;
        let q = ctx.vhost.lookup_queue(
            &queue_name,
            warren_model::command::Origin::Connection(ctx.shared.id),
        )?;
        let Some((message, remaining)) = q.get() else {
            self.bump(&mut ctx.totals, |c| c.get_empty += 1);
            ctx.stats_for(&q).get_empty += 1;
            ctx.send(
                self.id,
                AMQPClass::Basic(basic::AMQPMethod::GetEmpty(basic::GetEmpty {})),
            );
            return Ok(());
        };
        match message.in_memory() {
            Some(msg) => self.get_ok(ctx, q, message, &msg, remaining, g.no_ack),
            // On disk only: the connection reads it back off the runtime's workers and
            // reads no further frames until it has answered (see `Driver::finish_get`).
            None => {
                ctx.pending_get = Some(PendingGet {
                    channel: self.id,
                    queue: q,
                    message,
                    remaining,
                    get: g,
                });
            }
        }
        Ok(())
    }

    /// Answer a basic.get with a message taken from `queue`.
    pub fn get_ok(
        &mut self,
        ctx: &mut ConnCtx,
        queue: Arc<Queue>,
        message: QueuedMessage,
        msg: &Message,
        remaining: u32,
        no_ack: bool,
    ) {
        // Marks matter only for deliveries that can come back unacked.
        if let Some(id) = message.durable_id().filter(|_| !no_ack) {
            ctx.marks.push(id);
        }
        let tag = self.take_delivery_tag();
        write_get_ok(
            &mut ctx.out,
            self.id,
            tag,
            message.redelivered,
            msg.exchange(),
            msg.routing_key(),
            remaining,
        );
        write_content(
            &mut ctx.out,
            self.id,
            CLASS_BASIC,
            msg.properties(),
            msg.body(),
            ctx.frame_max,
        );
        self.count_delivery(ctx, &queue, &message, no_ack, true);
        if !no_ack {
            ctx.note_ack_timeout(&queue);
            self.unacked.push(Unacked {
                tag,
                queue,
                message,
                consumer: None,
                delivered_ms: ctx.clock_ms,
            });
        }
    }

    /// Count a delivery (`via_get`: a basic.get-ok) for the channel and, in this batch, for its
    /// queue.
    fn count_delivery(
        &mut self,
        ctx: &mut ConnCtx,
        queue: &Arc<Queue>,
        message: &QueuedMessage,
        no_ack: bool,
        via_get: bool,
    ) {
        let redelivered = u64::from(message.redelivered);
        self.bump(&mut ctx.totals, |c| {
            c.redeliver += redelivered;
            *match (via_get, no_ack) {
                (true, true) => &mut c.get_no_ack,
                (true, false) => &mut c.get,
                (false, true) => &mut c.deliver_no_ack,
                (false, false) => &mut c.deliver,
            } += 1;
        });
        let stats = ctx.stats_for(queue);
        stats.redeliver += redelivered;
        *match (via_get, no_ack) {
            (true, true) => &mut stats.get_no_ack,
            (true, false) => &mut stats.get,
            (false, true) => &mut stats.deliver_no_ack,
            (false, false) => &mut stats.deliver,
        } += 1;
        if !no_ack {
            stats.unacked += 1;
            stats.unacked_bytes += i64::from(message.size_bytes());
        }
    }

    /// Encode a delivery a queue dispatched to one of our consumers. Returns the message if
    /// the consumer is gone (cancelled or channel closing), so the caller can put it back.
    pub fn deliver(
        &mut self,
        ctx: &mut ConnCtx,
        consumer: &Arc<Consumer>,
        queue: &Arc<Queue>,
        message: QueuedMessage,
    ) -> Option<QueuedMessage> {
        // The flag spares a lookup by tag per delivery; it is cleared on cancel and release.
        let live = self.state == super::ChannelState::Open && consumer.is_active();
        if !live {
            consumer.undo_dispatch();
            return Some(message);
        }
        // The connection read paged-out deliveries back before handing them here.
        let Some(msg) = message.in_memory() else {
            debug_assert!(false, "a delivery on disk only reached its channel");
            consumer.undo_dispatch();
            return Some(message);
        };
        if let Some(id) = message.durable_id().filter(|_| !consumer.no_ack) {
            ctx.marks.push(id);
        }
        let tag = self.take_delivery_tag();
        write_deliver(
            &mut ctx.out,
            self.id,
            &consumer.tag,
            tag,
            message.redelivered,
            msg.exchange(),
            msg.routing_key(),
        );
        write_content(
            &mut ctx.out,
            self.id,
            CLASS_BASIC,
            msg.properties(),
            msg.body(),
            ctx.frame_max,
        );
        if consumer.sent() {
            ctx.kick(queue);
        }
        self.count_delivery(ctx, queue, &message, consumer.no_ack, false);
        if !consumer.no_ack {
            self.unacked.push(Unacked {
                tag,
                queue: Arc::clone(queue),
                message,
                consumer: Some(Arc::clone(consumer)),
                delivered_ms: ctx.clock_ms,
            });
        }
        None
    }

    /// Deliver a direct reply-to message to our reply consumer, if it is still there.
    pub fn deliver_reply(&mut self, ctx: &mut ConnCtx, consumer_tag: &[u8], message: &Message) {
        let ours = self
            .reply_consumer
            .as_ref()
            .is_some_and(|(_, t)| t == consumer_tag);
        if self.state != super::ChannelState::Open || !ours {
            return;
        }
        let tag = self.take_delivery_tag();
        write_deliver(
            &mut ctx.out,
            self.id,
            consumer_tag,
            tag,
            false,
            message.exchange(),
            message.routing_key(),
        );
        write_content(
            &mut ctx.out,
            self.id,
            CLASS_BASIC,
            message.properties(),
            message.body(),
            ctx.frame_max,
        );
    }

    /// The queue behind one of our consumers was deleted: forget the consumer and tell the
    /// client (consumer cancel notification) if it said it understands that.
    pub fn consumer_cancelled(&mut self, ctx: &mut ConnCtx, consumer_tag: &Bytes) {
        match self.consumers.remove(consumer_tag) {
            Some(entry) => entry.consumer.deactivate(),
            None => return,
        }
        if self.state == super::ChannelState::Open && ctx.consumer_cancel_notify {
            ctx.send(
                self.id,
                AMQPClass::Basic(basic::AMQPMethod::Cancel(basic::Cancel {
                    consumer_tag: warren_broker::util::short_string(String::from_utf8_lossy(
                        consumer_tag,
                    )),
                    nowait: true,
                })),
            );
        }
    }
}

/// A basic.get whose message is on disk only: answered once it is read back.
pub struct PendingGet {
    pub channel: u16,
    pub queue: Arc<Queue>,
    pub message: QueuedMessage,
    pub remaining: u32,
    pub get: basic::Get,
}
