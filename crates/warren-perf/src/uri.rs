//! `amqp://user:pass@host:port/vhost` parsing (percent-decoding user, password and vhost).

use anyhow::{bail, Context, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmqpUri {
    pub user: String,
    pub pass: String,
    pub host: String,
    pub port: u16,
    pub vhost: String,
    /// `amqps://`: TLS (default port 5671).
    pub tls: bool,
}

impl AmqpUri {
    pub fn parse(uri: &str) -> Result<Self> {
        let (tls, rest) = match (uri.strip_prefix("amqps://"), uri.strip_prefix("amqp://")) {
            (Some(rest), _) => (true, rest),
            (None, Some(rest)) => (false, rest),
            (None, None) => bail!("unsupported URI {uri:?}: expected amqp:// or amqps://"),
        };
        let default_port = if tls { 5671 } else { 5672 };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        let (user, pass) = match userinfo {
            Some(ui) => match ui.find(':') {
                Some(i) => (decode(&ui[..i])?, decode(&ui[i + 1..])?),
                None => (decode(ui)?, String::new()),
            },
            None => ("guest".to_owned(), "guest".to_owned()),
        };
        let (host, port) = if let Some(h) = hostport.strip_prefix('[') {
            // [v6]:port
            let end = h.find(']').context("unterminated IPv6 address")?;
            let port = match h[end + 1..].strip_prefix(':') {
                Some(p) => p.parse().context("bad port")?,
                None => default_port,
            };
            (h[..end].to_owned(), port)
        } else {
            match hostport.rfind(':') {
                Some(i) => (
                    hostport[..i].to_owned(),
                    hostport[i + 1..].parse().context("bad port")?,
                ),
                None => (hostport.to_owned(), default_port),
            }
        };
        let host = if host.is_empty() {
            "127.0.0.1".to_owned()
        } else {
            host
        };
        // amqp://host (no path) and amqp://host/ both mean the default vhost "/".
        let vhost = match path {
            None | Some("") => "/".to_owned(),
            Some(p) => decode(p)?,
        };
        Ok(Self {
            user,
            pass,
            host,
            port,
            vhost,
            tls,
        })
    }

    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

fn decode(s: &str) -> Result<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if i + 3 > b.len() {
                bail!("truncated percent escape in {s:?}");
            }
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).context("bad percent escape")?;
            out.push(u8::from_str_radix(hex, 16).context("bad percent escape")?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).context("URI component is not UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_usual_forms() {
        let u = AmqpUri::parse("amqp://guest:guest@127.0.0.1:5672/%2f").unwrap();
        assert_eq!(
            u,
            AmqpUri {
                user: "guest".into(),
                pass: "guest".into(),
                host: "127.0.0.1".into(),
                port: 5672,
                vhost: "/".into(),
                tls: false,
            }
        );
        let u = AmqpUri::parse("amqps://localhost/").unwrap();
        assert_eq!((u.tls, u.port), (true, 5671));
        let u = AmqpUri::parse("amqp://localhost").unwrap();
        assert_eq!(
            (u.port, u.vhost.as_str(), u.user.as_str()),
            (5672, "/", "guest")
        );
        let u = AmqpUri::parse("amqp://a%40b:p%3Aw@h:1/v").unwrap();
        assert_eq!(
            (u.user.as_str(), u.pass.as_str(), u.vhost.as_str()),
            ("a@b", "p:w", "v")
        );
        assert!(AmqpUri::parse("http://x").is_err());
        assert!(AmqpUri::parse("amqp://h/%2").is_err());
    }
}
