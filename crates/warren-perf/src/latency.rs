//! `latency`: one producer paced at a fixed rate (its own thread, one message per write, each
//! stamped at the moment it is written) → one queue → one consumer (its own thread, blocking
//! reads); exact end-to-end percentiles.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::{json, Value};

use crate::client::{connection_close, Conn, ConnectOptions};
use crate::consumer::{self, ConsumerConfig, ConsumerCore};
use crate::stats::LatencyUs;
use crate::throughput::{drain, verdict, DEFAULT_PREFETCH};
use crate::topology::{cleanup, ExchangeKind, Topology};
use crate::uri::AmqpUri;
use crate::wire::{now_ns, stream_word, Template, BODY_HEADER};

#[derive(Debug, Clone, Args)]
pub struct LatencyArgs {
    /// Messages per second.
    #[arg(long, default_value_t = 10_000.0)]
    pub rate: f64,
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    #[arg(long, default_value_t = 16)]
    pub size: usize,
    /// Seconds at the start whose messages are not counted.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    #[arg(long, conflicts_with = "prefetch")]
    pub autoack: bool,
    #[arg(long)]
    pub prefetch: Option<u16>,
    /// Acknowledge (multiple=true) every this many deliveries (default: half the prefetch).
    #[arg(long, conflicts_with = "autoack")]
    pub ack_every: Option<u64>,
    /// Measure from the moment each message was due, not from when it was written: a broker
    /// that stops reading (or a producer that falls behind) then shows in the figures instead
    /// of silently delaying the sends (no coordinated omission).
    #[arg(long)]
    pub from_schedule: bool,
    #[arg(long)]
    pub persistent: bool,
    #[arg(long, value_enum, default_value_t = ExchangeKind::Direct)]
    pub exchange: ExchangeKind,
    /// No broker: the same producer and consumer threads and frames, through an in-process
    /// relay that only copies bytes between the two sockets (like `rawpipe`). What this
    /// machine's threads and loopback cost: the floor under any broker's figures.
    #[arg(long, conflicts_with_all = ["prefetch", "ack_every", "persistent"])]
    pub no_broker: bool,
}

extern "C" {
    fn prctl(option: i32, ...) -> i32;
}

/// Ask for 1 µs timer slack on this thread so short sleeps end on time (default is 50 µs).
fn tight_timer_slack() {
    const PR_SET_TIMERSLACK: i32 = 29;
    // SAFETY: prctl(PR_SET_TIMERSLACK, ns) only changes this thread's timer slack.
    unsafe {
        prctl(PR_SET_TIMERSLACK, 1000u64);
    }
}

pub async fn run(a: &LatencyArgs, uri: &AmqpUri) -> Result<Value> {
    if a.rate <= 0.0 {
        bail!("--rate must be positive");
    }
    let size = a.size.max(BODY_HEADER);
    if a.no_broker {
        return run_relay(a, size).await;
    }
    let mut admin = Conn::connect(uri, ConnectOptions::default()).await?;
    admin.open_channel(1).await?;
    let server = admin.server.clone();
    let mut topo = Topology::new(a.exchange, 1, a.persistent, 0);
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
    a: &LatencyArgs,
    uri: &AmqpUri,
    topo: &Topology,
    size: usize,
) -> Result<Value> {
    let manual_ack = !a.autoack;
    let prefetch = a.prefetch.unwrap_or(DEFAULT_PREFETCH);
    let mut c = Conn::connect(uri, ConnectOptions::default()).await?;
    c.open_channel(1).await?;
    if manual_ack {
        c.qos(1, prefetch).await?;
    }
    c.consume(1, &topo.queues[0], "0", !manual_ack).await?;
    let cparts = c.into_parts();
    let mut p = Conn::connect(uri, ConnectOptions::default()).await?;
    p.open_channel(1).await?;
    let template = topo.template(1, Some(0), a.persistent, None, size, p.frame_max);
    let streams = Streams {
        consumer: cparts.stream.into_std()?,
        consumer_leftover: cparts.leftover,
        consumer_frame_max: cparts.frame_max,
        producer: p.into_parts().stream.into_std()?,
        close_politely: true,
    };
    let ack = manual_ack.then(|| {
        let every = a
            .ack_every
            .unwrap_or(u64::from(prefetch) / 2)
            .clamp(1, u64::from(prefetch).max(1));
        (prefetch, every)
    });
    measure(a, streams, template, size, ack).await
}

