//! Command line: global options, rabbitmqctl's verbs and their arguments, and clap's errors
//! turned into rabbitmqctl's usage errors (exit 64).

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, Parser, Subcommand};

use crate::error::CtlError;
use crate::output::Formatter;

#[derive(Debug, Parser)]
#[command(
    name = "warrenctl",
    version,
    about = "rabbitmqctl's verbs over the RabbitMQ management HTTP API (Warren or RabbitMQ)",
    after_help = "Options may come before or after the verb, e.g. `warrenctl list_queues -p my-vhost name messages`."
)]
pub struct Cli {
    /// Management API base URL
    #[arg(
        long,
        env = "WARREN_MGMT_URL",
        default_value = "http://127.0.0.1:15672",
        global = true
    )]
    pub url: String,
    /// Management API user
    #[arg(long, env = "WARREN_USER", default_value = "guest", global = true)]
    pub user: String,
    /// Management API password
    #[arg(
        long,
        env = "WARREN_PASSWORD",
        default_value = "guest",
        hide_default_value = true,
        hide_env_values = true,
        global = true
    )]
    pub password: String,
    /// Suppress informational messages (banners); table header rows stay
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Suppress informational messages and table header rows
    #[arg(short, long, global = true)]
    pub silent: bool,
    /// Output format
    #[arg(long, value_enum, default_value = "table", global = true)]
    pub formatter: Formatter,
    /// Virtual host for vhost-scoped verbs
    #[arg(short = 'p', long, default_value = "/", global = true)]
    pub vhost: String,
    /// Operation timeout in seconds
    #[arg(short = 't', long = "timeout", default_value_t = 60, global = true)]
    pub timeout_seconds: u64,
    #[command(subcommand)]
    pub verb: Verb,
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
#[command(rename_all = "snake_case")]
pub enum Verb {
    /// Displays broker status information
    Status,
    /// Displays the node settings the management API exposes
    Environment,
    /// Generates a server status report for support purposes
    Report,

    /// Lists users and their tags
    ListUsers,
    /// Creates a new user in the internal database
    AddUser {
        #[arg(value_name = "username")]
        username: String,
        #[arg(value_name = "password")]
        user_password: String,
    },
    /// Removes a user from the internal database
    DeleteUser {
        #[arg(value_name = "username")]
        username: String,
    },
    /// Changes the user's password
    ChangePassword {
        #[arg(value_name = "username")]
        username: String,
        #[arg(value_name = "new_password")]
        new_password: String,
    },
    /// Clears (resets) password and disables password login for a user
    ClearPassword {
        #[arg(value_name = "username")]
        username: String,
    },
    /// Attempts to authenticate a user
    AuthenticateUser {
        #[arg(value_name = "username")]
        username: String,
        #[arg(value_name = "password")]
        user_password: String,
    },
    /// Sets user tags
    SetUserTags {
        #[arg(value_name = "username")]
        username: String,
        #[arg(value_name = "tag")]
        tags: Vec<String>,
    },

    /// Lists virtual hosts
    ListVhosts {
        #[arg(value_name = "column")]
        columns: Vec<String>,
    },
    /// Creates a virtual host
    AddVhost {
        #[arg(value_name = "vhost")]
        name: String,
        /// Virtual host description
        #[arg(long)]
        description: Option<String>,
        /// Comma-separated virtual host tags
        #[arg(long)]
        tags: Option<String>,
    },
    /// Deletes a virtual host
    DeleteVhost {
        #[arg(value_name = "vhost")]
        name: String,
    },

    /// Lists user permissions in a virtual host
    ListPermissions,
    /// Lists permissions of a user across all virtual hosts
    ListUserPermissions {
        #[arg(value_name = "username")]
        username: String,
    },
    /// Sets user permissions for a vhost
    SetPermissions {
        #[arg(value_name = "username")]
        username: String,
        #[arg(value_name = "conf")]
        configure: String,
        #[arg(value_name = "write")]
        write: String,
        #[arg(value_name = "read")]
        read: String,
    },
    /// Revokes user permissions for a vhost
    ClearPermissions {
        #[arg(value_name = "username")]
        username: String,
    },

