//! Method frames: hand-rolled decoding and encoding of the hot methods (publish, ack, nack,
//! reject, qos, deliver, get-ok, return), amq-protocol for every other method.

use amq_protocol::frame::WriteContext;
use amq_protocol::protocol::{gen_class, parse_class, AMQPClass};
use bytes::Bytes;

use crate::frame::{begin_frame, end_frame, FRAME_METHOD};
use crate::table::{check_table, TableError, NESTING_DEPTH_MAX};
use crate::wire::{put_short_str, put_u16, put_u32, put_u64, WireReader};

pub const CLASS_CONNECTION: u16 = 10;
pub const CLASS_CHANNEL: u16 = 20;
pub const CLASS_ACCESS: u16 = 30;
pub const CLASS_EXCHANGE: u16 = 40;
pub const CLASS_QUEUE: u16 = 50;
pub const CLASS_BASIC: u16 = 60;
pub const CLASS_CONFIRM: u16 = 85;
pub const CLASS_TX: u16 = 90;

pub const BASIC_QOS: u16 = 10;
pub const BASIC_PUBLISH: u16 = 40;
pub const BASIC_RETURN: u16 = 50;
pub const BASIC_DELIVER: u16 = 60;
pub const BASIC_GET: u16 = 70;
pub const BASIC_GET_OK: u16 = 71;
pub const BASIC_ACK: u16 = 80;
pub const BASIC_REJECT: u16 = 90;
pub const BASIC_NACK: u16 = 120;

/// basic.publish, with names kept as zero-copy slices of the frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    pub exchange: Bytes,
    pub routing_key: Bytes,
    pub mandatory: bool,
    pub immediate: bool,
}

/// A decoded method: the hot ones by hand, the rest as amq-protocol's types.
#[derive(Debug, Clone, PartialEq)]
pub enum Method {
    Publish(Publish),
    Ack {
        delivery_tag: u64,
        multiple: bool,
    },
    Nack {
        delivery_tag: u64,
        multiple: bool,
        requeue: bool,
    },
    Reject {
        delivery_tag: u64,
        requeue: bool,
    },
    Qos {
        prefetch_size: u32,
        prefetch_count: u16,
        global: bool,
    },
    Other(AMQPClass),
}

impl Method {
    /// (class id, method id) of this method.
    pub fn ids(&self) -> (u16, u16) {
        match self {
            Method::Publish(_) => (CLASS_BASIC, BASIC_PUBLISH),
            Method::Ack { .. } => (CLASS_BASIC, BASIC_ACK),
            Method::Nack { .. } => (CLASS_BASIC, BASIC_NACK),
            Method::Reject { .. } => (CLASS_BASIC, BASIC_REJECT),
            Method::Qos { .. } => (CLASS_BASIC, BASIC_QOS),
            Method::Other(c) => (c.get_amqp_class_id(), c.get_amqp_method_id()),
        }
    }
}

/// Why a method frame could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MethodError {
    /// A class or method id the protocol does not define.
    #[error("unknown method {class_id}/{method_id}")]
    Unknown { class_id: u16, method_id: u16 },
    /// A known method whose arguments are truncated or malformed.
    #[error("malformed {}", method_name(*class_id, *method_id))]
    Malformed { class_id: u16, method_id: u16 },
    /// A field table among the arguments nests deeper than [`NESTING_DEPTH_MAX`].
    #[error("{} has field tables nested deeper than {NESTING_DEPTH_MAX} levels", method_name(*class_id, *method_id))]
    TooDeep { class_id: u16, method_id: u16 },
    /// The payload is too short to even hold class and method ids.
    #[error("method frame too short")]
    TooShort,
}

/// Decode a method frame's payload.
pub fn decode_method(payload: Bytes) -> Result<Method, MethodError> {
    if payload.len() < 4 {
        return Err(MethodError::TooShort);
    }
    let class_id = u16::from_be_bytes([payload[0], payload[1]]);
    let method_id = u16::from_be_bytes([payload[2], payload[3]]);
    if method_name(class_id, method_id).is_empty() {
        return Err(MethodError::Unknown {
            class_id,
            method_id,
        });
    }
    let malformed = MethodError::Malformed {
        class_id,
        method_id,
    };
    if class_id == CLASS_BASIC {
        let mut r = WireReader::new(payload.slice(4..));
        let hot = match method_id {
            BASIC_PUBLISH => decode_publish(&mut r).map(Some),
            BASIC_ACK => decode_tag_bits(&mut r).map(|(delivery_tag, bits)| {
                Some(Method::Ack {
                    delivery_tag,
                    multiple: bits & 1 != 0,
                })
            }),
            BASIC_NACK => decode_tag_bits(&mut r).map(|(delivery_tag, bits)| {
                Some(Method::Nack {
                    delivery_tag,
                    multiple: bits & 1 != 0,
                    requeue: bits & 2 != 0,
                })
            }),
            BASIC_REJECT => decode_tag_bits(&mut r).map(|(delivery_tag, bits)| {
                Some(Method::Reject {
                    delivery_tag,
                    requeue: bits & 1 != 0,
                })
            }),
            BASIC_QOS => decode_qos(&mut r).map(Some),
            _ => Ok(None),
        };
        match hot {
            // Decoding is strict, as RabbitMQ's: trailing bytes are malformed too.
            Ok(Some(_)) if r.remaining() != 0 => return Err(malformed),
            Ok(Some(m)) => return Ok(m),
            Ok(None) => {}
            Err(_) => return Err(malformed),
        }
    }
    // amq-protocol decodes field tables by recursion: check them iteratively first.
    match check_method_tables(class_id, method_id, &payload[4..]) {
        Ok(()) => {}
        Err(TableError::TooDeep) => {
            return Err(MethodError::TooDeep {
                class_id,
                method_id,
            })
        }
        Err(TableError::Malformed) => return Err(malformed),
    }
    match parse_class(&payload[..]) {
        Ok((&[], class)) => Ok(Method::Other(class)),
        _ => Err(malformed),
    }
}

