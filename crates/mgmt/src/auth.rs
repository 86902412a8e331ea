//! Who is asking: HTTP basic auth against the broker's users, and what their tags allow
//! (RabbitMQ's rules: `management` to use the API at all, `policymaker` for policies,
//! `monitoring` to see every vhost and connection, `administrator` for everything).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::{header, request::Parts};
use base64::Engine;

use crate::error::{ApiError, ApiResult};
use crate::Api;

/// An authenticated user of the API.
#[derive(Debug, Clone)]
pub struct Caller {
    pub name: String,
    pub tags: Vec<String>,
}

impl Caller {
    fn has(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }

    pub fn is_admin(&self) -> bool {
        self.has("administrator")
    }

    /// Sees every vhost, connection and channel, and node details.
    pub fn is_monitor(&self) -> bool {
        self.is_admin() || self.has("monitoring")
    }

    pub fn is_policymaker(&self) -> bool {
        self.is_admin() || self.has("policymaker")
    }

    pub fn is_management(&self) -> bool {
        self.is_monitor() || self.is_policymaker() || self.has("management")
    }

    pub fn require_admin(&self) -> ApiResult<()> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::not_authorised("Not administrator user"))
        }
    }

    pub fn require_monitor(&self) -> ApiResult<()> {
        if self.is_monitor() {
            Ok(())
        } else {
            Err(ApiError::not_authorised("Not monitor user"))
        }
    }

    /// A vhost the caller sees in vhost listings and totals: every vhost for monitors, else
    /// those the user has permissions in (RabbitMQ's `list_visible_vhosts`).
    pub fn sees_vhost(&self, api: &Api, vhost: &str) -> bool {
        if self.is_monitor() {
            return true;
        }
        self.has_permissions_in(api, vhost)
    }

    /// A vhost whose queues, exchanges and bindings the caller may list: every vhost for
    /// administrators, else only those the user has permissions in, monitoring or not
    /// (RabbitMQ's `filter_vhost` and `is_authorized_vhost`).
    pub fn lists_in_vhost(&self, api: &Api, vhost: &str) -> bool {
        self.is_admin() || self.has_permissions_in(api, vhost)
    }

    pub fn has_permissions_in(&self, api: &Api, vhost: &str) -> bool {
        api.broker
            .users
            .read()
            .permission(&self.name, vhost)
            .is_some()
    }

    /// Check the caller may act in `vhost` (RabbitMQ opens a channel there as the user).
    pub fn require_vhost_access(&self, api: &Api, vhost: &str) -> ApiResult<()> {
        if self.has_permissions_in(api, vhost) {
            Ok(())
        } else {
            Err(ApiError::not_authorised(
                "User not authorised to access virtual host",
            ))
        }
    }

    /// The caller's configure, write or read permission on a resource name in a vhost.
    pub fn require_permission(
        &self,
        api: &Api,
        vhost: &str,
        access: warren_broker::auth::Access,
        kind: warren_broker::auth::ResourceKind,
        name: &str,
    ) -> ApiResult<()> {
        let users = api.broker.users.read();
        let Some(permission) = users.permission(&self.name, vhost) else {
            return Err(ApiError::not_authorised(
                "User not authorised to access virtual host",
            ));
        };
        let grant = warren_broker::auth::Grant::new(&users, &self.name, vhost, permission.clone());
        grant.check(access, kind, name).map_err(ApiError::from)
    }
}

/// Decode `Authorization: Basic base64(user:password)`.
fn basic_credentials(parts: &Parts) -> Option<(String, String)> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_owned(), pass.to_owned()))
}

impl FromRequestParts<Arc<Api>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, api: &Arc<Api>) -> ApiResult<Self> {
        let Some((name, pass)) = basic_credentials(parts) else {
            return Err(ApiError::NoCredentials);
        };
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_canonical());
        // The failed-login brake: an address that keeps failing as one user waits before
        // each further answer for that user.
        let key = peer.map(|ip| {
            use std::hash::{Hash, Hasher};
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            name.hash(&mut hasher);
            (ip, hasher.finish())
        });
        if let Some(key) = &key {
            let delay = api
                .login_throttle
                .delay_for(key)
                .max(api.address_throttle.delay_for(&key.0));
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
        }
        let authenticated = api
            .broker
            .users
            .read()
            .authenticate(&name, pass.as_bytes())
            .map(|user| user.tags.clone());
        let tags = match (authenticated, &key) {
            (Some(tags), Some(key)) => {
                api.login_throttle.succeeded(key);
                tags
            }
            (Some(tags), None) => tags,
            (None, key) => {
                if let Some(key) = key {
                    api.login_throttle.failed(key);
                    api.address_throttle.failed(&key.0);
                }
                return Err(ApiError::LoginFailed);
            }
        };
        let loopback_only = api.broker.config.loopback_users.contains(&name);
        if loopback_only && !peer.is_some_and(|ip| ip.is_loopback()) {
            return Err(ApiError::not_authorised(
                "User can only log in via localhost",
            ));
        }
        let caller = Caller { name, tags };
        if !caller.is_management() {
            return Err(ApiError::not_authorised("Not management user"));
        }
        Ok(caller)
    }
}
