//! The value rules of RabbitMQ 3.10.8's three policy validator modules (rabbit_policies,
//! rabbit_mirror_queue_misc, rabbit_queue_location_validator), over JSON values as jsx decodes
//! them: a JSON integer is an Erlang integer, `2.0` is a float (so not an integer), `null`,
//! `true` and `false` are atoms.
//!
//! Warren difference: serde_json reads integers beyond 64 bits as floats, so a TTL like
//! `123456789012345678901234567890` (an Erlang bignum RabbitMQ accepts) is refused here.

use serde_json::Value;

use super::definition::DefinitionError;
use super::key::PolicyKey;

/// Largest stream-max-segment-size-bytes (`?MAX_STREAM_MAX_SEGMENT_SIZE`).
pub(crate) const STREAM_MAX_SEGMENT_SIZE_BYTES_MAX: i128 = 3_000_000_000;

/// Deepest list nesting read as iodata; serde_json parses at most 128 levels anyway.
const IODATA_DEPTH_MAX: usize = 128;

/// queue-master-locator strategies a 3.10 node registers.
const QUEUE_MASTER_LOCATORS: [&str; 3] = ["client-local", "min-masters", "random"];

/// The JSON number as an Erlang integer, if it is one.
pub(crate) fn integer(value: &Value) -> Option<i128> {
    match value {
        Value::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from)),
        _ => None,
    }
}

fn string(value: &Value) -> Option<&str> {
    value.as_str()
}

fn invalid(key: PolicyKey, value: &Value) -> DefinitionError {
    DefinitionError::InvalidValue {
        key,
        value: value.clone(),
    }
}

fn unprocessable(key: PolicyKey, value: &Value) -> DefinitionError {
    DefinitionError::Unprocessable {
        key,
        value: value.clone(),
    }
}

fn require(key: PolicyKey, value: &Value, ok: bool) -> Result<(), DefinitionError> {
    if ok {
        Ok(())
    } else {
        Err(invalid(key, value))
    }
}

fn integer_at_least(value: &Value, minimum: i128) -> bool {
    integer(value).is_some_and(|i| i >= minimum)
}

fn one_of(value: &Value, allowed: &[&str]) -> bool {
    string(value).is_some_and(|s| allowed.contains(&s))
}

/// rabbit_policies:validate_policy0/2 for one key.
pub(crate) fn core(key: PolicyKey, value: &Value) -> Result<(), DefinitionError> {
    match key {
        PolicyKey::AlternateExchange
        | PolicyKey::DeadLetterExchange
        | PolicyKey::DeadLetterRoutingKey => require(key, value, value.is_string()),
        PolicyKey::DeadLetterStrategy => require(
            key,
            value,
            one_of(value, &["at-most-once", "at-least-once"]),
        ),
        PolicyKey::MessageTtl
        | PolicyKey::MaxLength
        | PolicyKey::MaxLengthBytes
        | PolicyKey::MaxInMemoryLength
        | PolicyKey::MaxInMemoryBytes
        | PolicyKey::DeliveryLimit
        | PolicyKey::ConsumerTimeout
        | PolicyKey::InitialClusterSize => require(key, value, integer_at_least(value, 0)),
        PolicyKey::Expires => require(key, value, integer_at_least(value, 1)),
        PolicyKey::QueueMode => require(key, value, one_of(value, &["default", "lazy"])),
        PolicyKey::QueueVersion => require(key, value, matches!(integer(value), Some(1 | 2))),
        PolicyKey::Overflow => require(
            key,
            value,
            one_of(
                value,
                &["drop-head", "reject-publish", "reject-publish-dlx"],
            ),
        ),
        PolicyKey::MaxAge => max_age(value),
        PolicyKey::QueueLeaderLocator => require(
            key,
            value,
            one_of(
                value,
                &["client-local", "balanced", "random", "least-leaders"],
            ),
        ),
        PolicyKey::StreamMaxSegmentSizeBytes => require(
            key,
            value,
            integer(value).is_some_and(|i| (0..=STREAM_MAX_SEGMENT_SIZE_BYTES_MAX).contains(&i)),
        ),
        // Not core keys: the other modules validate them.
        PolicyKey::HaMode
        | PolicyKey::HaParams
        | PolicyKey::HaSyncMode
        | PolicyKey::HaSyncBatchSize
        | PolicyKey::HaPromoteOnShutdown
        | PolicyKey::HaPromoteOnFailure
        | PolicyKey::QueueMasterLocator => Ok(()),
    }
}

/// rabbit_amqqueue:check_max_age/1: `re:run(V, "(^[0-9]*)(.*)")` then a positive number and
/// a unit among Y M D h m s. `.` stops at a newline, so `"1h\nx"` passes as it does there.
fn max_age(value: &Value) -> Result<(), DefinitionError> {
    let key = PolicyKey::MaxAge;
    let Some(bytes) = iodata(value, 0) else {
        return Err(unprocessable(key, value));
    };
    let digits_end = bytes
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(bytes.len());
    if digits_end == 0 {
        // list_to_integer("") raises badarg.
        return Err(unprocessable(key, value));
    }
    let positive = bytes[..digits_end].iter().any(|b| *b != b'0');
    let rest = &bytes[digits_end..];
    let unit = &rest[..rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len())];
    let known_unit = matches!(unit, b"Y" | b"M" | b"D" | b"h" | b"m" | b"s");
    require(key, value, positive && known_unit)
}

