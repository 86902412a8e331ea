//! A lean AMQP 0-9-1 client for the control plane: handshake (PLAIN), channel open and the
//! synchronous topology methods, one request at a time (or pipelined by the caller).
//!
//! The data plane (publishing, consuming) does not go through this type: the scenario takes
//! the socket and whatever bytes are already buffered with [`Conn::into_parts`] and runs its
//! own tight loops (see `producer` and `consumer`).

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use warren_codec::frame::{
    split_frame, Frame, FRAME_BODY, FRAME_HEARTBEAT, FRAME_METHOD, FRAME_MIN_SIZE, PROTOCOL_HEADER,
};
use warren_codec::method::{decode_method, method_name, write_method, Method};
use warren_codec::protocol::{basic, channel, confirm, connection, exchange, queue, AMQPClass};
use warren_codec::types::{AMQPValue, FieldTable, LongString, ShortString};

use crate::stream::Stream;
use crate::uri::AmqpUri;

/// How long any single control-plane step may take before we give up.
pub const RPC_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy)]
pub struct ConnectOptions {
    /// Heartbeat interval we ask for in tune-ok (0 = off).
    pub heartbeat: u16,
    /// Largest frame we accept (the server's limit wins if lower).
    pub frame_max: u32,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            heartbeat: 0,
            frame_max: 131_072,
        }
    }
}

pub struct Conn {
    stream: Stream,
    rbuf: BytesMut,
    out: Vec<u8>,
    pub frame_max: u32,
    pub heartbeat: u16,
    /// "product version" from the server properties, e.g. "RabbitMQ 3.10.8".
    pub server: String,
}

/// What a connection hands to a data-plane loop.
pub struct Parts {
    pub stream: Stream,
    /// Bytes read but not yet parsed (deliveries may follow consume-ok in the same read).
    pub leftover: Vec<u8>,
    pub frame_max: u32,
}

fn short(s: &str) -> ShortString {
    ShortString::from(s.to_owned())
}

impl Conn {
    pub async fn connect(uri: &AmqpUri, opts: ConnectOptions) -> Result<Self> {
        tokio::time::timeout(RPC_TIMEOUT, Self::connect_inner(uri, opts))
            .await
            .map_err(|_| anyhow!("timed out connecting to {}", uri.addr()))?
    }

    async fn connect_inner(uri: &AmqpUri, opts: ConnectOptions) -> Result<Self> {
        let stream = TcpStream::connect(uri.addr())
            .await
            .with_context(|| format!("cannot connect to {}", uri.addr()))?;
        stream.set_nodelay(true)?;
        let stream = if uri.tls {
            Stream::tls(stream, &uri.host).await?
        } else {
            Stream::Plain(stream)
        };
        let mut c = Conn {
            stream,
            rbuf: BytesMut::with_capacity(16 * 1024),
            out: Vec::with_capacity(4096),
            frame_max: FRAME_MIN_SIZE,
            heartbeat: 0,
            server: String::new(),
        };
        c.stream.write_all(PROTOCOL_HEADER).await?;
        // TLS streams hold written data until flushed (a no-op for plain TCP).
        c.stream.flush().await?;
        let start = match c.next_method().await? {
            (0, Method::Other(AMQPClass::Connection(connection::AMQPMethod::Start(s)))) => s,
            (ch, m) => bail!(
                "expected connection.start, got {} on channel {ch}",
                name(&m)
            ),
        };
        let prop = |k: &str| match start.server_properties.inner().get(k) {
            Some(AMQPValue::LongString(s)) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
            _ => String::new(),
        };
        c.server = format!("{} {}", prop("product"), prop("version"))
            .trim()
            .to_owned();
        let mut caps = FieldTable::default();
        for cap in [
            "publisher_confirms",
            "basic.nack",
            "consumer_cancel_notify",
            "connection.blocked",
            "authentication_failure_close",
        ] {
            caps.insert(cap.into(), AMQPValue::Boolean(true));
        }
        let mut props = FieldTable::default();
        props.insert(
            "product".into(),
            AMQPValue::LongString(LongString::from("warren-perf")),
        );
        props.insert(
            "version".into(),
            AMQPValue::LongString(LongString::from(env!("CARGO_PKG_VERSION"))),
        );
        props.insert("capabilities".into(), AMQPValue::FieldTable(caps));
        let mut response = vec![0u8];
        response.extend_from_slice(uri.user.as_bytes());
        response.push(0);
        response.extend_from_slice(uri.pass.as_bytes());
        c.send(
            0,
            AMQPClass::Connection(connection::AMQPMethod::StartOk(connection::StartOk {
                client_properties: props,
                mechanism: short("PLAIN"),
                response: LongString::from(response),
                locale: short("en_US"),
            })),
        );
        c.flush().await?;
        let tune = match c.next_method().await? {
            (0, Method::Other(AMQPClass::Connection(connection::AMQPMethod::Tune(t)))) => t,
            (ch, m) => bail!("expected connection.tune, got {} on channel {ch}", name(&m)),
        };
        let frame_max = match tune.frame_max {
            0 => opts.frame_max,
            f => f.min(opts.frame_max),
        }
        .max(FRAME_MIN_SIZE);
        let heartbeat = match (opts.heartbeat, tune.heartbeat) {
            (0, _) => 0,
            (h, 0) => h,
            (h, s) => h.min(s),
        };
        let channel_max = match tune.channel_max {
            0 => 2047,
            n => n,
        };
        c.frame_max = frame_max;
        c.heartbeat = heartbeat;
        c.send(
            0,
            AMQPClass::Connection(connection::AMQPMethod::TuneOk(connection::TuneOk {
                channel_max,
                frame_max,
                heartbeat,
            })),
        );
        c.send(
            0,
            AMQPClass::Connection(connection::AMQPMethod::Open(connection::Open {
                virtual_host: short(&uri.vhost),
            })),
        );
        c.flush().await?;
        match c.next_method().await? {
            (0, Method::Other(AMQPClass::Connection(connection::AMQPMethod::OpenOk(_)))) => {}
            (ch, m) => bail!(
                "expected connection.open_ok, got {} on channel {ch}",
                name(&m)
            ),
        }
        Ok(c)
    }

