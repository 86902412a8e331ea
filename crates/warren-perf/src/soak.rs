//! `soak`: hours of churn against one broker while its memory, open files and latency are
//! sampled: connections opened and closed by the thousand, channels opened and closed,
//! queues declared, bound and deleted, and a steady confirmed publish → manual-ack consume
//! stream, all at once. A probe measures publish → delivery latency throughout. The broker
//! passes when its resident memory and file descriptors come back flat (the judgement is the
//! caller's: see `scripts/bench.sh soak`), and no message of the steady stream is lost.

use std::collections::VecDeque;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use warren_codec::protocol::{channel, AMQPClass};
use warren_codec::types::FieldTable;

use crate::client::{self, Conn, ConnectOptions};
use crate::producer::{self, ProducerPlan, ProducerShared};
use crate::stats::{raise_nofile, rss_bytes, LatencyUs};
use crate::throughput::{connect_producer, drain, start_consumer, verdict};
use crate::topology::{cleanup, run_id, ExchangeKind, Topology};
use crate::uri::AmqpUri;
use crate::wire::{now_ns, Template, BODY_HEADER};

#[derive(Debug, Clone, Args)]
pub struct SoakArgs {
    /// Seconds of churn.
    #[arg(long, default_value_t = 3600.0)]
    pub duration: f64,
    /// Seconds between samples.
    #[arg(long, default_value_t = 10.0)]
    pub sample_every: f64,
    /// The broker's process id (RSS from /proc/PID/status, descriptors from /proc/PID/fd).
    #[arg(long)]
    pub pid: u32,
    /// Connections opened (each with a channel) then all closed again, per round.
    #[arg(long, default_value_t = 10_000)]
    pub connections: usize,
    /// Handshakes in flight at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Channels opened then closed on one connection, per round.
    #[arg(long, default_value_t = 100)]
    pub channels: u16,
    /// Queues declared, bound, given a message and deleted, per round.
    #[arg(long, default_value_t = 50)]
    pub queues: usize,
    /// Messages per second of the steady stream (persistent, confirmed, manually acked).
    #[arg(long, default_value_t = 2000.0)]
    pub rate: f64,
    /// Body size of the steady stream's messages.
    #[arg(long, default_value_t = 1024)]
    pub size: usize,
    /// Latency probes per sample interval (one message at a time, publish → delivery).
    #[arg(long, default_value_t = 100)]
    pub probes: usize,
    /// Write every sample here as CSV (one line per sample, with a header).
    #[arg(long)]
    pub samples: Option<PathBuf>,
}

/// Counters the churn tasks add to and the sampler reads.
#[derive(Default)]
struct Churn {
    connections: AtomicU64,
    channels: AtomicU64,
    queues: AtomicU64,
    errors: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl Churn {
    fn failed(&self, what: &str, e: &anyhow::Error) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut first) = self.first_error.lock() {
            first.get_or_insert_with(|| format!("{what}: {e:#}"));
        }
    }
}

/// One sample of the broker and the load.
struct Sample {
    t_s: f64,
    rss_bytes: u64,
    fds: u64,
    /// The highest RSS and descriptor count seen since the previous sample (polled every
    /// 200 ms): the envelope of the churn's cycles, which a point sample may miss.
    rss_max_bytes: u64,
    fds_max: u64,
    connections: u64,
    channels: u64,
    queues: u64,
    consumed: u64,
    latency: Option<LatencyUs>,
}

const CSV_HEADER: &str = "t_s,rss_bytes,rss_max_bytes,fds,fds_max,connections_churned,\
                          channels_churned,queues_churned,messages_consumed,probe_p50_us,\
                          probe_p99_us,probe_max_us";

impl Sample {
    fn csv(&self) -> String {
        let (p50, p99, max) = self
            .latency
            .as_ref()
            .map_or((String::new(), String::new(), String::new()), |l| {
                (l.p50.to_string(), l.p99.to_string(), l.max.to_string())
            });
        format!(
            "{:.1},{},{},{},{},{},{},{},{},{p50},{p99},{max}",
            self.t_s,
            self.rss_bytes,
            self.rss_max_bytes,
            self.fds,
            self.fds_max,
            self.connections,
            self.channels,
            self.queues,
            self.consumed
        )
    }
}

/// Seconds after the churn before the broker's memory and files are read again.
const AFTER_S: u64 = 15;

/// Open file descriptors of a process (entries of /proc/PID/fd).
fn fd_count(pid: u32) -> Result<u64> {
    let dir = format!("/proc/{pid}/fd");
    Ok(std::fs::read_dir(&dir)
        .with_context(|| format!("cannot read {dir}"))?
        .count() as u64)
}

