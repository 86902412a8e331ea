//! Reading one definitions item (a JSON object) field by field, collecting every problem
//! instead of stopping at the first, and keeping the fields it does not know.

use serde_json::{Map, Value};

/// A JSON value's kind, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonType {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

impl JsonType {
    pub fn of(value: &Value) -> JsonType {
        match value {
            Value::Null => JsonType::Null,
            Value::Bool(_) => JsonType::Bool,
            Value::Number(_) => JsonType::Number,
            Value::String(_) => JsonType::String,
            Value::Array(_) => JsonType::Array,
            Value::Object(_) => JsonType::Object,
        }
    }
}

impl std::fmt::Display for JsonType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            JsonType::Null => "null",
            JsonType::Bool => "a boolean",
            JsonType::Number => "a number",
            JsonType::String => "a string",
            JsonType::Array => "an array",
            JsonType::Object => "an object",
        })
    }
}

/// What is wrong with one field of an item (or, with no field, the item itself).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FieldProblem {
    #[error("expected an object, found {found}")]
    NotAnObject { found: JsonType },
    #[error("missing field '{field}'")]
    Missing { field: &'static str },
    #[error("field '{field}': expected {expected}, found {found}")]
    WrongType {
        field: &'static str,
        expected: &'static str,
        found: JsonType,
    },
}

/// Reads fields off an object; [`ItemReader::finish`] hands back the unread ones.
pub(crate) struct ItemReader<'a> {
    map: &'a Map<String, Value>,
    read: Vec<&'static str>,
    problems: Vec<FieldProblem>,
}

impl<'a> ItemReader<'a> {
    pub(crate) fn new(map: &'a Map<String, Value>) -> Self {
        Self {
            map,
            read: Vec::new(),
            problems: Vec::new(),
        }
    }

    fn take(&mut self, field: &'static str) -> Option<&'a Value> {
        self.read.push(field);
        self.map.get(field)
    }

    fn typed<T>(
        &mut self,
        field: &'static str,
        required: bool,
        expected: &'static str,
        convert: impl Fn(&'a Value) -> Option<T>,
    ) -> Option<T> {
        match self.take(field) {
            None => {
                if required {
                    self.problems.push(FieldProblem::Missing { field });
                }
                None
            }
            Some(value) => {
                let converted = convert(value);
                if converted.is_none() {
                    self.problems.push(FieldProblem::WrongType {
                        field,
                        expected,
                        found: JsonType::of(value),
                    });
                }
                converted
            }
        }
    }

    pub(crate) fn string(&mut self, field: &'static str) -> Option<String> {
        self.typed(field, true, "a string", |v| v.as_str().map(str::to_owned))
    }

    pub(crate) fn optional_string(&mut self, field: &'static str) -> Option<String> {
        self.typed(field, false, "a string", |v| v.as_str().map(str::to_owned))
    }

    pub(crate) fn bool(&mut self, field: &'static str) -> Option<bool> {
        self.typed(field, true, "a boolean", Value::as_bool)
    }

    pub(crate) fn optional_bool(&mut self, field: &'static str) -> Option<bool> {
        self.typed(field, false, "a boolean", Value::as_bool)
    }

    /// A field of any JSON type that must be present.
    pub(crate) fn value(&mut self, field: &'static str) -> Option<Value> {
        self.typed(field, true, "a value", |v| Some(v.clone()))
    }

    /// A field of any JSON type.
    pub(crate) fn optional_value(&mut self, field: &'static str) -> Option<Value> {
        self.take(field).cloned()
    }

    pub(crate) fn optional_object(&mut self, field: &'static str) -> Option<Map<String, Value>> {
        self.typed(field, false, "an object", |v| v.as_object().cloned())
    }

    /// A list of strings or a comma-separated string.
    pub(crate) fn optional_tags(&mut self, field: &'static str) -> Option<super::Tags> {
        self.typed(field, false, "a string or a list of strings", |v| match v {
            Value::String(s) => Some(super::Tags::CommaSeparated(s.clone())),
            Value::Array(items) => items
                .iter()
                .map(|i| i.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .map(super::Tags::List),
            _ => None,
        })
    }

    /// The unread fields, or every problem met.
    pub(crate) fn finish(self) -> Result<Map<String, Value>, Vec<FieldProblem>> {
        if !self.problems.is_empty() {
            return Err(self.problems);
        }
        Ok(self
            .map
            .iter()
            .filter(|(k, _)| !self.read.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_problem_is_collected_and_unread_fields_kept() {
        let item = json!({"name": 1, "durable": true, "extra": "x"});
        let mut reader = ItemReader::new(item.as_object().unwrap());
        assert_eq!(reader.string("name"), None);
        assert_eq!(reader.bool("durable"), Some(true));
        assert_eq!(reader.bool("auto_delete"), None);
        assert_eq!(
            reader.finish().unwrap_err(),
            vec![
                FieldProblem::WrongType {
                    field: "name",
                    expected: "a string",
                    found: JsonType::Number
                },
                FieldProblem::Missing {
                    field: "auto_delete"
                },
            ]
        );
        let mut reader = ItemReader::new(item.as_object().unwrap());
        reader.optional_value("name");
        reader.bool("durable");
        assert_eq!(
            reader.finish().unwrap(),
            json!({"extra": "x"}).as_object().unwrap().clone()
        );
    }
}
