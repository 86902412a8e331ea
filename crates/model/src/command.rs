//! Control-plane commands: every change an operator or a client makes to vhosts, users,
//! permissions, exchanges, queues, bindings, policies and connections, as plain data.
//!
//! AMQP methods, the management HTTP API, definitions import and warrenctl (through the API)
//! all build these and hand them to the broker's control plane; it validates a command
//! against current state, appends the durable change it makes to the metadata log, then
//! applies it.

use warren_codec::types::FieldTable;

/// Who issues a command. Exclusive queues belong to the connection that declared them:
/// other connections get RESOURCE_LOCKED; the operator (HTTP API, warrenctl, definitions)
/// sees and may delete every queue, as in RabbitMQ's management plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A client connection, by its broker-wide id.
    Connection(u64),
    /// The operator, or the broker itself (start-up, definitions).
    Operator,
}

impl Origin {
    /// The connection an exclusive queue declared now would belong to.
    pub fn connection(self) -> Option<u64> {
        match self {
            Origin::Connection(id) => Some(id),
            Origin::Operator => None,
        }
    }
}

/// A virtual host and its metadata (RabbitMQ 3.10's `description`, `tags`,
/// `default_queue_type`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VhostSpec {
    pub name: String,
    pub description: String,
    pub tags: Vec<String>,
    /// None = RabbitMQ's "undefined" (classic).
    pub default_queue_type: Option<String>,
}

/// A user as stored: RabbitMQ's salted password hash and its algorithm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSpec {
    pub name: String,
    /// Empty: the user cannot log in with a password (`clear_password`).
    pub password_hash: String,
    pub hashing_algorithm: String,
    pub tags: Vec<String>,
}

/// The three permission regexes of a user in a vhost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionSpec {
    pub user: String,
    pub vhost: String,
    pub configure: String,
    pub write: String,
    pub read: String,
}

/// Topic permissions: routing-key regexes for one topic exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicPermissionSpec {
    pub user: String,
    pub vhost: String,
    pub exchange: String,
    pub write: String,
    pub read: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExchangeSpec {
    pub vhost: String,
    pub name: String,
    /// "direct", "fanout", "topic", "headers" (validated by the broker).
    pub kind: String,
    pub durable: bool,
    pub auto_delete: bool,
    pub internal: bool,
    pub arguments: FieldTable,
}

#[derive(Debug, Clone, PartialEq)]
pub struct QueueSpec {
    pub vhost: String,
    /// Empty: the broker picks an `amq.gen-` name.
    pub name: String,
    /// The name was generated for a client's declare of '' (RabbitMQ checks permissions
    /// on the generated name, and the reserved `amq.` prefix does not apply to it).
    pub server_named: bool,
    pub durable: bool,
    /// Owned by the issuing connection (an operator cannot declare exclusive queues).
    pub exclusive: bool,
    pub auto_delete: bool,
    pub arguments: FieldTable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DestinationKind {
    Queue,
    Exchange,
}

impl DestinationKind {
    /// RabbitMQ's `destination_type` text.
    pub fn as_str(self) -> &'static str {
        match self {
            DestinationKind::Queue => "queue",
            DestinationKind::Exchange => "exchange",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "queue" => Some(Self::Queue),
            "exchange" => Some(Self::Exchange),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct BindingSpec {
    pub vhost: String,
    pub source: String,
    pub destination_kind: DestinationKind,
    pub destination: String,
    pub routing_key: String,
    pub arguments: FieldTable,
}

/// Every change the control plane makes.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    AddVhost(VhostSpec),
    DeleteVhost {
        name: String,
    },
    PutUser(UserSpec),
    DeleteUser {
        name: String,
    },
    SetPermissions(PermissionSpec),
    ClearPermissions {
        user: String,
        vhost: String,
    },
    SetTopicPermissions(TopicPermissionSpec),
    /// `exchange: None` clears all of the user's topic permissions in the vhost.
    ClearTopicPermissions {
        user: String,
        vhost: String,
        exchange: Option<String>,
    },
    DeclareExchange(ExchangeSpec),
    DeleteExchange {
        vhost: String,
        name: String,
        if_unused: bool,
    },
    DeclareQueue(QueueSpec),
    DeleteQueue {
        vhost: String,
        name: String,
        if_unused: bool,
        if_empty: bool,
    },
    PurgeQueue {
        vhost: String,
        name: String,
    },
    Bind(BindingSpec),
    Unbind(BindingSpec),
    /// Set (create or replace) a policy; validated when built (see `policy::Policy`).
    SetPolicy(crate::policy::Policy),
    ClearPolicy {
        vhost: String,
        name: String,
    },
    CloseConnection {
        name: String,
        reason: String,
    },
    /// Change a vhost's limits (RabbitMQ's `max-connections`, `max-queues`; a negative
    /// value is no limit).
    ChangeVhostLimits {
        vhost: String,
        change: crate::limits::LimitsChange,
    },
    /// Change a user's limits (RabbitMQ's `max-connections`, `max-channels`; a negative
    /// value is no limit).
    ChangeUserLimits {
        user: String,
        change: crate::limits::LimitsChange,
    },
}
