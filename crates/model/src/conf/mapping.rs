//! From a file's settings to [`Settings`]: which key sets which field, RabbitMQ's rules for
//! repeated and multi-valued keys, and the list of known keys Warren does not apply.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::error::ConfError;
use super::known_keys;
use super::settings::{
    CertLoginFrom, DiskFreeLimit, Listener, MemoryWatermark, RawSetting, Settings, SslOptions,
    TlsVersion,
};
use super::syntax::Entry;
use super::values;

const PORT: &str = "a port number from 0 to 65535";
const IP: &str = "an IP address such as 0.0.0.0 or ::";
const LISTENER: &str =
    "a port (5672) or an IP address and port (127.0.0.1:5672, ::1:5672) with a port up to 65535";
const NONE: &str = "none";
const VERIFY: &str = "verify_peer or verify_none";
const CERT_LOGIN_FROM: &str = "distinguished_name or common_name";
const TLS_VERSION: &str = "tlsv1.3, tlsv1.2, tlsv1.1 or tlsv1";
const TRUE_OR_FALSE: &str = "true or false";
const TEXT: &str = "a non-empty text";
const PATTERN: &str = "a regular expression";
const SECONDS: &str = "an integer number of seconds from 0 to 65535";
const CHANNELS: &str = "an integer from 0 to 65535";
const FRAME_BYTES: &str =
    "a size in bytes up to 4294967295, optionally with KB, MB or GB (1024-based), such as 131072 or 128KB";
const MESSAGE_BYTES: &str = "an integer number of bytes from 1 to 536870912 (512 MiB)";
const TIMEOUT_MS: &str = "an integer number of milliseconds, or infinity";
const POSITIVE_MS: &str = "an integer number of milliseconds, at least 1";
const CONSUMERS: &str = "a number of consumers, at least 1, or infinity";
const CONNECTIONS: &str = "a number of connections, or infinity";
const FRACTION_OF_RAM: &str = "a fraction of installed RAM such as 0.4";
const MULTIPLE_OF_RAM: &str = "a multiple of installed RAM such as 1.5";
const SIZE_WITH_UNIT: &str =
    "a number of bytes with an optional unit such as 50MB, 2GB, 1024MiB or 512k (kB/MB/GB are 1000-based; k/KiB, M/MiB, G/GiB 1024-based)";
const LEVEL: &str = "one of debug, info, notice, warning, error, critical, alert, emergency, none";

/// RabbitMQ's `max_message_size` ceiling.
const MAX_MESSAGE_SIZE_LIMIT_BYTES: u64 = 512 << 20;
/// The SASL mechanisms Warren's handshake implements.
const WARREN_MECHANISMS: [&str; 3] = ["PLAIN", "AMQPLAIN", "EXTERNAL"];

/// The settings of a parsed file; `path` only names the file in errors.
pub(super) fn settings(entries: Vec<Entry>, path: &Path) -> Result<Settings, ConfError> {
    let mut builder = Builder::default();
    for entry in last_of_each_key(entries) {
        builder.take(&Reading { entry, path })?;
    }
    Ok(builder.finish())
}

/// A repeated key keeps its last value (cuttlefish's rule); the rest stay in file order.
fn last_of_each_key(entries: Vec<Entry>) -> Vec<Entry> {
    let mut last_line: HashMap<Vec<String>, usize> = HashMap::new();
    for entry in &entries {
        last_line.insert(entry.segments.clone(), entry.line);
    }
    entries
        .into_iter()
        .filter(|entry| last_line.get(&entry.segments) == Some(&entry.line))
        .collect()
}

/// One entry being read, with what its errors need.
struct Reading<'a> {
    entry: Entry,
    path: &'a Path,
}

impl Reading<'_> {
    fn typed<T>(
        &self,
        parse: impl FnOnce(&str) -> Option<T>,
        expected: &'static str,
    ) -> Result<T, ConfError> {
        parse(&self.entry.value).ok_or_else(|| ConfError::BadValue {
            path: self.path.to_owned(),
            line: self.entry.line,
            key: self.entry.key.clone(),
            value: self.entry.value.clone(),
            expected,
        })
    }

    fn unknown(&self) -> ConfError {
        ConfError::UnknownKey {
            path: self.path.to_owned(),
            line: self.entry.line,
            key: self.entry.key.clone(),
            suggestions: known_keys::suggestions(&self.entry.segments),
        }
    }

    fn raw(&self) -> RawSetting {
        RawSetting {
            key: self.entry.key.clone(),
            value: self.entry.value.clone(),
            line: self.entry.line,
        }
    }
}

