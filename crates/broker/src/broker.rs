//! The broker: vhosts, users, live connections and the direct reply-to registry.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};

use crate::auth::{password, Permission, User, Users};
use crate::config::Config;
use crate::connection::shared::{ConnectionShared, OutboxEvent};
use crate::definitions::{Definitions, DefinitionsError};
use crate::error::AmqpError;
use crate::vhost::VHost;

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
    connections: Mutex<HashMap<u64, Arc<ConnectionShared>>>,
    reply_targets: Mutex<HashMap<Bytes, ReplyTarget>>,
    next_connection_id: AtomicU64,
}

impl Broker {
    /// A broker with the default vhost and user, plus any definitions the config names.
    pub fn new(config: Config) -> Result<Arc<Self>, DefinitionsError> {
        let broker = Self {
            vhosts: RwLock::new(HashMap::new()),
            users: RwLock::new(Users::default()),
            connections: Mutex::new(HashMap::new()),
            reply_targets: Mutex::new(HashMap::new()),
            next_connection_id: AtomicU64::new(1),
            config,
        };
        broker.add_vhost(&broker.config.default_vhost.clone());
        let user = User {
            name: broker.config.default_user.clone(),
            password_hash: password::hash_password(broker.config.default_pass.as_bytes()),
            tags: vec!["administrator".into()],
        };
        {
            let mut users = broker.users.write();
            users.put_user(user);
            users.set_permission(
                &broker.config.default_user,
                &broker.config.default_vhost,
                Permission::all(),
            );
        }
        if let Some(path) = broker.config.definitions.clone() {
            Definitions::load(&path)?.apply(&broker)?;
        }
        Ok(Arc::new(broker))
    }

    pub fn add_vhost(&self, name: &str) -> Arc<VHost> {
        self.vhosts
            .write()
            .entry(name.to_owned())
            .or_insert_with(|| Arc::new(VHost::new(name)))
            .clone()
    }

    pub fn vhost(&self, name: &str) -> Option<Arc<VHost>> {
        self.vhosts.read().get(name).cloned()
    }

    pub fn register_connection(&self) -> Arc<ConnectionShared> {
        let id = self.next_connection_id.fetch_add(1, Ordering::Relaxed);
        let shared = ConnectionShared::new(id);
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
            c.push(OutboxEvent::Close(AmqpError::new(
                warren_codec::reply::CONNECTION_FORCED,
                reason,
            )));
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
