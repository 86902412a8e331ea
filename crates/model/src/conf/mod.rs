//! `rabbitmq.conf` support: RabbitMQ's configuration file (the sysctl-like format cuttlefish
//! reads) turned into [`Settings`] for the binary to layer between its defaults and the
//! environment, with the keys Warren does not apply listed rather than dropped.

mod error;
mod known_keys;
mod mapping;
mod rabbitmq_keys;
mod settings;
mod syntax;
mod values;

use std::path::Path;

pub use error::{ConfError, SyntaxProblem};
pub use settings::{
    CertLoginFrom, DiskFreeLimit, HttpsListener, Listener, LogLevel, MemoryWatermark, RawSetting,
    Settings, SslOptions, TlsVersion,
};

/// Read and parse the configuration file at `path`.
pub fn load(path: impl AsRef<Path>) -> Result<Settings, ConfError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| ConfError::Read {
        path: path.to_owned(),
        source,
    })?;
    let text = std::str::from_utf8(&bytes).map_err(|e| ConfError::Syntax {
        path: path.to_owned(),
        line: 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count(),
        problem: SyntaxProblem::NotUtf8,
    })?;
    parse(text, path)
}

/// Parse configuration text; `path_for_messages` names it in errors.
pub fn parse(text: &str, path_for_messages: impl AsRef<Path>) -> Result<Settings, ConfError> {
    let path = path_for_messages.as_ref();
    let entries = syntax::entries(text).map_err(|(line, problem)| ConfError::Syntax {
        path: path.to_owned(),
        line,
        problem,
    })?;
    mapping::settings(entries, path)
}

#[cfg(test)]
mod tests;
