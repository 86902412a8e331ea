#!/usr/bin/env python3
"""The soak's verdict and report (scripts/bench.sh --soak).

  soak.py check RESULT.json RSS_GROWTH_MIB FD_SLACK
      Fails (exit 1) unless the steady stream lost nothing, the churn had no errors, the
      highest RSS per sample interval is flat (median of the last third no more than
      RSS_GROWTH_MIB above the first third's, after a tenth of warm-up) and the broker's open
      files came back to where they started (within FD_SLACK).
  soak.py report RESULT.json SAMPLES.csv SVG_OUT BENCH_MD COMMAND RSS_GROWTH_MIB FD_SLACK
      Draws RSS, open files and probe latency over time (SVG_OUT) and writes the soak section
      of BENCH_MD between its markers.
"""

import csv
import json
import os
import sys

MIB = 1024 * 1024
BEGIN, END = "<!-- soak:begin -->", "<!-- soak:end -->"


def verdict(result, rss_growth_mib, fd_slack):
    """(passed, lines) for a soak result."""
    lines, ok = [], True

    def check(passed, text):
        nonlocal ok
        ok = ok and passed
        lines.append(f"soak: {'ok  ' if passed else 'FAIL'} {text}")

    rss = result["rss_max_bytes"]
    first, last = rss["first_third_median"], rss["last_third_median"]
    growth = (last - first) / MIB
    check(growth <= rss_growth_mib,
          f"RSS flat: highest per interval {first / MIB:.1f} MiB (first third) -> "
          f"{last / MIB:.1f} MiB (last third), growth {growth:+.1f} MiB (bound {rss_growth_mib} MiB)")
    start, after = result["start"]["fds"], result["after"]["fds"]
    check(after <= start + fd_slack,
          f"open files back: {start} before, {after} after (slack {fd_slack})")
    check(result["churn_errors"] == 0,
          f"churn without errors ({result['churn_errors']}; first: {result['first_error']})")
    check(result["lost"] == 0 and result["reordered"] == 0 and result["drained"],
          f"steady stream: {result['published']} published, {result['consumed']} consumed, "
          f"lost {result['lost']}, reordered {result['reordered']}")
    check(result["connections_churned"] > 0 and result["queues_churned"] > 0
          and result["channels_churned"] > 0,
          f"churned {result['connections_churned']} connections, {result['channels_churned']} "
          f"channels, {result['queues_churned']} queues")
    return ok, lines


def read_samples(path):
    with open(path) as f:
        rows = list(csv.DictReader(f))

    def num(v):
        return float(v) if v not in ("", None) else None

    return [{k: num(v) for k, v in row.items()} for row in rows]


