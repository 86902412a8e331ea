//! The control plane: one entry point, [`Broker::execute`], for every change to vhosts,
//! users, permissions, exchanges, queues, bindings and connections. AMQP methods, the
//! management HTTP API and definitions import all build a [`Command`] and call it; each
//! maps the [`ControlError`] it may return to its own protocol.
//!
//! A command is validated against current state, its durable change is appended to the
//! metadata log ([`crate::metalog`]), then applied.

use std::sync::Arc;

use warren_model::command::{
    BindingSpec, Command, DestinationKind, ExchangeSpec, Origin, PermissionSpec, QueueSpec,
    TopicPermissionSpec, UserSpec, VhostSpec,
};
use warren_model::{ControlError, ControlResult};

use warren_store::meta::MetaRecord;

use crate::auth::{Pattern, Permission, TopicPermission, User};
use crate::broker::Broker;
use crate::queue::outbox::OutboxEvent;
use crate::vhost::{ExchangeDeclare, QueueDeclared, VHost};

/// What a command did.
#[derive(Debug)]
pub enum Outcome {
    /// A new object exists now.
    Created,
    /// The object existed; it now matches the command (which may have changed nothing).
    Updated,
    /// The object is gone.
    Deleted,
    /// queue.declare's result.
    Queue(QueueDeclared),
    /// Messages removed by a purge or a queue delete.
    Messages(u32),
}

impl Outcome {
    /// queue.declare's result (an internal error for any other outcome).
    pub fn into_queue(self) -> ControlResult<QueueDeclared> {
        match self {
            Outcome::Queue(q) => Ok(q),
            other => Err(ControlError::internal(format!(
                "expected a queue, got {other:?}"
            ))),
        }
    }

    /// A purge's or queue delete's message count (an internal error for any other outcome).
    pub fn into_messages(self) -> ControlResult<u32> {
        match self {
            Outcome::Messages(n) => Ok(n),
            other => Err(ControlError::internal(format!(
                "expected a count, got {other:?}"
            ))),
        }
    }
}

impl Broker {
    /// Run one control-plane command.
    pub fn execute(&self, origin: Origin, command: Command) -> ControlResult<Outcome> {
        match command {
            Command::AddVhost(spec) => Ok(self.put_vhost(spec)),
            Command::DeleteVhost { name } => self.delete_vhost(&name),
            Command::PutUser(spec) => Ok(self.put_user(user_from_spec(spec))),
            Command::DeleteUser { name } => self.delete_user(&name),
            Command::SetPermissions(spec) => self.set_permissions(spec),
            Command::ClearPermissions { user, vhost } => self.clear_permissions(&user, &vhost),
            Command::SetTopicPermissions(spec) => self.set_topic_permissions(spec),
            Command::ClearTopicPermissions {
                user,
                vhost,
                exchange,
            } => self.clear_topic_permissions(&user, &vhost, exchange.as_deref()),
            Command::DeclareExchange(spec) => {
                declare_exchange(&*self.vhost_or_err(&spec.vhost)?, &spec)
            }
            Command::DeleteExchange {
                vhost,
                name,
                if_unused,
            } => {
                self.vhost_or_err(&vhost)?
                    .delete_exchange(&name, if_unused)?;
                Ok(Outcome::Deleted)
            }
            Command::DeclareQueue(spec) => {
                let vhost = self.vhost_or_err(&spec.vhost)?;
                let server_named = spec.server_named;
                let declared = vhost.declare_queue(queue_spec(spec), server_named, origin)?;
                Ok(Outcome::Queue(declared))
            }
            Command::DeleteQueue {
                vhost,
                name,
                if_unused,
                if_empty,
            } => {
                let vhost = self.vhost_or_err(&vhost)?;
                let n = vhost.delete_queue(&name, if_unused, if_empty, origin)?;
                Ok(Outcome::Messages(n))
            }
            Command::PurgeQueue { vhost, name } => {
                let q = self.vhost_or_err(&vhost)?.lookup_queue(&name, origin)?;
                Ok(Outcome::Messages(q.purge()))
            }
            Command::Bind(b) => {
                let vhost = self.vhost_or_err(&b.vhost)?;
                bind(&vhost, &b, origin, true)
            }
            Command::Unbind(b) => {
                let vhost = self.vhost_or_err(&b.vhost)?;
                bind(&vhost, &b, origin, false)
            }
            Command::SetPolicy(policy) => {
                self.vhost_or_err(&policy.vhost)?;
                Ok(self.set_policy(policy))
            }
            Command::ClearPolicy { vhost, name } => self.clear_policy(&vhost, &name),
            Command::CloseConnection { name, reason } => self.close_connection(&name, &reason),
            Command::ChangeVhostLimits { vhost, change } => {
                // Looked up under the read lock: a vhost deleted and made again meanwhile
                // cannot get the change in memory while the journal gives it to the new one.
                let vhosts = self.vhosts.read();
                let v = vhosts.get(&vhost).ok_or_else(|| {
                    ControlError::not_found(format!("vhost '{vhost}' does not exist"))
                })?;
                let mut current = v.limits.lock();
                let limits = change.applied_to(&current);
                self.log.append(&MetaRecord::VhostLimits {
                    vhost,
                    limits: limits.clone(),
                });
                *current = limits;
                Ok(Outcome::Updated)
            }
            Command::ChangeUserLimits { user, change } => {
                let mut users = self.users.write();
                if users.user(&user).is_none() {
                    return Err(ControlError::not_found(format!("no user '{user}'")));
                }
                let limits = change.applied_to(&users.limits(&user));
                self.log.append(&MetaRecord::UserLimits {
                    user: user.clone(),
                    limits: limits.clone(),
                });
                users.set_limits(&user, limits);
                Ok(Outcome::Updated)
            }
        }
    }

