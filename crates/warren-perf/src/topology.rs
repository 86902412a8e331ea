//! The exchange, queues and bindings a run uses: named uniquely per run, declared with
//! pipelined requests, deleted at the end.

use anyhow::{bail, Result};
use bytes::Bytes;
use clap::ValueEnum;
use warren_codec::content::encode_properties;
use warren_codec::protocol::basic::AMQPProperties;
use warren_codec::protocol::{queue, AMQPClass};
use warren_codec::types::{AMQPValue, FieldTable, LongString};

use crate::client::{self, Conn, ConnectOptions};
use crate::uri::AmqpUri;
use crate::wire::Template;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExchangeKind {
    /// The nameless default exchange (routing key = queue name); no bindings to make.
    Default,
    Direct,
    Fanout,
    Topic,
    Headers,
}

impl ExchangeKind {
    pub fn name(self) -> &'static str {
        match self {
            ExchangeKind::Default => "default",
            ExchangeKind::Direct => "direct",
            ExchangeKind::Fanout => "fanout",
            ExchangeKind::Topic => "topic",
            ExchangeKind::Headers => "headers",
        }
    }
}

/// A short id that keeps this run's names apart from earlier runs' leftovers.
pub fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{:x}{:05x}",
        std::process::id(),
        (nanos >> 10) as u32 & 0xfffff
    )
}

pub struct Topology {
    pub kind: ExchangeKind,
    pub exchange: String,
    pub queues: Vec<String>,
    pub durable: bool,
    /// x-arguments every queue is declared with (`--queue-arg`).
    pub queue_args: FieldTable,
    /// Messages go first to a queue `NAME-ttl` of each queue, with this message TTL and the
    /// queue as its dead-letter target (default exchange only): every message expires
    /// into the queue the consumers read.
    pub ttl_stage_ms: Option<u64>,
    /// Bindings asked for (at least one per queue for non-default exchanges).
    pub bindings: usize,
    /// Bindings actually made.
    pub bound: usize,
}

impl Topology {
    pub fn new(kind: ExchangeKind, queues: usize, durable: bool, bindings: usize) -> Self {
        Self::named(
            kind,
            queues,
            durable,
            bindings,
            &format!("perf-{}", run_id()),
        )
    }

    /// Like [`Topology::new`] with fixed names: exchange `PREFIX-KIND`, queues `PREFIX-q0`,
    /// `PREFIX-q1`, … (so a later run can find what an earlier one left behind).
    pub fn named(
        kind: ExchangeKind,
        queues: usize,
        durable: bool,
        bindings: usize,
        prefix: &str,
    ) -> Self {
        Self {
            kind,
            exchange: match kind {
                ExchangeKind::Default => String::new(),
                k => format!("{prefix}-{}", k.name()),
            },
            queues: (0..queues).map(|i| format!("{prefix}-q{i}")).collect(),
            durable,
            queue_args: FieldTable::default(),
            ttl_stage_ms: None,
            bindings,
            bound: 0,
        }
    }

    pub fn fanout(&self) -> bool {
        self.kind == ExchangeKind::Fanout
    }

    /// The routing key a message for queue `q` is published with.
    pub fn routing_key(&self, q: usize) -> String {
        match self.kind {
            ExchangeKind::Default if self.ttl_stage_ms.is_some() => self.ttl_stage(q),
            ExchangeKind::Default | ExchangeKind::Direct => self.queues[q].clone(),
            ExchangeKind::Topic => format!("perf.q{q}.data"),
            ExchangeKind::Fanout | ExchangeKind::Headers => String::new(),
        }
    }

    /// The TTL stage in front of queue `q` (see [`Topology::ttl_stage_ms`]).
    fn ttl_stage(&self, q: usize) -> String {
        format!("{}-ttl", self.queues[q])
    }

    /// Raw basic properties for messages to queue `q` (None: fanout), with `priority`.
    pub fn properties(&self, q: Option<usize>, persistent: bool, priority: Option<u8>) -> Bytes {
        let mut props = AMQPProperties::default();
        if persistent {
            props = props.with_delivery_mode(2);
        }
        if let Some(p) = priority {
            props = props.with_priority(p);
        }
        if let (ExchangeKind::Headers, Some(q)) = (self.kind, q) {
            let mut h = FieldTable::default();
            h.insert(
                "queue".into(),
                AMQPValue::LongString(LongString::from(self.queues[q].clone())),
            );
            h.insert(
                "kind".into(),
                AMQPValue::LongString(LongString::from("perf")),
            );
            props = props.with_headers(h);
        }
        encode_properties(&props)
    }

