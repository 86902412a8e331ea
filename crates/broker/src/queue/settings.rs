//! A queue's effective settings: its x-arguments merged with the policy that applies to it,
//! by RabbitMQ's rules (`rabbit_amqqueue_process:process_args_policy/1`): of two limits
//! (`expires`, `message-ttl`, `max-length`, `max-length-bytes`, `consumer-timeout`) the
//! smaller wins; for the rest (`dead-letter-exchange`, `dead-letter-routing-key`, `overflow`,
//! `queue-mode`) the argument wins over the policy. Priorities and single active consumer
//! come from arguments only.

use std::sync::Arc;

use serde_json::{Map, Value};
use warren_codec::types::{AMQPValue, FieldTable};

use super::args::text;
use crate::util::int_value;

/// What a full queue does with one more message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Overflow {
    /// Drop (dead-letter) the oldest ready messages to make room.
    #[default]
    DropHead,
    /// Refuse the new message: `basic.nack` to a confirming publisher.
    RejectPublish,
    /// Refuse it and dead-letter it.
    RejectPublishDlx,
}

impl Overflow {
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "drop-head" => Overflow::DropHead,
            "reject-publish" => Overflow::RejectPublish,
            "reject-publish-dlx" => Overflow::RejectPublishDlx,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueSettings {
    pub message_ttl_ms: Option<u64>,
    pub expires_ms: Option<u64>,
    pub max_length: Option<u64>,
    pub max_length_bytes: Option<u64>,
    pub overflow: Overflow,
    pub dead_letter_exchange: Option<Arc<str>>,
    pub dead_letter_routing_key: Option<Arc<str>>,
    /// `x-max-priority`: priorities 0..=max are kept apart (None: one FIFO).
    pub max_priority: Option<u8>,
    pub single_active_consumer: bool,
    /// Per queue (`x-consumer-timeout` / policy `consumer-timeout`); the broker-wide
    /// `consumer_timeout` applies when None.
    pub consumer_timeout_ms: Option<u64>,
    /// `lazy`: only the head of the queue is kept in memory.
    pub lazy: bool,
}

impl QueueSettings {
    /// The settings of a queue declared with `args`, under a policy whose (effective)
    /// definition is `policy`. Arguments were validated at declare; values of the wrong type
    /// are ignored here.
    pub fn resolve(args: &FieldTable, policy: &Map<String, Value>) -> Self {
        let arg = |key: &str| args.inner().get(key);
        let arg_u64 = |key: &str| arg(key).and_then(int_value).and_then(non_negative);
        let arg_text = |key: &str| arg(key).and_then(text);
        let pol_u64 = |key: &str| policy.get(key).and_then(Value::as_u64);
        let pol_text = |key: &str| policy.get(key).and_then(Value::as_str).map(str::to_owned);
        let smaller = |a: Option<u64>, p: Option<u64>| match (a, p) {
            (Some(a), Some(p)) => Some(a.min(p)),
            (a, p) => a.or(p),
        };
        let overflow = arg_text("x-overflow")
            .or_else(|| pol_text("overflow"))
            .and_then(|t| Overflow::parse(&t))
            .unwrap_or_default();
        let lazy = arg_text("x-queue-mode")
            .or_else(|| pol_text("queue-mode"))
            .is_some_and(|m| m == "lazy");
        QueueSettings {
            message_ttl_ms: smaller(arg_u64("x-message-ttl"), pol_u64("message-ttl")),
            // Zero is refused for x-expires at declare; a policy cannot set it either.
            expires_ms: smaller(arg_u64("x-expires"), pol_u64("expires")).filter(|&ms| ms > 0),
            max_length: smaller(arg_u64("x-max-length"), pol_u64("max-length")),
            max_length_bytes: smaller(arg_u64("x-max-length-bytes"), pol_u64("max-length-bytes")),
            overflow,
            dead_letter_exchange: arg_text("x-dead-letter-exchange")
                .or_else(|| pol_text("dead-letter-exchange"))
                .map(Arc::from),
            dead_letter_routing_key: arg_text("x-dead-letter-routing-key")
                .or_else(|| pol_text("dead-letter-routing-key"))
                .map(Arc::from),
            max_priority: arg_u64("x-max-priority")
                .filter(|&p| p > 0)
                .map(|p| u8::try_from(p).unwrap_or(u8::MAX)),
            single_active_consumer: matches!(
                arg("x-single-active-consumer"),
                Some(AMQPValue::Boolean(true))
            ),
            consumer_timeout_ms: smaller(
                arg_u64("x-consumer-timeout"),
                pol_u64("consumer-timeout"),
            ),
            lazy,
        }
    }

    /// Whether a message may be refused or dropped for want of room.
    pub fn is_bounded(&self) -> bool {
        self.max_length.is_some() || self.max_length_bytes.is_some()
    }
}

fn non_negative(n: i64) -> Option<u64> {
    u64::try_from(n).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use warren_codec::types::{LongString, ShortString};

    fn args(pairs: &[(&str, AMQPValue)]) -> FieldTable {
        let mut t = FieldTable::default();
        for (k, v) in pairs {
            t.insert(ShortString::from(*k), v.clone());
        }
        t
    }

    fn policy(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    fn long(s: &str) -> AMQPValue {
        AMQPValue::LongString(LongString::from(s))
    }

    #[test]
    fn limits_take_the_smaller_of_argument_and_policy() {
        let a = args(&[
            ("x-message-ttl", AMQPValue::LongInt(5000)),
            ("x-max-length", AMQPValue::ShortShortUInt(10)),
            ("x-expires", AMQPValue::LongLongInt(100)),
        ]);
        let p = policy(json!({"message-ttl": 1000, "max-length": 50, "max-length-bytes": 4096}));
        let s = QueueSettings::resolve(&a, &p);
        assert_eq!(s.message_ttl_ms, Some(1000));
        assert_eq!(s.max_length, Some(10));
        assert_eq!(s.max_length_bytes, Some(4096));
        assert_eq!(s.expires_ms, Some(100));
    }

    #[test]
    fn the_argument_wins_for_dead_lettering_overflow_and_mode() {
        let a = args(&[
            ("x-dead-letter-exchange", long("from-arg")),
            ("x-overflow", long("reject-publish")),
        ]);
        let p = policy(json!({
            "dead-letter-exchange": "from-policy",
            "dead-letter-routing-key": "rk",
            "overflow": "reject-publish-dlx",
            "queue-mode": "lazy",
        }));
        let s = QueueSettings::resolve(&a, &p);
        assert_eq!(s.dead_letter_exchange.as_deref(), Some("from-arg"));
        assert_eq!(s.dead_letter_routing_key.as_deref(), Some("rk"));
        assert_eq!(s.overflow, Overflow::RejectPublish);
        assert!(s.lazy);
    }

    #[test]
    fn priorities_and_single_active_consumer_come_from_arguments() {
        let a = args(&[
            ("x-max-priority", AMQPValue::ShortShortUInt(10)),
            ("x-single-active-consumer", AMQPValue::Boolean(true)),
        ]);
        let s = QueueSettings::resolve(&a, &Map::new());
        assert_eq!(s.max_priority, Some(10));
        assert!(s.single_active_consumer);
        let plain = QueueSettings::resolve(&FieldTable::default(), &Map::new());
        assert_eq!(plain, QueueSettings::default());
        assert!(!plain.is_bounded());
        let zero = args(&[("x-max-priority", AMQPValue::ShortShortUInt(0))]);
        assert_eq!(
            QueueSettings::resolve(&zero, &Map::new()).max_priority,
            None
        );
    }
}
