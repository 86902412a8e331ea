//! What a queue carries beyond a plain FIFO once its arguments, a policy or its messages ask
//! for it: message TTL, length limits, dead-lettering, queue expiry and single active
//! consumer. Plain queues have none of it (one `None` in their state), so their publish and
//! dispatch paths stay as they were.
//!
//! Messages that die (expired at the head, dropped for length, rejected) are collected here
//! under the queue lock and handed to the queue's janitor task, which dead-letters them
//! outside every lock (routing takes topology locks, which rank above queue locks).

use std::sync::Arc;

use super::backlog::{Backlog, QueuedMessage};
use super::consumer::Consumer;
use super::settings::{Overflow, QueueSettings};

/// Why a message left its queue for its dead-letter exchange (x-death's `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeathReason {
    Rejected,
    Expired,
    Maxlen,
}

impl DeathReason {
    pub const ALL: [DeathReason; 3] = [
        DeathReason::Rejected,
        DeathReason::Expired,
        DeathReason::Maxlen,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeathReason::Rejected => "rejected",
            DeathReason::Expired => "expired",
            DeathReason::Maxlen => "maxlen",
        }
    }
}

/// RabbitMQ's `dead_letter_strategy` label of its dead-letter counters: a classic queue's
/// message goes to an existing dead-letter exchange (`at_most_once`) or is dropped
/// (`disabled`: no dead-letter exchange, or it does not exist).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadLetterStrategy {
    Disabled,
    AtMostOnce,
}

/// Messages that died, by reason and strategy (`rabbitmq_global_messages_dead_lettered_*`):
/// counted under the queue lock or by the janitor per batch, never with a shared atomic per
/// message.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeadLetterCounts {
    counts: [[u64; 2]; 3],
}

impl DeadLetterCounts {
    pub fn note(&mut self, reason: DeathReason, strategy: DeadLetterStrategy, n: u64) {
        self.counts[reason as usize][strategy as usize] += n;
    }

    pub fn get(&self, reason: DeathReason, strategy: DeadLetterStrategy) -> u64 {
        self.counts[reason as usize][strategy as usize]
    }

    pub fn add(&mut self, other: &DeadLetterCounts) {
        for (mine, theirs) in self
            .counts
            .iter_mut()
            .flatten()
            .zip(other.counts.iter().flatten())
        {
            *mine += theirs;
        }
    }

    pub fn is_zero(&self) -> bool {
        self.counts.iter().flatten().all(|n| *n == 0)
    }

    /// Each (reason, strategy) with its count.
    pub fn each(&self) -> impl Iterator<Item = (DeathReason, DeadLetterStrategy, u64)> + '_ {
        DeathReason::ALL.into_iter().flat_map(move |r| {
            [DeadLetterStrategy::Disabled, DeadLetterStrategy::AtMostOnce]
                .into_iter()
                .map(move |s| (r, s, self.get(r, s)))
        })
    }
}

/// Wall-clock milliseconds since the Unix epoch (TTL deadlines and x-death times): the
/// store's clock, which stamps persistent records' publish times.
pub use warren_store::now_ms;

/// The longest TTL or expiry RabbitMQ accepts: ten years, in ms.
pub(crate) const EXPIRY_MAX_MS: i64 = 315_360_000_000;

