//! A port of OTP 25's `io_lib_pretty` for [`Term`]: where `~p` breaks lines and how far it
//! indents. First every subterm is rendered flat and measured (`print_length`), then the tree is
//! laid out (`pp`): whatever fits in the rest of the line is written flat, lists and tuples
//! otherwise put one element per line, maps `key =>` with the value indented by 4.
//!
//! Recursion follows the term's nesting, which [`super::Term::from_json`] bounds.

use super::float::erlang_float;
use super::{Encoding, Term};

/// A measured subterm (`io_lib_pretty`'s intermediate format without depth limits).
struct Node {
    shape: Shape,
    /// Length in characters of the flat rendering.
    length: i64,
}

enum Shape {
    /// Written as is; `io_lib_pretty` calls these "atomic" (its `?ATM` test).
    Leaf(String),
    /// A binary that is not printable, as its byte values: `<<196,129>>`.
    Bytes(Vec<String>),
    List(Vec<Node>),
    Tuple(Vec<Node>),
    Map(Vec<Node>),
    Pair(Box<Node>, Box<Node>),
}

impl Node {
    fn is_atomic(&self) -> bool {
        matches!(self.shape, Shape::Leaf(_))
    }

    fn is_atomic_pair(&self) -> bool {
        match &self.shape {
            Shape::Pair(key, value) => key.is_atomic() && value.is_atomic(),
            _ => false,
        }
    }
}

/// `io_lib_pretty:print/2` with options column, line length (`None`: never break) and encoding.
pub(crate) fn print(
    term: &Term,
    column: usize,
    line_length: Option<usize>,
    encoding: Encoding,
) -> String {
    let column = column.max(1) as i64;
    let node = measure(term, encoding);
    let mut out = String::new();
    let is_container = matches!(
        term,
        Term::List(_) | Term::Tuple(_) | Term::Map(_) | Term::Binary(_)
    );
    match line_length {
        Some(line_length) if is_container && node.length >= line_length as i64 - column => {
            let layout = Layout {
                line_length: line_length as i64,
                max_chars: node.length,
            };
            layout.pp(&node, column, indent_for_column(column), 0, 0, &mut out);
        }
        _ => write(&node, &mut out),
    }
    out
}

/// `indent(Col)`: the indentation of a term starting at `column`.
fn indent_for_column(column: i64) -> usize {
    (column - 1).max(0) as usize
}

// ---- measuring (print_length) ----

fn measure(term: &Term, encoding: Encoding) -> Node {
    match term {
        Term::Atom(atom) => leaf((*atom).to_owned()),
        Term::Int(i) => leaf(i.to_string()),
        Term::Float(f) => leaf(erlang_float(*f)),
        Term::List(items) if items.is_empty() => leaf("[]".to_owned()),
        Term::Tuple(items) if items.is_empty() => leaf("{}".to_owned()),
        Term::Map(pairs) if pairs.is_empty() => leaf("#{}".to_owned()),
        Term::List(items) => match printable_charlist(items) {
            Some(chars) => leaf(quote(chars)),
            None => sequence(items, encoding, Shape::List),
        },
        Term::Tuple(items) => sequence(items, encoding, Shape::Tuple),
        Term::Map(pairs) => {
            let nodes: Vec<Node> = pairs
                .iter()
                .map(|(key, value)| {
                    let key = measure(key, encoding);
                    let value = measure(value, encoding);
                    let length = key.length + 4 + value.length;
                    Node {
                        shape: Shape::Pair(Box::new(key), Box::new(value)),
                        length,
                    }
                })
                .collect();
            let length = list_length(&nodes, 3);
            Node {
                shape: Shape::Map(nodes),
                length,
            }
        }
        Term::Binary(bytes) => measure_binary(bytes, encoding),
    }
}

fn leaf(text: String) -> Node {
    let length = text.chars().count() as i64;
    Node {
        shape: Shape::Leaf(text),
        length,
    }
}

fn sequence(items: &[Term], encoding: Encoding, shape: fn(Vec<Node>) -> Shape) -> Node {
    let nodes: Vec<Node> = items.iter().map(|t| measure(t, encoding)).collect();
    let length = list_length(&nodes, 2);
    Node {
        shape: shape(nodes),
        length,
    }
}

