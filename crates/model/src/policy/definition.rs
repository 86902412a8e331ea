//! A policy's definition (`{"max-length": 5, ...}`) and its validation, as RabbitMQ 3.10's
//! policy validators do it: the validator modules run in a fixed order, each stops at its first
//! error, and keys no module claims are reported only when every module passed.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::key::{PolicyKey, ValidatorModule};
use super::validators;
use crate::erlang_term::{format_p, latin1_chars_to_text, Term};

/// What a policy sets: definition key → JSON value, in key order (the order Erlang iterates the
/// decoded map, and so the order RabbitMQ validates and reports keys in).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PolicyDefinition(Map<String, Value>);

impl PolicyDefinition {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn from_map(map: Map<String, Value>) -> Self {
        Self(map)
    }

    /// Set `key` (builder style, for tests and callers assembling definitions).
    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.0.insert(key.to_owned(), value);
        self
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.0.iter()
    }

    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.keys()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    pub fn into_map(self) -> Map<String, Value> {
        self.0
    }

    /// Check every key and value as RabbitMQ 3.10.8's policy validators do; the error is the
    /// first one RabbitMQ would report.
    pub fn validate(&self) -> Result<(), DefinitionError> {
        if self.0.is_empty() {
            return Err(DefinitionError::Empty);
        }
        for module in ValidatorModule::IN_ORDER {
            let scope: Vec<(PolicyKey, &Value)> = self
                .0
                .iter()
                .filter_map(|(name, value)| {
                    PolicyKey::from_name(name)
                        .filter(|key| key.validator() == module)
                        .map(|key| (key, value))
                })
                .collect();
            if scope.is_empty() {
                continue;
            }
            match module {
                ValidatorModule::QueueLocation => validators::queue_location(&scope)?,
                ValidatorModule::Core => {
                    for (key, value) in &scope {
                        validators::core(*key, value)?;
                    }
                }
                ValidatorModule::Mirroring => validators::mirroring(&scope)?,
            }
        }
        let unrecognised: Vec<(String, Value)> = self
            .0
            .iter()
            .filter(|(name, _)| PolicyKey::from_name(name).is_none())
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        if unrecognised.is_empty() {
            Ok(())
        } else {
            Err(DefinitionError::Unrecognised {
                settings: unrecognised,
            })
        }
    }
}

impl From<Map<String, Value>> for PolicyDefinition {
    fn from(map: Map<String, Value>) -> Self {
        Self(map)
    }
}

/// Why RabbitMQ refuses a definition. [`Display`](std::fmt::Display) is RabbitMQ's text.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", self.text())]
pub enum DefinitionError {
    /// `{}`: "no policy provided".
    Empty,
    /// Not a JSON object. Over HTTP and rabbitmqctl RabbitMQ crashes on this (HTTP 500, empty
    /// body); a definitions import of a list says "definition must be a dictionary: ...".
    NotAnObject { definition: Value },
    /// Keys no validator knows, with their values, in key order.
    Unrecognised { settings: Vec<(String, Value)> },
    /// A value its key's validator refuses.
    InvalidValue { key: PolicyKey, value: Value },
    /// An ha-* key without ha-mode.
    HaModeRequired,
    /// ha-params with ha-mode "all".
    HaParamsNotAccepted,
    /// ha-mode "exactly" without a positive integer ha-params (`None`: ha-params absent).
    HaParamsNotPositiveInteger { value: Option<Value> },
    /// ha-mode "nodes" with an empty list.
    HaParamsEmptyNodeList,
    /// ha-mode "nodes" with ha-params not a list (`None`: ha-params absent).
    HaParamsNotNodeList { value: Option<Value> },
    /// ha-mode "nodes" with list elements that are not strings.
    HaParamsNotNodeNames { invalid: Vec<Value> },
    /// A value RabbitMQ's validator crashes on (HTTP 500 with an empty body): ha-mode not a
    /// string; max-age not a string (or iodata) or without leading digits; a
    /// queue-master-locator that is a float, an object or a list that is not iodata (RabbitMQ
    /// loops forever on the first two).
    Unprocessable { key: PolicyKey, value: Value },
}

