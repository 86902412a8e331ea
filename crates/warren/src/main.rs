//! The `warren` binary: parse configuration, bind listeners, run the broker until SIGTERM/SIGINT.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};
use tokio::net::TcpListener;
use warren_broker::config::{memory_high_watermark, Watermark};
use warren_broker::{Broker, Config};
use warren_model::conf::{
    HttpsListener, Listener, MemoryWatermark, Settings, SslOptions, TlsVersion,
};

/// Messages are allocated on the publisher's thread and freed on the consumer's; mimalloc
/// handles that cross-thread pattern without the arena lock contention glibc shows.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Warren: an AMQP 0-9-1 message broker that RabbitMQ clients use unchanged.
#[derive(Debug, Parser)]
#[command(name = "warren", version, about)]
struct Cli {
    /// A RabbitMQ configuration file (rabbitmq.conf format); environment variables and flags
    /// override what it sets (docs/configuration.md lists the keys).
    #[arg(long, env = "WARREN_CONFIG_FILE")]
    config: Option<PathBuf>,
    /// Address to listen on. The default `::` takes IPv6 and IPv4 clients (0.0.0.0 where
    /// the host has no IPv6), as RabbitMQ listens by default.
    #[arg(long, env = "WARREN_BIND", default_value = "::")]
    bind: IpAddr,
    /// AMQP port (0 picks a free port; the bound port is logged).
    #[arg(long, env = "WARREN_AMQP_PORT", default_value_t = 5672)]
    amqp_port: u16,
    /// AMQPS (AMQP over TLS) port, off by default (RabbitMQ's `listeners.ssl.default`, with
    /// the certificates of `ssl_options.*` in the configuration file; 0 picks a free port).
    #[arg(long, env = "WARREN_AMQPS_PORT")]
    amqps_port: Option<u16>,
    /// Management HTTP port (0 picks a free port).
    #[arg(long, env = "WARREN_MGMT_PORT", default_value_t = 15672)]
    mgmt_port: u16,
    /// Prometheus metrics port, on the management listener's address (0 picks a free
    /// port).
    #[arg(long, env = "WARREN_PROMETHEUS_PORT", default_value_t = 15692)]
    prometheus_port: u16,
    /// Directory for persistent data.
    #[arg(
        long,
        env = "WARREN_DATA_DIR",
        default_value = "./warren-data",
        global = true
    )]
    data_dir: PathBuf,
    /// User created at start with full access to the default vhost.
    #[arg(long, env = "WARREN_DEFAULT_USER", default_value = "guest")]
    default_user: String,
    /// Password of the default user.
    #[arg(long, env = "WARREN_DEFAULT_PASS", default_value = "guest")]
    default_pass: String,
    /// Default virtual host.
    #[arg(long, env = "WARREN_DEFAULT_VHOST", default_value = "/")]
    default_vhost: String,
    /// RabbitMQ definitions JSON (users, vhosts, permissions) to load at start.
    #[arg(long, env = "WARREN_DEFINITIONS")]
    definitions: Option<PathBuf>,
    /// Heartbeat interval offered to clients, in seconds (0 disables).
    #[arg(long, env = "WARREN_HEARTBEAT", default_value_t = 60)]
    heartbeat: u16,
    /// Largest frame offered to clients, in bytes.
    #[arg(long, env = "WARREN_FRAME_MAX", default_value_t = 131_072)]
    frame_max: u32,
    /// Most channels per connection.
    #[arg(long, env = "WARREN_CHANNEL_MAX", default_value_t = 2047)]
    channel_max: u16,
    /// Message bytes kept in memory; beyond it new messages live on disk only (default: half
    /// the memory high watermark, RabbitMQ's paging ratio).
    #[arg(long, env = "WARREN_MEMORY_BUDGET")]
    memory_budget: Option<usize>,
    /// Bytes of message bodies each queue keeps in memory (the head of its backlog); past
    /// them the queue's new messages live on disk only, read back for its consumers. Lazy
    /// queues (x-queue-mode / policy queue-mode "lazy") keep none.
    #[arg(long, env = "WARREN_QUEUE_MEMORY_BYTES", default_value_t = warren_store::QUEUE_MEMORY_BYTES_DEFAULT)]
    queue_memory_bytes: u64,
    /// Memory high watermark: above it publishers are blocked. A fraction of physical memory
    /// ("0.4", the default) or an absolute size ("2GB", "512MiB", bytes).
    #[arg(long, env = "WARREN_VM_MEMORY_HIGH_WATERMARK", default_value = "0.4", value_parser = parse_watermark)]
    vm_memory_high_watermark: Watermark,
    /// Largest message body accepted, in bytes (at most 512 MiB).
    #[arg(long, env = "WARREN_MAX_MESSAGE_SIZE", default_value_t = warren_broker::config::MAX_MESSAGE_SIZE_DEFAULT_BYTES,
          value_parser = clap::value_parser!(u64).range(1..=warren_broker::config::MAX_MESSAGE_SIZE_LIMIT_BYTES))]
    max_message_size: u64,
    /// A client must complete the opening handshake within this many milliseconds.
    #[arg(long, env = "WARREN_HANDSHAKE_TIMEOUT", default_value_t = 10_000)]
    handshake_timeout: u64,
    /// Block publishers while the data directory's disk has less free space (bytes).
    #[arg(long, env = "WARREN_DISK_FREE_LIMIT", default_value_t = 50_000_000)]
    disk_free_limit: u64,
    /// Size of a message store segment file, in bytes.
    /// (Offsets within a segment are 32-bit, so at most 2 GiB.)
    #[arg(long, env = "WARREN_SEGMENT_SIZE", default_value_t = 64 << 20, hide = true,
          value_parser = clap::value_parser!(u64).range(4096..=(2u64 << 30)))]
    segment_size: u64,
    /// The `product` server property clients see in connection.start (RabbitMQ's
    /// `server_properties`); some client test suites gate tests on "RabbitMQ".
    #[arg(long, env = "WARREN_SERVER_PRODUCT", default_value = "Warren")]
    server_product: String,
    /// Log filter: error, warn, info, debug, trace (or a tracing filter expression).
    #[arg(long, env = "WARREN_LOG_LEVEL", default_value = "info")]
    log_level: String,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print a RabbitMQ-compatible password hash (for definitions files).
    HashPassword { password: String },
    /// Check a stopped broker's message store (read-only); prints a JSON summary and exits
    /// non-zero when something is inconsistent.
    CheckStore,
}

