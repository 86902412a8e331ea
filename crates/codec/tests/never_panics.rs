//! Property tests over arbitrary bytes: no decoder panics on anything a client can send, and
//! the iterative table check accepts exactly what amq-protocol's decoder accepts.

use amq_protocol::types::{AMQPValue, FieldArray, FieldTable, LongString};
use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use warren_codec::content::{decode_content_header, decode_table, encode_table, PropertiesView};
use warren_codec::frame::split_frame;
use warren_codec::method::decode_method;
use warren_codec::table::check_table;

/// Field values of every type, nested a few levels.
fn value() -> impl Strategy<Value = AMQPValue> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(AMQPValue::Boolean),
        any::<i8>().prop_map(AMQPValue::ShortShortInt),
        any::<u8>().prop_map(AMQPValue::ShortShortUInt),
        any::<i16>().prop_map(AMQPValue::ShortInt),
        any::<u16>().prop_map(AMQPValue::ShortUInt),
        any::<i32>().prop_map(AMQPValue::LongInt),
        any::<u32>().prop_map(AMQPValue::LongUInt),
        any::<i64>().prop_map(AMQPValue::LongLongInt),
        any::<u64>().prop_map(AMQPValue::Timestamp),
        ".{0,8}".prop_map(|s| AMQPValue::LongString(LongString::from(s))),
        proptest::collection::vec(any::<u8>(), 0..8).prop_map(|v| AMQPValue::ByteArray(v.into())),
        Just(AMQPValue::Void),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(|v| {
                let mut a = FieldArray::default();
                for x in v {
                    a.push(x);
                }
                AMQPValue::FieldArray(a)
            }),
            proptest::collection::vec(("[a-z]{1,4}", inner), 0..4).prop_map(|v| {
                let mut t = FieldTable::default();
                for (k, x) in v {
                    t.insert(k.into(), x);
                }
                AMQPValue::FieldTable(t)
            }),
        ]
    })
}

fn table() -> impl Strategy<Value = FieldTable> {
    proptest::collection::vec(("[a-z]{1,4}", value()), 0..6).prop_map(|v| {
        let mut t = FieldTable::default();
        for (k, x) in v {
            t.insert(k.into(), x);
        }
        t
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn frames_split_or_refuse(bytes in proptest::collection::vec(any::<u8>(), 0..512), frame_max in 0u32..1024) {
        let mut buf = BytesMut::from(&bytes[..]);
        while let Ok(Some(_)) = split_frame(&mut buf, frame_max) {}
    }

    #[test]
    fn methods_decode_or_refuse(class_id in prop_oneof![Just(10u16), Just(20), Just(40), Just(50), Just(60), Just(85), Just(90), any::<u16>()],
                                method_id in prop_oneof![0u16..130, any::<u16>()],
                                args in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut payload = Vec::new();
        payload.extend_from_slice(&class_id.to_be_bytes());
        payload.extend_from_slice(&method_id.to_be_bytes());
        payload.extend_from_slice(&args);
        let _ = decode_method(Bytes::from(payload));
    }

    #[test]
    fn content_headers_decode_or_refuse(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(header) = decode_content_header(Bytes::from(bytes)) {
            let _ = PropertiesView::parse(&header.properties);
        }
    }

    #[test]
    fn properties_parse_or_refuse(flags: u16, bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut raw = flags.to_be_bytes().to_vec();
        raw.extend_from_slice(&bytes);
        let _ = PropertiesView::parse(&raw);
    }

    #[test]
    fn table_check_agrees_with_amq_protocol_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
        let ours = check_table(&bytes).map(|n| n == bytes.len()).unwrap_or(false);
        let theirs = matches!(amq_protocol::types::parsing::parse_field_table(&bytes[..]), Ok((rest, _)) if rest.is_empty());
        prop_assert_eq!(ours, theirs);
    }

    #[test]
    fn encoded_tables_pass_and_every_cut_fails(t in table()) {
        let bytes = encode_table(&t);
        prop_assert_eq!(check_table(&bytes), Ok(bytes.len()));
        prop_assert_eq!(decode_table(&bytes), Ok(t));
        for cut in 0..bytes.len() {
            prop_assert!(check_table(&bytes[..cut]).is_err());
        }
    }

    #[test]
    fn mutated_tables_agree_with_amq_protocol(t in table(), at: prop::sample::Index, byte: u8) {
        let mut bytes = encode_table(&t);
        let i = at.index(bytes.len());
        bytes[i] = byte;
        let ours = check_table(&bytes).map(|n| n == bytes.len()).unwrap_or(false);
        let theirs = matches!(amq_protocol::types::parsing::parse_field_table(&bytes[..]), Ok((rest, _)) if rest.is_empty());
        prop_assert_eq!(ours, theirs);
    }
}