    /// The pre-encoded message a producer sends towards queue `q` (None: fanout).
    pub fn template(
        &self,
        channel: u16,
        q: Option<usize>,
        persistent: bool,
        priority: Option<u8>,
        size: usize,
        frame_max: u32,
    ) -> Template {
        let key = q.map(|q| self.routing_key(q)).unwrap_or_default();
        Template::new(
            channel,
            &self.exchange,
            &key,
            &self.properties(q, persistent, priority),
            size,
            frame_max,
        )
    }

    /// The bindings: one matching binding per queue, then non-matching ones (spread over the
    /// queues) up to the requested count, of the kind's realistic shapes.
    fn binding_methods(&self) -> Vec<AMQPClass> {
        let nq = self.queues.len();
        let mut out = Vec::new();
        if self.kind == ExchangeKind::Default {
            return out;
        }
        for (q, name) in self.queues.iter().enumerate() {
            let (key, args) = match self.kind {
                ExchangeKind::Direct => (name.clone(), FieldTable::default()),
                ExchangeKind::Fanout => (String::new(), FieldTable::default()),
                ExchangeKind::Topic => (format!("perf.q{q}.*"), FieldTable::default()),
                ExchangeKind::Headers => {
                    let mut t = FieldTable::default();
                    t.insert("x-match".into(), AMQPValue::LongString("all".into()));
                    t.insert(
                        "queue".into(),
                        AMQPValue::LongString(LongString::from(name.clone())),
                    );
                    (String::new(), t)
                }
                ExchangeKind::Default => unreachable!(),
            };
            out.push(client::queue_bind(name, &self.exchange, &key, args));
        }
        // Fanout bindings all match; extra ones would only be duplicates.
        if self.kind != ExchangeKind::Fanout {
            for k in nq..self.bindings.max(nq) {
                let q = k % nq;
                let (key, args) = match self.kind {
                    ExchangeKind::Direct => (format!("nomatch.{k}"), FieldTable::default()),
                    ExchangeKind::Topic => (
                        match k % 4 {
                            0 => format!("sensor.s{k}.*"),
                            1 => format!("perf.x{k}.#"),
                            2 => format!("*.r{k}.data"),
                            _ => format!("#.z{k}"),
                        },
                        FieldTable::default(),
                    ),
                    _ => {
                        let mut t = FieldTable::default();
                        if k % 2 == 0 {
                            t.insert("x-match".into(), AMQPValue::LongString("all".into()));
                            t.insert(
                                "queue".into(),
                                AMQPValue::LongString(LongString::from(format!("nomatch-{k}"))),
                            );
                        } else {
                            t.insert("x-match".into(), AMQPValue::LongString("any".into()));
                            t.insert(
                                format!("h{k}").as_str().into(),
                                AMQPValue::LongString("v".into()),
                            );
                        }
                        (String::new(), t)
                    }
                };
                out.push(client::queue_bind(
                    &self.queues[q],
                    &self.exchange,
                    &key,
                    args,
                ));
            }
        }
        out
    }

    /// Declare everything on `conn`'s channel `ch` (already open).
    pub async fn declare(&mut self, conn: &mut Conn, ch: u16) -> Result<()> {
        if self.kind != ExchangeKind::Default {
            conn.exchange_declare(ch, &self.exchange, self.kind.name(), self.durable)
                .await?;
        }
        let mut declares: Vec<AMQPClass> = self
            .queues
            .iter()
            .map(|q| client::queue_declare_with(q, self.durable, self.queue_args.clone()))
            .collect();
        if let Some(ttl) = self.ttl_stage_ms {
            for (i, q) in self.queues.iter().enumerate() {
                let mut args = FieldTable::default();
                args.insert("x-message-ttl".into(), AMQPValue::LongLongInt(ttl as i64));
                args.insert(
                    "x-dead-letter-exchange".into(),
                    AMQPValue::LongString("".into()),
                );
                args.insert(
                    "x-dead-letter-routing-key".into(),
                    AMQPValue::LongString(LongString::from(q.clone())),
                );
                declares.push(client::queue_declare_with(
                    &self.ttl_stage(i),
                    self.durable,
                    args,
                ));
            }
        }
        pipeline(conn, ch, declares, 128).await?;
        let binds = self.binding_methods();
        self.bound = binds.len();
        pipeline(conn, ch, binds, 128).await?;
        Ok(())
    }

