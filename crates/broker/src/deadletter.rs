//! Dead-lettering as RabbitMQ 3.10 does it (`rabbit_dead_letter`): the copy a dead message
//! becomes (its `x-death` history, `x-first-death-*`, no `expiration`), the routing keys it
//! is published with, and the cycle check that drops it rather than loop forever.
//! docs/rabbitmq-behaviour.md and the tests hold what RabbitMQ was seen to send.

use bytes::Bytes;
use warren_codec::content::{decode_properties, encode_properties, PropertiesView};
use warren_codec::protocol::basic::AMQPProperties;
use warren_codec::types::{AMQPValue, FieldArray, FieldTable, LongString, ShortString};
use warren_store::message::Message;

use crate::queue::DeathReason;

/// Where and why a message died.
#[derive(Debug, Clone, Copy)]
pub struct Death<'a> {
    /// The queue it died in.
    pub queue: &'a str,
    pub reason: DeathReason,
    /// The dead-letter exchange it goes to.
    pub exchange: &'a str,
    /// `x-dead-letter-routing-key`, replacing its routing keys (and its `CC` header).
    pub routing_key: Option<&'a str>,
    /// When, in seconds since the Unix epoch (x-death's `time`).
    pub time_s: u64,
}

/// The dead-lettered copy of `m`, ready to route from `death.exchange` (its routing key is
/// the dead-letter routing key or its own; `CC` keys stay in its headers and route too),
/// with its new x-death history (for the cycle check). None if its properties do not
/// decode (never for a message Warren accepted).
pub fn dead_letter_copy(m: &Message, death: &Death<'_>) -> Option<(Message, Vec<AMQPValue>)> {
    let props = decode_properties(m.properties()).ok()?;
    let mut headers = props.headers().clone().unwrap_or_default();
    let routing_key = m.routing_key();
    // How the message arrived: its routing key and CC keys (BCC ones were never kept).
    let mut arrived = vec![AMQPValue::LongString(LongString::from(
        routing_key.to_vec(),
    ))];
    arrived.extend(
        cc_keys(&headers)
            .into_iter()
            .map(|k| AMQPValue::LongString(LongString::from(k))),
    );
    let mut entry = FieldTable::default();
    entry.insert(ShortString::from("count"), AMQPValue::LongLongInt(1));
    entry.insert(
        ShortString::from("reason"),
        long_string(death.reason.as_str()),
    );
    entry.insert(ShortString::from("queue"), long_string(death.queue));
    entry.insert(
        ShortString::from("time"),
        AMQPValue::Timestamp(death.time_s),
    );
    entry.insert(
        ShortString::from("exchange"),
        AMQPValue::LongString(LongString::from(m.exchange().to_vec())),
    );
    entry.insert(
        ShortString::from("routing-keys"),
        AMQPValue::FieldArray(FieldArray::from(arrived)),
    );
    if let Some(expiration) = props.expiration() {
        entry.insert(
            ShortString::from("original-expiration"),
            AMQPValue::LongString(LongString::from(expiration.as_str())),
        );
    }
    let old = headers.inner().get("x-death").cloned();
    let history = match old {
        Some(AMQPValue::FieldArray(old)) => record_death(old.as_slice(), entry, death),
        // Not an array: start over, without touching x-first-death-*.
        Some(_) => vec![AMQPValue::FieldTable(entry)],
        None => {
            headers.insert(
                ShortString::from("x-first-death-reason"),
                long_string(death.reason.as_str()),
            );
            headers.insert(
                ShortString::from("x-first-death-queue"),
                long_string(death.queue),
            );
            headers.insert(
                ShortString::from("x-first-death-exchange"),
                AMQPValue::LongString(LongString::from(m.exchange().to_vec())),
            );
            vec![AMQPValue::FieldTable(entry)]
        }
    };
    headers.insert(
        ShortString::from("x-death"),
        AMQPValue::FieldArray(FieldArray::from(history.clone())),
    );
    let key = match death.routing_key {
        Some(k) => {
            let mut map = headers.inner().clone();
            map.remove("CC");
            headers = FieldTable::from(map);
            k.as_bytes()
        }
        None => routing_key,
    };
    let props = without_expiration(&props, headers);
    let raw: Bytes = encode_properties(&props);
    let view = PropertiesView::parse(&raw).ok()?;
    let copy = Message::new(death.exchange.as_bytes(), key, &raw, view, m.body());
    Some((copy, history))
}

