#!/usr/bin/env python3
"""Helper for scripts/bench.sh (python3 standard library only).

Subcommands:
  record  RESULTS --scenario ID --broker B --round N --rc RC --elapsed S --io BYTES --cmd CMD
          [--stderr FILE]
      Read one warren-perf JSON object on stdin, append a record to RESULTS (JSON lines) and
      print a one-line summary.
  render  RESULTS META OUT
      Compute the medians and write the markdown report OUT; print the summary table.
  smoke-check NAME
      Read one warren-perf JSON object on stdin; exit 1 unless it ran cleanly with lost = 0
      and reordered = 0.
  startup LOG T0 T1 [--rss BYTES]
      Print, as JSON, how long a Warren start took: from T0 (epoch seconds, just before exec)
      to the timestamp of its 'listening amqp' log line (T1, when the script saw the line, is
      the fallback), and what its 'recovered N messages in Q queues from S segments in X ms'
      line says; plus any WARN/ERROR lines of the log.
  compose NAME [--base FILE] [--part KEY=FILE]... [--set KEY=VALUE]... [--lift KEY]
      Build one result object for a multi-step scenario (restart, paging) from warren-perf
      outputs: --base merges a JSON object at the top level, --part nests one under KEY,
      --lift copies the loss/order checks of part KEY to the top. Print it as one JSON line.
  mgmt-list --url URL --pid PID [--reps N] [--timeout S] [--declare FILE] [--declare-rc RC]
      The mgmt_list scenario's listing half: time (with curl) GET /api/queues, a first page,
      a middle page sorted by name and filtered, and GET /api/overview, N times each; the
      broker's RSS before, after and at its peak meanwhile. Print one JSON object.
  splice RESULTS META OUT
      Write only the sections these results make (A/B, management API) into OUT, between
      their markers, leaving the rest of OUT as it is.
"""

import json
import os
import platform
import statistics
import sys

HIGH, LOW = "higher", "lower"

# Scenario id -> (title template, [(metric key, label, unit, better, target factor)]).
# Title templates are formatted with the run's meta values (counts differ with QUICK=1).
SCENARIOS = [
    ("t16_autoack",
     "16 B transient, 1 producer → 1 queue → 1 consumer, autoack",
     [("consumed_per_s", "delivered", "rate", HIGH, 5)]),
    ("t16_ack",
     "16 B transient, 1 → 1 → 1, manual ack, prefetch 1000",
     [("consumed_per_s", "delivered", "rate", HIGH, 5)]),
    ("t1k_4x4",
     "1 KiB transient, 4 producers → 4 queues → 4 consumers, autoack",
     [("consumed_per_s", "delivered", "rate", HIGH, 4)]),
    ("fanout10",
     "fanout to 10 queues, 10 consumers (16 B, 1 producer, autoack)",
     [("consumed_per_s", "delivered", "rate", HIGH, 4)]),
    ("topic10k",
     "topic exchange with {bindings} bindings (16 B, 1 → 1 → 1, autoack)",
     [("consumed_per_s", "delivered", "rate", HIGH, 4)]),
    ("persistent",
     "1 KiB persistent + confirms (window 256) into a durable queue, 1 → 1 → 1, manual ack",
     [("confirmed_per_s", "confirmed", "rate", HIGH, 3)]),
    ("latency",
     "latency at {latency_rate} msg/s (16 B, 1 → 1 → 1)",
     [("p99_us", "p99", "us", LOW, 3)]),
    ("lat16_2k",
     "latency at 2,000 msg/s, 16 B, prefetch 1000, ack (multiple) every 250",
     [("p99_us", "p99", "us", LOW, 3), ("p999_us", "p99.9", "us", LOW, 3)]),
    ("lat16_10k",
     "latency at 10,000 msg/s, 16 B, prefetch 1000, ack (multiple) every 250",
     [("p99_us", "p99", "us", LOW, 3), ("p999_us", "p99.9", "us", LOW, 3)]),
    ("lat1k_2k",
     "latency at 2,000 msg/s, 1 KiB, prefetch 1000, ack (multiple) every 250",
     [("p99_us", "p99", "us", LOW, 3), ("p999_us", "p99.9", "us", LOW, 3)]),
    ("lat1k_10k",
     "latency at 10,000 msg/s, 1 KiB, prefetch 1000, ack (multiple) every 250",
     [("p99_us", "p99", "us", LOW, 3), ("p999_us", "p99.9", "us", LOW, 3)]),
    ("connections",
     "{connections} idle connections (one channel each), then a tenth as many with 20 channels",
     [("rss_per_connection", "RSS per connection", "bytes", LOW, 5),
      ("rss_per_channel", "RSS per additional channel", "bytes", LOW, 5)]),
    ("queues",
     "{queues} idle queues (one binding each)",
     [("rss_per_queue", "RSS per queue", "bytes", LOW, 10),
      ("declare_per_s", "declare + bind rate", "qrate", HIGH, 5)]),
    ("backlog",
     "{backlog} × 1 KiB backlog (no consumer, then drained)",
     [("peak_rss", "peak RSS", "bytes", LOW, 4)]),
]

# Warren-only durability scenarios, each on a Warren process and data dir of its own:
# id -> (title template, [(key, label, unit)] headline figures, [(key, label, unit)] details).
RESTART_TARGET_S = 5.0  # "a few seconds"
PAGING_TARGET_FACTOR = 1.5  # "within budget + bounded overhead": peak RSS <= 1.5 x budget
DURABILITY = [
    ("restart",
     "restart with {restart_messages} × 1 KiB persistent messages in {restart_queues} durable "
     "queues",
     [("kill9.startup_s", "restart after kill -9 (exec → `listening amqp`)", "s"),
      ("clean.startup_s", "restart after a clean stop (SIGTERM)", "s")],
     [("publish.publish_per_s", "publish rate (persistent, confirms, window 1000)", "rate"),
      ("kill9.startup_s", "restart after kill -9: exec → `listening amqp`", "s"),
      ("kill9.recover_ms", "  of which recovery (log: `recovered … in X ms`)", "ms"),
      ("kill9.recovered", "  messages recovered", "count"),
      ("kill9.recovered_segments", "  segments read", "count"),
      ("kill9.rss", "  RSS 1 s after `listening amqp`", "bytes"),
      ("clean_stop_s", "clean stop: SIGTERM → exit", "s"),
      ("clean.startup_s", "restart after the clean stop: exec → `listening amqp`", "s"),
      ("clean.recover_ms", "  of which recovery", "ms"),
      ("clean.recovered", "  messages recovered", "count"),
      ("clean.rss", "  RSS 1 s after `listening amqp`", "bytes"),
      ("drain.queued_at_start", "messages in the queues after the restarts (passive declare)", "count"),
      ("drain_per_s", "drain rate after the restarts (1 consumer, 100 queues, manual ack)", "rate"),
      ("drain.peak_rss", "peak RSS while draining", "bytes"),
      ("lost", "lost", "count"),
      ("duplicates", "duplicates", "count"),
      ("reordered", "reordered", "count"),
      ("redelivered", "redelivered", "count")]),
    ("paging",
     "{paging_total} backlog ({paging_messages} × {paging_size} transient) with "
     "`--memory-budget` {paging_budget}",
     [("peak_rss", "peak RSS", "bytes")],
     [("memory_budget", "memory budget", "bytes"),
      ("publish_per_s", "publish rate (confirms, window 1000)", "rate"),
      ("rss_after_publish", "RSS with the whole backlog queued", "bytes"),
      ("peak_rss", "peak RSS", "bytes"),
      ("_paging_overhead", "peak RSS − budget", "bytes"),
      ("drain_per_s", "drain rate (1 consumer, manual ack)", "rate"),
      ("rss_after_drain", "RSS after draining", "bytes"),
      ("lost", "lost", "count"),
      ("reordered", "reordered", "count"),
      ("duplicates", "duplicates", "count")]),
]
DURABILITY_IDS = [d[0] for d in DURABILITY]

# Extra figures shown per scenario in the details section: (key, label, unit).
THROUGHPUT_DETAILS = [
    ("published_per_s", "published", "rate"),
    ("consumed_per_s", "delivered", "rate"),
    ("confirmed_per_s", "confirmed", "rate"),
    ("latency_us.p50", "end-to-end latency p50 (at full load, queue may build up)", "us"),
    ("latency_us.p99", "end-to-end latency p99 (at full load)", "us"),
    ("drain_s", "drain time after publishing stopped", "s"),
]
LATENCY_DETAILS = [
    ("achieved_rate", "achieved publish rate", "rate"),
    ("p50_us", "p50", "us"),
    ("p90_us", "p90", "us"),
    ("p99_us", "p99", "us"),
    ("p999_us", "p99.9", "us"),
    ("max_us", "max", "us"),
]
DETAILS = {
    "t16_autoack": THROUGHPUT_DETAILS,
    "t16_ack": THROUGHPUT_DETAILS,
    "t1k_4x4": THROUGHPUT_DETAILS,
    "fanout10": THROUGHPUT_DETAILS,
    "topic10k": THROUGHPUT_DETAILS,
    "persistent": THROUGHPUT_DETAILS + [("_io_per_msg", "bytes written to storage per message", "bytes")],
    "latency": LATENCY_DETAILS,
    "lat16_2k": LATENCY_DETAILS,
    "lat16_10k": LATENCY_DETAILS,
    "lat1k_2k": LATENCY_DETAILS,
    "lat1k_10k": LATENCY_DETAILS,
    "connections": [
        ("opened", "connections opened", "count"),
        ("open_per_s", "open rate (connection + channel)", "crate"),
        ("rss_before", "RSS before", "bytes"),
        ("rss_after", "RSS with all connections open", "bytes"),
        ("rss_per_connection", "RSS per connection", "bytes"),
        ("rss_after_channels", "RSS after the connections with 20 channels", "bytes"),
        ("rss_per_channel", "RSS per additional channel", "bytes"),
    ],
    "queues": [
        ("declare_per_s", "declare + bind rate", "qrate"),
            ("rss_before", "RSS before", "bytes"),
        ("rss_after", "RSS with all queues", "bytes"),
        ("rss_per_queue", "RSS per queue", "bytes"),
    ],
    "backlog": [
        ("publish_per_s", "publish rate (confirmed, window 1000)", "rate"),
        ("drain_per_s", "drain rate", "rate"),
        ("rss_before", "RSS before", "bytes"),
        ("rss_after_publish", "RSS with the backlog", "bytes"),
        ("peak_rss", "peak RSS", "bytes"),
        ("rss_after_drain", "RSS after draining", "bytes"),
    ],
}

