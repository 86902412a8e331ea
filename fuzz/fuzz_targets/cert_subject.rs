//! Client certificate subjects on arbitrary bytes: SASL EXTERNAL reads the subject of the
//! certificate a client presented. rustls verifies it first, but the parser must still take
//! any DER without panicking, and what it returns must be well-formed: a distinguished name
//! of `TYPE=value` parts (escaped, so a name never contains a bare control character).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(subject) = warren_tls::subject(data) else {
        return;
    };
    assert!(
        !subject.distinguished_name.chars().any(|c| c.is_control()),
        "unescaped control character in {:?}",
        subject.distinguished_name
    );
    if subject.common_name.is_some() {
        assert!(
            subject.distinguished_name.contains("CN="),
            "a common name not in {:?}",
            subject.distinguished_name
        );
    }
});