    /// Lists queues and their properties
    ListQueues {
        #[arg(value_name = "column")]
        columns: Vec<String>,
    },
    /// Lists exchanges
    ListExchanges {
        #[arg(value_name = "column")]
        columns: Vec<String>,
    },
    /// Lists all bindings on a vhost
    ListBindings {
        #[arg(value_name = "column")]
        columns: Vec<String>,
    },
    /// Lists AMQP 0.9.1 connections for the node
    ListConnections {
        #[arg(value_name = "column")]
        columns: Vec<String>,
    },
    /// Lists all channels in the node
    ListChannels {
        #[arg(value_name = "column")]
        columns: Vec<String>,
    },
    /// Lists all consumers for a vhost
    ListConsumers {
        #[arg(value_name = "column")]
        columns: Vec<String>,
    },
    /// Purges a queue (removes all messages in it)
    PurgeQueue {
        #[arg(value_name = "queue")]
        queue: String,
    },
    /// Deletes a queue
    DeleteQueue {
        #[arg(value_name = "queue_name")]
        queue: String,
        /// Delete the queue only if it is empty (has no ready messages)
        #[arg(short = 'e', long = "if-empty")]
        if_empty: bool,
        /// Delete the queue only if it has no consumers
        #[arg(short = 'u', long = "if-unused")]
        if_unused: bool,
    },
    /// Instructs the broker to close the connection with this name (see list_connections name)
    CloseConnection {
        #[arg(value_name = "connection_name")]
        connection: String,
        #[arg(value_name = "explanation")]
        explanation: String,
    },

    /// Sets or updates a policy
    SetPolicy {
        /// Policy priority
        #[arg(long, allow_negative_numbers = true)]
        priority: Option<i64>,
        /// Policy should only apply to queues, exchanges, or all entities (both of the above)
        #[arg(long = "apply-to", value_name = "queues | exchanges | all")]
        apply_to: Option<String>,
        #[arg(value_name = "name")]
        name: String,
        #[arg(value_name = "pattern")]
        pattern: String,
        #[arg(value_name = "definition")]
        definition: String,
    },
    /// Clears (removes) a policy
    ClearPolicy {
        #[arg(value_name = "name")]
        name: String,
    },
    /// Lists all policies in a virtual host
    ListPolicies,

    /// Sets virtual host limits (all of them: the definition replaces those set)
    SetVhostLimits {
        #[arg(value_name = "definition")]
        definition: String,
    },
    /// Clears virtual host limits
    ClearVhostLimits,
    /// Displays configured virtual host limits
    ListVhostLimits {
        /// Lists the limits of all virtual hosts
        #[arg(long)]
        global: bool,
    },
    /// Sets user limits (merged with those the user has)
    SetUserLimits {
        #[arg(value_name = "username")]
        username: String,
        #[arg(value_name = "definition")]
        definition: String,
    },
    /// Clears user connection/channel limits
    ClearUserLimits {
        #[arg(value_name = "username")]
        username: String,
        #[arg(value_name = "limit_type | all")]
        limit: String,
    },
    /// Displays configured user limits
    ListUserLimits {
        /// The user whose limits to show (default guest); written `--user` after the verb,
        /// as in rabbitmqctl (warrenctl's own --user then goes before the verb)
        #[arg(long = "limits-user", value_name = "username")]
        limits_user: Option<String>,
        /// Lists the limits of all users
        #[arg(long)]
        global: bool,
    },

    /// Exports definitions in JSON to a file, or to stdout with `-`
    ExportDefinitions {
        #[arg(value_name = "file_path | \"-\"")]
        file: String,
    },
    /// Imports definitions in JSON from a file, or from stdin with `-` or no argument
    ImportDefinitions {
        #[arg(value_name = "file_path | \"-\"")]
        file: Option<String>,
    },
}

/// The user `list_user_limits` shows without `--user` (rabbitmqctl's default).
pub const DEFAULT_LIMITS_USER: &str = "guest";