/// The argument kinds that come before or between field tables in a method.
#[derive(Clone, Copy)]
enum Arg {
    Octet,
    Short,
    ShortStr,
    Table,
}

/// The arguments of every method that carries a field table, up to its last table.
fn table_layout(class_id: u16, method_id: u16) -> &'static [Arg] {
    use Arg::*;
    match (class_id, method_id) {
        (CLASS_CONNECTION, 10) => &[Octet, Octet, Table],
        (CLASS_CONNECTION, 11) => &[Table],
        (CLASS_EXCHANGE, 10) => &[Short, ShortStr, ShortStr, Octet, Table],
        (CLASS_EXCHANGE, 30 | 40) => &[Short, ShortStr, ShortStr, ShortStr, Octet, Table],
        (CLASS_QUEUE, 10) => &[Short, ShortStr, Octet, Table],
        (CLASS_QUEUE, 20) => &[Short, ShortStr, ShortStr, ShortStr, Octet, Table],
        (CLASS_QUEUE, 50) => &[Short, ShortStr, ShortStr, ShortStr, Table],
        (CLASS_BASIC, 20) => &[Short, ShortStr, ShortStr, Octet, Table],
        _ => &[],
    }
}

/// Walk a method's arguments up to its field tables and check each one.
fn check_method_tables(class_id: u16, method_id: u16, args: &[u8]) -> Result<(), TableError> {
    let mut pos = 0usize;
    for arg in table_layout(class_id, method_id) {
        let rest = args.get(pos..).ok_or(TableError::Malformed)?;
        pos += match arg {
            Arg::Octet => 1,
            Arg::Short => 2,
            Arg::ShortStr => 1 + usize::from(*rest.first().ok_or(TableError::Malformed)?),
            Arg::Table => check_table(rest)?,
        };
    }
    Ok(())
}

fn decode_publish(r: &mut WireReader) -> Result<Method, crate::wire::Truncated> {
    let _ticket = r.u16()?;
    let exchange = r.short_str()?;
    let routing_key = r.short_str()?;
    let bits = r.u8()?;
    Ok(Method::Publish(Publish {
        exchange,
        routing_key,
        mandatory: bits & 1 != 0,
        immediate: bits & 2 != 0,
    }))
}

fn decode_tag_bits(r: &mut WireReader) -> Result<(u64, u8), crate::wire::Truncated> {
    let tag = r.u64()?;
    let bits = r.u8()?;
    Ok((tag, bits))
}

fn decode_qos(r: &mut WireReader) -> Result<Method, crate::wire::Truncated> {
    let prefetch_size = r.u32()?;
    let prefetch_count = r.u16()?;
    let bits = r.u8()?;
    Ok(Method::Qos {
        prefetch_size,
        prefetch_count,
        global: bits & 1 != 0,
    })
}

