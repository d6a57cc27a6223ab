#!/usr/bin/python3
"""ab_summarize.py - the tables of an ab_bench.sh run: one build against another.

  ab_summarize.py --results DIR [--duration 5s] [--threshold 3]
                  [--before-label TEXT] [--after-label TEXT]

Reads what ab_bench.sh leaves in DIR:

- raw_main.tsv / raw_pipeline.tsv (run.sh's rows, anchor "before" or "after", one row
  per endpoint and round): per endpoint, the median over rounds of req/s and of server
  CPU per request (cpu0_server_busy_pct / 100 x duration x 1e6 / requests, as
  summarize.py), for each side, and the ratio after / before of those medians;
- instr.tsv (INSTR=1): instructions (callgrind Ir) and syscalls per request, per side,
  endpoint and LuaJIT seed: the mean over seeds per side and the ratio after / before.

The verdict column is "within N%" when |after / before - 1| <= N% (--threshold,
default 3), else how far off and which way. Rounds measured while other processes used
more than --max-foreign % of a core (foreign_cpu.tsv, as summarize.py) are dropped in
pairs: round r of an endpoint goes for both sides when either side's run was disturbed,
so the medians still compare the same moments. Python 3 standard library only.
"""
import argparse
import csv
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import summarize as S  # noqa: E402  (parse_duration, load, load_interference, ...)

SIDES = ("before", "after")
TITLES = {ep: title for ep, _mode, title in S.ENDPOINTS}
MODES = {ep: mode for ep, mode, _title in S.ENDPOINTS}


def verdict(r, threshold, what="CPU"):
    if r != r:
        return "n/a"
    off = (r - 1.0) * 100.0
    if abs(off) <= threshold:
        return f"within {threshold:g}%"
    if off > 0:
        return f"**not within {threshold:g}%: {off:+.1f}% {what}**"
    return f"not within {threshold:g}%: {off:+.1f}% {what}"


def mean(values):
    values = [v for v in values if v == v]
    return statistics.fmean(values) if values else float("nan")


def fmt(x, spec):
    return "n/a" if x != x else format(x, spec)


