//! `throughput`: N producers → Q queues (through the chosen exchange) → M consumers for a fixed
//! time; rates over the measured window, then a drain and the loss/order check.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::client::{basic_consume, Conn, ConnectOptions};
use crate::consumer::{self, ConsumerConfig, ConsumerCore};
use crate::producer::{self, ProducerPlan, ProducerResult, ProducerShared, Target};
use crate::stats::{Histogram, LatencyUs, Track};
use crate::topology::{assign, cleanup, ExchangeKind, Topology};
use crate::uri::AmqpUri;
use crate::wire::BODY_HEADER;

#[derive(Debug, Clone, Args)]
pub struct ThroughputArgs {
    #[arg(long, default_value_t = 1)]
    pub producers: usize,
    #[arg(long, default_value_t = 1)]
    pub consumers: usize,
    #[arg(long, default_value_t = 1)]
    pub queues: usize,
    /// Message body size in bytes (at least 16: sequence number and timestamp).
    #[arg(long, default_value_t = 16)]
    pub size: usize,
    /// Seconds of publishing that are measured.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Persistent messages (delivery_mode 2) into durable queues and exchange.
    #[arg(long)]
    pub persistent: bool,
    /// Publisher confirms with at most WINDOW unconfirmed messages per producer.
    #[arg(long, value_name = "WINDOW")]
    pub confirm: Option<u64>,
    /// Consume with no_ack (automatic acknowledgement).
    #[arg(long, conflicts_with = "prefetch")]
    pub autoack: bool,
    /// Manual acks with this prefetch (basic.qos); acks are sent with multiple=true.
    #[arg(long)]
    pub prefetch: Option<u16>,
    /// Send an ack (multiple=true) once this many deliveries are unacknowledged
    /// (default: half the prefetch).
    #[arg(long)]
    pub ack_every: Option<u64>,
    #[arg(long, value_enum, default_value_t = ExchangeKind::Direct)]
    pub exchange: ExchangeKind,
    /// Total bindings on the exchange (one matching per queue, the rest never match).
    #[arg(long, default_value_t = 0)]
    pub bindings: usize,
    /// Total publish rate limit in msgs/s across producers (0 = unlimited).
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// Producers flush their write buffer at this many bytes.
    #[arg(long, default_value_t = 128 * 1024)]
    pub batch_bytes: usize,
    /// Longest wait for the queues to drain after publishing stops, in seconds.
    #[arg(long, default_value_t = 30.0)]
    pub drain_timeout: f64,
    /// An x-argument for every queue, KEY=VALUE (integers go as integers): e.g.
    /// `x-max-priority=10`, `x-max-length=1000`. Repeatable.
    #[arg(long = "queue-arg", value_name = "KEY=VALUE", value_parser = parse_queue_arg)]
    pub queue_args: Vec<(String, String)>,
    /// Producer i publishes with priority i % N (N levels of a priority queue).
    #[arg(long, value_name = "N")]
    pub priorities: Option<u8>,
    /// Publish into a TTL stage in front of each queue (message TTL in ms, dead-lettered into
    /// the queue the consumers read): every message expires once. Default exchange only.
    #[arg(long, value_name = "MS")]
    pub ttl_stage: Option<u64>,
}

fn parse_queue_arg(s: &str) -> std::result::Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("expected KEY=VALUE, got {s:?}"))?;
    Ok((k.to_owned(), v.to_owned()))
}

/// The queue arguments as a field table.
fn queue_args_table(args: &[(String, String)]) -> warren_codec::types::FieldTable {
    use warren_codec::types::{AMQPValue, FieldTable, LongString};
    let mut t = FieldTable::default();
    for (k, v) in args {
        let value = match v.parse::<i64>() {
            Ok(n) => AMQPValue::LongLongInt(n),
            Err(_) => AMQPValue::LongString(LongString::from(v.clone())),
        };
        t.insert(k.as_str().into(), value);
    }
    t
}

pub const DEFAULT_PREFETCH: u16 = 1000;

pub struct ConsumerHandle {
    pub counter: Arc<AtomicU64>,
    pub task: JoinHandle<(ConsumerCore, Result<()>)>,
}

