//! RabbitMQ definitions files, imported and exported through the control plane: every item
//! becomes a [`Command`]; what Warren cannot apply is reported, item by item, never dropped
//! silently.

use std::path::{Path, PathBuf};

use serde_json::Value;
use warren_model::command::{
    BindingSpec, Command, DestinationKind, ExchangeSpec, Origin, PermissionSpec, QueueSpec,
    TopicPermissionSpec, UserSpec, VhostSpec,
};
use warren_model::definitions::{
    BindingDefinition, Definitions, DefinitionsError, ExchangeDefinition, Item,
    ParameterDefinition, PermissionDefinition, PolicyItem, QueueDefinition, Section, Tags,
    TopicPermissionDefinition, UserDefinition, VhostDefinition,
};
use warren_model::json_args::{json_to_table, table_to_json};
use warren_model::limits::{self, LimitScope, LimitsChange};

use crate::auth::password;
use crate::broker::Broker;

/// The RabbitMQ release whose definitions format Warren writes.
pub const RABBITMQ_VERSION: &str = "3.10.8";

/// Global parameters RabbitMQ writes in every export that mean nothing to Warren.
const NODE_LOCAL_GLOBAL_PARAMETERS: [&str; 2] = ["internal_cluster_id", "cluster_name"];

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read definitions file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot parse definitions file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: DefinitionsError,
    },
}

/// Read and parse a definitions file.
pub fn load(path: &Path) -> Result<Definitions, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: path.to_owned(),
        source,
    })?;
    Definitions::from_json(&text).map_err(|source| LoadError::Parse {
        path: path.to_owned(),
        source,
    })
}

/// What an import could not apply, one line per item.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportReport {
    pub problems: Vec<String>,
}

impl ImportReport {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Apply `defs` (all of it, or for one vhost's definitions `scope` names the vhost items
/// without one belong to).
pub fn import(broker: &Broker, defs: &Definitions, scope: Option<&str>) -> ImportReport {
    let mut im = Importer {
        broker,
        scope,
        report: ImportReport::default(),
    };
    for ignored in &defs.ignored {
        im.problem(format!(
            "top-level key '{}' is not part of a definitions file; ignored",
            ignored.key
        ));
    }
    if scope.is_none() {
        im.section("user", &defs.users, Importer::user);
        im.section("vhost", &defs.vhosts, Importer::vhost);
        im.section("permission", &defs.permissions, Importer::permission);
        im.section(
            "topic permission",
            &defs.topic_permissions,
            Importer::topic_permission,
        );
    }
    if let Some(section) = &defs.parameters {
        for p in section.items() {
            im.parameter(p);
        }
        im.rejected("parameter", section);
    }
    if let Some(section) = &defs.global_parameters {
        for p in section.items() {
            if !NODE_LOCAL_GLOBAL_PARAMETERS.contains(&p.name.as_str()) {
                im.problem(format!(
                    "global parameter '{}': Warren has no such setting; not applied",
                    p.name
                ));
            }
        }
        im.rejected("global parameter", section);
    }
    im.section("policy", &defs.policies, Importer::policy);
    im.section("queue", &defs.queues, Importer::queue);
    im.section("exchange", &defs.exchanges, Importer::exchange);
    im.section("binding", &defs.bindings, Importer::binding);
    im.report
}

struct Importer<'a> {
    broker: &'a Broker,
    scope: Option<&'a str>,
    report: ImportReport,
}

impl Importer<'_> {
    fn problem(&mut self, text: String) {
        self.report.problems.push(text);
    }

    fn vhost_of(&self, item_vhost: &Option<String>) -> String {
        item_vhost
            .clone()
            .or_else(|| self.scope.map(str::to_owned))
            .unwrap_or_else(|| "/".to_owned())
    }

    fn run(&mut self, what: String, command: Command) {
        if let Err(e) = self.broker.execute(Origin::Operator, command) {
            self.problem(format!("{what}: {}", e.message));
        }
    }

