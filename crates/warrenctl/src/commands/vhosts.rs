//! Virtual host verbs: list, add, delete.

use serde_json::{json, Value};

use super::listings::table;
use super::Context;
use crate::api::ApiError;
use crate::columns;
use crate::error::CtlError;
use crate::mgmt_url::encode_segment;
use crate::output::{CommandOutput, EmptyListing};

pub fn list(ctx: &Context<'_>, requested: &[String]) -> Result<CommandOutput, CtlError> {
    let selected = columns::VHOSTS.select(requested)?;
    let path = format!(
        "/vhosts?columns={}",
        columns::Listing::api_columns(&selected)
    );
    let vhosts = ctx
        .api
        .get_array(&path)
        .map_err(|e| ctx.api.general_error(e))?;
    Ok(table(&selected, &vhosts, EmptyListing::BlankLine))
}

/// PUT of an existing vhost succeeds (204), as rabbitmqctl's add_vhost does.
pub fn add(
    ctx: &Context<'_>,
    name: &str,
    description: Option<&str>,
    tags: Option<&str>,
) -> Result<CommandOutput, CtlError> {
    let mut body = json!({});
    if let Some(description) = description {
        body["description"] = Value::from(description);
    }
    if let Some(tags) = tags {
        body["tags"] = Value::from(tags);
    }
    ctx.api
        .put(&vhost_path(name), &body)
        .map_err(|e| ctx.api.general_error(e))?;
    Ok(CommandOutput::done())
}

pub fn delete(ctx: &Context<'_>, name: &str) -> Result<CommandOutput, CtlError> {
    match ctx.api.delete(&vhost_path(name), vec![]) {
        Ok(()) => Ok(CommandOutput::done()),
        Err(ApiError::NotFound { .. }) => Err(CtlError::VhostNotFound(name.to_string())),
        Err(other) => Err(ctx.api.general_error(other)),
    }
}

pub fn vhost_path(name: &str) -> String {
    format!("/vhosts/{}", encode_segment(name))
}

/// Whether the vhost exists (to tell a missing vhost from a missing user after a 400/404).
pub fn exists(ctx: &Context<'_>, name: &str) -> Result<bool, CtlError> {
    match ctx.api.get(&vhost_path(name)) {
        Ok(_) => Ok(true),
        Err(ApiError::NotFound { .. }) => Ok(false),
        Err(other) => Err(ctx.api.general_error(other)),
    }
}