/// `list_length/3`: brackets plus elements plus one separator between each two.
fn list_length(nodes: &[Node], brackets: i64) -> i64 {
    let separators = nodes.len().saturating_sub(1) as i64;
    brackets + nodes.iter().map(|n| n.length).sum::<i64>() + separators
}

/// `io_lib:printable_latin1_list/1` (also what `~tp` uses while `io:printable_range()` is the
/// default, latin1): the code points, if every element is a printable latin1 character.
fn printable_charlist(items: &[Term]) -> Option<Vec<u32>> {
    items
        .iter()
        .map(|item| match item {
            Term::Int(c) => u32::try_from(*c).ok().filter(|c| is_printable_latin1(*c)),
            _ => None,
        })
        .collect()
}

pub(crate) fn is_printable_latin1(c: u32) -> bool {
    matches!(c, 32..=126 | 160..=255 | 8..=13 | 27)
}

fn measure_binary(bytes: &[u8], encoding: Encoding) -> Node {
    if bytes.is_empty() {
        return leaf("<<>>".to_owned());
    }
    if encoding == Encoding::Unicode {
        if let Ok(text) = std::str::from_utf8(bytes) {
            let chars: Vec<u32> = text.chars().map(u32::from).collect();
            if !chars.iter().all(|c| is_printable_latin1(*c)) {
                return byte_list(bytes);
            }
            return if chars.len() == bytes.len() {
                leaf(format!("<<{}>>", quote(chars)))
            } else {
                leaf(format!("<<{}/utf8>>", quote(chars)))
            };
        }
    }
    if bytes.iter().all(|b| is_printable_latin1(u32::from(*b))) {
        leaf(format!(
            "<<{}>>",
            quote(bytes.iter().map(|b| u32::from(*b)).collect())
        ))
    } else {
        byte_list(bytes)
    }
}

fn byte_list(bytes: &[u8]) -> Node {
    let numbers: Vec<String> = bytes.iter().map(u8::to_string).collect();
    let length = 4 + numbers.iter().map(|n| n.len() as i64).sum::<i64>() + numbers.len() as i64 - 1;
    Node {
        shape: Shape::Bytes(numbers),
        length,
    }
}

/// `io_lib:write_string/2`: double quotes with Erlang escapes.
pub(crate) fn quote(chars: Vec<u32>) -> String {
    let mut out = String::from("\"");
    for c in chars {
        match c {
            0x22 => out.push_str("\\\""),
            0x5c => out.push_str("\\\\"),
            0x0a => out.push_str("\\n"),
            0x0d => out.push_str("\\r"),
            0x09 => out.push_str("\\t"),
            0x0b => out.push_str("\\v"),
            0x08 => out.push_str("\\b"),
            0x0c => out.push_str("\\f"),
            0x1b => out.push_str("\\e"),
            0x7f => out.push_str("\\d"),
            c if (32..=126).contains(&c) || c >= 160 => {
                out.push(char::from_u32(c).unwrap_or('\u{fffd}'));
            }
            c => out.push_str(&format!("\\{:03o}", c)),
        }
    }
    out.push('"');
    out
}

// ---- writing flat (write) ----

fn write(node: &Node, out: &mut String) {
    match &node.shape {
        Shape::Leaf(text) => out.push_str(text),
        Shape::Bytes(numbers) => {
            out.push_str("<<");
            out.push_str(&numbers.join(","));
            out.push_str(">>");
        }
        Shape::List(items) => write_sequence(items, "[", "]", out),
        Shape::Tuple(items) => write_sequence(items, "{", "}", out),
        Shape::Map(pairs) => write_sequence(pairs, "#{", "}", out),
        Shape::Pair(key, value) => {
            write(key, out);
            out.push_str(" => ");
            write(value, out);
        }
    }
}

fn write_sequence(items: &[Node], open: &str, close: &str, out: &mut String) {
    out.push_str(open);
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write(item, out);
    }
    out.push_str(close);
}

// ---- laying out (pp) ----

/// The constants of one `pp` run: line length `Ll` and `M`, the flat length of the whole term.
struct Layout {
    line_length: i64,
    max_chars: i64,
}

