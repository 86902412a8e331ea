//! A production node's rabbitmq.conf (tests/data/rabbitmq.conf, which RabbitMQ 3.10.8 accepts)
//! read by Warren: what it applies, what it reports as not applied, and where a typo in it is
//! found.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use warren_model::conf::{
    load, parse, ConfError, DiskFreeLimit, Listener, LogLevel, MemoryWatermark, Settings,
};

fn deployment_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rabbitmq.conf")
}

fn deployment() -> Settings {
    load(deployment_file()).unwrap_or_else(|e| panic!("{e}"))
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

#[test]
fn listeners_and_ports_are_those_of_the_file() {
    let s = deployment();
    assert_eq!(
        s.amqp_listeners,
        Some(vec![
            Listener {
                ip: None,
                port: 5672
            },
            Listener {
                ip: Some(ip("127.0.0.1")),
                port: 5673
            },
            Listener {
                ip: Some(ip("::1")),
                port: 5673
            },
        ])
    );
    assert_eq!(s.management_port, Some(15672));
    assert_eq!(s.management_ip, Some(ip("0.0.0.0")));
    assert_eq!(s.prometheus_port, Some(15692));
}

#[test]
fn the_default_user_and_its_rights_are_those_of_the_file() {
    let s = deployment();
    assert_eq!(s.default_user.as_deref(), Some("ops"));
    // Quoted because it holds a `#`; the trailing comment is not part of it.
    assert_eq!(s.default_pass.as_deref(), Some("Zq8#rT2!vw"));
    assert_eq!(s.default_vhost.as_deref(), Some("/"));
    assert_eq!(
        s.default_user_tags,
        Some(vec!["administrator".into(), "monitoring".into()])
    );
    assert_eq!(s.default_permissions_configure.as_deref(), Some(".*"));
    assert_eq!(s.default_permissions_read.as_deref(), Some(".*"));
    assert_eq!(s.default_permissions_write.as_deref(), Some(".*"));
    assert_eq!(s.loopback_users, Some(vec!["guest".into()]));
    assert_eq!(
        s.auth_mechanisms,
        Some(vec!["PLAIN".into(), "AMQPLAIN".into()])
    );
    assert_eq!(
        s.definitions_file,
        Some(PathBuf::from("/etc/rabbitmq/definitions.json"))
    );
}

#[test]
fn tuning_and_limits_are_those_of_the_file() {
    let s = deployment();
    assert_eq!(s.heartbeat_s, Some(30));
    assert_eq!(s.frame_max_bytes, Some(131_072));
    assert_eq!(s.channel_max, Some(1024));
    assert_eq!(s.max_message_size_bytes, Some(64 << 20));
    assert_eq!(s.handshake_timeout_ms, Some(15_000));
    assert_eq!(s.consumer_timeout_ms, Some(900_000));
    // .relative wins over the .absolute line that follows it, as in RabbitMQ.
    assert_eq!(
        s.vm_memory_high_watermark,
        Some(MemoryWatermark::FractionOfRam(0.6))
    );
    // The later of two disk_free_limit.absolute lines wins.
    assert_eq!(s.disk_free_limit, Some(DiskFreeLimit::Bytes(5_000_000_000)));
    assert_eq!(s.log_console_level, Some(LogLevel::Warning));
}

#[test]
fn tls_settings_are_read_and_cluster_settings_kept_for_later() {
    let s = deployment();
    assert_eq!(
        s.ssl_options.cacertfile,
        Some(PathBuf::from("/etc/rabbitmq/tls/ca_bundle.pem"))
    );
    assert!(s.ssl_options.certfile.is_some() && s.ssl_options.keyfile.is_some());
    assert_eq!(s.ssl_options.verify_peer, Some(true));
    let amqps = s.amqps_listeners.expect("listeners.ssl read");
    assert_eq!(amqps[0].port, 5671);
    let cluster: Vec<_> = s
        .cluster_formation
        .expect("cluster_formation kept")
        .into_iter()
        .map(|raw| raw.value)
        .collect();
    assert_eq!(
        cluster,
        [
            "classic_config",
            "rabbit@rmq-prod-1",
            "rabbit@rmq-prod-2",
            "rabbit@rmq-prod-3"
        ]
    );
}

#[test]
fn every_setting_warren_does_not_apply_is_reported_with_its_line() {
    let unsupported = deployment().unsupported;
    let expected: &[(&str, usize)] = &[
        ("num_acceptors.tcp", 24),
        ("tcp_listen_options.backlog", 26),
        ("tcp_listen_options.nodelay", 27),
        ("tcp_listen_options.keepalive", 28),
        ("vm_memory_high_watermark_paging_ratio", 63),
        ("cluster_name", 73),
        ("cluster_partition_handling", 74),
        ("cluster_formation.peer_discovery_backend", 75),
        ("cluster_formation.classic_config.nodes.1", 76),
        ("cluster_formation.classic_config.nodes.2", 77),
        ("cluster_formation.classic_config.nodes.3", 78),
        ("queue_master_locator", 79),
        ("management.rates_mode", 86),
        ("collect_statistics_interval", 88),
        ("log.file", 95),
        ("log.file.level", 96),
        ("log.file.rotation.count", 97),
    ];
    let got: Vec<(&str, usize)> = unsupported
        .iter()
        .map(|(key, line)| (key.as_str(), *line))
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn a_typo_in_the_deployment_file_stops_it_at_that_line() {
    let text = std::fs::read_to_string(deployment_file()).unwrap();
    let broken = text.replace("heartbeat   = 30", "heartbeet   = 30");
    let e = parse(&broken, "/etc/rabbitmq/rabbitmq.conf").unwrap_err();
    assert_eq!(
        e.to_string(),
        "/etc/rabbitmq/rabbitmq.conf:52: Error preparing configuration: Conf file attempted to set unknown variable: heartbeet (did you mean heartbeat?)"
    );
    let broken = text.replace(
        "disk_free_limit.absolute = 5GB",
        "disk_free_limit.absolute = 5 GB",
    );
    assert!(matches!(
        parse(&broken, "rabbitmq.conf"),
        Err(ConfError::BadValue { line: 68, .. })
    ));
}
