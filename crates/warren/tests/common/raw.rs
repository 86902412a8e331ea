//! A raw AMQP 0-9-1 client for the protocol-violation tests (`tests/raw_frames.rs`).
//!
//! It speaks the wire format by hand (frames built with `warren-codec`), so a test can send
//! anything at all: wrong protocol headers, broken frames, methods in the wrong place. Every
//! read has a deadline; a test never hangs on a broker that stays silent.
//!
//! By default each test starts its own `warren` binary through the testkit. To check the
//! assertions against a real RabbitMQ, set `WARREN_RAW_ADDR=127.0.0.1:5672`: the tests then
//! connect there, and the few that need the broker process (or assert one of Warren's
//! deliberate deviations) check RabbitMQ's documented answer instead or skip.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use warren_codec::frame::{
    split_frame, write_frame, write_heartbeat, Frame, FRAME_BODY, FRAME_HEADER, FRAME_HEARTBEAT,
    FRAME_METHOD, PROTOCOL_HEADER,
};
use warren_codec::method::{decode_method, write_method, Method};
use warren_codec::protocol::{basic, channel, connection, exchange, queue, AMQPClass};
use warren_codec::types::{AMQPValue, FieldTable, LongString, ShortString};
use warren_testkit::TestBroker;

/// Upper bound for anything we expect to happen.
pub const WAIT: Duration = Duration::from_secs(5);
/// How long we listen to conclude that nothing (more) arrives.
pub const QUIET: Duration = Duration::from_millis(300);

/// The broker under test: our own `warren` process, or the one named by `WARREN_RAW_ADDR`.
pub struct Target {
    pub broker: Option<TestBroker>,
    pub addr: SocketAddr,
}

impl Target {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Start `warren` with extra flags (ignored for an external broker).
    pub fn start_with(flags: &[&str]) -> Self {
        if let Ok(addr) = std::env::var("WARREN_RAW_ADDR") {
            let addr = addr
                .parse()
                .unwrap_or_else(|e| panic!("WARREN_RAW_ADDR={addr:?}: {e}"));
            return Self { broker: None, addr };
        }
        let broker = TestBroker::start_with(env!("CARGO_BIN_EXE_warren"), flags);
        let addr = broker.addr;
        Self {
            broker: Some(broker),
            addr,
        }
    }

    /// True when the tests talk to a broker they did not start (RabbitMQ, for comparison).
    pub fn is_external(&self) -> bool {
        self.broker.is_none()
    }

    /// A connection that completed the handshake as guest, with channel 1 open.
    pub async fn open(&self) -> RawConn {
        RawConn::open(self.addr).await
    }

    /// A connection that completed the handshake with `login`, with no channel open.
    pub async fn open_with(&self, login: &Login) -> RawConn {
        RawConn::handshake(self.addr, login).await
    }

    /// A bare TCP connection (nothing sent yet).
    pub async fn connect(&self) -> RawConn {
        RawConn::connect(self.addr).await
    }

    /// The end of every test: the broker survived whatever the test sent, and still serves a
    /// fresh client (handshake, channel.open and a round trip).
    pub async fn assert_healthy(&mut self) {
        if let Some(broker) = self.broker.as_mut() {
            assert!(
                broker.is_running(),
                "the broker process died; output: {:#?}",
                broker.output()
            );
        }
        let mut c = self.open().await;
        c.sync(1).await;
        c.close().await;
    }
}

/// Credentials and tuning for the handshake.
#[derive(Debug, Clone)]
pub struct Login {
    pub mechanism: String,
    pub response: Vec<u8>,
    /// `client_properties.capabilities`; `None` sends no capabilities table at all.
    pub capabilities: Option<Vec<(&'static str, bool)>>,
    pub channel_max: u16,
    pub frame_max: u32,
    pub heartbeat: u16,
    pub vhost: String,
}

impl Login {
    /// PLAIN `\0user\0pass`, announcing `authentication_failure_close` and
    /// `consumer_cancel_notify` like current client libraries do.
    pub fn plain(user: &str, pass: &str) -> Self {
        Self {
            mechanism: "PLAIN".into(),
            response: format!("\0{user}\0{pass}").into_bytes(),
            capabilities: Some(vec![
                ("authentication_failure_close", true),
                ("consumer_cancel_notify", true),
            ]),
            channel_max: 2047,
            frame_max: 131_072,
            heartbeat: 0,
            vhost: "/".into(),
        }
    }

