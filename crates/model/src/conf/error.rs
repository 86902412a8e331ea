//! What can go wrong reading a `rabbitmq.conf`: every error names the file and, past reading
//! it, the line.

use std::path::PathBuf;

/// Why a configuration file was refused. The texts follow RabbitMQ's own ("Error preparing
/// configuration", "Conf file attempted to set unknown variable", "Error transforming
/// datatype for"), prefixed with `path:line:` as compilers do.
#[derive(Debug, thiserror::Error)]
pub enum ConfError {
    #[error("cannot read configuration file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}: Syntax error: {problem}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        problem: SyntaxProblem,
    },
    #[error(
        "{}:{line}: Error preparing configuration: Conf file attempted to set unknown variable: {key}{}",
        path.display(),
        did_you_mean(suggestions)
    )]
    UnknownKey {
        path: PathBuf,
        line: usize,
        key: String,
        /// Up to three known keys close to `key`, closest first.
        suggestions: Vec<String>,
    },
    #[error(
        "{}:{line}: Error preparing configuration: Error transforming datatype for: {key}: {value:?} is not {expected}",
        path.display()
    )]
    BadValue {
        path: PathBuf,
        line: usize,
        key: String,
        value: String,
        /// The accepted form, e.g. "an integer number of seconds from 0 to 65535".
        expected: &'static str,
    },
}

impl ConfError {
    /// The 1-based line the error is on (none when the file could not be read).
    pub fn line(&self) -> Option<usize> {
        match self {
            Self::Read { .. } => None,
            Self::Syntax { line, .. }
            | Self::UnknownKey { line, .. }
            | Self::BadValue { line, .. } => Some(*line),
        }
    }
}

/// What is wrong with a line that is not `key = value`, a comment or blank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SyntaxProblem {
    #[error("expected `key = value`, a `# comment` or a blank line")]
    NotASetting,
    #[error("a key is dot-separated words of letters, digits, `_` and `-`")]
    BadKey,
    #[error("the value is empty (write `key = ''` for an empty text)")]
    EmptyValue,
    #[error("only a `# comment` may follow a value in single quotes")]
    TextAfterQuotedValue,
    #[error("`include` directives are not supported: put the settings in this file")]
    Include,
    #[error("the line is not valid UTF-8")]
    NotUtf8,
}

fn did_you_mean(suggestions: &[String]) -> String {
    match suggestions {
        [] => String::new(),
        [one] => format!(" (did you mean {one}?)"),
        [init @ .., last] => format!(" (did you mean {} or {last}?)", init.join(", ")),
    }
}
