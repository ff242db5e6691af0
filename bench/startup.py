#!/usr/bin/env python3
"""startup.py: time to parse the reference config and load the five plugins (`dr-agent plan`), median of many runs.

Usage: bench/startup.py [--build DIR] [--runs N] [--json FILE]

Runs, interleaved, N times each: /bin/true (what starting any process costs here), `dr-agent --version` (the
binary and its libraries, nothing else), `dr-agent plugins` (plus loading every plugin) and
`dr-agent -c conf/dr-agent.conf plan` (plus parsing and validating the reference config and building the
dependency graph). Each figure is wall time from spawn to exit as bench_measure sees it. With perf, also
`perf stat -r N` of the plan command (task-clock: CPU time, elapsed: wall time). No local AWS is needed.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

import benchlib as bl

TARGET_S = 0.010


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def perf_stat(cmd, runs):
    """task-clock (ms) and elapsed (s) of `perf stat -r`, or None without perf (or without permission)."""
    if not shutil.which("perf"):
        return None
    p = subprocess.run(["perf", "stat", "-r", str(runs), "-e", "task-clock,page-faults,context-switches"] + cmd,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        return None
    out = {}
    for key, pat in (("task_clock_ms", r"([\d.,]+)\s+msec task-clock"), ("page_faults", r"([\d.,]+)\s+page-faults"),
                     ("context_switches", r"([\d.,]+)\s+context-switches"),
                     ("elapsed_s", r"([\d.,]+) \+- [\d.,]+ seconds time elapsed")):
        m = re.search(pat, p.stderr)
        if m:
            out[key] = float(m.group(1).replace(",", ""))
    return out


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(bl.SOURCE, "build"))
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--json", help="write the figures to this file")
    args = ap.parse_args(argv)
    build = bl.Build(args.build)
    missing = {"dynamodb", "aurora", "s3", "backup", "route53"} - set(build.plugins())
    if missing:
        raise SystemExit(f"startup: plugins missing from {build.plugin_dir}: {', '.join(sorted(missing))}")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DR_AGENT_PLUGIN_DIR": build.plugin_dir}
    cmds = {
        "true": ["/bin/true"],
        "version": [build.agent, "--version"],
        "plugins": [build.agent, "plugins"],
        "plan": [build.agent, "-c", bl.REFERENCE_CONF, "plan"],
    }
    for name, cmd in cmds.items():  # warm the page cache, and fail early
        r = bl.run_measured(build, cmd, env=env)
        if r.rc != 0:
            raise SystemExit(f"startup: {' '.join(cmd)} exited {r.rc}: {r.stderr[-2000:]}")
    samples = {k: [] for k in cmds}
    rss = {}
    for _ in range(args.runs):
        for name, cmd in cmds.items():
            r = bl.run_measured(build, cmd, env=env)
            samples[name].append(r.wall)
            rss[name] = max(rss.get(name, 0), r.maxrss_kb)
    stats = {k: {"median": bl.median(v), "p10": pct(v, 10), "p90": pct(v, 90), "maxrss_kb": rss[k]}
             for k, v in samples.items()}
    perf = perf_stat(cmds["plan"], min(args.runs, 100))

    print(f"\nstart-up: medians of {args.runs} interleaved runs (wall time, spawn to exit)")
    print(f"{'command':46s} {'median':>8s} {'p10':>8s} {'p90':>8s} {'peak RSS':>9s}")
    labels = {"true": "/bin/true (process start here)", "version": "dr-agent --version",
              "plugins": "dr-agent plugins (load the five plugins)",
              "plan": "dr-agent -c conf/dr-agent.conf plan"}
    for k, label in labels.items():
        s = stats[k]
        print(f"{label:46s} {s['median'] * 1000:>6.2f}ms {s['p10'] * 1000:>6.2f}ms {s['p90'] * 1000:>6.2f}ms "
              f"{bl.fmt_mib(s['maxrss_kb']):>9s}")
    if perf:
        print(f"perf stat -r {min(args.runs, 100)} of plan: task-clock {perf.get('task_clock_ms', float('nan')):.2f} ms, "
              f"elapsed {perf.get('elapsed_s', float('nan')) * 1000:.2f} ms, {perf.get('page_faults', 0):.0f} page "
              f"faults, {perf.get('context_switches', 0):.0f} context switches")
    met = stats["plan"]["median"] < TARGET_S
    print(f"target: plan under 10 ms: {'met' if met else 'MISSED'}")
    bl.write_json(args.json, {"runs": args.runs, "stats": stats, "perf_stat_plan": perf, "target_met": met,
                              "machine": bl.machine(), "versions": bl.versions(build)})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
