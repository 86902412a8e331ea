//! Validation of queue.declare arguments, with RabbitMQ's error texts.

use warren_codec::types::{AMQPValue, FieldTable};

use super::features::EXPIRY_MAX_MS;
use crate::arguments::type_name;
use crate::util::int_value;
use warren_model::{ControlError, ControlResult};

/// Arguments of quorum queues and streams, refused on a classic queue.
const OTHER_TYPES_ARGS: [&str; 9] = [
    "x-dead-letter-strategy",
    "x-max-in-memory-length",
    "x-max-in-memory-bytes",
    "x-quorum-initial-group-size",
    "x-delivery-limit",
    "x-queue-leader-locator",
    "x-max-age",
    "x-stream-max-segment-size-bytes",
    "x-initial-cluster-size",
];

/// Check the x-arguments RabbitMQ validates on queue.declare.
pub fn validate(arguments: &FieldTable, queue: &str, vhost: &str) -> ControlResult<()> {
    let invalid = |arg: &str, why: String| {
        ControlError::precondition_failed(format!(
            "invalid arg '{arg}' for queue '{queue}' in vhost '{vhost}': {why}"
        ))
    };
    let wrong_type = |arg: &str, v: &AMQPValue| {
        ControlError::precondition_failed(format!(
            "invalid type '{}' for arg '{arg}' in queue '{queue}' in vhost '{vhost}'",
            type_name(v)
        ))
    };
    // Arguments of the other queue types are refused first, as RabbitMQ does.
    if let Some(key) = arguments
        .inner()
        .keys()
        .map(|k| k.as_str())
        .find(|k| OTHER_TYPES_ARGS.contains(k))
    {
        return Err(ControlError::precondition_failed(format!(
            "invalid arg '{key}' for queue '{queue}' in vhost '{vhost}' of queue type rabbit_classic_queue"
        )));
    }
    for (key, value) in arguments.inner() {
        let key = key.as_str();
        let integer = || {
            int_value(value).ok_or_else(|| {
                invalid(
                    key,
                    format!("\"expected integer, got {}\"", type_name(value)),
                )
            })
        };
        match key {
            "x-max-length" | "x-max-length-bytes" => {
                let n = integer()?;
                if n < 0 {
                    return Err(invalid(key, format!("{{value_negative,{n}}}")));
                }
            }
            "x-message-ttl" | "x-expires" => {
                let n = integer()?;
                if n < 0 {
                    return Err(invalid(key, format!("{{value_negative,{n}}}")));
                }
                if n == 0 && key == "x-expires" {
                    return Err(invalid(key, "{value_zero,0}".into()));
                }
                if n > EXPIRY_MAX_MS {
                    return Err(invalid(key, format!("{{value_too_large,{n}}}")));
                }
            }
            "x-dead-letter-routing-key"
                if is_string(value) && !arguments.contains_key("x-dead-letter-exchange") =>
            {
                return Err(invalid(key, "routing_key_but_no_dlx_defined".into()));
            }
            "x-max-priority" => {
                let n = integer()?;
                if n < 0 {
                    return Err(invalid(key, format!("{{value_negative,{n}}}")));
                }
                if n > 255 {
                    return Err(invalid(key, format!("{{max_value_exceeded,{n}}}")));
                }
            }
            "x-dead-letter-exchange" | "x-dead-letter-routing-key" if !is_string(value) => {
                return Err(wrong_type(key, value));
            }
            "x-overflow"
                if !matches!(
                    text(value).as_deref(),
                    Some("drop-head" | "reject-publish" | "reject-publish-dlx")
                ) =>
            {
                return Err(invalid(key, "invalid_overflow".into()));
            }
            "x-queue-type" => match text(value).as_deref() {
                Some("classic") => {}
                // Refused rather than silently declared classic: they come with clustering.
                Some(kind @ ("quorum" | "stream")) => {
                    return Err(invalid(
                        key,
                        format!("\"queue type '{kind}' is not supported by Warren yet\""),
                    ))
                }
                other => {
                    return Err(invalid(
                        key,
                        format!("\"unsupported queue type '{}'\"", other.unwrap_or_default()),
                    ))
                }
            },
            "x-queue-mode" => match text(value).as_deref() {
                Some("default" | "lazy") => {}
                Some(other) => {
                    return Err(invalid(
                        key,
                        format!("\"unsupported queue mode '{other}'\""),
                    ))
                }
                None => {
                    return Err(invalid(
                        key,
                        format!("{{unacceptable_type,{}}}", type_name(value)),
                    ))
                }
            },
            "x-queue-version" => {
                let n = integer()?;
                if n < 0 {
                    return Err(invalid(key, format!("{{value_negative,{n}}}")));
                }
                if !(1..=2).contains(&n) {
                    return Err(invalid(key, format!("\"unsupported queue version '{n}'\"")));
                }
            }
            "x-single-active-consumer" if !matches!(value, AMQPValue::Boolean(_)) => {
                return Err(wrong_type(key, value));
            }
            _ => {}
        }
    }
    Ok(())
}

fn is_string(v: &AMQPValue) -> bool {
    matches!(v, AMQPValue::LongString(_) | AMQPValue::ShortString(_))
}

/// A string argument's text (long or short string); None for any other type.
pub(super) fn text(v: &AMQPValue) -> Option<String> {
    match v {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        _ => None,
    }
}
