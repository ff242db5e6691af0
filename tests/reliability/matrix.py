"""matrix.py: the fault matrix: faults injected by the proxy x commands, each cell a real run of dr-agent on the reference estate."""
import collections
import json
import os
import re
import tempfile
import time

import pgpair
import reltest
from reltest import D, P

# The services each plugin calls (signing names; "pg": the PostgreSQL data plane), to know which resources a fault on
# a service reaches.
TYPE_SERVICES = {
    "dynamodb": {"dynamodb", "monitoring"},
    "s3": {"s3", "monitoring", "iam"},
    "backup": {"backup"},
    "route53": {"route53", "monitoring"},  # the HealthCheckStatus metric (us-east-1), the traffic alarm (DR region)
    "aurora": {"rds", "monitoring", "pg"},
}
REGIONAL = ("dynamodb", "s3", "backup", "monitoring", "rds", "sts")
READ_ONLY = re.compile(r"^(Describe|Get|List|Head|Query|Scan)")  # the operations verify may make
PG_TIMEOUT = 2.0          # aurora pg_timeout of the matrix runs

# agent.hook_timeout of the matrix runs: the persistent faults' runs meet it (a hang lasts until the deadline); the
# transient faults' runs must not, and get room for a busy machine (a switchover's pg_rewind in the test
# environment's RDS bridge takes about 1 s alone, many more with other suites running).
HOOK_TIMEOUT = 20.0
TRANSIENT_HOOK_TIMEOUT = 60.0
# aws.attempt_timeout: above what the test environment's RDS bridge takes inside a call (re-attaching a PostgreSQL
# node with pg_rewind: about 1 s, more on a busy machine); a hang costs that much per attempt.
ATTEMPT_TIMEOUT = 4.0
MAX_ATTEMPTS = 3         # the standard retry mode's default
QUOTA_RETRIES = 500 // 5  # retry quota: 500 tokens, 5 per retry (10 after a timeout)
LEVELS = 2               # data, then traffic: two dependency levels
GRACE = 2.0              # how long past its deadline the runner waits for a hook


def deadline(hook_timeout):
    """A run ends within its deadline: the prepare phase within its deadline (agent.prepare_timeout, set to the hook
    timeout), every level's hooks within hook_timeout (+ grace), plus start and report."""
    return (hook_timeout + GRACE) + LEVELS * (hook_timeout + GRACE) + 5.0


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
        return [dict(spec, service=s) for s in ("dynamodb", "rds", "s3", "backup", "route53", "monitoring")]
    return {
        "throttle x2": per_service(action="throttle", count=2),
        "500 x2": per_service(action="error", status=500, count=2),
        "503 x2": per_service(action="error", status=503, count=2),
        "drop x2": per_service(action="drop", count=2),
        "hang x1": per_service(action="hang", count=1, hang_ms=30000),
    }


class Fault:
    """A persistent fault: the proxy faults (and {"service": "pg", "region": R, "action": A} for the data plane of
    region R), the services and the region it reaches (None: every region), whether it takes a region away (no
    answer at all: a forced run leaving that region makes one bounded attempt per call there), and the commands that
    must not call what it reaches at all."""

    def __init__(self, faults, services, region=None, gone=False, untouched=()):
        self.faults, self.services, self.region, self.gone = faults, services, region, gone
        self.untouched = set(untouched)


def region_down(region, action, **kw):
    """Every regional service of `region` and its PostgreSQL node: the region is gone (or hangs)."""
    return ([dict(service=s, region=region, action=action, **kw) for s in REGIONAL] +
            [dict(service="pg", region=region, action=action)])


