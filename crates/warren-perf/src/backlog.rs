//! `backlog`: publish M messages (with confirms) into queues nobody consumes, watch the
//! broker's peak memory, then drain the queues with one consumer and time it.
//!
//! Two halves can also run on their own, around a broker restart:
//! - `--keep` publishes only and leaves the exchange, queues and messages in place;
//! - `--drain-only` publishes nothing: it finds the queues by name (`--name`), consumes what
//!   they hold and checks every sequence number against what `--keep` published
//!   (`--messages` spread round-robin over `--queues`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::client::{Conn, ConnectOptions};
use crate::producer::{self, ProducerPlan, ProducerResult, ProducerShared};
use crate::stats::rss_bytes;
use crate::throughput::{
    connect_producer, drain, start_consumer, verdict, Verdict, DEFAULT_PREFETCH,
};
use crate::topology::{cleanup, ExchangeKind, Topology};
use crate::uri::AmqpUri;
use crate::wire::BODY_HEADER;

#[derive(Debug, Clone, Args)]
pub struct BacklogArgs {
    /// Messages to publish (with --drain-only: how many the earlier --keep run published).
    #[arg(long, default_value_t = 1_000_000)]
    pub messages: u64,
    /// Message body size in bytes (at least 16: sequence number and timestamp).
    #[arg(long, default_value_t = 1024)]
    pub size: usize,
    /// Spread the messages round-robin over this many queues (each its own sequence).
    #[arg(long, default_value_t = 1)]
    pub queues: usize,
    /// The broker's process id (its VmRSS is sampled from /proc/PID/status).
    #[arg(long)]
    pub pid: Option<u32>,
    /// Publisher-confirm window (unconfirmed messages in flight).
    #[arg(long, default_value_t = 1000)]
    pub confirm: u64,
    /// Persistent messages (delivery_mode 2) into durable queues and a durable exchange (no
    /// effect with --drain-only, which finds the queues as they are).
    #[arg(long)]
    pub persistent: bool,
    /// Consume with no_ack (automatic acknowledgement).
    #[arg(long, conflicts_with = "prefetch")]
    pub autoack: bool,
    /// Manual acks with this prefetch (default 1000); acks are sent with multiple=true.
    #[arg(long)]
    pub prefetch: Option<u16>,
    /// RSS sampling period in milliseconds.
    #[arg(long, default_value_t = 100)]
    pub sample_ms: u64,
    /// Longest time for publishing, and again for draining, in seconds.
    #[arg(long, default_value_t = 600.0)]
    pub phase_timeout: f64,
    /// Producers flush their write buffer at this many bytes.
    #[arg(long, default_value_t = 128 * 1024)]
    pub batch_bytes: usize,
    /// Name the exchange NAME-direct and the queues NAME-q0, NAME-q1, … instead of a unique
    /// per-run name, so that a later --drain-only run finds what a --keep run left.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Publish only (every message confirmed), then exit leaving the exchange, the queues
    /// and their messages in place, e.g. to restart the broker with the backlog. Drain it
    /// later with --drain-only (same --name, --queues, --messages).
    #[arg(long, conflicts_with = "drain_only")]
    pub keep: bool,
    /// Publish nothing: consume what an earlier --keep run left in the queues named by
    /// --name (checked with passive declares: a missing queue is an error), report the drain
    /// rate and lost / duplicate / reordered / redelivered counts against --messages spread
    /// over --queues, then delete the queues and exchange.
    #[arg(long, requires = "name")]
    pub drain_only: bool,
}

impl BacklogArgs {
    fn mode(&self) -> &'static str {
        if self.keep {
            "keep"
        } else if self.drain_only {
            "drain-only"
        } else {
            "publish+drain"
        }
    }
}

