//! Runs the built `warrenctl` against a live management API (Warren or RabbitMQ) named by
//! `WARRENCTL_TEST_URL`, e.g.
//! `WARRENCTL_TEST_URL=http://127.0.0.1:15672 cargo test -p warrenctl -- --ignored`.
//! Credentials: `WARRENCTL_TEST_USER` / `WARRENCTL_TEST_PASSWORD` (default guest/guest, an
//! administrator). Every object created is named `ctl-it-<pid>-…` and removed at the end, even
//! when an assertion fails; nothing else on the node is touched.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

fn node_url() -> String {
    match std::env::var("WARRENCTL_TEST_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "WARRENCTL_TEST_URL is not set: these tests need a running management API (Warren or \
             RabbitMQ), e.g. WARRENCTL_TEST_URL=http://127.0.0.1:15672 cargo test -p warrenctl -- --ignored"
        ),
    }
}

fn credentials() -> (String, String) {
    let user = std::env::var("WARRENCTL_TEST_USER").unwrap_or_else(|_| "guest".into());
    let password = std::env::var("WARRENCTL_TEST_PASSWORD").unwrap_or_else(|_| "guest".into());
    (user, password)
}

/// A unique object name for this process and purpose.
fn name(what: &str) -> String {
    format!("ctl-it-{}-{what}", std::process::id())
}

/// One warrenctl run.
struct Run {
    stdout: String,
    stderr: String,
    code: i32,
}

impl Run {
    fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "warrenctl failed\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", self.stdout))
    }
}

fn ctl_at(url: &str, user: &str, password: &str, args: &[&str]) -> Run {
    let output: Output = Command::new(env!("CARGO_BIN_EXE_warrenctl"))
        .env("WARREN_MGMT_URL", url)
        .env("WARREN_USER", user)
        .env("WARREN_PASSWORD", password)
        .args(args)
        .output()
        .expect("run warrenctl");
    Run {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        code: output.status.code().unwrap_or(-1),
    }
}

fn ctl(args: &[&str]) -> Run {
    let (user, password) = credentials();
    ctl_at(&node_url(), &user, &password, args)
}

/// warrenctl runs that undo what a test made, run when the test ends however it ends.
struct Cleanup(Vec<Vec<String>>);

impl Cleanup {
    fn new() -> Self {
        Cleanup(Vec::new())
    }

    fn later(&mut self, args: &[&str]) {
        self.0.push(args.iter().map(|a| a.to_string()).collect());
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for args in self.0.iter().rev() {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            ctl(&args);
        }
    }
}

/// A vhost the test user may use, deleted (with everything in it) at the end.
fn scratch_vhost(cleanup: &mut Cleanup, what: &str) -> String {
    let vhost = name(what);
    let (user, _) = credentials();
    ctl(&["add_vhost", &vhost]).ok();
    cleanup.later(&["delete_vhost", &vhost]);
    ctl(&["set_permissions", "-p", &vhost, &user, ".*", ".*", ".*"]).ok();
    vhost
}

fn write_temp(file_name: &str, contents: &str) -> String {
    let path = std::env::temp_dir().join(format!("{}-{file_name}", name("file")));
    std::fs::write(&path, contents).expect("write temp file");
    path.to_string_lossy().into_owned()
}

/// Queues, an exchange and a binding in `vhost`, created through import_definitions.
fn import_topology(vhost: &str) {
    let definitions = json!({
        "queues": [
            {"name": "ctl-q1", "vhost": vhost, "durable": true, "auto_delete": false,
             "arguments": {"x-max-length": 10}},
            {"name": "ctl q/2", "vhost": vhost, "durable": false, "auto_delete": false,
             "arguments": {}}
        ],
        "exchanges": [
            {"name": "ctl-x", "vhost": vhost, "type": "topic", "durable": true,
             "auto_delete": false, "internal": false, "arguments": {}}
        ],
        "bindings": [
            {"source": "ctl-x", "vhost": vhost, "destination": "ctl-q1",
             "destination_type": "queue", "routing_key": "a.#", "arguments": {"x-n": 1}}
        ]
    });
    let file = write_temp("topology.json", &definitions.to_string());
    let run = ctl(&["import_definitions", &file]).ok();
    let _ = std::fs::remove_file(&file);
    assert_eq!(
        run.lines(),
        [
            format!("Importing definitions in JSON from a file at \"{file}\" ...").as_str(),
            "Successfully started definition import. This process is asynchronous and can take some time."
        ]
    );
}

