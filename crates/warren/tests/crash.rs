//! Crash test: publish and consume concurrently, SIGKILL the broker at a random moment, restart
//! it on the same data dir and check what it serves against a model of what it confirmed and
//! what was acked: no confirmed message lost, none duplicated, no corrupt body, per-publisher
//! order kept, acked messages come back only if acked just before the kill (and redelivered),
//! a message the consumer received but had not acked comes back redelivered, and
//! `warren check-store` passes after every kill. The run ends with a clean stop, after which
//! nothing acked may come back.
//!
//! Knobs (environment):
//! - `WARREN_CRASH_ITERATIONS` (default 20): kill/restart cycles; a soak run is a bigger number.
//! - `WARREN_CRASH_SEED`: replay the random choices of an earlier run (thread timing still
//!   varies). The seed in use is printed.
//! - `WARREN_CRASH_ACK_WINDOW_MS` (default 1000): how long before the kill an ack may have been
//!   sent and still be lost.
//! - `WARREN_CRASH_SEGMENT_SIZE` (default 1048576): `--segment-size` of the broker; empty for
//!   the broker's default.
//!
//! Run: `cargo test -p warren --test crash -- --nocapture`

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use lapin::message::{Delivery, DeliveryResult};
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use tokio::sync::mpsc;
use warren_testkit::TestBroker;

const BIN: &str = env!("CARGO_BIN_EXE_warren");
/// The durable queues; `crash.b` and `crash.c` are fed by the fanout exchange.
const QUEUES: [&str; 3] = ["crash.a", "crash.b", "crash.c"];
const FANOUT: &str = "crash.fanout";
/// Publishers: (exchange, routing key, queues the message lands in).
const PUBLISHERS: [(&str, &str, &[usize]); 3] = [
    ("", "crash.a", &[0]),
    ("", "crash.a", &[0]),
    (FANOUT, "", &[1, 2]),
];
/// Unconfirmed publishes per publisher.
const WINDOW: usize = 64;
/// Bound for single operations (connect, declare, one confirm, one delivery while draining).
const OP: Duration = Duration::from_secs(10);
/// Bound for a task to notice the broker is gone and finish.
const TASK_END: Duration = Duration::from_secs(15);

// --- random numbers and bodies ------------------------------------------------------------

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