pub async fn run(a: &SoakArgs, uri: &AmqpUri) -> Result<Value> {
    if a.sample_every <= 0.0 || a.duration <= 0.0 {
        bail!("--duration and --sample-every must be positive");
    }
    let nofile = raise_nofile(a.connections as u64 + 1024);
    if nofile < a.connections as u64 + 64 {
        bail!(
            "this process may open only {nofile} files: not enough for {} connections",
            a.connections
        );
    }
    let start_rss = rss_bytes(a.pid)?;
    let start_fds = fd_count(a.pid)?;

    let mut admin = Conn::connect(uri, ConnectOptions::default()).await?;
    admin.open_channel(1).await?;
    let server = admin.server.clone();
    let mut topo = Topology::new(ExchangeKind::Default, 1, true, 0);
    topo.declare(&mut admin, 1).await?;
    let result = run_declared(a, uri, &topo).await;
    cleanup(uri, admin, &topo).await;
    let mut v = result?;
    // After the churn: every connection closed, the steady stream drained; long enough for
    // a broker to hand back what it freed (Warren asks its allocator every 10 s).
    tokio::time::sleep(Duration::from_secs(AFTER_S)).await;
    v["server"] = json!(server);
    v["start"] = json!({"rss_bytes": start_rss, "fds": start_fds});
    v["after"] =
        json!({"rss_bytes": rss_bytes(a.pid)?, "fds": fd_count(a.pid)?, "after_s": AFTER_S});
    Ok(v)
}

