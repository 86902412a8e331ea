//! Seed inputs for every target, from valid encodings made with the codec, amq-protocol and
//! the store's own encoders. `examples/make_seeds.rs` writes them to `fuzz/seeds/<target>/`.

use amq_protocol::protocol::basic::AMQPProperties;
use amq_protocol::protocol::{basic, channel, confirm, connection, exchange, queue, tx, AMQPClass};
use amq_protocol::types::{AMQPValue, FieldTable, ShortString};
use warren_codec::content::{encode_properties, encode_table, write_content};
use warren_codec::frame::{write_frame, write_heartbeat, FRAME_BODY, FRAME_METHOD};
use warren_codec::method::write_method;
use warren_codec::table::{every_type_table, nested_table};
use warren_store::meta::{self, table_to_text, BindingRecord, MetaRecord};
use warren_store::record::{
    encode_ack, encode_marks, encode_message, MessageParts, FLAG_PERSISTENT, RECORD_PREFIX,
};

use crate::store_image::{self, ImageWriter};

/// One seed: a file name and its bytes.
pub type Seed = (String, Vec<u8>);

fn seed(name: &str, bytes: Vec<u8>) -> Seed {
    (name.to_owned(), bytes)
}

/// Queue arguments RabbitMQ clients send.
pub fn queue_arguments() -> FieldTable {
    let mut t = FieldTable::default();
    t.insert("x-message-ttl".into(), AMQPValue::LongInt(60_000));
    t.insert("x-max-length".into(), AMQPValue::LongInt(10));
    t.insert("x-max-priority".into(), AMQPValue::ShortShortUInt(5));
    t.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString("dlx".into()),
    );
    t.insert(
        "x-overflow".into(),
        AMQPValue::LongString("reject-publish".into()),
    );
    t.insert("x-expires".into(), AMQPValue::LongInt(100_000));
    t
}

fn headers_binding() -> FieldTable {
    let mut t = FieldTable::default();
    t.insert("x-match".into(), AMQPValue::LongString("any".into()));
    t.insert("k".into(), AMQPValue::LongString("v".into()));
    t
}

/// Properties with every field set.
pub fn full_properties() -> AMQPProperties {
    let mut headers = FieldTable::default();
    headers.insert("k".into(), AMQPValue::LongString("v".into()));
    headers.insert("nested".into(), AMQPValue::FieldTable(every_type_table()));
    AMQPProperties::default()
        .with_content_type(ShortString::from("text/plain"))
        .with_content_encoding(ShortString::from("gzip"))
        .with_headers(headers)
        .with_delivery_mode(2)
        .with_priority(5)
        .with_correlation_id(ShortString::from("c-1"))
        .with_reply_to(ShortString::from("amq.rabbitmq.reply-to"))
        .with_expiration(ShortString::from("6000"))
        .with_message_id(ShortString::from("m-1"))
        .with_timestamp(1_700_000_000)
        .with_type(ShortString::from("t"))
        .with_user_id(ShortString::from("guest"))
        .with_app_id(ShortString::from("app"))
        .with_cluster_id(ShortString::from("c"))
}