fn mix(x: u64) -> u64 {
    let mut r = Rng(x.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    r.next()
}

fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// `"WC" | id (u64 LE) | payload length (u32 LE) | payload | FNV-1a of everything before`,
/// the payload (16..1040 bytes) derived from the id.
fn body_for(id: u64) -> Vec<u8> {
    let len = 16 + (mix(id) % 1024) as usize;
    let mut b = Vec::with_capacity(len + 22);
    b.extend_from_slice(b"WC");
    b.extend_from_slice(&id.to_le_bytes());
    b.extend_from_slice(&(len as u32).to_le_bytes());
    let mut r = Rng(mix(id ^ 0x5555) | 1);
    b.extend((0..len).map(|_| r.next() as u8));
    let sum = fnv1a(&b);
    b.extend_from_slice(&sum.to_le_bytes());
    b
}

/// The id of an intact body.
fn parse_body(data: &[u8]) -> Result<u64, String> {
    if data.len() < 22 || &data[..2] != b"WC" {
        return Err(format!("not a test body ({} bytes)", data.len()));
    }
    let id = u64::from_le_bytes(data[2..10].try_into().unwrap());
    let (head, sum) = data.split_at(data.len() - 8);
    if fnv1a(head).to_le_bytes() != sum {
        return Err(format!(
            "checksum mismatch (claims id {id}, {} bytes)",
            data.len()
        ));
    }
    if data != body_for(id).as_slice() {
        return Err(format!("body of {id} differs from what was published"));
    }
    Ok(id)
}

fn properties(id: u64) -> BasicProperties {
    BasicProperties::default()
        .with_delivery_mode(2)
        .with_message_id(id.to_string().into())
}

// --- the model ----------------------------------------------------------------------------

/// What the harness knows about one message in one queue.
#[derive(Debug)]
struct Msg {
    /// (iteration, publisher): messages of one stream keep their order in a queue.
    stream: (usize, usize),
    confirmed: bool,
    /// Handed to a consumer (and not acked since).
    delivered: bool,
    /// When the ack was sent (set just before sending it).
    acked_at: Option<Instant>,
    /// Not confirmed and absent after a restart: must never show up again.
    lost: bool,
}

#[derive(Debug, Default)]
struct Stats {
    published: u64,
    confirmed: u64,
    nacked: u64,
    live_deliveries: u64,
    recovered: u64,
    unconfirmed_present: u64,
    unconfirmed_lost: u64,
    resurrected: u64,
    redelivered_flags: u64,
}

/// How the broker went down before the current run.
#[derive(Clone, Copy, Debug)]
enum LastStop {
    Fresh,
    Killed(Instant),
    Clean,
}

#[derive(Default)]
struct Model {
    queues: [HashMap<u64, Msg>; 3],
    violations: Vec<String>,
    stats: Stats,
}

type Shared = Arc<Mutex<Model>>;

impl Model {
    fn violation(&mut self, v: String) {
        if self.violations.len() < 1000 {
            self.violations.push(v);
        }
    }

    fn published(&mut self, id: u64, stream: (usize, usize), queues: &[usize]) {
        self.stats.published += 1;
        for &q in queues {
            self.queues[q].insert(
                id,
                Msg {
                    stream,
                    confirmed: false,
                    delivered: false,
                    acked_at: None,
                    lost: false,
                },
            );
        }
    }

    fn confirmed(&mut self, id: u64, queues: &[usize]) {
        self.stats.confirmed += 1;
        for &q in queues {
            if let Some(m) = self.queues[q].get_mut(&id) {
                m.confirmed = true;
            }
        }
    }

    /// A delivery to the concurrent consumer; returns the id to ack, if it is a valid one.
    fn live_delivery(&mut self, q: usize, d: &Delivery) -> Option<u64> {
        self.stats.live_deliveries += 1;
        let id = match parse_body(&d.data) {
            Ok(id) => id,
            Err(e) => {
                self.violation(format!("{}: live delivery: {e}", QUEUES[q]));
                return None;
            }
        };
        match self.queues[q].get_mut(&id) {
            None => self.violation(format!("{}: live delivery of unknown id {id}", QUEUES[q])),
            Some(m) if m.acked_at.is_some() || m.lost || m.delivered => {
                let what = format!("{m:?}");
                self.violation(format!(
                    "{}: message {id} delivered again within one broker run ({what})",
                    QUEUES[q]
                ));
            }
            Some(m) => m.delivered = true,
        }
        Some(id)
    }

    fn acking(&mut self, q: usize, id: u64, at: Instant) {
        if let Some(m) = self.queues[q].get_mut(&id) {
            m.acked_at = Some(at);
            m.delivered = false;
        }
    }
}

fn lock(model: &Shared) -> std::sync::MutexGuard<'_, Model> {
    model.lock().unwrap_or_else(|p| p.into_inner())
}

// --- AMQP helpers that never panic --------------------------------------------------------

async fn bounded<F: std::future::Future<Output = lapin::Result<T>>, T>(
    what: &str,
    fut: F,
) -> Result<T, String> {
    match tokio::time::timeout(OP, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("{what}: {e}")),
        Err(_) => Err(format!("{what}: timed out after {OP:?}")),
    }
}

async fn connect(url: &str) -> Result<Connection, String> {
    bounded(
        "connect",
        Connection::connect(url, ConnectionProperties::default()),
    )
    .await
}

/// Forward the deliveries of consumers on `ch` (one per queue index) into one ordered stream.
async fn consume_queues(
    ch: &Channel,
    queues: &[usize],
    tag: &str,
) -> Result<mpsc::UnboundedReceiver<(usize, DeliveryResult)>, String> {
    let (tx, rx) = mpsc::unbounded_channel();
    for &q in queues {
        let consumer = bounded(
            "basic.consume",
            ch.basic_consume(
                QUEUES[q].into(),
                format!("{tag}-{q}").as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            ),
        )
        .await?;
        let tx = tx.clone();
        consumer.set_delegate(move |d: DeliveryResult| {
            let _ = tx.send((q, d));
            async {}
        });
    }
    Ok(rx)
}

// --- phases -------------------------------------------------------------------------------

