#!/usr/bin/env python3
"""s3 plugin integration tests: failover and failback in both modes, twice, with drains, deadlines and lost regions."""
import os
import signal
import subprocess
import threading
import time
import unittest

import s3test
from s3test import DR, FORWARD_CHECKS, IDS, PRIMARY, RESOURCES, RULE, REVERSE_RULE, role_of


class Failover(s3test.S3Case):
    def setUp(self):
        super().setUp()
        self.configure()
        # Old enough that a test's own datapoints (a minute later or more) are the latest.
        self.healthy_metrics(age_minutes=5)

    def assert_reverse_rule(self, bucket, dr_bucket):
        cfg = self.replication(dr_bucket, DR)
        self.assertIsNotNone(cfg, f"no replication configuration on {dr_bucket}")
        self.assertEqual(cfg["Role"], f"arn:aws:iam::{self.env.account_id}:role/{role_of(bucket)}")
        rule = self.rule(cfg, REVERSE_RULE)
        self.assertEqual(rule["Status"], "Enabled")
        self.assertEqual(rule["Destination"]["Bucket"], f"arn:aws:s3:::{bucket}")
        self.assertEqual(rule["Destination"]["ReplicationTime"], {"Status": "Enabled", "Time": {"Minutes": 15}})
        self.assertEqual(rule["DeleteMarkerReplication"], {"Status": "Enabled"})

    def assert_forward_intact(self):
        for _, bucket, dr_bucket in RESOURCES:
            rule = self.rule(self.replication(bucket), RULE)
            self.assertEqual(rule["Destination"]["Bucket"], f"arn:aws:s3:::{dr_bucket}")
            self.assertEqual(rule["Destination"]["ReplicationTime"]["Status"], "Enabled")

    def test_graceful_round_trip_twice_each(self):
        fo = self.agent("failover")
        self.assertEqual((fo.rc, fo.json["status"], fo.json["mode"]), (0, "done", "graceful"), fo)
        for (_, bucket, dr_bucket), rid in zip(RESOURCES, IDS):
            self.assertEqual(self.changes(fo, rid), [(rid, "put replication rule", f"s3://{dr_bucket}", True)])
            active = self.checks(fo, rid)["active_bucket"]
            self.assertEqual((active["status"], active["observed"]), ("OK", dr_bucket))
            self.assertIn(f"must read and write s3://{dr_bucket} in {DR} instead of s3://{bucket}", active["detail"])
            self.assertEqual(self.resource(fo, rid)["rpo_observed_seconds"], 0.0)  # drained before switching
            self.assert_reverse_rule(bucket, dr_bucket)
        self.assert_forward_intact()

        again = self.agent("failover")
        self.assertEqual((again.rc, again.json["status"], self.changes(again)), (0, "unchanged", []), again)

        # The DR side serves: verify checks the reverse direction, with its metrics from the DR region.
        for _, bucket, dr_bucket in RESOURCES:
            self.put_metrics(dr_bucket, bucket, rule=REVERSE_RULE, region=DR, latency=33, ops=0, nbytes=0)
        self.env.clear_requests()
        ver = self.agent("verify")
        self.assertEqual(ver.json["serving"], "dr")
        self.assert_all_ok(ver)
        for rid, (_, bucket, _) in zip(IDS, RESOURCES):
            c = self.checks(ver, rid)
            self.assertEqual(c["replication_destination"]["observed"], f"arn:aws:s3:::{bucket}")
            self.assertEqual(self.resource(ver, rid)["rpo_observed_seconds"], 33.0)
        self.assertEqual({r["region"] for r in self.env.requests(service="monitoring")}, {DR})

        fb = self.agent("failback")
        self.assertEqual((fb.rc, fb.json["status"]), (0, "done"), fb)
        for (_, bucket, dr_bucket), rid in zip(RESOURCES, IDS):
            self.assertEqual(self.changes(fb, rid), [(rid, "remove replication rule", f"s3://{dr_bucket}", True)])
            c = self.checks(fb, rid)  # failback verifies the restored direction, and names the bucket that serves
            self.assertEqual({n: v["status"] for n, v in c.items()},
                             {n: "OK" for n in ["replication_configuration", "endpoint"] + s3test.RULE_PART_CHECKS
                              if n != "existing_objects"})  # a verify check only
            self.assertEqual(c["endpoint"]["observed"], f"s3://{bucket}")
            self.assertIsNone(self.replication(dr_bucket, DR))
        self.assert_forward_intact()

        again = self.agent("failback")
        self.assertEqual((again.rc, again.json["status"], self.changes(again)), (0, "unchanged", []), again)
        ver = self.agent("verify")
        self.assertEqual(ver.json["serving"], "primary")
        self.assert_all_ok(ver)

    def test_dry_runs_change_nothing(self):
        plan = self.agent("failover", "--dry-run")
        self.assertEqual(plan.json["status"], "planned", plan)
        self.assertEqual(sorted(self.changes(plan)),
                         sorted((rid, "put replication rule", f"s3://{d}", False) for rid, (_, _, d) in zip(IDS, RESOURCES)))
        for _, _, dr_bucket in RESOURCES:
            self.assertIsNone(self.replication(dr_bucket, DR))
        self.agent("failover")
        plan = self.agent("failback", "--dry-run")
        self.assertEqual(sorted(self.changes(plan)),
                         sorted((rid, "remove replication rule", f"s3://{d}", False) for rid, (_, _, d) in zip(IDS, RESOURCES)))
        for _, bucket, dr_bucket in RESOURCES:
            self.assert_reverse_rule(bucket, dr_bucket)

    def test_failover_without_dr_bucket_changes_nothing(self):
        name, _, dr_bucket = RESOURCES[1]
        self.s3dr.delete_bucket(Bucket=dr_bucket)
        fo = self.agent("failover")
        self.assertNotEqual(fo.rc, 0)
        r = self.resource(fo, "s3." + name)
        self.assertEqual(r["status"], "failed")
        self.assertIn(f"cannot fail over: bucket s3://{dr_bucket} does not exist", r["error"])
        # found in the prepare phase: no bucket is switched while one cannot be
        self.assertEqual(fo.json["switch"]["outcome"], "not ready")
        for rid in IDS:
            if rid != "s3." + name:
                self.assertEqual(self.resource(fo, rid)["status"], "unchanged")
                self.assertEqual(self.changes(fo, rid), [])

    def test_graceful_failover_waits_for_pending_replication(self):
        name, bucket, dr_bucket = RESOURCES[0]
        # Metrics are Maximum per minute: the pending datapoint and the drained one are minutes apart.
        self.put_metrics(bucket, dr_bucket, ops=4, at=s3test.ago(100))
        drained = threading.Timer(4.0, lambda: self.put_metrics(bucket, dr_bucket, ops=0))
        drained.start()
        t0 = time.monotonic()
        fo = self.agent("failover", "-r", "s3." + name)
        waited = time.monotonic() - t0
        drained.join()
        self.assertEqual((fo.rc, fo.json["status"]), (0, "done"), fo)
        self.assertGreaterEqual(waited, 4.0)
        self.assert_reverse_rule(bucket, dr_bucket)

    def test_graceful_failover_stops_at_the_deadline(self):
        name, bucket, dr_bucket = RESOURCES[2]
        self.put_metrics(bucket, dr_bucket, ops=9)
        t0 = time.monotonic()
        fo = self.agent("failover", "-r", "s3." + name, "--timeout", "6s")
        waited = time.monotonic() - t0
        r = self.resource(fo, "s3." + name)
        self.assertEqual(r["status"], "failed", fo)
        self.assertIn("forced", r["error"])
        self.assertIn("9 operations pending", r["error"])
        self.assertLess(waited, 20)
        self.assertIsNone(self.replication(dr_bucket, DR), "nothing switched")

    def test_failed_failover_is_safe_to_run_again(self):
        self.env.add_fault(service="s3", operation="PutBucketReplication", action="error", status=500)
        fo = self.agent("failover")
        self.assertNotEqual(fo.rc, 0)
        for rid, (_, _, dr_bucket) in zip(IDS, RESOURCES):
            r = self.resource(fo, rid)
            self.assertEqual(r["status"], "failed")
            self.assertEqual([(c["action"], c["target"], c["done"], c.get("failed")) for c in r["changes"]],
                             [("put replication rule", f"s3://{dr_bucket}", False, True)])
            self.assertIsNone(self.replication(dr_bucket, DR))
        self.env.clear_faults()
        fo = self.agent("failover")
        self.assertEqual((fo.rc, fo.json["status"]), (0, "done"), fo)
        for _, bucket, dr_bucket in RESOURCES:
            self.assert_reverse_rule(bucket, dr_bucket)

    def test_killed_failover_resumes(self):
        name, bucket, dr_bucket = RESOURCES[0]
        self.put_metrics(bucket, dr_bucket, ops=5, at=s3test.ago(100))
        cmd = [os.environ["DR_AGENT_BIN"], "-c", self.conf(), "failover", "--yes", "--format", "json"]
        p = subprocess.Popen(cmd, env=self.env.environ, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True, start_new_session=True)
        try:
            time.sleep(3.0)
            self.assertIsNone(p.poll(), "failover should still wait for the drain")
        finally:
            os.killpg(p.pid, signal.SIGKILL)
            p.communicate()
        self.assertIsNone(self.replication(dr_bucket, DR), "killed before switching")
        self.put_metrics(bucket, dr_bucket, ops=0)
        res = self.env.run([os.environ["DR_AGENT_BIN"], "-c", self.conf(), "resume", "--yes", "--format", "json"],
                           timeout=120)
        self.assertEqual(res.rc, 0, res)
        self.assertEqual(res.json["command"], "failover")
        for _, b, d in RESOURCES:
            self.assert_reverse_rule(b, d)
        self.assertEqual(self.agent("verify").json["serving"], "dr")

    def test_forced_failover_with_primary_region_gone(self):
        self.env.add_fault(action="unreachable", region=PRIMARY)
        graceful = self.agent("failover")
        self.assertNotEqual(graceful.rc, 0)
        for rid in IDS:
            self.assertEqual(self.resource(graceful, rid)["status"], "failed")
        forced = self.agent("failover", "--mode", "forced")
        self.assertEqual((forced.rc, forced.json["status"]), (0, "done"), forced)
        self.env.clear_faults()
        for _, bucket, dr_bucket in RESOURCES:
            self.assert_reverse_rule(bucket, dr_bucket)
        again = self.agent("failover", "--mode", "forced")
        self.assertEqual((again.json["status"], self.changes(again)), ("unchanged", []))

    def test_forced_failover_reports_data_at_risk(self):
        name, bucket, dr_bucket = RESOURCES[0]
        self.put_metrics(bucket, dr_bucket, latency=240, ops=12)
        fo = self.agent("failover", "--mode", "forced", "-r", "s3." + name)
        self.assertEqual(fo.rc, 0, fo)
        self.assertEqual(self.resource(fo, "s3." + name)["rpo_observed_seconds"], 240.0)

    def test_failback_waits_for_reverse_replication(self):
        self.agent("failover")
        name, bucket, dr_bucket = RESOURCES[1]
        self.put_metrics(dr_bucket, bucket, rule=REVERSE_RULE, region=DR, ops=3, at=s3test.ago(100))
        drained = threading.Timer(4.0, lambda: self.put_metrics(dr_bucket, bucket, rule=REVERSE_RULE, region=DR,
                                                                ops=0))
        drained.start()
        t0 = time.monotonic()
        fb = self.agent("failback", "-r", "s3." + name)
        waited = time.monotonic() - t0
        drained.join()
        self.assertEqual((fb.rc, fb.json["status"]), (0, "done"), fb)
        self.assertGreaterEqual(waited, 4.0)
        self.assertIsNone(self.replication(dr_bucket, DR))
        # the wait asked CloudWatch in the DR region, for the reverse rule
        self.assertIn(DR, {r["region"] for r in self.env.requests(service="monitoring")})

    def test_forced_failback_with_dr_region_gone(self):
        self.agent("failover")
        self.env.add_fault(action="unreachable", region=DR)
        fb = self.agent("failback", "--mode", "forced")
        self.assertEqual((fb.rc, fb.json["status"]), (0, "unchanged"), fb)
        self.env.clear_faults()
        self.assert_forward_intact()
        # back again: a second failback finishes the job (the reverse rule goes)
        fb = self.agent("failback")
        self.assertEqual(sorted(c[1] for c in self.changes(fb)), ["remove replication rule"] * 3)
        for _, _, dr_bucket in RESOURCES:
            self.assertIsNone(self.replication(dr_bucket, DR))

    def test_failback_restores_a_damaged_forward_rule(self):
        self.agent("failover")
        name, bucket, dr_bucket = RESOURCES[2]
        self.s3.delete_bucket_replication(Bucket=bucket)  # lost while the DR side served
        fb = self.agent("failback", "-r", "s3." + name)
        self.assertEqual(fb.rc, 0, fb)
        self.assertEqual(sorted(c[1:] for c in self.changes(fb)),
                         [("put replication rule", f"s3://{bucket}", True),
                          ("remove replication rule", f"s3://{dr_bucket}", True)])
        self.assert_forward_intact()


if __name__ == "__main__":
    unittest.main(verbosity=2)