impl DefinitionError {
    /// RabbitMQ's message as UTF-8 text.
    pub fn text(&self) -> String {
        latin1_chars_to_text(&self.latin1_message())
    }

    /// Whether RabbitMQ answers this with a crash (HTTP 500) rather than a validation error.
    pub fn is_unprocessable(&self) -> bool {
        matches!(
            self,
            DefinitionError::Unprocessable { .. } | DefinitionError::NotAnObject { .. }
        )
    }

    /// The message as RabbitMQ's `io_lib:format` builds it: latin1 chardata, `~p` terms broken
    /// over lines at RabbitMQ's column.
    pub(crate) fn latin1_message(&self) -> String {
        let value_term = |v: &Value| Term::from_json(v);
        let optional = |v: &Option<Value>| v.as_ref().map_or(Term::Atom("none"), value_term);
        match self {
            DefinitionError::Empty => "no policy provided".to_owned(),
            DefinitionError::NotAnObject { definition } => {
                format_message("definition must be a dictionary: ", &value_term(definition), "")
            }
            DefinitionError::Unrecognised { settings } => {
                let list = Term::List(
                    settings
                        .iter()
                        .map(|(k, v)| Term::pair(Term::binary(k), value_term(v)))
                        .collect(),
                );
                format_message("", &list, " are not recognised policy settings")
            }
            DefinitionError::InvalidValue { key, value } => {
                let (prefix, suffix) = invalid_value_template(*key);
                format_message(prefix, &value_term(value), suffix)
            }
            DefinitionError::HaModeRequired => {
                "ha-mode must be specified to specify ha-params, ha-sync-mode or ha-promote-on-shutdown"
                    .to_owned()
            }
            DefinitionError::HaParamsNotAccepted => {
                "ha-mode=\"all\" does not take parameters".to_owned()
            }
            DefinitionError::HaParamsNotPositiveInteger { value } => format_message(
                "ha-mode=\"exactly\" takes an integer, ",
                &optional(value),
                " given",
            ),
            DefinitionError::HaParamsEmptyNodeList => {
                "ha-mode=\"nodes\" list must be non-empty".to_owned()
            }
            DefinitionError::HaParamsNotNodeList { value } => {
                format_message("ha-mode=\"nodes\" takes a list, ", &optional(value), " given")
            }
            DefinitionError::HaParamsNotNodeNames { invalid } => format_message(
                "ha-mode=\"nodes\" takes a list of strings, ",
                &Term::List(invalid.iter().map(value_term).collect()),
                " was not a string",
            ),
            DefinitionError::Unprocessable { key, value } => format_message(
                &format!("{key} cannot be validated: "),
                &value_term(value),
                "",
            ),
        }
    }
}

/// `prefix ~p suffix` with the term printed where `io_lib:format` would put it.
pub(crate) fn format_message(prefix: &str, term: &Term, suffix: &str) -> String {
    let column = prefix.chars().count() + 1;
    format!("{prefix}{}{suffix}", format_p(term, column))
}