BROKERS = [("rabbitmq", "RabbitMQ"), ("warren", "Warren")]


# ---------------------------------------------------------------------------------------------
# small helpers


def get(d, path):
    """Value at a dotted path in nested dicts, or None."""
    cur = d
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    if isinstance(cur, bool):
        return None
    return cur if isinstance(cur, (int, float)) else None


def fmt(v, unit):
    if v is None:
        return "—"
    if unit == "rate":
        return f"{v:,.0f} msg/s"
    if unit == "qrate":
        return f"{v:,.0f} queues/s"
    if unit == "crate":
        return f"{v:,.0f} conn/s"
    if unit == "count":
        return f"{v:,.0f}"
    if unit == "s":
        return f"{v:.2f} s"
    if unit == "ms":
        return f"{v:,.0f} ms"
    if unit == "dur":  # seconds, shown in the unit that suits
        if abs(v) >= 1:
            return f"{v:,.2f} s"
        if abs(v) >= 0.01:
            return f"{v * 1000:,.0f} ms"
        return f"{v * 1000:.2f} ms"
    if unit == "pct":  # a share of one CPU core
        return f"{v * 100:.1f} % of a core"
    if unit == "ns":
        return f"{v:,.0f} ns"
    if unit == "us":
        if abs(v) >= 10_000:
            return f"{v / 1000:,.1f} ms"
        return f"{v:,.0f} µs"
    if unit == "bytes":
        a = abs(v)
        if a >= 1 << 30:
            return f"{v / (1 << 30):.2f} GiB"
        if a >= 1 << 20:
            return f"{v / (1 << 20):.1f} MiB"
        if a >= 1 << 10:
            return f"{v / (1 << 10):.1f} KiB"
        return f"{v:.0f} B"
    return f"{v}"


def fmt_ratio(r):
    if r is None:
        return "—"
    if r >= 10:
        return f"{r:.1f}×"
    if r >= 0.1:
        return f"{r:.2f}×"
    return f"{r:.3f}×"


def pct(part, whole):
    if not part or not whole:
        return "—"
    v = part / whole * 100
    return f"{v:.1f}%" if v < 10 else f"{v:.0f}%"


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def load_records(path):
    out = []
    if not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                out.append(json.loads(line))
    return out


def load_meta(path):
    meta = {}
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if "=" in line and not line.startswith("#"):
                k, v = line.split("=", 1)
                meta[k] = v
    return meta


def metric_value(rec, key):
    res = rec.get("result") or {}
    if key == "_paging_overhead":
        peak, budget = get(res, "peak_rss"), get(res, "memory_budget")
        return None if peak is None or budget is None else peak - budget
    if key == "_cpu_per_msg":  # broker CPU (user + system) over the run per delivered message
        cpu, n = rec.get("broker_cpu_s"), get(res, "consumed")
        return None if cpu is None or not n else cpu / n * 1e9
    if key == "_cpu_per_published":  # broker CPU over the run per published message
        cpu, n = rec.get("broker_cpu_s"), get(res, "published")
        return None if cpu is None or not n else cpu / n * 1e9
    if key == "_io_per_msg":
        io, pub = rec.get("io_write_bytes"), get(res, "published")
        if io is None or not pub:
            return None
        return io / pub
    return get(res, key)


def ok(rec):
    res = rec.get("result")
    return (rec.get("rc") == 0 and isinstance(res, dict) and "error" not in res
            and "skipped" not in res)


def skipped(rec):
    res = rec.get("result")
    return isinstance(res, dict) and "skipped" in res


# ---------------------------------------------------------------------------------------------
# record


def one_line(scenario, res):
    if not isinstance(res, dict):
        return "no result"
    if "error" in res:
        return "error: " + str(res["error"])[:300]
    if "skipped" in res:
        return "skipped: " + str(res["skipped"])
    kind = res.get("scenario")
    checks = []
    for k in ("lost", "reordered", "duplicates"):
        if res.get(k) is not None:
            checks.append(f"{k} {res[k]}")
    tail = f" ({', '.join(checks)})" if checks else ""
    if kind in ("throughput", "rawpipe"):
        s = f"published {fmt(res.get('published_per_s'), 'rate')}, delivered {fmt(res.get('consumed_per_s'), 'rate')}"
        if res.get("confirmed_per_s") is not None:
            s += f", confirmed {fmt(res.get('confirmed_per_s'), 'rate')}"
        return s + tail
    if kind == "latency":
        return (f"p50 {fmt(res.get('p50_us'), 'us')}, p99 {fmt(res.get('p99_us'), 'us')}, "
                f"p99.9 {fmt(res.get('p999_us'), 'us')}, max {fmt(res.get('max_us'), 'us')} at {fmt(res.get('achieved_rate'), 'rate')}{tail}")
    if kind == "connections":
        return (f"{res.get('opened')} opened ({res.get('failed')} failed), "
                f"{fmt(res.get('rss_per_connection'), 'bytes')} RSS per connection, "
                f"{fmt(res.get('rss_per_channel'), 'bytes')} per additional channel")
    if kind == "queues":
        return (f"{fmt(res.get('declare_per_s'), 'qrate')} declared, "
                f"{fmt(res.get('rss_per_queue'), 'bytes')} RSS per queue")
    if kind == "restart":
        k9, cl = res.get("kill9") or {}, res.get("clean") or {}
        return (f"restart after kill -9 {fmt(get(k9, 'startup_s'), 's')} "
                f"({k9.get('recovered')} recovered in {fmt(get(k9, 'recover_ms'), 'ms')}), "
                f"after clean stop {fmt(get(cl, 'startup_s'), 's')}, "
                f"drain {fmt(res.get('drain_per_s'), 'rate')}{tail}")
    if kind == "paging":
        return (f"peak RSS {fmt(res.get('peak_rss'), 'bytes')} with a "
                f"{fmt(res.get('memory_budget'), 'bytes')} budget, publish "
                f"{fmt(res.get('publish_per_s'), 'rate')}, drain "
                f"{fmt(res.get('drain_per_s'), 'rate')}{tail}")
    if kind == "mgmt_list":
        return (f"{res.get('queues_present')} queues; GET /api/queues {fmt(res.get('list_all_s'), 'dur')} "
                f"({fmt(res.get('list_all_bytes'), 'bytes')}), first page {fmt(res.get('page_first_s'), 'dur')}, "
                f"middle page {fmt(res.get('page_middle_s'), 'dur')}, overview {fmt(res.get('overview_s'), 'dur')}; "
                f"RSS {fmt(res.get('rss_before'), 'bytes')} → {fmt(res.get('rss_after'), 'bytes')}"
                + (f"; errors: {res['errors']}" if res.get("errors") else ""))
    if kind == "backlog":
        return (f"peak RSS {fmt(res.get('peak_rss'), 'bytes')}, publish {fmt(res.get('publish_per_s'), 'rate')}, "
                f"drain {fmt(res.get('drain_per_s'), 'rate')}{tail}")
    return json.dumps(res)[:200]


