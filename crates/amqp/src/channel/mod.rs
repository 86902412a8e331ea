//! A channel: its state machine, and the dispatch of each method to the module that owns it.
//!
//! Channels are owned by their connection's task; nothing here takes a lock of its own except
//! through the vhost and queues it calls.

mod ack;
mod consume;
mod publish;
mod topology;
mod tx;

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use warren_codec::method::{write_method, Method};
use warren_codec::protocol::{
    access, basic, channel, confirm, exchange, queue, tx as txp, AMQPClass,
};

use crate::error::{AmqpError, AmqpResult};
pub use ack::Unacked;
pub use consume::PendingGet;
use publish::PublishState;
use tx::TxState;
use warren_broker::auth::Grant;
use warren_broker::broker::Broker;
use warren_broker::exchange::stats::ExchangeTally;
use warren_broker::queue::outbox::ConnectionShared;
use warren_broker::queue::{ChannelCredit, Consumer, Queue, QueueDelta};
use warren_broker::totals::SizeTally;
use warren_broker::vhost::{RouteScratch, VHost};
use warren_model::query::{ChannelCounters, ChannelInfo};

/// What a channel needs from its connection while handling a method.
pub struct ConnCtx {
    pub broker: Arc<Broker>,
    pub vhost: Arc<VHost>,
    pub grant: Grant,
    pub shared: Arc<ConnectionShared>,
    /// Encoded frames waiting to be handed to the writer.
    pub out: Vec<u8>,
    pub frame_max: u32,
    /// Exclusive queues this connection declared; deleted when it closes.
    pub exclusive_queues: Vec<Arc<Queue>>,
    /// Whether the client asked for basic.cancel when its queue goes away.
    pub consumer_cancel_notify: bool,
    /// Message counts of this batch over all channels, added to the broker's totals once the
    /// batch ends.
    pub totals: ChannelCounters,
    /// Body sizes published in this batch, added to the broker's histogram once it ends.
    pub message_sizes: SizeTally,
    /// Per-queue delivery and settlement counts of this batch.
    pub queue_deltas: Vec<(Arc<Queue>, QueueDelta)>,
    /// Per-exchange publish counts of this batch.
    pub exchange_tally: ExchangeTally,
    /// Queues to re-run dispatch on once this batch of frames is handled.
    pub kicks: Vec<Arc<Queue>>,
    /// Queues whose consumers fell behind during this batch: reading pauses for them.
    pub throttled: Vec<Arc<Queue>>,
    /// Persistent messages delivered in this batch (durable queue id, msg_id): their marks
    /// are written before the deliveries leave.
    pub marks: Vec<(u32, u64)>,
    /// Highest store position a publisher confirm on this connection waits for.
    pub awaiting_sync: u64,
    /// Output is held until the store has synced this far (a tx.commit-ok waits for it).
    pub hold_until: u64,
    /// A basic.publish arrived in this batch (a resource alarm then blocks the connection).
    pub published: bool,
    /// A basic.get waiting for its message to be read back from disk; no further frame is
    /// handled until it is answered.
    pub pending_get: Option<PendingGet>,
    /// When the connection started (its clock's zero).
    pub started: std::time::Instant,
    /// The connection's clock at the start of this batch, in ms since it started: one
    /// clock read per batch, stamped on every manual-ack delivery for the consumer timeout.
    pub clock_ms: u32,
    /// The shortest consumer timeout of a queue consumed from so far: the connection checks
    /// for timed-out deliveries often enough for it.
    pub ack_timeout_min_ms: u64,
}

impl ConnCtx {
    pub fn send(&mut self, channel: u16, class: AMQPClass) {
        write_method(&mut self.out, channel, &class);
    }

    /// Read the clock for this batch.
    pub fn tick_clock(&mut self) {
        self.clock_ms = clock_ms_since(self.started);
    }

    /// How long a manual-ack delivery from `q` may stay unacknowledged: the queue's
    /// `x-consumer-timeout`, else the broker's `consumer_timeout`.
    pub fn ack_timeout_ms(&self, q: &Queue) -> Option<u64> {
        q.consumer_timeout_ms()
            .or(self.broker.config.consumer_timeout_ms)
    }

