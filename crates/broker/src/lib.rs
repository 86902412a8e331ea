//! warren-broker: the broker core.
//!
//! # Layout
//! - [`server`]: the listener loop; spawns a connection per socket; graceful shutdown.
//! - [`connection`]: handshake, the per-connection driver (reader side), writer task, outbox.
//! - [`channel`]: channel state and methods: publish, consume, ack, topology, tx, confirms.
//! - [`broker`]: vhosts, users, connection registry, direct reply-to registry.
//! - [`vhost`]: exchanges, queues, bindings, and routing through them.
//! - [`exchange`]: per-type routing tables (direct, fanout, topic trie, headers).
//! - [`queue`]: ready messages, consumers, round-robin dispatch; `queue::backlog` is the storage seam.
//! - [`message`]: a published message (raw properties + body).
//! - [`store`]: segment files for persistent and paged messages, the metadata journal,
//!   group commit, recovery.
//! - [`auth`]: users, password hashing, permissions.
//! - [`definitions`]: RabbitMQ definitions JSON (users, vhosts, permissions).
//! - [`alarm`]: memory and disk-space monitor behind the resource alarms (connection.blocked).
//! - [`config`], [`error`], [`util`].
//!
//! Hot path: `connection` reads a frame → `channel::publish` assembles the message →
//! `vhost::route` resolves queues → `queue::publish` enqueues and dispatches to a consumer's
//! `connection::shared` outbox → that connection's driver encodes `basic.deliver` → `writer`.

pub mod alarm;
pub mod auth;
pub mod broker;
pub mod channel;
pub mod config;
pub mod connection;
pub mod definitions;
pub mod error;
pub mod exchange;
pub mod message;
pub mod queue;
pub mod server;
pub mod store;
pub mod util;
pub mod vhost;

pub use broker::Broker;
pub use config::Config;