    pub fn guest() -> Self {
        Self::plain("guest", "guest")
    }

    /// AMQPLAIN: a field table without its 4-byte length, holding LOGIN and PASSWORD.
    pub fn amqplain(user: &str, pass: &str) -> Self {
        let mut response = Vec::new();
        for (key, value) in [("LOGIN", user), ("PASSWORD", pass)] {
            put_short_str(&mut response, key);
            response.push(b'S');
            response.extend_from_slice(&(value.len() as u32).to_be_bytes());
            response.extend_from_slice(value.as_bytes());
        }
        Self {
            mechanism: "AMQPLAIN".into(),
            response,
            ..Self::guest()
        }
    }

    pub fn without_capabilities(mut self) -> Self {
        self.capabilities = None;
        self
    }

    pub fn capability(mut self, name: &'static str, value: bool) -> Self {
        let caps = self.capabilities.get_or_insert_with(Vec::new);
        caps.retain(|(n, _)| *n != name);
        caps.push((name, value));
        self
    }

    fn client_properties(&self) -> FieldTable {
        let mut props = FieldTable::default();
        props.insert("product".into(), long_str("warren raw_frames test"));
        if let Some(caps) = &self.capabilities {
            let mut t = FieldTable::default();
            for (name, value) in caps {
                t.insert((*name).into(), AMQPValue::Boolean(*value));
            }
            props.insert("capabilities".into(), AMQPValue::FieldTable(t));
        }
        props
    }
}

/// What the next read produced.
#[derive(Debug)]
pub enum Event {
    Frame(Frame),
    /// The server closed the socket (EOF or reset); `leftover` bytes did not form a frame.
    Closed {
        leftover: usize,
    },
    Timeout,
}

/// One raw client connection.
pub struct RawConn {
    stream: TcpStream,
    rbuf: BytesMut,
    closed: bool,
}

impl RawConn {
    pub async fn connect(addr: SocketAddr) -> Self {
        let stream = tokio::time::timeout(WAIT, TcpStream::connect(addr))
            .await
            .unwrap_or_else(|_| panic!("connect to {addr}: timed out"))
            .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
        Self::over(stream)
    }

    fn over(stream: TcpStream) -> Self {
        let _ = stream.set_nodelay(true);
        Self {
            stream,
            rbuf: BytesMut::with_capacity(64 * 1024),
            closed: false,
        }
    }

    /// Connect from the local address `source` (another loopback address stands for another
    /// client machine).
    pub async fn connect_from(addr: SocketAddr, source: std::net::IpAddr) -> Self {
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        socket
            .bind(SocketAddr::new(source, 0))
            .unwrap_or_else(|e| panic!("bind {source}: {e}"));
        let stream = tokio::time::timeout(WAIT, socket.connect(addr))
            .await
            .unwrap_or_else(|_| panic!("connect to {addr} from {source}: timed out"))
            .unwrap_or_else(|e| panic!("connect to {addr} from {source}: {e}"));
        Self::over(stream)
    }

    /// Connect and run the handshake up to `connection.open-ok`.
    pub async fn handshake(addr: SocketAddr, login: &Login) -> Self {
        let mut c = Self::connect(addr).await;
        c.send(PROTOCOL_HEADER).await;
        c.expect_start().await;
        c.send_start_ok(login).await;
        c.expect_tune().await;
        c.send_tune_ok(login).await;
        c.send_open(&login.vhost).await;
        match c.expect_class(0).await {
            AMQPClass::Connection(connection::AMQPMethod::OpenOk(_)) => {}
            other => panic!("expected connection.open-ok, got {other:?}"),
        }
        c
    }

