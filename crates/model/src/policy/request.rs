//! Building a [`Policy`] from what a client sends: the management API's PUT body, the
//! arguments of `rabbitmqctl set_policy`, or separate JSON parts, validated as RabbitMQ 3.10.8
//! does (`rabbit_policy:set/7` → `rabbit_runtime_parameters:set_any/5`).

use serde_json::Value;

use super::error::{PolicyProblem, PolicyValidationError};
use super::pattern::{compile_pattern, PatternError};
use super::validators::integer;
use super::{ApplyTo, Policy, PolicyDefinition};

/// Why a policy request is refused before or during validation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PolicyRequestError {
    /// The body is not JSON, or JSON that is neither an object nor a string.
    #[error("not_json")]
    NotJson,
    /// The body is a JSON string (a doubly encoded object, usually).
    #[error("invalid payload: the request body JSON-decoded to a string. Is the input doubly-JSON-encoded?")]
    DoublyEncoded,
    /// `pattern` and/or `definition` are absent.
    #[error("{}", key_missing_reason(keys))]
    KeyMissing { keys: Vec<&'static str> },
    /// rabbitmqctl's definition argument is not JSON.
    #[error("JSON decoding error. Reason: badarg")]
    DefinitionNotJson,
    #[error(transparent)]
    Invalid(#[from] PolicyValidationError),
}

/// `[{key_missing,pattern},{key_missing,definition}]`, as `~p` prints the error list.
fn key_missing_reason(keys: &[&'static str]) -> String {
    let items: Vec<String> = keys
        .iter()
        .map(|k| format!("{{key_missing,{k}}}"))
        .collect();
    format!("[{}]", items.join(","))
}

impl PolicyRequestError {
    /// The management API's status: 400, or 500 (empty body) where RabbitMQ crashes.
    pub fn http_status(&self) -> u16 {
        match self {
            PolicyRequestError::Invalid(e) => e.http_status(),
            _ => 400,
        }
    }

    /// The `reason` next to `"error":"bad_request"`, or `None` for a 500 with an empty body.
    pub fn http_reason(&self) -> Option<String> {
        match self {
            PolicyRequestError::Invalid(e) => e.http_reason(),
            other => Some(other.to_string()),
        }
    }

    /// What `rabbitmqctl set_policy` prints on standard error (it exits with code 69).
    pub fn ctl_stderr(&self) -> String {
        match self {
            PolicyRequestError::Invalid(e) => e.ctl_stderr(),
            other => format!("Error:\n{other}\n"),
        }
    }
}

/// The line `rabbitmqctl set_policy` prints on standard output before it asks the node.
pub fn set_policy_banner(
    vhost: &str,
    name: &str,
    pattern: &str,
    definition: &str,
    priority: i64,
) -> String {
    format!(
        "Setting policy \"{name}\" for pattern \"{pattern}\" to \"{definition}\" with priority \"{priority}\" for vhost \"{vhost}\" ...\n"
    )
}

impl Policy {
    /// Validate a policy's parts as RabbitMQ does and build it. `priority` and `apply_to` are
    /// `None` when absent (then 0 and "all"); a present `null` is refused as RabbitMQ does.
    /// Every problem is reported, in RabbitMQ's order.
    pub fn from_parts(
        vhost: &str,
        name: &str,
        pattern: &Value,
        definition: &Value,
        priority: Option<&Value>,
        apply_to: Option<&Value>,
    ) -> Result<Policy, PolicyValidationError> {
        let definition = match definition {
            Value::Object(map) => {
                let definition = PolicyDefinition::from_map(map.clone());
                definition.validate().map(|()| definition)
            }
            other => Err(super::DefinitionError::NotAnObject {
                definition: other.clone(),
            }),
        };
        let apply_to = match apply_to {
            None => Ok(ApplyTo::All),
            Some(value) => value
                .as_str()
                .and_then(ApplyTo::from_name)
                .ok_or_else(|| value.clone()),
        };
        let pattern = match pattern {
            Value::String(text) => compile_pattern(text).map(|_| text.clone()),
            other => Err(PatternError::NotAString {
                value: other.clone(),
            }),
        };
        let priority = match priority {
            None => Ok(0),
            Some(value @ Value::Number(_)) => integer(value)
                .and_then(|i| i64::try_from(i).ok())
                .ok_or_else(|| PolicyProblem::PriorityNotAnInteger {
                    value: value.clone(),
                }),
            Some(value) => Err(PolicyProblem::PriorityNotANumber {
                value: value.clone(),
            }),
        };
        match (definition, apply_to, pattern, priority) {
            (Ok(definition), Ok(apply_to), Ok(pattern), Ok(priority)) => Ok(Policy {
                vhost: vhost.to_owned(),
                name: name.to_owned(),
                pattern,
                apply_to,
                definition,
                priority,
            }),
            (definition, apply_to, pattern, priority) => {
                let mut problems = Vec::new();
                if let Err(e) = definition {
                    problems.push(PolicyProblem::Definition(e));
                }
                if let Err(value) = apply_to {
                    problems.push(PolicyProblem::ApplyTo { value });
                }
                if let Err(e) = pattern {
                    problems.push(PolicyProblem::Pattern(e));
                }
                if let Err(p) = priority {
                    problems.push(p);
                }
                Err(PolicyValidationError::new(problems))
            }
        }
    }

    /// `PUT /api/policies/{vhost}/{name}` with the raw request body, decoded as the management
    /// plugin does: an empty body, `null` or `undefined` count as `{}`.
    pub fn from_api_body(
        vhost: &str,
        name: &str,
        body: &str,
    ) -> Result<Policy, PolicyRequestError> {
        let json = match body {
            "" | "null" | "undefined" => Value::Object(Default::default()),
            _ => serde_json::from_str(body).map_err(|_| PolicyRequestError::NotJson)?,
        };
        Self::from_api_json(vhost, name, &json)
    }

    /// `PUT /api/policies/{vhost}/{name}` with an already decoded body.
    pub fn from_api_json(
        vhost: &str,
        name: &str,
        body: &Value,
    ) -> Result<Policy, PolicyRequestError> {
        let empty = serde_json::Map::new();
        let fields = match body {
            Value::Object(map) => map,
            Value::Bool(_) | Value::Null => &empty,
            Value::String(_) => return Err(PolicyRequestError::DoublyEncoded),
            _ => return Err(PolicyRequestError::NotJson),
        };
        let pattern = fields.get("pattern");
        let definition = fields.get("definition");
        let missing: Vec<&'static str> = [("pattern", pattern), ("definition", definition)]
            .into_iter()
            .filter(|(_, v)| v.is_none())
            .map(|(k, _)| k)
            .collect();
        let (Some(pattern), Some(definition)) = (pattern, definition) else {
            return Err(PolicyRequestError::KeyMissing { keys: missing });
        };
        Ok(Self::from_parts(
            vhost,
            name,
            pattern,
            definition,
            fields.get("priority"),
            fields.get("apply-to"),
        )?)
    }

    /// `rabbitmqctl set_policy [-p vhost] [--priority p] [--apply-to a] name pattern definition`,
    /// after the CLI's own checks (priority an integer).
    pub fn from_ctl_args(
        vhost: &str,
        name: &str,
        pattern: &str,
        definition: &str,
        priority: Option<i64>,
        apply_to: Option<&str>,
    ) -> Result<Policy, PolicyRequestError> {
        let definition: Value =
            serde_json::from_str(definition).map_err(|_| PolicyRequestError::DefinitionNotJson)?;
        let priority = Value::from(priority.unwrap_or(0));
        let apply_to = Value::from(apply_to.unwrap_or("all"));
        Ok(Self::from_parts(
            vhost,
            name,
            &Value::from(pattern),
            &definition,
            Some(&priority),
            Some(&apply_to),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn absent_priority_and_apply_to_default_to_zero_and_all() {
        let policy = Policy::from_api_body(
            "/",
            "p",
            r#"{"pattern":"^q","definition":{"max-length":1}}"#,
        )
        .unwrap();
        assert_eq!((policy.priority, policy.apply_to), (0, ApplyTo::All));
    }

    #[test]
    fn missing_keys_are_listed_as_rabbitmq_prints_them() {
        let err = Policy::from_api_body("/", "p", "{}").unwrap_err();
        assert_eq!(
            err.http_reason().unwrap(),
            "[{key_missing,pattern},{key_missing,definition}]"
        );
        let err = Policy::from_api_body("/", "p", "").unwrap_err();
        assert!(matches!(err, PolicyRequestError::KeyMissing { .. }));
    }

    #[test]
    fn bodies_that_are_not_objects() {
        assert_eq!(
            Policy::from_api_body("/", "p", "{x").unwrap_err(),
            PolicyRequestError::NotJson
        );
        assert_eq!(
            Policy::from_api_body("/", "p", "[1]").unwrap_err(),
            PolicyRequestError::NotJson
        );
        assert_eq!(
            Policy::from_api_body("/", "p", "\"{}\"").unwrap_err(),
            PolicyRequestError::DoublyEncoded
        );
    }

    #[test]
    fn a_null_priority_is_refused_but_an_absent_one_is_not() {
        let err = Policy::from_parts(
            "/",
            "p",
            &json!("^x"),
            &json!({"max-length": 1}),
            Some(&Value::Null),
            None,
        )
        .unwrap_err();
        assert_eq!(
            err.reason(),
            "Validation failed\n\npriority should be a number, actually was null\n"
        );
    }

    #[test]
    fn ctl_errors_go_to_stderr_after_error() {
        let err = Policy::from_ctl_args("/", "p", "^x", "{max-length:1}", None, None).unwrap_err();
        assert_eq!(
            err.ctl_stderr(),
            "Error:\nJSON decoding error. Reason: badarg\n"
        );
        let err = Policy::from_ctl_args("/", "p", "^x", "{}", None, None).unwrap_err();
        assert_eq!(
            err.ctl_stderr(),
            "Error:\nValidation failed\n\nno policy provided\n\n"
        );
    }

    #[test]
    fn the_banner_matches_rabbitmqctl() {
        assert_eq!(
            set_policy_banner("pol-v1", "pol-p", "^x", "{\"max-length\":1}", 3),
            "Setting policy \"pol-p\" for pattern \"^x\" to \"{\"max-length\":1}\" with priority \"3\" for vhost \"pol-v1\" ...\n"
        );
    }
}
