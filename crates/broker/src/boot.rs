//! Starting the broker: open the message store, restore what it holds through the control
//! plane (or create the default vhost and user on first boot), apply the definitions file.

use std::collections::HashMap;
use std::sync::Arc;

use warren_model::command::{Command, Origin, VhostSpec};
use warren_store::meta::{table_from_text, MetaModel, MetaRecord};
use warren_store::{Recovered, Store, StoreConfig, StoreError};

use crate::auth::{password, Pattern, Permission, TopicPermission, User};
use crate::broker::Broker;
use crate::config::Config;
use crate::control::vhost_named;
use crate::queue::QueuedMessage;
use crate::vhost::ExchangeDeclare;

/// Why the broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Definitions(#[from] crate::definitions::LoadError),
    #[error("message store: {0}")]
    Store(#[from] StoreError),
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
        store.set_queue_memory_bytes(config.queue_memory_bytes);
        let broker = Self::assemble(config, store);
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
            vhost_limits,
            user_limits,
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
                let pattern = |p: &str| Pattern::template(p).or_else(|_| Pattern::new(""));
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
        use warren_model::limits::LimitsChange::Replace;
        let limit_commands = user_limits
            .into_values()
            .chain(vhost_limits.into_values())
            .filter_map(|r| match r {
                MetaRecord::UserLimits { user, limits } => Some(Command::ChangeUserLimits {
                    user,
                    change: Replace(limits),
                }),
                MetaRecord::VhostLimits { vhost, limits } => Some(Command::ChangeVhostLimits {
                    vhost,
                    change: Replace(limits),
                }),
                _ => None,
            });
        for command in limit_commands {
            if let Err(e) = self.execute(warren_model::command::Origin::Operator, command) {
                tracing::warn!(error = %e.message, "cannot restore limits");
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
                for r in list {
                    drop(self.store.make_ref(r.loc, id, true));
                }
                continue;
            };
            q.restore(list.into_iter().map(|r| {
                let stored = self.store.make_ref(r.loc, id, true);
                (QueuedMessage::recovered(stored, &r), r)
            }));
            q.ensure_janitor();
        }
    }
}
