//! User verbs: list, add, delete, passwords, authentication check, tags.

use serde_json::{json, Value};

use super::listings::table;
use super::Context;
use crate::api::ApiError;
use crate::columns;
use crate::error::CtlError;
use crate::mgmt_url::encode_segment;
use crate::output::{Body, CommandOutput, EmptyListing};

pub fn list(ctx: &Context<'_>) -> Result<CommandOutput, CtlError> {
    let users = ctx
        .api
        .get_array("/users")
        .map_err(|e| ctx.api.general_error(e))?;
    Ok(table(columns::USERS.all, &users, EmptyListing::BlankLine))
}

/// PUT /api/users/{name} would overwrite an existing user, so look first: rabbitmqctl refuses.
pub fn add(ctx: &Context<'_>, username: &str, password: &str) -> Result<CommandOutput, CtlError> {
    if find(ctx, username)?.is_some() {
        return Err(CtlError::UserAlreadyExists(username.to_string()));
    }
    put_user(ctx, username, json!({"password": password, "tags": ""}))?;
    Ok(CommandOutput::body(Body::Done {
        info: vec!["Done. Don't forget to grant the user permissions to some virtual hosts! See 'warrenctl help set_permissions' to learn more.".to_string()],
    }))
}

pub fn delete(ctx: &Context<'_>, username: &str) -> Result<CommandOutput, CtlError> {
    match ctx.api.delete(&user_path(username), vec![]) {
        Ok(()) => Ok(CommandOutput::done()),
        Err(ApiError::NotFound { .. }) => Err(CtlError::UserNotFound(username.to_string())),
        Err(other) => Err(ctx.api.general_error(other)),
    }
}

pub fn change_password(
    ctx: &Context<'_>,
    username: &str,
    password: &str,
) -> Result<CommandOutput, CtlError> {
    let user = existing(ctx, username)?;
    put_user(
        ctx,
        username,
        json!({"password": password, "tags": tags_text(&user)}),
    )?;
    Ok(CommandOutput::done())
}

/// An empty password hash disables password login, as rabbitmqctl's clear_password.
pub fn clear_password(ctx: &Context<'_>, username: &str) -> Result<CommandOutput, CtlError> {
    let user = existing(ctx, username)?;
    put_user(
        ctx,
        username,
        json!({"password_hash": "", "tags": tags_text(&user)}),
    )?;
    Ok(CommandOutput::done())
}

/// GET /api/whoami with the user's own credentials. A 401 `not_authorised` (British spelling)
/// means the password was right but the user may not use the management API: still a success.
pub fn authenticate(
    ctx: &Context<'_>,
    username: &str,
    password: &str,
) -> Result<CommandOutput, CtlError> {
    match ctx.api.as_user(username, password).get("/whoami") {
        Ok(_) | Err(ApiError::NotAuthorised { .. }) => Ok(CommandOutput::body(Body::Message {
            text: "Success".to_string(),
            newline: true,
        })),
        Err(ApiError::LoginFailed { .. }) => {
            Err(CtlError::InvalidCredentials(username.to_string()))
        }
        Err(other) => Err(ctx.api.general_error(other)),
    }
}

/// Keeps the password: the user's current hash goes back with the new tags.
pub fn set_tags(
    ctx: &Context<'_>,
    username: &str,
    tags: &[String],
) -> Result<CommandOutput, CtlError> {
    let user = existing(ctx, username)?;
    let mut body = json!({
        "password_hash": user.get("password_hash").and_then(Value::as_str).unwrap_or_default(),
        "tags": tags.join(","),
    });
    if let Some(algorithm) = user.get("hashing_algorithm").and_then(Value::as_str) {
        body["hashing_algorithm"] = Value::from(algorithm);
    }
    put_user(ctx, username, body)?;
    Ok(CommandOutput::done())
}

fn user_path(username: &str) -> String {
    format!("/users/{}", encode_segment(username))
}

fn find(ctx: &Context<'_>, username: &str) -> Result<Option<Value>, CtlError> {
    match ctx.api.get(&user_path(username)) {
        Ok(user) => Ok(Some(user)),
        Err(ApiError::NotFound { .. }) => Ok(None),
        Err(other) => Err(ctx.api.general_error(other)),
    }
}

/// The user's record, or rabbitmqctl's "does not exist" error (exit 67).
pub fn existing(ctx: &Context<'_>, username: &str) -> Result<Value, CtlError> {
    find(ctx, username)?.ok_or_else(|| CtlError::UserNotFound(username.to_string()))
}

fn put_user(ctx: &Context<'_>, username: &str, body: Value) -> Result<(), CtlError> {
    ctx.api
        .put(&user_path(username), &body)
        .map_err(|e| ctx.api.general_error(e))
}

/// The user's tags as the comma-separated text PUT /api/users accepts.
fn tags_text(user: &Value) -> String {
    match user.get("tags") {
        Some(Value::Array(tags)) => tags
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(","),
        Some(Value::String(tags)) => tags.clone(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_survive_a_password_change_in_both_api_shapes() {
        assert_eq!(
            tags_text(&json!({"tags": ["management", "monitoring"]})),
            "management,monitoring"
        );
        assert_eq!(
            tags_text(&json!({"tags": "administrator"})),
            "administrator"
        );
        assert_eq!(tags_text(&json!({})), "");
    }
}
