//! Exchanges: their declared properties, their bindings, and routing by type.

pub mod headers;
pub mod topic;

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use warren_codec::types::{AMQPValue, FieldTable};

use crate::message::Message;
use crate::queue::Queue;
use headers::HeadersRoutes;
use topic::TopicRoutes;

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
    routes: Routes,
    bindings: Vec<Binding>,
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
            routes,
            bindings: Vec::new(),
        }
    }

    pub fn bindings(&self) -> &[Binding] {
        &self.bindings
    }

    pub fn has_bindings(&self) -> bool {
        !self.bindings.is_empty()
    }

    fn position(&self, destination: &Destination, key: &[u8], args: &FieldTable) -> Option<usize> {
        self.bindings.iter().position(|b| {
            &b.destination == destination && b.routing_key == key && &b.arguments == args
        })
    }

    pub fn has_binding(&self, destination: &Destination, key: &[u8], args: &FieldTable) -> bool {
        self.position(destination, key, args).is_some()
    }

    /// Add a binding; binding twice is a no-op, as in RabbitMQ.
    pub fn bind(&mut self, binding: Binding) {
        if self.has_binding(
            &binding.destination,
            &binding.routing_key,
            &binding.arguments,
        ) {
            return;
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
        self.bindings.push(binding);
    }

    /// Remove one binding. Returns false if it did not exist.
    pub fn unbind(&mut self, destination: &Destination, key: &[u8], args: &FieldTable) -> bool {
        let Some(i) = self.position(destination, key, args) else {
            return false;
        };
        self.bindings.remove(i);
        match &mut self.routes {
            Routes::Direct(map) => {
                if let Some(list) = map.get_mut(key) {
                    if let Some(j) = list.iter().position(|d| d == destination) {
                        list.remove(j);
                    }
                    if list.is_empty() {
                        map.remove(key);
                    }
                }
            }
            Routes::Fanout(list) => {
                if let Some(j) = list.iter().position(|d| d == destination) {
                    list.remove(j);
                }
            }
            Routes::Topic(trie) => trie.unbind(key, destination),
            Routes::Headers(h) => h.unbind(args, destination),
        }
        true
    }

    /// Remove every binding to `destination` (it was deleted). Returns how many went.
    pub fn remove_destination(&mut self, destination: &Destination) -> usize {
        let before = self.bindings.len();
        self.bindings.retain(|b| &b.destination != destination);
        let removed = before - self.bindings.len();
        if removed > 0 {
            match &mut self.routes {
                Routes::Direct(map) => {
                    map.retain(|_, list| {
                        list.retain(|d| d != destination);
                        !list.is_empty()
                    });
                }
                Routes::Fanout(list) => list.retain(|d| d != destination),
                Routes::Topic(trie) => trie.remove_destination(destination),
                Routes::Headers(h) => h.remove_destination(destination),
            }
        }
        removed
    }

    /// Append the destinations this message reaches through this exchange's own bindings.
    pub fn route(&self, message: &Message, out: &mut Vec<Destination>) {
        match &self.routes {
            Routes::Direct(map) => {
                if let Some(list) = map.get(&message.routing_key[..]) {
                    out.extend(list.iter().cloned());
                }
            }
            Routes::Fanout(list) => out.extend(list.iter().cloned()),
            Routes::Topic(trie) => trie.route(&message.routing_key, out),
            Routes::Headers(h) => h.route(message.headers().as_ref(), out),
        }
    }
}
