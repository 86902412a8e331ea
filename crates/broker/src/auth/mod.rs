//! Users, password hashes (RabbitMQ's salted SHA-256) and per-vhost permissions.

pub mod password;
pub mod throttle;

use std::collections::HashMap;
use std::fmt;

use regex_lite::Regex;

use warren_model::limits::{self, Limits};
use warren_model::ControlError;

#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    /// base64(salt ‖ sha256(salt ‖ password)), exactly as in RabbitMQ definitions; empty
    /// when the user has no password (it cannot log in with one).
    pub password_hash: String,
    /// RabbitMQ's `hashing_algorithm` for the hash.
    pub hashing_algorithm: String,
    pub tags: Vec<String>,
}

impl User {
    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }
}

/// A topic permission pattern with `{username}` and `{vhost}` replaced (RabbitMQ's variable
/// expansion); a pattern that no longer compiles grants nothing.
fn expand(p: &Pattern, user: &str, vhost: &str) -> Pattern {
    let source = p
        .source
        .replace("{username}", user)
        .replace("{vhost}", vhost);
    Pattern::new(&source).unwrap_or_else(|_| Pattern {
        source,
        regex: None,
        matches_all: false,
    })
}

/// Topic permissions of a user for one topic exchange: routing-key regexes.
#[derive(Debug, Clone)]
pub struct TopicPermission {
    pub exchange: String,
    pub write: Pattern,
    pub read: Pattern,
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