def svg_plot(samples, title):
    """Three stacked panels against time: RSS (point and interval high), open files, probe
    latency p99 — hand-drawn SVG, so the report needs nothing installed."""
    width, panel_h, left, right, top, gap = 900, 170, 70, 20, 40, 50
    panels = [
        ("Resident memory (MiB)", [("rss_max_bytes", "#c0392b", "highest in interval"),
                                   ("rss_bytes", "#e67e22", "at the sample")], 1 / MIB),
        ("Open file descriptors", [("fds_max", "#2471a3", "highest in interval"),
                                   ("fds", "#5dade2", "at the sample")], 1),
        ("Probe latency, publish to delivery (ms)", [("probe_p99_us", "#1e8449", "p99"),
                                                     ("probe_p50_us", "#82e0aa", "p50")], 1 / 1000),
    ]
    height = top + len(panels) * (panel_h + gap)
    t_max = max(s["t_s"] for s in samples) or 1
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="15">{title}</text>']
    for i, (name, series, scale) in enumerate(panels):
        y0 = top + i * (panel_h + gap)
        values = [s[k] * scale for s in samples for k, _, _ in series if s.get(k) is not None]
        v_max = max(values, default=1) * 1.1 or 1
        x = lambda t: left + (width - left - right) * t / t_max  # noqa: E731
        y = lambda v: y0 + panel_h - panel_h * v / v_max  # noqa: E731
        out.append(f'<text x="{left}" y="{y0 - 6}" font-weight="bold">{name}</text>')
        out.append(f'<rect x="{left}" y="{y0}" width="{width - left - right}" height="{panel_h}" '
                   f'fill="none" stroke="#999"/>')
        for j in range(5):
            v = v_max * j / 4
            out.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:.0f}</text>')
            out.append(f'<line x1="{left}" x2="{width - right}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
                       f'stroke="#eee"/>')
        for j in range(7):
            t = t_max * j / 6
            label = f"{t / 60:.0f} min" if t_max >= 600 else f"{t:.0f} s"
            out.append(f'<text x="{x(t):.1f}" y="{y0 + panel_h + 16}" text-anchor="middle">{label}</text>')
        for n, (key, color, label) in enumerate(series):
            pts = " ".join(f"{x(s['t_s']):.1f},{y(s[key] * scale):.1f}"
                           for s in samples if s.get(key) is not None)
            out.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="1.5"/>')
            # The legend goes on the panel's title line, right of the title, off the curves.
            lx = width - right - 330 + n * 170
            ly = y0 - 6
            out.append(f'<line x1="{lx}" x2="{lx + 20}" y1="{ly - 4}" y2="{ly - 4}" stroke="{color}" '
                       f'stroke-width="2"/><text x="{lx + 26}" y="{ly}">{label}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def span(seconds):
    """`1 hour`, `5 minutes`, `1 minute`, `40 seconds`."""
    for unit, size in (("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds >= size:
            n = round(seconds / size)
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds:g} seconds"


def section(result, svg_rel, samples_rel, command, passed_lines):
    rss, fds, lat = result["rss_max_bytes"], result["fds_max"], result["probe_latency_us"] or {}
    hours = result["duration_s"] / 3600
    return "\n".join([
        BEGIN,
        f"## Soak: {span(result['duration_s'])} of churn (issue 13)",
        "",
        f"Warren alone for {span(result['duration_s'])}, sampled every "
        f"{result['sample_every_s']:.0f} s: rounds of {result['connections_per_round']:,} "
        "connections (one channel each) opened and all closed again, channels opened and closed "
        "on one connection, queues declared, bound, given a message and deleted, a steady stream "
        "of persistent 1 KiB messages published with confirms and consumed with manual acks, and "
        "a probe timing one message at a time from publish to delivery. The load generator "
        "(warren-perf) and Warren share this machine's 2 cores and the churn keeps both busy: "
        "the probe's latency is that of a saturated machine, not of an idle broker.",
        "",
        f"![RSS, open files and probe latency over the soak]({svg_rel})",
        "",
        "| | |",
        "|---|---|",
        f"| connections opened and closed | {result['connections_churned']:,} "
        f"({result['connections_churned'] / max(hours, 1e-9) / 3600:,.0f}/s) |",
        f"| channels opened and closed | {result['channels_churned']:,} |",
        f"| queues declared and deleted | {result['queues_churned']:,} |",
        f"| steady stream | {result['published']:,} published and confirmed, "
        f"{result['consumed']:,} consumed, lost {result['lost']}, reordered {result['reordered']} |",
        f"| highest RSS per interval | first third {rss['first_third_median'] / MIB:.1f} MiB, "
        f"last third {rss['last_third_median'] / MIB:.1f} MiB (medians); "
        f"min {rss['min'] / MIB:.1f}, max {rss['max'] / MIB:.1f} MiB |",
        f"| RSS before / after ({result['after'].get('after_s', 5)} s after the last connection closed) | "
        f"{result['start']['rss_bytes'] / MIB:.1f} / {result['after']['rss_bytes'] / MIB:.1f} MiB |",
        f"| open files before / highest / after | {result['start']['fds']} / {fds['max']} / "
        f"{result['after']['fds']} |",
        f"| probe latency | p50 {lat.get('p50', 0) / 1000:.2f} ms, p99 {lat.get('p99', 0) / 1000:.2f} ms, "
        f"p99.9 {lat.get('p999', 0) / 1000:.2f} ms, max {lat.get('max', 0) / 1000:.2f} ms "
        f"({lat.get('samples', 0):,} probes) |",
        f"| errors in the churn | {result['churn_errors']} |",
        "",
        "Verdict (`scripts/bench/soak.py check`):",
        "",
        "```",
        *passed_lines,
        "```",
        "",
        f"Raw samples: [{samples_rel}]({samples_rel}). Command: `{command}`.",
        END,
    ])


def splice(path, block):
    text = open(path).read() if os.path.exists(path) else ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    with open(path, "w") as f:
        f.write(text)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd, argv = sys.argv[1], sys.argv[2:]
    if cmd == "check" and len(argv) == 3:
        with open(argv[0]) as f:
            result = json.load(f)
        ok, lines = verdict(result, float(argv[1]), int(argv[2]))
        print("\n".join(lines))
        sys.exit(0 if ok else 1)
    if cmd == "report" and len(argv) == 7:
        result_path, samples_path, svg_out, bench_md, command, rss_growth, fd_slack = argv
        with open(result_path) as f:
            result = json.load(f)
        samples = read_samples(samples_path)
        with open(svg_out, "w") as f:
            f.write(svg_plot(samples, f"Warren soak: {span(result['duration_s'])} of churn"))
        _, lines = verdict(result, float(rss_growth), int(fd_slack))
        base = os.path.dirname(os.path.abspath(bench_md))
        rel = lambda p: os.path.relpath(os.path.abspath(p), base)  # noqa: E731
        splice(bench_md, section(result, rel(svg_out), rel(samples_path), command, lines))
        return
    sys.exit(__doc__)


if __name__ == "__main__":
    main()
