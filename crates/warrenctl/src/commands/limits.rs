//! Limit verbs: vhost limits (`set_vhost_limits`, `clear_vhost_limits`, `list_vhost_limits`)
//! and user limits (`set_user_limits`, `clear_user_limits`, `list_user_limits`).
//!
//! A vhost's limits are one runtime parameter (`vhost-limits`/`limits`) that
//! `set_vhost_limits` replaces whole; a user's limits are set one by one and merge with those
//! it has, as rabbitmqctl does.

use serde_json::{json, Map, Value};

use super::Context;
use crate::api::ApiError;
use crate::cell::Cell;
use crate::error::CtlError;
use crate::mgmt_url::encode_segment;
use crate::output::{Body, CommandOutput, EmptyListing, Table};

/// The definition argument as a JSON object (rabbitmqctl's decoding error otherwise).
fn definition_object(definition: &str) -> Result<Map<String, Value>, CtlError> {
    match serde_json::from_str(definition) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(CtlError::InvalidJson("badarg".to_string())),
    }
}

fn vhost_parameter_path(vhost: &str) -> String {
    format!("/parameters/vhost-limits/{}/limits", encode_segment(vhost))
}

pub fn set_vhost(ctx: &Context<'_>, definition: &str) -> Result<CommandOutput, CtlError> {
    let value = definition_object(definition)?;
    let body = json!({
        "vhost": ctx.vhost,
        "component": "vhost-limits",
        "name": "limits",
        "value": value,
    });
    match ctx.api.put(&vhost_parameter_path(ctx.vhost), &body) {
        Ok(()) => Ok(CommandOutput::done()),
        Err(ApiError::NotFound { .. }) => Err(CtlError::VhostNotFound(ctx.vhost.to_string())),
        Err(other) => Err(ctx.api.general_error(other)),
    }
}

pub fn clear_vhost(ctx: &Context<'_>) -> Result<CommandOutput, CtlError> {
    match ctx.api.delete(&vhost_parameter_path(ctx.vhost), vec![]) {
        Ok(()) => Ok(CommandOutput::done()),
        Err(ApiError::NotFound { .. }) => Err(CtlError::ParameterNotFound),
        Err(other) => Err(ctx.api.general_error(other)),
    }
}

/// `{"max-connections":10,"max-queues":5}`: compact, names in order (as Erlang prints a map).
fn limits_text(limits: &Value) -> String {
    match limits {
        Value::Object(map) => {
            let sorted: std::collections::BTreeMap<&String, &Value> = map.iter().collect();
            serde_json::to_string(&sorted).unwrap_or_default()
        }
        _ => "{}".to_string(),
    }
}

/// `[{"vhost"|"user": name, "value": {...}}]` as a two-column table.
fn limits_table(key: &'static str, entries: &[Value]) -> CommandOutput {
    let mut rows: Vec<(String, String)> = entries
        .iter()
        .map(|e| {
            (
                e.get(key)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                limits_text(e.get("value").unwrap_or(&Value::Null)),
            )
        })
        .collect();
    rows.sort();
    CommandOutput::body(Body::Table(Table {
        columns: vec![key, "limits"],
        rows: rows
            .into_iter()
            .map(|(name, limits)| vec![Cell::Text(name), Cell::Text(limits)])
            .collect(),
        empty: EmptyListing::BlankLine,
    }))
}

pub fn list_vhost(ctx: &Context<'_>, global: bool) -> Result<CommandOutput, CtlError> {
    if global {
        let all = ctx
            .api
            .get_array("/vhost-limits")
            .map_err(|e| ctx.api.general_error(e))?;
        return Ok(limits_table("vhost", &all));
    }
    let path = format!("/vhost-limits/{}", encode_segment(ctx.vhost));
    let entries = match ctx.api.get_array(&path) {
        Ok(entries) => entries,
        Err(ApiError::NotFound { .. }) => {
            return Err(CtlError::VhostNotFound(ctx.vhost.to_string()))
        }
        Err(other) => return Err(ctx.api.general_error(other)),
    };
    let text = entries.first().map(|e| limits_text(&e["value"]));
    Ok(CommandOutput::body(Body::Value { text }))
}

