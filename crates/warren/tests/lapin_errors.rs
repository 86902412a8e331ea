//! Errors as a lapin user sees them: channel closes with RabbitMQ's codes and texts (and the
//! connection stays usable), connection-level errors, and failed logins.

mod common;

use std::future::Future;

use common::*;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions,
    BasicRecoverOptions, BasicRejectOptions, ChannelFlowOptions, ConfirmSelectOptions,
    ExchangeBindOptions, ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions,
    QueueDeclareOptions, QueuePurgeOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};

/// Run `fut` (a method the server does not answer, e.g. basic.ack or basic.publish) and return
/// the code and text of the channel close it causes. A watcher consumer on the channel receives
/// the close as an error, whatever the timing.
async fn async_channel_error<F, T>(ch: &Channel, fut: F) -> (u16, String)
where
    F: Future<Output = lapin::Result<T>>,
    T: std::fmt::Debug,
{
    let q = declare_with(
        ch,
        "",
        QueueDeclareOptions {
            exclusive: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await;
    let mut watcher = consume(ch, q.name().as_str(), "watcher", no_ack()).await;
    let first = within("method", fut).await;
    if let Err(e) = &first {
        if let Some(err) = amqp_error(e) {
            return err;
        }
    }
    let e = watcher.expect_error().await;
    amqp_error(&e).unwrap_or_else(|| panic!("expected a channel close, got {e:?}"))
}

fn not_found_queue(q: &str) -> String {
    format!("NOT_FOUND - no queue '{q}' in vhost '/'")
}

fn not_found_exchange(x: &str) -> String {
    format!("NOT_FOUND - no exchange '{x}' in vhost '/'")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_queue_is_404_and_connection_survives() {
    let env = Env::start();
    let conn = env.connect().await;
    let q = env.name("missing-q");
    let text = not_found_queue(&q);

    let ch = open(&conn).await;
    expect_error(passive(&ch, &q).await, 404, &text);

    let ch = open(&conn).await;
    let res = within(
        "basic.get",
        ch.basic_get(q.as_str().into(), Default::default()),
    )
    .await;
    expect_error(res, 404, &text);

    let ch = open(&conn).await;
    let res = within(
        "basic.consume",
        ch.basic_consume(
            q.as_str().into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        ),
    )
    .await;
    expect_error(res, 404, &text);

    let ch = open(&conn).await;
    let res = within(
        "queue.purge",
        ch.queue_purge(q.as_str().into(), QueuePurgeOptions::default()),
    )
    .await;
    expect_error(res, 404, &text);

    let ch = open(&conn).await;
    let res = within(
        "queue.bind",
        ch.queue_bind(
            q.as_str().into(),
            "amq.direct".into(),
            "k".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        ),
    )
    .await;
    expect_error(res, 404, &text);

    assert_connection_usable(&conn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_exchange_is_404_and_connection_survives() {
    let env = Env::start();
    let conn = env.connect().await;
    let x = env.name("missing-x");
    let text = not_found_exchange(&x);

    let ch = open(&conn).await;
    let res = within(
        "passive exchange.declare",
        ch.exchange_declare(
            x.as_str().into(),
            ExchangeKind::Direct,
            ExchangeDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        ),
    )
    .await;
    expect_error(res, 404, &text);

    let ch = open(&conn).await;
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
    let res = within(
        "queue.bind",
        ch.queue_bind(
            q.name().as_str().into(),
            x.as_str().into(),
            "k".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        ),
    )
    .await;
    expect_error(res, 404, &text);

    let ch = open(&conn).await;
    let res = within(
        "exchange.bind",
        ch.exchange_bind(
            "amq.fanout".into(),
            x.as_str().into(),
            "k".into(),
            ExchangeBindOptions::default(),
            FieldTable::default(),
        ),
    )
    .await;
    expect_error(res, 404, &text);

    // Publishing to a missing exchange closes the channel (no reply to the publish itself).
    let ch = open(&conn).await;
    let err = async_channel_error(&ch, async {
        ch.basic_publish(
            x.as_str().into(),
            "k".into(),
            BasicPublishOptions::default(),
            b"x",
            BasicProperties::default(),
        )
        .await
    })
    .await;
    assert_eq!(err, (404, text.clone()));

    assert_connection_usable(&conn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserved_names_and_default_exchange_are_403() {
    let env = Env::start();
    let conn = env.connect().await;

    let ch = open(&conn).await;
    let res = within(
        "exchange.declare amq.*",
        ch.exchange_declare(
            "amq.lapin-test".into(),
            ExchangeKind::Direct,
            ExchangeDeclareOptions::default(),
            FieldTable::default(),
        ),
    )
    .await;
    expect_error(
        res,
        403,
        "ACCESS_REFUSED - exchange name 'amq.lapin-test' contains reserved prefix 'amq.*'",
    );

    let ch = open(&conn).await;
    let res = within(
        "queue.declare amq.*",
        ch.queue_declare(
            "amq.lapin-test".into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        ),
    )
    .await;
    expect_error(
        res,
        403,
        "ACCESS_REFUSED - queue name 'amq.lapin-test' contains reserved prefix 'amq.*'",
    );

    let default_text = "ACCESS_REFUSED - operation not permitted on the default exchange";
    let ch = open(&conn).await;
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
    let res = within(
        "queue.bind to default exchange",
        ch.queue_bind(
            q.name().as_str().into(),
            "".into(),
            "k".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        ),
    )
    .await;
    expect_error(res, 403, default_text);

    let ch = open(&conn).await;
    let res = within(
        "queue.unbind from default exchange",
        ch.queue_unbind(
            q.name().as_str().into(),
            "".into(),
            q.name().as_str().into(),
            FieldTable::default(),
        ),
    )
    .await;
    expect_error(res, 403, default_text);

    let ch = open(&conn).await;
    let res = within(
        "exchange.delete default",
        ch.exchange_delete("".into(), ExchangeDeleteOptions::default()),
    )
    .await;
    expect_error(res, 403, default_text);

    let ch = open(&conn).await;
    let res = within(
        "exchange.declare default",
        ch.exchange_declare(
            "".into(),
            ExchangeKind::Direct,
            ExchangeDeclareOptions::default(),
            FieldTable::default(),
        ),
    )
    .await;
    expect_error(res, 403, default_text);

    let ch = open(&conn).await;
    let res = within(
        "exchange.delete amq.direct",
        ch.exchange_delete("amq.direct".into(), ExchangeDeleteOptions::default()),
    )
    .await;
    expect_error(
        res,
        403,
        "ACCESS_REFUSED - deletion of system exchange 'amq.direct' in vhost '/' not allowed",
    );

    // Publishing to an internal exchange.
    let ch = open(&conn).await;
    let internal = env.name("internal");
    declare_exchange_with(
        &ch,
        &internal,
        ExchangeKind::Fanout,
        ExchangeDeclareOptions {
            internal: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await;
    let err = async_channel_error(&ch, async {
        ch.basic_publish(
            internal.as_str().into(),
            "".into(),
            BasicPublishOptions::default(),
            b"x",
            BasicProperties::default(),
        )
        .await
    })
    .await;
    assert_eq!(
        err,
        (
            403,
            format!(
                "ACCESS_REFUSED - cannot publish to internal exchange '{internal}' in vhost '/'"
            )
        )
    );

    assert_connection_usable(&conn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclusive_consumer_is_403() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = open(&conn).await;
    let q = env.name("excl-consumer");
    declare(&ch, &q).await;
    let _first = consume(
        &ch,
        &q,
        "first",
        BasicConsumeOptions {
            exclusive: true,
            ..Default::default()
        },
    )
    .await;
    let ch2 = open(&conn).await;
    let res = within(
        "second consumer",
        ch2.basic_consume(
            q.as_str().into(),
            "second".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        ),
    )
    .await;
    expect_error(
        res,
        403,
        &format!("ACCESS_REFUSED - queue '{q}' in vhost '/' in exclusive use"),
    );

    // An exclusive consumer cannot join a queue that already has a consumer either.
    let q2 = env.name("shared-consumer");
    declare(&ch, &q2).await;
    let _shared = consume(&ch, &q2, "shared", no_ack()).await;
    let other = env.connect().await;
    let ch3 = open(&other).await;
    let res = within(
        "exclusive consumer",
        ch3.basic_consume(
            q2.as_str().into(),
            "wants-it-all".into(),
            BasicConsumeOptions {
                exclusive: true,
                ..Default::default()
            },
            FieldTable::default(),
        ),
    )
    .await;
    expect_error(
        res,
        403,
        &format!("ACCESS_REFUSED - queue '{q2}' in vhost '/' in exclusive use"),
    );
    assert_connection_usable(&other).await;
    assert_connection_usable(&conn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inequivalent_redeclare_is_406() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = open(&conn).await;
    let x = env.name("ineq-x");
    declare_exchange(&ch, &x, ExchangeKind::Direct).await;
    let res = within(
        "exchange redeclare",
        ch.exchange_declare(
            x.as_str().into(),
            ExchangeKind::Fanout,
            ExchangeDeclareOptions::default(),
            FieldTable::default(),
        ),
    )
    .await;
    expect_error(
        res,
        406,
        &format!(
            "PRECONDITION_FAILED - inequivalent arg 'type' for exchange '{x}' in vhost '/': received 'fanout' but current is 'direct'"
        ),
    );

    let ch = open(&conn).await;
    let res = within(
        "exchange redeclare durable",
        ch.exchange_declare(
            x.as_str().into(),
            ExchangeKind::Direct,
            ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        ),
    )
    .await;
    expect_error(
        res,
        406,
        &format!(
            "PRECONDITION_FAILED - inequivalent arg 'durable' for exchange '{x}' in vhost '/': received 'true' but current is 'false'"
        ),
    );

    let ch = open(&conn).await;
    let q = env.name("ineq-q");
    declare(&ch, &q).await;
    let res = within(
        "queue redeclare durable",
        ch.queue_declare(
            q.as_str().into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        ),
    )
    .await;
    expect_error(
        res,
        406,
        &format!(
            "PRECONDITION_FAILED - inequivalent arg 'durable' for queue '{q}' in vhost '/': received 'true' but current is 'false'"
        ),
    );

    let ch = open(&conn).await;
    let res = within(
        "queue redeclare with ttl",
        ch.queue_declare(
            q.as_str().into(),
            QueueDeclareOptions::default(),
            table(&[("x-message-ttl", lapin::types::AMQPValue::LongInt(1000))]),
        ),
    )
    .await;
    expect_error(
        res,
        406,
        &format!(
            "PRECONDITION_FAILED - inequivalent arg 'x-message-ttl' for queue '{q}' in vhost '/': received the value '1000' of type 'signedint' but current is none"
        ),
    );
    assert_connection_usable(&conn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_delivery_tag_is_406() {
    let env = Env::start();
    let conn = env.connect().await;

    let ch = open(&conn).await;
    let err = async_channel_error(&ch, ch.basic_ack(99, BasicAckOptions::default())).await;
    assert_eq!(
        err,
        (
            406,
            "PRECONDITION_FAILED - unknown delivery tag 99".to_string()
        )
    );

    let ch = open(&conn).await;
    let err = async_channel_error(
        &ch,
        ch.basic_nack(
            7,
            BasicNackOptions {
                multiple: false,
                requeue: true,
            },
        ),
    )
    .await;
    assert_eq!(
        err,
        (
            406,
            "PRECONDITION_FAILED - unknown delivery tag 7".to_string()
        )
    );

    let ch = open(&conn).await;
    let err = async_channel_error(
        &ch,
        ch.basic_reject(8, BasicRejectOptions { requeue: false }),
    )
    .await;
    assert_eq!(
        err,
        (
            406,
            "PRECONDITION_FAILED - unknown delivery tag 8".to_string()
        )
    );

    // Double ack: the second one is unknown.
    let pch = confirm_channel(&conn).await;
    let q = env.name("double-ack");
    declare(&pch, &q).await;
    publish(&pch, "", &q, b"x").await;
    let ch = open(&conn).await;
    let m = get(&ch, &q, false).await.expect("message");
    within(
        "first ack",
        ch.basic_ack(m.delivery.delivery_tag, BasicAckOptions::default()),
    )
    .await
    .expect("ack");
    let err = async_channel_error(
        &ch,
        ch.basic_ack(m.delivery.delivery_tag, BasicAckOptions::default()),
    )
    .await;
    assert_eq!(
        err,
        (
            406,
            "PRECONDITION_FAILED - unknown delivery tag 1".to_string()
        )
    );

    // Ack of a tag delivered with no-ack.
    publish(&pch, "", &q, b"y").await;
    let ch = open(&conn).await;
    let m = get(&ch, &q, true).await.expect("message");
    let err = async_channel_error(
        &ch,
        ch.basic_ack(m.delivery.delivery_tag, BasicAckOptions::default()),
    )
    .await;
    assert_eq!(
        err,
        (
            406,
            "PRECONDITION_FAILED - unknown delivery tag 1".to_string()
        )
    );

    // ack multiple with tag 0 and nothing outstanding is fine.
    let ch = open(&conn).await;
    within(
        "ack 0 multiple",
        ch.basic_ack(0, BasicAckOptions { multiple: true }),
    )
    .await
    .expect("ack");
    sync(&ch).await.expect("channel still open");

    assert_connection_usable(&conn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tx_and_confirm_mode_errors_are_406() {
    let env = Env::start();
    let conn = env.connect().await;

    let ch = open(&conn).await;
    let res = within("tx.commit", ch.tx_commit()).await;
    expect_error(
        res,
        406,
        "PRECONDITION_FAILED - channel is not transactional",
    );
    let ch = open(&conn).await;
    let res = within("tx.rollback", ch.tx_rollback()).await;
    expect_error(
        res,
        406,
        "PRECONDITION_FAILED - channel is not transactional",
    );

    let ch = open(&conn).await;
    within("tx.select", ch.tx_select())
        .await
        .expect("tx.select");
    let res = within(
        "confirm.select",
        ch.confirm_select(ConfirmSelectOptions::default()),
    )
    .await;
    expect_error(
        res,
        406,
        "PRECONDITION_FAILED - cannot switch from tx to confirm mode",
    );

    let ch = confirm_channel(&conn).await;
    let res = within("tx.select", ch.tx_select()).await;
    expect_error(
        res,
        406,
        "PRECONDITION_FAILED - cannot switch from confirm to tx mode",
    );
    assert_connection_usable(&conn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_x_match_is_406() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = open(&conn).await;
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
    let res = within(
        "queue.bind",
        ch.queue_bind(
            q.name().as_str().into(),
            "amq.headers".into(),
            "".into(),
            QueueBindOptions::default(),
            table(&[("x-match", s("foo"))]),
        ),
    )
    .await;
    expect_error(
        res,
        406,
        "PRECONDITION_FAILED - Invalid x-match field value <<\"foo\">>; expected all, any, all-with-x, or any-with-x",
    );
    assert_connection_usable(&conn).await;
}

/// Wait until `conn` is closed by the server and return the close error lapin reports.
async fn expect_connection_closed(
    conn: &Connection,
    res: lapin::Result<()>,
    code: u16,
    text: &str,
) {
    expect_error(res, code, text);
    let deadline = tokio::time::Instant::now() + WAIT;
    while conn.status().connected() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "connection still open after a connection-level error"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(conn.create_channel().await.is_err(), "connection is closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_exchange_type_closes_the_connection_503() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = open(&conn).await;
    let x = env.name("badtype");
    let res = within(
        "exchange.declare",
        ch.exchange_declare(
            x.as_str().into(),
            ExchangeKind::Custom("foo".into()),
            ExchangeDeclareOptions::default(),
            FieldTable::default(),
        ),
    )
    .await;
    expect_connection_closed(
        &conn,
        res,
        503,
        "COMMAND_INVALID - invalid exchange type 'foo'",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reused_consumer_tag_closes_the_connection_530() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = open(&conn).await;
    let q = env.name("duptag");
    declare(&ch, &q).await;
    let _c = consume(&ch, &q, "dup", no_ack()).await;
    // The same tag on another channel is fine.
    let ch2 = open(&conn).await;
    let _c2 = consume(&ch2, &q, "dup", no_ack()).await;
    let res = within(
        "basic.consume dup",
        ch.basic_consume(
            q.as_str().into(),
            "dup".into(),
            no_ack(),
            FieldTable::default(),
        ),
    )
    .await
    .map(|_| ());
    expect_connection_closed(
        &conn,
        res,
        530,
        "NOT_ALLOWED - attempt to reuse consumer tag 'dup'",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn immediate_publish_closes_the_connection_540() {
    let env = Env::start();
    let conn = env.connect().await;
    // The close can reach lapin before the round trip below is sent, which then fails with
    // a channel-state error instead: the connection's own error is the reliable witness.
    let mut events = Box::pin(conn.events_listener());
    let ch = open(&conn).await;
    let res = within("publish immediate", async {
        ch.basic_publish(
            "amq.direct".into(),
            "k".into(),
            BasicPublishOptions {
                mandatory: false,
                immediate: true,
            },
            b"x",
            BasicProperties::default(),
        )
        .await?;
        sync(&ch).await
    })
    .await;
    assert!(res.is_err(), "the round trip after the publish succeeded");
    let closed = within("connection error", async {
        use futures_lite::StreamExt;
        loop {
            match events.next().await {
                Some(lapin::Event::Error(e)) => return e,
                Some(_) => continue,
                None => panic!("lapin's events ended without the connection error"),
            }
        }
    })
    .await;
    expect_connection_closed(
        &conn,
        Err::<(), _>(closed),
        540,
        "NOT_IMPLEMENTED - immediate=true",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_flow_off_closes_the_connection_540() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = open(&conn).await;
    // flow active=true is accepted.
    let active = within(
        "channel.flow on",
        ch.channel_flow(ChannelFlowOptions { active: true }),
    )
    .await
    .expect("flow on");
    assert!(active);
    let res = within(
        "channel.flow off",
        ch.channel_flow(ChannelFlowOptions { active: false }),
    )
    .await
    .map(|_| ());
    expect_connection_closed(&conn, res, 540, "NOT_IMPLEMENTED - active=false").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recover_without_requeue_closes_the_connection_540() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = open(&conn).await;
    let res = within(
        "basic.recover requeue=false",
        ch.basic_recover(BasicRecoverOptions { requeue: false }),
    )
    .await;
    expect_connection_closed(&conn, res, 540, "NOT_IMPLEMENTED - requeue=false").await;
}

const LOGIN_REFUSED: &str = "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_refused_with_403() {
    let env = Env::start();
    let res = within(
        "connect",
        Connection::connect(
            &env.url_for("guest", "wrong", "%2f"),
            ConnectionProperties::default(),
        ),
    )
    .await;
    expect_error(res, 403, LOGIN_REFUSED);

    let res = within(
        "connect",
        Connection::connect(
            &env.url_for("nobody", "guest", "%2f"),
            ConnectionProperties::default(),
        ),
    )
    .await;
    expect_error(res, 403, LOGIN_REFUSED);

    // The right password still works afterwards.
    let conn = env.connect().await;
    assert_connection_usable(&conn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_vhost_is_refused_with_530() {
    let env = Env::start();
    let res = within(
        "connect",
        Connection::connect(
            &env.url_for("guest", "guest", "no-such-vhost"),
            ConnectionProperties::default(),
        ),
    )
    .await;
    expect_error(res, 530, "NOT_ALLOWED - vhost no-such-vhost not found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbind_and_delete_of_missing_objects_succeed() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = open(&conn).await;
    let q = env.name("ghost-q");
    let x = env.name("ghost-x");
    within(
        "queue.unbind missing",
        ch.queue_unbind(
            q.as_str().into(),
            x.as_str().into(),
            "k".into(),
            FieldTable::default(),
        ),
    )
    .await
    .expect("queue.unbind of missing queue/exchange is ok");
    within(
        "exchange.unbind missing",
        ch.exchange_unbind(
            x.as_str().into(),
            "amq.direct".into(),
            "k".into(),
            Default::default(),
            FieldTable::default(),
        ),
    )
    .await
    .expect("exchange.unbind of missing exchange is ok");
    within(
        "queue.delete missing",
        ch.queue_delete(q.as_str().into(), Default::default()),
    )
    .await
    .expect("queue.delete missing");
    within(
        "exchange.delete missing",
        ch.exchange_delete(x.as_str().into(), Default::default()),
    )
    .await
    .expect("exchange.delete missing");
    sync(&ch).await.expect("channel open");
}
