//! Handing a routed message to its queues: the step after routing that AMQP publishes and
//! the management API's publish share.

use std::sync::Arc;

use warren_store::message::Message;
use warren_store::Store;

use crate::queue::{Queue, QueuedMessage};

/// Hand a routed message to `queues` (drained). A persistent message reaching durable
/// queues is stored once for all of them; beyond the memory budget every message goes to
/// disk and queues keep only its location. `throttled` is called for each queue whose
/// consumers fell behind. Returns the store position to sync for a persistent store.
#[inline]
pub fn enqueue(
    store: &Arc<Store>,
    message: Arc<Message>,
    queues: &mut Vec<Arc<Queue>>,
    holders: &mut Vec<u32>,
    mut throttled: impl FnMut(&Arc<Queue>),
) -> Option<u64> {
    let persistent = message.is_persistent() && queues.iter().any(|q| q.store_id.is_some());
    let page = store.over_budget();
    if !persistent && !page {
        // The hot path: memory only.
        for q in queues.drain(..) {
            if q.publish(QueuedMessage::new(Arc::clone(&message))) {
                throttled(&q);
            }
        }
        return None;
    }
    // The queues that hold the stored copy: all of them when paging, else the durable ones.
    let holds = |q: &Queue| page || q.store_id.is_some();
    holders.clear();
    holders.extend(queues.iter().filter(|q| holds(q)).map(|q| q.ref_id));
    let stored = store.append(&message, holders, persistent);
    for q in queues.drain(..) {
        let queued = if holds(&q) {
            let kept = (!page).then(|| Arc::clone(&message));
            let durable = persistent && q.store_id.is_some();
            QueuedMessage::stored(kept, store.make_ref(stored.loc, q.ref_id, durable))
        } else {
            QueuedMessage::new(Arc::clone(&message))
        };
        if q.publish(queued) {
            throttled(&q);
        }
    }
    persistent.then_some(stored.lsn)
}
