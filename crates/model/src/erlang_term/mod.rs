//! Erlang terms as RabbitMQ prints them (`~p`, `~tp`), so Warren can reproduce its texts.
//!
//! RabbitMQ builds many user-visible messages with `io_lib:format("~p", ...)` over terms decoded
//! from JSON (policy validation errors) or over AMQP tables (`rabbitmqctl list_queues arguments`).
//! [`Term`] is the small subset of Erlang terms those messages contain; [`pretty`] is a port of
//! OTP 25's `io_lib_pretty` for that subset (line breaking included) and [`float`] of its float
//! formatting (`io_lib_format:fwrite_g/1`).

pub(crate) mod float;
pub(crate) mod pretty;

use serde_json::Value;

/// Deepest JSON nesting converted to a [`Term`]; deeper parts print as `...`. serde_json refuses
/// to parse JSON nested deeper than 128 levels, so parsed input never reaches this bound.
pub(crate) const JSON_DEPTH_MAX: usize = 128;

/// An Erlang term. Tuples never start with an atom (no "tagged tuples"), which keeps the
/// pretty printer's indentation rule to the single case RabbitMQ's messages need.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Term {
    /// An atom that needs no quoting: `true`, `false`, `null`, `none`, `undefined`, `...`.
    Atom(&'static str),
    Int(i128),
    Float(f64),
    Binary(Vec<u8>),
    /// A proper list; a list of integers is a "charlist" and may print as a string.
    List(Vec<Term>),
    Tuple(Vec<Term>),
    /// Key-value pairs in the order Erlang iterates the map.
    Map(Vec<(Term, Term)>),
}

impl Term {
    /// A binary holding `text`'s UTF-8 bytes, as jsx decodes a JSON string.
    pub(crate) fn binary(text: &str) -> Term {
        Term::Binary(text.as_bytes().to_vec())
    }

    /// A charlist (an Erlang "string") of `text`'s code points.
    pub(crate) fn charlist(text: &str) -> Term {
        Term::List(
            text.chars()
                .map(|c| Term::Int(i128::from(u32::from(c))))
                .collect(),
        )
    }

    /// A two-element tuple.
    pub(crate) fn pair(first: Term, second: Term) -> Term {
        debug_assert!(
            !matches!(first, Term::Atom(_)),
            "tagged tuples are not supported"
        );
        Term::Tuple(vec![first, second])
    }

    /// The term jsx (`rabbit_json:decode/1`, option `return_maps`) produces for `value`: objects
    /// become maps, strings binaries, `null` the atom `null`. Map keys are in byte order, the
    /// order Erlang iterates maps of up to 32 keys (larger maps iterate in hash order, which is
    /// not reproduced).
    pub(crate) fn from_json(value: &Value) -> Term {
        Self::from_json_at(value, 0)
    }

    fn from_json_at(value: &Value, depth: usize) -> Term {
        if depth >= JSON_DEPTH_MAX {
            return Term::Atom("...");
        }
        match value {
            Value::Null => Term::Atom("null"),
            Value::Bool(true) => Term::Atom("true"),
            Value::Bool(false) => Term::Atom("false"),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Term::Int(i128::from(i))
                } else if let Some(u) = n.as_u64() {
                    Term::Int(i128::from(u))
                } else {
                    Term::Float(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(s) => Term::binary(s),
            Value::Array(items) => Term::List(
                items
                    .iter()
                    .map(|item| Self::from_json_at(item, depth + 1))
                    .collect(),
            ),
            Value::Object(map) => {
                let mut pairs: Vec<(Term, Term)> = map
                    .iter()
                    .map(|(k, v)| (Term::binary(k), Self::from_json_at(v, depth + 1)))
                    .collect();
                pairs.sort_by(|(a, _), (b, _)| match (a, b) {
                    (Term::Binary(a), Term::Binary(b)) => a.cmp(b),
                    _ => std::cmp::Ordering::Equal,
                });
                Term::Map(pairs)
            }
        }
    }
}

/// How `io_lib` decides which binaries print as strings: `~p` is latin1, `~tp` unicode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    Latin1,
    Unicode,
}

/// Bytes of a latin1 chardata result (every char at most U+00FF), read back as UTF-8 the way
/// RabbitMQ's `list_to_binary` plus jsx do: invalid sequences become U+FFFD.
pub(crate) fn latin1_chars_to_text(chars: &str) -> String {
    let bytes: Vec<u8> = chars
        .chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// RabbitMQ's `io_lib:format("~p", [Term])` at `column` (1-based; the column the term starts in),
/// line length 80, as latin1 chardata (see [`latin1_chars_to_text`]).
pub(crate) fn format_p(term: &Term, column: usize) -> String {
    pretty::print(term, column, Some(80), Encoding::Latin1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_objects_become_maps_in_byte_order_and_null_an_atom() {
        let term = Term::from_json(&json!({"b": null, "a": [1, 2.5, "x", true]}));
        assert_eq!(
            term,
            Term::Map(vec![
                (
                    Term::binary("a"),
                    Term::List(vec![
                        Term::Int(1),
                        Term::Float(2.5),
                        Term::binary("x"),
                        Term::Atom("true")
                    ])
                ),
                (Term::binary("b"), Term::Atom("null")),
            ])
        );
    }

    #[test]
    fn json_nested_beyond_the_bound_is_cut_without_recursing_further() {
        let mut value = json!(1);
        for _ in 0..(JSON_DEPTH_MAX + 10) {
            value = json!([value]);
        }
        let mut term = &Term::from_json(&value);
        let mut depth = 0;
        while let Term::List(items) = term {
            term = &items[0];
            depth += 1;
        }
        assert_eq!(depth, JSON_DEPTH_MAX);
        assert_eq!(term, &Term::Atom("..."));
    }

    #[test]
    fn latin1_chardata_is_read_back_as_utf8() {
        // <<"é">> printed by ~p is the two latin1 chars Ã© (the UTF-8 bytes), which read back as é.
        assert_eq!(latin1_chars_to_text("caf\u{c3}\u{a9}"), "café");
        // A lone latin1 é (from the charlist [233]) is not UTF-8.
        assert_eq!(latin1_chars_to_text("\u{e9}"), "\u{fffd}");
    }
}
