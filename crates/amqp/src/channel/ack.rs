//! Unacknowledged deliveries and their settlement: ack, nack, reject, recover, and the
//! requeue-everything that happens when a channel closes.

use std::collections::VecDeque;
use std::sync::Arc;

use super::{Channel, ConnCtx};
use crate::error::{AmqpError, AmqpResult};
use warren_broker::queue::{Consumer, Queue, QueuedMessage};

#[derive(Debug)]
pub struct Unacked {
    pub tag: u64,
    pub queue: Arc<Queue>,
    pub message: QueuedMessage,
    /// None for basic.get deliveries, which hold no consumer credit.
    pub consumer: Option<Arc<Consumer>>,
    /// When it was delivered: the connection's clock (ms since it started) at the start of
    /// the batch, for the consumer timeout.
    pub delivered_ms: u32,
}

/// Deliveries awaiting settlement, in delivery-tag order (tags only grow, so pushes append).
#[derive(Debug, Default)]
pub struct UnackedList {
    list: VecDeque<Unacked>,
}

impl UnackedList {
    pub fn push(&mut self, u: Unacked) {
        debug_assert!(self.list.back().is_none_or(|b| b.tag < u.tag));
        self.list.push_back(u);
    }

    /// Put back an entry taken out earlier (tx rollback), keeping tag order.
    pub fn insert(&mut self, u: Unacked) {
        let at = self.list.partition_point(|x| x.tag < u.tag);
        self.list.insert(at, u);
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// The oldest outstanding delivery.
    pub fn front(&self) -> Option<&Unacked> {
        self.list.front()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Take the deliveries a client settles: `tag` alone, everything up to it (`multiple`),
    /// or everything (`multiple` with tag 0). None if the tag is not outstanding.
    pub fn take(&mut self, tag: u64, multiple: bool) -> Option<Vec<Unacked>> {
        if multiple {
            if tag == 0 {
                return Some(self.list.drain(..).collect());
            }
            let end = self.list.partition_point(|x| x.tag <= tag);
            if end == 0 || self.list[end - 1].tag != tag {
                // RabbitMQ accepts multiple=true up to a tag only if that tag is outstanding.
                if !self.list.iter().take(end).any(|x| x.tag == tag) {
                    return None;
                }
            }
            return Some(self.list.drain(..end).collect());
        }
        // Acks usually come in order: check the front before searching.
        if self.list.front().is_some_and(|f| f.tag == tag) {
            return self.list.pop_front().map(|u| vec![u]);
        }
        let i = self.list.binary_search_by_key(&tag, |x| x.tag).ok()?;
        self.list.remove(i).map(|u| vec![u])
    }

    pub fn drain_all(&mut self) -> Vec<Unacked> {
        self.list.drain(..).collect()
    }
}

fn unknown_tag(tag: u64) -> AmqpError {
    AmqpError::precondition_failed(format!("unknown delivery tag {tag}"))
}

impl Channel {
    pub(super) fn ack(&mut self, ctx: &mut ConnCtx, tag: u64, multiple: bool) -> AmqpResult<()> {
        let settled = self
            .unacked
            .take(tag, multiple)
            .ok_or_else(|| unknown_tag(tag))?;
        if let Some(tx) = &mut self.tx {
            tx.pending_acks
                .extend(settled.into_iter().map(|u| (u, Settle::Ack)));
            return Ok(());
        }
        self.settle(ctx, settled, Settle::Ack);
        Ok(())
    }

    pub(super) fn reject(
        &mut self,
        ctx: &mut ConnCtx,
        tag: u64,
        multiple: bool,
        requeue: bool,
    ) -> AmqpResult<()> {
        let settled = self
            .unacked
            .take(tag, multiple)
            .ok_or_else(|| unknown_tag(tag))?;
        let how = if requeue {
            Settle::Requeue
        } else {
            Settle::Drop
        };
        if let Some(tx) = &mut self.tx {
            tx.pending_acks
                .extend(settled.into_iter().map(|u| (u, how)));
            return Ok(());
        }
        self.settle(ctx, settled, how);
        Ok(())
    }

    pub(super) fn recover(&mut self, ctx: &mut ConnCtx, requeue: bool) -> AmqpResult<()> {
        if !requeue {
            return Err(AmqpError::not_implemented("requeue=false"));
        }
        self.requeue_all_unacked(ctx);
        Ok(())
    }

    /// Return every unacked delivery to its queue, redelivered, in original order.
    pub(super) fn requeue_all_unacked(&mut self, ctx: &mut ConnCtx) {
        let all = self.unacked.drain_all();
        self.settle(ctx, all, Settle::Requeue);
    }

    /// Apply a settlement: give credit back, and requeue or dead-letter where asked (grouped
    /// per queue so order is kept and each queue is locked once).
    pub(super) fn settle(&mut self, ctx: &mut ConnCtx, settled: Vec<Unacked>, how: Settle) {
        // Messages going back to their queues (requeued or dead-lettered), per queue.
        let mut returned: Vec<(Arc<Queue>, Vec<QueuedMessage>)> = Vec::new();
        // Over the memory budget, requeued messages that are also on disk wait there.
        let page = how == Settle::Requeue && ctx.broker.store.over_budget();
        if how == Settle::Ack {
            let n = settled.len() as u64;
            self.bump(&mut ctx.totals, |c| c.ack += n);
        }
        let acked = how == Settle::Ack;
        for u in settled {
            let stats = ctx.stats_for(&u.queue);
            stats.unacked -= 1;
            stats.unacked_bytes -= i64::from(u.message.size_bytes());
            stats.ack += u64::from(acked);
            if let Some(c) = &u.consumer {
                // A cancelled consumer's settlement may free its queue's backlog for the
                // next single active consumer.
                if c.settled(1) || !c.is_active() {
                    ctx.kick(&u.queue);
                }
            }
            if acked {
                // The common case: the message goes (dropped here with `u`).
                continue;
            }
            let Unacked {
                queue, mut message, ..
            } = u;
            if how == Settle::Requeue {
                message.redelivered = true;
                if page {
                    message.page_out();
                }
            }
            // Requeued, or dead-lettered (if the queue has a dead-letter exchange) or dropped.
            match returned.iter_mut().find(|(q, _)| Arc::ptr_eq(q, &queue)) {
                Some((_, list)) => list.push(message),
                None => returned.push((queue, vec![message])),
            }
        }
        for (q, list) in returned {
            if how == Settle::Requeue {
                q.requeue(list);
            } else {
                q.dead_letter(list);
            }
        }
        if self
            .credit
            .prefetch
            .load(std::sync::atomic::Ordering::Acquire)
            != 0
        {
            // Channel-wide credit was freed: any of our consumers may be able to receive.
            for entry in self.consumers.values() {
                ctx.kick(&entry.queue);
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    Ack,
    Requeue,
    Drop,
}
