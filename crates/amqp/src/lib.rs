//! warren-amqp: AMQP 0-9-1 sessions on top of the broker core.
//!
//! - [`server`]: the listener loop; spawns a connection per socket; graceful shutdown.
//! - [`connection`]: handshake, the per-connection driver (reader side), writer task.
//! - [`channel`]: channel state and methods: publish, consume, ack, topology, tx, confirms.
//!
//! A session turns frames into broker calls (publish into `vhost::route` and queues, topology
//! methods into control-plane commands) and broker events (its outbox) into frames.

pub mod channel;
pub mod connection;
pub mod error;
pub mod server;
