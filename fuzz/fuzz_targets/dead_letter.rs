//! Dead-lettering on arbitrary message headers: a publisher chooses a message's headers,
//! including an `x-death` history, `CC` keys and `x-first-death-*`, and Warren rewrites them
//! when the message dies. Whatever they hold, the copy must carry a well-formed history
//! whose head is this death, drop `expiration` (and `CC` when a dead-letter routing key
//! replaces the keys), and dying again in the same queue for the same reason must raise that
//! entry's count without growing the history; the cycle check must see the loop.
//!
//! Input: a reason byte, a flags byte (bit 0: a dead-letter routing key, bit 1: the message
//! has an `expiration`), then a field table used as the message's headers.
#![no_main]

use amq_protocol::protocol::basic::AMQPProperties;
use amq_protocol::types::{AMQPValue, FieldTable, ShortString};
use libfuzzer_sys::fuzz_target;
use warren_broker::deadletter::{dead_letter_copy, is_cycle, Death};
use warren_broker::queue::DeathReason;
use warren_codec::content::{
    decode_properties, decode_table, encode_properties, encode_table, PropertiesView,
};
use warren_codec::table::check_table;
use warren_store::message::Message;

const QUEUE: &str = "q.dead";

fn text(t: &FieldTable, key: &str) -> Option<Vec<u8>> {
    match t.inner().get(key)? {
        AMQPValue::LongString(s) => Some(s.as_bytes().to_vec()),
        _ => None,
    }
}

/// The copy's headers and its x-death history, checked for what every copy must have.
fn check_copy(copy: &Message, death: &Death<'_>) -> (FieldTable, Vec<AMQPValue>) {
    assert_eq!(copy.exchange(), death.exchange.as_bytes());
    if let Some(k) = death.routing_key {
        assert_eq!(copy.routing_key(), k.as_bytes());
    }
    let props = decode_properties(copy.properties()).expect("a copy's properties decode");
    assert!(
        props.expiration().is_none(),
        "a dead letter keeps no expiration"
    );
    let headers = props.headers().clone().expect("a copy has headers");
    if death.routing_key.is_some() {
        assert!(
            !headers.inner().contains_key("CC"),
            "CC kept with a dead-letter key"
        );
    }
    let Some(AMQPValue::FieldArray(history)) = headers.inner().get("x-death") else {
        panic!("x-death is not an array");
    };
    let history = history.as_slice().to_vec();
    let Some(AMQPValue::FieldTable(head)) = history.first() else {
        panic!("x-death's first entry is not a table");
    };
    assert_eq!(text(head, "queue").as_deref(), Some(QUEUE.as_bytes()));
    assert_eq!(
        text(head, "reason").as_deref(),
        Some(death.reason.as_str().as_bytes())
    );
    (headers, history)
}

fn encode_array(items: &[AMQPValue]) -> Vec<u8> {
    let mut t = FieldTable::default();
    t.insert(
        ShortString::from("a"),
        AMQPValue::FieldArray(items.to_vec().into()),
    );
    encode_table(&t)
}

fn count_of(history: &[AMQPValue]) -> Option<i64> {
    match history.first()? {
        AMQPValue::FieldTable(t) => match t.inner().get("count")? {
            AMQPValue::LongLongInt(n) => Some(*n),
            _ => None,
        },
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let [reason, flags, table @ ..] = data else {
        return;
    };
    let Ok(len) = check_table(table) else {
        return;
    };
    let Ok(headers) = decode_table(&table[..len]) else {
        return;
    };
    let reason = match reason % 3 {
        0 => DeathReason::Rejected,
        1 => DeathReason::Expired,
        _ => DeathReason::Maxlen,
    };
    let mut props = AMQPProperties::default()
        .with_headers(headers)
        .with_delivery_mode(2);
    if flags & 2 != 0 {
        props = props.with_expiration(ShortString::from("60000"));
    }
    let raw = encode_properties(&props);
    let Ok(view) = PropertiesView::parse(&raw) else {
        return;
    };
    let message = Message::new(b"ex.in", b"key.in", &raw, view, b"body");
    let death = Death {
        queue: QUEUE,
        reason,
        exchange: "dlx",
        routing_key: (flags & 1 != 0).then_some("key.dead"),
        time_s: 1_700_000_000,
    };

    let (copy, history) = dead_letter_copy(&message, &death).expect("a valid message dead-letters");
    let (_, in_headers) = check_copy(&copy, &death);
    // Compared encoded: a history may hold a NaN, which is not equal to itself.
    assert_eq!(
        encode_array(&history),
        encode_array(&in_headers),
        "the history returned is the one written"
    );
    assert_eq!(copy.body(), b"body");
    assert_eq!(
        is_cycle(reason, &history, QUEUE),
        reason != DeathReason::Rejected,
        "a second death in the same queue is a loop unless a consumer rejected it"
    );

    // Dying again in the same queue for the same reason: one entry, counted once more.
    let (again, history_again) = dead_letter_copy(&copy, &death).expect("a copy dead-letters");
    check_copy(&again, &death);
    assert_eq!(
        history_again.len(),
        history.len(),
        "the history grew on a repeat death"
    );
    if let (Some(before), Some(after)) = (count_of(&history), count_of(&history_again)) {
        assert_eq!(after, before.saturating_add(1));
    }
});
