#!/usr/bin/env python3
"""Integration tests of the dynamodb plugin's failover and failback against moto and the test proxy."""
import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dynamodb_case import (  # noqa: E402
    AGENT, CANARY, D, OK, P, TABLES, DynamoDBCase, checks, resource)


class FailoverFailback(DynamoDBCase):
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
                # the canary was written and read back, then deleted: no canary item remains in the table
                self.assertIn(rep["run_id"], r["changes"][0]["detail"])
                self.assertNotIn("Item", self.ddb[D].get_item(TableName=table, Key={"pk": {"S": CANARY}},
                                                              ConsistentRead=True))
                self.assertEqual([i for i in self.ddb[D].scan(TableName=table)["Items"] if "dr_agent_run" in i], [])
        puts = {(r["region"]) for r in self.env.requests(operation="PutItem")}
        deletes = self.env.requests(operation="DeleteItem")
        self.assertEqual(puts, {D})
        self.assertEqual(len(deletes), len(self.env.requests(operation="PutItem")))
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
        # found in the prepare phase: no table is failed over (no canary written) while one cannot be
        self.assertEqual(rep["switch"]["outcome"], "not ready")
        self.assertIn("dynamodb.vendors", rep["switch"]["reason"])
        self.assertEqual(resource(rep, "dynamodb.users")["status"], "unchanged")
        self.assertEqual(resource(rep, "dynamodb.users")["changes"], [])

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
        self.assertNotIn("Item", self.ddb[D].get_item(TableName=t, Key={"pk": {"S": CANARY}, "seq": {"N": "0"}}))
        dels = self.env.requests(operation="DeleteItem")
        self.assertEqual([(d["region"], d["status"]) for d in dels], [(D, 200)])

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
