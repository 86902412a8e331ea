//! `backlog`: publish M messages (with confirms) into a queue nobody consumes, watch the
//! broker's peak memory, then drain the queue with one consumer and time it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::client::{Conn, ConnectOptions};
use crate::producer::{self, ProducerPlan, ProducerShared};
use crate::stats::rss_bytes;
use crate::throughput::{connect_producer, drain, start_consumer, verdict, DEFAULT_PREFETCH};
use crate::topology::{cleanup, ExchangeKind, Topology};
use crate::uri::AmqpUri;
use crate::wire::BODY_HEADER;

#[derive(Debug, Clone, Args)]
pub struct BacklogArgs {
    #[arg(long, default_value_t = 1_000_000)]
    pub messages: u64,
    #[arg(long, default_value_t = 1024)]
    pub size: usize,
    /// The broker's process id (its VmRSS is sampled from /proc/PID/status).
    #[arg(long)]
    pub pid: Option<u32>,
    /// Publisher-confirm window (unconfirmed messages in flight).
    #[arg(long, default_value_t = 1000)]
    pub confirm: u64,
    #[arg(long)]
    pub persistent: bool,
    #[arg(long, conflicts_with = "prefetch")]
    pub autoack: bool,
    #[arg(long)]
    pub prefetch: Option<u16>,
    /// RSS sampling period in milliseconds.
    #[arg(long, default_value_t = 100)]
    pub sample_ms: u64,
    /// Longest time for publishing, and again for draining, in seconds.
    #[arg(long, default_value_t = 600.0)]
    pub phase_timeout: f64,
    #[arg(long, default_value_t = 128 * 1024)]
    pub batch_bytes: usize,
}

pub async fn run(a: &BacklogArgs, uri: &AmqpUri) -> Result<Value> {
    if a.confirm == 0 {
        bail!("--confirm must be at least 1");
    }
    let size = a.size.max(BODY_HEADER);
    let mut admin = Conn::connect(uri, ConnectOptions::default()).await?;
    admin.open_channel(1).await?;
    let server = admin.server.clone();
    let mut topo = Topology::new(ExchangeKind::Direct, 1, a.persistent, 0);
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
    a: &BacklogArgs,
    uri: &AmqpUri,
    topo: &Topology,
    size: usize,
) -> Result<Value> {
    // RSS sampler for the whole run.
    let peak = Arc::new(AtomicU64::new(0));
    let sampling = Arc::new(AtomicBool::new(true));
    let rss_before = a.pid.map(rss_bytes).transpose()?;
    let sampler = a.pid.map(|pid| {
        let (peak, sampling) = (Arc::clone(&peak), Arc::clone(&sampling));
        let period = Duration::from_millis(a.sample_ms.max(1));
        tokio::spawn(async move {
            while sampling.load(Ordering::Acquire) {
                if let Ok(r) = rss_bytes(pid) {
                    peak.fetch_max(r, Ordering::AcqRel);
                }
                tokio::time::sleep(period).await;
            }
        })
    });
    let phase = Duration::from_secs_f64(a.phase_timeout.max(1.0));
    let (parts, targets) = connect_producer(uri, topo, &[0], true, a.persistent, size).await?;
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
    if result.settled < result.published {
        eprintln!(
            "warren-perf: only {} of {} messages confirmed",
            result.settled, result.published
        );
    }
    let rss_published = a.pid.map(rss_bytes).transpose()?;
    eprintln!(
        "backlog: {} messages published and confirmed in {:.2} s; draining",
        result.settled,
        publish_time.as_secs_f64()
    );

    let (stop_tx, stop_rx) = watch::channel(false);
    let manual_ack = !a.autoack;
    let prefetch = a.prefetch.unwrap_or(DEFAULT_PREFETCH);
    let t1 = Instant::now();
    let consumer = start_consumer(
        uri,
        topo,
        &[0],
        1,
        manual_ack,
        prefetch,
        (u64::from(prefetch) / 2).max(1),
        stop_rx,
    )
    .await?;
    let (drained, _) = drain(
        result.published,
        || consumer.counter.load(Ordering::Relaxed),
        || !consumer.task.is_finished(),
        Duration::from_secs(10),
        phase,
    )
    .await;
    let drain_time = t1.elapsed();
    let _ = stop_tx.send(true);
    let (core, r) = consumer.task.await.context("consumer task")?;
    let mut errors = Vec::new();
    if let Err(e) = r {
        errors.push(format!("consumer: {e:#}"));
    }
    sampling.store(false, Ordering::Release);
    if let Some(s) = sampler {
        let _ = s.await;
    }
    let rss_drained = a.pid.map(rss_bytes).transpose()?;
    let v = verdict(
        1,
        std::slice::from_ref(&result),
        std::slice::from_ref(&core),
    );
    let peak_rss = a.pid.map(|_| peak.load(Ordering::Acquire));
    let drain_rate = (v.consumed as f64 / drain_time.as_secs_f64().max(1e-9)).round();
    let publish_rate = (result.published as f64 / publish_time.as_secs_f64().max(1e-9)).round();
    eprintln!(
        "backlog: publish {publish_rate:.0}/s, drain {drain_rate:.0}/s, peak RSS {} MiB; lost {}, reordered {}",
        peak_rss.unwrap_or(0) >> 20,
        v.lost,
        v.reordered
    );
    Ok(json!({
        "scenario": "backlog",
        "messages": a.messages,
        "size": size,
        "persistent": a.persistent,
        "confirm": a.confirm,
        "ack": if manual_ack { "manual" } else { "auto" },
        "published": result.published,
        "confirmed": result.settled,
        "nacked": result.nacked,
        "publish_s": publish_time.as_secs_f64(),
        "publish_per_s": publish_rate,
        "drain_s": drain_time.as_secs_f64(),
        "drain_per_s": drain_rate,
        "drained": drained,
        "consumed": v.consumed,
        "lost": v.lost,
        "reordered": v.reordered,
        "duplicates": v.duplicates,
        "redelivered": v.redelivered,
        "pid": a.pid,
        "rss_before": rss_before,
        "rss_after_publish": rss_published,
        "rss_after_drain": rss_drained,
        "peak_rss": peak_rss,
        "errors": errors,
    }))
}