def _float(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def cmd_record(argv):
    import argparse

    p = argparse.ArgumentParser(prog="report.py record")
    p.add_argument("results")
    p.add_argument("--scenario", required=True)
    p.add_argument("--broker", required=True)
    p.add_argument("--round", type=int, required=True)
    p.add_argument("--rc", type=int, required=True)
    p.add_argument("--elapsed", type=float, default=None)
    p.add_argument("--io", default="")
    p.add_argument("--cmd", default="")
    p.add_argument("--stderr", default=None)
    p.add_argument("--load", default="")
    p.add_argument("--load-after", default="")
    p.add_argument("--cpu", default="")
    a = p.parse_args(argv)
    text = sys.stdin.read().strip()
    result = None
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                result = json.loads(line)
                break
            except ValueError:
                pass
    err_tail = None
    if a.rc != 0 or result is None or "error" in (result or {}):
        if a.stderr and os.path.exists(a.stderr):
            with open(a.stderr, errors="replace") as f:
                err_tail = f.read()[-2000:]
    rec = {
        "scenario": a.scenario,
        "broker": a.broker,
        "round": a.round,
        "rc": a.rc,
        "elapsed_s": a.elapsed,
        "io_write_bytes": int(a.io) if a.io.strip().lstrip("-").isdigit() else None,
        "cmd": a.cmd,
        "result": result,
        "stderr_tail": err_tail,
        "load1": _float(a.load),
        "load1_after": _float(a.load_after),
        "broker_cpu_s": _float(a.cpu),
    }
    with open(a.results, "a") as f:
        f.write(json.dumps(rec, sort_keys=True) + "\n")
    status = one_line(a.scenario, result) if a.rc == 0 or result else f"exit {a.rc}, no JSON"
    if a.rc != 0 and result is not None and "error" not in result:
        status += f" (exit {a.rc})"
    print(f"  round {a.round}  {a.broker:<8}  {a.scenario:<12} {status}", flush=True)
    if err_tail and (a.rc != 0 or result is None):
        print("    stderr: " + err_tail.strip().splitlines()[-1][:300] if err_tail.strip() else "", flush=True)


# ---------------------------------------------------------------------------------------------
# smoke-check


def cmd_smoke_check(argv):
    name = argv[0] if argv else "run"
    text = sys.stdin.read().strip()
    res = None
    for line in reversed(text.splitlines()):
        if line.strip().startswith("{"):
            try:
                res = json.loads(line)
                break
            except ValueError:
                pass
    problems = []
    if res is None:
        problems.append("no JSON result")
    else:
        if "error" in res:
            problems.append(f"error: {res['error']}")
        for k in ("lost", "reordered"):
            if res.get(k) is None:
                problems.append(f"no '{k}' in the result")
            elif res[k] != 0:
                problems.append(f"{k} = {res[k]}")
        if res.get("errors"):
            problems.append(f"errors: {res['errors']}")
        if not res.get("published"):
            problems.append("nothing published")
        if not res.get("consumed"):
            problems.append("nothing consumed")
        if res.get("duplicates"):
            print(f"smoke {name}: warning: duplicates = {res['duplicates']}")
    if problems:
        print(f"smoke {name}: FAIL: " + "; ".join(problems))
        if res is not None:
            print(json.dumps(res))
        sys.exit(1)
    print(f"smoke {name}: ok: " + one_line(name, res))


# ---------------------------------------------------------------------------------------------
# render


def machine_info():
    cpu = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    osname = None
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    osname = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": cpu or platform.processor() or "unknown",
        "mem": mem,
        "kernel": platform.release(),
        "os": osname or platform.system(),
        "arch": platform.machine(),
    }


def collect(records):
    """{scenario: {broker: [records in round order]}}"""
    by = {}
    for r in records:
        by.setdefault(r["scenario"], {}).setdefault(r["broker"], []).append(r)
    for s in by.values():
        for lst in s.values():
            lst.sort(key=lambda r: r["round"])
    return by


def med_of(recs, key):
    return median([metric_value(r, key) for r in recs if ok(r)])


def rounds_of(recs, key, unit):
    vals = []
    for r in recs:
        v = metric_value(r, key) if ok(r) else None
        vals.append("failed" if not ok(r) else fmt(v, unit))
    return " / ".join(vals)


def durability_target(sid, key, value, rec_list):
    """(target text, met text) for a durability headline figure."""
    if sid == "restart":
        target = f"a few seconds (≤ {RESTART_TARGET_S:g} s)"
        met = None if value is None else value <= RESTART_TARGET_S
    else:
        budget = med_of(rec_list, "memory_budget")
        target = (f"within budget + bounded overhead (≤ {PAGING_TARGET_FACTOR:g} × budget"
                  + (f" = {fmt(budget * PAGING_TARGET_FACTOR, 'bytes')})" if budget else ")"))
        met = None if value is None or not budget else value <= PAGING_TARGET_FACTOR * budget
    return target, "—" if met is None else ("yes" if met else "**no**")


def durability_section(L, by, meta, fields):
    present = [d for d in DURABILITY if d[0] in by]
    if not present:
        return
    port = meta.get("dur_port", "5694")
    L.append("## Durability")
    L.append("")
    L.append("Warren only. Each scenario starts a Warren of its own (port "
             f"{port}, a fresh data directory per round, nothing else running on it) because it "
             "kills, restarts or configures the broker. Medians over the rounds, then every round "
             "in order. The persistent-message throughput, side by side with RabbitMQ, is the "
             "`persistent` row of the table above: Warren confirms a persistent message only "
             "after the store segment holding it is `fdatasync`ed (group commit: one sync covers "
             "every message written while the previous one ran), as RabbitMQ confirms only "
             "persisted messages.")
    L.append("")
    L.append("| scenario | figure | Warren | target | met |")
    L.append("|---|---|---:|---|---|")
    for sid, title_t, heads, _ in present:
        recs = by[sid].get("warren", [])
        if recs and all(skipped(r) for r in recs):
            L.append(f"| {title_t.format(**fields)} | — | skipped: {recs[0]['result']['skipped']} "
                     "| — | — |")
            continue
        for key, label, unit in heads:
            v = med_of(recs, key)
            target, met = durability_target(sid, key, v, recs)
            L.append(f"| {title_t.format(**fields)} | {label} | {fmt(v, unit)} | {target} | {met} |")
    L.append("")
    for sid, title_t, _, details in present:
        recs = by[sid].get("warren", [])
        L.append(f"### {title_t.format(**fields)}")
        L.append("")
        if recs and all(skipped(r) for r in recs):
            L.append(f"Skipped: {recs[0]['result']['skipped']}.")
            L.append("")
            continue
        L.append("| figure | Warren |")
        L.append("|---|---:|")
        for key, label, unit in details:
            if all(metric_value(r, key) is None for r in recs):
                continue
            label = label.replace("  ", "&nbsp;&nbsp;&nbsp;", 1) if label.startswith("  ") else label
            L.append(f"| {label} | **{fmt(med_of(recs, key), unit)}** ({rounds_of(recs, key, unit)}) |")
        L.append("")
        cmd = next((r.get("cmd") for r in recs if r.get("cmd")), None)
        L.append("How: " + DURABILITY_HOW[sid].format(**fields, port=port))
        L.append("")
        if cmd:
            L.append("```sh")
            L.extend(cmd.strip().splitlines())
            L.append("```")
            L.append("")


# How each durability scenario runs (formatted with the render fields and the port).
DURABILITY_HOW = {
    "restart": (
        "a Warren on a fresh data directory; warren-perf publishes {restart_messages} persistent "
        "1 KiB messages round-robin over {restart_queues} durable queues (each message carries "
        "its queue's sequence number) and waits for every confirm (`--keep`: no consumer, "
        "nothing deleted); Warren is killed with SIGKILL as soon as the last confirm arrives. "
        "It is started again on the same directory: the restart time is from just before `exec` "
        "to the timestamp of its `listening amqp` log line, the recovery time and count come "
        "from its `recovered N messages in Q queues from S segments in X ms` line, and the RSS "
        "is read from `/proc/$PID/status` 1 s later. Then SIGTERM (clean stop, timed until the "
        "process is gone), the same start again, timed the same way, and `--drain-only`: passive "
        "declares of the same queues, one consumer on all of them (manual ack, prefetch 1000), "
        "every sequence number checked (lost, duplicates, reordered, redelivered), what is left "
        "counted, the queues deleted. `$DATA` is the scenario's temporary data directory, "
        "`$PID` Warren's pid, `$URI` `amqp://guest:guest@127.0.0.1:{port}/%2f`. The commands, "
        "in order:"),
    "paging": (
        "a Warren on a fresh data directory with the memory budget below; warren-perf publishes "
        "the backlog with confirms into one queue with no consumer, then drains it with one "
        "consumer, sampling Warren's `VmRSS` every 100 ms throughout (`--pid`); peak RSS is the "
        "largest sample. Beyond the budget Warren keeps new messages on disk only (about 60 "
        "bytes each in memory), so peak RSS should stay near the budget plus a bounded "
        "overhead. Skipped (and said so here) when the data directory's filesystem has less "
        "free space than twice the backlog. `$DATA` is the scenario's temporary data directory, "
        "`$PID` Warren's pid, `$URI` `amqp://guest:guest@127.0.0.1:{port}/%2f`. The commands:"),
}