    /// A topic permission pattern as stored: its text may hold RabbitMQ's variables
    /// (`{username}`, `{vhost}`, `{client_id}`), so it is compiled only once they are
    /// expanded for a connection ([`Grant::new`]); on its own it matches nothing.
    pub fn template(source: &str) -> Result<Self, regex_lite::Error> {
        // Check it compiles with the variables filled in.
        let filled = source
            .replace("{username}", "u")
            .replace("{vhost}", "v")
            .replace("{client_id}", "c");
        Pattern::new(&filled)?;
        Ok(Self {
            source: source.to_owned(),
            regex: None,
            matches_all: false,
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
    /// Per (user, vhost): one entry per topic exchange.
    topic_permissions: HashMap<(String, String), Vec<TopicPermission>>,
    /// User limits (`max-connections`, `max-channels`) of the users that have any; they
    /// outlive a user's replacement (as in RabbitMQ) but not its deletion.
    limits: HashMap<String, Limits>,
}

impl Users {
    /// Add or replace a user; true if it is new.
    pub fn put_user(&mut self, user: User) -> bool {
        self.users.insert(user.name.clone(), user).is_none()
    }

    /// Remove a user and its permissions; false if there was none.
    pub fn delete_user(&mut self, name: &str) -> bool {
        self.permissions.retain(|(u, _), _| u != name);
        self.topic_permissions.retain(|(u, _), _| u != name);
        self.limits.remove(name);
        self.users.remove(name).is_some()
    }

    /// Replace a user's limits (empty: none).
    pub fn set_limits(&mut self, user: &str, limits: Limits) {
        if limits.is_empty() {
            self.limits.remove(user);
        } else {
            self.limits.insert(user.to_owned(), limits);
        }
    }

    /// A user's limits as set (empty when none).
    pub fn limits(&self, user: &str) -> Limits {
        self.limits.get(user).cloned().unwrap_or_default()
    }

    /// Limit `name` of `user` when it limits anything.
    pub fn limit(&self, user: &str, name: &str) -> Option<u64> {
        limits::effective(self.limits.get(user)?, name)
    }

    /// Forget every permission in a vhost (it is being deleted).
    pub fn forget_vhost(&mut self, vhost: &str) {
        self.permissions.retain(|(_, v), _| v != vhost);
        self.topic_permissions.retain(|(_, v), _| v != vhost);
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

    /// Remove a user's permissions in a vhost; false if there were none.
    pub fn clear_permission(&mut self, user: &str, vhost: &str) -> bool {
        self.permissions
            .remove(&(user.to_owned(), vhost.to_owned()))
            .is_some()
    }

    /// Every (user, vhost, permission), in no particular order.
    pub fn permissions(&self) -> impl Iterator<Item = (&str, &str, &Permission)> {
        self.permissions
            .iter()
            .map(|((u, v), p)| (u.as_str(), v.as_str(), p))
    }

    /// Set a user's topic permission for one exchange; true if it is new.
    pub fn set_topic_permission(&mut self, user: &str, vhost: &str, p: TopicPermission) -> bool {
        let list = self
            .topic_permissions
            .entry((user.to_owned(), vhost.to_owned()))
            .or_default();
        match list.iter_mut().find(|t| t.exchange == p.exchange) {
            Some(t) => {
                *t = p;
                false
            }
            None => {
                list.push(p);
                true
            }
        }
    }

    /// Remove a user's topic permissions in a vhost (for one exchange, or all); returns the
    /// exchanges whose permission went.
    pub fn clear_topic_permission(
        &mut self,
        user: &str,
        vhost: &str,
        exchange: Option<&str>,
    ) -> Vec<String> {
        let key = (user.to_owned(), vhost.to_owned());
        let Some(list) = self.topic_permissions.get_mut(&key) else {
            return Vec::new();
        };
        let gone: Vec<String> = list
            .extract_if(.., |t| exchange.is_none_or(|x| x == t.exchange))
            .map(|t| t.exchange)
            .collect();
        if list.is_empty() {
            self.topic_permissions.remove(&key);
        }
        gone
    }

    /// Every (user, vhost, topic permission), in no particular order.
    pub fn topic_permissions(&self) -> impl Iterator<Item = (&str, &str, &TopicPermission)> {
        self.topic_permissions
            .iter()
            .flat_map(|((u, v), list)| list.iter().map(move |t| (u.as_str(), v.as_str(), t)))
    }

    /// Check a user's password; None if the user does not exist or it does not match. A
    /// blank password never logs in (RabbitMQ's internal backend refuses it, whatever the
    /// stored hash).
    pub fn authenticate(&self, name: &str, password: &[u8]) -> Option<&User> {
        if password.is_empty() {
            return None;
        }
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
    /// Topic permissions in this vhost, with `{username}` and `{vhost}` expanded (empty for
    /// most users, and then topic exchanges are not checked at all).
    pub topic: Vec<TopicPermission>,
}

impl Grant {
    /// A grant for `user` in `vhost`: its permission there and its topic permissions with
    /// RabbitMQ's variables expanded.
    pub fn new(users: &Users, user: &str, vhost: &str, permission: Permission) -> Self {
        let topic = users
            .topic_permissions()
            .filter(|(u, v, _)| *u == user && *v == vhost)
            .map(|(_, _, t)| TopicPermission {
                exchange: t.exchange.clone(),
                write: expand(&t.write, user, vhost),
                read: expand(&t.read, user, vhost),
            })
            .collect();
        Self {
            user: user.to_owned(),
            vhost: vhost.to_owned(),
            permission,
            topic,
        }
    }

    /// RabbitMQ's topic authorisation: a routing key published to (write) or bound from
    /// (read) a topic exchange must match the user's topic permission for that exchange, if
    /// there is one.
    pub fn check_topic(
        &self,
        access: Access,
        exchange: &str,
        routing_key: &str,
    ) -> Result<(), ControlError> {
        let Some(t) = self.topic.iter().find(|t| t.exchange == exchange) else {
            return Ok(());
        };
        let pattern = if access == Access::Read {
            &t.read
        } else {
            &t.write
        };
        if pattern.allows(routing_key) {
            return Ok(());
        }
        Err(ControlError::access_refused(format!(
            "access to topic '{routing_key}' in exchange '{exchange}' in vhost '{}' refused for user '{}'",
            self.vhost, self.user
        )))
    }

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