/// Method payloads (class id onward) for every method a client sends.
pub fn client_methods() -> Vec<(&'static str, AMQPClass)> {
    use AMQPClass as C;
    vec![
        (
            "connection.start_ok",
            C::Connection(connection::AMQPMethod::StartOk(connection::StartOk {
                client_properties: every_type_table(),
                mechanism: "PLAIN".into(),
                response: "\0guest\0guest".into(),
                locale: "en_US".into(),
            })),
        ),
        (
            "connection.tune_ok",
            C::Connection(connection::AMQPMethod::TuneOk(connection::TuneOk {
                channel_max: 2047,
                frame_max: 131_072,
                heartbeat: 60,
            })),
        ),
        (
            "connection.open",
            C::Connection(connection::AMQPMethod::Open(connection::Open {
                virtual_host: "/".into(),
            })),
        ),
        (
            "connection.close",
            C::Connection(connection::AMQPMethod::Close(connection::Close {
                reply_code: 200,
                reply_text: "bye".into(),
                class_id: 0,
                method_id: 0,
            })),
        ),
        (
            "connection.update_secret",
            C::Connection(connection::AMQPMethod::UpdateSecret(
                connection::UpdateSecret {
                    new_secret: "s".into(),
                    reason: "r".into(),
                },
            )),
        ),
        (
            "channel.open",
            C::Channel(channel::AMQPMethod::Open(channel::Open {})),
        ),
        (
            "channel.flow",
            C::Channel(channel::AMQPMethod::Flow(channel::Flow { active: false })),
        ),
        (
            "channel.close",
            C::Channel(channel::AMQPMethod::Close(channel::Close {
                reply_code: 200,
                reply_text: "bye".into(),
                class_id: 0,
                method_id: 0,
            })),
        ),
        (
            "channel.close_ok",
            C::Channel(channel::AMQPMethod::CloseOk(channel::CloseOk {})),
        ),
        (
            "exchange.declare",
            C::Exchange(exchange::AMQPMethod::Declare(exchange::Declare {
                exchange: "x".into(),
                kind: "topic".into(),
                durable: true,
                arguments: {
                    let mut t = FieldTable::default();
                    t.insert(
                        "alternate-exchange".into(),
                        AMQPValue::LongString("ae".into()),
                    );
                    t
                },
                ..Default::default()
            })),
        ),
        (
            "exchange.delete",
            C::Exchange(exchange::AMQPMethod::Delete(exchange::Delete {
                exchange: "x".into(),
                if_unused: true,
                nowait: false,
            })),
        ),
        (
            "exchange.bind",
            C::Exchange(exchange::AMQPMethod::Bind(exchange::Bind {
                destination: "x2".into(),
                source: "x".into(),
                routing_key: "a.#".into(),
                nowait: false,
                arguments: FieldTable::default(),
            })),
        ),
        (
            "exchange.unbind",
            C::Exchange(exchange::AMQPMethod::Unbind(exchange::Unbind {
                destination: "x2".into(),
                source: "x".into(),
                routing_key: "a.#".into(),
                nowait: false,
                arguments: FieldTable::default(),
            })),
        ),
        (
            "queue.declare",
            C::Queue(queue::AMQPMethod::Declare(queue::Declare {
                queue: "q".into(),
                durable: true,
                arguments: queue_arguments(),
                ..Default::default()
            })),
        ),
        (
            "queue.bind",
            C::Queue(queue::AMQPMethod::Bind(queue::Bind {
                queue: "q".into(),
                exchange: "x".into(),
                routing_key: "a.*.c".into(),
                nowait: false,
                arguments: headers_binding(),
            })),
        ),
        (
            "queue.purge",
            C::Queue(queue::AMQPMethod::Purge(queue::Purge {
                queue: "q".into(),
                nowait: false,
            })),
        ),
        (
            "queue.delete",
            C::Queue(queue::AMQPMethod::Delete(queue::Delete {
                queue: "q".into(),
                if_unused: false,
                if_empty: false,
                nowait: false,
            })),
        ),
        (
            "queue.unbind",
            C::Queue(queue::AMQPMethod::Unbind(queue::Unbind {
                queue: "q".into(),
                exchange: "x".into(),
                routing_key: "a.*.c".into(),
                arguments: headers_binding(),
            })),
        ),
        (
            "basic.qos",
            C::Basic(basic::AMQPMethod::Qos(basic::Qos {
                prefetch_count: 10,
                global: false,
            })),
        ),
        (
            "basic.consume",
            C::Basic(basic::AMQPMethod::Consume(basic::Consume {
                queue: "q".into(),
                consumer_tag: "ctag".into(),
                arguments: {
                    let mut t = FieldTable::default();
                    t.insert("x-priority".into(), AMQPValue::LongInt(3));
                    t
                },
                ..Default::default()
            })),
        ),
        (
            "basic.cancel",
            C::Basic(basic::AMQPMethod::Cancel(basic::Cancel {
                consumer_tag: "ctag".into(),
                nowait: false,
            })),
        ),
        (
            "basic.publish",
            C::Basic(basic::AMQPMethod::Publish(basic::Publish {
                exchange: "".into(),
                routing_key: "q".into(),
                mandatory: true,
                immediate: false,
            })),
        ),
        (
            "basic.get",
            C::Basic(basic::AMQPMethod::Get(basic::Get {
                queue: "q".into(),
                no_ack: false,
            })),
        ),
        (
            "basic.ack",
            C::Basic(basic::AMQPMethod::Ack(basic::Ack {
                delivery_tag: 1,
                multiple: true,
            })),
        ),
        (
            "basic.reject",
            C::Basic(basic::AMQPMethod::Reject(basic::Reject {
                delivery_tag: 1,
                requeue: true,
            })),
        ),
        (
            "basic.nack",
            C::Basic(basic::AMQPMethod::Nack(basic::Nack {
                delivery_tag: 0,
                multiple: true,
                requeue: false,
            })),
        ),
        (
            "basic.recover",
            C::Basic(basic::AMQPMethod::Recover(basic::Recover { requeue: true })),
        ),
        (
            "basic.recover_async",
            C::Basic(basic::AMQPMethod::RecoverAsync(basic::RecoverAsync {
                requeue: true,
            })),
        ),
        ("tx.select", C::Tx(tx::AMQPMethod::Select(tx::Select {}))),
        ("tx.commit", C::Tx(tx::AMQPMethod::Commit(tx::Commit {}))),
        (
            "tx.rollback",
            C::Tx(tx::AMQPMethod::Rollback(tx::Rollback {})),
        ),
        (
            "confirm.select",
            C::Confirm(confirm::AMQPMethod::Select(confirm::Select {
                nowait: false,
            })),
        ),
    ]
}

