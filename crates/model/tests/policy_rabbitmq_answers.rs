//! Policy validation against RabbitMQ 3.10.8's own answers: every case of
//! fixtures/rabbitmq-3.10.8-policy-errors.json (made by fixtures/capture/policy_errors.py) is
//! replayed through `Policy::from_api_body` / `Policy::from_ctl_args` and must give the same
//! status and the same text, except the few documented Warren differences listed here.

use serde_json::Value;
use warren_model::policy::{Policy, PolicyRequestError};

const FIXTURE: &str = include_str!("fixtures/rabbitmq-3.10.8-policy-errors.json");

/// Accepted by RabbitMQ, refused by Warren on purpose:
/// - fractional priorities (Warren's priority is an integer),
/// - integers beyond 64 bits (serde_json reads them as floats).
const WARREN_REFUSES: &[&str] = &["priority-float", "valid-priority-float", "message-ttl-huge"];

fn fixture() -> Value {
    serde_json::from_str(FIXTURE).expect("fixture is JSON")
}

#[test]
fn every_http_answer_is_reproduced() {
    let fixture = fixture();
    let cases = fixture["http"].as_array().unwrap();
    assert!(cases.len() > 80, "the fixture holds the captured cases");
    for case in cases {
        let name = case["case"].as_str().unwrap();
        let body = case["body"].as_str().unwrap();
        let status = case["status"].as_u64().unwrap();
        let result = Policy::from_api_body("pol-v1", "pol-p", body);
        if WARREN_REFUSES.contains(&name) {
            assert!(result.is_err(), "{name}: Warren refuses this");
            continue;
        }
        match status {
            201 | 204 => {
                let policy = result.unwrap_or_else(|e| panic!("{name}: refused: {e:?}"));
                // What RabbitMQ stored is what Warren shows.
                let stored: Value = serde_json::from_str(case["stored"].as_str().unwrap()).unwrap();
                assert_eq!(serde_json::to_value(&policy).unwrap(), stored, "{name}");
            }
            400 => {
                let err = result.expect_err(name);
                let response: Value =
                    serde_json::from_str(case["response"].as_str().unwrap()).unwrap();
                assert_eq!(err.http_status(), 400, "{name}: {err:?}");
                assert_eq!(
                    err.http_reason().as_deref(),
                    response["reason"].as_str(),
                    "{name}"
                );
            }
            500 => {
                let err = result.expect_err(name);
                assert_eq!(err.http_status(), 500, "{name}: {err:?}");
                assert_eq!(err.http_reason(), None, "{name}");
            }
            other => panic!("{name}: unexpected status {other}"),
        }
    }
}

/// `rabbitmqctl set_policy` argv → Warren's parts (the CLI's own option parsing aside).
fn ctl_policy(argv: &[String]) -> Result<Policy, PolicyRequestError> {
    let mut vhost = "/".to_owned();
    let mut priority = None;
    let mut apply_to = None;
    let mut positional = Vec::new();
    let mut args = argv.iter().skip(2); // "rabbitmqctl", "set_policy"
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-p" => vhost = args.next().unwrap().clone(),
            "--priority" => priority = Some(args.next().unwrap().parse::<i64>().unwrap()),
            "--apply-to" => apply_to = Some(args.next().unwrap().clone()),
            _ => positional.push(arg.clone()),
        }
    }
    let [name, pattern, definition] = positional.as_slice() else {
        panic!("argv {argv:?}")
    };
    Policy::from_ctl_args(
        &vhost,
        name,
        pattern,
        definition,
        priority,
        apply_to.as_deref(),
    )
}

#[test]
fn every_rabbitmqctl_answer_is_reproduced() {
    let fixture = fixture();
    for case in fixture["ctl"].as_array().unwrap() {
        let name = case["case"].as_str().unwrap();
        let exit = case["exit"].as_i64().unwrap();
        let stderr = case["stderr"].as_str().unwrap();
        let argv: Vec<String> = serde_json::from_value(case["argv"].clone()).unwrap();
        if exit == 64 {
            // Refused by the CLI's own option checks (priority not an integer): not the node's.
            continue;
        }
        let result = ctl_policy(&argv);
        if exit == 0 {
            assert!(result.is_ok(), "{name}: {result:?}");
            continue;
        }
        let err = result.expect_err(name);
        if stderr.starts_with("Error:\n{") {
            // The node crashed; rabbitmqctl prints the Erlang exception.
            assert_eq!(err.http_status(), 500, "{name}: {err:?}");
        } else {
            assert_eq!(err.ctl_stderr(), stderr, "{name}");
        }
    }
}

#[test]
fn the_banner_is_what_rabbitmqctl_printed() {
    let fixture = fixture();
    for case in fixture["ctl"].as_array().unwrap() {
        let stdout = case["stdout"].as_str().unwrap();
        if stdout.is_empty() {
            continue;
        }
        let argv: Vec<String> = serde_json::from_value(case["argv"].clone()).unwrap();
        let priority = argv
            .iter()
            .position(|a| a == "--priority")
            .map_or(0, |i| argv[i + 1].parse().unwrap());
        let n = argv.len();
        let banner = warren_model::policy::set_policy_banner(
            &argv[3],
            &argv[n - 3],
            &argv[n - 2],
            &argv[n - 1],
            priority,
        );
        assert_eq!(banner, stdout, "{}", case["case"]);
    }
}