def render(records, meta, out_path):
    by = collect(records)
    m = machine_info()
    fields = render_fields(meta)
    rounds = meta.get("rounds", "?")
    quick = meta.get("quick") == "1"

    rows = []  # (title, label, rabbit, warren, ratio, target, met)
    summary = []
    for sid, title_t, metrics in SCENARIOS:
        if sid not in by:
            continue
        title = title_t.format(**fields)
        for key, label, unit, better, factor in metrics:
            rv = med_of(by[sid].get("rabbitmq", []), key)
            wv = med_of(by[sid].get("warren", []), key)
            ratio = wv / rv if (rv not in (None, 0) and wv is not None) else None
            if better == HIGH:
                target = f"≥ {factor}×"
                met = None if ratio is None else ratio >= factor
            else:
                target = f"≤ 1/{factor} ({1 / factor:.2f}×)"
                met = None if ratio is None else ratio <= 1 / factor
            met_s = "—" if met is None else ("yes" if met else "**no**")
            rows.append((title, label, fmt(rv, unit), fmt(wv, unit), fmt_ratio(ratio), target, met_s))
            summary.append((sid, label, fmt(rv, unit), fmt(wv, unit), fmt_ratio(ratio), target,
                            met_s.replace("*", "")))

    # The latency floor (no broker) at each rate, and the latency scenarios it bounds.
    floors = {rate: by.get(f"floor_{rate}", {}).get("none", []) for rate in ("2k", "10k")}
    raw = by.get("rawpipe", {}).get("none", [])
    raw_med = med_of(raw, "consumed_per_s")
    w16 = med_of(by.get("t16_autoack", {}).get("warren", []), "consumed_per_s")
    r16 = med_of(by.get("t16_autoack", {}).get("rabbitmq", []), "consumed_per_s")

    L = []
    L.append("# Benchmarks: Warren vs RabbitMQ")
    L.append("")
    L.append(f"Generated by `scripts/bench.sh` on {meta.get('date', '?')}. "
             "Do not edit by hand: run the script again.")
    L.append("")
    if quick:
        L.append("> **QUICK run** (`QUICK=1`): short durations and reduced counts, for checking the "
                 "script only. These figures are not representative; run `scripts/bench.sh` "
                 "without `QUICK` for the real comparison.")
        L.append("")
    L.append("## Machine and versions")
    L.append("")
    L.append(f"- CPU: {m['cpu']}, {m['cores']} cores ({m['arch']})")
    L.append(f"- RAM: {fmt(m['mem'], 'bytes') if m['mem'] else '?'}")
    L.append(f"- Kernel: Linux {m['kernel']}; OS: {m['os']}")
    L.append(f"- Data directories: {meta.get('data_fs', '?')} (both brokers on the same filesystem)")
    L.append(f"- RabbitMQ: {meta.get('rabbit_version', '?')} (Debian package `rabbitmq-server` "
             f"{meta.get('rabbit_pkg', '?')}), Erlang/OTP {meta.get('erlang', '?')}")
    L.append(f"- Warren: commit {meta.get('warren_commit', '?')}, release build "
             f"({meta.get('rustc', '?')}); warren-perf from the same commit")
    L.append(f"- Open-file limit: Warren {meta.get('nofile_warren', '?')}, RabbitMQ (beam.smp) "
             f"{meta.get('nofile_rabbit', '?')}, warren-perf {meta.get('nofile_perf', '?')}")
    L.append(f"- Everything on loopback (127.0.0.1); the load generator shares the "
             f"{m['cores']} cores with the broker under test.")
    L.append("")
    L.append("## Results")
    L.append("")
    L.append(f"Medians of {rounds} rounds. In every round each scenario runs against both brokers "
             "back to back (the order alternates between rounds: Warren first in odd rounds, "
             "RabbitMQ first in even ones). Ratios are Warren/RabbitMQ of the medians; for "
             "memory and latency lower is better, so the target is a ratio at most 1/N.")
    L.append("")
    if rows:
        L.append("| scenario | figure | RabbitMQ | Warren | Warren/RabbitMQ | target | met |")
        L.append("|---|---|---:|---:|---:|---|---|")
        for t, label, rv, wv, ratio, target, met in rows:
            L.append(f"| {t} | {label} | {rv} | {wv} | {ratio} | {target} | {met} |")
    else:
        L.append("(No side-by-side scenario in this run.)")
    L.append("")
    if raw_med:
        L.append(f"**Ceiling (rawpipe, 16 B):** {fmt(raw_med, 'rate')} — the same publish and "
                 "deliver frames through a plain loopback relay with no broker (two hops, like a "
                 "broker). For the 16 B 1 → 1 → 1 autoack scenario, Warren reaches "
                 f"{pct(w16, raw_med)} of it and RabbitMQ {pct(r16, raw_med)}.")
        L.append("")
    if any(floors.values()):
        L.append("**Latency floor (no broker):** the same latency measurement (same producer "
                 "and consumer threads, 1 KiB, from the scheduled send time) through a relay "
                 "that only copies bytes between two loopback sockets. No broker can measure "
                 "below it on this machine, so it also bounds the ratio a broker can show "
                 "against RabbitMQ:")
        L.append("")
        L.append("| rate | floor p50 | floor p99 | floor p99.9 | best possible p99 ratio | "
                 "best possible p99.9 ratio |")
        L.append("|---|---:|---:|---:|---:|---:|")
        for rate, recs in floors.items():
            if not recs:
                continue
            rv99 = med_of(by.get(f"lat1k_{rate}", {}).get("rabbitmq", []), "p99_us")
            rv999 = med_of(by.get(f"lat1k_{rate}", {}).get("rabbitmq", []), "p999_us")
            f50, f99, f999 = (med_of(recs, k) for k in ("p50_us", "p99_us", "p999_us"))
            best99 = f99 / rv99 if f99 is not None and rv99 else None
            best999 = f999 / rv999 if f999 is not None and rv999 else None
            L.append(f"| {rate} msg/s | {fmt(f50, 'us')} | {fmt(f99, 'us')} | {fmt(f999, 'us')} "
                     f"| {fmt_ratio(best99)} | {fmt_ratio(best999)} |")
        L.append("")
        L.append("(Best possible ratio = floor / RabbitMQ's median for the 1 KiB scenario at "
                 "that rate.)")
        L.append("")
    # Correctness.
    L.append("### Correctness of every run")
    L.append("")
    bad = []
    fails = []
    skips = []
    for sid, brokers in by.items():
        for b, recs in brokers.items():
            for r in recs:
                if skipped(r):
                    skips.append(f"{sid} / {b} / round {r['round']}: skipped: {r['result']['skipped']}")
                    continue
                if not ok(r):
                    why = (r.get("result") or {}).get("error") or (r.get("stderr_tail") or "").strip()[-200:]
                    fails.append(f"{sid} / {b} / round {r['round']}: exit {r['rc']}: {why}")
                    continue
                res = r["result"]
                issues = [f"{k} {res[k]}" for k in ("lost", "reordered", "duplicates")
                          if isinstance(res.get(k), int) and res[k] != 0]
                if res.get("errors"):
                    issues.append(f"errors {res['errors']}")
                if res.get("failed"):
                    issues.append(f"{res['failed']} connections failed")
                if res.get("drained") is False:
                    issues.append("not fully drained")
                if sid == "restart":
                    want = res.get("messages")
                    for part in ("kill9", "clean"):
                        got = (res.get(part) or {}).get("recovered")
                        if got != want:
                            issues.append(f"{part}: recovered {got} of {want}")
                    if isinstance(res.get("remaining"), int) and res["remaining"]:
                        issues.append(f"{res['remaining']} messages left after the drain")
                if issues:
                    bad.append(f"{sid} / {b} / round {r['round']}: " + ", ".join(issues))
    if not bad and not fails:
        L.append("warren-perf numbers every message with a per-queue sequence. Every run "
                 "finished with nothing lost, nothing reordered, no duplicates.")
    else:
        L.append("warren-perf numbers every message with a per-queue sequence. Runs with "
                 "problems (these are excluded from the medians only if the run failed):")
        L.append("")
        for x in fails + bad:
            L.append(f"- {x}")
    L.append("")
    for x in skips:
        L.append(f"- {x}")
    if skips:
        L.append("")

    durability_section(L, by, meta, fields)

    # The management API and A/B sections: from these results, or kept from the file.
    blocks = {}
    if os.path.exists(out_path):
        with open(out_path) as f:
            blocks = existing_sections(f.read())
    blocks.update(make_sections(records, meta))
    for name in SECTION_ORDER:
        if name in blocks:
            L.append(blocks[name])
            L.append("")

    # Details.
    L.append("## Details per scenario")
    L.append("")
    L.append("Each cell: the median, then every round in order.")
    L.append("")
    for sid, title_t, _ in SCENARIOS:
        if sid not in by:
            continue
        L.append(f"### {title_t.format(**fields)}")
        L.append("")
        L.append("| figure | RabbitMQ | Warren |")
        L.append("|---|---:|---:|")
        for key, label, unit in DETAILS.get(sid, []):
            cells = []
            for b, _ in BROKERS:
                recs = by[sid].get(b, [])
                if not recs:
                    cells.append("—")
                    continue
                mv = med_of(recs, key)
                if mv is None and all(metric_value(r, key) is None for r in recs):
                    cells.append("—")
                    continue
                cells.append(f"**{fmt(mv, unit)}** ({rounds_of(recs, key, unit)})")
            if all(c == "—" for c in cells):
                continue
            L.append(f"| {label} | {cells[0]} | {cells[1]} |")
        L.append("")
    for rate, recs in floors.items():
        if not recs:
            continue
        L.append(f"### latency floor at {rate} msg/s (no broker, 1 KiB)")
        L.append("")
        L.append("| figure | relay |")
        L.append("|---|---:|")
        for key, label, unit in LATENCY_DETAILS:
            if all(metric_value(r, key) is None for r in recs):
                continue
            L.append(f"| {label} | **{fmt(med_of(recs, key), unit)}** ({rounds_of(recs, key, unit)}) |")
        L.append("")
    if raw:
        L.append("### rawpipe ceiling (no broker)")
        L.append("")
        L.append(f"- 16 B: **{fmt(raw_med, 'rate')}** ({rounds_of(raw, 'consumed_per_s', 'rate')}), "
                 f"{fmt(med_of(raw, 'mb_per_s'), 'count')} MB/s on the wire")
        L.append("")

    # How.
    L.append("## How each figure was produced")
    L.append("")
    L.append("One command: `scripts/bench.sh` (as root, or with sudo available). Knobs: "
             "`ROUNDS=N` (default 3), `QUICK=1` (2 s runs and small counts), `SCENARIOS=a,b` "
             "(a subset, by the ids below), `WARREN_PORT`, `RABBIT_PORT`, `RABBIT_DIST_PORT`, "
             "`RABBIT_NODENAME`, `WARREN_DUR_PORT`, `BENCH_OUT`. It:")
    L.append("")
    L.append("1. installs `rabbitmq-server` with apt-get if it is missing;")
    L.append("2. builds `cargo build --release --bin warren --bin warren-perf`;")
    L.append(f"3. starts Warren: `{meta.get('warren_cmd', '?')}` (waits for `listening amqp`);")
    L.append("4. starts a RabbitMQ node of its own, with Debian's package left at its defaults "
             "apart from where it listens and keeps its files, as the `rabbitmq` user and "
             "without going through `su` (whose PAM limits would cap open files at 1024), with "
             f"the open-file limit raised first: `{meta.get('rabbit_cmd', '?')}`, "
             f"where `rabbitmq.conf` holds `{meta.get('rabbit_conf', '?')}` and "
             "`enabled_plugins` holds `[].` (no management plugin; only the mgmt_list "
             "scenario turns it on, see its section);")
    dur_note = (" (the durability scenarios, Warren only, on a Warren of their own: see "
                "Durability above)" if any(d in by for d in DURABILITY_IDS) else "")
    L.append("5. runs the scenarios below in rounds, each against both brokers in turn"
             f"{dur_note}; both "
             "brokers are restarted at the start of every round after the first and before each "
             "memory scenario (connections, queues, backlog), so every memory figure is "
             "measured on a fresh process;")
    L.append("6. stops both brokers and writes this file. Raw results (one JSON object per run) "
             f"are kept in `{meta.get('results_path', '?')}`.")
    L.append("")
    L.append("Every figure is a field of the JSON object `warren-perf` prints. "
             "`$URI` is `amqp://guest:guest@127.0.0.1:"
             f"{meta.get('warren_port', '5693')}/%2f` for Warren and "
             f"`amqp://guest:guest@127.0.0.1:{meta.get('rabbit_port', '5692')}/%2f` for RabbitMQ; "
             "`$PID` is the broker's process id (Warren's `warren` process; RabbitMQ's "
             "`beam.smp`, from the node's pid file), whose `VmRSS` in `/proc/$PID/status` "
             "gives the memory figures (RSS after minus RSS before, divided by the count).")
    L.append("")
    L.append("| id | scenario | command | figure (JSON field) |")
    L.append("|---|---|---|---|")
    for sid, title_t, metrics in SCENARIOS:
        if sid not in by:
            continue
        cmd = next((r["cmd"] for lst in by[sid].values() for r in lst if r.get("cmd")), "?")
        figs = ", ".join(f"`{k}`" for k, *_ in metrics)
        L.append(f"| `{sid}` | {title_t.format(**fields)} | `{cmd}` | {figs} |")
    if raw:
        L.append(f"| `rawpipe` | ceiling, no broker | `{raw[0].get('cmd', '?')}` | `consumed_per_s` |")
    for rate, recs in floors.items():
        if recs:
            L.append(f"| `floor_{rate}` | latency floor, no broker | `{recs[0].get('cmd', '?')}` "
                     "| `p50_us`, `p99_us`, `p999_us` |")
    L.append("")
    L.append("Notes:")
    L.append("")
    L.append("- Throughput figures are rates over the measured window (`--duration`), counted "
             "at the consumers (delivered messages; for fanout every copy counts). After the "
             "window the run waits for the queues to drain and checks every sequence number.")
    L.append("- The persistent scenario's figure is confirmed messages per second at the "
             "publisher. Both brokers confirm a persistent message in a durable queue only once "
             "it is on disk; Warren `fdatasync`s its store before sending the confirm, with one "
             "sync covering every message written meanwhile (group commit). Bytes written to storage per message come from `write_bytes` in "
             "`/proc/$PID/io` of the broker, read before and after the run.")
    L.append("- The latency scenario publishes at a fixed rate from one connection and measures "
             "publish-to-delivery time per message (after a 1 s warm-up); p99 is the figure. "
             "The lat* scenarios measure from each message's scheduled send time (a late send "
             "counts against the figures); `send_late_us` in their JSON says how late this "
             "machine let the producer thread send, which no broker controls.")
    L.append("- Memory scenarios run on a broker restarted just before (after a warm-up of 10 "
             "connections and 10 queues only, so no freed buffers are reused); the queues are "
             "left in place (`--keep`) and go away with the next restart, because deleting "
             "100,000 queues one by one takes RabbitMQ minutes. RSS figures are the broker "
             "process's resident memory: Erlang's allocators and Rust's alike keep some freed "
             "memory, so the absolute figures include each broker's baseline.")
    L.append("- RabbitMQ runs with its defaults (classic queues, default memory watermark and "
             "flow control); Warren with its defaults. Neither is tuned for the benchmark.")
    L.append("")
    text = "\n".join(L)
    with open(out_path, "w") as f:
        f.write(text)

    # Summary table on stdout.
    w = [max(len(str(x[i])) for x in summary + [("scenario", "figure", "RabbitMQ", "Warren", "W/R", "target", "met")])
         for i in range(7)]
    hdr = ("scenario", "figure", "RabbitMQ", "Warren", "W/R", "target", "met")
    if summary:
        print("  ".join(str(h).ljust(w[i]) for i, h in enumerate(hdr)))
    for row in summary:
        print("  ".join(str(c).ljust(w[i]) for i, c in enumerate(row)))
    if raw_med:
        print(f"rawpipe 16 B ceiling: {fmt(raw_med, 'rate')}; Warren 16 B autoack reaches "
              f"{pct(w16, raw_med)}, RabbitMQ {pct(r16, raw_med)}")
    for sid, title_t, heads, _ in DURABILITY:
        for r in by.get(sid, {}).get("warren", []):
            print(f"{sid} round {r['round']}: {one_line(sid, r.get('result'))}")
    if bad or fails:
        print("runs with problems:")
        for x in fails + bad:
            print(f"  {x}")