/// What the command line asks for: run a verb, or print help/version and stop.
#[derive(Debug)]
pub enum Invocation {
    Run(Box<Cli>),
    /// `--help`, `help VERB`, `--version`: text for stdout, exit 0.
    PrintAndExit(String),
}

/// Parses `args` (without the program name's special meaning: `args[0]` is skipped).
pub fn parse<I, T>(args: I) -> Result<Invocation, CtlError>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let args = verb_user_option(args.into_iter().map(Into::into).collect());
    match Cli::try_parse_from(&args) {
        Ok(cli) => Ok(Invocation::Run(Box::new(cli))),
        Err(error) => match error.kind() {
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                Ok(Invocation::PrintAndExit(error.render().to_string()))
            }
            _ => Err(usage_error(&error, &args)),
        },
    }
}

/// rabbitmqctl's `list_user_limits --user NAME` names the user to list, while warrenctl's
/// global `--user` is who talks to the API: after that verb, `--user` is the verb's.
fn verb_user_option(mut args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let Some(at) = args.iter().position(|a| a == "list_user_limits") else {
        return args;
    };
    for arg in &mut args[at + 1..] {
        if arg == "--user" {
            *arg = "--limits-user".into();
        } else if let Some(value) = arg.to_str().and_then(|a| a.strip_prefix("--user=")) {
            *arg = format!("--limits-user={value}").into();
        }
    }
    args
}

fn usage_error(error: &clap::Error, args: &[std::ffi::OsString]) -> CtlError {
    let verb = verb_in(args);
    let invalid_arg = || match error.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => s.clone(),
        Some(ContextValue::Strings(s)) => s.join(", "),
        _ => String::new(),
    };
    let message = match error.kind() {
        ErrorKind::InvalidSubcommand => {
            let verb = match error.get(ContextKind::InvalidSubcommand) {
                Some(ContextValue::String(s)) => s.clone(),
                _ => invalid_arg(),
            };
            format!("Error: Command '{verb}' not found.")
        }
        ErrorKind::MissingSubcommand | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            "Error: no command given; see `warrenctl help`.".to_string()
        }
        ErrorKind::MissingRequiredArgument => {
            "Error (argument validation): not enough arguments.".to_string()
        }
        ErrorKind::UnknownArgument if invalid_arg().starts_with('-') => {
            format!("Error: Invalid options for this command: {}", invalid_arg())
        }
        ErrorKind::UnknownArgument => {
            "Error (argument validation): too many arguments.".to_string()
        }
        _ => {
            let rendered = error.render().to_string();
            let first = rendered.lines().next().unwrap_or_default();
            format!(
                "Error (argument validation): {}",
                first.trim_start_matches("error: ")
            )
        }
    };
    CtlError::Usage {
        message,
        usage: Some(usage_line(verb.as_deref())),
    }
}

/// The verb named on the command line, if any (the first argument that is one).
fn verb_in(args: &[std::ffi::OsString]) -> Option<String> {
    let command = Cli::command();
    args.iter()
        .skip(1)
        .filter_map(|a| a.to_str())
        .find(|a| command.find_subcommand(a).is_some())
        .map(str::to_string)
}

