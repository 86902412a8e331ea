//! warrenctl: rabbitmqctl's verbs, arguments and output, spoken over the RabbitMQ management
//! HTTP API (Warren implements the same API), so it works against Warren and RabbitMQ alike.
//!
//! # Layout
//! - [`cli`]: options and verbs; clap errors become rabbitmqctl usage errors.
//! - [`banners`]: the lines rabbitmqctl prints before running a verb.
//! - [`commands`]: one module per family of verbs, each a few API calls.
//! - [`columns`] / [`cell`]: rabbitmqctl column names, API fields, value rendering.
//! - [`output`]: table, `-q`/`-s` and JSON layouts.
//! - [`api`] / [`http_client`] / [`mgmt_url`]: the management API over plain HTTP/1.1.
//! - [`error`]: failures, their stderr line and exit code.

mod api;
mod banners;
mod cell;
mod cli;
mod columns;
mod commands;
mod error;
mod http_client;
mod mgmt_url;
mod output;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use crate::api::ManagementApi;
use crate::cli::{Cli, Invocation};
use crate::commands::Context;
use crate::error::CtlError;
use crate::mgmt_url::MgmtUrl;
use crate::output::Style;

fn main() -> ExitCode {
    let cli = match cli::parse(std::env::args_os()) {
        Ok(Invocation::Run(cli)) => cli,
        Ok(Invocation::PrintAndExit(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(error) => return fail(&error),
    };
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error),
    }
}

fn run(cli: &Cli) -> Result<(), CtlError> {
    let url = MgmtUrl::parse(&cli.url).map_err(|e| CtlError::usage(format!("Error: {e}")))?;
    let api = ManagementApi::new(
        &cli.url,
        url,
        &cli.user,
        &cli.password,
        Duration::from_secs(cli.timeout_seconds.max(1)),
    );
    let style = Style {
        formatter: cli.formatter,
        quiet: cli.quiet,
        silent: cli.silent,
    };
    let ctx = Context {
        api: &api,
        vhost: &cli.vhost,
        timeout_seconds: cli.timeout_seconds,
    };
    commands::validate(&cli.verb)?;
    emit(&output::render_banner(
        &banners::banner(&cli.verb, &cli.vhost, cli.timeout_seconds),
        style,
    ));
    let result = commands::execute(&cli.verb, &ctx)?;
    let node_name = if result.needs_node_name(style) {
        commands::node_name(&api)?
    } else {
        String::new()
    };
    emit(&result.render(style, &node_name));
    Ok(())
}

/// Writes to stdout; a closed pipe (`warrenctl list_queues | head -1`) is not an error.
fn emit(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
}

fn fail(error: &CtlError) -> ExitCode {
    eprintln!("{}", error.stderr_text());
    ExitCode::from(error.exit_code() as u8)
}
