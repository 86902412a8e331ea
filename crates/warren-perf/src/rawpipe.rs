//! `rawpipe`: the same producer and consumer code and the same frames, but no broker: an
//! in-process relay forwards the producer's bytes to the consumer over loopback (two socket
//! hops, like a broker). The ceiling for this machine.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::client::Parts;
use crate::consumer::{self, ConsumerConfig, ConsumerCore};
use crate::producer::{self, ProducerPlan, ProducerShared, Target};
use crate::stats::LatencyUs;
use crate::throughput::{drain, verdict};
use crate::wire::{Template, BODY_HEADER};

#[derive(Debug, Clone, Args)]
pub struct RawpipeArgs {
    #[arg(long, default_value_t = 16)]
    pub size: usize,
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    #[arg(long, default_value_t = 128 * 1024)]
    pub batch_bytes: usize,
    /// Relay buffer size in bytes.
    #[arg(long, default_value_t = 256 * 1024)]
    pub relay_buffer: usize,
}

const FRAME_MAX: u32 = 131_072;

/// Forward everything from `from` to `to` until EOF.
pub(crate) async fn relay(mut from: TcpStream, mut to: TcpStream, buf_size: usize) -> Result<u64> {
    let mut buf = vec![0u8; buf_size.max(4096)];
    let mut total = 0u64;
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            // Keep the consumer's side open (as a broker would) until the run aborts us.
            std::future::pending::<()>().await;
            return Ok(total);
        }
        to.write_all(&buf[..n]).await?;
        total += n as u64;
    }
}

pub(crate) async fn pair(listener: &TcpListener) -> Result<(TcpStream, TcpStream)> {
    let client = TcpStream::connect(listener.local_addr()?).await?;
    let (server, _) = listener.accept().await?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    Ok((client, server))
}

pub async fn run(a: &RawpipeArgs) -> Result<Value> {
    let size = a.size.max(BODY_HEADER);
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let (producer_sock, relay_in) = pair(&listener).await?;
    let (consumer_sock, relay_out) = pair(&listener).await?;
    let relay_task = tokio::spawn(relay(relay_in, relay_out, a.relay_buffer));

    let (stop_tx, stop_rx) = watch::channel(false);
    let counter = Arc::new(AtomicU64::new(0));
    let mut core = ConsumerCore::new(ConsumerConfig {
        producers: 1,
        queues: 1,
        manual_ack: false,
        ack_every: 1,
        channel: 1,
        exact_latency: false,
    });
    let consumer = {
        let ctr = Arc::clone(&counter);
        tokio::spawn(async move {
            let r = consumer::run_async(
                crate::stream::Stream::Plain(consumer_sock),
                Vec::new(),
                FRAME_MAX,
                &mut core,
                &ctr,
                stop_rx,
                false,
            )
            .await;
            (core, r)
        })
    };
    let template = Template::new(1, "", "perf", &[0, 0], size, FRAME_MAX);
    let wire_size = template.len();
    let duration = Duration::from_secs_f64(a.duration.max(0.001));
    let t0 = Instant::now();
    let deadline = t0 + duration;
    let shared = Arc::new(ProducerShared::default());
    let plan = ProducerPlan {
        id: 0,
        targets: vec![Target {
            template,
            queue: Some(0),
            sent: 0,
        }],
        batch_bytes: a.batch_bytes.max(1),
        window: 0,
        rate: 0.0,
        limit: u64::MAX,
        deadline,
        confirm_deadline: deadline,
        close: false,
    };
    let parts = Parts {
        stream: crate::stream::Stream::Plain(producer_sock),
        leftover: Vec::new(),
        frame_max: FRAME_MAX,
    };
    let producer = tokio::spawn(producer::run(parts, plan, Arc::clone(&shared)));
    tokio::time::sleep_until(deadline).await;
    let consumed_window = counter.load(Ordering::Relaxed);
    let published_window = shared.published.load(Ordering::Acquire);
    let measured = t0.elapsed().as_secs_f64();
    let result = producer.await.context("producer task")??;
    let (drained, _) = drain(
        result.published,
        || counter.load(Ordering::Relaxed),
        || !consumer.is_finished(),
        Duration::from_secs(2),
        Duration::from_secs(10),
    )
    .await;
    let _ = stop_tx.send(true);
    let (core, r) = consumer.await.context("consumer task")?;
    r?;
    relay_task.abort();
    let v = verdict(
        1,
        std::slice::from_ref(&result),
        std::slice::from_ref(&core),
    );
    let pub_rate = (published_window as f64 / measured).round();
    let con_rate = (consumed_window as f64 / measured).round();
    let mb_s = con_rate * wire_size as f64 / 1e6;
    eprintln!(
        "rawpipe: {con_rate:.0} msgs/s delivered ({mb_s:.0} MB/s of frames, {wire_size} B per message), published {pub_rate:.0}/s; lost {}, reordered {}",
        v.lost, v.reordered
    );
    Ok(json!({
        "scenario": "rawpipe",
        "size": size,
        "wire_bytes_per_msg": wire_size,
        "duration_s": measured,
        "published_per_s": pub_rate,
        "consumed_per_s": con_rate,
        "mb_per_s": mb_s.round(),
        "published": result.published,
        "consumed": v.consumed,
        "lost": v.lost,
        "reordered": v.reordered,
        "duplicates": v.duplicates,
        "drained": drained,
        "latency_us": LatencyUs::from_histogram(&v.hist),
    }))
}
