//! The items of a definitions file, one type per section, with the keys in the order RabbitMQ
//! 3.10.8's `GET /api/definitions` writes them. Fields RabbitMQ does not read are kept in
//! `extra` (written back after the known ones) so nothing is lost on a round trip.

use serde::Serialize;
use serde_json::{Map, Value};

use super::reader::{FieldProblem, ItemReader};

/// One section item: how it is read, and the name it goes by in problem reports.
pub trait Item: Serialize + Sized {
    /// Read the item from its JSON object, reporting every field problem.
    fn read(map: &Map<String, Value>) -> Result<Self, Vec<FieldProblem>>;

    /// The item's name, if it has one (for messages).
    fn label(&self) -> Option<String>;
}

/// User or vhost tags: RabbitMQ exports a list and imports a list or a comma-separated string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Tags {
    List(Vec<String>),
    CommaSeparated(String),
}

impl Tags {
    /// User tags as `rabbit_auth_backend_internal:tag_list_from/1` reads them: a string is split
    /// at commas (empty pieces dropped), each tag stripped of spaces.
    pub fn user_tags(&self) -> Vec<String> {
        let strip = |s: &str| s.trim_matches(' ').to_owned();
        match self {
            Tags::List(tags) => tags.iter().map(|t| strip(t)).collect(),
            Tags::CommaSeparated(s) => s
                .split(',')
                .filter(|piece| !piece.is_empty())
                .map(strip)
                .collect(),
        }
    }

    /// Vhost tags as `rabbit_vhost:parse_tags/1` reads them: a string is split at every comma
    /// (empty pieces kept), each tag trimmed of whitespace; `""` means none.
    pub fn vhost_tags(&self) -> Vec<String> {
        match self {
            Tags::List(tags) => tags.iter().map(|t| t.trim().to_owned()).collect(),
            Tags::CommaSeparated(s) if s.is_empty() => Vec::new(),
            Tags::CommaSeparated(s) => s.split(',').map(|t| t.trim().to_owned()).collect(),
        }
    }
}

/// `users[]`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct UserDefinition {
    pub name: String,
    /// A clear-text password; RabbitMQ's importer takes it instead of `password_hash`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Base64 of salt and hash; "" for a user without a password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    /// `rabbit_password_hashing_sha256` and the like (see [`super::HashingAlgorithm`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hashing_algorithm: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
    /// `{"max-connections": n, "max-channels": n}`; 3.10 exports `{}` when none are set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<Map<String, Value>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl UserDefinition {
    /// The tags the importer gives the user: `tags`, else `["administrator"]` when a
    /// pre-3.0 file's `administrator` flag is true (`"true"` or `true`), else none.
    pub fn effective_tags(&self) -> Vec<String> {
        match (&self.tags, self.extra.get("administrator")) {
            (Some(tags), _) => tags.user_tags(),
            (None, Some(Value::Bool(true))) => vec!["administrator".to_owned()],
            (None, Some(Value::String(s))) if s == "true" => vec!["administrator".to_owned()],
            _ => Vec::new(),
        }
    }
}

impl Item for UserDefinition {
    fn read(map: &Map<String, Value>) -> Result<Self, Vec<FieldProblem>> {
        let mut r = ItemReader::new(map);
        let name = r.string("name");
        let password = r.optional_string("password");
        let password_hash = r.optional_string("password_hash");
        let hashing_algorithm = r.optional_string("hashing_algorithm");
        let tags = r.optional_tags("tags");
        let limits = r.optional_object("limits");
        let extra = r.finish()?;
        Ok(Self {
            name: name.unwrap_or_default(),
            password,
            password_hash,
            hashing_algorithm,
            tags,
            limits,
            extra,
        })
    }

    fn label(&self) -> Option<String> {
        Some(self.name.clone())
    }
}