/// `map_value_indent/1` with no tagged tuples (`TInd` = -1).
const MAP_VALUE_INDENT: usize = 4;

fn spaces(n: usize, out: &mut String) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// `last_depth/2`: the closing brackets still to come after the last element.
fn last_depth(is_last: bool, depth: i64) -> i64 {
    if is_last {
        depth + 1
    } else {
        0
    }
}

impl Layout {
    fn fits(&self, node: &Node, column: i64, last: i64, width: i64) -> bool {
        node.length < self.line_length - column - last
            && node.length + width + last <= self.max_chars
    }

    /// The condition of `pp_tail/10` and `pp_pairs_tail/9` for writing the next element on the
    /// current line: `LD1 =:= 0, ELen + 1 < Ll - Col, W + ELen + 1 =< M` or, before closing
    /// brackets, `ELen < Ll - Col - LD1, W + ELen + LD1 =< M`.
    fn tail_fits(&self, element_length: i64, column: i64, last: i64, width: i64) -> bool {
        if last == 0 {
            element_length + 1 < self.line_length - column
                && width + element_length < self.max_chars
        } else {
            element_length < self.line_length - column - last
                && width + element_length + last <= self.max_chars
        }
    }

    /// `pp/8`.
    fn pp(&self, node: &Node, column: i64, indent: usize, last: i64, width: i64, out: &mut String) {
        if self.fits(node, column, last, width) {
            return write(node, out);
        }
        match &node.shape {
            Shape::List(items) => {
                out.push('[');
                self.pp_list(items, column + 1, indent + 1, last, width + 1, out);
                out.push(']');
            }
            Shape::Tuple(items) => {
                out.push('{');
                self.pp_list(items, column + 1, indent + 1, last, width + 1, out);
                out.push('}');
            }
            Shape::Map(pairs) => {
                out.push_str("#{");
                self.pp_map(pairs, column + 2, indent + 2, last, width + 1, out);
                out.push('}');
            }
            Shape::Bytes(numbers) => {
                self.pp_binary(numbers, column + 2, indent + 2, last, width, out)
            }
            Shape::Leaf(_) | Shape::Pair(..) => write(node, out),
        }
    }

    /// `pp_list/9` and `pp_tail/10` for proper lists and tuples.
    fn pp_list(
        &self,
        items: &[Node],
        column0: i64,
        indent: usize,
        last: i64,
        width: i64,
        out: &mut String,
    ) {
        let Some((first, rest)) = items.split_first() else {
            return;
        };
        let first_width = self.pp_element(
            first,
            column0,
            indent,
            last_depth(rest.is_empty(), last),
            width,
            out,
        );
        let mut column = column0 + first_width;
        let mut width = width + first_width;
        for (i, item) in rest.iter().enumerate() {
            let item_last = last_depth(i + 1 == rest.len(), last);
            let element_length = 1 + item.length;
            let stays_on_line =
                item.is_atomic() && self.tail_fits(element_length, column, item_last, width);
            out.push(',');
            if stays_on_line {
                write(item, out);
                column += element_length;
                width += element_length;
            } else {
                out.push('\n');
                spaces(indent, out);
                let item_width = self.pp_element(item, column0, indent, item_last, 0, out);
                column = column0 + item_width;
                width = item_width;
            }
        }
    }

    /// `pp_element/8`: returns the width used, or the line length to force a line break.
    fn pp_element(
        &self,
        node: &Node,
        column: i64,
        indent: usize,
        last: i64,
        width: i64,
        out: &mut String,
    ) -> i64 {
        if node.is_atomic() && self.fits(node, column, last, width) {
            write(node, out);
            node.length
        } else {
            self.pp(node, column, indent, last, width, out);
            self.line_length
        }
    }

