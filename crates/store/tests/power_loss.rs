//! Power-loss test: the real `Store` on a simulated disk (`store::io::sim::SimFs`) goes through
//! publishes, confirms, acks, delivery marks and durable topology changes; the power is cut at
//! a random moment (unsynced writes dropped, or kept up to a random byte), a new `Store`
//! recovers from what survived, and the test checks:
//! - every message the store reported synced and no queue released comes back, byte for
//!   byte, exactly once, in publish order; nothing that was not published to a queue shows up
//!   in it (released messages may come back: ack files are not synced, by design);
//! - the metadata journal replays to the state after a prefix of the changes that contains
//!   every change whose sync was reported (the ones a client was told about);
//! - recovery never fails or panics, also when the cut hits between recovery and the journal
//!   rewrite.
//!
//! Deleting the flusher's `sync_data` (or the directory sync) makes this fail.
//!
//! Knobs (environment): `WARREN_POWER_SEED` replays a run (thread timing still varies; the seed
//! in use is printed), `WARREN_POWER_ITERATIONS` (default 150) sets the number of cuts.
//!
//! Run: `cargo test -p warren-broker --test power_loss -- --nocapture`

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use warren_codec::content::PropertiesView;
use warren_store::io::sim::SimFs;
use warren_store::message::Message;
use warren_store::meta::{BindingRecord, MetaModel, MetaRecord};
use warren_store::{Recovered, Store, StoreConfig, StoreRef};

const ITERATIONS: u64 = 150;
/// The smallest segment the store allows: plenty of rolls.
const SEGMENT_SIZE: u64 = 64 << 10;
const VHOST: &str = "/";
/// Held messages beyond which the test acks instead of publishing.
const BACKLOG_MAX: usize = 300;

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn percent(&mut self, p: usize) -> bool {
        self.below(100) < p
    }
}

/// Message `n`'s exchange, routing key, properties and body, derived from `n` alone so a
/// recovered message is checked byte for byte without keeping its bytes.
fn content(n: u64) -> (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>) {
    let mut rng = Rng::new(n.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5555);
    let len = if n.is_multiple_of(13) {
        4_000 + rng.below(30_000)
    } else {
        rng.below(700)
    };
    let mut body = n.to_le_bytes().to_vec();
    body.extend((0..len).map(|_| rng.next() as u8));
    let exchange = format!("x{}", n % 3).into_bytes();
    let routing_key = format!("key.{n}").into_bytes();
    // Property flags: delivery-mode present; then the mode (persistent).
    let properties = vec![0x10, 0x00, 2];
    (exchange, routing_key, properties, body)
}

fn message(n: u64) -> Message {
    let (exchange, routing_key, properties, body) = content(n);
    let view = PropertiesView::parse(&properties).expect("valid properties");
    Message::new(&exchange, &routing_key, &properties, view, &body)
}

/// Which message a stored one is, after checking every byte of it.
fn identify(m: &Message) -> Result<u64, String> {
    let n = m
        .body()
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
        .ok_or("body shorter than its number")?;
    let (exchange, routing_key, properties, body) = content(n);
    let same = m.exchange() == exchange
        && m.routing_key() == routing_key
        && m.properties() == properties
        && m.body() == body;
    same.then_some(n)
        .ok_or_else(|| format!("message {n} came back with different bytes"))
}

/// One queue hold the test keeps, with the position that must be synced before it counts as
/// confirmed (0: recovered, so already on disk).
struct Held {
    n: u64,
    lsn: u64,
    hold: StoreRef,
}

/// A durable queue as the test knows it.
#[derive(Default)]
struct QueueModel {
    /// Every persistent message ever published to it: nothing else may come back.
    ever: BTreeSet<u64>,
    /// Held (published or recovered, not released), in publish order.
    live: VecDeque<Held>,
    /// A queue.delete was journaled for it.
    deleted: bool,
}