/// Fields that RabbitMQ computes from several keys, gathered until the whole file is read.
#[derive(Default)]
struct Builder {
    settings: Settings,
    tcp_listeners: Vec<(String, Listener)>,
    tcp_listeners_none: bool,
    loopback_users: Vec<(String, bool)>,
    loopback_users_none: bool,
    user_tags: Vec<(String, bool)>,
    mechanisms: Vec<(String, String)>,
    mechanisms_configured: bool,
    watermark_relative: Option<f64>,
    watermark_absolute_bytes: Option<u64>,
    disk_free_relative: Option<f64>,
    disk_free_absolute_bytes: Option<u64>,
    ssl_listeners: Vec<(String, Listener)>,
    ssl_listeners_none: bool,
    cluster_formation: Vec<RawSetting>,
}

impl Builder {
    fn take(&mut self, reading: &Reading) -> Result<(), ConfError> {
        let entry = &reading.entry;
        if !known_keys::is_known(&entry.segments) {
            return Err(reading.unknown());
        }
        let key: Vec<&str> = entry.segments.iter().map(String::as_str).collect();
        let value = entry.value.as_str();
        let settings = &mut self.settings;
        match key.as_slice() {
            ["listeners", "tcp"] => {
                reading.typed(none, NONE)?;
                self.tcp_listeners_none = true;
            }
            ["listeners", "tcp", name] => {
                let listener = reading.typed(values::listener, LISTENER)?;
                self.tcp_listeners.push((name.to_string(), listener));
            }
            ["listeners", "ssl"] => {
                reading.typed(none, NONE)?;
                self.ssl_listeners_none = true;
            }
            ["listeners", "ssl", name] => {
                let listener = reading.typed(values::listener, LISTENER)?;
                self.ssl_listeners.push((name.to_string(), listener));
            }
            ["ssl_options", option] => {
                if !ssl_option(reading, option, &mut settings.ssl_options)? {
                    self.unsupported(entry);
                }
            }
            ["ssl_options", "ciphers", key] => {
                let name = reading.typed(text, TEXT)?;
                settings.ssl_options.add_cipher(key, &name);
            }
            [plugin @ ("management" | "prometheus"), "ssl", "ciphers", key] => {
                let name = reading.typed(text, TEXT)?;
                settings.https_listener(plugin).tls.add_cipher(key, &name);
            }
            ["ssl_handshake_timeout"] => {
                let ms =
                    reading.typed(|t| values::integer(t).filter(|ms| *ms >= 1), POSITIVE_MS)?;
                settings.ssl_handshake_timeout_ms = Some(ms);
            }
            ["ssl_options", "versions", _] => match reading.typed(tls_version, TLS_VERSION)? {
                Some(v) => settings.ssl_options.versions.push(v),
                None => self.unsupported(entry),
            },
            [plugin @ ("management" | "prometheus"), "ssl", "versions", _] => {
                let https = settings.https_listener(plugin);
                match reading.typed(tls_version, TLS_VERSION)? {
                    Some(v) => https.tls.versions.push(v),
                    None => self.unsupported(entry),
                }
            }
            [plugin @ ("management" | "prometheus"), "ssl", option] => {
                let https = settings.https_listener(plugin);
                match *option {
                    "port" => https.port = Some(reading.typed(values::integer, PORT)?),
                    "ip" => https.ip = Some(reading.typed(values::ip, IP)?),
                    option => {
                        if !ssl_option(reading, option, &mut https.tls)? {
                            self.unsupported(entry);
                        }
                    }
                }
            }
            ["cluster_formation", ..] => self.cluster_formation.push(reading.raw()),
            ["management", "tcp", "port"] => {
                settings.management_port = Some(reading.typed(values::integer, PORT)?);
            }
            ["management", "tcp", "ip"] => {
                settings.management_ip = Some(reading.typed(values::ip, IP)?);
            }
            ["prometheus", "tcp", "port"] => {
                settings.prometheus_port = Some(reading.typed(values::integer, PORT)?);
            }
            ["prometheus", "return_per_object_metrics"] => {
                let on = reading.typed(values::boolean, TRUE_OR_FALSE)?;
                settings.prometheus_per_object = Some(on);
            }
            ["default_user"] => settings.default_user = Some(value.to_owned()),
            ["default_pass"] => settings.default_pass = Some(value.to_owned()),
            ["default_vhost"] => settings.default_vhost = Some(value.to_owned()),
            ["default_user_tags", tag] => {
                let on = reading.typed(values::boolean, TRUE_OR_FALSE)?;
                self.user_tags.push((tag.to_string(), on));
            }
            ["default_permissions", "configure"] => {
                settings.default_permissions_configure = Some(reading.typed(pattern, PATTERN)?);
            }
            ["default_permissions", "read"] => {
                settings.default_permissions_read = Some(reading.typed(pattern, PATTERN)?);
            }
            ["default_permissions", "write"] => {
                settings.default_permissions_write = Some(reading.typed(pattern, PATTERN)?);
            }
            ["loopback_users"] => {
                reading.typed(none, NONE)?;
                self.loopback_users_none = true;
            }
            ["loopback_users", user] => {
                let on = reading.typed(values::boolean, TRUE_OR_FALSE)?;
                self.loopback_users.push((user.to_string(), on));
            }
            ["auth_mechanisms", name] => {
                self.mechanisms_configured = true;
                if WARREN_MECHANISMS.contains(&value) {
                    self.mechanisms.push((name.to_string(), value.to_owned()));
                } else {
                    self.unsupported(entry);
                }
            }
            ["ssl_cert_login_from"] => {
                let from = reading.typed(cert_login_from, CERT_LOGIN_FROM)?;
                settings.ssl_cert_login_from = Some(from);
            }
            ["load_definitions"] => {
                settings.definitions_file = Some(PathBuf::from(reading.typed(text, TEXT)?));
            }
            ["heartbeat"] => settings.heartbeat_s = Some(reading.typed(values::integer, SECONDS)?),
            ["frame_max"] => {
                let bytes = reading.typed(|t| values::bytesize(t)?.try_into().ok(), FRAME_BYTES)?;
                settings.frame_max_bytes = Some(bytes);
            }
            ["channel_max"] => {
                settings.channel_max = Some(reading.typed(values::integer, CHANNELS)?);
            }
            ["max_message_size"] => {
                let bytes = reading.typed(
                    |t| {
                        values::integer(t)
                            .filter(|b| (1..=MAX_MESSAGE_SIZE_LIMIT_BYTES).contains(b))
                    },
                    MESSAGE_BYTES,
                )?;
                settings.max_message_size_bytes = Some(bytes);
            }
            ["handshake_timeout"] if value == "infinity" => self.unsupported(entry),
            ["handshake_timeout"] => {
                settings.handshake_timeout_ms = Some(reading.typed(values::integer, TIMEOUT_MS)?);
            }
            ["consumer_timeout"] => {
                let ms =
                    reading.typed(|t| values::integer(t).filter(|ms| *ms >= 1), POSITIVE_MS)?;
                settings.consumer_timeout_ms = Some(ms);
            }
            ["connection_max"] if value == "infinity" => settings.connection_max = Some(None),
            ["connection_max"] => {
                let max = reading.typed(values::integer, CONNECTIONS)?;
                settings.connection_max = Some(Some(max));
            }
            ["consumer_max_per_channel"] if value == "infinity" => {
                settings.consumer_max_per_channel = Some(None);
            }
            ["consumer_max_per_channel"] => {
                let max = reading.typed(|t| values::integer(t).filter(|n| *n >= 1), CONSUMERS)?;
                settings.consumer_max_per_channel = Some(Some(max));
            }
            ["vm_memory_high_watermark", "relative"] => {
                self.watermark_relative = Some(reading.typed(values::fraction, FRACTION_OF_RAM)?);
            }
            ["vm_memory_high_watermark", "absolute"] => {
                let bytes = reading.typed(values::information_bytes, SIZE_WITH_UNIT)?;
                self.watermark_absolute_bytes = Some(bytes);
            }
            ["disk_free_limit", "relative"] => {
                self.disk_free_relative = Some(reading.typed(values::fraction, MULTIPLE_OF_RAM)?);
            }
            ["disk_free_limit", "absolute"] => {
                let bytes = reading.typed(values::information_bytes, SIZE_WITH_UNIT)?;
                self.disk_free_absolute_bytes = Some(bytes);
            }
            ["log", "console", "level"] => {
                settings.log_console_level = Some(reading.typed(values::log_level, LEVEL)?);
            }
            // Warren always logs to the console: `true` asks for what it does already.
            ["log", "console"] => {
                if !reading.typed(values::boolean, TRUE_OR_FALSE)? {
                    self.unsupported(entry);
                }
            }
            _ => self.unsupported(entry),
        }
        // Cluster formation is kept for later but not applied yet.
        if matches!(key.as_slice(), ["cluster_formation", ..]) {
            self.unsupported(entry);
        }
        Ok(())
    }

