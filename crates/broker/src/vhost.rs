//! A virtual host: its exchanges, queues and bindings (the topology) and routing through them.
//!
//! The topology sits behind one RwLock: declarations take it for writing (rare), publishes
//! for reading while they resolve destinations, and release it before touching any queue.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use parking_lot::RwLock;
use warren_codec::types::{AMQPValue, FieldTable};

use crate::arguments::{compare_args, type_name};
use crate::exchange::stats::{ExchangeStats, ExchangeTally};
use crate::exchange::{headers, Binding, Destination, Exchange, ExchangeKind};
use crate::queue::{JanitorSpawner, Queue, QueueSettings, QueueSpec};
use crate::totals::{Churn, ChurnEvent, DeadLetterTotals, Totals};
use warren_model::command::{DestinationKind, Origin, VhostSpec};
use warren_model::policy::VhostPolicies;
use warren_model::query::{BindingInfo, ExchangeInfo};
use warren_model::{ControlError, ControlResult};
use warren_store::message::Message;
use warren_store::meta::{table_to_text, BindingRecord, MetaRecord};
use warren_store::Store;

use crate::metalog::MetaLog;

/// A queue.declare's result.
#[derive(Debug, Clone)]
pub struct QueueDeclared {
    pub queue: Arc<Queue>,
    pub messages: u32,
    pub consumers: u32,
    /// False when an equivalent queue existed already.
    pub created: bool,
}

/// Predeclared in every vhost, as in RabbitMQ.
const STANDARD_EXCHANGES: [(&str, ExchangeKind); 6] = [
    ("amq.direct", ExchangeKind::Direct),
    ("amq.fanout", ExchangeKind::Fanout),
    ("amq.topic", ExchangeKind::Topic),
    ("amq.headers", ExchangeKind::Headers),
    ("amq.match", ExchangeKind::Headers),
    ("amq.rabbitmq.trace", ExchangeKind::Topic),
];

/// Queue arguments RabbitMQ compares when a queue is redeclared.
const EQUIVALENCE_ARGS: [&str; 13] = [
    "x-expires",
    "x-message-ttl",
    "x-dead-letter-exchange",
    "x-dead-letter-routing-key",
    "x-max-length",
    "x-max-length-bytes",
    "x-max-priority",
    "x-overflow",
    "x-queue-mode",
    "x-queue-version",
    "x-single-active-consumer",
    "x-queue-type",
    "x-queue-master-locator",
];

#[derive(Debug, Default)]
struct Topology {
    exchanges: HashMap<Arc<str>, Exchange>,
    queues: HashMap<Arc<str>, Arc<Queue>>,
    /// For each exchange that exchange-to-exchange bindings lead to, the exchanges they start
    /// from (with how many bindings each): deleting an exchange then visits only those, and a
    /// cascade of auto-delete exchanges costs its length, not its length × all exchanges.
    sources: HashMap<Arc<str>, HashMap<Arc<str>, usize>>,
}

impl Topology {
    /// Note a new exchange-to-exchange binding from `source`.
    fn add_source(&mut self, destination: &Destination, source: &Arc<str>) {
        if let Destination::Exchange(dest) = destination {
            *self
                .sources
                .entry(Arc::clone(dest))
                .or_default()
                .entry(Arc::clone(source))
                .or_default() += 1;
        }
    }

    /// Forget `count` bindings from `source` to `destination` (all of them: usize::MAX).
    fn drop_source(&mut self, destination: &Destination, source: &str, count: usize) {
        let Destination::Exchange(dest) = destination else {
            return;
        };
        let Some(from) = self.sources.get_mut(dest) else {
            return;
        };
        if let Some(n) = from.get_mut(source) {
            *n = n.saturating_sub(count);
            if *n == 0 {
                from.remove(source);
            }
        }
        if from.is_empty() {
            self.sources.remove(dest);
        }
    }

    /// Remove an exchange and its own exchange-to-exchange bindings from the index.
    fn remove_exchange(&mut self, name: &str) -> Option<Exchange> {
        let x = self.exchanges.remove(name)?;
        let dests: Vec<Arc<str>> = x.exchange_destinations().cloned().collect();
        for dest in dests {
            self.drop_source(&Destination::Exchange(dest), name, usize::MAX);
        }
        Some(x)
    }
}

