//! Smoke test: every warren-perf scenario, briefly, against the real warren binary.
//! It checks that the tool works and that nothing is lost or reordered; it asserts no timings.
//!
//! The warren binary belongs to another package, so it is looked up in the target directory
//! (`cargo test --workspace` builds it; run `cargo build --bin warren` first otherwise).

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;
use warren_testkit::TestBroker;

fn warren_binary() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("WARREN_BIN") {
        return Some(PathBuf::from(p));
    }
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../../target"));
    // The test binary itself lives in <target>/<profile>/deps: prefer the same profile.
    let own_profile = std::env::current_exe()
        .ok()
        .and_then(|p| Some(p.parent()?.parent()?.file_name()?.to_owned()));
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = own_profile {
        candidates.push(target.join(p).join("warren"));
    }
    candidates.push(target.join("debug/warren"));
    candidates.push(target.join("release/warren"));
    candidates.into_iter().find(|p| p.is_file())
}

fn perf(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_warren-perf"))
        .args(args)
        .args(["--timeout", "60"])
        .output()
        .expect("run warren-perf");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "warren-perf {args:?} failed: {stdout}\n{stderr}"
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("bad JSON ({e}): {stdout}"))
}

fn assert_clean(v: &Value) {
    assert_eq!(v["lost"], 0, "{v}");
    assert_eq!(v["reordered"], 0, "{v}");
    assert_eq!(v["duplicates"], 0, "{v}");
    assert_eq!(v["drained"], true, "{v}");
    assert!(v["consumed"].as_u64().unwrap_or(0) > 0, "{v}");
}

#[test]
fn every_scenario_runs_against_warren() {
    // scripts/test.sh builds every binary before the tests run; a missing one is a failure.
    let bin = warren_binary()
        .expect("no warren binary in the target directory: run `cargo build --bin warren` first");
    let broker = TestBroker::start(bin.to_str().expect("utf-8 path"));
    let uri = broker.amqp_url();
    let uri = uri.as_str();
    let scenarios: Vec<Vec<&str>> = vec![
        vec!["throughput", "--uri", uri, "--duration", "0.5", "--autoack"],
        vec![
            "throughput",
            "--uri",
            uri,
            "--duration",
            "0.5",
            "--producers",
            "2",
            "--consumers",
            "2",
            "--queues",
            "2",
            "--prefetch",
            "100",
            "--confirm",
            "64",
            "--exchange",
            "topic",
            "--bindings",
            "50",
            "--rate",
            "20000",
        ],
        vec![
            "throughput",
            "--uri",
            uri,
            "--duration",
            "0.5",
            "--queues",
            "3",
            "--consumers",
            "3",
            "--exchange",
            "fanout",
            "--size",
            "5000",
            "--rate",
            "5000",
        ],
        vec![
            "throughput",
            "--uri",
            uri,
            "--duration",
            "0.5",
            "--exchange",
            "headers",
            "--bindings",
            "10",
            "--persistent",
            "--confirm",
            "16",
            "--rate",
            "5000",
        ],
        vec![
            "latency",
            "--uri",
            uri,
            "--rate",
            "2000",
            "--duration",
            "0.5",
            "--warmup",
            "0.1",
        ],
        vec![
            "backlog",
            "--uri",
            uri,
            "--messages",
            "2000",
            "--size",
            "300",
        ],
        vec!["rawpipe", "--duration", "0.3"],
    ];
    let handles: Vec<_> = scenarios
        .into_iter()
        .map(|args| {
            let args: Vec<String> = args.into_iter().map(String::from).collect();
            std::thread::spawn(move || {
                let refs: Vec<&str> = args.iter().map(String::as_str).collect();
                (args.clone(), perf(&refs))
            })
        })
        .collect();
    for h in handles {
        let (args, v) = h.join().expect("scenario thread");
        assert!(v.get("error").is_none(), "{args:?}: {v}");
        assert_clean(&v);
        match v["scenario"].as_str() {
            Some("throughput") => {
                assert!(v["published_per_s"].as_f64().unwrap_or(0.0) > 0.0, "{v}");
                assert_eq!(
                    v["server"].as_str().map(|s| s.starts_with("Warren")),
                    Some(true)
                );
            }
            Some("latency") => assert!(v["p99_us"].as_f64().unwrap_or(0.0) > 0.0, "{v}"),
            Some("backlog") => assert_eq!(v["confirmed"], 2000, "{v}"),
            Some("rawpipe") => assert!(v["consumed_per_s"].as_f64().unwrap_or(0.0) > 0.0),
            other => panic!("unexpected scenario {other:?}"),
        }
    }
    let c = perf(&[
        "connections",
        "--uri",
        uri,
        "--count",
        "50",
        "--settle",
        "0",
    ]);
    assert_eq!(c["opened"], 50, "{c}");
    let q = perf(&["queues", "--uri", uri, "--count", "200", "--settle", "0"]);
    assert_eq!(q["count"], 200, "{q}");
    assert!(q["delete_per_s"].as_f64().unwrap_or(0.0) > 0.0, "{q}");

    // A backlog kept over several queues, then drained by a separate run.
    let common = [
        "--uri",
        uri,
        "--messages",
        "3001",
        "--queues",
        "3",
        "--persistent",
        "--name",
        "smoke-kept",
    ];
    let kept = perf(&[&["backlog", "--keep", "--size", "100"][..], &common[..]].concat());
    assert_eq!(kept["confirmed"], 3001, "{kept}");
    assert_eq!(kept["kept"], true, "{kept}");
    assert!(kept.get("lost").is_none(), "{kept}");
    let drained = perf(&[&["backlog", "--drain-only"][..], &common[..]].concat());
    assert_clean(&drained);
    assert_eq!(drained["queued_at_start"], 3001, "{drained}");
    assert_eq!(drained["consumed"], 3001, "{drained}");
    assert_eq!(drained["remaining"], 0, "{drained}");
    assert_eq!(drained["redelivered"], 0, "{drained}");
    // The drain deleted the queues: a second one finds nothing.
    let out = Command::new(env!("CARGO_BIN_EXE_warren-perf"))
        .args([&["backlog", "--drain-only"][..], &common[..]].concat())
        .output()
        .expect("run warren-perf");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("404"));
}
