//! Users, password hashes (RabbitMQ's salted SHA-256) and per-vhost permissions.

pub mod password;

use std::collections::HashMap;
use std::fmt;

use regex_lite::Regex;

use warren_model::ControlError;

#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    /// base64(salt ‖ sha256(salt ‖ password)), exactly as in RabbitMQ definitions.
    pub password_hash: String,
    pub tags: Vec<String>,
}

/// One permission regex, kept with its source text for export.
#[derive(Debug, Clone)]
pub struct Pattern {
    pub source: String,
    regex: Option<Regex>,
    /// ".*" (the usual grant) matches every name: checked without running the regex,
    /// since publishes check write permission every time.
    matches_all: bool,
}

impl Pattern {
    /// Compile a permission pattern. An empty pattern grants nothing (RabbitMQ's rule).
    pub fn new(source: &str) -> Result<Self, regex_lite::Error> {
        let regex = if source.is_empty() {
            None
        } else {
            Some(Regex::new(source)?)
        };
        Ok(Self {
            source: source.to_owned(),
            regex,
            matches_all: matches!(source, ".*" | "^.*" | "^.*$" | ".*$"),
        })
    }

    /// Unanchored match, like Erlang's `re:run/3` that RabbitMQ uses.
    pub fn allows(&self, name: &str) -> bool {
        self.matches_all || self.regex.as_ref().is_some_and(|r| r.is_match(name))
    }
}

#[derive(Debug, Clone)]
pub struct Permission {
    pub configure: Pattern,
    pub write: Pattern,
    pub read: Pattern,
}

impl Permission {
    pub fn all() -> Self {
        let any = || Pattern::new(".*").unwrap_or_else(|_| unreachable!(".* is a valid regex"));
        Self {
            configure: any(),
            write: any(),
            read: any(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Configure,
    Write,
    Read,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    Queue,
    Exchange,
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Queue => "queue",
            Self::Exchange => "exchange",
        })
    }
}

#[derive(Debug, Default)]
pub struct Users {
    users: HashMap<String, User>,
    permissions: HashMap<(String, String), Permission>,
}

impl Users {
    pub fn put_user(&mut self, user: User) {
        self.users.insert(user.name.clone(), user);
    }

    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.get(name)
    }

    pub fn users(&self) -> impl Iterator<Item = &User> {
        self.users.values()
    }

    pub fn set_permission(&mut self, user: &str, vhost: &str, permission: Permission) {
        self.permissions
            .insert((user.to_owned(), vhost.to_owned()), permission);
    }

    pub fn permission(&self, user: &str, vhost: &str) -> Option<&Permission> {
        self.permissions.get(&(user.to_owned(), vhost.to_owned()))
    }

    /// Check a user's password; None if the user does not exist or it does not match.
    pub fn authenticate(&self, name: &str, password: &[u8]) -> Option<&User> {
        let user = self.users.get(name)?;
        password::verify(&user.password_hash, password).then_some(user)
    }
}

/// What a connection's user may do in its vhost, fixed at connection.open.
#[derive(Debug, Clone)]
pub struct Grant {
    pub user: String,
    pub vhost: String,
    pub permission: Permission,
}

impl Grant {
    /// RabbitMQ's check: the resource name must match the user's regex for that access kind.
    pub fn check(
        &self,
        access: Access,
        kind: ResourceKind,
        name: &str,
    ) -> Result<(), ControlError> {
        let pattern = match access {
            Access::Configure => &self.permission.configure,
            Access::Write => &self.permission.write,
            Access::Read => &self.permission.read,
        };
        let shown = if name.is_empty() && kind == ResourceKind::Exchange {
            "amq.default"
        } else {
            name
        };
        if pattern.allows(shown) {
            Ok(())
        } else {
            Err(ControlError::access_refused(format!(
                "access to {kind} '{shown}' in vhost '{}' refused for user '{}'",
                self.vhost, self.user
            )))
        }
    }
}
