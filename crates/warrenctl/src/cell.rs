//! One value of a listing row, rendered as rabbitmqctl 3.10 renders it in table and JSON mode.
//!
//! Erlang-specific renderings not copied:
//! - pids (`<rabbit@host.1.2.3>`, JSON `"#PID<…>"`): the management API exposes no pids, so pid
//!   columns show the object's API name instead (see `columns`).
//! - AMQP field types: the API gives JSON values without their AMQP type, so JSON-mode
//!   arguments guess it from the JSON value (integer `long`, string `longstr`, float `double`,
//!   boolean `bool`, object `table`, array `array`); a consumer's `x-priority` declared as
//!   `signedint` shows as `long`.

use serde_json::{Map, Number, Value};

#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// No value (API field missing or null): empty in both modes, as rabbitmqctl's `""`.
    Absent,
    Text(String),
    Number(Number),
    Bool(bool),
    /// AMQP table (queue/exchange/binding/consumer arguments, client properties):
    /// table `[{"k",v}]`, JSON `[["k","type",v]]`.
    Arguments(Map<String, Value>),
    /// List of names (user tags, nodes): table `[a, b]`, JSON `["a","b"]`.
    Names(Vec<String>),
    /// A JSON document shown as text (policy definition): table compact JSON, JSON a string.
    JsonText(Value),
    /// An IP address: table as is, JSON as rabbitmqctl's tuple-as-list (`[127,0,0,1]`).
    IpAddress(String),
    /// `AMQP 0-9-1`: table `{0,9,1}`, JSON `[0,9,1]`.
    Protocol(String),
    /// Vhost cluster state `{"node":"running"}`: table `[{node, running}]`.
    ClusterState(Map<String, Value>),
}

impl Cell {
    pub fn to_table_text(&self) -> String {
        match self {
            Cell::Absent => String::new(),
            Cell::Text(text) => text.clone(),
            Cell::Number(number) => number.to_string(),
            Cell::Bool(flag) => flag.to_string(),
            Cell::Arguments(map) => erlang_table(map),
            Cell::Names(names) => format!("[{}]", names.join(", ")),
            Cell::JsonText(value) => value.to_string(),
            Cell::IpAddress(address) => address.clone(),
            Cell::Protocol(name) => match protocol_version(name) {
                Some(parts) => format!(
                    "{{{}}}",
                    parts
                        .iter()
                        .map(u8::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                ),
                None => name.clone(),
            },
            Cell::ClusterState(map) => {
                let pairs: Vec<String> = map
                    .iter()
                    .map(|(node, state)| format!("{{{node}, {}}}", plain_text(state)))
                    .collect();
                format!("[{}]", pairs.join(", "))
            }
        }
    }

    pub fn to_json(&self) -> Value {
        match self {
            Cell::Absent => Value::String(String::new()),
            Cell::Text(text) => Value::String(text.clone()),
            Cell::Number(number) => Value::Number(number.clone()),
            Cell::Bool(flag) => Value::Bool(*flag),
            Cell::Arguments(map) => typed_table(map),
            Cell::Names(names) => Value::Array(names.iter().cloned().map(Value::String).collect()),
            Cell::JsonText(value) => Value::String(value.to_string()),
            Cell::IpAddress(address) => ip_as_list(address),
            Cell::Protocol(name) => match protocol_version(name) {
                Some(parts) => Value::Array(parts.iter().map(|p| Value::from(*p)).collect()),
                None => Value::String(name.clone()),
            },
            Cell::ClusterState(map) => Value::Object(map.clone()),
        }
    }

    /// The natural cell for a plain JSON value.
    pub fn from_json(value: &Value) -> Cell {
        match value {
            Value::Null => Cell::Absent,
            Value::Bool(flag) => Cell::Bool(*flag),
            Value::Number(number) => Cell::Number(number.clone()),
            Value::String(text) => Cell::Text(text.clone()),
            Value::Array(items) => Cell::Names(items.iter().map(plain_text).collect()),
            Value::Object(_) => Cell::JsonText(value.clone()),
        }
    }
}

/// A JSON scalar as bare text (strings without quotes).
pub fn plain_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// rabbitmqctl's table rendering of an AMQP table: `[{"x-max-length",10},{"x-dlx","dlx"}]`.
fn erlang_table(map: &Map<String, Value>) -> String {
    let pairs: Vec<String> = map
        .iter()
        .map(|(key, value)| format!("{{{},{}}}", erlang_string(key), erlang_value(value)))
        .collect();
    format!("[{}]", pairs.join(","))
}

fn erlang_value(value: &Value) -> String {
    match value {
        Value::String(text) => erlang_string(text),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(erlang_value).collect::<Vec<_>>().join(",")
        ),
        Value::Object(map) => erlang_table(map),
        Value::Null => "undefined".to_string(),
        other => other.to_string(),
    }
}

fn erlang_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// rabbitmqctl's JSON rendering of an AMQP table: `[["x-max-length","long",10]]`.
fn typed_table(map: &Map<String, Value>) -> Value {
    Value::Array(
        map.iter()
            .map(|(key, value)| {
                let (amqp_type, rendered) = typed_value(value);
                Value::Array(vec![
                    Value::String(key.clone()),
                    Value::from(amqp_type),
                    rendered,
                ])
            })
            .collect(),
    )
}

