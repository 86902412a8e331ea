//! The AMQP listener: accept connections until shutdown, then close them with 320
//! CONNECTION_FORCED and wait (bounded) for them to finish.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::connection;
use warren_broker::broker::Broker;

/// Run the AMQP server on an already-bound listener until `shutdown` resolves.
pub async fn run(listener: TcpListener, broker: Arc<Broker>, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    let monitor = warren_broker::monitor::Monitor::start(Arc::clone(&broker));
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    tokio::spawn(connection::serve(stream, peer, Arc::clone(&broker)));
                }
                Err(e) => {
                    // EMFILE and friends: back off briefly rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    drop(monitor);
    broker.close_all("broker forced connection closure with reason 'shutdown'");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while broker.connection_count() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    broker.shutdown();
}