pub async fn run(a: &BacklogArgs, uri: &AmqpUri) -> Result<Value> {
    if a.confirm == 0 {
        bail!("--confirm must be at least 1");
    }
    if a.queues == 0 {
        bail!("--queues must be at least 1");
    }
    if let Some(n) = &a.name {
        if n.is_empty() || n.len() > 200 {
            bail!("--name must be 1 to 200 characters");
        }
    }
    let size = a.size.max(BODY_HEADER);
    let mut admin = Conn::connect(uri, ConnectOptions::default()).await?;
    admin.open_channel(1).await?;
    let server = admin.server.clone();
    let mut topo = match &a.name {
        Some(n) => Topology::named(ExchangeKind::Direct, a.queues, a.persistent, 0, n),
        None => Topology::new(ExchangeKind::Direct, a.queues, a.persistent, 0),
    };
    let prefix = topo.queues[0]
        .strip_suffix("-q0")
        .unwrap_or(&topo.queues[0])
        .to_string();
    let result = if a.drain_only {
        run_drain_only(a, uri, &topo, &mut admin).await
    } else {
        match topo.declare(&mut admin, 1).await {
            Ok(()) => run_declared(a, uri, &topo, size, &mut admin).await,
            Err(e) => Err(e.context("declaring the topology")),
        }
    };
    // A kept backlog stays; so does one a drain-only run failed on (to look into it).
    // Otherwise best-effort cleanup, also after errors.
    if (a.keep && result.is_ok()) || (a.drain_only && result.is_err()) {
        let _ = admin.close().await;
    } else {
        cleanup(uri, admin, &topo).await;
    }
    let mut v = result?;
    v["server"] = json!(server);
    v["name"] = json!(prefix);
    v["kept"] = json!(a.keep);
    Ok(v)
}

/// Samples the broker's RSS in the background and keeps the peak.
struct RssSampler {
    peak: Arc<AtomicU64>,
    sampling: Arc<AtomicBool>,
    task: Option<JoinHandle<()>>,
}

impl RssSampler {
    fn start(pid: Option<u32>, period_ms: u64) -> Self {
        let peak = Arc::new(AtomicU64::new(0));
        let sampling = Arc::new(AtomicBool::new(true));
        let task = pid.map(|pid| {
            let (peak, sampling) = (Arc::clone(&peak), Arc::clone(&sampling));
            let period = Duration::from_millis(period_ms.max(1));
            tokio::spawn(async move {
                while sampling.load(Ordering::Acquire) {
                    if let Ok(r) = rss_bytes(pid) {
                        peak.fetch_max(r, Ordering::AcqRel);
                    }
                    tokio::time::sleep(period).await;
                }
            })
        });
        Self {
            peak,
            sampling,
            task,
        }
    }

    /// Stop sampling; the peak (None without a pid).
    async fn stop(mut self) -> Option<u64> {
        self.sampling.store(false, Ordering::Release);
        let task = self.task.take()?;
        let _ = task.await;
        Some(self.peak.load(Ordering::Acquire))
    }
}

/// What `--messages` spread round-robin over `queues` puts in each queue (producer 0).
fn expected_per_queue(messages: u64, queues: usize) -> ProducerResult {
    let n = queues.max(1) as u64;
    ProducerResult {
        published: messages,
        per_target: (0..n)
            .map(|q| (Some(q as usize), messages / n + u64::from(q < messages % n)))
            .collect(),
        settled: messages,
        nacked: 0,
        returned: 0,
    }
}

/// What one consumer saw while draining, and how long it took (from connecting).
struct Drained {
    core: crate::consumer::ConsumerCore,
    drained: bool,
    time: Duration,
    errors: Vec<String>,
}

/// Drain `topo`'s queues with one consumer until `expected` messages arrived (or the drain
/// stalls for 10 s, or `phase` passes).
async fn drain_queues(
    a: &BacklogArgs,
    uri: &AmqpUri,
    topo: &Topology,
    expected: u64,
    phase: Duration,
) -> Result<Drained> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let manual_ack = !a.autoack;
    let prefetch = a.prefetch.unwrap_or(DEFAULT_PREFETCH);
    let all: Vec<usize> = (0..topo.queues.len()).collect();
    let t1 = Instant::now();
    let consumer = start_consumer(
        uri,
        topo,
        &all,
        1,
        manual_ack,
        prefetch,
        (u64::from(prefetch) / 2).max(1),
        stop_rx,
    )
    .await?;
    let setup = t1.elapsed();
    // Until the last message arrived: a stalled drain does not count its idle wait.
    let (drained, time) = drain(
        expected,
        || consumer.counter.load(Ordering::Relaxed),
        || !consumer.task.is_finished(),
        Duration::from_secs(10),
        phase,
    )
    .await;
    let _ = stop_tx.send(true);
    let (core, r) = consumer.task.await.context("consumer task")?;
    let mut errors = Vec::new();
    if let Err(e) = r {
        errors.push(format!("consumer: {e:#}"));
    }
    Ok(Drained {
        core,
        drained,
        time: setup + time,
        errors,
    })
}

