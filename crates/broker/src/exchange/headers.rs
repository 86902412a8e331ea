//! Headers routing: x-match all / any / all-with-x / any-with-x against the message headers.

use warren_codec::types::{AMQPValue, FieldTable};

use super::Destination;
use warren_model::ControlError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MatchKind {
    All,
    Any,
    AllWithX,
    AnyWithX,
}

#[derive(Debug)]
struct HeadersBinding {
    kind: MatchKind,
    /// Binding arguments that take part in matching (x-* keys only for the -with-x kinds).
    args: Vec<(String, AMQPValue)>,
    arguments: FieldTable,
    destination: Destination,
}

#[derive(Debug, Default)]
pub struct HeadersRoutes {
    bindings: Vec<HeadersBinding>,
}

/// Check a binding's x-match argument as RabbitMQ does at bind time.
pub fn validate(arguments: &FieldTable) -> Result<(), ControlError> {
    match_kind(arguments).map(|_| ())
}

fn match_kind(arguments: &FieldTable) -> Result<MatchKind, ControlError> {
    let Some(value) = arguments.inner().get("x-match") else {
        return Ok(MatchKind::All);
    };
    let text = match value {
        AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        AMQPValue::ShortString(s) => s.as_str().to_owned(),
        other => format!("{other:?}"),
    };
    match text.as_str() {
        "all" => Ok(MatchKind::All),
        "any" => Ok(MatchKind::Any),
        "all-with-x" => Ok(MatchKind::AllWithX),
        "any-with-x" => Ok(MatchKind::AnyWithX),
        _ => Err(ControlError::precondition_failed(format!(
            "Invalid x-match field value <<\"{text}\">>; expected all, any, all-with-x, or any-with-x"
        ))),
    }
}

impl HeadersRoutes {
    pub fn bind(&mut self, arguments: &FieldTable, destination: Destination) {
        let kind = match_kind(arguments).unwrap_or(MatchKind::All);
        let with_x = matches!(kind, MatchKind::AllWithX | MatchKind::AnyWithX);
        let args = arguments
            .inner()
            .iter()
            .filter(|(k, _)| k.as_str() != "x-match" && (with_x || !k.as_str().starts_with("x-")))
            .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
            .collect();
        self.bindings.push(HeadersBinding {
            kind,
            args,
            arguments: arguments.clone(),
            destination,
        });
    }

    pub fn unbind(&mut self, arguments: &FieldTable, destination: &Destination) {
        if let Some(i) = self
            .bindings
            .iter()
            .position(|b| &b.destination == destination && &b.arguments == arguments)
        {
            self.bindings.remove(i);
        }
    }

    pub fn route(&self, headers: Option<&FieldTable>, out: &mut Vec<Destination>) {
        let empty = FieldTable::default();
        let headers = headers.unwrap_or(&empty);
        for b in &self.bindings {
            if matches(b, headers) {
                out.push(b.destination.clone());
            }
        }
    }
}

fn matches(b: &HeadersBinding, headers: &FieldTable) -> bool {
    let hit = |(k, v): &(String, AMQPValue)| match headers.inner().get(k.as_str()) {
        // A void binding value matches on presence alone (RabbitMQ's rule).
        Some(actual) => matches!(v, AMQPValue::Void) || values_equal(v, actual),
        None => false,
    };
    match b.kind {
        MatchKind::All | MatchKind::AllWithX => b.args.iter().all(hit),
        MatchKind::Any | MatchKind::AnyWithX => b.args.iter().any(hit),
    }
}

/// Equality as Erlang's `==` sees AMQP values: numbers by value whatever their width,
/// strings by bytes whether short or long.
fn values_equal(a: &AMQPValue, b: &AMQPValue) -> bool {
    match (as_number(a), as_number(b)) {
        (Some(x), Some(y)) => return x == y,
        (Some(_), None) | (None, Some(_)) => return false,
        _ => {}
    }
    match (as_bytes(a), as_bytes(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn as_number(v: &AMQPValue) -> Option<f64> {
    Some(match v {
        AMQPValue::ShortShortInt(n) => f64::from(*n),
        AMQPValue::ShortShortUInt(n) => f64::from(*n),
        AMQPValue::ShortInt(n) => f64::from(*n),
        AMQPValue::ShortUInt(n) => f64::from(*n),
        AMQPValue::LongInt(n) => f64::from(*n),
        AMQPValue::LongUInt(n) => f64::from(*n),
        AMQPValue::LongLongInt(n) => *n as f64,
        AMQPValue::Float(n) => f64::from(*n),
        AMQPValue::Double(n) => *n,
        AMQPValue::Timestamp(n) => *n as f64,
        _ => return None,
    })
}

fn as_bytes(v: &AMQPValue) -> Option<&[u8]> {
    match v {
        AMQPValue::LongString(s) => Some(s.as_bytes()),
        AMQPValue::ShortString(s) => Some(s.as_str().as_bytes()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn table(pairs: &[(&str, AMQPValue)]) -> FieldTable {
        let mut t = FieldTable::default();
        for (k, v) in pairs {
            t.insert((*k).into(), v.clone());
        }
        t
    }

    fn s(v: &str) -> AMQPValue {
        AMQPValue::LongString(v.into())
    }

    fn routed(r: &HeadersRoutes, headers: &FieldTable) -> usize {
        let mut out = Vec::new();
        r.route(Some(headers), &mut out);
        out.len()
    }

    #[test]
    fn all_and_any() {
        let mut r = HeadersRoutes::default();
        let dest = Destination::Exchange(Arc::from("d"));
        r.bind(
            &table(&[("x-match", s("all")), ("a", s("1")), ("b", s("2"))]),
            dest.clone(),
        );
        assert_eq!(
            routed(&r, &table(&[("a", s("1")), ("b", s("2")), ("c", s("3"))])),
            1
        );
        assert_eq!(routed(&r, &table(&[("a", s("1"))])), 0);
        let mut any = HeadersRoutes::default();
        any.bind(
            &table(&[("x-match", s("any")), ("a", s("1")), ("b", s("2"))]),
            dest,
        );
        assert_eq!(routed(&any, &table(&[("a", s("1"))])), 1);
        assert_eq!(routed(&any, &table(&[("a", s("9"))])), 0);
    }

    #[test]
    fn x_keys_only_count_with_x_kinds_and_numbers_compare_by_value() {
        let dest = Destination::Exchange(Arc::from("d"));
        let mut r = HeadersRoutes::default();
        r.bind(
            &table(&[("x-match", s("all")), ("x-k", s("v"))]),
            dest.clone(),
        );
        assert_eq!(
            routed(&r, &FieldTable::default()),
            1,
            "all of nothing matches"
        );
        let mut rx = HeadersRoutes::default();
        rx.bind(
            &table(&[("x-match", s("any-with-x")), ("x-k", s("v"))]),
            dest.clone(),
        );
        assert_eq!(routed(&rx, &FieldTable::default()), 0);
        assert_eq!(routed(&rx, &table(&[("x-k", s("v"))])), 1);
        let mut n = HeadersRoutes::default();
        n.bind(&table(&[("n", AMQPValue::LongInt(5))]), dest);
        assert_eq!(
            routed(&n, &table(&[("n", AMQPValue::ShortShortUInt(5))])),
            1
        );
        assert_eq!(routed(&n, &table(&[("n", s("5"))])), 0);
    }

    #[test]
    fn bad_x_match_is_refused() {
        assert!(validate(&table(&[("x-match", s("some"))])).is_err());
        assert!(validate(&table(&[("x-match", s("any-with-x"))])).is_ok());
    }
}