    /// Messages ready in each queue, by passive queue.declare (pipelined). A missing queue is
    /// an error (the broker closes the channel with 404).
    pub async fn message_counts(&self, conn: &mut Conn, ch: u16) -> Result<Vec<u64>> {
        const WINDOW: usize = 128;
        let mut counts = Vec::with_capacity(self.queues.len());
        for chunk in self.queues.chunks(WINDOW) {
            for q in chunk {
                conn.send(ch, client::queue_declare_passive(q));
            }
            conn.flush().await?;
            for q in chunk {
                match conn.reply(ch).await? {
                    AMQPClass::Queue(queue::AMQPMethod::DeclareOk(ok)) => {
                        counts.push(u64::from(ok.message_count))
                    }
                    other => bail!("expected queue.declare-ok for {q}, got {other:?}"),
                }
            }
        }
        Ok(counts)
    }

    /// Delete the queues and the exchange.
    pub async fn delete(&self, conn: &mut Conn, ch: u16) -> Result<()> {
        let mut deletes: Vec<AMQPClass> = self
            .queues
            .iter()
            .map(|q| client::queue_delete(q))
            .collect();
        if self.ttl_stage_ms.is_some() {
            deletes
                .extend((0..self.queues.len()).map(|i| client::queue_delete(&self.ttl_stage(i))));
        }
        pipeline(conn, ch, deletes, 128).await?;
        if self.kind != ExchangeKind::Default {
            conn.exchange_delete(ch, &self.exchange).await?;
        }
        Ok(())
    }
}

/// Delete the topology with the admin connection (or a fresh one if that one is broken:
/// e.g. its channel was closed by an error), then close it. Best effort: failures are printed.
pub async fn cleanup(uri: &AmqpUri, admin: Conn, topo: &Topology) {
    let mut admin = admin;
    let r = async {
        if topo.delete(&mut admin, 1).await.is_ok() {
            return admin.close().await;
        }
        let mut fresh = Conn::connect(uri, ConnectOptions::default()).await?;
        fresh.open_channel(1).await?;
        topo.delete(&mut fresh, 1).await?;
        fresh.close().await
    }
    .await;
    if let Err(e) = r {
        eprintln!("warren-perf: cleanup failed: {e:#}");
    }
}

/// Send `methods` on channel `ch` keeping up to `window` in flight; every one must get a
/// reply (channel errors end it). Returns the number of replies.
pub async fn pipeline(
    conn: &mut Conn,
    ch: u16,
    methods: impl IntoIterator<Item = AMQPClass>,
    window: usize,
) -> Result<usize> {
    let window = window.max(1);
    let mut it = methods.into_iter().peekable();
    let mut inflight = 0usize;
    let mut done = 0usize;
    loop {
        if inflight <= window / 2 {
            while inflight < window {
                match it.next() {
                    Some(m) => {
                        conn.send(ch, m);
                        inflight += 1;
                    }
                    None => break,
                }
            }
            conn.flush().await?;
        }
        if inflight == 0 {
            if it.peek().is_none() {
                return Ok(done);
            }
            bail!("pipeline stalled");
        }
        conn.reply(ch).await?;
        inflight -= 1;
        done += 1;
    }
}

/// Split `items` over `workers`: worker w gets items w, w+workers, …; with fewer items than
/// workers, worker w shares item w % items.
pub fn assign(items: usize, workers: usize, w: usize) -> Vec<usize> {
    if items == 0 || workers == 0 {
        return Vec::new();
    }
    if items >= workers {
        (w..items).step_by(workers).collect()
    } else {
        vec![w % items]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignment_covers_everything() {
        assert_eq!(assign(4, 2, 0), vec![0, 2]);
        assert_eq!(assign(4, 2, 1), vec![1, 3]);
        assert_eq!(assign(1, 3, 2), vec![0]);
        assert_eq!(assign(3, 3, 1), vec![1]);
        assert!(assign(0, 3, 1).is_empty());
    }

    #[test]
    fn bindings_count_and_shape() {
        let t = Topology::new(ExchangeKind::Topic, 4, false, 100);
        let b = t.binding_methods();
        assert_eq!(b.len(), 100);
        let t = Topology::new(ExchangeKind::Fanout, 4, false, 100);
        assert_eq!(t.binding_methods().len(), 4);
        let t = Topology::new(ExchangeKind::Default, 4, false, 100);
        assert!(t.binding_methods().is_empty());
        assert_eq!(t.routing_key(2), t.queues[2]);
    }
}
