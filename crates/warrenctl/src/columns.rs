//! rabbitmqctl's column names per listing, their defaults, and where each one is in the API's JSON.

use serde_json::Value;

use crate::cell::Cell;
use crate::error::CtlError;

/// Where a rabbitmqctl column's value comes from in one API list item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A top-level field.
    Field(&'static str),
    /// `outer.inner` (e.g. a consumer's `channel_details.name`).
    Nested(&'static str, &'static str),
    /// The same text for every row (a binding's `source_kind`).
    Constant(&'static str),
}

/// How the value is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Render {
    Plain,
    Arguments,
    Names,
    JsonText,
    IpAddress,
    Protocol,
    ClusterState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub source: Source,
    pub render: Render,
}

/// One rabbitmqctl listing: its columns in rabbitmqctl's info-key order and its defaults.
#[derive(Debug, Clone, Copy)]
pub struct Listing {
    pub verb: &'static str,
    pub all: &'static [Column],
    pub default: &'static [&'static str],
    /// list_consumers prints requested columns in its own order, not in the order asked.
    pub keeps_canonical_order: bool,
}

const fn plain(name: &'static str) -> Column {
    Column {
        name,
        source: Source::Field(name),
        render: Render::Plain,
    }
}

const fn field(name: &'static str, api_field: &'static str, render: Render) -> Column {
    Column {
        name,
        source: Source::Field(api_field),
        render,
    }
}

const fn nested(name: &'static str, outer: &'static str, inner: &'static str) -> Column {
    Column {
        name,
        source: Source::Nested(outer, inner),
        render: Render::Plain,
    }
}

pub const QUEUES: Listing = Listing {
    verb: "list_queues",
    all: &[
        plain("name"),
        plain("durable"),
        plain("auto_delete"),
        field("arguments", "arguments", Render::Arguments),
        plain("policy"),
        // No pids in the API: a queue has none to show; an exclusive queue's owner is its
        // connection, shown by name.
        plain("pid"),
        nested("owner_pid", "owner_pid_details", "name"),
        plain("exclusive"),
        plain("exclusive_consumer_pid"),
        plain("exclusive_consumer_tag"),
        plain("messages_ready"),
        plain("messages_unacknowledged"),
        plain("messages"),
        plain("messages_ready_ram"),
        plain("messages_unacknowledged_ram"),
        plain("messages_ram"),
        plain("messages_persistent"),
        plain("message_bytes"),
        plain("message_bytes_ready"),
        plain("message_bytes_unacknowledged"),
        plain("message_bytes_ram"),
        plain("message_bytes_persistent"),
        plain("head_message_timestamp"),
        plain("disk_reads"),
        plain("disk_writes"),
        plain("consumers"),
        plain("consumer_utilisation"),
        plain("consumer_capacity"),
        plain("memory"),
        field("slave_pids", "slave_nodes", Render::Names),
        field(
            "synchronised_slave_pids",
            "synchronised_slave_nodes",
            Render::Names,
        ),
        plain("state"),
        plain("type"),
        plain("leader"),
        field("members", "members", Render::Names),
        field("online", "online", Render::Names),
    ],
    default: &["name", "messages"],
    keeps_canonical_order: false,
};

pub const EXCHANGES: Listing = Listing {
    verb: "list_exchanges",
    all: &[
        plain("name"),
        plain("type"),
        plain("durable"),
        plain("auto_delete"),
        plain("internal"),
        field("arguments", "arguments", Render::Arguments),
        plain("policy"),
    ],
    default: &["name", "type"],
    keeps_canonical_order: false,
};

