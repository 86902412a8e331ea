//! Hostile clients: input built to crash, stall or exhaust the broker. Each test sends it over
//! a raw socket to a real `warren` process and asserts the reply a client sees, that the
//! process is still up and serving others, and (where memory is the point) that its resident
//! size stayed bounded. These are Warren's own limits, so they run only against Warren.

mod common;

use std::time::Duration;

use common::raw::*;
use tokio::time::Instant;
use warren_codec::frame::{FRAME_HEADER, FRAME_METHOD, PROTOCOL_HEADER};
use warren_codec::method::{decode_method, Method};
use warren_codec::protocol::{basic, connection, queue, AMQPClass};
use warren_codec::table::{nested_table, NESTING_DEPTH_MAX};

/// Far deeper than any native stack could decode by recursion.
const HOSTILE_DEPTH: usize = 20_000;

const MIB: u64 = 1 << 20;

/// The arguments of connection.start-ok with raw client properties.
fn start_ok_args(client_properties: &[u8], mechanism: &str, response: &[u8]) -> Vec<u8> {
    let mut args = client_properties.to_vec();
    put_short_str(&mut args, mechanism);
    args.extend_from_slice(&(response.len() as u32).to_be_bytes());
    args.extend_from_slice(response);
    put_short_str(&mut args, "en_US");
    args
}

/// A connection that has received connection.start and sends `start_ok_args` next.
async fn start_ok_raw(t: &Target, args: &[u8]) -> RawConn {
    let mut c = t.connect().await;
    c.send(PROTOCOL_HEADER).await;
    c.expect_start().await;
    c.send(&raw_method(0, 10, 11, args)).await;
    c
}

/// The broker never speaks again on this socket and drops it (RabbitMQ's silent close for a
/// broken handshake), and it still serves everyone else.
async fn expect_silent_drop(t: &mut Target, mut c: RawConn) {
    c.expect_closed(Duration::from_secs(8)).await;
    t.assert_healthy().await;
}

// ---- nesting ------------------------------------------------------------------------------

#[tokio::test]
async fn deeply_nested_client_properties_are_refused_before_login() {
    let mut t = Target::start();
    let props = nested_table(HOSTILE_DEPTH);
    let c = start_ok_raw(&t, &start_ok_args(&props, "PLAIN", b"\0guest\0guest")).await;
    expect_silent_drop(&mut t, c).await;
}

#[tokio::test]
async fn deeply_nested_amqplain_response_is_refused() {
    let mut t = Target::start();
    // AMQPLAIN's response is a table without its length prefix.
    let response = nested_table(HOSTILE_DEPTH)[4..].to_vec();
    let c = start_ok_raw(&t, &start_ok_args(&[0, 0, 0, 0], "AMQPLAIN", &response)).await;
    expect_silent_drop(&mut t, c).await;
}

#[tokio::test]
async fn client_properties_nested_to_the_limit_still_log_in() {
    let mut t = Target::start();
    let props = nested_table(NESTING_DEPTH_MAX);
    let mut c = start_ok_raw(&t, &start_ok_args(&props, "PLAIN", b"\0guest\0guest")).await;
    c.expect_tune().await;
    t.assert_healthy().await;
}

#[tokio::test]
async fn deeply_nested_queue_arguments_are_a_frame_error() {
    let mut t = Target::start();
    let mut c = t.open().await;
    let table = nested_table(HOSTILE_DEPTH);
    c.send(&raw_method(
        1,
        50,
        10,
        &queue_declare_args("deep", Some(&table[4..])),
    ))
    .await;
    c.expect_connection_close(
        501,
        "FRAME_ERROR - queue.declare has field tables nested deeper than 100 levels",
        50,
        10,
    )
    .await;
    // Nested as deep as allowed: an ordinary declare.
    let mut c = t.open().await;
    let table = nested_table(NESTING_DEPTH_MAX);
    c.send(&raw_method(
        1,
        50,
        10,
        &queue_declare_args("deep", Some(&table[4..])),
    ))
    .await;
    match c.expect_class(1).await {
        AMQPClass::Queue(queue::AMQPMethod::DeclareOk(ok)) => assert_eq!(ok.queue.as_str(), "deep"),
        other => panic!("expected queue.declare-ok, got {other:?}"),
    }
    t.assert_healthy().await;
}

