//! export_definitions and import_definitions: GET and POST /api/definitions.
//!
//! The file is read or written on the machine running warrenctl (rabbitmqctl does it on the
//! machine running rabbitmqctl too).

use std::io::{self, Read};
use std::path::Path;

use serde_json::Value;

use super::Context;
use crate::error::CtlError;
use crate::output::{Body, CommandOutput};

/// `-` prints the definitions on stdout (no newline after them, as rabbitmqctl).
pub fn export(ctx: &Context<'_>, file: &str) -> Result<CommandOutput, CtlError> {
    let definitions = ctx
        .api
        .get("/definitions")
        .map_err(|e| ctx.api.general_error(e))?;
    // serde_json's map sorts keys: the same compact, key-sorted layout rabbitmqctl writes.
    let text = definitions.to_string();
    if file == "-" {
        return Ok(CommandOutput::body(Body::Message {
            text,
            newline: false,
        }));
    }
    std::fs::write(file, text).map_err(|e| write_error(file, &e))?;
    Ok(CommandOutput::done())
}

/// rabbitmqctl checks that the file exists before printing its banner.
pub fn validate_import(file: &str) -> Result<(), CtlError> {
    if file == "-" || Path::new(file).exists() {
        Ok(())
    } else {
        Err(CtlError::BadArgument(format!(
            "Bad argument: File {file} does not exist"
        )))
    }
}

/// `None` reads stdin with a banner and a success line; `-` reads stdin silently.
pub fn import(ctx: &Context<'_>, file: Option<&str>) -> Result<CommandOutput, CtlError> {
    let (text, from_stdin) = match file {
        None | Some("-") => (read_stdin()?, true),
        Some(path) => (read_file(path)?, false),
    };
    if text.trim().is_empty() {
        return Err(match file {
            Some(path) if !from_stdin => CtlError::DataError(format!("File {path} is zero-sized")),
            _ => CtlError::DataError(
                "Failed to deserialise input (format: JSON) (error: :unexpected_end_of_buffer)"
                    .into(),
            ),
        });
    }
    let definitions: Value = serde_json::from_str(&text).map_err(|e| {
        CtlError::DataError(format!(
            "Failed to deserialise input (format: JSON) (error: {e})"
        ))
    })?;
    ctx.api
        .post("/definitions", &definitions)
        .map_err(|e| ctx.api.general_error(e))?;
    let info = if file == Some("-") {
        vec![]
    } else {
        vec!["Successfully started definition import. This process is asynchronous and can take some time.".to_string()]
    };
    Ok(CommandOutput::body(Body::Done { info }))
}

fn read_stdin() -> Result<String, CtlError> {
    let mut text = String::new();
    io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| CtlError::DataError(format!("Could not read from standard input: {e}")))?;
    Ok(text)
}

fn read_file(path: &str) -> Result<String, CtlError> {
    std::fs::read_to_string(path).map_err(|e| {
        CtlError::DataError(match e.kind() {
            io::ErrorKind::NotFound => format!("Parent directory or file {path} does not exist"),
            io::ErrorKind::PermissionDenied => {
                format!("No permissions to read from file {path} or its parent directory")
            }
            io::ErrorKind::IsADirectory => format!("Path {path} is a directory"),
            _ => format!("Could not read from file {path}: {e}"),
        })
    })
}

/// rabbitmqctl's texts for the usual write failures (exit 65).
fn write_error(path: &str, error: &io::Error) -> CtlError {
    CtlError::DataError(match error.kind() {
        io::ErrorKind::NotFound => format!("Parent directory or file {path} does not exist"),
        io::ErrorKind::PermissionDenied => {
            format!("No permissions to write to file {path} or its parent directory")
        }
        io::ErrorKind::IsADirectory => format!("Path {path} is a directory"),
        _ => format!("Could not write to file {path}: {error}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_import_file_is_rejected_before_anything_is_sent() {
        let error = validate_import("/nonexistent/ctl-defs.json").expect_err("missing");
        assert_eq!(
            error.to_string(),
            "Error (argument validation): Bad argument: File /nonexistent/ctl-defs.json does not exist"
        );
        assert_eq!(error.exit_code() as u8, 65);
        assert!(validate_import("-").is_ok());
    }

    #[test]
    fn write_errors_use_rabbitmqctls_words() {
        let error = write_error("/x/y.json", &io::Error::from(io::ErrorKind::NotFound));
        assert_eq!(
            error.to_string(),
            "Error: Parent directory or file /x/y.json does not exist"
        );
        assert_eq!(error.exit_code() as u8, 65);
    }
}