    /// A channel will take manual-ack deliveries from `q` (basic.consume, basic.get): the
    /// connection must look for timed-out ones often enough for its timeout.
    pub fn note_ack_timeout(&mut self, q: &Queue) {
        if let Some(ms) = self.ack_timeout_ms(q) {
            self.ack_timeout_min_ms = self.ack_timeout_min_ms.min(ms);
        }
    }

    pub fn throttle(&mut self, q: &Arc<Queue>) {
        push_once(&mut self.throttled, q);
    }

    pub fn kick(&mut self, q: &Arc<Queue>) {
        push_once(&mut self.kicks, q);
    }

    /// This batch's counts for `q` (added to the queue once the batch ends).
    pub fn stats_for(&mut self, q: &Arc<Queue>) -> &mut QueueDelta {
        let i = match self
            .queue_deltas
            .iter()
            .position(|(k, _)| Arc::ptr_eq(k, q))
        {
            Some(i) => i,
            None => {
                self.queue_deltas
                    .push((Arc::clone(q), QueueDelta::default()));
                self.queue_deltas.len() - 1
            }
        };
        &mut self.queue_deltas[i].1
    }

    /// Hand this batch's per-queue and per-exchange counts to their objects, and its totals
    /// to the vhost and the broker.
    pub fn flush_stats(&mut self) {
        for (q, delta) in self.queue_deltas.drain(..) {
            q.add_stats(&delta);
        }
        self.exchange_tally.flush();
        if self.totals != ChannelCounters::default() {
            let totals = std::mem::take(&mut self.totals);
            self.vhost.totals.add(&totals);
            self.broker.totals.add(&totals);
        }
        if !self.message_sizes.is_empty() {
            self.broker
                .message_sizes
                .add(&std::mem::take(&mut self.message_sizes));
        }
    }
}

/// Milliseconds since `started`, as the connection's u32 clock (wraps after 49 days;
/// differences are taken with wrapping arithmetic).
pub fn clock_ms_since(started: std::time::Instant) -> u32 {
    started.elapsed().as_millis() as u32
}

