//! `queues`: declare N idle queues with one binding each; declare rate and broker memory per
//! queue; then delete them again.

use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use serde_json::{json, Value};
use tokio::time::Instant;
use warren_codec::types::FieldTable;

use crate::client::{self, Conn, ConnectOptions};
use crate::stats::rss_bytes;
use crate::topology::{pipeline, run_id};
use crate::uri::AmqpUri;

#[derive(Debug, Clone, Args)]
pub struct QueuesArgs {
    #[arg(long, default_value_t = 10_000)]
    pub count: usize,
    /// The broker's process id (its VmRSS is read from /proc/PID/status).
    #[arg(long)]
    pub pid: Option<u32>,
    /// Seconds to wait after declaring before reading the broker's memory.
    #[arg(long, default_value_t = 3.0)]
    pub settle: f64,
    /// Requests in flight on the channel (1 = strict request/reply).
    #[arg(long, default_value_t = 64)]
    pub window: usize,
    /// Durable queues.
    #[arg(long)]
    pub durable: bool,
    /// Leave the queues in place instead of deleting them.
    #[arg(long)]
    pub keep: bool,
}

pub async fn run(a: &QueuesArgs, uri: &AmqpUri) -> Result<Value> {
    let mut c = Conn::connect(uri, ConnectOptions::default()).await?;
    c.open_channel(1).await?;
    let server = c.server.clone();
    let run = run_id();
    let names: Vec<String> = (0..a.count)
        .map(|i| format!("perf-{run}-idle-{i}"))
        .collect();
    let rss_before = a.pid.map(rss_bytes).transpose()?;
    let t0 = Instant::now();
    let methods = names.iter().flat_map(|n| {
        [
            client::queue_declare(n, a.durable),
            client::queue_bind(n, "amq.direct", n, FieldTable::default()),
        ]
    });
    pipeline(&mut c, 1, methods, a.window)
        .await
        .context("declaring queues")?;
    let declare_time = t0.elapsed();
    eprintln!(
        "queues: {} declared and bound in {:.2} s; settling {} s",
        a.count,
        declare_time.as_secs_f64(),
        a.settle
    );
    tokio::time::sleep(Duration::from_secs_f64(a.settle.max(0.0))).await;
    let rss_after = a.pid.map(rss_bytes).transpose()?;
    let mut delete_time = None;
    if !a.keep {
        let t1 = Instant::now();
        pipeline(
            &mut c,
            1,
            names.iter().map(|n| client::queue_delete(n)),
            a.window,
        )
        .await
        .context("deleting queues")?;
        delete_time = Some(t1.elapsed());
    }
    let _ = c.close().await;
    let per_queue = match (rss_before, rss_after) {
        (Some(b), Some(a2)) if a.count > 0 => {
            Some(((a2 as f64 - b as f64) / a.count as f64).round())
        }
        _ => None,
    };
    let declare_rate = (a.count as f64 / declare_time.as_secs_f64().max(1e-9)).round();
    eprintln!(
        "queues: {declare_rate:.0} declares/s{}",
        per_queue
            .map(|p| format!(", {:.2} KiB RSS per queue", p / 1024.0))
            .unwrap_or_default()
    );
    Ok(json!({
        "scenario": "queues",
        "server": server,
        "count": a.count,
        "window": a.window,
        "durable": a.durable,
        "declare_s": declare_time.as_secs_f64(),
        "declare_per_s": declare_rate,
        "delete_per_s": delete_time.map(|d| (a.count as f64 / d.as_secs_f64().max(1e-9)).round()),
        "pid": a.pid,
        "rss_before": rss_before,
        "rss_after": rss_after,
        "rss_per_queue": per_queue,
    }))
}
