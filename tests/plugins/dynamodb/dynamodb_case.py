"""Shared set-up of the dynamodb plugin's integration tests: the reference estate, the agent, reports, metrics."""
import datetime
import os
import re
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.environ.get("DR_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../../..")),
                                "tests", "env"))
import drtest  # noqa: E402

P, D = drtest.PRIMARY, drtest.DR
SOURCE = os.environ.get("DR_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "../../..")))
AGENT = os.environ.get("DR_AGENT_BIN", "dr-agent")
CANARY = "dr-agent-canary"
RPO = 900.0

# Exit codes of the agent
OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
PLAN_CHANGES = 2


def reference_resources():
    """The dynamodb resources of conf/dr-agent.conf, as (name, table) pairs and their config lines."""
    with open(os.path.join(SOURCE, "conf", "dr-agent.conf")) as f:
        text = f.read()
    lines = re.findall(r'^\s*(\{\s*type\s*=\s*"dynamodb";.*\})\s*,?\s*$', text, re.M)
    pairs = [(re.search(r'name\s*=\s*"([^"]+)"', s).group(1), re.search(r'table\s*=\s*"([^"]+)"', s).group(1))
             for s in lines]
    return pairs, lines


RESOURCES, RESOURCE_LINES = reference_resources()
TABLES = {f"dynamodb.{name}": table for name, table in RESOURCES}



def statuses(report):
    """{(resource id, check name): status} of a verify (or hook) JSON report."""
    return {(r["id"], c["name"]): c["status"] for r in report["resources"] for c in r["checks"]}


def checks(report, rid):
    return {c["name"]: c for c in resource(report, rid)["checks"]}


def resource(report, rid):
    return next(r for r in report["resources"] if r["id"] == rid)


class DynamoDBCase(drtest.EnvTestCase):
    def setUp(self):
        super().setUp()
        self.assertEqual(len(RESOURCES), 5, "the reference estate has five tables")
        self.tmp = tempfile.mkdtemp(prefix="dynamodb-", dir=self.env.tmpdir)
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.ddb = {r: self.env.client("dynamodb", r) for r in (P, D)}
        self.cw = {r: self.env.client("cloudwatch", r) for r in (P, D)}
        seeded = self.env.seed("primary")  # the primary side of the reference estate, as the application deploys it
        self.assertEqual(sorted(a.rsplit("/", 1)[-1] for a in seeded["tables"]), sorted(TABLES.values()))
        self.conf = self.write_conf()
        self.env.clear_requests()

    # ---- helpers ------------------------------------------------------------------------------
    def write_conf(self, extra='poll_interval = "200ms"; canary_key = "pk=dr-agent-canary";', hook_timeout="2m",
                   lines=RESOURCE_LINES):
        def merged(line):
            # a key the reference line already sets (canary_key) is replaced: libconfig refuses duplicates
            for kv in re.findall(r'\w+ = [^;]+;', extra):
                line = re.sub(r'\b%s\s*=\s*[^;]+;\s*' % kv.split()[0], "", line)
            return "  " + line.rstrip("}").rstrip().rstrip(";") + "; " + extra + " }"
        res = ",\n".join(merged(line) for line in lines)
        path = os.path.join(self.tmp, "dr-agent.conf")
        with open(path, "w") as f:
            f.write(f"""# dynamodb integration test
objectives = {{ rto = "1h"; rpo = "15m"; }};
regions = {{ primary = "{P}"; dr = "{D}"; }};
aws = {{ max_attempts = 2; connect_timeout = "2s"; attempt_timeout = "10s"; }};
agent = {{ state_dir = "{self.tmp}/state"; concurrency = 5; hook_timeout = "{hook_timeout}"; }};
resources = (
{res}
);
""")
        os.chmod(path, 0o600)
        return path

    def agent(self, *args, expect=None, timeout=120):
        res = self.env.run([AGENT, "-c", self.conf] + list(args), timeout=timeout)
        if expect is not None:
            self.assertEqual(res.rc, expect, res)
        return res

    def report(self, *args, expect=None, timeout=120):
        res = self.agent(*args, "--format", "json", expect=expect, timeout=timeout)
        self.assertIsNotNone(res.json, res)
        return res.json

    def put_latency(self, ms, table=None, sender=P, receiver=D, ago=30):
        """ReplicationLatency datapoints as DynamoDB publishes them: in the sending region, in milliseconds."""
        when = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=ago)
        for t in ([table] if table else TABLES.values()):
            self.cw[sender].put_metric_data(Namespace="AWS/DynamoDB", MetricData=[{
                "MetricName": "ReplicationLatency", "Timestamp": when, "Value": float(ms), "Unit": "Milliseconds",
                "Dimensions": [{"Name": "TableName", "Value": t}, {"Name": "ReceivingRegion", "Value": receiver}]}])

    def configured(self):
        """Configure the estate, seed healthy latency and return the healthy verify report."""
        self.report("configure", expect=0)
        self.env.put_lag_metrics(dynamodb_ms=850, points=3)
        rep = self.report("verify", expect=OK)
        self.assertEqual({s for s in statuses(rep).values()}, {"OK"}, rep)
        return rep

    def table(self, region, table):
        return self.ddb[region].describe_table(TableName=table)["Table"]

    def pitr(self, region, table):
        d = self.ddb[region].describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
        return d["PointInTimeRecoveryDescription"]

    def exists(self, region, table):
        return table in self.env.moto_client("dynamodb", region).list_tables()["TableNames"]

    def assertChanged(self, before, after, expected):
        """Exactly the `expected` {(resource, check): status} changed status between two verify reports."""
        changed = {k: after.get(k) for k in set(before) | set(after) if before.get(k) != after.get(k)}
        self.assertEqual(changed, expected)

    def assertPrimaryUntouched(self):
        for table in TABLES.values():
            t = self.table(P, table)
            self.assertFalse((t.get("StreamSpecification") or {}).get("StreamEnabled", False), table)
            self.assertNotIn("Replicas", t)
            self.assertEqual(self.pitr(P, table)["PointInTimeRecoveryStatus"], "DISABLED")
            self.assertFalse(self.exists(D, table))
