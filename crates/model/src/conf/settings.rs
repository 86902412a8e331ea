//! `Settings`: what a `rabbitmq.conf` asks of Warren, typed, every setting optional so the
//! binary can layer it: defaults < config file < environment < flags.

use std::net::IpAddr;
use std::path::PathBuf;

/// The settings a configuration file gives; `None` where the file says nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    /// `listeners.tcp.$name` (sorted by name, numbers numerically); `Some(vec![])` for
    /// `listeners.tcp = none`. Flags: `--bind`, `--amqp-port`.
    pub amqp_listeners: Option<Vec<Listener>>,
    /// `management.tcp.port`. Flag: `--mgmt-port`.
    pub management_port: Option<u16>,
    /// `management.tcp.ip`: the management listener's address.
    pub management_ip: Option<IpAddr>,
    /// `prometheus.tcp.port`.
    pub prometheus_port: Option<u16>,
    /// `prometheus.return_per_object_metrics`: `/metrics` shows every object.
    pub prometheus_per_object: Option<bool>,
    /// `default_user`. Flag: `--default-user`.
    pub default_user: Option<String>,
    /// `default_pass`. Flag: `--default-pass`.
    pub default_pass: Option<String>,
    /// `default_vhost`. Flag: `--default-vhost`.
    pub default_vhost: Option<String>,
    /// `default_user_tags.$tag = true` (sorted): the default user's tags.
    pub default_user_tags: Option<Vec<String>>,
    /// `default_permissions.configure`: a regular expression.
    pub default_permissions_configure: Option<String>,
    /// `default_permissions.read`: a regular expression.
    pub default_permissions_read: Option<String>,
    /// `default_permissions.write`: a regular expression.
    pub default_permissions_write: Option<String>,
    /// `loopback_users.$user = true` (sorted); `Some(vec![])` for `loopback_users = none`.
    pub loopback_users: Option<Vec<String>>,
    /// `auth_mechanisms.$name` (sorted by name, numbers numerically), only those Warren
    /// implements (`PLAIN`, `AMQPLAIN`, `EXTERNAL`); others are listed in `unsupported`.
    pub auth_mechanisms: Option<Vec<String>>,
    /// `load_definitions`. Flag: `--definitions`.
    pub definitions_file: Option<PathBuf>,
    /// `heartbeat`. Flag: `--heartbeat`.
    pub heartbeat_s: Option<u16>,
    /// `frame_max`. Flag: `--frame-max`.
    pub frame_max_bytes: Option<u32>,
    /// `channel_max`. Flag: `--channel-max`.
    pub channel_max: Option<u16>,
    /// `max_message_size` (1 to 512 MiB). Flag: `--max-message-size`.
    pub max_message_size_bytes: Option<u64>,
    /// `handshake_timeout`. Flag: `--handshake-timeout`. (`infinity` is listed in
    /// `unsupported` instead.)
    pub handshake_timeout_ms: Option<u64>,
    /// `consumer_timeout` (at least 1).
    pub consumer_timeout_ms: Option<u64>,
    /// `ssl_handshake_timeout`: how long the TLS handshake of an AMQPS connection may take.
    pub ssl_handshake_timeout_ms: Option<u64>,
    /// `consumer_max_per_channel` (at least 1); `Some(None)` for `infinity`.
    pub consumer_max_per_channel: Option<Option<u32>>,
    /// `connection_max`; `Some(None)` for `infinity`.
    pub connection_max: Option<Option<usize>>,
    /// `vm_memory_high_watermark.relative` or `.absolute` (relative wins when both are set,
    /// as in RabbitMQ). Flag: `--vm-memory-high-watermark`.
    pub vm_memory_high_watermark: Option<MemoryWatermark>,
    /// `disk_free_limit.absolute` or `.relative` (relative wins when both are set, as in
    /// RabbitMQ). Flag: `--disk-free-limit` (bytes).
    pub disk_free_limit: Option<DiskFreeLimit>,
    /// `log.console.level`. Flag: `--log-level` (via [`LogLevel::tracing_filter`]).
    pub log_console_level: Option<LogLevel>,
    /// `listeners.ssl.$name` (sorted by name, numbers numerically): AMQPS listeners;
    /// `Some(vec![])` for `listeners.ssl = none`. Flag: `--amqps-port`.
    pub amqps_listeners: Option<Vec<Listener>>,
    /// `ssl_options.*`: the certificates of the AMQPS listener.
    pub ssl_options: SslOptions,
    /// `ssl_cert_login_from`: which name of a client certificate SASL EXTERNAL logs in as.
    pub ssl_cert_login_from: Option<CertLoginFrom>,
    /// `management.ssl.*`: the management API and UI over HTTPS.
    pub management_ssl: HttpsListener,
    /// `prometheus.ssl.*`: Prometheus metrics over HTTPS.
    pub prometheus_ssl: HttpsListener,
    /// `cluster_formation.*`, unparsed (also listed in `unsupported`).
    pub cluster_formation: Option<Vec<RawSetting>>,
    /// Keys RabbitMQ knows that Warren does not apply, with their line, in file order: the
    /// binary logs a warning for each.
    pub unsupported: Vec<(String, usize)>,
}

