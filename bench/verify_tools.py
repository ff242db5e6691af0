#!/usr/bin/env python3
"""verify_tools.py: `dr-agent verify` against the monthly checklist as operators run it today (aws CLI loop, boto3).

Usage: bench/verify_tools.py [--build DIR] [--runs N] [--latency MS,...] [--json FILE]

Starts a local AWS (drenv), builds the reference estate as `dr-agent configure` leaves it with healthy lag metrics
and backups, then runs, interleaved, N times each:
  (a) bench/checklist.sh   the guide's 17 calls, one aws CLI process each
  (b) bench/checklist.py   the same 17 calls in one boto3 process
  (c) dr-agent verify      conf/dr-agent.conf as shipped (all plugins, all checks), --format json
and prints the medians of wall time, CPU time (user + system of the process tree) and peak RSS, the ratios, and the
API calls (the proxy's request log) and checks each makes.

--latency (default 0,40): the whole comparison at each per-call latency, the proxy's latency fault adding that many
milliseconds to every call as a real AWS endpoint's round trip would. For each tool and latency: the wall time, the
calls and the round trips on the critical path (the longest chain of calls in the proxy's log each of which started
after the one before had been answered). The ratios and targets are those of the first latency.
"""
import argparse
import os
import sys
import tempfile

import benchlib as bl

# What the checklist checks: 17 calls, of which the two sts calls only build a bucket name; the other 15 each show
# one state to the operator. Several repeat (describe-table of one table, the replication rule, recent recovery
# points), so the distinct checks are 11: 5 replica lists, the Aurora replica's status, its lag, one bucket's
# replication rule, recovery points, backup jobs, one health check.
CHECKLIST_CALLS = 17
CHECKLIST_CHECKS = 15
CHECKLIST_DISTINCT = 11

TARGETS = {"cli_ratio": 100.0, "boto3_ratio": 10.0, "rss_fraction": 1 / 3}
# verify of the reference estate at 40 ms per call: round trips on its critical path and wall time
LATENCY_GOAL = {"latency_ms": 40, "round_trips": 4, "wall": 0.2}


