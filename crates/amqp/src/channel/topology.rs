//! Topology methods: exchange and queue declare / delete / bind / unbind / purge, with
//! RabbitMQ's permission checks (configure to declare or delete; write on the destination
//! and read on the source to bind). Every change is a control-plane command
//! (`Broker::execute`); passive declares are lookups.

use warren_codec::protocol::{exchange, queue, AMQPClass};
use warren_codec::types::FieldTable;
use warren_model::command::{
    BindingSpec, Command, DestinationKind, ExchangeSpec, Origin, QueueSpec,
};

use super::{Channel, ConnCtx};
use crate::error::AmqpResult;
use warren_broker::auth::{Access, ResourceKind};
use warren_broker::control::Outcome;
use warren_broker::queue::generate_name;
use warren_broker::vhost::ExchangeDeclare;

impl ConnCtx {
    /// RabbitMQ checks read topic permission on the routing key when binding from a topic
    /// exchange.
    fn check_bind_topic(&self, source: &str, routing_key: &str) -> AmqpResult<()> {
        if !self.grant.topic.is_empty() && self.vhost.is_topic_exchange(source) {
            self.grant.check_topic(Access::Read, source, routing_key)?;
        }
        Ok(())
    }

    fn origin(&self) -> Origin {
        Origin::Connection(self.shared.id)
    }

    /// Run a command in this connection's vhost.
    fn execute(&self, command: Command) -> AmqpResult<Outcome> {
        Ok(self.broker.execute(self.origin(), command)?)
    }

    fn binding(
        &self,
        source: &str,
        destination_kind: DestinationKind,
        destination: &str,
        routing_key: &str,
        arguments: FieldTable,
    ) -> BindingSpec {
        BindingSpec {
            vhost: self.vhost.name.to_string(),
            source: source.to_owned(),
            destination_kind,
            destination: destination.to_owned(),
            routing_key: routing_key.to_owned(),
            arguments,
        }
    }
}

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
        if d.passive {
            ctx.vhost.declare_exchange(&ExchangeDeclare {
                name,
                kind: d.kind.as_str(),
                passive: true,
                durable: d.durable,
                auto_delete: d.auto_delete,
                internal: d.internal,
                arguments: &d.arguments,
            })?;
        } else {
            ctx.execute(Command::DeclareExchange(ExchangeSpec {
                vhost: ctx.vhost.name.to_string(),
                name: name.to_owned(),
                kind: d.kind.to_string(),
                durable: d.durable,
                auto_delete: d.auto_delete,
                internal: d.internal,
                arguments: d.arguments,
            }))?;
        }
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
        let deleted = ctx.broker.execute(
            ctx.origin(),
            Command::DeleteExchange {
                vhost: ctx.vhost.name.to_string(),
                name: name.to_owned(),
                if_unused: d.if_unused,
            },
        );
        match deleted {
            Ok(_) => {}
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
        ctx.check_bind_topic(b.source.as_str(), b.routing_key.as_str())?;
        let binding = ctx.binding(
            b.source.as_str(),
            DestinationKind::Exchange,
            b.destination.as_str(),
            b.routing_key.as_str(),
            b.arguments,
        );
        ctx.execute(Command::Bind(binding))?;
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
        let binding = ctx.binding(
            u.source.as_str(),
            DestinationKind::Exchange,
            u.destination.as_str(),
            u.routing_key.as_str(),
            u.arguments,
        );
        ctx.execute(Command::Unbind(binding))?;
        if !u.nowait {
            ctx.send(
                self.id,
                AMQPClass::Exchange(exchange::AMQPMethod::UnbindOk(exchange::UnbindOk {})),
            );
        }
        Ok(())
    }

    pub(super) fn queue_declare(&mut self, ctx: &mut ConnCtx, d: queue::Declare) -> AmqpResult<()> {
        let (name, messages, consumers) = if d.passive {
            // A passive declare of '' does not use the last-declared-queue shortcut (RabbitMQ).
            let q = ctx.vhost.lookup_queue(d.queue.as_str(), ctx.origin())?;
            let (messages, consumers) = q.counts();
            (q.spec.name.clone(), messages, consumers)
        } else {
            let server_named = d.queue.as_str().is_empty();
            let name = if server_named {
                generate_name().to_string()
            } else {
                d.queue.to_string()
            };
            ctx.grant
                .check(Access::Configure, ResourceKind::Queue, &name)?;
            let declared = ctx.broker.execute(
                ctx.origin(),
                Command::DeclareQueue(QueueSpec {
                    vhost: ctx.vhost.name.to_string(),
                    name,
                    server_named,
                    durable: d.durable,
                    exclusive: d.exclusive,
                    auto_delete: d.auto_delete,
                    arguments: d.arguments,
                }),
            );
            let declared = declared.and_then(Outcome::into_queue)?;
            let q = declared.queue;
            if q.owner == Some(ctx.shared.id)
                && !ctx
                    .exclusive_queues
                    .iter()
                    .any(|e| std::sync::Arc::ptr_eq(e, &q))
            {
                ctx.exclusive_queues.push(std::sync::Arc::clone(&q));
            }
            (q.spec.name.clone(), declared.messages, declared.consumers)
        };
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
            &*queue_name
        } else {
            b.routing_key.as_str()
        };
        ctx.check_bind_topic(b.exchange.as_str(), key)?;
        let binding = ctx.binding(
            b.exchange.as_str(),
            DestinationKind::Queue,
            &queue_name,
            key,
            b.arguments,
        );
        ctx.execute(Command::Bind(binding))?;
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
        let binding = ctx.binding(
            u.exchange.as_str(),
            DestinationKind::Queue,
            &queue_name,
            u.routing_key.as_str(),
            u.arguments,
        );
        ctx.execute(Command::Unbind(binding))?;
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
        let purged = ctx.broker.execute(
            ctx.origin(),
            Command::PurgeQueue {
                vhost: ctx.vhost.name.to_string(),
                name: queue_name.to_string(),
            },
        );
        let n = purged.and_then(Outcome::into_messages)?;
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
        let deleted = ctx.broker.execute(
            ctx.origin(),
            Command::DeleteQueue {
                vhost: ctx.vhost.name.to_string(),
                name: queue_name.to_string(),
                if_unused: d.if_unused,
                if_empty: d.if_empty,
            },
        );
        let n = match deleted.and_then(Outcome::into_messages) {
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
