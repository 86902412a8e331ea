//! Rates of change (`*_details.rate`): each object's counters are sampled when the API shows
//! them, and a rate is the change per second since the previous sample at least
//! [`SAMPLE_INTERVAL`] old (RabbitMQ's statistics interval). Nothing is sampled while no one
//! looks, so rates cost the broker nothing.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// RabbitMQ's default `collect_statistics_interval`.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(5);
/// Samples of objects not shown for this long are dropped (deleted queues, closed
/// connections).
const FORGET_AFTER: Duration = Duration::from_secs(600);

#[derive(Debug)]
struct Sample {
    at: Instant,
    values: Vec<u64>,
    rates: Vec<f64>,
    seen: Instant,
    /// When the values were first seen as they are now.
    unchanged_since: SystemTime,
    /// Whether rates were computed yet (a second sample was taken).
    compared: bool,
}

/// What a sample tells about an object's counters.
#[derive(Debug, Clone)]
pub struct Sampled {
    pub rates: Vec<f64>,
    /// When the counters were first seen as they are now, if they did not move since the
    /// previous sample (an idle object).
    pub idle_since: Option<SystemTime>,
}

#[derive(Debug, Default)]
pub struct Rates {
    book: Mutex<HashMap<String, Sample>>,
}

impl Rates {
    /// Per-second rates of `values` for the object `key`; zeros until a second sample.
    pub fn rates(&self, key: &str, values: &[u64]) -> Vec<f64> {
        self.sample(key, values).rates
    }

    /// Rates of `values` for the object `key`, and since when they have not moved.
    pub fn sample(&self, key: &str, values: &[u64]) -> Sampled {
        let now = Instant::now();
        let wall = SystemTime::now();
        let Ok(mut book) = self.book.lock() else {
            return Sampled {
                rates: vec![0.0; values.len()],
                idle_since: None,
            };
        };
        match book.get_mut(key) {
            Some(s) if s.values.len() == values.len() => {
                s.seen = now;
                let dt = now.duration_since(s.at);
                if dt >= SAMPLE_INTERVAL {
                    let secs = dt.as_secs_f64();
                    s.rates = values
                        .iter()
                        .zip(&s.values)
                        .map(|(new, old)| (*new as f64 - *old as f64) / secs)
                        .collect();
                    if s.values != values {
                        s.unchanged_since = wall;
                    }
                    s.compared = true;
                    s.at = now;
                    s.values = values.to_vec();
                }
                let idle = s.compared && s.rates.iter().all(|r| *r == 0.0) && s.values == values;
                Sampled {
                    rates: s.rates.clone(),
                    idle_since: idle.then_some(s.unchanged_since),
                }
            }
            _ => {
                book.insert(
                    key.to_owned(),
                    Sample {
                        at: now,
                        values: values.to_vec(),
                        rates: vec![0.0; values.len()],
                        seen: now,
                        unchanged_since: wall,
                        compared: false,
                    },
                );
                Sampled {
                    rates: vec![0.0; values.len()],
                    idle_since: None,
                }
            }
        }
    }

    /// Drop samples of objects no one has looked at for a while.
    pub fn prune(&self) {
        let now = Instant::now();
        if let Ok(mut book) = self.book.lock() {
            book.retain(|_, s| now.duration_since(s.seen) < FORGET_AFTER);
        }
    }
}