#[derive(Debug)]
pub struct VHost {
    pub name: Arc<str>,
    /// Description, tags and default queue type (the management API's vhost fields).
    pub metadata: parking_lot::Mutex<VhostSpec>,
    /// RabbitMQ's vhost limits as set (`max-connections`, `max-queues`; negative: none).
    pub limits: parking_lot::Mutex<std::collections::BTreeMap<String, i64>>,
    topology: RwLock<Topology>,
    /// Queue ids and their hold on stored messages.
    store: Arc<Store>,
    /// Durable changes are appended here before they are applied.
    log: Arc<dyn MetaLog>,
    /// The default exchange's `publish_in` / `publish_out` (it has no `Exchange` of its own).
    default_exchange_stats: Arc<ExchangeStats>,
    /// Message counts of this vhost's channels, added once per connection batch.
    pub totals: Totals,
    /// The broker's churn counters (queues declared, created, deleted).
    churn: Arc<Churn>,
    /// The broker's dead-letter totals: janitors add their batches, deleted queues what
    /// they dropped.
    pub dead_letters: Arc<DeadLetterTotals>,
    /// This vhost's policies, compiled (None: it has none).
    policies: RwLock<Option<Arc<VhostPolicies>>>,
    /// Starts a queue's janitor (TTL, expiry, dead-lettering) on demand.
    spawner: JanitorSpawner,
}

/// Reusable buffers for routing, owned by a channel so publishing does not allocate.
#[derive(Debug, Default)]
pub struct RouteScratch {
    destinations: Vec<Destination>,
    /// Exchanges routed through for the current message, by address.
    seen: HashSet<usize>,
}

/// An exchange.declare request.
#[derive(Debug, Clone)]
pub struct ExchangeDeclare<'a> {
    pub name: &'a str,
    pub kind: &'a str,
    pub passive: bool,
    pub durable: bool,
    pub auto_delete: bool,
    pub internal: bool,
    pub arguments: &'a FieldTable,
}

impl VHost {
    /// A vhost with the standard exchanges; `janitors` makes the function that starts its
    /// queues' janitor tasks (given the vhost, weakly: the tasks must not keep it alive).
    pub fn new(
        name: &str,
        store: Arc<Store>,
        log: Arc<dyn MetaLog>,
        churn: Arc<Churn>,
        dead_letters: Arc<DeadLetterTotals>,
        janitors: fn(std::sync::Weak<VHost>) -> JanitorSpawner,
    ) -> Arc<Self> {
        let mut topology = Topology::default();
        for (xname, kind) in STANDARD_EXCHANGES {
            let name: Arc<str> = Arc::from(xname);
            let internal = xname == "amq.rabbitmq.trace";
            let x = Exchange::new(
                name.clone(),
                kind,
                true,
                false,
                internal,
                FieldTable::default(),
            );
            topology.exchanges.insert(name, x);
        }
        Arc::new_cyclic(|me| Self {
            name: Arc::from(name),
            metadata: parking_lot::Mutex::new(VhostSpec {
                name: name.to_owned(),
                ..VhostSpec::default()
            }),
            limits: parking_lot::Mutex::default(),
            topology: RwLock::new(topology),
            store,
            log,
            default_exchange_stats: Arc::default(),
            totals: Totals::default(),
            churn,
            dead_letters,
            policies: RwLock::new(None),
            spawner: janitors(me.clone()),
        })
    }

    /// The message store (dead letters are enqueued through it).
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The settings a queue named `name` with `arguments` gets under the current policies.
    fn settings_for(&self, name: &str, arguments: &FieldTable) -> QueueSettings {
        crate::policies::queue_settings(self.policies.read().as_deref(), name, arguments)
    }

    /// New policies for this vhost: every queue's settings and every exchange's
    /// policy-given alternate exchange follow at once.
    pub fn apply_policies(&self, policies: Option<Arc<VhostPolicies>>) {
        *self.policies.write() = policies.clone();
        let queues = {
            let mut topo = self.topology.write();
            for x in topo.exchanges.values_mut() {
                x.policy_alternate =
                    crate::policies::policy_alternate(policies.as_deref(), &x.name);
            }
            topo.queues.values().cloned().collect::<Vec<_>>()
        };
        for q in queues {
            q.apply_settings(crate::policies::queue_settings(
                policies.as_deref(),
                q.name(),
                &q.spec.arguments,
            ));
        }
    }

    fn journal_exchange_deletes(&self, removed: &[Arc<str>]) {
        for name in removed {
            self.log.append(&MetaRecord::DeleteExchange {
                vhost: self.name.to_string(),
                name: name.to_string(),
            });
        }
    }

