//! Durability across broker restarts, via lapin: which topology and which messages survive a
//! clean stop (SIGTERM) and a crash (SIGKILL) of the broker, redelivery of unacked messages,
//! purge/delete sticking, many messages over several small segment files (and their deletion
//! once acked), and recovery from a damaged (bit-flipped, torn) newest segment.
//!
//! Every test runs its own `warren` on a data dir that survives the process
//! (`warren_testkit::TestBroker::restart`). These tests need the durable message store.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicPublishOptions, BasicQosOptions, ExchangeBindOptions,
    ExchangeDeclareOptions, QueueDeclareOptions, QueueDeleteOptions, QueuePurgeOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use warren_testkit::TestBroker;

const BIN: &str = env!("CARGO_BIN_EXE_warren");
/// 1 MiB segment files, so that a few MB of messages span several segments.
const SMALL_SEGMENTS: &[&str] = &["--segment-size", "1048576"];
/// Upper bound for bulk work (tens of thousands of publishes, confirms or deliveries).
const LONG: Duration = Duration::from_secs(120);

/// How the broker goes down before it is started again.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Stop {
    /// SIGTERM: a clean shutdown.
    Clean,
    /// SIGKILL: a crash.
    Kill,
}

fn stop(broker: &mut TestBroker, how: Stop) {
    tokio::task::block_in_place(|| match how {
        Stop::Clean => {
            let code = broker.terminate();
            assert_eq!(
                code,
                Some(0),
                "SIGTERM should shut the broker down cleanly; output: {:#?}",
                broker.output()
            );
        }
        Stop::Kill => broker.kill9(),
    })
}

/// Stop the broker (`how`) and start it again on the same data dir.
fn restart(broker: &mut TestBroker, how: Stop) {
    stop(broker, how);
    tokio::task::block_in_place(|| broker.restart());
}

async fn connect(broker: &TestBroker) -> Connection {
    within(
        "connect",
        Connection::connect(&broker.amqp_url(), ConnectionProperties::default()),
    )
    .await
    .expect("connect as guest")
}

async fn within_long<F: std::future::Future>(what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(LONG, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {LONG:?}: {what}"),
    }
}

fn durable() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..Default::default()
    }
}

fn durable_exchange() -> ExchangeDeclareOptions {
    ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    }
}

fn persistent() -> BasicProperties {
    BasicProperties::default().with_delivery_mode(2)
}

/// Whether queue `name` exists (passive declare on a fresh channel; 404 means no).
async fn queue_exists(conn: &Connection, name: &str) -> bool {
    let ch = open(conn).await;
    match passive(&ch, name).await {
        Ok(_) => true,
        Err(e) => {
            expect_code::<()>(Err(e), 404);
            false
        }
    }
}

/// Whether exchange `name` exists (passive declare on a fresh channel; 404 means no).
async fn exchange_exists(conn: &Connection, name: &str) -> bool {
    let ch = open(conn).await;
    let res = within(
        "passive exchange.declare",
        ch.exchange_declare(
            name.into(),
            ExchangeKind::Direct,
            ExchangeDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        ),
    )
    .await;
    match res {
        Ok(()) => true,
        Err(e) => {
            expect_code::<()>(Err(e), 404);
            false
        }
    }
}

/// Publish on a confirm channel and assert the broker acked it.
async fn publish_acked(
    ch: &Channel,
    exchange: &str,
    key: &str,
    body: &[u8],
    props: BasicProperties,
) {
    let confirm = publish_props(ch, exchange, key, body, props)
        .await
        .unwrap_or_else(|e| panic!("publish to {exchange:?}/{key:?}: {e:?}"));
    assert!(
        confirm.is_ack(),
        "publish to {exchange:?}/{key:?} confirmed"
    );
}

