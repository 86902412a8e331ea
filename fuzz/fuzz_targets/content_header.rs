//! Content headers on arbitrary payloads: the one-pass property walk (`PropertiesView`) must
//! agree with amq-protocol's property parser wherever both accept, re-encoded properties must
//! walk to the same fields, and a written header frame must split and decode back.
#![no_main]

use amq_protocol::protocol::basic::AMQPProperties;
use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use warren_codec::content::{
    decode_content_header, decode_properties, decode_table, encode_properties, encode_table,
    write_content, PropertiesView,
};
use warren_codec::frame::{split_frame, FRAME_HEADER};

const F_HEADERS: u16 = 1 << 13;

/// The fields routing reads, from a view over `raw`.
fn view_fields(view: &PropertiesView, raw: &[u8]) -> Fields {
    Fields {
        delivery_mode: view.delivery_mode,
        priority: view.priority,
        reply_to: view.reply_to.map(|s| s.of(raw).to_vec()),
        expiration: view.expiration.map(|s| s.of(raw).to_vec()),
        user_id: view.user_id.map(|s| s.of(raw).to_vec()),
        headers: view
            .headers
            .map(|s| encode_table(&decode_table(s.of(raw)).expect("checked headers decode"))),
    }
}

/// The same fields as amq-protocol decodes them.
fn amqp_fields(props: &AMQPProperties) -> Fields {
    let bytes = |s: &Option<amq_protocol::types::ShortString>| {
        s.as_ref().map(|s| s.as_str().as_bytes().to_vec())
    };
    Fields {
        delivery_mode: props.delivery_mode().unwrap_or(0),
        priority: *props.priority(),
        reply_to: bytes(props.reply_to()),
        expiration: bytes(props.expiration()),
        user_id: bytes(props.user_id()),
        headers: props.headers().as_ref().map(encode_table),
    }
}

/// Whether every short string among well-formed properties is UTF-8 (flag bits whose
/// value is a short string, most significant first; the rest have fixed or table sizes).
fn short_strings_utf8(raw: &[u8]) -> bool {
    let flags = u16::from_be_bytes([raw[0], raw[1]]);
    let mut pos = 2;
    for bit in (2..16).rev() {
        if flags & (1 << bit) == 0 {
            continue;
        }
        let size = match bit {
            13 => 4 + u32::from_be_bytes(raw[pos..pos + 4].try_into().unwrap()) as usize,
            12 | 11 => 1,
            6 => 8,
            _ => {
                let len = usize::from(raw[pos]);
                if std::str::from_utf8(&raw[pos + 1..pos + 1 + len]).is_err() {
                    return false;
                }
                1 + len
            }
        };
        pos += size;
    }
    true
}

#[derive(Debug, PartialEq)]
struct Fields {
    delivery_mode: u8,
    priority: Option<u8>,
    reply_to: Option<Vec<u8>>,
    expiration: Option<Vec<u8>>,
    user_id: Option<Vec<u8>>,
    headers: Option<Vec<u8>>,
}

fuzz_target!(|data: &[u8]| {
    let Ok(header) = decode_content_header(Bytes::copy_from_slice(data)) else {
        assert!(data.len() < 14);
        return;
    };
    let raw = &header.properties[..];
    let flags = u16::from_be_bytes([raw[0], raw[1]]);
    let Ok(view) = PropertiesView::parse(raw) else {
        if flags & F_HEADERS == 0 && flags & 1 == 0 {
            // No field table, so amq-protocol cannot recurse: it must refuse too.
            assert!(
                decode_properties(raw).is_err(),
                "view refused what amq-protocol reads"
            );
        }
        return;
    };
    match decode_properties(raw) {
        Ok(props) => {
            assert_eq!(
                view_fields(&view, raw),
                amqp_fields(&props),
                "fields disagree"
            );
            // The reply-to rewrite re-encodes and walks again: it must find the same fields.
            let encoded = encode_properties(&props);
            let again = PropertiesView::parse(&encoded).expect("re-encoded properties walk");
            assert_eq!(view_fields(&again, &encoded), amqp_fields(&props));
        }
        // amq-protocol insists on UTF-8 short strings; the view passes bytes through.
        Err(_) => assert!(!short_strings_utf8(raw), "amq-protocol refused"),
    }
    let mut out = Vec::new();
    let body = &data[..data.len().min(40)];
    write_content(
        &mut out,
        3,
        header.class_id,
        raw,
        body,
        4096 + (data.len() as u32 % 64),
    );
    let mut buf = BytesMut::from(&out[..]);
    let frame = split_frame(&mut buf, 0).unwrap().unwrap();
    assert_eq!(frame.kind, FRAME_HEADER);
    let back = decode_content_header(frame.payload).expect("written header decodes");
    assert_eq!(&back.properties[..], raw);
    assert_eq!(back.body_size, body.len() as u64);
    let mut got = Vec::new();
    while let Some(f) = split_frame(&mut buf, 0).unwrap() {
        got.extend_from_slice(&f.payload);
    }
    assert_eq!(got, body);
});