/// A method's payload: the frame without its envelope.
pub fn method_payload(class: &AMQPClass) -> Vec<u8> {
    let mut out = Vec::new();
    write_method(&mut out, 0, class);
    out[7..out.len() - 1].to_vec()
}

fn find(name: &str) -> AMQPClass {
    client_methods()
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, c)| c)
        .unwrap_or_else(|| panic!("no seed method {name}"))
}

/// Frames a client sends after the handshake, as one script; `steps` name methods above,
/// "publish" adds publish + header + body, "heartbeat" a heartbeat.
fn script(channel: u16, steps: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    // Without reply-to, which only a channel consuming from amq.rabbitmq.reply-to may set.
    let props = encode_properties(&full_properties().with_reply_to(ShortString::from("replies")));
    let reply_props = encode_properties(&full_properties());
    for step in steps {
        match *step {
            "publish" => {
                write_method(&mut out, channel, &find("basic.publish"));
                write_content(&mut out, channel, 60, &props, b"hello fuzz", 131_072);
            }
            "consume_replies" => write_method(
                &mut out,
                channel,
                &AMQPClass::Basic(basic::AMQPMethod::Consume(basic::Consume {
                    queue: "amq.rabbitmq.reply-to".into(),
                    no_ack: true,
                    ..Default::default()
                })),
            ),
            "publish_with_reply_to" => {
                write_method(&mut out, channel, &find("basic.publish"));
                write_content(&mut out, channel, 60, &reply_props, b"request", 131_072);
            }
            "publish_big" => {
                write_method(&mut out, channel, &find("basic.publish"));
                write_content(&mut out, channel, 60, &[0x10, 0, 2], &[7u8; 9000], 4096);
            }
            "exchange.declare_x2" => write_method(
                &mut out,
                channel,
                &AMQPClass::Exchange(exchange::AMQPMethod::Declare(exchange::Declare {
                    exchange: "x2".into(),
                    kind: "fanout".into(),
                    ..Default::default()
                })),
            ),
            "heartbeat" => write_heartbeat(&mut out),
            "stray_body" => write_frame(&mut out, FRAME_BODY, channel, b"stray"),
            name => {
                let ch = if name.starts_with("connection.") {
                    0
                } else {
                    channel
                };
                write_method(&mut out, ch, &find(name));
            }
        }
    }
    out
}

