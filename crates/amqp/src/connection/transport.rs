//! A client connection's socket: plain TCP, or TLS over it. For TLS, rustls's session sits
//! between the two TCP halves without an I/O wrapper: the read half decrypts what it reads,
//! and the writer seals each batch the driver submits before writing it as it writes plain
//! bytes (non-blocking first, the writer task for the rest). Both happen on the connection's
//! driver task, so the session's lock is never contended, and it is never held across I/O.

use std::io::{self, Read, Write};
use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// A TLS connection's session, shared by its read half and its writer.
pub type TlsSession = Arc<Mutex<rustls::ServerConnection>>;

/// Most ciphertext read from the socket at once.
const CIPHER_READ_BYTES: usize = 64 << 10;

/// The read half of a client connection.
#[derive(Debug)]
pub struct ReadHalf {
    tcp: OwnedReadHalf,
    tls: Option<TlsSession>,
    cipher: Vec<u8>,
}

impl ReadHalf {
    pub fn new(tcp: OwnedReadHalf, tls: Option<TlsSession>) -> Self {
        Self {
            tcp,
            tls,
            cipher: Vec::new(),
        }
    }

    pub fn tls(&self) -> Option<&TlsSession> {
        self.tls.as_ref()
    }

    /// Read what the peer sent (decrypted, for TLS) onto the end of `buf`; Ok(0) when the
    /// peer closed. Cancel-safe: nothing is taken from the socket before the last await.
    pub async fn read_buf(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        let Some(tls) = self.tls.clone() else {
            return self.tcp.read_buf(buf).await;
        };
        loop {
            // What the session decrypted already (also what arrived with the TLS handshake).
            match take_plaintext(&mut tls.lock(), buf)? {
                Plaintext::Some(n) => return Ok(n),
                Plaintext::Closed => return Ok(0),
                Plaintext::None => {}
            }
            self.cipher.clear();
            self.cipher.reserve(CIPHER_READ_BYTES);
            let n = self.tcp.read_buf(&mut self.cipher).await?;
            if n == 0 {
                return Ok(0);
            }
            let mut session = tls.lock();
            let mut from = &self.cipher[..];
            let mut got = 0;
            while !from.is_empty() {
                if session.read_tls(&mut from)? == 0 {
                    break; // never for a non-empty slice; no spinning if it ever were
                }
                session
                    .process_new_packets()
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                // Take the plaintext as it comes: rustls holds only so much of it.
                match take_plaintext(&mut session, buf)? {
                    Plaintext::Some(n) => got += n,
                    Plaintext::Closed if got == 0 => return Ok(0),
                    Plaintext::Closed | Plaintext::None => {}
                }
            }
            if got > 0 {
                return Ok(got);
            }
        }
    }

    /// Read and discard raw bytes (a closing connection waiting for the peer to hang up).
    pub async fn discard(&mut self, scratch: &mut [u8]) -> io::Result<usize> {
        self.tcp.read(scratch).await
    }
}

enum Plaintext {
    Some(usize),
    None,
    /// The peer sent close_notify.
    Closed,
}

/// Move the session's decrypted bytes onto the end of `buf`.
fn take_plaintext(
    session: &mut rustls::ServerConnection,
    buf: &mut BytesMut,
) -> io::Result<Plaintext> {
    let mut total = 0;
    loop {
        buf.reserve(16 << 10);
        let mut chunk = [0u8; 16 << 10];
        match session.reader().read(&mut chunk) {
            Ok(0) => {
                return Ok(if total > 0 {
                    Plaintext::Some(total)
                } else {
                    Plaintext::Closed
                })
            }
            Ok(n) => {
                buf.put_slice(&chunk[..n]);
                total += n;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                return Ok(if total > 0 {
                    Plaintext::Some(total)
                } else {
                    Plaintext::None
                })
            }
            Err(e) => return Err(e),
        }
    }
}

/// Replace the plaintext in `out` with the TLS records carrying it (and anything else the
/// session has to send, such as a key update). Nothing to send leaves `out` empty.
pub fn seal(tls: &TlsSession, out: &mut Vec<u8>) -> io::Result<()> {
    let mut session = tls.lock();
    if !out.is_empty() {
        session.writer().write_all(out)?;
        out.clear();
    }
    while session.wants_write() {
        session.write_tls(out)?;
    }
    Ok(())
}

/// Write `data` whole (sealed first for TLS): the handshake's writes, before the writer
/// exists.
pub async fn write_all(
    wr: &mut OwnedWriteHalf,
    tls: Option<&TlsSession>,
    data: &[u8],
) -> io::Result<()> {
    match tls {
        None => wr.write_all(data).await,
        Some(tls) => {
            let mut out = data.to_vec();
            seal(tls, &mut out)?;
            wr.write_all(&out).await
        }
    }
}

/// The subject of the client certificate the TLS handshake verified, if the client sent one.
pub fn client_subject(session: &rustls::ServerConnection) -> Option<warren_tls::Subject> {
    let leaf = session.peer_certificates()?.first()?;
    warren_tls::subject(leaf)
}

/// What a TLS connection negotiated, as the management API shows it.
pub fn facts(
    session: &rustls::ServerConnection,
    client_subject: Option<&warren_tls::Subject>,
) -> warren_model::query::TlsFacts {
    let protocol = match session.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "tlsv1.3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "tlsv1.2",
        _ => "unknown",
    };
    let (key_exchange, cipher, hash) = session
        .negotiated_cipher_suite()
        .map(|c| warren_tls::ciphers::described(c.suite()))
        .unwrap_or(("unknown", "unknown", "unknown"));
    warren_model::query::TlsFacts {
        protocol: protocol.to_owned(),
        key_exchange: key_exchange.to_owned(),
        cipher: cipher.to_owned(),
        hash: hash.to_owned(),
        peer_cert: client_subject.map(|s| warren_model::query::PeerCert {
            subject: s.distinguished_name.clone(),
            issuer: s.issuer.clone(),
            validity: s.validity.clone(),
        }),
    }
}