/// Latency through a relay that only copies bytes: no broker, the floor for this machine.
async fn run_relay(a: &LatencyArgs, size: usize) -> Result<Value> {
    const FRAME_MAX: u32 = 131_072;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let (producer, relay_in) = crate::rawpipe::pair(&listener).await?;
    let (consumer, relay_out) = crate::rawpipe::pair(&listener).await?;
    let relay = tokio::spawn(crate::rawpipe::relay(relay_in, relay_out, 256 * 1024));
    let template = Template::new(1, "", "perf", &[0, 0], size, FRAME_MAX);
    let streams = Streams {
        consumer: consumer.into_std()?,
        consumer_leftover: Vec::new(),
        consumer_frame_max: FRAME_MAX,
        producer: producer.into_std()?,
        close_politely: false,
    };
    let result = measure(a, streams, template, size, None).await;
    relay.abort();
    let mut v = result?;
    v["server"] = json!("none (relay)");
    Ok(v)
}

/// The two connections a measurement runs over, handed to its threads.
struct Streams {
    consumer: std::net::TcpStream,
    /// Bytes the consumer's connection read past consume-ok.
    consumer_leftover: Vec<u8>,
    consumer_frame_max: u32,
    producer: std::net::TcpStream,
    /// Send connection.close and wait for close-ok at the end (a broker is there).
    close_politely: bool,
}

