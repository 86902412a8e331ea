//! Property tests: the hand-rolled hot methods are byte-identical to amq-protocol's encoding.

use amq_protocol::frame::{gen_frame, AMQPContentHeader, AMQPFrame, WriteContext};
use amq_protocol::protocol::{basic, AMQPClass};
use amq_protocol::types::ShortString;
use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use warren_codec::content::{encode_properties, write_content};
use warren_codec::frame::split_frame;
use warren_codec::method::{
    decode_method, write_ack, write_deliver, write_get_ok, write_method, write_nack, write_return,
    Method,
};

fn reference(frame: &AMQPFrame) -> Vec<u8> {
    match gen_frame(frame)(WriteContext::from(Vec::new())) {
        Ok(ctx) => ctx.write,
        Err(e) => panic!("amq-protocol failed to encode: {e:?}"),
    }
}

fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9._-]{0,40}"
}

proptest! {
    #[test]
    fn deliver_matches(ch in 1u16.., tag in name(), dtag: u64, redelivered: bool, ex in name(), rk in name()) {
        let mut ours = Vec::new();
        write_deliver(&mut ours, ch, tag.as_bytes(), dtag, redelivered, ex.as_bytes(), rk.as_bytes());
        let theirs = reference(&AMQPFrame::Method(ch, AMQPClass::Basic(basic::AMQPMethod::Deliver(basic::Deliver {
            consumer_tag: tag.into(), delivery_tag: dtag, redelivered, exchange: ex.into(), routing_key: rk.into(),
        }))));
        prop_assert_eq!(ours, theirs);
    }

    #[test]
    fn get_ok_matches(ch: u16, dtag: u64, redelivered: bool, ex in name(), rk in name(), count: u32) {
        let mut ours = Vec::new();
        write_get_ok(&mut ours, ch, dtag, redelivered, ex.as_bytes(), rk.as_bytes(), count);
        let theirs = reference(&AMQPFrame::Method(ch, AMQPClass::Basic(basic::AMQPMethod::GetOk(basic::GetOk {
            delivery_tag: dtag, redelivered, exchange: ex.into(), routing_key: rk.into(), message_count: count,
        }))));
        prop_assert_eq!(ours, theirs);
    }

    #[test]
    fn return_matches(ch: u16, code: u16, text in name(), ex in name(), rk in name()) {
        let mut ours = Vec::new();
        write_return(&mut ours, ch, code, text.as_bytes(), ex.as_bytes(), rk.as_bytes());
        let theirs = reference(&AMQPFrame::Method(ch, AMQPClass::Basic(basic::AMQPMethod::Return(basic::Return {
            reply_code: code, reply_text: text.into(), exchange: ex.into(), routing_key: rk.into(),
        }))));
        prop_assert_eq!(ours, theirs);
    }

    #[test]
    fn confirms_match(ch: u16, dtag: u64, multiple: bool) {
        let mut ours = Vec::new();
        write_ack(&mut ours, ch, dtag, multiple);
        write_nack(&mut ours, ch, dtag, multiple);
        let mut theirs = reference(&AMQPFrame::Method(ch, AMQPClass::Basic(basic::AMQPMethod::Ack(basic::Ack { delivery_tag: dtag, multiple }))));
        theirs.extend(reference(&AMQPFrame::Method(ch, AMQPClass::Basic(basic::AMQPMethod::Nack(basic::Nack { delivery_tag: dtag, multiple, requeue: false })))));
        prop_assert_eq!(ours, theirs);
    }

    #[test]
    fn generic_methods_match(ch: u16, q in name(), count: u32, consumers: u32) {
        let class = AMQPClass::Queue(amq_protocol::protocol::queue::AMQPMethod::DeclareOk(amq_protocol::protocol::queue::DeclareOk {
            queue: q.into(), message_count: count, consumer_count: consumers,
        }));
        let mut ours = Vec::new();
        write_method(&mut ours, ch, &class);
        prop_assert_eq!(ours, reference(&AMQPFrame::Method(ch, class)));
    }

    #[test]
    fn content_matches(ch: u16, body in proptest::collection::vec(any::<u8>(), 0..10_000), ctype in name(), mode in 1u8..3) {
        let props = basic::AMQPProperties::default().with_content_type(ShortString::from(ctype)).with_delivery_mode(mode);
        let raw = encode_properties(&props);
        let mut ours = Vec::new();
        write_content(&mut ours, ch, 60, &raw, &body, 4096);
        let mut theirs = reference(&AMQPFrame::Header(ch, AMQPContentHeader { class_id: 60, body_size: body.len() as u64, properties: props }));
        for chunk in body.chunks(4096 - 8) {
            theirs.extend(reference(&AMQPFrame::Body(ch, chunk.to_vec())));
        }
        prop_assert_eq!(ours, theirs);
    }

    #[test]
    fn hot_decoders_read_what_amq_protocol_writes(ch: u16, ex in name(), rk in name(), mandatory: bool, immediate: bool, dtag: u64, multiple: bool, requeue: bool) {
        let frames = [
            AMQPClass::Basic(basic::AMQPMethod::Publish(basic::Publish { exchange: ex.clone().into(), routing_key: rk.clone().into(), mandatory, immediate })),
            AMQPClass::Basic(basic::AMQPMethod::Ack(basic::Ack { delivery_tag: dtag, multiple })),
            AMQPClass::Basic(basic::AMQPMethod::Nack(basic::Nack { delivery_tag: dtag, multiple, requeue })),
            AMQPClass::Basic(basic::AMQPMethod::Reject(basic::Reject { delivery_tag: dtag, requeue })),
        ];
        let mut decoded = Vec::new();
        for class in frames {
            let bytes = reference(&AMQPFrame::Method(ch, class));
            let mut buf = BytesMut::from(&bytes[..]);
            let frame = split_frame(&mut buf, 131072).unwrap().unwrap();
            prop_assert_eq!(frame.channel, ch);
            decoded.push(decode_method(frame.payload).unwrap());
        }
        match &decoded[0] {
            Method::Publish(p) => {
                prop_assert_eq!(&p.exchange, &Bytes::from(ex.clone()));
                prop_assert_eq!(&p.routing_key, &Bytes::from(rk.clone()));
                prop_assert_eq!((p.mandatory, p.immediate), (mandatory, immediate));
            }
            other => prop_assert!(false, "not a publish: {:?}", other),
        }
        prop_assert_eq!(&decoded[1], &Method::Ack { delivery_tag: dtag, multiple });
        prop_assert_eq!(&decoded[2], &Method::Nack { delivery_tag: dtag, multiple, requeue });
        prop_assert_eq!(&decoded[3], &Method::Reject { delivery_tag: dtag, requeue });
    }
}

#[test]
fn unknown_and_truncated_methods_are_told_apart() {
    use warren_codec::method::MethodError;
    let unknown = Bytes::from_static(&[0, 50, 0, 99]);
    assert_eq!(
        decode_method(unknown),
        Err(MethodError::Unknown {
            class_id: 50,
            method_id: 99
        })
    );
    // queue.declare cut inside the queue name
    let truncated = Bytes::from_static(&[0, 50, 0, 10, 0, 0, 5, b'a']);
    assert_eq!(
        decode_method(truncated),
        Err(MethodError::Malformed {
            class_id: 50,
            method_id: 10
        })
    );
}