/// `props` with `headers`, and without `expiration` (a dead letter does not expire again).
fn without_expiration(props: &AMQPProperties, headers: FieldTable) -> AMQPProperties {
    let mut out = AMQPProperties::default().with_headers(headers);
    if let Some(v) = props.content_type() {
        out = out.with_content_type(v.clone());
    }
    if let Some(v) = props.content_encoding() {
        out = out.with_content_encoding(v.clone());
    }
    if let Some(v) = props.delivery_mode() {
        out = out.with_delivery_mode(*v);
    }
    if let Some(v) = props.priority() {
        out = out.with_priority(*v);
    }
    if let Some(v) = props.correlation_id() {
        out = out.with_correlation_id(v.clone());
    }
    if let Some(v) = props.reply_to() {
        out = out.with_reply_to(v.clone());
    }
    if let Some(v) = props.message_id() {
        out = out.with_message_id(v.clone());
    }
    if let Some(v) = props.timestamp() {
        out = out.with_timestamp(*v);
    }
    if let Some(v) = props.kind() {
        out = out.with_type(v.clone());
    }
    if let Some(v) = props.user_id() {
        out = out.with_user_id(v.clone());
    }
    if let Some(v) = props.app_id() {
        out = out.with_app_id(v.clone());
    }
    if let Some(v) = props.cluster_id() {
        out = out.with_cluster_id(v.clone());
    }
    out
}

/// The new x-death array: the entry for this (queue, reason) moves to the front with its
/// count raised (its other fields kept from the first time), or the new entry goes first.
/// The rest follow in reverse when there were two or more, as RabbitMQ 3.10's regrouping
/// leaves them.
fn record_death(old: &[AMQPValue], entry: FieldTable, death: &Death<'_>) -> Vec<AMQPValue> {
    let mut others: Vec<AMQPValue> = Vec::with_capacity(old.len() + 1);
    let mut matched: Option<FieldTable> = None;
    // Legacy duplicates of one (queue, reason) fold into their first occurrence. A set: the
    // array comes from a publisher and may be long.
    let mut seen: std::collections::HashSet<(Vec<u8>, Vec<u8>)> = Default::default();
    for v in old {
        let AMQPValue::FieldTable(t) = v else {
            others.push(v.clone());
            continue;
        };
        let key = (text_of(t, "queue"), text_of(t, "reason"));
        if !seen.insert(key.clone()) {
            continue;
        }
        if matched.is_none()
            && key.0 == death.queue.as_bytes()
            && key.1 == death.reason.as_str().as_bytes()
        {
            matched = Some(t.clone());
        } else {
            others.push(v.clone());
        }
    }
    if old.len() >= 2 {
        others.reverse();
    }
    let head = match matched {
        Some(mut t) => {
            let count = t
                .inner()
                .get("count")
                .and_then(crate::util::int_value)
                .unwrap_or(0);
            t.insert(
                ShortString::from("count"),
                AMQPValue::LongLongInt(count.saturating_add(1)),
            );
            t
        }
        None => entry,
    };
    let mut out = Vec::with_capacity(others.len() + 1);
    out.push(AMQPValue::FieldTable(head));
    out.extend(others);
    out
}

/// Whether delivering a message whose (updated) x-death history is `deaths` to `queue`
/// would close a loop no client took part in: `queue` appears in the history and no death
/// up to its first appearance was a rejection. Rejections are never checked (a consumer
/// decided), as in RabbitMQ.
pub fn is_cycle(reason: DeathReason, deaths: &[AMQPValue], queue: &str) -> bool {
    if reason == DeathReason::Rejected {
        return false;
    }
    for d in deaths {
        let AMQPValue::FieldTable(t) = d else {
            return false;
        };
        if text_of(t, "reason") == b"rejected" {
            return false;
        }
        if text_of(t, "queue") == queue.as_bytes() {
            return true;
        }
    }
    false
}