# ---------------------------------------------------------------------------------------------
# startup, compose (durability scenarios)


def parse_ts(line):
    """Epoch seconds of a tracing log line's leading RFC 3339 timestamp, or None."""
    import datetime

    word = line.split(" ", 1)[0].strip()
    if not word[:4].isdigit():
        return None
    if word.endswith("Z"):
        word = word[:-1] + "+00:00"
    # Python < 3.11 accepts at most 6 fractional digits.
    if "." in word:
        head, rest = word.split(".", 1)
        cut = next((i for i, c in enumerate(rest) if not c.isdigit()), len(rest))
        word = f"{head}.{(rest[:cut] + '000000')[:6]}{rest[cut:]}"
    try:
        return datetime.datetime.fromisoformat(word).timestamp()
    except ValueError:
        return None


def cmd_startup(argv):
    import argparse
    import re

    p = argparse.ArgumentParser(prog="report.py startup")
    p.add_argument("log")
    p.add_argument("t0", type=float)
    p.add_argument("t1", type=float)
    p.add_argument("--rss", default="")
    a = p.parse_args(argv)
    out = {"startup_poll_s": round(a.t1 - a.t0, 4), "startup_s": None,
           "startup_from": "poll", "recovered": None, "rss": None, "log_warnings": []}
    if a.rss.strip().isdigit():
        out["rss"] = int(a.rss)
    try:
        with open(a.log, errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        lines = []
    rec = re.compile(r"recovered (\d+) messages in (\d+) queues from (\d+) segments in (\d+) ms")
    for line in lines:
        m = rec.search(line)
        if m and out["recovered"] is None:
            out["recovered"], out["recovered_queues"] = int(m.group(1)), int(m.group(2))
            out["recovered_segments"], out["recover_ms"] = int(m.group(3)), int(m.group(4))
        if "listening amqp" in line and out["startup_s"] is None:
            ts = parse_ts(line)
            if ts is not None and a.t0 - 1 <= ts <= a.t1 + 1:
                out["startup_s"] = round(max(ts - a.t0, 0.0), 4)
                out["startup_from"] = "log timestamp"
        if (" WARN " in line or " ERROR " in line) and len(out["log_warnings"]) < 20:
            out["log_warnings"].append(line[:400])
    if out["startup_s"] is None:
        out["startup_s"] = out["startup_poll_s"]
    print(json.dumps(out, sort_keys=True))


def last_json(path):
    try:
        with open(path, errors="replace") as f:
            return last_json_text(f.read())
    except OSError:
        return None


def cmd_compose(argv):
    import argparse

    p = argparse.ArgumentParser(prog="report.py compose")
    p.add_argument("name")
    p.add_argument("--base")
    p.add_argument("--part", action="append", default=[])
    p.add_argument("--set", action="append", default=[])
    p.add_argument("--lift", action="append", default=[])
    a = p.parse_args(argv)
    out = {}
    problems, errors = [], []
    if a.base:
        base = last_json(a.base)
        if base is None:
            problems.append("no result from warren-perf")
        else:
            out.update(base)
            if "error" in base:
                problems.append(str(base["error"]))
            errors.extend(base.get("errors") or [])
    for spec in a.part:
        key, _, path = spec.partition("=")
        v = last_json(path)
        out[key] = v
        if v is None:
            problems.append(f"{key}: no result")
        elif "error" in v:
            problems.append(f"{key}: {v['error']}")
        else:
            errors.extend(f"{key}: {e}" for e in (v.get("errors") or []))
    for key in a.lift:
        part = out.get(key) or {}
        for k in ("lost", "reordered", "duplicates", "redelivered", "foreign", "drained",
                  "consumed", "drain_per_s", "drain_s", "remaining", "peak_rss"):
            if k in part:
                out[k] = part[k]
    for spec in a.set:
        key, _, val = spec.partition("=")
        try:
            out[key] = int(val)
        except ValueError:
            try:
                out[key] = float(val)
            except ValueError:
                out[key] = val if val != "" else None
    out["scenario"] = a.name
    out["errors"] = errors
    if problems and "skipped" not in out:
        out["error"] = "; ".join(problems)
    print(json.dumps(out, sort_keys=True))


# ---------------------------------------------------------------------------------------------
# mgmt-list (the mgmt_list scenario's listing half)

# (id, label, path template); {mid} is the middle page of the queues present.
MGMT_REQUESTS = [
    ("list_all", "GET /api/queues (every queue)", "/api/queues"),
    ("page_first", "GET /api/queues?page=1&page_size=100", "/api/queues?page=1&page_size=100"),
    ("page_middle", "GET /api/queues?page={mid}&page_size=100&name=idle&sort=name",
     "/api/queues?page={mid}&page_size=100&name=idle&sort=name"),
    ("overview", "GET /api/overview", "/api/overview"),
    # What the web UI's queue page asks for every 5 s.
    ("ui_queues", "GET /api/queues?page=1&page_size=50&sort=name (the UI's queue list)",
     "/api/queues?page=1&page_size=50&sort=name"),
    # Prometheus (no auth), on the metrics listener.
    ("metrics_agg", "GET /metrics (Prometheus, summed)", "METRICS:/metrics"),
    ("metrics_per_object", "GET /metrics/per-object (Prometheus, per queue)",
     "METRICS:/metrics/per-object"),
    # As Prometheus asks: gzip accepted (bytes are the compressed size).
    ("metrics_per_object_gzip", "GET /metrics/per-object, Accept-Encoding: gzip (as Prometheus)",
     "METRICS_GZIP:/metrics/per-object"),
]


def _rss(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _cpu_s(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _curl(url, user, timeout, out, gzip=False):
    """One GET with curl (a new connection; compression asked for only with gzip, and then
    left compressed): (status, bytes, total s, time to first byte s) or an error string."""
    import subprocess

    cmd = ["curl", "-sS", "-u", user, "--max-time", str(timeout), "-o", out,
           "-w", "%{http_code} %{size_download} %{time_total} %{time_starttransfer}", url]
    if gzip:
        cmd[1:1] = ["-H", "Accept-Encoding: gzip"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        return f"curl exit {p.returncode}: {p.stderr.strip()[:300]}"
    code, size, total, ttfb = p.stdout.split()
    return int(code), int(size), float(total), float(ttfb)


def _ui_open(a):
    """Open the broker's web UI on its queue list in headless Chromium (scripts/bench/ui_open.mjs)
    for a.ui_seconds: the page's load time, and the broker's CPU while it stays open."""
    import subprocess

    here = os.path.dirname(os.path.abspath(__file__))
    script = os.path.join(here, "ui_open.mjs")
    c0 = _cpu_s(a.pid)
    try:
        p = subprocess.run(
            ["node", script, a.url, a.ui, a.user, str(a.ui_seconds)],
            capture_output=True, text=True, timeout=a.ui_seconds + 180,
            cwd=os.path.join(here, "..", "..", "tests", "ui"))
    except (OSError, subprocess.TimeoutExpired) as e:
        return {"ui_error": str(e)[:300]}
    c1 = _cpu_s(a.pid)
    res = last_json_text(p.stdout) or {}
    if p.returncode != 0 or "error" in res:
        return {"ui_error": (res.get("error") or p.stderr or f"exit {p.returncode}")[-300:]}
    out = {"ui_load_s": res.get("load_s"), "ui_open_s": res.get("open_s")}
    if c0 is not None and c1 is not None and res.get("open_s"):
        # CPU of the broker over the whole visit (load included), as a share of one core.
        out["ui_cpu_share"] = round((c1 - c0) / res["open_s"], 4)
    return out


def last_json_text(text):
    """The last line of TEXT that is a JSON object, parsed (None if there is none)."""
    for line in reversed((text or "").strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                v = json.loads(line)
                return v if isinstance(v, dict) else None
            except ValueError:
                return None
    return None


def cmd_mgmt_list(argv):
    import argparse
    import tempfile
    import threading
    import time

    p = argparse.ArgumentParser(prog="report.py mgmt-list")
    p.add_argument("--url", required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--user", default="guest:guest")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--timeout", type=float, default=600)
    p.add_argument("--declare")
    p.add_argument("--declare-rc", type=int, default=0)
    p.add_argument("--metrics-url", help="Prometheus listener (http://HOST:PORT)")
    p.add_argument("--ui", choices=["warren", "rabbitmq"],
                   help="open this broker's web UI's queue list in headless Chromium")
    p.add_argument("--ui-seconds", type=float, default=60)
    a = p.parse_args(argv)
    out = {"scenario": "mgmt_list", "url": a.url, "pid": a.pid, "reps": a.reps, "errors": []}
    if a.declare:
        d = last_json(a.declare) or {}
        out["queues_requested"] = d.get("count")
        out["declare_per_s"] = d.get("declare_per_s")
        out["declare_s"] = d.get("declare_s")
        out["rss_before_declare"] = d.get("rss_before")
        out["rss_after_declare"] = d.get("rss_after")
        if a.declare_rc != 0 or "error" in d or not d:
            out["declare_error"] = d.get("error") or f"warren-perf exit {a.declare_rc}"
    body = tempfile.NamedTemporaryFile(prefix="mgmt-list-", suffix=".json", delete=False).name
    try:
        # The API answers (RabbitMQ's plugin starts after the AMQP listener).
        overview = None
        for _ in range(240):
            r = _curl(a.url + "/api/overview", a.user, 10, body)
            if isinstance(r, tuple) and r[0] == 200:
                with open(body) as f:
                    overview = json.load(f)
                break
            time.sleep(0.5)
        if overview is None:
            out["error"] = f"{a.url}/api/overview did not answer 200 in 120 s"
            print(json.dumps(out, sort_keys=True))
            return
        present = (overview.get("object_totals") or {}).get("queues") or 0
        out["queues_present"] = present
        mid = max(1, present // 200)
        out["page_middle"] = mid
        peak = [_rss(a.pid) or 0]
        stop = threading.Event()

        def sample():
            while not stop.wait(0.1):
                v = _rss(a.pid)
                if v:
                    peak[0] = max(peak[0], v)

        out["rss_before"] = _rss(a.pid)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        runs = {rid: [] for rid, _, _ in MGMT_REQUESTS}
        dead = set()
        for rep in range(a.reps):
            for rid, _, path in MGMT_REQUESTS:
                if rid in dead:
                    continue
                metrics_path = path.startswith("METRICS")
                if metrics_path:
                    if not a.metrics_url:
                        continue
                    url = a.metrics_url + path.split(":", 1)[1]
                else:
                    url = a.url + path.format(mid=mid)
                c0 = _cpu_s(a.pid)
                r = _curl(url, a.user, a.timeout, body, gzip=path.startswith("METRICS_GZIP:"))
                c1 = _cpu_s(a.pid)
                if not isinstance(r, tuple) or r[0] != 200:
                    detail = r if isinstance(r, str) else f"HTTP {r[0]} after {r[2]:.2f} s"
                    if isinstance(r, tuple):
                        try:
                            with open(body, errors="replace") as f:
                                detail += ": " + f.read(300)
                        except OSError:
                            pass
                    out["errors"].append(f"{rid} (repetition {rep + 1}): {detail}")
                    dead.add(rid)  # a request that fails or times out is not repeated
                    continue
                code, size, total, ttfb = r
                run = {"status": code, "bytes": size, "s": total, "ttfb_s": ttfb,
                       "broker_cpu_s": None if c0 is None or c1 is None else round(c1 - c0, 3)}
                # What came back (parsed outside the timing; the last repetition's body).
                if (rep == a.reps - 1 or rid in dead) and not metrics_path:
                    try:
                        with open(body) as f:
                            v = json.load(f)
                        if isinstance(v, list):
                            run["items"] = len(v)
                        elif rid.startswith("page"):
                            run["items"] = v.get("item_count")
                            run["filtered_count"] = v.get("filtered_count")
                            run["total_count"] = v.get("total_count")
                            run["first_name"] = (v.get("items") or [{}])[0].get("name")
                    except (OSError, ValueError, AttributeError) as e:
                        run["parse_error"] = str(e)[:200]
                runs[rid].append(run)
        if a.ui:
            out.update(_ui_open(a))
        stop.set()
        sampler.join()
        out["rss_after"] = _rss(a.pid)
        out["peak_rss"] = max(peak[0], out["rss_after"] or 0) or None
        out["requests"] = {}
        for rid, label, path in MGMT_REQUESTS:
            rs = runs[rid]
            if not rs:
                continue
            out["requests"][rid] = {"path": path.format(mid=mid), "runs": rs}
            # One value per repetition: the report shows the median and every repetition.
            out[f"{rid}_s"] = median([r["s"] for r in rs])
            out[f"{rid}_bytes"] = median([r["bytes"] for r in rs])
            out[f"{rid}_ttfb_s"] = median([r["ttfb_s"] for r in rs])
            out[f"{rid}_cpu_s"] = median([r["broker_cpu_s"] for r in rs])
            last = rs[-1] if rs else {}
            for k in ("items", "filtered_count"):
                if k in last:
                    out[f"{rid}_{k}"] = last[k]
    finally:
        try:
            os.unlink(body)
        except OSError:
            pass
    print(json.dumps(out, sort_keys=True))


# ---------------------------------------------------------------------------------------------
# sections spliced into BENCHMARKS.md (management API listing; A/B of two Warren builds)

SECTION_ORDER = ["features", "mgmt", "ab", "ab_scrape"]

# Queue-feature scenarios (their own section): id -> (title, [(metric, label, unit)]).
FEATURE_SCENARIOS = [
    ("prio10", "priority queue, 10 levels: 10 producers (priority 0–9) → 1 queue "
     "(`x-max-priority` 10) → 2 consumers, 16 B, manual ack, prefetch 1000",
     [("consumed_per_s", "delivered", "rate"), ("_cpu_per_msg", "broker CPU per delivered message", "ns")]),
    ("ttl_dlx", "TTL + dead-letter exchange: 1 producer → a queue with `x-message-ttl` 0 and a "
     "dead-letter exchange (no consumer: every message expires into a second queue) → 1 consumer, "
     "16 B, autoack",
     [("consumed_per_s", "delivered (each dead-lettered once)", "rate"),
      ("_cpu_per_msg", "broker CPU per delivered message", "ns")]),
    ("maxlen", "max-length drop-head: 1 producer → 1 queue (`x-max-length` 1000, no consumer), 16 B: "
     "every message past the first 1000 drops the oldest",
     [("published_per_s", "published", "rate"),
      ("_cpu_per_published", "broker CPU per published message", "ns")]),
    ("backlog", "a backlog of {backlog} × 1 KiB transient messages (no consumer while publishing, "
     "confirms), then drained: Warren keeps a 16 MiB head in memory, the rest on disk",
     [("peak_rss", "peak RSS", "bytes"), ("publish_per_s", "publish rate", "rate"),
      ("drain_per_s", "drain rate", "rate")]),
]


def render_fields(meta):
    return {
        "bindings": f"{int(meta.get('bindings', '10000')):,}",
        "latency_rate": f"{int(float(meta.get('latency_rate', '10000'))):,}",
        "connections": f"{int(meta.get('connections', '10000')):,}",
        "queues": f"{int(meta.get('queues', '100000')):,}",
        "backlog": f"{int(meta.get('backlog', '1000000')):,}",
        "restart_messages": f"{int(meta.get('restart_messages', '1000000')):,}",
        "restart_queues": f"{int(meta.get('restart_queues', '100')):,}",
        "paging_messages": f"{int(meta.get('paging_messages', '655360')):,}",
        "paging_size": fmt(int(meta.get('paging_size', '16384')), "bytes"),
        "paging_budget": fmt(int(meta.get('paging_budget', '1073741824')), "bytes"),
        "paging_total": fmt(int(meta.get('paging_messages', '655360'))
                            * int(meta.get('paging_size', '16384')), "bytes"),
    }


def _load_note(records):
    l0 = [r.get("load1") for r in records if r.get("load1") is not None]
    l1 = [r.get("load1_after") for r in records if r.get("load1_after") is not None]
    if not l0:
        return None
    s = (f"1-minute load average at the start of each run: min {min(l0):.2f}, median "
         f"{median(l0):.2f}, max {max(l0):.2f}")
    if l1:
        s += f"; at its end (the run's own load included): median {median(l1):.2f}, max {max(l1):.2f}"
    return s + "."


def side_by_side(groups, unit):
    """Warren's and RabbitMQ's cells for one figure: each the median in bold, then every value
    (a dash when that broker has no records); and the ratio of the medians. `groups` holds,
    per broker, (its records, their values)."""
    cells, meds = [], []
    for recs, vals in groups:
        m = median(vals)
        meds.append(m)
        if not recs:
            cells.append("—")
        elif len(vals) > 1:
            cells.append(f"**{fmt(m, unit)}** ({' / '.join(fmt(v, unit) for v in vals)})")
        else:
            cells.append(f"**{fmt(m, unit)}**")
    ratio = meds[0] / meds[1] if meds[0] is not None and meds[1] else None
    return cells, ratio


def _rep_values(recs, key):
    """mgmt_list: every repetition's value of a request figure (`list_all_s`, `list_all_bytes`,
    ...) over the rounds; one value per round for the other figures."""
    req = next((rid for rid, _, _ in MGMT_REQUESTS if key in (f"{rid}_s", f"{rid}_bytes")), None)
    vals = []
    for r in recs:
        if req is None:
            vals.append(metric_value(r, key))
            continue
        runs = (((r.get("result") or {}).get("requests") or {}).get(req) or {}).get("runs") or []
        vals.extend(x.get("s" if key.endswith("_s") else "bytes") for x in runs)
    return vals


def section_mgmt(by, meta):
    recs = by.get("mgmt_list")
    if not recs:
        return None
    w, rb = recs.get("warren", []), recs.get("rabbitmq", [])
    n = int(meta.get("mgmt_queues", "100000"))
    reps = meta.get("mgmt_reps", "3")
    L = [f"## Management API with {n:,} queues", ""]
    L.append(f"Measured on {meta.get('date', '?')}, Warren at commit "
             f"{meta.get('warren_commit', '?')} (release build), against RabbitMQ "
             f"{meta.get('rabbit_version', '?').replace('RabbitMQ ', '')} with its management "
             f"plugin. Each request timed {reps} times in a row (a new connection each, "
             "compression asked for only where a row says so) with curl as guest; median, then every repetition. "
             f"{meta.get('rounds', '?')} round(s).")
    L.append("")
    rows = [
        ("queues_present", "queues present (`object_totals.queues`)", "count", None),
        ("declare_per_s", "declare + bind rate (warren-perf `queues`)", "qrate", HIGH),
    ]
    for rid, label, _ in MGMT_REQUESTS:
        rows.append((f"{rid}_s", f"`{label}`: time", "dur", LOW))
        if rid == "list_all":
            rows.append((f"{rid}_bytes", f"`{label}`: response size", "bytes", None))
    rows += [
        ("ui_load_s", "web UI: queue list page load (login done, first table drawn)", "dur", LOW),
        ("ui_cpu_share", "web UI: broker CPU while the queue list stays open (share of a core)", "pct", LOW),
        ("rss_before", "RSS before the listings (queues declared)", "bytes", LOW),
        ("rss_after", "RSS after the listings", "bytes", LOW),
        ("peak_rss", "peak RSS during the listings (sampled every 100 ms)", "bytes", LOW),
    ]
    L.append("| figure | Warren | RabbitMQ | Warren/RabbitMQ |")
    L.append("|---|---:|---:|---:|")
    mid = None
    for r in w + rb:
        mid = mid or (r.get("result") or {}).get("page_middle")
    for key, label, unit, _ in rows:
        cells, ratio = side_by_side(
            [(lst, list(_rep_values([r for r in lst if ok(r)], key))) for lst in (w, rb)], unit)
        L.append(f"| {label.replace('{mid}', str(mid or '{mid}'))} | {cells[0]} | {cells[1]} | "
                 f"{fmt_ratio(ratio) if unit not in ('count',) else '—'} |")
    L.append("")
    notes = []
    for name, lst in (("Warren", w), ("RabbitMQ", rb)):
        for r in lst:
            res = r.get("result") or {}
            if res.get("declare_error"):
                notes.append(f"{name}, round {r['round']}: declaring stopped "
                             f"({res['declare_error']}); {res.get('queues_present')} of "
                             f"{res.get('queues_requested')} queues were present and listed.")
            for e in res.get("errors") or []:
                notes.append(f"{name}, round {r['round']}: {e}")
            if "error" in res:
                notes.append(f"{name}, round {r['round']}: {res['error']}")
            la = res.get("list_all_items")
            if la is not None and res.get("queues_present") and la != res["queues_present"]:
                notes.append(f"{name}, round {r['round']}: the full listing held {la} queues, "
                             f"the overview counted {res['queues_present']}.")
    if notes:
        L.extend(f"- {x}" for x in notes)
        L.append("")
    load = _load_note(w + rb)
    L.append("How: `SCENARIOS=mgmt_list scripts/bench.sh` (`MGMT_QUEUES`, `MGMT_REPS`, "
             "`MGMT_UI_SECONDS`, `ROUNDS`; `SPLICE=1` writes only this section). For each "
             "broker, freshly started (RabbitMQ with `[rabbitmq_management,rabbitmq_prometheus].` "
             f"in `enabled_plugins`, `management.tcp.port = {meta.get('rabbit_mgmt_port', '?')}` "
             "and `prometheus.tcp.port = 15694`; the plugins stay off for every other "
             "scenario): `warren-perf queues --count N --keep` declares the "
             "queues (`perf-RUN-idle-I`, one binding each, bounded in time: if it runs out, "
             "the count reached is listed), 10 s of rest, then `scripts/bench/report.py "
             "mgmt-list` times the requests in turn, each repetition a new `curl` "
             "(`time_total`, body discarded; the last body is parsed afterwards to check the "
             "item counts), and reads the broker's `VmRSS`. The middle page is page "
             "(queues / 200), sorted by name, with the name filter `idle` (which every queue "
             "matches: page 500 of 100 needs 50,000 matches). Then headless Chromium "
             "(`scripts/bench/ui_open.mjs`) logs in to the broker's own web UI, opens its "
             "queue list (load time: until the table shows a queue) and keeps it open for "
             "`MGMT_UI_SECONDS`; the broker's CPU time over that visit, divided by its length, "
             "is the CPU share. The broker is restarted "
             "afterwards." + (f" {load}" if load else ""))
    L.append("")
    return L


AB_FIGS = {
    "t16_autoack": [("consumed_per_s", "delivered", "rate", HIGH)],
    "t16_ack": [("consumed_per_s", "delivered", "rate", HIGH)],
    "t1k_4x4": [("consumed_per_s", "delivered", "rate", HIGH)],
    "fanout10": [("consumed_per_s", "delivered", "rate", HIGH)],
    "topic10k": [("consumed_per_s", "delivered", "rate", HIGH)],
    "persistent": [("confirmed_per_s", "confirmed", "rate", HIGH)],
    "latency": [("p50_us", "p50", "us", LOW), ("p99_us", "p99", "us", LOW),
                ("p999_us", "p99.9", "us", LOW)],
    "connections": [("rss_per_connection", "RSS per connection", "bytes", LOW),
                    ("rss_per_channel", "RSS per additional channel", "bytes", LOW)],
    "queues": [("rss_per_queue", "RSS per queue", "bytes", LOW),
               ("declare_per_s", "declare + bind rate", "qrate", HIGH)],
    "backlog": [("peak_rss", "peak RSS", "bytes", LOW),
                ("publish_per_s", "publish rate", "rate", HIGH),
                ("drain_per_s", "drain rate", "rate", HIGH)],
}
# Broker CPU per delivered message: less sensitive to what else the machine runs than a rate.
for _sid in ("t16_autoack", "t16_ack", "t1k_4x4", "fanout10", "topic10k", "persistent"):
    AB_FIGS[_sid].append(("_cpu_per_msg", "broker CPU per delivered message", "ns", LOW))
for _lat in ("lat16_2k", "lat16_10k", "lat1k_2k", "lat1k_10k"):
    AB_FIGS[_lat] = AB_FIGS["latency"]


def section_ab(by, meta):
    if not any("before" in b for b in by.values()):
        return None
    fields = render_fields(meta)
    before = meta.get("ab_before_rev") or meta.get("ab_before", "?")
    after = meta.get("warren_code_commit") or meta.get("warren_commit", "?")
    scrape = meta.get("scrape_every")
    if scrape:
        L = [f"## Hot path while Prometheus scrapes every {scrape} s", ""]
        L.append(f"Measured on {meta.get('date', '?')}: one release build of Warren (commit "
                 f"{after}) started twice; \"after\" had `/metrics/per-object` fetched every "
                 f"{scrape} s for the whole of each run, \"before\" was not scraped.")
    else:
        L = ["## A/B: hot path before and after", ""]
        L.append(f"Measured on {meta.get('date', '?')}: Warren at commit {before} (before) "
                 f"against commit {after} (after; the scripts at "
                 f"{meta.get('warren_commit', '?')}), both release builds.")
    L[-1] += (" The same warren-perf and arguments as above, on the same "
              f"machine. {meta.get('rounds', '?')} rounds; in each, every scenario ran against "
              "both binaries back to back (before first in odd rounds, after first in even "
              "ones), each a fresh process for the memory scenarios. Spread = (max − min) / "
              "median of one binary's rounds. A change counts as beyond the noise only when "
              "after/before differs from 1 by more than both spreads.")
    L.append("")
    L.append("| scenario | figure | before | after | after/before | before rounds | after rounds "
             "| spread before / after | verdict |")
    L.append("|---|---|---:|---:|---:|---|---|---:|---|")
    all_recs = []
    for sid, title_t, _ in SCENARIOS:
        if sid not in by or sid not in AB_FIGS:
            continue
        b, a = by[sid].get("before", []), by[sid].get("after", [])
        all_recs += b + a
        for key, label, unit, better in AB_FIGS[sid]:
            mb, ma = med_of(b, key), med_of(a, key)
            if mb is None and ma is None:
                continue

            def spread(recs, m):
                vs = [metric_value(r, key) for r in recs if ok(r)]
                vs = [v for v in vs if v is not None]
                return (max(vs) - min(vs)) / m if vs and m else None

            sb, sa = spread(b, mb), spread(a, ma)
            ratio = ma / mb if mb and ma is not None else None
            verdict = "—"
            if ratio is not None and sb is not None and sa is not None:
                worse = ratio < 1 if better == HIGH else ratio > 1
                if abs(ratio - 1) <= max(sb, sa):
                    verdict = "within noise"
                else:
                    verdict = "**worse**" if worse else "better"
            sp = " / ".join("—" if x is None else f"{x * 100:.0f}%" for x in (sb, sa))
            L.append(f"| `{sid}` | {label} | {fmt(mb, unit)} | {fmt(ma, unit)} | "
                     f"{'—' if ratio is None else f'{ratio:.3f}'} | {rounds_of(b, key, unit)} | "
                     f"{rounds_of(a, key, unit)} | {sp} | {verdict} |")
    L.append("")
    load = _load_note(all_recs)
    if meta.get("wait_load"):
        L.append(f"Each run waited until the 1-minute load average was below "
                 f"{meta['wait_load']} (other work shares this machine). " + (load or ""))
    elif load:
        L.append(load)
    L.append("")
    bad = [f"{sid} / {br} / round {r['round']}: {one_line(sid, r.get('result'))}"
           for sid, brs in by.items() for br, lst in brs.items() for r in lst if not ok(r)]
    if bad:
        L.append("Failed runs (left out of the medians):")
        L.append("")
        L.extend(f"- {x}" for x in bad)
        L.append("")
    if scrape:
        L.append("How: `scripts/bench/scrape_ab.sh` (runs `AB_BEFORE=target/release/warren "
                 f"SCRAPE_EVERY={scrape} scripts/bench.sh`, which writes only this section). "
                 "Scenario ids and commands as in the table under \"How each figure was "
                 "produced\".")
    else:
        L.append("How: `scripts/bench/ab.sh [BEFORE_REV]` (builds BEFORE_REV, default 88aaff3, "
                 "in a worktree of its own, then runs `AB_BEFORE=that/warren scripts/bench.sh`, "
                 "which writes only this section). Scenario ids and commands as in the table "
                 "under \"How each figure was produced\".")
    L.append("")
    return L


def section_features(by, meta):
    if meta.get("ab_before") or not any(sid in by for sid, _, _ in FEATURE_SCENARIOS):
        return None
    L = ["## Queue features", ""]
    L.append(f"Measured on {meta.get('date', '?')}, Warren at commit {meta.get('warren_commit', '?')} "
             f"(release build), against RabbitMQ {meta.get('rabbit_version', '?').replace('RabbitMQ ', '')}, "
             f"{meta.get('rounds', '?')} round(s) of {meta.get('duration', '?')} s each; median, then "
             "every round. The scenarios without queue features (the table above) are unchanged by "
             "them: see the A/B section.")
    L.append("")
    L.append("| scenario | figure | Warren | RabbitMQ | Warren/RabbitMQ |")
    L.append("|---|---|---:|---:|---:|")
    fields = render_fields(meta)
    for sid, title, figs in FEATURE_SCENARIOS:
        recs = by.get(sid)
        if not recs:
            continue
        title = title.format(**fields)
        w = [r for r in recs.get("warren", []) if ok(r)]
        rb = [r for r in recs.get("rabbitmq", []) if ok(r)]
        for key, label, unit in figs:
            cells, ratio = side_by_side([(w, [metric_value(r, key) for r in w]),
                                         (rb, [metric_value(r, key) for r in rb])], unit)
            L.append(f"| {title} | {label} | {cells[0]} | {cells[1]} | {fmt_ratio(ratio)} |")
    L.append("")
    lost = []
    for sid, _, _ in FEATURE_SCENARIOS:
        for broker, lst in (by.get(sid) or {}).items():
            for r in lst:
                res = r.get("result") or {}
                if not ok(r):
                    lost.append(f"{broker} `{sid}` round {r.get('round')}: {res.get('error') or 'failed'}")
                elif res.get("lost"):
                    lost.append(f"{broker} `{sid}` round {r.get('round')}: {res['lost']} lost")
    if lost:
        L.append("Problems: " + "; ".join(lost) + ".")
        L.append("")
    L.append("How: `SCENARIOS=prio10,ttl_dlx,maxlen,backlog SPLICE=1 scripts/bench.sh` (warren-perf "
             "`throughput` with `--queue-arg`, `--priorities`, `--ttl-stage`; the commands are in "
             "scripts/bench.sh). Losses and order are checked as for every throughput run; in "
             "`maxlen` dropping is the point, so nothing is consumed or checked.")
    return L


def make_sections(records, meta):
    by = collect(records)
    out = {}
    ab_name = "ab_scrape" if meta.get("scrape_every") else "ab"
    for name, fn in (("features", section_features), ("mgmt", section_mgmt), (ab_name, section_ab)):
        lines = fn(by, meta)
        if lines:
            out[name] = "\n".join([f"<!-- {name}:begin -->"] + lines + [f"<!-- {name}:end -->"])
    return out


def existing_sections(text):
    import re

    return {m.group(1): m.group(0) for m in
            re.finditer(r"<!-- (\w+):begin -->.*?<!-- \1:end -->", text, re.S)}


def splice_into(text, blocks):
    """Replace each block between its markers in TEXT, or insert the new ones (in
    SECTION_ORDER) before '## Details per scenario' (or at the end)."""
    old = existing_sections(text)
    for name in SECTION_ORDER:
        if name not in blocks:
            continue
        if name in old:
            text = text.replace(old[name], blocks[name])
            continue
        # After the blocks that come before it, if present; else before the details.
        anchor = "## Details per scenario"
        later = [n for n in SECTION_ORDER[SECTION_ORDER.index(name) + 1:] if n in old]
        if later:
            i = text.index(old[later[0]])
        elif anchor in text:
            i = text.index(anchor)
        else:
            text = text.rstrip("\n") + "\n\n" + blocks[name] + "\n"
            continue
        text = text[:i] + blocks[name] + "\n\n" + text[i:]
        old = existing_sections(text)
    return text


def cmd_splice(argv):
    if len(argv) != 3:
        sys.exit("usage: report.py splice RESULTS META OUT")
    results, meta_path, out = argv
    blocks = make_sections(load_records(results), load_meta(meta_path))
    if not blocks:
        sys.exit("splice: these results make no A/B or management section")
    text = ""
    if os.path.exists(out):
        with open(out) as f:
            text = f.read()
    text = splice_into(text, blocks)
    with open(out, "w") as f:
        f.write(text if text.endswith("\n") else text + "\n")
    for name, block in blocks.items():
        print(block)
        print()


def cmd_render(argv):
    if len(argv) != 3:
        sys.exit("usage: report.py render RESULTS META OUT")
    results, meta, out = argv
    render(load_records(results), load_meta(meta), out)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd, argv = sys.argv[1], sys.argv[2:]
    if cmd == "record":
        cmd_record(argv)
    elif cmd == "render":
        cmd_render(argv)
    elif cmd == "smoke-check":
        cmd_smoke_check(argv)
    elif cmd == "startup":
        cmd_startup(argv)
    elif cmd == "compose":
        cmd_compose(argv)
    elif cmd == "mgmt-list":
        cmd_mgmt_list(argv)
    elif cmd == "splice":
        cmd_splice(argv)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