fn main() -> anyhow::Result<()> {
    disable_transparent_huge_pages();
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if let Some(Command::HashPassword { password }) = &cli.command {
        println!(
            "{}",
            warren_broker::auth::password::hash_password(password.as_bytes())
        );
        return Ok(());
    }
    if let Some(Command::CheckStore) = &cli.command {
        match warren_store::check(&cli.data_dir) {
            Ok(report) => {
                println!("{}", serde_json::to_string(&report)?);
                return Ok(());
            }
            Err(problem) => {
                eprintln!("store is inconsistent: {problem}");
                std::process::exit(1);
            }
        }
    }
    let file = match &cli.config {
        Some(path) => warren_model::conf::load(path)?,
        None => Settings::default(),
    };
    let log_level = layered(
        &matches,
        "log_level",
        cli.log_level.clone(),
        file.log_console_level
            .map(|l| l.tracing_filter().to_owned()),
    );
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&log_level).context("invalid --log-level")?,
        )
        .with_ansi(false)
        .init();
    if let Some(path) = &cli.config {
        tracing::info!(path = %path.display(), "configuration file");
        for (key, line) in &file.unsupported {
            tracing::warn!(key, line, "configuration key not applied by Warren");
        }
    }
    let tls = tls_specs(&matches, &cli, &file)?;
    let config = configure(&matches, cli, file);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_park(reclaim::on_park)
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run(config, tls))
}

/// A TLS listener to start: where, and the certificates it serves.
struct TlsSpec {
    bind: Option<IpAddr>,
    port: u16,
    files: warren_tls::TlsFiles,
}