    /// Handshake as guest and open channel 1.
    pub async fn open(addr: SocketAddr) -> Self {
        let mut c = Self::handshake(addr, &Login::guest()).await;
        c.open_channel(1).await;
        c
    }

    /// The socket and whatever was read but not consumed yet, for tests that write from one
    /// task while they read in another.
    pub fn into_parts(self) -> (TcpStream, BytesMut) {
        (self.stream, self.rbuf)
    }

    // ---- handshake steps -------------------------------------------------------------

    pub async fn expect_start(&mut self) -> connection::Start {
        match self.expect_class(0).await {
            AMQPClass::Connection(connection::AMQPMethod::Start(s)) => s,
            other => panic!("expected connection.start, got {other:?}"),
        }
    }

    pub async fn send_start_ok(&mut self, login: &Login) {
        let start_ok = connection::StartOk {
            client_properties: login.client_properties(),
            mechanism: login.mechanism.as_str().into(),
            response: LongString::from(login.response.clone()),
            locale: "en_US".into(),
        };
        self.send_method(
            0,
            AMQPClass::Connection(connection::AMQPMethod::StartOk(start_ok)),
        )
        .await;
    }

    pub async fn expect_tune(&mut self) -> connection::Tune {
        match self.expect_class(0).await {
            AMQPClass::Connection(connection::AMQPMethod::Tune(t)) => t,
            other => panic!("expected connection.tune, got {other:?}"),
        }
    }

    pub async fn send_tune_ok(&mut self, login: &Login) {
        let tune_ok = connection::TuneOk {
            channel_max: login.channel_max,
            frame_max: login.frame_max,
            heartbeat: login.heartbeat,
        };
        self.send_method(
            0,
            AMQPClass::Connection(connection::AMQPMethod::TuneOk(tune_ok)),
        )
        .await;
    }

    pub async fn send_open(&mut self, vhost: &str) {
        let open = connection::Open {
            virtual_host: vhost.into(),
        };
        self.send_method(0, AMQPClass::Connection(connection::AMQPMethod::Open(open)))
            .await;
    }

    /// channel.open → channel.open-ok.
    pub async fn open_channel(&mut self, ch: u16) {
        self.send(&channel_open(ch)).await;
        match self.expect_class(ch).await {
            AMQPClass::Channel(channel::AMQPMethod::OpenOk(_)) => {}
            other => panic!("expected channel.open-ok on channel {ch}, got {other:?}"),
        }
    }

    /// A round trip on `ch` (passive declare of `amq.direct`): everything sent before it on
    /// that channel has been processed when this returns.
    pub async fn sync(&mut self, ch: u16) {
        self.send(&passive_exchange_declare(ch, "amq.direct")).await;
        match self.expect_class(ch).await {
            AMQPClass::Exchange(exchange::AMQPMethod::DeclareOk(_)) => {}
            other => panic!("expected exchange.declare-ok on channel {ch}, got {other:?}"),
        }
    }

    /// A polite connection.close → close-ok.
    pub async fn close(&mut self) {
        self.send(&connection_close(200, "bye")).await;
        match self.expect_class(0).await {
            AMQPClass::Connection(connection::AMQPMethod::CloseOk(_)) => {}
            other => panic!("expected connection.close-ok, got {other:?}"),
        }
    }

    // ---- sending -----------------------------------------------------------------------

    /// Send raw bytes; fails the test if the socket is gone.
    pub async fn send(&mut self, bytes: &[u8]) {
        if let Err(e) = self.try_send(bytes).await {
            panic!("sending {} bytes failed: {e}", bytes.len());
        }
    }

