//! The streamed listings: queues, exchanges, bindings, connections, channels, consumers.

use serde_json::Value;

use super::Context;
use crate::api::ApiError;
use crate::columns::{self, Listing};
use crate::error::CtlError;
use crate::mgmt_url::encode_segment;
use crate::output::{Body, CommandOutput, EmptyListing, Table};

pub fn queues(ctx: &Context<'_>, requested: &[String]) -> Result<CommandOutput, CtlError> {
    streamed(
        ctx,
        columns::QUEUES,
        &vhost_path("queues", ctx.vhost),
        requested,
    )
}

pub fn exchanges(ctx: &Context<'_>, requested: &[String]) -> Result<CommandOutput, CtlError> {
    streamed(
        ctx,
        columns::EXCHANGES,
        &vhost_path("exchanges", ctx.vhost),
        requested,
    )
}

pub fn bindings(ctx: &Context<'_>, requested: &[String]) -> Result<CommandOutput, CtlError> {
    streamed(
        ctx,
        columns::BINDINGS,
        &vhost_path("bindings", ctx.vhost),
        requested,
    )
}

/// All vhosts, as rabbitmqctl's list_connections.
pub fn connections(ctx: &Context<'_>, requested: &[String]) -> Result<CommandOutput, CtlError> {
    streamed(ctx, columns::CONNECTIONS, "/connections", requested)
}

/// All vhosts, as rabbitmqctl's list_channels.
pub fn channels(ctx: &Context<'_>, requested: &[String]) -> Result<CommandOutput, CtlError> {
    streamed(ctx, columns::CHANNELS, "/channels", requested)
}

pub fn consumers(ctx: &Context<'_>, requested: &[String]) -> Result<CommandOutput, CtlError> {
    streamed(
        ctx,
        columns::CONSUMERS,
        &vhost_path("consumers", ctx.vhost),
        requested,
    )
}

fn vhost_path(collection: &str, vhost: &str) -> String {
    format!("/{collection}/{}", encode_segment(vhost))
}

/// A streamed listing. A missing vhost lists nothing and succeeds, as in rabbitmqctl 3.10.
fn streamed(
    ctx: &Context<'_>,
    listing: Listing,
    path: &str,
    requested: &[String],
) -> Result<CommandOutput, CtlError> {
    let selected = listing.select(requested)?;
    let query = format!("{path}?columns={}", Listing::api_columns(&selected));
    let items = match ctx.api.get_array(&query) {
        Ok(items) => items,
        Err(ApiError::NotFound { .. }) => vec![],
        Err(other) => return Err(ctx.api.general_error(other)),
    };
    Ok(table(&selected, &items, EmptyListing::Nothing))
}

/// Rows for `items`, one cell per selected column.
pub fn table(selected: &[columns::Column], items: &[Value], empty: EmptyListing) -> CommandOutput {
    CommandOutput::body(Body::Table(Table {
        columns: selected.iter().map(|c| c.name).collect(),
        rows: items
            .iter()
            .map(|item| selected.iter().map(|c| columns::extract(c, item)).collect())
            .collect(),
        empty,
    }))
}
