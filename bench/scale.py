#!/usr/bin/env python3
"""scale.py: `dr-agent verify` over a generated estate of thousands of resources: wall time, peak RSS, CPU per resource.

Usage: bench/scale.py [--build DIR] [--runs N] [--tables 100,1000,5000] [--at 1000] [--concurrency 1,8,32]
                      [--latency MS,...] [--buckets 200] [--clusters 50] [--plans 20] [--records 50] [--json FILE]

Starts a local AWS (drenv) and grows one generated estate (bench/gen_estate.py) through the table counts given,
the other resources staying at their counts. At each size, `verify` runs N times at the config's concurrency (8);
at the size `--at`, N interleaved runs at each of the concurrencies. Each run reports wall time, CPU time, peak
RSS, the API calls it made (the proxy's request log) and their median latency, and the lower bound of the issue:
calls x median latency / concurrency.

--latency (default 0): at the size `--at`, N more runs at the config's concurrency (8) with the proxy's latency
fault adding each latency (ms) but 0 to every call, as a real AWS endpoint's round trip would; the bound is then
calls x that latency / concurrency (the target: within 1.5 times it).
"""
import argparse
import os
import sys
import tempfile

import benchlib as bl
import gen_estate as ge

RSS_TARGET_KB = 32 * 1024
BOUND_TARGET = 1.5


def measure(aws, build, conf, conc):
    cmd = [build.agent, "-c", conf, "verify", "--format", "json", "--concurrency", str(conc)]
    r, log, server = aws.measured(cmd, env=bl.agent_env(build), timeout=7200)
    if not r.stdout.strip().startswith("{"):
        raise SystemExit(f"verify gave no report (exit {r.rc}): {r.stderr[-3000:]}")
    rep = r.json()
    calls = bl.call_summary(log)
    by_op = {}
    for e in log:
        by_op.setdefault(e["operation"], []).append(e.get("ms") or 0)
    ops = {op: {"calls": len(v), "total_ms": sum(v), "median_ms": bl.median(v)} for op, v in by_op.items()}
    n = len(rep["resources"])
    bound = calls["calls"] * calls["median_ms"] / 1000 / conc
    return {"concurrency": conc, "resources": n, "rc": r.rc, "wall": r.wall, "cpu": r.cpu, "maxrss_kb": r.maxrss_kb,
            "cpu_per_resource_ms": r.cpu / n * 1000, "calls": calls["calls"], "call_errors": calls["errors"],
            "median_ms": calls["median_ms"], "total_ms": calls["total_ms"], "bound": bound,
            "wall_over_bound": r.wall / bound if bound else float("nan"),
            "mean_bound": calls["total_ms"] / 1000 / conc, "server_cpu": server, "checks": bl.count_checks(rep),
            "not_ok": sum(1 for v in bl.statuses(rep).values() if v != "OK"), "ops": ops}


