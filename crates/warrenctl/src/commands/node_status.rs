//! status, environment and report, in rabbitmqctl 3.10's layout as far as the API has the data.
//!
//! Sources: /api/overview, /api/nodes/{node}?memory=true, /api/vhosts, /api/nodes,
//! /api/feature-flags, the listings, /api/global-parameters and /api/parameters.
//! Lines whose data the API does not give are left out: OS, crypto library, enabled plugin
//! file, Raft data directory, maintenance status, the relative memory watermark, and from the
//! report the node's command line arguments and environment variables.

use serde_json::{json, Map, Value};

use super::{listings, permissions, policies, Context};
use crate::banners::timeout_line;
use crate::cell::{plain_text, Cell};
use crate::columns;
use crate::error::CtlError;
use crate::mgmt_url::encode_segment;
use crate::output::{Body, CommandOutput, EmptyListing, Table};

/// What /api/overview and /api/nodes/{node} say about the node warrenctl talks to.
struct NodeFacts {
    overview: Value,
    node: Value,
    vhost_names: Vec<String>,
}

impl NodeFacts {
    fn fetch(ctx: &Context<'_>) -> Result<Self, CtlError> {
        let api = ctx.api;
        let overview = api.get("/overview").map_err(|e| api.general_error(e))?;
        let name = text(&overview, "node");
        let node = api
            .get(&format!("/nodes/{}?memory=true", encode_segment(&name)))
            .map_err(|e| api.general_error(e))?;
        let vhost_names = api
            .get_array("/vhosts?columns=name")
            .map_err(|e| api.general_error(e))?
            .iter()
            .map(|v| text(v, "name"))
            .collect();
        Ok(NodeFacts {
            overview,
            node,
            vhost_names,
        })
    }

    fn name(&self) -> String {
        text(&self.overview, "node")
    }
}

pub fn status(ctx: &Context<'_>) -> Result<CommandOutput, CtlError> {
    let facts = NodeFacts::fetch(ctx)?;
    Ok(status_output(&facts))
}

fn status_output(facts: &NodeFacts) -> CommandOutput {
    CommandOutput {
        banner: vec![format!("Status of node {} ...", facts.name())],
        body: Body::Document {
            text: status_text(facts),
            json: status_json(facts),
        },
    }
}

pub fn environment(ctx: &Context<'_>) -> Result<CommandOutput, CtlError> {
    let facts = NodeFacts::fetch(ctx)?;
    Ok(environment_output(&facts))
}

