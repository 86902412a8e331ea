//! Queue, exchange and binding `arguments` and message `headers` between JSON and AMQP field
//! tables, as RabbitMQ 3.10's management plugin converts them, and rabbitmqctl's rendering.
//!
//! JSON → table (`rabbit_misc:to_amqp_table/1`, for `PUT /api/queues`, bindings, exchanges,
//! publish headers, definitions imports; captured on a 3.10.8 node):
//!
//! | JSON | AMQP type |
//! |---|---|
//! | integer | long (`l`, signed 64-bit) |
//! | number with a fraction or exponent | double (`d`) |
//! | string | longstr (`S`) |
//! | `true` / `false` | bool (`t`) |
//! | array | array (`A`), elements converted the same way |
//! | object | table (`F`), keys in byte order |
//! | `null` | refused: reason `null_not_allowed` (400) |
//!
//! Table → JSON (`rabbit_misc:amqp_table/1`, for GET responses, `/get` message headers and
//! definitions exports):
//!
//! | AMQP type | JSON |
//! |---|---|
//! | every integer type, timestamp | number |
//! | float, double | number (a float's double value: `1.100000023841858`) |
//! | decimal (scale, value) | the number `scale.value`, RabbitMQ's own formula: scale 2 value 12345 → `2.12345` |
//! | longstr, byte array | string if UTF-8, else `"Not UTF-8, base64 is: ..."` (lines of 76) |
//! | bool | `true` / `false` |
//! | void | the string `"undefined"` |
//! | array / table | array / object |
//!
//! Differences from RabbitMQ: integers beyond signed 64 bits are refused (RabbitMQ keeps Erlang
//! bignums it could never send); tables keep keys in byte order (amq-protocol's tables are
//! sorted maps; RabbitMQ keeps wire order, which shows in rabbitmqctl's listing but not in
//! JSON, whose objects are sorted either way up to 32 keys); NaN and infinities (which
//! RabbitMQ's table parser refuses) become `null`. Floats are [`serde_json::Value`] numbers:
//! serde_json writes `1e20` where RabbitMQ writes `1.0e20`.
//!
//! Nesting is limited to [`NESTING_DEPTH_MAX`] containers (the codec's bound for tables from
//! the wire), so recursion is bounded whatever the input.

mod cli;
mod to_json;
mod to_table;

pub use cli::{render_cli_table, CliRenderError};
pub use to_json::{amqp_value_to_json, table_to_json};
pub use to_table::{json_to_amqp_value, json_to_table};

pub use warren_codec::table::NESTING_DEPTH_MAX;

/// Why JSON cannot become a field table, or a table JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonArgsError {
    /// A JSON `null` anywhere: RabbitMQ's reason is exactly `null_not_allowed`.
    #[error("null_not_allowed")]
    NullNotAllowed,
    /// `arguments` is not an object (nor `[]`, which RabbitMQ takes as empty). RabbitMQ crashes
    /// on this: 400 with an Erlang stack trace as reason, or 500.
    #[error("arguments must be a JSON object")]
    NotAnObject,
    /// An integer outside signed 64 bits: no AMQP type holds it.
    #[error("integer {0} does not fit a signed 64-bit long")]
    IntegerOutOfRange(String),
    /// A key longer than a short string's 255 bytes.
    #[error("field name of {length} bytes is longer than 255 bytes")]
    KeyTooLong { length: usize },
    /// More than [`NESTING_DEPTH_MAX`] nested tables and arrays.
    #[error("arguments nested deeper than {NESTING_DEPTH_MAX} levels")]
    TooDeep,
}
