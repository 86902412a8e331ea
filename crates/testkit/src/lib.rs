//! warren-testkit: start the real `warren` binary for black-box tests.
//!
//! `TestBroker::start(env!("CARGO_BIN_EXE_warren"))` runs the binary on 127.0.0.1 with an
//! ephemeral port and a temporary data dir, waits for its `listening amqp HOST:PORT` line,
//! and stops it (SIGTERM, then SIGKILL) when dropped.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct TestBroker {
    child: Child,
    pub addr: SocketAddr,
    output: Arc<Mutex<Vec<String>>>,
    data_dir: tempfile::TempDir,
}

impl TestBroker {
    /// Start the binary with default test flags.
    pub fn start(binary: &str) -> Self {
        Self::start_with(binary, &[])
    }

    /// Start the binary with extra flags (e.g. `["--heartbeat", "1"]`).
    pub fn start_with(binary: &str, extra: &[&str]) -> Self {
        let data_dir = tempfile::tempdir().expect("create temp data dir");
        Self::start_in(binary, data_dir, extra)
    }

    fn start_in(binary: &str, data_dir: tempfile::TempDir, extra: &[&str]) -> Self {
        let mut child = Command::new(binary)
            .args([
                "--bind",
                "127.0.0.1",
                "--amqp-port",
                "0",
                "--mgmt-port",
                "0",
            ])
            .arg("--data-dir")
            .arg(data_dir.path())
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
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
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
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr = loop {
            if let Ok(addr) = rx.recv_timeout(Duration::from_millis(100)) {
                break addr;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "warren exited early ({status}): {:?}",
                    output.lock().map(|o| o.clone())
                );
            }
            assert!(
                Instant::now() < deadline,
                "warren did not report a listening port in 30 s"
            );
        };
        Self {
            child,
            addr,
            output,
            data_dir,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn amqp_url(&self) -> String {
        format!("amqp://guest:guest@{}/%2f", self.addr)
    }

    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// Everything the broker printed so far.
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
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        if self.is_running() {
            self.terminate();
        }
    }
}

fn parse_listening(line: &str) -> Option<SocketAddr> {
    let rest = &line[line.find("listening amqp ")? + "listening amqp ".len()..];
    rest.split_whitespace().next()?.parse().ok()
}
