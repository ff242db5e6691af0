#!/usr/bin/env python3
"""failover.py: `dr-agent failover` and `failback` against the critical path of the dependency graph.

Usage: bench/failover.py [--build DIR] [--runs N] [--compress C] [--json FILE]

Starts a local AWS with the PostgreSQL pair (drenv --pg), builds the reference estate (conf/dr-agent.conf with
the local data plane of the Aurora cluster, as scripts/demo does) and gives the proxy's emulated operations AWS's
durations divided by C (default 60): Aurora global switchover 10 min, Aurora cluster creation 15 min, DynamoDB replica
creation 7.5 min, Route 53 change 60 s. The plugins' poll intervals are divided by C too (their defaults are
sized for AWS's durations), and the Route 53 resource fails over by its records (failover_method = "records"), so
that the DNS change is a step of the run. Then N times: failover; the primary region loses its DynamoDB tables
(the proxy deletes them, as after a regional disaster); failback, which re-creates them from the DR region. Each
hook is measured.

For each run: the critical path is the longest chain of durations through the dependency graph
(`dr-agent plan --format json`), each resource weighing the durations of the emulated operations it called
(from the proxy's request log; a promotion with its call's latency, in which the proxy promotes the PostgreSQL
node; a type's calls spread over its resources);
the sequential runbook is the sum of
all those durations, and "steps one by one" the sum of the resources' own hook times in the run (what running
them one after another would take). Target: wall time within 5 % of the critical path.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import benchlib as bl

AWS_SECONDS = {"PromoteReadReplicaDBCluster": 600, "CreateDBCluster": 900, "UpdateTable": 450,
               "ChangeResourceRecordSets": 60, "FailoverGlobalCluster": 600, "SwitchoverGlobalCluster": 600}
DEFAULT_POLL = {"aurora": 5.0, "dynamodb": 10.0, "route53": 2.0}
SERVICE_TYPE = {"rds": "aurora", "dynamodb": "dynamodb", "route53": "route53", "s3": "s3", "backup": "backup"}
TARGET = 0.05
# operations whose set duration starts only when the proxy's work inside the call is done (tests/env/emu_rds.py)
WAIT_AFTER_CALL = {"PromoteReadReplicaDBCluster", "FailoverGlobalCluster", "SwitchoverGlobalCluster"}


def extra_keys(environ, compress, default_poll=()):
    poll = {t: "" if t in default_poll else f'poll_interval = "{max(0.01, s / compress) * 1000:.0f}ms";'
            for t, s in DEFAULT_POLL.items()}
    e = environ
    return {
        "dynamodb": poll["dynamodb"],
        "aurora": (f'pg_primary_host = "{e["DR_TEST_PG_PRIMARY_HOST"]}"; pg_primary_port = {e["DR_TEST_PG_PRIMARY_PORT"]}; '
                   f'pg_dr_host = "{e["DR_TEST_PG_STANDBY_HOST"]}"; pg_dr_port = {e["DR_TEST_PG_STANDBY_PORT"]}; '
                   f'pg_database = "{e["DR_TEST_PG_DBNAME"]}"; pg_user = "{e["DR_TEST_PG_USER"]}"; '
                   f'pg_password_file = "{e["DR_TEST_PG_PASSWORD_FILE"]}"; pg_sslmode = "disable"; ' + poll["aurora"]),
        "route53": 'failover_method = "records"; ' + poll["route53"],
    }


def graph(ref):
    """{id: (type, [dependency ids])} from `dr-agent plan --format json`."""
    res = ref.agent("plan", "--format", "json")
    if res.rc != 0 or not res.json:
        raise SystemExit(f"plan failed: {res}")
    return {r["id"]: (r["plugin"], r["depends_on"]) for level in res.json["levels"] for r in level}


def weights(g, log, durations):
    """Seconds of emulated operations per resource: each type's calls, in order, spread over its resources.

    A promotion weighs its set duration plus the call's own latency: the proxy promotes the PostgreSQL node inside
    the call (0.1 to 0.3 s) before the set duration starts. Other operations start their duration inside the call
    (a replica creation re-attaches a node while it runs), so their latency is not added."""
    by_type = {}
    for rid, (typ, _) in sorted(g.items()):
        by_type.setdefault(typ, []).append(rid)
    w = {rid: 0.0 for rid in g}
    calls = []
    seen = {t: 0 for t in by_type}
    for e in log:
        op, typ = e.get("operation"), SERVICE_TYPE.get(e.get("service"))
        if op in durations and typ in by_type and e.get("status") and e["status"] < 400:
            rid = by_type[typ][seen[typ] % len(by_type[typ])]
            seen[typ] += 1
            took = durations[op] + ((e.get("ms") or 0) / 1000 if op in WAIT_AFTER_CALL else 0)
            w[rid] += took
            calls.append((rid, op, took))
    return w, calls


def critical_path(g, w):
    """Longest chain of weights through the graph: (seconds, [ids])."""
    memo = {}

    def longest(rid):
        if rid not in memo:
            best = max((longest(d) for d in g[rid][1]), default=(0.0, []), key=lambda x: x[0])
            memo[rid] = (best[0] + w[rid], best[1] + [rid])
        return memo[rid]
    return max((longest(r) for r in g), default=(0.0, []), key=lambda x: x[0])


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(bl.SOURCE, "build"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--compress", type=float, default=60.0)
    ap.add_argument("--default-poll", default="", help="plugin types whose poll interval stays at its default "
                    "(comma-separated), to measure what the compressed one gains")
    ap.add_argument("--json", help="write the figures to this file")
    args = ap.parse_args(argv)

    build = bl.Build(args.build)
    aws = bl.LocalAWS(build, pg=True)
    work = tempfile.mkdtemp(prefix="bench-failover-", dir=aws.env.tmpdir)
    ref = bl.Reference(aws, build, work,
                       extra=extra_keys(aws.environ, args.compress, [x for x in args.default_poll.split(",") if x]))
    if ref.missing:
        raise SystemExit(f"failover: plugins missing: {', '.join(ref.missing)}")
    bl.say("failover: building the reference estate with its data plane")
    aws.reset()
    subprocess.run([sys.executable, os.path.join(bl.SOURCE, "scripts", "demo-estate.py"), "grants"],
                   env=aws.environ, check=True, stdout=subprocess.DEVNULL)
    ref.setup(reset=False)
    ref.reverse_metrics()
    g = graph(ref)
    durations = {op: s / args.compress for op, s in AWS_SECONDS.items()}
    aws.env.control("POST", "/durations", {"durations": durations})

    rows = {"failover": [], "failback": []}
    for i in range(args.runs):
        for hook in ("failover", "failback"):
            if hook == "failback":
                for table in bl.seed_estate.TABLES:
                    aws.env.remove_replica(table, bl.PRIMARY)
            r, log, _ = ref.agent(hook, "--yes", "--format", "json", measured=True, timeout=1800)
            rep = json.loads(r.stdout) if r.stdout.strip().startswith("{") else None
            if r.rc != 0 or not rep:
                failed = [(x["id"], x.get("error")) for x in (rep or {}).get("resources", []) if x["status"] == "failed"]
                raise SystemExit(f"{hook} failed (exit {r.rc}): {failed or r.stderr[-3000:]}")
            w, calls = weights(g, log, durations)
            cp, chain = critical_path(g, w)
            row = {"wall": r.wall, "cpu": r.cpu, "maxrss_kb": r.maxrss_kb, "critical_path": cp, "chain": chain,
                   "sequential": sum(w.values()), "over": r.wall / cp - 1 if cp else float("nan"),
                   "steps": sum(x["duration_ms"] for x in rep["resources"]) / 1000,
                   "calls": len(log), "duration_calls": calls,
                   "resources": {x["id"]: x["duration_ms"] / 1000 for x in rep["resources"]}}
            rows[hook].append(row)
            bl.say(f"  run {i + 1}/{args.runs} {hook:8s} wall {r.wall:6.2f} s, critical path {cp:6.2f} s "
                   f"({' -> '.join(chain)}), +{row['over'] * 100:.1f} %, sequential {row['sequential']:.2f} s, "
                   f"steps one by one {row['steps']:.2f} s")

    print(f"\nfailover critical path: medians of {args.runs} runs, AWS durations / {args.compress:g} "
          f"({', '.join(f'{k} {v:.1f} s' for k, v in durations.items() if k in ('SwitchoverGlobalCluster', 'CreateDBCluster', 'UpdateTable', 'ChangeResourceRecordSets'))})")
    print(f"{'hook':9s} {'wall':>8s} {'critical path':>14s} {'over':>7s} {'sequential':>11s} {'one by one':>11s} "
          f"{'CPU':>8s} {'API calls':>9s}  chain")
    med = {}
    for hook, rs in rows.items():
        m = {k: bl.median([x[k] for x in rs]) for k in ("wall", "critical_path", "over", "sequential", "steps", "cpu",
                                                          "calls", "maxrss_kb")}
        m["chain"] = rs[-1]["chain"]
        med[hook] = m
        print(f"{hook:9s} {m['wall']:>7.2f}s {m['critical_path']:>13.2f}s {m['over'] * 100:>6.1f}% "
              f"{m['sequential']:>10.2f}s {m['steps']:>10.2f}s {bl.fmt_s(m['cpu']):>8s} {m['calls']:>9.0f}  "
              f"{' -> '.join(m['chain'])}")
    met = {hook: med[hook]["over"] <= TARGET for hook in med}
    print("target: within 5 % of the critical path: " + ", ".join(f"{h} {'met' if ok else 'MISSED'}"
                                                                    for h, ok in met.items()))
    bl.write_json(args.json, {"runs": args.runs, "compress": args.compress, "durations": durations,
                              "graph": g, "medians": med, "samples": rows, "targets_met": met,
                              "machine": bl.machine(), "versions": bl.versions(build)})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