/// The `CC` header's routing keys (string elements of an array; anything else routes
/// nowhere).
pub fn cc_keys(headers: &FieldTable) -> Vec<Vec<u8>> {
    header_keys(headers, "CC")
}

/// The routing keys listed in header `name` (`CC` or `BCC`).
pub fn header_keys(headers: &FieldTable, name: &str) -> Vec<Vec<u8>> {
    match headers.inner().get(name) {
        Some(AMQPValue::FieldArray(a)) => a
            .as_slice()
            .iter()
            .filter_map(|v| match v {
                AMQPValue::LongString(s) => Some(s.as_bytes().to_vec()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn text_of(t: &FieldTable, key: &str) -> Vec<u8> {
    match t.inner().get(key) {
        Some(AMQPValue::LongString(s)) => s.as_bytes().to_vec(),
        Some(AMQPValue::ShortString(s)) => s.as_str().as_bytes().to_vec(),
        _ => Vec::new(),
    }
}

fn long_string(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(exchange: &str, key: &str, props: AMQPProperties) -> Message {
        let raw = encode_properties(&props);
        let view = PropertiesView::parse(&raw).expect("properties");
        Message::new(exchange.as_bytes(), key.as_bytes(), &raw, view, b"body")
    }

    fn death<'a>(queue: &'a str, reason: DeathReason) -> Death<'a> {
        Death {
            queue,
            reason,
            exchange: "dlx",
            routing_key: None,
            time_s: 1_700_000_000,
        }
    }

    fn copy(m: &Message, d: &Death<'_>) -> Message {
        dead_letter_copy(m, d).expect("a dead-letter copy").0
    }

    fn headers(m: &Message) -> FieldTable {
        m.headers().expect("headers")
    }

    fn entry(h: &FieldTable, i: usize) -> FieldTable {
        match &deaths_of_table(h)[i] {
            AMQPValue::FieldTable(t) => t.clone(),
            other => panic!("not a table: {other:?}"),
        }
    }

    fn deaths_of_table(h: &FieldTable) -> Vec<AMQPValue> {
        match h.inner().get("x-death") {
            Some(AMQPValue::FieldArray(a)) => a.as_slice().to_vec(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn a_first_death_records_history_and_first_death_headers() {
        let props = AMQPProperties::default()
            .with_expiration(ShortString::from("60000"))
            .with_delivery_mode(2);
        let m = message("", "work", props);
        let copy = copy(&m, &death("work", DeathReason::Rejected));
        assert_eq!(copy.exchange(), b"dlx");
        assert_eq!(copy.routing_key(), b"work");
        assert!(copy.view.expiration.is_none() && copy.is_persistent());
        assert_eq!(copy.body(), b"body");
        let h = headers(&copy);
        let e = entry(&h, 0);
        assert_eq!(e.inner().get("count"), Some(&AMQPValue::LongLongInt(1)));
        assert_eq!(e.inner().get("reason"), Some(&long_string("rejected")));
        assert_eq!(e.inner().get("queue"), Some(&long_string("work")));
        assert_eq!(e.inner().get("exchange"), Some(&long_string("")));
        assert_eq!(
            e.inner().get("time"),
            Some(&AMQPValue::Timestamp(1_700_000_000))
        );
        assert_eq!(
            e.inner().get("original-expiration"),
            Some(&long_string("60000"))
        );
        assert_eq!(
            h.inner().get("x-first-death-queue"),
            Some(&long_string("work"))
        );
        assert_eq!(
            h.inner().get("x-first-death-reason"),
            Some(&long_string("rejected"))
        );
        assert_eq!(
            h.inner().get("x-first-death-exchange"),
            Some(&long_string(""))
        );
    }

    #[test]
    fn dying_again_in_the_same_queue_counts_and_moves_to_the_front() {
        let m = message("", "a", AMQPProperties::default());
        let once = copy(&m, &death("a", DeathReason::Expired));
        let twice = copy(&once, &death("b", DeathReason::Expired));
        let thrice = copy(&twice, &death("a", DeathReason::Expired));
        let h = headers(&thrice);
        let deaths = deaths_of_table(&h);
        assert_eq!(deaths.len(), 2);
        assert_eq!(entry(&h, 0).inner().get("queue"), Some(&long_string("a")));
        assert_eq!(
            entry(&h, 0).inner().get("count"),
            Some(&AMQPValue::LongLongInt(2))
        );
        assert_eq!(entry(&h, 1).inner().get("queue"), Some(&long_string("b")));
        // The first-death headers stay as first written.
        assert_eq!(
            h.inner().get("x-first-death-queue"),
            Some(&long_string("a"))
        );
    }

    #[test]
    fn legacy_duplicates_in_a_published_history_fold_into_one() {
        let entry = |queue: &str| {
            let mut t = FieldTable::default();
            t.insert(ShortString::from("queue"), long_string(queue));
            t.insert(ShortString::from("reason"), long_string("expired"));
            t.insert(ShortString::from("count"), AMQPValue::LongLongInt(1));
            AMQPValue::FieldTable(t)
        };
        let mut history: Vec<AMQPValue> = (0..5_000).map(|_| entry("old")).collect();
        history.push(entry("other"));
        let mut hs = FieldTable::default();
        hs.insert(
            ShortString::from("x-death"),
            AMQPValue::FieldArray(FieldArray::from(history)),
        );
        let m = message("", "q", AMQPProperties::default().with_headers(hs));
        let copy = copy(&m, &death("q", DeathReason::Expired));
        let queues: Vec<_> = deaths_of_table(&headers(&copy))
            .iter()
            .map(|d| match d {
                AMQPValue::FieldTable(t) => text_of(t, "queue"),
                _ => Vec::new(),
            })
            .collect();
        assert_eq!(queues, [b"q".to_vec(), b"other".to_vec(), b"old".to_vec()]);
    }

    #[test]
    fn a_dead_letter_routing_key_replaces_the_keys_and_drops_cc() {
        let mut hs = FieldTable::default();
        hs.insert(
            ShortString::from("CC"),
            AMQPValue::FieldArray(FieldArray::from(vec![long_string("c1")])),
        );
        let m = message("x", "k", AMQPProperties::default().with_headers(hs));
        let kept = copy(&m, &death("q", DeathReason::Maxlen));
        assert_eq!(cc_keys(&headers(&kept)), vec![b"c1".to_vec()]);
        let keys = match entry(&headers(&kept), 0).inner().get("routing-keys") {
            Some(AMQPValue::FieldArray(a)) => a.as_slice().to_vec(),
            other => panic!("{other:?}"),
        };
        assert_eq!(keys, vec![long_string("k"), long_string("c1")]);
        let d = Death {
            routing_key: Some("dead"),
            ..death("q", DeathReason::Maxlen)
        };
        let replaced = copy(&m, &d);
        assert_eq!(replaced.routing_key(), b"dead");
        assert!(headers(&replaced).inner().get("CC").is_none());
    }

    #[test]
    fn automatic_loops_are_cycles_but_rejections_break_them() {
        let m = message("", "a", AMQPProperties::default());
        let expired_in_a = copy(&m, &death("a", DeathReason::Expired));
        let deaths = deaths_of_table(&headers(&expired_in_a));
        assert!(is_cycle(DeathReason::Expired, &deaths, "a"));
        assert!(!is_cycle(DeathReason::Expired, &deaths, "b"));
        assert!(!is_cycle(DeathReason::Rejected, &deaths, "a"));
        let rejected_in_w = copy(&m, &death("w", DeathReason::Rejected));
        let then_expired = copy(&rejected_in_w, &death("r", DeathReason::Expired));
        // The retry pattern: W rejects, R expires back into W: not a cycle.
        assert!(!is_cycle(
            DeathReason::Expired,
            &deaths_of_table(&headers(&then_expired)),
            "w"
        ));
    }
}
