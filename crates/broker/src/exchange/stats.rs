//! Messages published into an exchange and routed out of it (the management API's
//! `publish_in` / `publish_out`). A publishing connection tallies them per batch in an
//! [`ExchangeTally`] and adds each exchange's share once per batch, so no message touches
//! these atomics.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use warren_model::query::ExchangeCounters;

#[derive(Debug, Default)]
pub struct ExchangeStats {
    publish_in: AtomicU64,
    publish_out: AtomicU64,
}

impl ExchangeStats {
    pub fn add(&self, publish_in: u64, publish_out: u64) {
        self.publish_in.fetch_add(publish_in, Ordering::Relaxed);
        self.publish_out.fetch_add(publish_out, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> ExchangeCounters {
        ExchangeCounters {
            publish_in: self.publish_in.load(Ordering::Relaxed),
            publish_out: self.publish_out.load(Ordering::Relaxed),
        }
    }
}

/// How many exchanges one tally tracks before it flushes.
const MAX_TALLIED_EXCHANGES: usize = 32;

/// One batch's counts per exchange published to. A batch rarely touches more than a few
/// exchanges, so a short list searched from its most recent entry beats a map.
#[derive(Debug, Default)]
pub struct ExchangeTally {
    entries: Vec<(Arc<ExchangeStats>, ExchangeCounters)>,
}

impl ExchangeTally {
    /// One message published to the exchange counting into `stats`, routed to `routed`
    /// queues (RabbitMQ counts `publish_out` once per queue reached).
    pub fn record(&mut self, stats: &Arc<ExchangeStats>, routed: usize) {
        let found = self
            .entries
            .iter_mut()
            .rev()
            .find(|(s, _)| Arc::ptr_eq(s, stats));
        let counts = match found {
            Some((_, counts)) => counts,
            None => {
                // A batch publishing to very many exchanges adds its counts early rather
                // than searching an ever longer list.
                if self.entries.len() >= MAX_TALLIED_EXCHANGES {
                    self.flush();
                }
                self.entries
                    .push((Arc::clone(stats), ExchangeCounters::default()));
                let last = self.entries.len() - 1;
                &mut self.entries[last].1
            }
        };
        counts.publish_in += 1;
        counts.publish_out += routed as u64;
    }

    /// Add this batch's counts to their exchanges and start a new batch.
    pub fn flush(&mut self) {
        for (stats, counts) in self.entries.drain(..) {
            stats.add(counts.publish_in, counts.publish_out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_adds_each_exchange_once_with_its_own_counts() {
        let (a, b) = (
            Arc::new(ExchangeStats::default()),
            Arc::new(ExchangeStats::default()),
        );
        let mut tally = ExchangeTally::default();
        tally.record(&a, 2);
        tally.record(&b, 0);
        tally.record(&a, 1);
        assert_eq!(
            a.snapshot(),
            ExchangeCounters::default(),
            "nothing before the flush"
        );
        tally.flush();
        assert_eq!(
            a.snapshot(),
            ExchangeCounters {
                publish_in: 2,
                publish_out: 3
            }
        );
        assert_eq!(
            b.snapshot(),
            ExchangeCounters {
                publish_in: 1,
                publish_out: 0
            }
        );
        tally.flush();
        assert_eq!(
            a.snapshot().publish_in,
            2,
            "a flushed batch is not added twice"
        );
    }

    #[test]
    fn a_batch_over_many_exchanges_keeps_every_count() {
        let all: Vec<_> = (0..MAX_TALLIED_EXCHANGES * 3)
            .map(|_| Arc::new(ExchangeStats::default()))
            .collect();
        let mut tally = ExchangeTally::default();
        for _ in 0..2 {
            for x in &all {
                tally.record(x, 1);
            }
        }
        assert!(tally.entries.len() <= MAX_TALLIED_EXCHANGES);
        tally.flush();
        for x in &all {
            let want = ExchangeCounters {
                publish_in: 2,
                publish_out: 2,
            };
            assert_eq!(x.snapshot(), want);
        }
    }
}