fn user_limit_path(user: &str, name: &str) -> String {
    format!(
        "/user-limits/{}/{}",
        encode_segment(user),
        encode_segment(name)
    )
}

/// rabbitmqctl's words for a user that does not exist.
fn no_such_user(user: &str) -> CtlError {
    CtlError::Rejected(format!("{{:no_such_user, \"{user}\"}}"))
}

/// The user's limits as set; its absence is rabbitmqctl's `no_such_user`.
fn user_limits(ctx: &Context<'_>, user: &str) -> Result<Map<String, Value>, CtlError> {
    match ctx.api.get(&format!("/users/{}", encode_segment(user))) {
        Ok(found) => Ok(found
            .get("limits")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()),
        Err(ApiError::NotFound { .. }) => Err(no_such_user(user)),
        Err(other) => Err(ctx.api.general_error(other)),
    }
}

/// The user limits RabbitMQ knows; a definition is checked whole before any of it is set,
/// as rabbitmqctl refuses it whole.
const USER_LIMITS: [&str; 2] = ["max-connections", "max-channels"];

fn check_user_definition(definition: &Map<String, Value>) -> Result<(), CtlError> {
    let shown = |v: &Value| match v {
        Value::String(s) => format!("<<\"{s}\">>"),
        other => other.to_string(),
    };
    for (name, value) in definition {
        if !USER_LIMITS.contains(&name.as_str()) {
            return Err(CtlError::Rejected(format!(
                "Unrecognised terms [{{<<\"{name}\">>,{}}}] in user-limits",
                shown(value)
            )));
        }
        if value.as_i64().is_none() {
            return Err(CtlError::Rejected(format!(
                "{name} should be a number, actually was {}",
                shown(value)
            )));
        }
    }
    Ok(())
}

pub fn set_user(
    ctx: &Context<'_>,
    user: &str,
    definition: &str,
) -> Result<CommandOutput, CtlError> {
    let definition = definition_object(definition)?;
    check_user_definition(&definition)?;
    user_limits(ctx, user)?;
    for (name, value) in &definition {
        match ctx
            .api
            .put(&user_limit_path(user, name), &json!({ "value": value }))
        {
            Ok(()) => {}
            Err(ApiError::BadRequest { reason }) if reason.contains("no_such_user") => {
                return Err(no_such_user(user))
            }
            Err(other) => return Err(ctx.api.general_error(other)),
        }
    }
    Ok(CommandOutput::done())
}

/// `limit` is a limit's name or `all`; clearing a limit that is not set is fine.
pub fn clear_user(ctx: &Context<'_>, user: &str, limit: &str) -> Result<CommandOutput, CtlError> {
    let set = user_limits(ctx, user)?;
    let names: Vec<&str> = if limit == "all" {
        set.keys().map(String::as_str).collect()
    } else if set.contains_key(limit) {
        vec![limit]
    } else {
        vec![]
    };
    for name in names {
        ctx.api
            .delete(&user_limit_path(user, name), vec![])
            .map_err(|e| ctx.api.general_error(e))?;
    }
    Ok(CommandOutput::done())
}

/// One user's limits (rabbitmqctl's default user is guest), or every user's with `--global`.
pub fn list_user(
    ctx: &Context<'_>,
    user: Option<&str>,
    global: bool,
) -> Result<CommandOutput, CtlError> {
    if global {
        let all = ctx
            .api
            .get_array("/user-limits")
            .map_err(|e| ctx.api.general_error(e))?;
        return Ok(limits_table("user", &all));
    }
    let limits = user_limits(ctx, user.unwrap_or(crate::cli::DEFAULT_LIMITS_USER))?;
    Ok(CommandOutput::body(Body::Message {
        text: limits_text(&Value::Object(limits)),
        newline: true,
    }))
}
