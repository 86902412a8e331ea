//! JSON → AMQP field table (`rabbit_misc:to_amqp_table/1` and `type_val/1`).

use serde_json::{Map, Value};
use warren_codec::types::{AMQPValue, FieldArray, FieldTable, LongString, ShortString};

use super::{JsonArgsError, NESTING_DEPTH_MAX};

/// Short strings (table keys) hold at most 255 bytes.
const SHORT_STRING_BYTES_MAX: usize = 255;

/// A JSON `arguments` (or `headers`) value as a field table: an object, or `[]` for an empty
/// table as RabbitMQ allows.
pub fn json_to_table(arguments: &Value) -> Result<FieldTable, JsonArgsError> {
    match arguments {
        Value::Object(map) => object_to_table(map, 1),
        Value::Array(items) if items.is_empty() => Ok(FieldTable::default()),
        _ => Err(JsonArgsError::NotAnObject),
    }
}

/// One JSON value as the AMQP value RabbitMQ makes of it.
pub fn json_to_amqp_value(value: &Value) -> Result<AMQPValue, JsonArgsError> {
    to_value(value, 0)
}

/// `depth`: containers open around this object, itself included.
fn object_to_table(map: &Map<String, Value>, depth: usize) -> Result<FieldTable, JsonArgsError> {
    if depth > NESTING_DEPTH_MAX {
        return Err(JsonArgsError::TooDeep);
    }
    let mut table = FieldTable::default();
    for (key, value) in map {
        if key.len() > SHORT_STRING_BYTES_MAX {
            return Err(JsonArgsError::KeyTooLong { length: key.len() });
        }
        table.insert(ShortString::from(key.as_str()), to_value(value, depth)?);
    }
    Ok(table)
}

/// `depth`: containers open around `value`.
fn to_value(value: &Value, depth: usize) -> Result<AMQPValue, JsonArgsError> {
    Ok(match value {
        Value::Null => return Err(JsonArgsError::NullNotAllowed),
        Value::Bool(b) => AMQPValue::Boolean(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                AMQPValue::LongLongInt(i)
            } else if n.is_u64() {
                return Err(JsonArgsError::IntegerOutOfRange(n.to_string()));
            } else {
                AMQPValue::Double(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Value::String(s) => AMQPValue::LongString(LongString::from(s.as_bytes().to_vec())),
        Value::Array(items) => {
            if depth + 1 > NESTING_DEPTH_MAX {
                return Err(JsonArgsError::TooDeep);
            }
            let mut array = FieldArray::default();
            for item in items {
                array.push(to_value(item, depth + 1)?);
            }
            AMQPValue::FieldArray(array)
        }
        Value::Object(map) => AMQPValue::FieldTable(object_to_table(map, depth + 1)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_types_map_to_rabbitmqs_amqp_types() {
        let table = json_to_table(&json!({
            "int": 10, "float": 1.5, "str": "s", "bool": true,
            "arr": [1, "a"], "obj": {"k": 2}, "big": i64::MAX
        }))
        .unwrap();
        let get = |k: &str| table.inner().get(k).unwrap().clone();
        assert_eq!(get("int"), AMQPValue::LongLongInt(10));
        assert_eq!(get("big"), AMQPValue::LongLongInt(i64::MAX));
        assert_eq!(get("float"), AMQPValue::Double(1.5));
        assert_eq!(get("str"), AMQPValue::LongString("s".into()));
        assert_eq!(get("bool"), AMQPValue::Boolean(true));
        assert_eq!(
            get("arr"),
            AMQPValue::FieldArray(
                vec![AMQPValue::LongLongInt(1), AMQPValue::LongString("a".into())].into()
            )
        );
        let mut inner = FieldTable::default();
        inner.insert("k".into(), AMQPValue::LongLongInt(2));
        assert_eq!(get("obj"), AMQPValue::FieldTable(inner));
    }

    #[test]
    fn integral_floats_stay_doubles() {
        assert_eq!(json_to_amqp_value(&json!(2.0)), Ok(AMQPValue::Double(2.0)));
    }

    #[test]
    fn null_anywhere_is_refused_with_rabbitmqs_reason() {
        for args in [
            json!({"x": null}),
            json!({"x": [1, null]}),
            json!({"x": {"y": null}}),
        ] {
            let err = json_to_table(&args).unwrap_err();
            assert_eq!(err, JsonArgsError::NullNotAllowed);
            assert_eq!(err.to_string(), "null_not_allowed");
        }
    }

    #[test]
    fn only_objects_and_the_empty_list_are_tables() {
        assert_eq!(json_to_table(&json!([])), Ok(FieldTable::default()));
        assert_eq!(json_to_table(&json!({})), Ok(FieldTable::default()));
        for bad in [json!([1, 2]), json!("x"), json!(null), json!(1)] {
            assert_eq!(
                json_to_table(&bad),
                Err(JsonArgsError::NotAnObject),
                "{bad}"
            );
        }
    }

    #[test]
    fn integers_beyond_64_bits_and_long_keys_are_refused() {
        assert_eq!(
            json_to_table(&json!({"x": u64::MAX})),
            Err(JsonArgsError::IntegerOutOfRange(u64::MAX.to_string()))
        );
        let key = "k".repeat(256);
        assert_eq!(
            json_to_table(&json!({ key: 1 })),
            Err(JsonArgsError::KeyTooLong { length: 256 })
        );
        assert!(json_to_table(&json!({ "k".repeat(255): 1 })).is_ok());
    }

    fn nested(levels: usize) -> Value {
        // `levels` containers in all, the outermost object included.
        let mut value = json!(1);
        for level in (2..=levels).rev() {
            value = if level % 2 == 0 {
                json!([value])
            } else {
                json!({"k": value})
            };
        }
        json!({ "k": value })
    }

    #[test]
    fn nesting_is_bounded_like_the_codecs_tables() {
        assert!(json_to_table(&nested(NESTING_DEPTH_MAX)).is_ok());
        assert_eq!(
            json_to_table(&nested(NESTING_DEPTH_MAX + 1)),
            Err(JsonArgsError::TooDeep)
        );
    }

    #[test]
    fn a_table_at_the_bound_goes_through_the_codec_and_back() {
        use warren_codec::content::{decode_table, encode_table};
        let table = json_to_table(&nested(NESTING_DEPTH_MAX)).unwrap();
        assert_eq!(decode_table(&encode_table(&table)).ok(), Some(table));
    }
}