/// The TLS listeners the configuration asks for, and whether the plain HTTP ones stay.
struct TlsSpecs {
    /// `--amqps-port` or the first `listeners.ssl.*`, with `ssl_options.*`.
    amqps: Option<TlsSpec>,
    /// `management.ssl.*`.
    management: Option<TlsSpec>,
    /// `prometheus.ssl.*`.
    prometheus: Option<TlsSpec>,
    /// As in RabbitMQ, a plugin configured for HTTPS only (its `.ssl.port` set and no
    /// `.tcp.port`, no flag) has no plain HTTP listener.
    management_http: bool,
    prometheus_http: bool,
}

fn tls_specs(m: &ArgMatches, cli: &Cli, file: &Settings) -> anyhow::Result<TlsSpecs> {
    let from_file = first_listener(file.amqps_listeners.as_deref(), "listeners.ssl");
    let amqps = match (cli.amqps_port, from_file) {
        (Some(port), _) => Some((None, port)),
        (None, Some(l)) => Some((l.ip, l.port)),
        (None, None) => None,
    };
    let amqps = amqps
        .map(|(bind, port)| -> anyhow::Result<TlsSpec> {
            Ok(TlsSpec {
                bind,
                port,
                files: tls_files(&file.ssl_options, "ssl_options")?,
            })
        })
        .transpose()?;
    let https = |l: &HttpsListener, prefix: &str| -> anyhow::Result<Option<TlsSpec>> {
        l.port
            .map(|port| {
                Ok(TlsSpec {
                    bind: l.ip,
                    port,
                    files: tls_files(&l.tls, prefix)?,
                })
            })
            .transpose()
    };
    let flag_given =
        |id: &str| !matches!(m.value_source(id), None | Some(ValueSource::DefaultValue));
    Ok(TlsSpecs {
        amqps,
        management: https(&file.management_ssl, "management.ssl")?,
        prometheus: https(&file.prometheus_ssl, "prometheus.ssl")?,
        management_http: file.management_ssl.port.is_none()
            || file.management_port.is_some()
            || flag_given("mgmt_port"),
        prometheus_http: file.prometheus_ssl.port.is_none()
            || file.prometheus_port.is_some()
            || flag_given("prometheus_port"),
    })
}

/// The listener Warren takes from a `listeners.tcp.*` or `listeners.ssl.*` list: the first
/// (a warning names the others' fate).
fn first_listener(listeners: Option<&[Listener]>, key: &str) -> Option<Listener> {
    let listeners = listeners?;
    if listeners.len() > 1 {
        tracing::warn!("several {key} entries: Warren listens on the first only");
    }
    listeners.first().copied()
}

/// A TLS listener's files from its certificate keys (`PREFIX.certfile`, …).
fn tls_files(ssl: &SslOptions, prefix: &str) -> anyhow::Result<warren_tls::TlsFiles> {
    let (Some(cert), Some(key)) = (ssl.certfile.clone(), ssl.keyfile.clone()) else {
        anyhow::bail!(
            "a TLS listener needs {prefix}.certfile and {prefix}.keyfile in the configuration file"
        );
    };
    Ok(warren_tls::TlsFiles {
        cert,
        key,
        ca: ssl.cacertfile.clone(),
        verify_peer: ssl.verify_peer.unwrap_or(false),
        fail_if_no_peer_cert: ssl.fail_if_no_peer_cert.unwrap_or(false),
        versions: ssl
            .versions
            .iter()
            .map(|v| match v {
                TlsVersion::Tls12 => warren_tls::TlsVersion::Tls12,
                TlsVersion::Tls13 => warren_tls::TlsVersion::Tls13,
            })
            .collect(),
        ciphers: {
            let names = ssl.cipher_names();
            for name in warren_tls::ciphers::unknown(&names) {
                tracing::warn!(
                    cipher = name,
                    "{prefix}.ciphers: no such cipher suite in Warren (rustls offers AES-GCM and \
                     ChaCha20-Poly1305 with ECDHE, and TLS 1.3's); left out"
                );
            }
            names
        },
        honor_cipher_order: ssl.honor_cipher_order.unwrap_or(false),
    })
}

/// Bind a TLS listener and load its certificates (`what` names it in errors).
async fn listen_tls(
    spec: TlsSpec,
    default_bind: IpAddr,
    what: &str,
) -> anyhow::Result<(TcpListener, Arc<warren_tls::ServerTls>)> {
    let tls =
        warren_tls::ServerTls::load(spec.files).with_context(|| format!("{what} certificates"))?;
    let listener = listen(spec.bind.unwrap_or(default_bind), spec.port).await?;
    Ok((listener, Arc::new(tls)))
}

