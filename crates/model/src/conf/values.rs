//! RabbitMQ's value datatypes read from text: integers, fractions, byte sizes with units,
//! listener addresses, booleans, log levels. Each returns `None` for text of another form.

use std::net::IpAddr;

use super::settings::{Listener, LogLevel};

/// Cuttlefish's `integer`: an optional sign and decimal digits, then range-checked into `T`.
pub(super) fn integer<T: TryFrom<i128>>(text: &str) -> Option<T> {
    T::try_from(text.parse::<i128>().ok()?).ok()
}

/// A decimal fraction such as `0.4`, `1.5` or `1` (RabbitMQ's `float`, which also wants the
/// dot; a whole number here is taken as it reads), not negative.
pub(super) fn fraction(text: &str) -> Option<f64> {
    let decimal = text.bytes().any(|b| b.is_ascii_digit())
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    let number: f64 = text.parse().ok().filter(|_| decimal)?;
    (number.is_finite() && number >= 0.0).then_some(number)
}

/// RabbitMQ's information units (`vm_memory_high_watermark.absolute`,
/// `disk_free_limit.absolute`): digits and an optional unit, no space. `k`/`K`/`KiB`/`kiB`/
/// `kib`/`KIB`/`Ki` are 1024; `kB`/`KB`/`kb`/`Kb` are 1000; likewise M, G and T (`TB`/`TiB`
/// forms only). Bare `k`, `M`, `G` are 1024-based as in RabbitMQ 3.10–3.12 (3.13 made them
/// 1000-based).
pub(super) fn information_bytes(text: &str) -> Option<u64> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let count: u64 = digits.parse().ok()?;
    count.checked_mul(information_unit(unit)?)
}

fn information_unit(unit: &str) -> Option<u64> {
    const KI: u64 = 1 << 10;
    const MI: u64 = 1 << 20;
    const GI: u64 = 1 << 30;
    const TI: u64 = 1 << 40;
    Some(match unit {
        "" => 1,
        "k" | "K" | "kiB" | "KiB" | "kib" | "KIB" | "ki" | "Ki" => KI,
        "kB" | "KB" | "kb" | "Kb" => 1_000,
        "m" | "M" | "MiB" | "MIB" | "mib" | "mi" | "Mi" => MI,
        "MB" | "mb" | "Mb" | "mB" => 1_000_000,
        "g" | "G" | "GiB" | "GIB" | "gib" | "gi" | "Gi" => GI,
        "GB" | "gb" | "Gb" | "gB" => 1_000_000_000,
        "TiB" | "TIB" | "tib" | "ti" | "Ti" => TI,
        "TB" | "tb" | "Tb" | "tB" => 1_000_000_000_000,
        _ => return None,
    })
}

/// Cuttlefish's `bytesize` (`frame_max`): digits and an optional `KB`, `MB` or `GB` in any
/// case, each 1024-based.
pub(super) fn bytesize(text: &str) -> Option<u64> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let count: u64 = digits.parse().ok()?;
    let scale: u64 = match unit.to_ascii_uppercase().as_str() {
        "" => 1,
        "KB" => 1 << 10,
        "MB" => 1 << 20,
        "GB" => 1 << 30,
        _ => return None,
    };
    count.checked_mul(scale)
}