fn typed_value(value: &Value) -> (&'static str, Value) {
    match value {
        Value::String(_) => ("longstr", value.clone()),
        Value::Bool(_) => ("bool", value.clone()),
        Value::Number(number) if number.is_f64() => ("double", value.clone()),
        Value::Number(_) => ("long", value.clone()),
        Value::Object(map) => ("table", typed_table(map)),
        // rabbitmqctl 3.10 renders an array argument as an object keyed by element type
        // (`{"long":1,"longstr":"a"}`, later elements of the same type win); copied as is.
        Value::Array(items) => {
            let mut by_type = Map::new();
            for item in items {
                let (amqp_type, rendered) = typed_value(item);
                by_type.insert(amqp_type.to_string(), rendered);
            }
            ("array", Value::Object(by_type))
        }
        Value::Null => ("void", Value::Null),
    }
}

fn ip_as_list(address: &str) -> Value {
    if let Ok(v4) = address.parse::<std::net::Ipv4Addr>() {
        return Value::Array(v4.octets().iter().map(|o| Value::from(*o)).collect());
    }
    if let Ok(v6) = address.parse::<std::net::Ipv6Addr>() {
        return Value::Array(v6.segments().iter().map(|s| Value::from(*s)).collect());
    }
    Value::String(address.to_string())
}

fn protocol_version(name: &str) -> Option<[u8; 3]> {
    match name {
        "AMQP 0-9-1" => Some([0, 9, 1]),
        "AMQP 0-9" => Some([0, 9, 0]),
        "AMQP 0-8" => Some([0, 8, 0]),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn queue_arguments_render_like_rabbitmqctl_in_both_modes() {
        let args = Cell::Arguments(map(json!({
            "x-dead-letter-exchange": "dlx", "x-max-length": 10, "x-single-active-consumer": false
        })));
        assert_eq!(
            args.to_table_text(),
            r#"[{"x-dead-letter-exchange","dlx"},{"x-max-length",10},{"x-single-active-consumer",false}]"#
        );
        assert_eq!(
            args.to_json().to_string(),
            r#"[["x-dead-letter-exchange","longstr","dlx"],["x-max-length","long",10],["x-single-active-consumer","bool",false]]"#
        );
        assert_eq!(Cell::Arguments(Map::new()).to_table_text(), "[]");
    }

    #[test]
    fn nested_binding_arguments_match_the_captured_rabbitmqctl_output() {
        let args = Cell::Arguments(map(json!({
            "x-b": true, "x-f": 1.5, "x-l": [1, "a"], "x-n": 1, "x-s": "v", "x-t": {"k": "v"}
        })));
        assert_eq!(
            args.to_table_text(),
            r#"[{"x-b",true},{"x-f",1.5},{"x-l",[1,"a"]},{"x-n",1},{"x-s","v"},{"x-t",[{"k","v"}]}]"#
        );
        assert_eq!(
            args.to_json().to_string(),
            r#"[["x-b","bool",true],["x-f","double",1.5],["x-l","array",{"long":1,"longstr":"a"}],["x-n","long",1],["x-s","longstr","v"],["x-t","table",[["k","longstr","v"]]]]"#
        );
    }

    #[test]
    fn tags_nodes_booleans_and_missing_values() {
        let tags = Cell::Names(vec!["management".into(), "monitoring".into()]);
        assert_eq!(tags.to_table_text(), "[management, monitoring]");
        assert_eq!(tags.to_json(), json!(["management", "monitoring"]));
        assert_eq!(Cell::Names(vec![]).to_table_text(), "[]");
        assert_eq!(Cell::Bool(false).to_table_text(), "false");
        assert_eq!(Cell::Absent.to_table_text(), "");
        assert_eq!(Cell::Absent.to_json(), json!(""));
    }

    #[test]
    fn connection_peer_and_protocol_render_as_erlang_tuples_in_json() {
        assert_eq!(
            Cell::IpAddress("127.0.0.1".into()).to_table_text(),
            "127.0.0.1"
        );
        assert_eq!(
            Cell::IpAddress("127.0.0.1".into()).to_json(),
            json!([127, 0, 0, 1])
        );
        assert_eq!(
            Cell::IpAddress("::1".into()).to_json(),
            json!([0, 0, 0, 0, 0, 0, 0, 1])
        );
        assert_eq!(
            Cell::Protocol("AMQP 0-9-1".into()).to_table_text(),
            "{0,9,1}"
        );
        assert_eq!(
            Cell::Protocol("AMQP 0-9-1".into()).to_json(),
            json!([0, 9, 1])
        );
    }

    #[test]
    fn policy_definition_is_compact_json_text_and_a_json_string() {
        let definition = Cell::JsonText(json!({"max-length": 5, "ha-mode": "all"}));
        assert_eq!(
            definition.to_table_text(),
            r#"{"ha-mode":"all","max-length":5}"#
        );
        assert_eq!(
            definition.to_json(),
            json!(r#"{"ha-mode":"all","max-length":5}"#)
        );
    }

    #[test]
    fn vhost_cluster_state_is_a_tuple_list() {
        let state = Cell::ClusterState(map(json!({"rabbit@h": "running"})));
        assert_eq!(state.to_table_text(), "[{rabbit@h, running}]");
        assert_eq!(state.to_json(), json!({"rabbit@h": "running"}));
    }
}
