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
    pub data_dir: PathBuf,
    pub default_user: String,
    pub default_pass: String,
    pub default_vhost: String,
    /// Users who may only log in from a loopback address (RabbitMQ's `loopback_users`).
    pub loopback_users: Vec<String>,
    /// RabbitMQ definitions (users, vhosts, permissions) to load at start.
    pub definitions: Option<PathBuf>,
    pub channel_max: u16,
    pub frame_max: u32,
    pub heartbeat_s: u16,
    pub handshake_timeout: Duration,
    /// Size at which the message store starts a new segment file.
    pub segment_size: u64,
    /// Message bytes kept in memory; beyond it new messages live on disk only.
    pub memory_budget: usize,
    /// Publishers are blocked while the data directory's disk has less free space than this.
    pub disk_free_limit: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: IpAddr::from([0, 0, 0, 0]),
            amqp_port: 5672,
            mgmt_port: 15672,
            data_dir: PathBuf::from("./warren-data"),
            default_user: "guest".into(),
            default_pass: "guest".into(),
            default_vhost: "/".into(),
            loopback_users: vec!["guest".into()],
            definitions: None,
            channel_max: 2047,
            frame_max: 131_072,
            heartbeat_s: 60,
            handshake_timeout: Duration::from_secs(10),
            segment_size: 64 << 20,
            memory_budget: default_memory_budget(),
            disk_free_limit: 50_000_000,
        }
    }
}

/// 40% of physical memory (RabbitMQ's default memory high watermark), or 1 GiB if unknown.
pub fn default_memory_budget() -> usize {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024 / 10 * 4)
        })
        .unwrap_or(1 << 30)
}