/// `vhosts[].metadata`, as `rabbitmqctl export_definitions` writes it.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct VhostMetadata {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_queue_type: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `vhosts[]`. 3.10.8's management export writes only `name`; `rabbitmqctl
/// export_definitions` adds `limits` and `metadata`; the importer reads `description`, `tags`,
/// `tracing` and `metadata` (`description`, `tags`, `default_queue_type`).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct VhostDefinition {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracing: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<VhostMetadata>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl VhostDefinition {
    /// The description the importer sets: `description`, else `metadata.description`, else "".
    pub fn effective_description(&self) -> &str {
        self.description
            .as_deref()
            .or_else(|| self.metadata.as_ref()?.description.as_deref())
            .unwrap_or("")
    }

    /// The tags the importer sets: `tags`, else `metadata.tags`.
    pub fn effective_tags(&self) -> Vec<String> {
        self.tags
            .as_ref()
            .or_else(|| self.metadata.as_ref()?.tags.as_ref())
            .map(Tags::vhost_tags)
            .unwrap_or_default()
    }

    /// `metadata.default_queue_type` (the importer ignores a top-level one).
    pub fn default_queue_type(&self) -> Option<&str> {
        self.metadata.as_ref()?.default_queue_type.as_deref()
    }
}

impl Item for VhostDefinition {
    fn read(map: &Map<String, Value>) -> Result<Self, Vec<FieldProblem>> {
        let mut r = ItemReader::new(map);
        let name = r.string("name");
        let description = r.optional_string("description");
        let tags = r.optional_tags("tags");
        let tracing = r.optional_bool("tracing");
        let metadata = r.optional_object("metadata");
        let mut problems = Vec::new();
        let extra = r.finish().unwrap_or_else(|p| {
            problems = p;
            Map::new()
        });
        let metadata = match metadata {
            None => None,
            Some(m) => {
                let mut r = ItemReader::new(&m);
                let description = r.optional_string("description");
                let tags = r.optional_tags("tags");
                let default_queue_type = r.optional_string("default_queue_type");
                match r.finish() {
                    Ok(extra) => Some(VhostMetadata {
                        description,
                        tags,
                        default_queue_type,
                        extra,
                    }),
                    Err(p) => {
                        problems.extend(p);
                        None
                    }
                }
            }
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Self {
            name: name.unwrap_or_default(),
            description,
            tags,
            tracing,
            metadata,
            extra,
        })
    }

    fn label(&self) -> Option<String> {
        Some(self.name.clone())
    }
}

/// `permissions[]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct PermissionDefinition {
    pub user: String,
    pub vhost: String,
    pub configure: String,
    pub write: String,
    pub read: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Item for PermissionDefinition {
    fn read(map: &Map<String, Value>) -> Result<Self, Vec<FieldProblem>> {
        let mut r = ItemReader::new(map);
        let (user, vhost) = (r.string("user"), r.string("vhost"));
        let (configure, write, read) = (r.string("configure"), r.string("write"), r.string("read"));
        let extra = r.finish()?;
        Ok(Self {
            user: user.unwrap_or_default(),
            vhost: vhost.unwrap_or_default(),
            configure: configure.unwrap_or_default(),
            write: write.unwrap_or_default(),
            read: read.unwrap_or_default(),
            extra,
        })
    }

    fn label(&self) -> Option<String> {
        Some(format!("{}@{}", self.user, self.vhost))
    }
}

/// `topic_permissions[]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct TopicPermissionDefinition {
    pub user: String,
    pub vhost: String,
    pub exchange: String,
    pub write: String,
    pub read: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Item for TopicPermissionDefinition {
    fn read(map: &Map<String, Value>) -> Result<Self, Vec<FieldProblem>> {
        let mut r = ItemReader::new(map);
        let (user, vhost, exchange) = (r.string("user"), r.string("vhost"), r.string("exchange"));
        let (write, read) = (r.string("write"), r.string("read"));
        let extra = r.finish()?;
        Ok(Self {
            user: user.unwrap_or_default(),
            vhost: vhost.unwrap_or_default(),
            exchange: exchange.unwrap_or_default(),
            write: write.unwrap_or_default(),
            read: read.unwrap_or_default(),
            extra,
        })
    }

    fn label(&self) -> Option<String> {
        Some(format!("{}@{}", self.user, self.vhost))
    }
}

/// `parameters[]`: runtime parameters (vhost limits, federation upstreams, shovels,
/// operator policies ...), `value` first as RabbitMQ writes them.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct ParameterDefinition {
    pub value: Value,
    /// Absent in a single vhost's definitions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vhost: Option<String>,
    pub component: String,
    pub name: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Item for ParameterDefinition {
    fn read(map: &Map<String, Value>) -> Result<Self, Vec<FieldProblem>> {
        let mut r = ItemReader::new(map);
        let value = r.value("value");
        let vhost = r.optional_string("vhost");
        let (component, name) = (r.string("component"), r.string("name"));
        let extra = r.finish()?;
        Ok(Self {
            value: value.unwrap_or_default(),
            vhost,
            component: component.unwrap_or_default(),
            name: name.unwrap_or_default(),
            extra,
        })
    }

    fn label(&self) -> Option<String> {
        Some(format!("{}/{}", self.component, self.name))
    }
}