    /// Queue a method frame; it goes out with the next [`Conn::flush`].
    pub fn send(&mut self, channel: u16, class: AMQPClass) {
        write_method(&mut self.out, channel, &class);
    }

    /// Queue frames already encoded (pre-built publishes); they go out with the next flush.
    pub fn send_raw(&mut self, frames: &[u8]) {
        self.out.extend_from_slice(frames);
    }

    /// Wait for the body frame of the next delivery on `ch`, skipping the deliver method,
    /// its header, confirms and heartbeats (for one message at a time, as the soak's probe).
    pub async fn next_body(&mut self, ch: u16) -> Result<()> {
        let wait = async {
            loop {
                let frame = self.read_frame().await?;
                match frame.kind {
                    FRAME_BODY if frame.channel == ch => return Ok(()),
                    FRAME_METHOD => {
                        let m = decode_method(frame.payload).map_err(|e| anyhow!("{e}"))?;
                        let closed = match m {
                            Method::Other(AMQPClass::Connection(
                                connection::AMQPMethod::Close(c),
                            )) => (c.reply_code, c.reply_text, c.class_id, c.method_id),
                            Method::Other(AMQPClass::Channel(channel::AMQPMethod::Close(c))) => {
                                (c.reply_code, c.reply_text, c.class_id, c.method_id)
                            }
                            _ => continue,
                        };
                        bail!(
                            "server closed: {}",
                            reply(closed.0, closed.1.as_str(), closed.2, closed.3)
                        )
                    }
                    _ => continue,
                }
            }
        };
        tokio::time::timeout(RPC_TIMEOUT, wait)
            .await
            .map_err(|_| anyhow!("timed out waiting for a delivery on channel {ch}"))?
    }

    pub async fn flush(&mut self) -> Result<()> {
        if !self.out.is_empty() {
            self.stream.write_all(&self.out).await?;
            // TLS streams hold written data until flushed (a no-op for plain TCP).
            self.stream.flush().await?;
            self.out.clear();
        }
        Ok(())
    }

    async fn read_frame(&mut self) -> Result<Frame> {
        loop {
            match split_frame(&mut self.rbuf, 0) {
                Ok(Some(f)) => return Ok(f),
                Ok(None) => {}
                Err(e) => bail!("bad frame from server: {e}"),
            }
            if self.rbuf.capacity() - self.rbuf.len() < 4096 {
                self.rbuf.reserve(16 * 1024);
            }
            let n = self.stream.read_buf(&mut self.rbuf).await?;
            if n == 0 {
                if self.rbuf.len() >= 8 && self.rbuf.starts_with(b"AMQP") {
                    bail!(
                        "server refused the protocol header (it speaks {:?})",
                        &self.rbuf[..8]
                    );
                }
                bail!("server closed the connection");
            }
        }
    }

