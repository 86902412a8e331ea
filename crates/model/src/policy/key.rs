//! The keys a RabbitMQ 3.10 policy definition may hold, which validator module checks each, and
//! which queue types ignore policies that set them.
//!
//! The list is every `policy_validator` registered by a 3.10.8 node with only the management
//! plugin enabled (rabbit_policies, rabbit_mirror_queue_misc, rabbit_queue_location_validator).
//! `federation-upstream` and `federation-upstream-set` are registered by the federation plugin,
//! which Warren does not have; a node without it refuses them too (captured).

/// A key RabbitMQ 3.10 accepts in a policy definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PolicyKey {
    AlternateExchange,
    DeadLetterExchange,
    DeadLetterRoutingKey,
    DeadLetterStrategy,
    MessageTtl,
    Expires,
    MaxLength,
    MaxLengthBytes,
    MaxInMemoryLength,
    MaxInMemoryBytes,
    QueueMode,
    QueueVersion,
    Overflow,
    DeliveryLimit,
    MaxAge,
    StreamMaxSegmentSizeBytes,
    QueueLeaderLocator,
    InitialClusterSize,
    HaMode,
    HaParams,
    HaSyncMode,
    HaSyncBatchSize,
    HaPromoteOnShutdown,
    HaPromoteOnFailure,
    QueueMasterLocator,
    /// RabbitMQ 3.12's per-queue delivery acknowledgement timeout.
    ConsumerTimeout,
}

/// The RabbitMQ module that validates a key. A 3.10.8 node runs them in this order and stops
/// at the first module that reports an error (the order of `proplists:get_keys/1` over its
/// registry, observed on the node).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum ValidatorModule {
    /// rabbit_queue_location_validator: queue-master-locator.
    QueueLocation,
    /// rabbit_policies: the key-by-key checks.
    Core,
    /// rabbit_mirror_queue_misc: the ha-* keys, checked together.
    Mirroring,
}

impl ValidatorModule {
    pub(crate) const IN_ORDER: [ValidatorModule; 3] = [
        ValidatorModule::QueueLocation,
        ValidatorModule::Core,
        ValidatorModule::Mirroring,
    ];
}

impl PolicyKey {
    /// Every key, in the order RabbitMQ's registry lists them.
    pub const ALL: [PolicyKey; 26] = [
        PolicyKey::AlternateExchange,
        PolicyKey::DeadLetterExchange,
        PolicyKey::DeadLetterRoutingKey,
        PolicyKey::DeadLetterStrategy,
        PolicyKey::MessageTtl,
        PolicyKey::Expires,
        PolicyKey::MaxLength,
        PolicyKey::MaxLengthBytes,
        PolicyKey::MaxInMemoryLength,
        PolicyKey::MaxInMemoryBytes,
        PolicyKey::QueueMode,
        PolicyKey::QueueVersion,
        PolicyKey::Overflow,
        PolicyKey::DeliveryLimit,
        PolicyKey::MaxAge,
        PolicyKey::StreamMaxSegmentSizeBytes,
        PolicyKey::QueueLeaderLocator,
        PolicyKey::InitialClusterSize,
        PolicyKey::HaMode,
        PolicyKey::HaParams,
        PolicyKey::HaSyncMode,
        PolicyKey::HaSyncBatchSize,
        PolicyKey::HaPromoteOnShutdown,
        PolicyKey::HaPromoteOnFailure,
        PolicyKey::QueueMasterLocator,
        PolicyKey::ConsumerTimeout,
    ];

