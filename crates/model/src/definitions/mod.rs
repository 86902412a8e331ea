//! The RabbitMQ 3.x definitions file, both directions: what `GET /api/definitions` (and
//! `GET /api/definitions/{vhost}`, and `rabbitmqctl export_definitions`) write and what
//! `POST /api/definitions` and `rabbitmqctl import_definitions` read.
//!
//! Reading is lenient where RabbitMQ's importer is and explicit where it is silent:
//! - a top-level key RabbitMQ does not know is kept in [`Definitions::ignored`] (RabbitMQ
//!   ignores it without a word);
//! - an item that is not an object or lacks a field or has one of the wrong type is kept raw as
//!   a [`RejectedItem`] with its problems, so one bad queue does not hide the others;
//! - [`Definitions::validate`] adds what the importer would refuse or skip (bad policies,
//!   `null` arguments, unknown exchange types, `amq.*` names, ...).
//!
//! Writing puts the keys in 3.10.8's order, so re-serialising its export gives the same bytes.

mod hashing;
mod items;
mod reader;
mod validate;

pub use hashing::HashingAlgorithm;
pub use items::{
    BindingDefinition, ExchangeDefinition, GlobalParameterDefinition, Item, ParameterDefinition,
    PermissionDefinition, PolicyItem, QueueDefinition, Tags, TopicPermissionDefinition,
    UserDefinition, VhostDefinition, VhostMetadata,
};
pub use reader::{FieldProblem, JsonType};
pub use validate::{Problem, ProblemKind};

use serde::{Serialize, Serializer};
use serde_json::Value;

/// A definitions file's sections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SectionName {
    Users,
    Vhosts,
    Permissions,
    TopicPermissions,
    Parameters,
    GlobalParameters,
    Policies,
    Queues,
    Exchanges,
    Bindings,
}

impl SectionName {
    pub const ALL: [SectionName; 10] = [
        SectionName::Users,
        SectionName::Vhosts,
        SectionName::Permissions,
        SectionName::TopicPermissions,
        SectionName::Parameters,
        SectionName::GlobalParameters,
        SectionName::Policies,
        SectionName::Queues,
        SectionName::Exchanges,
        SectionName::Bindings,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SectionName::Users => "users",
            SectionName::Vhosts => "vhosts",
            SectionName::Permissions => "permissions",
            SectionName::TopicPermissions => "topic_permissions",
            SectionName::Parameters => "parameters",
            SectionName::GlobalParameters => "global_parameters",
            SectionName::Policies => "policies",
            SectionName::Queues => "queues",
            SectionName::Exchanges => "exchanges",
            SectionName::Bindings => "bindings",
        }
    }

    /// Whether `POST /api/definitions/{vhost}` (a single vhost's import) reads this section;
    /// it ignores users, vhosts, permissions, topic permissions and global parameters.
    pub fn read_by_vhost_import(self) -> bool {
        matches!(
            self,
            SectionName::Parameters
                | SectionName::Policies
                | SectionName::Queues
                | SectionName::Exchanges
                | SectionName::Bindings
        )
    }
}

impl std::fmt::Display for SectionName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The version and product keys, in the order RabbitMQ writes them.
const VERSION_KEYS: [&str; 4] = [
    "rabbit_version",
    "rabbitmq_version",
    "product_name",
    "product_version",
];

/// Why a definitions file cannot be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DefinitionsError {
    /// Not JSON (RabbitMQ: 400 `failed_to_parse_json`).
    #[error("not JSON: {message} at line {line} column {column}")]
    NotJson {
        message: String,
        line: usize,
        column: usize,
    },
    /// JSON, but not an object.
    #[error("definitions must be a JSON object, found {found}")]
    NotAnObject { found: JsonType },
    /// A version key that is not a string, or a section that is not a list (RabbitMQ crashes:
    /// 500 with an empty body).
    #[error("'{key}' must be {expected}, found {found}")]
    WrongType {
        key: &'static str,
        expected: &'static str,
        found: JsonType,
    },
}

impl DefinitionsError {
    /// The management API's answer: 400 `failed_to_parse_json` for unreadable JSON, else the
    /// 500 RabbitMQ fails with (`None`: empty body).
    pub fn http_status_and_reason(&self) -> (u16, Option<&'static str>) {
        match self {
            DefinitionsError::NotJson { .. } => (400, Some("failed_to_parse_json")),
            _ => (500, None),
        }
    }
}

/// A top-level key RabbitMQ does not read, with its value.
#[derive(Debug, Clone, PartialEq)]
pub struct IgnoredKey {
    pub key: String,
    pub value: Value,
}

/// An item that could not be read, kept as it was.
#[derive(Debug, Clone, PartialEq)]
pub struct RejectedItem {
    pub raw: Value,
    pub problems: Vec<FieldProblem>,
}

/// One position of a section: a read item or a rejected one.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry<T> {
    Item(T),
    Rejected(RejectedItem),
}

/// A section's items in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct Section<T> {
    entries: Vec<Entry<T>>,
}

