//! Content frames: the content header with its raw basic properties, and body frames.
//!
//! Properties are kept as the client's bytes and passed through untouched; a single
//! structural walk on arrival checks them and notes where the few fields routing needs
//! (delivery-mode, priority, expiration, headers, reply-to) live.

use amq_protocol::frame::WriteContext;
use amq_protocol::protocol::basic::{gen_properties, parse_properties, AMQPProperties};
use bytes::Bytes;

use crate::frame::{begin_frame, end_frame, FRAME_BODY, FRAME_HEADER, FRAME_OVERHEAD_SIZE};
use crate::table::check_table;
pub use crate::table::{decode_table, encode_table};
use crate::wire::{put_u16, put_u64, Truncated, WireReader};

/// A decoded content header: class, announced body size, raw property bytes (flags + values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentHeader {
    pub class_id: u16,
    pub body_size: u64,
    pub properties: Bytes,
}

/// Decode a content header frame payload. Property bytes are validated by [`PropertiesView::parse`].
pub fn decode_content_header(payload: Bytes) -> Result<ContentHeader, Truncated> {
    let mut r = WireReader::new(payload);
    let class_id = r.u16()?;
    let _weight = r.u16()?;
    let body_size = r.u64()?;
    let properties = r.rest();
    if properties.len() < 2 {
        return Err(Truncated);
    }
    Ok(ContentHeader {
        class_id,
        body_size,
        properties,
    })
}

// Property flag bits of class basic, most significant first.
const F_CONTENT_TYPE: u16 = 1 << 15;
const F_CONTENT_ENCODING: u16 = 1 << 14;
const F_HEADERS: u16 = 1 << 13;
const F_DELIVERY_MODE: u16 = 1 << 12;
const F_PRIORITY: u16 = 1 << 11;
const F_CORRELATION_ID: u16 = 1 << 10;
const F_REPLY_TO: u16 = 1 << 9;
const F_EXPIRATION: u16 = 1 << 8;
const F_MESSAGE_ID: u16 = 1 << 7;
const F_TIMESTAMP: u16 = 1 << 6;
const F_TYPE: u16 = 1 << 5;
const F_USER_ID: u16 = 1 << 4;
const F_APP_ID: u16 = 1 << 3;
const F_CLUSTER_ID: u16 = 1 << 2;

/// What routing and delivery need from the properties, found by one walk over the raw bytes.
/// Ranges index into the raw property bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PropertiesView {
    pub delivery_mode: u8,
    pub priority: Option<u8>,
    pub headers: Option<Span>,
    pub expiration: Option<Span>,
    pub reply_to: Option<Span>,
    pub user_id: Option<Span>,
}

/// A byte range within the raw properties. u32 keeps `PropertiesView` small: it is stored
/// with every message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    fn new((start, end): (usize, usize)) -> Self {
        // Properties live in one content-header frame, far below 4 GiB.
        Self {
            start: start as u32,
            end: end as u32,
        }
    }

    /// The bytes this span covers in `raw`.
    pub fn of<'a>(&self, raw: &'a [u8]) -> &'a [u8] {
        raw.get(self.start as usize..self.end as usize)
            .unwrap_or_default()
    }
}