    /// A binding survives restarts when both its ends do (RabbitMQ's rule).
    fn journal_binding(
        &self,
        topo: &Topology,
        source: &Exchange,
        destination: &Destination,
        key: &[u8],
        arguments: &FieldTable,
        bind: bool,
    ) {
        let (destination_type, destination, durable) = match destination {
            Destination::Queue(q) => ("queue", q.name().to_owned(), q.store_id.is_some()),
            Destination::Exchange(name) => (
                "exchange",
                name.to_string(),
                topo.exchanges.get(name).is_some_and(|x| x.durable),
            ),
        };
        if !(source.durable && durable) {
            return;
        }
        let record = BindingRecord {
            vhost: self.name.to_string(),
            source: source.name.to_string(),
            destination_type: destination_type.into(),
            destination,
            routing_key: String::from_utf8_lossy(key).into_owned(),
            arguments: table_to_text(arguments),
        };
        self.log.append(&if bind {
            MetaRecord::Bind(record)
        } else {
            MetaRecord::Unbind(record)
        });
    }

    fn no_queue(&self, name: &str) -> ControlError {
        ControlError::not_found(format!("no queue '{name}' in vhost '{}'", self.name))
    }

    fn no_exchange(&self, name: &str) -> ControlError {
        ControlError::not_found(format!("no exchange '{name}' in vhost '{}'", self.name))
    }

    fn locked(&self, name: &str) -> ControlError {
        ControlError::resource_locked(format!(
            "cannot obtain exclusive access to locked queue '{name}' in vhost '{}'. It could be \
             originally declared on another connection or the exclusive property value does not \
             match that of the original declaration.",
            self.name
        ))
    }

    // ---- exchanges -------------------------------------------------------------------------

    pub fn declare_exchange(&self, d: &ExchangeDeclare<'_>) -> ControlResult<()> {
        if d.name.is_empty() {
            return Err(default_exchange_refused());
        }
        if d.passive {
            return match self.topology.read().exchanges.get(d.name) {
                Some(_) => Ok(()),
                None => Err(self.no_exchange(d.name)),
            };
        }
        let Some(kind) = ExchangeKind::parse(d.kind) else {
            return Err(ControlError::command_invalid(format!(
                "invalid exchange type '{}'",
                d.kind
            )));
        };
        let mut topo = self.topology.write();
        if let Some(x) = topo.exchanges.get(d.name) {
            return self.exchange_equivalent(x, kind, d);
        }
        if d.name.starts_with("amq.") {
            return Err(ControlError::access_refused(format!(
                "exchange name '{}' contains reserved prefix 'amq.*'",
                d.name
            )));
        }
        if let Some(v) = d.arguments.inner().get("alternate-exchange") {
            if !matches!(v, AMQPValue::LongString(_) | AMQPValue::ShortString(_)) {
                return Err(ControlError::precondition_failed(format!(
                    "invalid type '{}' for arg 'alternate-exchange' in exchange '{}' in vhost '{}'",
                    type_name(v),
                    d.name,
                    self.name
                )));
            }
        }
        let name: Arc<str> = Arc::from(d.name);
        let mut x = Exchange::new(
            name.clone(),
            kind,
            d.durable,
            d.auto_delete,
            d.internal,
            d.arguments.clone(),
        );
        x.policy_alternate =
            crate::policies::policy_alternate(self.policies.read().as_deref(), d.name);
        topo.exchanges.insert(name, x);
        if d.durable {
            self.log.append(&MetaRecord::Exchange {
                vhost: self.name.to_string(),
                name: d.name.to_owned(),
                kind: kind.as_str().to_owned(),
                auto_delete: d.auto_delete,
                internal: d.internal,
                arguments: table_to_text(d.arguments),
            });
        }
        Ok(())
    }

    fn exchange_equivalent(
        &self,
        x: &Exchange,
        kind: ExchangeKind,
        d: &ExchangeDeclare<'_>,
    ) -> ControlResult<()> {
        let mismatch = |arg: &str, received: &str, current: &str| {
            ControlError::precondition_failed(format!(
                "inequivalent arg '{arg}' for exchange '{}' in vhost '{}': received '{received}' but current is '{current}'",
                d.name, self.name
            ))
        };
        if x.kind != kind {
            return Err(mismatch("type", kind.as_str(), x.kind.as_str()));
        }
        for (arg, received, current) in [
            ("durable", d.durable, x.durable),
            ("auto_delete", d.auto_delete, x.auto_delete),
            ("internal", d.internal, x.internal),
        ] {
            if received != current {
                return Err(mismatch(arg, &received.to_string(), &current.to_string()));
            }
        }
        compare_args(
            &["alternate-exchange"],
            d.arguments,
            &x.arguments,
            "exchange",
            d.name,
            &self.name,
        )
    }