pub fn report(ctx: &Context<'_>) -> Result<CommandOutput, CtlError> {
    let facts = NodeFacts::fetch(ctx)?;
    let name = facts.name();
    let mut sections = vec![
        CommandOutput {
            banner: vec![format!("Reporting server status of node {name} ...")],
            body: Body::Done { info: vec![] },
        },
        status_output(&facts),
        cluster_status(ctx, &facts)?,
        environment_output(&facts),
        with_banner(
            "Listing connections ...",
            listings::connections(ctx, &all(columns::CONNECTIONS))?,
        ),
        with_banner(
            "Listing channels ...",
            listings::channels(ctx, &all(columns::CHANNELS))?,
        ),
    ];
    for vhost in &facts.vhost_names {
        match vhost_sections(ctx, vhost) {
            Ok(list) => sections.extend(list),
            // Deleted while the report ran: it is simply not part of the report.
            Err(CtlError::VhostNotFound(_)) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(CommandOutput::body(Body::Sections(sections)))
}

/// The report's sections for one vhost.
fn vhost_sections(ctx: &Context<'_>, vhost: &str) -> Result<Vec<CommandOutput>, CtlError> {
    let scoped = Context {
        api: ctx.api,
        vhost,
        timeout_seconds: ctx.timeout_seconds,
    };
    let mut queues = listings::queues(&scoped, &all(columns::QUEUES))?;
    queues.banner = vec![
        timeout_line(ctx.timeout_seconds),
        format!("Listing queues for vhost {vhost} ..."),
    ];
    Ok(vec![
        queues,
        with_banner(
            &format!("Listing exchanges for vhost {vhost} ..."),
            listings::exchanges(&scoped, &all(columns::EXCHANGES))?,
        ),
        with_banner(
            &format!("Listing bindings for vhost {vhost}..."),
            listings::bindings(&scoped, &[])?,
        ),
        with_banner(
            &format!("Listing permissions for vhost \"{vhost}\" ..."),
            permissions::list_for_vhost(&scoped)?,
        ),
        with_banner(
            &format!("Listing policies for vhost \"{vhost}\" ..."),
            policies::list(&scoped)?,
        ),
        with_banner(
            "Listing global runtime parameters ...",
            global_parameters(ctx)?,
        ),
        with_banner(
            &format!("Listing runtime parameters for vhost \"{vhost}\" ..."),
            vhost_parameters(ctx, vhost)?,
        ),
    ])
}

fn all(listing: columns::Listing) -> Vec<String> {
    listing.all.iter().map(|c| c.name.to_string()).collect()
}

fn with_banner(line: &str, mut output: CommandOutput) -> CommandOutput {
    output.banner = vec![line.to_string()];
    output
}

fn global_parameters(ctx: &Context<'_>) -> Result<CommandOutput, CtlError> {
    let rows = ctx
        .api
        .get_array("/global-parameters")
        .map_err(|e| ctx.api.general_error(e))?;
    Ok(parameter_table(&["name", "value"], &rows))
}

fn vhost_parameters(ctx: &Context<'_>, vhost: &str) -> Result<CommandOutput, CtlError> {
    let rows: Vec<Value> = ctx
        .api
        .get_array("/parameters")
        .map_err(|e| ctx.api.general_error(e))?
        .into_iter()
        .filter(|p| p.get("vhost").and_then(Value::as_str) == Some(vhost))
        .collect();
    Ok(parameter_table(&["component", "name", "value"], &rows))
}

/// Parameter values print as JSON text (`"rabbitmq-cluster-id-…"` keeps its quotes).
fn parameter_table(names: &[&'static str], rows: &[Value]) -> CommandOutput {
    CommandOutput::body(Body::Table(Table {
        columns: names.to_vec(),
        rows: rows
            .iter()
            .map(|row| {
                names
                    .iter()
                    .map(|n| match (n, row.get(*n)) {
                        (&"value", Some(value)) => Cell::JsonText(value.clone()),
                        (_, Some(value)) => Cell::from_json(value),
                        (_, None) => Cell::Absent,
                    })
                    .collect()
            })
            .collect(),
        empty: EmptyListing::BlankLine,
    }))
}

fn cluster_status(ctx: &Context<'_>, facts: &NodeFacts) -> Result<CommandOutput, CtlError> {
    let nodes = ctx
        .api
        .get_array("/nodes?columns=name,type,running,partitions,mem_alarm,disk_free_alarm")
        .map_err(|e| ctx.api.general_error(e))?;
    // Feature flags are a 3.8+ endpoint; a node without it just has no such section.
    let feature_flags = ctx.api.get_array("/feature-flags").unwrap_or_default();
    let overview = &facts.overview;
    let names_where = |keep: &dyn Fn(&Value) -> bool| -> Vec<String> {
        nodes
            .iter()
            .filter(|n| keep(n))
            .map(|n| text(n, "name"))
            .collect()
    };
    let mut sections = vec![
        section(
            "Basics",
            vec![format!("Cluster name: {}", text(overview, "cluster_name"))],
        ),
        section("Disk Nodes", names_where(&|n| text(n, "type") == "disc")),
    ];
    let ram_nodes = names_where(&|n| text(n, "type") == "ram");
    if !ram_nodes.is_empty() {
        sections.push(section("RAM Nodes", ram_nodes));
    }
    sections.push(section(
        "Running Nodes",
        names_where(&|n| n.get("running") == Some(&Value::Bool(true))),
    ));
    sections.push(section(
        "Versions",
        names_where(&|n| n.get("running") == Some(&Value::Bool(true)))
            .into_iter()
            .map(|n| {
                format!(
                    "{n}: RabbitMQ {} on Erlang {}",
                    text(overview, "rabbitmq_version"),
                    text(overview, "erlang_version")
                )
            })
            .collect(),
    ));
    sections.push(section(
        "Alarms",
        or_none(nodes.iter().flat_map(alarms).collect()),
    ));
    sections.push(section(
        "Network Partitions",
        or_none(
            nodes
                .iter()
                .filter_map(|n| {
                    let peers = strings(n, "partitions");
                    (!peers.is_empty()).then(|| {
                        format!(
                            "Node {} cannot communicate with {}",
                            text(n, "name"),
                            peers.join(", ")
                        )
                    })
                })
                .collect(),
        ),
    ));
    sections.push(section(
        "Listeners",
        listeners(overview)
            .iter()
            .map(|l| {
                format!(
                    "Node: {}, interface: {}, port: {}, protocol: {}, purpose: {}",
                    l.node, l.interface, l.port, l.protocol, l.purpose
                )
            })
            .collect(),
    ));
    if !feature_flags.is_empty() {
        sections.push(section(
            "Feature flags",
            feature_flags
                .iter()
                .map(|f| format!("Flag: {}, state: {}", text(f, "name"), text(f, "state")))
                .collect(),
        ));
    }
    Ok(CommandOutput {
        banner: vec![format!("Cluster status of node {} ...", facts.name())],
        body: Body::Document {
            text: sections.join("\n"),
            json: json!({
                "cluster_name": overview.get("cluster_name"),
                "disk_nodes": names_where(&|n| text(n, "type") == "disc"),
                "running_nodes": names_where(&|n| n.get("running") == Some(&Value::Bool(true))),
                "feature_flags": feature_flags,
            }),
        },
    })
}

/// A bold heading, an empty line, the lines (rabbitmqctl's section layout).
fn section(title: &str, lines: Vec<String>) -> String {
    let mut out = format!("\x1b[1m{title}\x1b[0m\n\n");
    for line in lines {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn or_none(lines: Vec<String>) -> Vec<String> {
    if lines.is_empty() {
        vec!["(none)".to_string()]
    } else {
        lines
    }
}

fn alarms(node: &Value) -> Vec<String> {
    let name = text(node, "name");
    let mut lines = Vec::new();
    if node.get("disk_free_alarm") == Some(&Value::Bool(true)) {
        lines.push(format!("Free disk space alarm on node {name}"));
    }
    if node.get("mem_alarm") == Some(&Value::Bool(true)) {
        lines.push(format!("Memory alarm on node {name}"));
    }
    lines
}

fn status_text(facts: &NodeFacts) -> String {
    let (overview, node) = (&facts.overview, &facts.node);
    let mut runtime = Vec::new();
    let mut line = |label: &str, value: Option<String>| {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            runtime.push(format!("{label}: {value}"));
        }
    };
    line("OS PID", field_text(node, "os_pid"));
    line(
        "Uptime (seconds)",
        node.get("uptime")
            .and_then(Value::as_u64)
            .map(|ms| (ms / 1000).to_string()),
    );
    line("RabbitMQ version", field_text(overview, "rabbitmq_version"));
    line(
        "RabbitMQ release series support status",
        field_text(overview, "release_series_support_status"),
    );
    line("Node name", field_text(node, "name"));
    line(
        "Erlang configuration",
        field_text(overview, "erlang_full_version"),
    );
    line(
        "Erlang processes",
        Some(format!(
            "{} used, {} limit",
            text(node, "proc_used"),
            text(node, "proc_total")
        )),
    );
    line("Scheduler run queue", field_text(node, "run_queue"));
    line(
        "Cluster heartbeat timeout (net_ticktime)",
        field_text(node, "net_ticktime"),
    );

    let bullets = |key: &str| {
        strings(node, key)
            .iter()
            .map(|s| format!(" * {s}"))
            .collect::<Vec<_>>()
    };
    let mut plugins = vec!["Enabled plugins:".to_string(), String::new()];
    plugins.extend(bullets("enabled_plugins"));

    let sections = [
        section("Runtime", runtime),
        section("Plugins", plugins),
        section(
            "Data directory",
            vec![format!("Node data directory: {}", text(node, "db_dir"))],
        ),
        section("Config files", bullets("config_files")),
        section("Log file(s)", bullets("log_files")),
        section("Alarms", or_none(alarms(node))),
        section("Memory", memory_lines(node)),
        section(
            "File Descriptors",
            vec![
                format!(
                    "Total: {}, limit: {}",
                    text(node, "fd_used"),
                    text(node, "fd_total")
                ),
                format!(
                    "Sockets: {}, limit: {}",
                    text(node, "sockets_used"),
                    text(node, "sockets_total")
                ),
            ],
        ),
        section(
            "Free Disk Space",
            vec![
                format!(
                    "Low free disk space watermark: {} gb",
                    gigabytes(node, "disk_free_limit")
                ),
                format!("Free disk space: {} gb", gigabytes(node, "disk_free")),
            ],
        ),
        section(
            "Totals",
            vec![
                format!("Connection count: {}", total(overview, "connections")),
                format!("Queue count: {}", total(overview, "queues")),
                format!("Virtual host count: {}", facts.vhost_names.len()),
            ],
        ),
        section(
            "Listeners",
            listeners(overview)
                .iter()
                .filter(|l| l.node == facts.name() || l.node.is_empty())
                .map(|l| {
                    format!(
                        "Interface: {}, port: {}, protocol: {}, purpose: {}",
                        l.interface, l.port, l.protocol, l.purpose
                    )
                })
                .collect(),
        ),
    ];
    sections.join("\n")
}

fn memory_lines(node: &Value) -> Vec<String> {
    let strategy = text(node, "mem_calculation_strategy");
    let memory = node.get("memory").and_then(Value::as_object);
    let total_bytes = memory
        .and_then(|m| m.get("total"))
        .and_then(|t| t.get(&strategy))
        .and_then(Value::as_f64)
        .or_else(|| node.get("mem_used").and_then(Value::as_f64))
        .unwrap_or(0.0);
    let mut lines = vec![
        format!("Total memory used: {} gb", gigabytes(node, "mem_used")),
        format!("Calculation strategy: {strategy}"),
        format!(
            "Memory high watermark setting: computed to: {} gb",
            gigabytes(node, "mem_limit")
        ),
        String::new(),
    ];
    let mut parts: Vec<(&String, f64)> = memory
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_f64().map(|b| (k, b)))
                .collect()
        })
        .unwrap_or_default();
    parts.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    for (name, bytes) in parts {
        let percent = if total_bytes > 0.0 {
            round_to(bytes / total_bytes * 100.0, 2)
        } else {
            0.0
        };
        lines.push(format!(
            "{name}: {} gb ({} %)",
            erlang_float(round_to(bytes / 1e9, 4)),
            erlang_float(percent)
        ));
    }
    lines
}

fn status_json(facts: &NodeFacts) -> Value {
    let (overview, node) = (&facts.overview, &facts.node);
    json!({
        "alarms": alarms(node),
        "config_files": node.get("config_files"),
        "data_directory": node.get("db_dir"),
        "disk_free": node.get("disk_free"),
        "disk_free_limit": node.get("disk_free_limit"),
        "enabled_plugins": node.get("enabled_plugins"),
        "erlang_version": overview.get("erlang_full_version"),
        "file_descriptors": {
            "sockets_limit": node.get("sockets_total"),
            "sockets_used": node.get("sockets_used"),
            "total_limit": node.get("fd_total"),
            "total_used": node.get("fd_used"),
        },
        "listeners": listeners(overview).iter().map(|l| json!({
            "interface": l.interface, "node": l.node, "port": l.port,
            "protocol": l.protocol, "purpose": l.purpose,
        })).collect::<Vec<_>>(),
        "log_files": node.get("log_files"),
        "memory": node.get("memory"),
        "net_ticktime": node.get("net_ticktime"),
        "pid": text(node, "os_pid").parse::<u64>().ok(),
        "processes": {"limit": node.get("proc_total"), "used": node.get("proc_used")},
        "rabbitmq_version": overview.get("rabbitmq_version"),
        "release_series_support_status": overview.get("release_series_support_status"),
        "run_queue": node.get("run_queue"),
        "totals": {
            "virtual_host_count": facts.vhost_names.len(),
            "connection_count": overview.get("object_totals").and_then(|t| t.get("connections")),
            "queue_count": overview.get("object_totals").and_then(|t| t.get("queues")),
        },
        "uptime": node.get("uptime").and_then(Value::as_u64).map(|ms| ms / 1000),
        "vm_memory_calculation_strategy": node.get("mem_calculation_strategy"),
        "vm_memory_high_watermark_limit": node.get("mem_limit"),
    })
}

/// The management API has no application environment; this shows the node settings it does
/// expose, in rabbitmqctl's Erlang-term layout (one `{key,value}` per line).
fn environment_output(facts: &NodeFacts) -> CommandOutput {
    let node = &facts.node;
    let names = |key: &str, name_key: &str| -> Vec<String> {
        node.get(key)
            .and_then(Value::as_array)
            .map(|items| items.iter().map(|i| text(i, name_key)).collect())
            .unwrap_or_default()
    };
    let atoms = |items: Vec<String>| {
        format!(
            "[{}]",
            items
                .iter()
                .map(|a| erlang_atom(a))
                .collect::<Vec<_>>()
                .join(",")
        )
    };
    let strings_term = |items: Vec<String>| {
        format!(
            "[{}]",
            items
                .iter()
                .map(|s| format!("{s:?}"))
                .collect::<Vec<_>>()
                .join(",")
        )
    };
    let entries: Vec<(&str, String, Value)> = vec![
        (
            "applications",
            atoms(names("applications", "name")),
            json!(names("applications", "name")),
        ),
        (
            "auth_mechanisms",
            atoms(names("auth_mechanisms", "name")),
            json!(names("auth_mechanisms", "name")),
        ),
        (
            "config_files",
            strings_term(strings(node, "config_files")),
            json!(strings(node, "config_files")),
        ),
        (
            "db_dir",
            format!("{:?}", text(node, "db_dir")),
            json!(text(node, "db_dir")),
        ),
        (
            "disk_free_limit",
            text(node, "disk_free_limit"),
            node.get("disk_free_limit").cloned().unwrap_or(Value::Null),
        ),
        (
            "enabled_plugins",
            atoms(strings(node, "enabled_plugins")),
            json!(strings(node, "enabled_plugins")),
        ),
        (
            "exchange_types",
            atoms(names("exchange_types", "name")),
            json!(names("exchange_types", "name")),
        ),
        (
            "log_files",
            strings_term(strings(node, "log_files")),
            json!(strings(node, "log_files")),
        ),
        (
            "mem_calculation_strategy",
            erlang_atom(&text(node, "mem_calculation_strategy")),
            json!(text(node, "mem_calculation_strategy")),
        ),
        (
            "mem_limit",
            text(node, "mem_limit"),
            node.get("mem_limit").cloned().unwrap_or(Value::Null),
        ),
        (
            "net_ticktime",
            text(node, "net_ticktime"),
            node.get("net_ticktime").cloned().unwrap_or(Value::Null),
        ),
        (
            "rates_mode",
            erlang_atom(&text(node, "rates_mode")),
            json!(text(node, "rates_mode")),
        ),
    ];
    let lines: Vec<String> = entries
        .iter()
        .map(|(key, term, _)| format!("{{{key},{term}}}"))
        .collect();
    let text_out = format!("[{}]\n", lines.join(",\n "));
    let json_out: Map<String, Value> = entries
        .into_iter()
        .map(|(key, _, value)| (key.to_string(), value))
        .collect();
    CommandOutput {
        banner: vec![format!(
            "Application environment of node {} ...",
            facts.name()
        )],
        body: Body::Document {
            text: text_out,
            json: Value::Object(json_out),
        },
    }
}

/// One listener line's data, from /api/overview's `listeners` and `contexts` (HTTP).
struct Listener {
    node: String,
    interface: String,
    port: String,
    protocol: String,
    purpose: String,
}

fn listeners(overview: &Value) -> Vec<Listener> {
    let mut found = Vec::new();
    let items = |key: &str| {
        overview
            .get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    for item in items("listeners") {
        let protocol = text(&item, "protocol");
        found.push(Listener {
            node: text(&item, "node"),
            interface: interface(&text(&item, "ip_address")),
            port: text(&item, "port"),
            purpose: purpose(&protocol),
            protocol,
        });
    }
    // The HTTP listener is in `listeners` on RabbitMQ 3.10; older nodes only list `contexts`.
    let has_http = found.iter().any(|l| l.protocol.starts_with("http"));
    for item in items("contexts").into_iter().filter(|_| !has_http) {
        let protocol = if item
            .get("ssl_opts")
            .and_then(Value::as_array)
            .is_some_and(|o| !o.is_empty())
        {
            "https"
        } else {
            "http"
        };
        found.push(Listener {
            node: text(&item, "node"),
            interface: interface(&text(&item, "ip")),
            port: text(&item, "port"),
            protocol: protocol.to_string(),
            purpose: purpose(protocol),
        });
    }
    found
}

/// IPv6 addresses in brackets, as rabbitmqctl prints `[::]`; no address means all of them.
fn interface(address: &str) -> String {
    if address.is_empty() {
        "[::]".to_string()
    } else if address.contains(':') {
        format!("[{address}]")
    } else {
        address.to_string()
    }
}

fn purpose(protocol: &str) -> String {
    match protocol {
        "amqp" => "AMQP 0-9-1 and AMQP 1.0",
        "amqp/ssl" => "AMQP 0-9-1 and AMQP 1.0 over TLS",
        "clustering" => "inter-node and CLI tool communication",
        "http" => "HTTP API",
        "https" => "HTTP API over TLS (HTTPS)",
        "mqtt" => "MQTT",
        "mqtt/ssl" => "MQTT over TLS",
        "stomp" => "STOMP",
        "stomp/ssl" => "STOMP over TLS",
        "stream" => "Stream replication",
        "http/prometheus" => "Prometheus exporter API over HTTP",
        other => other,
    }
    .to_string()
}

fn text(value: &Value, key: &str) -> String {
    value.get(key).map(plain_text).unwrap_or_default()
}

fn field_text(value: &Value, key: &str) -> Option<String> {
    value.get(key).filter(|v| !v.is_null()).map(plain_text)
}

fn strings(value: &Value, key: &str) -> Vec<String> {
    value
        .get(key)
        .and_then(Value::as_array)
        .map(|items| items.iter().map(plain_text).collect())
        .unwrap_or_default()
}

fn total(overview: &Value, key: &str) -> String {
    overview
        .get("object_totals")
        .map(|t| text(t, key))
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "0".to_string())
}

/// Bytes as rabbitmqctl's gigabytes: 10^9, rounded to 4 places.
fn gigabytes(value: &Value, key: &str) -> String {
    let bytes = value.get(key).and_then(Value::as_f64).unwrap_or(0.0);
    erlang_float(round_to(bytes / 1e9, 4))
}

fn round_to(value: f64, places: i32) -> f64 {
    let scale = 10f64.powi(places);
    (value * scale).round() / scale
}

/// Erlang prints floats with at least one decimal: `0.0`, `0.05`, `10.1105`.
fn erlang_float(value: f64) -> String {
    let text = format!("{value}");
    if text.contains('.') || text.contains('e') || !value.is_finite() {
        text
    } else {
        format!("{text}.0")
    }
}

fn erlang_atom(name: &str) -> String {
    let plain = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '@');
    if plain {
        name.to_string()
    } else {
        format!("'{name}'")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> NodeFacts {
        NodeFacts {
            overview: json!({
                "node": "rabbit@h", "rabbitmq_version": "3.10.8",
                "erlang_full_version": "Erlang/OTP 25 [erts-13.1.5]",
                "release_series_support_status": "supported",
                "object_totals": {"connections": 2, "queues": 5},
                "listeners": [{"node": "rabbit@h", "protocol": "amqp", "ip_address": "::", "port": 5672}],
                "contexts": [{"node": "rabbit@h", "ip": "127.0.0.1", "port": "15672", "ssl_opts": []}],
            }),
            node: json!({
                "name": "rabbit@h", "os_pid": "24033", "uptime": 71500, "proc_used": 356,
                "proc_total": 1048576, "run_queue": 1, "net_ticktime": 60,
                "enabled_plugins": ["rabbitmq_management"], "db_dir": "/var/lib/rabbitmq",
                "config_files": ["/etc/rabbitmq/rabbitmq.conf"], "log_files": ["<stdout>"],
                "mem_used": 137700000u64, "mem_limit": 10110473011u64, "mem_calculation_strategy": "rss",
                "memory": {"code": 34700000, "binary": 0, "total": {"rss": 137700000, "erlang": 1}},
                "fd_used": 2, "fd_total": 19903, "sockets_used": 0, "sockets_total": 17910,
                "disk_free_limit": 50000000, "disk_free": 58795800000u64,
                "mem_alarm": false, "disk_free_alarm": true,
                "applications": [{"name": "rabbit"}], "auth_mechanisms": [{"name": "PLAIN"}],
                "exchange_types": [{"name": "topic"}], "rates_mode": "basic",
            }),
            vhost_names: vec!["/".into()],
        }
    }

    #[test]
    fn status_has_rabbitmqctls_sections_and_numbers() {
        let text = status_text(&facts());
        assert!(
            text.starts_with("\x1b[1mRuntime\x1b[0m\n\nOS PID: 24033\nUptime (seconds): 71\n"),
            "{text}"
        );
        assert!(
            text.contains("Erlang processes: 356 used, 1048576 limit\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "\n\x1b[1mPlugins\x1b[0m\n\nEnabled plugins:\n\n * rabbitmq_management\n"
            ),
            "{text}"
        );
        assert!(text.contains("Total memory used: 0.1377 gb\n"), "{text}");
        assert!(
            text.contains("\ncode: 0.0347 gb (25.2 %)\nbinary: 0.0 gb (0.0 %)\n"),
            "{text}"
        );
        assert!(
            text.contains("Free disk space alarm on node rabbit@h\n"),
            "{text}"
        );
        assert!(
            text.contains("Low free disk space watermark: 0.05 gb\nFree disk space: 58.7958 gb\n"),
            "{text}"
        );
        assert!(
            text.contains("Connection count: 2\nQueue count: 5\nVirtual host count: 1\n"),
            "{text}"
        );
        assert!(
            text.ends_with(
                "Interface: [::], port: 5672, protocol: amqp, purpose: AMQP 0-9-1 and AMQP 1.0\nInterface: 127.0.0.1, port: 15672, protocol: http, purpose: HTTP API\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn status_banner_names_the_node() {
        assert_eq!(
            status_output(&facts()).banner,
            ["Status of node rabbit@h ..."]
        );
        assert_eq!(status_json(&facts())["uptime"], json!(71));
    }

    #[test]
    fn environment_is_an_erlang_proplist_one_entry_per_line() {
        let Body::Document { text, json } = environment_output(&facts()).body else {
            panic!("document expected");
        };
        assert!(
            text.starts_with("[{applications,[rabbit]},\n {auth_mechanisms,['PLAIN']},\n"),
            "{text}"
        );
        assert!(text.ends_with(" {rates_mode,basic}]\n"), "{text}");
        assert_eq!(json["net_ticktime"], json!(60));
    }

    #[test]
    fn floats_print_like_erlang() {
        assert_eq!(erlang_float(0.0), "0.0");
        assert_eq!(erlang_float(round_to(0.050000001, 4)), "0.05");
        assert_eq!(erlang_float(10.1105), "10.1105");
        assert_eq!(erlang_float(61.0), "61.0");
    }
}
