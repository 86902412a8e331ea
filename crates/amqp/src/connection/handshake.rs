//! The opening handshake as one linear chain: protocol header → start → start-ok
//! (authenticate) → tune → tune-ok → open → open-ok. Anything else closes the connection.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::net::tcp::OwnedWriteHalf;
use warren_codec::frame::{
    split_frame, Frame, FRAME_HEARTBEAT, FRAME_METHOD, FRAME_MIN_SIZE, PROTOCOL_HEADER,
};
use warren_codec::method::{decode_method, write_method, Method};
use warren_codec::protocol::{connection, AMQPClass};
use warren_codec::types::{AMQPValue, FieldTable, LongString};

use super::transport::{self, ReadHalf};
use crate::error::AmqpError;
use warren_broker::admission::{Admission, AdmissionRefused};
use warren_broker::auth::Grant;
use warren_broker::broker::Broker;
use warren_broker::queue::outbox::canonical;
use warren_broker::vhost::VHost;
use warren_model::conf::CertLoginFrom;

/// What the handshake settled.
#[derive(Debug)]
pub struct Negotiated {
    pub channel_max: u16,
    pub frame_max: u32,
    pub heartbeat_s: u16,
    pub grant: Grant,
    pub vhost: Arc<VHost>,
    pub client_properties: FieldTable,
    /// The SASL mechanism the client logged in with.
    pub auth_mechanism: String,
    /// Its place under a connection limit, held until the connection is registered.
    pub admission: Option<Admission>,
}

/// How the handshake ended early.
#[derive(Debug)]
pub enum HandshakeError {
    /// The peer went away.
    Closed,
    /// The peer broke the handshake: RabbitMQ sends no frame and drops the socket after 3 s.
    Silent(&'static str),
    /// Send connection.close with this error, then close.
    Close(AmqpError),
}

impl From<AmqpError> for HandshakeError {
    fn from(e: AmqpError) -> Self {
        HandshakeError::Close(e)
    }
}

pub struct Handshake<'a> {
    pub broker: &'a Arc<Broker>,
    pub peer: SocketAddr,
    pub reader: &'a mut ReadHalf,
    pub writer: &'a mut OwnedWriteHalf,
    pub rbuf: &'a mut BytesMut,
    /// The subject of the client's verified certificate, on a TLS connection that has one.
    pub client_subject: Option<&'a warren_tls::Subject>,
    /// Set once tune-ok arrived: RabbitMQ then answers stray frames with 505.
    pub tuned: bool,
}

