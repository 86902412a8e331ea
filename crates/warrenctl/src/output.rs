//! What a verb produced and how it is printed: rabbitmqctl 3.10's table and JSON layouts, `-q`, `-s`.

use serde_json::Value;

use crate::cell::Cell;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Formatter {
    Table,
    Json,
}

/// How much informational text to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub formatter: Formatter,
    /// `-q`: no banners, no informational lines; table header rows stay.
    pub quiet: bool,
    /// `-s`: like `-q` and no table header row either.
    pub silent: bool,
}

impl Style {
    pub fn shows_banners(&self) -> bool {
        self.formatter == Formatter::Table && !self.quiet && !self.silent
    }
}

/// How an empty listing looks; rabbitmqctl streams some listings and returns others whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmptyListing {
    /// Streamed (queues, exchanges, bindings, connections, channels, consumers): table prints
    /// nothing, not even the header; JSON prints `[` and `]` on two lines.
    Nothing,
    /// Whole (users, vhosts, permissions, policies): table prints one empty line; JSON `[]`.
    BlankLine,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<Cell>>,
    pub empty: EmptyListing,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// A command verb that succeeded; `info` lines are informational (dropped by `-q`).
    /// JSON: `{"node":…,"result":"ok"}`.
    Done {
        info: Vec<String>,
    },
    /// A result line printed even with `-q` ("Success", "Queue was successfully deleted …").
    /// JSON: `{"message":…}`.
    Message {
        text: String,
        newline: bool,
    },
    Table(Table),
    /// One value shown as text, or nothing (list_vhost_limits for one vhost): table prints
    /// the text (an empty line without one), even with `-q`; JSON
    /// `{"node":…,"result":"ok","value":…}`, or `[]` without one.
    Value {
        text: Option<String>,
    },
    /// Preformatted text (status) with its JSON form.
    Document {
        text: String,
        json: Value,
    },
    /// Several outputs one after the other, each followed by an empty line (report).
    Sections(Vec<CommandOutput>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct CommandOutput {
    /// Banners known only after talking to the node (e.g. "Status of node rabbit@h ...").
    pub banner: Vec<String>,
    pub body: Body,
}

impl CommandOutput {
    pub fn body(body: Body) -> Self {
        CommandOutput {
            banner: vec![],
            body,
        }
    }

    pub fn done() -> Self {
        Self::body(Body::Done { info: vec![] })
    }

    pub fn needs_node_name(&self, style: Style) -> bool {
        style.formatter == Formatter::Json
            && matches!(self.body, Body::Done { .. } | Body::Value { text: Some(_) })
    }

    /// Everything this output prints on stdout.
    pub fn render(&self, style: Style, node_name: &str) -> String {
        let mut out = String::new();
        if style.shows_banners() {
            for line in &self.banner {
                out.push_str(line);
                out.push('\n');
            }
        }
        out.push_str(&render_body(&self.body, style, node_name));
        out
    }
}

pub fn render_banner(lines: &[String], style: Style) -> String {
    if !style.shows_banners() {
        return String::new();
    }
    lines.iter().map(|l| format!("{l}\n")).collect()
}

fn render_body(body: &Body, style: Style, node_name: &str) -> String {
    match (body, style.formatter) {
        (Body::Done { info }, Formatter::Table) => {
            if style.quiet || style.silent {
                String::new()
            } else {
                info.iter().map(|l| format!("{l}\n")).collect()
            }
        }
        (Body::Done { .. }, Formatter::Json) => {
            format!(
                "{}\n",
                serde_json::json!({"node": node_name, "result": "ok"})
            )
        }
        (Body::Message { text, newline }, Formatter::Table) => {
            if *newline {
                format!("{text}\n")
            } else {
                text.clone()
            }
        }
        (Body::Message { text, .. }, Formatter::Json) => {
            format!("{}\n", serde_json::json!({ "message": text }))
        }
        (Body::Value { text }, Formatter::Table) => {
            format!("{}\n", text.as_deref().unwrap_or_default())
        }
        (Body::Value { text: None }, Formatter::Json) => "[]\n".to_string(),
        (Body::Value { text: Some(text) }, Formatter::Json) => format!(
            "{}\n",
            serde_json::json!({"node": node_name, "result": "ok", "value": text})
        ),
        (Body::Table(table), Formatter::Table) => render_table(table, style),
        (Body::Table(table), Formatter::Json) => render_json_rows(table),
        (Body::Document { text, .. }, Formatter::Table) => text.clone(),
        (Body::Document { json, .. }, Formatter::Json) => format!("{json}\n"),
        (Body::Sections(sections), Formatter::Table) => sections
            .iter()
            .map(|s| format!("{}\n", s.render(style, node_name)))
            .collect(),
        (Body::Sections(sections), Formatter::Json) => {
            let items: Vec<Value> = sections.iter().map(section_json).collect();
            format!("{}\n", Value::Array(items))
        }
    }
}

fn render_table(table: &Table, style: Style) -> String {
    if table.rows.is_empty() {
        return match table.empty {
            EmptyListing::Nothing => String::new(),
            EmptyListing::BlankLine => "\n".to_string(),
        };
    }
    let mut out = String::new();
    if !style.silent {
        out.push_str(&table.columns.join("\t"));
        out.push('\n');
    }
    for row in &table.rows {
        let cells: Vec<String> = row.iter().map(Cell::to_table_text).collect();
        out.push_str(&cells.join("\t"));
        out.push('\n');
    }
    out
}

/// rabbitmqctl's JSON list layout: one object per line, `,` leading continuation lines,
/// keys in column order.
fn render_json_rows(table: &Table) -> String {
    if table.rows.is_empty() {
        return match table.empty {
            EmptyListing::Nothing => "[\n]\n".to_string(),
            EmptyListing::BlankLine => "[]\n".to_string(),
        };
    }
    let objects: Vec<String> = table
        .rows
        .iter()
        .map(|row| json_object(&table.columns, row))
        .collect();
    format!("[\n{}\n]\n", objects.join("\n,"))
}

/// `{"k":v,…}` with keys in the given order (serde_json's map would sort them).
fn json_object(columns: &[&str], row: &[Cell]) -> String {
    let pairs: Vec<String> = columns
        .iter()
        .zip(row)
        .map(|(name, cell)| format!("{}:{}", Value::from(*name), cell.to_json()))
        .collect();
    format!("{{{}}}", pairs.join(","))
}

fn section_json(section: &CommandOutput) -> Value {
    let data = match &section.body {
        Body::Table(table) => Value::Array(
            table
                .rows
                .iter()
                .map(|row| {
                    Value::Object(
                        table
                            .columns
                            .iter()
                            .zip(row)
                            .map(|(name, cell)| (name.to_string(), cell.to_json()))
                            .collect(),
                    )
                })
                .collect(),
        ),
        Body::Document { json, .. } => json.clone(),
        Body::Message { text, .. } => Value::String(text.clone()),
        Body::Value { text } => text.clone().map_or(Value::Null, Value::String),
        Body::Done { .. } => Value::Null,
        Body::Sections(sections) => Value::Array(sections.iter().map(section_json).collect()),
    };
    serde_json::json!({ "section": section.banner.join(" "), "data": data })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: Style = Style {
        formatter: Formatter::Table,
        quiet: false,
        silent: false,
    };
    const QUIET: Style = Style {
        formatter: Formatter::Table,
        quiet: true,
        silent: false,
    };
    const SILENT: Style = Style {
        formatter: Formatter::Table,
        quiet: false,
        silent: true,
    };
    const JSON: Style = Style {
        formatter: Formatter::Json,
        quiet: false,
        silent: false,
    };

    fn queues(rows: Vec<Vec<Cell>>) -> CommandOutput {
        CommandOutput::body(Body::Table(Table {
            columns: vec!["name", "messages", "durable"],
            rows,
            empty: EmptyListing::Nothing,
        }))
    }

    fn two_queues() -> CommandOutput {
        queues(vec![
            vec![
                Cell::Text("q1".into()),
                Cell::Number(3.into()),
                Cell::Bool(true),
            ],
            vec![
                Cell::Text("ctl q/3".into()),
                Cell::Number(0.into()),
                Cell::Bool(false),
            ],
        ])
    }

    fn banner() -> Vec<String> {
        vec![
            "Timeout: 60.0 seconds ...".into(),
            "Listing queues for vhost / ...".into(),
        ]
    }

    #[test]
    fn table_is_a_tab_separated_header_and_rows_after_the_banner() {
        let printed = render_banner(&banner(), TABLE) + &two_queues().render(TABLE, "n");
        assert_eq!(
            printed,
            "Timeout: 60.0 seconds ...\nListing queues for vhost / ...\nname\tmessages\tdurable\nq1\t3\ttrue\nctl q/3\t0\tfalse\n"
        );
    }

    #[test]
    fn quiet_drops_banners_but_keeps_the_header_and_silent_drops_both() {
        let quiet = render_banner(&banner(), QUIET) + &two_queues().render(QUIET, "n");
        assert_eq!(
            quiet,
            "name\tmessages\tdurable\nq1\t3\ttrue\nctl q/3\t0\tfalse\n"
        );
        let silent = render_banner(&banner(), SILENT) + &two_queues().render(SILENT, "n");
        assert_eq!(silent, "q1\t3\ttrue\nctl q/3\t0\tfalse\n");
    }

    #[test]
    fn json_rows_are_one_object_per_line_in_column_order() {
        assert_eq!(
            render_banner(&banner(), JSON) + &two_queues().render(JSON, "n"),
            "[\n{\"name\":\"q1\",\"messages\":3,\"durable\":true}\n,{\"name\":\"ctl q/3\",\"messages\":0,\"durable\":false}\n]\n"
        );
    }

    #[test]
    fn empty_streamed_listing_prints_no_header_and_json_brackets_on_two_lines() {
        assert_eq!(queues(vec![]).render(TABLE, "n"), "");
        assert_eq!(queues(vec![]).render(JSON, "n"), "[\n]\n");
    }

    #[test]
    fn empty_whole_listing_prints_an_empty_line_and_json_empty_array() {
        let policies = CommandOutput::body(Body::Table(Table {
            columns: vec!["vhost", "name"],
            rows: vec![],
            empty: EmptyListing::BlankLine,
        }));
        assert_eq!(policies.render(QUIET, "n"), "\n");
        assert_eq!(policies.render(JSON, "n"), "[]\n");
    }

    #[test]
    fn command_verbs_print_info_unless_quiet_and_json_result_ok() {
        let done = CommandOutput::body(Body::Done {
            info: vec!["Done. Don't forget …".into()],
        });
        assert_eq!(done.render(TABLE, "n"), "Done. Don't forget …\n");
        assert_eq!(done.render(QUIET, "n"), "");
        assert_eq!(
            done.render(JSON, "rabbit@h"),
            "{\"node\":\"rabbit@h\",\"result\":\"ok\"}\n"
        );
        assert!(done.needs_node_name(JSON));
        assert!(!done.needs_node_name(TABLE));
    }

    #[test]
    fn result_messages_survive_quiet_and_become_json_message_objects() {
        let success = CommandOutput::body(Body::Message {
            text: "Success".into(),
            newline: true,
        });
        assert_eq!(success.render(QUIET, "n"), "Success\n");
        assert_eq!(success.render(JSON, "n"), "{\"message\":\"Success\"}\n");
        let export = CommandOutput::body(Body::Message {
            text: "{}".into(),
            newline: false,
        });
        assert_eq!(export.render(TABLE, "n"), "{}");
    }

    #[test]
    fn report_sections_are_separated_by_an_empty_line() {
        let mut section = two_queues();
        section.banner = vec!["Listing queues for vhost / ...".into()];
        let report = CommandOutput::body(Body::Sections(vec![section, queues(vec![])]));
        assert_eq!(
            report.render(TABLE, "n"),
            "Listing queues for vhost / ...\nname\tmessages\tdurable\nq1\t3\ttrue\nctl q/3\t0\tfalse\n\n\n"
        );
    }
}
