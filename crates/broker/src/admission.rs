//! Connection limits checked and held in one step: a connection to a vhost or of a user with
//! a `max-connections` limit takes an admission while it finishes its handshake, counted with
//! the open connections under the registry's lock, so a burst of connects cannot overshoot
//! the limit between the check and the connection's registration (`Broker::admit`,
//! `Broker::register_connection`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

/// Which limit refused a connection, and its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdmissionRefused {
    Vhost(u64),
    User(u64),
}

type Table = Arc<Mutex<HashMap<u64, (String, String)>>>;

/// The connections being admitted: (vhost, user) per admission.
#[derive(Debug, Default)]
pub struct Admissions {
    table: Table,
    next_id: AtomicU64,
}

/// A connection being admitted: counted against its vhost's and user's limits until its
/// connection is registered (which ends it under the registry's lock) or it is dropped (the
/// handshake failed).
#[derive(Debug)]
pub struct Admission {
    table: Table,
    /// None once ended.
    id: Option<u64>,
}

impl Admissions {
    /// Admit a connection to `vhost` as `user` if, counted with `open` (the (vhost, user) of
    /// every open connection, read under the registry's lock, which the caller holds) and
    /// the admissions under way, it stays within `vhost_max` and `user_max` (None: no
    /// limit, and nothing is taken). The vhost's limit is checked first (RabbitMQ's order).
    pub fn admit<'a>(
        &self,
        open: impl Iterator<Item = (&'a str, &'a str)> + Clone,
        vhost: &str,
        user: &str,
        vhost_max: Option<u64>,
        user_max: Option<u64>,
    ) -> Result<Option<Admission>, AdmissionRefused> {
        if vhost_max.is_none() && user_max.is_none() {
            return Ok(None);
        }
        let mut table = self.table.lock();
        let count = |matches: &dyn Fn(&str, &str) -> bool| -> u64 {
            let opened = open.clone().filter(|(v, u)| matches(v, u)).count();
            let pending = table.values().filter(|(v, u)| matches(v, u)).count();
            (opened + pending) as u64
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
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        table.insert(id, (vhost.to_owned(), user.to_owned()));
        Ok(Some(Admission {
            table: Arc::clone(&self.table),
            id: Some(id),
        }))
    }
}

impl Admission {
    /// End it: its connection was just registered (the caller holds the registry's lock, so
    /// the connection is never counted twice nor not at all).
    pub fn end(mut self) {
        if let Some(id) = self.id.take() {
            self.table.lock().remove(&id);
        }
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            self.table.lock().remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_admission_counts_against_the_limits_until_it_ends() {
        let admissions = Admissions::default();
        let open = [("/", "u")];
        let admit = |vhost_max, user_max| {
            admissions.admit(open.iter().copied(), "/", "u", vhost_max, user_max)
        };
        // No limit: nothing is taken.
        assert!(matches!(admit(None, None), Ok(None)));
        // One open connection of u; a limit of 3 leaves room for two admissions.
        let first = admit(None, Some(3)).expect("first");
        let second = admit(None, Some(3)).expect("second");
        assert!(first.is_some() && second.is_some());
        // Neither is registered yet, yet both count: a third is refused.
        assert_eq!(admit(None, Some(3)).err(), Some(AdmissionRefused::User(3)));
        // Another user is not counted against u; the vhost's limit counts everyone, first.
        assert!(admissions
            .admit(open.iter().copied(), "/", "v", None, Some(1))
            .is_ok());
        assert_eq!(
            admit(Some(3), Some(3)).err(),
            Some(AdmissionRefused::Vhost(3))
        );
        // Ended (registered) or dropped (failed), an admission no longer counts.
        if let Some(first) = first {
            first.end();
        }
        assert!(admit(None, Some(3)).is_ok());
        drop(second);
        assert!(admissions.table.lock().is_empty());
    }
}
