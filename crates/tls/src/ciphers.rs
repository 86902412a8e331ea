//! `ssl_options.ciphers.N`: cipher suites by the names RabbitMQ configurations use (OpenSSL's,
//! as Erlang lists them, or IANA's), mapped to the suites rustls offers. rustls has only
//! AEAD suites with forward secrecy; other names (CBC, RSA key exchange, DHE) have no match.

use rustls::crypto::CryptoProvider;
use rustls::{CipherSuite, SupportedCipherSuite};

/// A suite rustls can offer: its OpenSSL name (as Erlang lists it), its IANA name, and how
/// RabbitMQ (Erlang's `ssl`) describes it in a connection's `ssl_key_exchange` and
/// `ssl_cipher` (TLS 1.3 suites have key exchange `any`).
struct Suite {
    openssl: &'static str,
    iana: &'static str,
    suite: CipherSuite,
    key_exchange: &'static str,
    cipher: &'static str,
}

const SUITES: [Suite; 9] = [
    Suite {
        openssl: "TLS_AES_256_GCM_SHA384",
        iana: "TLS_AES_256_GCM_SHA384",
        suite: CipherSuite::TLS13_AES_256_GCM_SHA384,
        key_exchange: "any",
        cipher: "aes_256_gcm",
    },
    Suite {
        openssl: "TLS_AES_128_GCM_SHA256",
        iana: "TLS_AES_128_GCM_SHA256",
        suite: CipherSuite::TLS13_AES_128_GCM_SHA256,
        key_exchange: "any",
        cipher: "aes_128_gcm",
    },
    Suite {
        openssl: "TLS_CHACHA20_POLY1305_SHA256",
        iana: "TLS_CHACHA20_POLY1305_SHA256",
        suite: CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
        key_exchange: "any",
        cipher: "chacha20_poly1305",
    },
    Suite {
        openssl: "ECDHE-ECDSA-AES256-GCM-SHA384",
        iana: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        suite: CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        key_exchange: "ecdhe_ecdsa",
        cipher: "aes_256_gcm",
    },
    Suite {
        openssl: "ECDHE-RSA-AES256-GCM-SHA384",
        iana: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        suite: CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        key_exchange: "ecdhe_rsa",
        cipher: "aes_256_gcm",
    },
    Suite {
        openssl: "ECDHE-ECDSA-AES128-GCM-SHA256",
        iana: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        suite: CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        key_exchange: "ecdhe_ecdsa",
        cipher: "aes_128_gcm",
    },
    Suite {
        openssl: "ECDHE-RSA-AES128-GCM-SHA256",
        iana: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        suite: CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        key_exchange: "ecdhe_rsa",
        cipher: "aes_128_gcm",
    },
    Suite {
        openssl: "ECDHE-ECDSA-CHACHA20-POLY1305",
        iana: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        suite: CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        key_exchange: "ecdhe_ecdsa",
        cipher: "chacha20_poly1305",
    },
    Suite {
        openssl: "ECDHE-RSA-CHACHA20-POLY1305",
        iana: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        suite: CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        key_exchange: "ecdhe_rsa",
        cipher: "chacha20_poly1305",
    },
];

/// How RabbitMQ describes a negotiated suite: (`ssl_key_exchange`, `ssl_cipher`,
/// `ssl_hash`); every suite rustls offers is an AEAD one, so the hash is `aead`.
pub fn described(suite: CipherSuite) -> (&'static str, &'static str, &'static str) {
    SUITES
        .iter()
        .find(|s| s.suite == suite)
        .map_or(("unknown", "unknown", "unknown"), |s| {
            (s.key_exchange, s.cipher, "aead")
        })
}

fn suite_named(name: &str) -> Option<CipherSuite> {
    SUITES
        .iter()
        .find(|s| name.eq_ignore_ascii_case(s.openssl) || name.eq_ignore_ascii_case(s.iana))
        .map(|s| s.suite)
}

/// The names no suite Warren offers answers to (reported, not applied).
pub fn unknown(names: &[String]) -> Vec<String> {
    names
        .iter()
        .filter(|n| suite_named(n).is_none())
        .cloned()
        .collect()
}

/// `provider` offering only the named suites, in the order named (the server's preference);
/// None when no name matches (the listener cannot be configured). Empty `names`: all.
pub fn restrict(provider: CryptoProvider, names: &[String]) -> Option<CryptoProvider> {
    if names.is_empty() {
        return Some(provider);
    }
    let offered: Vec<SupportedCipherSuite> = names
        .iter()
        .filter_map(|n| suite_named(n))
        .filter_map(|wanted| {
            provider
                .cipher_suites
                .iter()
                .find(|s| s.suite() == wanted)
                .copied()
        })
        .fold(Vec::new(), |mut acc, s| {
            if !acc
                .iter()
                .any(|a: &SupportedCipherSuite| a.suite() == s.suite())
            {
                acc.push(s);
            }
            acc
        });
    if offered.is_empty() {
        return None;
    }
    Some(CryptoProvider {
        cipher_suites: offered,
        ..provider
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(deprecated)]
    fn ring() -> CryptoProvider {
        rustls::crypto::ring::default_provider()
    }

    #[test]
    fn openssl_and_iana_names_select_suites_in_the_order_given() {
        let names = vec![
            "ECDHE-RSA-AES128-GCM-SHA256".to_owned(),
            "tls_aes_256_gcm_sha384".to_owned(),
            "DHE-RSA-AES256-SHA".to_owned(),
            "ECDHE-RSA-AES128-GCM-SHA256".to_owned(),
        ];
        let p = restrict(ring(), &names).expect("two known names");
        let suites: Vec<CipherSuite> = p.cipher_suites.iter().map(|s| s.suite()).collect();
        assert_eq!(
            suites,
            [
                CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
                CipherSuite::TLS13_AES_256_GCM_SHA384
            ]
        );
        assert_eq!(unknown(&names), ["DHE-RSA-AES256-SHA"]);
    }

    #[test]
    fn every_suite_offered_is_described_as_erlang_does() {
        for suite in ring().cipher_suites {
            let (kx, cipher, hash) = described(suite.suite());
            assert!(
                kx != "unknown" && cipher != "unknown" && hash == "aead",
                "{suite:?}"
            );
        }
        assert_eq!(
            described(CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256),
            ("ecdhe_rsa", "aes_128_gcm", "aead")
        );
        assert_eq!(
            described(CipherSuite::TLS13_AES_256_GCM_SHA384),
            ("any", "aes_256_gcm", "aead")
        );
    }

    #[test]
    fn no_known_name_configures_nothing_and_no_names_keep_all() {
        assert!(restrict(ring(), &["AES256-SHA".to_owned()]).is_none());
        let all = ring().cipher_suites.len();
        assert_eq!(
            restrict(ring(), &[]).map(|p| p.cipher_suites.len()),
            Some(all)
        );
    }
}
