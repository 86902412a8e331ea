//! The AMQP listeners (plain, and AMQPS when configured): accept connections until
//! shutdown, then close them with 320 CONNECTION_FORCED and wait (bounded) for them to
//! finish.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::connection;
use warren_broker::broker::Broker;
use warren_tls::ServerTls;

/// A client from `listener` (none ever when there is no listener), with a slot of `slots`
/// taken first when `connection_max` applies: as with RabbitMQ's ranch, past the limit no
/// client is accepted; they wait in the listen backlog until a connection ends. Cancel-safe
/// (a dropped wait gives its slot back; accept is cancel-safe).
async fn accept(
    listener: Option<&TcpListener>,
    slots: Option<&Arc<Semaphore>>,
) -> (
    Option<OwnedSemaphorePermit>,
    std::io::Result<(TcpStream, SocketAddr)>,
) {
    let Some(listener) = listener else {
        return std::future::pending().await;
    };
    let slot = match slots {
        Some(slots) => Arc::clone(slots).acquire_owned().await.ok(),
        None => None,
    };
    (slot, listener.accept().await)
}

/// EMFILE and friends: back off briefly rather than spin.
async fn accept_failed(e: &std::io::Error) {
    tracing::warn!(error = %e, "accept failed");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// The TLS handshake (within `ssl_handshake_timeout`), then the connection as any other.
/// A client that fails it (no certificate when one is required, an unknown CA, not TLS at
/// all) gets rustls's alert and is dropped; nothing reaches the broker.
async fn serve_tls(
    stream: TcpStream,
    peer: SocketAddr,
    config: Arc<rustls::ServerConfig>,
    broker: Arc<Broker>,
) {
    let _ = stream.set_nodelay(true);
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let timeout = broker.config.ssl_handshake_timeout;
    match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
        Ok(Ok(tls_stream)) => {
            let (stream, session) = tls_stream.into_inner();
            connection::serve(stream, Some(session), peer, broker).await;
        }
        Ok(Err(e)) => tracing::info!(%peer, error = %e, "TLS handshake failed"),
        Err(_) => tracing::info!(%peer, "TLS handshake timed out"),
    }
}

/// An AMQPS listener: bound, with the TLS configuration its connections start with.
pub struct TlsListener {
    pub listener: TcpListener,
    pub tls: Arc<ServerTls>,
}

/// Run the AMQP server on already-bound listeners until `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    tls: Option<TlsListener>,
    broker: Arc<Broker>,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let monitor = warren_broker::monitor::Monitor::start(Arc::clone(&broker));
    // `connection_max` applies to each listener, as RabbitMQ gives each its own.
    let slots = || {
        broker
            .config
            .connection_max
            .map(|n| Arc::new(Semaphore::new(n.min(Semaphore::MAX_PERMITS))))
    };
    let (plain_slots, tls_slots) = (slots(), slots());
    loop {
        tokio::select! {
            (slot, accepted) = accept(Some(&listener), plain_slots.as_ref()) => match accepted {
                Ok((stream, peer)) => {
                    let broker = Arc::clone(&broker);
                    tokio::spawn(async move {
                        connection::serve(stream, None, peer, broker).await;
                        drop(slot);
                    });
                }
                Err(e) => accept_failed(&e).await,
            },
            (slot, accepted) = accept(tls.as_ref().map(|l| &l.listener), tls_slots.as_ref()) => match accepted {
                Ok((stream, peer)) => {
                    let Some(l) = &tls else { continue };
                    let (config, broker) = (l.tls.config(), Arc::clone(&broker));
                    tokio::spawn(async move {
                        serve_tls(stream, peer, config, broker).await;
                        drop(slot);
                    });
                }
                Err(e) => accept_failed(&e).await,
            },
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    drop(tls);
    drop(monitor);
    broker.close_all("broker forced connection closure with reason 'shutdown'");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while broker.connection_count() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    broker.shutdown();
}
