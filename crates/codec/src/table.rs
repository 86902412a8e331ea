//! Field tables and arrays as a client sends them: an iterative structural check with a
//! nesting limit, run before amq-protocol's recursive decoder ever sees client bytes.
//!
//! amq-protocol decodes nested tables by recursion on the native stack, so a table nested
//! 20,000 levels deep overflows a worker thread. RabbitMQ has no limit (its decoder runs on a
//! growable Erlang stack); Warren refuses anything nested deeper than [`NESTING_DEPTH_MAX`],
//! which no real client comes near, and walks the bytes with an explicit stack to find out.

use amq_protocol::frame::WriteContext;
use amq_protocol::types::{AMQPValue, DecimalValue, FieldArray, FieldTable, LongString};

use crate::wire::Truncated;

/// Most containers (tables and arrays, the outermost included) one value may nest.
pub const NESTING_DEPTH_MAX: usize = 100;

/// Why a field table did not pass the check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    /// Truncated, a length beyond its container, an unknown type tag, or a non-UTF-8 key.
    #[error("malformed field table")]
    Malformed,
    /// Tables or arrays nested deeper than [`NESTING_DEPTH_MAX`].
    #[error("field tables nested deeper than {NESTING_DEPTH_MAX} levels")]
    TooDeep,
}

/// An open container during the walk: where it ends, and whether its entries carry keys.
struct Open {
    end: usize,
    keyed: bool,
}

/// Check the length-prefixed field table at the start of `bytes` and return its encoded size
/// (4 + its length). Accepts exactly what amq-protocol's decoder accepts, up to the depth limit.
pub fn check_table(bytes: &[u8]) -> Result<usize, TableError> {
    let len = read_len(bytes, 0, bytes.len())?;
    let end = 4usize
        .checked_add(len)
        .filter(|&e| e <= bytes.len())
        .ok_or(TableError::Malformed)?;
    let mut stack = vec![Open { end, keyed: true }];
    let mut pos = 4;
    while let Some(top) = stack.last() {
        let limit = top.end;
        if pos == limit {
            stack.pop();
            continue;
        }
        if top.keyed {
            let key_len = usize::from(*bytes.get(pos).ok_or(TableError::Malformed)?);
            let key = bytes
                .get(pos + 1..pos + 1 + key_len)
                .filter(|_| pos + 1 + key_len <= limit)
                .ok_or(TableError::Malformed)?;
            std::str::from_utf8(key).map_err(|_| TableError::Malformed)?;
            pos += 1 + key_len;
        }
        let tag = *bytes
            .get(pos)
            .filter(|_| pos < limit)
            .ok_or(TableError::Malformed)?;
        pos += 1;
        let fixed = match fixed_size(tag) {
            Some(n) => n,
            None if matches!(tag, b'S' | b'x' | b'A' | b'F') => {
                let n = read_len(bytes, pos, limit)?;
                let value_end = (pos + 4)
                    .checked_add(n)
                    .filter(|&e| e <= limit)
                    .ok_or(TableError::Malformed)?;
                if matches!(tag, b'A' | b'F') {
                    if stack.len() >= NESTING_DEPTH_MAX {
                        return Err(TableError::TooDeep);
                    }
                    stack.push(Open {
                        end: value_end,
                        keyed: tag == b'F',
                    });
                    pos += 4;
                } else {
                    pos = value_end;
                }
                continue;
            }
            None => return Err(TableError::Malformed),
        };
        if pos + fixed > limit {
            return Err(TableError::Malformed);
        }
        pos += fixed;
    }
    Ok(end)
}

/// Whether the field table at the start of `bytes` (length prefix included) has one of
/// `keys` at its top level: a walk over its keys that skips values by their sizes, so a
/// publish can learn it carries no `CC`/`BCC` header without decoding its headers.
/// Malformed bytes answer false (tables are checked before they get here).
pub fn table_has_key(bytes: &[u8], keys: &[&[u8]]) -> bool {
    let Ok(len) = read_len(bytes, 0, bytes.len()) else {
        return false;
    };
    let end = 4usize.saturating_add(len).min(bytes.len());
    let mut pos = 4;
    while pos < end {
        let key_len = usize::from(bytes[pos]);
        let Some(key) = bytes.get(pos + 1..pos + 1 + key_len) else {
            return false;
        };
        if keys.contains(&key) {
            return true;
        }
        pos += 1 + key_len;
        let Some(&tag) = bytes.get(pos) else {
            return false;
        };
        pos += 1;
        pos += match fixed_size(tag) {
            Some(n) => n,
            None if matches!(tag, b'S' | b'x' | b'A' | b'F') => match read_len(bytes, pos, end) {
                Ok(n) => n.saturating_add(4),
                Err(_) => return false,
            },
            None => return false,
        };
    }
    false
}

/// The size of a value of type `tag` that has a fixed one (None: length-prefixed or unknown).
fn fixed_size(tag: u8) -> Option<usize> {
    Some(match tag {
        b'V' => 0,
        b't' | b'b' | b'B' => 1,
        b's' | b'U' | b'u' => 2,
        b'I' | b'i' | b'f' => 4,
        b'D' => 5,
        b'L' | b'l' | b'd' | b'T' => 8,
        _ => return None,
    })
}

/// A u32 length at `pos`, which must end within `limit`.
fn read_len(bytes: &[u8], pos: usize, limit: usize) -> Result<usize, TableError> {
    let b = bytes
        .get(pos..pos + 4)
        .filter(|_| pos + 4 <= limit)
        .ok_or(TableError::Malformed)?;
    Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
}