async fn declare_topology(ch: &Channel) -> Result<(), String> {
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    for q in QUEUES {
        bounded(
            "queue.declare",
            ch.queue_declare(q.into(), durable, FieldTable::default()),
        )
        .await?;
    }
    bounded(
        "exchange.declare",
        ch.exchange_declare(
            FANOUT.into(),
            ExchangeKind::Fanout,
            ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        ),
    )
    .await?;
    for q in &QUEUES[1..] {
        bounded(
            "queue.bind",
            ch.queue_bind(
                (*q).into(),
                FANOUT.into(),
                "".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            ),
        )
        .await?;
    }
    Ok(())
}

/// (a) Take everything the restarted broker has, ack it, and compare with the model.
async fn drain(
    url: &str,
    model: &Shared,
    last: LastStop,
    ack_window: Duration,
) -> Result<u64, String> {
    let conn = connect(url).await?;
    let ch = bounded("channel.open", conn.create_channel()).await?;
    if matches!(last, LastStop::Fresh) {
        declare_topology(&ch).await?;
    }
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let mut counts = [0u64; 3];
    for (q, name) in QUEUES.iter().enumerate() {
        let queue = bounded(
            &format!("passive declare of durable queue {name}"),
            ch.queue_declare((*name).into(), passive, FieldTable::default()),
        )
        .await?;
        counts[q] = queue.message_count() as u64;
    }
    bounded(
        "passive declare of durable exchange",
        ch.exchange_declare(
            FANOUT.into(),
            ExchangeKind::Fanout,
            ExchangeDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        ),
    )
    .await?;

    let mut seen: [HashSet<u64>; 3] = Default::default();
    let mut total = 0;
    for q in 0..3 {
        let cch = bounded("channel.open", conn.create_channel()).await?;
        bounded("basic.qos", cch.basic_qos(1000, BasicQosOptions::default())).await?;
        let mut rx = consume_queues(&cch, &[q], "drain").await?;
        let mut last_in_stream: HashMap<(usize, usize), u64> = HashMap::new();
        let mut expect = counts[q];
        let mut got = 0u64;
        let mut unacked: Vec<u64> = Vec::new();
        loop {
            while got < expect {
                let d = match tokio::time::timeout(OP, rx.recv()).await {
                    Ok(Some((_, Ok(Some(d))))) => d,
                    other => {
                        return Err(format!(
                            "{}: drain stalled after {got} of {expect} messages: {other:?}",
                            QUEUES[q]
                        ))
                    }
                };
                got += 1;
                let id = check_recovered(
                    &mut lock(model),
                    q,
                    &d,
                    last,
                    ack_window,
                    &mut seen[q],
                    &mut last_in_stream,
                );
                unacked.extend(id);
                if unacked.len() >= 250 {
                    ack_upto(model, &cch, q, &mut unacked, d.delivery_tag).await?;
                }
            }
            // Nothing is published meanwhile, so the queue should now have nothing ready.
            let left = bounded(
                "passive declare",
                cch.queue_declare(QUEUES[q].into(), passive, FieldTable::default()),
            )
            .await?
            .message_count() as u64;
            if left == 0 {
                break;
            }
            expect += left;
        }
        if got > 0 {
            // Delivery tags on this channel count from 1.
            ack_upto(model, &cch, q, &mut unacked, got).await?;
        }
        total += got;
    }

    account_missing(&mut lock(model), &seen, total);
    // Closing the connection cleanly makes sure the acks were processed.
    let _ = bounded("connection.close", conn.close(200, "drained".into())).await;
    Ok(total)
}

/// After a drain: confirmed messages that were neither acked before nor served now are lost
/// (a violation); unconfirmed ones are marked lost (they must never show up again).
fn account_missing(m: &mut Model, seen: &[HashSet<u64>; 3], total: u64) {
    let mut violations = Vec::new();
    let mut newly_lost = 0;
    for (q, queue) in m.queues.iter_mut().enumerate() {
        for (id, msg) in queue.iter_mut() {
            if msg.acked_at.is_none() && !msg.lost && !seen[q].contains(id) {
                if msg.confirmed {
                    violations.push(format!(
                        "{}: confirmed message {id} lost ({msg:?})",
                        QUEUES[q]
                    ));
                } else {
                    msg.lost = true;
                    newly_lost += 1;
                }
            }
        }
    }
    m.stats.unconfirmed_lost += newly_lost;
    m.stats.recovered += total;
    for v in violations {
        m.violation(v);
    }
}

