//! Policy verbs: set, clear, list.

use serde_json::{json, Value};

use super::listings::table;
use super::Context;
use crate::api::ApiError;
use crate::columns;
use crate::error::CtlError;
use crate::mgmt_url::encode_segment;
use crate::output::{CommandOutput, EmptyListing};

pub fn set(
    ctx: &Context<'_>,
    name: &str,
    pattern: &str,
    definition: &str,
    priority: i64,
    apply_to: &str,
) -> Result<CommandOutput, CtlError> {
    let definition: Value =
        serde_json::from_str(definition).map_err(|e| CtlError::InvalidJson(e.to_string()))?;
    let body = json!({
        "pattern": pattern,
        "definition": definition,
        "priority": priority,
        "apply-to": apply_to,
    });
    match ctx.api.put(&policy_path(ctx.vhost, name), &body) {
        Ok(()) => Ok(CommandOutput::done()),
        Err(ApiError::NotFound { .. }) => Err(CtlError::VhostNotFound(ctx.vhost.to_string())),
        Err(other) => Err(ctx.api.general_error(other)),
    }
}

pub fn clear(ctx: &Context<'_>, name: &str) -> Result<CommandOutput, CtlError> {
    match ctx.api.delete(&policy_path(ctx.vhost, name), vec![]) {
        Ok(()) => Ok(CommandOutput::done()),
        Err(ApiError::NotFound { .. }) => Err(CtlError::ParameterNotFound),
        Err(other) => Err(ctx.api.general_error(other)),
    }
}

pub fn list(ctx: &Context<'_>) -> Result<CommandOutput, CtlError> {
    let path = format!("/policies/{}", encode_segment(ctx.vhost));
    let policies = match ctx.api.get_array(&path) {
        Ok(policies) => policies,
        Err(ApiError::NotFound { .. }) => {
            return Err(CtlError::VhostNotFound(ctx.vhost.to_string()))
        }
        Err(other) => return Err(ctx.api.general_error(other)),
    };
    Ok(table(
        columns::POLICIES.all,
        &policies,
        EmptyListing::BlankLine,
    ))
}

fn policy_path(vhost: &str, name: &str) -> String {
    format!(
        "/policies/{}/{}",
        encode_segment(vhost),
        encode_segment(name)
    )
}
