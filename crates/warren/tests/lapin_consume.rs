//! basic.* behaviour through lapin: qos, consume, ack/nack/reject, get, recover, returns,
//! and property pass-through.

mod common;

use common::*;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    BasicRecoverOptions, BasicRejectOptions, QueueDeleteOptions,
};
use lapin::{BasicProperties, Channel};

async fn fill(ch: &Channel, q: &str, n: usize) {
    for i in 1..=n {
        publish(ch, "", q, format!("m{i}").as_bytes()).await;
    }
}

async fn qos(ch: &Channel, count: u16, global: bool) {
    within("basic.qos", ch.basic_qos(count, BasicQosOptions { global }))
        .await
        .expect("basic.qos");
}

fn bodies(ds: &[lapin::message::Delivery]) -> Vec<String> {
    ds.iter().map(body).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefetch_limits_unacked_per_consumer() {
    let env = Env::start();
    let conn = env.connect().await;
    let pch = confirm_channel(&conn).await;
    let q1 = env.name("qos1");
    let q2 = env.name("qos2");
    declare(&pch, &q1).await;
    declare(&pch, &q2).await;
    fill(&pch, &q1, 10).await;
    fill(&pch, &q2, 10).await;

    let ch = open(&conn).await;
    qos(&ch, 3, false).await;
    let mut c1 = consume(&ch, &q1, "c1", manual_ack()).await;
    let mut c2 = consume(&ch, &q2, "c2", manual_ack()).await;
    // Each consumer holds at most 3 unacked.
    let d1 = c1.next_n(3).await;
    let d2 = c2.next_n(3).await;
    c1.expect_nothing().await;
    c2.expect_nothing().await;
    assert_eq!(bodies(&d1), ["m1", "m2", "m3"]);
    assert_eq!(counts(&pch, &q1).await, (7, 1));

    // Acking one lets exactly one more through.
    d1[0].ack(BasicAckOptions::default()).await.expect("ack");
    let more = c1.next().await;
    assert_eq!(body(&more), "m4");
    c1.expect_nothing().await;

    // Acking several at once (multiple) opens as many slots.
    within(
        "ack multiple",
        ch.basic_ack(d2[2].delivery_tag, BasicAckOptions { multiple: true }),
    )
    .await
    .expect("ack multiple");
    // Tag d2[2] acks everything up to it on the channel, including c1's m2, m3.
    let got = bodies(&c2.next_n(3).await);
    assert_eq!(got, ["m4", "m5", "m6"]);
    let got = bodies(&c1.next_n(2).await);
    assert_eq!(got, ["m5", "m6"]);
    c1.expect_nothing().await;
    c2.expect_nothing().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_prefetch_is_shared_by_the_channel() {
    let env = Env::start();
    let conn = env.connect().await;
    let pch = confirm_channel(&conn).await;
    let q1 = env.name("gqos1");
    let q2 = env.name("gqos2");
    declare(&pch, &q1).await;
    declare(&pch, &q2).await;
    fill(&pch, &q1, 5).await;
    fill(&pch, &q2, 5).await;

    let ch = open(&conn).await;
    qos(&ch, 2, true).await;
    let mut c1 = consume(&ch, &q1, "c1", manual_ack()).await;
    let first = c1.next_n(2).await;
    c1.expect_nothing().await;
    let mut c2 = consume(&ch, &q2, "c2", manual_ack()).await;
    c2.expect_nothing().await; // the channel-wide limit is used up by c1
    assert_eq!(counts(&pch, &q2).await, (5, 1));

    first[0].ack(BasicAckOptions::default()).await.expect("ack");
    // One slot opens on the channel; exactly one more message in total is delivered.
    let mut total = 0;
    for c in [&mut c1, &mut c2] {
        if let Ok(Some(Ok(Some(_)))) = tokio::time::timeout(QUIET, c.recv_raw()).await {
            total += 1;
        }
    }
    assert_eq!(total, 1, "global prefetch 2 allows one more after one ack");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_consumer_and_global_prefetch_both_apply() {
    let env = Env::start();
    let conn = env.connect().await;
    let pch = confirm_channel(&conn).await;
    let q1 = env.name("both1");
    let q2 = env.name("both2");
    declare(&pch, &q1).await;
    declare(&pch, &q2).await;
    fill(&pch, &q1, 5).await;
    fill(&pch, &q2, 5).await;
    let ch = open(&conn).await;
    qos(&ch, 2, false).await;
    qos(&ch, 3, true).await;
    let mut c1 = consume(&ch, &q1, "c1", manual_ack()).await;
    c1.next_n(2).await;
    c1.expect_nothing().await;
    let mut c2 = consume(&ch, &q2, "c2", manual_ack()).await;
    c2.next().await;
    c2.expect_nothing().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_ack_consumer_gets_everything_and_queue_empties() {
    let env = Env::start();
    let conn = env.connect().await;
    let pch = confirm_channel(&conn).await;
    let q = env.name("noack");
    declare(&pch, &q).await;
    fill(&pch, &q, 20).await;
    let ch = open(&conn).await;
    qos(&ch, 1, false).await; // prefetch does not limit no-ack consumers
    let mut c = consume(&ch, &q, "", no_ack()).await;
    let got = c.next_n(20).await;
    assert_eq!(got[0].delivery_tag, 1);
    assert_eq!(got[19].delivery_tag, 20);
    assert!(got.iter().all(|d| !d.redelivered));
    assert_eq!(counts(&pch, &q).await, (0, 1));
    // Closing the channel does not bring anything back.
    within("close", ch.close(200, "bye".into()))
        .await
        .expect("close");
    assert_eq!(counts(&pch, &q).await, (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_ack_and_redelivery_after_channel_close() {
    let env = Env::start();
    let conn = env.connect().await;
    let pch = confirm_channel(&conn).await;
    let q = env.name("manual");
    declare(&pch, &q).await;
    fill(&pch, &q, 3).await;
    let ch = open(&conn).await;
    let mut c = consume(&ch, &q, "manual", manual_ack()).await;
    let ds = c.next_n(3).await;
    assert_eq!(bodies(&ds), ["m1", "m2", "m3"]);
    assert!(ds.iter().all(|d| !d.redelivered));
    ds[1].ack(BasicAckOptions::default()).await.expect("ack m2");
    sync(&ch).await.expect("sync");
    within("close", ch.close(200, "bye".into()))
        .await
        .expect("close");

    // m1 and m3 were not acked: requeued with redelivered=true, in their original order.
    let ch = open(&conn).await;
    let a = get(&ch, &q, true).await.expect("m1 back");
    let b = get(&ch, &q, true).await.expect("m3 back");
    assert_eq!(
        (body(&a.delivery), a.delivery.redelivered),
        ("m1".into(), true)
    );
    assert_eq!(
        (body(&b.delivery), b.delivery.redelivered),
        ("m3".into(), true)
    );
    assert!(get(&ch, &q, true).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_generated_consumer_tags() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = open(&conn).await;
    let q = env.name("ctag");
    declare(&ch, &q).await;
    let a = consume(&ch, &q, "", no_ack()).await;
    let b = consume(&ch, &q, "", no_ack()).await;
    for tag in [a.tag(), b.tag()] {
        assert!(tag.starts_with("amq.ctag-"), "{tag}");
        assert_eq!(tag.len(), 31, "{tag}");
        assert!(tag["amq.ctag-".len()..]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }
    assert_ne!(a.tag(), b.tag());
    assert_eq!(counts(&ch, &q).await, (0, 2));
    // A client-chosen tag is kept as given.
    let c = consume(&ch, &q, "my-tag", no_ack()).await;
    assert_eq!(c.tag(), "my-tag");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_deliveries() {
    let env = Env::start();
    let conn = env.connect().await;
    let pch = confirm_channel(&conn).await;
    let q = env.name("cancel");
    declare(&pch, &q).await;
    let ch = open(&conn).await;
    let mut c = consume(&ch, &q, "to-cancel", no_ack()).await;
    publish(&pch, "", &q, b"before").await;
    assert_eq!(body(&c.next().await), "before");
    within(
        "basic.cancel",
        ch.basic_cancel("to-cancel".into(), BasicCancelOptions::default()),
    )
    .await
    .expect("cancel");
    c.expect_cancelled().await;
    publish(&pch, "", &q, b"after").await;
    assert_eq!(counts(&pch, &q).await, (1, 0), "message waits in the queue");
    // Cancelling an unknown tag is not an error.
    within(
        "basic.cancel unknown",
        ch.basic_cancel("nope".into(), BasicCancelOptions::default()),
    )
    .await
    .expect("cancel unknown tag");
    sync(&ch).await.expect("channel still open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_is_cancelled_when_its_queue_is_deleted() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = open(&conn).await;
    let q = env.name("cancel-notify");
    declare(&ch, &q).await;
    let mut c = consume(&ch, &q, "watched", manual_ack()).await;
    let other = open(&env.connect().await).await;
    delete_queue(&other, &q, QueueDeleteOptions::default())
        .await
        .expect("delete");
    c.expect_cancelled().await;
    // The consumer's channel stays open.
    sync(&ch)
        .await
        .expect("channel still open after basic.cancel");
    declare(&ch, &q).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_get_and_get_empty() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = env.name("get");
    declare(&ch, &q).await;
    assert!(get(&ch, &q, false).await.is_none(), "get-empty");
    fill(&ch, &q, 2).await;
    let a = get(&ch, &q, false).await.expect("first");
    assert_eq!(a.message_count, 1, "messages left");
    assert_eq!(body(&a.delivery), "m1");
    assert_eq!(a.delivery.delivery_tag, 1);
    assert!(!a.delivery.redelivered);
    assert_eq!(a.delivery.exchange.as_str(), "");
    assert_eq!(a.delivery.routing_key.as_str(), q);
    let b = get(&ch, &q, false).await.expect("second");
    assert_eq!(b.message_count, 0);
    assert_eq!(b.delivery.delivery_tag, 2);
    assert!(get(&ch, &q, false).await.is_none());

    // Delivery tags are shared between get and consume on a channel.
    publish(&ch, "", &q, b"m3").await;
    let mut c = consume(&ch, &q, "after-get", manual_ack()).await;
    let d = c.next().await;
    assert_eq!(d.delivery_tag, 3);
    b.delivery
        .ack(BasicAckOptions::default())
        .await
        .expect("ack");
    a.delivery
        .ack(BasicAckOptions::default())
        .await
        .expect("ack");
    d.ack(BasicAckOptions::default()).await.expect("ack");
    sync(&ch).await.expect("acks accepted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ack_multiple() {
    let env = Env::start();
    let conn = env.connect().await;
    let pch = confirm_channel(&conn).await;
    let q = env.name("ackmulti");
    declare(&pch, &q).await;
    fill(&pch, &q, 5).await;
    let ch = open(&conn).await;
    let mut c = consume(&ch, &q, "", manual_ack()).await;
    let ds = c.next_n(5).await;
    within(
        "ack multiple",
        ch.basic_ack(ds[2].delivery_tag, BasicAckOptions { multiple: true }),
    )
    .await
    .expect("ack");
    sync(&ch).await.expect("sync");
    within("close", ch.close(200, "bye".into()))
        .await
        .expect("close");
    assert_eq!(drain(&pch, &q).await, ["m4", "m5"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nack_and_reject_requeue_or_drop() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = env.name("nack");
    declare(&ch, &q).await;
    fill(&ch, &q, 4).await;
    let g = |_: ()| get(&ch, &q, false);
    let m1 = g(()).await.expect("m1");
    let m2 = g(()).await.expect("m2");
    let m3 = g(()).await.expect("m3");
    let m4 = g(()).await.expect("m4");
    m1.delivery
        .nack(BasicNackOptions {
            requeue: true,
            multiple: false,
        })
        .await
        .expect("nack requeue");
    m2.delivery
        .nack(BasicNackOptions {
            requeue: false,
            multiple: false,
        })
        .await
        .expect("nack drop");
    m3.delivery
        .reject(BasicRejectOptions { requeue: true })
        .await
        .expect("reject requeue");
    m4.delivery
        .reject(BasicRejectOptions { requeue: false })
        .await
        .expect("reject drop");
    sync(&ch).await.expect("sync");
    let a = get(&ch, &q, true).await.expect("requeued");
    let b = get(&ch, &q, true).await.expect("requeued");
    assert!(get(&ch, &q, true).await.is_none(), "m2 and m4 dropped");
    // (Their order is checked in nack_multiple_requeues_in_original_order.)
    assert_eq!(
        sorted(vec![body(&a.delivery), body(&b.delivery)]),
        ["m1", "m3"]
    );
    assert!(a.delivery.redelivered && b.delivery.redelivered);
    assert_eq!(a.delivery.delivery_tag, 5, "a new delivery tag");
    assert_eq!(b.delivery.delivery_tag, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nack_multiple_requeues_in_original_order() {
    let env = Env::start();
    let conn = env.connect().await;
    let pch = confirm_channel(&conn).await;
    let q = env.name("order");
    declare(&pch, &q).await;
    fill(&pch, &q, 5).await;
    let ch = open(&conn).await;
    let mut c = consume(&ch, &q, "order", manual_ack()).await;
    let ds = c.next_n(5).await;
    within(
        "basic.cancel",
        ch.basic_cancel("order".into(), BasicCancelOptions::default()),
    )
    .await
    .expect("cancel");
    // Published after the first five were delivered.
    publish(&pch, "", &q, b"m6").await;
    // Requeue in a scrambled order: they still come back in publish order, ahead of m6.
    for i in [3usize, 1] {
        within(
            "reject",
            ch.basic_reject(ds[i].delivery_tag, BasicRejectOptions { requeue: true }),
        )
        .await
        .expect("reject");
    }
    within(
        "nack multiple",
        ch.basic_nack(
            ds[4].delivery_tag,
            BasicNackOptions {
                multiple: true,
                requeue: true,
            },
        ),
    )
    .await
    .expect("nack");
    sync(&ch).await.expect("sync");
    assert_eq!(drain(&pch, &q).await, ["m1", "m2", "m3", "m4", "m5", "m6"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_recover_redelivers_unacked() {
    let env = Env::start();
    let conn = env.connect().await;
    let pch = confirm_channel(&conn).await;
    let q = env.name("recover");
    declare(&pch, &q).await;
    fill(&pch, &q, 2).await;
    let ch = open(&conn).await;
    let mut c = consume(&ch, &q, "rec", manual_ack()).await;
    let ds = c.next_n(2).await;
    ds[0].ack(BasicAckOptions::default()).await.expect("ack");
    within(
        "basic.recover",
        ch.basic_recover(BasicRecoverOptions { requeue: true }),
    )
    .await
    .expect("recover");
    let again = c.next().await;
    assert_eq!(body(&again), "m2");
    assert!(again.redelivered);
    assert_eq!(again.delivery_tag, 3);
    c.expect_nothing().await;
    again.ack(BasicAckOptions::default()).await.expect("ack");
    sync(&ch).await.expect("sync");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_between_consumers() {
    let env = Env::start();
    let conn = env.connect().await;
    let pch = confirm_channel(&conn).await;
    let q = env.name("rr");
    declare(&pch, &q).await;
    let ch1 = open(&conn).await;
    let ch2 = open(&conn).await;
    let mut c1 = consume(&ch1, &q, "a", no_ack()).await;
    let mut c2 = consume(&ch2, &q, "b", no_ack()).await;
    fill(&pch, &q, 10).await;
    let a = bodies(&c1.next_n(5).await);
    let b = bodies(&c2.next_n(5).await);
    c1.expect_nothing().await;
    c2.expect_nothing().await;
    assert_eq!(a, ["m1", "m3", "m5", "m7", "m9"]);
    assert_eq!(b, ["m2", "m4", "m6", "m8", "m10"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mandatory_unroutable_is_returned_with_312() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = confirm_channel(&conn).await;
    let props = BasicProperties::default()
        .with_content_type("text/plain".into())
        .with_message_id("mid-1".into())
        .with_headers(table(&[("h", s("v"))]));
    let confirm = within("mandatory publish", async {
        ch.basic_publish(
            "amq.direct".into(),
            "nowhere".into(),
            BasicPublishOptions {
                mandatory: true,
                immediate: false,
            },
            b"bounced",
            props.clone(),
        )
        .await?
        .await
    })
    .await
    .expect("confirm");
    assert!(confirm.is_ack(), "unroutable is still acked");
    let ret = confirm.take_message().expect("basic.return");
    assert_eq!(ret.reply_code, 312);
    assert_eq!(ret.reply_text.as_str(), "NO_ROUTE");
    assert_eq!(ret.delivery.exchange.as_str(), "amq.direct");
    assert_eq!(ret.delivery.routing_key.as_str(), "nowhere");
    assert_eq!(ret.delivery.data, b"bounced");
    assert_eq!(ret.delivery.properties, props);

    // Via the default exchange to a missing queue, on a channel without confirms.
    let plain = open(&conn).await;
    within("publish", async {
        plain
            .basic_publish(
                "".into(),
                "no-such-queue".into(),
                BasicPublishOptions {
                    mandatory: true,
                    immediate: false,
                },
                b"lost",
                BasicProperties::default(),
            )
            .await
    })
    .await
    .expect("publish");
    sync(&plain).await.expect("sync");
    let mut returned = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while returned.is_empty() && tokio::time::Instant::now() < deadline {
        returned = plain.wait_for_confirms().await.expect("returned messages");
        if returned.is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
    assert_eq!(returned.len(), 1, "one basic.return");
    assert_eq!(returned[0].reply_code, 312);
    assert_eq!(returned[0].delivery.exchange.as_str(), "");
    assert_eq!(returned[0].delivery.routing_key.as_str(), "no-such-queue");
    assert_eq!(returned[0].delivery.data, b"lost");

    // Not mandatory: silently dropped, no return.
    let confirm = publish_props(
        &ch,
        "amq.direct",
        "nowhere",
        b"x",
        BasicProperties::default(),
    )
    .await
    .expect("confirm");
    assert!(confirm.is_ack());
    assert!(confirm.take_message().is_none());
}

fn all_properties() -> BasicProperties {
    let headers = every_field_type(1);
    BasicProperties::default()
        .with_content_type("application/json".into())
        .with_content_encoding("gzip".into())
        .with_headers(headers)
        .with_delivery_mode(2)
        .with_priority(7)
        .with_correlation_id("corr-42".into())
        .with_reply_to("reply-queue".into())
        .with_expiration("60000".into())
        .with_message_id("msg-1".into())
        .with_timestamp(1_600_000_000)
        .with_type("order.created".into())
        .with_user_id("guest".into())
        .with_app_id("lapin-tests".into())
        .with_cluster_id("cluster-x".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn properties_and_headers_pass_through_unchanged() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = env.name("props");
    declare(&ch, &q).await;
    let props = all_properties();
    publish_props(&ch, "", &q, b"{\"a\":1}", props.clone())
        .await
        .expect("publish");
    publish_props(&ch, "", &q, b"", props.clone())
        .await
        .expect("publish empty body");
    publish_props(&ch, "", &q, b"bare", BasicProperties::default())
        .await
        .expect("publish without properties");

    let m = get(&ch, &q, true).await.expect("message");
    assert_eq!(m.delivery.properties, props);
    assert_eq!(m.delivery.data, b"{\"a\":1}");

    let mut c = consume(&ch, &q, "props", no_ack()).await;
    let d = c.next().await;
    assert_eq!(d.properties, props, "via basic.deliver");
    assert!(d.data.is_empty(), "empty body");
    let d = c.next().await;
    assert_eq!(d.properties, BasicProperties::default());
    assert_eq!(d.data, b"bare");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_message_round_trip() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = env.name("large");
    declare(&ch, &q).await;
    // Several frames' worth (frame_max is 128 KiB).
    let payload: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    publish(&ch, "", &q, &payload).await;
    let m = get(&ch, &q, true).await.expect("message");
    assert_eq!(m.delivery.data.len(), payload.len());
    assert!(m.delivery.data == payload, "body intact");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_get_is_not_limited_by_prefetch() {
    let env = Env::start();
    let conn = env.connect().await;
    let pch = confirm_channel(&conn).await;
    let q = env.name("get-qos");
    declare(&pch, &q).await;
    fill(&pch, &q, 3).await;
    let ch = open(&conn).await;
    qos(&ch, 1, false).await;
    qos(&ch, 1, true).await;
    for i in 1..=3 {
        let m = get(&ch, &q, false).await.expect("get ignores prefetch");
        assert_eq!(body(&m.delivery), format!("m{i}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_close_requeues_unacked() {
    let env = Env::start();
    let conn = env.connect().await;
    let pch = confirm_channel(&conn).await;
    let q = env.name("conn-close");
    declare(&pch, &q).await;
    fill(&pch, &q, 3).await;

    let consumer_conn = env.connect().await;
    let ch = open(&consumer_conn).await;
    let mut c = consume(&ch, &q, "", manual_ack()).await;
    let ds = c.next_n(3).await;
    ds[0].ack(BasicAckOptions::default()).await.expect("ack");
    sync(&ch).await.expect("sync");
    within("connection.close", consumer_conn.close(200, "bye".into()))
        .await
        .expect("close");

    let mut back = Vec::new();
    while let Some(m) = get(&pch, &q, true).await {
        back.push((body(&m.delivery), m.delivery.redelivered));
    }
    assert_eq!(back, [("m2".to_string(), true), ("m3".to_string(), true)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_error_leaves_other_channels_alone() {
    let env = Env::start();
    let conn = env.connect().await;
    let pch = confirm_channel(&conn).await;
    let q = env.name("survivor");
    declare(&pch, &q).await;
    let cch = open(&conn).await;
    let mut c = consume(&cch, &q, "survivor", no_ack()).await;
    publish(&pch, "", &q, b"one").await;
    assert_eq!(body(&c.next().await), "one");

    let bad = open(&conn).await;
    let missing = env.name("nope");
    expect_code(passive(&bad, &missing).await, 404);

    publish(&pch, "", &q, b"two").await;
    assert_eq!(body(&c.next().await), "two");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ack_after_queue_deleted_is_harmless() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = env.name("ack-deleted");
    declare(&ch, &q).await;
    publish(&ch, "", &q, b"x").await;
    let mut c = consume(&ch, &q, "gone", manual_ack()).await;
    let d = c.next().await;
    // Deleted from the consumer's own channel: the consumer is cancelled there too.
    delete_queue(&ch, &q, QueueDeleteOptions::default())
        .await
        .expect("delete");
    c.expect_cancelled().await;
    within(
        "ack",
        ch.basic_ack(d.delivery_tag, BasicAckOptions::default()),
    )
    .await
    .expect("ack");
    sync(&ch)
        .await
        .expect("acking a message of a deleted queue is fine");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requeued_message_goes_to_another_consumer_marked_redelivered() {
    let env = Env::start();
    let conn = env.connect().await;
    let pch = confirm_channel(&conn).await;
    let q = env.name("handover");
    declare(&pch, &q).await;
    let ch1 = open(&conn).await;
    qos(&ch1, 1, false).await;
    let mut c1 = consume(&ch1, &q, "first", manual_ack()).await;
    publish(&pch, "", &q, b"job").await;
    let d = c1.next().await;
    assert!(!d.redelivered);
    within(
        "cancel",
        ch1.basic_cancel("first".into(), BasicCancelOptions::default()),
    )
    .await
    .expect("cancel");
    let ch2 = open(&conn).await;
    let mut c2 = consume(&ch2, &q, "second", manual_ack()).await;
    c2.expect_nothing().await; // still unacked on ch1
    d.nack(BasicNackOptions {
        multiple: false,
        requeue: true,
    })
    .await
    .expect("nack");
    let again = c2.next().await;
    assert_eq!(body(&again), "job");
    assert!(again.redelivered);
    assert_eq!(again.delivery_tag, 1, "tags are per channel");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefetch_change_does_not_affect_existing_consumers() {
    let env = Env::start();
    let conn = env.connect().await;
    let pch = confirm_channel(&conn).await;
    let q = env.name("qos-later");
    declare(&pch, &q).await;
    fill(&pch, &q, 5).await;
    let ch = open(&conn).await;
    qos(&ch, 1, false).await;
    let mut c = consume(&ch, &q, "early", manual_ack()).await;
    c.next().await;
    // A new per-consumer limit applies to consumers created afterwards only.
    qos(&ch, 3, false).await;
    c.expect_nothing().await;
    let q2 = env.name("qos-later2");
    declare(&pch, &q2).await;
    fill(&pch, &q2, 5).await;
    let mut c2 = consume(&ch, &q2, "late", manual_ack()).await;
    c2.next_n(3).await;
    c2.expect_nothing().await;
}