impl Handshake<'_> {
    pub async fn run(&mut self) -> Result<Negotiated, HandshakeError> {
        self.protocol_header().await?;
        let cfg = &self.broker.config;
        self.send(&AMQPClass::Connection(connection::AMQPMethod::Start(
            connection::Start {
                version_major: 0,
                version_minor: 9,
                server_properties: server_properties(&cfg.server_product),
                mechanisms: self.offered_mechanisms().join(" ").into(),
                locales: "en_US".into(),
            },
        )))
        .await?;
        let start_ok = match self.next_connection_method().await? {
            connection::AMQPMethod::StartOk(s) => s,
            _ => return Err(expected("connection.start_ok")),
        };
        // An address that failed repeatedly waits before every answer, right or wrong: a
        // guesser cannot tell a failure by its slowness.
        let ip = canonical(self.peer).ip();
        let wait = self.broker.login_throttle.delay_for(&ip);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let outcome = self.authenticate(&start_ok);
        self.broker.auth_attempts.record(outcome.is_ok());
        match &outcome {
            Ok(_) => self.broker.login_throttle.succeeded(&ip),
            Err(_) => self.broker.login_throttle.failed(&ip),
        }
        let grant_user = outcome?;
        self.send(&AMQPClass::Connection(connection::AMQPMethod::Tune(
            connection::Tune {
                channel_max: cfg.channel_max,
                frame_max: cfg.frame_max,
                heartbeat: cfg.heartbeat_s,
            },
        )))
        .await?;
        let tune_ok = match self.next_connection_method().await? {
            connection::AMQPMethod::TuneOk(t) => t,
            _ => return Err(expected("connection.tune_ok")),
        };
        let frame_max = tune_ok.frame_max;
        if frame_max < FRAME_MIN_SIZE || frame_max > cfg.frame_max {
            return Err(HandshakeError::Silent("frame_max out of range in tune-ok"));
        }
        // RabbitMQ rejects channel_max 0 here rather than reading it as "no limit".
        let channel_max = tune_ok.channel_max;
        if channel_max == 0 || channel_max > cfg.channel_max {
            return Err(HandshakeError::Silent(
                "channel_max out of range in tune-ok",
            ));
        }
        self.tuned = true;
        let open = match self.next_connection_method().await? {
            connection::AMQPMethod::Open(o) => o,
            _ => return Err(expected("connection.open")),
        };
        let vhost_name = open.virtual_host.as_str();
        let vhost = self.broker.vhost(vhost_name).ok_or_else(|| {
            AmqpError::not_allowed(format!("vhost {vhost_name} not found")).on_method(10, 40)
        })?;
        // The limits first, the vhost's then the user's, then the permission (RabbitMQ's
        // order); the admission holds the place until the connection is registered.
        let user_max_connections = self
            .broker
            .users
            .read()
            .limit(&grant_user, "max-connections");
        let admission = self
            .broker
            .admit(
                vhost_name,
                &grant_user,
                vhost.limit("max-connections"),
                user_max_connections,
            )
            .map_err(|refused| {
                let text = match refused {
                    AdmissionRefused::Vhost(max) => format!(
                        "access to vhost '{vhost_name}' refused for user '{grant_user}': connection limit ({max}) is reached"
                    ),
                    AdmissionRefused::User(max) => format!(
                        "connection refused for user '{grant_user}': user connection limit ({max}) is reached"
                    ),
                };
                AmqpError::not_allowed(text).on_method(10, 40)
            })?;
        let grant = {
            let users = self.broker.users.read();
            let permission = users
                .permission(&grant_user, vhost_name)
                .cloned()
                .ok_or_else(|| {
                    AmqpError::not_allowed(format!(
                        "access to vhost '{vhost_name}' refused for user '{grant_user}'"
                    ))
                    .on_method(10, 40)
                })?;
            Grant::new(&users, &grant_user, vhost_name, permission)
        };
        self.send(&AMQPClass::Connection(connection::AMQPMethod::OpenOk(
            connection::OpenOk {},
        )))
        .await?;
        Ok(Negotiated {
            channel_max,
            frame_max,
            heartbeat_s: tune_ok.heartbeat,
            grant,
            vhost,
            admission,
            auth_mechanism: start_ok.mechanism.to_string(),
            client_properties: start_ok.client_properties,
        })
    }

    async fn protocol_header(&mut self) -> Result<(), HandshakeError> {
        while self.rbuf.len() < 8 {
            let n = self
                .reader
                .read_buf(self.rbuf)
                .await
                .map_err(|_| HandshakeError::Closed)?;
            if n == 0 {
                return Err(HandshakeError::Closed);
            }
            if !PROTOCOL_HEADER.starts_with(&self.rbuf[..self.rbuf.len().min(8)]) {
                break;
            }
        }
        if self.rbuf.len() < 8 || &self.rbuf[..8] != PROTOCOL_HEADER {
            // Tell the client which protocol we speak, then hang up (spec 4.2.2).
            let _ = self.write_all(PROTOCOL_HEADER).await;
            return Err(HandshakeError::Closed);
        }
        let _ = self.rbuf.split_to(8);
        Ok(())
    }

    /// The configured mechanisms this connection may use: EXTERNAL only over TLS with a
    /// client certificate that was verified (RabbitMQ offers it only when the peer has one).
    fn offered_mechanisms(&self) -> Vec<&str> {
        let has_cert = self.client_subject.is_some();
        self.broker
            .config
            .auth_mechanisms
            .iter()
            .map(String::as_str)
            .filter(|m| *m != "EXTERNAL" || has_cert)
            .collect()
    }

    fn authenticate(&self, start_ok: &connection::StartOk) -> Result<String, HandshakeError> {
        let mechanism = start_ok.mechanism.as_str();
        if !self.offered_mechanisms().contains(&mechanism) {
            return Err(HandshakeError::Silent(
                "authentication mechanism not offered",
            ));
        }
        if mechanism == "EXTERNAL" {
            return self.authenticate_external(&start_ok.client_properties);
        }
        let (user, pass) = match mechanism {
            "PLAIN" => parse_plain(start_ok.response.as_bytes()),
            "AMQPLAIN" => parse_amqplain(start_ok.response.as_bytes()),
            _ => return Err(HandshakeError::Silent("unknown authentication mechanism")),
        }
        .ok_or(HandshakeError::Silent("malformed authentication response"))?;
        let refused = || {
            if wants_auth_failure_close(&start_ok.client_properties) {
                HandshakeError::Close(AmqpError::access_refused(format!(
                    "Login was refused using authentication mechanism {mechanism}. For details see the broker logfile."
                )))
            } else {
                HandshakeError::Silent("login refused")
            }
        };
        let users = self.broker.users.read();
        if users.authenticate(&user, pass.as_bytes()).is_none() {
            tracing::warn!(peer = %self.peer, user = %user, "login refused: invalid credentials");
            return Err(refused());
        }
        if !login_allowed_from(&self.broker.config.loopback_users, &user, self.peer) {
            tracing::warn!(peer = %self.peer, user = %user, "login refused: user may only connect via localhost");
            return Err(HandshakeError::Close(AmqpError::access_refused(format!(
                "Login was refused using authentication mechanism {mechanism}. For details see the broker logfile."
            ))));
        }
        Ok(user)
    }

    /// SASL EXTERNAL: the user is the one the verified client certificate names
    /// (`ssl_cert_login_from`); no password. It must exist, and the loopback rule still
    /// applies. The response (an authorization identity) is ignored, as by RabbitMQ.
    fn authenticate_external(
        &self,
        client_properties: &FieldTable,
    ) -> Result<String, HandshakeError> {
        let subject = self.client_subject.ok_or(HandshakeError::Silent(
            "EXTERNAL without a client certificate",
        ))?;
        let name = match self.broker.config.cert_login_from {
            CertLoginFrom::DistinguishedName => Some(subject.distinguished_name.clone()),
            CertLoginFrom::CommonName => subject.common_name.clone(),
        };
        // As for a wrong password: a 403 close to clients that asked for one
        // (`authentication_failure_close`), else the socket is dropped.
        let refused = |why: &str| {
            tracing::warn!(peer = %self.peer, user = ?name, "login refused: {why}");
            if wants_auth_failure_close(client_properties) {
                HandshakeError::Close(AmqpError::access_refused(
                    "Login was refused using authentication mechanism EXTERNAL. For details see the broker logfile.",
                ))
            } else {
                HandshakeError::Silent("login refused")
            }
        };
        let Some(user) = name.clone() else {
            return Err(refused("the client certificate has no common name"));
        };
        if self.broker.users.read().user(&user).is_none() {
            return Err(refused("no such user"));
        }
        if !login_allowed_from(&self.broker.config.loopback_users, &user, self.peer) {
            return Err(refused("user may only connect via localhost"));
        }
        Ok(user)
    }

    async fn send(&mut self, class: &AMQPClass) -> Result<(), HandshakeError> {
        let mut out = Vec::new();
        write_method(&mut out, 0, class);
        self.write_all(&out)
            .await
            .map_err(|_| HandshakeError::Closed)
    }

    /// Write to the client (sealed first on a TLS connection).
    async fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        let tls = self.reader.tls().cloned();
        transport::write_all(self.writer, tls.as_ref(), data).await
    }

    async fn read_frame(&mut self) -> Result<Frame, HandshakeError> {
        loop {
            match split_frame(self.rbuf, FRAME_MIN_SIZE.max(self.broker.config.frame_max)) {
                Ok(Some(frame)) => return Ok(frame),
                Ok(None) => {}
                Err(_) => return Err(HandshakeError::Silent("bad frame during the handshake")),
            }
            let n = self
                .reader
                .read_buf(self.rbuf)
                .await
                .map_err(|_| HandshakeError::Closed)?;
            if n == 0 {
                return Err(HandshakeError::Closed);
            }
        }
    }

    /// The next connection-class method on channel 0, skipping heartbeats.
    async fn next_connection_method(&mut self) -> Result<connection::AMQPMethod, HandshakeError> {
        loop {
            let frame = self.read_frame().await?;
            if frame.kind == FRAME_HEARTBEAT {
                continue;
            }
            if frame.kind != FRAME_METHOD || frame.channel != 0 {
                if self.tuned {
                    return Err(
                        AmqpError::unexpected_frame(warren_codec::reply::describe_frame(
                            frame.kind,
                            &frame.payload,
                        ))
                        .into(),
                    );
                }
                return Err(HandshakeError::Silent(
                    "unexpected frame during the handshake",
                ));
            }
            return match decode_method(frame.payload) {
                Ok(Method::Other(AMQPClass::Connection(m))) => Ok(m),
                _ => Err(HandshakeError::Silent(
                    "unexpected method during the handshake",
                )),
            };
        }
    }
}

