//! `--config FILE`: a rabbitmq.conf sets what the broker does, flags override it, keys Warren
//! does not apply are logged, and a bad file stops the broker with the file, line and key.

mod common;

use common::raw::*;
use warren_codec::frame::PROTOCOL_HEADER;

const CONF: &str = "\
# a deployment's rabbitmq.conf
default_user = admin
default_pass = s3cret # trailing comments are comments
default_vhost = prod
default_user_tags.administrator = true
heartbeat = 7
channel_max = 50
frame_max = 8192
auth_mechanisms.1 = PLAIN
cluster_formation.peer_discovery_backend = classic_config
";

fn write_conf(text: &str) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), text).expect("write conf");
    file
}

/// The connection.start and connection.tune a fresh client sees.
async fn greeting(
    target: &Target,
) -> (
    warren_codec::protocol::connection::Start,
    warren_codec::protocol::connection::Tune,
) {
    let mut c = target.connect().await;
    c.send(PROTOCOL_HEADER).await;
    let start = c.expect_start().await;
    c.send_start_ok(&Login::plain("admin", "s3cret")).await;
    let tune = c.expect_tune().await;
    (start, tune)
}

#[tokio::test]
async fn a_rabbitmq_conf_sets_users_vhost_tuning_and_mechanisms() {
    let conf = write_conf(CONF);
    let path = conf.path().to_str().expect("utf-8 path");
    let mut target = Target::start_with(&["--config", path]);
    let (start, tune) = greeting(&target).await;
    assert_eq!(start.mechanisms.to_string(), "PLAIN");
    assert_eq!(
        (tune.heartbeat, tune.channel_max, tune.frame_max),
        (7, 50, 8192)
    );

    // The default user and vhost come from the file; guest does not exist.
    let mut login = Login::plain("admin", "s3cret");
    login.vhost = "prod".into();
    login.frame_max = 8192;
    login.channel_max = 50;
    let mut c = target.open_with(&login).await;
    c.open_channel(1).await;
    c.sync(1).await;
    c.close().await;
    let mut guest = target.connect().await;
    guest.send(PROTOCOL_HEADER).await;
    guest.expect_start().await;
    guest.send_start_ok(&Login::guest()).await;
    guest.expect_connection_close(403, "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile.", 0, 0).await;

    let broker = target.broker.as_mut().expect("own broker");
    assert!(broker.is_running());
    let log = broker.output().join("\n");
    assert!(
        log.contains("configuration key not applied by Warren")
            && log.contains("cluster_formation.peer_discovery_backend"),
        "the unapplied key is not reported: {log}"
    );
}

#[tokio::test]
async fn flags_override_the_file() {
    let conf = write_conf(CONF);
    let path = conf.path().to_str().expect("utf-8 path");
    let target = Target::start_with(&["--config", path, "--heartbeat", "9"]);
    let (_, tune) = greeting(&target).await;
    assert_eq!((tune.heartbeat, tune.channel_max), (9, 50));
}

#[test]
fn a_bad_file_stops_the_broker_naming_file_line_and_key() {
    let conf = write_conf("heartbeat = 5\nhartbeat = 7\n");
    let data = tempfile::tempdir().expect("temp dir");
    let out = warren_testkit::warren_command(env!("CARGO_BIN_EXE_warren"), data.path())
        .arg("--config")
        .arg(conf.path())
        .output()
        .expect("run warren");
    assert!(!out.status.success(), "warren started with a bad config");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected = format!(
        "{}:2: Error preparing configuration: Conf file attempted to set unknown variable: hartbeat",
        conf.path().display()
    );
    assert!(stderr.contains(&expected), "stderr: {stderr}");
}
