//! Listings as RabbitMQ serves them: sorted (by `sort`, a field or dotted path, then `vhost`
//! and `name`), trimmed to `columns`, and paginated when `page` is given; only then does
//! `name` filter them (a case-insensitive substring, or regex with `use_regex=true`).

use std::cmp::Ordering;
use std::collections::HashMap;

use axum::http::StatusCode;
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};

/// RabbitMQ refuses pages larger than this.
const PAGE_SIZE_MAX: usize = 500;
const PAGE_SIZE_DEFAULT: usize = 100;

/// The query parameters of a listing.
#[derive(Debug, Default, Clone)]
pub struct ListParams {
    pub page: Option<usize>,
    pub page_size: usize,
    pub name: Option<String>,
    pub use_regex: bool,
    pub sort: Option<String>,
    pub sort_reverse: bool,
    pub columns: Option<Vec<String>>,
}

impl ListParams {
    pub fn parse(query: &HashMap<String, String>) -> ApiResult<Self> {
        let number = |key: &str| -> ApiResult<Option<usize>> {
            match query.get(key) {
                None => Ok(None),
                Some(v) => v.parse().map(Some).map_err(|_| {
                    // RabbitMQ: a negative number is out of range, anything else not a number.
                    if v.parse::<i64>().is_ok() {
                        bad_pagination(query)
                    } else {
                        ApiError::bad_request("Pagination parameters are invalid")
                    }
                }),
            }
        };
        let page = number("page")?;
        let page_size = number("page_size")?.unwrap_or(PAGE_SIZE_DEFAULT);
        if page == Some(0) || page_size == 0 || page_size > PAGE_SIZE_MAX {
            return Err(bad_pagination(query));
        }
        let columns = query
            .get("columns")
            .filter(|c| !c.is_empty())
            .map(|c| c.split(',').map(str::to_owned).collect());
        Ok(Self {
            page,
            page_size,
            name: query.get("name").filter(|n| !n.is_empty()).cloned(),
            use_regex: query.get("use_regex").is_some_and(|v| v == "true"),
            sort: query.get("sort").filter(|s| !s.is_empty()).cloned(),
            sort_reverse: query.get("sort_reverse").is_some_and(|v| v == "true"),
            columns,
        })
    }
}

fn bad_pagination(query: &HashMap<String, String>) -> ApiError {
    let get = |k: &str| query.get(k).map_or("undefined", String::as_str).to_owned();
    ApiError::Other {
        status: StatusCode::BAD_REQUEST,
        error: "invalid_pagination_parameters",
        reason: format!(
            "Invalid pagination parameters: page number {}, page size {}",
            get("page"),
            get("page_size")
        ),
    }
}

/// The field at a dotted path (`message_stats.publish`).
fn field<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(value, |v, key| v.get(key))
}

