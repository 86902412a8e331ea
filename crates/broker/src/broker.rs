//! The broker: vhosts, users, live connections and the direct reply-to registry.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};

use warren_model::command::{Origin, VhostSpec};
use warren_model::{ControlError, ControlResult};

use crate::alarm::Alarms;
use crate::auth::{password, Pattern, Permission, TopicPermission, User, Users};
use crate::config::Config;
use crate::control::{vhost_named, Outcome};
use crate::metalog::MetaLog;
use crate::outbox::{ConnectionInfo, ConnectionShared, OutboxEvent};
use crate::policies::PolicyBook;
use crate::queue::QueuedMessage;
use crate::vhost::{ExchangeDeclare, VHost};
use warren_store::meta::{table_from_text, MetaModel, MetaRecord};
use warren_store::{Recovered, Store, StoreConfig, StoreError};

/// Why the broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Definitions(#[from] crate::definitions::LoadError),
    #[error("message store: {0}")]
    Store(#[from] StoreError),
}

/// Where replies to one channel's direct reply-to consumer go.
#[derive(Debug, Clone)]
pub struct ReplyTarget {
    pub connection: Arc<ConnectionShared>,
    pub channel: u16,
    pub consumer_tag: Bytes,
}

#[derive(Debug)]
pub struct Broker {
    pub config: Config,
    vhosts: RwLock<HashMap<String, Arc<VHost>>>,
    pub users: RwLock<Users>,
    /// Policies of every vhost, compiled for matching.
    pub policies: RwLock<PolicyBook>,
    connections: Mutex<HashMap<u64, Arc<ConnectionShared>>>,
    reply_targets: Mutex<HashMap<Bytes, ReplyTarget>>,
    next_connection_id: AtomicU64,
    pub store: Arc<Store>,
    /// Durable metadata changes go here before they are applied (the store's journal).
    log: Arc<dyn MetaLog>,
    /// Resource alarms (memory, disk): publishing connections are blocked while one is set.
    alarm: tokio::sync::watch::Sender<Alarms>,
}

impl Broker {
    /// Open the data directory, restore what it holds (or create the default vhost and user
    /// on first boot), then apply any definitions the config names.
    pub fn new(config: Config) -> Result<Arc<Self>, StartError> {
        let (store, recovered) = Store::open(StoreConfig {
            fs: Arc::new(warren_store::io::OsFs),
            dir: config.data_dir.clone(),
            segment_size: config.segment_size,
            memory_budget: config.memory_budget,
        })?;
        let broker = Self {
            vhosts: RwLock::new(HashMap::new()),
            users: RwLock::new(Users::default()),
            policies: RwLock::new(PolicyBook::default()),
            connections: Mutex::new(HashMap::new()),
            reply_targets: Mutex::new(HashMap::new()),
            next_connection_id: AtomicU64::new(1),
            config,
            log: Arc::clone(&store) as Arc<dyn MetaLog>,
            store,
            alarm: tokio::sync::watch::channel(Alarms::default()).0,
        };
        if recovered.first_boot {
            broker.create_defaults();
        }
        broker.restore(recovered);
        if let Err(e) = broker.finish_start() {
            // The store's threads hold it open: a failed start must stop them too.
            broker.shutdown();
            return Err(e);
        }
        Ok(Arc::new(broker))
    }

    /// Apply the definitions file, then make the restated journal the current one.
    fn finish_start(&self) -> Result<(), StartError> {
        if let Some(path) = &self.config.definitions {
            let defs = crate::definitions::load(path)?;
            let report = crate::definitions::import(self, &defs, None);
            for problem in &report.problems {
                tracing::warn!(path = %path.display(), "definitions: {problem}");
            }
        }
        self.store.commit_journal()?;
        Ok(())
    }

    /// RabbitMQ creates the default vhost and user only when its database is new.
    fn create_defaults(&self) {
        let cfg = &self.config;
        self.put_vhost(VhostSpec {
            description: "Default virtual host".into(),
            ..vhost_named(&cfg.default_vhost)
        });
        self.put_user(User {
            name: cfg.default_user.clone(),
            password_hash: password::hash_password(cfg.default_pass.as_bytes()),
            hashing_algorithm: password::DEFAULT_ALGORITHM.into(),
            tags: cfg.default_user_tags.clone(),
        });
        let [configure, write, read] = &cfg.default_permissions;
        let pattern = |p: &str| Pattern::new(p).or_else(|_| Pattern::new(""));
        match (pattern(configure), pattern(write), pattern(read)) {
            (Ok(configure), Ok(write), Ok(read)) => {
                let permission = Permission {
                    configure,
                    write,
                    read,
                };
                self.set_permission(&cfg.default_user, &cfg.default_vhost, permission);
            }
            _ => tracing::warn!("invalid default_permissions: the default user gets none"),
        }
    }

