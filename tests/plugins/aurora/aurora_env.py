"""Shared helpers of the aurora plugin's integration tests: the estate, the PostgreSQL pair, metrics, agent runs.

The tests run inside `drenv run --pg`: moto behind the proxy, whose RDS bridge moves the PostgreSQL
pair (node a = us-east-1, node b = us-west-2) when the control plane promotes or attaches clusters.
"""
import datetime
import os
import subprocess
import sys
import tempfile
import time
import unittest

import drtest
import pgpair

PRIMARY, DR = drtest.PRIMARY, drtest.DR
CLUSTER = "roadcall-aurora-prod"
DR_CLUSTER = "roadcall-aurora-prod-replica"
GLOBAL = "roadcall-aurora-global"
PRIMARY_INSTANCE = "roadcall-aurora-prod-writer"  # made by seed_estate.py
RPO_S = 4  # small, so that a real data-plane lag can exceed it within a test
HEALTHY_LAG_MS = 200.0


READ_ONLY_CALLS = {"DescribeDBClusters", "DescribeDBInstances", "DescribeGlobalClusters", "GetMetricStatistics",
                   "GetCallerIdentity"}


def checks_of(report, rid="aurora.main"):
    """{check name: check} of one resource in a JSON report."""
    for r in report["resources"]:
        if r["id"] == rid:
            return {c["name"]: c for c in r["checks"]}
    raise AssertionError(f"{rid} not in the report")


def resource_of(report, rid="aurora.main"):
    for r in report["resources"]:
        if r["id"] == rid:
            return r
    raise AssertionError(f"{rid} not in the report")


def changes_of(report, rid="aurora.main"):
    return [(c["action"], c["done"]) for c in resource_of(report, rid)["changes"]]


