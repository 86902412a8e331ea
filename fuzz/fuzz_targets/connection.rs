//! A whole connection fed arbitrary bytes after a valid handshake, against a real broker
//! served in this process. Each input: connect, handshake (guest/guest, vhost "/"), write the
//! input, half-close, read until the broker closes or a short wait passes. A panic in any
//! broker task aborts the process; every so often a fresh handshake must still succeed, and the
//! broker is replaced so what inputs declared does not pile up. An input that starts with
//! 0xFE (no frame does) picks the tune-ok values from its next byte, so small frame_max and
//! channel_max values are explored too.
#![no_main]

use std::sync::Mutex;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use warren_fuzz::client::{Client, Tune};
use warren_fuzz::server::Server;

/// Inputs between checks that the broker still completes a clean open and close
/// (`WARREN_FUZZ_CHECK_EVERY`; scripts/fuzz.sh sets 1 when replaying regressions).
const CHECK_EVERY_DEFAULT: u64 = 500;
/// Inputs served by one broker before it is shut down and replaced by a fresh one.
const RECYCLE_EVERY: u64 = 20_000;
/// How long to wait for the broker's answer to one input.
const DRAIN_WAIT: Duration = Duration::from_millis(100);
/// Generous: the machine may be busy with other builds; a broker that stops answering
/// handshakes for this long is broken.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);

struct State {
    server: Option<Server>,
    inputs: u64,
    check_every: u64,
}

static STATE: Mutex<State> = Mutex::new(State {
    server: None,
    inputs: 0,
    check_every: CHECK_EVERY_DEFAULT,
});

/// The tune-ok values an input asks for, and the bytes to send after the handshake.
fn tune_of(data: &[u8]) -> (Tune, &[u8]) {
    match data {
        [0xFE, pick, rest @ ..] => {
            let tune = Tune {
                channel_max: [1, 2, 16, 2047][usize::from(pick & 3)],
                frame_max: [4096, 4097, 8192, 131_072][usize::from((pick >> 2) & 3)],
            };
            (tune, rest)
        }
        _ => (Tune::default(), data),
    }
}

fn check_alive(server: &Server) {
    let client = Client::open(server.addr, HANDSHAKE_TIMEOUT)
        .unwrap_or_else(|e| panic!("the broker no longer completes a handshake: {e}"));
    client
        .close(HANDSHAKE_TIMEOUT)
        .unwrap_or_else(|e| panic!("the broker no longer closes a connection cleanly: {e}"));
}

fuzz_target!(
    init: {
        warren_fuzz::abort_on_panic();
        warren_fuzz::ignore_sigpipe();
        if let Some(n) = std::env::var("WARREN_FUZZ_CHECK_EVERY")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
        {
            STATE.lock().unwrap_or_else(|e| e.into_inner()).check_every = n.max(1);
        }
    },
    |data: &[u8]| {
        let mut guard = STATE.lock().unwrap_or_else(|e| e.into_inner());
        let state = &mut *guard;
        state.inputs += 1;
        if state.inputs.is_multiple_of(RECYCLE_EVERY) {
            if let Some(old) = state.server.take() {
                check_alive(&old);
                old.stop();
            }
        }
        let server = state.server.get_or_insert_with(Server::start);
        let (tune, data) = tune_of(data);
        let client = Client::open_with(server.addr, HANDSHAKE_TIMEOUT, tune)
            .unwrap_or_else(|e| panic!("handshake with {tune:?} failed: {e}"));
        client.send_and_drain(data, DRAIN_WAIT);
        if state.inputs.is_multiple_of(state.check_every) {
            check_alive(server);
        }
    }
);
