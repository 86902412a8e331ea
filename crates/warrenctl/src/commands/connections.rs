//! close_connection: DELETE /api/connections/{name} with the explanation in `X-Reason`.

use super::Context;
use crate::api::ApiError;
use crate::error::CtlError;
use crate::mgmt_url::encode_segment;
use crate::output::CommandOutput;

/// rabbitmqctl takes a connection pid; the API knows connections by name (list_connections name).
pub fn close(ctx: &Context<'_>, name: &str, explanation: &str) -> Result<CommandOutput, CtlError> {
    let path = format!("/connections/{}", encode_segment(name));
    match ctx
        .api
        .delete(&path, vec![("X-Reason", header_safe(explanation))])
    {
        Ok(()) => Ok(CommandOutput::done()),
        Err(ApiError::NotFound { .. }) => Err(CtlError::ConnectionNotFound(name.to_string())),
        Err(other) => Err(ctx.api.general_error(other)),
    }
}

/// A header value cannot hold line breaks; the explanation is one line on the wire.
fn header_safe(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explanation_cannot_inject_headers() {
        assert_eq!(header_safe("bye\r\nX-Evil: 1"), "bye  X-Evil: 1");
    }
}
