//! A published message: routing facts, raw properties and body, shared by every queue it lands in.

use bytes::Bytes;
use warren_codec::content::{decode_table, PropertiesView};
use warren_codec::types::FieldTable;

/// Immutable once published; queues hold `Arc<Message>` so fan-out never copies a body.
#[derive(Debug)]
pub struct Message {
    pub exchange: Bytes,
    pub routing_key: Bytes,
    /// The client's property bytes (flags + values), re-sent unchanged on delivery.
    pub properties: Bytes,
    pub view: PropertiesView,
    pub body: Bytes,
}

impl Message {
    /// The headers table, decoded on demand (headers exchanges only).
    pub fn headers(&self) -> Option<FieldTable> {
        decode_table(self.view.headers?.of(&self.properties)).ok()
    }

    pub fn reply_to(&self) -> Option<&[u8]> {
        Some(self.view.reply_to?.of(&self.properties))
    }

    pub fn is_persistent(&self) -> bool {
        self.view.is_persistent()
    }
}