/// What the journal may replay to after the cut.
enum MetaExpect {
    /// The journal file was not replaced: exactly what the last recovery read.
    Exactly(MetaModel),
    /// The restatement committed at start, then a prefix of these changes holding every one
    /// synced (each with the position its reply waited for).
    Prefix {
        base: Vec<MetaRecord>,
        changes: Vec<(MetaRecord, u64)>,
    },
}

/// What must and may survive a cut.
struct Expect {
    meta: MetaExpect,
    synced: u64,
    /// Per durable queue: messages that must come back (if the queue does).
    required: BTreeMap<u32, Vec<u64>>,
    /// Queues whose declaration was synced and that were not deleted.
    must_exist: BTreeSet<u32>,
}

struct World {
    rng: Rng,
    queues: BTreeMap<u32, QueueModel>,
    /// Transient holds (non-durable queues, or transient messages): never recovered.
    transient: Vec<(u64, StoreRef)>,
    next_message: u64,
    base: Vec<MetaRecord>,
    changes: Vec<(MetaRecord, u64)>,
    next_exchange: u64,
    /// Position of the latest persistent append or journal record.
    last_lsn: u64,
}

fn config(fs: &SimFs) -> StoreConfig {
    StoreConfig {
        fs: Arc::new(fs.clone()),
        dir: PathBuf::from("/warren-data"),
        segment_size: SEGMENT_SIZE,
        memory_budget: usize::MAX,
    }
}

fn queue_record(id: u32) -> MetaRecord {
    MetaRecord::Queue {
        vhost: VHOST.into(),
        name: format!("q{id}"),
        id,
        arguments: String::new(),
    }
}

/// The records that restate a recovered model, as the broker journals them at start.
fn restate(m: &MetaModel) -> Vec<MetaRecord> {
    let mut out: Vec<MetaRecord> = m.vhosts.clone();
    out.extend(m.users.values().cloned());
    out.extend(m.permissions.values().cloned());
    out.extend(m.topic_permissions.values().cloned());
    out.extend(m.policies.values().cloned());
    out.extend(m.vhost_limits.values().cloned());
    out.extend(m.user_limits.values().cloned());
    out.extend(m.exchanges.values().cloned());
    out.extend(m.queues.values().cloned());
    out.extend(m.bindings.iter().cloned().map(MetaRecord::Bind));
    out
}

impl World {
    fn current_meta(&self) -> MetaModel {
        let mut records = self.base.clone();
        records.extend(self.changes.iter().map(|(r, _)| r.clone()));
        MetaModel::replay(records)
    }

