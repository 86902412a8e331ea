//! `connections`: open N idle connections with one channel each and report the broker's
//! resident memory per connection; with `--channels M`, then N/10 more with M channels each,
//! and report the memory per additional channel.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::stream::Stream;
use anyhow::{bail, Result};
use clap::Args;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::Instant;
use warren_codec::frame::{write_heartbeat, FRAME_METHOD};
use warren_codec::method::write_method;

use crate::client::{connection_close, Conn, ConnectOptions};
use crate::stats::{nofile_limit_of, raise_nofile, rss_bytes};
use crate::uri::AmqpUri;
use crate::wire::scan_frame;

#[derive(Debug, Clone, Args)]
pub struct ConnectionsArgs {
    #[arg(long, default_value_t = 1000)]
    pub count: usize,
    /// The broker's process id (its VmRSS is read from /proc/PID/status).
    #[arg(long)]
    pub pid: Option<u32>,
    /// Seconds to wait after opening before reading the broker's memory.
    #[arg(long, default_value_t = 5.0)]
    pub settle: f64,
    /// Handshakes in flight at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Heartbeat interval to negotiate (most clients use 60 s); heartbeats are sent while idle.
    #[arg(long, default_value_t = 60)]
    pub heartbeat: u16,
    /// Channels per connection of a second set of `count / 10` connections (1: no second set).
    #[arg(long, default_value_t = 1)]
    pub channels: u16,
}

/// Idle connections held open, and what opening them cost.
struct Opened {
    held: Vec<tokio::task::JoinHandle<()>>,
    errors: Vec<String>,
    server: String,
    open_time: Duration,
}

/// Open `count` connections with `channels` channels each and keep them idle.
async fn open_set(
    a: &ConnectionsArgs,
    uri: &AmqpUri,
    count: usize,
    channels: u16,
    stop_rx: &watch::Receiver<bool>,
) -> Result<Opened> {
    let next = Arc::new(AtomicUsize::new(0));
    let t0 = Instant::now();
    let mut workers = Vec::new();
    let server = Arc::new(std::sync::Mutex::new(String::new()));
    for _ in 0..a.concurrency.clamp(1, count.max(1)) {
        let (next, uri, stop_rx, server) = (
            Arc::clone(&next),
            uri.clone(),
            stop_rx.clone(),
            Arc::clone(&server),
        );
        let heartbeat = a.heartbeat;
        workers.push(tokio::spawn(async move {
            let mut held = Vec::new();
            let mut errors = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < count {
                let opts = ConnectOptions {
                    heartbeat,
                    ..ConnectOptions::default()
                };
                let r = async {
                    let mut c = Conn::connect(&uri, opts).await?;
                    for ch in 1..=channels.max(1) {
                        c.open_channel(ch).await?;
                    }
                    Ok::<_, anyhow::Error>(c)
                }
                .await;
                match r {
                    Ok(c) => {
                        if let Ok(mut s) = server.lock() {
                            if s.is_empty() {
                                s.clone_from(&c.server);
                            }
                        }
                        let hb = c.heartbeat;
                        let parts = c.into_parts();
                        held.push(tokio::spawn(idle(parts.stream, hb, stop_rx.clone())));
                    }
                    Err(e) => errors.push(format!("{e:#}")),
                }
            }
            (held, errors)
        }));
    }
    let mut held = Vec::new();
    let mut errors = Vec::new();
    for w in workers {
        let (h, e) = w.await?;
        held.extend(h);
        errors.extend(e);
    }
    let server = server.lock().map(|s| s.clone()).unwrap_or_default();
    Ok(Opened {
        held,
        errors,
        server,
        open_time: t0.elapsed(),
    })
}

/// Hold one idle connection: answer nothing, send heartbeats, close politely on stop.
async fn idle(mut stream: Stream, heartbeat: u16, mut stop: watch::Receiver<bool>) {
    let mut scratch = [0u8; 128];
    let period = if heartbeat == 0 {
        Duration::from_secs(3600)
    } else {
        Duration::from_secs(u64::from(heartbeat)) / 2
    };
    let mut tick = tokio::time::interval_at(Instant::now() + period, period);
    loop {
        tokio::select! {
            r = stream.read(&mut scratch) => match r {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            },
            _ = tick.tick() => {
                let mut hb = Vec::with_capacity(8);
                write_heartbeat(&mut hb);
                if stream.write_all(&hb).await.is_err() || stream.flush().await.is_err() {
                    return;
                }
            }
            _ = stop.changed() => break,
        }
    }
    let mut close = Vec::new();
    write_method(&mut close, 0, &connection_close());
    if stream.write_all(&close).await.is_err() || stream.flush().await.is_err() {
        return;
    }
    // Wait for close-ok (or the server hanging up), then reset the socket: no TIME_WAIT on
    // our side, so thousands of connections can be opened again right away.
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        let mut pending: Vec<u8> = Vec::new();
        while let Ok(n) = stream.read(&mut scratch).await {
            if n == 0 {
                break;
            }
            pending.extend_from_slice(&scratch[..n]);
            let mut need = 0;
            let mut pos = 0;
            while let Ok(Some((f, used))) = scan_frame(&pending[pos..], &mut need) {
                pos += used;
                if f.kind == FRAME_METHOD && f.payload.starts_with(&[0, 10, 0, 51]) {
                    return;
                }
            }
            pending.drain(..pos);
        }
    })
    .await;
    let _ = stream.tcp().set_zero_linger();
}

