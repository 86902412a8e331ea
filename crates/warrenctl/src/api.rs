//! Management API calls: basic auth, JSON in and out, HTTP status codes turned into [`ApiError`].

use std::time::Duration;

use base64::Engine;
use serde_json::Value;

use crate::error::CtlError;
use crate::http_client::{HttpClient, HttpError, HttpRequest};
use crate::mgmt_url::MgmtUrl;

/// Who to talk to, as whom.
#[derive(Debug, Clone)]
pub struct ManagementApi {
    url_text: String,
    url: MgmtUrl,
    user: String,
    password: String,
    http: HttpClient,
    timeout: Duration,
}

/// A request that got an HTTP answer other than 2xx, or none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    NotFound {
        reason: String,
    },
    BadRequest {
        reason: String,
    },
    /// 401 with `not_authorized` (or no body): the credentials were refused.
    LoginFailed {
        reason: String,
    },
    /// 401 with `not_authorised` (British spelling): logged in, but not allowed.
    NotAuthorised {
        reason: String,
    },
    /// Anything else the caller has no specific meaning for.
    Failed(CtlError),
}

impl ManagementApi {
    pub fn new(
        url_text: &str,
        url: MgmtUrl,
        user: &str,
        password: &str,
        timeout: Duration,
    ) -> Self {
        ManagementApi {
            url_text: url_text.trim_end_matches('/').to_string(),
            http: HttpClient::new(&url.host, url.port, timeout),
            url,
            user: user.to_string(),
            password: password.to_string(),
            timeout,
        }
    }

    /// The same node, other credentials (authenticate_user).
    pub fn as_user(&self, user: &str, password: &str) -> ManagementApi {
        ManagementApi::new(
            &self.url_text,
            self.url.clone(),
            user,
            password,
            self.timeout,
        )
    }

    pub fn get(&self, path: &str) -> Result<Value, ApiError> {
        let body = self.call("GET", path, None, vec![])?;
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::Failed(CtlError::BadResponse(format!(
                "GET {path} answered with something that is not JSON: {e}"
            )))
        })
    }

    pub fn get_array(&self, path: &str) -> Result<Vec<Value>, ApiError> {
        match self.get(path)? {
            Value::Array(items) => Ok(items),
            other => Err(ApiError::Failed(CtlError::BadResponse(format!(
                "GET {path} answered with {} instead of a JSON array",
                json_kind(&other)
            )))),
        }
    }

    pub fn put(&self, path: &str, body: &Value) -> Result<(), ApiError> {
        self.call("PUT", path, Some(body), vec![]).map(drop)
    }

    pub fn post(&self, path: &str, body: &Value) -> Result<(), ApiError> {
        self.call("POST", path, Some(body), vec![]).map(drop)
    }

    pub fn delete(&self, path: &str, headers: Vec<(&str, String)>) -> Result<(), ApiError> {
        self.call("DELETE", path, None, headers).map(drop)
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        mut headers: Vec<(&str, String)>,
    ) -> Result<Vec<u8>, ApiError> {
        let credentials = format!("{}:{}", self.user, self.password);
        let authorization = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        );
        headers.push(("Authorization", authorization));
        let path_and_query = self.url.api_path(path);
        let request = HttpRequest {
            method,
            path_and_query: &path_and_query,
            headers,
            json_body: body.map(|b| b.to_string().into_bytes()),
        };
        let response = self
            .http
            .send(&request)
            .map_err(|e| ApiError::Failed(self.transport_error(e)))?;
        if (200..300).contains(&response.status) {
            return Ok(response.body);
        }
        Err(self.status_error(method, path, response.status, &response.body))
    }

    fn transport_error(&self, error: HttpError) -> CtlError {
        match error {
            HttpError::TimedOut(seconds) => CtlError::TimedOut {
                url: self.url_text.clone(),
                seconds,
            },
            other => CtlError::NodeUnreachable {
                url: self.url_text.clone(),
                cause: other.to_string(),
            },
        }
    }

    fn status_error(&self, method: &str, path: &str, status: u16, body: &[u8]) -> ApiError {
        let parsed: Option<Value> = serde_json::from_slice(body).ok();
        let field = |name: &str| {
            parsed
                .as_ref()
                .and_then(|v| v.get(name))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let reason = field("reason").map(|r| one_line_reason(&r));
        match status {
            404 => ApiError::NotFound {
                reason: reason.unwrap_or_else(|| "Not Found".into()),
            },
            400 => ApiError::BadRequest {
                reason: reason.unwrap_or_else(|| String::from_utf8_lossy(body).into_owned()),
            },
            401 if field("error").as_deref() == Some("not_authorised") => ApiError::NotAuthorised {
                reason: reason.unwrap_or_default(),
            },
            401 => ApiError::LoginFailed {
                reason: reason.unwrap_or_else(|| "Login failed".into()),
            },
            _ => ApiError::Failed(CtlError::BadResponse(format!(
                "{method} {path} failed with HTTP {status}{}",
                reason.map(|r| format!(": {r}")).unwrap_or_default()
            ))),
        }
    }

    /// For errors nobody gave a more specific meaning.
    pub fn general_error(&self, error: ApiError) -> CtlError {
        match error {
            ApiError::LoginFailed { reason } => CtlError::AuthenticationFailed {
                url: self.url_text.clone(),
                user: self.user.clone(),
                reason,
            },
            ApiError::NotAuthorised { reason } => CtlError::AccessRefused {
                user: self.user.clone(),
                reason,
            },
            ApiError::BadRequest { reason } => CtlError::Rejected(reason),
            ApiError::NotFound { reason } => CtlError::Rejected(reason),
            ApiError::Failed(error) => error,
        }
    }
}