/// A message's `expiration` property as RabbitMQ reads it (`rabbit_basic:parse_expiration`):
/// an optional sign and decimal digits, nothing else, 0 to ten years. The error is the
/// text after "invalid expiration '…': " in RabbitMQ's channel error.
pub fn parse_expiration(raw: &[u8]) -> Result<u64, String> {
    let (sign, digits) = match raw.first() {
        Some(b'+') => (1i64, &raw[1..]),
        Some(b'-') => (-1, &raw[1..]),
        _ => (1, raw),
    };
    let end = digits
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len());
    if end == 0 {
        return Err("no_integer".into());
    }
    if end < digits.len() {
        return Err(format!(
            "{{leftover_string,\"{}\"}}",
            String::from_utf8_lossy(&digits[end..])
        ));
    }
    // Digits only: too many for an i64 is simply too large.
    let magnitude = std::str::from_utf8(&digits[..end])
        .ok()
        .and_then(|d| d.parse::<i64>().ok())
        .unwrap_or(i64::MAX);
    let n = sign * magnitude;
    if n < 0 {
        return Err(format!("{{value_negative,{n}}}"));
    }
    if n > EXPIRY_MAX_MS {
        return Err(format!("{{value_too_large,{n}}}"));
    }
    Ok(n.unsigned_abs())
}

#[derive(Debug, Default)]
pub(super) struct Features {
    pub settings: Arc<QueueSettings>,
    /// Messages waiting for the janitor to dead-letter them.
    pub dead: std::collections::VecDeque<(QueuedMessage, DeathReason)>,
    /// How many the janitor took and is still dead-lettering.
    pub dead_in_flight: usize,
    /// The deadline the janitor last armed its timer for (ms); u64::MAX: none.
    pub armed_ms: u64,
    /// When the queue was last used (x-expires: consumers gone, basic.get, redeclare).
    pub last_used_ms: u64,
    /// Single active consumer: the one that receives (None: pick one at the next attach).
    pub active: Option<Arc<Consumer>>,
    /// Messages dropped for want of a dead-letter exchange, not yet moved to the broker's
    /// totals.
    pub dropped: DeadLetterCounts,
}

impl Features {
    pub fn new(settings: Arc<QueueSettings>) -> Self {
        Features {
            settings,
            dead: std::collections::VecDeque::new(),
            dead_in_flight: 0,
            armed_ms: u64::MAX,
            last_used_ms: now_ms(),
            active: None,
            dropped: DeadLetterCounts::default(),
        }
    }

    /// Whether the queue needs its janitor (timers or dead letters).
    pub fn needs_janitor(&self) -> bool {
        let s = &self.settings;
        s.message_ttl_ms.is_some() || s.expires_ms.is_some() || self.dead_letters()
    }

    /// Dead letters not yet routed (waiting, or being dead-lettered by the janitor).
    pub fn dead_backlog(&self) -> usize {
        self.dead.len() + self.dead_in_flight
    }

    /// Whether dying messages go to a dead-letter exchange (else they are dropped).
    pub fn dead_letters(&self) -> bool {
        self.settings.dead_letter_exchange.is_some()
    }

    /// Hand a dying message on: kept for the janitor if there is a dead-letter exchange,
    /// dropped otherwise. Returns true when the janitor must be woken.
    pub fn bury(&mut self, m: QueuedMessage, reason: DeathReason) -> bool {
        if self.dead_letters() {
            self.dead.push_back((m, reason));
            true
        } else {
            self.dropped.note(reason, DeadLetterStrategy::Disabled, 1);
            false
        }
    }

    /// The deadline a message enqueued now gets: the smaller of the queue's TTL and the
    /// message's own expiration, from now (0: none).
    pub fn deadline_ms(&self, message_ttl_ms: Option<u64>, now_ms: u64) -> u64 {
        let ttl = match (self.settings.message_ttl_ms, message_ttl_ms) {
            (Some(q), Some(m)) => q.min(m),
            (q, m) => match q.or(m) {
                Some(t) => t,
                None => return 0,
            },
        };
        // A deadline of `now` still counts: 0 is reserved for "never".
        now_ms.saturating_add(ttl).max(1)
    }

    /// Whether one more message of `size_bytes` would break a length limit.
    pub fn would_overflow(&self, backlog: &Backlog, size_bytes: u64) -> bool {
        let s = &self.settings;
        s.max_length
            .is_some_and(|max| backlog.len() as u64 + 1 > max)
            || s.max_length_bytes
                .is_some_and(|max| backlog.bytes().total + size_bytes > max)
    }

