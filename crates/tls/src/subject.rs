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
    /// The issuer's distinguished name, written the same way (`peer_cert_issuer`).
    pub issuer: String,
    /// `START - END` as RabbitMQ writes a certificate's validity (`peer_cert_validity`:
    /// `2026-12-07T15:00:00Z - 2027-12-07T15:00:00Z`).
    pub validity: String,
}

/// The subject of a DER certificate; None if it does not parse (never for one rustls
/// verified).
pub fn subject(cert_der: &[u8]) -> Option<Subject> {
    let (_, cert) = X509Certificate::from_der(cert_der).ok()?;
    let name = cert.subject();
    let common_name = name.iter_common_name().next().and_then(value_text);
    let distinguished_name = distinguished_name(name);
    let validity = cert.validity();
    Some(Subject {
        common_name,
        distinguished_name,
        issuer: self::distinguished_name(cert.issuer()),
        validity: format!(
            "{} - {}",
            rfc3339_utc(validity.not_before.timestamp()),
            rfc3339_utc(validity.not_after.timestamp())
        ),
    })
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the Unix epoch (proleptic Gregorian, UTC).
fn rfc3339_utc(epoch_s: i64) -> String {
    let days = epoch_s.div_euclid(86_400);
    let secs = epoch_s.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
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
    use super::{escape, rfc3339_utc};

    #[test]
    fn validity_times_are_written_as_rabbitmq_writes_them() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(1_582_934_400), "2020-02-29T00:00:00Z");
        assert_eq!(rfc3339_utc(1_796_655_599), "2026-12-07T14:59:59Z");
        assert_eq!(rfc3339_utc(4_102_444_800), "2100-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(-1), "1969-12-31T23:59:59Z");
    }

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
