//! RabbitMQ definitions files (the JSON `rabbitmqctl export_definitions` writes): users,
//! vhosts and permissions loaded at start.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::auth::{password, Pattern, Permission, User};
use crate::broker::Broker;

#[derive(Debug, thiserror::Error)]
pub enum DefinitionsError {
    #[error("cannot read definitions file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot parse definitions file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("invalid permission pattern {pattern:?}: {message}")]
    Pattern { pattern: String, message: String },
    #[error("user {0:?} has neither password nor password_hash")]
    NoPassword(String),
}

#[derive(Debug, Default, Deserialize)]
pub struct Definitions {
    #[serde(default)]
    pub users: Vec<UserDef>,
    #[serde(default)]
    pub vhosts: Vec<VHostDef>,
    #[serde(default)]
    pub permissions: Vec<PermissionDef>,
}

#[derive(Debug, Deserialize)]
pub struct UserDef {
    pub name: String,
    #[serde(default)]
    pub password_hash: Option<String>,
    /// Warren extension: a plain-text password, hashed on load.
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub tags: Tags,
}

/// RabbitMQ writes tags as a comma-separated string (3.x) or a list (newer).
#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
pub enum Tags {
    #[default]
    None,
    Text(String),
    List(Vec<String>),
}

impl Tags {
    fn to_vec(&self) -> Vec<String> {
        match self {
            Tags::None => Vec::new(),
            Tags::Text(s) => s
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(String::from)
                .collect(),
            Tags::List(v) => v.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct VHostDef {
    pub name: String,
}

#[derive(Debug, Deserialize)]
pub struct PermissionDef {
    pub user: String,
    pub vhost: String,
    pub configure: String,
    pub write: String,
    pub read: String,
}

fn pattern(source: &str) -> Result<Pattern, DefinitionsError> {
    Pattern::new(source).map_err(|e| DefinitionsError::Pattern {
        pattern: source.to_owned(),
        message: e.to_string(),
    })
}

impl Definitions {
    pub fn load(path: &Path) -> Result<Self, DefinitionsError> {
        let text = std::fs::read_to_string(path).map_err(|source| DefinitionsError::Read {
            path: path.to_owned(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| DefinitionsError::Parse {
            path: path.to_owned(),
            source,
        })
    }

    pub fn apply(&self, broker: &Broker) -> Result<(), DefinitionsError> {
        for v in &self.vhosts {
            broker.put_vhost(crate::control::vhost_named(&v.name));
        }
        for u in &self.users {
            let password_hash = match (&u.password_hash, &u.password) {
                (Some(h), _) => h.clone(),
                (None, Some(p)) => password::hash_password(p.as_bytes()),
                (None, None) => return Err(DefinitionsError::NoPassword(u.name.clone())),
            };
            broker.put_user(User {
                name: u.name.clone(),
                password_hash,
                hashing_algorithm: password::DEFAULT_ALGORITHM.into(),
                tags: u.tags.to_vec(),
            });
        }
        for p in &self.permissions {
            let permission = Permission {
                configure: pattern(&p.configure)?,
                write: pattern(&p.write)?,
                read: pattern(&p.read)?,
            };
            broker.set_permission(&p.user, &p.vhost, permission);
        }
        Ok(())
    }
}
