//! warren-perf: a load generator for AMQP 0-9-1 brokers, in the spirit of RabbitMQ's PerfTest
//! and LavinMQ's lavinmqperf, built to never be the bottleneck.
//!
//! Every subcommand prints one JSON object on stdout and a human summary on stderr.
//!
//! # Layout
//! - [`client`]: handshake and synchronous methods (the control plane).
//! - [`wire`]: pre-encoded publish templates, in-place frame scanning, the time base.
//! - [`producer`] / [`consumer`]: the data plane loops.
//! - [`topology`]: exchange, queues and bindings per run.
//! - [`stats`]: loss/order tracking, latency histograms, /proc readings.
//! - one module per scenario (`soak`: hours of churn with samples).

mod backlog;
mod client;
mod connections;
mod consumer;
mod latency;
mod producer;
mod queues;
mod rawpipe;
mod soak;
mod stats;
mod stream;
mod throughput;
mod topology;
mod uri;
mod wire;

use std::time::Duration;

use anyhow::{anyhow, Result};
use clap::{Parser, Subcommand};
use serde_json::Value;

use crate::uri::AmqpUri;

#[derive(Debug, Parser)]
#[command(
    name = "warren-perf",
    version,
    about = "AMQP 0-9-1 load generator (Warren, RabbitMQ)"
)]
struct Cli {
    /// Broker to test.
    #[arg(
        long,
        global = true,
        env = "WARREN_PERF_URI",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    uri: String,
    /// Abort the whole run after this many seconds (default: generous for the scenario).
    #[arg(long, global = true)]
    timeout: Option<f64>,
    /// Tokio worker threads (default: one per core).
    #[arg(long, global = true)]
    threads: Option<usize>,
    /// Pretty-print the JSON result.
    #[arg(long, global = true)]
    pretty: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Producers → queues → consumers for a fixed time: published/s, consumed/s, confirmed/s,
    /// lost, reordered.
    Throughput(throughput::ThroughputArgs),
    /// End-to-end latency percentiles at a fixed publish rate (1 producer, 1 queue, 1 consumer).
    Latency(latency::LatencyArgs),
    /// N idle connections with one channel each: broker RSS per connection.
    Connections(connections::ConnectionsArgs),
    /// N queues with one binding each: declare rate and broker RSS per queue.
    Queues(queues::QueuesArgs),
    /// Publish M messages with no consumer (peak broker RSS), then drain them (drain rate);
    /// or either half alone, around a broker restart (--keep, then --drain-only).
    Backlog(backlog::BacklogArgs),
    /// The same frames through an in-process relay with no broker: this machine's ceiling.
    Rawpipe(rawpipe::RawpipeArgs),
    /// Connections, channels and queues churned with a steady confirmed stream for a long
    /// time, the broker's RSS, open files and probe latency sampled throughout.
    Soak(soak::SoakArgs),
}

impl Command {
    /// A bound on the whole run, so nothing can hang.
    fn default_timeout(&self) -> f64 {
        match self {
            Command::Throughput(a) => a.duration + a.drain_timeout + 120.0,
            Command::Latency(a) => a.duration + 120.0,
            Command::Connections(a) => a.settle + 120.0 + a.count as f64 / 50.0,
            Command::Queues(a) => a.settle + 120.0 + a.count as f64 / 200.0,
            Command::Backlog(a) => 2.0 * a.phase_timeout + 120.0,
            Command::Rawpipe(a) => a.duration + 60.0,
            Command::Soak(a) => a.duration + 300.0,
        }
    }
}

async fn run(cli: &Cli) -> Result<Value> {
    if let Command::Rawpipe(a) = &cli.command {
        return rawpipe::run(a).await;
    }
    let uri = AmqpUri::parse(&cli.uri)?;
    match &cli.command {
        Command::Throughput(a) => throughput::run(a, &uri).await,
        Command::Latency(a) => latency::run(a, &uri).await,
        Command::Connections(a) => connections::run(a, &uri).await,
        Command::Queues(a) => queues::run(a, &uri).await,
        Command::Backlog(a) => backlog::run(a, &uri).await,
        Command::Soak(a) => soak::run(a, &uri).await,
        Command::Rawpipe(_) => unreachable!(),
    }
}

fn main() {
    let cli = Cli::parse();
    wire::init_clock();
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(n) = cli.threads {
        rt.worker_threads(n.max(1));
    }
    let rt = match rt.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("warren-perf: cannot start the runtime: {e}");
            std::process::exit(2);
        }
    };
    let limit = cli.timeout.unwrap_or_else(|| cli.command.default_timeout());
    let result = rt.block_on(async {
        tokio::time::timeout(Duration::from_secs_f64(limit.max(1.0)), run(&cli))
            .await
            .map_err(|_| anyhow!("timed out after {limit} s"))?
    });
    match result {
        Ok(v) => {
            let text = if cli.pretty {
                serde_json::to_string_pretty(&v)
            } else {
                serde_json::to_string(&v)
            };
            println!("{}", text.unwrap_or_else(|_| "{}".into()));
            // Tasks still winding down (closing sockets) must not hold the exit.
            rt.shutdown_timeout(Duration::from_millis(100));
        }
        Err(e) => {
            eprintln!("warren-perf: {e:#}");
            println!("{}", serde_json::json!({ "error": format!("{e:#}") }));
            rt.shutdown_timeout(Duration::from_millis(100));
            std::process::exit(1);
        }
    }
}
