//! AMQP reply codes (spec constants plus RabbitMQ's use of them).

pub const REPLY_SUCCESS: u16 = 200;
pub const CONTENT_TOO_LARGE: u16 = 311;
pub const NO_ROUTE: u16 = 312;
pub const NO_CONSUMERS: u16 = 313;
pub const CONNECTION_FORCED: u16 = 320;
pub const INVALID_PATH: u16 = 402;
pub const ACCESS_REFUSED: u16 = 403;
pub const NOT_FOUND: u16 = 404;
pub const RESOURCE_LOCKED: u16 = 405;
pub const PRECONDITION_FAILED: u16 = 406;
pub const FRAME_ERROR: u16 = 501;
pub const SYNTAX_ERROR: u16 = 502;
pub const COMMAND_INVALID: u16 = 503;
pub const CHANNEL_ERROR: u16 = 504;
pub const UNEXPECTED_FRAME: u16 = 505;
pub const RESOURCE_ERROR: u16 = 506;
pub const NOT_ALLOWED: u16 = 530;
pub const NOT_IMPLEMENTED: u16 = 540;
pub const INTERNAL_ERROR: u16 = 541;

/// The symbolic name RabbitMQ prefixes reply texts with ("NOT_FOUND - ...").
pub fn reply_name(code: u16) -> &'static str {
    match code {
        REPLY_SUCCESS => "OK",
        CONTENT_TOO_LARGE => "CONTENT_TOO_LARGE",
        NO_ROUTE => "NO_ROUTE",
        NO_CONSUMERS => "NO_CONSUMERS",
        CONNECTION_FORCED => "CONNECTION_FORCED",
        INVALID_PATH => "INVALID_PATH",
        ACCESS_REFUSED => "ACCESS_REFUSED",
        NOT_FOUND => "NOT_FOUND",
        RESOURCE_LOCKED => "RESOURCE_LOCKED",
        PRECONDITION_FAILED => "PRECONDITION_FAILED",
        FRAME_ERROR => "FRAME_ERROR",
        SYNTAX_ERROR => "SYNTAX_ERROR",
        COMMAND_INVALID => "COMMAND_INVALID",
        CHANNEL_ERROR => "CHANNEL_ERROR",
        UNEXPECTED_FRAME => "UNEXPECTED_FRAME",
        RESOURCE_ERROR => "RESOURCE_ERROR",
        NOT_ALLOWED => "NOT_ALLOWED",
        NOT_IMPLEMENTED => "NOT_IMPLEMENTED",
        INTERNAL_ERROR => "INTERNAL_ERROR",
        _ => "UNKNOWN",
    }
}

/// True for the codes the spec defines as connection ("hard") errors.
pub fn is_hard_error(code: u16) -> bool {
    matches!(code, 320 | 402 | 501..=506 | 530 | 540 | 541)
}

/// A frame payload as RabbitMQ prints it in FRAME_ERROR / UNEXPECTED_FRAME texts:
/// `type 1, all octets = <<0,20,0,10,0>>` or `type 5, first 16 octets = <<"abcdefghijklmnop">>`.
pub fn describe_frame(kind: u8, payload: &[u8]) -> String {
    let (label, shown) = if payload.len() > 16 {
        ("first 16 octets", &payload[..16])
    } else {
        ("all octets", payload)
    };
    format!("type {kind}, {label} = {}", erlang_binary(shown))
}

/// Erlang's `~p` of a binary: a string if every byte is printable, else a list of bytes.
pub fn erlang_binary(bytes: &[u8]) -> String {
    if !bytes.is_empty()
        && bytes
            .iter()
            .all(|&b| (0x20..0x7f).contains(&b) || b == b'\n' || b == b'\t')
    {
        let text: String = bytes
            .iter()
            .map(|&b| match b {
                b'"' => "\\\"".to_string(),
                b'\\' => "\\\\".to_string(),
                b'\n' => "\\n".to_string(),
                b'\t' => "\\t".to_string(),
                b => (b as char).to_string(),
            })
            .collect();
        format!("<<\"{text}\">>")
    } else {
        erlang_bytes(bytes)
    }
}

/// Erlang's `~w` of a binary: always the list of byte values.
pub fn erlang_bytes(bytes: &[u8]) -> String {
    let list: Vec<String> = bytes.iter().map(u8::to_string).collect();
    format!("<<{}>>", list.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_print_like_rabbitmq() {
        assert_eq!(
            describe_frame(1, &[0, 20, 0, 10, 0]),
            "type 1, all octets = <<0,20,0,10,0>>"
        );
        assert_eq!(
            describe_frame(5, b"abc"),
            "type 5, all octets = <<\"abc\">>"
        );
        assert_eq!(describe_frame(8, b""), "type 8, all octets = <<>>");
        assert_eq!(
            describe_frame(5, b"abcdefghijklmnopqrstuvwxyz"),
            "type 5, first 16 octets = <<\"abcdefghijklmnop\">>"
        );
    }
}