def persistent_faults():
    """Faults that last the whole run."""
    return {
        "throttle dynamodb": Fault([dict(service="dynamodb", action="throttle")], {"dynamodb"}),
        "500 s3": Fault([dict(service="s3", action="error", status=500)], {"s3"}),
        "503 backup": Fault([dict(service="backup", action="error", status=503)], {"backup"}),
        # a failover moves traffic through the traffic alarm (CloudWatch, DR region): it never meets Route 53's API
        "drop route53": Fault([dict(service="route53", action="drop")], {"route53"},
                              untouched=("failover-graceful", "failover-forced")),
        "hang cloudwatch": Fault([dict(service="monitoring", action="hang", hang_ms=60000)], {"monitoring"}),
        # a failover talks to Aurora's DR region only: it never meets the primary region's RDS
        "throttle rds primary": Fault([dict(service="rds", region=P, action="throttle")], {"rds"}, P,
                                      untouched=("failover-graceful", "failover-forced")),
        "500 rds dr": Fault([dict(service="rds", region=D, action="error", status=500)], {"rds"}, D),
        "primary data plane unreachable": Fault([dict(service="pg", region=P, action="unreachable")], {"pg"}, P),
        "primary unreachable": Fault(region_down(P, "unreachable"), set(REGIONAL) | {"pg"}, P, gone=True),
        "primary hangs": Fault(region_down(P, "hang", hang_ms=60000), set(REGIONAL) | {"pg"}, P, gone=True),
        "dr unreachable": Fault(region_down(D, "unreachable"), set(REGIONAL) | {"pg"}, D, gone=True),
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
        self.pg_connections = {}
        self.operations = []
        self.writable = []
        self.statuses = {}
        self.stderr = ""

    def row(self):
        return {"fault": self.fault, "command": self.command, "rc": self.rc, "seconds": round(self.seconds, 2),
                "calls": self.calls, "attempts": self.attempts, "max_attempts_per_call": self.max_attempts,
                "faulted_requests": self.faulted, "pg_connections": self.pg_connections,
                "retries_by_region": self.retries_by_region, "left_region_max_attempts": self.left_region_max_attempts,
                "writable": self.writable, "statuses": self.statuses}


class Matrix:
    """Runs cells on the reference estate in one drenv environment."""

    def __init__(self, env, types=None, hook_timeout=HOOK_TIMEOUT):
        self.env, self.types = env, types or reltest.TYPES
        self.hook_timeout = hook_timeout
        self.deadline = deadline(hook_timeout)
        self.cells = []
        self.pair = reltest.Pair(env)
        # the agent reaches each PostgreSQL node through a relay, which can take that node's data plane away
        self.relays = {P: reltest.Relay(env.environ["DR_TEST_PG_PRIMARY_PORT"]),
                       D: reltest.Relay(env.environ["DR_TEST_PG_STANDBY_PORT"])}
        self.pg = reltest.pg_keys(env, port_primary=self.relays[P].port, port_dr=self.relays[D].port,
                                  timeout=f"{PG_TIMEOUT:.0f}s")

        self.untouched = None  # the agent of a verify cell: its estate is still as fresh() made it

    def close(self):
        for r in self.relays.values():
            r.close()

    def fresh(self, command):
        """A configured, healthy estate; for failback, failed over first."""
        env = self.env
        if self.untouched and not command.startswith("failback"):
            # verify is read-only (every cell checks it): the estate the last cell verified is still fresh
            agent, self.untouched = self.untouched, None
            env.clear_requests()
            return agent
        self.untouched = None
        reltest.reset(env, self.pair)
        env.seed()
        tmp = tempfile.mkdtemp(prefix="matrix-", dir=env.tmpdir)
        conf = reltest.write_conf(os.path.join(tmp, "dr-agent.conf"), os.path.join(tmp, "state"),
                                  reltest.estate_resources(pg=self.pg, types=self.types),
                                  agent={"hook_timeout": f'"{self.hook_timeout:.0f}s"',
                                         "prepare_timeout": f'"{self.hook_timeout:.0f}s"'},
                                  aws={"attempt_timeout": f'"{ATTEMPT_TIMEOUT:.0f}s"',
                                       "max_attempts": str(MAX_ATTEMPTS)})
        agent = reltest.Agent(env, conf, os.path.join(tmp, "state"))
        r = agent.run("configure")
        if r.rc != 0:
            raise AssertionError(f"configure of the estate failed: {r}")
        reltest.make_healthy(env)
        if command.startswith("failback"):
            r = agent.run("failover", "--yes")
            if r.rc != 0:
                raise AssertionError(f"failover before the failback cell failed: {r}")
            reltest.make_healthy(env)
        env.clear_requests()
        return agent

    def takes_writes(self, node):
        """Not a standby and not fenced; a node Aurora is rebuilding as a secondary (stopped for pg_rewind after a
        failover with data loss) takes no writes."""
        try:
            return not self.pair.pair.in_recovery(node) and not self.pair.fenced(node)
        except pgpair.PgError:
            return False

    def run_cell(self, fault_name, faults, command):
        cell = Cell(fault_name, command)
        agent = self.fresh(command)
        cell.agent = agent
        for f in faults:
            if f["service"] == "pg":
                self.relays[f["region"]].set(f["action"])
            else:
                self.env.add_fault(**f)
        for r in self.relays.values():
            r.connections = 0
        t0, wall0 = time.monotonic(), time.time()
        res = agent.run(*COMMANDS[command], "--format", "json", timeout=self.deadline + 60)
        cell.seconds = time.monotonic() - t0
        cell.rc, cell.report, cell.stderr = res.rc, res.json, res.stderr
        # the requests that started during the run (the proxy logs a request once answered: the test's own last
        # call before the run can be logged after the log was cleared)
        log = [q for q in self.env.requests() if q["time"] - q["ms"] / 1000 >= wall0]
        self.log = log
        self.env.clear_faults()
        cell.pg_connections = {region: r.connections for region, r in self.relays.items()}
        for r in self.relays.values():
            r.set("pass")
        cell.operations = sorted({q["operation"] for q in log if q["operation"]})
        # the nodes that take writes now (not a standby, not fenced), seen through the superuser path
        cell.writable = [n for n in ("a", "b") if self.takes_writes(n)]
        if command == "verify" and all(READ_ONLY.match(op) for op in cell.operations):
            self.untouched = agent
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
        reach &= set(REGIONAL) | {"pg"}  # Route 53 is global: a region's faults do not reach it
    return bool(reach)


def dump(cells, path):
    if not path:
        return
    with open(path, "a") as f:
        for c in cells:
            f.write(json.dumps(c.row()) + "\n")
