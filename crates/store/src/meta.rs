//! The metadata journal (`meta.log`): durable vhosts, users, permissions, exchanges, queues
//! and bindings as a sequence of checksummed JSON records, replayed into a [`MetaModel`] at
//! start and rewritten compactly from it.

use std::collections::BTreeMap;

use base64::Engine;
use serde::{Deserialize, Serialize};
use warren_codec::types::FieldTable;

use super::record::{checked_len, seal, RECORD_PREFIX};

/// One change to durable metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum MetaRecord {
    Vhost {
        name: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        description: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tags: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        default_queue_type: Option<String>,
    },
    DeleteVhost {
        name: String,
    },
    User {
        name: String,
        password_hash: String,
        /// RabbitMQ's `hashing_algorithm` (absent in journals written before it was kept:
        /// those hashes are SHA-256).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        hashing_algorithm: String,
        tags: Vec<String>,
    },
    DeleteUser {
        name: String,
    },
    Permission {
        user: String,
        vhost: String,
        configure: String,
        write: String,
        read: String,
    },
    DeletePermission {
        user: String,
        vhost: String,
    },
    TopicPermission {
        user: String,
        vhost: String,
        exchange: String,
        write: String,
        read: String,
    },
    DeleteTopicPermission {
        user: String,
        vhost: String,
        exchange: String,
    },
    Exchange {
        vhost: String,
        name: String,
        kind: String,
        auto_delete: bool,
        internal: bool,
        arguments: String,
    },
    DeleteExchange {
        vhost: String,
        name: String,
    },
    Queue {
        vhost: String,
        name: String,
        id: u32,
        arguments: String,
    },
    DeleteQueue {
        vhost: String,
        name: String,
        id: u32,
    },
    Bind(BindingRecord),
    Unbind(BindingRecord),
    Policy {
        vhost: String,
        name: String,
        pattern: String,
        apply_to: String,
        priority: i64,
        /// The definition as JSON text.
        definition: String,
    },
    DeletePolicy {
        vhost: String,
        name: String,
    },
    /// A vhost's limits (`max-connections`, `max-queues`), all of them; empty clears them.
    VhostLimits {
        vhost: String,
        limits: BTreeMap<String, i64>,
    },
    /// A user's limits (`max-connections`, `max-channels`), all of them; empty clears them.
    UserLimits {
        user: String,
        limits: BTreeMap<String, i64>,
    },
}

impl MetaRecord {
    /// A vhost with only a name.
    pub fn vhost(name: &str) -> Self {
        MetaRecord::Vhost {
            name: name.to_owned(),
            description: String::new(),
            tags: Vec::new(),
            default_queue_type: None,
        }
    }
}

/// A binding between durable ends.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BindingRecord {
    pub vhost: String,
    pub source: String,
    /// "queue" or "exchange".
    pub destination_type: String,
    pub destination: String,
    pub routing_key: String,
    pub arguments: String,
}

/// A field table as stored in the journal: base64 of its AMQP encoding (exact, types kept).
pub fn table_to_text(table: &FieldTable) -> String {
    if table.inner().is_empty() {
        return String::new();
    }
    base64::engine::general_purpose::STANDARD.encode(warren_codec::content::encode_table(table))
}

pub fn table_from_text(text: &str) -> FieldTable {
    if text.is_empty() {
        return FieldTable::default();
    }
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()
        .and_then(|b| warren_codec::content::decode_table(&b).ok())
        .unwrap_or_default()
}

/// Append one record to a journal buffer.
pub fn encode(out: &mut Vec<u8>, record: &MetaRecord) {
    let start = out.len();
    out.extend_from_slice(&[0; RECORD_PREFIX]);
    // Serialising these plain structs cannot fail.
    if serde_json::to_writer(&mut *out, record).is_err() {
        out.truncate(start);
        return;
    }
    seal(out, start);
}

/// Read a journal: the intact records, and how many bytes at the end were dropped (a torn
/// or damaged tail; everything after the first bad record is ignored).
pub fn decode_all(buf: &[u8]) -> (Vec<MetaRecord>, usize) {
    let mut records = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        let Ok(len) = checked_len(&buf[at..]) else {
            break;
        };
        match serde_json::from_slice(&buf[at + RECORD_PREFIX..at + len]) {
            Ok(r) => records.push(r),
            Err(_) => break,
        }
        at += len;
    }
    (records, buf.len() - at)
}

fn vhost_name(r: &MetaRecord) -> &str {
    match r {
        MetaRecord::Vhost { name, .. } => name,
        _ => "",
    }
}

