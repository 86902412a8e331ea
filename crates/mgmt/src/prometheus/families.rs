//! The metric families Warren exposes, with RabbitMQ's names, types and help texts (from
//! its `rabbitmq_prometheus` plugin, 3.10), so dashboards built for RabbitMQ read them.

use super::text::{Family, Kind};

const fn gauge(name: &'static str, help: &'static str) -> Family {
    Family {
        name,
        kind: Kind::Gauge,
        help,
    }
}

const fn counter(name: &'static str, help: &'static str) -> Family {
    Family {
        name,
        kind: Kind::Counter,
        help,
    }
}

const fn histogram(name: &'static str, help: &'static str) -> Family {
    Family {
        name,
        kind: Kind::Histogram,
        help,
    }
}

const fn untyped(name: &'static str, help: &'static str) -> Family {
    Family {
        name,
        kind: Kind::Untyped,
        help,
    }
}

// Churn (never labelled).
pub const CONNECTIONS_OPENED: Family = counter(
    "rabbitmq_connections_opened_total",
    "Total number of connections opened",
);
pub const CONNECTIONS_CLOSED: Family = counter(
    "rabbitmq_connections_closed_total",
    "Total number of connections closed or terminated",
);
pub const CHANNELS_OPENED: Family = counter(
    "rabbitmq_channels_opened_total",
    "Total number of channels opened",
);
pub const CHANNELS_CLOSED: Family = counter(
    "rabbitmq_channels_closed_total",
    "Total number of channels closed",
);
pub const QUEUES_DECLARED: Family = counter(
    "rabbitmq_queues_declared_total",
    "Total number of queues declared",
);
pub const QUEUES_CREATED: Family = counter(
    "rabbitmq_queues_created_total",
    "Total number of queues created",
);
pub const QUEUES_DELETED: Family = counter(
    "rabbitmq_queues_deleted_total",
    "Total number of queues deleted",
);

// The node.
pub const OPEN_FDS: Family = gauge("rabbitmq_process_open_fds", "Open file descriptors");
pub const OPEN_TCP_SOCKETS: Family = gauge("rabbitmq_process_open_tcp_sockets", "Open TCP sockets");
pub const RESIDENT_MEMORY: Family = gauge(
    "rabbitmq_process_resident_memory_bytes",
    "Memory used in bytes",
);
pub const DISK_AVAILABLE: Family = gauge(
    "rabbitmq_disk_space_available_bytes",
    "Disk space available in bytes",
);
pub const MAX_FDS: Family = gauge("rabbitmq_process_max_fds", "Open file descriptors limit");
pub const MAX_TCP_SOCKETS: Family =
    gauge("rabbitmq_process_max_tcp_sockets", "Open TCP sockets limit");
pub const MEMORY_LIMIT: Family = gauge(
    "rabbitmq_resident_memory_limit_bytes",
    "Memory high watermark in bytes",
);
pub const DISK_LIMIT: Family = gauge(
    "rabbitmq_disk_space_available_limit_bytes",
    "Free disk space low watermark in bytes",
);
pub const UPTIME: Family = gauge("rabbitmq_erlang_uptime_seconds", "Node uptime");

// Queues: one sample per queue (per-object) or their sum (aggregated).
pub const QUEUE_READY: Family = gauge(
    "rabbitmq_queue_messages_ready",
    "Messages ready to be delivered to consumers",
);
pub const QUEUE_UNACKED: Family = gauge(
    "rabbitmq_queue_messages_unacked",
    "Messages delivered to consumers but not yet acknowledged",
);
pub const QUEUE_MESSAGES: Family = gauge(
    "rabbitmq_queue_messages",
    "Sum of ready and unacknowledged messages - total queue depth",
);
pub const QUEUE_CONSUMERS: Family = gauge("rabbitmq_queue_consumers", "Consumers on a queue");
pub const QUEUE_CONSUMER_CAPACITY: Family =
    gauge("rabbitmq_queue_consumer_capacity", "Consumer capacity");
