//! warren-model: what the broker manages, independent of how it is reached — the domain
//! types, the control plane's commands, queries and errors, policies and the definitions
//! format. Front ends (AMQP sessions, the management HTTP API, warrenctl) and the broker core
//! all speak these types; nothing here does I/O (but `conf::load` reading its file).

pub mod command;
pub mod conf;
pub mod error;
pub mod query;

pub use error::{ControlError, ControlResult, ErrorKind};
