//! Every way a warrenctl run can fail, the one stderr line it prints and rabbitmqctl's exit code.
//!
//! rabbitmqctl uses sysexits codes: 64 usage, 65 data error, 67 no such user, 69 unavailable,
//! 70 software error, 75 temporary failure (timeout). rabbitmqctl prints most errors as
//! `Error:` on one line and the message on the next; warrenctl keeps its texts on one line.

/// rabbitmqctl's exit codes (RabbitMQ.CLI.Core.ExitCodes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitCode {
    Usage = 64,
    DataError = 65,
    NoUser = 67,
    Unavailable = 69,
    Software = 70,
    TempFail = 75,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CtlError {
    /// Bad verb, arity, option or column; `usage` is the verb's usage line when known.
    #[error("{message}")]
    Usage {
        message: String,
        usage: Option<String>,
    },
    /// A bad argument value that rabbitmqctl reports as a data error (e.g. a missing file).
    #[error("Error (argument validation): {0}")]
    BadArgument(String),
    #[error("Error: unable to reach the node at {url}: {cause}")]
    NodeUnreachable { url: String, cause: String },
    #[error("Error: operation timed out after {seconds} seconds talking to the node at {url}")]
    TimedOut { url: String, seconds: u64 },
    #[error("Error: authentication failed for user '{user}' at {url}: {reason}")]
    AuthenticationFailed {
        url: String,
        user: String,
        reason: String,
    },
    #[error("Error: access refused for user '{user}': {reason}")]
    AccessRefused { user: String, reason: String },
    #[error("Virtual host '{0}' does not exist")]
    VhostNotFound(String),
    #[error("Error: User \"{0}\" does not exist")]
    UserNotFound(String),
    #[error("Error: User \"{0}\" already exists")]
    UserAlreadyExists(String),
    #[error("Error: failed to authenticate user \"{0}\": user '{0}' - invalid credentials")]
    InvalidCredentials(String),
    #[error("Error: queue '{queue}' in vhost '{vhost}' not found")]
    QueueNotFound { queue: String, vhost: String },
    /// delete_queue refusals, which rabbitmqctl 3.10 exits with 64.
    #[error("Error: {0}")]
    QueueNotDeleted(String),
    #[error("Error: connection '{0}' not found")]
    ConnectionNotFound(String),
    /// A policy or a vhost's limits (both runtime parameters in RabbitMQ).
    #[error("Error: Parameter does not exist")]
    ParameterNotFound,
    #[error("Error: JSON decoding error. Reason: {0}")]
    InvalidJson(String),
    /// The API refused the request (HTTP 400 and similar) and said why.
    #[error("Error: {0}")]
    Rejected(String),
    #[error("Error: {0}")]
    DataError(String),
    /// The node answered something warrenctl does not understand (HTTP 5xx, non-JSON, …).
    #[error("Error: {0}")]
    BadResponse(String),
}

impl CtlError {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            CtlError::Usage { .. } | CtlError::QueueNotDeleted(_) => ExitCode::Usage,
            CtlError::BadArgument(_)
            | CtlError::VhostNotFound(_)
            | CtlError::InvalidCredentials(_)
            | CtlError::DataError(_) => ExitCode::DataError,
            CtlError::UserNotFound(_) => ExitCode::NoUser,
            CtlError::NodeUnreachable { .. }
            | CtlError::AuthenticationFailed { .. }
            | CtlError::AccessRefused { .. }
            | CtlError::QueueNotFound { .. }
            | CtlError::ConnectionNotFound(_)
            | CtlError::ParameterNotFound
            | CtlError::InvalidJson(_)
            | CtlError::Rejected(_) => ExitCode::Unavailable,
            CtlError::UserAlreadyExists(_) | CtlError::BadResponse(_) => ExitCode::Software,
            CtlError::TimedOut { .. } => ExitCode::TempFail,
        }
    }

    /// What goes to stderr: the message, plus the usage line for usage errors.
    pub fn stderr_text(&self) -> String {
        match self {
            CtlError::Usage {
                message,
                usage: Some(usage),
            } => format!("{message}\n{usage}"),
            other => other.to_string(),
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        CtlError::Usage {
            message: message.into(),
            usage: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_rabbitmqctls() {
        let unreachable = CtlError::NodeUnreachable {
            url: "http://127.0.0.1:1".into(),
            cause: "connection refused".into(),
        };
        assert_eq!(unreachable.exit_code() as u8, 69);
        assert_eq!(CtlError::usage("x").exit_code() as u8, 64);
        assert_eq!(CtlError::VhostNotFound("v".into()).exit_code() as u8, 65);
        assert_eq!(CtlError::UserNotFound("u".into()).exit_code() as u8, 67);
        assert_eq!(
            CtlError::UserAlreadyExists("u".into()).exit_code() as u8,
            70
        );
        assert_eq!(
            CtlError::InvalidCredentials("u".into()).exit_code() as u8,
            65
        );
        let timeout = CtlError::TimedOut {
            url: "u".into(),
            seconds: 1,
        };
        assert_eq!(timeout.exit_code() as u8, 75);
    }

    #[test]
    fn messages_read_like_rabbitmqctls() {
        let unreachable = CtlError::NodeUnreachable {
            url: "http://127.0.0.1:1".into(),
            cause: "connection refused".into(),
        };
        assert_eq!(
            unreachable.stderr_text(),
            "Error: unable to reach the node at http://127.0.0.1:1: connection refused"
        );
        assert_eq!(
            CtlError::VhostNotFound("nope".into()).stderr_text(),
            "Virtual host 'nope' does not exist"
        );
        assert_eq!(
            CtlError::UserNotFound("bob".into()).stderr_text(),
            "Error: User \"bob\" does not exist"
        );
        let usage = CtlError::Usage {
            message: "Error (argument validation): not enough arguments.".into(),
            usage: Some("Usage: warrenctl delete_user <username>".into()),
        };
        assert_eq!(
            usage.stderr_text(),
            "Error (argument validation): not enough arguments.\nUsage: warrenctl delete_user <username>"
        );
    }
}