/// Run the paced producer and the consumer threads; `ack` is (prefetch, ack every) for
/// manual acknowledgements, None for autoack.
async fn measure(
    a: &LatencyArgs,
    streams: Streams,
    template: Template,
    size: usize,
    ack: Option<(u16, u64)>,
) -> Result<Value> {
    let manual_ack = ack.is_some();
    let (prefetch, ack_every) = ack.unwrap_or((0, 1));
    let cstream = streams.consumer;
    cstream.set_nonblocking(false)?;
    let mut core = ConsumerCore::new(ConsumerConfig {
        producers: 1,
        queues: 1,
        manual_ack,
        ack_every,
        channel: 1,
        exact_latency: true,
    });
    core.raw.reserve((a.rate * a.duration) as usize + 1024);
    let consumed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let consumer = {
        let (consumed, stop) = (Arc::clone(&consumed), Arc::clone(&stop));
        let (leftover, frame_max) = (streams.consumer_leftover, streams.consumer_frame_max);
        tokio::task::spawn_blocking(move || {
            tight_timer_slack();
            let r =
                consumer::run_blocking(cstream, leftover, frame_max, &mut core, &consumed, &stop);
            (core, r)
        })
    };
    let close_politely = streams.close_politely;
    let mut pstream = streams.producer;
    pstream.set_nonblocking(false)?;
    pstream.set_nodelay(true)?;
    let rate = a.rate;
    let a_duration = a.duration;
    let from_schedule = a.from_schedule;
    let dur_ns = (a.duration * 1e9) as u64;
    let warm_ns = (a.warmup.max(0.0) * 1e9) as u64;
    let published = Arc::new(AtomicU64::new(0));
    let producer = {
        let published = Arc::clone(&published);
        tokio::task::spawn_blocking(move || -> Result<(u64, u64, Vec<u64>)> {
            tight_timer_slack();
            let interval = 1e9 / rate;
            let mut buf = Vec::with_capacity(template.len());
            let start = now_ns();
            let (mut i, mut warm) = (0u64, 0u64);
            // How late each send left after its scheduled time (this machine's and this
            // process's share of a from-schedule latency, not the broker's).
            let mut late_ns = Vec::with_capacity((rate * a_duration) as usize + 1);
            loop {
                let due = start + (i as f64 * interval) as u64;
                if due >= start + dur_ns {
                    break;
                }
                let now = now_ns();
                if due > now {
                    std::thread::sleep(Duration::from_nanos(due - now));
                }
                buf.clear();
                let sent_at = now_ns();
                let stamp = if from_schedule { due } else { sent_at };
                template.append(&mut buf, stream_word(0, i), stamp);
                pstream.write_all(&buf)?;
                if due < start + warm_ns {
                    warm += 1;
                } else {
                    late_ns.push(sent_at.saturating_sub(due));
                }
                i += 1;
                published.store(i, Ordering::Release);
            }
            if !close_politely {
                return Ok((i, warm, late_ns));
            }
            // Close politely: connection.close, then wait for close-ok (or the server hanging
            // up); the socket closes when this thread returns.
            const CLOSE_OK: [u8; 12] = [1, 0, 0, 0, 0, 0, 4, 0, 10, 0, 51, 0xCE];
            let mut close = Vec::new();
            warren_codec::method::write_method(&mut close, 0, &connection_close());
            pstream.write_all(&close)?;
            pstream.set_read_timeout(Some(Duration::from_secs(3)))?;
            let mut seen = Vec::new();
            let mut scratch = [0u8; 512];
            while let Ok(n) = pstream.read(&mut scratch) {
                if n == 0 {
                    break;
                }
                seen.extend_from_slice(&scratch[..n]);
                if seen.windows(CLOSE_OK.len()).any(|w| w == CLOSE_OK) {
                    break;
                }
            }
            Ok((i, warm, late_ns))
        })
    };
    let (sent, warm, mut late_ns) = producer.await.context("producer thread")??;
    let send_late = LatencyUs::exact(&mut late_ns);
    let (drained, _) = drain(
        sent,
        || consumed.load(Ordering::Relaxed),
        || !consumer.is_finished(),
        Duration::from_secs(3),
        Duration::from_secs(10),
    )
    .await;
    stop.store(true, Ordering::Release);
    let (mut core, r) = consumer.await.context("consumer thread")?;
    let mut errors = Vec::new();
    if let Err(e) = r {
        errors.push(format!("consumer: {e:#}"));
    }
    let skip = (warm as usize).min(core.raw.len());
    let lat = LatencyUs::exact(&mut core.raw[skip..]);
    let results = [crate::producer::ProducerResult {
        published: sent,
        per_target: vec![(Some(0), sent)],
        settled: 0,
        nacked: 0,
        returned: 0,
    }];
    let v = verdict(1, &results, std::slice::from_ref(&core));
    let achieved = sent as f64 / a.duration.max(1e-9);
    eprintln!(
        "latency at {:.0} msg/s: p50 {} µs, p90 {} µs, p99 {} µs, p99.9 {} µs, max {} µs; lost {}, reordered {}; sends left late by p99 {} µs, p99.9 {} µs, max {} µs",
        achieved, lat.p50, lat.p90, lat.p99, lat.p999, lat.max, v.lost, v.reordered, send_late.p99, send_late.p999, send_late.max
    );
    Ok(json!({
        "scenario": "latency",
        "rate": a.rate,
        "achieved_rate": achieved.round(),
        "duration_s": a.duration,
        "warmup_s": a.warmup,
        "size": size,
        "ack": if manual_ack { "manual" } else { "auto" },
        "from_schedule": a.from_schedule,
        "no_broker": a.no_broker,
        "prefetch": manual_ack.then_some(prefetch),
        "ack_every": manual_ack.then_some(ack_every),
        "exchange": a.exchange.name(),
        "published": sent,
        "consumed": v.consumed,
        "lost": v.lost,
        "reordered": v.reordered,
        "duplicates": v.duplicates,
        "drained": drained,
        "latency_us": lat,
        "send_late_us": send_late,
        "p50_us": lat.p50,
        "p90_us": lat.p90,
        "p99_us": lat.p99,
        "p999_us": lat.p999,
        "max_us": lat.max,
        "errors": errors,
    }))
}