    /// The next method frame (heartbeats skipped). A connection.close is answered with
    /// close-ok and turned into an error carrying the server's reply.
    pub async fn next_method(&mut self) -> Result<(u16, Method)> {
        loop {
            let frame = self.read_frame().await?;
            if frame.kind == FRAME_HEARTBEAT {
                continue;
            }
            if frame.kind != FRAME_METHOD {
                bail!(
                    "unexpected content frame (type {}) on channel {}",
                    frame.kind,
                    frame.channel
                );
            }
            let m = decode_method(frame.payload).map_err(|e| anyhow!("{e}"))?;
            if let Method::Other(AMQPClass::Connection(connection::AMQPMethod::Close(c))) = &m {
                let err = anyhow!(
                    "server closed the connection: {}",
                    crate::client::reply(
                        c.reply_code,
                        c.reply_text.as_str(),
                        c.class_id,
                        c.method_id
                    )
                );
                self.send(
                    0,
                    AMQPClass::Connection(connection::AMQPMethod::CloseOk(connection::CloseOk {})),
                );
                let _ = self.flush().await;
                return Err(err);
            }
            return Ok((frame.channel, m));
        }
    }

    /// The next reply on `ch`; a channel.close there becomes an error (after close-ok).
    pub async fn reply(&mut self, ch: u16) -> Result<AMQPClass> {
        let fut = async {
            loop {
                let (got, m) = self.next_method().await?;
                match m {
                    Method::Other(AMQPClass::Channel(channel::AMQPMethod::Close(c))) => {
                        self.send(
                            got,
                            AMQPClass::Channel(channel::AMQPMethod::CloseOk(channel::CloseOk {})),
                        );
                        let _ = self.flush().await;
                        bail!(
                            "server closed channel {got}: {}",
                            crate::client::reply(
                                c.reply_code,
                                c.reply_text.as_str(),
                                c.class_id,
                                c.method_id
                            )
                        );
                    }
                    Method::Other(class) if got == ch => return Ok(class),
                    // Stray confirms/blocked notices on a control connection are harmless.
                    Method::Ack { .. } | Method::Nack { .. } => continue,
                    Method::Other(AMQPClass::Connection(_)) => continue,
                    other => bail!("unexpected {} on channel {got}", name(&other)),
                }
            }
        };
        tokio::time::timeout(RPC_TIMEOUT, fut)
            .await
            .map_err(|_| anyhow!("timed out waiting for a reply on channel {ch}"))?
    }

    /// Send one method and wait for its reply.
    pub async fn rpc(&mut self, ch: u16, class: AMQPClass) -> Result<AMQPClass> {
        self.send(ch, class);
        self.flush().await?;
        self.reply(ch).await
    }

    pub async fn open_channel(&mut self, ch: u16) -> Result<()> {
        match self
            .rpc(
                ch,
                AMQPClass::Channel(channel::AMQPMethod::Open(channel::Open {})),
            )
            .await?
        {
            AMQPClass::Channel(channel::AMQPMethod::OpenOk(_)) => Ok(()),
            other => bail!("expected channel.open_ok, got {other:?}"),
        }
    }

    pub async fn exchange_declare(
        &mut self,
        ch: u16,
        name: &str,
        kind: &str,
        durable: bool,
    ) -> Result<()> {
        self.rpc(ch, exchange_declare(name, kind, durable)).await?;
        Ok(())
    }

    pub async fn exchange_delete(&mut self, ch: u16, name: &str) -> Result<()> {
        self.rpc(
            ch,
            AMQPClass::Exchange(exchange::AMQPMethod::Delete(exchange::Delete {
                exchange: short(name),
                if_unused: false,
                nowait: false,
            })),
        )
        .await?;
        Ok(())
    }

    pub async fn qos(&mut self, ch: u16, prefetch: u16) -> Result<()> {
        self.rpc(
            ch,
            AMQPClass::Basic(basic::AMQPMethod::Qos(basic::Qos {
                prefetch_count: prefetch,
                global: false,
            })),
        )
        .await?;
        Ok(())
    }

    pub async fn consume(&mut self, ch: u16, queue: &str, tag: &str, no_ack: bool) -> Result<()> {
        match self.rpc(ch, basic_consume(queue, tag, no_ack)).await? {
            AMQPClass::Basic(basic::AMQPMethod::ConsumeOk(_)) => Ok(()),
            other => bail!("expected basic.consume_ok, got {other:?}"),
        }
    }

