//! warren-testkit: start the real `warren` binary for black-box tests.
//!
//! `TestBroker::start(env!("CARGO_BIN_EXE_warren"))` runs the binary on 127.0.0.1 with an
//! ephemeral port and a temporary data dir, waits for its `listening amqp HOST:PORT` line,
//! and stops it (SIGTERM, then SIGKILL) when dropped.
//!
//! The data dir belongs to the `TestBroker`, not to the process, so durability tests can stop
//! the broker ([`TestBroker::terminate`] = SIGTERM, [`TestBroker::kill9`] = SIGKILL), look at or
//! damage the files, and [`TestBroker::restart`] the same binary with the same flags on the
//! same data dir. [`TestBroker::check_store`] runs the offline `warren check-store` on it.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a start may take until the `listening amqp` line (recovery of a big store included).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long `check-store` may run.
const CHECK_TIMEOUT: Duration = Duration::from_secs(120);

pub struct TestBroker {
    child: Child,
    /// Where the current process listens for AMQP (changes on every restart).
    pub addr: SocketAddr,
    output: Arc<Mutex<Vec<String>>>,
    data_dir: tempfile::TempDir,
    binary: String,
    extra: Vec<String>,
}

impl TestBroker {
    /// Start the binary with default test flags.
    pub fn start(binary: &str) -> Self {
        Self::start_with(binary, &[])
    }

    /// Start the binary with extra flags (e.g. `["--heartbeat", "1"]`). The flags are reused
    /// by [`TestBroker::restart`].
    pub fn start_with(binary: &str, extra: &[&str]) -> Self {
        let data_dir = tempfile::tempdir().expect("create temp data dir");
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let (child, addr, output) = spawn(binary, data_dir.path(), &extra);
        Self {
            child,
            addr,
            output,
            data_dir,
            binary: binary.to_string(),
            extra,
        }
    }

    /// Stop the broker with SIGTERM if it is still running, then start the same binary with
    /// the same flags on the same data dir. `addr` and [`TestBroker::output`] then belong to
    /// the new process.
    pub fn restart(&mut self) {
        if self.is_running() {
            self.terminate();
        }
        let (child, addr, output) = spawn(&self.binary, self.data_dir.path(), &self.extra);
        self.child = child;
        self.addr = addr;
        self.output = output;
    }

    /// Kill the broker with SIGKILL (no chance to flush anything) and wait until it is gone.
    pub fn kill9(&mut self) {
        // `Child::kill` sends SIGKILL on Unix.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Process id of the current broker process.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The broker process's resident set size, in bytes (VmRSS from /proc).
    pub fn rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read the broker's /proc/PID/status");
        let kib: u64 = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .expect("VmRSS in /proc/PID/status");
        kib * 1024
    }

    /// Path of the binary this broker runs.
    pub fn binary(&self) -> &str {
        &self.binary
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn amqp_url(&self) -> String {
        format!("amqp://guest:guest@{}/%2f", self.addr)
    }

    /// Where the current process serves the management API (its `listening management`
    /// line, printed before `listening amqp`).
    pub fn mgmt_addr(&self) -> SocketAddr {
        self.output()
            .iter()
            .rev()
            .find_map(|line| parse_after(line, "listening management "))
            .expect("warren printed no `listening management` line")
    }

    /// Where the current process serves Prometheus metrics (its `listening prometheus`
    /// line).
    pub fn metrics_addr(&self) -> SocketAddr {
        self.output()
            .iter()
            .rev()
            .find_map(|line| parse_after(line, "listening prometheus "))
            .expect("warren printed no `listening prometheus` line")
    }

    /// The management API's base URL, e.g. `http://127.0.0.1:40123`.
    pub fn mgmt_url(&self) -> String {
        format!("http://{}", self.mgmt_addr())
    }

    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// Everything the current process printed so far (stdout and stderr lines; a restart
    /// starts a new list).
    pub fn output(&self) -> Vec<String> {
        self.output.lock().map(|o| o.clone()).unwrap_or_default()
    }

    /// True while the process is alive.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Send SIGTERM and wait for exit; returns the exit status code (None if killed by signal).
    pub fn terminate(&mut self) -> Option<i32> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        self.child.wait().ok().and_then(|s| s.code())
    }

