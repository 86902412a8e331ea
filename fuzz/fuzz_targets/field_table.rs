//! Field tables on arbitrary bytes: the iterative check must accept exactly what
//! amq-protocol's recursive parser accepts (on everything within the nesting limit, the only
//! inputs the parser ever sees), and what decodes must re-encode stably.
#![no_main]

use amq_protocol::types::parsing::parse_field_table;
use libfuzzer_sys::fuzz_target;
use warren_codec::content::{decode_table, encode_table};
use warren_codec::table::{check_table, TableError};

fuzz_target!(|data: &[u8]| {
    let checked = check_table(data);
    if let Ok(len) = checked {
        assert!(len >= 4 && len <= data.len());
    }
    if checked == Err(TableError::TooDeep) {
        // amq-protocol would recurse once per level: never handed such input.
        assert!(decode_table(data).is_err());
        return;
    }
    let parsed = parse_field_table(data).map(|(rest, table)| (data.len() - rest.len(), table));
    match (&checked, &parsed) {
        (Ok(ours), Ok((theirs, _))) => assert_eq!(ours, theirs, "table lengths disagree"),
        (Err(_), Err(_)) => {}
        _ => panic!("check_table says {checked:?}, amq-protocol says {parsed:?}"),
    }
    let Ok((len, table)) = parsed else {
        return;
    };
    // decode_table wants the table to be all of its input.
    assert_eq!(decode_table(data).is_ok(), len == data.len());
    let encoded = encode_table(&table);
    assert_eq!(check_table(&encoded), Ok(encoded.len()));
    let again = decode_table(&encoded).expect("an encoded table decodes");
    assert_eq!(encode_table(&again), encoded, "re-encoding is not stable");
});