async fn run_declared(
    a: &BacklogArgs,
    uri: &AmqpUri,
    topo: &Topology,
    size: usize,
    admin: &mut Conn,
) -> Result<Value> {
    let queued_before: u64 = topo
        .message_counts(admin, 1)
        .await
        .context("checking the queues")?
        .iter()
        .sum();
    if queued_before > 0 {
        eprintln!(
            "warren-perf: warning: the queues already hold {queued_before} messages (an earlier \
             run with the same --name?); they will count as foreign or duplicates"
        );
    }
    let rss_before = a.pid.map(rss_bytes).transpose()?;
    let sampler = RssSampler::start(a.pid, a.sample_ms);
    let phase = Duration::from_secs_f64(a.phase_timeout.max(1.0));
    let all: Vec<usize> = (0..topo.queues.len()).collect();
    let (parts, targets) =
        connect_producer(uri, topo, &all, true, a.persistent, None, size).await?;
    let shared = Arc::new(ProducerShared::default());
    let t0 = Instant::now();
    let plan = ProducerPlan {
        id: 0,
        targets,
        batch_bytes: a.batch_bytes.max(1),
        window: a.confirm,
        rate: 0.0,
        limit: a.messages,
        deadline: t0 + phase,
        confirm_deadline: t0 + phase,
        close: true,
    };
    let result = producer::run(parts, plan, Arc::clone(&shared)).await?;
    let publish_time = t0.elapsed();
    let mut errors = Vec::new();
    if result.published < a.messages {
        errors.push(format!(
            "only {} of {} messages published within the phase timeout",
            result.published, a.messages
        ));
    }
    if result.settled < result.published {
        errors.push(format!(
            "only {} of {} messages confirmed",
            result.settled, result.published
        ));
    }
    if result.nacked > 0 {
        errors.push(format!("{} messages nacked", result.nacked));
    }
    for e in &errors {
        eprintln!("warren-perf: {e}");
    }
    let rss_published = a.pid.map(rss_bytes).transpose()?;
    let publish_rate = (result.published as f64 / publish_time.as_secs_f64().max(1e-9)).round();
    let mut out = json!({
        "scenario": "backlog",
        "mode": a.mode(),
        "messages": a.messages,
        "queues": topo.queues.len(),
        "size": size,
        "persistent": a.persistent,
        "confirm": a.confirm,
        "published": result.published,
        "confirmed": result.settled,
        "nacked": result.nacked,
        "queued_before": queued_before,
        "publish_s": publish_time.as_secs_f64(),
        "publish_per_s": publish_rate,
        "pid": a.pid,
        "rss_before": rss_before,
        "rss_after_publish": rss_published,
    });
    if a.keep {
        let peak_rss = sampler.stop().await;
        eprintln!(
            "backlog: {} messages published and confirmed in {:.2} s ({publish_rate:.0}/s), \
             peak RSS {} MiB; kept in {} queue(s) {}-q0…",
            result.settled,
            publish_time.as_secs_f64(),
            peak_rss.unwrap_or(0) >> 20,
            topo.queues.len(),
            topo.queues[0]
                .strip_suffix("-q0")
                .unwrap_or(&topo.queues[0]),
        );
        out["peak_rss"] = json!(peak_rss);
        out["errors"] = json!(errors);
        return Ok(out);
    }
    eprintln!(
        "backlog: {} messages published and confirmed in {:.2} s; draining",
        result.settled,
        publish_time.as_secs_f64()
    );

    let mut d = drain_queues(a, uri, topo, result.published, phase).await?;
    errors.extend(std::mem::take(&mut d.errors));
    let peak_rss = sampler.stop().await;
    let rss_drained = a.pid.map(rss_bytes).transpose()?;
    let v = verdict(
        topo.queues.len(),
        std::slice::from_ref(&result),
        std::slice::from_ref(&d.core),
    );
    let drain_rate = (v.consumed as f64 / d.time.as_secs_f64().max(1e-9)).round();
    eprintln!(
        "backlog: publish {publish_rate:.0}/s, drain {drain_rate:.0}/s, peak RSS {} MiB; lost {}, reordered {}",
        peak_rss.unwrap_or(0) >> 20,
        v.lost,
        v.reordered
    );
    merge(&mut out, drain_figures(a, &d, &v, drain_rate));
    merge(
        &mut out,
        json!({
            "rss_after_drain": rss_drained,
            "peak_rss": peak_rss,
            "errors": errors,
        }),
    );
    Ok(out)
}

