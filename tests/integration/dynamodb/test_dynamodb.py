#!/usr/bin/env python3
"""Integration tests of the dynamodb plugin (configure, verify, failover, failback) against moto and the test proxy."""
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

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


def rid_of(table):
    return next(r for r, t in TABLES.items() if t == table)


def statuses(report):
    """{(resource id, check name): status} of a verify (or hook) JSON report."""
    return {(r["id"], c["name"]): c["status"] for r in report["resources"] for c in r["checks"]}


def checks(report, rid):
    return {c["name"]: c for c in resource(report, rid)["checks"]}


def resource(report, rid):
    return next(r for r in report["resources"] if r["id"] == rid)


class DynamoDBPlugin(drtest.EnvTestCase):
    def setUp(self):
        super().setUp()
        self.assertEqual(len(RESOURCES), 5, "the reference estate has five tables")
        self.tmp = tempfile.mkdtemp(prefix="dynamodb-", dir=self.env.tmpdir)
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.ddb = {r: self.env.client("dynamodb", r) for r in (P, D)}
        self.cw = {r: self.env.client("cloudwatch", r) for r in (P, D)}
        for table in TABLES.values():  # the primary side as the application deploys it
            self.ddb[P].create_table(TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                                     BillingMode="PAY_PER_REQUEST")
        self.conf = self.write_conf()
        self.env.clear_requests()

    # ---- helpers ------------------------------------------------------------------------------
    def write_conf(self, extra='poll_interval = "200ms"; canary_key = "pk=dr-agent-canary";', hook_timeout="2m",
                   lines=RESOURCE_LINES):
        res = ",\n".join("  " + line.rstrip("}").rstrip().rstrip(";") + "; " + extra + " }" for line in lines)
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
        self.put_latency(850, ago=90)
        self.put_latency(850)
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

    # ---- configure ----------------------------------------------------------------------------
    def test_configure_plan_apply_idempotent(self):
        plan = self.report("configure", "--plan", expect=PLAN_CHANGES)
        self.assertEqual(plan["status"], "planned")
        for rid, table in TABLES.items():
            r = resource(plan, rid)
            self.assertEqual(r["status"], "planned")
            got = [(c["action"], c["target"], c["done"]) for c in r["changes"]]
            self.assertEqual(got, [("enable stream", f"{table} in {P}", False),
                                   ("add replica", f"{table} in {D}", False),
                                   ("enable point-in-time recovery", f"{table} in {P}", False),
                                   ("enable point-in-time recovery", f"{table} in {D}", False)])
        self.assertPrimaryUntouched()
        self.assertEqual({r["operation"] for r in self.env.requests()}, {"DescribeTable", "DescribeContinuousBackups"})

        done = self.report("configure", expect=0)
        self.assertEqual(done["status"], "done")
        for rid, table in TABLES.items():
            r = resource(done, rid)
            self.assertEqual(r["status"], "done")
            self.assertEqual([c["done"] for c in r["changes"]], [True] * 4, r)
            t = self.table(P, table)
            self.assertEqual(t["StreamSpecification"], {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
            self.assertEqual(t["GlobalTableVersion"], "2019.11.21")
            self.assertEqual(t["Replicas"], [{"RegionName": D, "ReplicaStatus": "ACTIVE"}])
            self.assertEqual(self.table(D, table)["TableStatus"], "ACTIVE")
            for region in (P, D):
                p = self.pitr(region, table)
                self.assertEqual((p["PointInTimeRecoveryStatus"], p["RecoveryPeriodInDays"]), ("ENABLED", 35))

        again = self.report("configure", expect=0)
        self.assertEqual(again["status"], "unchanged")
        for rid in TABLES:
            self.assertEqual((resource(again, rid)["status"], resource(again, rid)["changes"]), ("unchanged", []))
        plan = self.report("configure", "--plan", expect=0)
        self.assertEqual(plan["status"], "unchanged")

    def test_configure_plans_only_what_is_missing(self):
        self.report("configure", expect=0)
        t = TABLES["dynamodb.vendors"]
        self.ddb[D].update_continuous_backups(TableName=t, PointInTimeRecoverySpecification={
            "PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": 7})
        plan = self.report("configure", "--plan", expect=PLAN_CHANGES)
        self.assertEqual([(r["id"], [(c["action"], c["target"]) for c in r["changes"]]) for r in plan["resources"]
                          if r["changes"]],
                         [("dynamodb.vendors", [("set point-in-time recovery period", f"{t} in {D}")])])
        self.assertEqual(self.pitr(D, t)["RecoveryPeriodInDays"], 7)
        self.report("configure", expect=0)
        self.assertEqual(self.pitr(D, t)["RecoveryPeriodInDays"], 35)

    def test_configure_waits_for_the_replica_with_progress(self):
        self.env.set_duration("UpdateTable", 1.5)
        res = self.agent("configure", "-r", "dynamodb.users", expect=0)  # text output: progress lines on stderr
        self.assertGreaterEqual(res.seconds, 1.5)
        self.assertRegex(res.stderr, r"waiting for the replica of roadcall-users-prod in us-west-2: replica CREATING")
        self.assertEqual(self.table(P, TABLES["dynamodb.users"])["Replicas"][0]["ReplicaStatus"], "ACTIVE")
        self.assertEqual(self.pitr(D, TABLES["dynamodb.users"])["PointInTimeRecoveryStatus"], "ENABLED")

    def test_configure_deadline_then_resume(self):
        self.env.set_duration("UpdateTable", 4)
        res = self.report("configure", "-r", "dynamodb.users", "--timeout", "1s", expect=1)
        r = resource(res, "dynamodb.users")
        self.assertEqual(r["status"], "failed")
        self.assertEqual([(c["action"], c["done"], c.get("failed")) for c in r["changes"]],
                         [("enable stream", True, None), ("add replica", False, True)])
        self.assertIn("deadline", r["error"])
        self.assertEqual(self.table(P, TABLES["dynamodb.users"])["Replicas"][0]["ReplicaStatus"], "CREATING")
        # the next run finds the replica being created, waits for it and finishes the job
        res = self.report("configure", "-r", "dynamodb.users", expect=0)
        r = resource(res, "dynamodb.users")
        self.assertEqual([c["action"] for c in r["changes"]],
                         ["enable point-in-time recovery", "enable point-in-time recovery"])
        self.assertEqual(len(self.env.requests(operation="UpdateTable", region=P)), 2)  # stream, replica: once each

    def test_configure_refuses_a_lone_table_in_the_dr_region(self):
        t = TABLES["dynamodb.incidents"]
        self.ddb[D].create_table(TableName=t, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                                 AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                                 BillingMode="PAY_PER_REQUEST")
        self.ddb[D].put_item(TableName=t, Item={"pk": {"S": "precious"}})
        rep = self.report("configure", expect=1)
        r = resource(rep, "dynamodb.incidents")
        self.assertEqual(r["status"], "failed")
        self.assertIn("is not a replica", r["error"])
        self.assertIn({"action": "add replica", "target": f"{t} in {D}", "done": False, "failed": True,
                       "detail": f"a table {t} already exists in {D} and is not a replica"}, r["changes"])
        self.assertIn("Item", self.ddb[D].get_item(TableName=t, Key={"pk": {"S": "precious"}}))
        self.assertEqual(resource(rep, "dynamodb.users")["status"], "done")  # the others go on

    def test_configure_missing_table_fails(self):
        self.ddb[P].delete_table(TableName=TABLES["dynamodb.vendors"])
        rep = self.report("configure", expect=1)
        self.assertIn("does not exist in us-east-1", resource(rep, "dynamodb.vendors")["error"])
        self.assertEqual(resource(rep, "dynamodb.vendors")["status"], "failed")

    def test_config_validation(self):
        for extra, message in (('latency_period = "90s";', "latency_period must be a multiple of 60 seconds"),
                               ('latency_window = "30s";', "latency_window must be at least latency_period"),
                               ('canary_key = "pk";', "'pk' is not attribute=value"),
                               ('canary_key = "a=1,b=2,c=3";', "at most a hash key and a range key"),
                               ('pitr_recovery_days = 40;', "pitr_recovery_days must be between 1 and 35"),
                               ('latency_warning_fraction = 1.5;', "latency_warning_fraction must be above 0"),
                               ('latency_statistic = "p99";', "'p99' is not one of Maximum|Average"),
                               ('pitr_max_age = "soon";', "pitr_max_age")):
            self.conf = self.write_conf(extra=extra)
            res = self.agent("verify", expect=78)
            self.assertIn(message, res.stderr)
            self.assertEqual(res.stderr.count(message), 5, res.stderr)  # every resource is named
        self.conf = self.write_conf(lines=['{ type = "dynamodb"; name = "bad"; table = "no spaces allowed"; }'], extra="")
        self.assertIn("is not a DynamoDB table name", self.agent("verify", expect=78).stderr)
        self.assertEqual(self.env.requests(), [])  # nothing ran

    # ---- verify -------------------------------------------------------------------------------
    def test_verify_healthy(self):
        rep = self.configured()
        self.assertEqual(rep["status"], "OK")
        for rid, table in TABLES.items():
            c = checks(rep, rid)
            self.assertEqual(list(c), ["table_primary", "table_dr", "stream_enabled", "replica_dr", "pitr_primary",
                                       "pitr_dr", "replication_latency"])
            for ck in c.values():
                self.assertEqual(set(ck), {"name", "status", "observed", "threshold", "unit", "detail"})
                self.assertTrue(ck["detail"])
            self.assertEqual((c["table_primary"]["observed"], c["table_primary"]["threshold"]), ("ACTIVE", "ACTIVE"))
            self.assertEqual(c["stream_enabled"]["observed"], "NEW_AND_OLD_IMAGES")
            self.assertEqual(c["replica_dr"]["observed"], "ACTIVE")
            for name in ("pitr_primary", "pitr_dr"):
                self.assertEqual((c[name]["unit"], c[name]["threshold"]), ("seconds", 900))
                self.assertLess(c[name]["observed"], 120)
            lat = c["replication_latency"]
            self.assertEqual((lat["observed"], lat["threshold"], lat["unit"]), (0.85, RPO, "seconds"))
            self.assertEqual(resource(rep, rid)["rpo_observed_seconds"], 0.85)
            self.assertIn(table, lat["detail"])
        # read-only: nothing but reads went out
        self.env.clear_requests()
        self.report("verify", expect=OK)
        ops = {(r["service"], r["operation"]) for r in self.env.requests()}
        self.assertEqual(ops, {("dynamodb", "DescribeTable"), ("dynamodb", "DescribeContinuousBackups"),
                               ("monitoring", "GetMetricStatistics")})

    def test_broken_stream_disabled(self):
        before = statuses(self.configured())
        t = TABLES["dynamodb.users"]
        self.ddb[P].update_table(TableName=t, StreamSpecification={"StreamEnabled": False})
        rep = self.report("verify", expect=CRITICAL)
        self.assertChanged(before, statuses(rep), {("dynamodb.users", "stream_enabled"): "CRITICAL"})
        self.assertEqual(checks(rep, "dynamodb.users")["stream_enabled"]["observed"], "DISABLED")
        # configure plans to repair it (moto refuses to enable a stream a second time, so only the plan is checked)
        plan = self.report("configure", "--plan", expect=PLAN_CHANGES)
        self.assertEqual([(r["id"], [c["action"] for c in r["changes"]]) for r in plan["resources"] if r["changes"]],
                         [("dynamodb.users", ["enable stream"])])

    def test_broken_pitr_disabled_in_dr(self):
        before = statuses(self.configured())
        t = TABLES["dynamodb.incidents"]
        self.ddb[D].update_continuous_backups(TableName=t, PointInTimeRecoverySpecification={
            "PointInTimeRecoveryEnabled": False})
        rep = self.report("verify", expect=CRITICAL)
        self.assertChanged(before, statuses(rep), {("dynamodb.incidents", "pitr_dr"): "CRITICAL"})
        c = checks(rep, "dynamodb.incidents")["pitr_dr"]
        self.assertIsNone(c["observed"])
        self.assertIn("DISABLED", c["detail"])
        self.assertIn(D, c["detail"])

    def test_broken_pitr_disabled_in_primary(self):
        before = statuses(self.configured())
        self.ddb[P].update_continuous_backups(TableName=TABLES["dynamodb.vendors"],
                                              PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False})
        rep = self.report("verify", expect=CRITICAL)
        self.assertChanged(before, statuses(rep), {("dynamodb.vendors", "pitr_primary"): "CRITICAL"})

    def test_broken_pitr_stale(self):
        self.conf = self.write_conf(extra='pitr_max_age = "1s";')
        self.report("configure", expect=0)
        self.put_latency(850)
        time.sleep(2.1)  # moto keeps LatestRestorableDateTime at the time PITR was enabled
        rep = self.report("verify", expect=CRITICAL)
        for rid in TABLES:
            c = checks(rep, rid)
            self.assertEqual((c["pitr_primary"]["status"], c["pitr_dr"]["status"]), ("CRITICAL", "CRITICAL"))
            self.assertGreater(c["pitr_dr"]["observed"], 1)
            self.assertEqual(c["pitr_dr"]["threshold"], 1)

    def test_broken_replica_missing_in_dr(self):
        before = statuses(self.configured())
        t = TABLES["dynamodb.tracking-sessions"]
        self.env.remove_replica(t, D)  # the replica and its table are gone
        rep = self.report("verify", expect=CRITICAL)
        rid = "dynamodb.tracking-sessions"
        self.assertChanged(before, statuses(rep), {(rid, "replica_dr"): "CRITICAL", (rid, "table_dr"): "CRITICAL",
                                                   (rid, "pitr_dr"): "CRITICAL"})
        c = checks(rep, rid)
        self.assertEqual((c["replica_dr"]["observed"], c["table_dr"]["observed"]), ("MISSING", "MISSING"))

    def test_broken_replica_not_listed(self):
        before = statuses(self.configured())
        self.env.remove_replica(TABLES["dynamodb.call-records"], D, keep_table=True)  # a lone table is left
        rep = self.report("verify", expect=CRITICAL)
        self.assertChanged(before, statuses(rep), {("dynamodb.call-records", "replica_dr"): "CRITICAL"})
        self.assertIn("lists no replica in us-west-2", checks(rep, "dynamodb.call-records")["replica_dr"]["detail"])

    def test_replica_states(self):
        before = statuses(self.configured())
        self.env.set_replica(TABLES["dynamodb.users"], D, "UPDATING")
        self.env.set_replica(TABLES["dynamodb.vendors"], D, "REPLICATION_NOT_AUTHORIZED",
                             description="the replication role was denied")
        rep = self.report("verify", expect=CRITICAL)
        self.assertChanged(before, statuses(rep), {("dynamodb.users", "replica_dr"): "WARNING",
                                                   ("dynamodb.vendors", "replica_dr"): "CRITICAL"})
        self.assertIn("the replication role was denied", checks(rep, "dynamodb.vendors")["replica_dr"]["detail"])
        # configure cannot repair a failed replica, and its plan says so
        plan = self.report("configure", "--plan", expect=1)
        self.assertIn("REPLICATION_NOT_AUTHORIZED: it needs an operator", resource(plan, "dynamodb.vendors")["error"])
        self.assertEqual(resource(plan, "dynamodb.users")["status"], "unchanged")  # UPDATING: nothing to do

    def test_failover_waits_for_a_replica_being_created(self):
        self.configured()
        t = TABLES["dynamodb.users"]
        self.env.remove_replica(t, D)
        self.env.set_duration("UpdateTable", 1.5)
        self.ddb[P].update_table(TableName=t, ReplicaUpdates=[{"Create": {"RegionName": D}}])
        self.assertEqual(self.table(D, t)["TableStatus"], "CREATING")
        res = self.agent("failover", "--yes", "-r", "dynamodb.users", expect=0)
        self.assertRegex(res.stderr, r"waiting for roadcall-users-prod in us-west-2 to be ACTIVE: table CREATING")
        self.assertEqual(self.table(D, t)["TableStatus"], "ACTIVE")

    def test_failover_to_an_updating_replica_warns(self):
        self.configured()
        # the DR table is UPDATING while a third replica is being added: it still takes writes
        t = TABLES["dynamodb.users"]
        self.env.set_duration("UpdateTable", 30)
        self.ddb[P].update_table(TableName=t, ReplicaUpdates=[{"Create": {"RegionName": "eu-west-1"}}])
        self.assertEqual(self.table(D, t)["TableStatus"], "UPDATING")
        rep = self.report("failover", "--yes", "-r", "dynamodb.users", expect=0)
        c = checks(rep, "dynamodb.users")["replica_dr"]
        self.assertEqual((c["status"], c["observed"]), ("WARNING", "UPDATING"))
        self.assertEqual(resource(rep, "dynamodb.users")["status"], "done")

    def test_broken_latency_above_rpo(self):
        before = statuses(self.configured())
        self.put_latency(1_200_000, table=TABLES["dynamodb.call-records"], ago=200)  # 20 minutes > RPO 15 minutes
        self.put_latency(400_000, table=TABLES["dynamodb.users"], ago=200)  # 400 s: under half the RPO
        self.put_latency(600_000, table=TABLES["dynamodb.vendors"], ago=200)  # 600 s: above half the RPO
        rep = self.report("verify", expect=CRITICAL)
        self.assertChanged(before, statuses(rep), {("dynamodb.call-records", "replication_latency"): "CRITICAL",
                                                   ("dynamodb.vendors", "replication_latency"): "WARNING"})
        self.assertEqual(checks(rep, "dynamodb.call-records")["replication_latency"]["observed"], 1200)
        self.assertEqual(resource(rep, "dynamodb.call-records")["rpo_observed_seconds"], 1200)
        self.assertEqual(resource(rep, "dynamodb.users")["rpo_observed_seconds"], 400)
        self.assertEqual(rep["rpo_observed_seconds"], 1200)

    def test_broken_table_missing(self):
        before = statuses(self.configured())
        self.ddb[P].delete_table(TableName=TABLES["dynamodb.incidents"])
        rep = self.report("verify", expect=CRITICAL)
        rid = "dynamodb.incidents"
        # no table: no stream, no replica to list, nothing to restore
        self.assertChanged(before, statuses(rep), {(rid, "table_primary"): "CRITICAL", (rid, "stream_enabled"): "CRITICAL",
                                                   (rid, "replica_dr"): "CRITICAL", (rid, "pitr_primary"): "CRITICAL"})
        self.assertEqual(checks(rep, rid)["table_primary"]["observed"], "MISSING")

    def test_verify_no_datapoints_is_unknown(self):
        self.report("configure", expect=0)
        self.put_latency(850, table=TABLES["dynamodb.users"])
        rep = self.report("verify", expect=UNKNOWN)
        for rid in TABLES:
            c = checks(rep, rid)["replication_latency"]
            if rid == "dynamodb.users":
                self.assertEqual(c["status"], "OK")
                continue
            self.assertEqual((c["status"], c["observed"], c["threshold"]), ("UNKNOWN", None, RPO))
            self.assertIn("no ReplicationLatency datapoints", c["detail"])
            self.assertIsNone(resource(rep, rid)["rpo_observed_seconds"])
        # datapoints older than the window do not count
        self.put_latency(850, table=TABLES["dynamodb.vendors"], ago=20 * 60)
        rep = self.report("verify", expect=UNKNOWN)
        self.assertEqual(checks(rep, "dynamodb.vendors")["replication_latency"]["status"], "UNKNOWN")

    def test_verify_dr_region_unreachable(self):
        before = statuses(self.configured())
        self.env.add_fault(region=D, action="unreachable")
        rep = self.report("verify", expect=UNKNOWN)
        self.assertChanged(before, statuses(rep), {**{(rid, "table_dr"): "UNKNOWN" for rid in TABLES},
                                                   **{(rid, "pitr_dr"): "UNKNOWN" for rid in TABLES}})
        for rid in TABLES:
            self.assertIsNone(checks(rep, rid)["table_dr"]["observed"])

    def test_verify_primary_region_unreachable(self):
        before = statuses(self.configured())
        self.env.add_fault(region=P, action="unreachable")
        rep = self.report("verify", expect=UNKNOWN)
        expected = {}
        for rid in TABLES:
            for name in ("table_primary", "stream_enabled", "replica_dr", "pitr_primary", "replication_latency"):
                expected[(rid, name)] = "UNKNOWN"
        self.assertChanged(before, statuses(rep), expected)
        self.assertIsNone(rep["rpo_observed_seconds"])

    def test_verify_api_errors_are_unknown(self):
        before = statuses(self.configured())
        self.env.add_fault(service="dynamodb", region=D, operation="DescribeContinuousBackups", action="error",
                           status=500)
        self.env.add_fault(service="monitoring", operation="GetMetricStatistics", action="throttle")
        rep = self.report("verify", expect=UNKNOWN)
        self.assertChanged(before, statuses(rep), {**{(rid, "pitr_dr"): "UNKNOWN" for rid in TABLES},
                                                   **{(rid, "replication_latency"): "UNKNOWN" for rid in TABLES}})
        self.assertIn("DescribeContinuousBackups", checks(rep, "dynamodb.users")["pitr_dr"]["detail"])

    # ---- failover -----------------------------------------------------------------------------
    def test_failover_graceful_twice(self):
        self.configured()
        self.env.clear_requests()
        for attempt in (1, 2):
            rep = self.report("failover", "--yes", expect=0)
            self.assertEqual(rep["mode"], "graceful")
            for rid, table in TABLES.items():
                r = resource(rep, rid)
                self.assertEqual(r["status"], "done", r)
                c = checks(rep, rid)
                self.assertEqual((c["replica_dr"]["status"], c["replication_latency"]["status"]), ("OK", "OK"))
                self.assertEqual(r["rpo_observed_seconds"], 0.85)
                self.assertEqual([(ch["action"], ch["target"], ch["done"]) for ch in r["changes"]],
                                 [("write canary item", f"{table} in {D}", True)])
                item = self.ddb[D].get_item(TableName=table, Key={"pk": {"S": CANARY}}, ConsistentRead=True)["Item"]
                self.assertEqual(item["dr_agent_run"]["S"], rep["run_id"])
        # nothing was promoted or reconfigured: only reads, the canary and the metric
        ops = {r["operation"] for r in self.env.requests(service="dynamodb")}
        self.assertNotIn("UpdateTable", ops)
        # the DR side now serves: verify looks at the reverse direction
        self.put_latency(700, sender=D, receiver=P)
        rep = self.report("verify", expect=OK)
        self.assertEqual(rep["serving"], "dr")
        c = checks(rep, "dynamodb.users")
        self.assertIn("replica_primary", c)
        self.assertNotIn("replica_dr", c)
        self.assertEqual(c["replication_latency"]["observed"], 0.7)
        self.assertIn("from us-west-2 to us-east-1", c["replication_latency"]["detail"])

    def test_failover_dry_run(self):
        self.configured()
        rep = self.report("failover", "--yes", "--dry-run", expect=0)
        for rid, table in TABLES.items():
            r = resource(rep, rid)
            self.assertEqual([(ch["action"], ch["done"]) for ch in r["changes"]], [("write canary item", False)])
            self.assertNotIn("Item", self.ddb[D].get_item(TableName=table, Key={"pk": {"S": CANARY}}))
        self.assertEqual(self.env.requests(operation="PutItem"), [])

    def test_failover_forced_with_the_primary_region_gone(self):
        self.configured()
        self.env.clear_requests()
        self.env.add_fault(region=P, action="unreachable")
        rep = self.report("failover", "--yes", "--mode", "forced", expect=0)
        for rid in TABLES:
            r = resource(rep, rid)
            self.assertEqual(r["status"], "done")
            c = checks(rep, rid)
            self.assertEqual((c["replica_dr"]["status"], c["replication_latency"]["status"]), ("OK", "UNKNOWN"))
            self.assertIsNone(r["rpo_observed_seconds"])
            self.assertTrue(r["changes"][0]["done"])
        # one bounded read of the primary per table, not a wait
        self.assertLessEqual(len(self.env.requests(region=P)), 5 * 2)

    def test_failover_graceful_with_the_primary_region_gone_fails(self):
        self.configured()
        self.env.add_fault(region=P, action="unreachable")
        rep = self.report("failover", "--yes", expect=1)
        r = resource(rep, "dynamodb.users")
        self.assertEqual(r["status"], "failed")
        self.assertIn("forced", r["error"])
        self.assertEqual(checks(rep, "dynamodb.users")["replication_latency"]["status"], "UNKNOWN")

    def test_failover_graceful_waits_for_latency(self):
        self.report("configure", "-r", "dynamodb.users", expect=0)
        t = TABLES["dynamodb.users"]
        self.put_latency(120_000, table=t, ago=150)  # 2 minutes behind, above graceful_max_latency 60s
        rep = self.report("failover", "--yes", "-r", "dynamodb.users", "--timeout", "2s", expect=1)
        r = resource(rep, "dynamodb.users")
        self.assertEqual(r["status"], "failed")
        self.assertIn("deadline", r["error"])
        self.assertEqual(r["rpo_observed_seconds"], 120)
        self.assertEqual(checks(rep, "dynamodb.users")["replication_latency"]["observed"], 120)
        self.assertEqual(r["changes"], [])  # no canary before the data is there

        # forced does not wait and reports the data-loss window
        rep = self.report("failover", "--yes", "--mode", "forced", "-r", "dynamodb.users", expect=0)
        self.assertEqual(resource(rep, "dynamodb.users")["rpo_observed_seconds"], 120)

        # graceful goes on once the latency has fallen (a datapoint in a newer period)
        proc = subprocess.Popen([AGENT, "-c", self.conf, "failover", "--yes", "-r", "dynamodb.users", "--format",
                                 "json"], env=self.env.environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        try:
            time.sleep(1.0)
            self.assertIsNone(proc.poll(), "failover must wait while the latency is high")
            self.put_latency(300, table=t, ago=0)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        self.assertEqual(proc.returncode, 0, err)
        self.assertEqual(resource(json.loads(out), "dynamodb.users")["rpo_observed_seconds"], 0.3)

    def test_failover_without_dr_replica_fails(self):
        self.configured()
        self.env.remove_replica(TABLES["dynamodb.vendors"], D)
        rep = self.report("failover", "--yes", expect=1)
        r = resource(rep, "dynamodb.vendors")
        self.assertEqual(r["status"], "failed")
        self.assertEqual(checks(rep, "dynamodb.vendors")["replica_dr"]["status"], "CRITICAL")
        self.assertEqual(resource(rep, "dynamodb.users")["status"], "done")

    def test_failover_lone_dr_table_is_not_a_replica(self):
        self.configured()
        self.env.remove_replica(TABLES["dynamodb.vendors"], D, keep_table=True)
        rep = self.report("failover", "--yes", "-r", "dynamodb.vendors", expect=1)
        self.assertIn("not a replica", resource(rep, "dynamodb.vendors")["error"])

    def test_failover_canary_with_a_range_key(self):
        t = "roadcall-events-prod"
        self.ddb[P].create_table(TableName=t, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                                         {"AttributeName": "seq", "KeyType": "RANGE"}],
                                 AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                       {"AttributeName": "seq", "AttributeType": "N"}],
                                 BillingMode="PAY_PER_REQUEST")
        line = f'{{ type = "dynamodb"; name = "events"; table = "{t}"; }}'
        self.conf = self.write_conf(lines=[line], extra='poll_interval = "200ms"; canary_key = "seq=0,pk=dr-agent-canary";')
        self.report("configure", expect=0)
        self.put_latency(850, table=t)
        rep = self.report("failover", "--yes", expect=0)
        self.assertTrue(resource(rep, "dynamodb.events")["changes"][0]["done"])
        item = self.ddb[D].get_item(TableName=t, Key={"pk": {"S": CANARY}, "seq": {"N": "0"}})["Item"]
        self.assertEqual(item["dr_agent_run"]["S"], rep["run_id"])

        # a key that does not match the table's key schema is refused before anything is written
        self.conf = self.write_conf(lines=[line], extra='canary_key = "pk=dr-agent-canary";')
        rep = self.report("failover", "--yes", expect=1)
        r = resource(rep, "dynamodb.events")
        self.assertIn("has attribute seq, which is not given", r["error"])
        self.assertEqual([(c["action"], c["done"]) for c in r["changes"]], [("write canary item", False)])

    # ---- failback -----------------------------------------------------------------------------
    def test_failback_twice(self):
        self.configured()
        self.report("failover", "--yes", expect=0)
        self.put_latency(650, sender=D, receiver=P)
        for attempt in (1, 2):
            rep = self.report("failback", "--yes", expect=0)
            for rid in TABLES:
                r = resource(rep, rid)
                self.assertEqual((r["status"], r["changes"]), ("unchanged", []))
                c = checks(rep, rid)
                self.assertEqual((c["replica_primary"]["status"], c["replication_latency"]["status"]), ("OK", "OK"))
                self.assertEqual(r["rpo_observed_seconds"], 0.65)
        self.assertEqual(self.report("verify", expect=OK)["serving"], "primary")

    def test_failback_waits_until_latency_falls(self):
        self.configured()
        self.report("failover", "--yes", expect=0)
        self.put_latency(300_000, sender=D, receiver=P, table=TABLES["dynamodb.incidents"])
        self.put_latency(650, sender=D, receiver=P, table=TABLES["dynamodb.users"])
        rep = self.report("failback", "--yes", "-r", "dynamodb.incidents", "--timeout", "2s", expect=1)
        self.assertIn("deadline", resource(rep, "dynamodb.incidents")["error"])
        self.conf = self.write_conf(extra='poll_interval = "200ms"; graceful_wait = false;')
        rep = self.report("failback", "--yes", "-r", "dynamodb.incidents", expect=1)
        self.assertIn("traffic must not move yet", resource(rep, "dynamodb.incidents")["error"])
        rep = self.report("failback", "--yes", "--mode", "forced", "-r", "dynamodb.incidents", expect=0)
        self.assertEqual(resource(rep, "dynamodb.incidents")["rpo_observed_seconds"], 300)

    def test_failback_recreates_a_lost_primary_replica(self):
        self.configured()
        self.report("failover", "--yes", expect=0)
        self.put_latency(650, sender=D, receiver=P)
        t = TABLES["dynamodb.users"]
        self.ddb[P].delete_table(TableName=t)  # lost with the region
        self.assertNotIn("Replicas", self.table(D, t))

        plan = self.report("failback", "--yes", "--dry-run", "-r", "dynamodb.users", expect=0)
        r = resource(plan, "dynamodb.users")
        self.assertEqual([(c["action"], c["target"], c["done"]) for c in r["changes"]],
                         [("add replica", f"{t} in {P}", False), ("enable point-in-time recovery", f"{t} in {P}", False)])
        self.assertFalse(self.exists(P, t))

        rep = self.report("failback", "--yes", "-r", "dynamodb.users", expect=0)
        r = resource(rep, "dynamodb.users")
        self.assertEqual([(c["action"], c["done"]) for c in r["changes"]],
                         [("add replica", True), ("enable point-in-time recovery", True)])
        self.assertEqual(checks(rep, "dynamodb.users")["replica_primary"]["status"], "OK")
        self.assertEqual(self.table(D, t)["Replicas"], [{"RegionName": P, "ReplicaStatus": "ACTIVE"}])
        self.assertEqual(self.pitr(P, t)["PointInTimeRecoveryStatus"], "ENABLED")
        again = self.report("failback", "--yes", "-r", "dynamodb.users", expect=0)
        self.assertEqual(resource(again, "dynamodb.users")["changes"], [])
        self.put_latency(850, table=t)
        self.assertEqual(self.report("verify", expect=OK)["status"], "OK")

    def test_failback_refuses_a_lone_primary_table(self):
        self.configured()
        self.report("failover", "--yes", expect=0)
        self.put_latency(650, sender=D, receiver=P)
        self.env.remove_replica(TABLES["dynamodb.users"], P, keep_table=True)
        rep = self.report("failback", "--yes", "-r", "dynamodb.users", expect=1)
        r = resource(rep, "dynamodb.users")
        self.assertIn("not a replica of the global table", r["error"])
        self.assertEqual(checks(rep, "dynamodb.users")["replica_primary"]["status"], "CRITICAL")
        self.assertTrue(self.exists(P, TABLES["dynamodb.users"]))


if __name__ == "__main__":
    unittest.main(verbosity=2)
