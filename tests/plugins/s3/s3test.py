"""Helpers of the s3 plugin's integration tests: the reference estate's buckets, configs, agent runs, metrics."""
import datetime
import os
import re
import tempfile

import drtest
from drtest import DR, PRIMARY



def role_of(bucket):
    """The replication role a bucket gets by default: a role of its own (names of at most 64 characters)."""
    return "dr-agent-s3-" + bucket


RULE = "dr-replication"
REVERSE_RULE = RULE + "-reverse"
RPO = 900.0

# What verify reports for every resource in the normal topology, without canary or lifecycle.
FORWARD_CHECKS = ["bucket_versioning", "dr_bucket", "dr_bucket_versioning", "replication_configuration",
                  "replication_destination", "replication_time_control", "replication_metrics",
                  "delete_marker_replication", "existing_objects", "replication_role", "replication_latency",
                  "operations_pending_replication", "bytes_pending_replication"]
RULE_PART_CHECKS = ["replication_destination", "replication_time_control", "replication_metrics",
                    "delete_marker_replication", "existing_objects"]


def reference_resources():
    """The s3 resources of the repository's conf/dr-agent.conf: [(name, bucket, dr_bucket)]."""
    path = os.path.join(os.environ["DR_SOURCE_DIR"], "conf", "dr-agent.conf")
    with open(path) as f:
        text = f.read()
    out = []
    for block in re.findall(r'\{\s*type\s*=\s*"s3";[^}]*\}', text):
        keys = dict(re.findall(r'(\w+)\s*=\s*"([^"]*)"', block))
        out.append((keys["name"], keys["bucket"], keys["dr_bucket"]))
    if len(out) != 3:
        raise AssertionError(f"expected the 3 s3 resources of the reference estate in {path}, found {out}")
    return out


RESOURCES = reference_resources()
IDS = ["s3." + r[0] for r in RESOURCES]


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def ago(seconds):
    """A whole second in the past: the agent asks CloudWatch up to the current whole second."""
    return now().replace(microsecond=0) - datetime.timedelta(seconds=seconds)