async fn run_drain_only(
    a: &BacklogArgs,
    uri: &AmqpUri,
    topo: &Topology,
    admin: &mut Conn,
) -> Result<Value> {
    let counts = topo.message_counts(admin, 1).await.with_context(|| {
        format!(
            "checking the queues {}-q0… (passive queue.declare)",
            a.name.as_deref().unwrap_or("?")
        )
    })?;
    let queued: u64 = counts.iter().sum();
    let empty_queues = counts.iter().filter(|&&c| c == 0).count();
    eprintln!(
        "backlog: {} queue(s) hold {queued} messages ({} expected); draining",
        counts.len(),
        a.messages
    );
    let rss_before = a.pid.map(rss_bytes).transpose()?;
    let sampler = RssSampler::start(a.pid, a.sample_ms);
    let phase = Duration::from_secs_f64(a.phase_timeout.max(1.0));
    // Take everything the broker holds, so duplicates show up too.
    let mut d = drain_queues(a, uri, topo, queued.max(a.messages), phase).await?;
    let peak_rss = sampler.stop().await;
    let rss_drained = a.pid.map(rss_bytes).transpose()?;
    let mut errors = std::mem::take(&mut d.errors);
    // Acks were sent before the consumer's connection closed: what is left was not consumed.
    let remaining: Option<u64> = match topo.message_counts(admin, 1).await {
        Ok(c) => Some(c.iter().sum()),
        Err(e) => {
            errors.push(format!("counting what is left: {e:#}"));
            None
        }
    };
    let expected = expected_per_queue(a.messages, topo.queues.len());
    let v = verdict(
        topo.queues.len(),
        std::slice::from_ref(&expected),
        std::slice::from_ref(&d.core),
    );
    let drain_rate = (v.consumed as f64 / d.time.as_secs_f64().max(1e-9)).round();
    eprintln!(
        "backlog --drain-only: {} consumed in {:.2} s ({drain_rate:.0}/s), peak RSS {} MiB; \
         lost {}, duplicates {}, reordered {}, redelivered {}, left {}",
        v.consumed,
        d.time.as_secs_f64(),
        peak_rss.unwrap_or(0) >> 20,
        v.lost,
        v.duplicates,
        v.reordered,
        v.redelivered,
        remaining.map_or("?".into(), |r| r.to_string()),
    );
    let mut out = drain_figures(a, &d, &v, drain_rate);
    merge(
        &mut out,
        json!({
        "scenario": "backlog",
        "mode": a.mode(),
        "messages": a.messages,
        "queues": topo.queues.len(),
        "persistent": a.persistent,
        "queued_at_start": queued,
        "empty_queues_at_start": empty_queues,
        "expected": v.expected,
        "remaining": remaining,
        "pid": a.pid,
        "rss_before": rss_before,
        "rss_after_drain": rss_drained,
        "peak_rss": peak_rss,
        "errors": errors,
        }),
    );
    Ok(out)
}

/// What a drain found, in the JSON both modes report.
fn drain_figures(a: &BacklogArgs, d: &Drained, v: &Verdict, drain_rate: f64) -> Value {
    json!({
        "ack": if a.autoack { "auto" } else { "manual" },
        "drain_s": d.time.as_secs_f64(),
        "drain_per_s": drain_rate,
        "drained": d.drained,
        "consumed": v.consumed,
        "received": v.received,
        "lost": v.lost,
        "reordered": v.reordered,
        "duplicates": v.duplicates,
        "redelivered": v.redelivered,
        "foreign": v.foreign,
    })
}

fn merge(into: &mut Value, from: Value) {
    if let (Value::Object(a), Value::Object(b)) = (into, from) {
        a.extend(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_expectation() {
        let r = expected_per_queue(10, 4);
        assert_eq!(
            r.per_target,
            vec![(Some(0), 3), (Some(1), 3), (Some(2), 2), (Some(3), 2)]
        );
        let r = expected_per_queue(5, 1);
        assert_eq!(r.per_target, vec![(Some(0), 5)]);
    }
}