async fn run_declared(a: &SoakArgs, uri: &AmqpUri, topo: &Topology) -> Result<Value> {
    let started = Instant::now();
    let end = started + Duration::from_secs_f64(a.duration);
    let churn = Arc::new(Churn::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let probe_samples = Arc::new(Mutex::new(Vec::<u64>::new()));

    // The steady stream: persistent, confirmed, consumed with manual acks.
    let consumer = start_consumer(uri, topo, &[0], 1, true, 1000, 500, stop_rx.clone()).await?;
    let (parts, targets) = connect_producer(uri, topo, &[0], true, true, None, a.size).await?;
    let shared = Arc::new(ProducerShared::default());
    let plan = ProducerPlan {
        id: 0,
        targets,
        batch_bytes: 64 * 1024,
        window: 1000,
        rate: a.rate,
        limit: u64::MAX,
        deadline: end,
        confirm_deadline: end + Duration::from_secs(60),
        close: true,
    };
    let producer = tokio::spawn(producer::run(parts, plan, Arc::clone(&shared)));

    let mut tasks: Vec<JoinHandle<()>> = vec![
        tokio::spawn(connection_churn(
            uri.clone(),
            a.connections,
            a.concurrency,
            end,
            Arc::clone(&churn),
        )),
        tokio::spawn(channel_churn(
            uri.clone(),
            a.channels,
            end,
            Arc::clone(&churn),
        )),
        tokio::spawn(queue_churn(uri.clone(), a.queues, end, Arc::clone(&churn))),
    ];
    let probe_gap = Duration::from_secs_f64(a.sample_every / a.probes.max(1) as f64);
    tasks.push(tokio::spawn(probe(
        uri.clone(),
        probe_gap,
        end,
        Arc::clone(&probe_samples),
        Arc::clone(&churn),
    )));

    // Sample until the end.
    let mut file = match &a.samples {
        Some(path) => {
            let mut f = std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            writeln!(f, "{CSV_HEADER}")?;
            Some(f)
        }
        None => None,
    };
    let mut samples: Vec<Sample> = Vec::new();
    let every = Duration::from_secs_f64(a.sample_every);
    let mut next = started + every;
    let mut all_probes: Vec<u64> = Vec::new();
    let poll = Duration::from_millis(200);
    while next <= end + Duration::from_millis(1) {
        let (mut rss_max, mut fds_max) = (0u64, 0u64);
        while Instant::now() + poll < next {
            tokio::time::sleep(poll).await;
            rss_max = rss_max.max(rss_bytes(a.pid)?);
            fds_max = fds_max.max(fd_count(a.pid)?);
        }
        tokio::time::sleep_until(next).await;
        next += every;
        let mut window = std::mem::take(&mut *probe_samples.lock().map_err(|_| anyhow!("lock"))?);
        all_probes.extend_from_slice(&window);
        let (rss, fds) = (rss_bytes(a.pid)?, fd_count(a.pid)?);
        let sample = Sample {
            t_s: started.elapsed().as_secs_f64(),
            rss_bytes: rss,
            fds,
            rss_max_bytes: rss_max.max(rss),
            fds_max: fds_max.max(fds),
            connections: churn.connections.load(Ordering::Relaxed),
            channels: churn.channels.load(Ordering::Relaxed),
            queues: churn.queues.load(Ordering::Relaxed),
            consumed: consumer.counter.load(Ordering::Relaxed),
            latency: (!window.is_empty()).then(|| LatencyUs::exact(&mut window)),
        };
        eprintln!(
            "warren-perf soak: {:>6.0} s  rss {:>7.1} MiB  fds {:>5}  conns {:>8}  chans {:>8}  queues {:>7}  consumed {:>9}  probe p99 {} us",
            sample.t_s,
            sample.rss_bytes as f64 / 1048576.0,
            sample.fds,
            sample.connections,
            sample.channels,
            sample.queues,
            sample.consumed,
            sample.latency.as_ref().map_or(0.0, |l| l.p99)
        );
        if let Some(f) = file.as_mut() {
            writeln!(f, "{}", sample.csv())?;
            f.flush()?;
        }
        samples.push(sample);
    }
    for t in tasks {
        let _ = t.await;
    }
    let produced = producer
        .await
        .map_err(|e| anyhow!("producer task: {e}"))??;
    let (drained, _) = drain(
        produced.published,
        || consumer.counter.load(Ordering::Relaxed),
        || !consumer.task.is_finished(),
        Duration::from_secs(10),
        Duration::from_secs(120),
    )
    .await;
    let _ = stop_tx.send(true);
    let (core, consumer_result) = consumer
        .task
        .await
        .map_err(|e| anyhow!("consumer task: {e}"))?;
    consumer_result?;
    let v = verdict(1, &[produced], &[core]);

    let rss: Vec<u64> = samples.iter().map(|s| s.rss_max_bytes).collect();
    let fds: Vec<u64> = samples.iter().map(|s| s.fds_max).collect();
    // A tenth at the start warms up; then the first third against the last.
    let warm = (samples.len() / 10)
        .max(1)
        .min(samples.len().saturating_sub(1));
    let third = ((samples.len() - warm) / 3).max(1);
    let first_error = churn.first_error.lock().ok().and_then(|e| e.clone());
    Ok(json!({
        "scenario": "soak",
        "duration_s": a.duration,
        "sample_every_s": a.sample_every,
        "samples": samples.len(),
        "connections_per_round": a.connections,
        "connections_churned": churn.connections.load(Ordering::Relaxed),
        "channels_churned": churn.channels.load(Ordering::Relaxed),
        "queues_churned": churn.queues.load(Ordering::Relaxed),
        "churn_errors": churn.errors.load(Ordering::Relaxed),
        "first_error": first_error,
        "published": v.expected,
        "consumed": v.consumed,
        "lost": v.lost,
        "reordered": v.reordered,
        "duplicates": v.duplicates,
        "drained": drained,
        // Of the highest value in each sample interval.
        "rss_max_bytes": envelope(&rss, warm, third),
        "fds_max": envelope(&fds, warm, third),
        "probe_latency_us": (!all_probes.is_empty()).then(|| LatencyUs::exact(&mut all_probes)),
    }))
}

/// Lowest, highest, and the medians of the first and last thirds after the warm-up.
fn envelope(values: &[u64], warm: usize, third: usize) -> Value {
    let rest = values.get(warm..).unwrap_or_default();
    json!({
        "min": values.iter().min(),
        "max": values.iter().max(),
        "first_third_median": median(rest.get(..third.min(rest.len())).unwrap_or_default()),
        "last_third_median": median(rest.get(rest.len().saturating_sub(third)..).unwrap_or_default()),
    })
}

fn median(values: &[u64]) -> Option<u64> {
    let mut v = values.to_vec();
    v.sort_unstable();
    v.get(v.len() / 2).copied()
}

/// Rounds of `count` connections (one channel each) opened `concurrency` at a time, held
/// until all are open, then all closed.
async fn connection_churn(
    uri: AmqpUri,
    count: usize,
    concurrency: usize,
    end: Instant,
    churn: Arc<Churn>,
) {
    let uri = Arc::new(uri);
    while Instant::now() < end {
        let mut open: Vec<Conn> = Vec::with_capacity(count);
        let mut pending: VecDeque<JoinHandle<Result<Conn>>> = VecDeque::new();
        let mut started = 0;
        while open.len() + pending.len() < count || !pending.is_empty() {
            while started < count && pending.len() < concurrency.max(1) {
                let uri = Arc::clone(&uri);
                pending.push_back(tokio::spawn(async move {
                    let mut c = Conn::connect(&uri, ConnectOptions::default()).await?;
                    c.open_channel(1).await?;
                    Ok(c)
                }));
                started += 1;
            }
            let Some(next) = pending.pop_front() else {
                break;
            };
            match next.await {
                Ok(Ok(c)) => open.push(c),
                Ok(Err(e)) => churn.failed("connection", &e),
                Err(e) => churn.failed("connection", &anyhow!("{e}")),
            }
            if Instant::now() >= end && started < count {
                // Stop opening more; close what is open.
                started = count;
            }
        }
        let opened = open.len() as u64;
        let mut closing: VecDeque<JoinHandle<Result<()>>> = VecDeque::new();
        for c in open {
            closing.push_back(tokio::spawn(c.close()));
            if closing.len() >= concurrency.max(1) {
                if let Some(h) = closing.pop_front() {
                    let _ = h.await;
                }
            }
        }
        for h in closing {
            let _ = h.await;
        }
        churn.connections.fetch_add(opened, Ordering::Relaxed);
    }
}

fn channel_close() -> AMQPClass {
    AMQPClass::Channel(channel::AMQPMethod::Close(channel::Close {
        reply_code: 200,
        reply_text: "".into(),
        class_id: 0,
        method_id: 0,
    }))
}

/// One connection opening `channels` channels and closing them, round after round.
async fn channel_churn(uri: AmqpUri, channels: u16, end: Instant, churn: Arc<Churn>) {
    while Instant::now() < end {
        let round = async {
            let mut c = Conn::connect(&uri, ConnectOptions::default()).await?;
            while Instant::now() < end {
                for ch in 1..=channels.max(1) {
                    c.open_channel(ch).await?;
                }
                for ch in 1..=channels.max(1) {
                    c.rpc(ch, channel_close()).await?;
                }
                churn
                    .channels
                    .fetch_add(u64::from(channels.max(1)), Ordering::Relaxed);
            }
            c.close().await
        };
        if let Err(e) = round.await {
            churn.failed("channel churn", &e);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// One connection declaring `queues` queues (alternately durable), binding each to
/// amq.direct, publishing a message to each and deleting them, round after round.
async fn queue_churn(uri: AmqpUri, queues: usize, end: Instant, churn: Arc<Churn>) {
    let prefix = format!("soak-{}", run_id());
    while Instant::now() < end {
        let round = async {
            let mut c = Conn::connect(&uri, ConnectOptions::default()).await?;
            c.open_channel(1).await?;
            let mut round = 0u64;
            while Instant::now() < end {
                let names: Vec<String> = (0..queues)
                    .map(|i| format!("{prefix}-{round}-{i}"))
                    .collect();
                for (i, name) in names.iter().enumerate() {
                    c.rpc(1, client::queue_declare(name, i % 2 == 0)).await?;
                    c.rpc(
                        1,
                        client::queue_bind(name, "amq.direct", name, FieldTable::default()),
                    )
                    .await?;
                }
                let mut out = Vec::new();
                for name in &names {
                    let t = Template::new(1, "amq.direct", name, &[0, 0], 256, c.frame_max);
                    t.append(&mut out, 0, now_ns());
                }
                c.send_raw(&out);
                c.flush().await?;
                for name in &names {
                    c.rpc(1, client::queue_delete(name)).await?;
                }
                churn.queues.fetch_add(queues as u64, Ordering::Relaxed);
                round += 1;
            }
            c.close().await
        };
        if let Err(e) = round.await {
            churn.failed("queue churn", &e);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// One message at a time into an exclusive queue this connection consumes (no ack): the
/// time from its publish to its delivery (ns), every `gap`.
async fn probe(
    uri: AmqpUri,
    gap: Duration,
    end: Instant,
    samples: Arc<Mutex<Vec<u64>>>,
    churn: Arc<Churn>,
) {
    while Instant::now() < end {
        let round = async {
            let mut c = Conn::connect(&uri, ConnectOptions::default()).await?;
            c.open_channel(1).await?;
            let queue = match c.rpc(1, client::queue_declare_exclusive()).await? {
                AMQPClass::Queue(warren_codec::protocol::queue::AMQPMethod::DeclareOk(ok)) => {
                    ok.queue.as_str().to_owned()
                }
                other => bail!("expected queue.declare_ok, got {other:?}"),
            };
            c.consume(1, &queue, "probe", true).await?;
            let template = Template::new(1, "", &queue, &[0, 0], BODY_HEADER, c.frame_max);
            let mut out = Vec::new();
            let mut next = Instant::now();
            while Instant::now() < end {
                tokio::time::sleep_until(next).await;
                next += gap;
                out.clear();
                let sent = now_ns();
                template.append(&mut out, 0, sent);
                c.send_raw(&out);
                c.flush().await?;
                c.next_body(1).await?;
                let elapsed_ns = now_ns() - sent;
                if let Ok(mut s) = samples.lock() {
                    s.push(elapsed_ns);
                }
            }
            c.close().await
        };
        if let Err(e) = round.await {
            churn.failed("latency probe", &e);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