class S3Case(drtest.EnvTestCase):
    """Each test starts from an empty moto with the primary buckets of the reference estate."""

    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="s3-", dir=self.env.tmpdir)
        self.s3 = self.env.client("s3", PRIMARY)
        self.s3dr = self.env.client("s3", DR)
        self.iam = self.env.client("iam", PRIMARY)
        self.seed_primary()

    def seed_primary(self):
        """The source buckets as the application has them before `dr-agent configure`."""
        self.env.seed("primary")
        for _, bucket, _ in RESOURCES:
            self.s3.head_bucket(Bucket=bucket)

    # ---- config and agent runs ----------------------------------------------------------------
    def conf(self, extra="", per_resource=None, resources=None, rpo="15m"):
        """A config with the reference estate's s3 resources; extra keys for all, or per resource name."""
        lines = []
        for name, bucket, dr_bucket in resources or RESOURCES:
            more = extra + (per_resource or {}).get(name, "")
            lines.append(f'  {{ type = "s3"; name = "{name}"; bucket = "{bucket}"; dr_bucket = "{dr_bucket}"; {more} }}')
        text = (
            "# s3 plugin integration test\n"
            f'objectives = {{ rto = "1h"; rpo = "{rpo}"; }};\n'
            'regions = { primary = "us-east-1"; dr = "us-west-2"; };\n'
            "aws = { max_attempts = 2; connect_timeout = \"2s\"; attempt_timeout = \"10s\"; };\n"
            f'agent = {{ state_dir = "{self.dir}"; concurrency = 4; hook_timeout = "2m"; }};\n'
            "resources = (\n" + ",\n".join(lines) + "\n);\n")
        path = os.path.join(self.dir, "dr-agent.conf")
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o600)
        return path

    def agent(self, command, *opts, extra="", per_resource=None, resources=None, rpo="15m", timeout=180):
        cmd = [os.environ["DR_AGENT_BIN"], "-c", self.conf(extra, per_resource, resources, rpo), command, *opts]
        if "--format" not in opts:
            cmd += ["--format", "json"]
        if command in ("failover", "failback"):
            cmd.append("--yes")
        res = self.env.run(cmd, timeout=timeout)
        if res.json is None:
            self.fail(f"no JSON report from {' '.join(cmd[3:])}: {res}")
        return res

    def configure(self, **kw):
        res = self.agent("configure", **kw)
        self.assertEqual(res.rc, 0, res)
        return res

    # ---- reading reports ----------------------------------------------------------------------
    @staticmethod
    def resource(res, rid):
        for r in res.json["resources"]:
            if r["id"] == rid:
                return r
        raise AssertionError(f"{rid} not in the report")

    def checks(self, res, rid):
        return {c["name"]: c for c in self.resource(res, rid)["checks"]}

    @staticmethod
    def statuses(res):
        return {(r["id"], c["name"]): c["status"] for r in res.json["resources"] for c in r["checks"]}

    @staticmethod
    def changes(res, rid=None):
        return [(r["id"], c["action"], c["target"], c["done"]) for r in res.json["resources"]
                for c in r["changes"] if rid is None or r["id"] == rid]

    def assert_all_ok(self, res, names=FORWARD_CHECKS):
        for rid in IDS:
            got = self.checks(res, rid)
            self.assertEqual(sorted(got), sorted(names), f"{rid}: checks reported")
            bad = {n: (c["status"], c["detail"]) for n, c in got.items() if c["status"] != "OK"}
            self.assertEqual(bad, {}, f"{rid}: not OK")
        self.assertEqual(res.json["status"], "OK")
        self.assertEqual(res.rc, 0)

    def assert_only(self, base, now_, expected, vanished=()):
        """Exactly the `expected` {(id, check): status} changed from base; `vanished` checks disappeared."""
        b, n = self.statuses(base), self.statuses(now_)
        changed = {k: v for k, v in n.items() if b.get(k) != v}
        self.assertEqual(changed, expected, "checks whose status changed")
        self.assertEqual(sorted(set(b) - set(n)), sorted(vanished), "checks no longer reported")
        self.assertEqual(sorted(set(n) - set(b)), [], "checks reported only now")

    # ---- CloudWatch -----------------------------------------------------------------------------
    def put_metrics(self, bucket, dr_bucket, rule=RULE, region=PRIMARY, latency=None, ops=None, nbytes=None,
                    at=None):
        """S3 replication metrics as S3 publishes them: in the source region, per rule."""
        dims = [{"Name": "SourceBucket", "Value": bucket}, {"Name": "DestinationBucket", "Value": dr_bucket},
                {"Name": "RuleId", "Value": rule}]
        data = []
        for name, value, unit in (("ReplicationLatency", latency, "Seconds"),
                                  ("OperationsPendingReplication", ops, "Count"),
                                  ("BytesPendingReplication", nbytes, "Bytes")):
            if value is not None:
                data.append({"MetricName": name, "Dimensions": dims, "Value": float(value), "Unit": unit,
                             "Timestamp": at or ago(1)})
        self.env.client("cloudwatch", region).put_metric_data(Namespace="AWS/S3", MetricData=data)

    def healthy_metrics(self, latency=12.0, age_minutes=1):
        """The test environment's seeding (one datapoint a minute, dimensions as S3 publishes them); a minute
        old by default, so that a test's own datapoint (put_metrics) is the newest."""
        written = self.env.put_lag_metrics(s3_latency_s=latency, s3_pending_ops=0, s3_pending_bytes=0,
                                           buckets=tuple(b for _, b, _ in RESOURCES), age_minutes=age_minutes)
        self.assertEqual({w[3]["RuleId"] for w in written}, {RULE}, "the plugin's default rule id")
        self.assertEqual({(w[3]["SourceBucket"], w[3]["DestinationBucket"]) for w in written},
                         {(b, d) for _, b, d in RESOURCES})

    # ---- S3 state -------------------------------------------------------------------------------
    def replication(self, bucket, region=PRIMARY):
        """The bucket's replication configuration as S3 answers it, or None."""
        client = self.s3 if region == PRIMARY else self.s3dr
        try:
            return client.get_bucket_replication(Bucket=bucket)["ReplicationConfiguration"]
        except client.exceptions.ClientError as e:
            if e.response["Error"]["Code"] == "ReplicationConfigurationNotFoundError":
                return None
            raise

    @staticmethod
    def rule(cfg, rule_id):
        for r in (cfg or {}).get("Rules", []):
            if r.get("ID") == rule_id:
                return r
        return None

    def versioning(self, bucket, region=PRIMARY):
        client = self.s3 if region == PRIMARY else self.s3dr
        return client.get_bucket_versioning(Bucket=bucket).get("Status", "Off")

    def keys_under(self, bucket, prefix, region=PRIMARY):
        """Every version and delete marker under prefix: what a canary could have left behind."""
        client = self.s3 if region == PRIMARY else self.s3dr
        got = client.list_object_versions(Bucket=bucket, Prefix=prefix)
        return [v["Key"] for v in got.get("Versions", []) + got.get("DeleteMarkers", [])]

    def bucket_exists(self, bucket):
        try:
            self.s3dr.head_bucket(Bucket=bucket)
            return True
        except self.s3dr.exceptions.ClientError:
            return False
