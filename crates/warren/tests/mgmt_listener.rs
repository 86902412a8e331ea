//! The management listener against clients that hold connections: headers that never finish
//! are cut off after the header timeout (RabbitMQ's cowboy: `request_timeout`), and while
//! such clients hang, other clients are served at once.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use warren_testkit::TestBroker;

/// One request on a fresh connection; the status line.
fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    // guest:guest
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Basic Z3Vlc3Q6Z3Vlc3Q=\r\nConnection: close\r\n\r\n"
    );
    s.write_all(request.as_bytes()).expect("write");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.lines().next().unwrap_or_default().to_owned()
}

#[test]
fn unfinished_headers_are_cut_off_and_others_are_served_meanwhile() {
    let broker = TestBroker::start(env!("CARGO_BIN_EXE_warren"));
    let addr = broker.mgmt_addr();
    let mut stalled: Vec<TcpStream> = (0..50)
        .map(|_| {
            let mut s = TcpStream::connect(addr).expect("connect");
            s.write_all(b"GET /api/overview HTTP/1.1\r\nHost: x\r\n")
                .expect("write");
            s
        })
        .collect();
    let started = Instant::now();
    assert_eq!(get(addr, "/api/overview"), "HTTP/1.1 200 OK");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a client waited {:?} behind stalled ones",
        started.elapsed()
    );
    // Each stalled connection is closed by the server (EOF) after the header timeout.
    for s in &mut stalled {
        s.set_read_timeout(Some(Duration::from_secs(15))).ok();
        let mut buf = [0u8; 256];
        let n = s
            .read(&mut buf)
            .expect("the server closes, not the read timeout");
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(
            n == 0 || text.starts_with("HTTP/1.1 408"),
            "unexpected answer to unfinished headers: {text:?}"
        );
    }
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(4) && waited < Duration::from_secs(15),
        "stalled connections closed after {waited:?}"
    );
    assert_eq!(get(addr, "/api/overview"), "HTTP/1.1 200 OK");
}
