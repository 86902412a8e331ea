//! Policies held by the broker: every vhost's list, kept compiled for matching (each
//! pattern once), and which one applies to a queue or an exchange.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::{Map, Value};
use warren_model::policy::{
    effective_policy_definition, Policy, QueueType, ResourceKind, VhostPolicies,
};

#[derive(Debug, Default)]
pub struct PolicyBook {
    /// By (vhost, name).
    all: BTreeMap<(String, String), Policy>,
    compiled: HashMap<String, Arc<VhostPolicies>>,
}

/// The policy that applies to one object, as the API shows it.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    pub name: Option<String>,
    pub definition: Map<String, Value>,
}

impl PolicyBook {
    /// Add or replace a policy; true if it is new. Its pattern was validated when the
    /// policy was built.
    pub fn set(&mut self, policy: Policy) -> bool {
        let vhost = policy.vhost.clone();
        let new = self
            .all
            .insert((vhost.clone(), policy.name.clone()), policy)
            .is_none();
        self.recompile(&vhost);
        new
    }

    pub fn clear(&mut self, vhost: &str, name: &str) -> bool {
        let gone = self
            .all
            .remove(&(vhost.to_owned(), name.to_owned()))
            .is_some();
        self.recompile(vhost);
        gone
    }

    pub fn forget_vhost(&mut self, vhost: &str) {
        self.all.retain(|(v, _), _| v != vhost);
        self.compiled.remove(vhost);
    }

    fn recompile(&mut self, vhost: &str) {
        let list = self
            .all
            .iter()
            .filter(|((v, _), _)| v == vhost)
            .map(|(_, p)| p.clone());
        match VhostPolicies::new(vhost, list) {
            Ok(c) if !c.is_empty() => {
                self.compiled.insert(vhost.to_owned(), Arc::new(c));
            }
            Ok(_) => {
                self.compiled.remove(vhost);
            }
            Err(e) => {
                // Patterns are checked when a policy is set; a journal from another version
                // could still hold one this build refuses.
                tracing::warn!(vhost, error = %e, "policies with an invalid pattern are not applied");
                self.compiled.remove(vhost);
            }
        }
    }

    pub fn list(&self) -> impl Iterator<Item = &Policy> {
        self.all.values()
    }

    pub fn get(&self, vhost: &str, name: &str) -> Option<&Policy> {
        self.all.get(&(vhost.to_owned(), name.to_owned()))
    }

    /// The compiled policies of a vhost, for matching many objects.
    pub fn of_vhost(&self, vhost: &str) -> Option<Arc<VhostPolicies>> {
        self.compiled.get(vhost).cloned()
    }
}

/// The settings a classic queue named `name` with `arguments` gets under `policies`.
pub fn queue_settings(
    policies: Option<&VhostPolicies>,
    name: &str,
    arguments: &warren_codec::types::FieldTable,
) -> crate::queue::QueueSettings {
    crate::queue::QueueSettings::resolve(arguments, &applied(policies, name, false).definition)
}

/// The alternate exchange the policy applying to exchange `name` gives, if any.
pub fn policy_alternate(policies: Option<&VhostPolicies>, name: &str) -> Option<Arc<str>> {
    applied(policies, name, true)
        .definition
        .get("alternate-exchange")
        .and_then(Value::as_str)
        .map(Arc::from)
}

/// The policy that applies to a classic queue (`is_exchange` false) or an exchange.
pub fn applied(policies: Option<&VhostPolicies>, name: &str, is_exchange: bool) -> Applied {
    let Some(policies) = policies else {
        return Applied::default();
    };
    let kind = if is_exchange {
        ResourceKind::Exchange
    } else {
        ResourceKind::Queue(QueueType::Classic)
    };
    let policy = policies.matching(name, kind);
    Applied {
        name: policy.map(|p| p.name.clone()),
        definition: effective_policy_definition(policy, None)
            .map(|d| d.into_map())
            .unwrap_or_default(),
    }
}
