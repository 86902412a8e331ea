//! A published message: routing facts, raw properties and body, shared by every queue it lands in.

use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use warren_codec::content::{decode_table, PropertiesView};
use warren_codec::types::FieldTable;

/// Bytes held by every message alive in memory: what the memory budget is measured against.
static MEMORY_IN_USE: AtomicUsize = AtomicUsize::new(0);

/// Message bytes currently held in memory (as allocated, see [`allocated_size`]).
pub fn memory_in_use() -> usize {
    MEMORY_IN_USE.load(Ordering::Relaxed)
}

/// What an allocation of `len` bytes really takes: allocators round sizes up to classes
/// spaced a quarter of a power of two apart (mimalloc's bins), so a 16 KiB body with its
/// names lands in a 20 KiB block. The memory budget is meant for RSS, so count that.
pub fn allocated_size(len: usize) -> usize {
    if len <= 64 {
        return len.next_multiple_of(8);
    }
    let step = 1usize << (usize::BITS - 1 - len.leading_zeros() - 2);
    len.next_multiple_of(step)
}

/// Immutable once published; queues hold `Arc<Message>` so fan-out never copies a body.
///
/// Exchange, routing key, properties and body live in one exact-size allocation: a message
/// waiting in a queue then costs its bytes plus this small header, and pins no read buffer.
#[derive(Debug)]
pub struct Message {
    data: Bytes,
    exchange_len: u8,
    routing_key_len: u8,
    properties_len: u32,
    pub view: PropertiesView,
}

impl Message {
    /// Copy the parts of a publish into the message's own storage.
    pub fn new(
        exchange: &[u8],
        routing_key: &[u8],
        properties: &[u8],
        view: PropertiesView,
        body: &[u8],
    ) -> Self {
        // Names are short strings (≤ 255 bytes) and properties fit in one frame.
        let exchange = &exchange[..exchange.len().min(255)];
        let routing_key = &routing_key[..routing_key.len().min(255)];
        let mut data =
            Vec::with_capacity(exchange.len() + routing_key.len() + properties.len() + body.len());
        data.extend_from_slice(exchange);
        data.extend_from_slice(routing_key);
        data.extend_from_slice(properties);
        data.extend_from_slice(body);
        Self::counted(
            Bytes::from(data),
            exchange.len() as u8,
            routing_key.len() as u8,
            properties.len() as u32,
            view,
        )
    }

    /// A message read back from the store: `data` is exchange ‖ routing key ‖ properties ‖
    /// body. None if the properties do not parse.
    pub fn from_stored(
        data: Bytes,
        exchange_len: u8,
        routing_key_len: u8,
        properties_len: u32,
    ) -> Option<Self> {
        let start = usize::from(exchange_len) + usize::from(routing_key_len);
        let properties = data.get(start..start + properties_len as usize)?;
        let view = PropertiesView::parse(properties).ok()?;
        Some(Self::counted(
            data,
            exchange_len,
            routing_key_len,
            properties_len,
            view,
        ))
    }

    fn counted(
        data: Bytes,
        exchange_len: u8,
        routing_key_len: u8,
        properties_len: u32,
        view: PropertiesView,
    ) -> Self {
        MEMORY_IN_USE.fetch_add(allocated_size(data.len()), Ordering::Relaxed);
        Self {
            data,
            exchange_len,
            routing_key_len,
            properties_len,
            view,
        }
    }

    /// Bytes this message holds in memory.
    pub fn size(&self) -> usize {
        self.data.len()
    }

    fn routing_key_start(&self) -> usize {
        usize::from(self.exchange_len)
    }

    fn properties_start(&self) -> usize {
        self.routing_key_start() + usize::from(self.routing_key_len)
    }

    fn body_start(&self) -> usize {
        self.properties_start() + self.properties_len as usize
    }

    pub fn exchange(&self) -> &[u8] {
        &self.data[..self.routing_key_start()]
    }

    pub fn routing_key(&self) -> &[u8] {
        &self.data[self.routing_key_start()..self.properties_start()]
    }

    /// The client's property bytes (flags + values), re-sent unchanged on delivery.
    pub fn properties(&self) -> &[u8] {
        &self.data[self.properties_start()..self.body_start()]
    }

    pub fn body(&self) -> &[u8] {
        &self.data[self.body_start()..]
    }

    /// The headers table, decoded on demand (headers exchanges only).
    pub fn headers(&self) -> Option<FieldTable> {
        decode_table(self.view.headers?.of(self.properties())).ok()
    }

    pub fn reply_to(&self) -> Option<&[u8]> {
        Some(self.view.reply_to?.of(self.properties()))
    }

    pub fn is_persistent(&self) -> bool {
        self.view.is_persistent()
    }
}

impl Drop for Message {
    fn drop(&mut self) {
        MEMORY_IN_USE.fetch_sub(allocated_size(self.data.len()), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_sizes_round_up_to_quarter_steps() {
        assert_eq!(allocated_size(16), 16);
        assert_eq!(allocated_size(1024), 1024);
        assert_eq!(allocated_size(1064), 1280);
        assert_eq!(allocated_size(16_384 + 40), 20_480);
        assert!((1..100_000).all(|n| allocated_size(n) >= n));
    }

    #[test]
    fn parts_come_back_as_given() {
        let m = Message::new(
            b"amq.direct",
            b"key",
            &[0, 0],
            PropertiesView::default(),
            b"body",
        );
        assert_eq!(m.exchange(), b"amq.direct");
        assert_eq!(m.routing_key(), b"key");
        assert_eq!(m.properties(), &[0, 0]);
        assert_eq!(m.body(), b"body");
        let empty = Message::new(b"", b"", &[0, 0], PropertiesView::default(), b"");
        assert!(
            empty.exchange().is_empty()
                && empty.routing_key().is_empty()
                && empty.body().is_empty()
        );
    }
}
