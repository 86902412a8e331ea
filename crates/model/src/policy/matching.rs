//! Which policy applies to a queue or exchange (`rabbit_policy:match/2`).
//!
//! RabbitMQ considers the vhost's policies whose pattern matches the resource name anywhere
//! (`re:run/3`, unanchored), whose apply-to covers the resource kind and, for queues, whose
//! definition sets no key the queue type does not support; the highest priority wins. Names
//! are not special: policies apply to `amq.*` exchanges, the default exchange `""`, exclusive
//! and server-named (`amq.gen-*`) queues alike (all checked on a 3.10.8 node).
//!
//! Ties: RabbitMQ keeps equal priorities in the order `mnesia:match_object/3` returns the
//! policies, the hash order of their `{vhost, <<"policy">>, name}` keys, which is neither name
//! nor creation order (on the node, of eight equal policies `pol-a` … `pol-h` created in three
//! different orders `pol-g` always won). That order cannot be reproduced; Warren breaks ties
//! by name, in byte order, so the outcome is at least stable and predictable.

use regex_lite::Regex;

use super::key::QueueType;
use super::pattern::{compile_pattern, PatternError};
use super::{Policy, PolicyDefinition};

/// What a policy may apply to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    Exchange,
    Queue(QueueType),
}

/// A policy with its pattern compiled.
#[derive(Debug, Clone)]
struct CompiledPolicy {
    policy: Policy,
    regex: Regex,
}

impl CompiledPolicy {
    fn applies_to(&self, name: &str, kind: ResourceKind) -> bool {
        self.policy.apply_to.covers(kind)
            && is_applicable(&self.policy.definition, kind)
            && self.regex.is_match(name)
    }
}

/// `rabbit_queue_type:is_policy_applicable/2`: a queue skips a policy that sets a key its type
/// does not support. Exchanges take every policy.
fn is_applicable(definition: &PolicyDefinition, kind: ResourceKind) -> bool {
    match kind {
        ResourceKind::Exchange => true,
        ResourceKind::Queue(queue_type) => {
            let unsupported = queue_type.unsupported_policy_keys();
            !definition.keys().any(|k| unsupported.contains(&k.as_str()))
        }
    }
}

/// The policies of one vhost, patterns compiled once, in the order they are tried: highest
/// priority first, then by name.
#[derive(Debug, Clone, Default)]
pub struct VhostPolicies {
    vhost: String,
    ordered: Vec<CompiledPolicy>,
}

impl VhostPolicies {
    /// The policies of `vhost` among `policies` (others are left out). Fails on a pattern
    /// Warren cannot compile, which [`Policy::from_parts`] would have refused.
    pub fn new(
        vhost: &str,
        policies: impl IntoIterator<Item = Policy>,
    ) -> Result<Self, PatternError> {
        let mut ordered = policies
            .into_iter()
            .filter(|p| p.vhost == vhost)
            .map(|policy| {
                let regex = compile_pattern(&policy.pattern)?;
                Ok(CompiledPolicy { policy, regex })
            })
            .collect::<Result<Vec<_>, PatternError>>()?;
        ordered.sort_by(|a, b| {
            b.policy
                .priority
                .cmp(&a.policy.priority)
                .then_with(|| a.policy.name.as_bytes().cmp(b.policy.name.as_bytes()))
        });
        Ok(Self {
            vhost: vhost.to_owned(),
            ordered,
        })
    }

    pub fn vhost(&self) -> &str {
        &self.vhost
    }

    /// The policies in the order they are tried.
    pub fn policies(&self) -> impl Iterator<Item = &Policy> {
        self.ordered.iter().map(|c| &c.policy)
    }

    pub fn len(&self) -> usize {
        self.ordered.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ordered.is_empty()
    }

    /// The policy that applies to the resource `name` of `kind` in this vhost, if any.
    pub fn matching(&self, name: &str, kind: ResourceKind) -> Option<&Policy> {
        self.ordered
            .iter()
            .find(|c| c.applies_to(name, kind))
            .map(|c| &c.policy)
    }

    /// Every policy that matches, best first (`rabbit_policy:match_all/2`).
    pub fn all_matching<'a>(
        &'a self,
        name: &'a str,
        kind: ResourceKind,
    ) -> impl Iterator<Item = &'a Policy> {
        self.ordered
            .iter()
            .filter(move |c| c.applies_to(name, kind))
            .map(|c| &c.policy)
    }
}

