//! The disk monitor: free space of the data directory's file system, checked periodically;
//! below the configured limit the broker raises its alarm and publishers are blocked.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::broker::Broker;

/// How often free space is checked.
const CHECK_EVERY: Duration = Duration::from_secs(1);

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

/// Check once now, then keep checking until the broker is dropped.
pub fn check(broker: &Broker) {
    match free_space(&broker.config.data_dir) {
        Ok(free) => broker.update_disk_alarm(free),
        Err(e) => tracing::warn!(error = %e, "cannot read free disk space"),
    }
}

pub async fn monitor(broker: Arc<Broker>) {
    let mut every = tokio::time::interval(CHECK_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        check(&broker);
    }
}
