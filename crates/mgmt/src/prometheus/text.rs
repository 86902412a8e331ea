//! Prometheus' text exposition format, version 0.0.4, as RabbitMQ's plugin writes it: per
//! family `# TYPE` then `# HELP`, then its samples; no timestamps. The output goes out in
//! chunks as it fills, so a scrape of 100,000 queues never holds its whole body.

use std::fmt::Write as _;

use bytes::Bytes;

/// Bytes gathered before a chunk is handed on.
const CHUNK_BYTES: usize = 256 << 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Untyped,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Untyped => "untyped",
            Kind::Histogram => "histogram",
        }
    }
}

/// A metric family's name (as exposed, `_total` included for counters), type and help.
#[derive(Debug, Clone, Copy)]
pub struct Family {
    pub name: &'static str,
    pub kind: Kind,
    pub help: &'static str,
}

/// A sample's value: integers print as integers, floats as Prometheus reads them.
#[derive(Debug, Clone, Copy)]
pub enum Value {
    Int(u64),
    Float(f64),
}

impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::Int(v)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}

/// Writes families and samples, handing full chunks to `sink`.
pub struct Writer<F: FnMut(Bytes) -> bool> {
    buf: String,
    sink: F,
    /// False once the sink refused a chunk (the scraper went away): writing stops.
    open: bool,
}

impl<F: FnMut(Bytes) -> bool> Writer<F> {
    pub fn new(sink: F) -> Self {
        Self {
            buf: String::with_capacity(CHUNK_BYTES + 4096),
            sink,
            open: true,
        }
    }

    /// Whether the reader still wants more.
    pub fn is_open(&self) -> bool {
        self.open
    }

    pub fn family(&mut self, f: &Family) {
        let _ = writeln!(self.buf, "# TYPE {} {}", f.name, f.kind.as_str());
        self.buf.push_str("# HELP ");
        self.buf.push_str(f.name);
        self.buf.push(' ');
        escape_help(&mut self.buf, f.help);
        self.buf.push('\n');
        self.maybe_flush();
    }

    /// One sample of `family` with `labels` (name, value) in the order given.
    pub fn sample(&mut self, family: &Family, labels: &[(&str, &str)], value: impl Into<Value>) {
        self.buf.push_str(family.name);
        if !labels.is_empty() {
            self.labels(labels.iter());
        }
        self.buf.push(' ');
        match value.into() {
            Value::Int(v) => {
                let _ = write!(self.buf, "{v}");
            }
            Value::Float(v) => write_float(&mut self.buf, v),
        }
        self.buf.push('\n');
        self.maybe_flush();
    }

    /// One series of a histogram: cumulative `_bucket` samples for each `(le, count)` (the
    /// last `le` is `+Inf`), then `_sum` and `_count`, each with `labels` first.
    pub fn histogram(
        &mut self,
        family: &Family,
        labels: &[(&str, &str)],
        buckets: &[(&str, u64)],
        sum: u64,
    ) {
        debug_assert_eq!(family.kind, Kind::Histogram);
        let mut cumulative = 0u64;
        for &(le, count) in buckets {
            cumulative += count;
            self.suffixed_sample(family.name, "_bucket", labels, Some(le), cumulative);
        }
        self.suffixed_sample(family.name, "_sum", labels, None, sum);
        self.suffixed_sample(family.name, "_count", labels, None, cumulative);
    }

    fn suffixed_sample(
        &mut self,
        name: &str,
        suffix: &str,
        labels: &[(&str, &str)],
        le: Option<&str>,
        value: u64,
    ) {
        self.buf.push_str(name);
        self.buf.push_str(suffix);
        let le = le.map(|v| ("le", v));
        self.labels(labels.iter().chain(le.as_ref()));
        let _ = writeln!(self.buf, " {value}");
        self.maybe_flush();
    }

    /// `{name="value",...}`, values escaped.
    fn labels<'l>(&mut self, labels: impl Iterator<Item = &'l (&'l str, &'l str)>) {
        self.buf.push('{');
        for (i, (name, value)) in labels.enumerate() {
            if i > 0 {
                self.buf.push(',');
            }
            self.buf.push_str(name);
            self.buf.push_str("=\"");
            escape_label(&mut self.buf, value);
            self.buf.push('"');
        }
        self.buf.push('}');
    }

    /// A family with one sample and no labels.
    pub fn single(&mut self, family: &Family, value: impl Into<Value>) {
        self.family(family);
        self.sample(family, &[], value);
    }

    fn maybe_flush(&mut self) {
        if self.buf.len() >= CHUNK_BYTES {
            self.flush();
        }
    }

    /// Hand what is buffered to the sink (RabbitMQ ends the body with an empty line).
    pub fn finish(mut self) {
        self.buf.push('\n');
        self.flush();
    }

    fn flush(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let chunk = std::mem::replace(&mut self.buf, String::with_capacity(CHUNK_BYTES + 4096));
        if self.open && !(self.sink)(Bytes::from(chunk)) {
            self.open = false;
        }
    }
}

/// Label values escape backslash, double quote and newline.
fn escape_label(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Help texts escape backslash and newline.
fn escape_help(out: &mut String, help: &str) {
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn write_float(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        let _ = write!(out, "{v:.1}");
    } else {
        let _ = write!(out, "{v}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: Family = Family {
        name: "rabbitmq_queue_messages_ready",
        kind: Kind::Gauge,
        help: "Messages ready to be delivered to consumers",
    };

    fn render(write: impl FnOnce(&mut Writer<&mut dyn FnMut(Bytes) -> bool>)) -> String {
        let mut out = Vec::new();
        let mut sink = |b: Bytes| {
            out.extend_from_slice(&b);
            true
        };
        let mut w = Writer::new(&mut sink as &mut dyn FnMut(Bytes) -> bool);
        write(&mut w);
        w.finish();
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn a_family_is_type_then_help_then_samples_with_escaped_labels() {
        let text = render(|w| {
            w.family(&F);
            w.sample(&F, &[("vhost", "/"), ("queue", "a\"b\\c\nd")], 3u64);
            w.sample(&F, &[], 0.5);
        });
        assert_eq!(
            text,
            "# TYPE rabbitmq_queue_messages_ready gauge\n\
             # HELP rabbitmq_queue_messages_ready Messages ready to be delivered to consumers\n\
             rabbitmq_queue_messages_ready{vhost=\"/\",queue=\"a\\\"b\\\\c\\nd\"} 3\n\
             rabbitmq_queue_messages_ready 0.5\n\n"
        );
    }

    #[test]
    fn floats_are_written_as_prometheus_reads_them() {
        let mut s = String::new();
        for v in [1.0, 0.25, f64::NAN, f64::INFINITY, 1e20] {
            write_float(&mut s, v);
            s.push(' ');
        }
        assert_eq!(s, "1.0 0.25 NaN +Inf 100000000000000000000 ");
    }

    #[test]
    fn a_refusing_sink_stops_the_writer() {
        let mut chunks = 0;
        let mut sink = |_b: Bytes| {
            chunks += 1;
            false
        };
        let mut w = Writer::new(&mut sink);
        for _ in 0..100_000 {
            w.sample(&F, &[("queue", "q")], 1u64);
        }
        assert!(!w.is_open());
        w.finish();
        assert_eq!(chunks, 1, "nothing is handed on after the first refusal");
    }
}
