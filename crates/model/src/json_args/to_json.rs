//! AMQP field table → JSON as the management API renders it (`rabbit_misc:amqp_table/1`,
//! `amqp_value/2`, `utf8_safe/1`).

use serde_json::{Map, Number, Value};
use warren_codec::types::{AMQPValue, DecimalValue, FieldTable};

use super::{JsonArgsError, NESTING_DEPTH_MAX};

/// MIME's base64 line length, which `utf8_safe/1` keeps.
const BASE64_LINE_CHARS: usize = 76;

/// A table as the JSON object the management API shows.
pub fn table_to_json(table: &FieldTable) -> Result<Value, JsonArgsError> {
    table_at(table, 1)
}

/// One AMQP value as the management API shows it.
pub fn amqp_value_to_json(value: &AMQPValue) -> Result<Value, JsonArgsError> {
    value_at(value, 0)
}

/// `depth`: containers open around this table, itself included.
fn table_at(table: &FieldTable, depth: usize) -> Result<Value, JsonArgsError> {
    if depth > NESTING_DEPTH_MAX {
        return Err(JsonArgsError::TooDeep);
    }
    let mut object = Map::new();
    for (key, value) in table {
        object.insert(key.as_str().to_owned(), value_at(value, depth)?);
    }
    Ok(Value::Object(object))
}

/// `depth`: containers open around `value`.
fn value_at(value: &AMQPValue, depth: usize) -> Result<Value, JsonArgsError> {
    Ok(match value {
        AMQPValue::Boolean(b) => Value::Bool(*b),
        AMQPValue::ShortShortInt(i) => Value::from(*i),
        AMQPValue::ShortShortUInt(i) => Value::from(*i),
        AMQPValue::ShortInt(i) => Value::from(*i),
        AMQPValue::ShortUInt(i) => Value::from(*i),
        AMQPValue::LongInt(i) => Value::from(*i),
        AMQPValue::LongUInt(i) => Value::from(*i),
        AMQPValue::LongLongInt(i) => Value::from(*i),
        AMQPValue::Timestamp(t) => Value::from(*t),
        AMQPValue::Float(f) => float(f64::from(*f)),
        AMQPValue::Double(d) => float(*d),
        AMQPValue::DecimalValue(d) => float(decimal(*d)),
        AMQPValue::ShortString(s) => Value::String(s.as_str().to_owned()),
        AMQPValue::LongString(s) => Value::String(utf8_safe(s.as_bytes())),
        AMQPValue::ByteArray(b) => Value::String(utf8_safe(b.as_slice())),
        AMQPValue::Void => Value::String("undefined".to_owned()),
        AMQPValue::FieldArray(items) => {
            if depth + 1 > NESTING_DEPTH_MAX {
                return Err(JsonArgsError::TooDeep);
            }
            Value::Array(
                items
                    .as_slice()
                    .iter()
                    .map(|item| value_at(item, depth + 1))
                    .collect::<Result<_, _>>()?,
            )
        }
        AMQPValue::FieldTable(table) => table_at(table, depth + 1)?,
    })
}

fn float(f: f64) -> Value {
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

/// RabbitMQ renders a decimal {Scale, Value} as the float written "Scale.Value"
/// (`list_to_float(io_lib:format("~p.~p", [Before, After]))`): not the decimal's value.
fn decimal(d: DecimalValue) -> f64 {
    format!("{}.{}", d.scale, d.value)
        .parse()
        .unwrap_or(f64::NAN)
}

/// `rabbit_misc:utf8_safe/1`: the text if the bytes are UTF-8, else their base64 in lines of 76.
pub(crate) fn utf8_safe(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => {
            let encoded = base64(bytes);
            let lines: Vec<&str> = encoded
                .as_bytes()
                .chunks(BASE64_LINE_CHARS)
                .map(|chunk| std::str::from_utf8(chunk).unwrap_or_default())
                .collect();
            format!("Not UTF-8, base64 is: {}", lines.join("\n"))
        }
    }
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use warren_codec::types::{ByteArray, FieldArray, LongString};

    #[test]
    fn every_type_renders_as_the_management_api_does() {
        let mut table = FieldTable::default();
        table.insert("b".into(), AMQPValue::ShortShortInt(-5));
        table.insert("T".into(), AMQPValue::Timestamp(1_700_000_000));
        table.insert("V".into(), AMQPValue::Void);
        table.insert(
            "D".into(),
            AMQPValue::DecimalValue(DecimalValue { scale: 3, value: 7 }),
        );
        table.insert("f".into(), AMQPValue::Float(1.1));
        table.insert(
            "x".into(),
            AMQPValue::ByteArray(ByteArray::from(vec![0u8, 1])),
        );
        table.insert("t".into(), AMQPValue::Boolean(true));
        table.insert(
            "A".into(),
            AMQPValue::FieldArray(FieldArray::from(vec![
                AMQPValue::LongString("a".into()),
                AMQPValue::Void,
            ])),
        );
        assert_eq!(
            table_to_json(&table).unwrap(),
            json!({"A": ["a", "undefined"], "D": 3.7, "T": 1_700_000_000, "V": "undefined",
                   "b": -5, "f": 1.100000023841858, "t": true, "x": "\u{0}\u{1}"})
        );
    }

    #[test]
    fn bytes_that_are_not_utf8_show_as_base64_in_lines_of_76() {
        let value = AMQPValue::LongString(LongString::from(b"\xff\xfe\x00abc".to_vec()));
        assert_eq!(
            amqp_value_to_json(&value).unwrap(),
            json!("Not UTF-8, base64 is: //4AYWJj")
        );
        let long: Vec<u8> = (128u8..=255).collect();
        let text = utf8_safe(&long);
        let lines: Vec<&str> = text.split('\n').collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[1].len(), 76);
        assert!(lines[2].ends_with('='));
    }

    #[test]
    fn base64_pads_like_the_standard() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(&[0, 1, 255]), "AAH/");
    }

    #[test]
    fn tables_nested_beyond_the_bound_are_refused_not_recursed() {
        let mut value = AMQPValue::LongLongInt(1);
        for _ in 0..NESTING_DEPTH_MAX {
            value = AMQPValue::FieldArray(FieldArray::from(vec![value]));
        }
        let mut table = FieldTable::default();
        table.insert("k".into(), value);
        assert_eq!(table_to_json(&table), Err(JsonArgsError::TooDeep));
    }
}
