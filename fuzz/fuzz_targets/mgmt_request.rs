//! Arbitrary HTTP requests to the management API, served in-process by the real router on a
//! real broker: a method byte, a path line, then the body. Requests come as guest (an
//! administrator), so every endpoint's body and path parsing is reached. Asserts: no panic,
//! no 500, an answer within 10 s, and that the API still answers a health check afterwards.
#![no_main]

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use libfuzzer_sys::fuzz_target;
use warren_broker::Broker;
use warren_fuzz::scratch::Scratch;

/// A fresh broker every this many inputs, so state (queues, users) does not pile up.
const INPUTS_PER_BROKER: u32 = 2000;

struct Fixture {
    runtime: tokio::runtime::Runtime,
    api: Mutex<(axum::Router, Arc<Broker>, u32)>,
    dir: Scratch,
}

fn fresh(dir: &Scratch) -> (axum::Router, Arc<Broker>, u32) {
    dir.clear();
    let broker = Broker::new(warren_fuzz::server::config(dir.path())).expect("start a broker");
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let api = Arc::new(warren_mgmt::Api::new(Arc::clone(&broker), addr, addr));
    (warren_mgmt::router(api), broker, 0)
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("build a Tokio runtime");
        let dir = Scratch::new("mgmt");
        let api = Mutex::new(fresh(&dir));
        Fixture { runtime, api, dir }
    })
}

/// guest:guest.
const AUTH: &str = "Basic Z3Vlc3Q6Z3Vlc3Q=";

fn request(method: Method, path: &str, body: Vec<u8>) -> Option<Request<Body>> {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", AUTH)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .ok()?;
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
            [127, 0, 0, 1],
            40000,
        ))));
    Some(req)
}

fn call(f: &Fixture, router: &axum::Router, req: Request<Body>) -> StatusCode {
    let mut router = router.clone();
    let served = f.runtime.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(10),
            tower_service::Service::call(&mut router, req),
        )
        .await
    });
    match served {
        Ok(Ok(response)) => response.status(),
        Ok(Err(never)) => match never {},
        Err(_) => panic!("the management API did not answer within 10 s"),
    }
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let Some((&m, rest)) = data.split_first() else {
        return;
    };
    let method = match m % 4 {
        0 => Method::GET,
        1 => Method::PUT,
        2 => Method::POST,
        _ => Method::DELETE,
    };
    let (line, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], rest[i + 1..].to_vec()),
        None => (rest, Vec::new()),
    };
    let Ok(path) = std::str::from_utf8(line) else {
        return;
    };
    let path = format!("/api/{path}");
    let Some(req) = request(method, &path, body) else {
        return;
    };
    let (router, broker) = {
        let mut api = f.api.lock().unwrap_or_else(|e| e.into_inner());
        api.2 += 1;
        if api.2 > INPUTS_PER_BROKER {
            api.1.shutdown();
            *api = fresh(&f.dir);
        }
        (api.0.clone(), Arc::clone(&api.1))
    };
    let status = call(f, &router, req);
    assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{path}");
    if std::env::var_os("WARREN_FUZZ_CHECK_EVERY").is_some() {
        let health = request(Method::GET, "/api/overview", Vec::new()).expect("valid request");
        assert_eq!(call(f, &router, health), StatusCode::OK);
    }
    drop(broker);
});
