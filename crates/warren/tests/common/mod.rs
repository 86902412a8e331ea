//! Shared helpers for the lapin integration tests (`tests/lapin_*.rs`).
//!
//! Every test starts its own `warren` binary through the testkit. To check what RabbitMQ does
//! in the same situation, set `WARREN_LAPIN_URL` (e.g. `amqp://guest:guest@127.0.0.1:5672/%2f`):
//! the tests then talk to that broker instead, with unique object names that are deleted
//! again when the test ends.

#![allow(dead_code)]

pub mod raw;

use std::fmt::Debug;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use lapin::message::{BasicGetMessage, Delivery, DeliveryResult};
use lapin::options::{
    BasicConsumeOptions, BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions,
    ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldArray, FieldTable, ShortString};
use lapin::{
    BasicProperties, Channel, Connection, ConnectionProperties, Consumer, ErrorKind, ExchangeKind,
    Queue,
};
use tokio::sync::mpsc;
use warren_testkit::TestBroker;

/// Upper bound for anything we expect to happen.
pub const WAIT: Duration = Duration::from_secs(5);
/// How long we listen to conclude that nothing (more) arrives.
pub const QUIET: Duration = Duration::from_millis(300);

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A broker to test against: our own `warren` process, or the one named by `WARREN_LAPIN_URL`.
pub struct Env {
    broker: Option<TestBroker>,
    /// `host:port`
    pub addr: String,
    names: Mutex<Vec<String>>,
}

impl Env {
    pub fn start() -> Self {
        match std::env::var("WARREN_LAPIN_URL") {
            Ok(url) => {
                let rest = url.trim_start_matches("amqp://");
                let rest = rest.rsplit('@').next().unwrap_or(rest);
                let addr = rest.split('/').next().unwrap_or(rest).to_string();
                Self {
                    broker: None,
                    addr,
                    names: Mutex::new(Vec::new()),
                }
            }
            Err(_) => {
                let broker = TestBroker::start(env!("CARGO_BIN_EXE_warren"));
                let addr = broker.addr.to_string();
                Self {
                    broker: Some(broker),
                    addr,
                    names: Mutex::new(Vec::new()),
                }
            }
        }
    }

    pub fn is_external(&self) -> bool {
        self.broker.is_none()
    }

    /// `amqp://guest:guest@host:port/%2f`
    pub fn url(&self) -> String {
        self.url_for("guest", "guest", "%2f")
    }

    pub fn url_for(&self, user: &str, pass: &str, vhost: &str) -> String {
        format!("amqp://{user}:{pass}@{}/{vhost}", self.addr)
    }

    pub async fn connect(&self) -> Connection {
        within(
            "connect",
            Connection::connect(&self.url(), ConnectionProperties::default()),
        )
        .await
        .expect("connect as guest")
    }

    /// A unique name starting with `base`; deleted (as queue and exchange) when an external
    /// broker is used.
    pub fn name(&self, base: &str) -> String {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("lapin.{base}.{}.{n}", std::process::id());
        self.names.lock().unwrap().push(name.clone());
        name
    }

    /// Remember a server-named queue for cleanup on an external broker.
    pub fn track(&self, name: &str) {
        self.names.lock().unwrap().push(name.to_string());
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if self.broker.is_some() {
            return;
        }
        let names = std::mem::take(&mut *self.names.lock().unwrap());
        if names.is_empty() {
            return;
        }
        let url = self.url();
        // Best-effort cleanup on the shared broker, on a runtime of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let Ok(Ok(conn)) = tokio::time::timeout(
                    WAIT,
                    Connection::connect(&url, ConnectionProperties::default()),
                )
                .await
                else {
                    return;
                };
                for name in names {
                    for _ in 0..2 {
                        let Ok(ch) = conn.create_channel().await else {
                            return;
                        };
                        let _ = ch
                            .queue_delete(name.as_str().into(), QueueDeleteOptions::default())
                            .await;
                        let _ = ch
                            .exchange_delete(name.as_str().into(), ExchangeDeleteOptions::default())
                            .await;
                    }
                }
                let _ = conn.close(200, "bye".into()).await;
            });
        })
        .join();
    }
}

