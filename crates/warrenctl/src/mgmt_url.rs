//! The management API base URL (`--url`) and percent-encoding of names put into its paths.

/// `http://HOST[:PORT][/PREFIX]`, split for the HTTP client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MgmtUrl {
    pub host: String,
    pub port: u16,
    /// Path before `/api`, without a trailing slash (empty for the usual root mount).
    pub path_prefix: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MgmtUrlError {
    #[error("only http:// management URLs are supported (got {0:?}); TLS is not built in")]
    UnsupportedScheme(String),
    #[error("management URL {0:?} has no host")]
    MissingHost(String),
    #[error("management URL {0:?} has an invalid port")]
    InvalidPort(String),
}

impl MgmtUrl {
    pub fn parse(text: &str) -> Result<Self, MgmtUrlError> {
        let rest = match text.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some(_) => return Err(MgmtUrlError::UnsupportedScheme(text.to_string())),
            None => text,
        };
        let (authority, path) = match rest.find('/') {
            Some(slash) => rest.split_at(slash),
            None => (rest, ""),
        };
        // user:password@ in the URL is not used for auth (--user/--password are); drop it.
        let authority = authority.rsplit('@').next().unwrap_or(authority);
        let (host, port_text) = split_host_port(authority);
        if host.is_empty() {
            return Err(MgmtUrlError::MissingHost(text.to_string()));
        }
        let port = match port_text {
            None => 80,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| MgmtUrlError::InvalidPort(text.to_string()))?,
        };
        Ok(MgmtUrl {
            host: host.to_string(),
            port,
            path_prefix: path.trim_end_matches('/').to_string(),
        })
    }

    /// `/api/…` under the configured prefix.
    pub fn api_path(&self, path_under_api: &str) -> String {
        format!("{}/api{}", self.path_prefix, path_under_api)
    }
}

fn split_host_port(authority: &str) -> (&str, Option<&str>) {
    if let Some(bracketed) = authority.strip_prefix('[') {
        // [::1]:15672
        return match bracketed.split_once(']') {
            Some((host, rest)) => (host, rest.strip_prefix(':')),
            None => (authority, None),
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    }
}

/// Percent-encodes one path segment or query value: everything but RFC 3986 unreserved
/// characters, so the vhost `/` becomes `%2F` and a queue `a b/c` becomes `a%20b%2Fc`.
pub fn encode_segment(name: &str) -> String {
    let mut encoded = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_vhost_and_names_with_spaces_slashes_and_unicode_are_encoded() {
        assert_eq!(encode_segment("/"), "%2F");
        assert_eq!(encode_segment("ctl q/3"), "ctl%20q%2F3");
        assert_eq!(encode_segment("a.b-c_d~e"), "a.b-c_d~e");
        assert_eq!(encode_segment("é#?%"), "%C3%A9%23%3F%25");
    }

    #[test]
    fn url_with_port_and_prefix_is_split() {
        let url = MgmtUrl::parse("http://127.0.0.1:15680/rabbit/").expect("url");
        assert_eq!(url.host, "127.0.0.1");
        assert_eq!(url.port, 15680);
        assert_eq!(url.api_path("/overview"), "/rabbit/api/overview");
    }

    #[test]
    fn bare_host_port_and_ipv6_are_accepted() {
        let url = MgmtUrl::parse("localhost:15672").expect("url");
        assert_eq!((url.host.as_str(), url.port), ("localhost", 15672));
        let url = MgmtUrl::parse("http://[::1]:15672").expect("url");
        assert_eq!((url.host.as_str(), url.port), ("::1", 15672));
        assert_eq!(MgmtUrl::parse("http://h").expect("url").port, 80);
    }

    #[test]
    fn https_and_bad_ports_are_refused_with_a_reason() {
        assert!(matches!(
            MgmtUrl::parse("https://h:15671"),
            Err(MgmtUrlError::UnsupportedScheme(_))
        ));
        assert!(matches!(
            MgmtUrl::parse("http://h:notaport"),
            Err(MgmtUrlError::InvalidPort(_))
        ));
        assert!(matches!(
            MgmtUrl::parse("http://:15672"),
            Err(MgmtUrlError::MissingHost(_))
        ));
    }
}