pub const BINDINGS: Listing = Listing {
    verb: "list_bindings",
    all: &[
        field("source_name", "source", Render::Plain),
        Column {
            name: "source_kind",
            source: Source::Constant("exchange"),
            render: Render::Plain,
        },
        field("destination_name", "destination", Render::Plain),
        field("destination_kind", "destination_type", Render::Plain),
        plain("routing_key"),
        field("arguments", "arguments", Render::Arguments),
    ],
    default: &[
        "source_name",
        "source_kind",
        "destination_name",
        "destination_kind",
        "routing_key",
        "arguments",
    ],
    keeps_canonical_order: false,
};

pub const CONNECTIONS: Listing = Listing {
    verb: "list_connections",
    all: &[
        // No pids in the API: the connection's name identifies it (close_connection takes it).
        field("pid", "name", Render::Plain),
        plain("name"),
        plain("port"),
        field("host", "host", Render::IpAddress),
        plain("peer_port"),
        field("peer_host", "peer_host", Render::IpAddress),
        plain("ssl"),
        plain("ssl_protocol"),
        plain("ssl_key_exchange"),
        plain("ssl_cipher"),
        plain("ssl_hash"),
        plain("peer_cert_subject"),
        plain("peer_cert_issuer"),
        plain("peer_cert_validity"),
        plain("state"),
        plain("channels"),
        field("protocol", "protocol", Render::Protocol),
        plain("auth_mechanism"),
        plain("user"),
        plain("vhost"),
        plain("timeout"),
        plain("frame_max"),
        plain("channel_max"),
        field("client_properties", "client_properties", Render::Arguments),
        plain("recv_oct"),
        plain("recv_cnt"),
        plain("send_oct"),
        plain("send_cnt"),
        plain("send_pend"),
        plain("connected_at"),
    ],
    default: &["user", "peer_host", "peer_port", "state"],
    keeps_canonical_order: false,
};

pub const CHANNELS: Listing = Listing {
    verb: "list_channels",
    all: &[
        // No pids in the API: the channel's name (`<connection name> (N)`) identifies it.
        field("pid", "name", Render::Plain),
        nested("connection", "connection_details", "name"),
        plain("name"),
        plain("number"),
        plain("user"),
        plain("vhost"),
        plain("transactional"),
        plain("confirm"),
        plain("consumer_count"),
        plain("messages_unacknowledged"),
        plain("messages_uncommitted"),
        plain("acks_uncommitted"),
        plain("messages_unconfirmed"),
        plain("prefetch_count"),
        plain("global_prefetch_count"),
    ],
    default: &["pid", "user", "consumer_count", "messages_unacknowledged"],
    keeps_canonical_order: false,
};

pub const CONSUMERS: Listing = Listing {
    verb: "list_consumers",
    all: &[
        nested("queue_name", "queue", "name"),
        // No pids in the API: the consumer's channel is shown by its name.
        nested("channel_pid", "channel_details", "name"),
        plain("consumer_tag"),
        plain("ack_required"),
        plain("prefetch_count"),
        plain("active"),
        plain("activity_status"),
        field("arguments", "arguments", Render::Arguments),
    ],
    default: &[
        "queue_name",
        "channel_pid",
        "consumer_tag",
        "ack_required",
        "prefetch_count",
        "active",
        "arguments",
    ],
    keeps_canonical_order: true,
};

pub const VHOSTS: Listing = Listing {
    verb: "list_vhosts",
    all: &[
        plain("name"),
        plain("description"),
        field("tags", "tags", Render::Names),
        plain("tracing"),
        field("cluster_state", "cluster_state", Render::ClusterState),
        plain("default_queue_type"),
    ],
    default: &["name"],
    keeps_canonical_order: false,
};

pub const USERS: Listing = Listing {
    verb: "list_users",
    all: &[
        field("user", "name", Render::Plain),
        field("tags", "tags", Render::Names),
    ],
    default: &["user", "tags"],
    keeps_canonical_order: false,
};

pub const VHOST_PERMISSIONS: Listing = Listing {
    verb: "list_permissions",
    all: &[
        plain("user"),
        plain("configure"),
        plain("write"),
        plain("read"),
    ],
    default: &["user", "configure", "write", "read"],
    keeps_canonical_order: false,
};