/// The bytes of `value` read as Erlang iodata (a string, or a list of bytes, strings and such
/// lists), as `re:run/3` and `list_to_binary/1` accept it.
fn iodata(value: &Value, depth: usize) -> Option<Vec<u8>> {
    match value {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Array(items) if depth < IODATA_DEPTH_MAX => {
            let mut out = Vec::new();
            for item in items {
                match item {
                    Value::Array(_) | Value::String(_) => out.extend(iodata(item, depth + 1)?),
                    _ => out.push(u8::try_from(integer(item)?).ok()?),
                }
            }
            Some(out)
        }
        _ => None,
    }
}

/// rabbit_queue_location_validator:validate_policy/1.
pub(crate) fn queue_location(scope: &[(PolicyKey, &Value)]) -> Result<(), DefinitionError> {
    let Some((key, value)) = scope
        .iter()
        .find(|(key, _)| *key == PolicyKey::QueueMasterLocator)
    else {
        return Ok(());
    };
    // module/1 coerces with rabbit_data_coercion:to_binary/1 before looking the name up.
    let name: Vec<u8> = match value {
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Bool(b) => b.to_string().into_bytes(),
        Value::Null => b"null".to_vec(),
        Value::Number(_) => match integer(value) {
            Some(i) => i.to_string().into_bytes(),
            None => return Err(unprocessable(*key, value)),
        },
        Value::Array(_) => iodata(value, 0).ok_or_else(|| unprocessable(*key, value))?,
        Value::Object(_) => return Err(unprocessable(*key, value)),
    };
    require(
        *key,
        value,
        QUEUE_MASTER_LOCATORS.iter().any(|s| s.as_bytes() == name),
    )
}

/// The ha-mode values (`rabbit_mirror_queue_mode_*`).
enum HaMode {
    All,
    Exactly,
    Nodes,
}

/// rabbit_mirror_queue_misc:validate_policy/1: the ha-* keys together, in a fixed order.
pub(crate) fn mirroring(scope: &[(PolicyKey, &Value)]) -> Result<(), DefinitionError> {
    let get = |wanted: PolicyKey| {
        scope
            .iter()
            .find(|(key, _)| *key == wanted)
            .map(|(_, value)| *value)
    };
    let Some(mode_value) = get(PolicyKey::HaMode) else {
        return if scope.is_empty() {
            Ok(())
        } else {
            Err(DefinitionError::HaModeRequired)
        };
    };
    let mode = match mode_value {
        Value::String(s) => match s.as_str() {
            "all" => HaMode::All,
            "exactly" => HaMode::Exactly,
            "nodes" => HaMode::Nodes,
            _ => return Err(invalid(PolicyKey::HaMode, mode_value)),
        },
        // module/1 has no clause for anything but a binary.
        _ => return Err(unprocessable(PolicyKey::HaMode, mode_value)),
    };
    ha_params(&mode, get(PolicyKey::HaParams))?;
    if let Some(v) = get(PolicyKey::HaSyncMode) {
        require(
            PolicyKey::HaSyncMode,
            v,
            one_of(v, &["automatic", "manual"]),
        )?;
    }
    if let Some(v) = get(PolicyKey::HaSyncBatchSize) {
        require(PolicyKey::HaSyncBatchSize, v, integer_at_least(v, 1))?;
    }
    for key in [
        PolicyKey::HaPromoteOnShutdown,
        PolicyKey::HaPromoteOnFailure,
    ] {
        if let Some(v) = get(key) {
            require(key, v, one_of(v, &["always", "when-synced"]))?;
        }
    }
    Ok(())
}

