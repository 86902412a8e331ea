//! Exchanges: their declared properties, their bindings, and routing by type.

pub mod headers;
pub mod stats;
pub mod topic;

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use warren_codec::types::{AMQPValue, FieldTable};

use crate::queue::Queue;
use headers::HeadersRoutes;
use stats::ExchangeStats;
use topic::TopicRoutes;
use warren_store::message::Message;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExchangeKind {
    Direct,
    Fanout,
    Topic,
    Headers,
}

impl ExchangeKind {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "direct" => Self::Direct,
            "fanout" => Self::Fanout,
            "topic" => Self::Topic,
            "headers" => Self::Headers,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Fanout => "fanout",
            Self::Topic => "topic",
            Self::Headers => "headers",
        }
    }
}

/// Where a binding leads: a queue, or another exchange (exchange-to-exchange binding).
#[derive(Debug, Clone)]
pub enum Destination {
    Queue(Arc<Queue>),
    Exchange(Arc<str>),
}

impl PartialEq for Destination {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Queue(a), Self::Queue(b)) => Arc::ptr_eq(a, b),
            (Self::Exchange(a), Self::Exchange(b)) => a == b,
            _ => false,
        }
    }
}

/// One binding as declared: the identity RabbitMQ uses is (destination, key, arguments).
#[derive(Debug, Clone)]
pub struct Binding {
    pub destination: Destination,
    pub routing_key: Bytes,
    pub arguments: FieldTable,
}

#[derive(Debug)]
enum Routes {
    Direct(HashMap<Bytes, Vec<Destination>>),
    Fanout(Vec<Destination>),
    Topic(TopicRoutes),
    Headers(HeadersRoutes),
}

#[derive(Debug)]
pub struct Exchange {
    pub name: Arc<str>,
    pub kind: ExchangeKind,
    pub durable: bool,
    pub auto_delete: bool,
    pub internal: bool,
    pub arguments: FieldTable,
    pub alternate: Option<Arc<str>>,
    /// The alternate exchange a policy gives (the argument wins when both are set).
    pub policy_alternate: Option<Arc<str>>,
    routes: Routes,
    /// Bindings by destination, so a deleted queue's bindings are found without a scan.
    bindings: HashMap<DestKey, Vec<Binding>>,
    /// Messages published to it and routed out of it.
    pub stats: Arc<ExchangeStats>,
}

/// A destination's identity as a map key: a queue by its allocation (unique while bound,
/// since the binding holds the Arc), an exchange by name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum DestKey {
    Queue(usize),
    Exchange(Arc<str>),
}

impl DestKey {
    fn of(destination: &Destination) -> Self {
        match destination {
            Destination::Queue(q) => DestKey::Queue(Arc::as_ptr(q) as usize),
            Destination::Exchange(name) => DestKey::Exchange(Arc::clone(name)),
        }
    }
}

impl Exchange {
    pub fn new(
        name: Arc<str>,
        kind: ExchangeKind,
        durable: bool,
        auto_delete: bool,
        internal: bool,
        arguments: FieldTable,
    ) -> Self {
        let alternate = match arguments.inner().get("alternate-exchange") {
            Some(AMQPValue::LongString(s)) => {
                Some(Arc::from(String::from_utf8_lossy(s.as_bytes()).as_ref()))
            }
            Some(AMQPValue::ShortString(s)) => Some(Arc::from(s.as_str())),
            _ => None,
        };
        let routes = match kind {
            ExchangeKind::Direct => Routes::Direct(HashMap::new()),
            ExchangeKind::Fanout => Routes::Fanout(Vec::new()),
            ExchangeKind::Topic => Routes::Topic(TopicRoutes::default()),
            ExchangeKind::Headers => Routes::Headers(HeadersRoutes::default()),
        };
        Self {
            name,
            kind,
            durable,
            auto_delete,
            internal,
            arguments,
            alternate,
            policy_alternate: None,
            routes,
            bindings: HashMap::new(),
            stats: Arc::default(),
        }
    }

    /// Every binding whose source is this exchange.
    pub fn bindings(&self) -> impl Iterator<Item = &Binding> {
        self.bindings.values().flatten()
    }

    pub fn has_bindings(&self) -> bool {
        !self.bindings.is_empty()
    }