#[tokio::test]
async fn deeply_nested_binding_arguments_are_a_frame_error() {
    let mut t = Target::start();
    let mut c = t.open().await;
    let q = declare_queue(&mut c, "bound").await;
    let mut args = vec![0, 0];
    put_short_str(&mut args, &q);
    put_short_str(&mut args, "amq.headers");
    put_short_str(&mut args, "");
    args.push(0);
    args.extend_from_slice(&nested_table(HOSTILE_DEPTH));
    c.send(&raw_method(1, 50, 20, &args)).await;
    c.expect_connection_close(
        501,
        "FRAME_ERROR - queue.bind has field tables nested deeper than 100 levels",
        50,
        20,
    )
    .await;
    t.assert_healthy().await;
}

#[tokio::test]
async fn deeply_nested_message_headers_are_a_frame_error() {
    let mut t = Target::start();
    let mut c = t.open().await;
    c.send(&basic_publish(1, "amq.headers", "")).await;
    // Properties: only the headers flag, then the table.
    let mut payload = 60u16.to_be_bytes().to_vec();
    payload.extend_from_slice(&0u16.to_be_bytes());
    payload.extend_from_slice(&0u64.to_be_bytes());
    payload.extend_from_slice(&(1u16 << 13).to_be_bytes());
    payload.extend_from_slice(&nested_table(HOSTILE_DEPTH));
    c.send(&frame(FRAME_HEADER, 1, &payload)).await;
    c.expect_connection_close(
        501,
        "FRAME_ERROR - cannot decode content header properties",
        60,
        40,
    )
    .await;
    t.assert_healthy().await;
}

async fn declare_queue(c: &mut RawConn, name: &str) -> String {
    c.send(&queue_declare(1, name, false, false)).await;
    match c.expect_class(1).await {
        AMQPClass::Queue(queue::AMQPMethod::DeclareOk(ok)) => ok.queue.as_str().to_owned(),
        other => panic!("expected queue.declare-ok, got {other:?}"),
    }
}

/// queue.bind or exchange.bind (same argument layout) on channel 1, no arguments.
fn bind(class_id: u16, destination: &str, source: &str, key: &str) -> Vec<u8> {
    let mut args = vec![0, 0];
    put_short_str(&mut args, destination);
    put_short_str(&mut args, source);
    put_short_str(&mut args, key);
    args.push(0);
    args.extend_from_slice(&[0, 0, 0, 0]);
    raw_method(1, class_id, if class_id == 50 { 20 } else { 30 }, &args)
}

fn queue_bind(queue: &str, exchange: &str, key: &str) -> Vec<u8> {
    bind(50, queue, exchange, key)
}

fn exchange_bind(destination: &str, source: &str, key: &str) -> Vec<u8> {
    bind(40, destination, source, key)
}

/// basic.get with no-ack on channel 1.
fn basic_get(queue: &str) -> Vec<u8> {
    let mut args = vec![0, 0];
    put_short_str(&mut args, queue);
    args.push(1);
    raw_method(1, 60, 70, &args)
}

/// How many messages a queue holds (passive declare).
async fn message_count(c: &mut RawConn, queue: &str) -> u32 {
    c.send(&queue_declare(1, queue, true, false)).await;
    match c.expect_class(1).await {
        AMQPClass::Queue(queue::AMQPMethod::DeclareOk(ok)) => ok.message_count,
        other => panic!("expected queue.declare-ok, got {other:?}"),
    }
}

// ---- routing ------------------------------------------------------------------------------

#[tokio::test]
async fn topic_keys_of_many_hash_words_route_quickly_and_stall_no_one() {
    let mut t = Target::start();
    let mut c = t.open().await;
    let hot = declare_queue(&mut c, "hash.hot").await;
    let other = declare_queue(&mut c, "hash.other").await;
    // 30 `#`; and 40 `#` each followed by an empty word: both exponential to match naively.
    let all_hash = vec!["#"; 30].join(".");
    let interleaved = vec!["#."; 40].join(".");
    for key in [&all_hash, &interleaved] {
        c.send(&queue_bind(&hot, "amq.topic", key)).await;
        c.expect_class(1).await;
    }
    c.send(&queue_bind(&other, "amq.direct", "k")).await;
    c.expect_class(1).await;
    let started = Instant::now();
    // 200 empty words, the longest keys a short string holds; and one that ends in "x",
    // which `interleaved` (ending in an empty word) must not match.
    let key_200 = ".".repeat(199);
    let key_x = ".".repeat(198) + "x";
    for _ in 0..20 {
        c.send(&publish_message(1, "amq.topic", &key_200, b"m"))
            .await;
        c.send(&publish_message(1, "amq.topic", &key_x, b"m")).await;
    }
    // Meanwhile another client publishes and gets its messages promptly.
    let mut bystander = t.open().await;
    for _ in 0..100 {
        bystander
            .send(&publish_message(1, "amq.direct", "k", b"b"))
            .await;
    }
    assert_eq!(message_count(&mut bystander, &other).await, 100);
    assert_eq!(message_count(&mut c, &hot).await, 40);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "routing took {:?}",
        started.elapsed()
    );
    t.assert_healthy().await;
}

