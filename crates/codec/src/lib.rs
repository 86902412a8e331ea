//! warren-codec: the AMQP 0-9-1 wire format, with no I/O and no runtime.
//!
//! # Layout
//! - [`frame`]: splitting a byte stream into frames; frame_max and frame-end checks.
//! - [`method`]: decoding method frames; the hot methods by hand, the rest through amq-protocol.
//! - [`content`]: content headers, raw basic properties (passed through byte for byte) and bodies.
//! - [`table`]: an iterative check of field tables with a nesting limit, before decoding.
//! - [`wire`]: primitive big-endian readers and writers.
//! - [`reply`]: reply codes and their RabbitMQ names.

pub mod content;
pub mod frame;
pub mod method;
pub mod reply;
pub mod table;
pub mod wire;

pub use amq_protocol::protocol;
pub use amq_protocol::types;