    pub fn delete_exchange(&self, name: &str, if_unused: bool) -> ControlResult<()> {
        if name.is_empty() {
            return Err(default_exchange_refused());
        }
        if name.starts_with("amq.") && STANDARD_EXCHANGES.iter().any(|(n, _)| *n == name) {
            return Err(ControlError::access_refused(format!(
                "deletion of system exchange '{name}' in vhost '{}' not allowed",
                self.name
            )));
        }
        let mut topo = self.topology.write();
        let Some(x) = topo.exchanges.get(name) else {
            return Err(self.no_exchange(name));
        };
        // Only bindings where this exchange is the source count as "in use" (RabbitMQ).
        if if_unused && x.has_bindings() {
            return Err(ControlError::precondition_failed(format!(
                "exchange '{name}' in vhost '{}' in use",
                self.name
            )));
        }
        let mut removed = Vec::new();
        remove_exchange_everywhere(&mut topo, name, &mut removed);
        // Under the lock, so journal order is change order (see remove_queue).
        self.journal_exchange_deletes(&removed);
        drop(topo);
        Ok(())
    }

    /// True for a topic exchange (topic permissions apply to it).
    pub fn is_topic_exchange(&self, name: &str) -> bool {
        self.topology
            .read()
            .exchanges
            .get(name)
            .is_some_and(|x| x.kind == ExchangeKind::Topic)
    }

    pub fn exchange_exists(&self, name: &str) -> bool {
        name.is_empty() || self.topology.read().exchanges.contains_key(name)
    }

    // ---- queues ----------------------------------------------------------------------------

    /// Declare a queue (an empty name makes the broker pick an `amq.gen-` one). Returns it
    /// with its message and consumer counts, and whether it was created.
    pub fn declare_queue(
        &self,
        mut spec: QueueSpec,
        server_named: bool,
        origin: Origin,
    ) -> ControlResult<QueueDeclared> {
        let server_named = server_named || spec.name.is_empty();
        if spec.name.is_empty() {
            spec.name = crate::queue::generate_name();
        }
        crate::queue::args::validate(&spec.arguments, &spec.name, &self.name)?;
        self.churn.count(ChurnEvent::QueueDeclared, 1);
        let owner = match (spec.exclusive, origin) {
            (false, _) => None,
            (true, Origin::Connection(id)) => Some(id),
            (true, Origin::Operator) => {
                return Err(ControlError::precondition_failed(format!(
                    "queue '{}' in vhost '{}': only a client connection can own an exclusive queue",
                    spec.name, self.name
                )))
            }
        };
        let mut topo = self.topology.write();
        if let Some(q) = topo.queues.get(&spec.name) {
            let q = Arc::clone(q);
            drop(topo);
            if q.owner.is_some_and(|o| Some(o) != origin.connection())
                || (q.owner.is_some() != spec.exclusive)
            {
                return Err(self.locked(&spec.name));
            }
            self.queue_equivalent(&q, &spec)?;
            q.touch();
            let (messages, consumers) = q.counts();
            return Ok(QueueDeclared {
                queue: q,
                messages,
                consumers,
                created: false,
            });
        }
        if spec.name.starts_with("amq.") && !server_named {
            return Err(ControlError::access_refused(format!(
                "queue name '{}' contains reserved prefix 'amq.*'",
                spec.name
            )));
        }
        if let Some(max) = self.limit("max-queues") {
            if topo.queues.len() as u64 >= max {
                return Err(ControlError::precondition_failed(format!(
                    "cannot declare queue '{}': queue limit in vhost '{}' ({max}) is reached",
                    spec.name, self.name
                )));
            }
        }
        let queue = self.insert_queue(&mut topo, spec, owner, None);
        self.churn.count(ChurnEvent::QueueCreated, 1);
        Ok(QueueDeclared {
            queue,
            messages: 0,
            consumers: 0,
            created: true,
        })
    }

    /// Add a queue; a durable one gets a store id (`restored_id` when it comes back from the
    /// store at start-up) and is journaled.
    fn insert_queue(
        &self,
        topo: &mut Topology,
        spec: QueueSpec,
        owner: Option<u64>,
        restored_id: Option<u32>,
    ) -> Arc<Queue> {
        let persisted = spec.durable && !spec.exclusive && !spec.auto_delete;
        let id = restored_id.unwrap_or_else(|| self.store.next_queue_id());
        if persisted {
            self.log.append(&MetaRecord::Queue {
                vhost: self.name.to_string(),
                name: spec.name.to_string(),
                id,
                arguments: table_to_text(&spec.arguments),
            });
        }
        let settings = self.settings_for(&spec.name, &spec.arguments);
        let q = Arc::new(Queue::new(
            spec,
            self.name.clone(),
            owner,
            id,
            persisted,
            settings,
            Some(self.spawner.clone()),
        ));
        q.set_memory_cap(self.store.queue_memory_bytes());
        topo.queues.insert(q.spec.name.clone(), Arc::clone(&q));
        q.ensure_janitor();
        q
    }

