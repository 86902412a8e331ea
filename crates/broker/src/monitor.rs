//! The resource monitor: a thread that measures the broker's memory (resident set size) ten
//! times a second and the data directory's free disk space every second, sets or clears the
//! alarms, and decides when the allocator should hand freed memory back.

use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::alarm::{free_space, resident_bytes};
use crate::broker::Broker;

/// How often memory is measured: a fast publisher adds hundreds of MiB a second, and reading
/// /proc/self/statm costs microseconds.
const CHECK_MEMORY_EVERY: Duration = Duration::from_millis(100);
/// Free disk space is measured every this many memory checks (once a second).
const DISK_CHECK_RATIO: u32 = 10;

/// Measure free disk space and update the disk alarm.
pub fn check_disk(broker: &Broker) {
    match free_space(&broker.config.data_dir) {
        Ok(free) => broker.update_disk_alarm(free),
        Err(e) => tracing::warn!(error = %e, "cannot read free disk space"),
    }
}

/// Measure memory use and update the memory alarm; returns the reading.
pub fn check_memory(broker: &Broker) -> Option<u64> {
    match resident_bytes() {
        Ok(used) => {
            broker.update_memory_alarm(used);
            Some(used)
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot read memory use");
            None
        }
    }
}

/// Growth of the resident set, since its lowest point after the last reclaim, that asks for
/// freed memory back.
const RECLAIM_AFTER_GROWTH_BYTES: u64 = 16 << 20;
/// Reclaims are asked for at most this often: each costs every worker a heap walk when it
/// next goes idle.
const RECLAIM_EVERY: Duration = Duration::from_millis(200);

/// While the resident set stays above the broker's lowest by more than
/// [`RECLAIM_AFTER_GROWTH_BYTES`], a reclaim is asked for this long after the last one even
/// if it no longer grows: memory freed after a burst (10,000 connections closed, a backlog
/// drained) is handed back although nothing allocates any more. A reclaim that gave nothing
/// back (the memory is in use) doubles the wait, up to [`RECLAIM_SETTLED_MAX`].
const RECLAIM_SETTLED_EVERY: Duration = Duration::from_secs(10);
const RECLAIM_SETTLED_MAX: Duration = Duration::from_secs(640);

/// When to ask the allocator to hand freed memory back (messages freed on another thread than
/// the one that allocated them stay resident until that thread collects): after the resident
/// set grew by [`RECLAIM_AFTER_GROWTH_BYTES`], or while it is past half the high watermark,
/// never more than once per [`RECLAIM_EVERY`]; and every [`RECLAIM_SETTLED_EVERY`] while it
/// stays well above the lowest it has been. A broker whose memory is steady at its floor
/// never pays.
struct ReclaimPolicy {
    low_water_bytes: u64,
    /// The lowest resident set since start.
    floor_bytes: u64,
    last: std::time::Instant,
    /// The resident set when the last reclaim was asked for, and the wait before the next
    /// one while memory stays high.
    at_last_bytes: u64,
    settled_every: Duration,
}

impl ReclaimPolicy {
    fn new(used: u64) -> Self {
        Self {
            low_water_bytes: used,
            floor_bytes: used,
            last: std::time::Instant::now(),
            at_last_bytes: used,
            settled_every: RECLAIM_SETTLED_EVERY,
        }
    }

    fn should_reclaim(&mut self, used: u64, watermark_bytes: u64) -> bool {
        self.low_water_bytes = self.low_water_bytes.min(used);
        self.floor_bytes = self.floor_bytes.min(used);
        let since = self.last.elapsed();
        let grown = used.saturating_sub(self.low_water_bytes) > RECLAIM_AFTER_GROWTH_BYTES;
        let pressing = (grown || used > watermark_bytes / 2) && since >= RECLAIM_EVERY;
        let settled_high = used.saturating_sub(self.floor_bytes) > RECLAIM_AFTER_GROWTH_BYTES
            && since >= self.settled_every;
        if !(pressing || settled_high) {
            return false;
        }
        // A settled reclaim that gave back next to nothing (the memory is in use) makes the
        // next wait longer; one that helped, or a new burst, starts the waits again.
        let gave_back = self.at_last_bytes.saturating_sub(used) > RECLAIM_AFTER_GROWTH_BYTES;
        self.settled_every = if pressing || gave_back {
            RECLAIM_SETTLED_EVERY
        } else {
            (self.settled_every * 2).min(RECLAIM_SETTLED_MAX)
        };
        self.last = std::time::Instant::now();
        self.low_water_bytes = used;
        self.at_last_bytes = used;
        true
    }
}

