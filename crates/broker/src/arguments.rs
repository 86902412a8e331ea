//! x-arguments as RabbitMQ judges and prints them: type names, equivalence on redeclare
//! (integers of any width compare by value), and the texts of inequivalence errors.

use warren_codec::types::{AMQPValue, FieldTable};
use warren_model::{ControlError, ControlResult};

/// Compare the arguments RabbitMQ treats as part of a resource's identity.
pub fn compare_args(
    keys: &[&str],
    received: &FieldTable,
    current: &FieldTable,
    kind: &str,
    name: &str,
    vhost: &str,
) -> ControlResult<()> {
    for key in keys {
        let r = received.inner().get(*key);
        let c = current.inner().get(*key);
        let detail = match (r, c) {
            (None, None) => continue,
            (Some(r), Some(c)) if same_value(r, c) => continue,
            // Both present: RabbitMQ prints the bare values.
            (Some(r), Some(c)) => format!(
                "received '{}' but current is '{}'",
                arg_value(r),
                arg_value(c)
            ),
            (r, c) => format!(
                "received {} but current is {}",
                describe_arg(r),
                describe_arg(c)
            ),
        };
        return Err(ControlError::precondition_failed(format!(
            "inequivalent arg '{key}' for {kind} '{name}' in vhost '{vhost}': {detail}"
        )));
    }
    Ok(())
}

/// Integers compare by value whatever their wire width (RabbitMQ treats I:1000 and l:1000 alike).
fn same_value(a: &AMQPValue, b: &AMQPValue) -> bool {
    match (crate::util::int_value(a), crate::util::int_value(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn arg_value(v: &AMQPValue) -> String {
    match v {
        AMQPValue::Boolean(b) => b.to_string(),
        AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        AMQPValue::ShortString(s) => s.as_str().to_owned(),
        AMQPValue::Float(n) => n.to_string(),
        AMQPValue::Double(n) => n.to_string(),
        AMQPValue::Timestamp(t) => t.to_string(),
        other => {
            crate::util::int_value(other).map_or_else(|| format!("{other:?}"), |n| n.to_string())
        }
    }
}

/// The type name RabbitMQ uses for an argument value.
pub fn type_name(v: &AMQPValue) -> &'static str {
    match v {
        AMQPValue::Boolean(_) => "bool",
        AMQPValue::ShortShortInt(_) => "byte",
        AMQPValue::ShortShortUInt(_) => "unsignedbyte",
        AMQPValue::ShortInt(_) => "short",
        AMQPValue::ShortUInt(_) => "unsignedshort",
        AMQPValue::LongInt(_) => "signedint",
        AMQPValue::LongUInt(_) => "unsignedint",
        AMQPValue::LongLongInt(_) => "long",
        AMQPValue::Float(_) => "float",
        AMQPValue::Double(_) => "double",
        AMQPValue::DecimalValue(_) => "decimal",
        AMQPValue::LongString(_) => "longstr",
        AMQPValue::ShortString(_) => "shortstr",
        AMQPValue::Timestamp(_) => "timestamp",
        AMQPValue::FieldArray(_) => "array",
        AMQPValue::FieldTable(_) => "table",
        AMQPValue::ByteArray(_) => "binary",
        AMQPValue::Void => "void",
    }
}

/// How RabbitMQ prints an argument in an inequivalence error.
fn describe_arg(v: Option<&AMQPValue>) -> String {
    match v {
        None => "none".into(),
        Some(v) => format!("the value '{}' of type '{}'", arg_value(v), type_name(v)),
    }
}
