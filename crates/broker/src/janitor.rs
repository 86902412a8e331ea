//! A queue's janitor: one task for each queue that needs timers or dead-lettering (message
//! TTL, `x-expires`, a dead-letter exchange). It sleeps until the head's deadline or the
//! queue's expiry, or until the queue wakes it, then takes what died under the queue lock
//! and dead-letters it outside every lock: one wake-up handles every message due, so a
//! fast stream of expiring messages costs a wake-up per deadline, never one per message.

use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::deadletter::{dead_letter_copy, is_cycle, Death};
use crate::enqueue::enqueue;
use crate::exchange::stats::ExchangeTally;
use crate::queue::{
    load_paged, now_ms, DeadLetterCounts, DeadLetterStrategy, JanitorSpawner, JanitorTurn, Queue,
};
use crate::vhost::{RouteScratch, VHost};

/// Longest sleep without a deadline: the janitor looks again now and then anyway.
const IDLE_WAKE: Duration = Duration::from_secs(3600);

/// Starts janitors for the queues of `vhost`, on the runtime the caller runs on (none
/// outside one, e.g. in unit tests: the queue then simply has no timers).
pub fn spawner(vhost: Weak<VHost>) -> JanitorSpawner {
    JanitorSpawner(Arc::new(move |q: Arc<Queue>| {
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(run(vhost.clone(), q));
        }
    }))
}

async fn run(vhost: Weak<VHost>, q: Arc<Queue>) {
    loop {
        let turn = q.janitor_turn();
        if turn.gone {
            return;
        }
        let next_wake_ms = turn.next_wake_ms;
        let expired = turn.expired;
        let more = turn.more;
        if !turn.dead.is_empty() {
            let Some(v) = vhost.upgrade() else { return };
            dead_letter(&v, &q, turn).await;
            q.janitor_done();
        }
        if more {
            // Give the publishers and consumers on this worker a turn between batches.
            tokio::task::yield_now().await;
            continue;
        }
        if expired {
            if let Some(v) = vhost.upgrade() {
                tracing::debug!(vhost = %v.name, queue = q.name(), "queue expired (x-expires)");
                v.remove_queue(&q);
            }
            return;
        }
        let wait = match next_wake_ms {
            Some(at) => Duration::from_millis(at.saturating_sub(now_ms())).min(IDLE_WAKE),
            None => IDLE_WAKE,
        };
        tokio::select! {
            () = q.janitor_woken() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// Publish what died to the queue's dead-letter exchange (the one set when it died). A
/// missing exchange, no route, or a cycle drops the message, as RabbitMQ does: dead
/// letters are at most once, never confirmed, never returned.
async fn dead_letter(v: &VHost, q: &Queue, turn: JanitorTurn) {
    let JanitorTurn {
        mut dead,
        dead_letter_exchange,
        dead_letter_routing_key,
        ..
    } = turn;
    let mut counted = DeadLetterCounts::default();
    let Some(exchange) = dead_letter_exchange else {
        // The dead-letter exchange was unset meanwhile: dropped.
        for (_, reason) in &dead {
            counted.note(*reason, DeadLetterStrategy::Disabled, 1);
        }
        v.dead_letters.add(&counted);
        return;
    };
    let unreadable = load_paged(dead.iter_mut().map(|(m, _)| m)).await;
    if !unreadable.is_empty() {
        tracing::warn!(
            queue = q.name(),
            count = unreadable.len(),
            "dead letters lost: cannot read them back from disk"
        );
    }
    let time_s = now_ms() / 1000;
    let mut scratch = RouteScratch::default();
    let mut targets = Vec::new();
    let mut holders = Vec::new();
    let mut tally = ExchangeTally::default();
    for (queued, reason) in dead {
        let Some(message) = queued.in_memory() else {
            continue;
        };
        let death = Death {
            queue: q.name(),
            reason,
            exchange: &exchange,
            routing_key: dead_letter_routing_key.as_deref(),
            time_s,
        };
        let Some((copy, deaths)) = dead_letter_copy(&message, &death) else {
            continue;
        };
        if v.route_dead_letter(&exchange, &copy, &mut scratch, &mut targets, &mut tally)
            .is_err()
        {
            // The exchange does not exist: dropped, counted as RabbitMQ counts it.
            counted.note(reason, DeadLetterStrategy::Disabled, 1);
            continue;
        }
        // Published to the dead-letter exchange, routed or not.
        counted.note(reason, DeadLetterStrategy::AtMostOnce, 1);
        if targets.is_empty() {
            continue;
        }
        let before = targets.len();
        targets.retain(|t| !is_cycle(reason, &deaths, t.name()));
        if targets.len() < before {
            tracing::warn!(
                queue = q.name(),
                "message dropped: dead-letter queues cycle detected"
            );
        }
        if !targets.is_empty() {
            enqueue(
                v.store(),
                Arc::new(copy),
                None,
                &mut targets,
                &mut holders,
                |_| {},
            );
        }
        // `queued` drops here, releasing the dead message's stored copy.
    }
    tally.flush();
    v.dead_letters.add(&counted);
}