    /// `pp_map/8` and `pp_pairs_tail/9`.
    fn pp_map(
        &self,
        pairs: &[Node],
        column0: i64,
        indent: usize,
        last: i64,
        width: i64,
        out: &mut String,
    ) {
        let Some((first, rest)) = pairs.split_first() else {
            return;
        };
        let first_width = self.pp_pair(
            first,
            column0,
            indent,
            last_depth(rest.is_empty(), last),
            width,
            out,
        );
        let mut column = column0 + first_width;
        let mut width = first_width;
        for (i, pair) in rest.iter().enumerate() {
            let pair_last = last_depth(i + 1 == rest.len(), last);
            let element_length = 1 + pair.length;
            let stays_on_line =
                pair.is_atomic_pair() && self.tail_fits(element_length, column, pair_last, width);
            out.push(',');
            if stays_on_line {
                write(pair, out);
                column += element_length;
                width += element_length;
            } else {
                out.push('\n');
                spaces(indent, out);
                let pair_width = self.pp_pair(pair, column0, indent, pair_last, 0, out);
                column = column0 + pair_width;
                width = pair_width;
            }
        }
    }

    /// `pp_pair/8`: returns the width used, or the line length to force a line break.
    fn pp_pair(
        &self,
        pair: &Node,
        column: i64,
        indent: usize,
        last: i64,
        width: i64,
        out: &mut String,
    ) -> i64 {
        if self.fits(pair, column, last, width) {
            write(pair, out);
            return if pair.is_atomic_pair() {
                pair.length
            } else {
                self.line_length
            };
        }
        let Shape::Pair(key, value) = &pair.shape else {
            write(pair, out);
            return self.line_length;
        };
        self.pp(key, column, indent, last, width, out);
        out.push_str(" =>\n");
        let value_indent = indent + MAP_VALUE_INDENT;
        spaces(value_indent, out);
        self.pp(
            value,
            column + MAP_VALUE_INDENT as i64,
            value_indent,
            last,
            0,
            out,
        );
        self.line_length
    }

