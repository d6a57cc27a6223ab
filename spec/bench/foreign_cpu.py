#!/usr/bin/python3
"""foreign_cpu.py - once a second, how much CPU other work takes: the processes that are
not descendants of ROOT_PID (the bench script: its servers, wrk, run.sh) and not kernel
threads, plus steal time. Writes OUT.tsv (epoch, time, foreign_cpu_pct, steal_pct,
top_foreign) until ROOT_PID exits.

  /usr/bin/python3 spec/bench/foreign_cpu.py "$$" "$RESULTS/foreign_cpu.tsv" &

Used by http_bench.sh and ab_bench.sh; summarize.py and ab_summarize.py drop the
measurements taken while other work used more than 5% of a core (on a shared 2-core box,
a compile or test run next to the server changes req/s by 2-3x). Standard library only.
"""
import os, sys, time
root, out = int(sys.argv[1]), sys.argv[2]
hz = os.sysconf("SC_CLK_TCK")
def procs():
    d = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                s = f.read()
        except OSError:
            continue
        comm = s[s.index("(") + 1:s.rindex(")")]
        f = s[s.rindex(")") + 2:].split()
        # f[1]=ppid f[6]=flags f[11..14]=utime stime cutime cstime f[19]=starttime;
        # cutime/cstime catch short-lived children (a compiler run) when reaped
        d[int(p)] = (int(f[1]), int(f[6]), sum(int(x) for x in f[11:15]), int(f[19]), comm)
    return d
def steal():
    with open("/proc/stat") as f:
        return int(f.readline().split()[8])
def uptime_ticks():
    with open("/proc/uptime") as f:
        return float(f.read().split()[0]) * hz
me = os.getpid()
prev, prev_steal, prev_t = procs(), steal(), uptime_ticks()
with open(out, "w", buffering=1) as o:
    o.write("epoch\ttime\tforeign_cpu_pct\tsteal_pct\ttop_foreign\n")
    while os.path.exists(f"/proc/{root}"):
        time.sleep(1)
        cur, cur_steal, t = procs(), steal(), uptime_ticks()
        def ours(pid):
            seen = 0
            while pid > 1 and seen < 64:
                if pid in (root, me):
                    return True
                info = cur.get(pid) or prev.get(pid)
                if not info:
                    return False
                pid, seen = info[0], seen + 1
            return False
        foreign = {}
        for pid, (ppid, flags, ticks, start, comm) in cur.items():
            if flags & 0x00200000 or pid == 2 or ppid == 2 or ours(pid):
                continue  # kernel threads (incl. softirq work for our traffic) and our own tree
            before = prev[pid][2] if pid in prev else (0 if start >= prev_t else ticks)
            if ticks > before:
                foreign[comm] = foreign.get(comm, 0) + ticks - before
        dt = max(t - prev_t, 1)
        total = sum(foreign.values())
        top = max(foreign, key=foreign.get) if foreign else "-"
        o.write(f"{time.time():.0f}\t{time.strftime('%H:%M:%S')}\t{100 * total / dt:.0f}\t"
                f"{100 * (cur_steal - prev_steal) / dt:.0f}\t{top}\n")
        prev, prev_steal, prev_t = cur, cur_steal, t