    /// The vhost, or RabbitMQ's error for a missing one.
    pub fn vhost_or_err(&self, name: &str) -> ControlResult<Arc<VHost>> {
        self.vhost(name)
            .ok_or_else(|| ControlError::not_found(format!("vhost '{name}' does not exist")))
    }

    fn set_permissions(&self, spec: PermissionSpec) -> ControlResult<Outcome> {
        self.user_and_vhost_exist(&spec.user, &spec.vhost)?;
        let permission = Permission {
            configure: pattern(&spec.configure)?,
            write: pattern(&spec.write)?,
            read: pattern(&spec.read)?,
        };
        let existed = self
            .users
            .read()
            .permission(&spec.user, &spec.vhost)
            .is_some();
        self.set_permission(&spec.user, &spec.vhost, permission);
        Ok(if existed {
            Outcome::Updated
        } else {
            Outcome::Created
        })
    }

    fn set_topic_permissions(&self, spec: TopicPermissionSpec) -> ControlResult<Outcome> {
        self.user_and_vhost_exist(&spec.user, &spec.vhost)?;
        let template = |source: &str| {
            Pattern::template(source).map_err(|e| {
                ControlError::precondition_failed(format!(
                    "invalid regular expression '{source}': {e}"
                ))
            })
        };
        let permission = TopicPermission {
            exchange: spec.exchange,
            write: template(&spec.write)?,
            read: template(&spec.read)?,
        };
        Ok(self.set_topic_permission(&spec.user, &spec.vhost, permission))
    }

    fn user_and_vhost_exist(&self, user: &str, vhost: &str) -> ControlResult<()> {
        if self.users.read().user(user).is_none() {
            return Err(ControlError::not_found(format!(
                "user '{user}' does not exist"
            )));
        }
        self.vhost_or_err(vhost).map(drop)
    }
}

fn pattern(source: &str) -> ControlResult<Pattern> {
    Pattern::new(source).map_err(|e| {
        ControlError::precondition_failed(format!("invalid regular expression '{source}': {e}"))
    })
}

fn user_from_spec(spec: UserSpec) -> User {
    User {
        name: spec.name,
        password_hash: spec.password_hash,
        hashing_algorithm: spec.hashing_algorithm,
        tags: spec.tags,
    }
}

/// The vhost spec of a vhost created with only a name (AMQP-era callers, start-up).
pub fn vhost_named(name: &str) -> VhostSpec {
    VhostSpec {
        name: name.to_owned(),
        ..VhostSpec::default()
    }
}

fn queue_spec(spec: QueueSpec) -> crate::queue::QueueSpec {
    crate::queue::QueueSpec {
        name: Arc::from(spec.name),
        durable: spec.durable,
        exclusive: spec.exclusive,
        auto_delete: spec.auto_delete,
        arguments: spec.arguments,
    }
}

