//! Control-plane queries: snapshots of vhosts, queues, exchanges, bindings, users,
//! permissions, connections and consumers for the management API. Each takes the locks it
//! reads under briefly and copies out; nothing here blocks a publisher for long.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use warren_model::query::{
    BindingInfo, ChannelInfo, ConnectionSummary, ConsumerInfo, ExchangeInfo, PermissionInfo,
    QueueInfo, QueueOwner, TopicPermissionInfo, UserInfo, VhostInfo,
};

use warren_model::policy::{Policy, VhostPolicies};

use crate::broker::Broker;
use crate::policies::applied;
use crate::queue::outbox::{canonical, ConnectionShared, OutboxEvent};

/// How long a channel listing waits for connections to report.
const CHANNEL_SNAPSHOT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);
use crate::queue::Queue;
use crate::vhost::VHost;

impl Broker {
    /// The vhosts to look in: one by name (none if it does not exist), or all.
    fn vhosts_of(&self, vhost: Option<&str>) -> Vec<Arc<VHost>> {
        match vhost {
            Some(name) => self.vhost(name).into_iter().collect(),
            None => self.vhosts(),
        }
    }

    /// Open connections by id, to name exclusive queues' owners (only those are rendered).
    fn connections_by_id(&self) -> HashMap<u64, Arc<ConnectionShared>> {
        self.connections().into_iter().map(|c| (c.id, c)).collect()
    }

    pub fn vhost_infos(&self) -> Vec<VhostInfo> {
        // Traffic of the open connections by vhost (RabbitMQ's vhost `recv_oct` / `send_oct`
        // count open connections only).
        let mut open_traffic: HashMap<String, (u64, u64)> = HashMap::new();
        for c in self.connections() {
            let sum = open_traffic.entry(c.info.vhost.clone()).or_default();
            sum.0 += c.recv_oct.load(Ordering::Relaxed);
            sum.1 += c.send_oct.load(Ordering::Relaxed);
        }
        self.vhosts()
            .into_iter()
            .map(|v| {
                let (mut ready, mut unacked) = (0, 0);
                for q in v.queues() {
                    ready += u64::from(q.message_count());
                    unacked += q.unacked();
                }
                let (recv_oct, send_oct) = open_traffic.get(&*v.name).copied().unwrap_or_default();
                VhostInfo {
                    spec: v.metadata.lock().clone(),
                    messages_ready: ready,
                    messages_unacknowledged: unacked,
                    counters: v.totals.snapshot(),
                    recv_oct,
                    send_oct,
                }
            })
            .collect()
    }

    pub fn queue_infos(&self, vhost: Option<&str>) -> Vec<QueueInfo> {
        let connections = self.connections_by_id();
        let mut out = Vec::new();
        for v in self.vhosts_of(vhost) {
            let policies = self.policies.read().of_vhost(&v.name);
            out.extend(
                v.queues()
                    .iter()
                    .map(|q| queue_info(q, &connections, policies.as_deref())),
            );
        }
        out
    }

    pub fn queue_info(&self, vhost: &str, name: &str) -> Option<QueueInfo> {
        let q = self.vhost(vhost)?.queue(name)?;
        let policies = self.policies.read().of_vhost(vhost);
        Some(queue_info(
            &q,
            &self.connections_by_id(),
            policies.as_deref(),
        ))
    }

    pub fn exchange_infos(&self, vhost: Option<&str>) -> Vec<ExchangeInfo> {
        let mut out = Vec::new();
        for v in self.vhosts_of(vhost) {
            let policies = self.policies.read().of_vhost(&v.name);
            out.extend(v.exchange_infos().into_iter().map(|mut x| {
                x.policy = applied(policies.as_deref(), &x.name, true).name;
                x
            }));
        }
        out
    }

    /// Every policy (of one vhost), in (vhost, name) order.
    pub fn policy_list(&self, vhost: Option<&str>) -> Vec<Policy> {
        self.policies
            .read()
            .list()
            .filter(|p| vhost.is_none_or(|v| v == p.vhost))
            .cloned()
            .collect()
    }

    pub fn binding_infos(&self, vhost: Option<&str>) -> Vec<BindingInfo> {
        self.vhosts_of(vhost)
            .iter()
            .flat_map(|v| v.binding_infos())
            .collect()
    }

    pub fn user_infos(&self) -> Vec<UserInfo> {
        let users = self.users.read();
        users
            .users()
            .map(|u| UserInfo {
                name: u.name.clone(),
                password_hash: u.password_hash.clone(),
                hashing_algorithm: u.hashing_algorithm.clone(),
                tags: u.tags.clone(),
                limits: users.limits(&u.name),
            })
            .collect()
    }

