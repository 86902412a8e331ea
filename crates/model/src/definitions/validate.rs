//! What an import of a definitions file could not apply, item by item: unreadable items, and
//! items RabbitMQ 3.10.8's importer refuses (texts as it gives them where it has one) or skips.
//!
//! RabbitMQ itself stops at the first failure, leaving what it applied so far; reporting every
//! problem up front lets Warren's importer do better.

use serde_json::Value;

use super::hashing::HashingAlgorithm;
use super::items::Item;
use super::reader::FieldProblem;
use super::{Definitions, Entry, Section, SectionName};
use crate::json_args::{json_to_table, JsonArgsError};
use crate::policy::PolicyValidationError;

/// Exchange types a 3.10 node has without plugins.
const BUILT_IN_EXCHANGE_TYPES: [&str; 4] = ["direct", "fanout", "topic", "headers"];

/// One item the import cannot apply as is.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{section}[{index}]{}: {kind}", name.as_ref().map(|n| format!(" ({n})")).unwrap_or_default())]
pub struct Problem {
    pub section: SectionName,
    /// Position in the section.
    pub index: usize,
    /// The item's name, when it could be read.
    pub name: Option<String>,
    pub kind: ProblemKind,
}

impl Problem {
    /// Whether RabbitMQ's import fails on this (the others it skips with a warning).
    pub fn fails_import(&self) -> bool {
        !matches!(self.kind, ProblemKind::Skipped { .. })
    }
}

/// What is wrong. [`Display`](std::fmt::Display) gives RabbitMQ's reason where it has one.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProblemKind {
    /// The item could not be read.
    #[error("{0}")]
    Field(FieldProblem),
    /// The policy is refused; [`PolicyValidationError::definitions_import_reason`] renders
    /// RabbitMQ's import reason.
    #[error("{}", .0.reason().trim_end())]
    Policy(PolicyValidationError),
    /// `arguments` cannot become a field table (`null_not_allowed`, ...).
    #[error("{0}")]
    Arguments(JsonArgsError),
    #[error("command_invalid: unknown exchange type '{0}'")]
    UnknownExchangeType(String),
    #[error("unknown destination_type '{0}'; should be 'queue' or 'exchange'")]
    UnknownDestinationType(String),
    /// A user with neither `tags` nor the pre-3.0 `administrator` flag.
    #[error("tags_not_present")]
    TagsNotPresent,
    #[error("both_password_and_password_hash_are_provided")]
    PasswordAndPasswordHash,
    #[error("password_hash is not base64")]
    PasswordHashNotBase64,
    /// RabbitMQ would import it (any module name goes) but nobody could log in as this user.
    #[error("unknown hashing_algorithm '{0}'")]
    UnknownHashingAlgorithm(String),
    /// RabbitMQ skips the item with a warning: `amq.*` queues and exchanges, the default
    /// exchange.
    #[error("skipped: {reason}")]
    Skipped { reason: &'static str },
}

struct Collector {
    problems: Vec<Problem>,
}

impl Collector {
    fn push(
        &mut self,
        section: SectionName,
        index: usize,
        name: Option<String>,
        kind: ProblemKind,
    ) {
        self.problems.push(Problem {
            section,
            index,
            name,
            kind,
        });
    }

    /// Rejected items' problems, then `check` on every read item.
    fn section<T: Item>(
        &mut self,
        name: SectionName,
        section: &Option<Section<T>>,
        check: impl Fn(&T) -> Vec<ProblemKind>,
    ) {
        let Some(section) = section else { return };
        for (index, entry) in section.entries().iter().enumerate() {
            match entry {
                Entry::Rejected(rejected) => {
                    for problem in &rejected.problems {
                        let label = rejected
                            .raw
                            .get("name")
                            .and_then(Value::as_str)
                            .map(str::to_owned);
                        self.push(name, index, label, ProblemKind::Field(problem.clone()));
                    }
                }
                Entry::Item(item) => {
                    for kind in check(item) {
                        self.push(name, index, item.label(), kind);
                    }
                }
            }
        }
    }
}

fn arguments_problem(arguments: &Option<Value>) -> Option<ProblemKind> {
    let arguments = arguments.as_ref()?;
    json_to_table(arguments).err().map(ProblemKind::Arguments)
}

fn is_base64(text: &str) -> bool {
    let bytes = text.as_bytes();
    let body = bytes
        .strip_suffix(b"==")
        .or_else(|| bytes.strip_suffix(b"="))
        .unwrap_or(bytes);
    bytes.len() & 3 == 0 // whole groups of four characters
        && body
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
}