    /// Check what a store recovered against what the last cut allowed.
    fn check(
        &mut self,
        recovered: &Recovered,
        store: &Store,
        expect: &Expect,
    ) -> Result<(), String> {
        match &expect.meta {
            MetaExpect::Exactly(m) if *m != recovered.meta => {
                return Err(format!(
                    "journal changed though it was not replaced:\nwant {m:?}\ngot {:?}",
                    recovered.meta
                ))
            }
            MetaExpect::Exactly(_) => {}
            MetaExpect::Prefix { base, changes } => {
                let acked = changes
                    .iter()
                    .filter(|(_, lsn)| *lsn <= expect.synced)
                    .count();
                let mut records = base.clone();
                records.extend(changes[..acked].iter().map(|(r, _)| r.clone()));
                let found = (acked..=changes.len()).any(|k| {
                    if k > acked {
                        records.push(changes[k - 1].0.clone());
                    }
                    MetaModel::replay(records.clone()) == recovered.meta
                });
                if !found {
                    return Err(format!(
                        "journal replays to no prefix holding the {acked} synced of {} changes: {:?}",
                        changes.len(),
                        recovered.meta
                    ));
                }
            }
        }
        let existing: BTreeSet<u32> = recovered.meta.queue_ids().collect();
        if let Some(q) = expect.must_exist.difference(&existing).next() {
            return Err(format!("queue {q}, declared and synced, is gone"));
        }
        for (q, list) in &recovered.messages {
            if !existing.contains(q) {
                return Err(format!(
                    "messages recovered for queue {q}, which does not exist"
                ));
            }
            let ever = self.queues.get(q).map(|m| &m.ever);
            let mut last = None;
            for r in list {
                let m = store
                    .read(&r.loc)
                    .map_err(|e| format!("queue {q}: recovered message unreadable: {e}"))?;
                let n = identify(&m).map_err(|e| format!("queue {q}: {e}"))?;
                if !ever.is_some_and(|e| e.contains(&n)) {
                    return Err(format!("queue {q}: message {n} was never published to it"));
                }
                if last.is_some_and(|l| l >= n) {
                    return Err(format!(
                        "queue {q}: message {n} after {last:?}: order or duplicate"
                    ));
                }
                last = Some(n);
            }
        }
        for (q, required) in &expect.required {
            if !existing.contains(q) {
                continue;
            }
            let got: BTreeSet<u64> = recovered
                .messages
                .get(q)
                .into_iter()
                .flatten()
                .map(|r| store.read(&r.loc).ok().and_then(|m| identify(&m).ok()))
                .map(|n| n.unwrap_or(u64::MAX))
                .collect();
            if let Some(n) = required.iter().find(|n| !got.contains(n)) {
                return Err(format!(
                    "queue {q}: confirmed message {n} lost ({} required, {} recovered)",
                    required.len(),
                    got.len()
                ));
            }
        }
        Ok(())
    }

    /// Take over what was recovered: holds for its messages, the queue models.
    fn adopt(&mut self, store: &Arc<Store>, recovered: &Recovered) {
        let existing: BTreeSet<u32> = recovered.meta.queue_ids().collect();
        self.queues.retain(|id, _| existing.contains(id));
        self.base = restate(&recovered.meta);
        self.changes.clear();
        // Positions start again at 0 in every store.
        self.last_lsn = 0;
        for id in &existing {
            let model = self.queues.entry(*id).or_default();
            model.deleted = false;
            for r in recovered.messages.get(id).into_iter().flatten() {
                let m = store.read(&r.loc).expect("checked readable");
                let n = identify(&m).expect("checked intact");
                let hold = store.make_ref(r.loc, *id, true);
                model.live.push_back(Held { n, lsn: 0, hold });
            }
        }
    }

    /// Journal a restatement of the recovered metadata and commit it, as the broker does.
    fn restate_and_commit(&mut self, store: &Store) {
        for r in &self.base {
            store.journal(r);
        }
        store.commit_journal().expect("commit the journal");
    }

    fn journal(&mut self, store: &Store, record: MetaRecord) {
        store.journal(&record);
        self.last_lsn = store.journaled();
        self.changes.push((record, self.last_lsn));
    }

    fn publish(&mut self, store: &Arc<Store>) {
        let n = self.next_message;
        self.next_message += 1;
        let durable: Vec<u32> = self
            .queues
            .iter()
            .filter(|(_, m)| !m.deleted)
            .map(|(id, _)| *id)
            .collect();
        let mut targets = Vec::new();
        for _ in 0..1 + self.rng.below(3) {
            if !durable.is_empty() && self.rng.percent(85) {
                targets.push(durable[self.rng.below(durable.len())]);
            } else {
                // A queue the journal never heard of (a transient queue).
                targets.push(store.next_queue_id());
            }
        }
        targets.sort_unstable();
        targets.dedup();
        let persistent = self.rng.percent(90);
        let appended = store.append(&message(n), &targets, persistent);
        if persistent {
            self.last_lsn = appended.lsn;
        }
        for q in targets {
            let durable = persistent && durable.contains(&q);
            let hold = store.make_ref(appended.loc, q, durable);
            match self.queues.get_mut(&q) {
                Some(model) if durable => {
                    model.ever.insert(n);
                    model.live.push_back(Held {
                        n,
                        lsn: appended.lsn,
                        hold,
                    });
                }
                _ => self.transient.push((n, hold)),
            }
        }
    }