    pub async fn confirm_select(&mut self, ch: u16) -> Result<()> {
        self.rpc(
            ch,
            AMQPClass::Confirm(confirm::AMQPMethod::Select(confirm::Select {
                nowait: false,
            })),
        )
        .await?;
        Ok(())
    }

    /// connection.close, then wait (briefly) for close-ok; the socket is dropped either way.
    pub async fn close(mut self) -> Result<()> {
        self.send(0, connection_close());
        self.flush().await?;
        let wait = async {
            loop {
                match self.next_method().await {
                    Ok((
                        0,
                        Method::Other(AMQPClass::Connection(connection::AMQPMethod::CloseOk(_))),
                    )) => return,
                    Ok(_) => continue,
                    Err(_) => return,
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), wait).await;
        Ok(())
    }

    /// Hand the socket and any buffered bytes to a data-plane loop.
    pub fn into_parts(self) -> Parts {
        Parts {
            stream: self.stream,
            leftover: self.rbuf.to_vec(),
            frame_max: self.frame_max,
        }
    }
}

/// "CODE TEXT (after METHOD)" for a close from the server.
pub fn reply(code: u16, text: &str, class_id: u16, method_id: u16) -> String {
    match method_name(class_id, method_id) {
        "" => format!("{code} {text}"),
        m => format!("{code} {text} (after {m})"),
    }
}

fn name(m: &Method) -> &'static str {
    let (c, id) = m.ids();
    method_name(c, id)
}

pub fn connection_close() -> AMQPClass {
    AMQPClass::Connection(connection::AMQPMethod::Close(connection::Close {
        reply_code: 200,
        reply_text: short("Goodbye"),
        class_id: 0,
        method_id: 0,
    }))
}

pub fn exchange_declare(name: &str, kind: &str, durable: bool) -> AMQPClass {
    AMQPClass::Exchange(exchange::AMQPMethod::Declare(exchange::Declare {
        exchange: short(name),
        kind: short(kind),
        passive: false,
        durable,
        auto_delete: false,
        internal: false,
        nowait: false,
        arguments: FieldTable::default(),
    }))
}

pub fn queue_declare(name: &str, durable: bool) -> AMQPClass {
    queue_declare_with(name, durable, FieldTable::default())
}

/// queue.declare with x-arguments.
pub fn queue_declare_with(name: &str, durable: bool, arguments: FieldTable) -> AMQPClass {
    AMQPClass::Queue(queue::AMQPMethod::Declare(queue::Declare {
        queue: short(name),
        passive: false,
        durable,
        exclusive: false,
        auto_delete: false,
        nowait: false,
        arguments,
    }))
}

/// A server-named exclusive queue.
pub fn queue_declare_exclusive() -> AMQPClass {
    AMQPClass::Queue(queue::AMQPMethod::Declare(queue::Declare {
        queue: short(""),
        passive: false,
        durable: false,
        exclusive: true,
        auto_delete: false,
        nowait: false,
        arguments: FieldTable::default(),
    }))
}

/// queue.declare passive=true: the reply (declare-ok) carries the queue's message count; a
/// missing queue closes the channel with 404.
pub fn queue_declare_passive(name: &str) -> AMQPClass {
    AMQPClass::Queue(queue::AMQPMethod::Declare(queue::Declare {
        queue: short(name),
        passive: true,
        durable: false,
        exclusive: false,
        auto_delete: false,
        nowait: false,
        arguments: FieldTable::default(),
    }))
}

/// basic.consume (the reply, consume-ok, comes before the consumer's first delivery).
pub fn basic_consume(queue: &str, tag: &str, no_ack: bool) -> AMQPClass {
    AMQPClass::Basic(basic::AMQPMethod::Consume(basic::Consume {
        queue: short(queue),
        consumer_tag: short(tag),
        no_local: false,
        no_ack,
        exclusive: false,
        nowait: false,
        arguments: FieldTable::default(),
    }))
}

pub fn queue_bind(queue: &str, exchange: &str, key: &str, args: FieldTable) -> AMQPClass {
    AMQPClass::Queue(queue::AMQPMethod::Bind(queue::Bind {
        queue: short(queue),
        exchange: short(exchange),
        routing_key: short(key),
        nowait: false,
        arguments: args,
    }))
}

pub fn queue_delete(name: &str) -> AMQPClass {
    AMQPClass::Queue(queue::AMQPMethod::Delete(queue::Delete {
        queue: short(name),
        if_unused: false,
        if_empty: false,
        nowait: false,
    }))
}