    /// Whether the backlog is over a length limit now.
    pub fn over_limit(&self, backlog: &Backlog) -> bool {
        let s = &self.settings;
        s.max_length.is_some_and(|max| backlog.len() as u64 > max)
            || s.max_length_bytes
                .is_some_and(|max| backlog.bytes().total > max)
    }

    /// Drop-head: remove the oldest ready messages while over a limit. Returns true when
    /// the janitor must be woken.
    pub fn trim(&mut self, backlog: &mut Backlog) -> bool {
        let mut wake = false;
        if self.settings.overflow != Overflow::DropHead {
            return false;
        }
        while self.over_limit(backlog) {
            let Some(m) = backlog.pop_front() else { break };
            wake |= self.bury(m, DeathReason::Maxlen);
        }
        wake
    }

    /// Expire messages at the head whose deadline has passed (only the head: a short TTL
    /// behind a longer one waits, as in RabbitMQ). Returns true when the janitor must be
    /// woken, either for dead letters or because the new head's deadline is earlier than
    /// the timer it armed.
    pub fn expire_head(&mut self, backlog: &mut Backlog, now_ms: &mut Option<u64>) -> bool {
        let mut wake = false;
        while let Some(head) = backlog.front() {
            if head.expires_at_ms == 0 {
                break;
            }
            let now = *now_ms.get_or_insert_with(self::now_ms);
            if head.expires_at_ms > now {
                wake |= head.expires_at_ms < self.armed_ms;
                break;
            }
            let Some(m) = backlog.pop_front() else { break };
            wake |= self.bury(m, DeathReason::Expired);
        }
        wake
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smaller_ttl_sets_the_deadline() {
        let f = Features::new(Arc::new(QueueSettings {
            message_ttl_ms: Some(1000),
            ..QueueSettings::default()
        }));
        assert_eq!(f.deadline_ms(None, 5000), 6000);
        assert_eq!(f.deadline_ms(Some(10), 5000), 5010);
        assert_eq!(f.deadline_ms(Some(0), 5000), 5000);
        let plain = Features::new(Arc::default());
        assert_eq!(plain.deadline_ms(None, 5000), 0);
        assert_eq!(plain.deadline_ms(Some(7), 5000), 5007);
    }

    #[test]
    fn expirations_parse_as_rabbitmq_parses_them() {
        assert_eq!(parse_expiration(b"10"), Ok(10));
        assert_eq!(parse_expiration(b"+10"), Ok(10));
        assert_eq!(parse_expiration(b"007"), Ok(7));
        assert_eq!(parse_expiration(b"-0"), Ok(0));
        assert_eq!(parse_expiration(b"-1").unwrap_err(), "{value_negative,-1}");
        assert_eq!(parse_expiration(b"").unwrap_err(), "no_integer");
        assert_eq!(parse_expiration(b" 10").unwrap_err(), "no_integer");
        assert_eq!(parse_expiration(b"abc").unwrap_err(), "no_integer");
        assert_eq!(
            parse_expiration(b"10abc").unwrap_err(),
            "{leftover_string,\"abc\"}"
        );
        assert_eq!(
            parse_expiration(b"1.5").unwrap_err(),
            "{leftover_string,\".5\"}"
        );
        assert_eq!(
            parse_expiration(b"315360000001").unwrap_err(),
            "{value_too_large,315360000001}"
        );
        assert_eq!(parse_expiration(b"315360000000"), Ok(315_360_000_000));
        assert!(parse_expiration(b"99999999999999999999999").is_err());
    }

    #[test]
    fn reasons_read_as_rabbitmq_writes_them() {
        let all = [
            DeathReason::Rejected,
            DeathReason::Expired,
            DeathReason::Maxlen,
        ];
        assert_eq!(
            all.map(DeathReason::as_str),
            ["rejected", "expired", "maxlen"]
        );
    }
}
