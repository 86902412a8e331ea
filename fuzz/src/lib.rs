//! Helpers shared by Warren's fuzz targets and their seed generator.
//!
//! # Layout
//! - [`scratch`]: fresh per-process temp directories (on tmpfs where there is one).
//! - [`client`]: a blocking AMQP client that knows just the opening handshake.
//! - [`server`]: a broker served on 127.0.0.1:0 from a runtime owned by the fuzz process.
//! - [`store_image`]: the byte format `store_recovery` reads to lay out a data directory.
//! - [`seeds`]: valid encodings every target's corpus starts from.

pub mod client;
pub mod scratch;
pub mod seeds;
pub mod server;
pub mod store_image;

/// Make a panic on any thread (a broker task, the flusher) end the process, so libFuzzer
/// reports it: tokio would otherwise catch it and carry on. libfuzzer-sys installs the same
/// hook at start; this keeps the guarantee when a target is run some other way.
pub fn abort_on_panic() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
        std::process::abort();
    }));
}

/// Threads this process has now (Linux; 0 elsewhere).
pub fn thread_count() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("Threads:"))?;
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

/// Panic unless the thread count is back to `before` (within a second: a joined thread may
/// linger in /proc for a moment). Brokers and stores that are gone must leave no threads.
pub fn assert_no_thread_leak(before: usize, what: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        let now = thread_count();
        if now <= before {
            return;
        }
        if std::time::Instant::now() >= deadline {
            panic!("{what} left {} threads running", now - before);
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// libFuzzer's `main` is C's, which leaves SIGPIPE fatal: writing to a socket the broker has
/// closed must be an error, not the end of the run.
pub fn ignore_sigpipe() {
    // SAFETY: setting a signal's disposition to SIG_IGN has no preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}