    fn section<T: Item>(
        &mut self,
        kind: &str,
        section: &Option<Section<T>>,
        apply: fn(&mut Self, &T),
    ) {
        let Some(section) = section else {
            return;
        };
        for item in section.items() {
            apply(self, item);
        }
        self.rejected(kind, section);
    }

    fn rejected<T: Item>(&mut self, kind: &str, section: &Section<T>) {
        for (i, r) in section.rejected() {
            let problems: Vec<String> = r.problems.iter().map(|p| p.to_string()).collect();
            self.problem(format!(
                "{kind} #{} is malformed: {}",
                i + 1,
                problems.join("; ")
            ));
        }
    }

    fn user(&mut self, u: &UserDefinition) {
        let what = format!("user '{}'", u.name);
        let (password_hash, hashing_algorithm) = match (&u.password_hash, &u.password) {
            (Some(hash), _) => {
                let algorithm = u
                    .hashing_algorithm
                    .clone()
                    .unwrap_or_else(|| password::DEFAULT_ALGORITHM.to_owned());
                if !password::KNOWN_ALGORITHMS.contains(&algorithm.as_str()) {
                    self.problem(format!(
                        "{what}: password hashing algorithm '{algorithm}' is not supported; not imported"
                    ));
                    return;
                }
                (hash.clone(), algorithm)
            }
            (None, Some(plain)) => (
                password::hash_password(plain.as_bytes()),
                password::DEFAULT_ALGORITHM.to_owned(),
            ),
            (None, None) => {
                self.problem(format!(
                    "{what}: neither password_hash nor password; not imported"
                ));
                return;
            }
        };
        let spec = UserSpec {
            name: u.name.clone(),
            password_hash,
            hashing_algorithm,
            tags: u.effective_tags(),
        };
        self.run(what.clone(), Command::PutUser(spec));
        // The limits given are merged with those set; an empty or absent `limits` leaves
        // them as they are (RabbitMQ's `update_limits(add, …)`).
        let Some(map) = u.limits.as_ref().filter(|l| !l.is_empty()) else {
            return;
        };
        match limits::check_all(LimitScope::User, map) {
            Ok(limits) => self.run(
                what,
                Command::ChangeUserLimits {
                    user: u.name.clone(),
                    change: LimitsChange::Merge(limits),
                },
            ),
            Err(e) => self.problem(format!("{what}: {e}; limits not applied")),
        }
    }

    /// A runtime parameter: Warren knows the `vhost-limits` component (one parameter named
    /// `limits` per vhost holding all its limits).
    fn parameter(&mut self, p: &ParameterDefinition) {
        // One vhost's definitions name their vhost on parameters; RabbitMQ applies them to
        // the vhost being imported into.
        let vhost = match self.scope {
            Some(scope) => scope.to_owned(),
            None => self.vhost_of(&p.vhost),
        };
        let what = format!(
            "runtime parameter '{}' of component '{}' in vhost '{vhost}'",
            p.name, p.component
        );
        if p.component != "vhost-limits" {
            self.problem(format!(
                "{what}: Warren does not implement this component; not applied"
            ));
            return;
        }
        match limits::vhost_limits_parameter(&p.component, &p.name, &p.value) {
            Ok(limits) => self.run(
                what,
                Command::ChangeVhostLimits {
                    vhost,
                    change: LimitsChange::Replace(limits),
                },
            ),
            Err(e) => self.problem(format!("{what}: {e}; not applied")),
        }
    }

    fn vhost(&mut self, v: &VhostDefinition) {
        let default_queue_type = match v.default_queue_type() {
            None | Some("undefined") => None,
            Some("classic") => Some("classic".to_owned()),
            Some(other) => {
                self.problem(format!(
                    "vhost '{}': default queue type '{other}' is not supported; created as classic",
                    v.name
                ));
                None
            }
        };
        let spec = VhostSpec {
            name: v.name.clone(),
            description: v.effective_description().to_owned(),
            tags: v.effective_tags(),
            default_queue_type,
        };
        self.run(format!("vhost '{}'", v.name), Command::AddVhost(spec));
    }

