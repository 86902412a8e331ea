//! Failed logins counted per key (AMQP: the client address; the management API: the
//! address and the user name tried): after a few, each further login attempt under that key
//! waits before it is answered (doubling, up to a ceiling), so guessing passwords gets slow
//! while every other client logs in at once. A success, or a quiet minute, forgets the key.
//! RabbitMQ has no such brake; its answers are otherwise the same.

use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::Hash;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Failures answered at full speed (typos happen), by default.
const FREE_FAILURES: u32 = 3;
/// The wait after the free failures; doubled for each further one.
const FIRST_DELAY: Duration = Duration::from_millis(100);
/// The longest wait: well within the handshake timeout (10 s by default).
const DELAY_MAX: Duration = Duration::from_secs(5);
/// An address quiet for this long starts again from nothing.
const FORGET_AFTER: Duration = Duration::from_secs(60);
/// Most addresses tracked: the map stays bounded however many addresses fail.
const TRACKED_MAX: usize = 65_536;

#[derive(Debug)]
pub struct LoginThrottle<K = IpAddr> {
    recent: Mutex<HashMap<K, Failures>>,
    free_failures: u32,
}

impl<K> Default for LoginThrottle<K> {
    fn default() -> Self {
        Self::with_free_failures(FREE_FAILURES)
    }
}

impl<K> LoginThrottle<K> {
    /// A brake that lets `free` failures per key through at full speed.
    pub fn with_free_failures(free: u32) -> Self {
        Self {
            recent: Mutex::new(HashMap::new()),
            free_failures: free,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

impl<K: Eq + Hash + Clone + Debug> LoginThrottle<K> {
    /// How long a login attempt under `key` waits before it is answered.
    pub fn delay_for(&self, key: &K) -> Duration {
        let recent = self.recent.lock();
        match recent.get(key) {
            Some(f) if f.last.elapsed() < FORGET_AFTER => delay_after(f.count, self.free_failures),
            _ => Duration::ZERO,
        }
    }

    pub fn failed(&self, key: &K) {
        let now = Instant::now();
        let mut recent = self.recent.lock();
        if recent.len() >= TRACKED_MAX && !recent.contains_key(key) {
            recent.retain(|_, f| now.duration_since(f.last) < FORGET_AFTER);
            if recent.len() >= TRACKED_MAX {
                // Everyone tracked failed within the minute: this one goes uncounted rather
                // than the map growing.
                return;
            }
        }
        let f = recent.entry(key.clone()).or_insert(Failures {
            count: 0,
            last: now,
        });
        if now.duration_since(f.last) >= FORGET_AFTER {
            f.count = 0;
        }
        f.count = f.count.saturating_add(1);
        f.last = now;
        if f.count == self.free_failures + 1 {
            tracing::warn!(?key, "repeated failed logins: slowing these logins down");
        }
    }

    pub fn succeeded(&self, key: &K) {
        self.recent.lock().remove(key);
    }
}

/// The wait after `failures` recent failures, `free` of them answered at full speed.
fn delay_after(failures: u32, free: u32) -> Duration {
    let Some(extra) = failures.checked_sub(free) else {
        return Duration::ZERO;
    };
    if extra == 0 {
        return Duration::ZERO;
    }
    let doublings = (extra - 1).min(16);
    FIRST_DELAY.saturating_mul(1 << doublings).min(DELAY_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_grows_after_the_free_failures_and_stops_at_the_ceiling() {
        let waits: Vec<u64> = (0..12)
            .map(|n| delay_after(n, FREE_FAILURES).as_millis() as u64)
            .collect();
        assert_eq!(
            waits,
            [0, 0, 0, 0, 100, 200, 400, 800, 1600, 3200, 5000, 5000]
        );
        assert_eq!(delay_after(u32::MAX, FREE_FAILURES), DELAY_MAX);
        assert_eq!(delay_after(50, 50), Duration::ZERO);
        assert_eq!(delay_after(52, 50), Duration::from_millis(200));
    }

    #[test]
    fn addresses_are_counted_apart_and_a_success_forgets() {
        let t = LoginThrottle::default();
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        for _ in 0..5 {
            t.failed(&a);
        }
        assert_eq!(t.delay_for(&a), Duration::from_millis(200));
        assert_eq!(t.delay_for(&b), Duration::ZERO);
        t.succeeded(&a);
        assert_eq!(t.delay_for(&a), Duration::ZERO);
    }
}