    /// Run `BINARY check-store --data-dir DIR` (the offline store consistency check) on this
    /// broker's data dir and wait for it (at most 120 s). Meant to run while the broker is
    /// stopped.
    pub fn check_store(&self) -> StoreCheck {
        let mut child = Command::new(&self.binary)
            .arg("check-store")
            .arg("--data-dir")
            .arg(self.data_dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {} check-store: {e}", self.binary));
        let read_all = |stream: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut s = String::new();
                if let Some(mut stream) = stream {
                    let mut bytes = Vec::new();
                    let _ = stream.read_to_end(&mut bytes);
                    s = String::from_utf8_lossy(&bytes).into_owned();
                }
                s
            })
        };
        let out = read_all(
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        );
        let err = read_all(
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        );
        let deadline = Instant::now() + CHECK_TIMEOUT;
        let status = loop {
            if let Ok(Some(status)) = child.try_wait() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("check-store did not finish within {CHECK_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        StoreCheck {
            status,
            stdout: out.join().unwrap_or_default(),
            stderr: err.join().unwrap_or_default(),
        }
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        if self.is_running() {
            self.terminate();
        }
    }
}

/// The result of [`TestBroker::check_store`].
#[derive(Debug)]
pub struct StoreCheck {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl StoreCheck {
    /// Exit status 0: the store is consistent.
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// The unsigned integer field `name` of the JSON report on stdout (e.g.
    /// `"torn_tail_bytes"`), if present.
    pub fn field(&self, name: &str) -> Option<u64> {
        let key = format!("\"{name}\"");
        let rest = &self.stdout[self.stdout.find(&key)? + key.len()..];
        let rest = rest.trim_start().strip_prefix(':')?.trim_start();
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        digits.parse().ok()
    }
}

/// The warren `binary` on loopback, every listener on a free port, data in `data_dir`;
/// add arguments and run it.
pub fn warren_command(binary: &str, data_dir: &Path) -> Command {
    let mut command = Command::new(binary);
    command
        .args([
            "--bind",
            "127.0.0.1",
            "--amqp-port",
            "0",
            "--mgmt-port",
            "0",
            "--prometheus-port",
            "0",
        ])
        .arg("--data-dir")
        .arg(data_dir);
    command
}

/// Start `binary` on `data_dir` and wait for its `listening amqp HOST:PORT` line.
fn spawn(
    binary: &str,
    data_dir: &Path,
    extra: &[String],
) -> (Child, SocketAddr, Arc<Mutex<Vec<String>>>) {
    let mut child = warren_command(binary, data_dir)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
    let output = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel();
    for stream in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let output = Arc::clone(&output);
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if let Some(addr) = parse_listening(&line) {
                    let _ = tx.send(addr);
                }
                output.lock().map(|mut o| o.push(line)).ok();
            }
        });
    }
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    let addr = loop {
        if let Ok(addr) = rx.recv_timeout(Duration::from_millis(100)) {
            break addr;
        }
        if let Ok(Some(status)) = child.try_wait() {
            // Let the readers catch the last lines.
            std::thread::sleep(Duration::from_millis(100));
            panic!(
                "warren exited early ({status}): {:?}",
                output.lock().map(|o| o.clone())
            );
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "warren did not report a listening port in {STARTUP_TIMEOUT:?}: {:?}",
                output.lock().map(|o| o.clone())
            );
        }
    };
    (child, addr, output)
}

fn parse_listening(line: &str) -> Option<SocketAddr> {
    parse_after(line, "listening amqp ")
}

/// The address after `marker` in a log line.
fn parse_after(line: &str, marker: &str) -> Option<SocketAddr> {
    let rest = &line[line.find(marker)? + marker.len()..];
    rest.split_whitespace().next()?.parse().ok()
}