def measure(aws, tools, env, runs, ref, lat):
    """Medians and samples of each tool, interleaved, at the proxy's current latency."""
    samples = {k: [] for k in tools}
    # one unmeasured round: the page cache holds every interpreter and library afterwards
    for name, cmd in tools.items():
        aws.measured(cmd, env=env)
    for i in range(runs):
        for name, cmd in tools.items():
            r, log, server = aws.measured(cmd, env=env)
            calls = bl.call_summary(log)
            s = {"rc": r.rc, "wall": r.wall, "cpu": r.cpu, "user": r.user, "sys": r.sys, "maxrss_kb": r.maxrss_kb,
                 "calls": calls["calls"], "call_errors": calls["errors"], "server_cpu": server,
                 "call_median_ms": calls["median_ms"],
                 "round_trips": bl.round_trips(log), "chain": bl.chain_text(log)}
            if name == "dr-agent":
                rep = r.json()
                s["checks"] = bl.count_checks(rep)
                s["not_ok"] = sum(1 for v in bl.statuses(rep).values() if v != "OK")
                if r.rc != 0 or s["not_ok"]:
                    raise SystemExit(f"verify did not report OK (exit {r.rc}): {r.stderr[-2000:]}")
            else:
                s["checks"] = CHECKLIST_CHECKS
                # without the aurora plugin there is no replica cluster to describe: one call fails
                if (r.rc != 0 and not ref.missing) or calls["calls"] != CHECKLIST_CALLS:
                    raise SystemExit(f"{name}: {r.rc} failed calls, {calls['calls']} calls: {r.stderr[-2000:]}")
            samples[name].append(s)
            bl.say(f"  {lat} ms: run {i + 1}/{runs} {name:8s} {bl.fmt_s(r.wall):>8s}  cpu {bl.fmt_s(r.cpu):>8s}  "
                   f"rss {bl.fmt_mib(r.maxrss_kb):>9s}  calls {calls['calls']}  round trips {s['round_trips']}")

    med = {k: {m: bl.median([s[m] for s in v]) for m in v[0] if m not in ("rc", "chain")} for k, v in samples.items()}
    for k, v in samples.items():
        med[k]["chain"] = v[-1]["chain"]  # the critical chain of the last run
    return med, samples


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(bl.SOURCE, "build"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--latency", default="0,40", help="per-call latencies in ms, comma-separated (default 0,40)")
    ap.add_argument("--json", help="write the figures to this file")
    args = ap.parse_args(argv)
    latencies = bl.parse_latencies(args.latency)

    build = bl.Build(args.build)
    aws = bl.LocalAWS(build)
    work = tempfile.mkdtemp(prefix="bench-verify-", dir=aws.env.tmpdir)
    ref = bl.Reference(aws, build, work)
    if ref.missing:
        bl.say(f"verify_tools: no plugin for {', '.join(ref.missing)} in {build.plugin_dir}: left out of the config")
    bl.say("verify_tools: building the reference estate (seed, configure, metrics, backups)")
    report = ref.setup()
    hc = ref.health_check_id()

    tools = {
        "cli": ["bash", os.path.join(bl.BENCH, "checklist.sh"), hc],
        "boto3": [sys.executable, os.path.join(bl.BENCH, "checklist.py"), hc],
        "dr-agent": [build.agent, "-c", ref.conf, "verify", "--format", "json"],
    }
    env = {"DR_AGENT_PLUGIN_DIR": build.plugin_dir, "PATH": os.environ["PATH"]}
    by_latency = {}
    for lat in latencies:
        with bl.latency(aws, lat):
            by_latency[lat] = measure(aws, tools, env, args.runs, ref, lat)
    med, samples = by_latency[latencies[0]]
    agent = med["dr-agent"]
    ratios = {"cli_wall": med["cli"]["wall"] / agent["wall"], "boto3_wall": med["boto3"]["wall"] / agent["wall"],
              "cli_cpu": med["cli"]["cpu"] / agent["cpu"], "boto3_cpu": med["boto3"]["cpu"] / agent["cpu"],
              "rss_vs_boto3": agent["maxrss_kb"] / med["boto3"]["maxrss_kb"]}
    met = {"100x the CLI loop": ratios["cli_wall"] >= TARGETS["cli_ratio"],
           "10x boto3": ratios["boto3_wall"] >= TARGETS["boto3_ratio"],
           "RSS under a third of boto3's": ratios["rss_vs_boto3"] < TARGETS["rss_fraction"]}

    print(f"\nverify vs the tools of today: medians of {args.runs} interleaved runs, reference estate "
          f"({len(report['resources'])} resources, plugins {', '.join(ref.types)})")
    print(f"{'tool':24s} {'wall':>9s} {'CPU':>9s} {'peak RSS':>10s} {'API calls':>10s} {'checks':>7s} "
          f"{'server CPU':>11s}")
    labels = {"cli": "(a) aws CLI loop", "boto3": "(b) boto3, one process", "dr-agent": "(c) dr-agent verify"}
    for k, label in labels.items():
        m = med[k]
        print(f"{label:24s} {bl.fmt_s(m['wall']):>9s} {bl.fmt_s(m['cpu']):>9s} {bl.fmt_mib(m['maxrss_kb']):>10s} "
              f"{m['calls']:>10.0f} {m['checks']:>7.0f} {bl.fmt_s(m['server_cpu']):>11s}")
    print(f"ratios: wall (a)/(c) {ratios['cli_wall']:.0f}x, (b)/(c) {ratios['boto3_wall']:.1f}x; "
          f"CPU (a)/(c) {ratios['cli_cpu']:.0f}x, (b)/(c) {ratios['boto3_cpu']:.0f}x; "
          f"peak RSS (c)/(b) {ratios['rss_vs_boto3']:.2f}")
    print("targets: " + ", ".join(f"{k}: {'met' if v else 'MISSED'}" for k, v in met.items()))

    print(f"\nper-call latency (the proxy's latency fault): medians of {args.runs} runs; round trips = calls on the "
          f"critical path")
    print(f"{'latency':>8s} {'tool':24s} {'wall':>9s} {'API calls':>10s} {'round trips':>12s}")
    lat_rows = {}
    for lat, (m, _) in by_latency.items():
        lat_rows[lat] = {k: {"wall": m[k]["wall"], "calls": m[k]["calls"], "round_trips": m[k]["round_trips"],
                             "chain": m[k]["chain"]} for k in labels}
        for k, label in labels.items():
            print(f"{lat:>6d}ms {label:24s} {bl.fmt_s(m[k]['wall']):>9s} {m[k]['calls']:>10.0f} "
                  f"{m[k]['round_trips']:>12.0f}")
    for lat, (m, _) in by_latency.items():
        print(f"critical path of dr-agent verify at {lat} ms: {m['dr-agent']['chain']}")
    goal = None
    if LATENCY_GOAL["latency_ms"] in by_latency:
        a = by_latency[LATENCY_GOAL["latency_ms"]][0]["dr-agent"]
        goal = {"round_trips": a["round_trips"] <= LATENCY_GOAL["round_trips"],
                "wall": a["wall"] <= LATENCY_GOAL["wall"]}
        print(f"goal at {LATENCY_GOAL['latency_ms']} ms: verify <= {LATENCY_GOAL['round_trips']} round trips "
              f"({a['round_trips']:.0f}): {'met' if goal['round_trips'] else 'MISSED'}, <= "
              f"{LATENCY_GOAL['wall']:.1f} s wall ({bl.fmt_s(a['wall'])}): {'met' if goal['wall'] else 'MISSED'}")
    bl.write_json(args.json, {"runs": args.runs, "plugins": ref.types, "left_out": ref.missing,
                              "resources": len(report["resources"]), "checklist_distinct_checks": CHECKLIST_DISTINCT,
                              "medians": med, "ratios": ratios, "targets_met": met, "samples": samples,
                              "latency": {str(k): v for k, v in lat_rows.items()}, "latency_goal": LATENCY_GOAL,
                              "latency_goal_met": goal,
                              "machine": bl.machine(), "versions": bl.versions(build)})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