    /// Release one hold: usually the oldest of a queue, sometimes one further in.
    fn ack(&mut self) {
        let ids: Vec<u32> = self.queues.keys().copied().collect();
        if ids.is_empty() {
            return;
        }
        let model = self
            .queues
            .get_mut(&ids[self.rng.below(ids.len())])
            .expect("listed");
        let at = if self.rng.percent(70) {
            0
        } else {
            self.rng.below(model.live.len())
        };
        model.live.remove(at);
        if !self.transient.is_empty() && self.rng.percent(50) {
            let at = self.rng.below(self.transient.len());
            self.transient.swap_remove(at);
        }
    }

    /// Read a held message back while the store runs (memory, in-flight or file).
    fn read_back(&mut self, store: &Store) {
        let all: Vec<&Held> = self.queues.values().flat_map(|m| &m.live).collect();
        if all.is_empty() {
            return;
        }
        let held = all[self.rng.below(all.len())];
        let m = store
            .read(&held.hold.loc)
            .expect("a held message reads back");
        assert_eq!(identify(&m), Ok(held.n));
    }

    fn mark(&mut self, store: &Store) {
        let marks: Vec<(u32, u64)> = self
            .queues
            .iter()
            .filter_map(|(id, m)| Some((*id, m.live.front()?.hold.loc.msg_id)))
            .collect();
        store.write_marks_blocking(&marks);
    }

    fn topology(&mut self, store: &Store) {
        let meta = self.current_meta();
        let live: Vec<u32> = self
            .queues
            .iter()
            .filter(|(_, m)| !m.deleted)
            .map(|(id, _)| *id)
            .collect();
        let exchanges: Vec<String> = meta.exchanges.keys().map(|(_, n)| n.clone()).collect();
        match self.rng.below(6) {
            0 | 1 => {
                let id = store.next_queue_id();
                self.journal(store, queue_record(id));
                self.queues.insert(id, QueueModel::default());
            }
            2 if !live.is_empty() => {
                let id = live[self.rng.below(live.len())];
                self.journal(
                    store,
                    MetaRecord::DeleteQueue {
                        vhost: VHOST.into(),
                        name: format!("q{id}"),
                        id,
                    },
                );
                store.forget_queue(id);
                let model = self.queues.get_mut(&id).expect("listed");
                model.deleted = true;
                model.live.clear();
            }
            3 => {
                self.next_exchange += 1;
                let record = MetaRecord::Exchange {
                    vhost: VHOST.into(),
                    name: format!("ex{}", self.next_exchange),
                    kind: "direct".into(),
                    auto_delete: false,
                    internal: false,
                    arguments: String::new(),
                };
                self.journal(store, record);
            }
            4 if !exchanges.is_empty() && !live.is_empty() => {
                let binding = BindingRecord {
                    vhost: VHOST.into(),
                    source: exchanges[self.rng.below(exchanges.len())].clone(),
                    destination_type: "queue".into(),
                    destination: format!("q{}", live[self.rng.below(live.len())]),
                    routing_key: "k".into(),
                    arguments: String::new(),
                };
                let record = if self.rng.percent(70) {
                    MetaRecord::Bind(binding)
                } else {
                    MetaRecord::Unbind(binding)
                };
                self.journal(store, record);
            }
            5 if !exchanges.is_empty() => {
                let name = exchanges[self.rng.below(exchanges.len())].clone();
                self.journal(
                    store,
                    MetaRecord::DeleteExchange {
                        vhost: VHOST.into(),
                        name,
                    },
                );
            }
            _ => {}
        }
    }

