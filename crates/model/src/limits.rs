//! RabbitMQ's vhost limits (`max-connections`, `max-queues`) and user limits
//! (`max-connections`, `max-channels`): which names exist and how a value given as JSON is
//! checked, with RabbitMQ 3.10's texts for what it refuses.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

/// Limits as set: name → value (a negative value is no limit, 0 allows none).
pub type Limits = BTreeMap<String, i64>;

/// Whose limits: RabbitMQ validates them as two different runtime-parameter components.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitScope {
    Vhost,
    User,
}

impl LimitScope {
    /// The limit names this scope knows.
    pub fn names(self) -> &'static [&'static str] {
        match self {
            LimitScope::Vhost => &["max-connections", "max-queues"],
            LimitScope::User => &["max-connections", "max-channels"],
        }
    }

    /// RabbitMQ's name for the set of limits in its "Unrecognised terms" text.
    fn component(self) -> &'static str {
        match self {
            LimitScope::Vhost => "limits",
            LimitScope::User => "user-limits",
        }
    }
}

/// Why a limit was refused; displayed as RabbitMQ 3.10 words it (without the
/// "Validation failed" heading its vhost-limit answers add).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitError {
    Unrecognised {
        scope: LimitScope,
        name: String,
        value: String,
    },
    NotANumber {
        name: String,
        value: String,
    },
}

impl fmt::Display for LimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitError::Unrecognised { scope, name, value } => write!(
                f,
                "Unrecognised terms [{{<<\"{name}\">>,{value}}}] in {}",
                scope.component()
            ),
            LimitError::NotANumber { name, value } => {
                write!(f, "{name} should be a number, actually was {value}")
            }
        }
    }
}

impl std::error::Error for LimitError {}

/// A JSON value the way RabbitMQ's messages print the Erlang term it decoded to.
fn as_erlang(value: &Value) -> String {
    match value {
        Value::String(s) => format!("<<\"{s}\">>"),
        other => other.to_string(),
    }
}

/// One limit checked: its name known in `scope` and its value an integer.
pub fn check(scope: LimitScope, name: &str, value: &Value) -> Result<i64, LimitError> {
    if !scope.names().contains(&name) {
        return Err(LimitError::Unrecognised {
            scope,
            name: name.to_owned(),
            value: as_erlang(value),
        });
    }
    value.as_i64().ok_or_else(|| LimitError::NotANumber {
        name: name.to_owned(),
        value: as_erlang(value),
    })
}

/// A whole JSON object of limits checked (`set_vhost_limits`, definitions).
pub fn check_all(scope: LimitScope, map: &Map<String, Value>) -> Result<Limits, LimitError> {
    map.iter()
        .map(|(name, value)| Ok((name.clone(), check(scope, name, value)?)))
        .collect()
}

/// The value of limit `name` when it limits anything (a negative value does not).
pub fn effective(limits: &Limits, name: &str) -> Option<u64> {
    u64::try_from(*limits.get(name)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_names_and_non_numbers_are_refused_with_rabbitmqs_texts() {
        let e = check(LimitScope::Vhost, "max-foo", &json!(1)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Unrecognised terms [{<<\"max-foo\">>,1}] in limits"
        );
        let e = check(LimitScope::User, "max-foo", &json!(2)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Unrecognised terms [{<<\"max-foo\">>,2}] in user-limits"
        );
        let e = check(LimitScope::User, "max-channels", &json!("x")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "max-channels should be a number, actually was <<\"x\">>"
        );
        assert!(check(LimitScope::Vhost, "max-channels", &json!(1)).is_err());
        assert!(check(LimitScope::User, "max-queues", &json!(1)).is_err());
        assert_eq!(check(LimitScope::User, "max-channels", &json!(-1)), Ok(-1));
    }

    #[test]
    fn a_negative_limit_limits_nothing_and_zero_allows_none() {
        let limits: Limits = [("max-connections".to_owned(), -1), ("max-queues".into(), 0)]
            .into_iter()
            .collect();
        assert_eq!(effective(&limits, "max-connections"), None);
        assert_eq!(effective(&limits, "max-queues"), Some(0));
        assert_eq!(effective(&limits, "max-channels"), None);
    }
}