    /// Re-create a durable queue recovered from the store, with its store id.
    pub fn restore_queue(&self, name: &str, arguments: FieldTable, id: u32) -> Arc<Queue> {
        let spec = QueueSpec {
            name: Arc::from(name),
            durable: true,
            exclusive: false,
            auto_delete: false,
            arguments,
        };
        let mut topo = self.topology.write();
        self.insert_queue(&mut topo, spec, None, Some(id))
    }

    fn queue_equivalent(&self, q: &Queue, spec: &QueueSpec) -> ControlResult<()> {
        for (arg, received, current) in [
            ("durable", spec.durable, q.spec.durable),
            ("auto_delete", spec.auto_delete, q.spec.auto_delete),
        ] {
            if received != current {
                return Err(ControlError::precondition_failed(format!(
                    "inequivalent arg '{arg}' for queue '{}' in vhost '{}': received '{received}' but current is '{current}'",
                    spec.name, self.name
                )));
            }
        }
        compare_args(
            &EQUIVALENCE_ARGS,
            &spec.arguments,
            &q.spec.arguments,
            "queue",
            &spec.name,
            &self.name,
        )
    }

    /// Find a queue `origin` may use (exclusive queues belong to their connection).
    pub fn lookup_queue(&self, name: &str, origin: Origin) -> ControlResult<Arc<Queue>> {
        let q = self
            .topology
            .read()
            .queues
            .get(name)
            .cloned()
            .ok_or_else(|| self.no_queue(name))?;
        if let (Some(owner), Origin::Connection(id)) = (q.owner, origin) {
            if owner != id {
                return Err(self.locked(name));
            }
        }
        Ok(q)
    }

    /// queue.delete: returns the number of messages deleted with it.
    pub fn delete_queue(
        &self,
        name: &str,
        if_unused: bool,
        if_empty: bool,
        origin: Origin,
    ) -> ControlResult<u32> {
        let q = self.lookup_queue(name, origin)?;
        let (messages, consumers) = q.counts();
        if if_unused && consumers > 0 {
            return Err(ControlError::precondition_failed(format!(
                "queue '{name}' in vhost '{}' in use",
                self.name
            )));
        }
        if if_empty && messages > 0 {
            return Err(ControlError::precondition_failed(format!(
                "queue '{name}' in vhost '{}' not empty",
                self.name
            )));
        }
        Ok(self.remove_queue(&q))
    }

    /// A limit of this vhost (`max-connections`, `max-queues`), if one is set (a negative
    /// value is none).
    pub fn limit(&self, name: &str) -> Option<u64> {
        warren_model::limits::effective(&self.limits.lock(), name)
    }

    /// Remove a queue and its bindings (delete, auto-delete, exclusive owner gone).
    /// Returns how many ready messages it held; 0 if it was already gone.
    pub fn remove_queue(&self, q: &Arc<Queue>) -> u32 {
        let mut topo = self.topology.write();
        match topo.queues.get(&q.spec.name) {
            Some(current) if Arc::ptr_eq(current, q) => {}
            _ => return 0,
        }
        topo.queues.remove(&q.spec.name);
        self.churn.count(ChurnEvent::QueueDeleted, 1);
        let mut removed = Vec::new();
        remove_destination_everywhere(&mut topo, &Destination::Queue(Arc::clone(q)), &mut removed);
        // Journaled before the lock goes (memory only): a re-declare of the same name by
        // another connection must come after this delete in the journal, or replay would
        // delete what that client was told exists.
        if let Some(id) = q.store_id {
            self.log.append(&MetaRecord::DeleteQueue {
                vhost: self.name.to_string(),
                name: q.name().to_owned(),
                id,
            });
        }
        self.journal_exchange_deletes(&removed);
        drop(topo);
        if let Some(id) = q.store_id {
            self.store.forget_queue(id);
        }
        let ready = q.delete();
        self.dead_letters.add(&q.take_dropped());
        ready
    }

    /// Every exchange with its properties, the default exchange (named "") first.
    pub fn exchange_infos(&self) -> Vec<ExchangeInfo> {
        let topo = self.topology.read();
        let mut out = Vec::with_capacity(topo.exchanges.len() + 1);
        out.push(ExchangeInfo {
            vhost: self.name.to_string(),
            name: String::new(),
            kind: "direct".into(),
            durable: true,
            auto_delete: false,
            internal: false,
            arguments: FieldTable::default(),
            policy: None,
            counters: self.default_exchange_stats.snapshot(),
        });
        out.extend(topo.exchanges.values().map(|x| ExchangeInfo {
            vhost: self.name.to_string(),
            name: x.name.to_string(),
            kind: x.kind.as_str().to_owned(),
            durable: x.durable,
            auto_delete: x.auto_delete,
            internal: x.internal,
            arguments: x.arguments.clone(),
            policy: None,
            counters: x.stats.snapshot(),
        }));
        out
    }