/// Durable metadata after replaying a journal.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct MetaModel {
    /// Vhost records in creation order.
    pub vhosts: Vec<MetaRecord>,
    pub users: BTreeMap<String, MetaRecord>,
    pub permissions: BTreeMap<(String, String), MetaRecord>,
    /// Keyed by (user, vhost, exchange).
    pub topic_permissions: BTreeMap<(String, String, String), MetaRecord>,
    /// Keyed by (vhost, name).
    pub policies: BTreeMap<(String, String), MetaRecord>,
    /// Keyed by vhost.
    pub vhost_limits: BTreeMap<String, MetaRecord>,
    /// Keyed by user.
    pub user_limits: BTreeMap<String, MetaRecord>,
    pub exchanges: BTreeMap<(String, String), MetaRecord>,
    pub queues: BTreeMap<(String, String), MetaRecord>,
    pub bindings: Vec<BindingRecord>,
    /// Highest queue id ever handed out (ids are never reused).
    pub max_queue_id: u32,
}

impl MetaModel {
    pub fn replay(records: Vec<MetaRecord>) -> Self {
        let mut m = Self::default();
        for r in records {
            m.apply(r);
        }
        m
    }

    /// Queue ids that exist, with their vhost and name.
    pub fn queue_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.queues.values().filter_map(|r| match r {
            MetaRecord::Queue { id, .. } => Some(*id),
            _ => None,
        })
    }

    fn apply(&mut self, r: MetaRecord) {
        match &r {
            MetaRecord::Vhost { name, .. } => {
                match self.vhosts.iter_mut().find(|v| vhost_name(v) == name) {
                    Some(v) => *v = r,
                    None => self.vhosts.push(r),
                }
            }
            MetaRecord::DeleteVhost { name } => {
                self.vhosts.retain(|v| vhost_name(v) != name);
                self.permissions.retain(|(_, v), _| v != name);
                self.topic_permissions.retain(|(_, v, _), _| v != name);
                self.policies.retain(|(v, _), _| v != name);
                self.vhost_limits.remove(name);
                self.exchanges.retain(|(v, _), _| v != name);
                self.queues.retain(|(v, _), _| v != name);
                self.bindings.retain(|b| &b.vhost != name);
            }
            MetaRecord::User { name, .. } => {
                self.users.insert(name.clone(), r);
            }
            MetaRecord::DeleteUser { name } => {
                self.users.remove(name);
                self.user_limits.remove(name);
                self.permissions.retain(|(u, _), _| u != name);
                self.topic_permissions.retain(|(u, _, _), _| u != name);
            }
            MetaRecord::Permission { user, vhost, .. } => {
                self.permissions.insert((user.clone(), vhost.clone()), r);
            }
            MetaRecord::DeletePermission { user, vhost } => {
                self.permissions.remove(&(user.clone(), vhost.clone()));
            }
            MetaRecord::TopicPermission {
                user,
                vhost,
                exchange,
                ..
            } => {
                let key = (user.clone(), vhost.clone(), exchange.clone());
                self.topic_permissions.insert(key, r);
            }
            MetaRecord::DeleteTopicPermission {
                user,
                vhost,
                exchange,
            } => {
                let key = (user.clone(), vhost.clone(), exchange.clone());
                self.topic_permissions.remove(&key);
            }
            MetaRecord::Exchange { vhost, name, .. } => {
                self.exchanges.insert((vhost.clone(), name.clone()), r);
            }
            MetaRecord::DeleteExchange { vhost, name } => {
                self.exchanges.remove(&(vhost.clone(), name.clone()));
                self.bindings.retain(|b| {
                    !(b.vhost == *vhost
                        && (b.source == *name
                            || (b.destination_type == "exchange" && b.destination == *name)))
                });
            }
            MetaRecord::Queue {
                vhost, name, id, ..
            } => {
                self.max_queue_id = self.max_queue_id.max(*id);
                self.queues.insert((vhost.clone(), name.clone()), r);
            }
            MetaRecord::DeleteQueue { vhost, name, id } => {
                self.max_queue_id = self.max_queue_id.max(*id);
                let key = (vhost.clone(), name.clone());
                if matches!(self.queues.get(&key), Some(MetaRecord::Queue { id: cur, .. }) if cur == id)
                {
                    self.queues.remove(&key);
                }
                self.bindings.retain(|b| {
                    !(b.vhost == *vhost && b.destination_type == "queue" && b.destination == *name)
                });
            }
            MetaRecord::Bind(b) => {
                if !self.bindings.contains(b) {
                    self.bindings.push(b.clone());
                }
            }
            MetaRecord::Unbind(b) => self.bindings.retain(|x| x != b),
            MetaRecord::Policy { vhost, name, .. } => {
                self.policies.insert((vhost.clone(), name.clone()), r);
            }
            MetaRecord::DeletePolicy { vhost, name } => {
                self.policies.remove(&(vhost.clone(), name.clone()));
            }
            MetaRecord::VhostLimits { vhost, limits } => {
                if limits.is_empty() {
                    self.vhost_limits.remove(vhost);
                } else {
                    self.vhost_limits.insert(vhost.clone(), r.clone());
                }
            }
            MetaRecord::UserLimits { user, limits } => {
                if limits.is_empty() {
                    self.user_limits.remove(user);
                } else {
                    self.user_limits.insert(user.clone(), r.clone());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(dest: &str) -> BindingRecord {
        BindingRecord {
            vhost: "/".into(),
            source: "x".into(),
            destination_type: "queue".into(),
            destination: dest.into(),
            routing_key: "k".into(),
            arguments: String::new(),
        }
    }

    #[test]
    fn journal_round_trips_and_stops_at_a_torn_tail() {
        let records = vec![
            MetaRecord::vhost("/"),
            MetaRecord::Queue {
                vhost: "/".into(),
                name: "q".into(),
                id: 4,
                arguments: String::new(),
            },
            MetaRecord::Bind(binding("q")),
        ];
        let mut buf = Vec::new();
        for r in &records {
            encode(&mut buf, r);
        }
        assert_eq!(decode_all(&buf), (records.clone(), 0));
        let cut = buf.len() - 3;
        let (partial, dropped) = decode_all(&buf[..cut]);
        assert_eq!(partial, records[..2].to_vec());
        assert!(dropped > 0);
    }

    #[test]
    fn deleting_a_queue_drops_its_bindings_and_keeps_its_id_used() {
        let m = MetaModel::replay(vec![
            MetaRecord::Queue {
                vhost: "/".into(),
                name: "q".into(),
                id: 9,
                arguments: String::new(),
            },
            MetaRecord::Bind(binding("q")),
            MetaRecord::Bind(binding("other")),
            MetaRecord::DeleteQueue {
                vhost: "/".into(),
                name: "q".into(),
                id: 9,
            },
        ]);
        assert!(m.queues.is_empty());
        assert_eq!(m.bindings, vec![binding("other")]);
        assert_eq!(m.max_queue_id, 9);
    }

    #[test]
    fn limits_go_with_their_vhost_or_user_and_empty_ones_clear() {
        let limits = |n: i64| BTreeMap::from([("max-connections".to_owned(), n)]);
        let user = |name: &str| MetaRecord::User {
            name: name.into(),
            password_hash: String::new(),
            hashing_algorithm: String::new(),
            tags: vec![],
        };
        let m = MetaModel::replay(vec![
            MetaRecord::vhost("a"),
            MetaRecord::vhost("b"),
            user("u"),
            user("v"),
            MetaRecord::VhostLimits {
                vhost: "a".into(),
                limits: limits(1),
            },
            MetaRecord::VhostLimits {
                vhost: "b".into(),
                limits: limits(2),
            },
            MetaRecord::DeleteVhost { name: "b".into() },
            MetaRecord::UserLimits {
                user: "u".into(),
                limits: limits(3),
            },
            MetaRecord::UserLimits {
                user: "v".into(),
                limits: limits(4),
            },
            MetaRecord::DeleteUser { name: "v".into() },
            MetaRecord::VhostLimits {
                vhost: "a".into(),
                limits: limits(5),
            },
        ]);
        assert_eq!(m.vhost_limits.keys().collect::<Vec<_>>(), ["a"]);
        assert_eq!(
            m.vhost_limits["a"],
            MetaRecord::VhostLimits {
                vhost: "a".into(),
                limits: limits(5)
            }
        );
        assert_eq!(m.user_limits.keys().collect::<Vec<_>>(), ["u"]);
        let cleared = MetaModel::replay(vec![
            MetaRecord::UserLimits {
                user: "u".into(),
                limits: limits(3),
            },
            MetaRecord::UserLimits {
                user: "u".into(),
                limits: BTreeMap::new(),
            },
        ]);
        assert!(cleared.user_limits.is_empty());
    }
}
