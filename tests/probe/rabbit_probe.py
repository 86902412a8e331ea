#!/usr/bin/env python3
"""Raw-socket AMQP 0-9-1 probe.

Opens raw TCP connections to a broker, performs the AMQP handshake by hand,
sends each scenario's bytes and prints exactly what the server answers
(frame type, channel, method, decoded arguments; for connection.close /
channel.close: reply-code, reply-text, failing class-id and method-id; or
"socket closed"; or a timeout).

Standard library only.  Loopback use only.  Every read is bounded by a
socket timeout.

    python3 tests/probe/rabbit_probe.py                 # all fast scenarios
    python3 tests/probe/rabbit_probe.py --slow          # also the 10-35 s ones
    python3 tests/probe/rabbit_probe.py --only 'ch\\.'  # regex on scenario id
    python3 tests/probe/rabbit_probe.py --list
    python3 tests/probe/rabbit_probe.py --port 5673     # point at Warren

Output is meant to be diffable between brokers: server-generated names are
normalised (amq.gen-<...>, amq.ctag-<...>) and timings are only printed
with --timing (or rounded, for the scenarios that are about timing).
"""

import argparse
import re
import socket
import struct
import sys
import time
import traceback

FRAME_METHOD = 1
FRAME_HEADER = 2
FRAME_BODY = 3
FRAME_HEARTBEAT = 8
FRAME_END = 0xCE
FRAME_NAMES = {1: "METHOD", 2: "HEADER", 3: "BODY", 8: "HEARTBEAT"}

# --------------------------------------------------------------------------
# Method table: (class, method) -> (name, "type:name type:name ...")
# --------------------------------------------------------------------------
_SPEC = """
10 10 connection.start octet:version_major octet:version_minor table:server_properties longstr:mechanisms longstr:locales
10 11 connection.start-ok table:client_properties shortstr:mechanism longstr:response shortstr:locale
10 20 connection.secure longstr:challenge
10 21 connection.secure-ok longstr:response
10 30 connection.tune short:channel_max long:frame_max short:heartbeat
10 31 connection.tune-ok short:channel_max long:frame_max short:heartbeat
10 40 connection.open shortstr:virtual_host shortstr:reserved1 bit:reserved2
10 41 connection.open-ok shortstr:reserved1
10 50 connection.close short:reply_code shortstr:reply_text short:class_id short:method_id
10 51 connection.close-ok
10 60 connection.blocked shortstr:reason
10 61 connection.unblocked
10 70 connection.update-secret longstr:new_secret shortstr:reason
10 71 connection.update-secret-ok
20 10 channel.open shortstr:reserved1
20 11 channel.open-ok longstr:reserved1
20 20 channel.flow bit:active
20 21 channel.flow-ok bit:active
20 40 channel.close short:reply_code shortstr:reply_text short:class_id short:method_id
20 41 channel.close-ok
30 10 access.request shortstr:realm bit:exclusive bit:passive bit:active bit:write bit:read
30 11 access.request-ok short:ticket
40 10 exchange.declare short:reserved1 shortstr:exchange shortstr:type bit:passive bit:durable bit:auto_delete bit:internal bit:nowait table:arguments
40 11 exchange.declare-ok
40 20 exchange.delete short:reserved1 shortstr:exchange bit:if_unused bit:nowait
40 21 exchange.delete-ok
40 30 exchange.bind short:reserved1 shortstr:destination shortstr:source shortstr:routing_key bit:nowait table:arguments
40 31 exchange.bind-ok
40 40 exchange.unbind short:reserved1 shortstr:destination shortstr:source shortstr:routing_key bit:nowait table:arguments
40 51 exchange.unbind-ok
50 10 queue.declare short:reserved1 shortstr:queue bit:passive bit:durable bit:exclusive bit:auto_delete bit:nowait table:arguments
50 11 queue.declare-ok shortstr:queue long:message_count long:consumer_count
50 20 queue.bind short:reserved1 shortstr:queue shortstr:exchange shortstr:routing_key bit:nowait table:arguments
50 21 queue.bind-ok
50 30 queue.purge short:reserved1 shortstr:queue bit:nowait
50 31 queue.purge-ok long:message_count
50 40 queue.delete short:reserved1 shortstr:queue bit:if_unused bit:if_empty bit:nowait
50 41 queue.delete-ok long:message_count
50 50 queue.unbind short:reserved1 shortstr:queue shortstr:exchange shortstr:routing_key table:arguments
50 51 queue.unbind-ok
60 10 basic.qos long:prefetch_size short:prefetch_count bit:global
60 11 basic.qos-ok
60 20 basic.consume short:reserved1 shortstr:queue shortstr:consumer_tag bit:no_local bit:no_ack bit:exclusive bit:nowait table:arguments
60 21 basic.consume-ok shortstr:consumer_tag
60 30 basic.cancel shortstr:consumer_tag bit:nowait
60 31 basic.cancel-ok shortstr:consumer_tag
60 40 basic.publish short:reserved1 shortstr:exchange shortstr:routing_key bit:mandatory bit:immediate
60 50 basic.return short:reply_code shortstr:reply_text shortstr:exchange shortstr:routing_key
60 60 basic.deliver shortstr:consumer_tag longlong:delivery_tag bit:redelivered shortstr:exchange shortstr:routing_key
60 70 basic.get short:reserved1 shortstr:queue bit:no_ack
60 71 basic.get-ok longlong:delivery_tag bit:redelivered shortstr:exchange shortstr:routing_key long:message_count
60 72 basic.get-empty shortstr:reserved1
60 80 basic.ack longlong:delivery_tag bit:multiple
60 90 basic.reject longlong:delivery_tag bit:requeue
60 100 basic.recover-async bit:requeue
60 110 basic.recover bit:requeue
60 111 basic.recover-ok
60 120 basic.nack longlong:delivery_tag bit:multiple bit:requeue
85 10 confirm.select bit:nowait
85 11 confirm.select-ok
90 10 tx.select
90 11 tx.select-ok
90 20 tx.commit
90 21 tx.commit-ok
90 30 tx.rollback
90 31 tx.rollback-ok
"""

METHODS = {}      # (cid, mid) -> (name, [(type, argname)])
BY_NAME = {}      # name -> (cid, mid, [(type, argname)])
for _line in _SPEC.strip().splitlines():
    _p = _line.split()
    _cid, _mid, _name = int(_p[0]), int(_p[1]), _p[2]
    _args = [tuple(a.split(":")) for a in _p[3:]]
    METHODS[(_cid, _mid)] = (_name, _args)
    BY_NAME[_name] = (_cid, _mid, _args)


def method_name(cid, mid):
    m = METHODS.get((cid, mid))
    return m[0] if m else "unknown"


# --------------------------------------------------------------------------
# Field tables / values
# --------------------------------------------------------------------------
class Raw:
    """Bytes inserted verbatim in place of an encoded value."""

    def __init__(self, data):
        self.data = data


def enc_shortstr(s):
    b = s.encode() if isinstance(s, str) else s
    if len(b) > 255:
        raise ValueError("shortstr too long")
    return struct.pack("B", len(b)) + b


def enc_longstr(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack(">I", len(b)) + b


def enc_value(v):
    """Python value -> tagged field value.  Use (tag, value) for explicit tags."""
    if isinstance(v, Raw):
        return v.data
    if isinstance(v, tuple):
        tag, val = v
        t = tag.encode()
        if tag == "t":
            return t + struct.pack("B", 1 if val else 0)
        if tag == "b":
            return t + struct.pack(">b", val)
        if tag == "B":
            return t + struct.pack(">B", val)
        if tag == "s":
            return t + struct.pack(">h", val)
        if tag == "u":
            return t + struct.pack(">H", val)
        if tag == "I":
            return t + struct.pack(">i", val)
        if tag == "i":
            return t + struct.pack(">I", val)
        if tag == "l":
            return t + struct.pack(">q", val)
        if tag == "f":
            return t + struct.pack(">f", val)
        if tag == "d":
            return t + struct.pack(">d", val)
        if tag == "D":
            return t + struct.pack(">BI", val[0], val[1])
        if tag == "S":
            return t + enc_longstr(val)
        if tag == "x":
            return t + enc_longstr(val)
        if tag == "T":
            return t + struct.pack(">Q", val)
        if tag == "F":
            return t + enc_table(val)
        if tag == "A":
            return t + enc_array(val)
        if tag == "V":
            return t
        raise ValueError("unknown tag " + tag)
    if isinstance(v, bool):
        return enc_value(("t", v))
    if isinstance(v, int):
        return enc_value(("I", v) if -2**31 <= v < 2**31 else ("l", v))
    if isinstance(v, float):
        return enc_value(("d", v))
    if isinstance(v, (str, bytes)):
        return enc_value(("S", v))
    if isinstance(v, dict):
        return enc_value(("F", v))
    if isinstance(v, list):
        return enc_value(("A", v))
    if v is None:
        return b"V"
    raise ValueError("cannot encode %r" % (v,))


def enc_table(d):
    if isinstance(d, Raw):
        return d.data
    body = b"".join(enc_shortstr(k) + enc_value(v) for k, v in (d or {}).items())
    return struct.pack(">I", len(body)) + body


def enc_array(a):
    body = b"".join(enc_value(v) for v in a)
    return struct.pack(">I", len(body)) + body


class Reader:
    def __init__(self, data):
        self.d = data
        self.i = 0

    def take(self, n):
        if self.i + n > len(self.d):
            raise ValueError("truncated (need %d bytes at offset %d, have %d)" % (n, self.i, len(self.d)))
        b = self.d[self.i:self.i + n]
        self.i += n
        return b

    def unpack(self, fmt):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))

    def octet(self):
        return self.unpack(">B")[0]

    def short(self):
        return self.unpack(">H")[0]

    def long(self):
        return self.unpack(">I")[0]

    def longlong(self):
        return self.unpack(">Q")[0]

    def shortstr(self):
        return self.take(self.octet()).decode("utf-8", "replace")

    def longstr(self):
        return self.take(self.long())

    def table(self):
        sub = Reader(self.take(self.long()))
        out = {}
        while sub.i < len(sub.d):
            k = sub.shortstr()
            out[k] = sub.value()
        return out

    def array(self):
        sub = Reader(self.take(self.long()))
        out = []
        while sub.i < len(sub.d):
            out.append(sub.value())
        return out

    def value(self):
        tag = chr(self.octet())
        if tag == "t":
            return ("t", bool(self.octet()))
        if tag == "b":
            return ("b", self.unpack(">b")[0])
        if tag == "B":
            return ("B", self.unpack(">B")[0])
        if tag == "s":
            return ("s", self.unpack(">h")[0])
        if tag == "u":
            return ("u", self.unpack(">H")[0])
        if tag == "I":
            return ("I", self.unpack(">i")[0])
        if tag == "i":
            return ("i", self.unpack(">I")[0])
        if tag == "l":
            return ("l", self.unpack(">q")[0])
        if tag == "f":
            return ("f", self.unpack(">f")[0])
        if tag == "d":
            return ("d", self.unpack(">d")[0])
        if tag == "D":
            return ("D", self.unpack(">BI"))
        if tag == "S":
            return ("S", self.longstr())
        if tag == "x":
            return ("x", self.longstr())
        if tag == "T":
            return ("T", self.longlong())
        if tag == "F":
            return ("F", self.table())
        if tag == "A":
            return ("A", self.array())
        if tag == "V":
            return ("V", None)
        raise ValueError("unknown field type tag %r" % tag)


def fmt_value(tv):
    tag, v = tv
    if tag == "F":
        return "F" + fmt_table(v)
    if tag == "A":
        return "A[" + ", ".join(fmt_value(x) for x in v) + "]"
    if tag in ("S", "x"):
        try:
            return "%s:%r" % (tag, v.decode())
        except UnicodeDecodeError:
            return "%s:%r" % (tag, v)
    return "%s:%r" % (tag, v)


def fmt_table(t):
    return "{" + ", ".join("%r: %s" % (k, fmt_value(v)) for k, v in t.items()) + "}"


# --------------------------------------------------------------------------
# Methods / frames
# --------------------------------------------------------------------------
def enc_args(args, kw):
    out = b""
    bits = []

    def flush():
        nonlocal out, bits
        if bits:
            v = 0
            for i, b in enumerate(bits):
                if b:
                    v |= 1 << i
            out += struct.pack("B", v)
            bits = []

    for typ, name in args:
        val = kw.pop(name, None)
        if typ == "bit":
            bits.append(bool(val))
            if len(bits) == 8:
                flush()
            continue
        flush()
        if isinstance(val, Raw):
            out += val.data
        elif typ == "octet":
            out += struct.pack("B", val or 0)
        elif typ == "short":
            out += struct.pack(">H", val or 0)
        elif typ == "long":
            out += struct.pack(">I", val or 0)
        elif typ == "longlong":
            out += struct.pack(">Q", val or 0)
        elif typ == "shortstr":
            out += enc_shortstr(val or "")
        elif typ == "longstr":
            out += enc_longstr(val or b"")
        elif typ == "table":
            out += enc_table(val or {})
        else:
            raise ValueError(typ)
    flush()
    if kw:
        raise ValueError("unknown args %r" % kw)
    return out


def enc_method(name, **kw):
    cid, mid, args = BY_NAME[name]
    return struct.pack(">HH", cid, mid) + enc_args(args, dict(kw))


def dec_args(args, r):
    out = {}
    bitpos = 8
    byte = 0
    for typ, name in args:
        if typ == "bit":
            if bitpos == 8:
                byte = r.octet()
                bitpos = 0
            out[name] = (byte >> bitpos) & 1
            bitpos += 1
            continue
        bitpos = 8
        out[name] = getattr(r, typ)()
    return out


def frame(ftype, ch, payload, end=FRAME_END, size=None):
    if size is None:
        size = len(payload)
    return struct.pack(">BHI", ftype, ch, size) + payload + bytes([end])


def method_frame(ch, name, **kw):
    return frame(FRAME_METHOD, ch, enc_method(name, **kw))


PROP_FIELDS = [
    ("content_type", "shortstr"), ("content_encoding", "shortstr"), ("headers", "table"),
    ("delivery_mode", "octet"), ("priority", "octet"), ("correlation_id", "shortstr"),
    ("reply_to", "shortstr"), ("expiration", "shortstr"), ("message_id", "shortstr"),
    ("timestamp", "longlong"), ("type", "shortstr"), ("user_id", "shortstr"),
    ("app_id", "shortstr"), ("cluster_id", "shortstr"),
]


def enc_props(props):
    flags = 0
    out = b""
    for i, (name, typ) in enumerate(PROP_FIELDS):
        if name in props:
            flags |= 1 << (15 - i)
            v = props[name]
            if typ == "shortstr":
                out += enc_shortstr(v)
            elif typ == "table":
                out += enc_table(v)
            elif typ == "octet":
                out += struct.pack("B", v)
            elif typ == "longlong":
                out += struct.pack(">Q", v)
    return struct.pack(">H", flags) + out


def header_frame(ch, body_size, props=None, class_id=60, weight=0, raw_props=None):
    p = raw_props if raw_props is not None else enc_props(props or {})
    return frame(FRAME_HEADER, ch, struct.pack(">HHQ", class_id, weight, body_size) + p)


def body_frame(ch, data):
    return frame(FRAME_BODY, ch, data)


class Frame:
    def __init__(self, ftype, ch, payload, end, raw):
        self.type = ftype
        self.ch = ch
        self.payload = payload
        self.end = end
        self.raw = raw
        self.cid = self.mid = None
        self.name = None
        self.args = {}
        self.err = None
        if ftype == FRAME_METHOD and len(payload) >= 4:
            self.cid, self.mid = struct.unpack(">HH", payload[:4])
            m = METHODS.get((self.cid, self.mid))
            if m:
                self.name = m[0]
                try:
                    r = Reader(payload[4:])
                    self.args = dec_args(m[1], r)
                    if r.i != len(r.d):
                        self.err = "%d trailing bytes" % (len(r.d) - r.i)
                except Exception as e:  # noqa
                    self.err = str(e)

    def is_method(self, name):
        return self.type == FRAME_METHOD and self.name == name


NORMALISE = [
    (re.compile(r"amq\.gen-[A-Za-z0-9_\-]{22}"), "amq.gen-<22>"),
    (re.compile(r"amq\.ctag-[A-Za-z0-9_\-]{22}"), "amq.ctag-<22>"),
    (re.compile(r"<[a-z0-9@\.\-]+\.\d+\.\d+\.\d+>"), "<pid>"),
]


def norm(s):
    for rx, rep in NORMALISE:
        s = rx.sub(rep, s)
    return s


def fmt_arg(k, v):
    if k == "reply_text" and isinstance(v, str):
        return 'reply_text="%s"' % v   # verbatim, no escaping
    if isinstance(v, dict):
        return "%s=%s" % (k, fmt_table(v))
    if isinstance(v, bytes):
        try:
            return "%s=%r" % (k, v.decode())
        except UnicodeDecodeError:
            return "%s=%r" % (k, v)
    return "%s=%r" % (k, v)