pub fn connection() -> Vec<Seed> {
    let scripts: &[(&str, &[&str])] = &[
        (
            "publish_get_ack",
            &[
                "channel.open",
                "queue.declare",
                "publish",
                "basic.get",
                "basic.ack",
                "channel.close",
            ],
        ),
        (
            "consume",
            &[
                "channel.open",
                "queue.declare",
                "basic.qos",
                "basic.consume",
                "publish",
                "basic.ack",
                "basic.cancel",
            ],
        ),
        (
            "confirm",
            &[
                "channel.open",
                "confirm.select",
                "queue.declare",
                "publish",
                "publish_big",
                "heartbeat",
            ],
        ),
        (
            "tx",
            &[
                "channel.open",
                "tx.select",
                "queue.declare",
                "publish",
                "tx.commit",
                "publish",
                "tx.rollback",
            ],
        ),
        (
            "topology",
            &[
                "channel.open",
                "exchange.declare",
                "exchange.declare_x2",
                "queue.declare",
                "queue.bind",
                "exchange.bind",
                "publish",
                "queue.unbind",
                "exchange.unbind",
                "queue.purge",
                "queue.delete",
                "exchange.delete",
            ],
        ),
        (
            "reject_nack",
            &[
                "channel.open",
                "queue.declare",
                "publish",
                "publish",
                "basic.get",
                "basic.reject",
                "basic.get",
                "basic.nack",
                "basic.recover",
            ],
        ),
        (
            "flow_close",
            &[
                "channel.open",
                "channel.flow",
                "channel.close",
                "channel.close_ok",
                "connection.close",
            ],
        ),
        (
            "errors",
            &[
                "basic.ack",
                "stray_body",
                "channel.open",
                "channel.open",
                "heartbeat",
            ],
        ),
        (
            "direct_reply_to",
            &[
                "channel.open",
                "queue.declare",
                "consume_replies",
                "publish_with_reply_to",
                "basic.get",
            ],
        ),
    ];
    scripts
        .iter()
        .map(|(name, steps)| seed(name, script(1, steps)))
        .chain([
            seed("channel_2047", script(2047, &["channel.open", "publish"])),
            // 0xFE, then the tune pick (see the connection target): channel_max 2 with
            // frame_max 4096, then a body bigger than one frame and a channel beyond the max.
            seed("tuned_small", {
                let mut input = vec![0xFE, 0x01];
                input.extend(script(1, &["channel.open", "queue.declare", "publish_big"]));
                input.extend(script(3, &["channel.open"]));
                input
            }),
        ])
        .collect()
}

pub fn method_decode() -> Vec<Seed> {
    client_methods()
        .iter()
        .map(|(name, class)| seed(name, method_payload(class)))
        .collect()
}

pub fn frame_split() -> Vec<Seed> {
    let all = script(
        1,
        &["channel.open", "queue.declare", "publish", "heartbeat"],
    );
    let mut bad_end = all.clone();
    let at = bad_end.len() - 1;
    bad_end[at] = 0;
    let mut method = Vec::new();
    write_frame(
        &mut method,
        FRAME_METHOD,
        3,
        &method_payload(&find("basic.ack")),
    );
    [
        seed("no_limit", [&[0u8][..], &all].concat()),
        seed("frame_max_4096", [&[1u8][..], &all].concat()),
        seed("bad_end", [&[2u8][..], &bad_end].concat()),
        seed("one_method", [&[3u8][..], &method].concat()),
    ]
    .into()
}

pub fn field_table() -> Vec<Seed> {
    vec![
        seed("every_type", encode_table(&every_type_table())),
        seed("queue_arguments", encode_table(&queue_arguments())),
        seed("empty", vec![0, 0, 0, 0]),
        seed("nested_8", nested_table(8)),
        seed(
            "nested_limit",
            nested_table(warren_codec::table::NESTING_DEPTH_MAX),
        ),
        seed(
            "nested_over",
            nested_table(warren_codec::table::NESTING_DEPTH_MAX + 1),
        ),
    ]
}