/// Ack (multiple) up to `tag`, recording the ack time of `ids` first.
async fn ack_upto(
    model: &Shared,
    ch: &Channel,
    q: usize,
    ids: &mut Vec<u64>,
    tag: u64,
) -> Result<(), String> {
    let now = Instant::now();
    {
        let mut m = lock(model);
        for id in ids.drain(..) {
            m.acking(q, id, now);
        }
    }
    bounded(
        "basic.ack",
        ch.basic_ack(tag, BasicAckOptions { multiple: true }),
    )
    .await
}

/// Check one message served after a restart against the model; returns its id if intact.
fn check_recovered(
    m: &mut Model,
    q: usize,
    d: &Delivery,
    last: LastStop,
    ack_window: Duration,
    seen: &mut HashSet<u64>,
    last_in_stream: &mut HashMap<(usize, usize), u64>,
) -> Option<u64> {
    let name = QUEUES[q];
    let id = match parse_body(&d.data) {
        Ok(id) => id,
        Err(e) => {
            m.violation(format!("{name}: recovered a corrupt message: {e}"));
            return None;
        }
    };
    if d.properties.delivery_mode() != &Some(2)
        || d.properties.message_id().as_ref().map(|s| s.as_str()) != Some(id.to_string().as_str())
    {
        m.violation(format!(
            "{name}: properties of {id} changed: {:?}",
            d.properties
        ));
    }
    if d.redelivered {
        m.stats.redelivered_flags += 1;
    }
    if !seen.insert(id) {
        m.violation(format!(
            "{name}: message {id} served twice after one restart"
        ));
        return Some(id);
    }
    let Some(msg) = m.queues[q].get(&id) else {
        m.violation(format!("{name}: message {id} was never published"));
        return Some(id);
    };
    let (stream, confirmed, delivered, acked_at, lost) = (
        msg.stream,
        msg.confirmed,
        msg.delivered,
        msg.acked_at,
        msg.lost,
    );
    if lost {
        m.violation(format!(
            "{name}: message {id} was absent after an earlier restart and came back"
        ));
    }
    if let Some(acked) = acked_at {
        let recent = match last {
            LastStop::Killed(kill) => acked + ack_window >= kill,
            LastStop::Fresh | LastStop::Clean => false,
        };
        if recent && d.redelivered {
            m.stats.resurrected += 1;
        } else {
            let before = match last {
                LastStop::Killed(kill) => format!(
                    "{:?} before the kill",
                    kill.saturating_duration_since(acked)
                ),
                other => format!("before a {other:?} stop"),
            };
            m.violation(format!(
                "{name}: message {id} acked {before} came back (redelivered={})",
                d.redelivered
            ));
        }
    } else if delivered && !d.redelivered {
        m.violation(format!(
            "{name}: message {id} was delivered before the crash but came back with redelivered=false"
        ));
    }
    if !confirmed {
        m.stats.unconfirmed_present += 1;
    }
    if let Some(prev) = last_in_stream.insert(stream, id) {
        if prev > id {
            m.violation(format!(
                "{name}: message {id} served after {prev} of the same publisher (order)"
            ));
        }
    }
    if let Some(msg) = m.queues[q].get_mut(&id) {
        msg.delivered = true;
        msg.lost = false;
    }
    Some(id)
}

/// (b) A publisher with confirms: runs until the broker dies.
async fn publisher(
    url: String,
    model: Shared,
    ids: Arc<AtomicU64>,
    iteration: usize,
    index: usize,
) {
    let (exchange, key, queues) = PUBLISHERS[index];
    let Ok(conn) = connect(&url).await else {
        return;
    };
    let Ok(ch) = bounded("channel.open", conn.create_channel()).await else {
        return;
    };
    if bounded(
        "confirm.select",
        ch.confirm_select(ConfirmSelectOptions::default()),
    )
    .await
    .is_err()
    {
        return;
    }
    let mut window: std::collections::VecDeque<(u64, lapin::PublisherConfirm)> =
        std::collections::VecDeque::new();
    loop {
        if window.len() >= WINDOW {
            let (id, confirm) = window.pop_front().expect("window");
            match tokio::time::timeout(OP, confirm).await {
                Ok(Ok(c)) if c.is_ack() => lock(&model).confirmed(id, queues),
                Ok(Ok(_)) => lock(&model).stats.nacked += 1,
                _ => break,
            }
        }
        let id = ids.fetch_add(1, Ordering::Relaxed);
        // Recorded before it is sent: the consumer may see it before basic_publish returns.
        lock(&model).published(id, (iteration, index), queues);
        let sent = tokio::time::timeout(
            OP,
            ch.basic_publish(
                exchange.into(),
                key.into(),
                BasicPublishOptions::default(),
                &body_for(id),
                properties(id),
            ),
        )
        .await;
        match sent {
            Ok(Ok(confirm)) => window.push_back((id, confirm)),
            _ => break,
        }
    }
    // Acks that arrived before the broker died still count; the rest fail quickly.
    let deadline = tokio::time::Instant::now() + OP;
    for (id, confirm) in window {
        match tokio::time::timeout_at(deadline, confirm).await {
            Ok(Ok(c)) if c.is_ack() => lock(&model).confirmed(id, queues),
            Ok(Ok(_)) => lock(&model).stats.nacked += 1,
            _ => {}
        }
    }
}