    /// `pp_binary/7`: the byte values of an unprintable binary, wrapped.
    fn pp_binary(
        &self,
        numbers: &[String],
        column: i64,
        indent: usize,
        last: i64,
        width: i64,
        out: &mut String,
    ) {
        let room = (self.line_length - column).min(self.max_chars - 4 - width) - last;
        let line = room.max(8);
        let mut left = line;
        out.push_str("<<");
        for (i, number) in numbers.iter().enumerate() {
            let is_last = i + 1 == numbers.len();
            if is_last {
                if number.len() as i64 > left {
                    out.push('\n');
                    spaces(indent, out);
                }
                out.push_str(number);
            } else {
                let length = number.len() as i64 + 1;
                if left - length < 0 {
                    out.push('\n');
                    spaces(indent, out);
                    left = line - length;
                } else {
                    left -= length;
                }
                out.push_str(number);
                out.push(',');
            }
        }
        out.push_str(">>");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Terms decoded from JSON and printed by the node's io_lib (OTP 25) after a prefix:
    /// tests/fixtures/otp25-io-lib-pretty.json, made by tests/fixtures/capture/erlang_pretty.py.
    const NODE_PRINTED: &str = include_str!("../../tests/fixtures/otp25-io-lib-pretty.json");

    fn base64_decode(text: &str) -> Vec<u8> {
        let value = |c: u8| match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            _ => 63,
        };
        let digits: Vec<u8> = text.bytes().filter(|c| *c != b'=').map(value).collect();
        let mut out = Vec::new();
        for chunk in digits.chunks(4) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, d)| n | u32::from(*d) << (18 - 6 * i));
            out.extend(&n.to_be_bytes()[1..chunk.len()]);
        }
        out
    }

    #[test]
    fn prints_what_the_nodes_io_lib_printed() {
        let fixture: serde_json::Value = serde_json::from_str(NODE_PRINTED).unwrap();
        let cases = fixture["cases"].as_array().unwrap();
        assert_eq!(cases.len(), 300);
        let mut multiline = 0;
        for case in cases {
            let json: serde_json::Value =
                serde_json::from_str(case["json"].as_str().unwrap()).unwrap();
            let prefix = case["prefix"].as_str().unwrap();
            let expected = base64_decode(case["output_base64"].as_str().unwrap());
            let printed = format!(
                "{prefix}{}",
                super::super::format_p(&Term::from_json(&json), prefix.len() + 1)
            );
            let bytes: Vec<u8> = printed
                .chars()
                .map(|c| u8::try_from(u32::from(c)).unwrap())
                .collect();
            assert_eq!(
                String::from_utf8_lossy(&bytes),
                String::from_utf8_lossy(&expected),
                "{}",
                case["json"]
            );
            multiline += usize::from(expected.contains(&b'\n'));
        }
        assert!(multiline > 100, "{multiline} cases break lines");
    }

    fn p(term: &Term, column: usize) -> String {
        print(term, column, Some(80), Encoding::Latin1)
    }

    fn b(text: &str) -> Term {
        Term::binary(text)
    }

    #[test]
    fn short_terms_print_on_one_line() {
        let term = Term::List(vec![Term::pair(b("no-such-key"), Term::Int(1))]);
        assert_eq!(p(&term, 1), r#"[{<<"no-such-key">>,1}]"#);
        let map = Term::Map(vec![(b("n"), Term::Int(1))]);
        assert_eq!(p(&map, 1), r#"#{<<"n">> => 1}"#);
    }

    #[test]
    fn a_long_list_of_tuples_puts_each_tuple_on_its_own_line() {
        let term = Term::List(
            ["unknown-1", "unknown-2", "unknown-3"]
                .iter()
                .zip(["a", "b", "c"])
                .map(|(k, v)| Term::pair(b(k), b(&v.repeat(20))))
                .collect(),
        );
        assert_eq!(
            p(&term, 1),
            "[{<<\"unknown-1\">>,<<\"aaaaaaaaaaaaaaaaaaaa\">>},\n {<<\"unknown-2\">>,<<\"bbbbbbbbbbbbbbbbbbbb\">>},\n {<<\"unknown-3\">>,<<\"cccccccccccccccccccc\">>}]"
        );
    }

    #[test]
    fn a_list_of_integers_fills_lines_at_the_start_column() {
        let term = Term::List((1..=30).map(Term::Int).collect());
        let prefix = "ha-mode=\"nodes\" takes a list of strings, ";
        assert_eq!(
            p(&term, prefix.len() + 1),
            "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,\n                                          16,17,18,19,20,21,22,23,24,25,26,27,\n                                          28,29,30]"
        );
    }

    #[test]
    fn binaries_print_as_strings_only_when_every_byte_is_printable_latin1() {
        assert_eq!(p(&b("a\"b\\c\nd"), 1), r#"<<"a\"b\\c\nd">>"#);
        assert_eq!(p(&Term::Binary(vec![1]), 1), "<<1>>");
        assert_eq!(p(&b("ā"), 1), "<<196,129>>");
        // é is C3 A9 in UTF-8: both bytes are printable latin1 characters.
        assert_eq!(p(&b("é"), 1), "<<\"\u{c3}\u{a9}\">>");
        assert_eq!(p(&b(""), 1), "<<>>");
    }

    #[test]
    fn unicode_printing_marks_multibyte_binaries_utf8() {
        let u = |t: &Term| print(t, 1, None, Encoding::Unicode);
        assert_eq!(u(&b("é")), "<<\"é\"/utf8>>");
        assert_eq!(u(&b("bytes")), "<<\"bytes\">>");
        assert_eq!(u(&b("€")), "<<226,130,172>>");
        assert_eq!(u(&Term::Binary(vec![0, 1])), "<<0,1>>");
    }

    #[test]
    fn charlists_print_as_strings_when_printable() {
        assert_eq!(
            p(&Term::List(vec![Term::Int(104), Term::Int(105)]), 1),
            "\"hi\""
        );
        assert_eq!(p(&Term::List(vec![Term::Int(1), Term::Int(2)]), 1), "[1,2]");
        assert_eq!(p(&Term::charlist("missing )"), 1), "\"missing )\"");
        assert_eq!(p(&Term::List(vec![]), 1), "[]");
    }

    #[test]
    fn long_unprintable_binaries_wrap_between_bytes() {
        let term = Term::Binary((128u8..=255).collect());
        let text = p(&term, 1);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.len() > 1, "{text}");
        assert!(lines.iter().all(|l| l.len() <= 80), "{text}");
        assert!(lines[1].starts_with("  1"), "{text}");
        assert_eq!(text.replace(['\n', ' '], ""), write_flat(&term));
    }

    fn write_flat(term: &Term) -> String {
        print(term, 1, None, Encoding::Latin1)
    }
}
