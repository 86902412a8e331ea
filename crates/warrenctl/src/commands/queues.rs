//! Queue verbs: purge_queue and delete_queue.

use serde_json::Value;

use super::Context;
use crate::api::ApiError;
use crate::error::CtlError;
use crate::mgmt_url::encode_segment;
use crate::output::{Body, CommandOutput};

pub fn purge(ctx: &Context<'_>, queue: &str) -> Result<CommandOutput, CtlError> {
    let path = format!("{}/contents", queue_path(ctx.vhost, queue));
    match ctx.api.delete(&path, vec![]) {
        Ok(()) => Ok(CommandOutput::done()),
        Err(ApiError::NotFound { .. }) => Err(CtlError::QueueNotFound {
            queue: queue.to_string(),
            vhost: ctx.vhost.to_string(),
        }),
        Err(other) => Err(ctx.api.general_error(other)),
    }
}

/// The API's DELETE does not say how many messages went with the queue, so the count printed
/// is the queue's `messages_ready` read just before (management stats may lag a few seconds).
pub fn delete(
    ctx: &Context<'_>,
    queue: &str,
    if_empty: bool,
    if_unused: bool,
) -> Result<CommandOutput, CtlError> {
    let path = queue_path(ctx.vhost, queue);
    let ready_messages = match ctx.api.get(&format!("{path}?columns=messages_ready")) {
        Ok(found) => found
            .get("messages_ready")
            .and_then(Value::as_u64)
            .unwrap_or(0),
        Err(ApiError::NotFound { .. }) => return Err(not_found()),
        Err(other) => return Err(ctx.api.general_error(other)),
    };
    let mut conditions = Vec::new();
    if if_empty {
        conditions.push("if-empty=true");
    }
    if if_unused {
        conditions.push("if-unused=true");
    }
    let query = if conditions.is_empty() {
        path
    } else {
        format!("{path}?{}", conditions.join("&"))
    };
    match ctx.api.delete(&query, vec![]) {
        Ok(()) => Ok(CommandOutput::body(Body::Message {
            text: format!("Queue was successfully deleted with {ready_messages} ready messages"),
            newline: true,
        })),
        Err(ApiError::NotFound { .. }) => Err(not_found()),
        Err(ApiError::BadRequest { reason }) => Err(CtlError::QueueNotDeleted(refusal(&reason))),
        Err(other) => Err(ctx.api.general_error(other)),
    }
}

fn not_found() -> CtlError {
    CtlError::QueueNotDeleted("Queue not found".to_string())
}

/// rabbitmqctl's words for the API's `queue 'q' in vhost 'v' in use` / `... not empty`.
fn refusal(reason: &str) -> String {
    if reason.contains("in use") {
        "Queue is in use".to_string()
    } else if reason.contains("not empty") {
        "Queue is not empty".to_string()
    } else {
        reason.to_string()
    }
}

fn queue_path(vhost: &str, queue: &str) -> String {
    format!(
        "/queues/{}/{}",
        encode_segment(vhost),
        encode_segment(queue)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_refusals_read_like_rabbitmqctl() {
        assert_eq!(refusal("queue 'q' in vhost '/' in use"), "Queue is in use");
        assert_eq!(
            refusal("queue 'q' in vhost '/' not empty"),
            "Queue is not empty"
        );
        assert_eq!(queue_path("/", "a b"), "/queues/%2F/a%20b");
    }
}