#[tokio::test]
async fn exchange_cycles_deliver_once_per_queue() {
    let mut t = Target::start();
    let mut c = t.open().await;
    for x in ["cyc.a", "cyc.b", "cyc.c"] {
        c.send(&exchange_declare(1, x, "fanout")).await;
        c.expect_class(1).await;
    }
    // a → b → c → a, and every one of them bound to the same queue.
    for (dest, src) in [("cyc.b", "cyc.a"), ("cyc.c", "cyc.b"), ("cyc.a", "cyc.c")] {
        c.send(&exchange_bind(dest, src, "")).await;
        c.expect_class(1).await;
    }
    let q = declare_queue(&mut c, "cyc.q").await;
    for x in ["cyc.a", "cyc.b", "cyc.c"] {
        c.send(&queue_bind(&q, x, "")).await;
        c.expect_class(1).await;
    }
    c.send(&publish_message(1, "cyc.b", "", b"once")).await;
    assert_eq!(message_count(&mut c, &q).await, 1);
    t.assert_healthy().await;
}

#[tokio::test]
async fn a_chain_of_thousands_of_exchanges_routes_to_its_end() {
    const CHAIN: usize = 3_000;
    let mut t = Target::start();
    let mut c = t.open().await;
    let names: Vec<String> = (0..CHAIN).map(|i| format!("chain.{i}")).collect();
    let mut batch = Vec::new();
    for (i, x) in names.iter().enumerate() {
        batch.extend(exchange_declare(1, x, "fanout"));
        if i > 0 {
            batch.extend(exchange_bind(x, &names[i - 1], ""));
        }
    }
    c.send(&batch).await;
    for i in 0..CHAIN * 2 - 1 {
        let m = c.expect_method(1).await;
        assert!(
            matches!(m, Method::Other(AMQPClass::Exchange(_))),
            "reply {i}: {m:?}"
        );
    }
    let q = declare_queue(&mut c, "chain.end").await;
    c.send(&queue_bind(&q, &names[CHAIN - 1], "")).await;
    c.expect_class(1).await;
    c.send(&publish_message(1, &names[0], "", b"far")).await;
    assert_eq!(message_count(&mut c, &q).await, 1);
    // Deleting the tail queue empties the last (auto-delete) exchange, which goes and empties
    // the one before it, and so on: all 3,000 go, without recursion and without visiting every
    // exchange for each one (it would take seconds under the topology lock).
    c.send(&raw_method(1, 50, 40, &{
        let mut a = vec![0, 0];
        put_short_str(&mut a, &q);
        a.push(0);
        a
    }))
    .await;
    c.expect_class(1).await;
    c.send(&passive_exchange_declare(1, &names[0])).await;
    c.expect_channel_close(
        1,
        404,
        "NOT_FOUND - no exchange 'chain.0' in vhost '/'",
        40,
        10,
    )
    .await;
    t.assert_healthy().await;
}

// ---- clients that do not read -------------------------------------------------------------

/// Fill `queue` with `count` messages of `size` bytes.
async fn fill(c: &mut RawConn, queue: &str, count: usize, size: usize) {
    let one = publish_message(1, "", queue, &vec![b'x'; size]);
    let mut batch = Vec::new();
    for i in 0..count {
        batch.extend_from_slice(&one);
        if batch.len() > (1 << 20) || i + 1 == count {
            c.send(&batch).await;
            batch.clear();
        }
    }
    assert_eq!(message_count(c, queue).await as usize, count);
}

