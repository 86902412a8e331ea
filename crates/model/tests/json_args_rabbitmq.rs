//! JSON ↔ field table conversion against RabbitMQ 3.10.8: fixtures/rabbitmq-3.10.8-json-args.json
//! (made by fixtures/capture/json_args.py) holds queues declared over the HTTP API and over AMQP
//! with every value type, read back through the API and `rabbitmqctl list_queues`.

use serde_json::Value;
use warren_codec::content::decode_table;
use warren_codec::types::{AMQPValue, ByteArray, DecimalValue, FieldTable};
use warren_model::json_args::{
    json_to_table, render_cli_table, table_to_json, CliRenderError, JsonArgsError,
};

const FIXTURE: &str = include_str!("fixtures/rabbitmq-3.10.8-json-args.json");

fn fixture() -> Value {
    serde_json::from_str(FIXTURE).unwrap()
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn arguments_of(raw_body: &str) -> Value {
    let body: Value = serde_json::from_str(raw_body).unwrap();
    body["arguments"].clone()
}

/// The `arguments` cell of the `rabbitmqctl list_queues -q name arguments` output.
fn ctl_cell(stdout: &str, queue: &str) -> String {
    stdout
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{queue}\t")))
        .unwrap_or_else(|| panic!("{queue} not listed in {stdout}"))
        .to_owned()
}

/// RabbitMQ's type names (`rabbitmqctl --formatter json`) for Warren's values.
fn rabbit_type(value: &AMQPValue) -> &'static str {
    match value {
        AMQPValue::LongLongInt(_) => "long",
        AMQPValue::Double(_) => "double",
        AMQPValue::LongString(_) => "longstr",
        AMQPValue::Boolean(_) => "bool",
        AMQPValue::FieldArray(_) => "array",
        AMQPValue::FieldTable(_) => "table",
        other => panic!("JSON never makes {other:?}"),
    }
}

#[test]
fn json_arguments_get_the_types_rabbitmq_gives_them_and_read_back_the_same() {
    let fixture = fixture();
    let declared = &fixture["http_declared"];
    let request: Value = serde_json::from_str(declared["request_body"].as_str().unwrap()).unwrap();
    let table = json_to_table(&request["arguments"]).unwrap();

    // Types: as rabbitmqctl --formatter json listed them, [[key, type, value], ...].
    let listing: Value =
        serde_json::from_str(declared["ctl_json"]["stdout"].as_str().unwrap()).unwrap();
    let typed = listing[0]["arguments"].as_array().unwrap();
    assert_eq!(typed.len(), table.inner().len());
    for entry in typed {
        let key = entry[0].as_str().unwrap();
        let value = table.inner().get(key).unwrap();
        assert_eq!(rabbit_type(value), entry[1].as_str().unwrap(), "{key}");
    }

    // JSON rendering: as GET /api/queues/... showed them.
    let shown = arguments_of(declared["http_get_raw_body"].as_str().unwrap());
    assert_eq!(table_to_json(&table).unwrap(), shown);

    // rabbitmqctl's table format, byte for byte (an HTTP-declared table is in key order).
    let stdout = declared["ctl_plain"]["stdout"].as_str().unwrap();
    assert_eq!(
        render_cli_table(&table).unwrap(),
        ctl_cell(stdout, "pol-args-http")
    );
}