fn expected(what: &'static str) -> HandshakeError {
    HandshakeError::Silent(what)
}

/// RabbitMQ's `loopback_users`: those users may only log in over a loopback address.
fn login_allowed_from(loopback_users: &[String], user: &str, peer: SocketAddr) -> bool {
    // An IPv4 client of a dual-stack listener shows as ::ffff:127.0.0.1: loopback too.
    peer.ip().to_canonical().is_loopback() || !loopback_users.iter().any(|u| u == user)
}

/// PLAIN: "authzid\0user\0password" (authzid ignored).
fn parse_plain(response: &[u8]) -> Option<(String, String)> {
    let mut parts = response.split(|&b| b == 0);
    let _authzid = parts.next()?;
    let user = parts.next()?;
    let pass = parts.next()?;
    if parts.next().is_some() {
        return None;
    }
    Some((
        String::from_utf8(user.to_vec()).ok()?,
        String::from_utf8(pass.to_vec()).ok()?,
    ))
}

/// AMQPLAIN: a field table without its length prefix, holding LOGIN and PASSWORD.
fn parse_amqplain(response: &[u8]) -> Option<(String, String)> {
    let mut framed = (response.len() as u32).to_be_bytes().to_vec();
    framed.extend_from_slice(response);
    let table = warren_codec::content::decode_table(&framed).ok()?;
    let get = |k: &str| match table.inner().get(k)? {
        AMQPValue::LongString(s) => String::from_utf8(s.as_bytes().to_vec()).ok(),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        _ => None,
    };
    Some((get("LOGIN")?, get("PASSWORD")?))
}