    fn permission(&mut self, p: &PermissionDefinition) {
        let spec = PermissionSpec {
            user: p.user.clone(),
            vhost: p.vhost.clone(),
            configure: p.configure.clone(),
            write: p.write.clone(),
            read: p.read.clone(),
        };
        let what = format!("permissions of user '{}' in vhost '{}'", p.user, p.vhost);
        self.run(what, Command::SetPermissions(spec));
    }

    fn topic_permission(&mut self, p: &TopicPermissionDefinition) {
        let spec = TopicPermissionSpec {
            user: p.user.clone(),
            vhost: p.vhost.clone(),
            exchange: p.exchange.clone(),
            write: p.write.clone(),
            read: p.read.clone(),
        };
        let what = format!(
            "topic permissions of user '{}' in vhost '{}'",
            p.user, p.vhost
        );
        self.run(what, Command::SetTopicPermissions(spec));
    }

    fn policy(&mut self, p: &PolicyItem) {
        let vhost = self.vhost_of(&p.vhost);
        match p.to_policy(&vhost) {
            Ok(policy) => self.run(
                format!("policy '{}' in vhost '{vhost}'", p.name),
                Command::SetPolicy(policy),
            ),
            Err(e) => {
                let reason = e.definitions_import_reason(&vhost, &p.name, self.scope.is_some());
                self.problem(format!("policy '{}' in vhost '{vhost}': {reason}", p.name));
            }
        }
    }

    fn arguments(
        &mut self,
        what: &str,
        arguments: &Option<Value>,
    ) -> Option<warren_codec::types::FieldTable> {
        match arguments {
            None => Some(Default::default()),
            Some(Value::Array(a)) if a.is_empty() => Some(Default::default()),
            Some(v) => match json_to_table(v) {
                Ok(t) => Some(t),
                Err(e) => {
                    self.problem(format!("{what}: arguments: {e}; not imported"));
                    None
                }
            },
        }
    }

    fn queue(&mut self, q: &QueueDefinition) {
        let vhost = self.vhost_of(&q.vhost);
        let what = format!("queue '{}' in vhost '{vhost}'", q.name);
        let Some(arguments) = self.arguments(&what, &q.arguments) else {
            return;
        };
        // Quorum and stream queues are declared as classic ones: say so, as for vhosts.
        let kind = q
            .arguments
            .as_ref()
            .and_then(|a| a.get("x-queue-type"))
            .or_else(|| q.extra.get("type"))
            .and_then(Value::as_str);
        if let Some(kind @ ("quorum" | "stream")) = kind {
            self.problem(format!(
                "{what}: queue type '{kind}' is not supported; declared as classic"
            ));
        }
        self.run(
            what,
            Command::DeclareQueue(QueueSpec {
                vhost,
                name: q.name.clone(),
                server_named: false,
                durable: q.durable,
                exclusive: false,
                auto_delete: q.auto_delete,
                arguments,
            }),
        );
    }

    fn exchange(&mut self, x: &ExchangeDefinition) {
        let vhost = self.vhost_of(&x.vhost);
        // RabbitMQ skips the predeclared exchanges (they exist in every vhost).
        if x.name.starts_with("amq.") || x.name.is_empty() {
            return;
        }
        let what = format!("exchange '{}' in vhost '{vhost}'", x.name);
        let Some(arguments) = self.arguments(&what, &x.arguments) else {
            return;
        };
        self.run(
            what,
            Command::DeclareExchange(ExchangeSpec {
                vhost,
                name: x.name.clone(),
                kind: x.kind.clone(),
                durable: x.durable,
                auto_delete: x.auto_delete,
                internal: x.internal.unwrap_or(false),
                arguments,
            }),
        );
    }

