//! Exchange types and routing, driven through lapin against the real `warren` binary.

mod common;

use common::*;
use lapin::options::{
    ExchangeBindOptions, ExchangeDeclareOptions, ExchangeDeleteOptions, ExchangeUnbindOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, ExchangeKind};

/// Declare `n` fresh queues named after `base`.
async fn queues(env: &Env, ch: &Channel, base: &str, n: usize) -> Vec<String> {
    let mut v = Vec::new();
    for i in 0..n {
        let name = env.name(&format!("{base}{i}"));
        declare(ch, &name).await;
        v.push(name);
    }
    v
}

fn headers(entries: &[(&str, AMQPValue)]) -> BasicProperties {
    BasicProperties::default().with_headers(table(entries))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_exchange_routes_by_exact_key() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = confirm_channel(&conn).await;
    let x = env.name("direct");
    declare_exchange(&ch, &x, ExchangeKind::Direct).await;
    let q = queues(&env, &ch, "dq", 3).await;
    bind(&ch, &q[0], &x, "orange").await;
    bind(&ch, &q[1], &x, "black").await;
    bind(&ch, &q[2], &x, "black").await;
    bind(&ch, &q[2], &x, "green").await;
    // Binding the same key twice is idempotent: still one copy per message.
    bind(&ch, &q[0], &x, "orange").await;

    for key in ["orange", "black", "green", "blue", "Orange", ""] {
        publish(&ch, &x, key, key.as_bytes()).await;
    }
    assert_eq!(drain(&ch, &q[0]).await, ["orange"]);
    assert_eq!(drain(&ch, &q[1]).await, ["black"]);
    assert_eq!(drain(&ch, &q[2]).await, ["black", "green"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_exchange_ignores_routing_key() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = confirm_channel(&conn).await;
    let x = env.name("fanout");
    declare_exchange(&ch, &x, ExchangeKind::Fanout).await;
    let q = queues(&env, &ch, "fq", 3).await;
    bind(&ch, &q[0], &x, "").await;
    bind(&ch, &q[1], &x, "whatever").await;
    bind(&ch, &q[1], &x, "other").await; // two bindings, still one copy

    publish(&ch, &x, "", b"m1").await;
    publish(&ch, &x, "some.key", b"m2").await;
    assert_eq!(drain(&ch, &q[0]).await, ["m1", "m2"]);
    assert_eq!(drain(&ch, &q[1]).await, ["m1", "m2"]);
    assert!(
        drain(&ch, &q[2]).await.is_empty(),
        "unbound queue gets nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_exchange_tutorial_keys() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = confirm_channel(&conn).await;
    let x = env.name("topic");
    declare_exchange(&ch, &x, ExchangeKind::Topic).await;
    let q = queues(&env, &ch, "tq", 2).await;
    bind(&ch, &q[0], &x, "*.orange.*").await;
    bind(&ch, &q[1], &x, "*.*.rabbit").await;
    bind(&ch, &q[1], &x, "lazy.#").await;

    let keys = [
        "quick.orange.rabbit",
        "lazy.orange.elephant",
        "quick.orange.fox",
        "lazy.brown.fox",
        "lazy.pink.rabbit",
        "quick.brown.fox",
        "orange",
        "quick.orange.male.rabbit",
        "lazy.orange.male.rabbit",
        "lazy",
    ];
    for key in keys {
        publish(&ch, &x, key, key.as_bytes()).await;
    }
    assert_eq!(
        drain(&ch, &q[0]).await,
        [
            "quick.orange.rabbit",
            "lazy.orange.elephant",
            "quick.orange.fox"
        ]
    );
    // "lazy.pink.rabbit" matches both bindings of Q2 but is delivered once.
    assert_eq!(
        drain(&ch, &q[1]).await,
        [
            "quick.orange.rabbit",
            "lazy.orange.elephant",
            "lazy.brown.fox",
            "lazy.pink.rabbit",
            "lazy.orange.male.rabbit",
            "lazy",
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_exchange_wildcards_and_empty_words() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = confirm_channel(&conn).await;
    let x = env.name("topic2");
    declare_exchange(&ch, &x, ExchangeKind::Topic).await;

    let patterns = [
        "#", "*", "a.#", "#.a", "a.*", "*.a", "a.#.b", "a.*.b", "a..b", "#.#", "*.#", "", "a",
    ];
    let mut qs = Vec::new();
    for p in patterns {
        let q = env.name("tw");
        declare(&ch, &q).await;
        bind(&ch, &q, &x, p).await;
        qs.push(q);
    }
    let keys = [
        "", "a", "b", "a.b", "b.a", "a.x.b", "a.x.y.b", "a..b", ".", "a.", ".a", "a.a",
    ];
    for key in keys {
        publish(&ch, &x, key, format!("<{key}>").as_bytes()).await;
    }
    let expected: [(&str, &[&str]); 13] = [
        (
            "#",
            &[
                "", "a", "b", "a.b", "b.a", "a.x.b", "a.x.y.b", "a..b", ".", "a.", ".a", "a.a",
            ],
        ),
        // The empty key has no words at all, so `*` (exactly one word) does not match it.
        ("*", &["a", "b"]),
        (
            "a.#",
            &["a", "a.b", "a.x.b", "a.x.y.b", "a..b", "a.", "a.a"],
        ),
        ("#.a", &["a", "b.a", ".a", "a.a"]),
        ("a.*", &["a.b", "a.", "a.a"]),
        ("*.a", &["b.a", ".a", "a.a"]),
        ("a.#.b", &["a.b", "a.x.b", "a.x.y.b", "a..b"]),
        ("a.*.b", &["a.x.b", "a..b"]),
        ("a..b", &["a..b"]),
        (
            "#.#",
            &[
                "", "a", "b", "a.b", "b.a", "a.x.b", "a.x.y.b", "a..b", ".", "a.", ".a", "a.a",
            ],
        ),
        (
            "*.#",
            &[
                "a", "b", "a.b", "b.a", "a.x.b", "a.x.y.b", "a..b", ".", "a.", ".a", "a.a",
            ],
        ),
        ("", &[""]),
        ("a", &["a"]),
    ];
    let mut got = Vec::new();
    for (pattern, q) in patterns.iter().zip(&qs) {
        got.push((pattern.to_string(), drain(&ch, q).await));
    }
    let want: Vec<(String, Vec<String>)> = expected
        .iter()
        .map(|(p, keys)| {
            (
                p.to_string(),
                keys.iter().map(|k| format!("<{k}>")).collect(),
            )
        })
        .collect();
    assert_eq!(got, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_exchange_x_match_modes() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = confirm_channel(&conn).await;
    let x = env.name("headers");
    declare_exchange(&ch, &x, ExchangeKind::Headers).await;

    let bindings: Vec<(&str, FieldTable)> = vec![
        (
            "all",
            table(&[("x-match", s("all")), ("a", s("1")), ("b", s("2"))]),
        ),
        (
            "any",
            table(&[("x-match", s("any")), ("a", s("1")), ("b", s("2"))]),
        ),
        ("default", table(&[("a", s("1")), ("b", s("2"))])),
        (
            "all-x",
            table(&[("x-match", s("all")), ("a", s("1")), ("x-k", s("v"))]),
        ),
        (
            "all-with-x",
            table(&[("x-match", s("all-with-x")), ("a", s("1")), ("x-k", s("v"))]),
        ),
        (
            "any-x",
            table(&[("x-match", s("any")), ("x-k", s("v")), ("c", s("3"))]),
        ),
        (
            "any-with-x",
            table(&[("x-match", s("any-with-x")), ("x-k", s("v")), ("c", s("3"))]),
        ),
        ("empty-all", table(&[("x-match", s("all"))])),
    ];
    let mut qs = Vec::new();
    for (label, args) in &bindings {
        let q = env.name(&format!("h-{label}"));
        declare(&ch, &q).await;
        bind_with(&ch, &q, &x, "ignored-key", args.clone()).await;
        qs.push(q);
    }

    let messages: Vec<(&str, BasicProperties)> = vec![
        ("ab", headers(&[("a", s("1")), ("b", s("2"))])),
        ("a", headers(&[("a", s("1"))])),
        ("a-wrong-b", headers(&[("a", s("1")), ("b", s("3"))])),
        (
            "abz",
            headers(&[("a", s("1")), ("b", s("2")), ("z", s("9"))]),
        ),
        ("a-xk", headers(&[("a", s("1")), ("x-k", s("v"))])),
        ("xk", headers(&[("x-k", s("v"))])),
        ("c", headers(&[("c", s("3"))])),
        ("none", BasicProperties::default()),
    ];
    for (label, props) in messages {
        publish_props(&ch, &x, "some-key", label.as_bytes(), props)
            .await
            .expect("publish");
    }

    let expected: [(&str, &[&str]); 8] = [
        ("all", &["ab", "abz"]),
        ("any", &["ab", "a", "a-wrong-b", "abz", "a-xk"]),
        ("default", &["ab", "abz"]),
        // With plain all/any, x- keys in the binding are ignored for matching.
        ("all-x", &["ab", "a", "a-wrong-b", "abz", "a-xk"]),
        ("all-with-x", &["a-xk"]),
        ("any-x", &["c"]),
        ("any-with-x", &["a-xk", "xk", "c"]),
        (
            "empty-all",
            &["ab", "a", "a-wrong-b", "abz", "a-xk", "xk", "c", "none"],
        ),
    ];
    for ((label, want), q) in expected.iter().zip(&qs) {
        assert_eq!(drain(&ch, q).await, *want, "binding {label}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_exchange_routes_to_queue_by_name() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = env.name("dflt");
    declare(&ch, &q).await;
    publish(&ch, "", &q, b"hello").await;
    publish(&ch, "", &format!("{q}.nope"), b"lost").await;
    let m = get(&ch, &q, true)
        .await
        .expect("message via default exchange");
    assert_eq!(body(&m.delivery), "hello");
    assert_eq!(m.delivery.exchange.as_str(), "");
    assert_eq!(m.delivery.routing_key.as_str(), q);
    assert!(get(&ch, &q, true).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predeclared_amq_exchanges_exist_and_route() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = confirm_channel(&conn).await;
    let kinds = [
        ("amq.direct", ExchangeKind::Direct),
        ("amq.fanout", ExchangeKind::Fanout),
        ("amq.topic", ExchangeKind::Topic),
        ("amq.headers", ExchangeKind::Headers),
        ("amq.match", ExchangeKind::Headers),
    ];
    for (name, kind) in &kinds {
        // Passive declare finds it; an equivalent active declare (durable) is accepted too.
        declare_exchange_with(
            &ch,
            name,
            kind.clone(),
            ExchangeDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await;
        declare_exchange_with(
            &ch,
            name,
            kind.clone(),
            ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await;
    }

    let q = queues(&env, &ch, "amq", 5).await;
    bind(&ch, &q[0], "amq.direct", &q[0]).await;
    bind(&ch, &q[1], "amq.fanout", "").await;
    bind(&ch, &q[2], "amq.topic", "stock.*.nyse").await;
    let hdr = table(&[("x-match", s("any")), ("route", s(&q[3]))]);
    bind_with(&ch, &q[3], "amq.headers", "", hdr).await;
    let hdr = table(&[("x-match", s("all")), ("route", s(&q[4]))]);
    bind_with(&ch, &q[4], "amq.match", "", hdr).await;

    publish(&ch, "amq.direct", &q[0], b"direct").await;
    publish(&ch, "amq.fanout", "anything", b"fanout").await;
    publish(&ch, "amq.topic", "stock.ibm.nyse", b"topic").await;
    publish(&ch, "amq.topic", "stock.ibm.nasdaq", b"topic-miss").await;
    for (i, label) in [(3, "headers"), (4, "match")] {
        let props = headers(&[("route", s(&q[i]))]);
        publish_props(&ch, &format!("amq.{label}"), "", label.as_bytes(), props)
            .await
            .expect("publish");
    }

    assert_eq!(drain(&ch, &q[0]).await, ["direct"]);
    assert_eq!(drain(&ch, &q[1]).await, ["fanout"]);
    assert_eq!(drain(&ch, &q[2]).await, ["topic"]);
    assert_eq!(drain(&ch, &q[3]).await, ["headers"]);
    assert_eq!(drain(&ch, &q[4]).await, ["match"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_to_exchange_bindings() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = confirm_channel(&conn).await;
    let src = env.name("e2e-src");
    let dst = env.name("e2e-dst");
    declare_exchange(&ch, &src, ExchangeKind::Topic).await;
    declare_exchange(&ch, &dst, ExchangeKind::Fanout).await;
    let q = env.name("e2e-q");
    declare(&ch, &q).await;
    bind(&ch, &q, &dst, "").await;

    // lapin's argument order is (destination, source).
    within(
        "exchange.bind",
        ch.exchange_bind(
            dst.as_str().into(),
            src.as_str().into(),
            "audit.#".into(),
            ExchangeBindOptions::default(),
            FieldTable::default(),
        ),
    )
    .await
    .expect("exchange.bind");

    publish(&ch, &src, "audit.login", b"routed").await;
    publish(&ch, &src, "billing.paid", b"filtered").await;
    publish(&ch, &dst, "x", b"direct-to-dst").await;
    assert_eq!(drain(&ch, &q).await, ["routed", "direct-to-dst"]);

    // A cycle src -> dst -> src does not loop or duplicate: q (bound to both) gets one copy.
    within(
        "exchange.bind back",
        ch.exchange_bind(
            src.as_str().into(),
            dst.as_str().into(),
            "".into(),
            ExchangeBindOptions::default(),
            FieldTable::default(),
        ),
    )
    .await
    .expect("exchange.bind cycle");
    bind(&ch, &q, &src, "audit.#").await;
    publish(&ch, &src, "audit.cycle", b"once").await;
    assert_eq!(drain(&ch, &q).await, ["once"]);

    within(
        "exchange.unbind",
        ch.exchange_unbind(
            dst.as_str().into(),
            src.as_str().into(),
            "audit.#".into(),
            ExchangeUnbindOptions::default(),
            FieldTable::default(),
        ),
    )
    .await
    .expect("exchange.unbind");
    within(
        "queue.unbind",
        ch.queue_unbind(
            q.as_str().into(),
            src.as_str().into(),
            "audit.#".into(),
            FieldTable::default(),
        ),
    )
    .await
    .expect("queue.unbind");
    publish(&ch, &src, "audit.after", b"gone").await;
    assert!(drain(&ch, &q).await.is_empty(), "unbound e2e stops routing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alternate_exchange_receives_unroutable_messages() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = confirm_channel(&conn).await;
    let ae = env.name("ae");
    let x = env.name("with-ae");
    declare_exchange(&ch, &ae, ExchangeKind::Fanout).await;
    declare_exchange_with(
        &ch,
        &x,
        ExchangeKind::Direct,
        ExchangeDeclareOptions::default(),
        table(&[("alternate-exchange", s(&ae))]),
    )
    .await;
    let routed = env.name("ae-routed");
    let unrouted = env.name("ae-unrouted");
    declare(&ch, &routed).await;
    declare(&ch, &unrouted).await;
    bind(&ch, &routed, &x, "known").await;
    bind(&ch, &unrouted, &ae, "").await;

    publish(&ch, &x, "known", b"k").await;
    publish(&ch, &x, "unknown", b"u").await;

    // Mandatory: routed through the alternate exchange counts as routed, no basic.return.
    let confirm = within("mandatory publish", async {
        ch.basic_publish(
            x.as_str().into(),
            "other".into(),
            lapin::options::BasicPublishOptions {
                mandatory: true,
                ..Default::default()
            },
            b"m",
            BasicProperties::default(),
        )
        .await?
        .await
    })
    .await
    .expect("confirm");
    assert!(confirm.is_ack());
    assert!(confirm.take_message().is_none(), "no basic.return via AE");

    assert_eq!(drain(&ch, &routed).await, ["k"]);
    let got = drain(&ch, &unrouted).await;
    assert_eq!(got, ["u", "m"]);

    // The message keeps its original exchange and routing key.
    publish(&ch, &x, "again", b"a").await;
    let m = get(&ch, &unrouted, true).await.expect("via AE");
    assert_eq!(m.delivery.exchange.as_str(), x);
    assert_eq!(m.delivery.routing_key.as_str(), "again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_unbind_stops_routing() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = confirm_channel(&conn).await;
    let x = env.name("unbind-x");
    declare_exchange(&ch, &x, ExchangeKind::Direct).await;
    let q = env.name("unbind-q");
    declare(&ch, &q).await;
    bind(&ch, &q, &x, "k1").await;
    bind(&ch, &q, &x, "k2").await;
    publish(&ch, &x, "k1", b"before").await;
    within(
        "queue.unbind",
        ch.queue_unbind(
            q.as_str().into(),
            x.as_str().into(),
            "k1".into(),
            FieldTable::default(),
        ),
    )
    .await
    .expect("unbind");
    // Unbinding again, or a binding that never existed, is fine.
    within(
        "queue.unbind again",
        ch.queue_unbind(
            q.as_str().into(),
            x.as_str().into(),
            "k1".into(),
            FieldTable::default(),
        ),
    )
    .await
    .expect("unbind twice");
    publish(&ch, &x, "k1", b"after").await;
    publish(&ch, &x, "k2", b"k2 still bound").await;
    assert_eq!(drain(&ch, &q).await, ["before", "k2 still bound"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_delete_if_unused() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = open(&conn).await;
    let x = env.name("del-x");
    declare_exchange(&ch, &x, ExchangeKind::Fanout).await;
    let q = env.name("del-q");
    declare(&ch, &q).await;
    bind(&ch, &q, &x, "").await;

    let res = within(
        "exchange.delete if-unused",
        ch.exchange_delete(
            x.as_str().into(),
            ExchangeDeleteOptions {
                if_unused: true,
                ..Default::default()
            },
        ),
    )
    .await;
    expect_error(
        res,
        406,
        &format!("PRECONDITION_FAILED - exchange '{x}' in vhost '/' in use"),
    );

    let ch = open(&conn).await;
    // Still there.
    declare_exchange_with(
        &ch,
        &x,
        ExchangeKind::Fanout,
        ExchangeDeclareOptions {
            passive: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await;
    within(
        "queue.unbind",
        ch.queue_unbind(
            q.as_str().into(),
            x.as_str().into(),
            "".into(),
            FieldTable::default(),
        ),
    )
    .await
    .expect("unbind");
    within(
        "exchange.delete if-unused",
        ch.exchange_delete(
            x.as_str().into(),
            ExchangeDeleteOptions {
                if_unused: true,
                ..Default::default()
            },
        ),
    )
    .await
    .expect("delete unused exchange");
    let res = within(
        "passive exchange.declare",
        ch.exchange_declare(
            x.as_str().into(),
            ExchangeKind::Fanout,
            ExchangeDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        ),
    )
    .await;
    expect_error(
        res,
        404,
        &format!("NOT_FOUND - no exchange '{x}' in vhost '/'"),
    );

    // Deleting a missing exchange succeeds.
    let ch = open(&conn).await;
    within(
        "exchange.delete missing",
        ch.exchange_delete(x.as_str().into(), ExchangeDeleteOptions::default()),
    )
    .await
    .expect("delete missing exchange is ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_delete_removes_its_bindings() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = confirm_channel(&conn).await;
    let x = env.name("delb-x");
    declare_exchange(&ch, &x, ExchangeKind::Fanout).await;
    let q = env.name("delb-q");
    declare(&ch, &q).await;
    bind(&ch, &q, &x, "").await;
    within(
        "exchange.delete",
        ch.exchange_delete(x.as_str().into(), ExchangeDeleteOptions::default()),
    )
    .await
    .expect("delete");
    // Recreated exchange has no bindings.
    declare_exchange(&ch, &x, ExchangeKind::Fanout).await;
    publish(&ch, &x, "", b"nobody").await;
    assert!(drain(&ch, &q).await.is_empty());
}

async fn exchange_exists(conn: &lapin::Connection, name: &str) -> bool {
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
        Ok(()) => {
            let _ = ch.close(200, "ok".into()).await;
            true
        }
        Err(e) => {
            assert_eq!(amqp_error(&e).map(|(c, _)| c), Some(404), "{e:?}");
            false
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_delete_exchange_goes_with_its_last_binding() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = open(&conn).await;
    let auto = ExchangeDeclareOptions {
        auto_delete: true,
        ..Default::default()
    };
    let x = env.name("autodel-x");
    declare_exchange_with(&ch, &x, ExchangeKind::Direct, auto, FieldTable::default()).await;
    // Never bound: stays.
    assert!(exchange_exists(&conn, &x).await);

    let q1 = env.name("autodel-q1");
    let q2 = env.name("autodel-q2");
    declare(&ch, &q1).await;
    declare(&ch, &q2).await;
    bind(&ch, &q1, &x, "a").await;
    bind(&ch, &q2, &x, "b").await;
    within(
        "queue.unbind",
        ch.queue_unbind(
            q1.as_str().into(),
            x.as_str().into(),
            "a".into(),
            FieldTable::default(),
        ),
    )
    .await
    .expect("unbind");
    assert!(exchange_exists(&conn, &x).await, "one binding left");
    // Deleting the queue removes the last binding, and with it the exchange.
    delete_queue(&ch, &q2, QueueDeleteOptions::default())
        .await
        .expect("delete q2");
    assert!(
        !exchange_exists(&conn, &x).await,
        "auto-delete exchange gone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_named_queue_bound_with_empty_key() {
    let env = Env::start();
    let conn = env.connect().await;
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
    let name = q.name().to_string();
    bind(&ch, &name, "amq.direct", &name).await;
    publish(&ch, "amq.direct", &name, b"to generated").await;
    assert_eq!(drain(&ch, &name).await, ["to generated"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_delete_removes_its_bindings() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = confirm_channel(&conn).await;
    let x = env.name("qdel-x");
    declare_exchange(&ch, &x, ExchangeKind::Direct).await;
    let q = env.name("qdel-q");
    declare(&ch, &q).await;
    bind(&ch, &q, &x, "k").await;
    delete_queue(&ch, &q, QueueDeleteOptions::default())
        .await
        .expect("delete");
    // A new queue with the same name does not inherit the old binding.
    declare(&ch, &q).await;
    publish(&ch, &x, "k", b"nobody").await;
    assert!(drain(&ch, &q).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_delete_if_unused_counts_only_outgoing_bindings() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = open(&conn).await;
    let src = env.name("iu-src");
    let dst = env.name("iu-dst");
    declare_exchange(&ch, &src, ExchangeKind::Fanout).await;
    declare_exchange(&ch, &dst, ExchangeKind::Fanout).await;
    within(
        "exchange.bind",
        ch.exchange_bind(
            dst.as_str().into(),
            src.as_str().into(),
            "".into(),
            ExchangeBindOptions::default(),
            FieldTable::default(),
        ),
    )
    .await
    .expect("exchange.bind");
    let if_unused = ExchangeDeleteOptions {
        if_unused: true,
        ..Default::default()
    };
    // The destination has only an incoming binding: it counts as unused.
    within(
        "delete dst",
        ch.exchange_delete(dst.as_str().into(), if_unused),
    )
    .await
    .expect("delete destination if-unused");
    // Its binding went with it, so the source is now unused too.
    within(
        "delete src",
        ch.exchange_delete(src.as_str().into(), if_unused),
    )
    .await
    .expect("delete source if-unused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_exchange_value_types_and_void() {
    let env = Env::start();
    let conn = env.connect().await;
    let ch = confirm_channel(&conn).await;
    let x = env.name("headers-types");
    declare_exchange(&ch, &x, ExchangeKind::Headers).await;
    let int_q = env.name("h-int");
    let void_q = env.name("h-void");
    declare(&ch, &int_q).await;
    declare(&ch, &void_q).await;
    bind_with(
        &ch,
        &int_q,
        &x,
        "",
        table(&[("x-match", s("all")), ("n", AMQPValue::LongInt(1))]),
    )
    .await;
    // A void value in the binding matches on the key's presence only.
    bind_with(
        &ch,
        &void_q,
        &x,
        "",
        table(&[("x-match", s("all")), ("k", AMQPValue::Void)]),
    )
    .await;
    let msgs: Vec<(&str, BasicProperties)> = vec![
        ("int", headers(&[("n", AMQPValue::LongInt(1))])),
        ("long", headers(&[("n", AMQPValue::LongLongInt(1))])),
        ("str", headers(&[("n", s("1"))])),
        ("other", headers(&[("n", AMQPValue::LongInt(2))])),
        ("k-str", headers(&[("k", s("anything"))])),
        ("k-void", headers(&[("k", AMQPValue::Void)])),
    ];
    for (label, props) in msgs {
        publish_props(&ch, &x, "", label.as_bytes(), props)
            .await
            .expect("publish");
    }
    let got = (drain(&ch, &int_q).await, drain(&ch, &void_q).await);
    assert_eq!(
        got,
        (
            vec!["int".to_string(), "long".to_string()],
            vec!["k-str".to_string(), "k-void".to_string()]
        )
    );
}