pub fn content_header() -> Vec<Seed> {
    let header = |props: &[u8]| {
        let mut out = Vec::new();
        write_content(&mut out, 1, 60, props, b"", 131_072);
        out[7..out.len() - 1].to_vec()
    };
    let persistent = AMQPProperties::default().with_delivery_mode(2);
    vec![
        seed("full", header(&encode_properties(&full_properties()))),
        seed("persistent", header(&encode_properties(&persistent))),
        seed("none", header(&[0, 0])),
    ]
}

/// Message records as the store writes them, and their payloads.
fn message_record(msg_id: u64, flags: u8, queues: &[u32], body: &[u8]) -> Vec<u8> {
    let props = encode_properties(&full_properties());
    let mut out = Vec::new();
    encode_message(
        &mut out,
        msg_id,
        flags,
        queues,
        &MessageParts {
            // Persistent records carry their publish time.
            published_at_ms: (flags & 1 != 0).then_some(1_700_000_000_000 + msg_id),
            exchange: b"amq.direct",
            routing_key: b"q",
            properties: &props,
            body,
        },
    );
    out
}

fn journal_records() -> Vec<MetaRecord> {
    vec![
        MetaRecord::vhost("/"),
        MetaRecord::User {
            name: "guest".into(),
            password_hash: warren_broker::auth::password::hash_with_salt([1, 2, 3, 4], b"guest"),
            hashing_algorithm: String::new(),
            tags: vec!["administrator".into()],
        },
        MetaRecord::Permission {
            user: "guest".into(),
            vhost: "/".into(),
            configure: ".*".into(),
            write: ".*".into(),
            read: "^amq\\.".into(),
        },
        MetaRecord::Exchange {
            vhost: "/".into(),
            name: "x".into(),
            kind: "headers".into(),
            auto_delete: false,
            internal: false,
            arguments: table_to_text(&every_type_table()),
        },
        MetaRecord::Queue {
            vhost: "/".into(),
            name: "q1".into(),
            id: 1,
            arguments: table_to_text(&queue_arguments()),
        },
        MetaRecord::Queue {
            vhost: "/".into(),
            name: "q2".into(),
            id: 2,
            arguments: String::new(),
        },
        MetaRecord::Bind(BindingRecord {
            vhost: "/".into(),
            source: "x".into(),
            destination_type: "queue".into(),
            destination: "q1".into(),
            routing_key: "k".into(),
            arguments: table_to_text(&headers_binding()),
        }),
        MetaRecord::DeleteQueue {
            vhost: "/".into(),
            name: "gone".into(),
            id: 3,
        },
    ]
}

pub fn store_record() -> Vec<Seed> {
    let record = message_record(1 << 32 | 8, FLAG_PERSISTENT, &[1, 2], b"body");
    let mut marks = Vec::new();
    encode_marks(&mut marks, &[(1, 5), (2, 9)]);
    let mut journal = Vec::new();
    for r in journal_records() {
        meta::encode(&mut journal, &r);
    }
    let lines: Vec<u8> = journal_records()
        .iter()
        .map(|r| serde_json::to_vec(r).expect("records serialise"))
        .collect::<Vec<_>>()
        .join(&b'\n');
    let mut ack = Vec::new();
    encode_ack(&mut ack, 1 << 32 | 8, 1);
    vec![
        seed("message_raw", [&[0u8][..], &record].concat()),
        seed(
            "message_sealed",
            [&[1u8][..], &record[RECORD_PREFIX..]].concat(),
        ),
        seed(
            "marks_sealed",
            [&[1u8][..], &marks[RECORD_PREFIX..]].concat(),
        ),
        seed("journal_raw", [&[2u8][..], &journal].concat()),
        seed("journal_lines", [&[3u8][..], &lines].concat()),
        seed("ack_raw", [&[4u8][..], &ack].concat()),
        seed("ack_fixed", [&[5u8][..], &ack[..12]].concat()),
    ]
}