pub const QUEUE_CONSUMER_UTILISATION: Family = gauge(
    "rabbitmq_queue_consumer_utilisation",
    "Same as consumer capacity",
);
pub const QUEUE_MEMORY: Family = gauge(
    "rabbitmq_queue_process_memory_bytes",
    "Memory in bytes used by the Erlang queue process",
);
pub const QUEUE_RAM: Family = gauge(
    "rabbitmq_queue_messages_ram",
    "Ready and unacknowledged messages stored in memory",
);
pub const QUEUE_RAM_BYTES: Family = gauge(
    "rabbitmq_queue_messages_ram_bytes",
    "Size of ready and unacknowledged messages stored in memory",
);
pub const QUEUE_READY_RAM: Family = gauge(
    "rabbitmq_queue_messages_ready_ram",
    "Ready messages stored in memory",
);
pub const QUEUE_UNACKED_RAM: Family = gauge(
    "rabbitmq_queue_messages_unacked_ram",
    "Unacknowledged messages stored in memory",
);
pub const QUEUE_BYTES: Family = gauge(
    "rabbitmq_queue_messages_bytes",
    "Size in bytes of ready and unacknowledged messages",
);
pub const QUEUE_READY_BYTES: Family = gauge(
    "rabbitmq_queue_messages_ready_bytes",
    "Size in bytes of ready messages",
);
pub const QUEUE_UNACKED_BYTES: Family = gauge(
    "rabbitmq_queue_messages_unacked_bytes",
    "Size in bytes of all unacknowledged messages",
);
pub const QUEUE_PAGED_OUT: Family = gauge(
    "rabbitmq_queue_messages_paged_out",
    "Messages paged out to disk",
);
pub const QUEUE_PAGED_OUT_BYTES: Family = gauge(
    "rabbitmq_queue_messages_paged_out_bytes",
    "Size in bytes of messages paged out to disk",
);
pub const QUEUE_PUBLISHED: Family = counter(
    "rabbitmq_queue_messages_published_total",
    "Total number of messages published to queues",
);

// Channels.
pub const CHANNEL_CONSUMERS: Family = gauge("rabbitmq_channel_consumers", "Consumers on a channel");
pub const CHANNEL_UNACKED: Family = gauge(
    "rabbitmq_channel_messages_unacked",
    "Delivered but not yet acknowledged messages",
);
pub const CHANNEL_UNCONFIRMED: Family = gauge(
    "rabbitmq_channel_messages_unconfirmed",
    "Published but not yet confirmed messages",
);
pub const CONSUMER_PREFETCH: Family = gauge(
    "rabbitmq_consumer_prefetch",
    "Limit of unacknowledged messages for each consumer",
);
pub const CHANNEL_PREFETCH: Family = gauge(
    "rabbitmq_channel_prefetch",
    "Total limit of unacknowledged messages for all consumers on a channel",
);

// Channel counters: per channel (per-object) or summed since start (aggregated).
pub const CHANNEL_PUBLISHED: Family = counter(
    "rabbitmq_channel_messages_published_total",
    "Total number of messages published into an exchange on a channel",
);
pub const CHANNEL_CONFIRMED: Family = counter(
    "rabbitmq_channel_messages_confirmed_total",
    "Total number of messages published into an exchange and confirmed on the channel",
);
pub const CHANNEL_UNROUTABLE_RETURNED: Family = counter(
    "rabbitmq_channel_messages_unroutable_returned_total",
    "Total number of messages published as mandatory into an exchange and returned to the publisher as unroutable",
);
pub const CHANNEL_UNROUTABLE_DROPPED: Family = counter(
    "rabbitmq_channel_messages_unroutable_dropped_total",
    "Total number of messages published as non-mandatory into an exchange and dropped as unroutable",
);
pub const CHANNEL_GET_ACK: Family = counter(
    "rabbitmq_channel_get_ack_total",
    "Total number of messages fetched with basic.get in manual acknowledgement mode",
);
pub const CHANNEL_GET: Family = counter(
    "rabbitmq_channel_get_total",
    "Total number of messages fetched with basic.get in automatic acknowledgement mode",
);
pub const CHANNEL_DELIVERED_ACK: Family = counter(
    "rabbitmq_channel_messages_delivered_ack_total",
    "Total number of messages delivered to consumers in manual acknowledgement mode",
);
pub const CHANNEL_DELIVERED: Family = counter(
    "rabbitmq_channel_messages_delivered_total",
    "Total number of messages delivered to consumers in automatic acknowledgement mode",
);
pub const CHANNEL_REDELIVERED: Family = counter(
    "rabbitmq_channel_messages_redelivered_total",
    "Total number of messages redelivered to consumers",
);
pub const CHANNEL_ACKED: Family = counter(
    "rabbitmq_channel_messages_acked_total",
    "Total number of messages acknowledged by consumers",
);
pub const CHANNEL_GET_EMPTY: Family = counter(
    "rabbitmq_channel_get_empty_total",
    "Total number of times basic.get operations fetched no message",
);