    /// The key as it appears in a definition.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyKey::AlternateExchange => "alternate-exchange",
            PolicyKey::DeadLetterExchange => "dead-letter-exchange",
            PolicyKey::DeadLetterRoutingKey => "dead-letter-routing-key",
            PolicyKey::DeadLetterStrategy => "dead-letter-strategy",
            PolicyKey::MessageTtl => "message-ttl",
            PolicyKey::Expires => "expires",
            PolicyKey::MaxLength => "max-length",
            PolicyKey::MaxLengthBytes => "max-length-bytes",
            PolicyKey::MaxInMemoryLength => "max-in-memory-length",
            PolicyKey::MaxInMemoryBytes => "max-in-memory-bytes",
            PolicyKey::QueueMode => "queue-mode",
            PolicyKey::QueueVersion => "queue-version",
            PolicyKey::Overflow => "overflow",
            PolicyKey::DeliveryLimit => "delivery-limit",
            PolicyKey::MaxAge => "max-age",
            PolicyKey::StreamMaxSegmentSizeBytes => "stream-max-segment-size-bytes",
            PolicyKey::QueueLeaderLocator => "queue-leader-locator",
            PolicyKey::InitialClusterSize => "initial-cluster-size",
            PolicyKey::HaMode => "ha-mode",
            PolicyKey::HaParams => "ha-params",
            PolicyKey::HaSyncMode => "ha-sync-mode",
            PolicyKey::HaSyncBatchSize => "ha-sync-batch-size",
            PolicyKey::HaPromoteOnShutdown => "ha-promote-on-shutdown",
            PolicyKey::HaPromoteOnFailure => "ha-promote-on-failure",
            PolicyKey::QueueMasterLocator => "queue-master-locator",
            PolicyKey::ConsumerTimeout => "consumer-timeout",
        }
    }

    /// The key named `name`, if RabbitMQ 3.10 knows it.
    pub fn from_name(name: &str) -> Option<PolicyKey> {
        PolicyKey::ALL.into_iter().find(|key| key.as_str() == name)
    }

    pub(crate) fn validator(self) -> ValidatorModule {
        match self {
            PolicyKey::QueueMasterLocator => ValidatorModule::QueueLocation,
            PolicyKey::HaMode
            | PolicyKey::HaParams
            | PolicyKey::HaSyncMode
            | PolicyKey::HaSyncBatchSize
            | PolicyKey::HaPromoteOnShutdown
            | PolicyKey::HaPromoteOnFailure => ValidatorModule::Mirroring,
            _ => ValidatorModule::Core,
        }
    }
}

impl std::fmt::Display for PolicyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A queue's type, which decides which policies may apply to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum QueueType {
    #[default]
    Classic,
    Quorum,
    Stream,
}

impl QueueType {
    /// The definition keys this queue type does not support (its `unsupported_policies`
    /// capability in 3.10.8). A policy whose definition holds any of them does not apply to
    /// such a queue at all: the next matching policy is chosen instead (captured on the node:
    /// a classic queue skips a higher-priority policy that sets `delivery-limit`).
    pub fn unsupported_policy_keys(self) -> &'static [&'static str] {
        match self {
            QueueType::Classic => &[
                "max-age",
                "stream-max-segment-size-bytes",
                "queue-leader-locator",
                "initial-cluster-size",
                "delivery-limit",
                "dead-letter-strategy",
            ],
            QueueType::Quorum => &[
                "max-priority",
                "queue-mode",
                "single-active-consumer",
                "ha-mode",
                "ha-params",
                "ha-sync-mode",
                "ha-promote-on-shutdown",
                "ha-promote-on-failure",
                "queue-master-locator",
                "max-age",
                "stream-max-segment-size-bytes",
                "initial-cluster-size",
            ],
            QueueType::Stream => &[
                "expires",
                "message-ttl",
                "dead-letter-exchange",
                "dead-letter-routing-key",
                "max-length",
                "max-in-memory-length",
                "max-in-memory-bytes",
                "max-priority",
                "overflow",
                "queue-mode",
                "single-active-consumer",
                "delivery-limit",
                "ha-mode",
                "ha-params",
                "ha-sync-mode",
                "ha-promote-on-shutdown",
                "ha-promote-on-failure",
                "queue-master-locator",
                "dead-letter-strategy",
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_round_trips_through_its_name() {
        for key in PolicyKey::ALL {
            assert_eq!(PolicyKey::from_name(key.as_str()), Some(key));
        }
        assert_eq!(PolicyKey::from_name("federation-upstream"), None);
        assert_eq!(PolicyKey::from_name("x-max-length"), None);
    }

    #[test]
    fn the_ha_keys_are_mirroring_and_queue_master_locator_is_location() {
        assert_eq!(PolicyKey::HaParams.validator(), ValidatorModule::Mirroring);
        assert_eq!(
            PolicyKey::QueueMasterLocator.validator(),
            ValidatorModule::QueueLocation
        );
        assert_eq!(PolicyKey::MaxAge.validator(), ValidatorModule::Core);
    }
}
