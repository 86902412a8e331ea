//! Publisher confirms, transactions and direct reply-to, via lapin.

mod common;

use common::*;
use lapin::options::{
    BasicAckOptions, BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel};

async fn publish_nowait(ch: &Channel, exchange: &str, key: &str, body: &[u8]) {
    within("basic.publish", async {
        ch.basic_publish(
            exchange.into(),
            key.into(),
            BasicPublishOptions::default(),
            body,
            BasicProperties::default(),
        )
        .await
    })
    .await
    .expect("publish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirms_ack_routed_and_unroutable() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = open(&conn).await;
    within(
        "confirm.select",
        ch.confirm_select(ConfirmSelectOptions::default()),
    )
    .await
    .expect("confirm.select");
    // Selecting again is fine.
    within(
        "confirm.select again",
        ch.confirm_select(ConfirmSelectOptions::default()),
    )
    .await
    .expect("confirm.select twice");
    let q = env.name("confirm");
    declare(&ch, &q).await;

    let routed = publish_props(&ch, "", &q, b"routed", BasicProperties::default())
        .await
        .expect("confirm");
    assert!(routed.is_ack());
    let unroutable = publish_props(
        &ch,
        "amq.direct",
        "nobody-home",
        b"dropped",
        BasicProperties::default(),
    )
    .await
    .expect("confirm");
    assert!(
        unroutable.is_ack(),
        "unroutable messages are acked, not nacked"
    );
    assert!(unroutable.take_message().is_none());
    assert_eq!(counts(&ch, &q).await, (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_publishes_are_all_confirmed() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = env.name("many");
    declare(&ch, &q).await;
    const N: usize = 2000;
    let mut confirms = Vec::with_capacity(N);
    for i in 0..N {
        let c = within("publish", async {
            ch.basic_publish(
                "".into(),
                q.as_str().into(),
                BasicPublishOptions::default(),
                format!("{i}").as_bytes(),
                BasicProperties::default(),
            )
            .await
        })
        .await
        .expect("publish");
        confirms.push(c);
    }
    for (i, c) in confirms.into_iter().enumerate() {
        let conf = within("confirm", c)
            .await
            .unwrap_or_else(|e| panic!("confirm {i}: {e:?}"));
        assert!(conf.is_ack(), "publish {i} acked");
    }
    let returned = within("wait_for_confirms", ch.wait_for_confirms())
        .await
        .expect("wait_for_confirms");
    assert!(returned.is_empty());
    assert_eq!(counts(&ch, &q).await, (N as u32, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirm_channel_publish_to_missing_exchange_fails_the_confirm() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = confirm_channel(&conn).await;
    let x = env.name("missing-x");
    let res = publish_props(&ch, &x, "k", b"x", BasicProperties::default()).await;
    expect_error(
        res,
        404,
        &format!("NOT_FOUND - no exchange '{x}' in vhost '/'"),
    );
    assert_connection_usable(&conn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tx_commit_and_rollback_publishes() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = open(&conn).await;
    let observer = open(&conn).await;
    let q = env.name("tx");
    declare(&ch, &q).await;
    within("tx.select", ch.tx_select())
        .await
        .expect("tx.select");
    within("tx.select again", ch.tx_select())
        .await
        .expect("tx.select twice");

    for i in 0..3 {
        publish_nowait(&ch, "", &q, format!("c{i}").as_bytes()).await;
    }
    sync(&ch).await.expect("sync");
    assert_eq!(counts(&observer, &q).await, (0, 0), "nothing before commit");
    within("tx.commit", ch.tx_commit()).await.expect("commit");
    assert_eq!(counts(&observer, &q).await, (3, 0));

    publish_nowait(&ch, "", &q, b"rolled back").await;
    publish_nowait(&ch, "", &q, b"rolled back too").await;
    within("tx.rollback", ch.tx_rollback())
        .await
        .expect("rollback");
    // An empty commit after the rollback delivers nothing.
    within("tx.commit", ch.tx_commit()).await.expect("commit");
    assert_eq!(drain(&observer, &q).await, ["c0", "c1", "c2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tx_rolled_back_ack_keeps_message_unacked() {
    let env = Env::start();
    let conn = env.connect().await;
    let pch = confirm_channel(&conn).await;
    let q = env.name("tx-ack");
    declare(&pch, &q).await;
    publish(&pch, "", &q, b"keep").await;
    publish(&pch, "", &q, b"done").await;

    let ch = open(&conn).await;
    within("tx.select", ch.tx_select())
        .await
        .expect("tx.select");
    let keep = get(&ch, &q, false).await.expect("keep");
    let done = get(&ch, &q, false).await.expect("done");
    keep.delivery
        .ack(BasicAckOptions::default())
        .await
        .expect("ack");
    within("tx.rollback", ch.tx_rollback())
        .await
        .expect("rollback");
    assert_eq!(
        counts(&pch, &q).await,
        (0, 0),
        "still unacked, not requeued"
    );
    // Acking again after the rollback works and commits.
    within(
        "ack again",
        ch.basic_ack(keep.delivery.delivery_tag, BasicAckOptions::default()),
    )
    .await
    .expect("ack");
    within("tx.commit", ch.tx_commit()).await.expect("commit");
    within("close", ch.close(200, "bye".into()))
        .await
        .expect("close");
    // Only the message whose ack was never committed comes back.
    let back = get(&pch, &q, true).await.expect("requeued");
    assert_eq!(body(&back.delivery), "done");
    assert!(back.delivery.redelivered);
    assert!(get(&pch, &q, true).await.is_none());
    drop(done);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tx_mandatory_return_happens_at_commit() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = open(&conn).await;
    within("tx.select", ch.tx_select())
        .await
        .expect("tx.select");
    within("publish", async {
        ch.basic_publish(
            "amq.direct".into(),
            "unroutable".into(),
            BasicPublishOptions {
                mandatory: true,
                immediate: false,
            },
            b"returned at commit",
            BasicProperties::default(),
        )
        .await
    })
    .await
    .expect("publish");
    sync(&ch).await.expect("sync");
    let before = ch.wait_for_confirms().await.expect("returns");
    assert!(before.is_empty(), "no basic.return before commit");
    within("tx.commit", ch.tx_commit()).await.expect("commit");
    // basic.return is sent before commit-ok.
    let after = ch.wait_for_confirms().await.expect("returns");
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].reply_code, 312);
    assert_eq!(after[0].delivery.data, b"returned at commit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_reply_to_round_trip() {
    let env = Env::start();
    let conn = env.connect().await;
    let service_conn = env.connect().await;

    let sch = open(&service_conn).await;
    let rpc_q = env.name("rpc");
    declare(&sch, &rpc_q).await;
    let mut requests = consume(&sch, &rpc_q, "server", manual_ack()).await;

    let client = open(&conn).await;
    let mut replies = consume(&client, "amq.rabbitmq.reply-to", "", no_ack()).await;
    let props = BasicProperties::default()
        .with_reply_to("amq.rabbitmq.reply-to".into())
        .with_correlation_id("req-1".into());
    publish_props(&client, "", &rpc_q, b"ping", props)
        .await
        .expect("publish request");

    let req = requests.next().await;
    assert_eq!(body(&req), "ping");
    let reply_to = req
        .properties
        .reply_to()
        .clone()
        .expect("reply_to set")
        .to_string();
    assert!(
        reply_to.starts_with("amq.rabbitmq.reply-to."),
        "reply_to rewritten to a routable name: {reply_to}"
    );
    let reply_props = BasicProperties::default()
        .with_correlation_id(req.properties.correlation_id().clone().expect("corr id"));
    publish_props(&sch, "", &reply_to, b"pong", reply_props)
        .await
        .expect("publish reply");
    req.ack(BasicAckOptions::default()).await.expect("ack");

    let reply = replies.next().await;
    assert_eq!(body(&reply), "pong");
    assert_eq!(
        reply
            .properties
            .correlation_id()
            .as_ref()
            .map(|s| s.as_str()),
        Some("req-1")
    );
    assert_eq!(reply.routing_key.as_str(), reply_to);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_reply_to_requires_a_no_ack_consumer() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = open(&conn).await;
    let res = within(
        "basic.consume reply-to with acks",
        ch.basic_consume(
            "amq.rabbitmq.reply-to".into(),
            "".into(),
            manual_ack(),
            FieldTable::default(),
        ),
    )
    .await;
    expect_error(
        res,
        406,
        "PRECONDITION_FAILED - reply consumer cannot acknowledge",
    );

    // Publishing with reply_to amq.rabbitmq.reply-to without consuming it first.
    let ch = confirm_channel(&conn).await;
    let q = declare_with(
        &ch,
        "",
        QueueDeclareOptions {
            exclusive: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await;
    let props = BasicProperties::default().with_reply_to("amq.rabbitmq.reply-to".into());
    let res = publish_props(&ch, "", q.name().as_str(), b"x", props).await;
    expect_error(
        res,
        406,
        "PRECONDITION_FAILED - fast reply consumer does not exist",
    );
    assert_connection_usable(&conn).await;
}