impl<T> Default for Section<T> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
        }
    }
}

impl<T: Item> Section<T> {
    /// A section of items (for exports).
    pub fn from_items(items: impl IntoIterator<Item = T>) -> Self {
        Self {
            entries: items.into_iter().map(Entry::Item).collect(),
        }
    }

    fn read(items: &[Value]) -> Self {
        let entries = items
            .iter()
            .map(|raw| match raw {
                Value::Object(map) => match T::read(map) {
                    Ok(item) => Entry::Item(item),
                    Err(problems) => Entry::Rejected(RejectedItem {
                        raw: raw.clone(),
                        problems,
                    }),
                },
                other => Entry::Rejected(RejectedItem {
                    raw: other.clone(),
                    problems: vec![FieldProblem::NotAnObject {
                        found: JsonType::of(other),
                    }],
                }),
            })
            .collect();
        Self { entries }
    }

    /// Every position, read or rejected, in file order.
    pub fn entries(&self) -> &[Entry<T>] {
        &self.entries
    }

    /// The items that could be read.
    pub fn items(&self) -> impl Iterator<Item = &T> {
        self.entries.iter().filter_map(|e| match e {
            Entry::Item(item) => Some(item),
            Entry::Rejected(_) => None,
        })
    }

    /// The items that could not be read, with their index in the section.
    pub fn rejected(&self) -> impl Iterator<Item = (usize, &RejectedItem)> {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match e {
                Entry::Rejected(r) => Some((i, r)),
                Entry::Item(_) => None,
            })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn push(&mut self, item: T) {
        self.entries.push(Entry::Item(item));
    }
}

impl<T: Serialize> Serialize for Section<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(Some(self.entries.len()))?;
        for entry in &self.entries {
            match entry {
                Entry::Item(item) => seq.serialize_element(item)?,
                Entry::Rejected(rejected) => seq.serialize_element(&rejected.raw)?,
            }
        }
        seq.end()
    }
}

/// A definitions file. Absent sections are `None` (a single vhost's file has no users, for
/// one) and stay absent when written.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Definitions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rabbit_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rabbitmq_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub users: Option<Section<UserDefinition>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vhosts: Option<Section<VhostDefinition>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Section<PermissionDefinition>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic_permissions: Option<Section<TopicPermissionDefinition>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Section<ParameterDefinition>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub global_parameters: Option<Section<GlobalParameterDefinition>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policies: Option<Section<PolicyItem>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queues: Option<Section<QueueDefinition>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exchanges: Option<Section<ExchangeDefinition>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bindings: Option<Section<BindingDefinition>>,
    /// Top-level keys RabbitMQ ignores, in key order. Not written back.
    #[serde(skip)]
    pub ignored: Vec<IgnoredKey>,
}

impl Definitions {
    /// Parse a definitions file.
    pub fn from_json(text: &str) -> Result<Definitions, DefinitionsError> {
        let value: Value = serde_json::from_str(text).map_err(|e| DefinitionsError::NotJson {
            message: e.to_string(),
            line: e.line(),
            column: e.column(),
        })?;
        Self::from_value(&value)
    }

    /// Read an already parsed definitions file.
    pub fn from_value(value: &Value) -> Result<Definitions, DefinitionsError> {
        let Value::Object(top) = value else {
            return Err(DefinitionsError::NotAnObject {
                found: JsonType::of(value),
            });
        };
        let version = |key: &'static str| -> Result<Option<String>, DefinitionsError> {
            match top.get(key) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(DefinitionsError::WrongType {
                    key,
                    expected: "a string",
                    found: JsonType::of(other),
                }),
            }
        };
        let section_items = |name: SectionName| -> Result<Option<&Vec<Value>>, DefinitionsError> {
            match top.get(name.as_str()) {
                None => Ok(None),
                Some(Value::Array(items)) => Ok(Some(items)),
                Some(other) => Err(DefinitionsError::WrongType {
                    key: name.as_str(),
                    expected: "a list",
                    found: JsonType::of(other),
                }),
            }
        };
        fn read<T: Item>(items: Option<&Vec<Value>>) -> Option<Section<T>> {
            items.map(|items| Section::read(items))
        }
        let ignored = top
            .iter()
            .filter(|(key, _)| {
                !VERSION_KEYS.contains(&key.as_str())
                    && !SectionName::ALL.iter().any(|s| s.as_str() == key.as_str())
            })
            .map(|(key, value)| IgnoredKey {
                key: key.clone(),
                value: value.clone(),
            })
            .collect();
        Ok(Definitions {
            rabbit_version: version("rabbit_version")?,
            rabbitmq_version: version("rabbitmq_version")?,
            product_name: version("product_name")?,
            product_version: version("product_version")?,
            users: read(section_items(SectionName::Users)?),
            vhosts: read(section_items(SectionName::Vhosts)?),
            permissions: read(section_items(SectionName::Permissions)?),
            topic_permissions: read(section_items(SectionName::TopicPermissions)?),
            parameters: read(section_items(SectionName::Parameters)?),
            global_parameters: read(section_items(SectionName::GlobalParameters)?),
            policies: read(section_items(SectionName::Policies)?),
            queues: read(section_items(SectionName::Queues)?),
            exchanges: read(section_items(SectionName::Exchanges)?),
            bindings: read(section_items(SectionName::Bindings)?),
            ignored,
        })
    }

    /// The file as compact JSON, keys in RabbitMQ's order.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("definitions serialize to JSON")
    }

    /// The version the file was exported from (`rabbitmq_version`, else `rabbit_version`), as
    /// the importer reads it to pick a default hashing algorithm.
    pub fn version(&self) -> Option<&str> {
        self.rabbitmq_version
            .as_deref()
            .or(self.rabbit_version.as_deref())
    }

    /// The sections present in the file.
    pub fn present_sections(&self) -> Vec<SectionName> {
        let present = [
            self.users.is_some(),
            self.vhosts.is_some(),
            self.permissions.is_some(),
            self.topic_permissions.is_some(),
            self.parameters.is_some(),
            self.global_parameters.is_some(),
            self.policies.is_some(),
            self.queues.is_some(),
            self.exchanges.is_some(),
            self.bindings.is_some(),
        ];
        SectionName::ALL
            .into_iter()
            .zip(present)
            .filter_map(|(name, present)| present.then_some(name))
            .collect()
    }

    /// Sections present that a single vhost's import (`POST /api/definitions/{vhost}`)
    /// ignores, for reporting them.
    pub fn ignored_by_vhost_import(&self) -> Vec<SectionName> {
        self.present_sections()
            .into_iter()
            .filter(|s| !s.read_by_vhost_import())
            .collect()
    }
}