/// A connection split in two: a task floods the broker with requests (its writes block once
/// the broker stops reading), while the test reads the answers, or does not.
struct Flooded {
    rd: tokio::net::tcp::OwnedReadHalf,
    buf: bytes::BytesMut,
    sender: tokio::task::JoinHandle<()>,
}

impl Flooded {
    fn start(c: RawConn, requests: Vec<u8>) -> Self {
        use tokio::io::AsyncWriteExt;
        let (stream, buf) = c.into_parts();
        let (rd, mut wr) = stream.into_split();
        let sender = tokio::spawn(async move {
            wr.write_all(&requests).await.expect("flood write");
            // Keep the write half (and so the socket) open until the test is done reading.
            std::future::pending::<()>().await;
        });
        Self { rd, buf, sender }
    }

    async fn frame(&mut self) -> warren_codec::frame::Frame {
        use tokio::io::AsyncReadExt;
        loop {
            if let Some(f) = warren_codec::frame::split_frame(&mut self.buf, 0).expect("frame") {
                return f;
            }
            self.buf.reserve(256 * 1024);
            let n = tokio::time::timeout(WAIT, self.rd.read_buf(&mut self.buf))
                .await
                .expect("an answer within the wait")
                .expect("read");
            assert!(n > 0, "the broker closed the connection");
        }
    }

    async fn method(&mut self) -> Method {
        let f = self.frame().await;
        assert_eq!(f.kind, FRAME_METHOD, "expected a method frame");
        decode_method(f.payload).expect("decodable method")
    }
}

/// While a client sends `requests` without reading, the broker's memory stays bounded: the
/// answers it holds back are limited, and TCP pushes back on the client.
async fn assert_rss_bounded_while_unread(t: &Target, c: RawConn, requests: Vec<u8>) -> Flooded {
    let broker = t.broker.as_ref().expect("our own broker");
    let before = broker.rss_bytes();
    let flooded = Flooded::start(c, requests);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let grown = broker.rss_bytes().saturating_sub(before);
    assert!(
        grown < 40 * MIB,
        "RSS grew by {} MiB while the client did not read",
        grown / MIB
    );
    flooded
}

#[tokio::test]
async fn pipelined_gets_without_reading_keep_memory_bounded() {
    const COUNT: usize = 20_000;
    let mut t = Target::start();
    let mut c = t.open().await;
    let q = declare_queue(&mut c, "unread.gets").await;
    fill(&mut c, &q, COUNT, 4096).await;
    // Every get answered at once would be 80 MiB of output nobody reads.
    let mut f = assert_rss_bounded_while_unread(&t, c, basic_get(&q).repeat(COUNT)).await;
    // Reading again, the client gets every answer, in order.
    for i in 0..COUNT {
        match f.method().await {
            Method::Other(AMQPClass::Basic(basic::AMQPMethod::GetOk(ok))) => {
                assert_eq!(ok.message_count as usize, COUNT - i - 1, "get {i}")
            }
            other => panic!("get {i}: expected get-ok, got {other:?}"),
        }
        assert_eq!(f.frame().await.kind, FRAME_HEADER);
        assert_eq!(f.frame().await.payload.len(), 4096);
    }
    f.sender.abort();
    t.assert_healthy().await;
}

#[tokio::test]
async fn unroutable_mandatory_publishes_without_reading_keep_memory_bounded() {
    const COUNT: usize = 50_000;
    let mut t = Target::start();
    let c = t.open().await;
    let one = {
        let mut m = publish_flags(1, "amq.direct", "nowhere", true, false);
        m.extend(content_header(1, 60, 4096));
        m.extend(body(1, &[b'r'; 4096]));
        m
    };
    // Every return sent at once would be 200 MiB of output nobody reads.
    let mut f = assert_rss_bounded_while_unread(&t, c, one.repeat(COUNT)).await;
    for i in 0..COUNT {
        match f.method().await {
            Method::Other(AMQPClass::Basic(basic::AMQPMethod::Return(r))) => {
                assert_eq!(r.reply_code, 312, "return {i}")
            }
            other => panic!("return {i}: expected basic.return, got {other:?}"),
        }
        assert_eq!(f.frame().await.kind, FRAME_HEADER);
        assert_eq!(f.frame().await.payload.len(), 4096);
    }
    f.sender.abort();
    t.assert_healthy().await;
}

// ---- absurd sizes -------------------------------------------------------------------------

