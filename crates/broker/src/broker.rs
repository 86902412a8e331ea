//! The broker's state: vhosts, users and permissions, policies, live connections, the
//! direct reply-to registry and the resource alarms. Changing it is the control plane's job
//! ([`crate::control`]); starting it, [`crate::boot`]; reading it, [`crate::query`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};

use warren_model::ControlError;
use warren_store::Store;

use crate::admission::{Admission, AdmissionRefused, Admissions};
use crate::alarm::Alarms;
use crate::auth::Users;
use crate::config::Config;
use crate::metalog::MetaLog;
use crate::policies::PolicyBook;
use crate::queue::outbox::{ConnectionInfo, ConnectionShared, OutboxEvent};
use crate::totals::{AuthAttempts, Churn, ChurnEvent};
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
    pub(crate) vhosts: RwLock<HashMap<String, Arc<VHost>>>,
    pub users: RwLock<Users>,
    /// Policies of every vhost, compiled for matching.
    pub policies: RwLock<PolicyBook>,
    pub(crate) connections: Mutex<HashMap<u64, Arc<ConnectionShared>>>,
    /// Connections being admitted under a connection limit (see `admission`).
    admissions: Admissions,
    reply_targets: Mutex<HashMap<Bytes, ReplyTarget>>,
    next_connection_id: AtomicU64,
    pub store: Arc<Store>,
    /// Durable metadata changes go here before they are applied (the store's journal).
    pub(crate) log: Arc<dyn MetaLog>,
    /// Resource alarms (memory, disk): publishing connections are blocked while one is set.
    alarm: tokio::sync::watch::Sender<Alarms>,
    /// Messages through every channel since start, added once per batch by connections.
    pub totals: crate::totals::Totals,
    /// Body sizes of published messages, added once per batch by connections.
    pub message_sizes: crate::totals::MessageSizes,
    /// Connections, channels and queues created and closed since start (shared with the
    /// vhosts).
    pub churn: Arc<Churn>,
    /// Messages dead-lettered or dropped by queues (shared with the vhosts).
    pub dead_letters: Arc<crate::totals::DeadLetterTotals>,
    /// AMQP logins that succeeded and failed.
    pub auth_attempts: AuthAttempts,
    /// Failed logins per client address, which slow that address's next attempts.
    pub login_throttle: crate::auth::throttle::LoginThrottle,
    /// Channels that have published at least once and are still open (RabbitMQ's
    /// `rabbitmq_global_publishers`); a channel adds itself on its first publish.
    pub publishers: AtomicU64,
}

impl Broker {
    /// Empty state around an opened store (see [`crate::boot`] for starting a broker).
    pub(crate) fn assemble(config: Config, store: Arc<Store>) -> Self {
        Self {
            vhosts: RwLock::new(HashMap::new()),
            users: RwLock::new(Users::default()),
            policies: RwLock::new(PolicyBook::default()),
            connections: Mutex::new(HashMap::new()),
            admissions: Admissions::default(),
            reply_targets: Mutex::new(HashMap::new()),
            next_connection_id: AtomicU64::new(1),
            config,
            log: Arc::clone(&store) as Arc<dyn MetaLog>,
            store,
            alarm: tokio::sync::watch::channel(Alarms::default()).0,
            totals: Default::default(),
            message_sizes: Default::default(),
            churn: Arc::default(),
            dead_letters: Arc::default(),
            auth_attempts: AuthAttempts::default(),
            login_throttle: Default::default(),
            publishers: AtomicU64::new(0),
        }
    }

    /// Messages dead-lettered since start, by reason and strategy: what each queue counted
    /// is moved into the totals first (under its lock), so the totals only grow and no
    /// message counts twice.
    pub fn dead_lettered(&self) -> crate::queue::DeadLetterCounts {
        for v in self.vhosts() {
            for q in v.queues() {
                self.dead_letters.add(&q.take_dropped());
            }
        }
        self.dead_letters.snapshot()
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

    /// Admit a connection to `vhost` as `user` under their `max-connections` limits (None:
    /// no limit; then nothing is taken), counted with the open connections under the
    /// registry's lock; the admission holds the place until [`Broker::register_connection`].
    pub fn admit(
        &self,
        vhost: &str,
        user: &str,
        vhost_max: Option<u64>,
        user_max: Option<u64>,
    ) -> Result<Option<Admission>, AdmissionRefused> {
        if vhost_max.is_none() && user_max.is_none() {
            return Ok(None);
        }
        let connections = self.connections.lock();
        let open = connections
            .values()
            .map(|c| (c.info.vhost.as_str(), c.info.user.as_str()));
        self.admissions
            .admit(open, vhost, user, vhost_max, user_max)
    }

    /// Add a connection to the registry; its admission (if it took one under a connection
    /// limit) ends in the same step, so it is never counted twice nor not at all.
    pub fn register_connection(
        &self,
        info: ConnectionInfo,
        admission: Option<Admission>,
    ) -> Arc<ConnectionShared> {
        let id = self.next_connection_id.fetch_add(1, Ordering::Relaxed);
        let shared = ConnectionShared::new(id, info);
        {
            let mut connections = self.connections.lock();
            connections.insert(id, Arc::clone(&shared));
            if let Some(admission) = admission {
                admission.end();
            }
        }
        self.churn.count(ChurnEvent::ConnectionCreated, 1);
        shared
    }

    pub fn unregister_connection(&self, id: u64) {
        if self.connections.lock().remove(&id).is_some() {
            self.churn.count(ChurnEvent::ConnectionClosed, 1);
        }
        self.reply_targets
            .lock()
            .retain(|_, t| t.connection.id != id);
    }

    /// Open channels of `user` on all its connections.
    pub fn channels_of(&self, user: &str) -> u64 {
        self.connections
            .lock()
            .values()
            .filter(|c| c.info.user == user)
            .map(|c| u64::from(c.channels.load(std::sync::atomic::Ordering::Relaxed)))
            .sum()
    }

    /// User limit `name` of `user` (`max-connections`, `max-channels`) when one applies.
    pub fn user_limit(&self, user: &str, name: &str) -> Option<u64> {
        self.users.read().limit(user, name)
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