/// A total order over JSON values: null < bool < number < string < array < object.
fn compare(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    fn rank(v: Option<&Value>) -> u8 {
        match v {
            None | Some(Value::Null) => 0,
            Some(Value::Bool(_)) => 1,
            Some(Value::Number(_)) => 2,
            Some(Value::String(_)) => 3,
            Some(Value::Array(_)) => 4,
            Some(Value::Object(_)) => 5,
        }
    }
    match (a, b) {
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        (Some(Value::Number(x)), Some(Value::Number(y))) => {
            let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            x.partial_cmp(&y).unwrap_or(Ordering::Equal)
        }
        (Some(Value::String(x)), Some(Value::String(y))) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
}

/// Keep only `columns` (dotted paths keep the nested objects leading to them).
fn trim(value: Value, columns: &[String]) -> Value {
    let mut out = Map::new();
    for column in columns {
        let Some(v) = field(&value, column) else {
            continue;
        };
        let mut keys = column.split('.').peekable();
        let mut at = &mut out;
        while let Some(key) = keys.next() {
            if keys.peek().is_none() {
                at.insert(key.to_owned(), v.clone());
                break;
            }
            let next = at
                .entry(key.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !next.is_object() {
                *next = Value::Object(Map::new());
            }
            let Value::Object(m) = next else {
                break;
            };
            at = m;
        }
    }
    Value::Object(out)
}

/// Serve a listing of `items` as JSON bytes: each item has a name (for the filter) and a
/// sort key (vhost, name) for the default order. Items are rendered one at a time as they
/// are written, so a listing of 100,000 queues holds one rendered object at a time, not
/// all of them; sorting by a field other than the name renders each item once more to read
/// its key.
pub fn list<T>(
    mut items: Vec<T>,
    params: &ListParams,
    name_of: impl Fn(&T) -> &str,
    default_key: impl Fn(&T) -> (&str, &str),
    render: impl Fn(&T) -> Value,
) -> ApiResult<Vec<u8>> {
    let total = items.len();
    // RabbitMQ filters by name as part of pagination: without `page`, `name` is ignored.
    if let (Some(_), Some(filter)) = (params.page, &params.name) {
        if params.use_regex {
            let re = regex_lite::RegexBuilder::new(filter)
                .case_insensitive(true)
                .build()
                .map_err(|e| ApiError::bad_request(format!("invalid regular expression: {e}")))?;
            items.retain(|i| re.is_match(name_of(i)));
        } else {
            let filter = filter.to_lowercase();
            items.retain(|i| name_of(i).to_lowercase().contains(&filter));
        }
    }
    let filtered = items.len();
    // Ties keep the default order (RabbitMQ sorts by the field, then vhost and name).
    items.sort_by(|a, b| default_key(a).cmp(&default_key(b)));
    let mut order: Vec<usize> = (0..items.len()).collect();
    if let Some(key) = &params.sort {
        // The name needs no rendering when the rendered "name" is the item's name.
        let name_is_field = key == "name"
            && items.first().is_some_and(|i| {
                field(&render(i), "name").and_then(Value::as_str) == Some(name_of(i))
            });
        if name_is_field {
            order.sort_by(|a, b| name_of(&items[*a]).cmp(name_of(&items[*b])));
        } else {
            let keys: Vec<Option<Value>> = items
                .iter()
                .map(|i| field(&render(i), key).cloned())
                .collect();
            order.sort_by(|a, b| compare(keys[*a].as_ref(), keys[*b].as_ref()));
        }
    }
    if params.sort_reverse {
        order.reverse();
    }
    let (start, end) = match params.page {
        None => (0, filtered),
        Some(page) => {
            let start = (page - 1).saturating_mul(params.page_size);
            // RabbitMQ (lists:sublist) answers the page just past the filtered items with
            // no items, and any later page with an error naming the filtered length.
            if start > filtered {
                return Err(ApiError::Other {
                    status: StatusCode::BAD_REQUEST,
                    error: "page_out_of_range",
                    reason: format!(
                        "Page out of range, page: {page} page size: {}, len: {filtered}",
                        params.page_size
                    ),
                });
            }
            (
                start.min(filtered),
                (start + params.page_size).min(filtered),
            )
        }
    };
    let mut out = Vec::new();
    if params.page.is_some() {
        out.extend_from_slice(
            format!(
                "{{\"filtered_count\":{filtered},\"item_count\":{},\"items\":",
                end - start
            )
            .as_bytes(),
        );
    }
    out.push(b'[');
    for (n, &i) in order[start..end].iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        let v = columns(render(&items[i]), params);
        serde_json::to_writer(&mut out, &v).map_err(|_| ApiError::Internal)?;
    }
    out.push(b']');
    if let Some(page) = params.page {
        out.extend_from_slice(
            format!(
                ",\"page\":{page},\"page_count\":{},\"page_size\":{},\"total_count\":{total}}}",
                filtered.div_ceil(params.page_size),
                params.page_size
            )
            .as_bytes(),
        );
    }
    Ok(out)
}

/// Trim one object to `columns` when asked.
pub fn columns(value: Value, params: &ListParams) -> Value {
    match &params.columns {
        Some(columns) => trim(value, columns),
        None => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> ListParams {
        let q = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        ListParams::parse(&q).expect("valid params")
    }

    fn names(v: &Value) -> Vec<&str> {
        let items = v.get("items").unwrap_or(v);
        items
            .as_array()
            .map(|a| a.iter().filter_map(|i| i["name"].as_str()).collect())
            .unwrap_or_default()
    }

    fn run(items: &[(&str, u64)], p: &ListParams) -> ApiResult<Value> {
        let items: Vec<(String, u64)> = items.iter().map(|(n, c)| ((*n).into(), *c)).collect();
        let bytes = list(
            items,
            p,
            |i| &i.0,
            |i| ("/", &i.0),
            |i| serde_json::json!({"name": i.0, "stats": {"n": i.1}}),
        )?;
        Ok(serde_json::from_slice(&bytes).expect("a listing is JSON"))
    }

    #[test]
    fn default_order_is_by_name_and_filters_are_substrings_or_regexes() {
        let items = [("q2", 1), ("a", 5), ("q1", 3)];
        assert_eq!(
            names(&run(&items, &params(&[])).unwrap()),
            ["a", "q1", "q2"]
        );
        let v = run(&items, &params(&[("page", "1"), ("name", "Q")])).unwrap();
        assert_eq!(names(&v), ["q1", "q2"]);
        let v = run(
            &items,
            &params(&[("page", "1"), ("name", "^A$"), ("use_regex", "true")]),
        )
        .unwrap();
        assert_eq!(names(&v), ["a"]);
        // Without a page, RabbitMQ ignores the name filter.
        let v = run(&items, &params(&[("name", "q")])).unwrap();
        assert_eq!(names(&v), ["a", "q1", "q2"]);
    }

    #[test]
    fn sorts_by_a_dotted_field_and_reverses() {
        let items = [("q2", 1), ("a", 5), ("q1", 3)];
        let v = run(
            &items,
            &params(&[("sort", "stats.n"), ("sort_reverse", "true")]),
        )
        .unwrap();
        assert_eq!(names(&v), ["a", "q1", "q2"]);
        let v = run(&items, &params(&[("sort", "stats.n")])).unwrap();
        assert_eq!(names(&v), ["q2", "q1", "a"]);
    }

    #[test]
    fn pages_carry_rabbitmqs_counts_and_refuse_what_rabbitmq_refuses() {
        let items = [("q2", 1), ("a", 5), ("q1", 3)];
        let v = run(
            &items,
            &params(&[("page", "2"), ("page_size", "1"), ("name", "q")]),
        )
        .unwrap();
        assert_eq!(names(&v), ["q2"]);
        assert_eq!(
            (
                v["filtered_count"].as_u64(),
                v["total_count"].as_u64(),
                v["page_count"].as_u64()
            ),
            (Some(2), Some(3), Some(2))
        );
        let past = run(&items, &params(&[("page", "9"), ("page_size", "2")]));
        assert!(matches!(
            past,
            Err(ApiError::Other {
                error: "page_out_of_range",
                ..
            })
        ));
        // The page just past the filtered items is empty; the next one is out of range,
        // measured against the filtered length.
        let next = &[("page_size", "1"), ("name", "q")];
        let v = run(&items, &params(&[&[("page", "3")], &next[..]].concat())).unwrap();
        assert_eq!((names(&v).len(), v["item_count"].as_u64()), (0, Some(0)));
        let past = run(&items, &params(&[&[("page", "4")], &next[..]].concat()));
        assert!(matches!(
            past,
            Err(ApiError::Other { reason, .. })
                if reason == "Page out of range, page: 4 page size: 1, len: 2"
        ));
        let q: HashMap<String, String> = [("page", "1"), ("page_size", "1000")]
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        assert!(matches!(
            ListParams::parse(&q),
            Err(ApiError::Other {
                error: "invalid_pagination_parameters",
                ..
            })
        ));
    }

    #[test]
    fn columns_keep_only_what_was_asked() {
        let v = run(&[("a", 5)], &params(&[("columns", "name,stats.n")])).unwrap();
        assert_eq!(v, serde_json::json!([{"name": "a", "stats": {"n": 5}}]));
        let v = run(&[("a", 5)], &params(&[("columns", "name")])).unwrap();
        assert_eq!(v, serde_json::json!([{"name": "a"}]));
    }
}