def dec_props(r):
    flags = r.short()
    out = {}
    for i, (name, typ) in enumerate(PROP_FIELDS):
        if flags & (1 << (15 - i)):
            out[name] = getattr(r, typ)()
    return flags, out


def describe(f, full_body=False):
    if f.type == "proto":
        return "PROTOCOL-HEADER %r (hex %s)" % (f.payload, f.payload.hex())
    tail = "" if f.end == FRAME_END else " [frame-end byte 0x%02x!]" % f.end
    if f.type == FRAME_METHOD:
        if f.cid is None:
            return "METHOD ch=%d <short payload %r>%s" % (f.ch, f.payload, tail)
        s = "METHOD ch=%d %s(%d,%d)" % (f.ch, f.name or "unknown", f.cid, f.mid)
        parts = []
        for k, v in f.args.items():
            if k.startswith("reserved") and v in (0, "", b""):
                continue
            if k == "server_properties":
                parts.append("server_properties=<%d keys>" % len(v))
                continue
            parts.append(fmt_arg(k, v))
        if f.name in ("connection.close", "channel.close"):
            fc, fm = f.args.get("class_id"), f.args.get("method_id")
            parts.append("=> failing method %s" % ("none" if (fc, fm) == (0, 0) else method_name(fc, fm)))
        if parts:
            s += " " + " ".join(parts)
        if f.err:
            s += " [decode error: %s]" % f.err
        return norm(s + tail)
    if f.type == FRAME_HEADER:
        try:
            r = Reader(f.payload)
            cls, weight, size = r.unpack(">HHQ")
            flags, props = dec_props(r)
            ps = ", ".join(fmt_arg(k, v) for k, v in props.items())
            return "HEADER ch=%d class=%d weight=%d body_size=%d flags=0x%04x {%s}%s" % (
                f.ch, cls, weight, size, flags, ps, tail)
        except Exception as e:  # noqa
            return "HEADER ch=%d <undecodable %r: %s>%s" % (f.ch, f.payload, e, tail)
    if f.type == FRAME_BODY:
        b = f.payload
        shown = b if (full_body or len(b) <= 40) else b[:40] + b"..."
        return "BODY ch=%d size=%d %r%s" % (f.ch, len(b), shown, tail)
    if f.type == FRAME_HEARTBEAT:
        return "HEARTBEAT ch=%d size=%d%s" % (f.ch, len(f.payload), tail)
    return "FRAME type=%d ch=%d size=%d payload=%r%s" % (f.type, f.ch, len(f.payload), f.payload[:40], tail)


# --------------------------------------------------------------------------
# Connection
# --------------------------------------------------------------------------
CAPS = {
    "publisher_confirms": True,
    "exchange_exchange_bindings": True,
    "basic.nack": True,
    "consumer_cancel_notify": True,
    "connection.blocked": True,
    "authentication_failure_close": True,
    "per_consumer_qos": True,
}
CLIENT_PROPS = {"product": "warren-probe", "platform": "python", "capabilities": CAPS}


class Probe:
    def __init__(self, host, port, timing=False):
        self.host = host
        self.port = port
        self.timing = timing
        self.conns = []
        self.server_tune = None

    def out(self, s):
        print(s, flush=True)

    def conn(self, name=None):
        c = Conn(self, name or "c%d" % (len(self.conns) + 1))
        self.conns.append(c)
        return c

    def open(self, name=None, channel=1, quiet=True, **kw):
        """Connected, handshaken connection with `channel` open (0 = none)."""
        c = self.conn(name)
        c.connect()
        c.handshake(channel=channel, quiet=quiet, **kw)
        return c

    def close_all(self):
        for c in self.conns:
            c.shutdown()
        self.conns = []

    # silent admin helpers -------------------------------------------------
    def admin(self, *ops):
        """ops: ('dq', name) delete queue, ('dx', name) delete exchange,
        or a (channel-less) callable(conn)."""
        c = Conn(self, "admin", silent=True)
        try:
            c.connect()
            c.handshake(channel=0, quiet=True)
            ch = 1
            for op in ops:
                c.sock_send(method_frame(ch, "channel.open"))
                c.wait_method(2.0)
                if op[0] == "dq":
                    c.sock_send(method_frame(ch, "queue.delete", queue=op[1]))
                elif op[0] == "dx":
                    c.sock_send(method_frame(ch, "exchange.delete", exchange=op[1]))
                c.wait_method(2.0)
                ch += 1
        except Exception:  # noqa
            pass
        finally:
            c.shutdown()