def show(label, rows):
    m = {k: bl.median([r[k] for r in rows]) for k in rows[0] if k != "ops"}
    m["ops"] = rows[len(rows) // 2]["ops"]
    bl.say(f"  {label}: wall {bl.fmt_s(m['wall'])}, bound {bl.fmt_s(m['bound'])} (x{m['wall_over_bound']:.2f}), "
           f"rss {bl.fmt_mib(m['maxrss_kb'])}, cpu/resource {m['cpu_per_resource_ms']:.2f} ms, calls {m['calls']:.0f}, "
           f"not OK {m['not_ok']:.0f}")
    return m


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(bl.SOURCE, "build"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--tables", default="100,1000,5000")
    ap.add_argument("--at", type=int, default=1000, help="the table count measured at every concurrency")
    ap.add_argument("--concurrency", default="1,8,32")
    ap.add_argument("--buckets", type=int, default=200)
    ap.add_argument("--clusters", type=int, default=50)
    ap.add_argument("--plans", type=int, default=20)
    ap.add_argument("--records", type=int, default=50)
    ap.add_argument("--latency", default="0", help="per-call latencies in ms at the size --at (default 0)")
    ap.add_argument("--json", help="write the figures to this file")
    args = ap.parse_args(argv)
    series = sorted(int(x) for x in args.tables.split(","))
    concs = [int(x) for x in args.concurrency.split(",")]
    latencies = [x for x in bl.parse_latencies(args.latency) if x > 0]

    build = bl.Build(args.build)
    aws = bl.LocalAWS(build)
    est = ge.Estate(aws, build, tempfile.mkdtemp(prefix="bench-scale-", dir=aws.env.tmpdir))
    out = {"series": [], "matrix": [], "generation": [], "latency": []}
    for n in series:
        counts = {"tables": n, "buckets": args.buckets, "clusters": args.clusters, "plans": args.plans,
                  "records": args.records}
        bl.say(f"scale: growing the estate to {counts}")
        g = est.grow(counts)
        g.update(est.made)
        out["generation"].append(g)
        bl.say(f"  made in {g['primary_s'] + g['configure_s'] + g['publish_s']:.0f} s (configure {g['configure_s']:.0f} s, "
               f"{g['configure_calls']} calls)")
        conf_runs = concs if n == args.at else [8]
        rows = {c: [] for c in conf_runs}
        for _ in range(args.runs):
            for c in conf_runs:
                rows[c].append(measure(aws, build, est.conf, c))
        for c in conf_runs:
            m = show(f"{n} tables, concurrency {c}", rows[c])
            m["tables"] = n
            if c == 8:
                out["series"].append(dict(m, samples=rows[c]))
            if n == args.at:
                out["matrix"].append(dict(m, samples=rows[c]))
        for lat in latencies if n == args.at else []:
            with bl.latency(aws, lat):
                runs = [measure(aws, build, est.conf, 8) for _ in range(args.runs)]
            m = show(f"{n} tables, concurrency 8, {lat} ms per call", runs)
            bound = m["calls"] * lat / 1000 / 8
            out["latency"].append(dict(m, tables=n, latency_ms=lat, latency_bound=bound,
                                       wall_over_latency_bound=m["wall"] / bound, samples=runs))

    print(f"\nscale: verify over a generated estate ({args.buckets} buckets, {args.clusters if 'aurora' in build.plugins() else 0} "
          f"clusters, {args.plans} plans, {args.records} records and the tables below); medians of {args.runs} runs")
    hdr = (f"{'tables':>7s} {'res.':>6s} {'conc':>4s} {'wall':>9s} {'bound':>9s} {'x bound':>7s} {'peak RSS':>9s} "
           f"{'CPU':>8s} {'CPU/res':>8s} {'calls':>7s} {'med ms':>6s} {'not OK':>6s}")
    print(hdr)
    for m in out["matrix"] + [s for s in out["series"] if s["tables"] != args.at]:
        print(f"{m['tables']:>7.0f} {m['resources']:>6.0f} {m['concurrency']:>4.0f} {bl.fmt_s(m['wall']):>9s} "
              f"{bl.fmt_s(m['bound']):>9s} {m['wall_over_bound']:>7.2f} {bl.fmt_mib(m['maxrss_kb']):>9s} "
              f"{bl.fmt_s(m['cpu']):>8s} {m['cpu_per_resource_ms']:>6.2f}ms {m['calls']:>7.0f} {m['median_ms']:>6.1f} "
              f"{m['not_ok']:>6.0f}")
    # the target is the estate (the size measured at every concurrency); the series shows the growth
    rss_ok = all(m["maxrss_kb"] < RSS_TARGET_KB for m in out["matrix"])
    bound_ok = {int(m["concurrency"]): m["wall_over_bound"] <= BOUND_TARGET for m in out["matrix"]}
    if len(out["series"]) >= 2:
        a, b = out["series"][0], out["series"][-1]
        growth = {k: (b[k] / a[k]) / (b["resources"] / a["resources"]) for k in ("wall", "cpu", "calls")}
        print(f"growth from {a['resources']:.0f} to {b['resources']:.0f} resources, per resource (1.0 = linear): "
              + ", ".join(f"{k} {v:.2f}" for k, v in growth.items())
              + f"; peak RSS {bl.fmt_mib(a['maxrss_kb'])} -> {bl.fmt_mib(b['maxrss_kb'])}")
        out["growth_per_resource"] = growth
        # what each table added costs, between consecutive sizes: constant when the cost grows linearly
        steps = []
        for x, y in zip(out["series"], out["series"][1:]):
            n = y["tables"] - x["tables"]
            steps.append({"from": x["tables"], "to": y["tables"], "wall_ms": (y["wall"] - x["wall"]) / n * 1000,
                          "cpu_ms": (y["cpu"] - x["cpu"]) / n * 1000, "calls": (y["calls"] - x["calls"]) / n,
                          "rss_kb": (y["maxrss_kb"] - x["maxrss_kb"]) / n})
        for s in steps:
            print(f"per table added from {s['from']:.0f} to {s['to']:.0f}: wall {s['wall_ms']:.1f} ms, CPU "
                  f"{s['cpu_ms']:.2f} ms, {s['calls']:.1f} API calls, peak RSS {s['rss_kb']:.1f} KiB")
        out["per_table_added"] = steps
    for m in out["latency"]:
        print(f"at {m['latency_ms']} ms per call ({m['tables']:.0f} tables, concurrency 8): wall {bl.fmt_s(m['wall'])}, "
              f"{m['calls']:.0f} calls, bound calls x {m['latency_ms']} ms / 8 = {bl.fmt_s(m['latency_bound'])}, "
              f"wall / bound {m['wall_over_latency_bound']:.2f} (target 1.5: "
              f"{'met' if m['wall_over_latency_bound'] <= BOUND_TARGET else 'MISSED'})")
    print(f"targets: peak RSS under 32 MiB ({args.at} tables): {'met' if rss_ok else 'MISSED'}; wall within 1.5x the bound: "
          + ", ".join(f"concurrency {c} {'met' if ok else 'MISSED'}" for c, ok in bound_ok.items()))
    out.update(targets_met={"rss": rss_ok, "bound": bound_ok}, machine=bl.machine(), versions=bl.versions(build),
               runs=args.runs)
    bl.write_json(args.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
