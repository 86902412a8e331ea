//! warren-broker: the broker core.
//!
//! # Layout
//! - [`control`]: the control plane: every command (declare, delete, bind, users, vhosts,
//!   permissions, close connection) goes through `Broker::execute`.
//! - [`metalog`]: the seam where durable metadata changes are appended before they apply.
//! - [`broker`]: the state: vhosts, users, connection registry, direct reply-to registry;
//!   [`admission`]: connection limits checked and held until the connection is registered.
//! - [`boot`]: start-up: store recovery, defaults, definitions.
//! - [`vhost`]: exchanges, queues, bindings, and routing through them.
//! - [`exchange`]: per-type routing tables (direct, fanout, topic trie, headers).
//! - [`queue`]: ready messages, consumers, round-robin dispatch; `queue::backlog` is the storage seam.
//! - `queue::outbox`: the part of a connection queues may touch: its event outbox.
//! - [`auth`]: users, password hashing, permissions.
//! - [`definitions`]: RabbitMQ definitions JSON (users, vhosts, permissions).
//! - [`alarm`], [`monitor`]: the resource alarms (connection.blocked) and the thread that
//!   measures memory and disk space.
//! - [`arguments`]: x-argument type names and equivalence.
//! - [`config`], [`util`]. Errors are `warren_model::ControlError`.
//!
//! Hot path: `warren_amqp::connection` reads a frame → `channel::publish` assembles the message →
//! `vhost::route` resolves queues → `queue::publish` enqueues and dispatches to a consumer's
//! [`queue::outbox`] → that connection's driver encodes `basic.deliver` → `writer`.

pub mod admission;
pub mod alarm;
pub mod arguments;
pub mod auth;
pub mod boot;
pub mod broker;
pub mod config;
pub mod control;
pub mod deadletter;
pub mod definitions;
pub mod enqueue;
pub mod exchange;
pub mod janitor;
pub mod metalog;
pub mod monitor;

pub mod policies;
pub mod query;
pub mod queue;
pub mod totals;
pub mod util;
pub mod vhost;

pub use broker::Broker;
pub use config::Config;