#[test]
fn every_amqp_type_renders_as_rabbitmq_renders_it() {
    let fixture = fixture();
    let declared = fixture["amqp_declared"].as_object().unwrap();
    assert_eq!(declared.len(), 5);
    for (queue, capture) in declared {
        let table = decode_table(&hex(capture["declared_table_hex"].as_str().unwrap())).unwrap();
        assert_eq!(
            table_to_json(&table).unwrap(),
            arguments_of(capture["http_get_raw_body"].as_str().unwrap()),
            "{queue}"
        );
        let ctl = &capture["ctl_plain"];
        let stdout = ctl["stdout"].as_str().unwrap();
        if stdout.is_empty() {
            // rabbitmqctl failed on a string that is not UTF-8; so does Warren, same words.
            let err = render_cli_table(&table).unwrap_err();
            assert!(matches!(err, CliRenderError::NotUtf8(_)));
            assert!(
                ctl["stderr"].as_str().unwrap().contains(&err.to_string()),
                "{queue}: {err}"
            );
            continue;
        }
        // RabbitMQ lists entries in wire order, Warren's tables are sorted: compare entries.
        let cell = ctl_cell(stdout, queue);
        for (key, value) in table.inner() {
            if matches!(value, AMQPValue::FieldTable(t) if t.inner().len() > 1) {
                // A nested table in wire order there, key order here.
                continue;
            }
            let mut single = FieldTable::default();
            single.insert(key.clone(), value.clone());
            let rendered = render_cli_table(&single).unwrap();
            let entry = &rendered[1..rendered.len() - 1];
            assert!(cell.contains(entry), "{queue}: {entry} not in {cell}");
        }
    }
}

#[test]
fn published_headers_are_typed_like_rabbitmqs() {
    let fixture = fixture();
    let publish = &fixture["http_publish"];
    let request: Value = serde_json::from_str(publish["request_body"].as_str().unwrap()).unwrap();
    let ours = json_to_table(&request["properties"]["headers"]).unwrap();
    let body = hex(publish["consumed_header_table_hex"].as_str().unwrap());
    let mut framed = (body.len() as u32).to_be_bytes().to_vec();
    framed.extend(body);
    assert_eq!(decode_table(&framed).unwrap(), ours);
}

#[test]
fn amqp_headers_show_in_get_as_rabbitmq_shows_them() {
    let fixture = fixture();
    let got: Value =
        serde_json::from_str(fixture["amqp_publish_http_get"].as_str().unwrap()).unwrap();
    // The headers json_args.py published over AMQP.
    let mut headers = FieldTable::default();
    headers.insert("T".into(), AMQPValue::Timestamp(1_700_000_000));
    headers.insert(
        "x".into(),
        AMQPValue::ByteArray(ByteArray::from(vec![0u8, 1])),
    );
    headers.insert(
        "D".into(),
        AMQPValue::DecimalValue(DecimalValue {
            scale: 2,
            value: 12345,
        }),
    );
    headers.insert("V".into(), AMQPValue::Void);
    headers.insert("f".into(), AMQPValue::Float(1.1));
    headers.insert("S".into(), AMQPValue::LongString("s".into()));
    assert_eq!(
        table_to_json(&headers).unwrap(),
        got[0]["properties"]["headers"]
    );
}

#[test]
fn refused_arguments() {
    let fixture = fixture();
    for case in fixture["errors"].as_array().unwrap() {
        let name = case["case"].as_str().unwrap();
        let body: Value = serde_json::from_str(case["body"].as_str().unwrap()).unwrap();
        let arguments = if name.starts_with("publish") {
            &body["properties"]["headers"]
        } else {
            &body["arguments"]
        };
        let result = json_to_table(arguments);
        match name {
            // RabbitMQ keeps the bignum; no AMQP type holds it, so Warren refuses.
            "u64-beyond-i64" => assert!(matches!(result, Err(JsonArgsError::IntegerOutOfRange(_)))),
            // RabbitMQ crashes (400 with a stack trace, or 500).
            "arguments-not-object" | "arguments-string" | "arguments-null" => {
                assert_eq!(result, Err(JsonArgsError::NotAnObject), "{name}")
            }
            _ => {
                let response: Value =
                    serde_json::from_str(case["response"].as_str().unwrap()).unwrap();
                assert_eq!(case["status"], 400, "{name}");
                assert_eq!(
                    result.unwrap_err().to_string(),
                    response["reason"].as_str().unwrap(),
                    "{name}"
                );
            }
        }
    }
}
