//! warren-model: what the broker manages, independent of how it is reached — the domain
//! types, the control plane's commands, queries and errors, policies and the definitions
//! format. Front ends (AMQP sessions, the management HTTP API, warrenctl) and the broker core
//! all speak these types; nothing here does I/O (but `conf::load` reading its file).
//!
//! # Layout
//! - [`command`], [`query`], [`error`]: the control plane's typed commands, snapshots and
//!   domain error.
//! - [`policy`]: RabbitMQ policies — definitions and their validation, patterns, which policy
//!   applies to a resource, RabbitMQ's error texts.
//! - [`json_args`]: queue/exchange/binding arguments and message headers between JSON (as the
//!   management API carries them) and AMQP field tables, and rabbitmqctl's rendering of tables.
//! - [`definitions`]: the definitions file (export/import format), both directions.
//! - [`conf`]: rabbitmq.conf, parsed into settings.
//! - [`limits`]: vhost and user limits — their names and RabbitMQ's checks of their values.
//! - `erlang_term` (private): Erlang's `~p` printing, to reproduce RabbitMQ's texts.

pub mod command;
pub mod conf;
pub mod definitions;
mod erlang_term;
pub mod error;
pub mod json_args;
pub mod limits;
pub mod policy;
pub mod query;

pub use error::{ControlError, ControlResult, ErrorKind};