    /// Re-declare durable metadata and hand recovered messages to their queues. Going through
    /// the normal paths journals everything again: the new journal is a compact restatement.
    fn restore(&self, recovered: Recovered) {
        let Recovered { meta, messages, .. } = recovered;
        let MetaModel {
            vhosts,
            users,
            permissions,
            topic_permissions,
            policies,
            exchanges,
            queues,
            bindings,
            ..
        } = meta;
        for r in vhosts {
            if let MetaRecord::Vhost {
                name,
                description,
                tags,
                default_queue_type,
            } = r
            {
                self.put_vhost(VhostSpec {
                    name,
                    description,
                    tags,
                    default_queue_type,
                });
            }
        }
        for r in users.into_values() {
            if let MetaRecord::User {
                name,
                password_hash,
                hashing_algorithm,
                tags,
            } = r
            {
                let hashing_algorithm = if hashing_algorithm.is_empty() {
                    password::DEFAULT_ALGORITHM.to_owned()
                } else {
                    hashing_algorithm
                };
                self.put_user(User {
                    name,
                    password_hash,
                    hashing_algorithm,
                    tags,
                });
            }
        }
        for r in permissions.into_values() {
            if let MetaRecord::Permission {
                user,
                vhost,
                configure,
                write,
                read,
            } = r
            {
                let pattern = |p: &str| Pattern::new(p).or_else(|_| Pattern::new(""));
                if let (Ok(configure), Ok(write), Ok(read)) =
                    (pattern(&configure), pattern(&write), pattern(&read))
                {
                    self.set_permission(
                        &user,
                        &vhost,
                        Permission {
                            configure,
                            write,
                            read,
                        },
                    );
                }
            }
        }
        for r in topic_permissions.into_values() {
            if let MetaRecord::TopicPermission {
                user,
                vhost,
                exchange,
                write,
                read,
            } = r
            {
                let pattern = |p: &str| Pattern::new(p).or_else(|_| Pattern::new(""));
                if let (Ok(write), Ok(read)) = (pattern(&write), pattern(&read)) {
                    let p = TopicPermission {
                        exchange,
                        write,
                        read,
                    };
                    self.set_topic_permission(&user, &vhost, p);
                }
            }
        }
        for r in policies.into_values() {
            if let MetaRecord::Policy {
                vhost,
                name,
                pattern,
                apply_to,
                priority,
                definition,
            } = r
            {
                let definition = serde_json::from_str(&definition).unwrap_or_default();
                let restored = warren_model::policy::Policy::from_parts(
                    &vhost,
                    &name,
                    &serde_json::Value::String(pattern),
                    &definition,
                    Some(&serde_json::Value::from(priority)),
                    Some(&serde_json::Value::String(apply_to)),
                );
                match restored {
                    Ok(policy) => {
                        self.set_policy(policy);
                    }
                    Err(e) => {
                        tracing::warn!(vhost, name, error = %e.reason(), "cannot restore policy")
                    }
                }
            }
        }
        for r in exchanges.into_values() {
            if let MetaRecord::Exchange {
                vhost,
                name,
                kind,
                auto_delete,
                internal,
                arguments,
            } = r
            {
                let Some(v) = self.vhost(&vhost) else {
                    continue;
                };
                let arguments = table_from_text(&arguments);
                let declared = v.declare_exchange(&ExchangeDeclare {
                    name: &name,
                    kind: &kind,
                    passive: false,
                    durable: true,
                    auto_delete,
                    internal,
                    arguments: &arguments,
                });
                if let Err(e) = declared {
                    tracing::warn!(vhost, name, error = %e, "cannot restore exchange");
                }
            }
        }
        let mut by_id = HashMap::new();
        for r in queues.into_values() {
            if let MetaRecord::Queue {
                vhost,
                name,
                id,
                arguments,
            } = r
            {
                let Some(v) = self.vhost(&vhost) else {
                    continue;
                };
                by_id.insert(id, v.restore_queue(&name, table_from_text(&arguments), id));
            }
        }
        for b in bindings {
            let Some(v) = self.vhost(&b.vhost) else {
                continue;
            };
            let arguments = table_from_text(&b.arguments);
            let key = b.routing_key.as_bytes();
            let bound = if b.destination_type == "queue" {
                v.bind_queue(&b.destination, &b.source, key, &arguments, Origin::Operator)
            } else {
                v.bind_exchange(&b.destination, &b.source, key, &arguments)
            };
            if let Err(e) = bound {
                tracing::warn!(vhost = b.vhost, source = b.source, destination = b.destination, error = %e, "cannot restore binding");
            }
        }
        for (id, list) in messages {
            let Some(q) = by_id.get(&id) else {
                // No queue to hold them (cannot happen with a consistent journal): release
                // them so their segments can go.
                for (loc, _) in list {
                    drop(self.store.make_ref(loc, id, true));
                }
                continue;
            };
            q.restore(list.into_iter().map(|(loc, redelivered)| {
                let mut m = QueuedMessage::stored(None, self.store.make_ref(loc, id, true));
                m.redelivered = redelivered;
                m
            }));
        }
    }

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
        let v = Arc::new(VHost::new(
            &spec.name,
            Arc::clone(&self.store),
            Arc::clone(&self.log),
        ));
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
        if book.set(policy) {
            Outcome::Created
        } else {
            Outcome::Updated
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

    /// Wait until every metadata change made so far is durable (an operator's command is
    /// answered only then, like an AMQP declare-ok).
    pub async fn sync_metadata(&self) {
        let lsn = self.log.appended();
        self.store.wait_synced(lsn).await;
    }

    /// The resource alarms now set (publishers get blocked while any is).
    pub fn alarm(&self) -> Alarms {
        *self.alarm.borrow()
    }

    pub fn subscribe_alarm(&self) -> tokio::sync::watch::Receiver<Alarms> {
        self.alarm.subscribe()
    }

    /// Set or clear the disk alarm from a free-space reading; logs changes.
    pub fn update_disk_alarm(&self, free: u64) {
        let limit = self.config.disk_free_limit;
        self.set_alarm(
            free < limit,
            |a| &mut a.disk,
            "disk free space",
            free,
            limit,
        );
    }

    /// Set or clear the memory alarm from a reading of the broker's memory use; logs changes.
    pub fn update_memory_alarm(&self, used: u64) {
        let limit = self.config.memory_high_watermark_bytes;
        self.set_alarm(used > limit, |a| &mut a.memory, "memory use", used, limit);
    }

    fn set_alarm(
        &self,
        on: bool,
        flag: fn(&mut Alarms) -> &mut bool,
        what: &str,
        reading: u64,
        limit: u64,
    ) {
        if on == *flag(&mut self.alarm()) {
            return;
        }
        if on {
            tracing::warn!(reading, limit, "{what} past its limit: blocking publishers");
        } else {
            tracing::info!(reading, limit, "{what} back within its limit");
        }
        self.alarm.send_modify(|a| *flag(a) = on);
    }

    /// Stop: write out and sync the store. Called once connections are closed.
    pub fn shutdown(&self) {
        self.store.close();
    }

    pub fn vhost(&self, name: &str) -> Option<Arc<VHost>> {
        self.vhosts.read().get(name).cloned()
    }

    /// Every vhost, in no particular order.
    pub fn vhosts(&self) -> Vec<Arc<VHost>> {
        self.vhosts.read().values().cloned().collect()
    }

    /// Every open client connection, in no particular order.
    pub fn connections(&self) -> Vec<Arc<ConnectionShared>> {
        self.connections.lock().values().cloned().collect()
    }

    pub fn register_connection(&self, info: ConnectionInfo) -> Arc<ConnectionShared> {
        let id = self.next_connection_id.fetch_add(1, Ordering::Relaxed);
        let shared = ConnectionShared::new(id, info);
        self.connections.lock().insert(id, Arc::clone(&shared));
        shared
    }

    pub fn unregister_connection(&self, id: u64) {
        self.connections.lock().remove(&id);
        self.reply_targets
            .lock()
            .retain(|_, t| t.connection.id != id);
    }

    pub fn connection_count(&self) -> usize {
        self.connections.lock().len()
    }

    /// Ask every connection to close with 320 CONNECTION_FORCED (shutdown).
    pub fn close_all(&self, reason: &str) {
        for c in self.connections.lock().values() {
            c.push(OutboxEvent::Close(ControlError::connection_forced(reason)));
        }
    }

    pub fn register_reply_target(&self, token: Bytes, target: ReplyTarget) {
        self.reply_targets.lock().insert(token, target);
    }

    pub fn remove_reply_target(&self, token: &[u8]) {
        self.reply_targets.lock().remove(token);
    }

    pub fn reply_target(&self, token: &[u8]) -> Option<ReplyTarget> {
        self.reply_targets.lock().get(token).cloned()
    }
}
