//! Broker configuration: one typed struct, passed explicitly. The binary fills it from
//! defaults, environment and flags; tests build it directly.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Config {
    pub bind: IpAddr,
    pub amqp_port: u16,
    pub mgmt_port: u16,
    /// Prometheus metrics port (RabbitMQ's `prometheus.tcp.port`); 0 picks a free port.
    pub prometheus_port: u16,
    /// `/metrics` shows every object, as `/metrics/per-object` does (RabbitMQ's
    /// `prometheus.return_per_object_metrics`).
    pub prometheus_per_object: bool,
    /// How long a manual-ack delivery may stay unacknowledged before its channel is closed
    /// (RabbitMQ's `consumer_timeout`; a queue's `x-consumer-timeout` overrides it).
    pub consumer_timeout_ms: Option<u64>,
    /// Most consumers one channel may have (RabbitMQ's `consumer_max_per_channel`); `None`:
    /// no limit.
    pub consumer_max_per_channel: Option<u32>,
    /// Most client connections at once on each AMQP listener (RabbitMQ's `connection_max`);
    /// `None`: no limit.
    pub connection_max: Option<usize>,
    /// Address of the management listener (RabbitMQ's `management.tcp.ip`); `None`: `bind`.
    pub mgmt_bind: Option<IpAddr>,
    pub data_dir: PathBuf,
    pub default_user: String,
    pub default_pass: String,
    pub default_vhost: String,
    /// Tags of the default user (RabbitMQ's `default_user_tags.*`).
    pub default_user_tags: Vec<String>,
    /// The default user's permissions in the default vhost, configure / write / read
    /// (RabbitMQ's `default_permissions.*`).
    pub default_permissions: [String; 3],
    /// SASL mechanisms offered in connection.start, in the order sent. RabbitMQ sends its
    /// configured list (`auth_mechanisms.*`, default PLAIN, AMQPLAIN) reversed.
    pub auth_mechanisms: Vec<String>,
    /// Which name of a verified client certificate SASL EXTERNAL logs in as
    /// (`ssl_cert_login_from`).
    pub cert_login_from: warren_model::conf::CertLoginFrom,
    /// Users who may only log in from a loopback address (RabbitMQ's `loopback_users`).
    pub loopback_users: Vec<String>,
    /// RabbitMQ definitions (users, vhosts, permissions) to load at start.
    pub definitions: Option<PathBuf>,
    pub channel_max: u16,
    pub frame_max: u32,
    pub heartbeat_s: u16,
    /// A client must complete the opening handshake within this (RabbitMQ's
    /// `handshake_timeout`).
    pub handshake_timeout: Duration,
    /// An AMQPS client must complete the TLS handshake within this, before the AMQP one
    /// (RabbitMQ's `ssl_handshake_timeout`).
    pub ssl_handshake_timeout: Duration,
    /// Largest message body accepted (RabbitMQ's `max_message_size`).
    pub max_message_size_bytes: u64,
    /// Above this resident memory publishers are blocked (RabbitMQ's
    /// `vm_memory_high_watermark`, resolved to bytes).
    pub memory_high_watermark_bytes: u64,
    /// Asks the allocator to hand freed memory back to the system; the resource monitor calls
    /// it when memory use grows or nears the high watermark (the binary owns the allocator).
    pub reclaim_memory: Option<fn()>,
    /// The `product` server property sent in connection.start. Some client test suites run
    /// their RabbitMQ-specific tests only when it says "RabbitMQ".
    pub server_product: String,
    /// Size at which the message store starts a new segment file.
    pub segment_size: u64,
    /// Message bytes kept in memory; beyond it new messages live on disk only.
    pub memory_budget: usize,
    /// Bytes of ready messages each queue keeps in memory; beyond them its new messages
    /// live on disk only (lazy queues keep none).
    pub queue_memory_bytes: u64,
    /// Publishers are blocked while the data directory's disk has less free space than this.
    pub disk_free_limit: u64,
}

impl Default for Config {
    fn default() -> Self {
        let watermark_bytes = memory_high_watermark(MEMORY_HIGH_WATERMARK_DEFAULT);
        Self {
            bind: IpAddr::from(std::net::Ipv6Addr::UNSPECIFIED),
            amqp_port: 5672,
            mgmt_port: 15672,
            prometheus_port: 15692,
            prometheus_per_object: false,
            consumer_timeout_ms: Some(1_800_000),
            consumer_max_per_channel: None,
            connection_max: None,
            mgmt_bind: None,
            data_dir: PathBuf::from("./warren-data"),
            default_user: "guest".into(),
            default_pass: "guest".into(),
            default_vhost: "/".into(),
            default_user_tags: vec!["administrator".into()],
            default_permissions: [".*".into(), ".*".into(), ".*".into()],
            auth_mechanisms: vec!["AMQPLAIN".into(), "PLAIN".into()],
            cert_login_from: Default::default(),
            loopback_users: vec!["guest".into()],
            definitions: None,
            channel_max: 2047,
            frame_max: 131_072,
            heartbeat_s: 60,
            handshake_timeout: Duration::from_secs(10),
            ssl_handshake_timeout: Duration::from_secs(5),
            max_message_size_bytes: MAX_MESSAGE_SIZE_DEFAULT_BYTES,
            memory_high_watermark_bytes: watermark_bytes,
            reclaim_memory: None,
            server_product: "Warren".into(),
            segment_size: 64 << 20,
            memory_budget: default_memory_budget(watermark_bytes),
            queue_memory_bytes: warren_store::QUEUE_MEMORY_BYTES_DEFAULT,
            disk_free_limit: 50_000_000,
        }
    }
}

/// RabbitMQ's default `max_message_size`: 128 MiB.
pub const MAX_MESSAGE_SIZE_DEFAULT_BYTES: u64 = 128 << 20;
/// RabbitMQ refuses a `max_message_size` above 512 MiB.
pub const MAX_MESSAGE_SIZE_LIMIT_BYTES: u64 = 512 << 20;
/// RabbitMQ's default `vm_memory_high_watermark.relative`.
pub const MEMORY_HIGH_WATERMARK_DEFAULT: Watermark = Watermark::Relative(0.4);

/// `vm_memory_high_watermark`: a fraction of physical memory, or an absolute size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Watermark {
    Relative(f64),
    Absolute(u64),
}

impl Watermark {
    /// "0.4" is relative; "2GB", "512MiB" or "1073741824" absolute (RabbitMQ's units).
    pub fn parse(text: &str) -> Option<Self> {
        if text.contains('.') {
            let fraction: f64 = text.trim().parse().ok()?;
            return (fraction > 0.0 && fraction.is_finite()).then_some(Self::Relative(fraction));
        }
        crate::alarm::parse_bytes(text).map(Self::Absolute)
    }
}

/// The watermark in bytes of this machine's memory.
pub fn memory_high_watermark(watermark: Watermark) -> u64 {
    match watermark {
        Watermark::Absolute(bytes) => bytes,
        Watermark::Relative(fraction) => (total_memory_bytes() as f64 * fraction) as u64,
    }
}

/// Physical memory, or 1 GiB if unknown.
pub fn total_memory_bytes() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024)
        })
        .unwrap_or(1 << 30)
}

/// Message bytes kept in memory before new messages are paged to disk: half the high
/// watermark (RabbitMQ's `vm_memory_high_watermark_paging_ratio`), so paging starts well
/// before publishers are blocked.
pub fn default_memory_budget(memory_high_watermark_bytes: u64) -> usize {
    usize::try_from(memory_high_watermark_bytes / 2).unwrap_or(usize::MAX)
}