// Connections.
pub const CONNECTION_IN_BYTES: Family = counter(
    "rabbitmq_connection_incoming_bytes_total",
    "Total number of bytes received on a connection",
);
pub const CONNECTION_OUT_BYTES: Family = counter(
    "rabbitmq_connection_outgoing_bytes_total",
    "Total number of bytes sent on a connection",
);
pub const CONNECTION_IN_PACKETS: Family = counter(
    "rabbitmq_connection_incoming_packets_total",
    "Total number of packets received on a connection",
);
pub const CONNECTION_OUT_PACKETS: Family = counter(
    "rabbitmq_connection_outgoing_packets_total",
    "Total number of packets sent on a connection",
);
pub const CONNECTION_CHANNELS: Family =
    gauge("rabbitmq_connection_channels", "Channels on a connection");

// Object totals.
pub const CONNECTIONS: Family = gauge("rabbitmq_connections", "Connections currently open");
pub const CHANNELS: Family = gauge("rabbitmq_channels", "Channels currently open");
pub const CONSUMERS: Family = gauge("rabbitmq_consumers", "Consumers currently connected");
pub const QUEUES: Family = gauge("rabbitmq_queues", "Queues available");

// Published body sizes (RabbitMQ 4's histogram; `protocol` labelled).
pub const MESSAGE_SIZE: Family = histogram(
    "rabbitmq_message_size_bytes",
    "Size of messages received from publishers",
);

// Global counters: `protocol` (and `queue_type`) labelled on every endpoint.
pub const RECEIVED: Family = counter(
    "rabbitmq_global_messages_received_total",
    "Total number of messages received from publishers",
);
pub const RECEIVED_CONFIRM: Family = counter(
    "rabbitmq_global_messages_received_confirm_total",
    "Total number of messages received from publishers expecting confirmations",
);
pub const ROUTED: Family = counter(
    "rabbitmq_global_messages_routed_total",
    "Total number of messages routed to queues or streams",
);
pub const UNROUTABLE_DROPPED: Family = counter(
    "rabbitmq_global_messages_unroutable_dropped_total",
    "Total number of messages published as non-mandatory into an exchange and dropped as unroutable",
);
pub const UNROUTABLE_RETURNED: Family = counter(
    "rabbitmq_global_messages_unroutable_returned_total",
    "Total number of messages published as mandatory into an exchange and returned to the publisher as unroutable",
);
pub const CONFIRMED: Family = counter(
    "rabbitmq_global_messages_confirmed_total",
    "Total number of messages confirmed to publishers",
);
pub const GLOBAL_PUBLISHERS: Family =
    gauge("rabbitmq_global_publishers", "Current number of publishers");
pub const AUTH_ATTEMPTS: Family = counter(
    "rabbitmq_auth_attempts_total",
    "Total number of authorization attempts",
);
pub const AUTH_SUCCEEDED: Family = counter(
    "rabbitmq_auth_attempts_succeeded_total",
    "Total number of successful authentication attempts",
);
pub const AUTH_FAILED: Family = counter(
    "rabbitmq_auth_attempts_failed_total",
    "Total number of failed authentication attempts",
);
pub const GLOBAL_CONSUMERS: Family =
    gauge("rabbitmq_global_consumers", "Current number of consumers");
