//! Backlogs larger than the memory budget: messages beyond it live on disk, the broker's
//! memory stays bounded, consumers still get everything in order, and the disk is given back
//! once the backlog is drained.

mod common;

use std::time::{Duration, Instant};

use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use warren_testkit::TestBroker;

const BUDGET: usize = 4 << 20;
const MESSAGES: usize = 12_000;
const SIZE: usize = 8 * 1024;

fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

/// A consumer on `queue` with automatic acknowledgement.
async fn consume_autoack(ch: &lapin::Channel, queue: &str) -> common::Consumed {
    let consumer = ch
        .basic_consume(
            queue.into(),
            "drain".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..BasicConsumeOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("consume");
    common::Consumed::new(consumer)
}

fn body(i: usize) -> Vec<u8> {
    let mut b = format!("{i:08}").into_bytes();
    b.resize(SIZE, (i % 251) as u8);
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backlog_beyond_the_memory_budget_lives_on_disk_and_drains_in_order() {
    let broker = TestBroker::start_with(
        env!("CARGO_BIN_EXE_warren"),
        &[
            "--memory-budget",
            &BUDGET.to_string(),
            "--segment-size",
            &(4 << 20).to_string(),
        ],
    );
    let conn = Connection::connect(&broker.amqp_url(), ConnectionProperties::default())
        .await
        .expect("connect");
    let ch = conn.create_channel().await.expect("channel");
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirm.select");
    ch.queue_declare(
        "big".into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("declare");
    let rss_before = broker.rss_bytes();
    for chunk in (0..MESSAGES).collect::<Vec<_>>().chunks(500) {
        for &i in chunk {
            ch.basic_publish(
                "".into(),
                "big".into(),
                BasicPublishOptions::default(),
                &body(i),
                BasicProperties::default(),
            )
            .await
            .expect("publish");
        }
        ch.wait_for_confirms().await.expect("confirms");
    }
    let rss_after = broker.rss_bytes();
    let backlog = (MESSAGES * SIZE) as u64;
    let on_disk = dir_bytes(&broker.data_dir().join("msgs"));
    println!(
        "backlog {} MiB, budget {} MiB, RSS before {} MiB, after publishing {} MiB, store {} MiB",
        backlog >> 20,
        BUDGET >> 20,
        rss_before >> 20,
        rss_after >> 20,
        on_disk >> 20
    );
    // Kept in memory, the backlog alone would be ~94 MiB on top of the process.
    assert!(
        rss_after < rss_before + backlog / 2,
        "RSS grew by {} MiB for a {} MiB backlog with a {} MiB budget",
        (rss_after - rss_before) >> 20,
        backlog >> 20,
        BUDGET >> 20
    );
    assert!(
        on_disk > backlog / 2,
        "only {on_disk} bytes on disk for a {backlog}-byte backlog over budget"
    );

    let mut consumed = consume_autoack(&ch, "big").await;
    for i in 0..MESSAGES {
        let d = consumed.next().await;
        assert!(
            d.data == body(i),
            "message {i} came back different or out of order"
        );
    }
    // Drained: segments are deleted, only about the active one is left.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut left = dir_bytes(&broker.data_dir().join("msgs"));
    while left > 8 << 20 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        left = dir_bytes(&broker.data_dir().join("msgs"));
    }
    assert!(
        left <= 8 << 20,
        "store still holds {left} bytes after the backlog was drained"
    );
}

/// Set the broker's soft open-file limit with util-linux `prlimit` (the hard limit stays, so
/// the soft one can be raised again without privileges).
fn set_open_files_limit(pid: u32, limit: usize) {
    let status = std::process::Command::new("prlimit")
        .args(["--pid", &pid.to_string(), &format!("--nofile={limit}:")])
        .status()
        .expect("run prlimit");
    assert!(status.success(), "prlimit failed");
}

/// The broker's soft open-file limit now.
fn open_files_limit(pid: u32) -> usize {
    let out = std::process::Command::new("prlimit")
        .args([
            "--pid",
            &pid.to_string(),
            "--nofile",
            "--noheadings",
            "--output=SOFT",
        ])
        .output()
        .expect("run prlimit");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a number from prlimit")
}

fn open_fds(pid: u32) -> std::collections::HashSet<usize> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read /proc/PID/fd")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// Leave the process no file descriptor to open: set its limit to the lowest free number.
fn exhaust_open_files(pid: u32) {
    let open = open_fds(pid);
    let lowest_free = (0..).find(|fd| !open.contains(fd)).expect("a free number");
    set_open_files_limit(pid, lowest_free);
}

/// Messages on disk only that cannot be read back for a passing reason (here: the broker is
/// out of file descriptors, so it cannot open their segment) are not lost: basic.get closes
/// the connection with 541 INTERNAL_ERROR and the message stays queued, a consumer gets
/// nothing until reads work again, and then everything, in order (the one the get took
/// first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_that_cannot_be_read_back_for_now_stay_queued() {
    const COUNT: usize = 50;
    let mut broker = TestBroker::start(env!("CARGO_BIN_EXE_warren"));
    {
        let conn = Connection::connect(&broker.amqp_url(), ConnectionProperties::default())
            .await
            .expect("connect");
        let ch = common::confirm_channel(&conn).await;
        let durable = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        common::declare_with(&ch, "kept", durable, FieldTable::default()).await;
        for i in 0..COUNT {
            ch.basic_publish(
                "".into(),
                "kept".into(),
                BasicPublishOptions::default(),
                &body(i),
                BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .expect("publish");
        }
        ch.wait_for_confirms().await.expect("confirms");
    }
    // Recovered messages are on disk only, and no segment is open for reading yet.
    broker.restart();
    let getter = Connection::connect(&broker.amqp_url(), ConnectionProperties::default())
        .await
        .expect("connect");
    let get_ch = common::open(&getter).await;
    let consumer_conn = Connection::connect(&broker.amqp_url(), ConnectionProperties::default())
        .await
        .expect("connect");
    let consume_ch = common::open(&consumer_conn).await;

    let limit = open_files_limit(broker.pid());
    exhaust_open_files(broker.pid());
    let open_before = open_fds(broker.pid()).len();
    let got = common::within(
        "basic.get",
        get_ch.basic_get(
            "kept".into(),
            lapin::options::BasicGetOptions { no_ack: true },
        ),
    )
    .await;
    let (code, text) = match got {
        Ok(m) => panic!(
            "basic.get answered {} although the message cannot be read",
            if m.is_some() {
                "with a message"
            } else {
                "empty"
            }
        ),
        Err(e) => common::amqp_error(&e).unwrap_or_else(|| panic!("not an AMQP error: {e:?}")),
    };
    assert_eq!(code, 541, "reply code (text {text:?})");
    assert!(
        text.contains("cannot read a message back from disk"),
        "unexpected reply text {text:?}"
    );
    // The broker closes the getter's socket: exhaust the descriptor that frees too.
    let deadline = Instant::now() + Duration::from_secs(5);
    while open_fds(broker.pid()).len() >= open_before && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    exhaust_open_files(broker.pid());
    let mut consumed = consume_autoack(&consume_ch, "kept").await;
    // Several rounds of failed reads (each with its pauses) go by without a delivery.
    consumed.expect_nothing().await;
    consumed.expect_nothing().await;

    set_open_files_limit(broker.pid(), limit);
    for i in 0..COUNT {
        let d = consumed.next().await;
        assert!(
            d.data == body(i),
            "message {i} came back different or out of order"
        );
    }
    let dropped = broker
        .output()
        .into_iter()
        .filter(|l| l.contains("dropping a message"))
        .count();
    assert_eq!(dropped, 0, "the broker dropped messages it could not read");
    assert!(broker.is_running(), "the broker stopped");
}
