//! AMQP errors as values: a reply code, RabbitMQ's reply text, and the method that failed.
//!
//! Channel exceptions (403–406) close one channel; every other code closes the connection.

use std::fmt;
use warren_codec::reply::{self, is_hard_error, reply_name};
use warren_model::{ControlError, ErrorKind};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmqpError {
    pub code: u16,
    pub text: String,
    pub class_id: u16,
    pub method_id: u16,
}

impl AmqpError {
    /// An error whose reply text is "NAME - explanation", as RabbitMQ formats them.
    pub fn new(code: u16, explanation: impl fmt::Display) -> Self {
        Self {
            code,
            text: format!("{} - {}", reply_name(code), explanation),
            class_id: 0,
            method_id: 0,
        }
    }

    /// Note which method failed (filled in by the dispatcher when not set).
    pub fn on_method(mut self, class_id: u16, method_id: u16) -> Self {
        if self.class_id == 0 && self.method_id == 0 {
            self.class_id = class_id;
            self.method_id = method_id;
        }
        self
    }

    /// Set the method ids unconditionally (errors RabbitMQ reports against a fixed method).
    pub fn with_ids(mut self, class_id: u16, method_id: u16) -> Self {
        self.class_id = class_id;
        self.method_id = method_id;
        self
    }

    /// True when this error must close the whole connection.
    pub fn is_connection_error(&self) -> bool {
        is_hard_error(self.code)
    }

    pub fn access_refused(e: impl fmt::Display) -> Self {
        Self::new(reply::ACCESS_REFUSED, e)
    }
    pub fn not_found(e: impl fmt::Display) -> Self {
        Self::new(reply::NOT_FOUND, e)
    }
    pub fn resource_locked(e: impl fmt::Display) -> Self {
        Self::new(reply::RESOURCE_LOCKED, e)
    }
    pub fn precondition_failed(e: impl fmt::Display) -> Self {
        Self::new(reply::PRECONDITION_FAILED, e)
    }
    pub fn frame_error(e: impl fmt::Display) -> Self {
        Self::new(reply::FRAME_ERROR, e)
    }
    pub fn syntax_error(e: impl fmt::Display) -> Self {
        Self::new(reply::SYNTAX_ERROR, e)
    }
    pub fn command_invalid(e: impl fmt::Display) -> Self {
        Self::new(reply::COMMAND_INVALID, e)
    }
    pub fn channel_error(e: impl fmt::Display) -> Self {
        Self::new(reply::CHANNEL_ERROR, e)
    }
    pub fn unexpected_frame(e: impl fmt::Display) -> Self {
        Self::new(reply::UNEXPECTED_FRAME, e)
    }
    pub fn not_allowed(e: impl fmt::Display) -> Self {
        Self::new(reply::NOT_ALLOWED, e)
    }
    pub fn not_implemented(e: impl fmt::Display) -> Self {
        Self::new(reply::NOT_IMPLEMENTED, e)
    }
    pub fn internal(e: impl fmt::Display) -> Self {
        Self::new(reply::INTERNAL_ERROR, e)
    }
}

impl fmt::Display for AmqpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} (class {} method {})",
            self.code, self.text, self.class_id, self.method_id
        )
    }
}

impl std::error::Error for AmqpError {}

pub type AmqpResult<T> = Result<T, AmqpError>;

/// The reply code RabbitMQ sends for each kind of control-plane failure.
pub fn reply_code(kind: ErrorKind) -> u16 {
    match kind {
        ErrorKind::AccessRefused => reply::ACCESS_REFUSED,
        ErrorKind::NotFound => reply::NOT_FOUND,
        ErrorKind::ResourceLocked => reply::RESOURCE_LOCKED,
        ErrorKind::PreconditionFailed => reply::PRECONDITION_FAILED,
        ErrorKind::CommandInvalid => reply::COMMAND_INVALID,
        ErrorKind::NotAllowed => reply::NOT_ALLOWED,
        ErrorKind::ConnectionForced => reply::CONNECTION_FORCED,
        ErrorKind::NotImplemented => reply::NOT_IMPLEMENTED,
        ErrorKind::Internal => reply::INTERNAL_ERROR,
    }
}

impl From<ControlError> for AmqpError {
    fn from(e: ControlError) -> Self {
        Self::new(reply_code(e.kind), e.message)
    }
}