/// `global_parameters[]` (`internal_cluster_id`, `cluster_name`, ...).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct GlobalParameterDefinition {
    pub name: String,
    pub value: Value,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Item for GlobalParameterDefinition {
    fn read(map: &Map<String, Value>) -> Result<Self, Vec<FieldProblem>> {
        let mut r = ItemReader::new(map);
        let (name, value) = (r.string("name"), r.value("value"));
        let extra = r.finish()?;
        Ok(Self {
            name: name.unwrap_or_default(),
            value: value.unwrap_or_default(),
            extra,
        })
    }

    fn label(&self) -> Option<String> {
        Some(self.name.clone())
    }
}

/// `policies[]`. Pattern, apply-to, definition and priority stay raw JSON: the policy module
/// validates them together ([`PolicyItem::to_policy`]).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct PolicyItem {
    /// Absent in a single vhost's definitions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vhost: Option<String>,
    pub name: String,
    pub pattern: Value,
    #[serde(rename = "apply-to", skip_serializing_if = "Option::is_none")]
    pub apply_to: Option<Value>,
    pub definition: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl PolicyItem {
    /// The policy, validated as the importer validates it. `vhost` is used when the item has
    /// none (a single vhost's definitions). A definition that is a list is refused with
    /// RabbitMQ's import texts ("no policy provided", "definition must be a dictionary").
    pub fn to_policy(
        &self,
        vhost: &str,
    ) -> Result<crate::policy::Policy, crate::policy::PolicyValidationError> {
        let vhost = self.vhost.as_deref().unwrap_or(vhost);
        let definition = match &self.definition {
            Value::Array(items) if items.is_empty() => Value::Object(Map::new()),
            other => other.clone(),
        };
        crate::policy::Policy::from_parts(
            vhost,
            &self.name,
            &self.pattern,
            &definition,
            self.priority.as_ref(),
            self.apply_to.as_ref(),
        )
    }
}

impl Item for PolicyItem {
    fn read(map: &Map<String, Value>) -> Result<Self, Vec<FieldProblem>> {
        let mut r = ItemReader::new(map);
        let vhost = r.optional_string("vhost");
        let name = r.string("name");
        let pattern = r.value("pattern");
        let apply_to = r.optional_value("apply-to");
        let definition = r.value("definition");
        let priority = r.optional_value("priority");
        let extra = r.finish()?;
        Ok(Self {
            vhost,
            name: name.unwrap_or_default(),
            pattern: pattern.unwrap_or_default(),
            apply_to,
            definition: definition.unwrap_or_default(),
            priority,
            extra,
        })
    }

    fn label(&self) -> Option<String> {
        Some(self.name.clone())
    }
}

/// `queues[]`. Exclusive queues are never exported; `rabbitmqctl export_definitions` adds
/// `type` (kept in `extra`; the importer reads `x-queue-type` from the arguments).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct QueueDefinition {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vhost: Option<String>,
    pub durable: bool,
    pub auto_delete: bool,
    /// A JSON object (or `[]`), converted with [`crate::json_args::json_to_table`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Item for QueueDefinition {
    fn read(map: &Map<String, Value>) -> Result<Self, Vec<FieldProblem>> {
        let mut r = ItemReader::new(map);
        let name = r.string("name");
        let vhost = r.optional_string("vhost");
        let (durable, auto_delete) = (r.bool("durable"), r.bool("auto_delete"));
        let arguments = r.optional_value("arguments");
        let extra = r.finish()?;
        Ok(Self {
            name: name.unwrap_or_default(),
            vhost,
            durable: durable.unwrap_or_default(),
            auto_delete: auto_delete.unwrap_or_default(),
            arguments,
            extra,
        })
    }

    fn label(&self) -> Option<String> {
        Some(self.name.clone())
    }
}