    /// Every binding, including the default exchange's implicit one to each queue (RabbitMQ
    /// lists those too).
    pub fn binding_infos(&self) -> Vec<BindingInfo> {
        let topo = self.topology.read();
        let mut out: Vec<BindingInfo> = topo
            .queues
            .keys()
            .map(|q| BindingInfo {
                vhost: self.name.to_string(),
                source: String::new(),
                destination_kind: DestinationKind::Queue,
                destination: q.to_string(),
                routing_key: q.to_string(),
                arguments: FieldTable::default(),
            })
            .collect();
        for x in topo.exchanges.values() {
            out.extend(x.bindings().map(|b| {
                let (destination_kind, destination) = match &b.destination {
                    Destination::Queue(q) => (DestinationKind::Queue, q.name().to_owned()),
                    Destination::Exchange(name) => (DestinationKind::Exchange, name.to_string()),
                };
                BindingInfo {
                    vhost: self.name.to_string(),
                    source: x.name.to_string(),
                    destination_kind,
                    destination,
                    routing_key: String::from_utf8_lossy(&b.routing_key).into_owned(),
                    arguments: b.arguments.clone(),
                }
            }));
        }
        out
    }

    /// The queue named `name`, if any (whoever owns it).
    pub fn queue(&self, name: &str) -> Option<Arc<Queue>> {
        self.topology.read().queues.get(name).cloned()
    }

    /// Every queue, for listings and shutdown.
    pub fn queues(&self) -> Vec<Arc<Queue>> {
        self.topology.read().queues.values().cloned().collect()
    }

    // ---- bindings --------------------------------------------------------------------------

    pub fn bind_queue(
        &self,
        queue: &str,
        exchange: &str,
        key: &[u8],
        arguments: &FieldTable,
        origin: Origin,
    ) -> ControlResult<()> {
        if exchange.is_empty() {
            return Err(default_exchange_refused());
        }
        // A missing exchange is reported before a missing queue, as RabbitMQ does.
        if !self.exchange_exists(exchange) {
            return Err(self.no_exchange(exchange));
        }
        let q = self.lookup_queue(queue, origin)?;
        self.bind(exchange, Destination::Queue(q), key, arguments)
    }