impl PropertiesView {
    /// Walk the raw basic properties, checking every length against the buffer.
    pub fn parse(raw: &[u8]) -> Result<Self, Truncated> {
        if raw.len() < 2 {
            return Err(Truncated);
        }
        let flags = u16::from_be_bytes([raw[0], raw[1]]);
        if flags & 1 != 0 {
            // Continuation flags are not defined for class basic.
            return Err(Truncated);
        }
        let mut view = PropertiesView::default();
        let mut pos = 2usize;
        let short_str = |pos: &mut usize| -> Result<(usize, usize), Truncated> {
            let len = *raw.get(*pos).ok_or(Truncated)? as usize;
            let start = *pos + 1;
            let end = start + len;
            if end > raw.len() {
                return Err(Truncated);
            }
            *pos = end;
            Ok((start, end))
        };
        if flags & F_CONTENT_TYPE != 0 {
            short_str(&mut pos)?;
        }
        if flags & F_CONTENT_ENCODING != 0 {
            short_str(&mut pos)?;
        }
        if flags & F_HEADERS != 0 {
            let len_bytes = raw.get(pos..pos + 4).ok_or(Truncated)?;
            let len = u32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]])
                as usize;
            let end = pos.checked_add(4 + len).ok_or(Truncated)?;
            if end > raw.len() {
                return Err(Truncated);
            }
            view.headers = Some(Span::new((pos, end)));
            pos = end;
        }
        if flags & F_DELIVERY_MODE != 0 {
            view.delivery_mode = *raw.get(pos).ok_or(Truncated)?;
            pos += 1;
        }
        if flags & F_PRIORITY != 0 {
            view.priority = Some(*raw.get(pos).ok_or(Truncated)?);
            pos += 1;
        }
        if flags & F_CORRELATION_ID != 0 {
            short_str(&mut pos)?;
        }
        if flags & F_REPLY_TO != 0 {
            view.reply_to = Some(Span::new(short_str(&mut pos)?));
        }
        if flags & F_EXPIRATION != 0 {
            view.expiration = Some(Span::new(short_str(&mut pos)?));
        }
        if flags & F_MESSAGE_ID != 0 {
            short_str(&mut pos)?;
        }
        if flags & F_TIMESTAMP != 0 {
            if pos + 8 > raw.len() {
                return Err(Truncated);
            }
            pos += 8;
        }
        if flags & F_TYPE != 0 {
            short_str(&mut pos)?;
        }
        if flags & F_USER_ID != 0 {
            view.user_id = Some(Span::new(short_str(&mut pos)?));
        }
        if flags & F_APP_ID != 0 {
            short_str(&mut pos)?;
        }
        if flags & F_CLUSTER_ID != 0 {
            short_str(&mut pos)?;
        }
        if let Some(span) = view.headers {
            // A header table must itself be well formed (and not nested too deep): routing
            // and consumers decode it.
            let table = span.of(raw);
            if check_table(table) != Ok(table.len()) {
                return Err(Truncated);
            }
        }
        Ok(view)
    }

    /// The raw properties with the short string at `span` (as this view found it) replaced
    /// by `value`, every other byte kept as the client sent it. None when `value` is longer
    /// than a short string or `span` does not lie in `raw`.
    pub fn replace_short_str(raw: &[u8], span: Span, value: &[u8]) -> Option<Vec<u8>> {
        let len = u8::try_from(value.len()).ok()?;
        let (start, end) = (span.start as usize, span.end as usize);
        let before = raw.get(..start.checked_sub(1)?)?;
        let after = raw.get(end..)?;
        let mut out = Vec::with_capacity(before.len() + 1 + value.len() + after.len());
        out.extend_from_slice(before);
        out.push(len);
        out.extend_from_slice(value);
        out.extend_from_slice(after);
        Some(out)
    }

    /// True for delivery_mode 2 (persistent).
    pub fn is_persistent(&self) -> bool {
        self.delivery_mode == 2
    }
}

/// Decode raw basic properties with amq-protocol, for the rare paths that must rewrite them.
pub fn decode_properties(raw: &[u8]) -> Result<AMQPProperties, Truncated> {
    match parse_properties(raw) {
        Ok((_rest, props)) => Ok(props),
        Err(_) => Err(Truncated),
    }
}

/// Encode basic properties with amq-protocol (flags + values), for rewritten messages.
pub fn encode_properties(props: &AMQPProperties) -> Bytes {
    let ctx = WriteContext::from(Vec::new());
    match gen_properties(props)(ctx) {
        Ok(ctx) => Bytes::from(ctx.write),
        Err(_) => unreachable!("serialising into a Vec<u8> is infallible"),
    }
}

/// Append a content header frame and the body frames, splitting the body at `frame_max`.
pub fn write_content(
    out: &mut Vec<u8>,
    channel: u16,
    class_id: u16,
    properties: &[u8],
    body: &[u8],
    frame_max: u32,
) {
    let at = begin_frame(out, FRAME_HEADER, channel);
    put_u16(out, class_id);
    put_u16(out, 0);
    put_u64(out, body.len() as u64);
    out.extend_from_slice(properties);
    end_frame(out, at);
    let chunk = (frame_max as usize)
        .saturating_sub(FRAME_OVERHEAD_SIZE)
        .max(1);
    out.reserve(body.len() + (body.len() / chunk + 1) * FRAME_OVERHEAD_SIZE);
    for part in body.chunks(chunk) {
        let at = begin_frame(out, FRAME_BODY, channel);
        out.extend_from_slice(part);
        end_frame(out, at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use amq_protocol::types::{AMQPValue, FieldTable, ShortString};

    #[test]
    fn view_finds_fields_in_properties_encoded_by_amq_protocol() {
        let mut headers = FieldTable::default();
        headers.insert("k".into(), AMQPValue::LongString("v".into()));
        let props = AMQPProperties::default()
            .with_content_type(ShortString::from("text/plain"))
            .with_headers(headers.clone())
            .with_delivery_mode(2)
            .with_priority(5)
            .with_reply_to(ShortString::from("amq.rabbitmq.reply-to"))
            .with_expiration(ShortString::from("6000"));
        let raw = encode_properties(&props);
        let view = PropertiesView::parse(&raw).unwrap();
        assert!(view.is_persistent());
        assert_eq!(view.priority, Some(5));
        assert_eq!(view.reply_to.unwrap().of(&raw), b"amq.rabbitmq.reply-to");
        assert_eq!(view.expiration.unwrap().of(&raw), b"6000");
        assert_eq!(
            decode_table(view.headers.unwrap().of(&raw)).unwrap(),
            headers
        );
        assert_eq!(decode_properties(&raw).unwrap(), props);
    }

    #[test]
    fn view_rejects_truncated_properties() {
        let props = AMQPProperties::default().with_message_id(ShortString::from("abc"));
        let raw = encode_properties(&props);
        for cut in 0..raw.len() {
            assert!(PropertiesView::parse(&raw[..cut]).is_err(), "cut at {cut}");
        }
    }
}