impl Settings {
    /// `management.ssl.*` or `prometheus.ssl.*`, by the plugin's name (`management`, else
    /// `prometheus`).
    pub(super) fn https_listener(&mut self, plugin: &str) -> &mut HttpsListener {
        if plugin == "management" {
            &mut self.management_ssl
        } else {
            &mut self.prometheus_ssl
        }
    }
}

/// RabbitMQ's `ssl_options.*` that Warren applies (the others are listed in `unsupported`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SslOptions {
    /// `ssl_options.certfile`: the server's certificate chain (PEM).
    pub certfile: Option<PathBuf>,
    /// `ssl_options.keyfile`: its private key (PEM).
    pub keyfile: Option<PathBuf>,
    /// `ssl_options.cacertfile`: the CA bundle client certificates are checked against.
    pub cacertfile: Option<PathBuf>,
    /// `ssl_options.verify`: `verify_peer` (true) or `verify_none` (false).
    pub verify_peer: Option<bool>,
    /// `ssl_options.fail_if_no_peer_cert`.
    pub fail_if_no_peer_cert: Option<bool>,
    /// `ssl_options.versions.N`: the TLS versions offered (empty: TLS 1.2 and 1.3).
    pub versions: Vec<TlsVersion>,
    /// `ssl_options.ciphers.N`: the cipher suites offered, by their OpenSSL or IANA names,
    /// keyed by N (numbers in numeric order) for the order of preference (empty: all).
    pub ciphers: std::collections::BTreeMap<(u64, String), String>,
    /// `ssl_options.honor_cipher_order`: the server's order of cipher suites wins.
    pub honor_cipher_order: Option<bool>,
}

impl SslOptions {
    /// `ciphers.N` in the order of their N.
    pub fn cipher_names(&self) -> Vec<String> {
        self.ciphers.values().cloned().collect()
    }

    pub(super) fn add_cipher(&mut self, key: &str, name: &str) {
        let order = key.parse::<u64>().unwrap_or(u64::MAX);
        self.ciphers
            .insert((order, key.to_owned()), name.to_owned());
    }
}

/// A TLS version Warren can offer (`tlsv1.2`, `tlsv1.3`; RabbitMQ's older ones cannot be).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersion {
    Tls12,
    Tls13,
}

/// The name of a client certificate SASL EXTERNAL takes as the user name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CertLoginFrom {
    /// The subject's distinguished name, as RabbitMQ formats it (RabbitMQ's default).
    #[default]
    DistinguishedName,
    /// The subject's common name.
    CommonName,
}

/// An HTTPS listener of a plugin (`management.ssl.*`, `prometheus.ssl.*`): its port and
/// address, and the same certificate keys as `ssl_options.*`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpsListener {
    /// `.ssl.port`: set, the listener runs.
    pub port: Option<u16>,
    /// `.ssl.ip`.
    pub ip: Option<IpAddr>,
    pub tls: SslOptions,
}

/// One AMQP listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listener {
    /// `None` for a bare port (`listeners.tcp.default = 5672`): every interface.
    pub ip: Option<IpAddr>,
    pub port: u16,
}

/// RabbitMQ's `vm_memory_high_watermark`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MemoryWatermark {
    /// `.relative`: a fraction of installed RAM.
    FractionOfRam(f64),
    /// `.absolute`.
    Bytes(u64),
}

impl MemoryWatermark {
    pub fn bytes(self, total_ram_bytes: u64) -> u64 {
        match self {
            Self::FractionOfRam(fraction) => (total_ram_bytes as f64 * fraction) as u64,
            Self::Bytes(bytes) => bytes,
        }
    }
}

/// RabbitMQ's `disk_free_limit`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DiskFreeLimit {
    /// `.absolute`.
    Bytes(u64),
    /// `.relative`: a multiple of installed RAM.
    MultipleOfRam(f64),
}

impl DiskFreeLimit {
    pub fn bytes(self, total_ram_bytes: u64) -> u64 {
        match self {
            Self::Bytes(bytes) => bytes,
            Self::MultipleOfRam(multiple) => (total_ram_bytes as f64 * multiple) as u64,
        }
    }
}

/// RabbitMQ's log levels (`log.console.level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Debug,
    Info,
    Notice,
    Warning,
    Error,
    Critical,
    Alert,
    Emergency,
    None,
}

impl LogLevel {
    /// RabbitMQ's spelling of each level, in its order.
    pub const NAMES: [(&'static str, LogLevel); 9] = [
        ("debug", Self::Debug),
        ("info", Self::Info),
        ("notice", Self::Notice),
        ("warning", Self::Warning),
        ("error", Self::Error),
        ("critical", Self::Critical),
        ("alert", Self::Alert),
        ("emergency", Self::Emergency),
        ("none", Self::None),
    ];

    /// The `tracing` filter that shows what this level shows. Warren has no notice level, so
    /// `notice` keeps info messages (never hiding what was asked for); `critical`, `alert`
    /// and `emergency` show errors; `none` turns logging off.
    pub fn tracing_filter(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Info | Self::Notice => "info",
            Self::Warning => "warn",
            Self::Error | Self::Critical | Self::Alert | Self::Emergency => "error",
            Self::None => "off",
        }
    }
}

/// A setting kept as written, for features Warren does not have yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawSetting {
    pub key: String,
    pub value: String,
    pub line: usize,
}
