//! URL path components as RabbitMQ's API writes them (vhost "/" is `%2F`).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};

/// What encodeURIComponent leaves alone: letters, digits and `-_.!~*'()`.
pub const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

pub fn encode(component: &str) -> String {
    percent_encoding::utf8_percent_encode(component, COMPONENT).to_string()
}

/// The exchange a path names: `amq.default` is the default exchange "".
pub fn exchange_name(name: &str) -> &str {
    if name == "amq.default" {
        ""
    } else {
        name
    }
}
