//! Resource alarms, as RabbitMQ's: which are set, and the readings behind them (resident
//! memory, free disk space, RabbitMQ's information units). [`crate::monitor`] takes the
//! readings; while an alarm is set, publishing connections are blocked.

use std::path::Path;

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
    fn resident_size_is_readable_and_plausible() {
        let rss = resident_bytes().unwrap();
        assert!(rss > 1 << 20 && rss < 1 << 40, "rss {rss}");
    }
}
