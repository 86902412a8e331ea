//! API errors with RabbitMQ's status codes and `{"error": …, "reason": …}` bodies.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use warren_model::{ControlError, ErrorKind};

/// The realm RabbitMQ's management plugin asks browsers to log in to.
const REALM: &str = "Basic realm=\"RabbitMQ Management\"";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// No credentials: 401 with an empty body and a login challenge.
    NoCredentials,
    /// Unknown user or wrong password.
    LoginFailed,
    /// Authenticated, but the user's tags or permissions do not allow this (RabbitMQ 3.10
    /// answers 401 with the British spelling, and no challenge).
    NotAuthorised(String),
    /// The object (or the path) does not exist.
    NotFound,
    /// RabbitMQ's `not_found` with a reason (e.g. `vhost_not_found` on a create).
    NotFoundReason(String),
    /// 400 with `bad_request` and a reason.
    BadRequest(String),
    /// 400 with `bad_request` and a reason that is JSON, not text (RabbitMQ renders some
    /// Erlang terms as lists, e.g. `["no_such_user","bob"]`).
    BadRequestTerm(serde_json::Value),
    /// Any status with its own error word (`invalid_pagination_parameters`, …).
    Other {
        status: StatusCode,
        error: &'static str,
        reason: String,
    },
    /// 500 with an empty body, as RabbitMQ's crashed handlers answer.
    Internal,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn not_authorised(reason: impl Into<String>) -> Self {
        Self::NotAuthorised(reason.into())
    }

    pub fn bad_request(reason: impl Into<String>) -> Self {
        Self::BadRequest(reason.into())
    }

    /// The body of a malformed or non-object JSON request.
    pub fn not_json() -> Self {
        Self::bad_request("not_json")
    }
}

/// RabbitMQ's reason for any access refusal on the channel an API request uses (the AMQP
/// text is only logged).
pub const ACCESS_REFUSED: &str = "Access refused.";

/// How a control-plane failure reads in the API (RabbitMQ turns the AMQP error of the
/// channel it used into these).
impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> Self {
        match e.kind {
            ErrorKind::NotFound => ApiError::NotFound,
            ErrorKind::AccessRefused => {
                tracing::debug!(error = %e.message, "management request refused");
                ApiError::not_authorised(ACCESS_REFUSED)
            }
            ErrorKind::PreconditionFailed
            | ErrorKind::ResourceLocked
            | ErrorKind::CommandInvalid
            | ErrorKind::NotAllowed
            | ErrorKind::NotImplemented => ApiError::BadRequest(e.message),
            ErrorKind::ConnectionForced | ErrorKind::Internal => {
                tracing::warn!(error = %e.message, "management request failed");
                ApiError::Internal
            }
        }
    }
}

fn json_error(status: StatusCode, error: &str, reason: &str) -> Response {
    let body = serde_json::json!({ "error": error, "reason": reason });
    (status, axum::Json(body)).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = match &self {
            ApiError::NoCredentials => StatusCode::UNAUTHORIZED.into_response(),
            ApiError::LoginFailed => {
                json_error(StatusCode::UNAUTHORIZED, "not_authorized", "Login failed")
            }
            ApiError::NotAuthorised(reason) => {
                json_error(StatusCode::UNAUTHORIZED, "not_authorised", reason)
            }
            ApiError::NotFound => {
                json_error(StatusCode::NOT_FOUND, "Object Not Found", "Not Found")
            }
            ApiError::NotFoundReason(reason) => {
                json_error(StatusCode::NOT_FOUND, "not_found", reason)
            }
            ApiError::BadRequest(reason) => {
                json_error(StatusCode::BAD_REQUEST, "bad_request", reason)
            }
            ApiError::BadRequestTerm(reason) => {
                let body = serde_json::json!({ "error": "bad_request", "reason": reason });
                (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
            }
            ApiError::Other {
                status,
                error,
                reason,
            } => json_error(*status, error, reason),
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        };
        if matches!(self, ApiError::NoCredentials | ApiError::LoginFailed) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(REALM));
        }
        response
    }
}
