//! RabbitMQ 3.10 policies: what a policy is, how RabbitMQ validates one, which policy applies
//! to a queue or exchange.
//!
//! - [`PolicyDefinition`]: the key → value map, validated against every key 3.10 accepts
//!   ([`PolicyKey`]).
//! - [`Policy`]: vhost, name, pattern, apply-to, priority, definition, built from the
//!   management API's body ([`Policy::from_api_body`]), `rabbitmqctl set_policy`'s arguments
//!   ([`Policy::from_ctl_args`]) or parts ([`Policy::from_parts`]); errors render as RabbitMQ's
//!   texts ([`PolicyValidationError`], [`PolicyRequestError`]).
//! - [`VhostPolicies`]: a vhost's policies with their patterns compiled once, answering which
//!   policy applies to a resource.

mod definition;
mod error;
mod key;
mod matching;
mod pattern;
mod request;
mod validators;

pub use definition::{DefinitionError, PolicyDefinition};
pub use error::{escape_html_tags, PolicyProblem, PolicyValidationError};
pub use key::{PolicyKey, QueueType};
pub use matching::{effective_policy_definition, ResourceKind, VhostPolicies};
pub use pattern::{compile_pattern, PatternError};
pub use request::{set_policy_banner, PolicyRequestError};

use serde::{Deserialize, Serialize};

/// Which resources a policy applies to (`apply-to`). RabbitMQ 3.10 accepts exactly these three.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApplyTo {
    Queues,
    Exchanges,
    #[default]
    All,
}

impl ApplyTo {
    pub fn as_str(self) -> &'static str {
        match self {
            ApplyTo::Queues => "queues",
            ApplyTo::Exchanges => "exchanges",
            ApplyTo::All => "all",
        }
    }

    pub fn from_name(name: &str) -> Option<ApplyTo> {
        match name {
            "queues" => Some(ApplyTo::Queues),
            "exchanges" => Some(ApplyTo::Exchanges),
            "all" => Some(ApplyTo::All),
            _ => None,
        }
    }

    /// `matches_type/2`.
    pub fn covers(self, kind: ResourceKind) -> bool {
        matches!(
            (self, kind),
            (ApplyTo::All, _)
                | (ApplyTo::Queues, ResourceKind::Queue(_))
                | (ApplyTo::Exchanges, ResourceKind::Exchange)
        )
    }
}

/// A policy as the management API shows it (`GET /api/policies/{vhost}/{name}`) and a
/// definitions file stores it: keys `vhost`, `name`, `pattern`, `apply-to`, `definition`,
/// `priority`, in that order.
///
/// Deserializing does not validate; build policies from untrusted input with
/// [`Policy::from_api_body`], [`Policy::from_ctl_args`] or [`Policy::from_parts`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    pub vhost: String,
    pub name: String,
    pub pattern: String,
    #[serde(rename = "apply-to")]
    pub apply_to: ApplyTo,
    pub definition: PolicyDefinition,
    pub priority: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn policies_serialize_with_the_api_key_order() {
        let policy = Policy {
            vhost: "/".into(),
            name: "p1".into(),
            pattern: "^q".into(),
            apply_to: ApplyTo::Queues,
            definition: PolicyDefinition::new().with("max-length", json!(5)),
            priority: 0,
        };
        // Byte for byte the body of GET /api/policies/%2F/p1 (http/056-policy-p1.txt).
        assert_eq!(
            serde_json::to_string(&policy).unwrap(),
            r#"{"vhost":"/","name":"p1","pattern":"^q","apply-to":"queues","definition":{"max-length":5},"priority":0}"#
        );
    }

    #[test]
    fn apply_to_covers_its_kind_only() {
        let queue = ResourceKind::Queue(QueueType::Classic);
        assert!(ApplyTo::All.covers(queue) && ApplyTo::All.covers(ResourceKind::Exchange));
        assert!(ApplyTo::Queues.covers(queue) && !ApplyTo::Queues.covers(ResourceKind::Exchange));
        assert!(
            !ApplyTo::Exchanges.covers(queue) && ApplyTo::Exchanges.covers(ResourceKind::Exchange)
        );
        assert_eq!(ApplyTo::from_name("streams"), None);
    }
}
