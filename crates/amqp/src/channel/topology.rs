//! Topology methods: exchange and queue declare / delete / bind / unbind / purge, with
//! RabbitMQ's permission checks (configure to declare or delete; write on the destination
//! and read on the source to bind).

use std::sync::Arc;

use warren_codec::protocol::{exchange, queue, AMQPClass};

use super::{Channel, ConnCtx};
use crate::error::AmqpResult;
use warren_broker::auth::{Access, ResourceKind};
use warren_broker::queue::{generate_name, QueueSpec};
use warren_broker::vhost::ExchangeDeclare;

impl Channel {
    pub(super) fn exchange_declare(
        &mut self,
        ctx: &mut ConnCtx,
        d: exchange::Declare,
    ) -> AmqpResult<()> {
        let name = d.exchange.as_str();
        if !d.passive {
            ctx.grant
                .check(Access::Configure, ResourceKind::Exchange, name)?;
        }
        ctx.vhost.declare_exchange(&ExchangeDeclare {
            name,
            kind: d.kind.as_str(),
            passive: d.passive,
            durable: d.durable,
            auto_delete: d.auto_delete,
            internal: d.internal,
            arguments: &d.arguments,
        })?;
        if !d.nowait {
            ctx.send(
                self.id,
                AMQPClass::Exchange(exchange::AMQPMethod::DeclareOk(exchange::DeclareOk {})),
            );
        }
        Ok(())
    }

