//! The store's record readers on arbitrary bytes: segment records (raw, or sealed so the
//! checksum passes), journal records and ack entries. Whatever reads back must re-encode to
//! exactly the bytes it was read from, and a stored message must come apart into its parts.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use warren_codec::content::encode_table;
use warren_store::message::Message;
use warren_store::meta::{self, table_from_text, table_to_text, MetaModel, MetaRecord};
use warren_store::record::{
    self, checked_len, decode_ack, encode_ack, encode_marks, encode_message, seal, MessageParts,
    Record, ACK_ENTRY, RECORD_PREFIX,
};

fn sealed(payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0; RECORD_PREFIX];
    out.extend_from_slice(payload);
    seal(&mut out, 0);
    out
}

fn segment_record(buf: &[u8]) {
    let decoded = record::decode(&Bytes::copy_from_slice(buf));
    let Ok((rec, len)) = decoded else {
        return;
    };
    assert_eq!(checked_len(buf), Ok(len));
    let mut again = Vec::new();
    match rec {
        Record::Message(m) => {
            let names = usize::from(m.exchange_len) + usize::from(m.routing_key_len);
            let props_end = names + m.properties_len as usize;
            let parts = MessageParts {
                published_at_ms: m.published_at_ms,
                exchange: &m.data[..usize::from(m.exchange_len)],
                routing_key: &m.data[usize::from(m.exchange_len)..names],
                properties: &m.data[names..props_end],
                body: &m.data[props_end..],
            };
            encode_message(&mut again, m.msg_id, m.flags, &m.queues, &parts);
            if let Some(message) = Message::from_stored(
                m.data.clone(),
                m.exchange_len,
                m.routing_key_len,
                m.properties_len,
            ) {
                let joined = [
                    message.exchange(),
                    message.routing_key(),
                    message.properties(),
                    message.body(),
                ]
                .concat();
                assert_eq!(joined, m.data, "a stored message comes apart differently");
                let _ = (
                    message.headers(),
                    message.reply_to(),
                    message.is_persistent(),
                );
            }
        }
        Record::Marks(marks) => encode_marks(&mut again, &marks),
    }
    assert_eq!(again, &buf[..len], "record re-encodes differently");
}

fn journal(buf: &[u8]) {
    let (records, dropped) = meta::decode_all(buf);
    assert!(dropped <= buf.len());
    for r in &records {
        let arguments = match r {
            MetaRecord::Exchange { arguments, .. } | MetaRecord::Queue { arguments, .. } => {
                arguments
            }
            MetaRecord::Bind(b) | MetaRecord::Unbind(b) => &b.arguments,
            _ => continue,
        };
        // Compared encoded: a NaN in a table is not equal to itself.
        let table = table_from_text(arguments);
        let back = table_from_text(&table_to_text(&table));
        assert_eq!(encode_table(&back), encode_table(&table));
    }
    let mut again = Vec::new();
    for r in &records {
        meta::encode(&mut again, r);
    }
    assert_eq!(meta::decode_all(&again), (records.clone(), 0));
    let _ = MetaModel::replay(records);
}

fn acks(buf: &[u8], fix_checksums: bool) {
    for chunk in buf.chunks(12) {
        let mut entry = chunk.to_vec();
        if fix_checksums && entry.len() == 12 {
            entry.extend_from_slice(&crc32c::crc32c(chunk).to_le_bytes());
        } else {
            entry.extend_from_slice(&[0; 4]);
        }
        if let Some((msg_id, queue)) = decode_ack(&entry) {
            let mut again = Vec::new();
            encode_ack(&mut again, msg_id, queue);
            assert_eq!(again, entry);
        }
    }
    for entry in buf.chunks(ACK_ENTRY) {
        let _ = decode_ack(entry);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 6 {
        0 => segment_record(rest),
        1 => segment_record(&sealed(rest)),
        2 => journal(rest),
        // One sealed journal record per line, so JSON reaches the decoder.
        3 => journal(
            &rest
                .split(|&b| b == b'\n')
                .flat_map(sealed)
                .collect::<Vec<_>>(),
        ),
        4 => acks(rest, false),
        _ => acks(rest, true),
    }
});