/// Await `fut`, failing the test if it takes longer than [`WAIT`].
pub async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(WAIT, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {WAIT:?}: {what}"),
    }
}

pub async fn open(conn: &Connection) -> Channel {
    within("channel.open", conn.create_channel())
        .await
        .expect("channel.open")
}

/// A channel in publisher-confirm mode.
pub async fn confirm_channel(conn: &Connection) -> Channel {
    let ch = open(conn).await;
    within(
        "confirm.select",
        ch.confirm_select(ConfirmSelectOptions::default()),
    )
    .await
    .expect("confirm.select");
    ch
}

/// The AMQP reply code and text of a channel or connection close carried by `err`.
pub fn amqp_error(err: &lapin::Error) -> Option<(u16, String)> {
    match err.kind() {
        ErrorKind::ProtocolError(e) => Some((e.get_id(), e.get_message().to_string())),
        _ => None,
    }
}

/// Assert that `res` failed with the AMQP reply `code`; returns the reply text.
#[track_caller]
pub fn expect_code<T: Debug>(res: lapin::Result<T>, code: u16) -> String {
    match res {
        Ok(v) => panic!("expected AMQP error {code}, got success: {v:?}"),
        Err(e) => match amqp_error(&e) {
            Some((c, text)) => {
                assert_eq!(c, code, "reply code (text: {text:?})");
                text
            }
            None => panic!("expected AMQP error {code}, got {e:?}"),
        },
    }
}

/// Assert that `res` failed with exactly this reply code and text.
#[track_caller]
pub fn expect_error<T: Debug>(res: lapin::Result<T>, code: u16, text: &str) {
    let got = expect_code(res, code);
    assert_eq!(got, text, "reply text");
}

pub fn s(v: &str) -> AMQPValue {
    AMQPValue::LongString(v.into())
}

pub fn table(entries: &[(&str, AMQPValue)]) -> FieldTable {
    let mut t = FieldTable::default();
    for (k, v) in entries {
        t.insert(ShortString::from(*k), v.clone());
    }
    t
}