    pub(super) fn exchange_delete(
        &mut self,
        ctx: &mut ConnCtx,
        d: exchange::Delete,
    ) -> AmqpResult<()> {
        let name = d.exchange.as_str();
        ctx.grant
            .check(Access::Configure, ResourceKind::Exchange, name)?;
        match ctx.vhost.delete_exchange(name, d.if_unused) {
            Ok(()) => {}
            // Deleting an exchange that does not exist succeeds in RabbitMQ.
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
        if !d.nowait {
            ctx.send(
                self.id,
                AMQPClass::Exchange(exchange::AMQPMethod::DeleteOk(exchange::DeleteOk {})),
            );
        }
        Ok(())
    }

    pub(super) fn exchange_bind(&mut self, ctx: &mut ConnCtx, b: exchange::Bind) -> AmqpResult<()> {
        ctx.grant.check(
            Access::Write,
            ResourceKind::Exchange,
            b.destination.as_str(),
        )?;
        ctx.grant
            .check(Access::Read, ResourceKind::Exchange, b.source.as_str())?;
        ctx.vhost.bind_exchange(
            b.destination.as_str(),
            b.source.as_str(),
            b.routing_key.as_str().as_bytes(),
            &b.arguments,
        )?;
        if !b.nowait {
            ctx.send(
                self.id,
                AMQPClass::Exchange(exchange::AMQPMethod::BindOk(exchange::BindOk {})),
            );
        }
        Ok(())
    }

    pub(super) fn exchange_unbind(
        &mut self,
        ctx: &mut ConnCtx,
        u: exchange::Unbind,
    ) -> AmqpResult<()> {
        ctx.grant.check(
            Access::Write,
            ResourceKind::Exchange,
            u.destination.as_str(),
        )?;
        ctx.grant
            .check(Access::Read, ResourceKind::Exchange, u.source.as_str())?;
        ctx.vhost.unbind_exchange(
            u.destination.as_str(),
            u.source.as_str(),
            u.routing_key.as_str().as_bytes(),
            &u.arguments,
        )?;
        if !u.nowait {
            ctx.send(
                self.id,
                AMQPClass::Exchange(exchange::AMQPMethod::UnbindOk(exchange::UnbindOk {})),
            );
        }
        Ok(())
    }

    pub(super) fn queue_declare(&mut self, ctx: &mut ConnCtx, d: queue::Declare) -> AmqpResult<()> {
        let server_named = d.queue.as_str().is_empty() && !d.passive;
        // A passive declare of '' does not use the last-declared-queue shortcut (RabbitMQ).
        let name: Arc<str> = if server_named {
            generate_name()
        } else {
            Arc::from(d.queue.as_str())
        };
        if !d.passive {
            ctx.grant
                .check(Access::Configure, ResourceKind::Queue, &name)?;
        }
        let spec = QueueSpec {
            name: name.clone(),
            durable: d.durable,
            exclusive: d.exclusive,
            auto_delete: d.auto_delete,
            arguments: d.arguments,
        };
        let (q, messages, consumers) =
            ctx.vhost
                .declare_queue(spec, d.passive, server_named, ctx.shared.id)?;
        if q.owner == Some(ctx.shared.id)
            && !ctx.exclusive_queues.iter().any(|e| Arc::ptr_eq(e, &q))
        {
            ctx.exclusive_queues.push(q);
        }
        self.last_queue = Some(name.clone());
        if !d.nowait {
            ctx.send(
                self.id,
                AMQPClass::Queue(queue::AMQPMethod::DeclareOk(queue::DeclareOk {
                    queue: warren_broker::util::short_string(name.to_string()),
                    message_count: messages,
                    consumer_count: consumers,
                })),
            );
        }
        Ok(())
    }

    pub(super) fn queue_bind(&mut self, ctx: &mut ConnCtx, b: queue::Bind) -> AmqpResult<()> {
        let queue_name = self.queue_name(b.queue.as_str())?;
        ctx.grant
            .check(Access::Write, ResourceKind::Queue, &queue_name)?;
        ctx.grant
            .check(Access::Read, ResourceKind::Exchange, b.exchange.as_str())?;
        // queue.bind with queue '' and key '' binds with the queue's own name as key.
        let key = if b.queue.as_str().is_empty() && b.routing_key.as_str().is_empty() {
            queue_name.as_bytes()
        } else {
            b.routing_key.as_str().as_bytes()
        };
        ctx.vhost.bind_queue(
            &queue_name,
            b.exchange.as_str(),
            key,
            &b.arguments,
            ctx.shared.id,
        )?;
        if !b.nowait {
            ctx.send(
                self.id,
                AMQPClass::Queue(queue::AMQPMethod::BindOk(queue::BindOk {})),
            );
        }
        Ok(())
    }

    pub(super) fn queue_unbind(&mut self, ctx: &mut ConnCtx, u: queue::Unbind) -> AmqpResult<()> {
        let queue_name = self.queue_name(u.queue.as_str())?;
        ctx.grant
            .check(Access::Write, ResourceKind::Queue, &queue_name)?;
        ctx.grant
            .check(Access::Read, ResourceKind::Exchange, u.exchange.as_str())?;
        ctx.vhost.unbind_queue(
            &queue_name,
            u.exchange.as_str(),
            u.routing_key.as_str().as_bytes(),
            &u.arguments,
            ctx.shared.id,
        )?;
        ctx.send(
            self.id,
            AMQPClass::Queue(queue::AMQPMethod::UnbindOk(queue::UnbindOk {})),
        );
        Ok(())
    }

    pub(super) fn queue_purge(&mut self, ctx: &mut ConnCtx, p: queue::Purge) -> AmqpResult<()> {
        let queue_name = self.queue_name(p.queue.as_str())?;
        ctx.grant
            .check(Access::Read, ResourceKind::Queue, &queue_name)?;
        let q = ctx.vhost.lookup_queue(&queue_name, ctx.shared.id)?;
        let n = q.purge();
        if !p.nowait {
            ctx.send(
                self.id,
                AMQPClass::Queue(queue::AMQPMethod::PurgeOk(queue::PurgeOk {
                    message_count: n,
                })),
            );
        }
        Ok(())
    }

    pub(super) fn queue_delete(&mut self, ctx: &mut ConnCtx, d: queue::Delete) -> AmqpResult<()> {
        let queue_name = self.queue_name(d.queue.as_str())?;
        ctx.grant
            .check(Access::Configure, ResourceKind::Queue, &queue_name)?;
        let n = match ctx
            .vhost
            .delete_queue(&queue_name, d.if_unused, d.if_empty, ctx.shared.id)
        {
            Ok(n) => n,
            // Deleting a queue that does not exist succeeds in RabbitMQ, with count 0.
            Err(e) if e.is_not_found() => 0,
            Err(e) => return Err(e.into()),
        };
        ctx.exclusive_queues.retain(|q| q.name() != queue_name);
        if !d.nowait {
            ctx.send(
                self.id,
                AMQPClass::Queue(queue::AMQPMethod::DeleteOk(queue::DeleteOk {
                    message_count: n,
                })),
            );
        }
        Ok(())
    }
}