    /// Send raw bytes, reporting errors (the server may already have dropped the socket).
    pub async fn try_send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match tokio::time::timeout(WAIT, self.stream.write_all(bytes)).await {
            Ok(r) => r,
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "write timed out",
            )),
        }
    }

    pub async fn send_method(&mut self, ch: u16, class: AMQPClass) {
        self.send(&method(ch, &class)).await;
    }

    /// Half-close: the server reads EOF, but we can still read its answer.
    pub async fn shutdown_write(&mut self) {
        let _ = self.stream.shutdown().await;
    }

    // ---- receiving ---------------------------------------------------------------------

    /// The next frame (heartbeats included), the socket's end, or a timeout.
    pub async fn next(&mut self, timeout: Duration) -> Event {
        let deadline = Instant::now() + timeout;
        loop {
            match split_frame(&mut self.rbuf, 0) {
                Ok(Some(frame)) => return Event::Frame(frame),
                Ok(None) => {}
                Err(e) => panic!("the server sent a malformed frame: {e}"),
            }
            if self.closed {
                return Event::Closed {
                    leftover: self.rbuf.len(),
                };
            }
            if self.rbuf.capacity() - self.rbuf.len() < 4096 {
                self.rbuf.reserve(64 * 1024);
            }
            match tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.rbuf)).await {
                Err(_) => return Event::Timeout,
                // EOF, or a reset: RabbitMQ drops sockets with RST (SO_LINGER 0).
                Ok(Ok(0)) | Ok(Err(_)) => self.closed = true,
                Ok(Ok(_)) => {}
            }
        }
    }

    /// The next frame that is not a heartbeat; fails the test on close or timeout.
    pub async fn expect_frame(&mut self) -> Frame {
        let deadline = Instant::now() + WAIT;
        loop {
            match self
                .next(deadline.saturating_duration_since(Instant::now()))
                .await
            {
                Event::Frame(f) if f.kind == FRAME_HEARTBEAT => continue,
                Event::Frame(f) => return f,
                Event::Closed { leftover } => panic!(
                    "expected a frame, but the server closed the socket ({leftover} stray bytes)"
                ),
                Event::Timeout => panic!("expected a frame, got nothing within {WAIT:?}"),
            }
        }
    }

    /// The next frame must be a method frame on `ch`.
    pub async fn expect_method(&mut self, ch: u16) -> Method {
        let frame = self.expect_frame().await;
        assert!(
            frame.kind == FRAME_METHOD && frame.channel == ch,
            "expected a method frame on channel {ch}, got {}",
            describe(&frame)
        );
        decode_method(frame.payload.clone())
            .unwrap_or_else(|e| panic!("undecodable method from the server ({e}): {frame:?}"))
    }

    /// The next frame must be a method on `ch` that amq-protocol decodes (not a hot method).
    pub async fn expect_class(&mut self, ch: u16) -> AMQPClass {
        match self.expect_method(ch).await {
            Method::Other(class) => class,
            other => panic!("expected a method on channel {ch}, got {other:?}"),
        }
    }

    /// `connection.close(code, text, class, method)` on channel 0; answers close-ok and
    /// checks that the server then closes the socket.
    pub async fn expect_connection_close(
        &mut self,
        code: u16,
        text: &str,
        class_id: u16,
        method_id: u16,
    ) {
        let frame = self.expect_frame().await;
        let got = match (frame.channel, decode_method(frame.payload.clone())) {
            (0, Ok(Method::Other(AMQPClass::Connection(connection::AMQPMethod::Close(c)))))
                if frame.kind == FRAME_METHOD =>
            {
                c
            }
            _ => panic!(
                "expected connection.close({code}, {text:?}, {class_id}, {method_id}), got {}",
                describe(&frame)
            ),
        };
        assert_eq!(
            (
                got.reply_code,
                got.reply_text.as_str(),
                got.class_id,
                got.method_id
            ),
            (code, text, class_id, method_id),
            "connection.close (code, text, class, method)"
        );
        // The server may already have dropped the socket (framing errors): ignore failures.
        let _ = self.try_send(&connection_close_ok()).await;
        self.expect_closed(WAIT).await;
    }

    /// `channel.close(code, text, class, method)` on `ch`. Does not answer it.
    pub async fn expect_channel_close(
        &mut self,
        ch: u16,
        code: u16,
        text: &str,
        class_id: u16,
        method_id: u16,
    ) {
        let frame = self.expect_frame().await;
        let got = match (frame.channel, decode_method(frame.payload.clone())) {
            (c, Ok(Method::Other(AMQPClass::Channel(channel::AMQPMethod::Close(close)))))
                if c == ch && frame.kind == FRAME_METHOD =>
            {
                close
            }
            _ => panic!(
                "expected channel.close({code}, {text:?}, {class_id}, {method_id}) on channel {ch}, got {}",
                describe(&frame)
            ),
        };
        assert_eq!(
            (
                got.reply_code,
                got.reply_text.as_str(),
                got.class_id,
                got.method_id
            ),
            (code, text, class_id, method_id),
            "channel.close (code, text, class, method) on channel {ch}"
        );
    }

    /// The server closes the socket within `within`, sending nothing but heartbeats first.
    /// Returns how long it took.
    pub async fn expect_closed(&mut self, within: Duration) -> Duration {
        let start = Instant::now();
        let deadline = start + within;
        loop {
            match self
                .next(deadline.saturating_duration_since(Instant::now()))
                .await
            {
                Event::Frame(f) if f.kind == FRAME_HEARTBEAT => continue,
                Event::Frame(f) => panic!(
                    "expected the server to close the socket, got {}",
                    describe(&f)
                ),
                Event::Closed { leftover } => {
                    assert_eq!(leftover, 0, "partial frame before the socket closed");
                    return start.elapsed();
                }
                Event::Timeout => {
                    panic!("expected the server to close the socket within {within:?}")
                }
            }
        }
    }

    /// Nothing but heartbeats arrives for `dur`, and the socket stays open.
    pub async fn expect_nothing(&mut self, dur: Duration) {
        let deadline = Instant::now() + dur;
        loop {
            match self
                .next(deadline.saturating_duration_since(Instant::now()))
                .await
            {
                Event::Frame(f) if f.kind == FRAME_HEARTBEAT => continue,
                Event::Frame(f) => panic!("expected nothing, got {}", describe(&f)),
                Event::Closed { .. } => panic!("expected nothing, but the socket was closed"),
                Event::Timeout => return,
            }
        }
    }

    /// The server closes the socket with a FIN within `within`, after nothing but heartbeats,
    /// and not with a reset (which would make a client lose what it had not read yet).
    pub async fn expect_clean_close(&mut self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            match split_frame(&mut self.rbuf, 0) {
                Ok(Some(f)) if f.kind == FRAME_HEARTBEAT => continue,
                Ok(Some(f)) => panic!("expected the socket to close, got {}", describe(&f)),
                Ok(None) => {}
                Err(e) => panic!("the server sent a malformed frame: {e}"),
            }
            self.rbuf.reserve(64 * 1024);
            match tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.rbuf)).await {
                Err(_) => panic!("the server did not close the socket within {within:?}"),
                Ok(Ok(0)) => {
                    self.closed = true;
                    assert!(self.rbuf.is_empty(), "partial frame before the close");
                    return;
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => panic!("the socket failed instead of closing cleanly: {e}"),
            }
        }
    }

    /// All raw bytes until the server closes the socket; fails the test after `within`.
    pub async fn read_until_closed(&mut self, within: Duration) -> Vec<u8> {
        let deadline = Instant::now() + within;
        let mut out = std::mem::take(&mut self.rbuf).to_vec();
        let mut buf = [0u8; 4096];
        while !self.closed {
            match tokio::time::timeout_at(deadline, self.stream.read(&mut buf)).await {
                Err(_) => {
                    panic!("the server did not close the socket within {within:?} (got {out:?})")
                }
                Ok(Ok(0)) | Ok(Err(_)) => self.closed = true,
                Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            }
        }
        out
    }

    /// A delivery on `ch`: basic.deliver, a content header and the body frames.
    pub async fn expect_delivery(&mut self, ch: u16) -> (basic::Deliver, Vec<u8>) {
        let deliver = match self.expect_class(ch).await {
            AMQPClass::Basic(basic::AMQPMethod::Deliver(d)) => d,
            other => panic!("expected basic.deliver on channel {ch}, got {other:?}"),
        };
        let header = self.expect_frame().await;
        assert_eq!(
            (header.kind, header.channel),
            (FRAME_HEADER, ch),
            "content header"
        );
        let size = u64::from_be_bytes(header.payload[4..12].try_into().expect("8 bytes"));
        let mut body = Vec::new();
        while (body.len() as u64) < size {
            let f = self.expect_frame().await;
            assert_eq!((f.kind, f.channel), (FRAME_BODY, ch), "body frame");
            body.extend_from_slice(&f.payload);
        }
        (deliver, body)
    }
}