impl<'de> serde::Deserialize<'de> for Definitions {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Definitions::from_value(&value).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_top_level_keys_are_reported_not_dropped_silently() {
        let defs = Definitions::from_value(
            &json!({"rabbit_version": "3.10.8", "bogus": [1], "queues": []}),
        )
        .unwrap();
        assert_eq!(
            defs.ignored,
            vec![IgnoredKey {
                key: "bogus".into(),
                value: json!([1])
            }]
        );
        assert_eq!(defs.present_sections(), [SectionName::Queues]);
    }

    #[test]
    fn a_bad_item_is_rejected_alone_and_kept_for_writing_back() {
        let file = json!({"queues": [
            {"name": "a", "durable": true, "auto_delete": false, "arguments": {}},
            {"name": "b", "durable": "yes", "auto_delete": false},
            1
        ]});
        let defs = Definitions::from_value(&file).unwrap();
        let queues = defs.queues.as_ref().unwrap();
        assert_eq!(
            queues.items().map(|q| q.name.as_str()).collect::<Vec<_>>(),
            ["a"]
        );
        let rejected: Vec<(usize, &RejectedItem)> = queues.rejected().collect();
        assert_eq!(rejected.len(), 2);
        assert_eq!(rejected[0].0, 1);
        assert_eq!(
            rejected[0].1.problems,
            [FieldProblem::WrongType {
                field: "durable",
                expected: "a boolean",
                found: JsonType::String
            }]
        );
        assert_eq!(
            rejected[1].1.problems,
            [FieldProblem::NotAnObject {
                found: JsonType::Number
            }]
        );
        assert_eq!(serde_json::to_value(&defs).unwrap(), file);
    }

    #[test]
    fn structural_errors_are_typed() {
        assert!(matches!(
            Definitions::from_json("{x"),
            Err(DefinitionsError::NotJson { line: 1, .. })
        ));
        assert_eq!(
            Definitions::from_value(&json!([])),
            Err(DefinitionsError::NotAnObject {
                found: JsonType::Array
            })
        );
        assert_eq!(
            Definitions::from_value(&json!({"queues": {"name": "x"}})),
            Err(DefinitionsError::WrongType {
                key: "queues",
                expected: "a list",
                found: JsonType::Object
            })
        );
        assert_eq!(
            Definitions::from_json("{x")
                .unwrap_err()
                .http_status_and_reason(),
            (400, Some("failed_to_parse_json"))
        );
    }

    #[test]
    fn the_version_is_rabbitmq_version_else_rabbit_version() {
        let version = |v: Value| {
            Definitions::from_value(&v)
                .unwrap()
                .version()
                .map(str::to_owned)
        };
        assert_eq!(
            version(json!({"rabbit_version": "3.5.7"})).as_deref(),
            Some("3.5.7")
        );
        assert_eq!(
            version(json!({"rabbit_version": "3.10.8", "rabbitmq_version": "3.10.9"})).as_deref(),
            Some("3.10.9")
        );
        assert_eq!(version(json!({})), None);
    }

    #[test]
    fn a_vhost_import_ignores_the_node_wide_sections() {
        let defs =
            Definitions::from_value(&json!({"users": [], "policies": [], "vhosts": []})).unwrap();
        assert_eq!(
            defs.ignored_by_vhost_import(),
            [SectionName::Users, SectionName::Vhosts]
        );
    }
}
