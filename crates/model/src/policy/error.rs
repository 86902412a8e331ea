//! Why a policy is refused, rendered the ways RabbitMQ 3.10.8 shows it: the management API's
//! `reason` (HTML-escaped), `rabbitmqctl set_policy`'s standard error, a definitions import.
//!
//! RabbitMQ validates the policy's four parameters (priority, pattern, apply-to, definition),
//! collects every error and prints them last-checked first, one per line, under
//! "Validation failed" (`rabbit_runtime_parameters:format_error/1`).

use serde_json::Value;

use super::definition::{format_message, DefinitionError};
use super::pattern::PatternError;
use crate::erlang_term::{latin1_chars_to_text, Term};

/// One refused policy parameter.
/// [`Display`](std::fmt::Display) is RabbitMQ's line for it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", latin1_chars_to_text(&self.latin1_line()))]
pub enum PolicyProblem {
    Definition(DefinitionError),
    /// "apply-to '~s' unrecognised; ...". `~s` prints strings and atoms (`null`, `true`); on
    /// anything else RabbitMQ crashes.
    ApplyTo {
        value: Value,
    },
    Pattern(PatternError),
    /// "priority should be a number, actually was ~p".
    PriorityNotANumber {
        value: Value,
    },
    /// Warren only: RabbitMQ stores a fractional priority such as `1.5` (and orders by it);
    /// Warren's priorities are integers.
    PriorityNotAnInteger {
        value: Value,
    },
}

impl PolicyProblem {
    /// The line RabbitMQ prints for this problem, as latin1 chardata.
    fn latin1_line(&self) -> String {
        match self {
            PolicyProblem::Definition(e) => e.latin1_message(),
            PolicyProblem::ApplyTo { value } => {
                let shown = match value {
                    Value::String(text) => latin1_of(text),
                    Value::Null => "null".to_owned(),
                    Value::Bool(b) => b.to_string(),
                    _ => String::new(),
                };
                format!("apply-to '{shown}' unrecognised; should be 'queues', 'exchanges' or 'all'")
            }
            PolicyProblem::Pattern(e) => match (e, e.reason_term()) {
                (_, Some(reason)) => format_message(
                    "pattern should be regular expression but is invalid: ",
                    &reason,
                    "",
                ),
                (PatternError::NotAString { value }, None) => format_message(
                    "pattern should be a binary but was ",
                    &Term::from_json(value),
                    "",
                ),
                (other, None) => latin1_of(&other.to_string()),
            },
            PolicyProblem::PriorityNotANumber { value } => format_message(
                "priority should be a number, actually was ",
                &Term::from_json(value),
                "",
            ),
            PolicyProblem::PriorityNotAnInteger { value } => format_message(
                "priority should be an integer, actually was ",
                &Term::from_json(value),
                "",
            ),
        }
    }

    /// Whether RabbitMQ crashes on this instead of reporting it (HTTP 500, empty body).
    pub fn is_unprocessable(&self) -> bool {
        match self {
            PolicyProblem::Definition(e) => e.is_unprocessable(),
            PolicyProblem::ApplyTo { value } => {
                !matches!(value, Value::String(_) | Value::Null | Value::Bool(_))
            }
            _ => false,
        }
    }
}

/// UTF-8 text as latin1 chardata (one char per byte), as `~s` of a binary produces it.
fn latin1_of(text: &str) -> String {
    text.bytes().map(char::from).collect()
}

/// RabbitMQ's `escape_html_tags/1` (rabbit_mgmt_format): `<`, `>` and `&` only.
pub fn escape_html_tags(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            c => out.push(c),
        }
    }
    out
}

/// A refused policy: every problem, in the order RabbitMQ prints them.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", self.reason())]
pub struct PolicyValidationError {
    problems: Vec<PolicyProblem>,
}

impl PolicyValidationError {
    /// `problems` in RabbitMQ's printing order (definition, apply-to, pattern, priority).
    pub(crate) fn new(problems: Vec<PolicyProblem>) -> Self {
        assert!(!problems.is_empty(), "a validation error has a problem");
        Self { problems }
    }

    pub fn problems(&self) -> &[PolicyProblem] {
        &self.problems
    }

    /// "Validation failed\n\n" and one line per problem: the text RabbitMQ builds.
    pub fn reason(&self) -> String {
        let mut latin1 = String::from("Validation failed\n\n");
        for problem in &self.problems {
            latin1.push_str(&problem.latin1_line());
            latin1.push('\n');
        }
        latin1_chars_to_text(&latin1)
    }

    /// 400, or 500 when RabbitMQ's validators crash on the input (the body is then empty).
    pub fn http_status(&self) -> u16 {
        if self.problems.iter().any(PolicyProblem::is_unprocessable) {
            500
        } else {
            400
        }
    }

    /// The management API's `reason` (with `"error":"bad_request"`), HTML-escaped; `None` when
    /// RabbitMQ answers 500 with an empty body.
    pub fn http_reason(&self) -> Option<String> {
        (self.http_status() == 400).then(|| escape_html_tags(&self.reason()))
    }

    /// What `rabbitmqctl set_policy` prints on standard error (exit code 69).
    pub fn ctl_stderr(&self) -> String {
        format!("Error:\n{}\n", self.reason())
    }

    /// The `reason` of a definitions import that carries this policy, for `POST
    /// /api/definitions` (`vhost_scoped` false) or `POST /api/definitions/{vhost}` (true).
    /// The import appends " (vhost/name)" and HTML-escapes; the vhost-scoped import then
    /// prints the result with `~p`, as a quoted binary.
    pub fn definitions_import_reason(&self, vhost: &str, name: &str, vhost_scoped: bool) -> String {
        let escaped = escape_html_tags(&format!("{} ({vhost}/{name})", self.reason()));
        if vhost_scoped {
            latin1_chars_to_text(&crate::erlang_term::format_p(&Term::binary(&escaped), 1))
        } else {
            escaped
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn problems_render_one_per_line_under_validation_failed() {
        let error = PolicyValidationError::new(vec![
            PolicyProblem::Definition(DefinitionError::InvalidValue {
                key: super::super::PolicyKey::MessageTtl,
                value: json!(-1),
            }),
            PolicyProblem::ApplyTo {
                value: json!("bad"),
            },
            PolicyProblem::Pattern(PatternError::Invalid {
                message: "missing )",
                offset: 1,
            }),
            PolicyProblem::PriorityNotANumber { value: json!("x") },
        ]);
        assert_eq!(
            error.reason(),
            "Validation failed\n\n-1 is not a valid message TTL\napply-to 'bad' unrecognised; should be 'queues', 'exchanges' or 'all'\npattern should be regular expression but is invalid: {\"missing )\",1}\npriority should be a number, actually was <<\"x\">>\n"
        );
        assert_eq!(error.http_status(), 400);
        assert!(error
            .http_reason()
            .unwrap()
            .contains("&lt;&lt;\"x\"&gt;&gt;"));
    }

    #[test]
    fn a_crashing_validator_means_500_without_a_reason() {
        let error = PolicyValidationError::new(vec![PolicyProblem::ApplyTo { value: json!(1) }]);
        assert_eq!(error.http_status(), 500);
        assert_eq!(error.http_reason(), None);
    }

    #[test]
    fn html_escaping_touches_only_angle_brackets_and_ampersands() {
        assert_eq!(
            escape_html_tags("<<\"a&b\">>'"),
            "&lt;&lt;\"a&amp;b\"&gt;&gt;'"
        );
    }
}
