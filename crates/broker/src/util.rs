//! Small helpers with no better home: randomness from the OS.

use std::io::Read;

/// `prefix` followed by N random bytes in url-safe base64 without padding: the shape of
/// RabbitMQ's generated names (amq.gen-…, amq.ctag-…, direct reply-to addresses).
pub fn random_name<const N: usize>(prefix: &str) -> String {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<N>());
    format!("{prefix}{encoded}")
}

/// N bytes from the OS's random source. Falls back to a time-and-address-seeded mix if
/// /dev/urandom cannot be read (it always can on Linux; the fallback keeps this infallible).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        if f.read_exact(&mut out).is_ok() {
            return out;
        }
    }
    use std::hash::{BuildHasher, Hasher};
    let state = std::collections::hash_map::RandomState::new();
    for (i, chunk) in out.chunks_mut(8).enumerate() {
        let mut h = state.build_hasher();
        h.write_usize(i);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        let v = h.finish().to_be_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
    out
}

/// A short string for the wire. Longer text is cut as RabbitMQ cuts reply texts: the first
/// 252 bytes (here: on a character boundary) and "...". amq-protocol's `From<String>` would
/// panic on more than 255 bytes.
pub fn short_string(s: impl Into<String>) -> warren_codec::types::ShortString {
    let mut s = s.into();
    if s.len() > 255 {
        let mut cut = 252;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    warren_codec::types::ShortString::from(s)
}

/// An integer argument value of any wire width.
pub fn int_value(v: &warren_codec::types::AMQPValue) -> Option<i64> {
    use warren_codec::types::AMQPValue;
    Some(match v {
        AMQPValue::ShortShortInt(n) => i64::from(*n),
        AMQPValue::ShortShortUInt(n) => i64::from(*n),
        AMQPValue::ShortInt(n) => i64::from(*n),
        AMQPValue::ShortUInt(n) => i64::from(*n),
        AMQPValue::LongInt(n) => i64::from(*n),
        AMQPValue::LongUInt(n) => i64::from(*n),
        AMQPValue::LongLongInt(n) => *n,
        _ => return None,
    })
}