/// A frame as the assertion messages print it.
pub fn describe(frame: &Frame) -> String {
    match frame.kind {
        FRAME_METHOD => match decode_method(frame.payload.clone()) {
            Ok(m) => format!("method on channel {}: {m:?}", frame.channel),
            Err(e) => format!(
                "undecodable method on channel {} ({e}): {:?}",
                frame.channel, frame.payload
            ),
        },
        kind => format!(
            "frame type {kind} on channel {} with {} payload bytes",
            frame.channel,
            frame.payload.len()
        ),
    }
}

// ---- frame builders ----------------------------------------------------------------------

/// Any frame, with the correct end octet.
pub fn frame(kind: u8, ch: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    write_frame(&mut out, kind, ch, payload);
    out
}

pub fn heartbeat() -> Vec<u8> {
    let mut out = Vec::new();
    write_heartbeat(&mut out);
    out
}

/// A method frame serialised by amq-protocol.
pub fn method(ch: u16, class: &AMQPClass) -> Vec<u8> {
    let mut out = Vec::new();
    write_method(&mut out, ch, class);
    out
}

/// A method frame from ids and hand-made argument bytes.
pub fn raw_method(ch: u16, class_id: u16, method_id: u16, args: &[u8]) -> Vec<u8> {
    let mut payload = Vec::with_capacity(4 + args.len());
    payload.extend_from_slice(&class_id.to_be_bytes());
    payload.extend_from_slice(&method_id.to_be_bytes());
    payload.extend_from_slice(args);
    frame(FRAME_METHOD, ch, &payload)
}