/// (b) The concurrent consumer: acks every delivery, until the broker dies.
async fn live_consumer(url: String, model: Shared) {
    let Ok(conn) = connect(&url).await else {
        return;
    };
    let Ok(ch) = bounded("channel.open", conn.create_channel()).await else {
        return;
    };
    if bounded("basic.qos", ch.basic_qos(200, BasicQosOptions::default()))
        .await
        .is_err()
    {
        return;
    }
    let Ok(mut rx) = consume_queues(&ch, &[0, 1, 2], "live").await else {
        return;
    };
    loop {
        let (q, d) = match tokio::time::timeout(OP, rx.recv()).await {
            Ok(Some((q, Ok(Some(d))))) => (q, d),
            _ => return,
        };
        let Some(id) = lock(&model).live_delivery(q, &d) else {
            continue;
        };
        // Counted as acked from the moment it may reach the broker.
        lock(&model).acking(q, id, Instant::now());
        if bounded("basic.ack", d.acker.ack(BasicAckOptions::default()))
            .await
            .is_err()
        {
            return;
        }
    }
}

// --- the test -----------------------------------------------------------------------------

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        v.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number"))
    })
}

fn fail(seed: u64, iteration: usize, phase: &str, broker: &TestBroker, why: &str) -> ! {
    let out = broker.output();
    let tail = &out[out.len().saturating_sub(30)..];
    panic!(
        "crash test failed (WARREN_CRASH_SEED={seed}, iteration {iteration}, {phase}): {why}\n\
         broker output (last {} lines):\n{}",
        tail.len(),
        tail.join("\n")
    );
}

fn check_model(seed: u64, iteration: usize, phase: &str, broker: &TestBroker, model: &Shared) {
    let m = lock(model);
    if !m.violations.is_empty() {
        let list: Vec<&str> = m.violations.iter().take(20).map(|s| s.as_str()).collect();
        let why = format!(
            "{} violation(s), first ones:\n  {}\nstats: {:?}",
            m.violations.len(),
            list.join("\n  "),
            m.stats
        );
        drop(m);
        fail(seed, iteration, phase, broker, &why);
    }
}

