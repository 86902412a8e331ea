//! What an operator sees from `parse` and `load`: the settings each key gives, RabbitMQ's
//! rules for repeats and multi-valued keys, and every error with its line.

use std::net::IpAddr;
use std::path::PathBuf;

use super::*;

const PATH: &str = "/etc/rabbitmq/rabbitmq.conf";

fn ok(text: &str) -> Settings {
    parse(text, PATH).unwrap_or_else(|e| panic!("{e}"))
}

fn err(text: &str) -> ConfError {
    match parse(text, PATH) {
        Ok(settings) => panic!("accepted: {settings:?}"),
        Err(e) => e,
    }
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

#[test]
fn an_empty_or_comment_only_file_sets_nothing() {
    assert_eq!(ok(""), Settings::default());
    assert_eq!(ok("# nothing\n\n  # here\n"), Settings::default());
}

#[test]
fn scalar_keys_set_their_fields() {
    let s = ok("
default_user = admin
default_pass = s3cret with spaces
default_vhost = production
heartbeat = 30
frame_max = 128KB
channel_max = 512
max_message_size = 16777216
handshake_timeout = 20000
consumer_timeout = 1800000
consumer_max_per_channel = 8
connection_max = 5000
load_definitions = /etc/rabbitmq/definitions.json
management.tcp.port = 15673
management.tcp.ip = 127.0.0.1
prometheus.tcp.port = 15693
log.console.level = warning
default_permissions.configure = ^app-.*
default_permissions.read = .*
default_permissions.write = ^app-.*
");
    assert_eq!(s.default_user.as_deref(), Some("admin"));
    assert_eq!(s.default_pass.as_deref(), Some("s3cret with spaces"));
    assert_eq!(s.default_vhost.as_deref(), Some("production"));
    assert_eq!(s.heartbeat_s, Some(30));
    assert_eq!(s.frame_max_bytes, Some(131_072));
    assert_eq!(s.channel_max, Some(512));
    assert_eq!(s.max_message_size_bytes, Some(16 << 20));
    assert_eq!(s.handshake_timeout_ms, Some(20_000));
    assert_eq!(s.consumer_timeout_ms, Some(1_800_000));
    assert_eq!(s.consumer_max_per_channel, Some(Some(8)));
    assert_eq!(s.connection_max, Some(Some(5000)));
    assert_eq!(
        s.definitions_file,
        Some(PathBuf::from("/etc/rabbitmq/definitions.json"))
    );
    assert_eq!(s.management_port, Some(15673));
    assert_eq!(s.management_ip, Some(ip("127.0.0.1")));
    assert_eq!(s.prometheus_port, Some(15693));
    assert_eq!(s.log_console_level, Some(LogLevel::Warning));
    assert_eq!(
        s.log_console_level.map(LogLevel::tracing_filter),
        Some("warn")
    );
    assert_eq!(s.default_permissions_configure.as_deref(), Some("^app-.*"));
    assert_eq!(s.default_permissions_read.as_deref(), Some(".*"));
    assert_eq!(s.default_permissions_write.as_deref(), Some("^app-.*"));
    assert!(s.unsupported.is_empty(), "{:?}", s.unsupported);
}

#[test]
fn a_repeated_key_keeps_its_last_value() {
    let s = ok("heartbeat = 10\ndefault_user = a\nheartbeat = 20\nheartbeat = 30\n");
    assert_eq!(s.heartbeat_s, Some(30));
    // As in cuttlefish, an overridden line is not even checked.
    assert_eq!(ok("heartbeat = abc\nheartbeat = 5").heartbeat_s, Some(5));
}

#[test]
fn comments_and_spacing_do_not_change_values() {
    let s = ok(
        "  heartbeat=15   # seconds\n\tdefault_user\t=\tbob  \r\ndefault_pass = 'p#ss' # quoted\n",
    );
    assert_eq!(s.heartbeat_s, Some(15));
    assert_eq!(s.default_user.as_deref(), Some("bob"));
    assert_eq!(s.default_pass.as_deref(), Some("p#ss"));
}

#[test]
fn tcp_listeners_take_ports_and_addresses_in_name_order() {
    let s = ok("
listeners.tcp.local_v6 = ::1:5672
listeners.tcp.default = 5672
listeners.tcp.1 = 127.0.0.1:5673
");
    assert_eq!(
        s.amqp_listeners,
        Some(vec![
            Listener {
                ip: Some(ip("127.0.0.1")),
                port: 5673
            },
            Listener {
                ip: None,
                port: 5672
            },
            Listener {
                ip: Some(ip("::1")),
                port: 5672
            },
        ])
    );
}

#[test]
fn listeners_tcp_none_turns_amqp_listeners_off_whatever_else_is_set() {
    let s = ok("listeners.tcp.default = 5672\nlisteners.tcp = none\n");
    assert_eq!(s.amqp_listeners, Some(vec![]));
}

#[test]
fn loopback_users_lists_users_set_true_or_none() {
    let s = ok(
        "loopback_users.guest = false\nloopback_users.monitor = true\nloopback_users.admin = true",
    );
    assert_eq!(
        s.loopback_users,
        Some(vec!["admin".into(), "monitor".into()])
    );
    assert_eq!(
        ok("loopback_users.guest = false").loopback_users,
        Some(vec![])
    );
    assert_eq!(ok("loopback_users = none").loopback_users, Some(vec![]));
    assert_eq!(
        ok("loopback_users = none\nloopback_users.guest = true").loopback_users,
        Some(vec![])
    );
    assert_eq!(ok("heartbeat = 1").loopback_users, None);
}

#[test]
fn default_user_tags_are_the_tags_set_true() {
    let s = ok("default_user_tags.administrator = true\ndefault_user_tags.monitoring = true\ndefault_user_tags.management = false");
    assert_eq!(
        s.default_user_tags,
        Some(vec!["administrator".into(), "monitoring".into()])
    );
}

#[test]
fn auth_mechanisms_keep_numeric_order_and_list_those_warren_lacks() {
    let s = ok(
        "auth_mechanisms.10 = PLAIN\nauth_mechanisms.2 = AMQPLAIN\nauth_mechanisms.3 = RABBIT-CR-DEMO",
    );
    assert_eq!(
        s.auth_mechanisms,
        Some(vec!["AMQPLAIN".into(), "PLAIN".into()])
    );
    assert_eq!(s.unsupported, [("auth_mechanisms.3".to_string(), 3)]);
    // Only mechanisms Warren lacks: none offered, and each one reported.
    assert_eq!(
        ok("auth_mechanisms.1 = RABBIT-CR-DEMO").auth_mechanisms,
        Some(vec![])
    );
    // EXTERNAL is applied (offered over TLS with a client certificate).
    assert_eq!(
        ok("auth_mechanisms.1 = EXTERNAL").auth_mechanisms,
        Some(vec!["EXTERNAL".into()])
    );
}

#[test]
fn memory_watermark_is_relative_or_absolute_with_units() {
    let relative = ok("vm_memory_high_watermark.relative = 0.4").vm_memory_high_watermark;
    assert_eq!(relative, Some(MemoryWatermark::FractionOfRam(0.4)));
    assert_eq!(relative.unwrap().bytes(10_000), 4_000);
    for (text, bytes) in [
        ("2GB", 2_000_000_000),
        ("1024MiB", 1 << 30),
        ("1073741824", 1 << 30),
        ("4G", 4 << 30),
    ] {
        let s = ok(&format!("vm_memory_high_watermark.absolute = {text}"));
        assert_eq!(
            s.vm_memory_high_watermark,
            Some(MemoryWatermark::Bytes(bytes)),
            "{text}"
        );
    }
}

#[test]
fn relative_beats_absolute_whatever_the_order_as_in_rabbitmq() {
    for text in [
        "vm_memory_high_watermark.relative = 0.6\nvm_memory_high_watermark.absolute = 2GB",
        "vm_memory_high_watermark.absolute = 2GB\nvm_memory_high_watermark.relative = 0.6",
    ] {
        assert_eq!(
            ok(text).vm_memory_high_watermark,
            Some(MemoryWatermark::FractionOfRam(0.6))
        );
    }
    let s = ok("disk_free_limit.relative = 1.5\ndisk_free_limit.absolute = 1GB");
    assert_eq!(s.disk_free_limit, Some(DiskFreeLimit::MultipleOfRam(1.5)));
    assert_eq!(s.disk_free_limit.unwrap().bytes(1000), 1500);
}

#[test]
fn disk_free_limit_absolute_takes_units() {
    let s = ok("disk_free_limit.absolute = 50MB");
    assert_eq!(s.disk_free_limit, Some(DiskFreeLimit::Bytes(50_000_000)));
    let s = ok("disk_free_limit.absolute = 2GiB");
    assert_eq!(s.disk_free_limit, Some(DiskFreeLimit::Bytes(2 << 30)));
}

#[test]
fn known_keys_warren_does_not_apply_are_listed_with_their_lines() {
    let s = ok("
queue_master_locator = min-masters
heartbeat = 60
log.file.level = info
handshake_timeout = infinity
log.console = false
log.console = true
mqtt.listeners.tcp.default = 1883
");
    assert_eq!(
        s.unsupported,
        [
            ("queue_master_locator".to_string(), 2),
            ("log.file.level".to_string(), 4),
            ("handshake_timeout".to_string(), 5),
            ("mqtt.listeners.tcp.default".to_string(), 8),
        ]
    );
    assert_eq!(s.handshake_timeout_ms, None);
    assert_eq!(s.heartbeat_s, Some(60));
    // Warren always logs to the console, so only `false` goes unapplied.
    assert_eq!(
        ok("log.console = false").unsupported,
        [("log.console".to_string(), 1)]
    );
}

#[test]
fn tls_settings_are_typed_and_cluster_formation_kept_raw_and_reported() {
    let s = ok("
listeners.ssl.default = 5671
ssl_options.cacertfile = /etc/rabbitmq/ca.pem
ssl_options.verify = verify_peer
cluster_formation.peer_discovery_backend = classic_config
cluster_formation.classic_config.nodes.1 = rabbit@hostname1
ssl_options.certfile = /etc/rabbitmq/server.pem
ssl_options.keyfile = /etc/rabbitmq/server.key
ssl_options.fail_if_no_peer_cert = true
ssl_options.depth = 2
listeners.ssl.other = 127.0.0.1:5681
");
    let raw = |key: &str, value: &str, line| RawSetting {
        key: key.into(),
        value: value.into(),
        line,
    };
    assert_eq!(
        s.amqps_listeners,
        Some(vec![
            Listener {
                ip: None,
                port: 5671
            },
            Listener {
                ip: Some("127.0.0.1".parse().unwrap()),
                port: 5681
            },
        ])
    );
    assert_eq!(
        s.ssl_options,
        SslOptions {
            certfile: Some("/etc/rabbitmq/server.pem".into()),
            keyfile: Some("/etc/rabbitmq/server.key".into()),
            cacertfile: Some("/etc/rabbitmq/ca.pem".into()),
            verify_peer: Some(true),
            fail_if_no_peer_cert: Some(true),
            versions: vec![],
            ciphers: Default::default(),
            honor_cipher_order: None,
        }
    );
    assert_eq!(
        s.cluster_formation,
        Some(vec![
            raw(
                "cluster_formation.peer_discovery_backend",
                "classic_config",
                5
            ),
            raw(
                "cluster_formation.classic_config.nodes.1",
                "rabbit@hostname1",
                6
            ),
        ])
    );
    // Cluster formation and the ssl_options Warren does not apply are reported.
    let lines: Vec<usize> = s.unsupported.iter().map(|(_, line)| *line).collect();
    assert_eq!(lines, [5, 6, 10]);
    assert_eq!(ok("listeners.ssl = none").amqps_listeners, Some(vec![]));
    assert_eq!(
        ok("ssl_options.verify = verify_none")
            .ssl_options
            .verify_peer,
        Some(false)
    );
}

#[test]
fn an_unknown_key_is_an_error_like_rabbitmqs_with_a_suggestion() {
    let e = err("heartbeat = 30\nhartbeat = 10\n");
    assert_eq!(e.line(), Some(2));
    assert_eq!(
        e.to_string(),
        "/etc/rabbitmq/rabbitmq.conf:2: Error preparing configuration: Conf file attempted to set unknown variable: hartbeat (did you mean heartbeat?)"
    );
    let e = err("data_dir = /var/lib/warren");
    assert_eq!(
        e.to_string(),
        "/etc/rabbitmq/rabbitmq.conf:1: Error preparing configuration: Conf file attempted to set unknown variable: data_dir"
    );
    // Typos inside the raw-kept sections are caught too.
    assert!(matches!(
        err("ssl_options.certfil = /x.pem"),
        ConfError::UnknownKey { line: 1, .. }
    ));
}

#[test]
fn bad_values_name_the_key_the_line_and_the_expected_form() {
    let e = err("\nheartbeat = abc");
    assert_eq!(
        e.to_string(),
        "/etc/rabbitmq/rabbitmq.conf:2: Error preparing configuration: Error transforming datatype for: heartbeat: \"abc\" is not an integer number of seconds from 0 to 65535"
    );
    let e = err("vm_memory_high_watermark.relative = 2x");
    assert_eq!(
        e.to_string(),
        "/etc/rabbitmq/rabbitmq.conf:1: Error preparing configuration: Error transforming datatype for: vm_memory_high_watermark.relative: \"2x\" is not a fraction of installed RAM such as 0.4"
    );
}

#[test]
fn every_typed_key_rejects_values_of_the_wrong_form() {
    for (line, expected_fragment) in [
        ("listeners.tcp = all", "none"),
        (
            "listeners.tcp.default = localhost:5672",
            "IP address and port",
        ),
        ("listeners.tcp.default = 65536", "IP address and port"),
        ("management.tcp.port = -1", "port number"),
        ("management.tcp.ip = localhost", "IP address"),
        ("prometheus.tcp.port = 15692x", "port number"),
        ("default_user_tags.administrator = yes", "true or false"),
        ("default_permissions.read = (", "regular expression"),
        ("loopback_users = guest", "none"),
        ("loopback_users.guest = TRUE", "true or false"),
        ("load_definitions = ''", "non-empty text"),
        ("heartbeat = 65536", "seconds from 0 to 65535"),
        ("heartbeat = 1.5", "seconds"),
        ("frame_max = 128K", "KB, MB or GB"),
        ("frame_max = 8GB", "up to 4294967295"),
        ("channel_max = 70000", "from 0 to 65535"),
        ("max_message_size = 0", "from 1 to 536870912"),
        ("max_message_size = 536870913", "from 1 to 536870912"),
        ("max_message_size = 128MB", "from 1 to 536870912"),
        ("handshake_timeout = 10s", "milliseconds, or infinity"),
        ("consumer_timeout = 0", "at least 1"),
        ("consumer_max_per_channel = 0", "at least 1"),
        ("connection_max = -1", "or infinity"),
        ("vm_memory_high_watermark.relative = -0.1", "fraction"),
        ("vm_memory_high_watermark.absolute = 2 GB", "optional unit"),
        ("disk_free_limit.absolute = 50XB", "optional unit"),
        (
            "disk_free_limit.relative = lots",
            "multiple of installed RAM",
        ),
        ("log.console.level = loud", "one of debug, info"),
        ("log.console = off", "true or false"),
    ] {
        let e = err(&format!("# first line\n{line}"));
        let text = e.to_string();
        assert!(
            matches!(e, ConfError::BadValue { line: 2, .. }),
            "{line}: {text}"
        );
        assert!(text.contains(expected_fragment), "{line}: {text}");
    }
}

#[test]
fn syntax_errors_give_the_line_and_what_is_wrong() {
    let e = err("heartbeat = 30\nthis is not a setting\n");
    assert_eq!(
        e.to_string(),
        "/etc/rabbitmq/rabbitmq.conf:2: Syntax error: expected `key = value`, a `# comment` or a blank line"
    );
    assert_eq!(
        err("a = 1\nb =   # nothing\n").to_string(),
        "/etc/rabbitmq/rabbitmq.conf:2: Syntax error: the value is empty (write `key = ''` for an empty text)"
    );
    assert!(matches!(
        err("listeners tcp = 5672"),
        ConfError::Syntax {
            line: 1,
            problem: SyntaxProblem::BadKey,
            ..
        }
    ));
    assert!(matches!(
        err("\ninclude /etc/rabbitmq/conf.d/*.conf"),
        ConfError::Syntax {
            line: 2,
            problem: SyntaxProblem::Include,
            ..
        }
    ));
}

#[test]
fn load_reads_the_file_and_names_it_in_errors() {
    let dir = std::env::temp_dir().join(format!("warren-conf-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.conf");
    std::fs::write(&good, "heartbeat = 25\n").unwrap();
    assert_eq!(load(&good).unwrap().heartbeat_s, Some(25));

    let latin1 = dir.join("latin1.conf");
    std::fs::write(&latin1, b"heartbeat = 25\ndefault_pass = caf\xe9\n").unwrap();
    let e = load(&latin1).unwrap_err();
    assert!(matches!(
        e,
        ConfError::Syntax {
            line: 2,
            problem: SyntaxProblem::NotUtf8,
            ..
        }
    ));
    assert!(e
        .to_string()
        .starts_with(&format!("{}:2: ", latin1.display())));

    let missing = dir.join("missing.conf");
    let e = load(&missing).unwrap_err();
    assert!(matches!(e, ConfError::Read { .. }));
    assert!(e.to_string().starts_with(&format!(
        "cannot read configuration file {}: ",
        missing.display()
    )));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn no_input_makes_the_parser_panic() {
    // Every string of up to four characters from an alphabet of the grammar's edges.
    let alphabet = ['a', '.', '=', '#', '\'', ' ', '\n', '\\', '1', '$'];
    let mut texts = vec![String::new()];
    for _ in 0..4 {
        let longer: Vec<String> = texts
            .iter()
            .flat_map(|t| alphabet.iter().map(move |c| format!("{t}{c}")))
            .collect();
        for text in &longer {
            let _ = parse(text, PATH);
            let _ = parse(&format!("heartbeat{text}"), PATH);
        }
        texts = longer;
    }
}

#[test]
fn management_and_prometheus_https_listeners_take_the_same_certificate_keys() {
    let s = ok("
management.ssl.port = 15671
management.ssl.certfile = /etc/rabbitmq/m.pem
management.ssl.keyfile = /etc/rabbitmq/m.key
management.ssl.verify = verify_none
management.ssl.versions.1 = tlsv1.3
prometheus.ssl.port = 15691
prometheus.ssl.ip = 127.0.0.1
prometheus.ssl.certfile = /etc/rabbitmq/p.pem
prometheus.ssl.keyfile = /etc/rabbitmq/p.key
");
    assert_eq!(s.management_ssl.port, Some(15671));
    assert_eq!(
        s.management_ssl.tls.certfile,
        Some(PathBuf::from("/etc/rabbitmq/m.pem"))
    );
    assert_eq!(s.management_ssl.tls.verify_peer, Some(false));
    assert_eq!(s.prometheus_ssl.port, Some(15691));
    assert_eq!(s.prometheus_ssl.ip, Some("127.0.0.1".parse().unwrap()));
    assert_eq!(
        s.prometheus_ssl.tls.keyfile,
        Some(PathBuf::from("/etc/rabbitmq/p.key"))
    );
    assert_eq!(s.management_ssl.tls.versions, [TlsVersion::Tls13]);
    assert!(s.unsupported.is_empty(), "{:?}", s.unsupported);
    // RabbitMQ's older versions are accepted and reported: rustls cannot offer them.
    let s = ok("ssl_options.versions.1 = tlsv1.2\nssl_options.versions.2 = tlsv1.1");
    assert_eq!(s.ssl_options.versions, [TlsVersion::Tls12]);
    assert_eq!(s.unsupported, [("ssl_options.versions.2".to_string(), 2)]);
}

#[test]
fn ciphers_keep_the_order_of_their_numbers_and_cipher_order_and_timeout_apply() {
    let s = ok("
ssl_options.ciphers.10 = ECDHE-RSA-AES128-GCM-SHA256
ssl_options.ciphers.2 = ECDHE-RSA-AES256-GCM-SHA384
ssl_options.ciphers.1 = TLS_AES_256_GCM_SHA384
ssl_options.honor_cipher_order = true
management.ssl.ciphers.1 = ECDHE-ECDSA-AES256-GCM-SHA384
ssl_handshake_timeout = 7000
");
    assert_eq!(
        s.ssl_options.cipher_names(),
        [
            "TLS_AES_256_GCM_SHA384",
            "ECDHE-RSA-AES256-GCM-SHA384",
            "ECDHE-RSA-AES128-GCM-SHA256"
        ]
    );
    assert_eq!(s.ssl_options.honor_cipher_order, Some(true));
    assert_eq!(
        s.management_ssl.tls.cipher_names(),
        ["ECDHE-ECDSA-AES256-GCM-SHA384"]
    );
    assert_eq!(s.ssl_handshake_timeout_ms, Some(7000));
    assert!(s.unsupported.is_empty(), "{:?}", s.unsupported);
}