pub const DELIVERED: Family = counter(
    "rabbitmq_global_messages_delivered_total",
    "Total number of messages delivered to consumers",
);
pub const DELIVERED_CONSUME_MANUAL_ACK: Family = counter(
    "rabbitmq_global_messages_delivered_consume_manual_ack_total",
    "Total number of messages delivered to consumers using basic.consume with manual acknowledgment",
);
pub const DELIVERED_CONSUME_AUTO_ACK: Family = counter(
    "rabbitmq_global_messages_delivered_consume_auto_ack_total",
    "Total number of messages delivered to consumers using basic.consume with automatic acknowledgment",
);
pub const DELIVERED_GET_MANUAL_ACK: Family = counter(
    "rabbitmq_global_messages_delivered_get_manual_ack_total",
    "Total number of messages delivered to consumers using basic.get with manual acknowledgment",
);
pub const DELIVERED_GET_AUTO_ACK: Family = counter(
    "rabbitmq_global_messages_delivered_get_auto_ack_total",
    "Total number of messages delivered to consumers using basic.get with automatic acknowledgment",
);
pub const GET_EMPTY: Family = counter(
    "rabbitmq_global_messages_get_empty_total",
    "Total number of times basic.get operations fetched no message",
);
pub const REDELIVERED: Family = counter(
    "rabbitmq_global_messages_redelivered_total",
    "Total number of messages redelivered to consumers",
);
pub const ACKNOWLEDGED: Family = counter(
    "rabbitmq_global_messages_acknowledged_total",
    "Total number of messages acknowledged by consumers",
);

// Dead-lettering: `queue_type` and `dead_letter_strategy` labelled (no `protocol`).
pub const DEAD_LETTERED_EXPIRED: Family = counter(
    "rabbitmq_global_messages_dead_lettered_expired_total",
    "Total number of messages dead-lettered due to message TTL exceeded",
);
pub const DEAD_LETTERED_REJECTED: Family = counter(
    "rabbitmq_global_messages_dead_lettered_rejected_total",
    "Total number of messages dead-lettered due to basic.reject or basic.nack",
);
pub const DEAD_LETTERED_MAXLEN: Family = counter(
    "rabbitmq_global_messages_dead_lettered_maxlen_total",
    "Total number of messages dead-lettered due to overflow drop-head or reject-publish-dlx",
);
pub const DEAD_LETTERED_DELIVERY_LIMIT: Family = counter(
    "rabbitmq_global_messages_dead_lettered_delivery_limit_total",
    "Total number of messages dead-lettered due to delivery-limit exceeded",
);
pub const DEAD_LETTERED_CONFIRMED: Family = counter(
    "rabbitmq_global_messages_dead_lettered_confirmed_total",
    "Total number of messages dead-lettered and confirmed by target queues",
);

// Identity, alarms, process.
pub const BUILD_INFO: Family = untyped("rabbitmq_build_info", "RabbitMQ & Erlang/OTP version info");
pub const IDENTITY_INFO: Family = untyped(
    "rabbitmq_identity_info",
    "RabbitMQ node & cluster identity info",
);
pub const ALARM_FDS: Family = untyped(
    "rabbitmq_alarms_file_descriptor_limit",
    "is 1 if file descriptor limit alarm is in effect",
);
pub const ALARM_DISK: Family = untyped(
    "rabbitmq_alarms_free_disk_space_watermark",
    "is 1 if free disk space watermark alarm is in effect",
);
pub const ALARM_MEMORY: Family = untyped(
    "rabbitmq_alarms_memory_used_watermark",
    "is 1 if VM memory watermark alarm is in effect",
);
pub const PROCESS_START: Family = gauge(
    "process_start_time_seconds",
    "Start time of the process since unix epoch in seconds.",
);
