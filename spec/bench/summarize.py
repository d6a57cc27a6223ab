#!/usr/bin/python3
"""Summarize ../shared/bench/run.sh output: Crater against its peers, as ratios.

    spec/bench/summarize.py --results DIR [--duration 8s] [--anchors "crater nginx-lua ..."]

Reads DIR/raw_main.tsv and DIR/raw_pipeline.tsv (either may be missing) and prints
markdown: one table per endpoint with, for each anchor, the median over rounds of
req/s, p99 latency and server CPU per request, and the ratios against Crater:

  req/s ratio  = Crater req/s / peer req/s                 (>1: Crater serves more)
  CPU ratio    = peer CPU per request / Crater CPU per request (>1: Crater spends less)

Server CPU per request, in microseconds, is
  cpu0_server_busy_pct / 100 * duration_seconds * 1e6 / requests
per round (the server is pinned to CPU 0), then the median over rounds. The duration
is wrk's -d (run.sh's DURATION); pass the same value here.

Then a ratio overview and the issue's targets (>= 1.0x nginx-lua, >= 1.8x go,
node-http and fastify, on req/s and CPU per request) marked met / missed.
Python 3 standard library only.
"""
import argparse
import csv
import os
import re
import statistics
import sys
from collections import defaultdict

ENDPOINTS = [
    ("plaintext", "main", "GET /plaintext"),
    ("json", "main", "GET /json"),
    ("users", "main", "GET /users/{id}"),
    ("items", "main", "POST /items (valid, 201)"),
    ("items_invalid", "main", "POST /items (invalid, 422)"),
    ("plaintext_pipe16", "pipeline", "GET /plaintext, pipelined (depth 16)"),
]
KNOWN_ORDER = ["crater", "nginx-lua", "nginx-static", "go", "node-http", "fastify",
               "starlette", "fastapi", "flask"]
# The targets: Crater / peer must be at least this, on every endpoint.
TARGETS = {"nginx-lua": 1.0, "go": 1.8, "node-http": 1.8, "fastify": 1.8}
CRATER = "crater"


def parse_duration(text):
    m = re.fullmatch(r"\s*([0-9.]+)\s*(ms|s|m|h)?\s*", text)
    if not m:
        sys.exit(f"summarize.py: cannot parse duration {text!r} (like 8s, 1m)")
    value, unit = float(m.group(1)), m.group(2) or "s"
    return value * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