#[tokio::test]
async fn announced_bodies_beyond_the_maximum_are_refused_from_the_header() {
    let mut t = Target::start();
    let mut c = t.open().await;
    for size in [1u64 << 62, 1 << 30, (128 << 20) + 1] {
        c.send(&basic_publish(1, "", "nowhere")).await;
        c.send(&content_header(1, 60, size)).await;
        // At once: not a byte of the body was sent.
        c.expect_channel_close(
            1,
            406,
            &format!(
                "PRECONDITION_FAILED - message size {size} is larger than configured max size 134217728"
            ),
            60,
            40,
        )
        .await;
        // Body frames still in flight are ignored until close-ok.
        c.send(&body(1, b"ignored")).await;
        c.send(&channel_close_ok(1)).await;
        c.open_channel(1).await;
    }
    t.assert_healthy().await;
}

#[tokio::test]
async fn max_message_size_is_configurable() {
    let mut t = Target::start_with(&["--max-message-size", "65536"]);
    let mut c = t.open().await;
    let q = declare_queue(&mut c, "sized").await;
    // Exactly the maximum, in several frames: accepted.
    c.send(&basic_publish(1, "", &q)).await;
    c.send(&content_header(1, 60, 65536)).await;
    for _ in 0..4 {
        c.send(&body(1, &[7u8; 16384])).await;
    }
    assert_eq!(message_count(&mut c, &q).await, 1);
    c.send(&basic_publish(1, "", &q)).await;
    c.send(&content_header(1, 60, 65537)).await;
    c.expect_channel_close(
        1,
        406,
        "PRECONDITION_FAILED - message size 65537 is larger than configured max size 65536",
        60,
        40,
    )
    .await;
    t.assert_healthy().await;
}

#[tokio::test]
async fn channel_numbers_above_channel_max_are_refused() {
    let mut t = Target::start();
    let login = Login {
        channel_max: 16,
        ..Login::guest()
    };
    for ch in [17u16, 65535] {
        let mut c = t.open_with(&login).await;
        c.send(&channel_open(ch)).await;
        c.expect_connection_close(
            530,
            &format!("NOT_ALLOWED - channel number {ch} is above the negotiated channel_max (16)"),
            20,
            10,
        )
        .await;
    }
    // The highest allowed number works.
    let mut c = t.open_with(&login).await;
    c.open_channel(16).await;
    c.sync(16).await;
    t.assert_healthy().await;
}

// ---- slow and silent peers ----------------------------------------------------------------

#[tokio::test]
async fn a_handshake_that_stalls_is_closed_after_the_handshake_timeout() {
    let mut t = Target::start_with(&["--handshake-timeout", "1000"]);
    let started = Instant::now();
    // Part of the protocol header, then silence.
    let mut partial = t.connect().await;
    partial.send(&PROTOCOL_HEADER[..3]).await;
    // The whole header, then silence after connection.start.
    let mut after_start = t.connect().await;
    after_start.send(PROTOCOL_HEADER).await;
    after_start.expect_start().await;
    for c in [&mut partial, &mut after_start] {
        c.expect_closed(Duration::from_secs(4)).await;
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(900), "closed after {took:?}");
    }
    t.assert_healthy().await;
}

// ---- closing ------------------------------------------------------------------------------

#[tokio::test]
async fn close_ok_reaches_a_client_that_keeps_sending_after_close() {
    let mut t = Target::start();
    let mut c = t.open().await;
    // connection.close twice (two threads of one client closing at once), then more frames
    // the broker will not process: each close gets its close-ok, and nothing turns into a
    // reset that destroys them on their way to the client.
    let mut burst = connection_close(200, "bye");
    burst.extend(connection_close(200, "bye too"));
    for _ in 0..4096 {
        burst.extend(publish_message(1, "", "nowhere", &[0u8; 64]));
    }
    c.send(&burst).await;
    for _ in 0..2 {
        match c.expect_class(0).await {
            AMQPClass::Connection(connection::AMQPMethod::CloseOk(_)) => {}
            other => panic!("expected connection.close-ok, got {other:?}"),
        }
    }
    // A client still flushing what it had queued: its writes must keep succeeding (a broker
    // that closed outright would answer them with a reset, and the client's write fails).
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        c.send(&heartbeat()).await;
    }
    c.shutdown_write().await;
    c.expect_clean_close(WAIT).await;
    t.assert_healthy().await;
}

