//! Queue declaration, counts, purge, delete, exclusive and auto-delete queues, via lapin.

mod common;

use common::*;
use lapin::options::{
    BasicCancelOptions, QueueDeclareOptions, QueueDeleteOptions, QueuePurgeOptions,
};
use lapin::types::FieldTable;

const LOCKED: &str = "RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '{}' in vhost '/'. It could be originally declared on another connection or the exclusive property value does not match that of the original declaration.";

fn locked(q: &str) -> String {
    LOCKED.replace("{}", q)
}

fn exclusive() -> QueueDeclareOptions {
    QueueDeclareOptions {
        exclusive: true,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_named_queues() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = confirm_channel(&conn).await;
    let a = declare_with(&ch, "", exclusive(), FieldTable::default()).await;
    let b = declare_with(&ch, "", exclusive(), FieldTable::default()).await;
    for q in [&a, &b] {
        let name = q.name().as_str();
        assert!(name.starts_with("amq.gen-"), "{name}");
        assert_eq!(name.len(), 30, "amq.gen- + 22 chars: {name}");
        assert!(
            name["amq.gen-".len()..]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "url-safe base64: {name}"
        );
        assert_eq!((q.message_count(), q.consumer_count()), (0, 0));
    }
    assert_ne!(a.name(), b.name());
    publish(&ch, "", a.name().as_str(), b"to a").await;
    assert_eq!(drain(&ch, a.name().as_str()).await, ["to a"]);
    assert!(drain(&ch, b.name().as_str()).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declare_ok_reports_ready_messages_and_consumers() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = env.name("counts");
    let d = declare(&ch, &q).await;
    assert_eq!((d.message_count(), d.consumer_count()), (0, 0));
    for i in 0..3 {
        publish(&ch, "", &q, format!("m{i}").as_bytes()).await;
    }
    let d = declare(&ch, &q).await; // redeclare reports the counts too
    assert_eq!((d.message_count(), d.consumer_count()), (3, 0));
    assert_eq!(counts(&ch, &q).await, (3, 0));

    // One fetched and not acked: no longer counted as ready.
    let getter = open(&conn).await;
    let m = get(&getter, &q, false).await.expect("message");
    assert_eq!(m.message_count, 2);
    assert_eq!(counts(&ch, &q).await, (2, 0));

    // A consumer that holds the remaining two unacked.
    let cch = open(&conn).await;
    let mut c = consume(&cch, &q, "counter", manual_ack()).await;
    c.next_n(2).await;
    assert_eq!(counts(&ch, &q).await, (0, 1));
    let d = declare(&ch, &q).await;
    assert_eq!((d.message_count(), d.consumer_count()), (0, 1));

    within(
        "basic.cancel",
        cch.basic_cancel("counter".into(), BasicCancelOptions::default()),
    )
    .await
    .expect("cancel");
    assert_eq!(counts(&ch, &q).await, (0, 0), "unacked stay unacked");

    // Closing the channels returns the unacked messages to the queue.
    within("close", cch.close(200, "bye".into()))
        .await
        .expect("close");
    within("close", getter.close(200, "bye".into()))
        .await
        .expect("close");
    assert_eq!(counts(&ch, &q).await, (3, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passive_declare() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = env.name("passive");
    declare_with(
        &ch,
        &q,
        QueueDeclareOptions {
            durable: false,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await;
    publish(&ch, "", &q, b"x").await;
    // Passive ignores the other flags and arguments.
    let d = within(
        "passive declare",
        ch.queue_declare(
            q.as_str().into(),
            QueueDeclareOptions {
                passive: true,
                durable: true,
                auto_delete: true,
                ..Default::default()
            },
            table(&[("x-message-ttl", lapin::types::AMQPValue::LongInt(5))]),
        ),
    )
    .await
    .expect("passive declare with other flags");
    assert_eq!(d.name().as_str(), q);
    assert_eq!((d.message_count(), d.consumer_count()), (1, 0));

    let missing = env.name("missing");
    expect_error(
        passive(&ch, &missing).await,
        404,
        &format!("NOT_FOUND - no queue '{missing}' in vhost '/'"),
    );
    // A passive declare does not create the queue.
    let ch = open(&conn).await;
    expect_code(passive(&ch, &missing).await, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_returns_count_and_spares_unacked() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = env.name("purge");
    declare(&ch, &q).await;
    for i in 0..5 {
        publish(&ch, "", &q, format!("m{i}").as_bytes()).await;
    }
    let holder = open(&conn).await;
    let held = get(&holder, &q, false).await.expect("message");
    assert_eq!(body(&held.delivery), "m0");

    let n = within(
        "queue.purge",
        ch.queue_purge(q.as_str().into(), QueuePurgeOptions::default()),
    )
    .await
    .expect("purge");
    assert_eq!(n, 4);
    let n = within(
        "queue.purge",
        ch.queue_purge(q.as_str().into(), QueuePurgeOptions::default()),
    )
    .await
    .expect("purge empty");
    assert_eq!(n, 0);
    assert_eq!(counts(&ch, &q).await, (0, 0));

    // The unacked message was not purged: it comes back when its channel closes.
    within("close", holder.close(200, "bye".into()))
        .await
        .expect("close");
    let m = get(&ch, &q, true).await.expect("requeued message");
    assert_eq!(body(&m.delivery), "m0");
    assert!(m.delivery.redelivered);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_returns_count_and_checks_conditions() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = env.name("del");
    declare(&ch, &q).await;
    publish(&ch, "", &q, b"1").await;
    publish(&ch, "", &q, b"2").await;

    let res = delete_queue(
        &ch,
        &q,
        QueueDeleteOptions {
            if_empty: true,
            ..Default::default()
        },
    )
    .await;
    expect_error(
        res,
        406,
        &format!("PRECONDITION_FAILED - queue '{q}' in vhost '/' not empty"),
    );

    let ch = confirm_channel(&conn).await;
    let cch = open(&conn).await;
    let _c = consume(&cch, &q, "user", manual_ack()).await;
    let res = delete_queue(
        &ch,
        &q,
        QueueDeleteOptions {
            if_unused: true,
            ..Default::default()
        },
    )
    .await;
    expect_error(
        res,
        406,
        &format!("PRECONDITION_FAILED - queue '{q}' in vhost '/' in use"),
    );
    within("close", cch.close(200, "bye".into()))
        .await
        .expect("close consumer channel");

    let ch = open(&conn).await;
    assert_eq!(counts(&ch, &q).await, (2, 0));
    let n = delete_queue(&ch, &q, QueueDeleteOptions::default())
        .await
        .expect("delete");
    assert_eq!(n, 2, "delete-ok message_count");
    expect_code(passive(&ch, &q).await, 404);

    // Deleting a queue that does not exist is fine.
    let ch = open(&conn).await;
    let n = delete_queue(&ch, &q, QueueDeleteOptions::default())
        .await
        .expect("delete missing");
    assert_eq!(n, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_if_empty_ignores_unacked_messages() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = env.name("del-unacked");
    declare(&ch, &q).await;
    publish(&ch, "", &q, b"only").await;
    let holder = open(&conn).await;
    let _m = get(&holder, &q, false).await.expect("message");
    let n = delete_queue(
        &ch,
        &q,
        QueueDeleteOptions {
            if_empty: true,
            ..Default::default()
        },
    )
    .await
    .expect("if_empty with only an unacked message");
    assert_eq!(n, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclusive_queue_is_locked_to_its_connection() {
    let env = Env::start();
    let owner = env.connect().await;
    let other = env.connect().await;
    let och = confirm_channel(&owner).await;
    let q = env.name("excl");
    declare_with(&och, &q, exclusive(), FieldTable::default()).await;
    // The owner can use it from another channel.
    let och2 = open(&owner).await;
    assert_eq!(counts(&och2, &q).await, (0, 0));

    let text = locked(&q);
    // Declares of any kind from another connection: 405.
    for opts in [
        QueueDeclareOptions::default(),
        exclusive(),
        QueueDeclareOptions {
            passive: true,
            ..Default::default()
        },
    ] {
        let ch = open(&other).await;
        let res = within(
            "queue.declare",
            ch.queue_declare(q.as_str().into(), opts, FieldTable::default()),
        )
        .await;
        expect_error(res, 405, &text);
    }
    let ch = open(&other).await;
    let res = within(
        "basic.consume",
        ch.basic_consume(
            q.as_str().into(),
            "".into(),
            manual_ack(),
            FieldTable::default(),
        ),
    )
    .await;
    expect_error(res, 405, &text);
    let ch = open(&other).await;
    let res = within(
        "basic.get",
        ch.basic_get(q.as_str().into(), Default::default()),
    )
    .await;
    expect_error(res, 405, &text);
    let ch = open(&other).await;
    let res = within(
        "queue.purge",
        ch.queue_purge(q.as_str().into(), Default::default()),
    )
    .await;
    expect_error(res, 405, &text);
    let ch = open(&other).await;
    expect_error(
        delete_queue(&ch, &q, QueueDeleteOptions::default()).await,
        405,
        &text,
    );

    // Publishing to it from another connection is allowed.
    let pch = confirm_channel(&other).await;
    publish(&pch, "", &q, b"from other").await;
    assert_eq!(drain(&och, &q).await, ["from other"]);

    // When the owner's connection closes, the queue is deleted.
    within("connection.close", owner.close(200, "bye".into()))
        .await
        .expect("close owner");
    // (Gone by the time close-ok arrives on RabbitMQ; allow a moment in case it lags.)
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let ch = open(&other).await;
        let code = passive(&ch, &q).await.err().and_then(|e| amqp_error(&e));
        match code {
            Some((404, text)) => {
                assert_eq!(text, format!("NOT_FOUND - no queue '{q}' in vhost '/'"));
                break;
            }
            other_result => {
                assert_eq!(other_result.as_ref().map(|(c, _)| *c), Some(405));
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "exclusive queue survived its connection"
                );
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclusive_redeclare_mismatch_on_same_connection_is_locked() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = open(&conn).await;
    let q = env.name("excl-mismatch");
    declare_with(&ch, &q, exclusive(), FieldTable::default()).await;
    let res = within(
        "queue.declare",
        ch.queue_declare(
            q.as_str().into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        ),
    )
    .await;
    expect_error(res, 405, &locked(&q));
    // Same flags again are fine.
    let ch = open(&conn).await;
    declare_with(&ch, &q, exclusive(), FieldTable::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_delete_queue_goes_when_last_consumer_cancels() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = open(&conn).await;
    let q = env.name("autodel");
    declare_with(
        &ch,
        &q,
        QueueDeclareOptions {
            auto_delete: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await;
    // Never consumed: it stays.
    assert_eq!(counts(&ch, &q).await, (0, 0));

    let c1 = consume(&ch, &q, "c1", no_ack()).await;
    let c2 = consume(&ch, &q, "c2", no_ack()).await;
    assert_eq!(counts(&ch, &q).await, (0, 2));
    within(
        "cancel c1",
        ch.basic_cancel(c1.tag().as_str().into(), BasicCancelOptions::default()),
    )
    .await
    .expect("cancel c1");
    assert_eq!(counts(&ch, &q).await, (0, 1), "one consumer left");
    within(
        "cancel c2",
        ch.basic_cancel(c2.tag().as_str().into(), BasicCancelOptions::default()),
    )
    .await
    .expect("cancel c2");
    expect_error(
        passive(&ch, &q).await,
        404,
        &format!("NOT_FOUND - no queue '{q}' in vhost '/'"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_delete_queue_goes_when_consumer_channel_closes() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = open(&conn).await;
    let q = env.name("autodel-close");
    declare_with(
        &ch,
        &q,
        QueueDeclareOptions {
            auto_delete: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await;
    let cch = open(&conn).await;
    let _c = consume(&cch, &q, "c", manual_ack()).await;
    within("close", cch.close(200, "bye".into()))
        .await
        .expect("close");
    expect_code(passive(&ch, &q).await, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_are_fifo() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = env.name("fifo");
    declare(&ch, &q).await;
    let want: Vec<String> = (0..200).map(|i| format!("msg-{i}")).collect();
    for m in &want {
        within("publish", async {
            ch.basic_publish(
                "".into(),
                q.as_str().into(),
                Default::default(),
                m.as_bytes(),
                Default::default(),
            )
            .await
        })
        .await
        .expect("publish");
    }
    within("confirms", ch.wait_for_confirms())
        .await
        .expect("confirms");
    assert_eq!(counts(&ch, &q).await, (200, 0));
    let mut c = consume(&ch, &q, "fifo", no_ack()).await;
    let got: Vec<String> = c.next_n(200).await.iter().map(body).collect();
    assert_eq!(got, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_queue_name_means_last_declared_queue() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = declare_with(&ch, "", exclusive(), FieldTable::default()).await;
    let name = q.name().to_string();
    // queue.bind with queue '' and routing key '' binds the last declared queue by its name.
    bind(&ch, "", "amq.direct", "").await;
    publish(&ch, "amq.direct", &name, b"via shortcut").await;
    let m = get(&ch, "", true)
        .await
        .expect("basic.get '' uses last queue");
    assert_eq!(body(&m.delivery), "via shortcut");
    let n = within(
        "queue.purge ''",
        ch.queue_purge("".into(), QueuePurgeOptions::default()),
    )
    .await
    .expect("purge ''");
    assert_eq!(n, 0);

    // Without a declare on the channel, '' is an error.
    let fresh = open(&conn).await;
    let res = within(
        "basic.get ''",
        fresh.basic_get("".into(), Default::default()),
    )
    .await;
    expect_error(res, 404, "NOT_FOUND - no previously declared queue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn equivalent_redeclare_is_accepted() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = open(&conn).await;
    let q = env.name("equiv");
    let ttl = |v: lapin::types::AMQPValue| table(&[("x-message-ttl", v), ("note", s("a"))]);
    declare_with(
        &ch,
        &q,
        QueueDeclareOptions::default(),
        ttl(lapin::types::AMQPValue::LongInt(60000)),
    )
    .await;
    // Same value with another integer type, and a different non-x- argument: still equivalent.
    let mut args = ttl(lapin::types::AMQPValue::LongLongInt(60000));
    args.insert("note".into(), s("b"));
    let d = declare_with(&ch, &q, QueueDeclareOptions::default(), args).await;
    assert_eq!(d.name().as_str(), q);
    // Unknown x- arguments are accepted.
    let q2 = env.name("equiv-unknown");
    declare_with(
        &ch,
        &q2,
        QueueDeclareOptions::default(),
        table(&[("x-lapin-unknown", s("whatever"))]),
    )
    .await;
}