pub const USER_PERMISSIONS: Listing = Listing {
    verb: "list_user_permissions",
    all: &[
        plain("vhost"),
        plain("configure"),
        plain("write"),
        plain("read"),
    ],
    default: &["vhost", "configure", "write", "read"],
    keeps_canonical_order: false,
};

pub const POLICIES: Listing = Listing {
    verb: "list_policies",
    all: &[
        plain("vhost"),
        plain("name"),
        plain("pattern"),
        plain("apply-to"),
        field("definition", "definition", Render::JsonText),
        plain("priority"),
    ],
    default: &[
        "vhost",
        "name",
        "pattern",
        "apply-to",
        "definition",
        "priority",
    ],
    keeps_canonical_order: false,
};

impl Listing {
    /// The columns to print for what the user asked (`[]` = the defaults). rabbitmqctl also
    /// accepts `name,messages` as one argument. Unknown names are a usage error, as in
    /// rabbitmqctl: `Info key(s) bogus,other are not supported`.
    pub fn select(&self, requested: &[String]) -> Result<Vec<Column>, CtlError> {
        let names: Vec<&str> = requested
            .iter()
            .flat_map(|r| r.split(','))
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .collect();
        let names: Vec<&str> = if names.is_empty() {
            self.default.to_vec()
        } else {
            names
        };
        let unknown: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| !self.all.iter().any(|c| c.name == *n))
            .collect();
        if !unknown.is_empty() {
            return Err(CtlError::Usage {
                message: format!(
                    "Error (argument validation): Info key(s) {} are not supported",
                    unknown.join(",")
                ),
                usage: Some(format!(
                    "Usage: warrenctl {} [<column> ...] where <column> is one of: {}",
                    self.verb,
                    self.all
                        .iter()
                        .map(|c| c.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            });
        }
        let by_name = |name: &str| self.all.iter().copied().find(|c| c.name == name);
        if self.keeps_canonical_order {
            Ok(self
                .all
                .iter()
                .copied()
                .filter(|c| names.contains(&c.name))
                .collect())
        } else {
            Ok(names.into_iter().filter_map(by_name).collect())
        }
    }

    /// The `columns=` query value that trims the API's answer to what these columns need.
    pub fn api_columns(columns: &[Column]) -> String {
        let mut fields: Vec<&str> = Vec::new();
        for column in columns {
            let field = match column.source {
                Source::Field(f) | Source::Nested(f, _) => f,
                Source::Constant(_) => continue,
            };
            if !fields.contains(&field) {
                fields.push(field);
            }
        }
        fields.join(",")
    }
}

/// The cell for `column` in one API list item.
pub fn extract(column: &Column, item: &Value) -> Cell {
    let value = match column.source {
        Source::Field(f) => item.get(f),
        Source::Nested(outer, inner) => item.get(outer).and_then(|o| o.get(inner)),
        Source::Constant(text) => return Cell::Text(text.to_string()),
    };
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Cell::Absent;
    };
    match (column.render, value) {
        (Render::Arguments, Value::Object(map)) => Cell::Arguments(map.clone()),
        // Empty AMQP tables sometimes come as `[]` from the API.
        (Render::Arguments, Value::Array(items)) if items.is_empty() => {
            Cell::Arguments(serde_json::Map::new())
        }
        (Render::Names, Value::String(text)) => Cell::Names(split_tags(text)),
        (Render::JsonText, _) => Cell::JsonText(value.clone()),
        (Render::IpAddress, Value::String(text)) => Cell::IpAddress(text.clone()),
        (Render::Protocol, Value::String(text)) => Cell::Protocol(text.clone()),
        (Render::ClusterState, Value::Object(map)) => Cell::ClusterState(map.clone()),
        _ => Cell::from_json(value),
    }
}

/// Older management APIs give user tags as `"a,b"`, 3.10 as `["a","b"]`.
fn split_tags(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names(columns: &[Column]) -> Vec<&'static str> {
        columns.iter().map(|c| c.name).collect()
    }

