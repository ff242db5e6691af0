#!/usr/bin/env python3
"""summary.py: the figures of one bench/run-all as the Markdown tables of docs/PERFORMANCE.md.

Usage: bench/summary.py RESULTS_DIR   (the directory run-all wrote: startup.json, verify_tools.json, scale.json,
failover.json, aws.txt; a missing part is left out)
"""
import json
import os
import sys


def load(d, name):
    p = os.path.join(d, name)
    if not os.path.exists(p):
        return None
    with open(p) as f:
        return json.load(f)


def ms(s):
    return f"{s * 1000:.0f} ms" if s < 10 else f"{s:.1f} s"


def mib(kb):
    return f"{kb / 1024:.1f} MiB"


def yes(ok):
    return "met" if ok else "**missed**"


def machine_section(parts):
    src = next((p for p in parts if p), None)
    if not src:
        return
    m, v = src["machine"], src["versions"]
    print("### Machine and versions\n")
    print(f"- {m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB, Debian {m['debian']}, kernel {m['kernel']}; "
          f"load average at the end of a part: "
          + ", ".join(f"{n} {p['machine']['load_average'][0]:.1f}" for n, p in
                      zip(("start-up", "verify", "scale", "failover"), parts) if p))
    print(f"- {v['dr-agent']}, {v['compiler']}, build type {v['build_type']}; {v['libcurl']}, {v['openssl']}")
    print(f"- Python {v['python']}, moto {v['moto']}, boto3 {v['boto3']}, {v['aws-cli']}\n")


def startup_section(s):
    print("### Start-up\n")
    print(f"Medians of {s['runs']} interleaved runs, wall time from spawn to exit.\n")
    print("| command | median | p10 | p90 | peak RSS |\n|---|---:|---:|---:|---:|")
    labels = {"true": "`/bin/true` (starting any process here)", "version": "`dr-agent --version`",
              "plugins": "`dr-agent plugins` (loads the five plugins)",
              "plan": "`dr-agent -c conf/dr-agent.conf plan`"}
    for k, label in labels.items():
        x = s["stats"][k]
        print(f"| {label} | {x['median'] * 1000:.2f} ms | {x['p10'] * 1000:.2f} ms | {x['p90'] * 1000:.2f} ms | "
              f"{mib(x['maxrss_kb'])} |")
    p = s.get("perf_stat_plan")
    if p:
        print(f"\n`perf stat` of `plan`: {p.get('task_clock_ms', 0):.2f} ms task-clock (CPU), "
              f"{p.get('elapsed_s', 0) * 1000:.2f} ms elapsed, {p.get('page_faults', 0):.0f} page faults.")
    print(f"\nTarget under 10 ms: {yes(s['target_met'])}.\n")


def verify_section(v):
    print("### Verify against the tools of today\n")
    print(f"Medians of {v['runs']} interleaved runs on the reference estate ({v['resources']} resources, plugins "
          f"{', '.join(v['plugins'])}).\n")
    print("| tool | wall | CPU | peak RSS | API calls | checks | server CPU |\n|---|---:|---:|---:|---:|---:|---:|")
    for k, label in (("cli", "(a) `aws` CLI loop (`bench/checklist.sh`)"),
                     ("boto3", "(b) one boto3 process (`bench/checklist.py`)"),
                     ("dr-agent", "(c) `dr-agent verify`")):
        m = v["medians"][k]
        print(f"| {label} | {ms(m['wall'])} | {ms(m['cpu'])} | {mib(m['maxrss_kb'])} | {m['calls']:.0f} | "
              f"{m['checks']:.0f} | {ms(m['server_cpu'])} |")
    r = v["ratios"]
    print(f"\nRatios: wall (a)/(c) **{r['cli_wall']:.0f}x**, (b)/(c) **{r['boto3_wall']:.1f}x**; CPU (a)/(c) "
          f"{r['cli_cpu']:.0f}x, (b)/(c) {r['boto3_cpu']:.0f}x; peak RSS (c)/(b) {r['rss_vs_boto3']:.2f}.")
    print("Targets: " + "; ".join(f"{k}: {yes(ok)}" for k, ok in v["targets_met"].items()) + ".\n")
    lat = v.get("latency")
    if lat:
        print("#### At a per-call latency\n")
        print("The proxy's latency fault adds the latency to every call, as a real AWS endpoint's round trip "
              "would. Round trips: the calls on the critical path (the longest chain of calls in the proxy's log "
              "that did not overlap).\n")
        print("| per-call latency | tool | wall | API calls | round trips |\n|---:|---|---:|---:|---:|")
        for ms_, rows in lat.items():
            for k, label in (("cli", "(a) `aws` CLI loop"), ("boto3", "(b) boto3 script"),
                             ("dr-agent", "(c) `dr-agent verify`")):
                m = rows[k]
                print(f"| {ms_} ms | {label} | {ms(m['wall'])} | {m['calls']:.0f} | {m['round_trips']:.0f} |")
        g, goal = v.get("latency_goal"), v.get("latency_goal_met")
        if g and goal:
            a = lat[str(g["latency_ms"])]["dr-agent"]
            print(f"\nGoal at {g['latency_ms']} ms: at most {g['round_trips']} round trips: {yes(goal['round_trips'])}; "
                  f"at most {g['wall']:.1f} s: {yes(goal['wall'])}. Critical path of verify: {a['chain']}.\n")


