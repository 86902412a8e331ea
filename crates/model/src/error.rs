//! The control plane's domain error: what went wrong, in RabbitMQ's words, without saying
//! how a front end reports it. The AMQP layer maps the kind to a reply code (and prefixes the
//! code's name), the HTTP API to a status code and RabbitMQ's error JSON.

use std::fmt;

/// The class of failure; each front end has a fixed mapping from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The caller may not do this (AMQP 403 ACCESS_REFUSED).
    AccessRefused,
    /// The object named does not exist (AMQP 404 NOT_FOUND).
    NotFound,
    /// Another connection holds the object exclusively (AMQP 405 RESOURCE_LOCKED).
    ResourceLocked,
    /// The request conflicts with current state: inequivalent redeclare, in use, not empty,
    /// an invalid argument value (AMQP 406 PRECONDITION_FAILED).
    PreconditionFailed,
    /// The request is malformed (AMQP 503 COMMAND_INVALID), e.g. an unknown exchange type.
    CommandInvalid,
    /// The operation is refused in this context (AMQP 530 NOT_ALLOWED).
    NotAllowed,
    /// An operator or shutdown closes the connection (AMQP 320 CONNECTION_FORCED).
    ConnectionForced,
    /// Not implemented by Warren (AMQP 540 NOT_IMPLEMENTED).
    NotImplemented,
    /// The broker failed (AMQP 541 INTERNAL_ERROR).
    Internal,
}

/// A failed control-plane command or query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlError {
    pub kind: ErrorKind,
    /// RabbitMQ's explanation, e.g. "no queue 'q' in vhost '/'".
    pub message: String,
}

pub type ControlResult<T> = Result<T, ControlError>;

impl ControlError {
    pub fn new(kind: ErrorKind, message: impl fmt::Display) -> Self {
        Self {
            kind,
            message: message.to_string(),
        }
    }
    pub fn access_refused(m: impl fmt::Display) -> Self {
        Self::new(ErrorKind::AccessRefused, m)
    }
    pub fn not_found(m: impl fmt::Display) -> Self {
        Self::new(ErrorKind::NotFound, m)
    }
    pub fn resource_locked(m: impl fmt::Display) -> Self {
        Self::new(ErrorKind::ResourceLocked, m)
    }
    pub fn precondition_failed(m: impl fmt::Display) -> Self {
        Self::new(ErrorKind::PreconditionFailed, m)
    }
    pub fn command_invalid(m: impl fmt::Display) -> Self {
        Self::new(ErrorKind::CommandInvalid, m)
    }
    pub fn not_allowed(m: impl fmt::Display) -> Self {
        Self::new(ErrorKind::NotAllowed, m)
    }
    pub fn connection_forced(m: impl fmt::Display) -> Self {
        Self::new(ErrorKind::ConnectionForced, m)
    }
    pub fn not_implemented(m: impl fmt::Display) -> Self {
        Self::new(ErrorKind::NotImplemented, m)
    }
    pub fn internal(m: impl fmt::Display) -> Self {
        Self::new(ErrorKind::Internal, m)
    }

    pub fn is_not_found(&self) -> bool {
        self.kind == ErrorKind::NotFound
    }
}

impl fmt::Display for ControlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)
    }
}

impl std::error::Error for ControlError {}
