//! Handing a routed message to its queues: the step after routing that AMQP publishes and
//! the management API's publish share.

use std::sync::Arc;

use warren_store::message::Message;
use warren_store::Store;

use crate::queue::{Queue, QueuedMessage};

/// What handing a message to its queues did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Enqueued {
    /// The store position to sync before confirming (a persistent message stored).
    pub lsn: Option<u64>,
    /// Some queue refused the message (a length limit with `reject-publish`): a confirming
    /// publisher gets basic.nack, though the other queues keep it (as RabbitMQ).
    pub rejected: bool,
}

/// Hand a routed message to `queues` (drained). A persistent message reaching durable
/// queues is stored once for all of them; beyond the memory budget every message goes to
/// disk and queues keep only its location. `message_ttl_ms` is the message's own
/// `expiration`. `throttled` is called for each queue whose consumers fell behind.
#[inline]
pub fn enqueue(
    store: &Arc<Store>,
    message: Arc<Message>,
    message_ttl_ms: Option<u64>,
    queues: &mut Vec<Arc<Queue>>,
    holders: &mut Vec<u32>,
    mut throttled: impl FnMut(&Arc<Queue>),
) -> Enqueued {
    let mut rejected = false;
    let mut publish = |q: &Arc<Queue>, m: QueuedMessage| {
        let outcome = q.publish(m, message_ttl_ms);
        if outcome.throttle {
            throttled(q);
        }
        rejected |= outcome.rejected;
    };
    let persistent = message.is_persistent() && queues.iter().any(|q| q.store_id.is_some());
    // Over the memory budget every queue pages; under it, those past their head in memory.
    let page_all = store.over_budget();
    let page = page_all || queues.iter().any(|q| q.is_paging());
    if !persistent && !page {
        // The hot path: memory only.
        for q in queues.drain(..) {
            publish(&q, QueuedMessage::new(Arc::clone(&message)));
        }
        return Enqueued {
            lsn: None,
            rejected,
        };
    }
    // Each queue's choice, made once (a queue's paging flag may flip meanwhile): keep the
    // message on disk only, and whether it holds the stored copy (paging or durable).
    let choices: Vec<(bool, bool)> = queues
        .iter()
        .map(|q| {
            let pages = page_all || q.is_paging();
            (pages, pages || (persistent && q.store_id.is_some()))
        })
        .collect();
    holders.clear();
    holders.extend(
        queues
            .iter()
            .zip(&choices)
            .filter(|(_, &(_, holds))| holds)
            .map(|(q, _)| q.ref_id),
    );
    let stored = store.append(&message, holders, persistent);
    for (q, (pages, holds)) in queues.drain(..).zip(choices) {
        let queued = if holds {
            let durable = persistent && q.store_id.is_some();
            let held = store.make_ref(stored.loc, q.ref_id, durable);
            QueuedMessage::stored(&message, !pages, held)
        } else {
            QueuedMessage::new(Arc::clone(&message))
        };
        publish(&q, queued);
    }
    Enqueued {
        lsn: persistent.then_some(stored.lsn),
        rejected,
    }
}