/// Add a queue to a short per-batch list unless it is already there.
fn push_once(list: &mut Vec<Arc<Queue>>, q: &Arc<Queue>) {
    if !list.iter().any(|k| Arc::ptr_eq(k, q)) {
        list.push(Arc::clone(q));
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelState {
    Open,
    /// We sent channel.close and wait for close-ok; everything else is ignored.
    Closing,
}

/// One consumer as its channel knows it.
#[derive(Debug)]
pub struct ConsumerEntry {
    pub consumer: Arc<Consumer>,
    pub queue: Arc<Queue>,
}

pub struct Channel {
    pub id: u16,
    pub state: ChannelState,
    /// Counted in the broker's publishers (it has published and is still open).
    publisher: bool,
    publish: PublishState,
    /// Publisher confirms: next sequence number to assign, and how far we have confirmed.
    confirm: Option<ConfirmState>,
    tx: Option<TxState>,
    pub consumers: HashMap<Bytes, ConsumerEntry>,
    pub unacked: ack::UnackedList,
    next_delivery_tag: u64,
    /// Prefetch for consumers started after basic.qos(global=false).
    consumer_prefetch: u32,
    pub credit: Arc<ChannelCredit>,
    /// Name of the last queue declared, for the spec's empty-name shortcut.
    last_queue: Option<Arc<str>>,
    /// Direct reply-to: our routing token and the consumer tag replies are delivered under.
    reply_consumer: Option<(Bytes, Bytes)>,
    scratch: RouteScratch,
    route_out: Vec<Arc<Queue>>,
    holders: Vec<u32>,
    /// Messages through this channel (read by the management API's channel snapshots);
    /// allocated on the channel's first message, so idle channels cost a pointer.
    counters: Option<Box<ChannelCounters>>,
}

/// Confirm everything ready and not yet confirmed with one (multiple) basic.ack.
fn write_acks(
    c: &mut ConfirmState,
    ctx: &mut ConnCtx,
    channel: u16,
    counters: &mut ChannelCounters,
) {
    if c.ready_upto <= c.acked_upto {
        return;
    }
    let confirmed = c.ready_upto - c.acked_upto;
    counters.confirm += confirmed;
    ctx.totals.confirm += confirmed;
    warren_codec::method::write_ack(&mut ctx.out, channel, c.ready_upto, confirmed > 1);
    c.acked_upto = c.ready_upto;
}

#[derive(Debug, Default)]
struct ConfirmState {
    next_seq: u64,
    acked_upto: u64,
    /// Highest sequence ready to be confirmed but not yet sent.
    ready_upto: u64,
    /// Sequences waiting for the store to sync (seq, position; 0 for one that only waits
    /// for those before it; true for one to be nacked), in order.
    waiting: std::collections::VecDeque<(u64, u64, bool)>,
}

impl Channel {
    pub fn new(id: u16) -> Self {
        Self {
            id,
            state: ChannelState::Open,
            publisher: false,
            publish: PublishState::Idle,
            confirm: None,
            tx: None,
            consumers: HashMap::new(),
            unacked: ack::UnackedList::default(),
            next_delivery_tag: 1,
            consumer_prefetch: 0,
            credit: Arc::new(ChannelCredit::default()),
            last_queue: None,
            reply_consumer: None,
            scratch: RouteScratch::default(),
            route_out: Vec::new(),
            holders: Vec::new(),
            counters: None,
        }
    }

    pub fn take_delivery_tag(&mut self) -> u64 {
        let t = self.next_delivery_tag;
        self.next_delivery_tag += 1;
        t
    }

    /// True while a publish is waiting for its content header or body.
    pub fn expects_content(&self) -> bool {
        !matches!(self.publish, PublishState::Idle)
    }

    /// Handle one method frame. Errors carry the failing method's ids.
    pub fn handle_method(&mut self, ctx: &mut ConnCtx, method: Method) -> AmqpResult<()> {
        if self.expects_content() {
            return Err(self.publish_interrupted());
        }
        let ch = self.id;
        match method {
            Method::Publish(p) => self.start_publish(ctx, p),
            Method::Ack {
                delivery_tag,
                multiple,
            } => self.ack(ctx, delivery_tag, multiple),
            Method::Nack {
                delivery_tag,
                multiple,
                requeue,
            } => self.reject(ctx, delivery_tag, multiple, requeue),
            Method::Reject {
                delivery_tag,
                requeue,
            } => self.reject(ctx, delivery_tag, false, requeue),
            Method::Qos {
                prefetch_size,
                prefetch_count,
                global,
            } => {
                if prefetch_size != 0 {
                    return Err(AmqpError::not_implemented(format!(
                        "prefetch_size!=0 ({prefetch_size})"
                    )));
                }
                self.qos(ctx, prefetch_count, global);
                ctx.send(
                    ch,
                    AMQPClass::Basic(basic::AMQPMethod::QosOk(basic::QosOk {})),
                );
                Ok(())
            }
            Method::Other(class) => self.handle_other(ctx, class),
        }
    }

    fn handle_other(&mut self, ctx: &mut ConnCtx, class: AMQPClass) -> AmqpResult<()> {
        let topology = matches!(class, AMQPClass::Exchange(_) | AMQPClass::Queue(_));
        let result = self.handle_other_inner(ctx, class);
        if topology {
            // A durable change is journaled: its reply waits until that is on disk.
            let journaled = ctx.broker.store.journaled();
            if journaled > ctx.broker.store.synced() {
                ctx.hold_until = ctx.hold_until.max(journaled);
            }
        }
        result
    }

    fn handle_other_inner(&mut self, ctx: &mut ConnCtx, class: AMQPClass) -> AmqpResult<()> {
        let ch = self.id;
        match class {
            AMQPClass::Channel(m) => match m {
                channel::AMQPMethod::Open(_) => {
                    Err(AmqpError::channel_error("second 'channel.open' seen"))
                }
                channel::AMQPMethod::Flow(f) => {
                    if !f.active {
                        // RabbitMQ refuses to stop deliveries this way (connection error).
                        return Err(AmqpError::not_implemented("active=false"));
                    }
                    ctx.send(
                        ch,
                        AMQPClass::Channel(channel::AMQPMethod::FlowOk(channel::FlowOk {
                            active: f.active,
                        })),
                    );
                    Ok(())
                }
                // close / close-ok are handled by the connection, which owns channel lifetimes.
                _ => Err(unexpected_method(20, &m_name(&AMQPClass::Channel(m)))),
            },
            AMQPClass::Access(access::AMQPMethod::Request(_)) => {
                ctx.send(
                    ch,
                    AMQPClass::Access(access::AMQPMethod::RequestOk(access::RequestOk {})),
                );
                Ok(())
            }
            AMQPClass::Exchange(m) => match m {
                exchange::AMQPMethod::Declare(d) => self.exchange_declare(ctx, d),
                exchange::AMQPMethod::Delete(d) => self.exchange_delete(ctx, d),
                exchange::AMQPMethod::Bind(b) => self.exchange_bind(ctx, b),
                exchange::AMQPMethod::Unbind(u) => self.exchange_unbind(ctx, u),
                other => Err(unexpected_method(40, &m_name(&AMQPClass::Exchange(other)))),
            },
            AMQPClass::Queue(m) => match m {
                queue::AMQPMethod::Declare(d) => self.queue_declare(ctx, d),
                queue::AMQPMethod::Bind(b) => self.queue_bind(ctx, b),
                queue::AMQPMethod::Unbind(u) => self.queue_unbind(ctx, u),
                queue::AMQPMethod::Purge(p) => self.queue_purge(ctx, p),
                queue::AMQPMethod::Delete(d) => self.queue_delete(ctx, d),
                other => Err(unexpected_method(50, &m_name(&AMQPClass::Queue(other)))),
            },
            AMQPClass::Basic(m) => match m {
                basic::AMQPMethod::Consume(c) => self.consume(ctx, c),
                basic::AMQPMethod::Cancel(c) => self.cancel(ctx, c),
                basic::AMQPMethod::Get(g) => self.get(ctx, g),
                basic::AMQPMethod::Recover(r) => {
                    self.recover(ctx, r.requeue)?;
                    ctx.send(
                        ch,
                        AMQPClass::Basic(basic::AMQPMethod::RecoverOk(basic::RecoverOk {})),
                    );
                    Ok(())
                }
                basic::AMQPMethod::RecoverAsync(r) => self.recover(ctx, r.requeue),
                other => Err(unexpected_method(60, &m_name(&AMQPClass::Basic(other)))),
            },
            AMQPClass::Confirm(confirm::AMQPMethod::Select(s)) => {
                if self.tx.is_some() {
                    return Err(AmqpError::precondition_failed(
                        "cannot switch from tx to confirm mode",
                    ));
                }
                if self.confirm.is_none() {
                    self.confirm = Some(ConfirmState {
                        next_seq: 1,
                        ..ConfirmState::default()
                    });
                }
                if !s.nowait {
                    ctx.send(
                        ch,
                        AMQPClass::Confirm(confirm::AMQPMethod::SelectOk(confirm::SelectOk {})),
                    );
                }
                Ok(())
            }
            AMQPClass::Tx(m) => match m {
                txp::AMQPMethod::Select(_) => self.tx_select(ctx),
                txp::AMQPMethod::Commit(_) => self.tx_commit(ctx),
                txp::AMQPMethod::Rollback(_) => self.tx_rollback(ctx),
                other => Err(unexpected_method(90, &m_name(&AMQPClass::Tx(other)))),
            },
            other => Err(unexpected_method(
                other.get_amqp_class_id(),
                &m_name(&other),
            )),
        }
    }

    fn qos(&mut self, ctx: &mut ConnCtx, prefetch_count: u16, global: bool) {
        use std::sync::atomic::Ordering;
        if global {
            self.credit
                .prefetch
                .store(u32::from(prefetch_count), Ordering::Release);
            // A larger window may let starved consumers receive again.
            for entry in self.consumers.values() {
                ctx.kick(&entry.queue);
            }
        } else {
            self.consumer_prefetch = u32::from(prefetch_count);
        }
    }

    /// Emit pending publisher confirms, coalesced into one `multiple` ack where possible.
    /// Count on this channel and in the batch's totals.
    pub(super) fn bump(
        &mut self,
        totals: &mut ChannelCounters,
        count: impl Fn(&mut ChannelCounters),
    ) {
        count(self.counters.get_or_insert_with(Box::default));
        count(totals);
    }

    /// What the management API shows of this channel.
    pub fn info(&self, ctx: &ConnCtx) -> ChannelInfo {
        let info = &ctx.shared.info;
        let unconfirmed = self.confirm.as_ref().map_or(0, |c| {
            c.next_seq.saturating_sub(1).saturating_sub(c.acked_upto)
        });
        ChannelInfo {
            connection: info.name.clone(),
            number: self.id,
            user: info.user.clone(),
            vhost: info.vhost.clone(),
            prefetch_count: u16::try_from(self.consumer_prefetch).unwrap_or(u16::MAX),
            global_prefetch_count: u16::try_from(
                self.credit
                    .prefetch
                    .load(std::sync::atomic::Ordering::Relaxed),
            )
            .unwrap_or(u16::MAX),
            messages_unacknowledged: self.unacked.len() as u64,
            messages_unconfirmed: unconfirmed,
            consumer_count: u32::try_from(self.consumers.len()).unwrap_or(u32::MAX),
            confirm: self.confirm.is_some(),
            transactional: self.tx.is_some(),
            counters: self.counters.as_deref().copied().unwrap_or_default(),
        }
    }

    pub fn flush_confirms(&mut self, ctx: &mut ConnCtx) {
        let Some(c) = &mut self.confirm else { return };
        if !c.waiting.is_empty() {
            let synced = ctx.broker.store.synced();
            while let Some(&(seq, lsn, nack)) = c.waiting.front() {
                if lsn > synced {
                    ctx.awaiting_sync = ctx.awaiting_sync.max(lsn);
                    break;
                }
                c.waiting.pop_front();
                if nack {
                    // Acks before it go first, so no later multiple-ack covers it.
                    let counters = self.counters.get_or_insert_with(Box::default);
                    write_acks(c, ctx, self.id, counters);
                    warren_codec::method::write_nack(&mut ctx.out, self.id, seq, false);
                    c.acked_upto = seq;
                }
                c.ready_upto = seq;
            }
        }
        if c.ready_upto > c.acked_upto {
            let counters = self.counters.get_or_insert_with(Box::default);
            write_acks(c, ctx, self.id, counters);
        }
    }

    /// Release everything the channel holds: consumers detach, unacked messages return to
    /// their queues (redelivered), the reply-to registration goes. Called on any close.
    pub fn release(&mut self, ctx: &mut ConnCtx) {
        // A closing channel is released again when its connection ends: count it once.
        if std::mem::take(&mut self.publisher) {
            ctx.broker
                .publishers
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
        // Unacknowledged messages go back before the consumers leave, so a queue's next
        // (single active) consumer receives them in their places, ahead of later ones.
        for entry in self.consumers.values() {
            entry.consumer.deactivate();
        }
        if let Some(tx) = self.tx.take() {
            for u in tx.into_pending_acks() {
                self.unacked.insert(u);
            }
        }
        self.requeue_all_unacked(ctx);
        for (tag, entry) in self.consumers.drain() {
            let empty_auto_delete = entry.queue.detach(ctx.shared.id, self.id, &tag);
            if empty_auto_delete {
                ctx.vhost.remove_queue(&entry.queue);
            }
        }
        if let Some((token, _)) = self.reply_consumer.take() {
            ctx.broker.remove_reply_target(&token);
        }
        self.publish = PublishState::Idle;
    }
}

fn m_name(class: &AMQPClass) -> String {
    warren_codec::method::method_name(class.get_amqp_class_id(), class.get_amqp_method_id())
        .to_owned()
}

/// A method a client must never send on a channel (server-to-client methods, connection
/// methods): RabbitMQ's "unimplemented method".
fn unexpected_method(_class_id: u16, _name: &str) -> AmqpError {
    AmqpError::command_invalid("unimplemented method")
}