def scale_section(s):
    print("### Scale\n")
    print(f"Medians of {s['runs']} runs. Bound: API calls x median call latency / concurrency.\n")
    print("| tables | resources | concurrency | wall | bound | wall / bound | peak RSS | CPU | CPU per resource | "
          "API calls | median latency | not OK |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    at = {int(m["tables"]) for m in s["matrix"]}
    for m in s["matrix"] + [x for x in s["series"] if int(x["tables"]) not in at]:
        print(f"| {m['tables']:.0f} | {m['resources']:.0f} | {m['concurrency']:.0f} | {ms(m['wall'])} | "
              f"{ms(m['bound'])} | {m['wall_over_bound']:.2f} | {mib(m['maxrss_kb'])} | {ms(m['cpu'])} | "
              f"{m['cpu_per_resource_ms']:.2f} ms | {m['calls']:.0f} | {m['median_ms']:.1f} ms | {m['not_ok']:.0f} |")
    steps = s.get("per_table_added")
    if steps:
        print("\nWhat each table added costs, between consecutive sizes (constant when the cost grows linearly):\n")
        print("| tables | wall | CPU | API calls | peak RSS |\n|---|---:|---:|---:|---:|")
        for x in steps:
            print(f"| {x['from']:.0f} -> {x['to']:.0f} | {x['wall_ms']:.1f} ms | {x['cpu_ms']:.2f} ms | "
                  f"{x['calls']:.1f} | {x['rss_kb']:.1f} KiB |")
    m1 = next((m for m in s["matrix"] if int(m["concurrency"]) == 1), None)
    if m1 and m1.get("ops"):
        top = sorted(m1["ops"].items(), key=lambda kv: -kv[1]["total_ms"])[:6]
        print(f"\nWhere the latency goes at concurrency 1 ({m1['tables']:.0f} tables; median of all calls "
              f"{m1['median_ms']:.1f} ms, sum {m1['total_ms'] / 1000:.1f} s):\n")
        print("| operation | calls | sum of latencies | median |\n|---|---:|---:|---:|")
        for op, x in top:
            print(f"| {op} | {x['calls']} | {x['total_ms'] / 1000:.1f} s | {x['median_ms']:.1f} ms |")
    lat = s.get("latency") or []
    if lat:
        print("\nAt a per-call latency (the proxy's latency fault), concurrency 8. Bound: API calls x the latency / 8.\n")
        print("| tables | latency | wall | API calls | median call | bound | wall / bound | peak RSS |\n"
              "|---:|---:|---:|---:|---:|---:|---:|---:|")
        for m in lat:
            print(f"| {m['tables']:.0f} | {m['latency_ms']} ms | {ms(m['wall'])} | {m['calls']:.0f} | "
                  f"{m['median_ms']:.1f} ms | {ms(m['latency_bound'])} | {m['wall_over_latency_bound']:.2f} | "
                  f"{mib(m['maxrss_kb'])} |")
    t = s["targets_met"]
    print(f"\nTargets: peak RSS under 32 MiB ({s['matrix'][0]['tables']:.0f} tables): {yes(t['rss'])}; wall within "
          f"1.5x the bound: "
          + ", ".join(f"concurrency {c} {yes(ok)}" for c, ok in t["bound"].items()) + ".\n")


def failover_section(f):
    print("### Failover critical path\n")
    d = f["durations"]
    print(f"Medians of {f['runs']} runs; AWS durations / {f['compress']:g}: Aurora switchover "
          f"{d['SwitchoverGlobalCluster']:.1f} s, Aurora cluster creation {d['CreateDBCluster']:.1f} s, DynamoDB "
          f"replica creation {d['UpdateTable']:.1f} s, Route 53 change {d['ChangeResourceRecordSets']:.1f} s.\n")
    print("| hook | wall | critical path | over it | sequential runbook (sum of durations) | steps one by one | "
          "CPU | API calls | longest chain |\n|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for hook, m in f["medians"].items():
        print(f"| {hook} | {m['wall']:.2f} s | {m['critical_path']:.2f} s | {m['over'] * 100:.1f} % | "
              f"{m['sequential']:.2f} s | {m['steps']:.2f} s | {ms(m['cpu'])} | {m['calls']:.0f} | "
              f"{' -> '.join(m['chain'])} |")
    lat = f.get("latency")
    if lat:
        print("\nAt a per-call latency (round trips: the calls on the critical path of the proxy's log):\n")
        print("| per-call latency | hook | wall | API calls | round trips |\n|---:|---|---:|---:|---:|")
        for ms_, hooks in lat.items():
            for hook, m in hooks.items():
                print(f"| {ms_} ms | {hook} | {m['wall']:.2f} s | {m['calls']:.0f} | {m['round_trips']:.0f} |")
    print("\nTarget within 5 % of the critical path: "
          + ", ".join(f"{h} {yes(ok)}" for h, ok in f["targets_met"].items()) + ".\n")


def main(argv):
    d = argv[1]
    parts = [load(d, n) for n in ("startup.json", "verify_tools.json", "scale.json", "failover.json")]
    machine_section(parts)
    for p, fn in zip(parts, (startup_section, verify_section, scale_section, failover_section)):
        if p:
            fn(p)
    aws = os.path.join(d, "aws.txt")
    if os.path.exists(aws):
        print("### AWS client, this run (bench/aws.sh)\n\n```")
        with open(aws) as f:
            print(f.read().rstrip())
        print("```")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
