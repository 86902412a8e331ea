//! Field tables as `rabbitmqctl list_queues arguments` (and list_exchanges / list_bindings /
//! list_consumers) print them in their default table format: the CLI turns the table into a
//! list of `{Key, Value}` tuples, strings into charlists, and prints it with `~tp`, never
//! breaking lines (`RabbitMQ.CLI.Formatters.FormatterHelpers.format_info_item/2`).
//!
//! So `[{"x-max-length",10}]`; a string is `"text"` when every character is printable latin1,
//! else a list of code points (`"é"` but `[233,8364]` for "é€", `[]` for ""); decimals are
//! `{Scale,Value}`, void `undefined`, byte arrays binaries (`<<"bytes">>`, `<<"é"/utf8>>`,
//! `<<0,1,255>>`), an empty table `[]`. The `--formatter json` output is not reproduced (it
//! breaks on byte arrays and lists arrays as objects with repeated keys).

use warren_codec::types::{AMQPValue, FieldTable};

use super::NESTING_DEPTH_MAX;
use crate::erlang_term::pretty::print;
use crate::erlang_term::{Encoding, Term};

/// Why a table cannot be printed as rabbitmqctl prints it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CliRenderError {
    /// A string value that is not UTF-8: rabbitmqctl stops with
    /// `%UnicodeConversionError{encoded: [], message: "invalid encoding starting at <<...>>"}`.
    #[error("invalid encoding starting at {}", erlang_bytes(.0))]
    NotUtf8(Vec<u8>),
    #[error("table nested deeper than {NESTING_DEPTH_MAX} levels")]
    TooDeep,
}

fn erlang_bytes(bytes: &[u8]) -> String {
    let numbers: Vec<String> = bytes.iter().map(u8::to_string).collect();
    format!("<<{}>>", numbers.join(", "))
}

/// The `arguments` cell of `rabbitmqctl list_queues name arguments`.
pub fn render_cli_table(table: &FieldTable) -> Result<String, CliRenderError> {
    let term = table_term(table, 1)?;
    Ok(print(&term, 1, None, Encoding::Unicode))
}

/// `depth`: containers open around this table, itself included.
fn table_term(table: &FieldTable, depth: usize) -> Result<Term, CliRenderError> {
    if depth > NESTING_DEPTH_MAX {
        return Err(CliRenderError::TooDeep);
    }
    table
        .into_iter()
        .map(|(key, value)| {
            Ok(Term::pair(
                Term::charlist(key.as_str()),
                value_term(value, depth)?,
            ))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Term::List)
}

/// `prettify_typed_amqp_value/3`; `depth`: containers open around `value`.
fn value_term(value: &AMQPValue, depth: usize) -> Result<Term, CliRenderError> {
    let int = |i: i128| Ok(Term::Int(i));
    match value {
        AMQPValue::Boolean(true) => Ok(Term::Atom("true")),
        AMQPValue::Boolean(false) => Ok(Term::Atom("false")),
        AMQPValue::ShortShortInt(i) => int((*i).into()),
        AMQPValue::ShortShortUInt(i) => int((*i).into()),
        AMQPValue::ShortInt(i) => int((*i).into()),
        AMQPValue::ShortUInt(i) => int((*i).into()),
        AMQPValue::LongInt(i) => int((*i).into()),
        AMQPValue::LongUInt(i) => int((*i).into()),
        AMQPValue::LongLongInt(i) => int((*i).into()),
        AMQPValue::Timestamp(t) => int((*t).into()),
        AMQPValue::Float(f) => Ok(Term::Float(f64::from(*f))),
        AMQPValue::Double(d) => Ok(Term::Float(*d)),
        AMQPValue::DecimalValue(d) => Ok(Term::Tuple(vec![
            Term::Int(d.scale.into()),
            Term::Int(d.value.into()),
        ])),
        AMQPValue::ShortString(s) => Ok(Term::charlist(s.as_str())),
        AMQPValue::LongString(s) => std::str::from_utf8(s.as_bytes())
            .map(Term::charlist)
            .map_err(|_| CliRenderError::NotUtf8(s.as_bytes().to_vec())),
        AMQPValue::ByteArray(b) => Ok(Term::Binary(b.as_slice().to_vec())),
        AMQPValue::Void => Ok(Term::Atom("undefined")),
        AMQPValue::FieldArray(items) => {
            if depth + 1 > NESTING_DEPTH_MAX {
                return Err(CliRenderError::TooDeep);
            }
            items
                .as_slice()
                .iter()
                .map(|item| value_term(item, depth + 1))
                .collect::<Result<Vec<_>, _>>()
                .map(Term::List)
        }
        AMQPValue::FieldTable(table) => table_term(table, depth + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warren_codec::types::{ByteArray, DecimalValue, FieldArray, LongString};

    fn one(key: &str, value: AMQPValue) -> FieldTable {
        let mut table = FieldTable::default();
        table.insert(key.into(), value);
        table
    }

    #[test]
    fn the_captured_queue_argument_renders_the_same() {
        // http/../cli/rabbitmqctl-list_queues-cols.txt: q1 has x-max-length 10.
        let table = one("x-max-length", AMQPValue::LongLongInt(10));
        assert_eq!(
            render_cli_table(&table).unwrap(),
            r#"[{"x-max-length",10}]"#
        );
        assert_eq!(render_cli_table(&FieldTable::default()).unwrap(), "[]");
    }

    #[test]
    fn strings_are_charlists() {
        let s =
            |text: &str| render_cli_table(&one("k", AMQPValue::LongString(text.into()))).unwrap();
        assert_eq!(s("é"), r#"[{"k","é"}]"#);
        assert_eq!(s("é€"), r#"[{"k",[233,8364]}]"#);
        assert_eq!(s(""), r#"[{"k",[]}]"#);
        assert_eq!(s("a\tb\nc"), r#"[{"k","a\tb\nc"}]"#);
        assert_eq!(s("a\u{1}b"), r#"[{"k",[97,1,98]}]"#);
    }

    #[test]
    fn other_types() {
        let r = |v: AMQPValue| render_cli_table(&one("k", v)).unwrap();
        assert_eq!(
            r(AMQPValue::DecimalValue(DecimalValue {
                scale: 2,
                value: 12345
            })),
            r#"[{"k",{2,12345}}]"#
        );
        assert_eq!(r(AMQPValue::Void), r#"[{"k",undefined}]"#);
        assert_eq!(
            r(AMQPValue::ByteArray(ByteArray::from(vec![0u8, 1, 255]))),
            r#"[{"k",<<0,1,255>>}]"#
        );
        assert_eq!(
            r(AMQPValue::ByteArray(ByteArray::from("é".as_bytes()))),
            r#"[{"k",<<"é"/utf8>>}]"#
        );
        assert_eq!(r(AMQPValue::Double(1e20)), r#"[{"k",1.0e20}]"#);
        assert_eq!(
            r(AMQPValue::FieldArray(FieldArray::from(vec![
                AMQPValue::LongLongInt(104),
                AMQPValue::LongLongInt(105)
            ]))),
            r#"[{"k","hi"}]"#
        );
        assert_eq!(
            r(AMQPValue::FieldTable(FieldTable::default())),
            r#"[{"k",[]}]"#
        );
    }

    #[test]
    fn strings_that_are_not_utf8_cannot_be_rendered() {
        let table = one(
            "k",
            AMQPValue::LongString(LongString::from(vec![0xffu8, 0xfe])),
        );
        assert_eq!(
            render_cli_table(&table),
            Err(CliRenderError::NotUtf8(vec![0xff, 0xfe]))
        );
    }
}