fn wants_auth_failure_close(client_properties: &FieldTable) -> bool {
    client_capability(client_properties, "authentication_failure_close")
}

/// Whether the client announced a RabbitMQ extension in its `capabilities` table.
pub fn client_capability(client_properties: &FieldTable, name: &str) -> bool {
    match client_properties.inner().get("capabilities") {
        Some(AMQPValue::FieldTable(caps)) => {
            matches!(caps.inner().get(name), Some(AMQPValue::Boolean(true)))
        }
        _ => false,
    }
}

fn server_properties(product: &str) -> FieldTable {
    let mut caps = FieldTable::default();
    for cap in [
        "publisher_confirms",
        "exchange_exchange_bindings",
        "basic.nack",
        "consumer_cancel_notify",
        "connection.blocked",
        "consumer_priorities",
        "authentication_failure_close",
        "per_consumer_qos",
        "direct_reply_to",
    ] {
        caps.insert(cap.into(), AMQPValue::Boolean(true));
    }
    let text = |s: &str| AMQPValue::LongString(LongString::from(s.as_bytes().to_vec()));
    let mut props = FieldTable::default();
    props.insert("capabilities".into(), AMQPValue::FieldTable(caps));
    props.insert("product".into(), text(product));
    props.insert("version".into(), text(env!("CARGO_PKG_VERSION")));
    props.insert("platform".into(), text("Rust"));
    props.insert("cluster_name".into(), text("warren"));
    props.insert("copyright".into(), text("Copyright (c) the Warren authors"));
    props.insert(
        "information".into(),
        text("Licensed under the Apache License 2.0"),
    );
    props
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_only_from_loopback() {
        let loopback_users = vec!["guest".to_string()];
        let local: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let local6: SocketAddr = "[::1]:5000".parse().unwrap();
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:5000".parse().unwrap();
        assert!(login_allowed_from(&loopback_users, "guest", mapped));
        let remote: SocketAddr = "192.0.2.7:5000".parse().unwrap();
        assert!(login_allowed_from(&loopback_users, "guest", local));
        assert!(login_allowed_from(&loopback_users, "guest", local6));
        assert!(!login_allowed_from(&loopback_users, "guest", remote));
        assert!(login_allowed_from(&loopback_users, "alice", remote));
    }

    #[test]
    fn sasl_responses_parse() {
        assert_eq!(
            parse_plain(b"\0guest\0secret"),
            Some(("guest".into(), "secret".into()))
        );
        assert_eq!(parse_plain(b"guestsecret"), None);
        let mut table = FieldTable::default();
        table.insert("LOGIN".into(), AMQPValue::LongString("bob".into()));
        table.insert("PASSWORD".into(), AMQPValue::LongString("pw".into()));
        let encoded = warren_codec::content::encode_table(&table);
        // AMQPLAIN sends the table without its 4-byte length prefix.
        assert_eq!(
            parse_amqplain(&encoded[4..]),
            Some(("bob".into(), "pw".into()))
        );
    }
}
