//! Resource alarms, as RabbitMQ's: a monitor thread measures the broker's memory (resident
//! set size) ten times a second and the data directory's free disk space every second. While
//! either is past its limit, publishing connections are blocked (connection.blocked);
//! consumers go on. It also decides when the allocator should hand freed memory back.

use std::path::Path;
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::broker::Broker;

/// How often memory is measured: a fast publisher adds hundreds of MiB a second, and reading
/// /proc/self/statm costs microseconds.
const CHECK_MEMORY_EVERY: Duration = Duration::from_millis(100);
/// Free disk space is measured every this many memory checks (once a second).
const DISK_CHECK_RATIO: u32 = 10;

/// Which alarms are set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Alarms {
    pub memory: bool,
    pub disk: bool,
}

impl Alarms {
    pub fn any(self) -> bool {
        self.memory || self.disk
    }

    /// The reason connection.blocked carries, worded as RabbitMQ words it.
    pub fn reason(self) -> &'static str {
        if self.memory {
            "low on memory"
        } else {
            "low on disk"
        }
    }
}

/// Bytes available to an unprivileged user on the file system holding `path`.
pub fn free_space(path: &Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    // SAFETY: statvfs only writes into the zeroed struct we pass; the path is NUL-terminated.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

/// This process's resident set size in bytes (what RabbitMQ's default `rss` strategy reads).
pub fn resident_bytes() -> std::io::Result<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm")?;
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("unexpected /proc/self/statm format"))?;
    // SAFETY: sysconf has no preconditions.
    let page_size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Ok(pages.saturating_mul(u64::try_from(page_size).unwrap_or(4096)))
}

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

/// When to ask the allocator to hand freed memory back (messages freed on another thread than
/// the one that allocated them stay resident until that thread collects): after the resident
/// set grew by [`RECLAIM_AFTER_GROWTH_BYTES`], or while it is past half the high watermark;
/// never more than once per [`RECLAIM_EVERY`]. A broker whose memory is steady never pays.
struct ReclaimPolicy {
    low_water_bytes: u64,
    last: std::time::Instant,
}

impl ReclaimPolicy {
    fn new(used: u64) -> Self {
        Self {
            low_water_bytes: used,
            last: std::time::Instant::now(),
        }
    }

    fn should_reclaim(&mut self, used: u64, watermark_bytes: u64) -> bool {
        self.low_water_bytes = self.low_water_bytes.min(used);
        let grown = used.saturating_sub(self.low_water_bytes) > RECLAIM_AFTER_GROWTH_BYTES;
        if !(grown || used > watermark_bytes / 2) || self.last.elapsed() < RECLAIM_EVERY {
            return false;
        }
        self.last = std::time::Instant::now();
        self.low_water_bytes = used;
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

/// RabbitMQ's information units: `k`/`KiB` 1024, `kB`/`KB` 1000, and so on to `G`/`GiB`,
/// `GB`; a bare number is bytes.
pub fn parse_bytes(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let scale: u64 = match unit.trim() {
        "" => 1,
        "k" | "KiB" | "kiB" => 1 << 10,
        "kB" | "KB" => 1_000,
        "M" | "MiB" => 1 << 20,
        "MB" => 1_000_000,
        "G" | "GiB" => 1 << 30,
        "GB" => 1_000_000_000,
        _ => return None,
    };
    n.checked_mul(scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn information_units_parse_like_rabbitmq() {
        assert_eq!(parse_bytes("1048576"), Some(1 << 20));
        assert_eq!(parse_bytes("512MiB"), Some(512 << 20));
        assert_eq!(parse_bytes("2GB"), Some(2_000_000_000));
        assert_eq!(parse_bytes("1 GiB"), Some(1 << 30));
        assert_eq!(parse_bytes("10kB"), Some(10_000));
        assert_eq!(parse_bytes("lots"), None);
        assert_eq!(parse_bytes("5TB"), None);
    }

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
    fn resident_size_is_readable_and_plausible() {
        let rss = resident_bytes().unwrap();
        assert!(rss > 1 << 20 && rss < 1 << 40, "rss {rss}");
    }
}