/// The value a flag (or its environment variable) gives, else the configuration file's,
/// else the flag's default.
fn layered<T>(matches: &ArgMatches, id: &str, flag: T, file: Option<T>) -> T {
    match (matches.value_source(id), file) {
        (None | Some(ValueSource::DefaultValue), Some(from_file)) => from_file,
        _ => flag,
    }
}

/// The broker's configuration: defaults < configuration file < environment < flags.
fn configure(m: &ArgMatches, cli: Cli, file: Settings) -> Config {
    let ram_bytes = warren_broker::config::total_memory_bytes();
    let listener = first_listener(file.amqp_listeners.as_deref(), "listeners.tcp");
    let from_file = file.vm_memory_high_watermark.map(|w| match w {
        MemoryWatermark::FractionOfRam(f) => Watermark::Relative(f),
        MemoryWatermark::Bytes(b) => Watermark::Absolute(b),
    });
    let watermark = layered(
        m,
        "vm_memory_high_watermark",
        cli.vm_memory_high_watermark,
        from_file,
    );
    let watermark_bytes = memory_high_watermark(watermark);
    let defaults = Config::default();
    let [configure, write, read] = defaults.default_permissions.clone();
    Config {
        bind: layered(m, "bind", cli.bind, listener.and_then(|l| l.ip)),
        amqp_port: layered(m, "amqp_port", cli.amqp_port, listener.map(|l| l.port)),
        mgmt_port: layered(m, "mgmt_port", cli.mgmt_port, file.management_port),
        prometheus_port: layered(
            m,
            "prometheus_port",
            cli.prometheus_port,
            file.prometheus_port,
        ),
        prometheus_per_object: file.prometheus_per_object.unwrap_or(false),
        consumer_timeout_ms: file.consumer_timeout_ms.or(defaults.consumer_timeout_ms),
        consumer_max_per_channel: file
            .consumer_max_per_channel
            .unwrap_or(defaults.consumer_max_per_channel),
        connection_max: file.connection_max.unwrap_or(defaults.connection_max),
        mgmt_bind: file.management_ip,
        data_dir: cli.data_dir,
        default_user: layered(m, "default_user", cli.default_user, file.default_user),
        default_pass: layered(m, "default_pass", cli.default_pass, file.default_pass),
        default_vhost: layered(m, "default_vhost", cli.default_vhost, file.default_vhost),
        default_user_tags: file.default_user_tags.unwrap_or(defaults.default_user_tags),
        default_permissions: [
            file.default_permissions_configure.unwrap_or(configure),
            file.default_permissions_write.unwrap_or(write),
            file.default_permissions_read.unwrap_or(read),
        ],
        // RabbitMQ offers its configured mechanisms in reverse order.
        auth_mechanisms: file
            .auth_mechanisms
            .map(|m| m.into_iter().rev().collect())
            .unwrap_or(defaults.auth_mechanisms),
        cert_login_from: file.ssl_cert_login_from.unwrap_or_default(),
        loopback_users: file.loopback_users.unwrap_or(defaults.loopback_users),
        definitions: cli.definitions.or(file.definitions_file),
        heartbeat_s: layered(m, "heartbeat", cli.heartbeat, file.heartbeat_s),
        frame_max: layered(m, "frame_max", cli.frame_max, file.frame_max_bytes).max(4096),
        channel_max: layered(m, "channel_max", cli.channel_max, file.channel_max),
        queue_memory_bytes: cli.queue_memory_bytes,
        memory_budget: cli
            .memory_budget
            .unwrap_or_else(|| warren_broker::config::default_memory_budget(watermark_bytes)),
        memory_high_watermark_bytes: watermark_bytes,
        reclaim_memory: Some(reclaim::request),
        server_product: cli.server_product,
        max_message_size_bytes: layered(
            m,
            "max_message_size",
            cli.max_message_size,
            file.max_message_size_bytes,
        ),
        ssl_handshake_timeout: file
            .ssl_handshake_timeout_ms
            .map(Duration::from_millis)
            .unwrap_or(defaults.ssl_handshake_timeout),
        handshake_timeout: Duration::from_millis(layered(
            m,
            "handshake_timeout",
            cli.handshake_timeout,
            file.handshake_timeout_ms,
        )),
        disk_free_limit: layered(
            m,
            "disk_free_limit",
            cli.disk_free_limit,
            file.disk_free_limit.map(|d| d.bytes(ram_bytes)),
        ),
        segment_size: cli.segment_size,
    }
}