class AuroraTestCase(drtest.EnvTestCase):
    """Each test starts from reset moto, the pair in its original roles (a primary, b standby), a fresh state dir."""

    needs_pg = True
    mode = "global"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        e = cls.env.environ
        cls.pair = pgpair.Pair(os.path.dirname(e["DR_TEST_PG_PASSWORD_FILE"]))
        cls.agent = os.environ["DR_AGENT_BIN"]
        cls.plugins = os.environ["DR_AGENT_PLUGIN_DIR"]

    def setUp(self):
        super().setUp()  # the proxy's reset also gives the pair back its roles and an empty database
        self.restore_pair()
        self.assert_not_superuser()
        self.tmp = tempfile.mkdtemp(prefix="aurora-test-")
        self.conf = self.write_conf()

    def tearDown(self):
        # A fenced node would make the next reset fail (it drops the database): leave the pair open.
        self.env.clear_faults()
        self.wait_settled()
        self.restore_pair()
        super().tearDown()

    # ---- the PostgreSQL pair ----------------------------------------------------------------
    @classmethod
    def restore_pair(cls):
        """a: writable primary; b: streaming standby of a; no fence, no apply delay, no test table rows."""
        p = cls.pair
        for n in ("a", "b"):
            if not p.running(n):
                p.start(n)
        if p.in_recovery("a"):
            p.promote("a")
        for n in ("a", "b"):
            p.sql(n, "ALTER SYSTEM RESET default_transaction_read_only; ALTER SYSTEM RESET recovery_min_apply_delay; "
                     "SELECT pg_reload_conf();")
        p.sql("a", "ALTER DATABASE roadcall RESET default_transaction_read_only;")
        p.make_standby("b", "a")
        if p.sql("b", "SELECT pg_is_wal_replay_paused()") == "t":
            p.sql("b", "SELECT pg_wal_replay_resume()")
        p.sql("a", "DROP TABLE IF EXISTS calls; CREATE TABLE calls (id bigint PRIMARY KEY, region text, "
                   "at timestamptz DEFAULT now()); ALTER TABLE calls OWNER TO dr;", db="roadcall")
        p.wait_streaming("b", "a")

    def assert_not_superuser(self):
        """Aurora's permission model holds on both nodes: `dr` is a member of rds_superuser, not a superuser, and
        what needs a superuser (ALTER SYSTEM, pg_reload_conf()) is refused to it."""
        deadline = time.monotonic() + 20
        while self.psql("b", "SELECT 1", check=False)[0] != 0:  # the database the reset made, not replayed yet
            self.assertLess(time.monotonic(), deadline, "node b never got the test database")
            time.sleep(0.05)
        for node in ("a", "b"):
            self.assertEqual(self.psql(node, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user")[1], "f")
            self.assertEqual(self.psql(node, "SELECT pg_has_role('rds_superuser', 'member')")[1], "t")
            rc, _, err = self.psql(node, "SELECT pg_reload_conf()", check=False)
            self.assertNotEqual(rc, 0)
            self.assertIn("permission denied", err)
        rc, _, err = self.psql("a", "ALTER SYSTEM SET default_transaction_read_only = on", check=False)
        self.assertNotEqual(rc, 0)
        self.assertIn("permission denied", err)

    def writable(self, node):
        """Does a new session of `dr` on the node take a write (not a standby, not fenced)?"""
        rc, _, _ = self.psql(node, "BEGIN; CREATE TEMPORARY TABLE probe (x int) ON COMMIT DROP; ROLLBACK;",
                             check=False)
        return rc == 0

    def assert_one_writer(self, node):
        """Exactly one node takes writes, and it is `node`."""
        self.assertEqual({n: self.writable(n) for n in ("a", "b")}, {"a": node == "a", "b": node == "b"},
                         f"node {node} should be the only writer")

    def psql(self, node, sql, check=True):
        """SQL as the plugin's user `dr` on node a (us-east-1) or b (us-west-2); returns (rc, stdout, stderr)."""
        role = "PRIMARY" if node == "a" else "STANDBY"
        dsn = self.env.environ[f"DR_TEST_PG_{role}_DSN"]
        r = subprocess.run([os.path.join(pgpair.bindir(), "psql"), "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1",
                            dsn, "-c", sql], capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError(f"psql on {node}: {sql}: {r.stderr}")
        return r.returncode, r.stdout.strip(), r.stderr.strip()

    def write_rows(self, node, first, n, region):
        self.psql(node, f"INSERT INTO calls (id, region) SELECT g, '{region}' FROM generate_series({first}, "
                        f"{first + n - 1}) g")

    def rows(self, node, where="true"):
        return int(self.psql(node, f"SELECT count(*) FROM calls WHERE {where}")[1])

    def wait_row(self, node, row_id, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            # a node being rebuilt as a secondary is down for a moment
            rc, out, _ = self.psql(node, f"SELECT count(*) FROM calls WHERE id = {row_id}", check=False)
            if rc == 0 and out == "1":
                return
            time.sleep(0.05)
        raise AssertionError(f"row {row_id} never appeared on node {node}")

    def superuser(self, node, sql, db="postgres"):
        return self.pair.sql(node, sql, db=db)

    # ---- the estate ---------------------------------------------------------------------------
    def write_conf(self, extra="", rpo=RPO_S, mode=None, **over):
        e = self.env.environ
        keys = {
            "mode": f'"{mode or self.mode}"', "cluster": f'"{CLUSTER}"', "dr_cluster": f'"{DR_CLUSTER}"',
            "global_cluster": f'"{GLOBAL}"', "engine_version": '"15.4"', "min_capacity": "0.5",
            "max_capacity": "16.0", "poll_interval": '"200ms"', "lag_probe_time": '"2s"',
            "pg_primary_host": f'"{e["DR_TEST_PG_PRIMARY_HOST"]}"', "pg_primary_port": e["DR_TEST_PG_PRIMARY_PORT"],
            "pg_dr_host": f'"{e["DR_TEST_PG_STANDBY_HOST"]}"', "pg_dr_port": e["DR_TEST_PG_STANDBY_PORT"],
            "pg_database": '"roadcall"', "pg_user": '"dr"', "pg_password_file": f'"{e["DR_TEST_PG_PASSWORD_FILE"]}"',
            "pg_sslmode": '"disable"', "pg_timeout": '"5s"',
        }
        keys.update({k: v for k, v in over.items() if v is not None})
        for k in [k for k, v in over.items() if v is None]:
            keys.pop(k, None)
        body = "\n    ".join(f"{k} = {v};" for k, v in keys.items())
        text = f"""# aurora integration test
objectives = {{ rto = "1h"; rpo = "{rpo}s"; }};
regions = {{ primary = "{PRIMARY}"; dr = "{DR}"; }};
aws = {{ max_attempts = 2; }};
agent = {{ state_dir = "{self.tmp}/state"; hook_timeout = "3m"; }};
resources = (
  {{
    type = "aurora"; name = "main";
    {body}
    {extra}
  }}
);
"""
        path = os.path.join(self.tmp, "dr-agent.conf")
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o600)
        return path

    def seed_primary(self):
        """The primary-side reference estate (tests/env/seed_estate.py): roadcall-aurora-prod, Aurora PostgreSQL
        15.4, Serverless v2 0.5-16 ACUs, its db.serverless writer; nothing in the DR region."""
        if not self.env.auth:
            self.env.seed()
            return
        # Under --auth moto refuses the seed's (correctly signed) Route 53 calls: build the Aurora part alone.
        rds = self.env.client("rds", PRIMARY)
        rds.create_db_cluster(DBClusterIdentifier=CLUSTER, Engine="aurora-postgresql", EngineVersion="15.4",
                              MasterUsername="postgres", MasterUserPassword="seed-only-not-a-secret",
                              DatabaseName="roadcall",
                              ServerlessV2ScalingConfiguration={"MinCapacity": 0.5, "MaxCapacity": 16})
        rds.create_db_instance(DBInstanceIdentifier=PRIMARY_INSTANCE, DBClusterIdentifier=CLUSTER,
                               Engine="aurora-postgresql", DBInstanceClass="db.serverless")

    def put_lag(self, ms, age_s=5):
        """A lag datapoint for the DR cluster (both metric names), `age_s` seconds old."""
        cw = self.env.client("cloudwatch", DR)
        at = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=age_s)
        cw.put_metric_data(Namespace="AWS/RDS", MetricData=[
            {"MetricName": m, "Dimensions": [{"Name": "DBClusterIdentifier", "Value": DR_CLUSTER}],
             "Value": float(ms), "Unit": "Milliseconds", "Timestamp": at}
            for m in ("AuroraGlobalDBReplicationLag", "AuroraGlobalDBRPOLag")])

    def clear_automated_snapshots(self):
        """moto names a new cluster's automated snapshot by the minute: re-creating a cluster name within the
        same minute (failback does) then collides. Real RDS has no such clash; clear them in moto itself."""
        for region in (PRIMARY, DR):
            m = self.env.moto_client("rds", region)
            for s in m.describe_db_cluster_snapshots(SnapshotType="automated")["DBClusterSnapshots"]:
                m.delete_db_cluster_snapshot(DBClusterSnapshotIdentifier=s["DBClusterSnapshotIdentifier"])

    def cluster(self, region, ident, moto=False):
        c = (self.env.moto_client("rds", region) if moto else self.env.client("rds", region))
        try:
            return c.describe_db_clusters(DBClusterIdentifier=ident)["DBClusters"][0]
        except c.exceptions.DBClusterNotFoundFault:
            return None

    def global_cluster(self):
        gcs = self.env.client("rds", PRIMARY).describe_global_clusters(GlobalClusterIdentifier=GLOBAL)
        return gcs["GlobalClusters"][0]

    def writer_arn(self):
        return [m["DBClusterArn"] for m in self.global_cluster()["GlobalClusterMembers"] if m["IsWriter"]][0]

    def wait_settled(self, timeout=30):
        """Let a rebuild the emulation runs in the background (an old primary rejoining) finish before the test
        touches the nodes itself."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                gcs = self.env.client("rds", PRIMARY).describe_global_clusters()["GlobalClusters"]
            except Exception:  # noqa: BLE001 - nothing to wait for
                return
            if not any(m.get("SynchronizationStatus") == "pending-resync"
                       for g in gcs for m in g["GlobalClusterMembers"]):
                return
            time.sleep(0.2)

    def wait_connected(self, ident_arn, timeout=60):
        """Wait until the member's SynchronizationStatus is connected (Aurora rebuilt an old primary)."""
        deadline = time.monotonic() + timeout
        while True:
            sync = {m["DBClusterArn"]: m.get("SynchronizationStatus")
                    for m in self.global_cluster()["GlobalClusterMembers"]}
            if sync.get(ident_arn) == "connected":
                return
            self.assertLess(time.monotonic(), deadline, f"{ident_arn} never rejoined: {sync}")
            time.sleep(0.2)

    def arn(self, region, ident):
        return f"arn:aws:rds:{region}:{self.env.account_id}:cluster:{ident}"

    def rds_snapshot(self):
        """What the control plane holds, to prove a command changed nothing."""
        out = {}
        for region in (PRIMARY, DR):
            c = self.env.moto_client("rds", region)
            out[region] = sorted((x["DBClusterIdentifier"], x["Status"], x.get("ReplicationSourceIdentifier"))
                                 for x in c.describe_db_clusters()["DBClusters"])
            out[region + "/instances"] = sorted(i["DBInstanceIdentifier"] for i in c.describe_db_instances()["DBInstances"])
        gcs = self.env.moto_client("rds", PRIMARY).describe_global_clusters()["GlobalClusters"]
        out["global"] = sorted((g["GlobalClusterIdentifier"], tuple(sorted(m["DBClusterArn"] for m in g["GlobalClusterMembers"])))
                               for g in gcs)
        out["pg"] = {n: v["role"] for n, v in self.pair.status().items()}
        return out

    # ---- the agent ----------------------------------------------------------------------------
    def run_agent(self, *args, conf=None, timeout=300):
        cmd = [self.agent, "-c", conf or self.conf, "--plugin-dir", self.plugins] + list(args)
        return self.env.run(cmd, timeout=timeout)

    def agent_json(self, *args, expect=None, conf=None):
        r = self.run_agent(*args, "--format", "json", conf=conf)
        self.assertIsNotNone(r.json, f"no JSON report: {r}")
        if expect is not None:
            self.assertEqual(r.rc, expect, f"{args}: {r.stdout[-3000:]} {r.stderr[-3000:]}")
        return r.json

    def configure(self):
        self.seed_primary()
        rep = self.agent_json("configure", expect=0)
        self.assertEqual(resource_of(rep)["status"], "done", rep)
        self.put_lag(HEALTHY_LAG_MS)

    def verify(self, *extra, expect=None):
        t0 = time.time()
        rep = self.agent_json("verify", *extra, expect=expect)
        calls = {r["operation"] for r in self.env.requests() if r["time"] >= t0}
        self.assertTrue(calls <= READ_ONLY_CALLS, f"verify made changing calls: {calls - READ_ONLY_CALLS}")
        return rep

    def assert_all_ok(self, rep, expected_names):
        checks = checks_of(rep)
        self.assertEqual(set(checks), set(expected_names), rep)
        bad = {n: (c["status"], c["observed"], c["detail"]) for n, c in checks.items() if c["status"] != "OK"}
        self.assertEqual(bad, {}, "not all checks OK")
        for c in checks.values():  # every check carries its evidence
            for k in ("status", "observed", "threshold", "unit", "detail"):
                self.assertIn(k, c)
            self.assertIsNotNone(c["detail"])
        self.assertEqual(rep["status"], "OK")

    def assert_only(self, healthy, broken, changed, absent=(), status=None):
        """Exactly the checks in `changed` moved (to `status` when given); `absent` were left out; the rest kept theirs."""
        h, b = checks_of(healthy), checks_of(broken)
        for name in changed:
            self.assertIn(name, b, f"{name} missing from {sorted(b)}")
            if status:
                self.assertEqual(b[name]["status"], status, f"{name}: {b[name]}")
            self.assertNotEqual(b[name]["status"], h[name]["status"], f"{name} did not change: {b[name]}")
        self.assertEqual(set(h) - set(b), set(absent), "unexpected checks left out")
        others = {n: (h[n]["status"], b[n]["status"], b[n]["detail"]) for n in b
                  if n in h and n not in changed and b[n]["status"] != h[n]["status"]}
        self.assertEqual(others, {}, "other checks changed status")


class VerifyCases:
    """verify in the healthy case and each broken case; the test class gives healthy_checks, lag_metric, detach()."""

    def healthy(self):
        self.configure()
        rep = self.verify(expect=0)
        self.assert_all_ok(rep, self.healthy_checks)
        return rep

    def test_healthy(self):
        rep = self.healthy()
        c = checks_of(rep)
        self.assertEqual(c["replication_lag"]["observed"], HEALTHY_LAG_MS / 1000)
        self.assertEqual(c["replication_lag"]["threshold"], RPO_S)
        self.assertEqual(c["replication_lag"]["unit"], "seconds")
        self.assertEqual(c["dp_replay_lag_bytes"]["unit"], "bytes")
        self.assertEqual(c["dr_replication_source"]["observed"], self.arn(PRIMARY, CLUSTER))
        self.assertIn(self.lag_metric, c["replication_lag"]["detail"])
        self.assertAlmostEqual(resource_of(rep)["rpo_observed_seconds"], HEALTHY_LAG_MS / 1000)
        # the text and Nagios forms agree
        r = self.run_agent("verify", "--format", "nagios")
        self.assertEqual(r.rc, 0, r)
        self.assertTrue(r.stdout.startswith("DR OK"), r.stdout)

    def test_dr_cluster_missing(self):
        healthy = self.healthy()
        rds = self.env.client("rds", DR)
        for m in self.cluster(DR, DR_CLUSTER)["DBClusterMembers"]:
            rds.delete_db_instance(DBInstanceIdentifier=m["DBInstanceIdentifier"], SkipFinalSnapshot=True)
        rds.delete_db_cluster(DBClusterIdentifier=DR_CLUSTER, SkipFinalSnapshot=True)
        broken = self.verify(expect=2)
        self.assert_only(healthy, broken, ["dr_cluster_status"], status="CRITICAL",
                         absent=["dr_replication_source", "dr_instance_status", "dr_capacity", "replication_lag"])
        self.assertEqual(checks_of(broken)["dr_cluster_status"]["observed"], "not found")

    def test_dr_cluster_not_attached(self):
        healthy = self.healthy()
        observed = self.detach()
        broken = self.verify(expect=2)
        self.assert_only(healthy, broken, ["dr_replication_source"], status="CRITICAL")
        self.assertEqual(checks_of(broken)["dr_replication_source"]["observed"], observed)

    def test_lag_metric_above_rpo(self):
        healthy = self.healthy()
        self.put_lag((RPO_S + 5) * 1000, age_s=3)
        broken = self.verify(expect=2)
        self.assert_only(healthy, broken, ["replication_lag"], status="CRITICAL")
        self.assertEqual(checks_of(broken)["replication_lag"]["observed"], RPO_S + 5)
        self.assertEqual(resource_of(broken)["rpo_observed_seconds"], RPO_S + 5)

    def test_lag_metric_warning(self):
        healthy = self.healthy()
        self.put_lag(RPO_S * 0.75 * 1000, age_s=3)
        broken = self.verify(expect=1)
        self.assert_only(healthy, broken, ["replication_lag"], status="WARNING")

    def test_data_plane_lag_above_rpo(self):
        healthy = self.healthy()
        # the DR node applies WAL (RPO + 3) s late: real lag, while the metric still says 200 ms
        self.superuser("b", f"ALTER SYSTEM SET recovery_min_apply_delay = '{RPO_S + 3}s'; SELECT pg_reload_conf();")
        time.sleep(0.5)
        self.write_rows("a", 1, 10, "east")
        time.sleep(RPO_S + 1)  # Aurora's rpo_lag_in_msec grows while the commit is not yet on the DR side
        broken = self.verify(expect=2)
        self.assert_only(healthy, broken, ["dp_replay_lag"], status="CRITICAL")
        c = checks_of(broken)
        # the WAL is durable in the DR region (highest_lsn_written level), the commits not yet visible there
        self.assertEqual(c["dp_replay_lag_bytes"]["status"], "OK")
        self.assertGreater(c["dp_replay_lag"]["observed"], RPO_S)  # rpo_lag_in_msec as the writer reports it
        self.assertEqual(c["dp_replay_lag"]["threshold"], RPO_S)
        self.assertGreater(resource_of(broken)["rpo_observed_seconds"], RPO_S)

    def test_dr_side_writable_split_brain(self):
        healthy = self.healthy()
        self.pair.promote("b")  # behind the control plane's back
        broken = self.verify(expect=2)
        self.assert_only(healthy, broken, ["dp_dr_read_only"], status="CRITICAL",
                         absent=["dp_streaming", "dp_replay_lag_bytes", "dp_replay_lag"])
        c = checks_of(broken)["dp_dr_read_only"]
        self.assertEqual(c["observed"], "writable")
        self.assertIn("split brain", c["detail"])

    def test_primary_unreachable(self):
        healthy = self.healthy()
        self.env.add_fault(region=PRIMARY, action="unreachable")
        self.pair.stop("a")
        try:
            broken = self.verify(expect=3)
        finally:
            self.env.clear_faults()
            self.pair.start("a")
        self.assert_only(healthy, broken, ["primary_cluster_status", "primary_writer_status", "dp_primary_writable",
                                           "dp_streaming", "dp_replay_lag_bytes", "dp_replay_lag", "retired_clusters"],
                         status="UNKNOWN")
        self.assertEqual(broken["status"], "UNKNOWN")
        for name in ("primary_cluster_status", "dp_primary_writable"):
            self.assertIsNone(checks_of(broken)[name]["observed"])
            self.assertTrue(checks_of(broken)[name]["detail"])

    def test_dr_region_unreachable(self):
        healthy = self.healthy()
        self.env.add_fault(region=DR, action="unreachable")
        broken = self.verify(expect=3)
        self.assert_only(healthy, broken, ["dr_cluster_status", "dr_replication_source", "dr_instance_status",
                                           "dr_capacity", "replication_lag", "retired_clusters"], status="UNKNOWN")

    def test_no_lag_metric_is_unknown(self):
        self.seed_primary()
        self.agent_json("configure", expect=0)
        rep = self.verify(expect=3)
        c = checks_of(rep)["replication_lag"]
        self.assertEqual(c["status"], "UNKNOWN")
        self.assertIn(f"no {self.lag_metric} datapoint", c["detail"])


def main():
    unittest.main(verbosity=2)


if __name__ == "__main__":
    sys.exit("a helper module; run the test_aurora_*.py scripts")