    pub fn has_binding(&self, destination: &Destination, key: &[u8], args: &FieldTable) -> bool {
        self.bindings
            .get(&DestKey::of(destination))
            .is_some_and(|list| {
                list.iter()
                    .any(|b| b.routing_key == key && &b.arguments == args)
            })
    }

    /// Add a binding; binding twice is a no-op, as in RabbitMQ.
    /// Returns false if that binding existed already.
    pub fn bind(&mut self, binding: Binding) -> bool {
        if self.has_binding(
            &binding.destination,
            &binding.routing_key,
            &binding.arguments,
        ) {
            return false;
        }
        let dest = binding.destination.clone();
        match &mut self.routes {
            Routes::Direct(map) => map
                .entry(binding.routing_key.clone())
                .or_default()
                .push(dest),
            Routes::Fanout(list) => list.push(dest),
            Routes::Topic(trie) => trie.bind(&binding.routing_key, dest),
            Routes::Headers(h) => h.bind(&binding.arguments, dest),
        }
        self.bindings
            .entry(DestKey::of(&binding.destination))
            .or_default()
            .push(binding);
        true
    }

    /// The exchanges this exchange has bindings to.
    pub fn exchange_destinations(&self) -> impl Iterator<Item = &Arc<str>> {
        self.bindings.keys().filter_map(|k| match k {
            DestKey::Exchange(name) => Some(name),
            DestKey::Queue(_) => None,
        })
    }

    /// Remove one binding. Returns false if it did not exist.
    pub fn unbind(&mut self, destination: &Destination, key: &[u8], args: &FieldTable) -> bool {
        let dest_key = DestKey::of(destination);
        let Some(list) = self.bindings.get_mut(&dest_key) else {
            return false;
        };
        let Some(i) = list
            .iter()
            .position(|b| b.routing_key == key && &b.arguments == args)
        else {
            return false;
        };
        let binding = list.remove(i);
        if list.is_empty() {
            self.bindings.remove(&dest_key);
        }
        self.unroute(&binding);
        true
    }

    /// Remove every binding to `destination` (it was deleted). Returns how many went.
    /// Costs only that destination's bindings, so deleting many queues stays linear.
    pub fn remove_destination(&mut self, destination: &Destination) -> usize {
        let Some(list) = self.bindings.remove(&DestKey::of(destination)) else {
            return 0;
        };
        for binding in &list {
            self.unroute(binding);
        }
        list.len()
    }

    /// Take one binding out of the routing table.
    fn unroute(&mut self, binding: &Binding) {
        let destination = &binding.destination;
        let key = &binding.routing_key[..];
        match &mut self.routes {
            Routes::Direct(map) => {
                if let Some(list) = map.get_mut(key) {
                    if let Some(j) = list.iter().position(|d| d == destination) {
                        list.swap_remove(j);
                    }
                    if list.is_empty() {
                        map.remove(key);
                    }
                }
            }
            Routes::Fanout(list) => {
                if let Some(j) = list.iter().position(|d| d == destination) {
                    list.swap_remove(j);
                }
            }
            Routes::Topic(trie) => trie.unbind(key, destination),
            Routes::Headers(h) => h.unbind(&binding.arguments, destination),
        }
    }

    /// Append the destinations this message reaches through this exchange's own bindings.
    /// Destinations for `message` published with `keys` (its routing key, then any CC/BCC
    /// keys: each routes as if published with it).
    pub fn route(&self, message: &Message, keys: &[&[u8]], out: &mut Vec<Destination>) {
        match &self.routes {
            Routes::Direct(map) => {
                for key in keys {
                    if let Some(list) = map.get(*key) {
                        out.extend(list.iter().cloned());
                    }
                }
            }
            Routes::Fanout(list) => out.extend(list.iter().cloned()),
            Routes::Topic(trie) => {
                for key in keys {
                    trie.route(key, out);
                }
            }
            Routes::Headers(h) => h.route(message.headers().as_ref(), out),
        }
    }

    /// The alternate exchange unroutable messages go to: the argument's, else the policy's.
    pub fn alternate_exchange(&self) -> Option<&Arc<str>> {
        self.alternate.as_ref().or(self.policy_alternate.as_ref())
    }
}
