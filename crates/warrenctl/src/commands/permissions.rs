//! Permission verbs: list per vhost, list per user, set, clear.

use serde_json::json;

use super::listings::table;
use super::{users, vhosts, Context};
use crate::api::ApiError;
use crate::columns;
use crate::error::CtlError;
use crate::mgmt_url::encode_segment;
use crate::output::{CommandOutput, EmptyListing};

pub fn list_for_vhost(ctx: &Context<'_>) -> Result<CommandOutput, CtlError> {
    let path = format!("{}/permissions", vhosts::vhost_path(ctx.vhost));
    let rows = match ctx.api.get_array(&path) {
        Ok(rows) => rows,
        Err(ApiError::NotFound { .. }) => {
            return Err(CtlError::VhostNotFound(ctx.vhost.to_string()))
        }
        Err(other) => return Err(ctx.api.general_error(other)),
    };
    Ok(table(
        columns::VHOST_PERMISSIONS.all,
        &rows,
        EmptyListing::BlankLine,
    ))
}

pub fn list_for_user(ctx: &Context<'_>, username: &str) -> Result<CommandOutput, CtlError> {
    let path = format!("/users/{}/permissions", encode_segment(username));
    let rows = match ctx.api.get_array(&path) {
        Ok(rows) => rows,
        Err(ApiError::NotFound { .. }) => return Err(CtlError::UserNotFound(username.to_string())),
        Err(other) => return Err(ctx.api.general_error(other)),
    };
    Ok(table(
        columns::USER_PERMISSIONS.all,
        &rows,
        EmptyListing::BlankLine,
    ))
}

pub fn set(
    ctx: &Context<'_>,
    username: &str,
    [configure, write, read]: [&String; 3],
) -> Result<CommandOutput, CtlError> {
    let body = json!({"configure": configure, "write": write, "read": read});
    match ctx.api.put(&permission_path(ctx.vhost, username), &body) {
        Ok(()) => Ok(CommandOutput::done()),
        // 400 vhost_or_user_not_found: say which one.
        Err(ApiError::BadRequest { reason }) if reason.contains("not_found") => {
            Err(missing_user_or_vhost(ctx, username)?)
        }
        Err(other) => Err(ctx.api.general_error(other)),
    }
}

/// Clearing permissions a user does not have succeeds, as in rabbitmqctl; a missing user or
/// vhost does not.
pub fn clear(ctx: &Context<'_>, username: &str) -> Result<CommandOutput, CtlError> {
    match ctx
        .api
        .delete(&permission_path(ctx.vhost, username), vec![])
    {
        Ok(()) => Ok(CommandOutput::done()),
        Err(ApiError::NotFound { .. }) => {
            users::existing(ctx, username)?;
            if vhosts::exists(ctx, ctx.vhost)? {
                Ok(CommandOutput::done())
            } else {
                Err(CtlError::VhostNotFound(ctx.vhost.to_string()))
            }
        }
        Err(other) => Err(ctx.api.general_error(other)),
    }
}

fn missing_user_or_vhost(ctx: &Context<'_>, username: &str) -> Result<CtlError, CtlError> {
    match users::existing(ctx, username) {
        Err(missing_user @ CtlError::UserNotFound(_)) => Ok(missing_user),
        Err(other) => Err(other),
        Ok(_) => Ok(CtlError::VhostNotFound(ctx.vhost.to_string())),
    }
}

fn permission_path(vhost: &str, username: &str) -> String {
    format!(
        "/permissions/{}/{}",
        encode_segment(vhost),
        encode_segment(username)
    )
}
