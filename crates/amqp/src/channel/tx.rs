//! Transactions: publishes and settlements are held until tx.commit, dropped on tx.rollback.

use warren_codec::protocol::{tx, AMQPClass};

use super::ack::{Settle, Unacked};
use super::publish::ReadyPublish;
use super::{Channel, ConnCtx};
use crate::error::{AmqpError, AmqpResult};

#[derive(Debug, Default)]
pub struct TxState {
    pub publishes: Vec<ReadyPublish>,
    pub pending_acks: Vec<(Unacked, Settle)>,
}

impl TxState {
    /// Settlements not committed: their deliveries go back to the unacked list.
    pub fn into_pending_acks(self) -> impl Iterator<Item = Unacked> {
        self.pending_acks.into_iter().map(|(u, _)| u)
    }
}

fn not_transactional() -> AmqpError {
    AmqpError::precondition_failed("channel is not transactional")
}

impl Channel {
    pub(super) fn tx_select(&mut self, ctx: &mut ConnCtx) -> AmqpResult<()> {
        if self.confirm.is_some() {
            return Err(AmqpError::precondition_failed(
                "cannot switch from confirm to tx mode",
            ));
        }
        if self.tx.is_none() {
            self.tx = Some(TxState::default());
        }
        ctx.send(
            self.id,
            AMQPClass::Tx(tx::AMQPMethod::SelectOk(tx::SelectOk {})),
        );
        Ok(())
    }

    pub(super) fn tx_commit(&mut self, ctx: &mut ConnCtx) -> AmqpResult<()> {
        let state = self.tx.take().ok_or_else(not_transactional)?;
        self.tx = Some(TxState::default());
        let mut result = Ok(());
        let mut rejected = false;
        for p in state.publishes {
            match self.route_and_enqueue(ctx, p) {
                Ok(enqueued) => {
                    // commit-ok (and anything after it) waits until these are on disk.
                    if let Some(lsn) = enqueued.lsn {
                        ctx.hold_until = ctx.hold_until.max(lsn);
                    }
                    rejected |= enqueued.rejected;
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        if rejected && result.is_ok() {
            // A queue at its length limit refused a message (RabbitMQ's failed tx).
            result = Err(AmqpError::precondition_failed("partial tx completion"));
        }
        for (how, group) in group_settlements(state.pending_acks) {
            self.settle(ctx, group, how);
        }
        result?;
        ctx.send(
            self.id,
            AMQPClass::Tx(tx::AMQPMethod::CommitOk(tx::CommitOk {})),
        );
        Ok(())
    }

    pub(super) fn tx_rollback(&mut self, ctx: &mut ConnCtx) -> AmqpResult<()> {
        let state = self.tx.take().ok_or_else(not_transactional)?;
        self.tx = Some(TxState::default());
        for u in state.into_pending_acks() {
            self.unacked.insert(u);
        }
        ctx.send(
            self.id,
            AMQPClass::Tx(tx::AMQPMethod::RollbackOk(tx::RollbackOk {})),
        );
        Ok(())
    }
}

/// Consecutive settlements of the same kind, applied together.
fn group_settlements(pending: Vec<(Unacked, Settle)>) -> Vec<(Settle, Vec<Unacked>)> {
    let mut groups: Vec<(Settle, Vec<Unacked>)> = Vec::new();
    for (u, how) in pending {
        match groups.last_mut() {
            Some((h, list)) if *h == how => list.push(u),
            _ => groups.push((how, vec![u])),
        }
    }
    groups
}
