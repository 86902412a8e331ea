//! RabbitMQ's default password hashing (rabbit_password_hashing_sha256):
//! base64(salt ‖ sha256(salt ‖ utf8 password)) with a 4-byte random salt.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha256};

pub fn hash_password(password: &[u8]) -> String {
    hash_with_salt(crate::util::random_bytes::<4>(), password)
}

pub fn hash_with_salt(salt: [u8; 4], password: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(password);
    let mut out = salt.to_vec();
    out.extend_from_slice(&hasher.finalize());
    STANDARD.encode(out)
}

/// Check a password against a stored hash; a malformed hash never matches.
pub fn verify(stored: &str, password: &[u8]) -> bool {
    let Ok(raw) = STANDARD.decode(stored) else {
        return false;
    };
    if raw.len() != 4 + 32 {
        return false;
    }
    let mut salt = [0u8; 4];
    salt.copy_from_slice(&raw[..4]);
    // Constant-time comparison of equal-length hashes.
    let expected = hash_with_salt(salt, password);
    expected.len() == stored.len()
        && expected
            .bytes()
            .zip(stored.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_a_rabbitmq_generated_hash() {
        // guest's hash from `rabbitmqctl export_definitions` on RabbitMQ 3.10.8.
        let stored = "F5dEBThOabZ8SQiVH3TrGcr2LIpZBMoUnZFBWzKgcs+Rtpb2";
        assert!(verify(stored, b"guest"));
        assert!(!verify(stored, b"Guest"));
        assert!(!verify("not base64!", b"guest"));
    }

    #[test]
    fn fresh_hashes_are_salted() {
        assert_ne!(hash_password(b"x"), hash_password(b"x"));
        assert!(verify(&hash_password(b"x"), b"x"));
    }
}