pub async fn declare(ch: &Channel, name: &str) -> Queue {
    declare_with(
        ch,
        name,
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
}

pub async fn declare_with(
    ch: &Channel,
    name: &str,
    opts: QueueDeclareOptions,
    args: FieldTable,
) -> Queue {
    within("queue.declare", ch.queue_declare(name.into(), opts, args))
        .await
        .unwrap_or_else(|e| panic!("queue.declare {name}: {e:?}"))
}

pub async fn passive(ch: &Channel, name: &str) -> lapin::Result<Queue> {
    within(
        "passive queue.declare",
        ch.queue_declare(
            name.into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        ),
    )
    .await
}

/// `(message_count, consumer_count)` from a passive declare.
pub async fn counts(ch: &Channel, name: &str) -> (u32, u32) {
    let q = passive(ch, name)
        .await
        .unwrap_or_else(|e| panic!("passive declare {name}: {e:?}"));
    (q.message_count(), q.consumer_count())
}

pub async fn declare_exchange(ch: &Channel, name: &str, kind: ExchangeKind) {
    declare_exchange_with(
        ch,
        name,
        kind,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
}

pub async fn declare_exchange_with(
    ch: &Channel,
    name: &str,
    kind: ExchangeKind,
    opts: ExchangeDeclareOptions,
    args: FieldTable,
) {
    within(
        "exchange.declare",
        ch.exchange_declare(name.into(), kind, opts, args),
    )
    .await
    .unwrap_or_else(|e| panic!("exchange.declare {name}: {e:?}"));
}

pub async fn bind(ch: &Channel, queue: &str, exchange: &str, key: &str) {
    bind_with(ch, queue, exchange, key, FieldTable::default()).await
}

pub async fn bind_with(ch: &Channel, queue: &str, exchange: &str, key: &str, args: FieldTable) {
    within(
        "queue.bind",
        ch.queue_bind(
            queue.into(),
            exchange.into(),
            key.into(),
            QueueBindOptions::default(),
            args,
        ),
    )
    .await
    .unwrap_or_else(|e| panic!("queue.bind {queue} -> {exchange} ({key}): {e:?}"));
}

/// Publish and, on a confirm channel, wait for the broker's confirm (so the message is
/// enqueued when this returns). Returns whether the confirm was an ack (true without confirms).
pub async fn publish_props(
    ch: &Channel,
    exchange: &str,
    key: &str,
    body: &[u8],
    props: BasicProperties,
) -> lapin::Result<lapin::Confirmation> {
    within("basic.publish", async {
        ch.basic_publish(
            exchange.into(),
            key.into(),
            BasicPublishOptions::default(),
            body,
            props,
        )
        .await?
        .await
    })
    .await
}

pub async fn publish(ch: &Channel, exchange: &str, key: &str, body: &[u8]) {
    publish_props(ch, exchange, key, body, BasicProperties::default())
        .await
        .unwrap_or_else(|e| panic!("publish to {exchange:?}/{key:?}: {e:?}"));
}

pub async fn get(ch: &Channel, queue: &str, no_ack: bool) -> Option<BasicGetMessage> {
    within(
        "basic.get",
        ch.basic_get(queue.into(), BasicGetOptions { no_ack }),
    )
    .await
    .unwrap_or_else(|e| panic!("basic.get {queue}: {e:?}"))
}

/// Drain `queue` with no-ack basic.get and return the bodies as strings.
pub async fn drain(ch: &Channel, queue: &str) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(m) = get(ch, queue, true).await {
        out.push(String::from_utf8_lossy(&m.delivery.data).into_owned());
        assert!(out.len() < 10_000, "queue {queue} does not drain");
    }
    out
}

pub fn body(d: &Delivery) -> String {
    String::from_utf8_lossy(&d.data).into_owned()
}

/// A consumer whose deliveries are forwarded, in order, to a channel we can await with timeouts.
pub struct Consumed {
    pub consumer: Consumer,
    rx: mpsc::UnboundedReceiver<DeliveryResult>,
}

impl Consumed {
    pub fn new(consumer: Consumer) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        consumer.set_delegate(move |d: DeliveryResult| {
            // Sent synchronously, so the order of deliveries is kept.
            let _ = tx.send(d);
            async {}
        });
        Self { consumer, rx }
    }

    pub fn tag(&self) -> String {
        self.consumer.tag().to_string()
    }

    /// The next delivery; fails the test on timeout, cancellation or error.
    pub async fn next(&mut self) -> Delivery {
        match tokio::time::timeout(WAIT, self.rx.recv()).await {
            Ok(Some(Ok(Some(d)))) => d,
            Ok(other) => panic!("expected a delivery, got {other:?}"),
            Err(_) => panic!("no delivery within {WAIT:?}"),
        }
    }

    pub async fn next_n(&mut self, n: usize) -> Vec<Delivery> {
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(self.next().await);
        }
        v
    }

    /// The next raw event (delivery, cancellation or error), without a timeout.
    pub async fn recv_raw(&mut self) -> Option<DeliveryResult> {
        self.rx.recv().await
    }

    /// Assert that nothing arrives for [`QUIET`].
    pub async fn expect_nothing(&mut self) {
        if let Ok(ev) = tokio::time::timeout(QUIET, self.rx.recv()).await {
            panic!("expected no delivery, got {ev:?}");
        }
    }

    /// Wait for the error that ends this consumer (e.g. its channel was closed by the server).
    pub async fn expect_error(&mut self) -> lapin::Error {
        match tokio::time::timeout(WAIT, self.rx.recv()).await {
            Ok(Some(Err(e))) => e,
            Ok(Some(Ok(Some(d)))) => panic!("expected an error, got delivery {d:?}"),
            Ok(Some(Ok(None))) | Ok(None) => panic!("consumer ended without an error"),
            Err(_) => panic!("no error within {WAIT:?}"),
        }
    }

    /// Wait until the consumer is cancelled (lapin reports `Ok(None)`).
    pub async fn expect_cancelled(&mut self) {
        loop {
            match tokio::time::timeout(WAIT, self.rx.recv()).await {
                Ok(Some(Ok(None))) | Ok(None) => return,
                Ok(Some(Ok(Some(d)))) => panic!("expected cancellation, got delivery {d:?}"),
                Ok(Some(Err(_))) => continue,
                Err(_) => panic!("consumer not cancelled within {WAIT:?}"),
            }
        }
    }
}