/// `true` or `false`, lower case, as RabbitMQ's `{enum, [true, false]}`.
pub(super) fn boolean(text: &str) -> Option<bool> {
    match text {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// A listener: a bare port (every interface) or `ip:port`, the address split at the last
/// colon so `::1:5672` is IPv6 (`[::1]:5672` is accepted too).
pub(super) fn listener(text: &str) -> Option<Listener> {
    if let Some(port) = integer::<u16>(text) {
        return Some(Listener { ip: None, port });
    }
    let (host, port) = text.rsplit_once(':')?;
    let port = port.parse().ok()?;
    Some(Listener {
        ip: Some(ip(host)?),
        port,
    })
}

/// An IPv4 or IPv6 address, optionally in brackets.
pub(super) fn ip(text: &str) -> Option<IpAddr> {
    let bare = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    bare.parse().ok()
}

/// One of RabbitMQ's level names.
pub(super) fn log_level(text: &str) -> Option<LogLevel> {
    LogLevel::NAMES
        .iter()
        .find(|(name, _)| *name == text)
        .map(|(_, level)| *level)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_take_a_sign_but_no_spaces_or_fractions() {
        assert_eq!(integer::<u16>("60"), Some(60));
        assert_eq!(integer::<u16>("+60"), Some(60));
        assert_eq!(integer::<u16>("060"), Some(60));
        assert_eq!(integer::<u16>("-1"), None);
        assert_eq!(integer::<u16>("65536"), None);
        assert_eq!(integer::<u16>("1e3"), None);
        assert_eq!(integer::<u16>("abc"), None);
        assert_eq!(
            integer::<u64>("99999999999999999999999999999999999999999"),
            None
        );
    }

    #[test]
    fn fractions_are_plain_decimals_not_negative() {
        assert_eq!(fraction("0.4"), Some(0.4));
        assert_eq!(fraction("1.5"), Some(1.5));
        assert_eq!(fraction("1"), Some(1.0));
        assert_eq!(fraction("0"), Some(0.0));
        assert_eq!(fraction("2x"), None);
        assert_eq!(fraction("-0.4"), None);
        assert_eq!(fraction("inf"), None);
        assert_eq!(fraction("NaN"), None);
        assert_eq!(fraction("."), None);
        assert_eq!(fraction("40%"), None);
    }

    #[test]
    fn information_units_are_rabbitmqs() {
        assert_eq!(information_bytes("1073741824"), Some(1 << 30));
        assert_eq!(information_bytes("2GB"), Some(2_000_000_000));
        assert_eq!(information_bytes("1024MiB"), Some(1 << 30));
        assert_eq!(information_bytes("50MB"), Some(50_000_000));
        assert_eq!(information_bytes("50mb"), Some(50_000_000));
        assert_eq!(information_bytes("512k"), Some(512 << 10));
        assert_eq!(information_bytes("10kB"), Some(10_000));
        assert_eq!(information_bytes("4G"), Some(4 << 30));
        assert_eq!(information_bytes("4Gi"), Some(4 << 30));
        assert_eq!(information_bytes("1TB"), Some(1_000_000_000_000));
        assert_eq!(information_bytes("1 GB"), None);
        assert_eq!(information_bytes("1.5GB"), None);
        assert_eq!(information_bytes("50XB"), None);
        assert_eq!(information_bytes("GB"), None);
        assert_eq!(information_bytes(""), None);
        assert_eq!(information_bytes("99999999999GB"), None);
    }

    #[test]
    fn bytesizes_are_cuttlefishs() {
        assert_eq!(bytesize("131072"), Some(131_072));
        assert_eq!(bytesize("128KB"), Some(131_072));
        assert_eq!(bytesize("128kb"), Some(131_072));
        assert_eq!(bytesize("1MB"), Some(1 << 20));
        assert_eq!(bytesize("128K"), None);
        assert_eq!(bytesize("1KiB"), None);
        assert_eq!(bytesize("1.5MB"), None);
    }

    #[test]
    fn listeners_are_a_port_or_an_address_and_port() {
        let at = |ip: &str, port| {
            Some(Listener {
                ip: Some(ip.parse().unwrap()),
                port,
            })
        };
        assert_eq!(
            listener("5672"),
            Some(Listener {
                ip: None,
                port: 5672
            })
        );
        assert_eq!(listener("127.0.0.1:5672"), at("127.0.0.1", 5672));
        assert_eq!(listener("::1:5672"), at("::1", 5672));
        assert_eq!(listener(":::5672"), at("::", 5672));
        assert_eq!(listener("[::1]:5673"), at("::1", 5673));
        assert_eq!(listener("localhost:5672"), None);
        assert_eq!(listener("127.0.0.1"), None);
        assert_eq!(listener("127.0.0.1:99999"), None);
        assert_eq!(listener("70000"), None);
    }

    #[test]
    fn booleans_and_levels_are_lower_case_words() {
        assert_eq!(boolean("true"), Some(true));
        assert_eq!(boolean("false"), Some(false));
        assert_eq!(boolean("TRUE"), None);
        assert_eq!(boolean("yes"), None);
        assert_eq!(log_level("warning"), Some(LogLevel::Warning));
        assert_eq!(log_level("warn"), None);
    }
}