def wrk_tables(args, duration_s):
    data = {"main": S.load(os.path.join(args.results, "raw_main.tsv")),
            "pipeline": S.load(os.path.join(args.results, "raw_pipeline.tsv"))}
    if not data["main"] and not data["pipeline"]:
        return None
    disturbed = S.load_interference(args.results, duration_s, args.max_foreign)
    rows_out, notes, verdicts, shaky = [], [], [], []
    spreads = []
    for ep, mode, title in S.ENDPOINTS:
        per_side = {s: {r["round"]: r for r in data[mode].get((s, ep), [])} for s in SIDES}
        if not per_side["before"] and not per_side["after"]:
            continue
        rounds = sorted(set(per_side["before"]) | set(per_side["after"]), key=int)
        paired = [r for r in rounds if r in per_side["before"] and r in per_side["after"]]
        used = paired
        dropped = []
        all_disturbed = False
        if disturbed and not args.keep_disturbed:
            dropped = [r for r in paired if any((mode, s, ep, r) in disturbed for s in SIDES)]
            used = [r for r in paired if r not in dropped]
            if not used:  # every round disturbed: keep them all, and say so
                used = paired
                all_disturbed = True
                notes.append(f"{ep}: every round was disturbed by other processes; all kept")
        st = {}
        worst_spread = 0.0
        for s in SIDES:
            rows = [per_side[s][r] for r in used]
            st[s] = {
                "rps": S.median(float(x["rps"]) for x in rows),
                "cpu": S.median(S.cpu_us_per_request(x, duration_s) for x in rows),
                "cpus": [S.cpu_us_per_request(x, duration_s) for x in rows],
            }
            c = [v for v in st[s]["cpus"] if v == v]
            if len(c) > 1 and statistics.median(c) > 0:
                sp = (max(c) - min(c)) / statistics.median(c) * 100
                spreads.append((ep, s, sp))
                worst_spread = max(worst_spread, sp)
        pr = [S.cpu_us_per_request(per_side["after"][r], duration_s)
              / S.cpu_us_per_request(per_side["before"][r], duration_s) for r in used]
        pr = [x for x in pr if x == x]
        r_cpu = S.ratio(st["after"]["cpu"], st["before"]["cpu"])
        r_rps = S.ratio(st["after"]["rps"], st["before"]["rps"])
        verdicts.append((ep, r_cpu))
        v = verdict(r_cpu, args.threshold)
        if all_disturbed or (len(used) == 1 and len(rounds) > 1) or worst_spread > args.threshold:
            shaky.append(ep)
        if all_disturbed:
            v += " (every round disturbed: no verdict)"
        elif len(used) == 1 and len(rounds) > 1:
            v += f" (1 of {len(rounds)} rounds left: inconclusive)"
        elif worst_spread > args.threshold:
            v += f" (rounds spread {worst_spread:.0f}%: inconclusive)"
        rng = f"{min(pr):.3f}–{max(pr):.3f}" if len(pr) > 1 else (f"{pr[0]:.3f}" if pr else "n/a")
        rows_out.append(
            f"| {title} | {S.fmt_rps(st['before']['rps'])} | {S.fmt_rps(st['after']['rps'])} | "
            f"{fmt(r_rps, '.3f')} | {fmt(st['before']['cpu'], '.2f')} | {fmt(st['after']['cpu'], '.2f')} | "
            f"**{fmt(r_cpu, '.3f')}** | {rng} | {len(used)}/{len(rounds)} | {v} |")
        missing = [r for r in rounds if r not in paired]
        if missing:
            notes.append(f"{ep}: round(s) {', '.join(missing)} measured for one side only (a server did not "
                         "start or wrk gave no result; see run_*.log), left out")
    conns = os.environ.get("CONNS", "64")
    print(f"### req/s and server CPU per request (wrk -t1 -c{conns} -d{args.duration}, server on CPU 0, "
          "wrk on CPU 1; median over rounds)\n")
    print("| endpoint | req/s before | req/s after | req/s after ÷ before | CPU µs/req before | "
          "CPU µs/req after | **CPU/req after ÷ before** | per-round CPU ratios | rounds used | verdict |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for line in rows_out:
        print(line)
    print()
    ok = [ep for ep, r in verdicts if r == r and abs(r - 1) * 100 <= args.threshold]
    print(f"CPU per request within {args.threshold:g}% on {len(ok)} of {len(verdicts)} endpoints"
          + ("." if len(ok) == len(verdicts) else
             ": not on " + ", ".join(ep for ep, _r in verdicts if ep not in ok) + "."))
    if shaky:
        print(f"Inconclusive (the rounds differ more than the threshold, or were disturbed): "
              f"{', '.join(shaky)}. Rerun on a quieter machine, with more ROUNDS, or use INSTR=1.")
    print()
    wide = [(ep, s, sp) for ep, s, sp in spreads if sp > args.threshold]
    if wide:
        print(f"Spread of CPU/req between rounds wider than {args.threshold:g}% (max−min ÷ median; "
              "a ratio is no better than this): "
              + "; ".join(f"{ep} {s} {sp:.1f}%" for ep, s, sp in wide) + ".\n")
    if disturbed is None:
        print("No foreign_cpu.tsv: every round is used, whatever else ran on the machine.\n")
    elif disturbed:
        print(f"Rounds disturbed by other processes (> {args.max_foreign:g}% of a core; dropped for both "
              "sides" + (", kept: --keep-disturbed" if args.keep_disturbed else "") + "): "
              + "; ".join(f"{a} {ep} r{r} ({fo:.0f}% {top}{f', steal {st:.0f}%' if st > args.max_foreign else ''})"
                          for (m, a, ep, r), (fo, st, top) in sorted(disturbed.items())) + ".\n")
    else:
        print("No round was disturbed by other processes.\n")
    for n in notes:
        print(f"- {n}")
    if notes:
        print()
    bad = []
    for mode in ("main", "pipeline"):
        for (a, ep), rows in data[mode].items():
            for r in rows:
                req, se, soe = int(r["requests"]), int(r["status_errors"]), int(r["socket_errors"])
                wrong = (se > 0) if ep != "items_invalid" else (abs(se - req) > 0.01 * req)
                if wrong or soe > 0:
                    bad.append(f"{a} {ep} round {r['round']}: requests={req} status_errors={se} socket_errors={soe}")
    print("Anomalies (unexpected 4xx/5xx counts or socket errors): " + ("none" if not bad else ""))
    for b in bad:
        print(f"- {b}")
    checks = os.path.join(args.results, "checks.log")
    if os.path.exists(checks):
        with open(checks) as f:
            fails = [line.rstrip("\n") for line in f if line.startswith("FAIL")]
        print("\nCorrectness checks (run.sh's curl checks, round 1 of each side): "
              + ("all passed" if not fails else ""))
        for line in fails:
            print(f"- `{line[:150]}`")
    print()
    return verdicts


def instr_table(args):
    path = os.path.join(args.results, "instr.tsv")
    if not os.path.exists(path):
        return None
    rows = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            rows.setdefault((row["side"], row["endpoint"]), {})[row["seed"]] = row
    if not rows:
        return None
    first = next(iter(next(iter(rows.values())).values()))
    seeds = sorted({seed for per in rows.values() for seed in per}, key=int)
    print(f"### Instructions per request (callgrind Ir, user space; {first['count']} requests after "
          f"{first['warmup']} of warm-up on one keep-alive connection, minus a warm-up-only run; "
          f"mean over LuaJIT seeds {', '.join(seeds)})\n")
    print("| endpoint | Ir/req before | Ir/req after | **Ir/req after ÷ before** | per-seed ratios | "
          "syscalls/req before | syscalls/req after | verdict (Ir) |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    verdicts, modes = [], []
    for ep, _mode, title in S.ENDPOINTS:
        b, a = rows.get(("before", ep), {}), rows.get(("after", ep), {})
        if not b and not a:
            continue
        ir = {s: mean(float(x["ir_per_req"]) for x in per.values()) for s, per in (("before", b), ("after", a))}
        sc = {s: S.median(float(x["syscalls_per_req"]) for x in per.values()
                          if x["syscalls_per_req"] not in ("", "-")) for s, per in (("before", b), ("after", a))}
        pr = [float(a[k]["ir_per_req"]) / float(b[k]["ir_per_req"]) for k in seeds
              if k in a and k in b and float(b[k]["ir_per_req"]) > 0]
        rng = f"{min(pr):.4f}–{max(pr):.4f}" if len(pr) > 1 else (f"{pr[0]:.4f}" if pr else "n/a")
        r = S.ratio(ir["after"], ir["before"])
        verdicts.append((ep, r))
        for s, per in (("before", b), ("after", a)):
            v = [float(x["ir_per_req"]) for x in per.values()]
            if len(v) > 1 and (max(v) - min(v)) / statistics.median(v) * 100 > 1:
                modes.append(f"{ep} {s}: " + ", ".join(f"seed {k} {float(per[k]['ir_per_req']):,.0f}"
                                                        for k in seeds if k in per))
        print(f"| {title} | {fmt(ir['before'], ',.0f')} | {fmt(ir['after'], ',.0f')} | **{fmt(r, '.4f')}** | "
              f"{rng} | {fmt(sc['before'], '.2f')} | {fmt(sc['after'], '.2f')} | "
              f"{verdict(r, args.threshold, 'instructions')} |")
    print()
    ok = [ep for ep, r in verdicts if r == r and abs(r - 1) * 100 <= args.threshold]
    print(f"Instructions per request within {args.threshold:g}% on {len(ok)} of {len(verdicts)} endpoints"
          + ("." if len(ok) == len(verdicts) else
             ": not on " + ", ".join(ep for ep, _r in verdicts if ep not in ok) + ".") + "\n")
    if modes:
        print("Ir/req differs by more than 1% between seeds (with another hash seed the JIT can take "
              "another path; the table has the mean over seeds, what a server with a random seed pays on "
              "average, and a change that only moves seeds between levels moves it too): "
              + "; ".join(modes) + ".\n")
    print("Ir counts the server's user-space instructions only; the kernel's work in read, write and "
          "epoll_wait is not in it (syscalls/req, from strace -c, once, stands for it).\n")
    return verdicts


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results", required=True)
    ap.add_argument("--duration", default=os.environ.get("DURATION", "5s"))
    ap.add_argument("--threshold", type=float, default=3.0, help="verdict threshold, %% (default 3)")
    ap.add_argument("--before-label", default="before")
    ap.add_argument("--after-label", default="after")
    ap.add_argument("--max-foreign", type=float, default=5.0)
    ap.add_argument("--keep-disturbed", action="store_true")
    args = ap.parse_args()
    duration_s = S.parse_duration(args.duration)
    print(f"## A/B: before = {args.before_label}; after = {args.after_label}\n")
    print(f"Ratios are after ÷ before: above 1 the after build spends more (CPU, instructions) or "
          f"serves more (req/s). Results: `{args.results}`.\n")
    w = wrk_tables(args, duration_s)
    i = instr_table(args)
    if w is None and i is None:
        sys.exit(f"ab_summarize.py: nothing to summarize in {args.results}")


if __name__ == "__main__":
    main()
