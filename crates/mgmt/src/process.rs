//! Facts about this process the API and the metrics show: open file descriptors, their
//! limit, resident memory (read from /proc; a few microseconds each).

/// Open file descriptors.
pub fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64)
}

/// The soft limit on open file descriptors.
pub fn max_fds() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|t| {
            let line = t.lines().find(|l| l.starts_with("Max open files"))?;
            line.split_whitespace().nth(3)?.parse().ok()
        })
        .unwrap_or(0)
}

/// Resident memory in bytes.
pub fn resident_bytes() -> u64 {
    warren_broker::alarm::resident_bytes().unwrap_or(0)
}
