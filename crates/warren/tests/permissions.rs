//! Users, vhosts and permissions loaded from a RabbitMQ definitions file, checked with lapin:
//! password hashes exported by RabbitMQ verify, vhost access is enforced at connection.open,
//! and configure/write/read regexes guard each operation with RabbitMQ's 403 texts.

mod common;

use common::{expect_code, expect_error, within};
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use warren_testkit::TestBroker;

const DEFINITIONS: &str = r#"{
  "users": [
    {"name": "alice", "password": "alice-secret", "tags": "management"},
    {"name": "carol", "password_hash": "F5dEBThOabZ8SQiVH3TrGcr2LIpZBMoUnZFBWzKgcs+Rtpb2",
     "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": ["administrator"]}
  ],
  "vhosts": [{"name": "/"}, {"name": "dev"}],
  "permissions": [
    {"user": "alice", "vhost": "/", "configure": "^alice-", "write": "^(alice-.*|amq\\.default)$", "read": "^alice-"},
    {"user": "carol", "vhost": "dev", "configure": ".*", "write": ".*", "read": ".*"},
    {"user": "carol", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}
  ],
  "topic_permissions": [
    {"user": "carol", "vhost": "/", "exchange": "amq.topic", "write": "^{username}\\.", "read": "^news\\."}
  ]
}"#;

fn broker() -> (TestBroker, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("definitions.json");
    std::fs::write(&path, DEFINITIONS).expect("write definitions");
    let path = path.to_string_lossy().into_owned();
    let broker = TestBroker::start_with(env!("CARGO_BIN_EXE_warren"), &["--definitions", &path]);
    (broker, dir)
}

async fn connect(
    broker: &TestBroker,
    user: &str,
    pass: &str,
    vhost: &str,
) -> lapin::Result<Connection> {
    let url = format!("amqp://{user}:{pass}@{}/{vhost}", broker.addr);
    Connection::connect(&url, ConnectionProperties::default()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_exported_hash_logs_in_and_vhost_access_is_enforced() {
    let (broker, _dir) = broker();
    let conn = within(
        "carol connects to dev",
        connect(&broker, "carol", "guest", "dev"),
    )
    .await
    .expect("carol may use vhost dev");
    let ch = conn.create_channel().await.expect("channel");
    ch.queue_declare(
        "anything".into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("full permissions in dev");
    expect_code(
        within("wrong password", connect(&broker, "carol", "nope", "dev")).await,
        403,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configure_write_and_read_patterns_guard_each_operation() {
    let (broker, _dir) = broker();
    let conn = within(
        "alice connects",
        connect(&broker, "alice", "alice-secret", "%2f"),
    )
    .await
    .expect("alice may use /");

    let ch = conn.create_channel().await.expect("channel");
    ch.queue_declare(
        "alice-q".into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("configure allowed on alice-*");

    let ch = conn.create_channel().await.expect("channel");
    expect_error(
        ch.queue_declare(
            "other-q".into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await,
        403,
        "ACCESS_REFUSED - access to queue 'other-q' in vhost '/' refused for user 'alice'",
    );

    // queue.bind needs read on the exchange; alice may only read alice-*.
    let ch = conn.create_channel().await.expect("channel");
    expect_error(
        ch.queue_bind(
            "alice-q".into(),
            "amq.direct".into(),
            "k".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await,
        403,
        "ACCESS_REFUSED - access to exchange 'amq.direct' in vhost '/' refused for user 'alice'",
    );

    // Publishing needs write on the exchange: the default exchange is allowed, amq.fanout not.
    let ch = conn.create_channel().await.expect("channel");
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirms");
    let confirm = ch
        .basic_publish(
            "".into(),
            "alice-q".into(),
            BasicPublishOptions::default(),
            b"hi",
            BasicProperties::default(),
        )
        .await
        .expect("publish");
    within("confirm", confirm)
        .await
        .expect("default exchange write allowed");
    let refused = async {
        ch.basic_publish(
            "amq.fanout".into(),
            "".into(),
            BasicPublishOptions::default(),
            b"x",
            BasicProperties::default(),
        )
        .await?
        .await
    };
    expect_error(
        within("refused publish", refused).await,
        403,
        "ACCESS_REFUSED - access to exchange 'amq.fanout' in vhost '/' refused for user 'alice'",
    );
}

/// Topic permissions (RabbitMQ's topic authorisation): on a topic exchange, a published
/// routing key must match the write pattern and a bound one the read pattern, with
/// `{username}` expanded; other exchanges are not affected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_permissions_guard_routing_keys_on_topic_exchanges() {
    let (broker, _dir) = broker();
    let conn = within("carol connects", connect(&broker, "carol", "guest", "%2f"))
        .await
        .expect("carol may use /");
    let ch = conn.create_channel().await.expect("channel");
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirms");
    for key in ["carol.news", "anything"] {
        let exchange = if key == "anything" {
            "amq.direct"
        } else {
            "amq.topic"
        };
        let confirm = ch
            .basic_publish(
                exchange.into(),
                key.into(),
                BasicPublishOptions::default(),
                b"hi",
                BasicProperties::default(),
            )
            .await
            .expect("publish");
        within("confirm", confirm)
            .await
            .expect("allowed by the write pattern, or not a topic exchange");
    }
    let refused = async {
        ch.basic_publish(
            "amq.topic".into(),
            "bob.news".into(),
            BasicPublishOptions::default(),
            b"x",
            BasicProperties::default(),
        )
        .await?
        .await
    };
    expect_error(
        within("refused publish", refused).await,
        403,
        "ACCESS_REFUSED - access to topic 'bob.news' in exchange 'amq.topic' in vhost '/' refused for user 'carol'",
    );

    let ch = conn.create_channel().await.expect("channel");
    ch.queue_declare(
        "tq".into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("declare");
    ch.queue_bind(
        "tq".into(),
        "amq.topic".into(),
        "news.#".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("allowed by the read pattern");
    expect_error(
        ch.queue_bind(
            "tq".into(),
            "amq.topic".into(),
            "sport.#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await,
        403,
        "ACCESS_REFUSED - access to topic 'sport.#' in exchange 'amq.topic' in vhost '/' refused for user 'carol'",
    );
}