/// Raise the open-file limit to its hard maximum: every connection is a socket, and every
/// live store segment keeps a reader and an ack file open (Go's runtime does the same at
/// start). Returns the limit now in force.
fn raise_open_file_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                return raised.rlim_cur;
            }
        }
        lim.rlim_cur
    }
}

async fn run(config: Config, tls: TlsSpecs) -> anyhow::Result<()> {
    let open_files = raise_open_file_limit();
    tracing::info!(open_files, "open-file limit");
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data dir {}", config.data_dir.display()))?;
    let listener = listen(config.bind, config.amqp_port).await?;
    let bound = listener.local_addr()?;
    let mgmt_bind = config.mgmt_bind.unwrap_or(config.bind);
    // (protocol, listener, its TLS configuration) for every HTTP(S) listener.
    let mut http = Vec::new();
    if tls.management_http {
        http.push(("http", listen(mgmt_bind, config.mgmt_port).await?, None));
    }
    if let Some(spec) = tls.management {
        let (l, t) = listen_tls(spec, mgmt_bind, "management.ssl").await?;
        http.push(("https", l, Some(t)));
    }
    if tls.prometheus_http {
        http.push((
            "http/prometheus",
            listen(mgmt_bind, config.prometheus_port).await?,
            None,
        ));
    }
    if let Some(spec) = tls.prometheus {
        let (l, t) = listen_tls(spec, mgmt_bind, "prometheus.ssl").await?;
        http.push(("https/prometheus", l, Some(t)));
    }
    let amqps = match tls.amqps {
        Some(spec) => {
            let (listener, tls) = listen_tls(spec, config.bind, "AMQPS").await?;
            Some(warren_amqp::server::TlsListener { listener, tls })
        }
        None => None,
    };
    let mut reloadable: Vec<Arc<warren_tls::ServerTls>> =
        http.iter().filter_map(|(_, _, t)| t.clone()).collect();
    let mut listed = vec![("amqp", bound)];
    if let Some(l) = &amqps {
        listed.push(("amqp/ssl", l.listener.local_addr()?));
        reloadable.push(Arc::clone(&l.tls));
    }
    for (protocol, l, _) in &http {
        if matches!(*protocol, "http" | "https") {
            listed.push((protocol, l.local_addr()?));
        }
    }
    let broker = Broker::new(config)?;
    let api = Arc::new(warren_mgmt::Api::with_listeners(
        Arc::clone(&broker),
        listed,
    ));
    let identity = warren_mgmt::prometheus::Identity::new(&api.node);
    let (stop_http, http_stopped) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut rx = http_stopped.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };
    let mut tasks = Vec::new();
    for (protocol, l, t) in http {
        let at = l.local_addr()?;
        let task = if protocol.ends_with("prometheus") {
            let name = if t.is_some() {
                "prometheus-https"
            } else {
                "prometheus"
            };
            tracing::info!("listening {name} {at}");
            tokio::spawn(warren_mgmt::prometheus::serve(
                l,
                t,
                Arc::clone(&broker),
                identity.clone(),
                stopped(),
            ))
        } else {
            let name = if t.is_some() {
                "management-https"
            } else {
                "management"
            };
            tracing::info!("listening {name} {at}");
            tokio::spawn(warren_mgmt::serve(l, t, Arc::clone(&api), stopped()))
        };
        tasks.push((protocol, task));
    }
    // AMQPS first: tools wait for the "listening amqp" line and read the others before it.
    if let Some(l) = &amqps {
        tracing::info!("listening amqps {}", l.listener.local_addr()?);
    }
    tracing::info!("listening amqp {bound}");
    if !reloadable.is_empty() {
        tokio::spawn(reload_on_sighup(reloadable));
    }
    warren_amqp::server::run(listener, amqps, broker, shutdown_signal()).await;
    let _ = stop_http.send(true);
    for (name, task) in tasks {
        match tokio::time::timeout(Duration::from_secs(5), task).await {
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, listener = name, "listener failed"),
            Ok(_) => {}
            Err(_) => tracing::warn!(listener = name, "listener did not stop in time"),
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// mimalloc asks for transparent huge pages on its arenas (`MADV_HUGEPAGE`); the kernel's
/// khugepaged then fills partly used 2 MiB ranges in the background, so resident memory
/// grows while the broker is idle (after a burst of 10,000 connections: +40 MiB in a minute,
/// nothing allocated). A broker's memory must stay where its load puts it, as Redis and
/// MongoDB advise for the same reason: no huge pages for this process.
fn disable_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: prctl(PR_SET_THP_DISABLE, 1) only sets a flag on this process's memory map.
        let r = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
        if r != 0 {
            eprintln!(
                "warren: cannot turn transparent huge pages off: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

/// Handing freed memory back to the system. Messages are allocated on a publisher's worker thread and
/// freed on a consumer's; mimalloc returns such blocks to their page only when the owning
/// thread next collects, so a drained queue would keep its pages resident (and the memory
/// alarm set) until that thread happened to allocate the same size again. While the broker
/// asks for it, each worker collects its heap the next time it goes idle.
mod reclaim {
    use std::cell::Cell;
    use std::sync::atomic::{AtomicU64, Ordering};

    static REQUESTED: AtomicU64 = AtomicU64::new(0);

    thread_local! {
        static DONE: Cell<u64> = const { Cell::new(0) };
    }

    /// Ask every worker to collect once (called by the broker's resource monitor).
    pub fn request() {
        REQUESTED.fetch_add(1, Ordering::Relaxed);
    }

    pub fn on_park() {
        let requested = REQUESTED.load(Ordering::Relaxed);
        if DONE.get() != requested {
            DONE.set(requested);
            // SAFETY: mi_collect has no preconditions; it only touches this thread's heap.
            unsafe { libmimalloc_sys::mi_collect(true) };
        }
    }
}

/// Bind the AMQP listener; the unspecified IPv6 address falls back to 0.0.0.0 on a host
/// without IPv6.
async fn listen(bind: IpAddr, port: u16) -> anyhow::Result<TcpListener> {
    let addr = SocketAddr::new(bind, port);
    match TcpListener::bind(addr).await {
        Ok(listener) => Ok(listener),
        Err(e) if bind == IpAddr::from(std::net::Ipv6Addr::UNSPECIFIED) => {
            tracing::info!(error = %e, "no IPv6: listening on IPv4 only");
            let v4 = SocketAddr::new(IpAddr::from([0, 0, 0, 0]), port);
            TcpListener::bind(v4)
                .await
                .with_context(|| format!("cannot listen on {v4}"))
        }
        Err(e) => Err(e).with_context(|| format!("cannot listen on {addr}")),
    }
}

fn parse_watermark(text: &str) -> Result<Watermark, String> {
    Watermark::parse(text).ok_or_else(|| {
        format!("{text:?}: expected a fraction of memory (0.4) or a size (2GB, 512MiB, bytes)")
    })
}

/// SIGHUP reads the certificates again (RabbitMQ needs `rabbitmqctl eval` for this): new
/// connections get the new ones; on error the old ones stay and the error is logged.
async fn reload_on_sighup(listeners: Vec<Arc<warren_tls::ServerTls>>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        return;
    };
    while hup.recv().await.is_some() {
        for tls in &listeners {
            let cert = tls.files().cert.display();
            match tls.reload() {
                Ok(()) => tracing::info!(%cert, "SIGHUP: TLS certificates reloaded"),
                Err(e) => tracing::error!(
                    %cert,
                    error = %e,
                    "SIGHUP: TLS certificates not reloaded, keeping the ones in use"
                ),
            }
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers, run until killed.
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received, shutting down"),
        _ = int.recv() => tracing::info!("SIGINT received, shutting down"),
    }
}