fn usage_line(verb: Option<&str>) -> String {
    let mut command = Cli::command();
    command.build();
    let usage = match verb.and_then(|v| command.find_subcommand_mut(v)) {
        Some(sub) => sub.render_usage().to_string(),
        None => command.render_usage().to_string(),
    };
    usage.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Cli {
        let mut full = vec!["warrenctl"];
        full.extend_from_slice(args);
        match parse(full) {
            Ok(Invocation::Run(cli)) => *cli,
            other => panic!("expected a verb to run, got {other:?}"),
        }
    }

    fn fails(args: &[&str]) -> CtlError {
        let mut full = vec!["warrenctl"];
        full.extend_from_slice(args);
        parse(full).expect_err("should be a usage error")
    }

    #[test]
    fn vhost_is_accepted_before_and_after_the_verb() {
        assert_eq!(run(&["-p", "v1", "list_queues"]).vhost, "v1");
        assert_eq!(run(&["list_queues", "-p", "v1", "name"]).vhost, "v1");
        assert_eq!(run(&["list_queues", "--vhost", "v2"]).vhost, "v2");
        assert_eq!(run(&["list_queues"]).vhost, "/");
    }

    #[test]
    fn a_verbs_password_argument_is_not_the_api_password() {
        let cli = run(&["--password", "api-secret", "add_user", "bob", "bobs-secret"]);
        assert_eq!(cli.password, "api-secret");
        assert_eq!(
            cli.verb,
            Verb::AddUser {
                username: "bob".into(),
                user_password: "bobs-secret".into()
            }
        );
        let cli = run(&["authenticate_user", "bob", "bobs-secret"]);
        assert_eq!(cli.password, "guest");
    }

    #[test]
    fn global_flags_and_formatter_spellings() {
        let cli = run(&[
            "--url",
            "http://h:1",
            "--user",
            "u",
            "--password",
            "p",
            "-q",
            "--formatter=json",
            "list_users",
        ]);
        assert_eq!(
            (cli.url.as_str(), cli.user.as_str(), cli.password.as_str()),
            ("http://h:1", "u", "p")
        );
        assert!(cli.quiet);
        assert_eq!(cli.formatter, Formatter::Json);
        assert_eq!(
            run(&["--formatter", "json", "list_users"]).formatter,
            Formatter::Json
        );
        assert_eq!(run(&["list_users"]).formatter, Formatter::Table);
    }

    #[test]
    fn verbs_take_rabbitmqctls_positional_arguments() {
        assert_eq!(
            run(&["list_queues", "name", "messages_ready"]).verb,
            Verb::ListQueues {
                columns: vec!["name".into(), "messages_ready".into()]
            }
        );
        assert_eq!(
            run(&["set_user_tags", "bob", "management", "monitoring"]).verb,
            Verb::SetUserTags {
                username: "bob".into(),
                tags: vec!["management".into(), "monitoring".into()]
            }
        );
        assert_eq!(
            run(&[
                "set_policy",
                "--priority",
                "3",
                "--apply-to",
                "queues",
                "p",
                "^q",
                "{}"
            ])
            .verb,
            Verb::SetPolicy {
                priority: Some(3),
                apply_to: Some("queues".into()),
                name: "p".into(),
                pattern: "^q".into(),
                definition: "{}".into()
            }
        );
        assert_eq!(
            run(&["delete_queue", "q", "--if-empty", "-u"]).verb,
            Verb::DeleteQueue {
                queue: "q".into(),
                if_empty: true,
                if_unused: true
            }
        );
    }

    #[test]
    fn wrong_arity_is_rabbitmqctls_usage_error_with_the_verbs_usage() {
        let error = fails(&["delete_user"]);
        assert_eq!(error.exit_code() as u8, 64);
        let text = error.stderr_text();
        assert!(
            text.starts_with("Error (argument validation): not enough arguments.\n"),
            "{text}"
        );
        assert!(text.contains("Usage: warrenctl delete_user"), "{text}");
        assert!(text.contains("<username>"), "{text}");
        let text = fails(&["delete_user", "a", "b"]).stderr_text();
        assert!(
            text.starts_with("Error (argument validation): too many arguments.\n"),
            "{text}"
        );
    }

    #[test]
    fn unknown_verb_and_missing_verb_exit_64() {
        let error = fails(&["frobnicate"]);
        assert_eq!(error.exit_code() as u8, 64);
        assert!(
            error
                .stderr_text()
                .starts_with("Error: Command 'frobnicate' not found."),
            "{}",
            error.stderr_text()
        );
        assert_eq!(fails(&[]).exit_code() as u8, 64);
        assert_eq!(
            fails(&["--formatter", "erlang", "list_users"]).exit_code() as u8,
            64
        );
    }

    #[test]
    fn help_is_printed_not_an_error() {
        for args in [
            vec!["warrenctl", "--help"],
            vec!["warrenctl", "help", "list_queues"],
        ] {
            match parse(args) {
                Ok(Invocation::PrintAndExit(text)) => assert!(text.contains("Usage:"), "{text}"),
                other => panic!("expected help text, got {other:?}"),
            }
        }
    }
}
