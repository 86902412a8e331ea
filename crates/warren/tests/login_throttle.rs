//! A client address that keeps failing to log in is answered ever more slowly, while other
//! addresses (another loopback address stands for another machine) log in at full speed,
//! and a success clears the address. Raw handshakes, timed from start-ok to the answer.

mod common;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use common::raw::{Login, RawConn, Target};
use warren_codec::frame::PROTOCOL_HEADER;
use warren_codec::protocol::{connection, AMQPClass};

/// Log in from `source` and time the broker's answer to start-ok: (accepted, how long).
async fn attempt(t: &Target, source: IpAddr, login: &Login) -> (bool, Duration) {
    let mut c = RawConn::connect_from(t.addr, source).await;
    c.send(PROTOCOL_HEADER).await;
    c.expect_start().await;
    let asked = Instant::now();
    c.send_start_ok(login).await;
    let accepted = match c.expect_class(0).await {
        AMQPClass::Connection(connection::AMQPMethod::Tune(_)) => true,
        AMQPClass::Connection(connection::AMQPMethod::Close(close)) => {
            assert_eq!(close.reply_code, 403, "{close:?}");
            false
        }
        other => panic!("expected tune or close, got {other:?}"),
    };
    (accepted, asked.elapsed())
}

#[tokio::test]
async fn repeated_failed_logins_slow_that_address_and_no_other() {
    let t = Target::start();
    if t.is_external() {
        return; // Warren's own brake: RabbitMQ has none to check.
    }
    let guesser: IpAddr = "127.0.0.1".parse().unwrap();
    let other: IpAddr = "127.0.0.2".parse().unwrap();
    let wrong = Login::plain("guest", "wrong");
    // The first failures are answered at once.
    for n in 0..3 {
        let (ok, took) = attempt(&t, guesser, &wrong).await;
        assert!(!ok);
        assert!(
            took < Duration::from_millis(80),
            "failure {n} took {took:?}"
        );
    }
    // Then each answer waits, longer each time (100 ms, 200 ms, 400 ms, ...).
    let mut waits = Vec::new();
    for _ in 0..4 {
        let (ok, took) = attempt(&t, guesser, &wrong).await;
        assert!(!ok);
        waits.push(took);
    }
    assert!(waits[1] >= Duration::from_millis(100), "{waits:?}");
    assert!(waits[3] >= Duration::from_millis(400), "{waits:?}");
    assert!(waits.windows(2).all(|w| w[1] > w[0]), "{waits:?}");
    // Meanwhile another address logs in (and fails) at full speed.
    let (ok, took) = attempt(&t, other, &Login::guest()).await;
    assert!(ok && took < Duration::from_millis(80), "{took:?}");
    let (ok, took) = attempt(&t, other, &wrong).await;
    assert!(!ok && took < Duration::from_millis(80), "{took:?}");
    // The guesser's right password waits too (a slow answer gives nothing away), then
    // clears the address.
    let (ok, took) = attempt(&t, guesser, &Login::guest()).await;
    assert!(ok && took >= Duration::from_millis(400), "{took:?}");
    let (ok, took) = attempt(&t, guesser, &wrong).await;
    assert!(!ok && took < Duration::from_millis(80), "{took:?}");
}
