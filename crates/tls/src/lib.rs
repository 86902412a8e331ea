//! TLS in one place for every listener (AMQPS, the management API and UI over HTTPS,
//! Prometheus over HTTPS) and, later, the links between cluster nodes: certificates, keys and
//! CA bundles read from PEM files as RabbitMQ's `ssl_options` name them, turned into a rustls
//! configuration, and swapped in whole when the files are reloaded (connections keep the
//! configuration they started with).

pub mod ciphers;
mod files;
mod subject;

use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::RwLock;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

pub use files::{load_certificates, load_private_key};
pub use rustls;
pub use subject::{subject, Subject};

/// What RabbitMQ's `ssl_options.*` say about a TLS listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// `ssl_options.certfile`: the server's certificate chain (PEM), leaf first.
    pub cert: PathBuf,
    /// `ssl_options.keyfile`: its private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// `ssl_options.cacertfile`: the CAs client certificates must chain to.
    pub ca: Option<PathBuf>,
    /// `ssl_options.verify = verify_peer`: ask clients for a certificate and check it.
    pub verify_peer: bool,
    /// `ssl_options.fail_if_no_peer_cert = true`: with `verify_peer`, refuse clients
    /// that present none.
    pub fail_if_no_peer_cert: bool,
    /// `ssl_options.versions.N`: offer only these (empty: TLS 1.2 and 1.3).
    pub versions: Vec<TlsVersion>,
    /// `ssl_options.ciphers.N`: offer only these suites, in this order (empty: all of
    /// rustls's); names rustls has no suite for are left out (see [`ciphers::unknown`]).
    pub ciphers: Vec<String>,
    /// `ssl_options.honor_cipher_order`: pick the suite by the server's order, not the
    /// client's.
    pub honor_cipher_order: bool,
}

/// A TLS version a listener may offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersion {
    Tls12,
    Tls13,
}

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: no PEM certificate in it")]
    NoCertificate { path: PathBuf },
    #[error("{path}: no PEM private key in it")]
    NoKey { path: PathBuf },
    #[error("{path}: {reason}")]
    Pem { path: PathBuf, reason: String },
    #[error("ssl_options.verify = verify_peer needs ssl_options.cacertfile")]
    VerifyWithoutCa,
    #[error("none of ssl_options.ciphers ({0}) is a cipher suite Warren offers")]
    NoCipher(String),
    #[error("client certificate verification: {0}")]
    Verifier(String),
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The cryptography Warren uses: ring, which builds with the `cc` crate alone (aws-lc-rs
/// would add cmake-class build requirements and minutes of C compilation). rustls marks
/// ring's provider deprecated because it lacks the post-quantum key exchange; clients that
/// offer X25519MLKEM768 first settle on a classic group such as X25519.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    #[allow(deprecated)]
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server configuration from `files`: TLS 1.2 and 1.3 (or the versions listed), the
/// cipher suites listed (all by default), the key checked against the certificate, client certificates asked for and verified against the CA bundle with
/// `verify_peer` (required with `fail_if_no_peer_cert`).
pub fn server_config(files: &TlsFiles) -> Result<ServerConfig, TlsError> {
    let chain = load_certificates(&files.cert)?;
    let key = load_private_key(&files.key)?;
    #[allow(deprecated)]
    let all = rustls::crypto::ring::default_provider();
    let offered = ciphers::restrict(all, &files.ciphers)
        .ok_or_else(|| TlsError::NoCipher(files.ciphers.join(", ")))?;
    let builder = ServerConfig::builder_with_provider(Arc::new(offered));
    let builder = if files.versions.is_empty() {
        builder.with_safe_default_protocol_versions()?
    } else {
        let versions: Vec<&'static rustls::SupportedProtocolVersion> = files
            .versions
            .iter()
            .map(|v| match v {
                TlsVersion::Tls12 => &rustls::version::TLS12,
                TlsVersion::Tls13 => &rustls::version::TLS13,
            })
            .collect();
        builder.with_protocol_versions(&versions)?
    };
    let builder = if files.verify_peer {
        let ca = files.ca.as_ref().ok_or(TlsError::VerifyWithoutCa)?;
        let mut roots = RootCertStore::empty();
        for cert in load_certificates(ca)? {
            roots.add(cert).map_err(|e| TlsError::Pem {
                path: ca.clone(),
                reason: e.to_string(),
            })?;
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
        let verifier = if files.fail_if_no_peer_cert {
            verifier
        } else {
            verifier.allow_unauthenticated()
        };
        let verifier = verifier
            .build()
            .map_err(|e| TlsError::Verifier(e.to_string()))?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder.with_single_cert(chain, key)?;
    config.ignore_client_order = files.honor_cipher_order;
    Ok(config)
}

/// A listener's TLS configuration, replaced whole by [`ServerTls::reload`]: new connections
/// get the new certificates, open ones keep theirs (as RabbitMQ after a certificate
/// change).
#[derive(Debug)]
pub struct ServerTls {
    files: TlsFiles,
    current: RwLock<Arc<ServerConfig>>,
}

impl ServerTls {
    pub fn load(files: TlsFiles) -> Result<Self, TlsError> {
        let config = Arc::new(server_config(&files)?);
        Ok(Self {
            files,
            current: RwLock::new(config),
        })
    }

    /// The configuration a new connection uses.
    pub fn config(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.current.read())
    }

    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    /// Read the files again; on error the configuration in use stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let config = Arc::new(server_config(&self.files)?);
        *self.current.write() = config;
        Ok(())
    }
}