/// The monitor thread; it stops when this is dropped. A thread of its own, so the statvfs
/// and /proc reads never block the async runtime.
pub struct Monitor {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Monitor {
    /// Check once now, then periodically until dropped.
    pub fn start(broker: Arc<Broker>) -> Self {
        check_disk(&broker);
        let mut policy = ReclaimPolicy::new(check_memory(&broker).unwrap_or(0));
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("warren-alarms".into())
            .spawn(move || {
                let mut ticks = 0u32;
                while let Err(mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(CHECK_MEMORY_EVERY)
                {
                    let used = check_memory(&broker);
                    let watermark = broker.config.memory_high_watermark_bytes;
                    if let (Some(used), Some(reclaim)) = (used, broker.config.reclaim_memory) {
                        if policy.should_reclaim(used, watermark) {
                            reclaim();
                        }
                    }
                    ticks = ticks.wrapping_add(1);
                    if ticks.is_multiple_of(DISK_CHECK_RATIO) {
                        check_disk(&broker);
                    }
                }
            })
            .map_err(|e| tracing::error!(error = %e, "cannot start the resource monitor"))
            .ok();
        Self {
            stop: Some(stop),
            thread,
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reclaims_after_growth_or_near_the_watermark_at_most_every_200_ms() {
        const MIB: u64 = 1 << 20;
        let mut p = ReclaimPolicy::new(100 * MIB);
        p.last -= RECLAIM_EVERY;
        // Steady or falling memory: never.
        assert!(!p.should_reclaim(100 * MIB, 1024 * MIB));
        assert!(!p.should_reclaim(90 * MIB, 1024 * MIB));
        // Grown by more than 16 MiB from the low point (90): once, then not again at once.
        assert!(p.should_reclaim(107 * MIB, 1024 * MIB));
        assert!(!p.should_reclaim(200 * MIB, 1024 * MIB));
        p.last -= RECLAIM_EVERY;
        // Past half the watermark, growing or not.
        assert!(p.should_reclaim(600 * MIB, 1024 * MIB));
        p.last -= RECLAIM_EVERY;
        assert!(p.should_reclaim(600 * MIB, 1024 * MIB));
    }

    #[test]
    fn memory_left_high_after_a_burst_is_reclaimed_every_10_s() {
        const MIB: u64 = 1 << 20;
        let mut p = ReclaimPolicy::new(20 * MIB);
        p.last -= RECLAIM_EVERY;
        // A burst: reclaimed while it grows.
        assert!(p.should_reclaim(200 * MIB, 1024 * MIB));
        // It stays there, growing no more: not before 10 s, then after 10 s.
        p.last -= RECLAIM_EVERY;
        assert!(!p.should_reclaim(200 * MIB, 1024 * MIB));
        p.last -= RECLAIM_SETTLED_EVERY;
        assert!(p.should_reclaim(200 * MIB, 1024 * MIB));
        assert!(!p.should_reclaim(200 * MIB, 1024 * MIB));
        // That one gave nothing back (the memory is in use): the next waits 20 s, then 40 s.
        p.last -= RECLAIM_SETTLED_EVERY;
        assert!(!p.should_reclaim(200 * MIB, 1024 * MIB));
        p.last -= RECLAIM_SETTLED_EVERY;
        assert!(p.should_reclaim(200 * MIB, 1024 * MIB));
        p.last -= RECLAIM_SETTLED_EVERY * 3;
        assert!(!p.should_reclaim(200 * MIB, 1024 * MIB));
        p.last -= RECLAIM_SETTLED_EVERY;
        assert!(p.should_reclaim(200 * MIB, 1024 * MIB));
        // One that helps (200 -> 150 MiB since the last) starts the waits again: 10 s.
        p.last -= RECLAIM_SETTLED_EVERY * 8;
        assert!(p.should_reclaim(150 * MIB, 1024 * MIB));
        p.last -= RECLAIM_SETTLED_EVERY;
        assert!(p.should_reclaim(150 * MIB, 1024 * MIB));
        // Back near the floor: never.
        p.last -= RECLAIM_SETTLED_MAX;
        assert!(!p.should_reclaim(30 * MIB, 1024 * MIB));
    }
}
