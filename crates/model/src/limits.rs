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

/// A change to a vhost's or a user's limits, applied to what is set when the control plane
/// runs it (so two changes to different limits never lose one another).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitsChange {
    /// All of them (`set_vhost_limits`, the `vhost-limits` parameter, a journal record).
    Replace(Limits),
    /// These, kept with the others (`set_user_limits`, a user's `limits` in definitions).
    Merge(Limits),
    /// This one gone.
    Clear(String),
}

impl LimitsChange {
    /// One limit set, the others kept.
    pub fn set(name: &str, value: i64) -> Self {
        LimitsChange::Merge(Limits::from([(name.to_owned(), value)]))
    }

    /// The limits after this change to `current`.
    pub fn applied_to(&self, current: &Limits) -> Limits {
        match self {
            LimitsChange::Replace(all) => all.clone(),
            LimitsChange::Merge(some) => {
                let mut merged = current.clone();
                merged.extend(some.iter().map(|(k, v)| (k.clone(), *v)));
                merged
            }
            LimitsChange::Clear(name) => {
                let mut rest = current.clone();
                rest.remove(name);
                rest
            }
        }
    }
}

/// RabbitMQ's "Validation failed" answer for a vhost's limits (its runtime-parameter
/// validation), around `why`.
pub fn validation_failed(why: impl fmt::Display) -> String {
    format!("Validation failed\n\n{why}\n")
}

/// The `vhost-limits` runtime parameter (from definitions or `PUT /api/parameters`): RabbitMQ
/// keeps a vhost's limits as one parameter named `limits` whose value is an object of them.
pub fn vhost_limits_parameter(
    component: &str,
    name: &str,
    value: &Value,
) -> Result<Limits, String> {
    if component != "vhost-limits" {
        return Err(format!("component {component} not found"));
    }
    if name != "limits" {
        return Err("vhost limits are one parameter named 'limits'".to_owned());
    }
    let Value::Object(map) = value else {
        return Err(format!("Unrecognised terms {value} in limits"));
    };
    check_all(LimitScope::Vhost, map).map_err(|e| e.to_string())
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
    fn changes_merge_replace_or_clear_what_is_set() {
        let current: Limits = [
            ("max-connections".to_owned(), 5),
            ("max-channels".into(), 9),
        ]
        .into_iter()
        .collect();
        let merged = LimitsChange::set("max-channels", 3).applied_to(&current);
        assert_eq!(merged["max-connections"], 5);
        assert_eq!(merged["max-channels"], 3);
        let cleared = LimitsChange::Clear("max-connections".into()).applied_to(&current);
        assert_eq!(cleared.keys().collect::<Vec<_>>(), ["max-channels"]);
        let replaced = LimitsChange::Replace(Limits::new()).applied_to(&current);
        assert!(replaced.is_empty());
    }

    #[test]
    fn the_vhost_limits_parameter_is_one_object_named_limits() {
        let ok = vhost_limits_parameter("vhost-limits", "limits", &json!({"max-queues": 3}));
        assert_eq!(ok.map(|l| l["max-queues"]), Ok(3));
        assert_eq!(
            vhost_limits_parameter("federation-upstream", "x", &json!({})),
            Err("component federation-upstream not found".to_owned())
        );
        assert!(vhost_limits_parameter("vhost-limits", "other", &json!({})).is_err());
        assert!(vhost_limits_parameter("vhost-limits", "limits", &json!([1])).is_err());
        assert_eq!(
            vhost_limits_parameter("vhost-limits", "limits", &json!({"max-foo": 1})),
            Err("Unrecognised terms [{<<\"max-foo\">>,1}] in limits".to_owned())
        );
        assert_eq!(validation_failed("x"), "Validation failed\n\nx\n");
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
