//! A burst of connections never overshoots a `max-connections` limit: 120 clients send their
//! whole handshake at once (header, start-ok, tune-ok, open pipelined) against a user limit
//! of 10, from definitions; exactly 10 get connection.open-ok while all are held open, the
//! rest RabbitMQ's 530 (the limit comes from a definitions file's `users[].limits`). That the
//! check and the count cannot race is shown deterministically by `warren_broker::admission`'s
//! unit test; a burst here catches a race only sometimes.

mod common;

use common::raw::{Login, RawConn};
use warren_codec::frame::PROTOCOL_HEADER;
use warren_codec::protocol::{connection, AMQPClass};
use warren_testkit::TestBroker;

const DEFINITIONS: &str = r#"{
  "users": [{"name": "burst", "password": "burst-pw", "tags": "", "limits": {"max-connections": 10}}],
  "vhosts": [{"name": "/"}],
  "permissions": [{"user": "burst", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}]
}"#;

const CLIENTS: usize = 120;
const LIMIT: usize = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_connections_never_overshoots_the_users_limit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("definitions.json");
    std::fs::write(&path, DEFINITIONS).expect("write definitions");
    let path = path.to_string_lossy().into_owned();
    let broker = TestBroker::start_with(env!("CARGO_BIN_EXE_warren"), &["--definitions", &path]);
    let login = Login::plain("burst", "burst-pw");
    // Connect everyone first, then send every handshake at once.
    let mut conns = Vec::new();
    for _ in 0..CLIENTS {
        conns.push(RawConn::connect(broker.addr).await);
    }
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|mut c| {
            let login = login.clone();
            tokio::spawn(async move {
                c.send(PROTOCOL_HEADER).await;
                c.send_start_ok(&login).await;
                c.send_tune_ok(&login).await;
                c.send_open("/").await;
                c.expect_start().await;
                c.expect_tune().await;
                let opened = match c.expect_class(0).await {
                    AMQPClass::Connection(connection::AMQPMethod::OpenOk(_)) => true,
                    AMQPClass::Connection(connection::AMQPMethod::Close(close)) => {
                        assert_eq!(close.reply_code, 530, "{close:?}");
                        assert!(
                            close
                                .reply_text
                                .as_str()
                                .contains("user connection limit (10)"),
                            "{close:?}"
                        );
                        false
                    }
                    other => panic!("expected open-ok or close, got {other:?}"),
                };
                (opened, c)
            })
        })
        .collect();
    let mut held = Vec::new();
    let mut opened = 0;
    for t in tasks {
        let (ok, c) = t.await.expect("client task");
        if ok {
            opened += 1;
        }
        held.push(c);
    }
    assert_eq!(opened, LIMIT, "connections opened under a limit of {LIMIT}");
    drop(held);
}