/// The ha-params rule of each mode module's validate_policy/1.
fn ha_params(mode: &HaMode, params: Option<&Value>) -> Result<(), DefinitionError> {
    match mode {
        HaMode::All => match params {
            None => Ok(()),
            Some(_) => Err(DefinitionError::HaParamsNotAccepted),
        },
        HaMode::Exactly => match params {
            Some(v) if integer_at_least(v, 1) => Ok(()),
            other => Err(DefinitionError::HaParamsNotPositiveInteger {
                value: other.cloned(),
            }),
        },
        HaMode::Nodes => match params {
            Some(Value::Array(items)) if items.is_empty() => {
                Err(DefinitionError::HaParamsEmptyNodeList)
            }
            Some(Value::Array(items)) => {
                let invalid: Vec<Value> =
                    items.iter().filter(|i| !i.is_string()).cloned().collect();
                if invalid.is_empty() {
                    Ok(())
                } else {
                    Err(DefinitionError::HaParamsNotNodeNames { invalid })
                }
            }
            other => Err(DefinitionError::HaParamsNotNodeList {
                value: other.cloned(),
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(key: PolicyKey, value: Value) -> Result<(), DefinitionError> {
        match key.validator() {
            super::super::key::ValidatorModule::Core => core(key, &value),
            super::super::key::ValidatorModule::QueueLocation => queue_location(&[(key, &value)]),
            super::super::key::ValidatorModule::Mirroring => mirroring(&[(key, &value)]),
        }
    }

    #[test]
    fn integer_keys_refuse_floats_even_when_integral() {
        assert!(check(PolicyKey::MessageTtl, json!(0)).is_ok());
        assert!(check(PolicyKey::MessageTtl, json!(2.0)).is_err());
        assert!(check(PolicyKey::MessageTtl, json!(-1)).is_err());
        assert!(check(PolicyKey::Expires, json!(0)).is_err());
        assert!(check(PolicyKey::Expires, json!(1)).is_ok());
        assert!(check(PolicyKey::QueueVersion, json!(1.0)).is_err());
        assert!(check(PolicyKey::QueueVersion, json!(2)).is_ok());
    }

    #[test]
    fn stream_segment_size_has_an_upper_bound() {
        assert!(check(
            PolicyKey::StreamMaxSegmentSizeBytes,
            json!(3_000_000_000u64)
        )
        .is_ok());
        assert!(check(
            PolicyKey::StreamMaxSegmentSizeBytes,
            json!(3_000_000_001u64)
        )
        .is_err());
    }

    #[test]
    fn max_age_needs_a_positive_number_and_a_unit() {
        for ok in ["1Y", "10M", "7D", "1h", "30m", "5s", "01h", "1h\nnoise"] {
            assert!(check(PolicyKey::MaxAge, json!(ok)).is_ok(), "{ok}");
        }
        for refused in ["0s", "5", "1x", "1hh", "1 h"] {
            assert!(
                matches!(
                    check(PolicyKey::MaxAge, json!(refused)),
                    Err(DefinitionError::InvalidValue { .. })
                ),
                "{refused}"
            );
        }
        for crash in [json!(""), json!("h"), json!(5), json!(true)] {
            assert!(
                matches!(
                    check(PolicyKey::MaxAge, crash.clone()),
                    Err(DefinitionError::Unprocessable { .. })
                ),
                "{crash}"
            );
        }
        // iodata: a list of bytes and strings.
        assert!(check(PolicyKey::MaxAge, json!([49, "h"])).is_ok());
    }

    #[test]
    fn queue_master_locator_coerces_like_rabbitmq() {
        assert!(check(PolicyKey::QueueMasterLocator, json!("min-masters")).is_ok());
        assert!(matches!(
            check(PolicyKey::QueueMasterLocator, json!(1)),
            Err(DefinitionError::InvalidValue { .. })
        ));
        assert!(matches!(
            check(PolicyKey::QueueMasterLocator, json!(true)),
            Err(DefinitionError::InvalidValue { .. })
        ));
        assert!(check(
            PolicyKey::QueueMasterLocator,
            json!([114, 97, 110, 100, 111, 109])
        )
        .is_ok());
        assert!(matches!(
            check(PolicyKey::QueueMasterLocator, json!(1.5)),
            Err(DefinitionError::Unprocessable { .. })
        ));
    }

    #[test]
    fn ha_params_follow_the_mode() {
        let m = |pairs: &[(PolicyKey, Value)]| {
            let scope: Vec<(PolicyKey, &Value)> = pairs.iter().map(|(k, v)| (*k, v)).collect();
            mirroring(&scope)
        };
        use PolicyKey::*;
        assert!(m(&[(HaMode, json!("all"))]).is_ok());
        assert_eq!(
            m(&[(HaMode, json!("all")), (HaParams, json!(1))]),
            Err(DefinitionError::HaParamsNotAccepted)
        );
        assert_eq!(
            m(&[(HaMode, json!("exactly"))]),
            Err(DefinitionError::HaParamsNotPositiveInteger { value: None })
        );
        assert!(m(&[(HaMode, json!("exactly")), (HaParams, json!(2))]).is_ok());
        assert_eq!(
            m(&[(HaMode, json!("nodes")), (HaParams, json!(["a", 1, 2]))]),
            Err(DefinitionError::HaParamsNotNodeNames {
                invalid: vec![json!(1), json!(2)]
            })
        );
        assert_eq!(
            m(&[(HaParams, json!(1))]),
            Err(DefinitionError::HaModeRequired)
        );
        assert!(matches!(
            m(&[(HaMode, json!(1))]),
            Err(DefinitionError::Unprocessable { .. })
        ));
        assert!(matches!(
            m(&[(HaMode, json!("all")), (HaSyncBatchSize, json!(0))]),
            Err(DefinitionError::InvalidValue {
                key: HaSyncBatchSize,
                ..
            })
        ));
    }
}