#[tokio::test]
async fn after_a_server_close_the_socket_closes_promptly_on_close_ok() {
    let mut t = Target::start();
    let mut c = t.open().await;
    c.send(&basic_recover(1, false)).await;
    let frame = c.expect_frame().await;
    assert!(
        matches!(
            decode_method(frame.payload),
            Ok(Method::Other(AMQPClass::Connection(
                connection::AMQPMethod::Close(_)
            )))
        ),
        "expected connection.close"
    );
    c.send(&connection_close_ok()).await;
    // The client keeps its side open: the broker must still end the connection at once.
    let started = Instant::now();
    c.expect_clean_close(WAIT).await;
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "closed after {:?}",
        started.elapsed()
    );
    t.assert_healthy().await;
}

// ---- memory alarm -------------------------------------------------------------------------

/// The next connection.blocked / unblocked on `f`, skipping everything else; None for
/// unblocked.
async fn next_blocking_change(f: &mut Flooded) -> Option<String> {
    loop {
        let frame = f.frame().await;
        if frame.kind != FRAME_METHOD || frame.channel != 0 {
            continue;
        }
        match decode_method(frame.payload) {
            Ok(Method::Other(AMQPClass::Connection(connection::AMQPMethod::Blocked(b)))) => {
                return Some(b.reason.as_str().to_owned())
            }
            Ok(Method::Other(AMQPClass::Connection(connection::AMQPMethod::Unblocked(_)))) => {
                return None
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn publishers_are_blocked_above_the_memory_high_watermark_and_consumers_drain() {
    const SIZE: usize = 4096;
    // Paging would keep messages out of memory: give it room, and set the watermark low.
    let mut t = Target::start_with(&[
        "--vm-memory-high-watermark",
        "100MiB",
        "--memory-budget",
        "1073741824",
        "--queue-memory-bytes",
        "1073741824",
    ]);
    let login = Login::guest().capability("connection.blocked", true);
    let mut setup = t.open().await;
    let q = declare_queue(&mut setup, "alarm.mem").await;
    let mut publisher = t.open_with(&login).await;
    publisher.open_channel(1).await;
    // Far more than the watermark: the publisher must be stopped well before the end.
    let message = publish_message(1, "", &q, &[b'm'; SIZE]);
    let mut f = Flooded::start(publisher, message.repeat(300 << 20 >> 12));
    let reason = tokio::time::timeout(Duration::from_secs(30), next_blocking_change(&mut f))
        .await
        .expect("connection.blocked within 30 s");
    assert_eq!(reason.as_deref(), Some("low on memory"));
    f.sender.abort();
    let queued = message_count(&mut setup, &q).await as usize;
    assert!(
        queued * SIZE < 200 << 20,
        "{queued} messages got in: the publisher was not held back"
    );
    // A consumer drains the queue while the publisher is blocked; memory falls and the
    // publisher is unblocked.
    let mut consumer = t.open().await;
    for _ in 0..queued {
        consumer.send(&basic_get(&q)).await;
        match consumer.expect_method(1).await {
            Method::Other(AMQPClass::Basic(basic::AMQPMethod::GetOk(_))) => {}
            other => panic!("expected get-ok, got {other:?}"),
        }
        consumer.expect_frame().await;
        consumer.expect_frame().await;
    }
    let change = tokio::time::timeout(Duration::from_secs(30), next_blocking_change(&mut f))
        .await
        .expect("connection.unblocked within 30 s of draining");
    assert_eq!(change, None, "expected connection.unblocked");
    t.assert_healthy().await;
}

// ---- definitions ------------------------------------------------------------------------

#[tokio::test]
async fn deeply_nested_definitions_do_not_crash_the_broker() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("definitions.json");
    // Nested far beyond any native stack: the parser's depth bound refuses the file, and the
    // broker stops with an error naming it (exit code 1), rather than overflowing its stack.
    let depth = 200_000;
    let json = format!(
        r#"{{"users": [{{"name": "deep", "password": "pw", "tags": ""}}],
            "policies": {}{}}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    );
    std::fs::write(&path, json).expect("write definitions");
    let data = tempfile::tempdir().expect("temp dir");
    let out = warren_testkit::warren_command(env!("CARGO_BIN_EXE_warren"), data.path())
        .arg("--definitions")
        .arg(&path)
        .output()
        .expect("run warren");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains("cannot parse definitions file") && stderr.contains("recursion limit"),
        "stderr: {stderr}"
    );
}
