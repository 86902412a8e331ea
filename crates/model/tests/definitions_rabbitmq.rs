//! Definitions files from RabbitMQ 3.10.8 (fixtures made by fixtures/capture/definitions.py):
//! exports read and written back, and import answers compared with Warren's problem reports.

use serde_json::Value;
use warren_model::definitions::{
    Definitions, DefinitionsError, FieldProblem, HashingAlgorithm, ProblemKind, SectionName,
};
use warren_model::json_args::JsonArgsError;

const EXPORT: &str = include_str!("fixtures/rabbitmq-3.10.8-definitions.json");
const VHOST_EXPORT: &str = include_str!("fixtures/rabbitmq-3.10.8-definitions-vhost.json");
const CTL_EXPORT: &str = include_str!("fixtures/rabbitmq-3.10.8-definitions-ctl-export.json");
const IMPORTS: &str = include_str!("fixtures/rabbitmq-3.10.8-definitions-import.json");

/// `text` without its `"parameters":[...]` section, and that section.
fn split_parameters(text: &str) -> (String, &str) {
    let start = text.find(r#""parameters":"#).unwrap();
    let end = start + text[start..].find(r#","policies":"#).unwrap();
    let end = text[start..end]
        .find(r#","global_parameters":"#)
        .map_or(end, |n| start + n);
    (
        format!("{}{}", &text[..start], &text[end..]),
        &text[start..end],
    )
}

#[test]
fn the_management_export_is_written_back_byte_for_byte() {
    for raw in [EXPORT, VHOST_EXPORT] {
        let raw = raw.trim_end();
        let defs = Definitions::from_json(raw).unwrap();
        let written = defs.to_json();
        assert_eq!(
            serde_json::from_str::<Value>(&written).unwrap(),
            serde_json::from_str::<Value>(raw).unwrap()
        );
        // Byte for byte, except inside runtime parameters' values: RabbitMQ writes those in
        // the order it stored them (e.g. an operator policy's pattern, definition, priority,
        // apply-to), serde_json's maps in key order.
        let (written_rest, written_parameters) = split_parameters(&written);
        let (raw_rest, raw_parameters) = split_parameters(raw);
        assert_eq!(written_rest, raw_rest);
        assert!(
            raw_parameters.contains("operator_policy")
                && written_parameters.contains("operator_policy")
        );
        assert!(defs.ignored.is_empty());
        assert_eq!(defs.validate(), []);
    }
}

#[test]
fn the_management_export_reads_as_typed_items() {
    let defs = Definitions::from_json(EXPORT).unwrap();
    assert_eq!(defs.version(), Some("3.10.8"));
    let users: Vec<_> = defs.users.as_ref().unwrap().items().collect();
    let user = users.iter().find(|u| u.name == "pol-user").unwrap();
    assert_eq!(
        user.tags.as_ref().unwrap().user_tags(),
        ["management", "policymaker"]
    );
    assert_eq!(
        HashingAlgorithm::from_module_name(user.hashing_algorithm.as_deref().unwrap()),
        Some(HashingAlgorithm::Sha256)
    );
    assert_eq!(user.limits.as_ref().unwrap()["max-connections"], 10);
    let policy = defs
        .policies
        .as_ref()
        .unwrap()
        .items()
        .find(|p| p.name == "pol-p1")
        .unwrap();
    let policy = policy.to_policy("unused").unwrap();
    assert_eq!((policy.vhost.as_str(), policy.priority), ("pol-v1", 1));
    let queue = defs
        .queues
        .as_ref()
        .unwrap()
        .items()
        .find(|q| q.name == "pol-q1")
        .unwrap();
    assert!(queue.durable && !queue.auto_delete);
    let exchange = defs
        .exchanges
        .as_ref()
        .unwrap()
        .items()
        .find(|x| x.name == "pol-int")
        .unwrap();
    assert_eq!(
        (exchange.kind.as_str(), exchange.internal),
        ("fanout", Some(true))
    );
    let parameter = defs
        .parameters
        .as_ref()
        .unwrap()
        .items()
        .find(|p| p.component == "vhost-limits")
        .unwrap();
    assert_eq!(parameter.value["max-queues"], 50);
    // The vhost export leaves out the vhost keys and node-wide sections.
    let vhost = Definitions::from_json(VHOST_EXPORT).unwrap();
    assert_eq!(
        vhost.present_sections(),
        [
            SectionName::Parameters,
            SectionName::Policies,
            SectionName::Queues,
            SectionName::Exchanges,
            SectionName::Bindings
        ]
    );
    assert!(vhost
        .queues
        .as_ref()
        .unwrap()
        .items()
        .all(|q| q.vhost.is_none()));
}

#[test]
fn the_rabbitmqctl_export_round_trips_as_json() {
    let defs = Definitions::from_json(CTL_EXPORT).unwrap();
    let original: Value = serde_json::from_str(CTL_EXPORT).unwrap();
    assert_eq!(serde_json::to_value(&defs).unwrap(), original);
    assert_eq!(defs.validate(), []);
    let vhost = defs
        .vhosts
        .as_ref()
        .unwrap()
        .items()
        .find(|v| v.name == "pol-v1")
        .unwrap();
    assert_eq!(vhost.effective_description(), "policy tests");
    assert_eq!(vhost.effective_tags(), ["pol-a", "pol-b"]);
    let quorum = defs
        .queues
        .as_ref()
        .unwrap()
        .items()
        .find(|q| q.name == "pol-qq")
        .unwrap();
    assert_eq!(quorum.extra["type"], "quorum");
}

fn import_cases() -> Vec<Value> {
    let fixture: Value = serde_json::from_str(IMPORTS).unwrap();
    fixture["imports"].as_array().unwrap().clone()
}

fn reason(case: &Value) -> String {
    let response: Value = serde_json::from_str(case["response"].as_str().unwrap()).unwrap();
    response["reason"].as_str().unwrap().to_owned()
}

#[test]
fn import_answers_are_matched_by_warrens_reports() {
    let mut seen = 0;
    for case in import_cases() {
        let Some(name) = case["case"].as_str().filter(|n| *n != "user-after-import") else {
            continue;
        };
        seen += 1;
        let vhost_scoped = case["path"].as_str().unwrap() != "/api/definitions";
        let status = case["status"].as_u64().unwrap();
        let parsed = Definitions::from_json(case["body"].as_str().unwrap());
        let defs = match parsed {
            Err(e) => {
                let (warren_status, warren_reason) = e.http_status_and_reason();
                assert_eq!(u64::from(warren_status), status, "{name}");
                if status == 400 {
                    assert_eq!(warren_reason.unwrap(), reason(&case), "{name}");
                }
                continue;
            }
            Ok(defs) => defs,
        };
        let problems = defs.validate();
        match name {
            "vhost-unknown-top-level-key" => {
                assert_eq!(defs.ignored.len(), 1);
                assert_eq!(defs.ignored[0].key, "bogus");
                assert_eq!(problems, []);
            }
            // Accepted by RabbitMQ: nothing to report (whether the queue exists is the
            // importer's business; 3.10.8 ignores default_queue_type on import).
            "vhost-binding-missing-queue"
            | "global-user-tags-string"
            | "global-vhost-bad-queue-type" => {
                assert_eq!(status, 204, "{name}");
                assert_eq!(problems, [], "{name}");
            }
            "vhost-queue-amq-name" => {
                assert_eq!(status, 204);
                assert!(problems.iter().all(|p| !p.fails_import()), "{problems:?}");
                assert_eq!(problems.len(), 1);
            }
            // RabbitMQ crashes on these (function_clause, 500, undefined name); Warren says
            // which field is wrong instead.
            "vhost-queue-durable-string"
            | "vhost-policy-no-name"
            | "vhost-policy-no-pattern"
            | "vhost-items-not-objects" => {
                assert!(!problems.is_empty(), "{name}");
                assert!(
                    problems
                        .iter()
                        .all(|p| matches!(p.kind, ProblemKind::Field(_))),
                    "{name}: {problems:?}"
                );
                if name == "vhost-items-not-objects" {
                    assert_eq!(problems.len(), 3);
                    assert!(matches!(
                        problems[0].kind,
                        ProblemKind::Field(FieldProblem::NotAnObject { .. })
                    ));
                }
            }
            _ => {
                assert_eq!(status, 400, "{name}");
                assert_eq!(problems.len(), 1, "{name}: {problems:?}");
                let problem = &problems[0];
                let warren_reason = match &problem.kind {
                    ProblemKind::Policy(e) => {
                        let policy = defs.policies.as_ref().unwrap().items().next().unwrap();
                        let vhost = policy.vhost.as_deref().unwrap_or("pol-v2");
                        e.definitions_import_reason(vhost, &policy.name, vhost_scoped)
                    }
                    other => other.to_string(),
                };
                assert_eq!(warren_reason, reason(&case), "{name}");
            }
        }
    }
    assert_eq!(seen, 20);
}

#[test]
fn the_imported_user_gets_the_tags_rabbitmq_gave_it() {
    let cases = import_cases();
    let import = cases
        .iter()
        .find(|c| c["case"] == "global-user-tags-string")
        .unwrap();
    let after = cases
        .iter()
        .find(|c| c["case"] == "user-after-import")
        .unwrap();
    let user_as_stored: Value = serde_json::from_str(after["get"][1].as_str().unwrap()).unwrap();
    let defs = Definitions::from_json(import["body"].as_str().unwrap()).unwrap();
    let user = defs.users.as_ref().unwrap().items().next().unwrap();
    let tags: Vec<String> = serde_json::from_value(user_as_stored["tags"].clone()).unwrap();
    assert_eq!(user.tags.as_ref().unwrap().user_tags(), tags);
    assert_eq!(
        user.password_hash.as_deref(),
        user_as_stored["password_hash"].as_str()
    );
}

#[test]
fn null_arguments_are_refused_with_rabbitmqs_reason() {
    let defs = Definitions::from_json(
        r#"{"bindings":[{"source":"x","destination":"q","destination_type":"queue","routing_key":"","arguments":{"a":[null]}}]}"#,
    )
    .unwrap();
    let problems = defs.validate();
    assert_eq!(
        problems[0].kind,
        ProblemKind::Arguments(JsonArgsError::NullNotAllowed)
    );
    assert!(matches!(
        Definitions::from_json("[1]"),
        Err(DefinitionsError::NotAnObject { .. })
    ));
}