    fn unsupported(&mut self, entry: &Entry) {
        self.settings
            .unsupported
            .push((entry.key.clone(), entry.line));
    }

    fn finish(self) -> Settings {
        let mut settings = self.settings;
        settings.amqp_listeners = if self.tcp_listeners_none {
            Some(Vec::new())
        } else {
            (!self.tcp_listeners.is_empty()).then(|| by_name(self.tcp_listeners))
        };
        settings.loopback_users = if self.loopback_users_none {
            Some(Vec::new())
        } else {
            (!self.loopback_users.is_empty()).then(|| names_set_true(self.loopback_users))
        };
        settings.default_user_tags =
            (!self.user_tags.is_empty()).then(|| names_set_true(self.user_tags));
        settings.auth_mechanisms = self.mechanisms_configured.then(|| by_name(self.mechanisms));
        settings.vm_memory_high_watermark =
            match (self.watermark_relative, self.watermark_absolute_bytes) {
                (Some(fraction), _) => Some(MemoryWatermark::FractionOfRam(fraction)),
                (None, Some(bytes)) => Some(MemoryWatermark::Bytes(bytes)),
                (None, None) => None,
            };
        settings.disk_free_limit = match (self.disk_free_relative, self.disk_free_absolute_bytes) {
            (Some(multiple), _) => Some(DiskFreeLimit::MultipleOfRam(multiple)),
            (None, Some(bytes)) => Some(DiskFreeLimit::Bytes(bytes)),
            (None, None) => None,
        };
        settings.amqps_listeners = if self.ssl_listeners_none {
            Some(Vec::new())
        } else {
            (!self.ssl_listeners.is_empty()).then(|| by_name(self.ssl_listeners))
        };
        settings.cluster_formation = non_empty(self.cluster_formation);
        settings
    }
}