def load(path):
    """{(anchor, endpoint): [row, ...]} or {} when the file is absent."""
    rows = defaultdict(list)
    if not os.path.exists(path):
        return rows
    with open(path, newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            rows[(row["anchor"], row["endpoint"])].append(row)
    return rows


def tod(hms):
    h, m, sec = (int(x) for x in hms.split(":"))
    return h * 3600 + m * 60 + sec


def load_interference(results, duration_s, limit):
    """{(mode, anchor, endpoint, round): (foreign %, steal %, top process)} for every
    measurement during which other work used more than `limit` % of a core on average.
    Uses foreign_cpu.tsv (written by http_bench.sh's monitor) and the run_*.log lines,
    which are stamped when each wrk run ends. Empty when the monitor did not run."""
    path = os.path.join(results, "foreign_cpu.tsv")
    if not os.path.exists(path):
        return None
    samples = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            samples.append((tod(row["time"]), float(row["foreign_cpu_pct"]),
                            float(row["steal_pct"]), row["top_foreign"]))
    disturbed = {}
    line_re = re.compile(r"^\[(\d\d:\d\d:\d\d)\] (\S+)\s+(\S+)\s+round (\d+):")
    for mode in ("main", "pipeline"):
        log = os.path.join(results, f"run_{mode}.log")
        if not os.path.exists(log):
            continue
        with open(log) as f:
            for line in f:
                m = line_re.match(line)
                if not m:
                    continue
                end = tod(m.group(1))
                # samples cover the second before their stamp; the window is wrk's run
                win = [x for x in samples if 0 < (x[0] - end + duration_s + 1) % 86400 <= duration_s + 1]
                if not win:
                    continue
                foreign = sum(x[1] for x in win) / len(win)
                steal = sum(x[2] for x in win) / len(win)
                if foreign > limit or steal > limit:
                    tops = [x[3] for x in win if x[1] > limit]
                    top = max(set(tops), key=tops.count) if tops else "-"
                    disturbed[(mode, m.group(2), m.group(3), m.group(4))] = (foreign, steal, top)
    return disturbed


def cpu_us_per_request(row, duration_s):
    requests = float(row["requests"])
    if requests <= 0:
        return float("nan")
    return float(row["cpu0_server_busy_pct"]) / 100.0 * duration_s * 1e6 / requests


def median(values):
    values = [v for v in values if v == v]  # drop NaN
    return statistics.median(values) if values else float("nan")


def stats(rows, duration_s):
    return {
        "rps": median(float(r["rps"]) for r in rows),
        "p99": median(float(r["p99_ms"]) for r in rows),
        "cpu": median(cpu_us_per_request(r, duration_s) for r in rows),
        "cpu0": median(float(r["cpu0_server_busy_pct"]) for r in rows),
        "cpu1": median(float(r["cpu1_wrk_busy_pct"]) for r in rows),
        "rounds": len(rows),
        "rps_min": min(float(r["rps"]) for r in rows),
        "rps_max": max(float(r["rps"]) for r in rows),
    }


def ratio(a, b):
    if a != a or b != b or b == 0:
        return float("nan")
    return a / b


def fmt_ratio(x):
    return "n/a" if x != x else f"{x:.2f}×"


def fmt_rps(x):
    return "n/a" if x != x else f"{x:,.0f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results", default=os.environ.get("RESULTS", "/tmp/crater-bench-results"),
                    help="directory holding raw_main.tsv / raw_pipeline.tsv")
    ap.add_argument("--duration", default=os.environ.get("DURATION", "8s"),
                    help="wrk -d of the run (run.sh's DURATION), e.g. 8s")
    ap.add_argument("--anchors", default=None,
                    help="anchors to show, in order (default: every anchor found)")
    ap.add_argument("--max-foreign", type=float, default=5.0,
                    help="drop a round when other processes used more than this %% of a core "
                         "during it (needs foreign_cpu.tsv; default 5)")
    ap.add_argument("--keep-disturbed", action="store_true",
                    help="use every round, even those run beside other work")
    args = ap.parse_args()
    duration_s = parse_duration(args.duration)

    data = {"main": load(os.path.join(args.results, "raw_main.tsv")),
            "pipeline": load(os.path.join(args.results, "raw_pipeline.tsv"))}
    if not data["main"] and not data["pipeline"]:
        sys.exit(f"summarize.py: no raw_main.tsv or raw_pipeline.tsv in {args.results}")

    found = {a for d in data.values() for (a, _e) in d}
    if args.anchors:
        anchors = [a for a in args.anchors.split() if a in found]
    else:
        anchors = [a for a in KNOWN_ORDER if a in found] + sorted(found - set(KNOWN_ORDER))
    peers = [a for a in anchors if a != CRATER]

    disturbed = load_interference(args.results, duration_s, args.max_foreign)
    table = {}  # (anchor, endpoint) -> stats
    only_disturbed = []
    for ep, mode, _title in ENDPOINTS:
        for a in anchors:
            rows = data[mode].get((a, ep))
            if not rows:
                continue
            clean = rows
            if disturbed and not args.keep_disturbed:
                clean = [r for r in rows if (mode, a, ep, r["round"]) not in disturbed]
                if not clean:
                    clean = rows
                    only_disturbed.append((a, ep))
            table[(a, ep)] = stats(clean, duration_s)
            table[(a, ep)]["of"] = len(rows)

    rounds = max((s["of"] for s in table.values()), default=0)
    conns = os.environ.get("CONNS", "64")
    print(f"Median of up to {rounds} round(s); wrk -t1 -c{conns} -d{args.duration} on CPU 1, each server "
          f"(one worker) on CPU 0, 127.0.0.1. Results: `{args.results}`.\n")
    print("Ratios: **req/s ratio** = Crater ÷ peer, **CPU ratio** = peer CPU per request ÷ "
          "Crater CPU per request; above 1 means Crater is better. "
          "CPU/request = server-core busy × duration ÷ requests.\n")

    for ep, _mode, title in ENDPOINTS:
        present = [a for a in anchors if (a, ep) in table]
        if not present:
            continue
        c = table.get((CRATER, ep))
        print(f"### {title}\n")
        print("| anchor | req/s | p99 ms | CPU µs/req | server / wrk core busy % | rounds used | "
              "req/s ratio (Crater ÷ peer) | CPU ratio (peer ÷ Crater) |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for a in present:
            s = table[(a, ep)]
            if a == CRATER or c is None:
                r_rps = r_cpu = "—"
            else:
                r_rps = fmt_ratio(ratio(c["rps"], s["rps"]))
                r_cpu = fmt_ratio(ratio(s["cpu"], c["cpu"]))
            name = f"**{a}**" if a == CRATER else a
            used = f"{s['rounds']}/{s['of']}" + ("*" if (a, ep) in only_disturbed else "")
            p99 = "—" if ep.endswith("_pipe16") else f"{s['p99']:.2f}"
            print(f"| {name} | {fmt_rps(s['rps'])} | {p99} | {s['cpu']:.2f} | "
                  f"{s['cpu0']:.0f} / {s['cpu1']:.0f} | {used} | {r_rps} | {r_cpu} |")
        print()

    if CRATER in anchors and peers:
        eps = [(ep, title) for ep, _m, title in ENDPOINTS if (CRATER, ep) in table]
        short = {"plaintext": "plaintext", "json": "json", "users": "users/{id}",
                 "items": "POST items", "items_invalid": "POST items 422",
                 "plaintext_pipe16": "pipelined"}
        print("### Overview: req/s ratio / CPU ratio (Crater vs peer; >1 = Crater better)\n")
        print("| peer | " + " | ".join(short[e] for e, _t in eps) + " |")
        print("|---|" + "---:|" * len(eps))
        for p in peers:
            cells = []
            for e, _t in eps:
                s, c = table.get((p, e)), table[(CRATER, e)]
                if s is None:
                    cells.append("n/a")
                else:
                    cells.append(f"{ratio(c['rps'], s['rps']):.2f} / {ratio(s['cpu'], c['cpu']):.2f}")
            print(f"| {p} | " + " | ".join(cells) + " |")
        print()

        checked = [p for p in peers if p in TARGETS]
        if checked:
            print("### Targets (from the issue): Crater ÷ peer on every endpoint\n")
            print("| peer | target | req/s: worst ratio (endpoint) | CPU: worst ratio (endpoint) | req/s | CPU |")
            print("|---|---:|---:|---:|---|---|")
            for p in checked:
                want = TARGETS[p]
                rps_r = [(ratio(table[(CRATER, e)]["rps"], table[(p, e)]["rps"]), e)
                         for e, _t in eps if (p, e) in table]
                cpu_r = [(ratio(table[(p, e)]["cpu"], table[(CRATER, e)]["cpu"]), e)
                         for e, _t in eps if (p, e) in table]
                if not rps_r:
                    continue
                wr, we = min(rps_r)
                wc, wce = min(cpu_r)
                mr = "met" if wr >= want else "missed (" + ", ".join(
                    short[e] for r, e in rps_r if r < want) + ")"
                mc = "met" if wc >= want else "missed (" + ", ".join(
                    short[e] for r, e in cpu_r if r < want) + ")"
                print(f"| {p} | {want:.1f}× | {wr:.2f}× ({short[we]}) | {wc:.2f}× ({short[wce]}) | {mr} | {mc} |")
            print()

    if disturbed is None:
        print("No foreign_cpu.tsv: every round is used, whatever else ran on the machine.\n")
    elif disturbed:
        print(f"Rounds dropped because other processes used > {args.max_foreign:.0f}% of a core "
              "meanwhile (" + ("kept anyway: --keep-disturbed" if args.keep_disturbed else
                               "\"rounds used\" above; * = every round was disturbed, all kept") + "): "
              + "; ".join(f"{a} {ep} r{r} ({fo:.0f}% {top}{f', steal {st:.0f}%' if st > args.max_foreign else ''})"
                          for (mode, a, ep, r), (fo, st, top) in sorted(disturbed.items())) + ".\n")
    else:
        print("No round was disturbed by other processes.\n")
    print("Pipelined p99 is not shown: wrk records one latency per 16-request batch.\n")

    # Client saturation: when wrk's core is (nearly) fully busy, req/s measures wrk.
    sat = sorted({(a, ep) for (a, ep), s in table.items() if s["cpu1"] >= 95})
    if sat:
        print("wrk's core was ≥95% busy for: " + ", ".join(f"{a} {ep}" for a, ep in sat)
              + " — there req/s is bounded by the client; compare CPU per request.\n")

    # Neither core saturated: the server was waiting on something other than the client
    # (or the machine was busy with other work); such a median deserves a rerun.
    idle = sorted((a, ep) for (a, ep), s in table.items() if s["cpu0"] < 90 and s["cpu1"] < 90)
    if idle:
        print("Neither core ≥90% busy (interference or a stall; rerun before trusting): "
              + ", ".join(f"{a} {ep}" for a, ep in idle) + ".\n")

    # Spread across rounds and anomalies.
    spread = [(a, ep, s) for (a, ep), s in table.items()
              if s["rounds"] > 1 and s["rps"] > 0 and (s["rps_max"] - s["rps_min"]) / s["rps"] > 0.10]
    if spread:
        print("Spread over 10% between rounds (min–max req/s): " + "; ".join(
            f"{a} {ep} {s['rps_min']:,.0f}–{s['rps_max']:,.0f}" for a, ep, s in sorted(spread, key=lambda t: (t[0], t[1])))
            + "\n")
    bad = []
    for mode in ("main", "pipeline"):
        for (a, ep), rows in data[mode].items():
            if a not in anchors:
                continue
            for r in rows:
                req, se, soe = int(r["requests"]), int(r["status_errors"]), int(r["socket_errors"])
                wrong_status = (se > 0) if ep != "items_invalid" else (abs(se - req) > 0.01 * req)
                if wrong_status or soe > 0:
                    bad.append(f"{a} {ep} round {r['round']}: requests={req} status_errors={se} socket_errors={soe}")
    print("Anomalies (unexpected 4xx/5xx counts or socket errors): " + ("none" if not bad else ""))
    for b in bad:
        print(f"- {b}")
    checks = os.path.join(args.results, "checks.log")
    if os.path.exists(checks):
        with open(checks) as f:
            fails = [line.rstrip("\n") for line in f if line.startswith("FAIL")
                     and line.split("\t")[1] in anchors]
        print("\nCorrectness checks (curl, before round 1): " + ("all passed" if not fails else ""))
        for line in fails:
            note = ""
            m = re.search(r"-> (\d+) \[([^\]]*)\]", line)
            if m and m.group(1) in ("400", "422") and m.group(2).startswith("application/problem+json"):
                note = (" — status right; the check wants Content-Type application/json, "
                        "the answer is application/problem+json (RFC 9457)")
            print(f"- `{line[:150]}`{note}")


if __name__ == "__main__":
    main()
