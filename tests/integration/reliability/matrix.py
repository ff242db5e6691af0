"""matrix.py: the fault matrix: faults injected by the proxy x commands, each cell a real run of dr-agent on the reference estate."""
import collections
import json
import os
import tempfile
import time

import reltest
from reltest import D, P

# The services each plugin calls (signing names), to know which resources a fault on a service reaches.
TYPE_SERVICES = {
    "dynamodb": {"dynamodb", "monitoring"},
    "s3": {"s3", "monitoring", "iam"},
    "backup": {"backup"},
    "route53": {"route53"},
    "aurora": {"rds", "monitoring"},
}
REGIONAL = ("dynamodb", "s3", "backup", "monitoring", "rds", "sts")

HOOK_TIMEOUT = 15.0      # agent.hook_timeout of the matrix runs
ATTEMPT_TIMEOUT = 2.0    # aws.attempt_timeout
MAX_ATTEMPTS = 3         # the standard retry mode's default
QUOTA_RETRIES = 500 // 5  # retry quota: 500 tokens, 5 per retry (10 after a timeout)
LEVELS = 2               # data, then traffic: two dependency levels
GRACE = 2.0              # how long past its deadline the runner waits for a hook
# A run ends within its deadline: every level's hooks within hook_timeout (+ grace), plus start and report.
DEADLINE = LEVELS * (HOOK_TIMEOUT + GRACE) + 5.0

COMMANDS = {
    "verify": ["verify"],
    "failover-graceful": ["failover", "--yes", "--mode", "graceful"],
    "failover-forced": ["failover", "--yes", "--mode", "forced"],
    "failback": ["failback", "--yes", "--mode", "graceful"],
    "failback-forced": ["failback", "--yes", "--mode", "forced"],
}


def transient_faults():
    """Faults that go away: each service's first requests fail, fewer times than the retry budget absorbs."""
    def per_service(**spec):
        return [dict(spec, service=s) for s in ("dynamodb", "s3", "backup", "route53", "monitoring")]
    return {
        "throttle x2": per_service(action="throttle", count=2),
        "500 x2": per_service(action="error", status=500, count=2),
        "503 x2": per_service(action="error", status=503, count=2),
        "drop x2": per_service(action="drop", count=2),
        "hang x1": per_service(action="hang", count=1, hang_ms=30000),
    }


def persistent_faults():
    """Faults that last the whole run: (faults, services reached, regions reached)."""
    return {
        "throttle dynamodb": ([dict(service="dynamodb", action="throttle")], {"dynamodb"}, None),
        "500 s3": ([dict(service="s3", action="error", status=500)], {"s3"}, None),
        "503 backup": ([dict(service="backup", action="error", status=503)], {"backup"}, None),
        "drop route53": ([dict(service="route53", action="drop")], {"route53"}, None),
        "hang cloudwatch": ([dict(service="monitoring", action="hang", hang_ms=60000)], {"monitoring"}, None),
        "primary unreachable": ([dict(service=s, region=P, action="unreachable") for s in REGIONAL],
                                set(REGIONAL), P),
        "primary hangs": ([dict(service=s, region=P, action="hang", hang_ms=60000) for s in REGIONAL],
                          set(REGIONAL), P),
        "dr unreachable": ([dict(service=s, region=D, action="unreachable") for s in REGIONAL], set(REGIONAL), D),
    }


class Cell:
    def __init__(self, fault, command):
        self.fault, self.command = fault, command
        self.rc = None
        self.seconds = None
        self.report = None
        self.calls = 0
        self.attempts = 0
        self.max_attempts = 0
        self.retries_by_region = {}
        self.left_region_max_attempts = 0
        self.faulted = 0
        self.statuses = {}
        self.stderr = ""

    def row(self):
        return {"fault": self.fault, "command": self.command, "rc": self.rc, "seconds": round(self.seconds, 2),
                "calls": self.calls, "attempts": self.attempts, "max_attempts_per_call": self.max_attempts,
                "faulted_requests": self.faulted, "statuses": self.statuses}


class Matrix:
    """Runs cells on the reference estate in one drenv environment."""

    def __init__(self, env, types):
        self.env, self.types = env, types
        self.cells = []

    def fresh(self, command):
        """A configured, healthy estate; for failback, failed over first."""
        env = self.env
        env.reset(moto=True)
        env.seed()
        tmp = tempfile.mkdtemp(prefix="matrix-", dir=env.tmpdir)
        conf = reltest.write_conf(os.path.join(tmp, "dr-agent.conf"), os.path.join(tmp, "state"),
                                  reltest.estate_resources(types=self.types),
                                  agent={"hook_timeout": f'"{HOOK_TIMEOUT:.0f}s"'},
                                  aws={"attempt_timeout": f'"{ATTEMPT_TIMEOUT:.0f}s"',
                                       "max_attempts": str(MAX_ATTEMPTS)})
        agent = reltest.Agent(env, conf, os.path.join(tmp, "state"))
        r = agent.run("configure")
        if r.rc != 0:
            raise AssertionError(f"configure of the estate failed: {r}")
        reltest.make_healthy(env, aurora="aurora" in self.types)
        if command.startswith("failback"):
            r = agent.run("failover", "--yes")
            if r.rc != 0:
                raise AssertionError(f"failover before the failback cell failed: {r}")
            reltest.make_healthy(env, aurora="aurora" in self.types)
        env.clear_requests()
        return agent

    def run_cell(self, fault_name, faults, command):
        cell = Cell(fault_name, command)
        agent = self.fresh(command)
        cell.agent = agent
        for f in faults:
            self.env.add_fault(**f)
        t0 = time.monotonic()
        res = agent.run(*COMMANDS[command], "--format", "json", timeout=DEADLINE + 60)
        cell.seconds = time.monotonic() - t0
        cell.rc, cell.report, cell.stderr = res.rc, res.json, res.stderr
        log = self.env.requests()
        self.log = log
        self.env.clear_faults()
        per = collections.Counter()
        region_of = {}
        for q in log:
            if q["invocation"]:
                per[q["invocation"]] += 1
                region_of[q["invocation"]] = (q["region"], q["service"])
        cell.calls, cell.attempts = len(per), sum(per.values())
        cell.max_attempts = max(per.values()) if per else 0
        retries = collections.Counter()
        for inv, n in per.items():
            retries[region_of[inv][0]] += n - 1
        cell.retries_by_region = dict(retries)
        left = P if command.startswith("failover") else D
        cell.left_region_max_attempts = max([n for inv, n in per.items()
                                             if region_of[inv][0] == left and region_of[inv][1] in REGIONAL] or [0])
        cell.per_call = per
        cell.region_of = region_of
        cell.faulted = sum(1 for q in log if q["fault"])
        if res.json:
            cell.statuses = {r["id"]: r.get("status") for r in res.json["resources"]}
        self.cells.append(cell)
        return cell

    def summary(self):
        return [c.row() for c in self.cells]


def affected(rid, services, region):
    """Does a fault on `services` (in `region`, None: all) reach resource `rid`?"""
    ptype = rid.split(".", 1)[0]
    reach = TYPE_SERVICES.get(ptype, set()) & services
    if region is not None:
        reach &= set(REGIONAL)
    return bool(reach)


def dump(cells, path):
    if not path:
        return
    with open(path, "a") as f:
        for c in cells:
            f.write(json.dumps(c.row()) + "\n")