/// For tests and fuzzing: a well-formed field table (length prefix included) holding `depth`
/// containers in all (the outermost included, at least one), alternating tables and arrays.
/// Written outside in from precomputed sizes: linear, no recursion.
pub fn nested_table(depth: usize) -> Vec<u8> {
    let depth = depth.max(1);
    let is_table = |level: usize| level % 2 == 1;
    let mut size = vec![0usize; depth + 1];
    for level in (1..depth).rev() {
        size[level] = if is_table(level) { 2 } else { 0 } + 5 + size[level + 1];
    }
    let mut out = (size[1] as u32).to_be_bytes().to_vec();
    for level in 1..depth {
        if is_table(level) {
            out.extend_from_slice(b"\x01k");
        }
        out.push(if is_table(level + 1) { b'F' } else { b'A' });
        out.extend_from_slice(&(size[level + 1] as u32).to_be_bytes());
    }
    out
}

/// For tests and fuzzing: a table with every value type amq-protocol writes, one table and
/// one array nested.
pub fn every_type_table() -> FieldTable {
    let mut inner = FieldTable::default();
    inner.insert("x".into(), AMQPValue::LongLongInt(-5));
    let mut array = FieldArray::default();
    array.push(AMQPValue::FieldTable(inner.clone()));
    array.push(AMQPValue::Void);
    let mut t = FieldTable::default();
    t.insert("bool".into(), AMQPValue::Boolean(true));
    t.insert("i8".into(), AMQPValue::ShortShortInt(-1));
    t.insert("u8".into(), AMQPValue::ShortShortUInt(1));
    t.insert("i16".into(), AMQPValue::ShortInt(-2));
    t.insert("u16".into(), AMQPValue::ShortUInt(2));
    t.insert("i32".into(), AMQPValue::LongInt(-3));
    t.insert("u32".into(), AMQPValue::LongUInt(3));
    t.insert("f".into(), AMQPValue::Float(1.5));
    t.insert("d".into(), AMQPValue::Double(2.5));
    t.insert(
        "dec".into(),
        AMQPValue::DecimalValue(DecimalValue {
            scale: 2,
            value: 314,
        }),
    );
    t.insert("ts".into(), AMQPValue::Timestamp(7));
    t.insert("s".into(), AMQPValue::LongString(LongString::from("text")));
    t.insert("x".into(), AMQPValue::ByteArray(vec![1u8, 2].into()));
    t.insert("arr".into(), AMQPValue::FieldArray(array));
    t.insert("tab".into(), AMQPValue::FieldTable(inner));
    t
}

/// Decode a length-prefixed field table (as found in properties or method arguments).
pub fn decode_table(bytes: &[u8]) -> Result<FieldTable, Truncated> {
    // amq-protocol recurses per nesting level: check depth and structure iteratively first.
    check_table(bytes).map_err(|_| Truncated)?;
    match amq_protocol::types::parsing::parse_field_table(bytes) {
        Ok((&[], table)) => Ok(table),
        _ => Err(Truncated),
    }
}

/// Encode a field table with its 4-byte length prefix.
pub fn encode_table(table: &FieldTable) -> Vec<u8> {
    match amq_protocol::types::generation::gen_field_table(table)(WriteContext::from(Vec::new())) {
        Ok(ctx) => ctx.write,
        Err(_) => unreachable!("serialising into a Vec<u8> is infallible"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_level_keys_are_found_past_every_value_type() {
        let mut t = every_type_table();
        assert!(!table_has_key(&encode_table(&t), &[b"CC", b"BCC"]));
        t.insert("zz-BCC".into(), AMQPValue::Boolean(true));
        assert!(!table_has_key(&encode_table(&t), &[b"CC", b"BCC"]));
        // Sorted last, after every other type: found only if each value was skipped right.
        t.insert("~CC".into(), AMQPValue::Void);
        assert!(table_has_key(&encode_table(&t), &[b"~CC"]));
        let bytes = encode_table(&t);
        for cut in 0..bytes.len() {
            let _ = table_has_key(&bytes[..cut], &[b"~CC"]);
        }
    }

    #[test]
    fn accepts_every_value_type_amq_protocol_encodes() {
        let t = every_type_table();
        let bytes = encode_table(&t);
        assert_eq!(check_table(&bytes), Ok(bytes.len()));
        for cut in 0..bytes.len() {
            assert_eq!(check_table(&bytes[..cut]), Err(TableError::Malformed));
        }
    }

    #[test]
    fn refuses_nesting_beyond_the_limit_without_recursing() {
        let ok = nested_table(NESTING_DEPTH_MAX);
        assert_eq!(check_table(&ok), Ok(ok.len()));
        assert!(decode_table(&ok).is_ok());
        // Far deeper than any native stack could take, checked on a small one.
        let deep = nested_table(1_000_000);
        let verdict = std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || check_table(&deep))
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(verdict, Err(TableError::TooDeep));
        assert_eq!(
            decode_table(&nested_table(NESTING_DEPTH_MAX + 1)),
            Err(crate::wire::Truncated)
        );
    }

    #[test]
    fn refuses_lengths_beyond_their_container() {
        // An inner table claiming more bytes than the outer one holds.
        let bytes = [0, 0, 0, 7, 1, b'k', b'F', 0, 0, 0, 9];
        assert_eq!(check_table(&bytes), Err(TableError::Malformed));
        // An unknown type tag, and a non-UTF-8 key.
        assert_eq!(
            check_table(&[0, 0, 0, 3, 1, b'k', b'?']),
            Err(TableError::Malformed)
        );
        assert_eq!(
            check_table(&[0, 0, 0, 3, 1, 0xff, b'V']),
            Err(TableError::Malformed)
        );
    }
}