impl Definitions {
    /// Every item the import could not apply, in section order (RabbitMQ's import order aside).
    pub fn validate(&self) -> Vec<Problem> {
        let mut c = Collector {
            problems: Vec::new(),
        };
        c.section(SectionName::Users, &self.users, |user| {
            let mut kinds = Vec::new();
            if user.tags.is_none() && !user.extra.contains_key("administrator") {
                kinds.push(ProblemKind::TagsNotPresent);
            }
            if user.password.is_some() && user.password_hash.is_some() {
                kinds.push(ProblemKind::PasswordAndPasswordHash);
            }
            if user.password_hash.as_deref().is_some_and(|h| !is_base64(h)) {
                kinds.push(ProblemKind::PasswordHashNotBase64);
            }
            if let Some(algorithm) = &user.hashing_algorithm {
                if HashingAlgorithm::from_module_name(algorithm).is_none() {
                    kinds.push(ProblemKind::UnknownHashingAlgorithm(algorithm.clone()));
                }
            }
            kinds
        });
        c.section(SectionName::Vhosts, &self.vhosts, |_| Vec::new());
        c.section(SectionName::Permissions, &self.permissions, |_| Vec::new());
        c.section(
            SectionName::TopicPermissions,
            &self.topic_permissions,
            |_| Vec::new(),
        );
        c.section(SectionName::Parameters, &self.parameters, |_| Vec::new());
        c.section(
            SectionName::GlobalParameters,
            &self.global_parameters,
            |_| Vec::new(),
        );
        c.section(SectionName::Policies, &self.policies, |policy| match policy
            .to_policy(policy.vhost.as_deref().unwrap_or_default())
        {
            Ok(_) => Vec::new(),
            Err(e) => vec![ProblemKind::Policy(e)],
        });
        c.section(SectionName::Queues, &self.queues, |queue| {
            let mut kinds: Vec<ProblemKind> =
                arguments_problem(&queue.arguments).into_iter().collect();
            if queue.name.starts_with("amq.") {
                kinds.push(ProblemKind::Skipped {
                    reason: "a queue whose name begins with 'amq.'",
                });
            }
            kinds
        });
        c.section(SectionName::Exchanges, &self.exchanges, |exchange| {
            if exchange.name.is_empty() {
                return vec![ProblemKind::Skipped {
                    reason: "the default exchange",
                }];
            }
            if exchange.name.starts_with("amq.") {
                return vec![ProblemKind::Skipped {
                    reason: "an exchange whose name begins with 'amq.'",
                }];
            }
            let mut kinds: Vec<ProblemKind> =
                arguments_problem(&exchange.arguments).into_iter().collect();
            if !BUILT_IN_EXCHANGE_TYPES.contains(&exchange.kind.as_str()) {
                kinds.push(ProblemKind::UnknownExchangeType(exchange.kind.clone()));
            }
            kinds
        });
        c.section(SectionName::Bindings, &self.bindings, |binding| {
            let mut kinds: Vec<ProblemKind> =
                arguments_problem(&binding.arguments).into_iter().collect();
            if !matches!(binding.destination_type.as_str(), "queue" | "exchange") {
                kinds.push(ProblemKind::UnknownDestinationType(
                    binding.destination_type.clone(),
                ));
            }
            kinds
        });
        c.problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problems(file: Value) -> Vec<Problem> {
        Definitions::from_value(&file).unwrap().validate()
    }

    #[test]
    fn a_clean_file_has_no_problems() {
        let file = json!({
            "users": [{"name": "u", "password_hash": "", "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": "a,b"}],
            "policies": [{"vhost": "/", "name": "p", "pattern": "^q", "definition": {"max-length": 1}}],
            "queues": [{"name": "q", "vhost": "/", "durable": true, "auto_delete": false, "arguments": {"x-max-length": 1}}],
            "exchanges": [{"name": "x", "vhost": "/", "type": "topic", "durable": true, "auto_delete": false}],
            "bindings": [{"source": "x", "vhost": "/", "destination": "q", "destination_type": "queue", "routing_key": "#", "arguments": {}}]
        });
        assert_eq!(problems(file), []);
    }

    #[test]
    fn each_refused_item_is_reported_with_its_position_and_name() {
        let found = problems(json!({
            "users": [{"name": "u", "password_hash": "not base64!"}],
            "policies": [{"vhost": "/", "name": "p", "pattern": "(", "definition": {"no-such-key": 1}}],
            "queues": [{"name": "amq.q", "durable": true, "auto_delete": false},
                       {"name": "q", "durable": true, "auto_delete": false, "arguments": {"x": null}}],
            "exchanges": [{"name": "x", "type": "nope", "durable": true, "auto_delete": false}],
            "bindings": [{"source": "x", "destination": "q", "destination_type": "topic", "routing_key": ""}]
        }));
        let texts: Vec<String> = found.iter().map(ToString::to_string).collect();
        assert_eq!(
            texts,
            [
                "users[0] (u): tags_not_present",
                "users[0] (u): password_hash is not base64",
                "policies[0] (p): Validation failed\n\n[{<<\"no-such-key\">>,1}] are not recognised policy settings\npattern should be regular expression but is invalid: {\"missing )\",1}",
                "queues[0] (amq.q): skipped: a queue whose name begins with 'amq.'",
                "queues[1] (q): null_not_allowed",
                "exchanges[0] (x): command_invalid: unknown exchange type 'nope'",
                "bindings[0] (x -> q): unknown destination_type 'topic'; should be 'queue' or 'exchange'",
            ]
        );
        assert!(!found[3].fails_import());
        assert!(found[4].fails_import());
    }

    #[test]
    fn a_pre_3_0_administrator_flag_counts_as_tags() {
        let found = problems(
            json!({"users": [{"name": "u", "password_hash": "", "administrator": "false"}]}),
        );
        assert_eq!(found, []);
        let found = problems(json!({"users": [{"name": "u", "password_hash": ""}]}));
        assert_eq!(found[0].kind, ProblemKind::TagsNotPresent);
    }

    #[test]
    fn base64_check() {
        assert!(is_base64(""));
        assert!(is_base64(
            "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR"
        ));
        assert!(is_base64("Zg=="));
        assert!(!is_base64("Zg="));
        assert!(!is_base64("a b="));
    }
}