/// A content header with no properties.
pub fn content_header(ch: u16, class_id: u16, body_size: u64) -> Vec<u8> {
    let mut payload = Vec::new();
    payload.extend_from_slice(&class_id.to_be_bytes());
    payload.extend_from_slice(&0u16.to_be_bytes());
    payload.extend_from_slice(&body_size.to_be_bytes());
    payload.extend_from_slice(&0u16.to_be_bytes());
    frame(FRAME_HEADER, ch, &payload)
}

pub fn body(ch: u16, data: &[u8]) -> Vec<u8> {
    frame(FRAME_BODY, ch, data)
}

pub fn put_short_str(out: &mut Vec<u8>, s: &str) {
    assert!(s.len() <= 255);
    out.push(s.len() as u8);
    out.extend_from_slice(s.as_bytes());
}

fn long_str(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s.as_bytes().to_vec()))
}

// ---- methods -----------------------------------------------------------------------------

pub fn connection_close(code: u16, text: &str) -> Vec<u8> {
    method(
        0,
        &AMQPClass::Connection(connection::AMQPMethod::Close(connection::Close {
            reply_code: code,
            reply_text: ShortString::from(text),
            class_id: 0,
            method_id: 0,
        })),
    )
}

pub fn connection_close_ok() -> Vec<u8> {
    method(
        0,
        &AMQPClass::Connection(connection::AMQPMethod::CloseOk(connection::CloseOk {})),
    )
}

pub fn channel_open(ch: u16) -> Vec<u8> {
    method(
        ch,
        &AMQPClass::Channel(channel::AMQPMethod::Open(channel::Open {})),
    )
}

pub fn channel_close(ch: u16) -> Vec<u8> {
    method(
        ch,
        &AMQPClass::Channel(channel::AMQPMethod::Close(channel::Close {
            reply_code: 200,
            reply_text: "bye".into(),
            class_id: 0,
            method_id: 0,
        })),
    )
}