pub fn store_recovery() -> Vec<Seed> {
    let journal = |w: &mut ImageWriter| {
        for r in journal_records() {
            w.item(
                store_image::TAG_JOURNAL,
                &serde_json::to_vec(&r).expect("records serialise"),
            );
        }
    };
    let message = |queues: &[u32]| {
        message_record(0, FLAG_PERSISTENT, queues, b"body")[RECORD_PREFIX..].to_vec()
    };
    let mut marks = Vec::new();
    encode_marks(&mut marks, &[(1, 1 << 32 | 8), (2, 0)]);

    let mut full = ImageWriter::default();
    journal(&mut full);
    full.segment(1, store_image::MAGIC_PLAIN)
        .item(store_image::TAG_RECORD, &marks[RECORD_PREFIX..])
        .item(store_image::TAG_MESSAGE_AT, &message(&[1, 2]))
        .item(store_image::TAG_MESSAGE_AT, &message(&[2]))
        .item(store_image::TAG_MESSAGE_AT, &message(&[1]))
        .ack(1 << 32 | 8, 1)
        .segment(2, store_image::MAGIC_COMPACTED)
        .item(store_image::TAG_MESSAGE_AT, &message(&[1, 2]))
        .segment(3, store_image::MAGIC_PLAIN)
        .item(store_image::TAG_MESSAGE_AT, &message(&[2]))
        .item(store_image::TAG_SEGMENT_RAW, &message(&[1])[..20]);

    let mut journal_only = ImageWriter::default();
    journal(&mut journal_only);
    journal_only.item(store_image::TAG_JOURNAL_RAW, b"\x10\0\0\0torn");

    let mut first_boot = ImageWriter::default();
    first_boot
        .segment(7, store_image::MAGIC_PLAIN)
        .item(store_image::TAG_MESSAGE_AT, &message(&[1]));
    vec![
        seed("full", full.out),
        seed("journal_only", journal_only.out),
        seed("first_boot_segment", first_boot.out),
    ]
}