/// The dotted name of a method ("basic.publish"), or "" if the ids are unknown.
pub fn method_name(class_id: u16, method_id: u16) -> &'static str {
    match (class_id, method_id) {
        (10, 10) => "connection.start",
        (10, 11) => "connection.start_ok",
        (10, 20) => "connection.secure",
        (10, 21) => "connection.secure_ok",
        (10, 30) => "connection.tune",
        (10, 31) => "connection.tune_ok",
        (10, 40) => "connection.open",
        (10, 41) => "connection.open_ok",
        (10, 50) => "connection.close",
        (10, 51) => "connection.close_ok",
        (10, 60) => "connection.blocked",
        (10, 61) => "connection.unblocked",
        (10, 70) => "connection.update_secret",
        (10, 71) => "connection.update_secret_ok",
        (20, 10) => "channel.open",
        (20, 11) => "channel.open_ok",
        (20, 20) => "channel.flow",
        (20, 21) => "channel.flow_ok",
        (20, 40) => "channel.close",
        (20, 41) => "channel.close_ok",
        (30, 10) => "access.request",
        (30, 11) => "access.request_ok",
        (40, 10) => "exchange.declare",
        (40, 11) => "exchange.declare_ok",
        (40, 20) => "exchange.delete",
        (40, 21) => "exchange.delete_ok",
        (40, 30) => "exchange.bind",
        (40, 31) => "exchange.bind_ok",
        (40, 40) => "exchange.unbind",
        (40, 51) => "exchange.unbind_ok",
        (50, 10) => "queue.declare",
        (50, 11) => "queue.declare_ok",
        (50, 20) => "queue.bind",
        (50, 21) => "queue.bind_ok",
        (50, 30) => "queue.purge",
        (50, 31) => "queue.purge_ok",
        (50, 40) => "queue.delete",
        (50, 41) => "queue.delete_ok",
        (50, 50) => "queue.unbind",
        (50, 51) => "queue.unbind_ok",
        (60, 10) => "basic.qos",
        (60, 11) => "basic.qos_ok",
        (60, 20) => "basic.consume",
        (60, 21) => "basic.consume_ok",
        (60, 30) => "basic.cancel",
        (60, 31) => "basic.cancel_ok",
        (60, 40) => "basic.publish",
        (60, 50) => "basic.return",
        (60, 60) => "basic.deliver",
        (60, 70) => "basic.get",
        (60, 71) => "basic.get_ok",
        (60, 72) => "basic.get_empty",
        (60, 80) => "basic.ack",
        (60, 90) => "basic.reject",
        (60, 100) => "basic.recover_async",
        (60, 110) => "basic.recover",
        (60, 111) => "basic.recover_ok",
        (60, 120) => "basic.nack",
        (85, 10) => "confirm.select",
        (85, 11) => "confirm.select_ok",
        (90, 10) => "tx.select",
        (90, 11) => "tx.select_ok",
        (90, 20) => "tx.commit",
        (90, 21) => "tx.commit_ok",
        (90, 30) => "tx.rollback",
        (90, 31) => "tx.rollback_ok",
        _ => "",
    }
}

/// Append a method frame for any method, serialised by amq-protocol.
pub fn write_method(out: &mut Vec<u8>, channel: u16, class: &AMQPClass) {
    let at = begin_frame(out, FRAME_METHOD, channel);
    let ctx = WriteContext::from(std::mem::take(out));
    // Serialising into a Vec cannot fail: it only grows.
    *out = match gen_class(class)(ctx) {
        Ok(ctx) => ctx.write,
        Err(_) => unreachable!("serialising into a Vec<u8> is infallible"),
    };
    end_frame(out, at);
}

/// Append basic.deliver.
pub fn write_deliver(
    out: &mut Vec<u8>,
    channel: u16,
    consumer_tag: &[u8],
    delivery_tag: u64,
    redelivered: bool,
    exchange: &[u8],
    routing_key: &[u8],
) {
    let at = begin_frame(out, FRAME_METHOD, channel);
    put_u16(out, CLASS_BASIC);
    put_u16(out, BASIC_DELIVER);
    put_short_str(out, consumer_tag);
    put_u64(out, delivery_tag);
    out.push(u8::from(redelivered));
    put_short_str(out, exchange);
    put_short_str(out, routing_key);
    end_frame(out, at);
}

/// Append basic.get-ok.
pub fn write_get_ok(
    out: &mut Vec<u8>,
    channel: u16,
    delivery_tag: u64,
    redelivered: bool,
    exchange: &[u8],
    routing_key: &[u8],
    message_count: u32,
) {
    let at = begin_frame(out, FRAME_METHOD, channel);
    put_u16(out, CLASS_BASIC);
    put_u16(out, BASIC_GET_OK);
    put_u64(out, delivery_tag);
    out.push(u8::from(redelivered));
    put_short_str(out, exchange);
    put_short_str(out, routing_key);
    put_u32(out, message_count);
    end_frame(out, at);
}

/// Append basic.return.
pub fn write_return(
    out: &mut Vec<u8>,
    channel: u16,
    reply_code: u16,
    reply_text: &[u8],
    exchange: &[u8],
    routing_key: &[u8],
) {
    let at = begin_frame(out, FRAME_METHOD, channel);
    put_u16(out, CLASS_BASIC);
    put_u16(out, BASIC_RETURN);
    put_u16(out, reply_code);
    put_short_str(out, reply_text);
    put_short_str(out, exchange);
    put_short_str(out, routing_key);
    end_frame(out, at);
}

/// Append basic.ack (publisher confirm).
pub fn write_ack(out: &mut Vec<u8>, channel: u16, delivery_tag: u64, multiple: bool) {
    let at = begin_frame(out, FRAME_METHOD, channel);
    put_u16(out, CLASS_BASIC);
    put_u16(out, BASIC_ACK);
    put_u64(out, delivery_tag);
    out.push(u8::from(multiple));
    end_frame(out, at);
}

/// Append basic.nack (publisher confirm, negative).
pub fn write_nack(out: &mut Vec<u8>, channel: u16, delivery_tag: u64, multiple: bool) {
    let at = begin_frame(out, FRAME_METHOD, channel);
    put_u16(out, CLASS_BASIC);
    put_u16(out, BASIC_NACK);
    put_u64(out, delivery_tag);
    // requeue bit is meaningless server → client; RabbitMQ sends it cleared.
    out.push(u8::from(multiple));
    end_frame(out, at);
}
