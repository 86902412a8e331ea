//! Method decoding on arbitrary payloads, checked against amq-protocol: the hand-rolled hot
//! methods must agree with its parser field for field, every other method must be accepted
//! exactly when amq-protocol accepts it (up to the nesting limit), and whatever decodes must
//! re-encode to something that decodes to the same bytes again.
#![no_main]

use amq_protocol::protocol::{basic, parse_class, AMQPClass};
use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use warren_codec::frame::split_frame;
use warren_codec::method::{decode_method, write_method, Method, MethodError, CLASS_BASIC};

/// What amq-protocol makes of a whole payload (trailing bytes refused, as Warren does).
fn reference(data: &[u8]) -> Option<AMQPClass> {
    match parse_class(data) {
        Ok((&[], class)) => Some(class),
        _ => None,
    }
}

/// The hot method amq-protocol's class corresponds to, if it is one.
fn as_hot(class: &AMQPClass) -> Option<Method> {
    let AMQPClass::Basic(m) = class else {
        return None;
    };
    Some(match m {
        basic::AMQPMethod::Publish(p) => Method::Publish(warren_codec::method::Publish {
            exchange: Bytes::copy_from_slice(p.exchange.as_str().as_bytes()),
            routing_key: Bytes::copy_from_slice(p.routing_key.as_str().as_bytes()),
            mandatory: p.mandatory,
            immediate: p.immediate,
        }),
        basic::AMQPMethod::Ack(a) => Method::Ack {
            delivery_tag: a.delivery_tag,
            multiple: a.multiple,
        },
        basic::AMQPMethod::Nack(n) => Method::Nack {
            delivery_tag: n.delivery_tag,
            multiple: n.multiple,
            requeue: n.requeue,
        },
        basic::AMQPMethod::Reject(r) => Method::Reject {
            delivery_tag: r.delivery_tag,
            requeue: r.requeue,
        },
        // amq-protocol reads prefetch_size but does not keep it.
        basic::AMQPMethod::Qos(q) => Method::Qos {
            prefetch_size: 0,
            prefetch_count: q.prefetch_count,
            global: q.global,
        },
        _ => return None,
    })
}

/// Encode a method amq-protocol's way and decode it again through a frame.
fn reencode(class: &AMQPClass) -> (Vec<u8>, Result<Method, MethodError>) {
    let mut out = Vec::new();
    write_method(&mut out, 1, class);
    let mut buf = BytesMut::from(&out[..]);
    let frame = split_frame(&mut buf, 0)
        .expect("a written frame splits")
        .expect("a written frame is complete");
    assert!(buf.is_empty());
    (out, decode_method(frame.payload))
}

fuzz_target!(|data: &[u8]| {
    let decoded = decode_method(Bytes::copy_from_slice(data));
    let class_id = data.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    match &decoded {
        Err(MethodError::TooShort) => assert!(data.len() < 4),
        // Deeper than the limit: amq-protocol would recurse, which is what the check avoids.
        Err(MethodError::TooDeep { .. }) => return,
        _ => {}
    }
    let expected = reference(data);
    match (&decoded, &expected) {
        (Ok(Method::Other(ours)), Some(theirs)) => {
            assert_eq!(as_hot(theirs), None, "a hot method decoded as Other");
            let (ours_bytes, again) = reencode(ours);
            let (theirs_bytes, _) = reencode(theirs);
            assert_eq!(
                ours_bytes, theirs_bytes,
                "decoded differently from amq-protocol"
            );
            let Ok(Method::Other(again)) = again else {
                panic!("re-encoded method does not decode: {again:?}");
            };
            assert_eq!(reencode(&again).0, ours_bytes, "re-encoding is not stable");
        }
        (Ok(Method::Other(_)), None) => panic!("accepted what amq-protocol refuses"),
        (Ok(hot), Some(theirs)) => {
            let mut hot = hot.clone();
            if let Method::Qos { prefetch_size, .. } = &mut hot {
                *prefetch_size = 0;
            }
            assert_eq!(Some(hot), as_hot(theirs), "hot method disagrees");
        }
        (Ok(Method::Publish(p)), None) => {
            // amq-protocol insists on UTF-8 names; Warren passes names through as bytes.
            assert!(
                std::str::from_utf8(&p.exchange).is_err()
                    || std::str::from_utf8(&p.routing_key).is_err(),
                "publish accepted what amq-protocol refuses"
            );
        }
        (Ok(hot), None) => panic!("{hot:?} accepted what amq-protocol refuses"),
        (Err(e), Some(theirs)) => {
            panic!("refused ({e}) what amq-protocol decodes as {theirs:?}")
        }
        (Err(_), None) => {}
    }
    if let Ok(hot) = &decoded {
        assert!(matches!(hot, Method::Other(_)) || class_id == Some(CLASS_BASIC));
    }
});