    pub fn permission_infos(&self) -> Vec<PermissionInfo> {
        self.users
            .read()
            .permissions()
            .map(|(user, vhost, p)| PermissionInfo {
                user: user.to_owned(),
                vhost: vhost.to_owned(),
                configure: p.configure.source.clone(),
                write: p.write.source.clone(),
                read: p.read.source.clone(),
            })
            .collect()
    }

    pub fn topic_permission_infos(&self) -> Vec<TopicPermissionInfo> {
        self.users
            .read()
            .topic_permissions()
            .map(|(user, vhost, t)| TopicPermissionInfo {
                user: user.to_owned(),
                vhost: vhost.to_owned(),
                exchange: t.exchange.clone(),
                write: t.write.source.clone(),
                read: t.read.source.clone(),
            })
            .collect()
    }

    pub fn connection_summaries(&self) -> Vec<ConnectionSummary> {
        let blocked = self.alarm().any();
        self.connections()
            .iter()
            .map(|c| c.summary(blocked))
            .collect()
    }

    /// Every channel of every connection (of one connection, by name), as each
    /// connection's own task reports it; connections that do not answer within
    /// `CHANNEL_SNAPSHOT_TIMEOUT` are left out.
    pub async fn channel_infos(&self, connection: Option<&str>) -> Vec<ChannelInfo> {
        let mut waiting = Vec::new();
        for c in self.connections() {
            if connection.is_some_and(|name| name != c.info.name) {
                continue;
            }
            let (tx, rx) = tokio::sync::oneshot::channel();
            c.push(OutboxEvent::Snapshot(tx));
            waiting.push(rx);
        }
        let deadline = tokio::time::Instant::now() + CHANNEL_SNAPSHOT_TIMEOUT;
        let mut out = Vec::new();
        for rx in waiting {
            if let Ok(Ok(list)) = tokio::time::timeout_at(deadline, rx).await {
                out.extend(list);
            }
        }
        out
    }

    pub fn consumer_infos(&self, vhost: Option<&str>) -> Vec<ConsumerInfo> {
        let mut out = Vec::new();
        for v in self.vhosts_of(vhost) {
            for q in v.queues() {
                for (c, activity_status) in q.consumers_with_activity() {
                    out.push(ConsumerInfo {
                        vhost: v.name.to_string(),
                        queue: q.name().to_owned(),
                        connection: c.connection.info.name.clone(),
                        channel: c.channel,
                        consumer_tag: String::from_utf8_lossy(&c.tag).into_owned(),
                        ack_required: !c.no_ack,
                        exclusive: c.exclusive,
                        prefetch_count: u16::try_from(c.prefetch).unwrap_or(u16::MAX),
                        arguments: c.arguments.clone(),
                        active: c.is_active() && activity_status != "waiting",
                        activity_status,
                    });
                }
            }
        }
        out
    }
}

fn queue_info(
    q: &Queue,
    connections: &HashMap<u64, Arc<ConnectionShared>>,
    policies: Option<&VhostPolicies>,
) -> QueueInfo {
    let sizes = q.sizes();
    let bytes = sizes.bytes;
    let policy = applied(policies, q.name(), false);
    QueueInfo {
        vhost: q.vhost.to_string(),
        name: q.name().to_owned(),
        durable: q.spec.durable,
        auto_delete: q.spec.auto_delete,
        exclusive: q.spec.exclusive,
        owner: q
            .owner
            .and_then(|id| connections.get(&id))
            .map(|c| QueueOwner {
                name: c.info.name.clone(),
                peer_host: canonical(c.info.peer).ip().to_string(),
                peer_port: c.info.peer.port(),
            }),
        arguments: q.spec.arguments.clone(),
        messages_ready: u64::from(sizes.ready),
        messages_unacknowledged: q.unacked(),
        message_bytes_ready: bytes.total,
        message_bytes_unacknowledged: q.unacked_bytes(),
        message_bytes_ram: bytes.in_memory,
        messages_paged_out: bytes.paged_out,
        memory_bytes: sizes.memory_bytes,
        consumers: sizes.consumers,
        consumer_capacity: sizes.consumer_capacity,
        counters: q.counters(),
        policy: policy.name,
        effective_policy_definition: policy.definition,
        exclusive_consumer_tag: sizes
            .exclusive_consumer_tag
            .map(|t| String::from_utf8_lossy(&t).into_owned()),
        single_active_consumer_tag: sizes
            .single_active_consumer_tag
            .map(|t| String::from_utf8_lossy(&t).into_owned()),
    }
}
