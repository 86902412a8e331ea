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

    let consumer = ch
        .basic_consume(
            "big".into(),
            "drain".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..BasicConsumeOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("consume");
    let mut consumed = common::Consumed::new(consumer);
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