/// `exchanges[]`. The default exchange and `amq.*` exchanges are never exported.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct ExchangeDefinition {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vhost: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub durable: bool,
    pub auto_delete: bool,
    /// Absent in files from before RabbitMQ 2.2; the importer then uses false.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub internal: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Item for ExchangeDefinition {
    fn read(map: &Map<String, Value>) -> Result<Self, Vec<FieldProblem>> {
        let mut r = ItemReader::new(map);
        let name = r.string("name");
        let vhost = r.optional_string("vhost");
        let kind = r.string("type");
        let (durable, auto_delete) = (r.bool("durable"), r.bool("auto_delete"));
        let internal = r.optional_bool("internal");
        let arguments = r.optional_value("arguments");
        let extra = r.finish()?;
        Ok(Self {
            name: name.unwrap_or_default(),
            vhost,
            kind: kind.unwrap_or_default(),
            durable: durable.unwrap_or_default(),
            auto_delete: auto_delete.unwrap_or_default(),
            internal,
            arguments,
            extra,
        })
    }

    fn label(&self) -> Option<String> {
        Some(self.name.clone())
    }
}

/// `bindings[]`. Bindings from the default exchange are never exported.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct BindingDefinition {
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vhost: Option<String>,
    pub destination: String,
    /// "queue" or "exchange".
    pub destination_type: String,
    pub routing_key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Item for BindingDefinition {
    fn read(map: &Map<String, Value>) -> Result<Self, Vec<FieldProblem>> {
        let mut r = ItemReader::new(map);
        let source = r.string("source");
        let vhost = r.optional_string("vhost");
        let destination = r.string("destination");
        let destination_type = r.string("destination_type");
        let routing_key = r.string("routing_key");
        let arguments = r.optional_value("arguments");
        let extra = r.finish()?;
        Ok(Self {
            source: source.unwrap_or_default(),
            vhost,
            destination: destination.unwrap_or_default(),
            destination_type: destination_type.unwrap_or_default(),
            routing_key: routing_key.unwrap_or_default(),
            arguments,
            extra,
        })
    }

    fn label(&self) -> Option<String> {
        Some(format!("{} -> {}", self.source, self.destination))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn user_tags_split_commas_and_strip_spaces() {
        assert_eq!(
            Tags::CommaSeparated("management, monitoring,,".into()).user_tags(),
            ["management", "monitoring"]
        );
        assert_eq!(Tags::List(vec![" a ".into()]).user_tags(), ["a"]);
    }

    #[test]
    fn a_pre_3_0_administrator_flag_stands_for_tags() {
        let read = |v: Value| UserDefinition::read(v.as_object().unwrap()).unwrap();
        assert_eq!(
            read(json!({"name": "u", "administrator": "true"})).effective_tags(),
            ["administrator"]
        );
        assert!(read(json!({"name": "u", "administrator": false}))
            .effective_tags()
            .is_empty());
        assert_eq!(
            read(json!({"name": "u", "tags": "a", "administrator": true})).effective_tags(),
            ["a"]
        );
    }

    #[test]
    fn vhost_tags_keep_empty_pieces_except_for_the_empty_string() {
        assert_eq!(Tags::CommaSeparated("a, b".into()).vhost_tags(), ["a", "b"]);
        assert_eq!(
            Tags::CommaSeparated("a,,b".into()).vhost_tags(),
            ["a", "", "b"]
        );
        assert!(Tags::CommaSeparated(String::new()).vhost_tags().is_empty());
    }

    #[test]
    fn vhost_description_and_tags_fall_back_to_metadata() {
        let item = json!({"name": "v", "metadata": {"description": "d", "tags": ["t"], "default_queue_type": "quorum"}});
        let vhost = VhostDefinition::read(item.as_object().unwrap()).unwrap();
        assert_eq!(vhost.effective_description(), "d");
        assert_eq!(vhost.effective_tags(), ["t"]);
        assert_eq!(vhost.default_queue_type(), Some("quorum"));
        let item = json!({"name": "v", "description": "top", "metadata": {"description": "d"}});
        let vhost = VhostDefinition::read(item.as_object().unwrap()).unwrap();
        assert_eq!(vhost.effective_description(), "top");
    }

    #[test]
    fn unknown_item_fields_survive_a_round_trip() {
        let item = json!({"name": "q", "vhost": "/", "durable": true, "auto_delete": false, "arguments": {}, "type": "quorum"});
        let queue = QueueDefinition::read(item.as_object().unwrap()).unwrap();
        assert_eq!(queue.extra.get("type"), Some(&json!("quorum")));
        assert_eq!(serde_json::to_value(&queue).unwrap(), item);
    }
}