pub fn channel_close_ok(ch: u16) -> Vec<u8> {
    method(
        ch,
        &AMQPClass::Channel(channel::AMQPMethod::CloseOk(channel::CloseOk {})),
    )
}

pub fn channel_flow(ch: u16, active: bool) -> Vec<u8> {
    method(
        ch,
        &AMQPClass::Channel(channel::AMQPMethod::Flow(channel::Flow { active })),
    )
}

pub fn passive_exchange_declare(ch: u16, name: &str) -> Vec<u8> {
    method(
        ch,
        &AMQPClass::Exchange(exchange::AMQPMethod::Declare(exchange::Declare {
            exchange: name.into(),
            kind: "direct".into(),
            passive: true,
            ..Default::default()
        })),
    )
}

pub fn exchange_declare(ch: u16, name: &str, kind: &str) -> Vec<u8> {
    method(
        ch,
        &AMQPClass::Exchange(exchange::AMQPMethod::Declare(exchange::Declare {
            exchange: name.into(),
            kind: kind.into(),
            auto_delete: true,
            ..Default::default()
        })),
    )
}

pub fn queue_declare(ch: u16, name: &str, passive: bool, exclusive: bool) -> Vec<u8> {
    method(
        ch,
        &AMQPClass::Queue(queue::AMQPMethod::Declare(queue::Declare {
            queue: name.into(),
            passive,
            exclusive,
            ..Default::default()
        })),
    )
}

pub fn basic_publish(ch: u16, exchange: &str, routing_key: &str) -> Vec<u8> {
    publish_flags(ch, exchange, routing_key, false, false)
}

pub fn publish_flags(
    ch: u16,
    exchange: &str,
    routing_key: &str,
    mandatory: bool,
    immediate: bool,
) -> Vec<u8> {
    method(
        ch,
        &AMQPClass::Basic(basic::AMQPMethod::Publish(basic::Publish {
            exchange: exchange.into(),
            routing_key: routing_key.into(),
            mandatory,
            immediate,
        })),
    )
}

/// A whole publish: method, content header (no properties) and one body frame.
pub fn publish_message(ch: u16, exchange: &str, routing_key: &str, data: &[u8]) -> Vec<u8> {
    let mut out = basic_publish(ch, exchange, routing_key);
    out.extend(content_header(ch, 60, data.len() as u64));
    if !data.is_empty() {
        out.extend(body(ch, data));
    }
    out
}

pub fn basic_consume(ch: u16, queue: &str, tag: &str, no_ack: bool) -> Vec<u8> {
    method(
        ch,
        &AMQPClass::Basic(basic::AMQPMethod::Consume(basic::Consume {
            queue: queue.into(),
            consumer_tag: tag.into(),
            no_ack,
            ..Default::default()
        })),
    )
}

/// basic.qos by hand: amq-protocol's `Qos` has no prefetch_size field.
pub fn basic_qos(ch: u16, prefetch_size: u32, prefetch_count: u16, global: bool) -> Vec<u8> {
    let mut args = prefetch_size.to_be_bytes().to_vec();
    args.extend_from_slice(&prefetch_count.to_be_bytes());
    args.push(u8::from(global));
    raw_method(ch, 60, 10, &args)
}

pub fn basic_recover(ch: u16, requeue: bool) -> Vec<u8> {
    method(
        ch,
        &AMQPClass::Basic(basic::AMQPMethod::Recover(basic::Recover { requeue })),
    )
}

/// The argument bytes of `queue.declare(name)` with no flags, optionally followed by a raw
/// arguments table (`None`: an empty table).
pub fn queue_declare_args(name: &str, table: Option<&[u8]>) -> Vec<u8> {
    let mut args = vec![0, 0];
    put_short_str(&mut args, name);
    args.push(0);
    let table = table.unwrap_or_default();
    args.extend_from_slice(&(table.len() as u32).to_be_bytes());
    args.extend_from_slice(table);
    args
}