/// The definition in effect for a resource: its policy's definition merged with its operator
/// policy's (`rabbit_policy:merge_operator_definitions/2`). Operator policies are not
/// implemented yet; pass `None` for now. Where both set a key, the numeric limits operator
/// policies may set take the smaller value and anything else the operator policy's.
pub fn effective_policy_definition(
    policy: Option<&Policy>,
    operator_policy: Option<&Policy>,
) -> Option<PolicyDefinition> {
    match (policy, operator_policy) {
        (None, None) => None,
        (Some(p), None) => Some(p.definition.clone()),
        (None, Some(op)) => Some(op.definition.clone()),
        (Some(p), Some(op)) => {
            let mut merged = p.definition.clone().into_map();
            for (key, op_value) in op.definition.iter() {
                let own = merged.get(key).and_then(serde_json::Value::as_i64);
                let value = match (own, op_value.as_i64()) {
                    (Some(own), Some(op_number)) => serde_json::Value::from(own.min(op_number)),
                    _ => op_value.clone(),
                };
                merged.insert(key.clone(), value);
            }
            Some(PolicyDefinition::from_map(merged))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::ApplyTo;
    use super::*;
    use serde_json::json;

    fn policy(
        name: &str,
        pattern: &str,
        apply_to: ApplyTo,
        priority: i64,
        definition: serde_json::Value,
    ) -> Policy {
        Policy::from_parts(
            "v",
            name,
            &json!(pattern),
            &definition,
            Some(&json!(priority)),
            Some(&json!(apply_to.as_str())),
        )
        .unwrap()
    }

    const CLASSIC: ResourceKind = ResourceKind::Queue(QueueType::Classic);

    #[test]
    fn the_highest_priority_matching_policy_wins() {
        let policies = VhostPolicies::new(
            "v",
            [
                policy("lo", "^pol", ApplyTo::Queues, -5, json!({"max-length": 1})),
                policy("hi", "q$", ApplyTo::Queues, 1, json!({"max-length": 2})),
            ],
        )
        .unwrap();
        assert_eq!(policies.matching("pol-q", CLASSIC).unwrap().name, "hi");
        assert_eq!(policies.matching("pol-x", CLASSIC).unwrap().name, "lo");
        assert_eq!(policies.matching("amq.gen-abc", CLASSIC), None);
    }

    #[test]
    fn apply_to_restricts_the_kind() {
        let policies = VhostPolicies::new(
            "v",
            [policy(
                "x",
                ".*",
                ApplyTo::Exchanges,
                100,
                json!({"alternate-exchange": "z"}),
            )],
        )
        .unwrap();
        assert_eq!(
            policies.matching("", ResourceKind::Exchange).unwrap().name,
            "x"
        );
        assert_eq!(
            policies
                .matching("amq.direct", ResourceKind::Exchange)
                .unwrap()
                .name,
            "x"
        );
        assert_eq!(policies.matching("q", CLASSIC), None);
    }

    #[test]
    fn a_queue_skips_policies_with_keys_its_type_does_not_support() {
        // As captured: classic -> pol-b, quorum -> pol-a, stream -> pol-c.
        let policies = VhostPolicies::new(
            "v",
            [
                policy(
                    "pol-a",
                    "^pol-",
                    ApplyTo::Queues,
                    10,
                    json!({"max-length": 1, "delivery-limit": 5}),
                ),
                policy(
                    "pol-b",
                    "^pol-",
                    ApplyTo::Queues,
                    5,
                    json!({"max-length": 2, "ha-mode": "all"}),
                ),
                policy(
                    "pol-c",
                    "^pol-",
                    ApplyTo::Queues,
                    0,
                    json!({"max-age": "1D"}),
                ),
            ],
        )
        .unwrap();
        let winner = |t| {
            policies
                .matching("pol-q", ResourceKind::Queue(t))
                .unwrap()
                .name
                .clone()
        };
        assert_eq!(winner(QueueType::Classic), "pol-b");
        assert_eq!(winner(QueueType::Quorum), "pol-a");
        assert_eq!(winner(QueueType::Stream), "pol-c");
    }

    #[test]
    fn equal_priorities_are_broken_by_name() {
        let policies = VhostPolicies::new(
            "v",
            ["pol-h", "pol-b", "pol-g", "pol-a"]
                .map(|n| policy(n, "", ApplyTo::All, 0, json!({"max-length": 1}))),
        )
        .unwrap();
        assert_eq!(
            policies.matching("anything", CLASSIC).unwrap().name,
            "pol-a"
        );
        let order: Vec<&str> = policies
            .all_matching("x", CLASSIC)
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(order, ["pol-a", "pol-b", "pol-g", "pol-h"]);
    }

    #[test]
    fn policies_of_other_vhosts_are_left_out() {
        let mut other = policy("o", ".*", ApplyTo::All, 9, json!({"max-length": 1}));
        other.vhost = "w".into();
        let policies = VhostPolicies::new("v", [other]).unwrap();
        assert!(policies.is_empty());
    }

    #[test]
    fn effective_definition_is_the_policys_or_the_merge_with_an_operator_policy() {
        let p = policy(
            "p",
            ".*",
            ApplyTo::All,
            0,
            json!({"max-length": 10, "overflow": "drop-head"}),
        );
        let op = policy(
            "op",
            ".*",
            ApplyTo::All,
            0,
            json!({"max-length": 5, "message-ttl": 100}),
        );
        assert_eq!(
            effective_policy_definition(Some(&p), None),
            Some(p.definition.clone())
        );
        assert_eq!(effective_policy_definition(None, None), None);
        let merged = effective_policy_definition(Some(&p), Some(&op)).unwrap();
        assert_eq!(
            serde_json::to_value(&merged).unwrap(),
            json!({"max-length": 5, "message-ttl": 100, "overflow": "drop-head"})
        );
    }
}