/// Connect a consumer on `queues` (consumer tag = queue index) and start its loop.
#[allow(clippy::too_many_arguments)]
pub async fn start_consumer(
    uri: &AmqpUri,
    topo: &Topology,
    queues: &[usize],
    producers: usize,
    manual_ack: bool,
    prefetch: u16,
    ack_every: u64,
    stop: watch::Receiver<bool>,
) -> Result<ConsumerHandle> {
    let mut c = Conn::connect(uri, ConnectOptions::default()).await?;
    c.open_channel(1).await?;
    if manual_ack {
        c.qos(1, prefetch).await?;
    }
    if let [q] = queues {
        c.consume(1, &topo.queues[*q], &q.to_string(), !manual_ack)
            .await?;
    } else {
        // Several queues: send every basic.consume at once. Waiting for each consume-ok would
        // fail as soon as a queue that already holds messages starts delivering; the data
        // plane skips the consume-oks (and turns a refused consume into a channel error).
        for &q in queues {
            c.send(
                1,
                basic_consume(&topo.queues[q], &q.to_string(), !manual_ack),
            );
        }
        c.flush().await?;
    }
    let parts = c.into_parts();
    let mut core = ConsumerCore::new(ConsumerConfig {
        producers,
        queues: topo.queues.len(),
        manual_ack,
        ack_every,
        channel: 1,
        exact_latency: false,
    });
    let counter = Arc::new(AtomicU64::new(0));
    let ctr = Arc::clone(&counter);
    let task = tokio::spawn(async move {
        let r = consumer::run_async(
            parts.stream,
            parts.leftover,
            parts.frame_max,
            &mut core,
            &ctr,
            stop,
            true,
        )
        .await;
        (core, r)
    });
    Ok(ConsumerHandle { counter, task })
}

/// Connect a producer (channel 1, confirm.select if asked) and build its targets.
pub async fn connect_producer(
    uri: &AmqpUri,
    topo: &Topology,
    queues: &[usize],
    confirm: bool,
    persistent: bool,
    priority: Option<u8>,
    size: usize,
) -> Result<(crate::client::Parts, Vec<Target>)> {
    let mut c = Conn::connect(uri, ConnectOptions::default()).await?;
    c.open_channel(1).await?;
    if confirm {
        c.confirm_select(1).await?;
    }
    let frame_max = c.frame_max;
    let targets = if topo.fanout() {
        vec![Target {
            template: topo.template(1, None, persistent, priority, size, frame_max),
            queue: None,
            sent: 0,
        }]
    } else {
        queues
            .iter()
            .map(|&q| Target {
                template: topo.template(1, Some(q), persistent, priority, size, frame_max),
                queue: Some(q),
                sent: 0,
            })
            .collect()
    };
    Ok((c.into_parts(), targets))
}

/// What the consumers saw, merged per stream and checked against what producers sent.
pub struct Verdict {
    pub expected: u64,
    pub received: u64,
    pub lost: u64,
    pub duplicates: u64,
    pub reordered: u64,
    pub redelivered: u64,
    pub foreign: u64,
    pub consumed: u64,
    pub hist: Histogram,
}

pub fn verdict(queues: usize, producers: &[ProducerResult], cores: &[ConsumerCore]) -> Verdict {
    let np = producers.len().max(1);
    let mut expected = vec![0u64; queues.max(1) * np];
    for (p, r) in producers.iter().enumerate() {
        for &(q, sent) in &r.per_target {
            match q {
                Some(q) => expected[q * np + p] += sent,
                None => {
                    for q in 0..queues {
                        expected[q * np + p] += sent;
                    }
                }
            }
        }
    }
    let mut merged = vec![Track::default(); expected.len()];
    let mut hist = Histogram::default();
    let (mut redelivered, mut foreign, mut consumed) = (0, 0, 0);
    for c in cores {
        for (m, t) in merged.iter_mut().zip(&c.tracks) {
            m.merge(t);
        }
        hist.merge(&c.hist);
        redelivered += c.redelivered;
        foreign += c.foreign;
        consumed += c.consumed;
    }
    let mut v = Verdict {
        expected: 0,
        received: 0,
        lost: 0,
        duplicates: 0,
        reordered: 0,
        redelivered,
        foreign,
        consumed,
        hist,
    };
    for (e, t) in expected.iter().zip(&merged) {
        v.expected += e;
        v.received += t.received;
        v.lost += e.saturating_sub(t.received);
        v.duplicates += t.duplicates;
        v.reordered += t.reordered;
    }
    v
}

