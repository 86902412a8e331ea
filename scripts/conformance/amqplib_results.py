#!/usr/bin/env python3
"""Turn the jsonl-reporter.mjs logs of an amqplib run into a TSV and a summary (used by run.sh).

usage: amqplib_results.py LOG_DIR OUT.tsv
Rows: amqplib, "file > suite > test", PASS|FAIL|TIMEOUT|SKIP, ms, error.
A test that started but never reported (its node process was killed by the outer timeout) is a
TIMEOUT; so is a test that node's --test-timeout cut short. Exit 1 when any test did not pass.
"""
import glob
import json
import os
import sys

logs, tsv = sys.argv[1], sys.argv[2]
timed_out = set()
tf = os.path.join(logs, "file-timeouts")
if os.path.exists(tf):
    timed_out = {line.split()[1] for line in open(tf) if line.strip()}

rows = []
for x in sorted(glob.glob(os.path.join(logs, "*.jsonl"))):
    fname = os.path.basename(x)[: -len(".jsonl")]
    stack = []  # names of started, unfinished tests/suites, by nesting level
    for line in open(x):
        try:
            e = json.loads(line)
        except ValueError:
            continue
        n = e.get("nesting", 0)
        if e["ev"] == "start":
            del stack[n:]
            stack.append(e["name"])
            continue
        path = " > ".join([fname] + stack[:n] + [e["name"]])
        del stack[n:]
        if e.get("type") == "suite":
            # a failing suite without failing tests means a hook (before/after) failed
            if e["ev"] == "fail" and "hook" in (e.get("error") or "").lower():
                rows.append((path + " (hook)", "FAIL", round(e.get("ms") or 0), e["error"]))
            continue
        err = e.get("error") or ""
        if e.get("skip"):
            st = "SKIP"
        elif e["ev"] == "pass":
            st = "PASS"
        else:
            st = "TIMEOUT" if "timed out" in err else "FAIL"
        rows.append((path, st, round(e.get("ms") or 0), err))
    if stack:  # killed while these were running: the innermost one hung
        rows.append((" > ".join([fname] + stack), "TIMEOUT", 0,
                     "still running when its test file was killed" if fname in timed_out
                     else "never reported a result"))
    elif fname in timed_out:
        rows.append((fname + " > (process did not exit)", "TIMEOUT", 0,
                     "test file killed by the outer timeout after all its tests reported"))

with open(tsv, "w") as fh:
    for r in rows:
        fh.write("amqplib\t" + "\t".join(str(v).replace("\t", " ").replace("\n", " ") for v in r) + "\n")
passed = sum(r[1] == "PASS" for r in rows)
skipped = sum(r[1] == "SKIP" for r in rows)
failed = len(rows) - passed - skipped
for r in rows:
    if r[1] not in ("PASS", "SKIP"):
        print(f"  {r[1]}: {r[0]}  -- {r[3][:200]}")
print(f"amqplib: {passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
