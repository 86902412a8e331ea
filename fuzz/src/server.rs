//! A real broker on 127.0.0.1:0, served by a Tokio runtime this process owns, with its data
//! directory in scratch space. `stop` shuts it down the way the binary does.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use warren_broker::{Broker, Config};

use crate::scratch::Scratch;

pub struct Server {
    pub addr: SocketAddr,
    runtime: Runtime,
    shutdown: oneshot::Sender<()>,
    served: JoinHandle<()>,
    _dir: Scratch,
}

/// The configuration fuzzing runs under: defaults, loopback, a small memory budget so
/// published messages go to disk rather than pile up in the fuzzer's memory.
pub fn config(data_dir: &std::path::Path) -> Config {
    Config {
        bind: IpAddr::from([127, 0, 0, 1]),
        amqp_port: 0,
        data_dir: data_dir.to_path_buf(),
        memory_budget: 8 << 20,
        handshake_timeout: Duration::from_secs(10),
        ..Config::default()
    }
}

impl Server {
    pub fn start() -> Self {
        let dir = Scratch::new("connection");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("build a Tokio runtime");
        let broker = Broker::new(config(dir.path())).expect("start a broker");
        let listener = runtime
            .block_on(TcpListener::bind((IpAddr::from([127, 0, 0, 1]), 0)))
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("bound address");
        let (shutdown, stop) = oneshot::channel::<()>();
        let served = runtime.spawn(warren_amqp::server::run(listener, None, broker, async {
            let _ = stop.await;
        }));
        Self {
            addr,
            runtime,
            shutdown,
            served,
            _dir: dir,
        }
    }

    /// Close every connection (320), wait for them, stop the store.
    pub fn stop(self) {
        let _ = self.shutdown.send(());
        self.runtime
            .block_on(self.served)
            .expect("the server task ends without panicking");
        self.runtime.shutdown_timeout(Duration::from_secs(5));
    }
}