    pub fn unbind_queue(
        &self,
        queue: &str,
        exchange: &str,
        key: &[u8],
        arguments: &FieldTable,
        origin: Origin,
    ) -> ControlResult<()> {
        if exchange.is_empty() {
            return Err(default_exchange_refused());
        }
        if !self.exchange_exists(exchange) {
            return Ok(());
        }
        let q = match self.lookup_queue(queue, origin) {
            Ok(q) => q,
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e),
        };
        self.unbind(exchange, Destination::Queue(q), key, arguments)
    }

    pub fn bind_exchange(
        &self,
        destination: &str,
        source: &str,
        key: &[u8],
        arguments: &FieldTable,
    ) -> ControlResult<()> {
        if source.is_empty() || destination.is_empty() {
            return Err(default_exchange_refused());
        }
        // A missing source is reported before a missing destination, as RabbitMQ does.
        if !self.exchange_exists(source) {
            return Err(self.no_exchange(source));
        }
        if !self.exchange_exists(destination) {
            return Err(self.no_exchange(destination));
        }
        self.bind(
            source,
            Destination::Exchange(Arc::from(destination)),
            key,
            arguments,
        )
    }

    pub fn unbind_exchange(
        &self,
        destination: &str,
        source: &str,
        key: &[u8],
        arguments: &FieldTable,
    ) -> ControlResult<()> {
        if source.is_empty() || destination.is_empty() {
            return Err(default_exchange_refused());
        }
        // Unbinding from or to an exchange that does not exist succeeds in RabbitMQ.
        if !self.exchange_exists(source) || !self.exchange_exists(destination) {
            return Ok(());
        }
        self.unbind(
            source,
            Destination::Exchange(Arc::from(destination)),
            key,
            arguments,
        )
    }

    fn bind(
        &self,
        exchange: &str,
        destination: Destination,
        key: &[u8],
        arguments: &FieldTable,
    ) -> ControlResult<()> {
        let mut topo = self.topology.write();
        let Some(x) = topo.exchanges.get_mut(exchange) else {
            return Err(self.no_exchange(exchange));
        };
        if x.kind == ExchangeKind::Headers {
            headers::validate(arguments)?;
        }
        if let Destination::Queue(q) = &destination {
            if q.is_deleted() {
                return Err(self.no_queue(q.name()));
            }
        }
        let added = x.bind(Binding {
            destination: destination.clone(),
            routing_key: bytes::Bytes::copy_from_slice(key),
            arguments: arguments.clone(),
        });
        if added {
            let source = Arc::clone(&x.name);
            topo.add_source(&destination, &source);
        }
        if let Some(x) = topo.exchanges.get(exchange) {
            self.journal_binding(&topo, x, &destination, key, arguments, true);
        }
        Ok(())
    }

    fn unbind(
        &self,
        exchange: &str,
        destination: Destination,
        key: &[u8],
        arguments: &FieldTable,
    ) -> ControlResult<()> {
        let mut topo = self.topology.write();
        let Some(x) = topo.exchanges.get_mut(exchange) else {
            return Ok(());
        };
        // Unbinding something never bound is not an error in RabbitMQ.
        let was_bound = x.unbind(&destination, key, arguments);
        let auto_delete = x.auto_delete && !x.has_bindings();
        if was_bound {
            topo.drop_source(&destination, exchange, 1);
            if let Some(x) = topo.exchanges.get(exchange) {
                self.journal_binding(&topo, x, &destination, key, arguments, false);
            }
        }
        let mut removed = Vec::new();
        if auto_delete {
            remove_exchange_everywhere(&mut topo, exchange, &mut removed);
        }
        self.journal_exchange_deletes(&removed);
        drop(topo);
        Ok(())
    }

    // ---- routing ---------------------------------------------------------------------------

    /// Resolve the queues a message published to `exchange` reaches, into `out` (deduplicated).
    pub fn route(
        &self,
        exchange: &str,
        message: &Message,
        scratch: &mut RouteScratch,
        out: &mut Vec<Arc<Queue>>,
        tally: &mut ExchangeTally,
    ) -> ControlResult<()> {
        self.route_keys(exchange, message, &[], false, scratch, out, tally)
    }

    /// Route a dead letter: with its routing key and the keys of its `CC` header, and
    /// internal exchanges allowed (as RabbitMQ's dead-lettering does).
    pub fn route_dead_letter(
        &self,
        exchange: &str,
        message: &Message,
        scratch: &mut RouteScratch,
        out: &mut Vec<Arc<Queue>>,
        tally: &mut ExchangeTally,
    ) -> ControlResult<()> {
        let cc = message
            .headers()
            .map(|h| crate::deadletter::cc_keys(&h))
            .unwrap_or_default();
        self.route_keys(exchange, message, &cc, true, scratch, out, tally)
    }

    /// Route `message` from `exchange` with its routing key and `extra_keys` (sender-selected
    /// distribution: CC and BCC).
    #[allow(clippy::too_many_arguments)]
    pub fn route_keys(
        &self,
        exchange: &str,
        message: &Message,
        extra_keys: &[Vec<u8>],
        internal_ok: bool,
        scratch: &mut RouteScratch,
        out: &mut Vec<Arc<Queue>>,
        tally: &mut ExchangeTally,
    ) -> ControlResult<()> {
        out.clear();
        let mut keys: smallvec_keys::Keys<'_> = smallvec_keys::Keys::new(message.routing_key());
        for k in extra_keys {
            keys.push(k);
        }
        let keys = keys.as_slice();
        let topo = self.topology.read();
        if exchange.is_empty() {
            for key in keys {
                let name = std::str::from_utf8(key).ok();
                if let Some(q) = name.and_then(|name| topo.queues.get(name)) {
                    out.push(Arc::clone(q));
                }
            }
            dedup(out);
            tally.record(&self.default_exchange_stats, out.len());
            return Ok(());
        }
        let Some(x) = topo.exchanges.get(exchange) else {
            return Err(self.no_exchange(exchange));
        };
        if x.internal && !internal_ok {
            return Err(ControlError::access_refused(format!(
                "cannot publish to internal exchange '{exchange}' in vhost '{}'",
                self.name
            )));
        }
        route_through(&topo, x, message, keys, scratch, out);
        dedup(out);
        tally.record(&x.stats, out.len());
        Ok(())
    }
}

/// Each queue once (routing by several keys or paths may reach one twice).
fn dedup(out: &mut Vec<Arc<Queue>>) {
    if out.len() > 1 {
        out.sort_unstable_by_key(|q| Arc::as_ptr(q) as usize);
        out.dedup_by(|a, b| Arc::ptr_eq(a, b));
    }
}

/// A message's routing keys without allocating for the usual one key.
mod smallvec_keys {
    pub struct Keys<'a> {
        first: [&'a [u8]; 1],
        more: Vec<&'a [u8]>,
    }

    impl<'a> Keys<'a> {
        pub fn new(first: &'a [u8]) -> Self {
            Self {
                first: [first],
                more: Vec::new(),
            }
        }