/// `(body, redelivered)` of every message in `queue`, taken with no-ack basic.get.
async fn take_all(ch: &Channel, queue: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    while let Some(m) = get(ch, queue, true).await {
        out.push((body(&m.delivery), m.delivery.redelivered));
        assert!(out.len() <= 100_000, "queue {queue} does not drain");
    }
    out
}

fn names(v: &[(String, bool)]) -> Vec<&str> {
    v.iter().map(|(b, _)| b.as_str()).collect()
}

/// xorshift64: deterministic filler for bodies.
fn xorshift(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

/// `len` pseudo-random bytes, the same for the same `seed`.
fn filler(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x = xorshift(x);
            (x >> 24) as u8
        })
        .collect()
}

/// The segment files (`DIR/msgs/*.seg`), oldest (lowest id) first.
fn segment_files(data_dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(data_dir.join("msgs"))
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "seg"))
                .collect()
        })
        .unwrap_or_default();
    // Names are zero-padded decimal ids, so name order is id order.
    v.sort();
    v
}

fn has_line(broker: &TestBroker, words: &[&str]) -> bool {
    broker
        .output()
        .iter()
        .any(|l| words.iter().all(|w| l.contains(w)))
}

// --- topology ---------------------------------------------------------------------------

async fn durable_topology_survives(how: Stop) {
    let mut broker = TestBroker::start(BIN);
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;

    declare_exchange_with(
        &ch,
        "d.direct",
        ExchangeKind::Direct,
        durable_exchange(),
        FieldTable::default(),
    )
    .await;
    declare_exchange_with(
        &ch,
        "d.topic",
        ExchangeKind::Topic,
        durable_exchange(),
        FieldTable::default(),
    )
    .await;
    declare_exchange(&ch, "t.direct", ExchangeKind::Direct).await;
    declare_with(&ch, "d.orders", durable(), FieldTable::default()).await;
    declare_with(&ch, "d.logs", durable(), FieldTable::default()).await;
    declare_with(
        &ch,
        "t.q",
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await;
    declare_with(
        &ch,
        "x.q",
        QueueDeclareOptions {
            durable: true,
            exclusive: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await;
    declare_with(
        &ch,
        "ad.q",
        QueueDeclareOptions {
            durable: true,
            auto_delete: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await;
    bind(&ch, "d.orders", "d.direct", "eu.orders").await;
    bind(&ch, "d.logs", "d.topic", "logs.#").await;
    // Exchange-to-exchange, both durable: d.topic --(*.orders)--> d.direct.
    within(
        "exchange.bind",
        ch.exchange_bind(
            "d.direct".into(),
            "d.topic".into(),
            "*.orders".into(),
            ExchangeBindOptions::default(),
            FieldTable::default(),
        ),
    )
    .await
    .expect("exchange.bind d.topic -> d.direct");
    // A durable exchange bound to a transient queue: the binding must not outlive the queue.
    bind(&ch, "t.q", "d.direct", "transient").await;

    // Before the stop, every route works (so that what is missing afterwards means something).
    // Transient messages, so that an ack lost in a crash cannot bring them back.
    let transient = BasicProperties::default;
    publish_acked(&ch, "d.topic", "eu.orders", b"via e2e", transient()).await;
    publish_acked(&ch, "d.topic", "logs.error", b"via topic", transient()).await;
    publish_acked(&ch, "d.direct", "transient", b"to transient", transient()).await;
    assert_eq!(drain(&ch, "d.orders").await, ["via e2e"]);
    assert_eq!(drain(&ch, "d.logs").await, ["via topic"]);
    assert_eq!(drain(&ch, "t.q").await, ["to transient"]);

    // The connection (owner of the exclusive queue) stays open while the broker goes down.
    restart(&mut broker, how);
    drop(conn);

    let conn = connect(&broker).await;
    for x in ["d.direct", "d.topic"] {
        assert!(
            exchange_exists(&conn, x).await,
            "durable exchange {x} after {how:?}"
        );
    }
    for q in ["d.orders", "d.logs"] {
        assert!(
            queue_exists(&conn, q).await,
            "durable queue {q} after {how:?}"
        );
    }
    assert!(
        !exchange_exists(&conn, "t.direct").await,
        "transient exchange after {how:?}"
    );
    assert!(
        !queue_exists(&conn, "t.q").await,
        "transient queue after {how:?}"
    );
    assert!(
        !queue_exists(&conn, "x.q").await,
        "exclusive queue after {how:?}"
    );
    assert!(
        !queue_exists(&conn, "ad.q").await,
        "auto-delete queue after {how:?}"
    );

    let ch = confirm_channel(&conn).await;
    assert_eq!(counts(&ch, "d.orders").await, (0, 0));
    // Queue binding on the direct exchange.
    publish_acked(&ch, "d.direct", "eu.orders", b"direct", persistent()).await;
    // Exchange-to-exchange binding, then the queue binding.
    publish_acked(&ch, "d.topic", "eu.orders", b"e2e", persistent()).await;
    // Matches the e2e binding but no queue binding of d.direct: goes nowhere.
    publish_acked(&ch, "d.topic", "us.orders", b"nowhere", persistent()).await;
    // Topic queue binding.
    publish_acked(&ch, "d.topic", "logs.warn.disk", b"topic", persistent()).await;
    publish_acked(&ch, "d.topic", "metrics.cpu", b"unbound", persistent()).await;
    assert_eq!(drain(&ch, "d.orders").await, ["direct", "e2e"]);
    assert_eq!(drain(&ch, "d.logs").await, ["topic"]);

    // The binding d.direct -> t.q did not come back: a new t.q gets nothing through it.
    declare(&ch, "t.q").await;
    publish_acked(
        &ch,
        "d.direct",
        "transient",
        b"stale binding?",
        persistent(),
    )
    .await;
    assert_eq!(
        drain(&ch, "t.q").await,
        Vec::<String>::new(),
        "binding from durable exchange to transient queue after {how:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_topology_survives_clean_restart() {
    durable_topology_survives(Stop::Clean).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_topology_survives_kill9() {
    durable_topology_survives(Stop::Kill).await;
}

// --- persistent messages ----------------------------------------------------------------

/// Every basic property set, headers of every field type, and `i` woven in.
fn rich_properties(i: usize) -> BasicProperties {
    let headers = every_field_type(i);
    BasicProperties::default()
        .with_content_type("application/octet-stream".into())
        .with_content_encoding("identity".into())
        .with_headers(headers)
        .with_delivery_mode(2)
        .with_priority((i % 10) as u8)
        .with_correlation_id(format!("corr-{i}").into())
        .with_reply_to("reply-queue".into())
        .with_expiration("3600000".into())
        .with_message_id(format!("persist-{i}").into())
        .with_timestamp(1_600_000_000 + i as u64)
        .with_type("order.created".into())
        .with_user_id("guest".into())
        .with_app_id("durability-tests".into())
        .with_cluster_id("cluster-x".into())
}

async fn persistent_messages_survive(how: Stop) {
    const N: usize = 48;
    let mut broker = TestBroker::start(BIN);
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    let q = "persist.q";
    declare_with(&ch, q, durable(), FieldTable::default()).await;

    // (persistent, properties, body); every fourth message is transient.
    let mut sent = Vec::new();
    for i in 0..N {
        let is_persistent = i % 4 != 3;
        let props = if is_persistent {
            rich_properties(i)
        } else if i % 8 == 3 {
            BasicProperties::default()
                .with_delivery_mode(1)
                .with_message_id(format!("transient-{i}").into())
        } else {
            // No delivery mode at all: transient too.
            BasicProperties::default().with_message_id(format!("transient-{i}").into())
        };
        let body = match i {
            0 => Vec::new(),
            // Bigger than frame_max: several body frames.
            1 => filler(1, 300_000),
            _ => filler(i as u64, 1 + (i * 977) % 6000),
        };
        publish_acked(&ch, "", q, &body, props.clone()).await;
        sent.push((is_persistent, props, body));
    }
    within("wait_for_confirms", ch.wait_for_confirms())
        .await
        .expect("wait_for_confirms");
    assert_eq!(counts(&ch, q).await, (N as u32, 0), "before the {how:?}");

    restart(&mut broker, how);
    drop(conn);

    let conn = connect(&broker).await;
    let ch = open(&conn).await;
    let expected: Vec<_> = sent
        .iter()
        .enumerate()
        .filter(|(_, (p, _, _))| *p)
        .collect();
    assert_eq!(
        counts(&ch, q).await,
        (expected.len() as u32, 0),
        "persistent messages only, after {how:?}"
    );
    for (i, (_, props, data)) in expected {
        let m = get(&ch, q, true)
            .await
            .unwrap_or_else(|| panic!("persistent message {i} missing after {how:?}"));
        assert_eq!(
            m.delivery
                .properties
                .message_id()
                .as_ref()
                .map(|s| s.as_str()),
            Some(format!("persist-{i}").as_str()),
            "message order after {how:?}"
        );
        assert_eq!(&m.delivery.properties, props, "properties of message {i}");
        assert!(
            &m.delivery.data == data,
            "body of message {i} differs after {how:?} ({} bytes, sent {})",
            m.delivery.data.len(),
            data.len()
        );
    }
    assert!(get(&ch, q, true).await.is_none(), "nothing else in {q}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_messages_survive_clean_restart() {
    persistent_messages_survive(Stop::Clean).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_messages_survive_kill9() {
    persistent_messages_survive(Stop::Kill).await;
}

// --- acks, redelivery, purge, delete ----------------------------------------------------

/// 10 persistent tasks; a consumer (prefetch 6) gets task-0..5, is cancelled, and acks
/// task-0..2. After the stop, task-3..5 come back redelivered, in their place, before
/// task-6..9 (after a kill, acked tasks may come back too, redelivered and first).
async fn unacked_messages_come_back_redelivered(how: Stop) {
    let mut broker = TestBroker::start(BIN);
    let q = "redeliver.q";
    let conn = connect(&broker).await;
    let pch = confirm_channel(&conn).await;
    declare_with(&pch, q, durable(), FieldTable::default()).await;
    for i in 0..10 {
        publish_acked(&pch, "", q, format!("task-{i}").as_bytes(), persistent()).await;
    }

    let cch = open(&conn).await;
    within("basic.qos", cch.basic_qos(6, BasicQosOptions::default()))
        .await
        .expect("basic.qos");
    let mut worker = consume(&cch, q, "worker", manual_ack()).await;
    let got = worker.next_n(6).await;
    let bodies: Vec<String> = got.iter().map(body).collect();
    assert_eq!(
        bodies,
        (0..6).map(|i| format!("task-{i}")).collect::<Vec<_>>()
    );
    assert!(got.iter().all(|d| !d.redelivered));
    // Stop the pushes (the prefetch window would refill as soon as we ack); the six
    // deliveries stay unacked on the channel.
    within(
        "basic.cancel",
        cch.basic_cancel("worker".into(), BasicCancelOptions::default()),
    )
    .await
    .expect("basic.cancel");
    worker.expect_cancelled().await;
    within("ack task-0", got[0].acker.ack(BasicAckOptions::default()))
        .await
        .expect("ack");
    within(
        "ack task-1..2 (multiple)",
        cch.basic_ack(got[2].delivery_tag, BasicAckOptions { multiple: true }),
    )
    .await
    .expect("ack multiple");
    // A round trip on the consumer's channel: the acks were processed.
    sync(&cch).await.expect("sync");
    assert_eq!(counts(&pch, q).await, (4, 0), "4 ready (3 unacked)");

    restart(&mut broker, how);
    drop(conn);

    let conn = connect(&broker).await;
    let ch = open(&conn).await;
    let back = take_all(&ch, q).await;
    let tail: Vec<String> = (3..10).map(|i| format!("task-{i}")).collect();
    let resurrected = back.len().saturating_sub(tail.len());
    match how {
        // Acked before a clean shutdown: gone for good.
        Stop::Clean => assert_eq!(names(&back), tail, "after a clean restart"),
        // After a crash an ack may be lost; such a message comes back first, redelivered.
        Stop::Kill => {
            assert!(resurrected <= 3, "after kill -9: {back:?}");
            let acked: Vec<String> = (0..3).map(|i| format!("task-{i}")).collect();
            let head = names(&back[..resurrected]);
            assert!(
                head.windows(2).all(|w| w[0] < w[1])
                    && head.iter().all(|b| acked.iter().any(|a| a.as_str() == *b)),
                "only acked tasks, in order, before task-3: {back:?}"
            );
            assert!(
                back[..resurrected].iter().all(|(_, r)| *r),
                "a task that was delivered comes back redelivered: {back:?}"
            );
            assert_eq!(names(&back[resurrected..]), tail, "after kill -9");
        }
    }
    for (b, redelivered) in &back[resurrected..resurrected + 3] {
        assert!(
            redelivered,
            "{b} was delivered before the {how:?}: redelivered"
        );
    }

    // Everything was taken (no-ack) before this clean restart: nothing comes back.
    restart(&mut broker, Stop::Clean);
    let conn = connect(&broker).await;
    let ch = open(&conn).await;
    assert_eq!(
        counts(&ch, q).await,
        (0, 0),
        "acked messages after a clean restart"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacked_messages_come_back_redelivered_after_clean_restart() {
    unacked_messages_come_back_redelivered(Stop::Clean).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacked_messages_come_back_redelivered_after_kill9() {
    unacked_messages_come_back_redelivered(Stop::Kill).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_and_delete_stick_across_restart() {
    let mut broker = TestBroker::start(BIN);
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    for q in ["purged.q", "deleted.q", "kept.q"] {
        declare_with(&ch, q, durable(), FieldTable::default()).await;
        for i in 0..5 {
            publish_acked(&ch, "", q, format!("{q}-{i}").as_bytes(), persistent()).await;
        }
    }
    let purged = within(
        "queue.purge",
        ch.queue_purge("purged.q".into(), QueuePurgeOptions::default()),
    )
    .await
    .expect("purge");
    assert_eq!(purged, 5);
    for i in 0..2 {
        publish_acked(
            &ch,
            "",
            "purged.q",
            format!("after-purge-{i}").as_bytes(),
            persistent(),
        )
        .await;
    }
    let deleted = delete_queue(&ch, "deleted.q", QueueDeleteOptions::default())
        .await
        .expect("delete");
    assert_eq!(deleted, 5);

    restart(&mut broker, Stop::Clean);
    drop(conn);

    let conn = connect(&broker).await;
    assert!(
        !queue_exists(&conn, "deleted.q").await,
        "deleted durable queue came back"
    );
    let ch = open(&conn).await;
    assert_eq!(
        drain(&ch, "kept.q").await,
        (0..5).map(|i| format!("kept.q-{i}")).collect::<Vec<_>>(),
        "untouched queue (control)"
    );
    assert_eq!(
        drain(&ch, "purged.q").await,
        ["after-purge-0", "after-purge-1"],
        "purged messages came back"
    );
    // Declaring the deleted queue again gives an empty queue, not the old messages.
    let q = declare_with(&ch, "deleted.q", durable(), FieldTable::default()).await;
    assert_eq!(q.message_count(), 0, "old messages of a deleted queue");
}

// --- many messages, several segments ---------------------------------------------------

fn many_body(i: usize) -> Vec<u8> {
    let mut b = format!("many-{i:06}-").into_bytes();
    b.extend(filler(i as u64, 1024 - b.len()));
    b
}

/// Consume `expected.len()` messages from `queue` with manual acks, asserting each is
/// `many_body(i)` for the next `i` of `expected`, then check the queue is empty.
async fn consume_expecting(conn: &Connection, queue: &str, expected: &[usize]) {
    let ch = open(conn).await;
    within("basic.qos", ch.basic_qos(1000, BasicQosOptions::default()))
        .await
        .expect("basic.qos");
    let mut c = consume(&ch, queue, "drainer", manual_ack()).await;
    for (n, &i) in expected.iter().enumerate() {
        let d = c.next().await;
        assert!(
            d.data == many_body(i),
            "{queue}: delivery {n} should be message {i}, got {:?}",
            String::from_utf8_lossy(&d.data[..d.data.len().min(12)])
        );
        if n % 250 == 249 || n + 1 == expected.len() {
            within(
                "basic.ack multiple",
                ch.basic_ack(d.delivery_tag, BasicAckOptions { multiple: true }),
            )
            .await
            .expect("ack");
        }
    }
    sync(&ch).await.expect("sync");
    assert_eq!(counts(&ch, queue).await, (0, 1), "{queue} drained");
    within("close", ch.close(200, "done".into()))
        .await
        .expect("channel.close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_messages_across_small_segments() {
    const N: usize = 20_000;
    let mut broker = TestBroker::start_with(BIN, SMALL_SEGMENTS);
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    let queues = ["many.q1", "many.q2", "many.q3", "many.q4"];
    for q in queues {
        declare_with(&ch, q, durable(), FieldTable::default()).await;
    }
    declare_exchange_with(
        &ch,
        "many.fanout",
        ExchangeKind::Fanout,
        durable_exchange(),
        FieldTable::default(),
    )
    .await;
    bind(&ch, "many.q3", "many.fanout", "").await;
    bind(&ch, "many.q4", "many.fanout", "").await;

    // i % 4: 0 -> q1, 1 -> q2, 2 and 3 -> the fanout (q3 and q4).
    let mut expected: [Vec<usize>; 4] = Default::default();
    let mut confirms = Vec::with_capacity(N);
    for i in 0..N {
        let (exchange, key) = match i % 4 {
            0 => ("", "many.q1"),
            1 => ("", "many.q2"),
            _ => ("many.fanout", ""),
        };
        match i % 4 {
            0 => expected[0].push(i),
            1 => expected[1].push(i),
            _ => {
                expected[2].push(i);
                expected[3].push(i);
            }
        }
        let confirm = within(
            "basic.publish",
            ch.basic_publish(
                exchange.into(),
                key.into(),
                BasicPublishOptions::default(),
                &many_body(i),
                persistent(),
            ),
        )
        .await
        .unwrap_or_else(|e| panic!("publish {i}: {e:?}"));
        confirms.push(confirm);
    }
    within_long("confirms", async {
        for (i, c) in confirms.into_iter().enumerate() {
            let c = c.await.unwrap_or_else(|e| panic!("confirm {i}: {e:?}"));
            assert!(c.is_ack(), "publish {i} acked");
        }
    })
    .await;
    let segments = segment_files(broker.data_dir()).len();
    assert!(
        segments >= 3,
        "~30 MB of messages in 1 MiB segments should span several files, found {segments}"
    );

    restart(&mut broker, Stop::Clean);
    drop(conn);
    assert!(
        has_line(&broker, &["recovered"]),
        "startup reports what it recovered: {:#?}",
        broker.output()
    );

    let conn = connect(&broker).await;
    let ch = open(&conn).await;
    for (q, exp) in queues.iter().zip(&expected) {
        assert_eq!(
            counts(&ch, q).await,
            (exp.len() as u32, 0),
            "{q} after restart"
        );
    }
    for (q, exp) in queues.iter().zip(&expected) {
        within_long("drain", consume_expecting(&conn, q, exp)).await;
    }

    // Fully acked segments are deleted (the current one, and maybe one being retired, stay).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = segment_files(broker.data_dir());
        if left.len() <= 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} segment files left 10 s after every message was acked (had {segments}): {left:?}",
            left.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// --- damaged segments -------------------------------------------------------------------

const DAMAGE_N: usize = 1500;

/// Body of message `i`: a unique `crpt-NNNNNN-` prefix (so it can be found in a segment file)
/// and 900..1300 deterministic bytes.
fn damage_body(i: usize) -> Vec<u8> {
    let mut b = format!("crpt-{i:06}-").into_bytes();
    let len = 900 + (xorshift(i as u64 + 1) % 400) as usize;
    b.extend(filler(i as u64 + 7, len));
    b
}

/// Message index of a served body, if it is byte-identical to one that was published.
fn damage_index(data: &[u8]) -> Option<usize> {
    let head = std::str::from_utf8(data.get(..12)?).ok()?;
    let i: usize = head
        .strip_prefix("crpt-")?
        .strip_suffix('-')?
        .parse()
        .ok()?;
    (i < DAMAGE_N && data == damage_body(i).as_slice()).then_some(i)
}

/// Offsets of intact bodies stored verbatim in `seg`: offset -> message index.
fn locate_bodies(seg: &[u8]) -> BTreeMap<usize, usize> {
    let mut found = BTreeMap::new();
    let mut at = 0;
    while let Some(pos) = seg[at..].windows(5).position(|w| w == b"crpt-") {
        let off = at + pos;
        if let Some(i) = std::str::from_utf8(&seg[off + 5..(off + 11).min(seg.len())])
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
        {
            let body = damage_body(i);
            if i < DAMAGE_N && seg.get(off..off + body.len()) == Some(body.as_slice()) {
                found.insert(off, i);
            }
        }
        at = off + 5;
    }
    found
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Damage {
    /// Flip bytes in the middle of the newest segment and tear its last record.
    FlipAndTear,
    /// Only tear the last record (a torn write).
    Tear,
}

async fn damaged_segment(damage: Damage) {
    let mut broker = TestBroker::start_with(BIN, SMALL_SEGMENTS);
    let q = "damage.q";
    {
        let conn = connect(&broker).await;
        let ch = confirm_channel(&conn).await;
        declare_with(&ch, q, durable(), FieldTable::default()).await;
        let mut confirms = Vec::with_capacity(DAMAGE_N);
        for i in 0..DAMAGE_N {
            let c = within(
                "basic.publish",
                ch.basic_publish(
                    "".into(),
                    q.into(),
                    BasicPublishOptions::default(),
                    &damage_body(i),
                    persistent(),
                ),
            )
            .await
            .expect("publish");
            confirms.push(c);
        }
        within_long("confirms", async {
            for c in confirms {
                assert!(c.await.expect("confirm").is_ack());
            }
        })
        .await;
    }
    stop(&mut broker, Stop::Clean);

    let segments = segment_files(broker.data_dir());
    let newest = segments
        .last()
        .unwrap_or_else(|| panic!("no segment files in {:?}", broker.data_dir().join("msgs")))
        .clone();
    let mut data = std::fs::read(&newest).expect("read newest segment");
    let located = locate_bodies(&data);
    // Message indexes that must not be served (damaged), when we know where bodies are.
    let mut damaged = Vec::new();
    let precise = located.len() >= 3;
    let cut = if precise {
        let offsets: Vec<(usize, usize)> = located.iter().map(|(o, i)| (*o, *i)).collect();
        if damage == Damage::FlipAndTear {
            // Flip 8 bytes inside the body of the middle message of this segment.
            let (off, i) = offsets[offsets.len() / 2];
            let at = off + damage_body(i).len() / 2;
            for b in &mut data[at..at + 8] {
                *b ^= 0xFF;
            }
            damaged.push(i);
        }
        // Tear the last record: cut its body in half.
        let (off, i) = *offsets.last().expect("located bodies");
        damaged.push(i);
        off + damage_body(i).len() / 2
    } else {
        // Bodies are not stored verbatim: damage by position only.
        if damage == Damage::FlipAndTear {
            let mid = data.len() / 2;
            for b in &mut data[mid..mid + 8] {
                *b ^= 0xFF;
            }
        }
        data.len().saturating_sub(100)
    };
    println!(
        "{damage:?}: {} segments; newest {newest:?}: {} bodies found verbatim, damaged {damaged:?}, \
         cut at {cut} of {} bytes",
        segments.len(),
        located.len(),
        data.len()
    );
    data.truncate(cut);
    std::fs::write(&newest, &data).expect("write damaged segment");

    let check = tokio::task::block_in_place(|| broker.check_store());
    match damage {
        Damage::Tear => {
            assert!(
                check.success(),
                "a torn tail is not an inconsistency: {check:?}"
            );
            assert!(
                check.field("torn_tail_bytes").is_some_and(|n| n > 0),
                "check-store reports the torn tail: {check:?}"
            );
        }
        Damage::FlipAndTear => assert!(
            !check.success(),
            "check-store must notice a corrupt record: {check:?}"
        ),
    }

    tokio::task::block_in_place(|| broker.restart());
    assert!(
        has_line(&broker, &["WARN", "dropped"]),
        "the dropped record is logged: {:#?}",
        broker.output()
    );
    let conn = connect(&broker).await;
    let ch = open(&conn).await;
    let mut served = Vec::new();
    while let Some(m) = get(&ch, q, true).await {
        let i = damage_index(&m.delivery.data).unwrap_or_else(|| {
            panic!(
                "served a body that was never published ({} bytes, starts {:?})",
                m.delivery.data.len(),
                String::from_utf8_lossy(&m.delivery.data[..m.delivery.data.len().min(12)])
            )
        });
        served.push(i);
        assert!(served.len() <= DAMAGE_N, "more messages than published");
    }
    assert!(
        served.windows(2).all(|w| w[0] < w[1]),
        "served in publish order, each once"
    );
    println!("{damage:?}: {} of {DAMAGE_N} served", served.len());
    if precise {
        let expected: Vec<usize> = (0..DAMAGE_N).filter(|i| !damaged.contains(i)).collect();
        let missing: Vec<usize> = expected
            .iter()
            .copied()
            .filter(|i| !served.contains(i))
            .collect();
        assert!(
            missing.is_empty(),
            "intact records not served: {} of them, first {:?} (damaged: {damaged:?}, {} segments)",
            missing.len(),
            &missing[..missing.len().min(10)],
            segments.len()
        );
        assert_eq!(served, expected);
    } else if damage == Damage::Tear {
        assert_eq!(served, (0..DAMAGE_N - 1).collect::<Vec<_>>());
    } else {
        assert!(
            !served.is_empty() && served.len() < DAMAGE_N,
            "{} of {DAMAGE_N} served",
            served.len()
        );
    }

    // The store keeps working after the repair: new messages survive another restart.
    let ch = confirm_channel(&conn).await;
    for i in 0..10 {
        publish_acked(
            &ch,
            "",
            q,
            format!("after-repair-{i}").as_bytes(),
            persistent(),
        )
        .await;
    }
    restart(&mut broker, Stop::Clean);
    drop(conn);
    let conn = connect(&broker).await;
    let ch = open(&conn).await;
    assert_eq!(
        drain(&ch, q).await,
        (0..10)
            .map(|i| format!("after-repair-{i}"))
            .collect::<Vec<_>>(),
        "messages published after the repair"
    );
    if damage == Damage::Tear {
        stop(&mut broker, Stop::Clean);
        let check = tokio::task::block_in_place(|| broker.check_store());
        assert!(check.success(), "store after repair: {check:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_and_torn_newest_segment_serves_only_intact_records() {
    damaged_segment(Damage::FlipAndTear).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torn_tail_serves_every_complete_record() {
    damaged_segment(Damage::Tear).await;
}