/// The API HTML-escapes Erlang terms in reasons and splits them over lines; undo both.
pub fn one_line_reason(reason: &str) -> String {
    let unescaped = reason
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    let lines: Vec<&str> = unescaped
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines.join(": ")
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api() -> ManagementApi {
        let url = MgmtUrl::parse("http://127.0.0.1:1").expect("url");
        ManagementApi::new(
            "http://127.0.0.1:1",
            url,
            "guest",
            "guest",
            Duration::from_secs(1),
        )
    }

    #[test]
    fn html_escaped_multi_line_reasons_become_one_readable_line() {
        assert_eq!(
            one_line_reason(
                "Validation failed\n\n[{&lt;&lt;\"no-such\"&gt;&gt;,1}] are not recognised policy settings\n"
            ),
            "Validation failed: [{<<\"no-such\">>,1}] are not recognised policy settings"
        );
    }

    #[test]
    fn status_codes_map_to_meanings() {
        let api = api();
        let body = br#"{"error":"not_authorized","reason":"Login failed"}"#;
        assert_eq!(
            api.status_error("GET", "/whoami", 401, body),
            ApiError::LoginFailed {
                reason: "Login failed".into()
            }
        );
        let body = br#"{"error":"not_authorised","reason":"Not management user"}"#;
        assert_eq!(
            api.status_error("GET", "/whoami", 401, body),
            ApiError::NotAuthorised {
                reason: "Not management user".into()
            }
        );
        assert!(matches!(
            api.status_error("GET", "/whoami", 401, b""),
            ApiError::LoginFailed { .. }
        ));
        let body = br#"{"error":"bad_request","reason":"vhost_or_user_not_found"}"#;
        assert_eq!(
            api.status_error("PUT", "/permissions/v/u", 400, body),
            ApiError::BadRequest {
                reason: "vhost_or_user_not_found".into()
            }
        );
        let ApiError::Failed(error) = api.status_error("PUT", "/policies/v/p", 500, b"") else {
            panic!("500 is a plain failure");
        };
        assert_eq!(
            error.to_string(),
            "Error: PUT /policies/v/p failed with HTTP 500"
        );
        assert_eq!(error.exit_code() as u8, 70);
    }

    #[test]
    fn refused_connection_names_the_url_and_exits_69() {
        let error = api()
            .get("/overview")
            .expect_err("nothing listens on port 1");
        let error = api().general_error(error);
        assert_eq!(
            error.to_string(),
            "Error: unable to reach the node at http://127.0.0.1:1: connection refused"
        );
        assert_eq!(error.exit_code() as u8, 69);
    }

    #[test]
    fn login_failure_names_user_and_url() {
        let error = api().general_error(ApiError::LoginFailed {
            reason: "Login failed".into(),
        });
        assert_eq!(
            error.to_string(),
            "Error: authentication failed for user 'guest' at http://127.0.0.1:1: Login failed"
        );
    }
}
