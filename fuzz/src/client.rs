//! A blocking AMQP client that knows only the opening handshake (guest/guest, PLAIN,
//! vhost "/"), written up front as one burst of pre-encoded frames.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use amq_protocol::protocol::{connection, AMQPClass};
use amq_protocol::types::{FieldTable, LongString};
use bytes::BytesMut;
use warren_codec::frame::{split_frame, FRAME_METHOD, PROTOCOL_HEADER};
use warren_codec::method::{decode_method, write_method, Method, CLASS_CONNECTION};

/// connection.open-ok and connection.close-ok (method ids of class connection).
const OPEN_OK: u16 = 41;
const CLOSE: u16 = 50;
const CLOSE_OK: u16 = 51;

/// What the client answers in tune-ok (within what the broker offers: channel_max
/// 1..=2047, frame_max 4096..=131072).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tune {
    pub channel_max: u16,
    pub frame_max: u32,
}

impl Default for Tune {
    fn default() -> Self {
        Self {
            channel_max: 2047,
            frame_max: 131_072,
        }
    }
}

/// The client's side of the handshake: protocol header, start-ok, tune-ok, open.
pub fn handshake_bytes() -> Vec<u8> {
    handshake_bytes_with(Tune::default())
}

/// [`handshake_bytes`] answering tune with `tune`.
pub fn handshake_bytes_with(tune: Tune) -> Vec<u8> {
    let mut out = PROTOCOL_HEADER.to_vec();
    let method = |m| AMQPClass::Connection(m);
    write_method(
        &mut out,
        0,
        &method(connection::AMQPMethod::StartOk(connection::StartOk {
            client_properties: FieldTable::default(),
            mechanism: "PLAIN".into(),
            response: LongString::from("\0guest\0guest"),
            locale: "en_US".into(),
        })),
    );
    write_method(
        &mut out,
        0,
        &method(connection::AMQPMethod::TuneOk(connection::TuneOk {
            channel_max: tune.channel_max,
            frame_max: tune.frame_max,
            heartbeat: 0,
        })),
    );
    write_method(
        &mut out,
        0,
        &method(connection::AMQPMethod::Open(connection::Open {
            virtual_host: "/".into(),
        })),
    );
    out
}

/// connection.close from the client (200, normal).
pub fn close_bytes() -> Vec<u8> {
    let mut out = Vec::new();
    write_method(
        &mut out,
        0,
        &AMQPClass::Connection(connection::AMQPMethod::Close(connection::Close {
            reply_code: 200,
            reply_text: "bye".into(),
            class_id: 0,
            method_id: 0,
        })),
    );
    out
}

/// An open connection, past connection.open-ok.
pub struct Client {
    stream: TcpStream,
    rbuf: BytesMut,
}

impl Client {
    /// Connect and complete the handshake within `timeout`.
    pub fn open(addr: SocketAddr, timeout: Duration) -> io::Result<Self> {
        Self::open_with(addr, timeout, Tune::default())
    }

    /// [`Client::open`] answering tune with `tune`.
    pub fn open_with(addr: SocketAddr, timeout: Duration, tune: Tune) -> io::Result<Self> {
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        let mut client = Self {
            stream,
            rbuf: BytesMut::with_capacity(4096),
        };
        client.stream.write_all(&handshake_bytes_with(tune))?;
        client.await_method(OPEN_OK, Instant::now() + timeout)?;
        Ok(client)
    }

    /// Read frames until a connection method `method_id` on channel 0 arrives.
    fn await_method(&mut self, method_id: u16, deadline: Instant) -> io::Result<()> {
        loop {
            while let Some(frame) = split_frame(&mut self.rbuf, 0)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
            {
                if frame.kind != FRAME_METHOD || frame.channel != 0 {
                    continue;
                }
                match decode_method(frame.payload) {
                    Ok(m) if m.ids() == (CLASS_CONNECTION, method_id) => return Ok(()),
                    Ok(m) if m.ids() == (CLASS_CONNECTION, CLOSE) => {
                        return Err(io::Error::other(format!("broker closed: {m:?}")));
                    }
                    Ok(Method::Other(_)) => {}
                    other => return Err(io::Error::other(format!("unexpected {other:?}"))),
                }
            }
            if Instant::now() >= deadline {
                return Err(io::ErrorKind::TimedOut.into());
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => self.rbuf.extend_from_slice(&chunk[..n]),
                // libFuzzer's SIGALRM (its -timeout watchdog) interrupts blocking reads.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Send `bytes` after the handshake, half-close, and read whatever the broker answers
    /// until it closes the socket or `wait` passes. Errors are the broker's right: it closes
    /// connections that send garbage, possibly before all of `bytes` are written.
    pub fn send_and_drain(mut self, bytes: &[u8], wait: Duration) {
        let _ = self.stream.write_all(bytes);
        let _ = self.stream.shutdown(Shutdown::Write);
        let deadline = Instant::now() + wait;
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.stream.set_read_timeout(Some(left)).is_err() {
                return;
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }

    /// Close the connection properly: connection.close, then close-ok.
    pub fn close(mut self, timeout: Duration) -> io::Result<()> {
        self.stream.write_all(&close_bytes())?;
        self.await_method(CLOSE_OK, Instant::now() + timeout)
    }
}