fn declare_exchange(vhost: &VHost, spec: &ExchangeSpec) -> ControlResult<Outcome> {
    let existed = vhost.exchange_exists(&spec.name);
    vhost.declare_exchange(&ExchangeDeclare {
        name: &spec.name,
        kind: &spec.kind,
        passive: false,
        durable: spec.durable,
        auto_delete: spec.auto_delete,
        internal: spec.internal,
        arguments: &spec.arguments,
    })?;
    Ok(if existed {
        Outcome::Updated
    } else {
        Outcome::Created
    })
}

fn bind(vhost: &VHost, b: &BindingSpec, origin: Origin, add: bool) -> ControlResult<Outcome> {
    let key = b.routing_key.as_bytes();
    match (b.destination_kind, add) {
        (DestinationKind::Queue, true) => {
            vhost.bind_queue(&b.destination, &b.source, key, &b.arguments, origin)?;
            Ok(Outcome::Created)
        }
        (DestinationKind::Queue, false) => {
            vhost.unbind_queue(&b.destination, &b.source, key, &b.arguments, origin)?;
            Ok(Outcome::Deleted)
        }
        (DestinationKind::Exchange, true) => {
            vhost.bind_exchange(&b.destination, &b.source, key, &b.arguments)?;
            Ok(Outcome::Created)
        }
        (DestinationKind::Exchange, false) => {
            vhost.unbind_exchange(&b.destination, &b.source, key, &b.arguments)?;
            Ok(Outcome::Deleted)
        }
    }
}

/// Commands on the broker's own state (vhosts, users, permissions, policies, connections).
impl Broker {
    /// Create a vhost, or update an existing one's metadata.
    pub fn put_vhost(&self, spec: VhostSpec) -> Outcome {
        let mut vhosts = self.vhosts.write();
        self.log.append(&MetaRecord::Vhost {
            name: spec.name.clone(),
            description: spec.description.clone(),
            tags: spec.tags.clone(),
            default_queue_type: spec.default_queue_type.clone(),
        });
        if let Some(v) = vhosts.get(&spec.name) {
            *v.metadata.lock() = spec;
            return Outcome::Updated;
        }
        let v = VHost::new(
            &spec.name,
            Arc::clone(&self.store),
            Arc::clone(&self.log),
            Arc::clone(&self.churn),
            Arc::clone(&self.dead_letters),
            crate::janitor::spawner,
        );
        *v.metadata.lock() = spec;
        vhosts.insert(v.name.to_string(), v);
        Outcome::Created
    }

    /// Delete a vhost with everything in it; its connections are closed.
    pub(crate) fn delete_vhost(&self, name: &str) -> ControlResult<Outcome> {
        let v = {
            let mut vhosts = self.vhosts.write();
            let v = vhosts
                .remove(name)
                .ok_or_else(|| ControlError::not_found(format!("vhost '{name}' does not exist")))?;
            self.log
                .append(&MetaRecord::DeleteVhost { name: name.into() });
            v
        };
        self.users.write().forget_vhost(name);
        self.policies.write().forget_vhost(name);
        for q in v.queues() {
            v.remove_queue(&q);
        }
        let reason = format!("vhost '{name}' is deleted");
        for c in self.connections.lock().values() {
            if c.info.vhost == name {
                c.push(OutboxEvent::Close(ControlError::connection_forced(&reason)));
            }
        }
        Ok(Outcome::Deleted)
    }

    /// Add or replace a user.
    pub fn put_user(&self, user: User) -> Outcome {
        let mut users = self.users.write();
        self.log.append(&MetaRecord::User {
            name: user.name.clone(),
            password_hash: user.password_hash.clone(),
            hashing_algorithm: user.hashing_algorithm.clone(),
            tags: user.tags.clone(),
        });
        if users.put_user(user) {
            Outcome::Created
        } else {
            Outcome::Updated
        }
    }

    /// Delete a user; its connections are closed (RabbitMQ's connection tracking).
    pub(crate) fn delete_user(&self, name: &str) -> ControlResult<Outcome> {
        {
            let mut users = self.users.write();
            if users.user(name).is_none() {
                return Err(ControlError::not_found(format!(
                    "user '{name}' does not exist"
                )));
            }
            self.log
                .append(&MetaRecord::DeleteUser { name: name.into() });
            users.delete_user(name);
        }
        let reason = format!("user '{name}' is deleted");
        for c in self.connections.lock().values() {
            if c.info.user == name {
                c.push(OutboxEvent::Close(ControlError::connection_forced(&reason)));
            }
        }
        Ok(Outcome::Deleted)
    }