/// A certificate key Warren applies (the same under `ssl_options.`, `management.ssl.` and
/// `prometheus.ssl.`) into `tls`; false for the others (`versions.N`, `ciphers.N`, …).
fn ssl_option(reading: &Reading, option: &str, tls: &mut SslOptions) -> Result<bool, ConfError> {
    match option {
        "certfile" => tls.certfile = Some(PathBuf::from(reading.typed(text, TEXT)?)),
        "keyfile" => tls.keyfile = Some(PathBuf::from(reading.typed(text, TEXT)?)),
        "cacertfile" => tls.cacertfile = Some(PathBuf::from(reading.typed(text, TEXT)?)),
        "verify" => tls.verify_peer = Some(reading.typed(verify, VERIFY)?),
        "fail_if_no_peer_cert" => {
            tls.fail_if_no_peer_cert = Some(reading.typed(values::boolean, TRUE_OR_FALSE)?);
        }
        "honor_cipher_order" => {
            tls.honor_cipher_order = Some(reading.typed(values::boolean, TRUE_OR_FALSE)?);
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// `ssl_options.versions.N`: a version Warren offers, or None for RabbitMQ's older ones
/// (accepted, reported as not applied: rustls has no TLS 1.0 or 1.1).
fn tls_version(text: &str) -> Option<Option<TlsVersion>> {
    match text {
        "tlsv1.3" => Some(Some(TlsVersion::Tls13)),
        "tlsv1.2" => Some(Some(TlsVersion::Tls12)),
        "tlsv1.1" | "tlsv1" => Some(None),
        _ => None,
    }
}

/// `ssl_cert_login_from` (RabbitMQ also knows `subject_alternative_name`: not applied).
fn cert_login_from(text: &str) -> Option<CertLoginFrom> {
    match text {
        "distinguished_name" => Some(CertLoginFrom::DistinguishedName),
        "common_name" => Some(CertLoginFrom::CommonName),
        _ => None,
    }
}

/// `ssl_options.verify`: whether clients must present a certificate that is checked.
fn verify(text: &str) -> Option<bool> {
    match text {
        "verify_peer" => Some(true),
        "verify_none" => Some(false),
        _ => None,
    }
}

fn none(text: &str) -> Option<()> {
    (text == "none").then_some(())
}

fn text(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_owned())
}

/// A permission pattern as the broker compiles it (regex-lite); empty grants nothing.
fn pattern(text: &str) -> Option<String> {
    (text.is_empty() || regex_lite::Regex::new(text).is_ok()).then(|| text.to_owned())
}

/// Values of `prefix.$name` keys ordered by name, numeric names first and numerically, so
/// `auth_mechanisms.2` comes before `auth_mechanisms.10`.
fn by_name<T>(mut named: Vec<(String, T)>) -> Vec<T> {
    named.sort_by(|(a, _), (b, _)| name_order(a).cmp(&name_order(b)));
    named.into_iter().map(|(_, value)| value).collect()
}

fn name_order(name: &str) -> (bool, u128, &str) {
    match name.parse::<u128>() {
        Ok(number) => (false, number, name),
        Err(_) => (true, 0, name),
    }
}

/// The names of `prefix.$name = true` keys, sorted.
fn names_set_true(named: Vec<(String, bool)>) -> Vec<String> {
    let mut names: Vec<String> = named
        .into_iter()
        .filter_map(|(name, on)| on.then_some(name))
        .collect();
    names.sort();
    names
}

fn non_empty(raw: Vec<RawSetting>) -> Option<Vec<RawSetting>> {
    (!raw.is_empty()).then_some(raw)
}
