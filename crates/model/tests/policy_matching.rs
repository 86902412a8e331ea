//! Which policy applies, against RabbitMQ 3.10.8: every scenario of
//! fixtures/rabbitmq-3.10.8-policy-matching.json (made by fixtures/capture/policy_matching.py)
//! replayed through `VhostPolicies`. Equal priorities are where Warren knowingly differs.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use warren_model::policy::{Policy, QueueType, ResourceKind, VhostPolicies};

const FIXTURE: &str = include_str!("fixtures/rabbitmq-3.10.8-policy-matching.json");

fn scenarios() -> Vec<Value> {
    let fixture: Value = serde_json::from_str(FIXTURE).unwrap();
    fixture["scenarios"].as_array().unwrap().clone()
}

fn policies(scenario: &Value) -> VhostPolicies {
    let policies = scenario["policies"].as_array().unwrap().iter().map(|p| {
        Policy::from_parts(
            "pol-v1",
            p["name"].as_str().unwrap(),
            &p["pattern"],
            &p["definition"],
            Some(&p["priority"]),
            Some(&p["apply-to"]),
        )
        .unwrap()
    });
    VhostPolicies::new("pol-v1", policies).unwrap()
}

fn queue_kind(queue_type: &str) -> ResourceKind {
    ResourceKind::Queue(match queue_type {
        "classic" => QueueType::Classic,
        "quorum" => QueueType::Quorum,
        "stream" => QueueType::Stream,
        other => panic!("queue type {other}"),
    })
}

/// The policy name Warren picks, "" for none (as rabbitmqctl prints it).
fn warren_choice(policies: &VhostPolicies, name: &str, kind: ResourceKind) -> String {
    // The fixture shortens the server-named queue to "amq.gen".
    let name = if name == "amq.gen" {
        "amq.gen-JzTY20BRgKO-HjmUJj0wLg"
    } else {
        name
    };
    policies
        .matching(name, kind)
        .map_or(String::new(), |p| p.name.clone())
}

#[test]
fn warren_picks_the_policy_rabbitmq_picked() {
    let mut checked = 0;
    for scenario in scenarios()
        .iter()
        .filter(|s| !s["scenario"].as_str().unwrap().starts_with("tie-"))
    {
        let policies = policies(scenario);
        for (queue, seen) in scenario["queues"].as_object().unwrap() {
            let kind = queue_kind(seen["type"].as_str().unwrap());
            assert_eq!(
                warren_choice(&policies, queue, kind),
                seen["policy"].as_str().unwrap(),
                "{}: queue {queue}",
                scenario["scenario"]
            );
            checked += 1;
        }
        for (exchange, seen) in scenario["exchanges"].as_object().unwrap() {
            assert_eq!(
                warren_choice(&policies, exchange, ResourceKind::Exchange),
                seen.as_str().unwrap(),
                "{}: exchange {exchange:?}",
                scenario["scenario"]
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 39, "3 scenarios, 5 queues and 8 exchanges each");
}

#[test]
fn on_equal_priorities_rabbitmq_ignores_names_and_creation_order_and_warren_uses_names() {
    let all = scenarios();
    let ties: Vec<&Value> = all
        .iter()
        .filter(|s| s["scenario"].as_str().unwrap().starts_with("tie-"))
        .collect();
    assert_eq!(ties.len(), 3);
    // RabbitMQ: one winner whatever the creation order, and it is not the first name.
    let rabbit_winner = ties[0]["queues"]["pol-q"]["policy"].as_str().unwrap();
    assert_eq!(rabbit_winner, "pol-g");
    for tie in &ties {
        for seen in tie["exchanges"].as_object().unwrap().values() {
            assert_eq!(seen.as_str().unwrap(), rabbit_winner);
        }
        // Warren: the first name in byte order, whatever the creation order.
        let policies = policies(tie);
        assert_eq!(
            warren_choice(&policies, "pol-q", queue_kind("classic")),
            "pol-a"
        );
        assert_eq!(
            warren_choice(&policies, "", ResourceKind::Exchange),
            "pol-a"
        );
    }
}

#[test]
fn matching_100k_queues_against_a_few_policies_is_fast() {
    let policies = VhostPolicies::new(
        "v",
        [
            ("ttl", "^orders\\.", 1, json!({"message-ttl": 60000})),
            ("len", "\\.(eu|us)-[0-9]+$", 2, json!({"max-length": 1000})),
            ("lazy", "archive", 0, json!({"queue-mode": "lazy"})),
            ("ha", ".*", -1, json!({"ha-mode": "all"})),
            ("x", "^amq\\.", 5, json!({"alternate-exchange": "ae"})),
        ]
        .map(|(name, pattern, priority, definition)| {
            Policy::from_parts(
                "v",
                name,
                &json!(pattern),
                &definition,
                Some(&json!(priority)),
                None,
            )
            .unwrap()
        }),
    )
    .unwrap();
    let names: Vec<String> = (0..100_000)
        .map(|i| match i % 4 {
            0 => format!("orders.{i}"),
            1 => format!("billing.eu-{i}"),
            2 => format!("archive-{i}"),
            _ => format!("q{i}"),
        })
        .collect();
    let kind = ResourceKind::Queue(QueueType::Classic);
    let start = Instant::now();
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for name in &names {
        let policy = policies
            .matching(name, kind)
            .expect("ha matches everything");
        *counts.entry(policy.name.clone()).or_default() += 1;
    }
    let elapsed = start.elapsed();
    assert_eq!(counts["ttl"], 25_000);
    assert_eq!(counts["len"], 25_000);
    assert_eq!(counts["lazy"], 25_000);
    assert_eq!(counts["ha"], 25_000);
    // Compiled once, this takes well under a second even unoptimised; recompiling each
    // pattern per queue (as re:run with a binary pattern does) would take far longer.
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}