/// POST /api/exchanges/{vhost}/amq.default/publish, over a raw socket (the test has no HTTP
/// client of its own and warrenctl, like rabbitmqctl, does not publish).
fn publish(vhost: &str, queue: &str, count: usize) {
    let url = node_url();
    let authority = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let (user, password) = credentials();
    let auth = base64_encode(format!("{user}:{password}").as_bytes());
    let body = json!({"properties": {}, "routing_key": queue, "payload": "hello",
                      "payload_encoding": "string"})
    .to_string();
    let path = format!("/api/exchanges/{}/amq.default/publish", encode(vhost));
    for _ in 0..count {
        let mut socket = TcpStream::connect(&authority).expect("connect to the management API");
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {authority}\r\nAuthorization: Basic {auth}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(request.as_bytes()).expect("send publish");
        let mut response = String::new();
        socket
            .read_to_string(&mut response)
            .expect("read publish response");
        assert!(
            response.contains("\"routed\":true"),
            "publish failed: {response}"
        );
    }
}

fn encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Management stats lag behind (RabbitMQ samples every 5 s): ask until `expected` shows.
fn wait_for_queue_row(vhost: &str, expected: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let run = ctl(&["-q", "list_queues", "-p", vhost, "name", "messages_ready"]).ok();
        if run.lines().contains(&expected) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "queue row {expected:?} never showed:\n{}",
            run.stdout
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
#[ignore = "needs WARRENCTL_TEST_URL: a management API (Warren or RabbitMQ)"]
fn users_vhosts_and_permissions() {
    let mut cleanup = Cleanup::new();
    let vhost = name("perm-vhost");
    let user = name("user");

    let run = ctl(&["add_vhost", &vhost]).ok();
    cleanup.later(&["delete_vhost", &vhost]);
    assert_eq!(run.stdout, format!("Adding vhost \"{vhost}\" ...\n"));
    let run = ctl(&["list_vhosts"]).ok();
    assert_eq!(run.lines()[..2], ["Listing vhosts ...", "name"]);
    assert!(run.lines().contains(&vhost.as_str()), "{}", run.stdout);
    let run = ctl(&["-q", "list_vhosts", "name", "tracing"]).ok();
    assert_eq!(
        run.lines()[0],
        "name\ttracing",
        "-q keeps the header row only"
    );
    assert!(
        run.lines().contains(&format!("{vhost}\tfalse").as_str()),
        "{}",
        run.stdout
    );
    let listed = ctl(&["--formatter", "json", "list_vhosts"]).ok().json();
    assert!(listed
        .as_array()
        .expect("array")
        .contains(&json!({"name": vhost})));

    let run = ctl(&["add_user", &user, "s3cret"]).ok();
    cleanup.later(&["delete_user", &user]);
    assert_eq!(run.lines()[0], format!("Adding user \"{user}\" ..."));
    assert_eq!(
        ctl(&["-q", "add_user", &user, "other"]).code,
        70,
        "existing user"
    );
    let run = ctl(&["authenticate_user", &user, "s3cret"]).ok();
    assert_eq!(
        run.stdout,
        format!("Authenticating user \"{user}\" ...\nSuccess\n")
    );
    let run = ctl(&["authenticate_user", &user, "wrong"]);
    assert_eq!(run.code, 65);
    assert!(run.stderr.contains("invalid credentials"), "{}", run.stderr);

    ctl(&["set_user_tags", &user, "monitoring", "management"]).ok();
    let run = ctl(&["-q", "list_users"]).ok();
    assert_eq!(run.lines()[0], "user\ttags");
    assert!(
        run.lines()
            .contains(&format!("{user}\t[monitoring, management]").as_str()),
        "{}",
        run.stdout
    );
    ctl(&["-q", "authenticate_user", &user, "s3cret"]).ok(); // tags kept the password
    let users = ctl(&["--formatter=json", "list_users"]).ok().json();
    assert!(users
        .as_array()
        .expect("array")
        .contains(&json!({"user": user, "tags": ["monitoring", "management"]})));

    ctl(&["change_password", &user, "n3w"]).ok();
    assert_eq!(ctl(&["-q", "authenticate_user", &user, "s3cret"]).code, 65);
    ctl(&["-q", "authenticate_user", &user, "n3w"]).ok();

    let run = ctl(&["set_permissions", "-p", &vhost, &user, "^ctl-.*", ".*", ""]).ok();
    assert_eq!(
        run.stdout,
        format!("Setting permissions for user \"{user}\" in vhost \"{vhost}\" ...\n")
    );
    let run = ctl(&["list_permissions", "-p", &vhost]).ok();
    assert_eq!(
        run.lines()[0],
        format!("Listing permissions for vhost \"{vhost}\" ...")
    );
    assert_eq!(run.lines()[1], "user\tconfigure\twrite\tread");
    assert!(
        run.lines()
            .contains(&format!("{user}\t^ctl-.*\t.*\t").as_str()),
        "{}",
        run.stdout
    );
    let run = ctl(&["-q", "list_user_permissions", &user]).ok();
    assert_eq!(
        run.stdout,
        format!("vhost\tconfigure\twrite\tread\n{vhost}\t^ctl-.*\t.*\t\n")
    );
    let permissions = ctl(&["--formatter", "json", "list_user_permissions", &user])
        .ok()
        .json();
    assert_eq!(
        permissions,
        json!([{"vhost": vhost, "configure": "^ctl-.*", "write": ".*", "read": ""}])
    );
    ctl(&["clear_permissions", "-p", &vhost, &user]).ok();
    let run = ctl(&["list_user_permissions", &user]).ok();
    assert_eq!(
        run.stdout,
        format!("Listing permissions for user \"{user}\" ...\n\n"),
        "an empty whole listing prints one empty line"
    );

    ctl(&["clear_password", &user]).ok();
    assert_eq!(ctl(&["-q", "authenticate_user", &user, "n3w"]).code, 65);

    ctl(&["delete_user", &user]).ok();
    let run = ctl(&["delete_user", &user]);
    assert_eq!(run.code, 67);
    assert_eq!(
        run.stderr,
        format!("Error: User \"{user}\" does not exist\n")
    );

    ctl(&["delete_vhost", &vhost]).ok();
    let run = ctl(&["list_permissions", "-p", &vhost]);
    assert_eq!(run.code, 65);
    assert_eq!(
        run.stderr,
        format!("Virtual host '{vhost}' does not exist\n")
    );
}

#[test]
#[ignore = "needs WARRENCTL_TEST_URL: a management API (Warren or RabbitMQ)"]
fn queue_exchange_and_binding_listings() {
    let mut cleanup = Cleanup::new();
    let vhost = scratch_vhost(&mut cleanup, "queues");
    import_topology(&vhost);

    let run = ctl(&["list_queues", "-p", &vhost, "name", "durable", "arguments"]).ok();
    assert_eq!(
        run.lines()[..3],
        [
            "Timeout: 60.0 seconds ...",
            format!("Listing queues for vhost {vhost} ...").as_str(),
            "name\tdurable\targuments"
        ]
    );
    let mut rows = run.lines()[3..].to_vec();
    rows.sort();
    assert_eq!(
        rows,
        [
            "ctl q/2\tfalse\t[]",
            "ctl-q1\ttrue\t[{\"x-max-length\",10}]"
        ]
    );

    let run = ctl(&["-q", "list_queues", "--vhost", &vhost]).ok();
    assert_eq!(
        run.lines()[0],
        "name\tmessages",
        "default columns, header kept by -q"
    );
    assert_eq!(run.lines().len(), 3);

    let queues = ctl(&[
        "--formatter",
        "json",
        "list_queues",
        "-p",
        &vhost,
        "name",
        "arguments",
    ])
    .ok();
    assert!(queues.stdout.starts_with("[\n{"), "{}", queues.stdout);
    assert!(queues
        .json()
        .as_array()
        .expect("array")
        .contains(&json!({"name": "ctl-q1", "arguments": [["x-max-length", "long", 10]]})));

    let run = ctl(&[
        "-q",
        "list_exchanges",
        "-p",
        &vhost,
        "name",
        "type",
        "durable",
    ])
    .ok();
    assert_eq!(run.lines()[0], "name\ttype\tdurable");
    assert!(
        run.lines().contains(&"ctl-x\ttopic\ttrue"),
        "{}",
        run.stdout
    );

    let run = ctl(&["list_bindings", "-p", &vhost]).ok();
    assert_eq!(
        run.lines()[0],
        format!("Listing bindings for vhost {vhost}...")
    );
    assert_eq!(
        run.lines()[1],
        "source_name\tsource_kind\tdestination_name\tdestination_kind\trouting_key\targuments"
    );
    assert!(
        run.lines()
            .contains(&"ctl-x\texchange\tctl-q1\tqueue\ta.#\t[{\"x-n\",1}]"),
        "{}",
        run.stdout
    );

    let run = ctl(&["list_queues", "-p", &vhost, "name", "bogus"]);
    assert_eq!(run.code, 64);
    assert_eq!(run.stdout, "", "no banner before a validation error");
    assert!(
        run.stderr
            .starts_with("Error (argument validation): Info key(s) bogus are not supported"),
        "{}",
        run.stderr
    );

    publish(&vhost, "ctl-q1", 2);
    wait_for_queue_row(&vhost, "ctl-q1\t2");
    let run = ctl(&["purge_queue", "-p", &vhost, "ctl-q1"]).ok();
    assert_eq!(
        run.stdout,
        format!("Purging queue 'ctl-q1' in vhost '{vhost}' ...\n")
    );
    wait_for_queue_row(&vhost, "ctl-q1\t0");

    let run = ctl(&["delete_queue", "-p", &vhost, "ctl q/2", "--if-empty"]).ok();
    assert_eq!(
        run.stdout,
        format!(
            "Deleting queue 'ctl q/2' on vhost '{vhost}' if queue is empty ...\n\
             Queue was successfully deleted with 0 ready messages\n"
        )
    );
    let run = ctl(&["delete_queue", "-p", &vhost, "ctl q/2"]);
    assert_eq!(run.code, 64);
    assert_eq!(run.stderr, "Error: Queue not found\n");
    let run = ctl(&["purge_queue", "-p", &vhost, "ctl q/2"]);
    assert_eq!(run.code, 69);

    // A missing vhost lists nothing and succeeds, as rabbitmqctl 3.10 does.
    let missing = name("no-such-vhost");
    let run = ctl(&["list_queues", "-p", &missing]).ok();
    assert_eq!(
        run.stdout,
        format!("Timeout: 60.0 seconds ...\nListing queues for vhost {missing} ...\n")
    );
    let run = ctl(&["--formatter", "json", "list_consumers", "-p", &missing]).ok();
    assert_eq!(run.stdout, "[\n]\n");
}

#[test]
#[ignore = "needs WARRENCTL_TEST_URL: a management API (Warren or RabbitMQ)"]
fn connections_channels_and_consumers_list_with_rabbitmqctl_headers() {
    for (verb, header) in [
        ("list_connections", "user\tpeer_host\tpeer_port\tstate"),
        (
            "list_channels",
            "pid\tuser\tconsumer_count\tmessages_unacknowledged",
        ),
    ] {
        let run = ctl(&["-q", verb]).ok();
        // Other clients may or may not be connected: the header shows only with rows.
        if let Some(first) = run.lines().first() {
            assert_eq!(*first, header, "{verb}");
        }
        let json = ctl(&["--formatter", "json", verb]).ok().json();
        assert!(json.is_array(), "{verb}: {json}");
    }
    let run = ctl(&["close_connection", &name("no-such-connection"), "bye"]);
    assert_eq!(run.code, 69);
    assert!(run.stderr.contains("not found"), "{}", run.stderr);
}

#[test]
#[ignore = "needs WARRENCTL_TEST_URL: a management API (Warren or RabbitMQ)"]
fn policies() {
    let mut cleanup = Cleanup::new();
    let vhost = scratch_vhost(&mut cleanup, "policies");
    let policy = name("policy");

    let run = ctl(&[
        "set_policy",
        "-p",
        &vhost,
        "--priority",
        "3",
        "--apply-to",
        "queues",
        &policy,
        "^ctl-",
        r#"{"max-length":7}"#,
    ])
    .ok();
    assert_eq!(
        run.stdout,
        format!(
            "Setting policy \"{policy}\" for pattern \"^ctl-\" to \"{{\"max-length\":7}}\" with priority \"3\" for vhost \"{vhost}\" ...\n"
        )
    );
    let run = ctl(&["list_policies", "-p", &vhost]).ok();
    assert_eq!(
        run.stdout,
        format!(
            "Listing policies for vhost \"{vhost}\" ...\nvhost\tname\tpattern\tapply-to\tdefinition\tpriority\n\
             {vhost}\t{policy}\t^ctl-\tqueues\t{{\"max-length\":7}}\t3\n"
        )
    );
    let listed = ctl(&["--formatter", "json", "list_policies", "-p", &vhost])
        .ok()
        .json();
    assert_eq!(
        listed,
        json!([{"vhost": vhost, "name": policy, "pattern": "^ctl-", "apply-to": "queues",
                "definition": "{\"max-length\":7}", "priority": 3}])
    );

    let run = ctl(&["set_policy", "-p", &vhost, &policy, "^ctl-", "{max"]);
    assert_eq!(run.code, 69);
    assert!(
        run.stderr.starts_with("Error: JSON decoding error."),
        "{}",
        run.stderr
    );
    let run = ctl(&[
        "set_policy",
        "-p",
        &vhost,
        "--apply-to",
        "things",
        &policy,
        "^c",
        "{}",
    ]);
    assert_ne!(
        run.code, 0,
        "the API refuses apply-to things: {}",
        run.stderr
    );

    ctl(&["clear_policy", "-p", &vhost, &policy]).ok();
    let run = ctl(&["-q", "list_policies", "-p", &vhost]).ok();
    assert_eq!(
        run.stdout, "\n",
        "an empty whole listing prints one empty line"
    );
    let run = ctl(&["clear_policy", "-p", &vhost, &policy]);
    assert_eq!(run.code, 69);
    let missing = name("no-such-vhost");
    let run = ctl(&[
        "set_policy",
        "-p",
        &missing,
        &policy,
        "^c",
        "{\"max-length\":1}",
    ]);
    assert_eq!(run.code, 65);
    assert_eq!(
        run.stderr,
        format!("Virtual host '{missing}' does not exist\n")
    );
}

#[test]
#[ignore = "needs WARRENCTL_TEST_URL: a management API (Warren or RabbitMQ)"]
fn definitions_export_import_round_trip() {
    let mut cleanup = Cleanup::new();
    let vhost = scratch_vhost(&mut cleanup, "defs");
    import_topology(&vhost);

    let file = write_temp("export.json", "");
    let run = ctl(&["export_definitions", &file]).ok();
    assert_eq!(
        run.stdout,
        format!("Exporting definitions in JSON to a file at \"{file}\" ...\n")
    );
    let exported: Value = serde_json::from_str(&std::fs::read_to_string(&file).expect("read"))
        .expect("exported file is JSON");
    let _ = std::fs::remove_file(&file);
    let run = ctl(&["export_definitions", "-"]).ok();
    assert!(
        run.stdout.starts_with('{') && !run.stdout.ends_with('\n'),
        "{}",
        run.stdout
    );

    // Re-import only this test's objects, so nothing else on the node is touched.
    let mine = |key: &str| -> Vec<Value> {
        exported[key]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter(|i| i["vhost"] == json!(vhost))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    };
    let queues = mine("queues");
    assert_eq!(queues.len(), 2, "both queues exported: {queues:?}");
    let subset =
        json!({"queues": queues, "exchanges": mine("exchanges"), "bindings": mine("bindings")});

    ctl(&["delete_queue", "-p", &vhost, "ctl-q1"]).ok();
    let run = ctl(&["-q", "list_queues", "-p", &vhost]).ok();
    assert!(!run.stdout.contains("ctl-q1"), "{}", run.stdout);

    let file = write_temp("subset.json", &subset.to_string());
    let run = ctl(&["-q", "import_definitions", &file]).ok();
    let _ = std::fs::remove_file(&file);
    assert_eq!(run.stdout, "", "-q import prints nothing");
    let run = ctl(&["-q", "list_queues", "-p", &vhost, "name", "arguments"]).ok();
    assert!(
        run.lines().contains(&"ctl-q1\t[{\"x-max-length\",10}]"),
        "queue back with its arguments: {}",
        run.stdout
    );
    let run = ctl(&[
        "-q",
        "list_bindings",
        "-p",
        &vhost,
        "source_name",
        "routing_key",
    ])
    .ok();
    assert!(run.lines().contains(&"ctl-x\ta.#"), "{}", run.stdout);

    let run = ctl(&["import_definitions", "/nonexistent/ctl-defs.json"]);
    assert_eq!(run.code, 65);
}

#[test]
#[ignore = "needs WARRENCTL_TEST_URL: a management API (Warren or RabbitMQ)"]
fn errors_have_rabbitmqctls_exit_codes() {
    let unused_port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let down = format!("http://127.0.0.1:{unused_port}");
    let run = ctl_at(&down, "guest", "guest", &["list_queues"]);
    assert_eq!(run.code, 69);
    assert_eq!(
        run.stderr,
        format!("Error: unable to reach the node at {down}: connection refused\n")
    );

    let (user, _) = credentials();
    let run = ctl_at(
        &node_url(),
        &user,
        "definitely-not-the-password",
        &["list_users"],
    );
    assert_eq!(run.code, 69);
    assert!(
        run.stderr
            .starts_with("Error: authentication failed for user"),
        "{}",
        run.stderr
    );

    let missing = name("no-such-vhost");
    let run = ctl(&["delete_vhost", &missing]);
    assert_eq!(run.code, 65);
    assert_eq!(
        run.stderr,
        format!("Virtual host '{missing}' does not exist\n")
    );

    let run = ctl(&["frobnicate"]);
    assert_eq!(run.code, 64);
    assert!(
        run.stderr
            .starts_with("Error: Command 'frobnicate' not found."),
        "{}",
        run.stderr
    );
    let run = ctl(&["add_user", "only-a-name"]);
    assert_eq!(run.code, 64);
    assert!(
        run.stderr.contains("not enough arguments"),
        "{}",
        run.stderr
    );
}

#[test]
#[ignore = "needs WARRENCTL_TEST_URL: a management API (Warren or RabbitMQ)"]
fn status_environment_and_report() {
    let run = ctl(&["status"]).ok();
    assert!(
        run.lines()[0].starts_with("Status of node "),
        "{}",
        run.stdout
    );
    assert_eq!(run.lines()[1], "\u{1b}[1mRuntime\u{1b}[0m");
    assert!(
        run.stdout.contains("\nRabbitMQ version: "),
        "{}",
        run.stdout
    );
    let quiet = ctl(&["-q", "status"]).ok();
    assert_eq!(
        quiet.lines()[0],
        "\u{1b}[1mRuntime\u{1b}[0m",
        "-q drops the banner"
    );
    let status = ctl(&["--formatter", "json", "status"]).ok().json();
    assert!(
        status["totals"]["virtual_host_count"].as_u64().unwrap_or(0) >= 1,
        "{status}"
    );

    let run = ctl(&["environment"]).ok();
    assert!(
        run.lines()[0].starts_with("Application environment of node "),
        "{}",
        run.stdout
    );
    assert!(run.lines()[1].starts_with('['), "{}", run.stdout);

    let run = ctl(&["report"]).ok();
    assert!(
        run.lines()[0].starts_with("Reporting server status of node "),
        "{}",
        run.stdout
    );
    assert!(run
        .stdout
        .contains("\nListing exchanges for vhost / ...\nname\ttype\tdurable"));
}

#[test]
#[ignore = "needs WARRENCTL_TEST_URL: a management API (Warren or RabbitMQ)"]
fn vhost_and_user_limits() {
    let mut cleanup = Cleanup::new();
    let vhost = scratch_vhost(&mut cleanup, "limits");
    let user = name("limits-user");
    ctl(&["add_user", &user, "pw"]).ok();
    cleanup.later(&["delete_user", &user]);

    // Vhost limits: set whole, listed as compact JSON, replaced whole, cleared.
    let run = ctl(&[
        "set_vhost_limits",
        "-p",
        &vhost,
        r#"{"max-connections": 10, "max-queues": 5}"#,
    ])
    .ok();
    assert_eq!(
        run.stdout,
        format!("Setting vhost limits to \"{{\"max-connections\": 10, \"max-queues\": 5}}\" for vhost \"{vhost}\" ...\n")
    );
    let run = ctl(&["list_vhost_limits", "-p", &vhost]).ok();
    assert_eq!(
        run.stdout,
        format!("Listing limits for vhost \"{vhost}\" ...\n{{\"max-connections\":10,\"max-queues\":5}}\n")
    );
    let listed = ctl(&["--formatter", "json", "list_vhost_limits", "-p", &vhost])
        .ok()
        .json();
    assert_eq!(listed["result"], "ok");
    assert_eq!(listed["value"], r#"{"max-connections":10,"max-queues":5}"#);
    let run = ctl(&["-q", "list_vhost_limits", "--global"]).ok();
    assert_eq!(run.lines()[0], "vhost\tlimits");
    assert!(run
        .lines()
        .contains(&format!("{vhost}\t{{\"max-connections\":10,\"max-queues\":5}}").as_str()));
    ctl(&["set_vhost_limits", "-p", &vhost, r#"{"max-queues": 1}"#]).ok();
    let run = ctl(&["-q", "list_vhost_limits", "-p", &vhost]).ok();
    assert_eq!(
        run.stdout, "{\"max-queues\":1}\n",
        "the definition replaces"
    );

    let run = ctl(&["set_vhost_limits", "-p", &vhost, r#"{"max-foo": 1}"#]);
    assert_eq!(run.code, 69);
    assert!(
        run.stderr
            .contains(r#"Unrecognised terms [{<<"max-foo">>,1}] in limits"#),
        "{}",
        run.stderr
    );
    let run = ctl(&["set_vhost_limits", "-p", &vhost, "notjson"]);
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (69, "Error: JSON decoding error. Reason: badarg\n")
    );
    let missing = name("no-such-vhost");
    let run = ctl(&["set_vhost_limits", "-p", &missing, r#"{"max-queues": 1}"#]);
    assert_eq!(
        (run.code, run.stderr),
        (65, format!("Virtual host '{missing}' does not exist\n"))
    );
    let run = ctl(&["list_vhost_limits", "-p", &missing]);
    assert_eq!(run.code, 65);

    let run = ctl(&["clear_vhost_limits", "-p", &vhost]).ok();
    assert_eq!(
        run.stdout,
        format!("Clearing vhost \"{vhost}\" limits ...\n")
    );
    let run = ctl(&["-q", "list_vhost_limits", "-p", &vhost]).ok();
    assert_eq!(run.stdout, "\n", "no limits: an empty line");
    let run = ctl(&["--formatter", "json", "list_vhost_limits", "-p", &vhost]).ok();
    assert_eq!(run.stdout, "[]\n");
    let run = ctl(&["clear_vhost_limits", "-p", &vhost]);
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (69, "Error: Parameter does not exist\n")
    );

    // User limits: set ones merge, one or all cleared.
    let run = ctl(&[
        "set_user_limits",
        &user,
        r#"{"max-connections": 2, "max-channels": 3}"#,
    ])
    .ok();
    assert_eq!(
        run.stdout,
        format!("Setting user limits to \"{{\"max-connections\": 2, \"max-channels\": 3}}\" for user \"{user}\" ...\n")
    );
    ctl(&["set_user_limits", &user, r#"{"max-channels": 5}"#]).ok();
    let run = ctl(&["list_user_limits", "--user", &user]).ok();
    assert_eq!(
        run.stdout,
        format!("Listing limits for user \"{user}\" ...\n{{\"max-channels\":5,\"max-connections\":2}}\n")
    );
    let listed = ctl(&["--formatter", "json", "list_user_limits", "--user", &user])
        .ok()
        .json();
    assert_eq!(
        listed,
        json!({"message": "{\"max-channels\":5,\"max-connections\":2}"})
    );
    let run = ctl(&["-q", "list_user_limits", "--global"]).ok();
    assert_eq!(run.lines()[0], "user\tlimits");
    assert!(run
        .lines()
        .contains(&format!("{user}\t{{\"max-channels\":5,\"max-connections\":2}}").as_str()));

    // A definition is refused whole: nothing of it is set.
    let run = ctl(&[
        "set_user_limits",
        &user,
        r#"{"max-connections": 9, "max-foo": 2}"#,
    ]);
    assert_eq!(run.code, 69);
    assert!(
        run.stderr
            .contains(r#"Unrecognised terms [{<<"max-foo">>,2}] in user-limits"#),
        "{}",
        run.stderr
    );
    let run = ctl(&["-q", "list_user_limits", "--user", &user]).ok();
    assert_eq!(run.stdout, "{\"max-channels\":5,\"max-connections\":2}\n");
    let nobody = name("no-such-user");
    let run = ctl(&["set_user_limits", &nobody, r#"{"max-connections": 2}"#]);
    assert_eq!(
        (run.code, run.stderr),
        (69, format!("Error: {{:no_such_user, \"{nobody}\"}}\n"))
    );
    let run = ctl(&["clear_user_limits", &nobody, "all"]);
    assert_eq!(run.code, 69);

    let run = ctl(&["clear_user_limits", &user, "max-channels"]).ok();
    assert_eq!(
        run.stdout,
        format!("Clearing \"max-channels\" limit for user \"{user}\" ...\n")
    );
    let run = ctl(&["-q", "list_user_limits", "--user", &user]).ok();
    assert_eq!(run.stdout, "{\"max-connections\":2}\n");
    let run = ctl(&["clear_user_limits", &user, "all"]).ok();
    assert_eq!(
        run.stdout,
        format!("Clearing all limits for user \"{user}\" ...\n")
    );
    let run = ctl(&["-q", "list_user_limits", "--user", &user]).ok();
    assert_eq!(run.stdout, "{}\n");
}