pub async fn run(a: &ConnectionsArgs, uri: &AmqpUri) -> Result<Value> {
    let limit = raise_nofile(a.count as u64 + 256);
    if limit < a.count as u64 + 16 {
        bail!(
            "open-file limit {limit} is too low for {} connections (raise the hard limit: ulimit -Hn)",
            a.count
        );
    }
    let mut warnings = Vec::new();
    if let Some(pid) = a.pid {
        if let Some(l) = nofile_limit_of(pid) {
            if l < a.count as u64 + 64 {
                let w = format!(
                    "broker pid {pid} may open only {l} files; {} connections will not all fit",
                    a.count
                );
                eprintln!("warren-perf: warning: {w}");
                warnings.push(w);
            }
        }
    }
    let rss_before = a.pid.map(rss_bytes).transpose()?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let first = open_set(a, uri, a.count, 1, &stop_rx).await?;
    let Opened {
        mut held,
        mut errors,
        server,
        open_time,
    } = first;
    let opened = held.len();
    eprintln!(
        "connections: {opened} open in {:.2} s ({} failed); settling {} s",
        open_time.as_secs_f64(),
        errors.len(),
        a.settle
    );
    tokio::time::sleep(Duration::from_secs_f64(a.settle.max(0.0))).await;
    let alive = held.iter().filter(|h| !h.is_finished()).count();
    let rss_after = a.pid.map(rss_bytes).transpose()?;
    // The same number again with more channels each: the difference is the channels' cost.
    let mut with_channels = None;
    if a.channels > 1 {
        let second = open_set(a, uri, (a.count / 10).max(1), a.channels, &stop_rx).await?;
        let opened2 = second.held.len();
        held.extend(second.held);
        errors.extend(second.errors);
        tokio::time::sleep(Duration::from_secs_f64(a.settle.max(0.0))).await;
        let rss_final = a.pid.map(rss_bytes).transpose()?;
        with_channels = Some((opened2, rss_final));
    }
    let t1 = Instant::now();
    let _ = stop_tx.send(true);
    for h in held {
        let _ = tokio::time::timeout(Duration::from_secs(10), h).await;
    }
    let close_time = t1.elapsed();
    let per_conn = match (rss_before, rss_after) {
        (Some(b), Some(a)) if opened > 0 => Some((a as f64 - b as f64) / opened as f64),
        _ => None,
    };
    if let Some(p) = per_conn {
        eprintln!(
            "connections: broker RSS {} → {} MiB, {:.1} KiB per connection",
            rss_before.unwrap_or(0) >> 20,
            rss_after.unwrap_or(0) >> 20,
            p / 1024.0
        );
    }
    // Each connection of the second set has (channels - 1) more channels than one of the first.
    let per_channel = match (with_channels, rss_before, rss_after) {
        (Some((opened2, Some(fin))), Some(b), Some(af)) if opened2 > 0 && opened > 0 => {
            let first = (af as f64 - b as f64) / opened as f64;
            let second = (fin as f64 - af as f64) / opened2 as f64;
            Some((second - first) / f64::from(a.channels - 1))
        }
        _ => None,
    };
    if let Some(p) = per_channel {
        eprintln!("connections: {:.0} B per additional channel", p);
    }
    errors.truncate(10);
    Ok(json!({
        "scenario": "connections",
        "server": server,
        "count": a.count,
        "opened": opened,
        "alive_after_settle": alive,
        "failed": a.count - opened,
        "open_per_s": (opened as f64 / open_time.as_secs_f64().max(1e-9)).round(),
        "close_s": close_time.as_secs_f64(),
        "heartbeat": a.heartbeat,
        "pid": a.pid,
        "rss_before": rss_before,
        "rss_after": rss_after,
        "rss_per_connection": per_conn.map(|p| p.round()),
        "channels": a.channels,
        "rss_after_channels": with_channels.and_then(|(_, r)| r),
        "rss_per_channel": per_channel.map(|p| p.round()),
        "errors": errors,
        "warnings": warnings,
    }))
}