    fn binding(&mut self, b: &BindingDefinition) {
        let vhost = self.vhost_of(&b.vhost);
        let what = format!(
            "binding from '{}' to {} '{}' in vhost '{vhost}'",
            b.source, b.destination_type, b.destination
        );
        let Some(destination_kind) = DestinationKind::parse(&b.destination_type) else {
            self.problem(format!("{what}: unknown destination_type; not imported"));
            return;
        };
        let Some(arguments) = self.arguments(&what, &b.arguments) else {
            return;
        };
        self.run(
            what,
            Command::Bind(BindingSpec {
                vhost,
                source: b.source.clone(),
                destination_kind,
                destination: b.destination.clone(),
                routing_key: b.routing_key.clone(),
                arguments,
            }),
        );
    }
}

fn json_args(t: &warren_codec::types::FieldTable) -> Value {
    table_to_json(t).unwrap_or_else(|_| Value::Object(Default::default()))
}

/// The runtime parameters Warren has (of all vhosts, or of one): each vhost's limits as the
/// `vhost-limits` parameter named `limits`, which names its vhost even in one vhost's
/// definitions (RabbitMQ 3.10).
pub fn runtime_parameters(broker: &Broker, scope: Option<&str>) -> Vec<ParameterDefinition> {
    let mut parameters: Vec<ParameterDefinition> = broker
        .vhosts()
        .iter()
        .filter(|v| scope.is_none_or(|s| s == &*v.name))
        .filter_map(|v| {
            let limits = v.limits.lock().clone();
            (!limits.is_empty()).then(|| ParameterDefinition {
                value: Value::Object(limits.into_iter().map(|(k, n)| (k, n.into())).collect()),
                vhost: Some(v.name.to_string()),
                component: "vhost-limits".to_owned(),
                name: "limits".to_owned(),
                ..ParameterDefinition::default()
            })
        })
        .collect();
    parameters.sort_by(|a, b| a.vhost.cmp(&b.vhost));
    parameters
}