pub fn definitions() -> Vec<Seed> {
    let export = r#"{
  "rabbit_version": "3.12.0",
  "users": [
    {"name": "guest", "password_hash": "F5dEBThOabZ8SQiVH3TrGcr2LIpZBMoUnZFBWzKgcs+Rtpb2",
     "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": "administrator"},
    {"name": "app", "password": "secret", "tags": ["monitoring", "management"]},
    {"name": "nobody", "password": "x"}
  ],
  "vhosts": [{"name": "/"}, {"name": "prod"}],
  "permissions": [
    {"user": "guest", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"},
    {"user": "app", "vhost": "prod", "configure": "^app\\.", "write": "^(app|amq)\\..*$", "read": ""}
  ],
  "queues": [{"name": "q", "vhost": "/", "durable": true, "auto_delete": false, "arguments": {}}],
  "exchanges": [], "bindings": [], "parameters": [], "policies": []
}"#;
    let deep = format!("{}{}", "[".repeat(300), "]".repeat(300));
    let deep_tags = format!(
        r#"{{"users": [{{"name": "d", "password": "p", "tags": {}1{}}}]}}"#,
        "[".repeat(200),
        "]".repeat(200)
    );
    vec![
        seed("export", export.into()),
        seed("empty_object", b"{}".to_vec()),
        seed("bad_pattern", br#"{"permissions": [{"user": "u", "vhost": "/", "configure": "(", "write": "", "read": ""}]}"#.to_vec()),
        seed("deep_array", deep.into_bytes()),
        seed("deep_tags", deep_tags.into_bytes()),
    ]
}

pub fn mgmt_request() -> Vec<Seed> {
    let req = |method: u8, path: &str, body: &str| {
        let mut out = vec![method];
        out.extend_from_slice(path.as_bytes());
        out.push(b'\n');
        out.extend_from_slice(body.as_bytes());
        out
    };
    vec![
        seed("overview", req(0, "overview", "")),
        seed("put_queue", req(1, "queues/%2F/q1", r#"{"durable":true,"arguments":{"x-max-length":10}}"#)),
        seed("put_exchange", req(1, "exchanges/%2F/x1", r#"{"type":"topic","durable":true}"#)),
        seed("bind", req(2, "bindings/%2F/e/x1/q/q1", r#"{"routing_key":"a.#","arguments":{"x-match":"all"}}"#)),
        seed("publish", req(2, "exchanges/%2F/amq.default/publish", r#"{"properties":{"headers":{"h":[1,2.5,{"a":null}]}},"routing_key":"q1","payload":"aGk=","payload_encoding":"base64"}"#)),
        seed("get", req(2, "queues/%2F/q1/get", r#"{"count":5,"ackmode":"ack_requeue_true","encoding":"auto","truncate":3}"#)),
        seed("policy", req(1, "policies/%2F/p1", r#"{"pattern":"^q","definition":{"max-length":5,"ha-mode":"exactly","ha-params":2},"apply-to":"queues","priority":1}"#)),
        seed("user", req(1, "users/bob", r#"{"password":"pw","tags":"monitoring,management"}"#)),
        seed("permissions", req(1, "permissions/%2F/bob", r#"{"configure":"^bob","write":".*","read":"("}"#)),
        seed("definitions", req(2, "definitions", r#"{"users":[{"name":"u","password":"p"}],"queues":[{"name":"dq","vhost":"/","durable":true,"auto_delete":false,"arguments":{}}]}"#)),
        seed("paged", req(0, "queues?page=1&page_size=2&name=q&use_regex=true&sort=message_stats.publish&columns=name,message_stats.publish", "")),
        seed("delete_vhost", req(3, "vhosts/v2", "")),
    ]
}

/// Every target's seeds, by target name.
pub fn all() -> Vec<(&'static str, Vec<Seed>)> {
    vec![
        ("frame_split", frame_split()),
        ("method_decode", method_decode()),
        ("field_table", field_table()),
        ("content_header", content_header()),
        ("connection", connection()),
        ("store_record", store_record()),
        ("store_recovery", store_recovery()),
        ("definitions", definitions()),
        ("mgmt_request", mgmt_request()),
        ("dead_letter", dead_letter()),
    ]
}

/// Headers of messages about to die (after a reason byte and a flags byte): none, a CC list,
/// a history RabbitMQ wrote after two deaths, legacy duplicates, and an x-death that is not
/// an array.
pub fn dead_letter() -> Vec<Seed> {
    let long = |s: &str| AMQPValue::LongString(s.into());
    let death = |queue: &str, reason: &str, count: i64| {
        let mut t = FieldTable::default();
        t.insert(ShortString::from("count"), AMQPValue::LongLongInt(count));
        t.insert(ShortString::from("reason"), long(reason));
        t.insert(ShortString::from("queue"), long(queue));
        t.insert(
            ShortString::from("time"),
            AMQPValue::Timestamp(1_700_000_000),
        );
        t.insert(ShortString::from("exchange"), long("ex.in"));
        t.insert(
            ShortString::from("routing-keys"),
            AMQPValue::FieldArray(vec![long("key.in")].into()),
        );
        AMQPValue::FieldTable(t)
    };
    let with = |reason: u8, flags: u8, entries: &[(&str, AMQPValue)]| {
        let mut t = FieldTable::default();
        for (k, v) in entries {
            t.insert(ShortString::from(*k), v.clone());
        }
        let mut out = vec![reason, flags];
        out.extend(encode_table(&t));
        out
    };
    let history = |items: Vec<AMQPValue>| AMQPValue::FieldArray(items.into());
    vec![
        seed("plain", with(0, 0, &[])),
        seed(
            "cc_expiring",
            with(1, 2, &[("CC", history(vec![long("a"), long("b")]))]),
        ),
        seed(
            "two_deaths",
            with(
                1,
                1,
                &[
                    (
                        "x-death",
                        history(vec![
                            death("q.dead", "expired", 2),
                            death("q.other", "rejected", 1),
                        ]),
                    ),
                    ("x-first-death-queue", long("q.other")),
                ],
            ),
        ),
        seed(
            "duplicates",
            with(
                2,
                0,
                &[(
                    "x-death",
                    history(vec![
                        death("q.dead", "maxlen", 1),
                        death("q.dead", "maxlen", 5),
                        AMQPValue::LongInt(7),
                    ]),
                )],
            ),
        ),
        seed("not_an_array", with(0, 3, &[("x-death", long("x"))])),
    ]
}