/// The `~p` message each key's validator gives for a refused value: (text before, text after).
fn invalid_value_template(key: PolicyKey) -> (&'static str, &'static str) {
    match key {
        PolicyKey::AlternateExchange => ("", " is not a valid alternate exchange name"),
        PolicyKey::DeadLetterExchange => ("", " is not a valid dead letter exchange name"),
        PolicyKey::DeadLetterRoutingKey => ("", " is not a valid dead letter routing key"),
        PolicyKey::DeadLetterStrategy => ("", " is not a valid dead letter strategy"),
        PolicyKey::MessageTtl => ("", " is not a valid message TTL"),
        PolicyKey::Expires => ("", " is not a valid queue expiry"),
        PolicyKey::ConsumerTimeout => ("", " is not a valid consumer timeout"),
        PolicyKey::MaxLength => ("", " is not a valid maximum length"),
        PolicyKey::MaxLengthBytes => ("", " is not a valid maximum length in bytes"),
        // RabbitMQ 3.10 reuses the bytes message for the length key.
        PolicyKey::MaxInMemoryLength | PolicyKey::MaxInMemoryBytes => {
            ("", " is not a valid maximum memory in bytes")
        }
        PolicyKey::QueueMode => ("", " is not a valid queue-mode value"),
        PolicyKey::QueueVersion => ("", " is not a valid queue-version value"),
        PolicyKey::Overflow => ("", " is not a valid overflow value"),
        PolicyKey::DeliveryLimit => ("", " is not a valid delivery limit"),
        PolicyKey::MaxAge => ("", " is not a valid max age"),
        PolicyKey::StreamMaxSegmentSizeBytes => ("", " is not a valid segment size"),
        PolicyKey::QueueLeaderLocator => ("", " is not a valid queue leader locator value"),
        PolicyKey::InitialClusterSize => ("", " is not a valid cluster size"),
        PolicyKey::HaMode => ("", " is not a valid ha-mode value"),
        PolicyKey::HaSyncMode => ("ha-sync-mode must be \"manual\" or \"automatic\", got ", ""),
        PolicyKey::HaSyncBatchSize => (
            "ha-sync-batch-size takes an integer greater than 0, ",
            " given",
        ),
        PolicyKey::HaPromoteOnShutdown => (
            "ha-promote-on-shutdown must be \"always\" or \"when-synced\", got ",
            "",
        ),
        PolicyKey::HaPromoteOnFailure => (
            "ha-promote-on-failure must be \"always\" or \"when-synced\", got ",
            "",
        ),
        PolicyKey::QueueMasterLocator => ("", " invalid queue-master-locator value"),
        // ha-params has its own variants; this text is never produced by the validators.
        PolicyKey::HaParams => ("", " is not a valid ha-params value"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn definition(value: Value) -> PolicyDefinition {
        match value {
            Value::Object(map) => PolicyDefinition::from_map(map),
            _ => panic!("not an object"),
        }
    }

    fn error_text(value: Value) -> String {
        definition(value).validate().unwrap_err().to_string()
    }

    #[test]
    fn an_empty_definition_is_refused() {
        assert_eq!(error_text(json!({})), "no policy provided");
    }

    #[test]
    fn unknown_keys_are_listed_with_their_values_in_key_order() {
        assert_eq!(
            error_text(json!({"zz": "v", "aa": true})),
            r#"[{<<"aa">>,true},{<<"zz">>,<<"v">>}] are not recognised policy settings"#
        );
    }

    #[test]
    fn a_refused_known_key_hides_unknown_keys() {
        assert_eq!(
            error_text(json!({"no-such-key": 1, "message-ttl": -1})),
            "-1 is not a valid message TTL"
        );
    }

    #[test]
    fn queue_master_locator_is_checked_before_the_core_keys_and_those_before_ha() {
        assert_eq!(
            error_text(json!({"queue-master-locator": "bad", "message-ttl": -1, "ha-mode": "x"})),
            r#"<<"bad">> invalid queue-master-locator value"#
        );
        assert_eq!(
            error_text(json!({"message-ttl": -1, "ha-mode": "x"})),
            "-1 is not a valid message TTL"
        );
    }

    #[test]
    fn within_the_core_keys_the_first_in_key_order_is_reported() {
        assert_eq!(
            error_text(json!({"message-ttl": -1, "max-length": -1})),
            "-1 is not a valid maximum length"
        );
    }

    #[test]
    fn a_valid_definition_passes() {
        let d =
            definition(json!({"max-length": 5, "overflow": "reject-publish", "ha-mode": "all"}));
        assert_eq!(d.validate(), Ok(()));
    }
}