/// The broker's definitions (all, or one vhost's as RabbitMQ writes them: no users, vhosts,
/// permissions or vhost names on items).
pub fn export(broker: &Broker, scope: Option<&str>) -> Definitions {
    let in_scope = |v: &str| scope.is_none_or(|s| s == v);
    let item_vhost = |v: &str| scope.is_none().then(|| v.to_owned());
    let mut defs = Definitions {
        rabbit_version: Some(RABBITMQ_VERSION.into()),
        ..Definitions::default()
    };
    if scope.is_none() {
        defs.rabbitmq_version = Some(RABBITMQ_VERSION.into());
        defs.product_name = Some("Warren".into());
        defs.product_version = Some(env!("CARGO_PKG_VERSION").into());
        let mut users = broker.user_infos();
        users.sort_by(|a, b| a.name.cmp(&b.name));
        defs.users = Some(Section::from_items(users.into_iter().map(|u| {
            UserDefinition {
                name: u.name,
                password_hash: Some(u.password_hash),
                hashing_algorithm: Some(u.hashing_algorithm),
                tags: Some(Tags::List(u.tags)),
                limits: Some(u.limits.into_iter().map(|(k, v)| (k, v.into())).collect()),
                ..UserDefinition::default()
            }
        })));
        let mut vhosts = broker.vhost_infos();
        vhosts.sort_by(|a, b| a.spec.name.cmp(&b.spec.name));
        defs.vhosts = Some(Section::from_items(vhosts.into_iter().map(|v| {
            VhostDefinition {
                name: v.spec.name,
                ..VhostDefinition::default()
            }
        })));
        let mut permissions = broker.permission_infos();
        permissions.sort_by(|a, b| (&a.vhost, &a.user).cmp(&(&b.vhost, &b.user)));
        defs.permissions = Some(Section::from_items(permissions.into_iter().map(|p| {
            PermissionDefinition {
                user: p.user,
                vhost: p.vhost,
                configure: p.configure,
                write: p.write,
                read: p.read,
                ..PermissionDefinition::default()
            }
        })));
        let mut topic = broker.topic_permission_infos();
        topic.sort_by(|a, b| {
            (&a.vhost, &a.user, &a.exchange).cmp(&(&b.vhost, &b.user, &b.exchange))
        });
        defs.topic_permissions = Some(Section::from_items(topic.into_iter().map(|p| {
            TopicPermissionDefinition {
                user: p.user,
                vhost: p.vhost,
                exchange: p.exchange,
                write: p.write,
                read: p.read,
                ..TopicPermissionDefinition::default()
            }
        })));
        defs.global_parameters = Some(Section::from_items([]));
    }
    defs.parameters = Some(Section::from_items(runtime_parameters(broker, scope)));
    defs.policies = Some(Section::from_items(
        broker.policy_list(scope).into_iter().map(|p| PolicyItem {
            vhost: item_vhost(&p.vhost),
            name: p.name,
            pattern: Value::String(p.pattern),
            apply_to: Some(Value::String(p.apply_to.as_str().to_owned())),
            definition: Value::Object(p.definition.into_map()),
            priority: Some(Value::from(p.priority)),
            ..PolicyItem::default()
        }),
    ));
    let mut queues = broker.queue_infos(scope);
    queues.retain(|q| !q.exclusive && in_scope(&q.vhost));
    queues.sort_by(|a, b| (&a.vhost, &a.name).cmp(&(&b.vhost, &b.name)));
    defs.queues = Some(Section::from_items(queues.into_iter().map(|q| {
        QueueDefinition {
            vhost: item_vhost(&q.vhost),
            name: q.name,
            durable: q.durable,
            auto_delete: q.auto_delete,
            arguments: Some(json_args(&q.arguments)),
            ..QueueDefinition::default()
        }
    })));
    let mut exchanges = broker.exchange_infos(scope);
    exchanges.retain(|x| !x.name.is_empty() && !x.name.starts_with("amq.") && in_scope(&x.vhost));
    exchanges.sort_by(|a, b| (&a.vhost, &a.name).cmp(&(&b.vhost, &b.name)));
    defs.exchanges = Some(Section::from_items(exchanges.into_iter().map(|x| {
        ExchangeDefinition {
            vhost: item_vhost(&x.vhost),
            name: x.name,
            kind: x.kind,
            durable: x.durable,
            auto_delete: x.auto_delete,
            internal: Some(x.internal),
            arguments: Some(json_args(&x.arguments)),
            ..ExchangeDefinition::default()
        }
    })));
    let exclusive: std::collections::HashSet<(String, String)> = broker
        .queue_infos(scope)
        .into_iter()
        .filter(|q| q.exclusive)
        .map(|q| (q.vhost, q.name))
        .collect();
    let mut bindings = broker.binding_infos(scope);
    bindings.retain(|b| {
        !b.source.is_empty()
            && in_scope(&b.vhost)
            && !(b.destination_kind == DestinationKind::Queue
                && exclusive.contains(&(b.vhost.clone(), b.destination.clone())))
    });
    bindings.sort_by(|a, b| {
        (&a.vhost, &a.source, &a.destination, &a.routing_key).cmp(&(
            &b.vhost,
            &b.source,
            &b.destination,
            &b.routing_key,
        ))
    });
    defs.bindings = Some(Section::from_items(bindings.into_iter().map(|b| {
        BindingDefinition {
            source: b.source,
            vhost: item_vhost(&b.vhost),
            destination: b.destination,
            destination_type: b.destination_kind.as_str().to_owned(),
            routing_key: b.routing_key,
            arguments: Some(json_args(&b.arguments)),
            ..BindingDefinition::default()
        }
    })));
    defs
}
