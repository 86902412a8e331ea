//! Who a client certificate names, for SASL EXTERNAL: its subject's common name, or the whole
//! distinguished name formatted as RabbitMQ formats it (`rabbit_cert_info`: RFC 4514, the
//! RDNs in reverse order, RabbitMQ's short names for the usual attributes, dotted OIDs for
//! the rest, RFC 4514 escaping, non-printable bytes as `\XX`).

use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::x509::{AttributeTypeAndValue, X509Name};

/// The names a client certificate gives its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// The first common name (`ssl_cert_login_from = common_name`).
    pub common_name: Option<String>,
    /// RabbitMQ's string for the distinguished name (`ssl_cert_login_from =
    /// distinguished_name`, its default).
    pub distinguished_name: String,
}

/// The subject of a DER certificate; None if it does not parse (never for one rustls
/// verified).
pub fn subject(cert_der: &[u8]) -> Option<Subject> {
    let (_, cert) = X509Certificate::from_der(cert_der).ok()?;
    let name = cert.subject();
    let common_name = name.iter_common_name().next().and_then(value_text);
    let distinguished_name = distinguished_name(name);
    Some(Subject {
        common_name,
        distinguished_name,
    })
}

fn distinguished_name(name: &X509Name<'_>) -> String {
    let rdns: Vec<String> = name
        .iter()
        .map(|rdn| {
            rdn.iter()
                .map(|atv| {
                    let value = value_text(atv).unwrap_or_default();
                    format!("{}={}", attribute_name(atv), escape(&value))
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(",")
}

/// RabbitMQ's short name for an attribute type, else its dotted OID.
fn attribute_name(atv: &AttributeTypeAndValue<'_>) -> String {
    let oid = atv.attr_type().to_id_string();
    let short = match oid.as_str() {
        "2.5.4.4" => "SN",
        "2.5.4.42" => "GIVENNAME",
        "2.5.4.43" => "INITIALS",
        "2.5.4.44" => "GENERATIONQUALIFIER",
        "2.5.4.3" => "CN",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.12" => "TITLE",
        "2.5.4.6" => "C",
        "2.5.4.5" => "SERIALNUMBER",
        "2.5.4.65" => "PSEUDONYM",
        "0.9.2342.19200300.100.1.25" => "DC",
        "1.2.840.113549.1.9.1" => "EMAILADDRESS",
        "2.5.4.9" => "STREET",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return oid,
    };
    short.to_owned()
}

/// An attribute's value as text (the directory string types; others as x509-parser reads
/// them).
fn value_text(atv: &AttributeTypeAndValue<'_>) -> Option<String> {
    atv.as_str().ok().map(str::to_owned)
}

/// RFC 4514 escaping as RabbitMQ does it: a leading space or `#`, a trailing space, the
/// specials `"+,;<>\`, and bytes outside 32..126 (as `\XX` of each UTF-8 byte).
fn escape(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = String::with_capacity(value.len());
    for (i, &b) in bytes.iter().enumerate() {
        let first = i == 0;
        let last = i + 1 == bytes.len();
        match b {
            b' ' | b'#' if first => {
                out.push('\\');
                out.push(b as char);
            }
            b' ' if last => out.push_str("\\ "),
            b'"' | b'+' | b',' | b';' | b'<' | b'>' | b'\\' => {
                out.push('\\');
                out.push(b as char);
            }
            b if !(32..126).contains(&b) => out.push_str(&format!("\\{b:02X}")),
            b => out.push(b as char),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn values_are_escaped_as_rabbitmq_escapes_them() {
        assert_eq!(escape("plain"), "plain");
        assert_eq!(escape(" lead"), "\\ lead");
        assert_eq!(escape("#x"), "\\#x");
        assert_eq!(escape("trail "), "trail\\ ");
        assert_eq!(escape("a,b+c;d"), "a\\,b\\+c\\;d");
        assert_eq!(escape("é"), "\\C3\\A9");
        assert_eq!(escape("~"), "\\7E");
    }
}
