//! The metadata log: where a durable metadata change goes before it takes effect.
//!
//! The control plane validates a command against current state, appends the durable
//! change as a [`MetaRecord`] here, then applies it in memory, under the lock that orders
//! changes to that state, so log order is change order. Today the log is the store's
//! journal (`meta.log`, group-committed; an AMQP `*-ok` or an HTTP reply waits until
//! [`MetaLog::appended`] is synced). In a cluster the Raft log takes its place behind this
//! trait: appending becomes proposing, and every node applies committed records the same
//! way start-up replays the journal.

use std::fmt::Debug;

use warren_store::meta::MetaRecord;
use warren_store::Store;

pub trait MetaLog: Send + Sync + Debug {
    /// Append one change; records are kept in call order.
    fn append(&self, record: &MetaRecord);

    /// Position of the latest append: a reply for a durable change waits until the log is
    /// durable this far.
    fn appended(&self) -> u64;
}

impl MetaLog for Store {
    fn append(&self, record: &MetaRecord) {
        self.journal(record);
    }

    fn appended(&self) -> u64 {
        self.journaled()
    }
}