    pub fn set_permission(&self, user: &str, vhost: &str, permission: Permission) {
        let mut users = self.users.write();
        self.log.append(&MetaRecord::Permission {
            user: user.into(),
            vhost: vhost.into(),
            configure: permission.configure.source.clone(),
            write: permission.write.source.clone(),
            read: permission.read.source.clone(),
        });
        users.set_permission(user, vhost, permission);
    }

    pub(crate) fn clear_permissions(&self, user: &str, vhost: &str) -> ControlResult<Outcome> {
        let mut users = self.users.write();
        if users.permission(user, vhost).is_none() {
            return Err(ControlError::not_found(format!(
                "user '{user}' has no permissions in vhost '{vhost}'"
            )));
        }
        self.log.append(&MetaRecord::DeletePermission {
            user: user.into(),
            vhost: vhost.into(),
        });
        users.clear_permission(user, vhost);
        Ok(Outcome::Deleted)
    }

    pub(crate) fn set_topic_permission(
        &self,
        user: &str,
        vhost: &str,
        permission: TopicPermission,
    ) -> Outcome {
        let mut users = self.users.write();
        self.log.append(&MetaRecord::TopicPermission {
            user: user.into(),
            vhost: vhost.into(),
            exchange: permission.exchange.clone(),
            write: permission.write.source.clone(),
            read: permission.read.source.clone(),
        });
        if users.set_topic_permission(user, vhost, permission) {
            Outcome::Created
        } else {
            Outcome::Updated
        }
    }

    pub(crate) fn clear_topic_permissions(
        &self,
        user: &str,
        vhost: &str,
        exchange: Option<&str>,
    ) -> ControlResult<Outcome> {
        let mut users = self.users.write();
        let gone = users.clear_topic_permission(user, vhost, exchange);
        if gone.is_empty() {
            return Err(ControlError::not_found(format!(
                "user '{user}' has no topic permissions in vhost '{vhost}'"
            )));
        }
        for exchange in gone {
            self.log.append(&MetaRecord::DeleteTopicPermission {
                user: user.into(),
                vhost: vhost.into(),
                exchange,
            });
        }
        Ok(Outcome::Deleted)
    }

    /// Set (create or replace) a policy.
    pub fn set_policy(&self, policy: warren_model::policy::Policy) -> Outcome {
        let mut book = self.policies.write();
        self.log.append(&MetaRecord::Policy {
            vhost: policy.vhost.clone(),
            name: policy.name.clone(),
            pattern: policy.pattern.clone(),
            apply_to: policy.apply_to.as_str().to_owned(),
            priority: policy.priority,
            definition: serde_json::Value::Object(policy.definition.as_map().clone()).to_string(),
        });
        let vhost = policy.vhost.clone();
        let created = book.set(policy);
        let compiled = book.of_vhost(&vhost);
        drop(book);
        self.apply_policies(&vhost, compiled);
        if created {
            Outcome::Created
        } else {
            Outcome::Updated
        }
    }

    /// A vhost's policies changed: its queues and exchanges follow (outside the policy lock:
    /// queues are locked one by one).
    fn apply_policies(
        &self,
        vhost: &str,
        compiled: Option<Arc<warren_model::policy::VhostPolicies>>,
    ) {
        if let Some(v) = self.vhost(vhost) {
            v.apply_policies(compiled);
        }
    }

    pub(crate) fn clear_policy(&self, vhost: &str, name: &str) -> ControlResult<Outcome> {
        let mut book = self.policies.write();
        if book.get(vhost, name).is_none() {
            return Err(ControlError::not_found(format!(
                "policy '{name}' in vhost '{vhost}' does not exist"
            )));
        }
        self.log.append(&MetaRecord::DeletePolicy {
            vhost: vhost.into(),
            name: name.into(),
        });
        book.clear(vhost, name);
        let compiled = book.of_vhost(vhost);
        drop(book);
        self.apply_policies(vhost, compiled);
        Ok(Outcome::Deleted)
    }

    /// Close a client connection by its name, with 320 CONNECTION_FORCED and `reason`.
    pub(crate) fn close_connection(&self, name: &str, reason: &str) -> ControlResult<Outcome> {
        let connections = self.connections.lock();
        let c = connections
            .values()
            .find(|c| c.info.name == name)
            .ok_or_else(|| {
                ControlError::not_found(format!("connection '{name}' does not exist"))
            })?;
        c.push(OutboxEvent::Close(ControlError::connection_forced(reason)));
        Ok(Outcome::Deleted)
    }
}