pub async fn consume(ch: &Channel, queue: &str, tag: &str, opts: BasicConsumeOptions) -> Consumed {
    let consumer = within(
        "basic.consume",
        ch.basic_consume(queue.into(), tag.into(), opts, FieldTable::default()),
    )
    .await
    .unwrap_or_else(|e| panic!("basic.consume {queue}: {e:?}"));
    Consumed::new(consumer)
}

pub fn no_ack() -> BasicConsumeOptions {
    BasicConsumeOptions {
        no_ack: true,
        ..Default::default()
    }
}

pub fn manual_ack() -> BasicConsumeOptions {
    BasicConsumeOptions::default()
}

pub async fn delete_queue(
    ch: &Channel,
    name: &str,
    opts: QueueDeleteOptions,
) -> lapin::Result<u32> {
    within("queue.delete", ch.queue_delete(name.into(), opts)).await
}

/// A round trip on `ch` (passive declare of `amq.direct`), to be sure everything sent
/// before it on that channel was processed. Returns the error if the channel got closed.
pub async fn sync(ch: &Channel) -> lapin::Result<()> {
    within(
        "sync",
        ch.exchange_declare(
            "amq.direct".into(),
            ExchangeKind::Direct,
            ExchangeDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        ),
    )
    .await
}

/// After an error, check the connection still works: a new channel can declare and use a queue.
pub async fn assert_connection_usable(conn: &Connection) {
    assert!(conn.status().connected(), "connection should still be open");
    let ch = open(conn).await;
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
    publish(&ch, "", q.name().as_str(), b"still alive").await;
    sync(&ch).await.expect("sync");
    let m = get(&ch, q.name().as_str(), true).await.expect("message");
    assert_eq!(body(&m.delivery), "still alive");
}

pub fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Headers with every field type RabbitMQ accepts, nested table and array included, with `i`
/// woven into some values. (lapin writes `ShortString` values with tag '_', which RabbitMQ
/// cannot parse, so that type is left out.)
pub fn every_field_type(i: usize) -> FieldTable {
    let mut nested = FieldTable::default();
    nested.insert("inner".into(), AMQPValue::LongString("yes".into()));
    nested.insert("n".into(), AMQPValue::LongLongInt(i as i64));
    let mut array = FieldArray::default();
    array.push(AMQPValue::LongInt(i as i32));
    array.push(AMQPValue::LongString("two".into()));
    array.push(AMQPValue::FieldTable(nested.clone()));
    table(&[
        ("index", AMQPValue::LongLongInt(i as i64)),
        ("str", AMQPValue::LongString(format!("text é {i}").into())),
        ("bool", AMQPValue::Boolean(i & 1 == 0)),
        ("i8", AMQPValue::ShortShortInt(-5)),
        ("u8", AMQPValue::ShortShortUInt(200)),
        ("i16", AMQPValue::ShortInt(-300)),
        ("u16", AMQPValue::ShortUInt(60000)),
        ("i32", AMQPValue::LongInt(-70000)),
        ("u32", AMQPValue::LongUInt(4_000_000_000)),
        ("i64", AMQPValue::LongLongInt(-9_000_000_000)),
        ("f32", AMQPValue::Float(1.5)),
        ("f64", AMQPValue::Double(-2.25)),
        (
            "decimal",
            AMQPValue::DecimalValue(lapin::types::DecimalValue {
                scale: 2,
                value: 12345,
            }),
        ),
        ("timestamp", AMQPValue::Timestamp(1_700_000_000 + i as u64)),
        ("void", AMQPValue::Void),
        ("bytes", AMQPValue::ByteArray(vec![0u8, 1, 2, 255].into())),
        ("array", AMQPValue::FieldArray(array)),
        ("table", AMQPValue::FieldTable(nested)),
    ])
}