class Conn:
    def __init__(self, probe, name, silent=False):
        self.P = probe
        self.name = name
        self.sock = None
        self.buf = b""
        self.closed = None
        self.silent = silent
        self.t0 = time.monotonic()
        self.frame_max = 131072
        self.start = None
        self.tune = None
        self.next_ch = 2

    # logging ------------------------------------------------------------
    def log(self, s):
        if self.silent:
            return
        prefix = "  "
        if len(self.P.conns) > 1:
            prefix += "[%s] " % self.name
        if self.P.timing:
            prefix += "[%6.3f] " % (time.monotonic() - self.t0)
        self.P.out(prefix + s)

    # socket -------------------------------------------------------------
    def connect(self):
        self.sock = socket.create_connection((self.P.host, self.P.port), timeout=5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.t0 = time.monotonic()

    def sock_send(self, data):
        try:
            self.sock.sendall(data)
            return True
        except OSError as e:
            self.log("   (send failed: %s)" % e.__class__.__name__)
            return False

    def send(self, data, note):
        self.log("-> " + note)
        self.sock_send(data)

    def send_method(self, ch, name, _note="", **kw):
        shown = " ".join(fmt_arg(k, Reader(enc_table(v)).table() if isinstance(v, dict) else v)
                         for k, v in kw.items() if not isinstance(v, Raw))
        self.send(method_frame(ch, name, **kw), "ch=%d %s%s%s" % (ch, name, (" " + shown) if shown else "", _note))

    def publish(self, ch, exchange, rk, body, mandatory=False, immediate=False, props=None, note=""):
        if isinstance(body, str):
            body = body.encode()
        data = method_frame(ch, "basic.publish", exchange=exchange, routing_key=rk,
                            mandatory=mandatory, immediate=immediate)
        data += header_frame(ch, len(body), props)
        maxb = self.frame_max - 8
        for i in range(0, len(body), maxb):
            data += body_frame(ch, body[i:i + maxb])
        flags = (" mandatory" if mandatory else "") + (" immediate" if immediate else "")
        self.send(data, "ch=%d basic.publish exchange=%r routing_key=%r%s + header + body(%d bytes)%s" % (
            ch, exchange, rk, flags, len(body), note))

    def _fill(self, timeout):
        """Receive more bytes.  Returns False on timeout; sets self.closed on EOF/RST."""
        if self.closed:
            return False
        self.sock.settimeout(max(timeout, 0.001))
        try:
            d = self.sock.recv(65536)
        except socket.timeout:
            return False
        except ConnectionResetError:
            self.closed = "RST"
            return False
        except OSError as e:
            self.closed = "ERR " + e.__class__.__name__
            return False
        if not d:
            self.closed = "EOF"
            return False
        self.buf += d
        return True

    def read_frame(self, timeout):
        """Frame, or None on timeout/close (see self.closed)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.buf[:4] == b"AMQP" and len(self.buf) >= 8:
                f = Frame("proto", 0, self.buf[:8], FRAME_END, self.buf[:8])
                self.buf = self.buf[8:]
                return f
            if len(self.buf) >= 7 and self.buf[:4] != b"AMQP":
                ftype, ch, size = struct.unpack(">BHI", self.buf[:7])
                if len(self.buf) >= 8 + size:
                    raw = self.buf[:8 + size]
                    self.buf = self.buf[8 + size:]
                    return Frame(ftype, ch, raw[7:7 + size], raw[7 + size], raw)
            rem = deadline - time.monotonic()
            if rem <= 0 or self.closed:
                return None
            if not self._fill(rem) and not self.closed and time.monotonic() >= deadline:
                return None

    def wait_method(self, timeout):
        """Silently wait for the next method frame (skipping heartbeats)."""
        deadline = time.monotonic() + timeout
        while True:
            f = self.read_frame(deadline - time.monotonic())
            if f is None or f.type == FRAME_METHOD or f.type == "proto":
                return f

    def report_closed(self, extra=""):
        if self.buf:
            self.log("<- leftover bytes before close: %r" % self.buf[:80])
            self.buf = b""
        if self.closed == "EOF":
            self.log("<- socket closed by server (EOF)" + extra)
        elif self.closed == "RST":
            self.log("<- socket reset by server (RST)" + extra)
        else:
            self.log("<- socket error: %s" % self.closed)

    def observe(self, wait=3.0, settle=0.4, reply=True, max_frames=60, full_body=False):
        """Print everything the server sends until it goes quiet.

        wait:   how long to wait for the first frame (then "no reply").
        settle: after a frame, how long to wait for another one.
        reply:  answer server channel.close / connection.close with close-ok.
        """
        frames = []
        nxt = wait
        closing = False          # connection.close-ok sent or received: expect EOF
        t_ref = time.monotonic()
        while len(frames) < max_frames:
            if self.closed:
                break
            f = self.read_frame(nxt)
            if f is None:
                if self.closed:
                    dt = time.monotonic() - t_ref
                    self.report_closed(" (~%gs later)" % (round(dt * 2) / 2) if dt >= 0.75 else "")
                elif closing:
                    self.log("<- (socket still open %gs after close-ok)" % nxt)
                elif not frames:
                    self.log("<- (nothing within %gs)" % wait)
                break
            frames.append(f)
            self.log("<- " + describe(f, full_body))
            nxt = settle
            t_ref = time.monotonic()
            if f.is_method("connection.close-ok"):
                closing = True
                nxt = max(wait, 5.0)
            if reply and f.is_method("channel.close"):
                self.send(method_frame(f.ch, "channel.close-ok"), "ch=%d channel.close-ok (auto reply)" % f.ch)
            elif f.is_method("connection.close"):
                if reply:
                    self.send(method_frame(0, "connection.close-ok"), "ch=0 connection.close-ok (auto reply)")
                    closing = True
                nxt = max(wait, 5.0)
        return frames

    def call(self, ch, name, wait=3.0, **kw):
        """Send a method and print replies (until quiet)."""
        self.send_method(ch, name, **kw)
        return self.observe(wait=wait)

    def observe_raw(self, wait=3.0):
        """Print raw bytes received until close / quiet."""
        deadline = time.monotonic() + wait
        got = b""
        while time.monotonic() < deadline:
            if not self._fill(deadline - time.monotonic()):
                if self.closed:
                    break
        got, self.buf = self.buf, b""
        if got:
            self.log("<- raw bytes (%d): %r  hex=%s" % (len(got), got[:120], got[:64].hex()))
        if self.closed:
            self.report_closed()
        elif not got:
            self.log("<- (nothing within %gs, socket still open)" % wait)
        else:
            self.log("<- (socket still open after %gs)" % wait)

    def shutdown(self):
        if self.sock is None:
            return
        try:
            if not self.closed:
                # graceful close so the server cleans up deterministically
                self.sock.sendall(method_frame(0, "connection.close", reply_code=200, reply_text="bye"))
                deadline = time.monotonic() + 1.0
                while time.monotonic() < deadline and not self.closed:
                    f = self.read_frame(deadline - time.monotonic())
                    if f is None or f.is_method("connection.close-ok"):
                        break
        except Exception:  # noqa
            pass
        try:
            self.sock.close()
        except Exception:  # noqa
            pass
        self.sock = None

    # handshake steps ------------------------------------------------------
    def send_header(self, hdr=b"AMQP\x00\x00\x09\x01", quiet=True):
        if not quiet:
            self.log("-> protocol header %r" % hdr)
        self.sock_send(hdr)

    def expect(self, name, quiet, wait=3.0):
        f = self.wait_method(wait)
        if f is not None and f.is_method(name):
            if not quiet:
                self.log("<- " + describe(f))
            return f
        # unexpected: print it and whatever follows
        if f is None:
            if self.closed:
                self.log("<- (expected %s)" % name)
                self.report_closed()
            else:
                self.log("<- (expected %s; nothing within %gs)" % (name, wait))
        else:
            self.log("<- " + describe(f) + "   (expected %s)" % name)
            self.observe(wait=1.0)
        return None

    def handshake(self, client_props=None, mechanism="PLAIN", response=b"\0guest\0guest",
                  locale="en_US", tune=None, vhost="/", channel=1, quiet=True):
        """tune: None -> echo server channel_max/frame_max, heartbeat 0;
        or dict with any of channel_max/frame_max/heartbeat overriding that."""
        self.send_header(quiet=quiet)
        s = self.expect("connection.start", quiet)
        if not s:
            return False
        self.start = s
        so = method_frame(0, "connection.start-ok",
                          client_properties=CLIENT_PROPS if client_props is None else client_props,
                          mechanism=mechanism, response=response, locale=locale)
        if not quiet:
            self.log("-> ch=0 connection.start-ok mechanism=%r response=%r" % (mechanism, response))
        self.sock_send(so)
        t = self.expect("connection.tune", quiet)
        if not t:
            return False
        self.tune = t.args
        self.P.server_tune = t.args
        tv = {"channel_max": t.args["channel_max"], "frame_max": t.args["frame_max"], "heartbeat": 0}
        tv.update(tune or {})
        self.frame_max = tv["frame_max"] or 131072
        if not quiet:
            self.log("-> ch=0 connection.tune-ok %r" % tv)
        self.sock_send(method_frame(0, "connection.tune-ok", **tv))
        if not quiet:
            self.log("-> ch=0 connection.open virtual_host=%r" % vhost)
        self.sock_send(method_frame(0, "connection.open", virtual_host=vhost))
        if not self.expect("connection.open-ok", quiet):
            return False
        if channel:
            return self.open_channel(channel, quiet)
        return True

    def fresh(self):
        """Open a never-used channel number (avoids close-ok/reuse races); return it."""
        ch = self.next_ch
        self.next_ch += 1
        self.log("   (opening fresh channel %d)" % ch)
        self.sock_send(method_frame(ch, "channel.open"))
        self.expect("channel.open-ok", True)
        return ch

    def open_channel(self, ch, quiet=True):
        if not quiet:
            self.log("-> ch=%d channel.open" % ch)
        self.sock_send(method_frame(ch, "channel.open"))
        return self.expect("channel.open-ok", quiet) is not None

    def rpc_quiet(self, ch, name, **kw):
        """Setup step: send, wait for reply method, print only if unexpected."""
        self.sock_send(method_frame(ch, name, **kw))
        f = self.wait_method(3.0)
        if f is None or not (f.name or "").startswith(name.split(".")[0]) or f.name in (
                "channel.close", "connection.close"):
            self.log("   (setup %s got: %s)" % (name, describe(f) if f else self.closed or "timeout"))
        return f


# --------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------
SCENARIOS = []


def scenario(sid, desc, slow=False, cleanup=()):
    def deco(fn):
        SCENARIOS.append((sid, desc, slow, cleanup, fn))
        return fn
    return deco


Q = "wp.q"
Q2 = "wp.q2"
X = "wp.x"
X2 = "wp.x2"
ALLQ = ("dq", Q), ("dq", Q2), ("dq", "wp.excl"), ("dq", "wp.dur")
ALLX = ("dx", X), ("dx", X2), ("dx", "wp.internal")


def declare_q(c, ch=1, name=Q, **kw):
    return c.rpc_quiet(ch, "queue.declare", queue=name, **kw)


def put(c, ch, q, n=1, body=b"hello"):
    for i in range(n):
        c.sock_send(method_frame(ch, "basic.publish", exchange="", routing_key=q)
                    + header_frame(ch, len(body)) + body_frame(ch, body))


def sync(c, ch=1):
    """Round trip (basic.qos) to be sure previous async frames are processed."""
    c.sock_send(method_frame(ch, "basic.qos", prefetch_count=0))
    return c.wait_method(3.0)


# ---------------- handshake ----------------------------------------------
@scenario("hs.start_dump", "Full successful handshake: connection.start contents, tune offer, open-ok, channel.open-ok")
def _(P):
    c = P.conn()
    c.connect()
    c.send_header(quiet=False)
    s = c.wait_method(3.0)
    c.log("<- " + describe(s))
    c.log("   version_major=%d version_minor=%d" % (s.args["version_major"], s.args["version_minor"]))
    c.log("   mechanisms=%r locales=%r" % (s.args["mechanisms"], s.args["locales"]))
    c.log("   server_properties:")
    for k, v in s.args["server_properties"].items():
        if k == "capabilities":
            c.log("     %r: F{" % k)
            for ck, cv in v[1].items():
                c.log("         %r: %s" % (ck, fmt_value(cv)))
            c.log("       }")
        else:
            c.log("     %r: %s" % (k, fmt_value(v)))
    c.sock_send(method_frame(0, "connection.start-ok", client_properties=CLIENT_PROPS, mechanism="PLAIN",
                             response=b"\0guest\0guest", locale="en_US"))
    c.log("-> ch=0 connection.start-ok PLAIN guest/guest")
    t = c.wait_method(3.0)
    c.log("<- " + describe(t))
    c.send_method(0, "connection.tune-ok", channel_max=t.args["channel_max"], frame_max=t.args["frame_max"],
                  heartbeat=0)
    c.send_method(0, "connection.open", virtual_host="/")
    c.observe()
    c.send_method(1, "channel.open")
    c.observe()
    c.send_method(0, "connection.close", reply_code=200, reply_text="bye")
    c.observe()


def _hdr(P, hdr, wait=3.0):
    c = P.conn()
    c.connect()
    c.log("-> raw %r" % hdr)
    c.sock_send(hdr)
    c.observe_raw(wait)


@scenario("hs.header_0_9_0", "Protocol header AMQP 0-9-0 (AMQP\\x00\\x00\\x09\\x00)")
def _(P):
    _hdr(P, b"AMQP\x00\x00\x09\x00")


@scenario("hs.header_0_9_legacy", "Protocol header AMQP\\x01\\x01\\x00\\x09 (old 0-9 style)")
def _(P):
    c = P.conn()
    c.connect()
    c.send(b"AMQP\x01\x01\x00\x09", "raw b'AMQP\\x01\\x01\\x00\\x09'")
    c.observe(wait=3.0)


@scenario("hs.header_0_8", "Protocol header AMQP\\x01\\x01\\x08\\x00 (0-8)")
def _(P):
    c = P.conn()
    c.connect()
    c.send(b"AMQP\x01\x01\x08\x00", "raw b'AMQP\\x01\\x01\\x08\\x00'")
    c.observe(wait=3.0)


@scenario("hs.header_1_0", "Protocol header AMQP 1.0 (AMQP\\x00\\x01\\x00\\x00)")
def _(P):
    _hdr(P, b"AMQP\x00\x01\x00\x00")


@scenario("hs.header_0_10", "Protocol header AMQP\\x01\\x01\\x00\\x0a (0-10)")
def _(P):
    _hdr(P, b"AMQP\x01\x01\x00\x0a")


@scenario("hs.header_http", "HTTP request instead of protocol header")
def _(P):
    _hdr(P, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")


@scenario("hs.header_garbage", "8 bytes of garbage instead of protocol header")
def _(P):
    _hdr(P, b"\x01\x02\x03\x04\x05\x06\x07\x08")


@scenario("hs.header_frame_first", "A method frame (connection.start-ok) sent instead of the protocol header")
def _(P):
    _hdr(P, method_frame(0, "connection.start-ok", client_properties={}, mechanism="PLAIN",
                         response=b"\0guest\0guest", locale="en_US"))


@scenario("hs.header_amqp_short", "Only 'AMQP' (4 bytes) then silence", slow=True)
def _(P):
    c = P.conn()
    c.connect()
    c.log("-> raw b'AMQP', then wait up to 15 s")
    c.sock_send(b"AMQP")
    t = time.monotonic()
    c.observe_raw(15.0)
    c.log("   (elapsed ~%ds)" % round(time.monotonic() - t))


@scenario("hs.header_then_shut", "Only 'AMQP' then half-close (SHUT_WR)")
def _(P):
    c = P.conn()
    c.connect()
    c.log("-> raw b'AMQP' + shutdown(SHUT_WR)")
    c.sock_send(b"AMQP")
    c.sock.shutdown(socket.SHUT_WR)
    c.observe_raw(3.0)


@scenario("hs.silent_client", "Connect and send nothing", slow=True)
def _(P):
    c = P.conn()
    c.connect()
    c.log("-> (nothing; wait up to 15 s)")
    t = time.monotonic()
    c.observe_raw(15.0)
    c.log("   (elapsed ~%ds)" % round(time.monotonic() - t))


@scenario("hs.no_start_ok", "Valid header, then never answer connection.start", slow=True)
def _(P):
    c = P.conn()
    c.connect()
    c.send_header(quiet=False)
    c.expect("connection.start", quiet=True)
    c.log("<- connection.start (not shown); now silent for up to 15 s")
    t = time.monotonic()
    c.observe(wait=15.0)
    c.log("   (elapsed ~%ds)" % round(time.monotonic() - t))


def _start_ok(P, client_props=None, mechanism="PLAIN", response=b"\0guest\0guest", locale="en_US", wait=3.0):
    c = P.conn()
    c.connect()
    c.send_header()
    if not c.expect("connection.start", True):
        return c
    c.send(method_frame(0, "connection.start-ok", client_properties=CLIENT_PROPS if client_props is None
                        else client_props, mechanism=mechanism, response=response, locale=locale),
           "ch=0 connection.start-ok mechanism=%r response=%r locale=%r caps=%s" % (
               mechanism, response, locale,
               "none" if client_props is not None and "capabilities" not in client_props else
               sorted((client_props or CLIENT_PROPS).get("capabilities", {}))))
    c.observe(wait=wait)
    return c


@scenario("hs.no_open", "Handshake up to tune-ok, then never send connection.open", slow=True)
def _(P):
    c = _tune(P, {}, then_open=False, wait=15.0)


@scenario("fr.queue_bind_empty_name_unopened", "queue.bind queue='' on channel 5, never opened")
def _(P):
    c = P.open()
    c.send_method(5, "queue.bind", queue="", exchange="amq.direct", routing_key="k")
    c.observe()


@scenario("hs.bad_password_cap", "Wrong password, client has capability authentication_failure_close=true")
def _(P):
    _start_ok(P, response=b"\0guest\0wrong", wait=12.0)


@scenario("hs.bad_password_nocap", "Wrong password, no capabilities table in client-properties")
def _(P):
    _start_ok(P, client_props={"product": "warren-probe"}, response=b"\0guest\0wrong", wait=12.0)


@scenario("hs.bad_password_cap_false", "Wrong password, authentication_failure_close=false")
def _(P):
    _start_ok(P, client_props={"capabilities": {"authentication_failure_close": False}},
              response=b"\0guest\0wrong", wait=12.0)


@scenario("hs.unknown_user", "Unknown user (cap authentication_failure_close=true)")
def _(P):
    _start_ok(P, response=b"\0nobody\0guest", wait=12.0)


@scenario("hs.unknown_mechanism", "start-ok with mechanism 'FOO'")
def _(P):
    _start_ok(P, mechanism="FOO", wait=12.0)


@scenario("hs.unknown_mechanism_nocap", "start-ok with mechanism 'FOO', no capabilities")
def _(P):
    _start_ok(P, client_props={}, mechanism="FOO", wait=12.0)


@scenario("hs.plain_malformed", "PLAIN response without NUL separators ('guestguest')")
def _(P):
    _start_ok(P, response=b"guestguest", wait=12.0)


@scenario("hs.plain_authzid", "PLAIN response with authzid 'guest\\0guest\\0guest'")
def _(P):
    c = _start_ok(P, response=b"guest\0guest\0guest", wait=12.0)


@scenario("hs.plain_empty", "PLAIN with empty response")
def _(P):
    _start_ok(P, response=b"", wait=12.0)


@scenario("hs.amqplain", "AMQPLAIN mechanism with LOGIN/PASSWORD table")
def _(P):
    resp = enc_table({"LOGIN": "guest", "PASSWORD": "guest"})[4:]
    _start_ok(P, mechanism="AMQPLAIN", response=resp, wait=2.0)


@scenario("hs.locale_unknown", "start-ok with locale 'xx_XX'")
def _(P):
    _start_ok(P, locale="xx_XX", wait=2.0)


@scenario("hs.start_ok_twice", "start-ok, then another start-ok instead of tune-ok")
def _(P):
    c = P.conn()
    c.connect()
    c.send_header()
    c.expect("connection.start", True)
    c.sock_send(method_frame(0, "connection.start-ok", client_properties=CLIENT_PROPS, mechanism="PLAIN",
                             response=b"\0guest\0guest", locale="en_US"))
    c.expect("connection.tune", False)
    c.send(method_frame(0, "connection.start-ok", client_properties=CLIENT_PROPS, mechanism="PLAIN",
                        response=b"\0guest\0guest", locale="en_US"), "ch=0 connection.start-ok (again)")
    c.observe(wait=12.0)


@scenario("hs.wrong_method_instead_of_start_ok", "After connection.start, send channel.open on ch 1")
def _(P):
    c = P.conn()
    c.connect()
    c.send_header()
    c.expect("connection.start", True)
    c.send_method(1, "channel.open")
    c.observe(wait=12.0)


@scenario("hs.queue_declare_instead_of_start_ok", "After connection.start, send queue.declare on ch 0")
def _(P):
    c = P.conn()
    c.connect()
    c.send_header()
    c.expect("connection.start", True)
    c.send_method(0, "queue.declare", queue=Q)
    c.observe(wait=12.0)


@scenario("hs.close_instead_of_start_ok", "After connection.start, client sends connection.close")
def _(P):
    c = P.conn()
    c.connect()
    c.send_header()
    c.expect("connection.start", True)
    c.send_method(0, "connection.close", reply_code=200, reply_text="bye")
    c.observe(wait=12.0)


@scenario("hs.heartbeat_before_start_ok", "After connection.start, send a heartbeat frame, then proceed")
def _(P):
    c = P.conn()
    c.connect()
    c.send_header()
    c.expect("connection.start", True)
    c.send(frame(FRAME_HEARTBEAT, 0, b""), "heartbeat ch=0")
    c.observe(wait=1.0)
    if not c.closed:
        c.send(method_frame(0, "connection.start-ok", client_properties=CLIENT_PROPS, mechanism="PLAIN",
                            response=b"\0guest\0guest", locale="en_US"), "ch=0 connection.start-ok")
        c.observe(wait=2.0)


def _tune(P, tv, then_open=True, channels=(), wait=3.0):
    c = P.conn()
    c.connect()
    c.send_header()
    c.expect("connection.start", True)
    c.sock_send(method_frame(0, "connection.start-ok", client_properties=CLIENT_PROPS, mechanism="PLAIN",
                             response=b"\0guest\0guest", locale="en_US"))
    t = c.expect("connection.tune", True)
    if not t:
        return c
    v = {"channel_max": t.args["channel_max"], "frame_max": t.args["frame_max"], "heartbeat": 0}
    v.update(tv)
    c.send_method(0, "connection.tune-ok", **v)
    c.observe(wait=0.5 if then_open else wait)
    if then_open and not c.closed:
        c.send_method(0, "connection.open", virtual_host="/")
        c.observe(wait=12.0 if wait >= 3 else wait)
    for ch in channels:
        if c.closed:
            break
        c.send_method(ch, "channel.open")
        c.observe(wait=wait)
    return c


@scenario("hs.tune_ok_frame_max_1024", "tune-ok frame_max=1024 (< 4096 minimum)")
def _(P):
    _tune(P, {"frame_max": 1024})


@scenario("hs.tune_ok_frame_max_4095", "tune-ok frame_max=4095")
def _(P):
    _tune(P, {"frame_max": 4095})


@scenario("hs.tune_ok_frame_max_4096", "tune-ok frame_max=4096 (minimum)")
def _(P):
    _tune(P, {"frame_max": 4096})


@scenario("hs.tune_ok_frame_max_0", "tune-ok frame_max=0 ('no limit')")
def _(P):
    _tune(P, {"frame_max": 0})


@scenario("hs.tune_ok_frame_max_above", "tune-ok frame_max=131073 (above server offer 131072)")
def _(P):
    _tune(P, {"frame_max": 131073})


@scenario("hs.tune_ok_channel_max_above", "tune-ok channel_max=2048 (above server offer 2047)")
def _(P):
    _tune(P, {"channel_max": 2048})


@scenario("hs.tune_ok_channel_max_0", "tune-ok channel_max=0, then open channel 2047, 2048 and 65535")
def _(P):
    _tune(P, {"channel_max": 0}, channels=(2047, 2048, 65535))


@scenario("hs.tune_ok_channel_max_10", "tune-ok channel_max=10, then open channel 10 and 11")
def _(P):
    _tune(P, {"channel_max": 10}, channels=(10, 11))


@scenario("hs.tune_ok_heartbeat_above", "tune-ok heartbeat=600 (server offered 60)")
def _(P):
    _tune(P, {"heartbeat": 600})


@scenario("hs.channel0_open", "channel.open on channel 0 after open-ok")
def _(P):
    c = P.open(channel=0)
    c.send_method(0, "channel.open")
    c.observe()


@scenario("hs.open_bad_vhost", "connection.open to nonexistent vhost 'nope'")
def _(P):
    _tune(P, {}, then_open=False, wait=0.5)
    c = P.conns[-1]
    c.send_method(0, "connection.open", virtual_host="nope")
    c.observe()


@scenario("hs.open_before_tune_ok", "connection.open right after start-ok (skip tune-ok)")
def _(P):
    c = P.conn()
    c.connect()
    c.send_header()
    c.expect("connection.start", True)
    c.sock_send(method_frame(0, "connection.start-ok", client_properties=CLIENT_PROPS, mechanism="PLAIN",
                             response=b"\0guest\0guest", locale="en_US"))
    c.expect("connection.tune", True)
    c.send_method(0, "connection.open", virtual_host="/")
    c.observe(wait=12.0)


@scenario("hs.channel_open_before_connection_open", "channel.open on ch 1 after tune-ok but before connection.open")
def _(P):
    c = _tune(P, {}, then_open=False, wait=0.5)
    c.send_method(1, "channel.open")
    c.observe()


@scenario("hs.open_twice", "connection.open a second time after open-ok")
def _(P):
    c = P.open(channel=0)
    c.send_method(0, "connection.open", virtual_host="/")
    c.observe()


@scenario("hs.heartbeat_sent_by_server", "Negotiate heartbeat=1 and keep sending heartbeats: what does the "
          "server send in 3.5 s?")
def _(P):
    c = P.conn()
    c.connect()
    c.handshake(tune={"heartbeat": 1}, channel=1)
    c.log("   (negotiated heartbeat=1 s; client sends a heartbeat every 0.5 s)")
    t0 = time.monotonic()
    stamps = []
    nxt = t0
    while time.monotonic() - t0 < 4.0 and not c.closed:
        if time.monotonic() >= nxt:
            c.sock_send(frame(FRAME_HEARTBEAT, 0, b""))
            nxt += 0.5
        f = c.read_frame(0.05)
        if f is not None:
            if f.type == FRAME_HEARTBEAT and f.ch == 0 and not f.payload:
                stamps.append(time.monotonic())
            else:
                c.log("<- " + describe(f))
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    mean = sum(gaps) / len(gaps) if gaps else 0
    c.log("<- empty ch-0 heartbeat frames, mean interval ~%.1f s; connection %s" % (
        mean, "closed" if c.closed else "still open"))


@scenario("hs.heartbeat_timeout", "Negotiate heartbeat=2 and then send nothing", slow=True)
def _(P):
    c = P.conn()
    c.connect()
    c.handshake(tune={"heartbeat": 2}, channel=1)
    c.log("   (negotiated heartbeat=2 s; client now silent, reading for up to 15 s)")
    t0 = time.monotonic()
    deadline = t0 + 15
    while time.monotonic() < deadline:
        f = c.read_frame(deadline - time.monotonic())
        if f is None:
            break
        c.log("<- [~%.0fs] %s" % (time.monotonic() - t0, describe(f)))
    if c.closed:
        c.log("<- [~%.0fs] socket closed: %s" % (time.monotonic() - t0, c.closed))
    else:
        c.log("<- (still open after 15 s)")


# ---------------- frame layer ---------------------------------------------
@scenario("fr.bad_frame_end", "channel.open on ch 2 with frame-end byte 0x00 instead of 0xCE")
def _(P):
    c = P.open()
    c.send(frame(FRAME_METHOD, 2, enc_method("channel.open"), end=0x00), "ch=2 channel.open, frame-end 0x00")
    c.observe()


@scenario("fr.bad_frame_end_heartbeat", "heartbeat frame with frame-end 0x00")
def _(P):
    c = P.open()
    c.send(frame(FRAME_HEARTBEAT, 0, b"", end=0x00), "heartbeat ch=0 frame-end 0x00")
    c.observe()


@scenario("fr.size_ffffffff", "Frame header announcing size 0xFFFFFFFF (only 7 header bytes sent)")
def _(P):
    c = P.open()
    c.send(struct.pack(">BHI", 1, 1, 0xFFFFFFFF), "frame header type=1 ch=1 size=0xFFFFFFFF")
    c.observe()


@scenario("fr.size_200000", "Method frame with size 200000 (frame_max 131072), full payload sent")
def _(P):
    c = P.open()
    payload = enc_method("basic.publish", exchange="", routing_key="x")
    payload += b"\0" * (200000 - len(payload))
    c.send(frame(FRAME_METHOD, 1, payload), "METHOD ch=1 size=200000")
    c.observe()


@scenario("fr.size_200000_header_only", "Only a 7-byte frame header announcing size 200000")
def _(P):
    c = P.open()
    c.send(struct.pack(">BHI", 1, 1, 200000), "frame header type=1 ch=1 size=200000")
    c.observe()


@scenario("fr.body_frame_max_exact", "Body frame with payload 131064 (= frame_max - 8): accepted?", cleanup=ALLQ)
def _(P):
    c = P.open()
    declare_q(c)
    body = b"a" * 131064
    data = method_frame(1, "basic.publish", exchange="", routing_key=Q) + header_frame(1, len(body)) + body_frame(
        1, body)
    c.send(data, "publish to %s, header body_size=131064, one body frame of 131064 bytes (frame total 131072)" % Q)
    c.observe(wait=1.0)
    c.call(1, "basic.get", queue=Q, no_ack=True)


def _big_body(P, n):
    c = P.open()
    declare_q(c)
    body = b"a" * n
    data = method_frame(1, "basic.publish", exchange="", routing_key=Q) + header_frame(1, len(body)) + body_frame(
        1, body)
    c.send(data, "publish to %s, header body_size=%d, one body frame with payload %d (frame total %d)" % (
        Q, n, n, n + 8))
    c.observe(wait=1.0)
    if not c.closed:
        c.call(1, "basic.get", queue=Q, no_ack=True)


@scenario("fr.body_frame_max_plus1", "Body frame with payload 131065 (= frame_max - 7)", cleanup=ALLQ)
def _(P):
    _big_body(P, 131065)


@scenario("fr.body_frame_payload_eq_frame_max", "Body frame with payload 131072 (= frame_max)", cleanup=ALLQ)
def _(P):
    _big_body(P, 131072)


@scenario("fr.body_frame_payload_frame_max_plus1", "Body frame with payload 131073 (= frame_max + 1)",
          cleanup=ALLQ)
def _(P):
    _big_body(P, 131073)


@scenario("fr.small_frame_max_split", "tune frame_max=4096; publish 10000 bytes in 4088-byte frames; get it back",
          cleanup=ALLQ)
def _(P):
    c = P.open(tune={"frame_max": 4096})
    declare_q(c)
    c.publish(1, "", Q, b"b" * 10000)
    c.call(1, "basic.get", queue=Q, no_ack=True)


@scenario("fr.small_frame_max_oversize", "tune frame_max=4096; send a 5000-byte body frame")
def _(P):
    c = P.open(tune={"frame_max": 4096})
    body = b"b" * 5000
    c.send(method_frame(1, "basic.publish", exchange="", routing_key="x") + header_frame(1, 5000) +
           body_frame(1, body), "publish, header 5000, single 5000-byte body frame (frame_max 4096)")
    c.observe()


@scenario("fr.truncated_then_close", "Half a method frame, then half-close (SHUT_WR)")
def _(P):
    c = P.open()
    f = method_frame(1, "queue.declare", queue=Q)
    c.send(f[:10], "first 10 of %d bytes of a queue.declare frame, then shutdown(SHUT_WR)" % len(f))
    c.sock.shutdown(socket.SHUT_WR)
    c.observe()


@scenario("fr.truncated_wait", "Half a method frame, then wait")
def _(P):
    c = P.open()
    f = method_frame(1, "queue.declare", queue=Q)
    c.send(f[:10], "first 10 of %d bytes of a queue.declare frame, then wait" % len(f))
    c.observe()


for _t in (0, 4, 5, 7, 9, 255):
    def _mk(t):
        @scenario("fr.frame_type_%d" % t, "Unknown frame type %d on ch 1 (payload 'abc')" % t)
        def _(P):
            c = P.open()
            c.send(frame(t, 1, b"abc"), "frame type=%d ch=1 payload b'abc'" % t)
            c.observe()
    _mk(_t)


@scenario("fr.frame_type_5_ch0", "Unknown frame type 5 on ch 0 (empty payload)")
def _(P):
    c = P.open()
    c.send(frame(5, 0, b""), "frame type=5 ch=0 empty")
    c.observe()


@scenario("fr.frame_error_snippet_text", "Unknown frame type with 26 printable / 20 binary payload bytes "
          "(payload snippet in reply-text)")
def _(P):
    c = P.open("printable")
    c.send(frame(5, 1, b"abcdefghijklmnopqrstuvwxyz"), "frame type=5 ch=1 payload b'abc...xyz' (26 bytes)")
    c.observe()
    c = P.open("binary")
    c.send(frame(5, 1, bytes(range(20))), "frame type=5 ch=1 payload bytes 0..19")
    c.observe()


@scenario("fr.reply_text_truncation", "Error texts longer than 255 bytes: passive declare of a 253-char name; "
          "undecodable long queue.declare")
def _(P):
    c = P.open("long-name")
    fs = c.call(1, "queue.declare", queue="wp." + "z" * 250, passive=1)
    for f in fs:
        if f.name == "channel.close":
            c.log("   reply_text length = %d bytes" % len(f.args["reply_text"].encode()))
    c = P.open("cannot-decode")
    c.send(frame(FRAME_METHOD, 1, enc_method("queue.declare", queue="q" * 200) + b"x"),
           "queue.declare queue='q'*200 + 1 trailing byte")
    fs = c.observe()
    for f in fs:
        if f.name == "connection.close":
            c.log("   reply_text length = %d bytes" % len(f.args["reply_text"].encode()))


@scenario("fr.queue_declare_ch0", "queue.declare on channel 0")
def _(P):
    c = P.open()
    c.send_method(0, "queue.declare", queue=Q)
    c.observe()


@scenario("fr.basic_publish_ch0", "basic.publish (+header+body) on channel 0")
def _(P):
    c = P.open()
    c.publish(0, "", "x", b"hello")
    c.observe()


@scenario("fr.header_ch0", "Content header frame on channel 0")
def _(P):
    c = P.open()
    c.send(header_frame(0, 5), "HEADER ch=0 body_size=5")
    c.observe()


@scenario("fr.body_ch0", "Body frame on channel 0")
def _(P):
    c = P.open()
    c.send(body_frame(0, b"hello"), "BODY ch=0 'hello'")
    c.observe()


@scenario("fr.channel_close_ch0", "channel.close on channel 0")
def _(P):
    c = P.open()
    c.send_method(0, "channel.close", reply_code=200, reply_text="x")
    c.observe()


@scenario("fr.connection_close_on_ch1", "connection.close sent on channel 1")
def _(P):
    c = P.open()
    c.send_method(1, "connection.close", reply_code=200, reply_text="bye")
    c.observe()


@scenario("fr.connection_tune_ok_on_ch1", "connection.tune-ok sent on channel 1")
def _(P):
    c = P.open()
    c.send_method(1, "connection.tune-ok", channel_max=2047, frame_max=131072, heartbeat=0)
    c.observe()


@scenario("fr.basic_publish_unopened", "basic.publish (+header+body) on channel 5, never opened")
def _(P):
    c = P.open()
    c.publish(5, "", "x", b"hello")
    c.observe()


@scenario("fr.queue_declare_unopened", "queue.declare on channel 5, never opened")
def _(P):
    c = P.open()
    c.send_method(5, "queue.declare", queue=Q)
    c.observe()


@scenario("fr.header_unopened", "content header on channel 5, never opened")
def _(P):
    c = P.open()
    c.send(header_frame(5, 5), "HEADER ch=5 body_size=5")
    c.observe()


@scenario("fr.channel_close_unopened", "channel.close on channel 5, never opened")
def _(P):
    c = P.open()
    c.send_method(5, "channel.close", reply_code=200, reply_text="x")
    c.observe()


@scenario("fr.empty_queue_name_unopened", "basic.get queue='' on channel 5, never opened; then channel.open 5")
def _(P):
    c = P.open()
    c.send_method(5, "basic.get", queue="")
    c.observe()
    if not c.closed:
        c.call(5, "channel.open")


@scenario("fr.passive_declare_empty_name_unopened", "queue.declare passive queue='' on channel 5, never opened")
def _(P):
    c = P.open()
    c.send_method(5, "queue.declare", queue="", passive=1)
    c.observe()


@scenario("fr.channel_close_ok_unopened", "channel.close-ok on channel 5, never opened")
def _(P):
    c = P.open()
    c.send_method(5, "channel.close-ok")
    c.observe()


@scenario("fr.channel_open_twice", "channel.open on the already open channel 1")
def _(P):
    c = P.open()
    c.send_method(1, "channel.open")
    c.observe()


@scenario("fr.channel_open_2047", "channel.open on 2047 (= channel_max)")
def _(P):
    c = P.open()
    c.send_method(2047, "channel.open")
    c.observe()


@scenario("fr.channel_open_2048", "channel.open on 2048 (> channel_max 2047)")
def _(P):
    c = P.open()
    c.send_method(2048, "channel.open")
    c.observe()


@scenario("fr.channel_open_65535", "channel.open on 65535")
def _(P):
    c = P.open()
    c.send_method(65535, "channel.open")
    c.observe()


@scenario("fr.channel_reopen_after_close", "Close channel 1 normally, then reopen channel 1")
def _(P):
    c = P.open()
    c.call(1, "channel.close", reply_code=200, reply_text="bye")
    c.call(1, "channel.open")


def _raw_method(P, ch, payload, note, open_ch=1):
    c = P.open(channel=open_ch)
    c.send(frame(FRAME_METHOD, ch, payload), note)
    c.observe()
    return c


@scenario("fr.unknown_class_99", "Method class 99 method 10 on ch 1")
def _(P):
    _raw_method(P, 1, struct.pack(">HH", 99, 10), "METHOD ch=1 class=99 method=10 (no args)")


@scenario("fr.unknown_class_99_ch0", "Method class 99 method 10 on ch 0")
def _(P):
    _raw_method(P, 0, struct.pack(">HH", 99, 10), "METHOD ch=0 class=99 method=10 (no args)")


@scenario("fr.unknown_method_50_99", "queue class (50) method 99 on ch 1")
def _(P):
    _raw_method(P, 1, struct.pack(">HH", 50, 99), "METHOD ch=1 class=50 method=99")


@scenario("fr.unknown_method_10_99", "connection class (10) method 99 on ch 0")
def _(P):
    _raw_method(P, 0, struct.pack(">HH", 10, 99), "METHOD ch=0 class=10 method=99")


@scenario("fr.unknown_method_20_99", "channel class (20) method 99 on ch 1")
def _(P):
    _raw_method(P, 1, struct.pack(">HH", 20, 99), "METHOD ch=1 class=20 method=99")


@scenario("fr.access_request", "access.request (class 30, 0-8 only) on ch 1")
def _(P):
    _raw_method(P, 1, enc_method("access.request", realm="/data", active=1, read=1),
                "METHOD ch=1 access.request(30,10)")


@scenario("fr.method_payload_2_bytes", "Method frame with only 2 payload bytes (class id only)")
def _(P):
    _raw_method(P, 1, struct.pack(">H", 50), "METHOD ch=1 payload=b'\\x00\\x32'")


@scenario("fr.method_payload_empty", "Method frame with empty payload")
def _(P):
    _raw_method(P, 1, b"", "METHOD ch=1 payload=b''")


@scenario("fr.truncated_args_queue_declare", "queue.declare missing its last 3 bytes (table length cut)")
def _(P):
    p = enc_method("queue.declare", queue=Q)
    _raw_method(P, 1, p[:-3], "METHOD ch=1 queue.declare with last 3 payload bytes removed")


@scenario("fr.truncated_args_queue_declare_bits", "queue.declare truncated after the queue name (no bits/table)")
def _(P):
    p = enc_method("queue.declare", queue=Q)
    _raw_method(P, 1, p[:4 + 2 + 1 + len(Q)], "METHOD ch=1 queue.declare cut after queue name")


@scenario("fr.truncated_args_basic_ack", "basic.ack with only 4 bytes of delivery-tag")
def _(P):
    _raw_method(P, 1, struct.pack(">HH", 60, 80) + b"\0\0\0\0", "METHOD ch=1 basic.ack args=4 bytes")


@scenario("fr.trailing_bytes_queue_declare", "queue.declare with 5 extra trailing bytes", cleanup=ALLQ)
def _(P):
    _raw_method(P, 1, enc_method("queue.declare", queue=Q) + b"extra", "METHOD ch=1 queue.declare + b'extra'")


@scenario("fr.shortstr_overrun", "queue.declare whose queue shortstr length (200) overruns the payload")
def _(P):
    p = struct.pack(">HHH", 50, 10, 0) + b"\xc8" + b"abc"
    _raw_method(P, 1, p, "METHOD ch=1 queue.declare queue-len=200 but 3 bytes follow")


@scenario("fr.table_bad_tag_Z", "queue.declare with argument table value tag 'Z'")
def _(P):
    tbl = Raw(struct.pack(">I", 1 + 3 + 1 + 4) + b"\x03foo" + b"Z" + b"\0\0\0\0")
    _raw_method(P, 1, enc_method("queue.declare", queue=Q, arguments=tbl), "queue.declare arguments={'foo': Z...}")


@scenario("fr.table_len_overrun", "queue.declare with table length 1000 but 0 bytes follow")
def _(P):
    _raw_method(P, 1, enc_method("queue.declare", queue=Q, arguments=Raw(struct.pack(">I", 1000))),
                "queue.declare arguments table-length=1000, no bytes")


@scenario("fr.header_without_publish", "Content header on ch 1 with no preceding basic.publish")
def _(P):
    c = P.open()
    c.send(header_frame(1, 5), "HEADER ch=1 class=60 body_size=5")
    c.observe()


@scenario("fr.body_without_header", "Body frame on ch 1 with no publish/header")
def _(P):
    c = P.open()
    c.send(body_frame(1, b"hello"), "BODY ch=1 'hello'")
    c.observe()


@scenario("fr.body_after_publish_no_header", "basic.publish then a body frame (no header)")
def _(P):
    c = P.open()
    c.send(method_frame(1, "basic.publish", routing_key="x") + body_frame(1, b"hello"),
           "ch=1 basic.publish, then BODY 'hello'")
    c.observe()


@scenario("fr.body_longer_than_header", "Header announces 5 bytes, body frame carries 10")
def _(P):
    c = P.open()
    c.send(method_frame(1, "basic.publish", routing_key="wp.nowhere", mandatory=1) + header_frame(1, 5)
           + body_frame(1, b"0123456789"), "ch=1 basic.publish mandatory rk=wp.nowhere, HEADER body_size=5, BODY 10 bytes")
    c.observe()
    if not c.closed:
        c.call(1, "basic.qos", prefetch_count=0, _note="  (liveness check)")


@scenario("fr.body_two_frames_overrun", "Header says 5; body frames of 3 then 3 bytes")
def _(P):
    c = P.open()
    c.send(method_frame(1, "basic.publish", routing_key="wp.nowhere", mandatory=1) + header_frame(1, 5)
           + body_frame(1, b"012") + body_frame(1, b"345"),
           "ch=1 basic.publish mandatory rk=wp.nowhere, HEADER body_size=5, BODY 3, BODY 3")
    c.observe()
    if not c.closed:
        c.call(1, "basic.qos", prefetch_count=0, _note="  (liveness check)")


@scenario("fr.body_split_ok", "Header says 5; body frames 2+3 bytes; mandatory unroutable (to see it complete)")
def _(P):
    c = P.open()
    c.send(method_frame(1, "basic.publish", routing_key="wp.nowhere", mandatory=1) + header_frame(1, 5)
           + body_frame(1, b"01") + body_frame(1, b"234"),
           "ch=1 basic.publish mandatory rk=wp.nowhere, HEADER 5, BODY 2, BODY 3")
    c.observe()


@scenario("fr.empty_body_frame_midway", "Header says 5; body frames 0, 5 bytes (zero-length body frame)")
def _(P):
    c = P.open()
    c.send(method_frame(1, "basic.publish", routing_key="wp.nowhere", mandatory=1) + header_frame(1, 5)
           + body_frame(1, b"") + body_frame(1, b"01234"),
           "ch=1 basic.publish mandatory rk=wp.nowhere, HEADER 5, BODY 0 bytes, BODY 5")
    c.observe()


@scenario("fr.body_after_zero_size_header", "Header with body_size=0 followed by a body frame")
def _(P):
    c = P.open()
    c.send(method_frame(1, "basic.publish", routing_key="wp.nowhere", mandatory=1) + header_frame(1, 0)
           + body_frame(1, b"abc"), "ch=1 basic.publish mandatory, HEADER body_size=0, BODY 'abc'")
    c.observe()


@scenario("fr.empty_body_after_zero_size_header", "Header with body_size=0 followed by an empty body frame")
def _(P):
    c = P.open()
    c.send(method_frame(1, "basic.publish", routing_key="wp.nowhere", mandatory=1) + header_frame(1, 0)
           + body_frame(1, b""), "ch=1 basic.publish mandatory, HEADER body_size=0, BODY ''")
    c.observe()


@scenario("fr.method_while_header_expected", "basic.publish followed by queue.declare (header expected)")
def _(P):
    c = P.open()
    c.send(method_frame(1, "basic.publish", routing_key="x") + method_frame(1, "queue.declare", queue=Q),
           "ch=1 basic.publish, then ch=1 queue.declare")
    c.observe()


@scenario("fr.method_while_body_expected", "publish + header(5) + queue.declare (body expected)")
def _(P):
    c = P.open()
    c.send(method_frame(1, "basic.publish", routing_key="x") + header_frame(1, 5)
           + method_frame(1, "queue.declare", queue=Q), "ch=1 basic.publish, HEADER 5, ch=1 queue.declare")
    c.observe()


@scenario("fr.heartbeat_while_body_expected", "publish + header(5) + heartbeat + body: heartbeats allowed mid-content?")
def _(P):
    c = P.open()
    c.send(method_frame(1, "basic.publish", routing_key="wp.nowhere", mandatory=1) + header_frame(1, 5)
           + frame(FRAME_HEARTBEAT, 0, b"") + body_frame(1, b"01234"),
           "ch=1 publish mandatory, HEADER 5, HEARTBEAT ch0, BODY 5")
    c.observe()


@scenario("fr.header_wrong_class", "publish followed by content header with class-id 50")
def _(P):
    c = P.open()
    c.send(method_frame(1, "basic.publish", routing_key="x") + header_frame(1, 5, class_id=50)
           + body_frame(1, b"hello"), "ch=1 basic.publish, HEADER class=50 size 5, BODY 5")
    c.observe()


@scenario("fr.header_nonzero_weight", "publish with content header weight=7")
def _(P):
    c = P.open()
    c.send(method_frame(1, "basic.publish", routing_key="wp.nowhere", mandatory=1) + header_frame(1, 5, weight=7)
           + body_frame(1, b"hello"), "ch=1 basic.publish mandatory, HEADER weight=7, BODY 5")
    c.observe()


@scenario("fr.header_truncated_props", "Header whose flags announce content_type but no bytes follow")
def _(P):
    c = P.open()
    c.send(method_frame(1, "basic.publish", routing_key="wp.nowhere", mandatory=1)
           + header_frame(1, 5, raw_props=b"\x80\x00") + body_frame(1, b"hello"),
           "ch=1 publish mandatory, HEADER flags=0x8000 (no content_type bytes), BODY 5")
    c.observe()


@scenario("fr.interleaved_channels", "Content on ch 1 and ch 2 interleaved frame by frame")
def _(P):
    c = P.open()
    c.open_channel(2)
    d = (method_frame(1, "basic.publish", routing_key="wp.one", mandatory=1)
         + method_frame(2, "basic.publish", routing_key="wp.two", mandatory=1)
         + header_frame(1, 3) + header_frame(2, 3) + body_frame(2, b"two") + body_frame(1, b"one"))
    c.send(d, "publish ch1, publish ch2, header ch1, header ch2, body ch2, body ch1 (both mandatory unroutable)")
    c.observe()


@scenario("fr.heartbeat_ch1", "Heartbeat frame on channel 1")
def _(P):
    c = P.open()
    c.send(frame(FRAME_HEARTBEAT, 1, b""), "HEARTBEAT ch=1")
    c.observe()


@scenario("fr.heartbeat_with_payload", "Heartbeat frame on ch 0 with 3-byte payload")
def _(P):
    c = P.open()
    c.send(frame(FRAME_HEARTBEAT, 0, b"abc"), "HEARTBEAT ch=0 payload 'abc'")
    c.observe()


@scenario("fr.heartbeat_ok", "Heartbeat on ch 0 (valid), then a queue.declare to prove the connection lives",
          cleanup=ALLQ)
def _(P):
    c = P.open()
    c.send(frame(FRAME_HEARTBEAT, 0, b""), "HEARTBEAT ch=0")
    c.observe(wait=0.5)
    c.call(1, "queue.declare", queue=Q, exclusive=1)


@scenario("fr.msg_too_large", "Content header announcing body_size 134217729 (> max_message_size 128 MiB), "
          "then the whole body")
def _(P):
    c = P.open()
    n = 134217729
    c.send(method_frame(1, "basic.publish", routing_key="wp.nowhere", mandatory=1) + header_frame(1, n),
           "ch=1 basic.publish mandatory, HEADER body_size=%d" % n)
    c.observe(wait=1.0)
    chunk = b"z" * (c.frame_max - 8)
    sent = 0
    while sent < n and not c.closed:
        k = min(len(chunk), n - sent)
        if not c.sock_send(body_frame(1, chunk[:k])):
            break
        sent += k
    c.log("-> %d body frames, %d bytes in total" % ((n + len(chunk) - 1) // len(chunk), sent))
    c.observe()


@scenario("fr.properties_roundtrip", "Publish with all basic properties + typed headers, basic.get it back",
          cleanup=ALLQ)
def _(P):
    c = P.open()
    declare_q(c)
    props = {"content_type": "text/plain", "content_encoding": "utf-8",
             "headers": {"S": ("S", "str"), "I": ("I", -5), "l": ("l", 2**40), "t": ("t", True), "b": ("b", -1),
                         "B": ("B", 200), "s": ("s", -2), "u": ("u", 65000), "i": ("i", 4000000000),
                         "f": ("f", 1.5), "d": ("d", 2.25), "D": ("D", (2, 12345)), "T": ("T", 1700000000),
                         "V": ("V", None), "x": ("x", b"\x00\x01"), "A": ("A", [1, "a"]), "F": ("F", {"k": 1})},
             "delivery_mode": 2, "priority": 5, "correlation_id": "corr", "reply_to": "rt", "expiration": "60000",
             "message_id": "mid", "timestamp": 1700000000, "type": "typ", "user_id": "guest", "app_id": "app",
             "cluster_id": "clu"}
    hdr = header_frame(1, 5, props)
    c.publish(1, "", Q, b"hello", props=props)
    c.observe(wait=0.5)
    c.send_method(1, "basic.get", queue=Q, no_ack=True)
    fs = c.observe()
    for f in fs:
        if f.type == FRAME_HEADER:
            same = f.payload == hdr[7:-1]
            c.log("   header payload byte-identical to what was published: %s" % same)
            if not same:
                c.log("   sent: %s" % hdr[7:-1].hex())
                c.log("   got : %s" % f.payload.hex())


@scenario("fr.user_id_mismatch", "Publish with user_id='someone' while logged in as guest")
def _(P):
    c = P.open()
    c.publish(1, "", "wp.nowhere", b"hello", props={"user_id": "someone"})
    c.observe()


# ---------------- channel-level: exchanges --------------------------------
@scenario("ex.passive_missing", "exchange.declare passive of missing exchange", cleanup=ALLX)
def _(P):
    c = P.open()
    c.call(1, "exchange.declare", exchange="wp.missing", type="direct", passive=1)


@scenario("ex.passive_missing_nowait", "exchange.declare passive+nowait of missing exchange")
def _(P):
    c = P.open()
    c.call(1, "exchange.declare", exchange="wp.missing", type="direct", passive=1, nowait=1)


@scenario("ex.declare_ok", "exchange.declare new direct exchange; redeclare same; passive with other type",
          cleanup=ALLX)
def _(P):
    c = P.open()
    c.call(1, "exchange.declare", exchange=X, type="direct")
    c.call(1, "exchange.declare", exchange=X, type="direct")
    c.call(1, "exchange.declare", exchange=X, type="fanout", passive=1)
    c.call(1, "exchange.declare", exchange=X, type="", passive=1)


@scenario("ex.redeclare_type", "Redeclare exchange with a different type", cleanup=ALLX)
def _(P):
    c = P.open()
    c.call(1, "exchange.declare", exchange=X, type="direct")
    c.call(1, "exchange.declare", exchange=X, type="fanout")


@scenario("ex.redeclare_durable", "Redeclare exchange with different durable flag", cleanup=ALLX)
def _(P):
    c = P.open()
    c.call(1, "exchange.declare", exchange=X, type="direct")
    c.call(1, "exchange.declare", exchange=X, type="direct", durable=1)


@scenario("ex.redeclare_auto_delete", "Redeclare exchange with different auto_delete", cleanup=ALLX)
def _(P):
    c = P.open()
    c.call(1, "exchange.declare", exchange=X, type="direct")
    c.call(1, "exchange.declare", exchange=X, type="direct", auto_delete=1)


@scenario("ex.redeclare_internal", "Redeclare exchange with different internal flag", cleanup=ALLX)
def _(P):
    c = P.open()
    c.call(1, "exchange.declare", exchange=X, type="direct")
    c.call(1, "exchange.declare", exchange=X, type="direct", internal=1)


@scenario("ex.redeclare_args", "Redeclare exchange with different arguments (alternate-exchange)", cleanup=ALLX)
def _(P):
    c = P.open()
    c.call(1, "exchange.declare", exchange=X, type="direct")
    c.call(1, "exchange.declare", exchange=X, type="direct", arguments={"alternate-exchange": "foo"})


@scenario("ex.declare_amq_foo", "exchange.declare 'amq.foo' (reserved prefix)")
def _(P):
    c = P.open()
    c.call(1, "exchange.declare", exchange="amq.foo", type="direct")


@scenario("ex.declare_amq_direct", "exchange.declare 'amq.direct' direct durable (matches existing)")
def _(P):
    c = P.open()
    c.call(1, "exchange.declare", exchange="amq.direct", type="direct", durable=1)


@scenario("ex.declare_amq_direct_passive", "exchange.declare passive 'amq.direct'")
def _(P):
    c = P.open()
    c.call(1, "exchange.declare", exchange="amq.direct", type="direct", passive=1)


@scenario("ex.declare_default", "exchange.declare '' (default exchange), type direct durable")
def _(P):
    c = P.open()
    c.call(1, "exchange.declare", exchange="", type="direct", durable=1)


@scenario("ex.declare_default_passive", "exchange.declare passive ''")
def _(P):
    c = P.open()
    c.call(1, "exchange.declare", exchange="", type="direct", passive=1)


@scenario("ex.unknown_type", "exchange.declare of unknown type 'foo'", cleanup=ALLX)
def _(P):
    c = P.open()
    c.call(1, "exchange.declare", exchange=X, type="foo")


@scenario("ex.empty_type", "exchange.declare with empty type ''", cleanup=ALLX)
def _(P):
    c = P.open()
    c.call(1, "exchange.declare", exchange=X, type="")


@scenario("ex.all_types", "exchange.declare of each builtin type", cleanup=ALLX + (("dx", "wp.x3"), ("dx", "wp.x4")))
def _(P):
    c = P.open()
    for n, t in ((X, "direct"), (X2, "fanout"), ("wp.x3", "topic"), ("wp.x4", "headers")):
        c.call(1, "exchange.declare", exchange=n, type=t)


@scenario("ex.bad_name_chars", "exchange.declare with name containing a space and unicode", cleanup=ALLX)
def _(P):
    c = P.open()
    c.call(1, "exchange.declare", exchange="wp x é", type="direct")
    c.call(1, "exchange.delete", exchange="wp x é")


@scenario("ex.delete_missing", "exchange.delete of missing exchange")
def _(P):
    c = P.open()
    c.call(1, "exchange.delete", exchange="wp.missing")


@scenario("ex.delete_default", "exchange.delete ''")
def _(P):
    c = P.open()
    c.call(1, "exchange.delete", exchange="")


@scenario("ex.delete_amq_direct", "exchange.delete 'amq.direct'")
def _(P):
    c = P.open()
    c.call(1, "exchange.delete", exchange="amq.direct")


@scenario("ex.delete_if_unused", "exchange.delete if_unused on an exchange with a queue binding",
          cleanup=ALLX + ALLQ)
def _(P):
    c = P.open()
    c.rpc_quiet(1, "exchange.declare", exchange=X, type="direct")
    declare_q(c)
    c.rpc_quiet(1, "queue.bind", queue=Q, exchange=X, routing_key="k")
    c.call(1, "exchange.delete", exchange=X, if_unused=1)


@scenario("ex.delete_if_unused_source_of_e2e", "exchange.delete if_unused on exchange that is only *destination* of "
          "an e2e binding", cleanup=ALLX)
def _(P):
    c = P.open()
    c.rpc_quiet(1, "exchange.declare", exchange=X, type="direct")
    c.rpc_quiet(1, "exchange.declare", exchange=X2, type="direct")
    c.call(1, "exchange.bind", destination=X, source=X2, routing_key="k")
    c.call(1, "exchange.delete", exchange=X, if_unused=1)
    c.call(1, "exchange.delete", exchange=X2, if_unused=1)


@scenario("ex.bind_ok_and_missing", "exchange.bind / unbind: ok, missing source, missing destination, "
          "nonexistent binding", cleanup=ALLX)
def _(P):
    c = P.open()
    c.rpc_quiet(1, "exchange.declare", exchange=X, type="direct")
    c.rpc_quiet(1, "exchange.declare", exchange=X2, type="fanout")
    c.call(1, "exchange.bind", destination=X, source=X2, routing_key="k")
    c.call(1, "exchange.bind", destination=X, source=X2, routing_key="k")
    c.call(1, "exchange.unbind", destination=X, source=X2, routing_key="k")
    c.call(1, "exchange.unbind", destination=X, source=X2, routing_key="k")
    c.call(1, "exchange.bind", destination=X, source="wp.missing", routing_key="k")
    ch = c.fresh()
    c.call(ch, "exchange.bind", destination="wp.missing", source=X2, routing_key="k")
    ch = c.fresh()
    c.call(ch, "exchange.bind", destination="wp.missing", source="wp.missing2", routing_key="k")
    ch = c.fresh()
    c.call(ch, "exchange.unbind", destination=X, source="wp.missing", routing_key="k")
    ch = c.fresh()
    c.call(ch, "exchange.unbind", destination="wp.missing", source=X2, routing_key="k")


@scenario("ex.bind_default", "exchange.bind with default exchange as source / destination", cleanup=ALLX)
def _(P):
    c = P.open()
    c.rpc_quiet(1, "exchange.declare", exchange=X, type="direct")
    c.call(1, "exchange.bind", destination=X, source="", routing_key="k")
    ch = c.fresh()
    c.call(ch, "exchange.bind", destination="", source=X, routing_key="k")


@scenario("ex.publish_internal", "Publish to an internal exchange", cleanup=ALLX)
def _(P):
    c = P.open()
    c.call(1, "exchange.declare", exchange="wp.internal", type="fanout", internal=1)
    c.publish(1, "wp.internal", "", b"hello")
    c.observe()


@scenario("ex.nowait_declare", "exchange.declare nowait=1 (no reply expected), then a sync", cleanup=ALLX)
def _(P):
    c = P.open()
    c.send_method(1, "exchange.declare", exchange=X, type="direct", nowait=1)
    c.observe(wait=1.0)


@scenario("ex.nowait_error", "exchange.declare nowait=1 redeclare with different type", cleanup=ALLX)
def _(P):
    c = P.open()
    c.rpc_quiet(1, "exchange.declare", exchange=X, type="direct")
    c.send_method(1, "exchange.declare", exchange=X, type="fanout", nowait=1)
    c.observe()


@scenario("ex.ae_bad_type", "exchange.declare with alternate-exchange of wrong type (long)", cleanup=ALLX)
def _(P):
    c = P.open()
    c.call(1, "exchange.declare", exchange=X, type="direct", arguments={"alternate-exchange": ("I", 5)})


# ---------------- channel-level: queues -----------------------------------
@scenario("q.passive_missing", "queue.declare passive of missing queue")
def _(P):
    c = P.open()
    c.call(1, "queue.declare", queue="wp.missing", passive=1)


@scenario("q.declare_ok_counts", "queue.declare-ok message_count/consumer_count on redeclare and passive",
          cleanup=ALLQ)
def _(P):
    c = P.open()
    c.call(1, "queue.declare", queue=Q)
    put(c, 1, Q, 3)
    c.call(1, "basic.consume", queue=Q, consumer_tag="ct1")
    c.call(1, "queue.declare", queue=Q)
    c.call(1, "queue.declare", queue=Q, passive=1)
    c.call(1, "basic.cancel", consumer_tag="ct1")
    c.call(1, "queue.declare", queue=Q, passive=1)


@scenario("q.declare_ok_counts_unacked", "declare-ok counts with 3 messages, all delivered but unacked",
          cleanup=ALLQ)
def _(P):
    c = P.open()
    c.call(1, "queue.declare", queue=Q)
    put(c, 1, Q, 3)
    sync(c)
    c.send_method(1, "basic.get", queue=Q)
    c.observe()
    c.call(1, "queue.declare", queue=Q, passive=1)


@scenario("q.redeclare_durable", "Redeclare queue with different durable flag", cleanup=ALLQ)
def _(P):
    c = P.open()
    c.call(1, "queue.declare", queue=Q)
    c.call(1, "queue.declare", queue=Q, durable=1)


@scenario("q.redeclare_durable_rev", "Declare durable queue, redeclare non-durable", cleanup=ALLQ)
def _(P):
    c = P.open()
    c.call(1, "queue.declare", queue="wp.dur", durable=1)
    c.call(1, "queue.declare", queue="wp.dur")


@scenario("q.redeclare_auto_delete", "Redeclare queue with different auto_delete", cleanup=ALLQ)
def _(P):
    c = P.open()
    c.call(1, "queue.declare", queue=Q)
    c.call(1, "queue.declare", queue=Q, auto_delete=1)


@scenario("q.redeclare_exclusive_same_conn", "Redeclare (same connection) an exclusive queue as non-exclusive",
          cleanup=ALLQ)
def _(P):
    c = P.open()
    c.call(1, "queue.declare", queue="wp.excl", exclusive=1)
    c.call(1, "queue.declare", queue="wp.excl")


@scenario("q.redeclare_nonexclusive_as_exclusive", "Declare non-exclusive, redeclare exclusive (same conn)",
          cleanup=ALLQ)
def _(P):
    c = P.open()
    c.call(1, "queue.declare", queue=Q)
    c.call(1, "queue.declare", queue=Q, exclusive=1)


@scenario("q.redeclare_ttl", "Redeclare queue with different x-message-ttl", cleanup=ALLQ)
def _(P):
    c = P.open()
    c.call(1, "queue.declare", queue=Q, arguments={"x-message-ttl": ("I", 1000)})
    c.call(1, "queue.declare", queue=Q, arguments={"x-message-ttl": ("I", 2000)})


@scenario("q.redeclare_ttl_type", "Redeclare queue with same x-message-ttl value but other int type (l vs I)",
          cleanup=ALLQ)
def _(P):
    c = P.open()
    c.call(1, "queue.declare", queue=Q, arguments={"x-message-ttl": ("I", 1000)})
    c.call(1, "queue.declare", queue=Q, arguments={"x-message-ttl": ("l", 1000)})


@scenario("q.redeclare_ttl_missing", "Declare with x-message-ttl, redeclare without arguments", cleanup=ALLQ)
def _(P):
    c = P.open()
    c.call(1, "queue.declare", queue=Q, arguments={"x-message-ttl": ("I", 1000)})
    c.call(1, "queue.declare", queue=Q)


@scenario("q.redeclare_ttl_added", "Declare without args, redeclare with x-message-ttl", cleanup=ALLQ)
def _(P):
    c = P.open()
    c.call(1, "queue.declare", queue=Q)
    c.call(1, "queue.declare", queue=Q, arguments={"x-message-ttl": ("I", 1000)})


@scenario("q.redeclare_unknown_arg", "Redeclare with a different non-x- argument ('foo')", cleanup=ALLQ)
def _(P):
    c = P.open()
    c.call(1, "queue.declare", queue=Q, arguments={"foo": "a"})
    c.call(1, "queue.declare", queue=Q, arguments={"foo": "b"})


@scenario("q.passive_with_different_flags", "Passive declare with different flags/args on existing queue",
          cleanup=ALLQ)
def _(P):
    c = P.open()
    c.call(1, "queue.declare", queue=Q)
    c.call(1, "queue.declare", queue=Q, passive=1, durable=1, auto_delete=1,
           arguments={"x-message-ttl": ("I", 5)})


@scenario("q.bad_arg_ttl_string", "queue.declare x-message-ttl as string", cleanup=ALLQ)
def _(P):
    c = P.open()
    c.call(1, "queue.declare", queue=Q, arguments={"x-message-ttl": "1000"})


@scenario("q.bad_arg_ttl_negative", "queue.declare x-message-ttl=-1", cleanup=ALLQ)
def _(P):
    c = P.open()
    c.call(1, "queue.declare", queue=Q, arguments={"x-message-ttl": ("I", -1)})


@scenario("q.bad_arg_max_length_negative", "queue.declare x-max-length=-1", cleanup=ALLQ)
def _(P):
    c = P.open()
    c.call(1, "queue.declare", queue=Q, arguments={"x-max-length": ("I", -1)})


@scenario("q.bad_arg_expires_zero", "queue.declare x-expires=0", cleanup=ALLQ)
def _(P):
    c = P.open()
    c.call(1, "queue.declare", queue=Q, arguments={"x-expires": ("I", 0)})


@scenario("q.bad_arg_overflow", "queue.declare x-overflow='foo'", cleanup=ALLQ)
def _(P):
    c = P.open()
    c.call(1, "queue.declare", queue=Q, arguments={"x-overflow": "foo"})


@scenario("q.bad_arg_queue_type", "queue.declare x-queue-type='foo'", cleanup=ALLQ)
def _(P):
    c = P.open()
    c.call(1, "queue.declare", queue=Q, arguments={"x-queue-type": "foo"})


@scenario("q.bad_arg_dlx_type", "queue.declare x-dead-letter-exchange as integer", cleanup=ALLQ)
def _(P):
    c = P.open()
    c.call(1, "queue.declare", queue=Q, arguments={"x-dead-letter-exchange": ("I", 1)})


@scenario("q.bad_arg_max_priority", "queue.declare x-max-priority=256 and ='a'", cleanup=ALLQ)
def _(P):
    c = P.open()
    c.call(1, "queue.declare", queue=Q, arguments={"x-max-priority": ("I", 256)})
    ch = c.fresh()
    c.call(ch, "queue.declare", queue=Q, arguments={"x-max-priority": "a"})


@scenario("q.unknown_x_arg", "queue.declare with unknown x-argument 'x-foo'", cleanup=ALLQ)
def _(P):
    c = P.open()
    c.call(1, "queue.declare", queue=Q, arguments={"x-foo": ("I", 1)})


@scenario("q.declare_amq_foo", "queue.declare 'amq.foo' (non-passive)")
def _(P):
    c = P.open()
    c.call(1, "queue.declare", queue="amq.foo")


@scenario("q.declare_amq_foo_passive", "queue.declare passive 'amq.foo'")
def _(P):
    c = P.open()
    c.call(1, "queue.declare", queue="amq.foo", passive=1)


@scenario("q.server_named", "queue.declare '' -> server-named queue; name format", cleanup=ALLQ)
def _(P):
    c = P.open()
    fs = c.call(1, "queue.declare", queue="", exclusive=1)
    for f in fs:
        if f.is_method("queue.declare-ok"):
            n = f.args["queue"]
            c.log("   raw name=%r len=%d" % (n, len(n)))


@scenario("q.server_named_nowait", "queue.declare '' with nowait=1")
def _(P):
    c = P.open()
    c.send_method(1, "queue.declare", queue="", exclusive=1, nowait=1)
    c.observe(wait=1.0)


@scenario("q.empty_name_passive_fresh", "queue.declare passive '' on a fresh channel")
def _(P):
    c = P.open()
    c.call(1, "queue.declare", queue="", passive=1)


@scenario("q.empty_name_defaults", "After declaring a server-named queue, use '' in bind/get/purge/consume/"
          "unbind/delete on the same channel", cleanup=ALLQ)
def _(P):
    c = P.open()
    fs = c.call(1, "queue.declare", queue="", exclusive=1)
    name = fs[0].args.get("queue", "") if fs and fs[0].args else ""
    c.call(1, "queue.bind", queue="", exchange="amq.direct", routing_key="")
    c.publish(1, "amq.direct", name, b"via-amq.direct", mandatory=True, note=" (rk = generated name)")
    c.observe(wait=0.5)
    c.call(1, "basic.get", queue="", no_ack=True)
    put(c, 1, name, 2)
    sync(c)
    c.call(1, "queue.purge", queue="")
    c.call(1, "basic.consume", queue="", consumer_tag="ct")
    c.call(1, "queue.unbind", queue="", exchange="amq.direct", routing_key=name)
    c.call(1, "queue.declare", queue="", passive=1)
    ch = c.fresh()
    c.call(ch, "queue.declare", queue="wp.q")
    c.call(ch, "queue.delete", queue="")
    c.call(ch, "queue.delete", queue="")
    c.call(1, "queue.delete", queue="")


@scenario("q.empty_name_other_channel", "Declare on ch 1, use '' on ch 2 (per-channel memory?)")
def _(P):
    c = P.open()
    c.call(1, "queue.declare", queue="", exclusive=1)
    c.open_channel(2)
    c.call(2, "basic.get", queue="")


@scenario("q.empty_name_bind_fresh", "queue.bind '' on a fresh channel")
def _(P):
    c = P.open()
    c.call(1, "queue.bind", queue="", exchange="amq.direct", routing_key="k")


@scenario("q.empty_name_get_fresh", "basic.get '' / consume '' / purge '' / delete '' on a fresh channel")
def _(P):
    c = P.open()
    c.call(1, "basic.get", queue="")
    ch = c.fresh()
    c.call(ch, "basic.consume", queue="")
    ch = c.fresh()
    c.call(ch, "queue.purge", queue="")
    ch = c.fresh()
    c.call(ch, "queue.delete", queue="")


@scenario("q.delete_missing", "queue.delete of missing queue")
def _(P):
    c = P.open()
    c.call(1, "queue.delete", queue="wp.missing")


@scenario("q.delete_if_unused", "queue.delete if_unused on a queue with a consumer", cleanup=ALLQ)
def _(P):
    c = P.open()
    declare_q(c)
    c.call(1, "basic.consume", queue=Q, consumer_tag="ct")
    c.call(1, "queue.delete", queue=Q, if_unused=1)


@scenario("q.delete_if_empty", "queue.delete if_empty on a queue with 2 messages", cleanup=ALLQ)
def _(P):
    c = P.open()
    declare_q(c)
    put(c, 1, Q, 2)
    sync(c)
    c.call(1, "queue.delete", queue=Q, if_empty=1)


@scenario("q.delete_if_empty_unacked", "queue.delete if_empty when the only message is delivered-unacked",
          cleanup=ALLQ)
def _(P):
    c = P.open()
    declare_q(c)
    put(c, 1, Q, 1)
    sync(c)
    c.call(1, "basic.get", queue=Q)
    c.call(1, "queue.delete", queue=Q, if_empty=1)


@scenario("q.delete_ok_count", "queue.delete of queue with 3 messages: delete-ok message_count", cleanup=ALLQ)
def _(P):
    c = P.open()
    declare_q(c)
    put(c, 1, Q, 3)
    sync(c)
    c.call(1, "queue.delete", queue=Q)


@scenario("q.delete_consumer_notified", "Delete a queue with a consumer (consumer_cancel_notify cap): "
          "basic.cancel to consumer?", cleanup=ALLQ)
def _(P):
    c = P.open()
    declare_q(c)
    c.call(1, "basic.consume", queue=Q, consumer_tag="ct")
    c.open_channel(2)
    c.call(2, "queue.delete", queue=Q)


@scenario("q.delete_consumer_no_cap", "Same, but consumer's connection lacks consumer_cancel_notify",
          cleanup=ALLQ)
def _(P):
    c = P.open(client_props={"product": "x"})
    declare_q(c)
    c.call(1, "basic.consume", queue=Q, consumer_tag="ct")
    c.open_channel(2)
    c.call(2, "queue.delete", queue=Q)


@scenario("q.purge", "queue.purge with 3 messages; purge missing queue", cleanup=ALLQ)
def _(P):
    c = P.open()
    declare_q(c)
    put(c, 1, Q, 3)
    sync(c)
    c.call(1, "queue.purge", queue=Q)
    c.call(1, "queue.purge", queue="wp.missing")


@scenario("q.bind_missing_exchange", "queue.bind to missing exchange", cleanup=ALLQ)
def _(P):
    c = P.open()
    declare_q(c)
    c.call(1, "queue.bind", queue=Q, exchange="wp.missing", routing_key="k")


@scenario("q.bind_missing_queue", "queue.bind of missing queue to amq.direct")
def _(P):
    c = P.open()
    c.call(1, "queue.bind", queue="wp.missing", exchange="amq.direct", routing_key="k")


@scenario("q.bind_both_missing", "queue.bind missing queue to missing exchange")
def _(P):
    c = P.open()
    c.call(1, "queue.bind", queue="wp.missing", exchange="wp.missing", routing_key="k")


@scenario("q.bind_default_exchange", "queue.bind / unbind to the default exchange ''", cleanup=ALLQ)
def _(P):
    c = P.open()
    declare_q(c)
    c.call(1, "queue.bind", queue=Q, exchange="", routing_key=Q)
    ch = c.fresh()
    c.call(ch, "queue.unbind", queue=Q, exchange="", routing_key=Q)


@scenario("q.bind_twice", "queue.bind twice with same key (idempotent?), unbind twice", cleanup=ALLQ)
def _(P):
    c = P.open()
    declare_q(c)
    c.call(1, "queue.bind", queue=Q, exchange="amq.direct", routing_key="k")
    c.call(1, "queue.bind", queue=Q, exchange="amq.direct", routing_key="k")
    c.call(1, "queue.unbind", queue=Q, exchange="amq.direct", routing_key="k")
    c.call(1, "queue.unbind", queue=Q, exchange="amq.direct", routing_key="k")


@scenario("q.unbind_missing", "queue.unbind: missing queue / missing exchange", cleanup=ALLQ)
def _(P):
    c = P.open()
    declare_q(c)
    c.call(1, "queue.unbind", queue="wp.missing", exchange="amq.direct", routing_key="k")
    ch = c.fresh()
    c.call(ch, "queue.unbind", queue=Q, exchange="wp.missing", routing_key="k")


@scenario("q.bind_headers_bad_xmatch", "queue.bind to amq.headers with x-match='foo'", cleanup=ALLQ)
def _(P):
    c = P.open()
    declare_q(c)
    c.call(1, "queue.bind", queue=Q, exchange="amq.headers", routing_key="", arguments={"x-match": "foo"})


@scenario("q.bind_internal_exchange", "queue.bind to an internal exchange (allowed?)", cleanup=ALLQ + ALLX)
def _(P):
    c = P.open()
    declare_q(c)
    c.rpc_quiet(1, "exchange.declare", exchange="wp.internal", type="fanout", internal=1)
    c.call(1, "queue.bind", queue=Q, exchange="wp.internal", routing_key="")


# ---------------- exclusive queues -----------------------------------------
def _excl_pair(P):
    a = P.open("owner")
    a.rpc_quiet(1, "queue.declare", queue="wp.excl", exclusive=1)
    put(a, 1, "wp.excl", 1)
    sync(a)
    b = P.open("other")
    return a, b


@scenario("xq.declare", "Other connection: queue.declare of an exclusive queue (same flags)", cleanup=ALLQ)
def _(P):
    a, b = _excl_pair(P)
    b.call(1, "queue.declare", queue="wp.excl", exclusive=1)


@scenario("xq.declare_nonexcl", "Other connection: queue.declare non-exclusive of an exclusive queue",
          cleanup=ALLQ)
def _(P):
    a, b = _excl_pair(P)
    b.call(1, "queue.declare", queue="wp.excl")


@scenario("xq.declare_passive", "Other connection: passive declare of an exclusive queue", cleanup=ALLQ)
def _(P):
    a, b = _excl_pair(P)
    b.call(1, "queue.declare", queue="wp.excl", passive=1)


for _op, _kw in (("basic.consume", {"queue": "wp.excl"}), ("queue.delete", {"queue": "wp.excl"}),
                 ("queue.bind", {"queue": "wp.excl", "exchange": "amq.direct", "routing_key": "k"}),
                 ("queue.unbind", {"queue": "wp.excl", "exchange": "amq.direct", "routing_key": "k"}),
                 ("queue.purge", {"queue": "wp.excl"}), ("basic.get", {"queue": "wp.excl"})):
    def _mk(op, kw):
        @scenario("xq." + op.split(".")[1], "Other connection: %s on an exclusive queue" % op, cleanup=ALLQ)
        def _(P):
            a, b = _excl_pair(P)
            b.call(1, op, **kw)
    _mk(_op, _kw)


@scenario("xq.unbind_existing", "Other connection: queue.unbind of an existing binding of an exclusive queue",
          cleanup=ALLQ)
def _(P):
    a, b = _excl_pair(P)
    a.call(1, "queue.bind", queue="wp.excl", exchange="amq.direct", routing_key="k")
    b.call(1, "queue.unbind", queue="wp.excl", exchange="amq.direct", routing_key="k")


@scenario("xq.publish", "Other connection: publish to an exclusive queue via default exchange (allowed?)",
          cleanup=ALLQ)
def _(P):
    a, b = _excl_pair(P)
    b.publish(1, "", "wp.excl", b"hi", mandatory=True)
    b.observe(wait=1.0)
    a.call(1, "queue.declare", queue="wp.excl", passive=1)


@scenario("xq.released_on_close", "Exclusive queue is deleted when owner closes", cleanup=ALLQ)
def _(P):
    a, b = _excl_pair(P)
    a.send_method(0, "connection.close", reply_code=200, reply_text="bye")
    a.observe()
    time.sleep(0.2)
    b.call(1, "queue.declare", queue="wp.excl", passive=1)


@scenario("xq.same_conn_other_channel", "Owner, other channel: consume/get on own exclusive queue", cleanup=ALLQ)
def _(P):
    a, b = _excl_pair(P)
    a.open_channel(2)
    a.call(2, "basic.get", queue="wp.excl", no_ack=True)


# ---------------- consumers -------------------------------------------------
@scenario("bc.consume_missing_queue", "basic.consume on a missing queue")
def _(P):
    c = P.open()
    c.call(1, "basic.consume", queue="wp.missing")


@scenario("bc.consume_server_tag", "basic.consume with empty tag: server-generated tag format", cleanup=ALLQ)
def _(P):
    c = P.open()
    declare_q(c)
    fs = c.call(1, "basic.consume", queue=Q, consumer_tag="")
    for f in fs:
        if f.is_method("basic.consume-ok"):
            c.log("   raw tag=%r len=%d" % (f.args["consumer_tag"], len(f.args["consumer_tag"])))


@scenario("bc.duplicate_tag", "basic.consume twice with the same consumer tag on one channel", cleanup=ALLQ)
def _(P):
    c = P.open()
    declare_q(c)
    c.call(1, "basic.consume", queue=Q, consumer_tag="dup")
    c.call(1, "basic.consume", queue=Q, consumer_tag="dup")


@scenario("bc.duplicate_tag_other_channel", "Same consumer tag on two different channels", cleanup=ALLQ)
def _(P):
    c = P.open()
    declare_q(c)
    c.open_channel(2)
    c.call(1, "basic.consume", queue=Q, consumer_tag="dup")
    c.call(2, "basic.consume", queue=Q, consumer_tag="dup")


@scenario("bc.exclusive_on_busy_queue", "Exclusive consume on a queue that has a consumer", cleanup=ALLQ)
def _(P):
    c = P.open()
    declare_q(c)
    c.open_channel(2)
    c.call(1, "basic.consume", queue=Q, consumer_tag="a")
    c.call(2, "basic.consume", queue=Q, consumer_tag="b", exclusive=1)


@scenario("bc.consume_on_exclusive_consumer", "Consume on a queue that has an exclusive consumer", cleanup=ALLQ)
def _(P):
    c = P.open()
    declare_q(c)
    c.open_channel(2)
    c.call(1, "basic.consume", queue=Q, consumer_tag="a", exclusive=1)
    c.call(2, "basic.consume", queue=Q, consumer_tag="b")


@scenario("bc.exclusive_consume_other_conn", "Exclusive consumer on conn A; conn B consumes", cleanup=ALLQ)
def _(P):
    a = P.open("A")
    declare_q(a)
    a.call(1, "basic.consume", queue=Q, consumer_tag="a", exclusive=1)
    b = P.open("B")
    b.call(1, "basic.consume", queue=Q, consumer_tag="b")


@scenario("bc.cancel_unknown", "basic.cancel of an unknown consumer tag")
def _(P):
    c = P.open()
    c.call(1, "basic.cancel", consumer_tag="nope")


@scenario("bc.cancel_unknown_nowait", "basic.cancel nowait of an unknown consumer tag")
def _(P):
    c = P.open()
    c.send_method(1, "basic.cancel", consumer_tag="nope", nowait=1)
    c.observe(wait=1.0)


@scenario("bc.consume_nowait", "basic.consume nowait=1 with empty tag (server must not reply)", cleanup=ALLQ)
def _(P):
    c = P.open()
    declare_q(c)
    c.send_method(1, "basic.consume", queue=Q, consumer_tag="", nowait=1)
    c.observe(wait=1.0)
    put(c, 1, Q, 1)
    c.observe(wait=1.0)


@scenario("bc.consume_noack_deliver", "Consume no_ack, publish 2: deliver frames; then ack tag 1", cleanup=ALLQ)
def _(P):
    c = P.open()
    declare_q(c)
    c.call(1, "basic.consume", queue=Q, consumer_tag="ct", no_ack=1)
    put(c, 1, Q, 2)
    c.observe()
    c.call(1, "basic.ack", delivery_tag=1)


@scenario("bc.consumer_args_priority", "basic.consume with x-priority as string", cleanup=ALLQ)
def _(P):
    c = P.open()
    declare_q(c)
    c.call(1, "basic.consume", queue=Q, consumer_tag="ct", arguments={"x-priority": "high"})


@scenario("bc.get_missing_queue", "basic.get on a missing queue")
def _(P):
    c = P.open()
    c.call(1, "basic.get", queue="wp.missing")


@scenario("bc.get_empty_and_ok", "basic.get on empty queue (get-empty), then with 2 messages (get-ok)",
          cleanup=ALLQ)
def _(P):
    c = P.open()
    declare_q(c)
    c.call(1, "basic.get", queue=Q)
    put(c, 1, Q, 2)
    sync(c)
    c.call(1, "basic.get", queue=Q)
    c.call(1, "basic.get", queue=Q, no_ack=1)


# ---------------- acks ------------------------------------------------------
@scenario("ack.unknown_tag", "basic.ack delivery_tag=1 with nothing delivered")
def _(P):
    c = P.open()
    c.call(1, "basic.ack", delivery_tag=1)


@scenario("ack.tag_0", "basic.ack delivery_tag=0 multiple=0 with nothing delivered")
def _(P):
    c = P.open()
    c.call(1, "basic.ack", delivery_tag=0)


@scenario("ack.multiple_0_empty", "basic.ack delivery_tag=0 multiple=1 with nothing outstanding")
def _(P):
    c = P.open()
    c.call(1, "basic.ack", delivery_tag=0, multiple=1)
    c.call(1, "basic.qos", prefetch_count=0)


@scenario("ack.multiple_0_acks_all", "2 unacked gets; ack tag 0 multiple=1 acks all?", cleanup=ALLQ)
def _(P):
    c = P.open()
    declare_q(c)
    put(c, 1, Q, 2)
    sync(c)
    c.rpc_quiet(1, "basic.get", queue=Q)
    c.observe(wait=0.3)
    c.rpc_quiet(1, "basic.get", queue=Q)
    c.observe(wait=0.3)
    c.call(1, "basic.ack", delivery_tag=0, multiple=1)
    c.call(1, "queue.declare", queue=Q, passive=1)
    c.call(1, "basic.ack", delivery_tag=2)


@scenario("ack.double", "Get 1 message (ack mode), ack it twice", cleanup=ALLQ)
def _(P):
    c = P.open()
    declare_q(c)
    put(c, 1, Q, 1)
    sync(c)
    c.call(1, "basic.get", queue=Q)
    c.call(1, "basic.ack", delivery_tag=1)
    c.call(1, "basic.ack", delivery_tag=1)


@scenario("ack.multiple_beyond", "Get 2 (tags 1,2); ack tag 5 multiple=1", cleanup=ALLQ)
def _(P):
    c = P.open()
    declare_q(c)
    put(c, 1, Q, 2)
    sync(c)
    c.rpc_quiet(1, "basic.get", queue=Q)
    c.observe(wait=0.3)
    c.rpc_quiet(1, "basic.get", queue=Q)
    c.observe(wait=0.3)
    c.call(1, "basic.ack", delivery_tag=5, multiple=1)


@scenario("ack.noack_delivery", "basic.get no_ack=1 then ack its tag", cleanup=ALLQ)
def _(P):
    c = P.open()
    declare_q(c)
    put(c, 1, Q, 1)
    sync(c)
    c.call(1, "basic.get", queue=Q, no_ack=1)
    c.call(1, "basic.ack", delivery_tag=1)


@scenario("ack.other_channel", "Get on ch 1, ack the tag on ch 2", cleanup=ALLQ)
def _(P):
    c = P.open()
    declare_q(c)
    c.open_channel(2)
    put(c, 1, Q, 1)
    sync(c)
    c.call(1, "basic.get", queue=Q)
    c.call(2, "basic.ack", delivery_tag=1)


@scenario("ack.nack_unknown", "basic.nack delivery_tag=7 with nothing delivered")
def _(P):
    c = P.open()
    c.call(1, "basic.nack", delivery_tag=7, requeue=1)


@scenario("ack.reject_unknown", "basic.reject delivery_tag=7 with nothing delivered")
def _(P):
    c = P.open()
    c.call(1, "basic.reject", delivery_tag=7, requeue=1)


@scenario("ack.nack_multiple_0_empty", "basic.nack tag 0 multiple=1 with nothing outstanding")
def _(P):
    c = P.open()
    c.call(1, "basic.nack", delivery_tag=0, multiple=1)
    c.call(1, "basic.qos", prefetch_count=0)


@scenario("ack.reject_requeue_redelivered", "Get, reject requeue=1, get again: redelivered flag", cleanup=ALLQ)
def _(P):
    c = P.open()
    declare_q(c)
    put(c, 1, Q, 1)
    sync(c)
    c.call(1, "basic.get", queue=Q)
    c.call(1, "basic.reject", delivery_tag=1, requeue=1)
    c.call(1, "basic.get", queue=Q)


@scenario("ack.tags_after_channel_reopen", "delivery tags restart at 1 on a reopened channel?", cleanup=ALLQ)
def _(P):
    c = P.open()
    declare_q(c)
    put(c, 1, Q, 2)
    sync(c)
    c.call(1, "basic.get", queue=Q, no_ack=1)
    c.call(1, "channel.close", reply_code=200, reply_text="")
    c.open_channel(1)
    c.call(1, "basic.get", queue=Q, no_ack=1)


@scenario("ack.unacked_requeued_on_channel_close", "get without ack on ch 1, close ch 1, get on ch 2: "
          "redelivered?", cleanup=ALLQ)
def _(P):
    c = P.open()
    declare_q(c)
    put(c, 1, Q, 1)
    sync(c)
    c.call(1, "basic.get", queue=Q)
    c.call(1, "channel.close", reply_code=200, reply_text="")
    c.open_channel(2)
    c.call(2, "basic.get", queue=Q, no_ack=1)


# ---------------- qos / flow / recover ------------------------------------
@scenario("qos.prefetch_size", "basic.qos prefetch_size=1000")
def _(P):
    c = P.open()
    c.call(1, "basic.qos", prefetch_size=1000, prefetch_count=10)


@scenario("qos.ok", "basic.qos prefetch_count=10 global=0 and global=1")
def _(P):
    c = P.open()
    c.call(1, "basic.qos", prefetch_count=10)
    c.call(1, "basic.qos", prefetch_count=10, **{"global": 1})


def _qos_global(P, glob, order):
    c = P.open()
    c.rpc_quiet(1, "queue.declare", queue=Q)
    c.rpc_quiet(1, "queue.declare", queue=Q2)
    put(c, 1, Q, 3)
    put(c, 1, Q2, 3)
    sync(c)
    if order == "before":
        c.call(1, "basic.qos", prefetch_count=1, **{"global": glob})
    c.call(1, "basic.consume", queue=Q, consumer_tag="c1")
    c.call(1, "basic.consume", queue=Q2, consumer_tag="c2")
    if order == "after":
        c.call(1, "basic.qos", prefetch_count=1, **{"global": glob})
        c.observe(wait=1.0)


@scenario("qos.global0", "qos prefetch_count=1 global=0 before 2 consumers on 2 queues with 3 msgs each",
          cleanup=ALLQ)
def _(P):
    _qos_global(P, 0, "before")


@scenario("qos.global1", "qos prefetch_count=1 global=1 before 2 consumers on 2 queues with 3 msgs each",
          cleanup=ALLQ)
def _(P):
    _qos_global(P, 1, "before")


@scenario("qos.global0_after", "qos prefetch_count=1 global=0 set *after* 2 consumers started", cleanup=ALLQ)
def _(P):
    _qos_global(P, 0, "after")


@scenario("qos.both", "qos count=2 global=0 and count=1 global=1, 2 consumers", cleanup=ALLQ)
def _(P):
    c = P.open()
    c.rpc_quiet(1, "queue.declare", queue=Q)
    c.rpc_quiet(1, "queue.declare", queue=Q2)
    put(c, 1, Q, 3)
    put(c, 1, Q2, 3)
    sync(c)
    c.call(1, "basic.qos", prefetch_count=2)
    c.call(1, "basic.qos", prefetch_count=3, **{"global": 1})
    c.call(1, "basic.consume", queue=Q, consumer_tag="c1")
    c.call(1, "basic.consume", queue=Q2, consumer_tag="c2")


@scenario("qos.get_ignores_prefetch", "qos count=1, two basic.get without acking: both succeed?", cleanup=ALLQ)
def _(P):
    c = P.open()
    declare_q(c)
    put(c, 1, Q, 2)
    sync(c)
    c.call(1, "basic.qos", prefetch_count=1)
    c.call(1, "basic.get", queue=Q)
    c.call(1, "basic.get", queue=Q)


@scenario("flow.false", "channel.flow active=false")
def _(P):
    c = P.open()
    c.call(1, "channel.flow", active=0)


@scenario("flow.true", "channel.flow active=true")
def _(P):
    c = P.open()
    c.call(1, "channel.flow", active=1)


@scenario("rec.requeue_false", "basic.recover requeue=false")
def _(P):
    c = P.open()
    c.call(1, "basic.recover", requeue=0)


@scenario("rec.requeue_true", "basic.recover requeue=true with 1 unacked delivery to consumer", cleanup=ALLQ)
def _(P):
    c = P.open()
    declare_q(c)
    c.call(1, "basic.consume", queue=Q, consumer_tag="ct")
    put(c, 1, Q, 1)
    c.observe()
    c.call(1, "basic.recover", requeue=1)


@scenario("rec.requeue_false_unacked", "basic.recover requeue=false with 1 unacked delivery", cleanup=ALLQ)
def _(P):
    c = P.open()
    declare_q(c)
    c.call(1, "basic.consume", queue=Q, consumer_tag="ct")
    put(c, 1, Q, 1)
    c.observe()
    c.call(1, "basic.recover", requeue=0)


@scenario("rec.async", "basic.recover-async requeue=true")
def _(P):
    c = P.open()
    c.call(1, "basic.recover-async", requeue=1)


@scenario("rec.async_false", "basic.recover-async requeue=false")
def _(P):
    c = P.open()
    c.call(1, "basic.recover-async", requeue=0)


# ---------------- publish ---------------------------------------------------
@scenario("pub.missing_exchange", "basic.publish to nonexistent exchange")
def _(P):
    c = P.open()
    c.publish(1, "wp.missing", "k", b"hello")
    c.observe()


@scenario("pub.immediate", "basic.publish immediate=true")
def _(P):
    c = P.open()
    c.publish(1, "", "x", b"hello", immediate=True)
    c.observe()


@scenario("pub.mandatory_unroutable", "mandatory publish to amq.direct with unbound key")
def _(P):
    c = P.open()
    c.publish(1, "amq.direct", "wp.nowhere", b"hello", mandatory=True, props={"content_type": "text/plain"})
    c.observe()


@scenario("pub.mandatory_default_missing_queue", "mandatory publish via '' to a nonexistent queue name")
def _(P):
    c = P.open()
    c.publish(1, "", "wp.missing", b"hello", mandatory=True)
    c.observe()


@scenario("pub.unroutable_not_mandatory", "non-mandatory unroutable publish (silently dropped)")
def _(P):
    c = P.open()
    c.publish(1, "amq.direct", "wp.nowhere", b"hello")
    c.observe(wait=1.0)


@scenario("pub.default_exchange_explicit_amq_default", "publish to exchange 'amq.default'", cleanup=ALLQ)
def _(P):
    c = P.open()
    declare_q(c)
    c.publish(1, "amq.default", Q, b"hello", mandatory=True)
    c.observe(wait=1.0)
    c.call(1, "basic.get", queue=Q, no_ack=1)


@scenario("pub.empty_body", "publish with body_size 0 (no body frame); get it", cleanup=ALLQ)
def _(P):
    c = P.open()
    declare_q(c)
    c.send(method_frame(1, "basic.publish", routing_key=Q) + header_frame(1, 0), "ch=1 publish + HEADER size 0")
    c.observe(wait=0.5)
    c.call(1, "basic.get", queue=Q, no_ack=1)


# ---------------- confirms / tx -------------------------------------------
@scenario("cf.basic", "confirm.select, publish routable + unroutable mandatory + unroutable, then to missing "
          "exchange", cleanup=ALLQ)
def _(P):
    c = P.open()
    declare_q(c)
    c.call(1, "confirm.select")
    c.publish(1, "", Q, b"one")
    c.observe()
    c.publish(1, "amq.direct", "wp.nowhere", b"two", mandatory=True)
    c.observe()
    c.publish(1, "amq.direct", "wp.nowhere", b"three")
    c.observe()
    c.publish(1, "wp.missing", "k", b"four")
    c.observe()


@scenario("cf.select_twice", "confirm.select twice; confirm.select nowait")
def _(P):
    c = P.open()
    c.call(1, "confirm.select")
    c.call(1, "confirm.select")
    c.open_channel(2)
    c.send_method(2, "confirm.select", nowait=1)
    c.observe(wait=1.0)


@scenario("cf.after_tx", "tx.select then confirm.select")
def _(P):
    c = P.open()
    c.call(1, "tx.select")
    c.call(1, "confirm.select")


@scenario("tx.after_confirm", "confirm.select then tx.select")
def _(P):
    c = P.open()
    c.call(1, "confirm.select")
    c.call(1, "tx.select")


@scenario("tx.commit_without_select", "tx.commit without tx.select")
def _(P):
    c = P.open()
    c.call(1, "tx.commit")


@scenario("tx.rollback_without_select", "tx.rollback without tx.select")
def _(P):
    c = P.open()
    c.call(1, "tx.rollback")


@scenario("tx.flow", "tx.select twice; publish+rollback; publish+commit; get", cleanup=ALLQ)
def _(P):
    c = P.open()
    declare_q(c)
    c.call(1, "tx.select")
    c.call(1, "tx.select")
    c.publish(1, "", Q, b"rolled-back")
    c.call(1, "tx.rollback")
    c.call(1, "queue.declare", queue=Q, passive=1)
    c.publish(1, "", Q, b"committed")
    c.call(1, "queue.declare", queue=Q, passive=1)
    c.call(1, "tx.commit")
    c.call(1, "queue.declare", queue=Q, passive=1)


@scenario("tx.mandatory_return_timing", "tx: mandatory unroutable publish; when is basic.return sent?")
def _(P):
    c = P.open()
    c.call(1, "tx.select")
    c.publish(1, "amq.direct", "wp.nowhere", b"x", mandatory=True)
    c.observe(wait=1.0)
    c.call(1, "tx.commit")


@scenario("tx.ack_rollback", "tx: get (ack mode), ack, rollback: message still unacked?", cleanup=ALLQ)
def _(P):
    c = P.open()
    declare_q(c)
    put(c, 1, Q, 1)
    sync(c)
    c.call(1, "tx.select")
    c.call(1, "basic.get", queue=Q)
    c.call(1, "basic.ack", delivery_tag=1)
    c.call(1, "tx.rollback")
    c.call(1, "queue.declare", queue=Q, passive=1)
    c.call(1, "basic.ack", delivery_tag=1)
    c.call(1, "tx.commit")
    c.call(1, "queue.declare", queue=Q, passive=1)


@scenario("tx.publish_missing_exchange", "tx: publish to missing exchange (error at publish or commit?)")
def _(P):
    c = P.open()
    c.call(1, "tx.select")
    c.publish(1, "wp.missing", "k", b"x")
    c.observe()


@scenario("tx.ack_unknown", "tx: ack unknown tag (error at ack or commit?)")
def _(P):
    c = P.open()
    c.call(1, "tx.select")
    c.call(1, "basic.ack", delivery_tag=9)


# ---------------- client sends server-only methods ------------------------
for _name, _ch, _kw in (("channel.open-ok", 1, {}), ("queue.declare-ok", 1, {"queue": "x"}),
                        ("basic.deliver", 1, {"consumer_tag": "x", "delivery_tag": 1}),
                        ("basic.get-empty", 1, {}), ("basic.consume-ok", 1, {"consumer_tag": "x"}),
                        ("connection.start", 0, {"version_major": 0, "version_minor": 9}),
                        ("connection.tune", 0, {}), ("connection.open-ok", 0, {}),
                        ("connection.secure-ok", 0, {"response": b"x"}),
                        ("connection.blocked", 0, {"reason": "x"}), ("connection.update-secret-ok", 0, {}),
                        ("basic.get-ok", 1, {"delivery_tag": 1}), ("basic.cancel-ok", 1, {"consumer_tag": "x"}),
                        ("basic.recover-ok", 1, {}), ("basic.qos-ok", 1, {}), ("channel.flow-ok", 1, {"active": 1}),
                        ("basic.return", 1, {"reply_code": 312, "reply_text": "NO_ROUTE"})):
    def _mk(name, ch, kw):
        @scenario("srv." + name, "Client sends server-side method %s on ch %d" % (name, ch))
        def _(P):
            c = P.open()
            c.call(ch, name, **kw)
            if not c.closed:
                c.call(1, "basic.qos", prefetch_count=0, _note="  (liveness check)")
    _mk(_name, _ch, _kw)


# ---------------- closing semantics ----------------------------------------
def _provoke_channel_error(c):
    c.send_method(1, "queue.declare", queue="wp.missing", passive=1)
    f = c.read_frame(3.0)
    c.log("<- " + (describe(f) if f else "(nothing)"))
    return f


@scenario("cl.method_before_close_ok", "After server channel.close: send queue.declare + publish on that channel "
          "before close-ok; then close-ok; then reopen", cleanup=ALLQ)
def _(P):
    c = P.open()
    _provoke_channel_error(c)
    c.send_method(1, "queue.declare", queue=Q)
    c.publish(1, "", Q, b"dropped?")
    c.send_method(1, "basic.ack", delivery_tag=99)
    c.observe(wait=1.5, reply=False)
    c.send_method(1, "channel.close-ok")
    c.observe(wait=1.0)
    c.send_method(1, "channel.open")
    c.observe()
    c.call(1, "queue.declare", queue=Q, passive=1)


@scenario("cl.close_instead_of_close_ok", "After server channel.close, client sends channel.close (not close-ok)")
def _(P):
    c = P.open()
    _provoke_channel_error(c)
    c.send_method(1, "channel.close", reply_code=200, reply_text="client close")
    c.observe(reply=False)
    c.send_method(1, "channel.open")
    c.observe(reply=False)


@scenario("cl.open_instead_of_close_ok", "After server channel.close, client sends channel.open on same channel")
def _(P):
    c = P.open()
    _provoke_channel_error(c)
    c.send_method(1, "channel.open")
    c.observe(reply=False)


@scenario("cl.close_instead_of_close_ok_wait", "Server channel.close; client channel.close; server close-ok; "
          "wait 1 s; channel.open on same channel")
def _(P):
    c = P.open()
    _provoke_channel_error(c)
    c.send_method(1, "channel.close", reply_code=200, reply_text="client close")
    c.observe(reply=False)
    time.sleep(1.0)
    c.send_method(1, "channel.open")
    c.observe()


@scenario("cl.close_then_close_ok", "Server channel.close; client channel.close; server close-ok; client "
          "close-ok; channel.open on same channel")
def _(P):
    c = P.open()
    _provoke_channel_error(c)
    c.send_method(1, "channel.close", reply_code=200, reply_text="client close")
    c.observe(reply=False)
    c.send_method(1, "channel.close-ok")
    c.observe(wait=1.0)
    c.send_method(1, "channel.open")
    c.observe()


@scenario("cl.reopen_same_write_as_close_ok", "Server channel.close; client close-ok + channel.open (same write)")
def _(P):
    c = P.open()
    _provoke_channel_error(c)
    c.send(method_frame(1, "channel.close-ok") + method_frame(1, "channel.open"),
           "ch=1 channel.close-ok + ch=1 channel.open (same write)")
    c.observe()


@scenario("cl.method_same_write_as_close_ok", "Server channel.close; client close-ok + queue.declare on the same "
          "closed channel (same write), 3 tries", cleanup=ALLQ)
def _(P):
    for i in range(3):
        c = P.open("try%d" % (i + 1))
        _provoke_channel_error(c)
        c.send(method_frame(1, "channel.close-ok") + method_frame(1, "queue.declare", queue=Q, exclusive=1),
               "ch=1 channel.close-ok + ch=1 queue.declare (same write)")
        c.observe()


@scenario("cl.method_after_close_ok_delay", "Server channel.close; close-ok; wait 0.5 s; queue.declare on that "
          "channel")
def _(P):
    c = P.open()
    _provoke_channel_error(c)
    c.send_method(1, "channel.close-ok")
    time.sleep(0.5)
    c.send_method(1, "queue.declare", queue=Q, exclusive=1)
    c.observe()


@scenario("cl.client_close_socket_timeout_hb", "heartbeat=5; client connection.close; how long until the server "
          "drops the socket if the client never closes it?", slow=True)
def _(P):
    c = P.open(tune={"heartbeat": 5})
    c.send_method(0, "connection.close", reply_code=200, reply_text="bye")
    t = time.monotonic()
    c.observe(wait=40.0, settle=40.0)
    c.log("   (elapsed ~%ds)" % round(time.monotonic() - t))


@scenario("cl.client_close_socket_timeout", "heartbeat=0; client connection.close; never close the socket",
          slow=True)
def _(P):
    c = P.open()
    c.send_method(0, "connection.close", reply_code=200, reply_text="bye")
    t = time.monotonic()
    c.observe(wait=40.0)
    c.log("   (elapsed ~%ds)" % round(time.monotonic() - t))


@scenario("cl.no_close_ok_hb", "heartbeat=5; server connection.close (504); never send close-ok", slow=True)
def _(P):
    c = P.open(tune={"heartbeat": 5})
    c.send_method(1, "channel.open", _note="  (provokes connection error 504)")
    t = time.monotonic()
    c.observe(wait=40.0, settle=40.0, reply=False)
    c.log("   (elapsed ~%ds)" % round(time.monotonic() - t))


@scenario("cl.frame_error_no_close_ok", "Frame error (bad frame end); never send close-ok: when is the socket "
          "closed?")
def _(P):
    c = P.open()
    c.send(frame(FRAME_METHOD, 2, enc_method("channel.open"), end=0x00), "ch=2 channel.open, frame-end 0x00")
    c.observe(wait=10.0, settle=10.0, reply=False)


@scenario("cl.other_channel_unaffected", "Channel error on ch 1 while ch 2 is open: ch 2 still usable",
          cleanup=ALLQ)
def _(P):
    c = P.open()
    c.open_channel(2)
    _provoke_channel_error(c)
    c.call(2, "queue.declare", queue=Q, exclusive=1)


@scenario("cl.frames_after_connection_close", "After server connection.close: send more frames before close-ok")
def _(P):
    c = P.open()
    c.send_method(1, "channel.open", _note="  (provokes connection error 504)")
    f = c.read_frame(3.0)
    c.log("<- " + (describe(f) if f else "(nothing)"))
    c.send_method(1, "queue.declare", queue=Q)
    c.send_method(2, "channel.open")
    c.send_method(0, "connection.open", virtual_host="/")
    c.send(frame(FRAME_HEARTBEAT, 0, b""), "HEARTBEAT ch=0")
    c.send(frame(9, 0, b"zz"), "garbage frame type 9")
    c.observe(wait=2.0, reply=False)
    if not c.closed:
        c.send_method(0, "connection.close-ok")
        c.observe(wait=3.0)


@scenario("cl.connection_close_after_server_close", "After server connection.close, client sends connection.close")
def _(P):
    c = P.open()
    c.send_method(1, "channel.open", _note="  (provokes connection error 504)")
    f = c.read_frame(3.0)
    c.log("<- " + (describe(f) if f else "(nothing)"))
    c.send_method(0, "connection.close", reply_code=200, reply_text="bye")
    c.observe(wait=3.0, reply=False)


@scenario("cl.no_close_ok", "After server connection.close, never send close-ok", slow=True)
def _(P):
    c = P.open()
    c.send_method(1, "channel.open", _note="  (provokes connection error 504)")
    t = time.monotonic()
    c.observe(wait=40.0, settle=40.0, reply=False)
    c.log("   (elapsed ~%ds)" % round(time.monotonic() - t))


@scenario("cl.client_channel_close", "Client channel.close: reply; frames sent after it before close-ok",
          cleanup=ALLQ)
def _(P):
    c = P.open()
    c.send(method_frame(1, "channel.close", reply_code=200, reply_text="bye")
           + method_frame(1, "queue.declare", queue=Q), "ch=1 channel.close + ch=1 queue.declare (same write)")
    c.observe()
    c.open_channel(2)
    c.call(2, "queue.declare", queue=Q, passive=1)


@scenario("cl.client_channel_close_twice", "Client sends channel.close twice back to back")
def _(P):
    c = P.open()
    c.send(method_frame(1, "channel.close", reply_code=200, reply_text="bye") * 2, "ch=1 channel.close x2")
    c.observe()


@scenario("cl.client_channel_close_error_code", "Client channel.close with reply_code 404 and class/method ids")
def _(P):
    c = P.open()
    c.call(1, "channel.close", reply_code=404, reply_text="client says", class_id=50, method_id=10)


@scenario("cl.unsolicited_channel_close_ok", "channel.close-ok on an open channel without any close")
def _(P):
    c = P.open()
    c.call(1, "channel.close-ok")
    if not c.closed:
        c.call(1, "basic.qos", prefetch_count=1)


@scenario("cl.unsolicited_connection_close_ok", "connection.close-ok without any close")
def _(P):
    c = P.open()
    c.call(0, "connection.close-ok")


@scenario("cl.client_connection_close", "Client connection.close: close-ok then socket close?")
def _(P):
    c = P.open()
    c.call(0, "connection.close", reply_code=200, reply_text="bye")


@scenario("cl.client_connection_close_then_frames", "Client connection.close followed by channel.open in same write")
def _(P):
    c = P.open()
    c.send(method_frame(0, "connection.close", reply_code=200, reply_text="bye") + method_frame(2, "channel.open"),
           "ch=0 connection.close + ch=2 channel.open")
    c.observe()


@scenario("cl.channel_error_connection_frame_ok", "After a channel error (no close-ok yet), heartbeat/other channel "
          "still work", cleanup=ALLQ)
def _(P):
    c = P.open()
    c.open_channel(2)
    _provoke_channel_error(c)
    c.send(frame(FRAME_HEARTBEAT, 0, b""), "HEARTBEAT ch=0")
    c.call(2, "queue.declare", queue=Q, exclusive=1)


# ---------------- misc --------------------------------------------------------
@scenario("misc.reply_to_direct_ack", "Consume amq.rabbitmq.reply-to without no_ack")
def _(P):
    c = P.open()
    c.call(1, "basic.consume", queue="amq.rabbitmq.reply-to", consumer_tag="rt")


@scenario("misc.update_secret", "connection.update-secret from client (PLAIN user)")
def _(P):
    c = P.open()
    c.call(0, "connection.update-secret", new_secret=b"guest", reason="refresh")


@scenario("hs.channel_max_count", "tune-ok channel_max=3; open channels 1,2,3,4 (count limit, not number)")
def _(P):
    c = P.open(channel=0, tune={"channel_max": 3})
    for ch in (1, 2, 3, 4):
        c.send_method(ch, "channel.open")
        c.observe()
        if c.closed:
            break


@scenario("hs.channel_max_count_reuse", "tune-ok channel_max=2; open 1 and 2; close 1; open 3")
def _(P):
    c = P.open(channel=0, tune={"channel_max": 2})
    c.call(1, "channel.open")
    c.call(2, "channel.open")
    c.call(1, "channel.close", reply_code=200, reply_text="")
    c.call(3, "channel.open")


# --------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=5672)
    ap.add_argument("--only", help="regex on scenario id")
    ap.add_argument("--slow", action="store_true", help="include slow (10-40 s) scenarios")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--timing", action="store_true", help="print timestamps")
    a = ap.parse_args()
    if a.host not in ("127.0.0.1", "localhost", "::1") and not a.host.startswith("127."):
        sys.exit("loopback only")
    sel = [s for s in SCENARIOS if (not a.only or re.search(a.only, s[0])) and (a.slow or not s[2] or a.only)]
    if a.list:
        for sid, desc, slow, _, _ in SCENARIOS:
            print("%-45s %s%s" % (sid, desc, "  [slow]" if slow else ""))
        return
    P = Probe(a.host, a.port, a.timing)
    for sid, desc, slow, cleanup, fn in sel:
        print("\n### %s -- %s" % (sid, desc), flush=True)
        if cleanup:
            P.admin(*cleanup)
        try:
            fn(P)
        except Exception as e:  # noqa
            print("  PROBE ERROR: %s: %s" % (e.__class__.__name__, e))
            traceback.print_exc(limit=3, file=sys.stdout)
        finally:
            P.close_all()
            if cleanup:
                P.admin(*cleanup)


if __name__ == "__main__":
    main()