    #[test]
    fn defaults_are_rabbitmqctls() {
        assert_eq!(
            names(&QUEUES.select(&[]).expect("ok")),
            ["name", "messages"]
        );
        assert_eq!(names(&EXCHANGES.select(&[]).expect("ok")), ["name", "type"]);
        assert_eq!(
            names(&CONNECTIONS.select(&[]).expect("ok")),
            ["user", "peer_host", "peer_port", "state"]
        );
        assert_eq!(
            names(&CHANNELS.select(&[]).expect("ok")),
            ["pid", "user", "consumer_count", "messages_unacknowledged"]
        );
    }

    #[test]
    fn requested_columns_keep_the_order_asked_and_accept_commas() {
        let asked = vec!["messages".to_string(), "name,durable".to_string()];
        assert_eq!(
            names(&QUEUES.select(&asked).expect("ok")),
            ["messages", "name", "durable"]
        );
    }

    #[test]
    fn list_consumers_reorders_requested_columns_like_rabbitmqctl() {
        let asked = vec!["consumer_tag".to_string(), "queue_name".to_string()];
        assert_eq!(
            names(&CONSUMERS.select(&asked).expect("ok")),
            ["queue_name", "consumer_tag"]
        );
    }

    #[test]
    fn unknown_columns_are_a_usage_error_naming_all_of_them() {
        let asked = vec!["name".into(), "bogus".into(), "other".into()];
        let error = QUEUES.select(&asked).expect_err("unknown");
        assert_eq!(error.exit_code() as u8, 64);
        assert!(
            error.stderr_text().starts_with(
                "Error (argument validation): Info key(s) bogus,other are not supported\n"
            ),
            "{}",
            error.stderr_text()
        );
    }

    #[test]
    fn api_field_names_differ_where_rabbitmqctl_renamed_them() {
        let binding = json!({"source": "ex", "destination": "q", "destination_type": "queue",
                             "routing_key": "a.#", "arguments": {}});
        let row: Vec<String> = BINDINGS
            .all
            .iter()
            .map(|c| extract(c, &binding).to_table_text())
            .collect();
        assert_eq!(row, ["ex", "exchange", "q", "queue", "a.#", "[]"]);

        let consumer = json!({"queue": {"name": "q1", "vhost": "/"},
                              "channel_details": {"name": "127.0.0.1:1 -> 127.0.0.1:5672 (1)"}});
        assert_eq!(extract(&CONSUMERS.all[0], &consumer).to_table_text(), "q1");
        assert_eq!(
            extract(&CONSUMERS.all[1], &consumer).to_table_text(),
            "127.0.0.1:1 -> 127.0.0.1:5672 (1)"
        );

        let user = json!({"name": "bob", "tags": "management,monitoring"});
        let tags = extract(&USERS.all[1], &user);
        assert_eq!(tags.to_table_text(), "[management, monitoring]");
    }

    #[test]
    fn missing_and_null_fields_render_empty() {
        let queue = json!({"name": "q", "policy": null});
        let policy = QUEUES
            .all
            .iter()
            .find(|c| c.name == "policy")
            .expect("policy");
        assert_eq!(extract(policy, &queue), Cell::Absent);
        let leader = QUEUES
            .all
            .iter()
            .find(|c| c.name == "leader")
            .expect("leader");
        assert_eq!(extract(leader, &queue), Cell::Absent);
    }

    #[test]
    fn api_columns_query_lists_each_needed_field_once() {
        let columns = CHANNELS.select(&["pid".into(), "name".into(), "connection".into()]);
        assert_eq!(
            Listing::api_columns(&columns.expect("ok")),
            "name,connection_details"
        );
    }
}