/// Wait until `consumed()` reaches `expected`, stalls for `idle`, or `limit` passes.
/// Returns whether `expected` was reached and the time until then (or, if it was not, until
/// the last message arrived).
pub async fn drain(
    expected: u64,
    consumed: impl Fn() -> u64,
    alive: impl Fn() -> bool,
    idle: Duration,
    limit: Duration,
) -> (bool, Duration) {
    let start = Instant::now();
    let mut last = consumed();
    let mut last_progress = start;
    loop {
        let now = Instant::now();
        let c = consumed();
        if c >= expected {
            return (true, now - start);
        }
        if c != last {
            last = c;
            last_progress = now;
        }
        if now - last_progress > idle || now - start > limit || !alive() {
            return (false, last_progress - start);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

pub async fn run(a: &ThroughputArgs, uri: &AmqpUri) -> Result<Value> {
    if a.queues == 0 {
        bail!("--queues must be at least 1");
    }
    if a.producers > 1 << 16 {
        bail!("at most 65536 producers");
    }
    let size = a.size.max(BODY_HEADER);
    let mut admin = Conn::connect(uri, ConnectOptions::default()).await?;
    admin.open_channel(1).await?;
    let server = admin.server.clone();
    if a.ttl_stage.is_some() && a.exchange != ExchangeKind::Default {
        bail!("--ttl-stage needs --exchange default");
    }
    let mut topo = Topology::new(a.exchange, a.queues, a.persistent, a.bindings);
    topo.queue_args = queue_args_table(&a.queue_args);
    topo.ttl_stage_ms = a.ttl_stage;
    let result = match topo.declare(&mut admin, 1).await {
        Ok(()) => run_declared(a, uri, &topo, size).await,
        Err(e) => Err(e.context("declaring the topology")),
    };
    // Best-effort cleanup, also after errors.
    cleanup(uri, admin, &topo).await;
    let mut v = result?;
    v["server"] = json!(server);
    Ok(v)
}

async fn run_declared(
    a: &ThroughputArgs,
    uri: &AmqpUri,
    topo: &Topology,
    size: usize,
) -> Result<Value> {
    let manual_ack = !a.autoack;
    let prefetch = a.prefetch.unwrap_or(DEFAULT_PREFETCH);
    let ack_every = a
        .ack_every
        .unwrap_or((u64::from(prefetch) / 2).max(1))
        .clamp(1, u64::from(prefetch).max(1));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut consumers = Vec::with_capacity(a.consumers);
    for j in 0..a.consumers {
        let queues = assign(a.queues, a.consumers, j);
        consumers.push(
            start_consumer(
                uri,
                topo,
                &queues,
                a.producers,
                manual_ack,
                prefetch,
                ack_every,
                stop_rx.clone(),
            )
            .await
            .with_context(|| format!("starting consumer {j}"))?,
        );
    }
    let mut conns = Vec::with_capacity(a.producers);
    for i in 0..a.producers {
        let queues = assign(a.queues, a.producers, i);
        conns.push(
            connect_producer(
                uri,
                topo,
                &queues,
                a.confirm.is_some(),
                a.persistent,
                a.priorities
                    .filter(|&n| n > 0)
                    .map(|n| (i % usize::from(n)) as u8),
                size,
            )
            .await
            .with_context(|| format!("starting producer {i}"))?,
        );
    }
    let duration = Duration::from_secs_f64(a.duration.max(0.001));
    let t0 = Instant::now();
    let deadline = t0 + duration;
    let drain_limit = Duration::from_secs_f64(a.drain_timeout.max(0.0));
    let mut shared = Vec::new();
    let mut producers = Vec::new();
    for (i, (parts, targets)) in conns.into_iter().enumerate() {
        let s = Arc::new(ProducerShared::default());
        shared.push(Arc::clone(&s));
        let plan = ProducerPlan {
            id: i as u16,
            targets,
            batch_bytes: a.batch_bytes.max(1),
            window: a.confirm.unwrap_or(0),
            rate: if a.rate > 0.0 {
                a.rate / a.producers as f64
            } else {
                0.0
            },
            limit: u64::MAX,
            deadline,
            confirm_deadline: deadline + drain_limit,
            close: true,
        };
        producers.push(tokio::spawn(producer::run(parts, plan, s)));
    }
    let sums = || {
        let p: u64 = shared
            .iter()
            .map(|s| s.published.load(Ordering::Acquire))
            .sum();
        let s: u64 = shared
            .iter()
            .map(|s| s.settled.load(Ordering::Acquire))
            .sum();
        let c: u64 = consumers
            .iter()
            .map(|c| c.counter.load(Ordering::Relaxed))
            .sum();
        (p, c, s)
    };
    // Per-second samples over the measured window.
    let (mut pub_s, mut con_s, mut conf_s) = (Vec::new(), Vec::new(), Vec::new());
    let mut prev = (0u64, 0u64, 0u64);
    let mut prev_t = t0;
    let mut k = 1u32;
    let window_counts = loop {
        let at = (t0 + Duration::from_secs(u64::from(k))).min(deadline);
        tokio::time::sleep_until(at).await;
        let cur = sums();
        let dt = (at - prev_t).as_secs_f64().max(1e-9);
        pub_s.push(((cur.0 - prev.0) as f64 / dt).round());
        con_s.push(((cur.1 - prev.1) as f64 / dt).round());
        conf_s.push(((cur.2 - prev.2) as f64 / dt).round());
        prev = cur;
        prev_t = at;
        if at >= deadline {
            break cur;
        }
        if producers.iter().all(|p| p.is_finished()) {
            break cur;
        }
        k += 1;
    };
    let measured = (Instant::now().min(deadline) - t0).as_secs_f64().max(1e-9);
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for (i, p) in producers.into_iter().enumerate() {
        match p.await {
            Ok(Ok(r)) => results.push(r),
            Ok(Err(e)) => errors.push(format!("producer {i}: {e:#}")),
            Err(e) => errors.push(format!("producer {i}: {e}")),
        }
    }
    if !errors.is_empty() {
        let _ = stop_tx.send(true);
        bail!(errors.join("; "));
    }
    let published: u64 = results.iter().map(|r| r.published).sum();
    let expected: u64 = results
        .iter()
        .map(|r| {
            if topo.fanout() {
                r.published * a.queues as u64
            } else {
                r.published
            }
        })
        .sum();
    let (drained, drain_time) = if a.consumers == 0 {
        (false, Duration::ZERO)
    } else {
        drain(
            expected,
            || {
                consumers
                    .iter()
                    .map(|c| c.counter.load(Ordering::Relaxed))
                    .sum()
            },
            || consumers.iter().all(|c| !c.task.is_finished()),
            Duration::from_secs(3),
            drain_limit,
        )
        .await
    };
    let _ = stop_tx.send(true);
    let mut cores = Vec::new();
    for (j, c) in consumers.into_iter().enumerate() {
        let (core, r) = c.task.await.context("consumer task")?;
        if let Err(e) = r {
            errors.push(format!("consumer {j}: {e:#}"));
        }
        cores.push(core);
    }
    let v = verdict(a.queues, &results, &cores);
    // Without consumers nothing can be checked.
    let checked = |n: u64| if a.consumers > 0 { Some(n) } else { None };
    let rate = |n: u64| (n as f64 / measured).round();
    let settled: u64 = results.iter().map(|r| r.settled).sum();
    let out = json!({
        "scenario": "throughput",
        "producers": a.producers,
        "consumers": a.consumers,
        "queues": a.queues,
        "size": size,
        "duration_s": measured,
        "exchange": a.exchange.name(),
        "bindings": topo.bound,
        "persistent": a.persistent,
        "confirm": a.confirm,
        "ack": if manual_ack { "manual" } else { "auto" },
        "prefetch": if manual_ack { Some(prefetch) } else { None },
        "published_per_s": rate(window_counts.0),
        "consumed_per_s": rate(window_counts.1),
        "confirmed_per_s": if a.confirm.is_some() { Some(rate(window_counts.2)) } else { None },
        "published": published,
        "confirmed": settled,
        "nacked": results.iter().map(|r| r.nacked).sum::<u64>(),
        "returned": results.iter().map(|r| r.returned).sum::<u64>(),
        "expected": v.expected,
        "consumed": v.consumed,
        "received": v.received,
        "lost": checked(v.lost),
        "reordered": checked(v.reordered),
        "duplicates": checked(v.duplicates),
        "redelivered": v.redelivered,
        "foreign": v.foreign,
        "drained": drained,
        "drain_s": drain_time.as_secs_f64(),
        "latency_us": LatencyUs::from_histogram(&v.hist),
        "samples": { "published_per_s": pub_s, "consumed_per_s": con_s, "confirmed_per_s": conf_s },
        "errors": errors,
    });
    eprintln!(
        "throughput: published {:.0}/s, consumed {:.0}/s{}, lost {}, reordered {}, duplicates {}, latency p50 {} µs p99 {} µs{}",
        rate(window_counts.0),
        rate(window_counts.1),
        if a.confirm.is_some() { format!(", confirmed {:.0}/s", rate(window_counts.2)) } else { String::new() },
        v.lost,
        v.reordered,
        v.duplicates,
        LatencyUs::from_histogram(&v.hist).p50,
        LatencyUs::from_histogram(&v.hist).p99,
        if drained { String::new() } else { " (NOT fully drained)".into() },
    );
    Ok(out)
}