        pub fn push(&mut self, key: &'a [u8]) {
            if self.more.is_empty() {
                self.more.push(self.first[0]);
            }
            self.more.push(key);
        }

        pub fn as_slice(&self) -> &[&'a [u8]] {
            if self.more.is_empty() {
                &self.first
            } else {
                &self.more
            }
        }
    }
}

/// Route from one exchange as RabbitMQ does: every exchange reached (through
/// exchange-to-exchange bindings, or its alternate exchange when its own bindings give no
/// destination at all) routes once, cycles included, from a work list rather than by
/// recursion, so a chain of thousands of exchanges costs no native stack.
fn route_through<'t>(
    topo: &'t Topology,
    first: &'t Exchange,
    message: &Message,
    keys: &[&[u8]],
    scratch: &mut RouteScratch,
    out: &mut Vec<Arc<Queue>>,
) {
    let RouteScratch { destinations, seen } = scratch;
    if seen.capacity() > 1024 {
        *seen = HashSet::new(); // one long chain should not make every later publish clear it
    } else {
        seen.clear();
    }
    // Allocates only once an exchange leads to another exchange.
    let mut pending: Vec<&'t Exchange> = Vec::new();
    let mut x = first;
    loop {
        destinations.clear();
        x.route(message, keys, destinations);
        if destinations.is_empty() {
            if let Some(ae) = x.alternate_exchange().and_then(|n| topo.exchanges.get(n)) {
                visit(seen, first, ae, &mut pending);
            }
        }
        for destination in destinations.drain(..) {
            match destination {
                Destination::Queue(q) => out.push(q),
                Destination::Exchange(name) => {
                    if let Some(next) = topo.exchanges.get(&name) {
                        visit(seen, first, next, &mut pending);
                    }
                }
            }
        }
        match pending.pop() {
            Some(next) => x = next,
            None => return,
        }
    }
}

/// Queue `next` for routing unless it was routed through already.
fn visit<'t>(
    seen: &mut HashSet<usize>,
    first: &Exchange,
    next: &'t Exchange,
    pending: &mut Vec<&'t Exchange>,
) {
    let id = |x: &Exchange| x as *const Exchange as usize;
    if seen.is_empty() {
        seen.insert(id(first));
    }
    if seen.insert(id(next)) {
        pending.push(next);
    }
}

/// Drop every binding to `dest`; auto-delete exchanges left without bindings go too, and so
/// on down the line (their names are added to `removed` when durable, for the journal).
/// A work list, not recursion: a chain of auto-delete exchanges may be thousands long. An
/// exchange destination visits only the exchanges bound to it (`Topology::sources`); a
/// queue visits every exchange once.
fn remove_destination_everywhere(
    topo: &mut Topology,
    dest: &Destination,
    removed: &mut Vec<Arc<str>>,
) {
    let mut gone = vec![dest.clone()];
    while let Some(dest) = gone.pop() {
        let emptied: Vec<Arc<str>> = match &dest {
            Destination::Exchange(name) => {
                let sources = topo.sources.remove(name).unwrap_or_default();
                sources
                    .into_keys()
                    .filter(|s| {
                        topo.exchanges
                            .get_mut(s)
                            .is_some_and(|x| drops_last_binding(x, &dest))
                    })
                    .collect()
            }
            Destination::Queue(_) => topo
                .exchanges
                .values_mut()
                .filter_map(|x| drops_last_binding(x, &dest).then(|| Arc::clone(&x.name)))
                .collect(),
        };
        for name in emptied {
            if take_exchange(topo, &name, removed) {
                gone.push(Destination::Exchange(name));
            }
        }
    }
}

/// Drop `x`'s bindings to `dest`; true when that left an auto-delete exchange with none.
fn drops_last_binding(x: &mut Exchange, dest: &Destination) -> bool {
    x.remove_destination(dest) > 0 && x.auto_delete && !x.has_bindings()
}

/// Remove an exchange, noting its name in `removed` when durable (for the journal); false if
/// it was not there.
fn take_exchange(topo: &mut Topology, name: &str, removed: &mut Vec<Arc<str>>) -> bool {
    let Some(x) = topo.remove_exchange(name) else {
        return false;
    };
    if x.durable {
        removed.push(x.name);
    }
    true
}

/// Delete an exchange and every binding to it; auto-delete exchanges emptied by that go too.
fn remove_exchange_everywhere(topo: &mut Topology, name: &str, removed: &mut Vec<Arc<str>>) {
    if take_exchange(topo, name, removed) {
        remove_destination_everywhere(topo, &Destination::Exchange(Arc::from(name)), removed);
    }
}

fn default_exchange_refused() -> ControlError {
    ControlError::access_refused("operation not permitted on the default exchange")
}