    /// Everything the store reported synced up to `synced` must survive.
    fn expectation(&self, synced: u64, meta: Option<MetaModel>) -> Expect {
        let mut required = BTreeMap::new();
        let mut must_exist = BTreeSet::new();
        for (id, m) in &self.queues {
            if m.deleted {
                continue;
            }
            let declared = self.changes.iter().find(|(r, _)| *r == queue_record(*id));
            if declared.is_none_or(|(_, lsn)| *lsn <= synced) {
                must_exist.insert(*id);
            }
            let confirmed = m.live.iter().filter(|h| h.lsn <= synced).map(|h| h.n);
            required.insert(*id, confirmed.collect());
        }
        let meta = match meta {
            Some(m) => MetaExpect::Exactly(m),
            None => MetaExpect::Prefix {
                base: self.base.clone(),
                changes: self.changes.clone(),
            },
        };
        Expect {
            meta,
            synced,
            required,
            must_exist,
        }
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.parse().ok()
}

#[test]
fn confirmed_messages_and_synced_topology_survive_power_loss() {
    let seed = env_u64("WARREN_POWER_SEED").unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    let iterations = env_u64("WARREN_POWER_ITERATIONS").unwrap_or(ITERATIONS);
    println!("power-loss seed {seed} (WARREN_POWER_SEED={seed} replays it), {iterations} cuts");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let mut world = World {
        rng: Rng::new(seed),
        queues: BTreeMap::new(),
        transient: Vec::new(),
        next_message: 1,
        base: Vec::new(),
        changes: Vec::new(),
        next_exchange: 0,
        last_lsn: 0,
    };
    let mut fs = SimFs::new();
    let mut expect: Option<Expect> = None;
    let mut lost_unsynced = 0usize;
    for iteration in 0..iterations {
        let cut_seed = world.rng.next();
        let fail = |what: String| -> ! {
            panic!("seed {seed}, iteration {iteration} (cut seed {cut_seed}): {what}")
        };
        let (store, recovered) =
            Store::open(config(&fs)).unwrap_or_else(|e| fail(format!("recovery failed: {e}")));
        if let Some(expect) = &expect {
            if let Err(e) = world.check(&recovered, &store, expect) {
                fail(e);
            }
        }
        world.adopt(&store, &recovered);
        // Sometimes the power goes before the journal rewritten at start is committed.
        let early = world.rng.percent(5);
        if !early {
            world.restate_and_commit(&store);
            if recovered.first_boot {
                world.journal(&store, MetaRecord::vhost(VHOST));
            }
            let steps = world.rng.below(400);
            for _ in 0..steps {
                step(&mut world, &store, &rt);
            }
        }
        let synced = store.synced();
        lost_unsynced += fs.unsynced_bytes();
        let next = fs.power_cut(cut_seed);
        store.close();
        let previous = early.then_some(recovered.meta);
        expect = Some(world.expectation(synced, previous));
        world.queues.values_mut().for_each(|m| m.live.clear());
        world.transient.clear();
        drop(store);
        fs = next;
    }
    assert!(lost_unsynced > 0, "no cut ever found unsynced data");
}

/// One random action on the running store.
fn step(world: &mut World, store: &Arc<Store>, rt: &tokio::runtime::Runtime) {
    // Keep the backlog bounded, so recovery stays quick however many cuts are run.
    let held: usize = world.queues.values().map(|m| m.live.len()).sum();
    let mut choice = world.rng.below(100);
    if held > BACKLOG_MAX && choice < 55 {
        choice += 55;
    }
    match choice {
        0..=54 => world.publish(store),
        55..=79 => world.ack(),
        80..=84 => world.topology(store),
        85..=87 => world.read_back(store),
        88..=89 => world.mark(store),
        90..=95 => {
            // A confirm (or a declare-ok) waits for the sync.
            let wait = store.wait_synced(world.last_lsn);
            let synced =
                rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), wait).await });
            assert!(
                synced.is_ok(),
                "the store never synced position {}",
                world.last_lsn
            );
        }
        _ => std::thread::sleep(Duration::from_micros(200)),
    }
}