fn check_store(seed: u64, iteration: usize, broker: &TestBroker) -> String {
    let check = tokio::task::block_in_place(|| broker.check_store());
    if !check.success() {
        fail(
            seed,
            iteration,
            "check-store",
            broker,
            &format!("check-store failed: {check:?}"),
        );
    }
    check.stdout.trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_under_load_loses_no_confirmed_message() {
    let iterations = env_u64("WARREN_CRASH_ITERATIONS").unwrap_or(20) as usize;
    let seed = env_u64("WARREN_CRASH_SEED").unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    }) | 1;
    let ack_window = Duration::from_millis(env_u64("WARREN_CRASH_ACK_WINDOW_MS").unwrap_or(1000));
    let segment_size =
        std::env::var("WARREN_CRASH_SEGMENT_SIZE").unwrap_or_else(|_| "1048576".into());
    println!(
        "crash test: WARREN_CRASH_SEED={seed} iterations={iterations} ack window={ack_window:?} \
         segment size={segment_size:?}"
    );
    let mut rng = Rng(seed);
    let flags: Vec<&str> = if segment_size.trim().is_empty() {
        Vec::new()
    } else {
        vec!["--segment-size", segment_size.trim()]
    };
    let started = Instant::now();
    let mut broker = tokio::task::block_in_place(|| TestBroker::start_with(BIN, &flags));
    let model: Shared = Arc::default();
    let ids = Arc::new(AtomicU64::new(1));
    let mut last = LastStop::Fresh;
    let mut last_check = String::new();

    for iteration in 0..iterations {
        if iteration > 0 {
            tokio::task::block_in_place(|| broker.restart());
        }
        let url = broker.amqp_url();

        // (a) drain and compare
        let drained = match drain(&url, &model, last, ack_window).await {
            Ok(n) => n,
            Err(e) => fail(seed, iteration, "drain", &broker, &e),
        };
        check_model(seed, iteration, "drain", &broker, &model);

        // (b) load, then SIGKILL at a random moment
        let run_for = Duration::from_millis(rng.range(100, 600));
        let mut tasks = Vec::new();
        for index in 0..PUBLISHERS.len() {
            tasks.push(tokio::spawn(publisher(
                url.clone(),
                Arc::clone(&model),
                Arc::clone(&ids),
                iteration,
                index,
            )));
        }
        tasks.push(tokio::spawn(live_consumer(url.clone(), Arc::clone(&model))));
        tokio::time::sleep(run_for).await;
        let kill = Instant::now();
        tokio::task::block_in_place(|| broker.kill9());
        last = LastStop::Killed(kill);
        for task in tasks {
            let abort = task.abort_handle();
            match tokio::time::timeout(TASK_END, task).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => fail(
                    seed,
                    iteration,
                    "load",
                    &broker,
                    &format!("task failed: {e}"),
                ),
                Err(_) => {
                    abort.abort();
                    fail(
                        seed,
                        iteration,
                        "load",
                        &broker,
                        &format!("a client task did not end within {TASK_END:?} of the kill"),
                    );
                }
            }
        }
        check_model(seed, iteration, "load", &broker, &model);

        // (c) offline store check
        last_check = check_store(seed, iteration, &broker);
        let s = &lock(&model).stats;
        println!(
            "iteration {iteration}: drained {drained}, ran {run_for:?}; published {} confirmed {} \
             so far; check-store: {last_check}",
            s.published, s.confirmed
        );
    }

    // The last kill, then a clean stop: after it, nothing acked may come back.
    tokio::task::block_in_place(|| broker.restart());
    let url = broker.amqp_url();
    let drained = match drain(&url, &model, last, ack_window).await {
        Ok(n) => n,
        Err(e) => fail(seed, iterations, "final drain", &broker, &e),
    };
    check_model(seed, iterations, "final drain", &broker, &model);
    let code = tokio::task::block_in_place(|| broker.terminate());
    if code != Some(0) {
        fail(
            seed,
            iterations,
            "clean stop",
            &broker,
            &format!("exit code {code:?}"),
        );
    }
    let final_check = check_store(seed, iterations, &broker);
    tokio::task::block_in_place(|| broker.restart());
    let url = broker.amqp_url();
    let leftover = match drain(&url, &model, LastStop::Clean, ack_window).await {
        Ok(n) => n,
        Err(e) => fail(seed, iterations, "drain after clean stop", &broker, &e),
    };
    check_model(seed, iterations, "drain after clean stop", &broker, &model);
    if leftover != 0 {
        fail(
            seed,
            iterations,
            "drain after clean stop",
            &broker,
            &format!("{leftover} messages left after everything was acked and the broker stopped cleanly"),
        );
    }

    let s = &lock(&model).stats;
    println!(
        "crash test summary (WARREN_CRASH_SEED={seed}): {iterations} iterations in {:?}\n  \
         published {}, confirmed {}, nacked {}, live deliveries {}, recovered after restarts {} \
         (redelivered flag on {}), final drain {drained}\n  \
         unconfirmed but present {}, unconfirmed and lost {}, resurrected (acked < {ack_window:?} \
         before a kill) {}\n  last check-store after a kill: {last_check}\n  after the clean \
         stop: {final_check}",
        started.elapsed(),
        s.published,
        s.confirmed,
        s.nacked,
        s.live_deliveries,
        s.recovered,
        s.redelivered_flags,
        s.unconfirmed_present,
        s.unconfirmed_lost,
        s.resurrected,
    );
}
