//! The `hashing_algorithm` values of a definitions file's users. Verifying passwords is not
//! this module's job; it only names the algorithms and picks the default RabbitMQ's importer
//! picks.
//!
//! RabbitMQ 3.10 writes `rabbit_password_hashing_sha256` unless the node is configured with
//! `password_hashing_module = rabbit_password_hashing_sha512`; `rabbit_password_hashing_md5`
//! belongs to users created before 3.6 (and to files exported by 3.0–3.5, which had no
//! `hashing_algorithm` key). `password_hash` is base64 of a 4-byte salt followed by the hash
//! of salt ++ password.

/// A password hashing module RabbitMQ ships.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HashingAlgorithm {
    /// `rabbit_password_hashing_sha256`, the default since 3.6.
    #[default]
    Sha256,
    /// `rabbit_password_hashing_sha512`.
    Sha512,
    /// `rabbit_password_hashing_md5`, before 3.6.
    Md5,
}

impl HashingAlgorithm {
    pub const ALL: [HashingAlgorithm; 3] = [
        HashingAlgorithm::Sha256,
        HashingAlgorithm::Sha512,
        HashingAlgorithm::Md5,
    ];

    /// The value of `hashing_algorithm` (the Erlang module's name).
    pub fn module_name(self) -> &'static str {
        match self {
            HashingAlgorithm::Sha256 => "rabbit_password_hashing_sha256",
            HashingAlgorithm::Sha512 => "rabbit_password_hashing_sha512",
            HashingAlgorithm::Md5 => "rabbit_password_hashing_md5",
        }
    }

    pub fn from_module_name(name: &str) -> Option<HashingAlgorithm> {
        Self::ALL.into_iter().find(|a| a.module_name() == name)
    }

    /// The algorithm of a user without `hashing_algorithm`, from the file's version
    /// (`rabbit_auth_backend_internal:hashing_algorithm/2`): MD5 for 3.0–3.5, SHA-256 for
    /// 3.6.0 and for anything else (the node's default).
    pub fn default_for_version(version: Option<&str>) -> HashingAlgorithm {
        let before_3_6 = ["3.0.", "3.1.", "3.2.", "3.3.", "3.4.", "3.5."];
        match version {
            Some(v) if before_3_6.iter().any(|prefix| v.starts_with(prefix)) => {
                HashingAlgorithm::Md5
            }
            _ => HashingAlgorithm::Sha256,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names_round_trip() {
        for algorithm in HashingAlgorithm::ALL {
            assert_eq!(
                HashingAlgorithm::from_module_name(algorithm.module_name()),
                Some(algorithm)
            );
        }
        assert_eq!(HashingAlgorithm::from_module_name("sha256"), None);
    }

    #[test]
    fn files_from_before_3_6_default_to_md5() {
        assert_eq!(
            HashingAlgorithm::default_for_version(Some("3.5.7")),
            HashingAlgorithm::Md5
        );
        assert_eq!(
            HashingAlgorithm::default_for_version(Some("3.6.0")),
            HashingAlgorithm::Sha256
        );
        assert_eq!(
            HashingAlgorithm::default_for_version(Some("3.10.8")),
            HashingAlgorithm::Sha256
        );
        assert_eq!(
            HashingAlgorithm::default_for_version(None),
            HashingAlgorithm::Sha256
        );
    }
}
