//! Connection limits checked and held in one step: a connection to a vhost or of a user with
//! a `max-connections` limit takes an admission while it finishes its handshake, counted with
//! the open connections under the registry's lock, so a burst of connects cannot overshoot
//! the limit between the check and the connection's registration.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::broker::Broker;

/// Which limit refused a connection, and its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdmissionRefused {
    Vhost(u64),
    User(u64),
}

/// A connection being admitted: counted against its vhost's and user's limits until its
/// connection is registered (which ends it under the registry's lock) or it is dropped (the
/// handshake failed).
#[derive(Debug)]
pub struct Admission {
    broker: Arc<Broker>,
    /// None once ended.
    id: Option<u64>,
}

impl Admission {
    /// End it while the registry's lock is held (the connection was just added), with the
    /// admissions' lock taken after it (the lock order).
    pub(crate) fn end_registered(mut self, admitting: &mut HashMap<u64, (String, String)>) {
        if let Some(id) = self.id.take() {
            admitting.remove(&id);
        }
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            self.broker.admitting.lock().remove(&id);
        }
    }
}

impl Broker {
    /// Admit a connection to `vhost` as `user` under their `max-connections` limits (None:
    /// no limit; then nothing is taken). The vhost's limit is checked first (RabbitMQ's
    /// order).
    pub fn admit(
        self: &Arc<Self>,
        vhost: &str,
        user: &str,
        vhost_max: Option<u64>,
        user_max: Option<u64>,
    ) -> Result<Option<Admission>, AdmissionRefused> {
        if vhost_max.is_none() && user_max.is_none() {
            return Ok(None);
        }
        // Lock order: the registry, then the admissions.
        let connections = self.connections.lock();
        let mut admitting = self.admitting.lock();
        let count = |matches: &dyn Fn(&str, &str) -> bool| -> u64 {
            let open = connections
                .values()
                .filter(|c| matches(&c.info.vhost, &c.info.user))
                .count();
            let pending = admitting.values().filter(|(v, u)| matches(v, u)).count();
            (open + pending) as u64
        };
        if let Some(max) = vhost_max {
            if count(&|v, _| v == vhost) >= max {
                return Err(AdmissionRefused::Vhost(max));
            }
        }
        if let Some(max) = user_max {
            if count(&|_, u| u == user) >= max {
                return Err(AdmissionRefused::User(max));
            }
        }
        let id = self.next_admission.fetch_add(1, Ordering::Relaxed);
        admitting.insert(id, (vhost.to_owned(), user.to_owned()));
        Ok(Some(Admission {
            broker: Arc::clone(self),
            id: Some(id),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn an_admission_counts_against_the_limits_until_it_is_dropped() {
        let dir = tempfile::tempdir().expect("temp dir");
        let broker = Broker::new(Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        })
        .expect("broker");
        // No limit: nothing is taken.
        assert!(matches!(broker.admit("/", "u", None, None), Ok(None)));
        let first = broker.admit("/", "u", None, Some(2)).expect("first");
        let second = broker.admit("/", "u", None, Some(2)).expect("second");
        assert!(first.is_some() && second.is_some());
        // Neither is registered yet, yet both count: a third is refused.
        assert_eq!(
            broker.admit("/", "u", None, Some(2)).err(),
            Some(AdmissionRefused::User(2))
        );
        // Another user is not counted; the vhost's limit counts everyone, and comes first.
        assert!(broker.admit("/", "v", None, Some(2)).is_ok());
        assert_eq!(
            broker.admit("/", "u", Some(2), Some(2)).err(),
            Some(AdmissionRefused::Vhost(2))
        );
        drop(first);
        assert!(broker.admit("/", "u", None, Some(2)).is_ok());
        drop(second);
        broker.shutdown();
    }
}
