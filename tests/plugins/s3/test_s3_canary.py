#!/usr/bin/env python3
"""s3 plugin integration tests: the canary probe measures real replication (the proxy copies objects after a delay)."""
import unittest

import s3test
from s3test import DR, IDS, PRIMARY, RESOURCES, RULE_PART_CHECKS

PREFIX = "dr-canary/"
CANARY = f'canary_prefix = "{PREFIX}"; canary_deadline = "20s";'


class Canary(s3test.S3Case):
    def setUp(self):
        super().setUp()
        self.configure()
        self.healthy_metrics()

    def assert_no_canary_left(self):
        for _, bucket, dr_bucket in RESOURCES:
            self.assertEqual(self.keys_under(bucket, PREFIX), [], bucket)
            self.assertEqual(self.keys_under(dr_bucket, PREFIX, DR), [], dr_bucket)

    def test_measured_replication_time_is_the_observed_rpo(self):
        self.env.set_duration("ReplicateObject", 2.0)
        res = self.agent("verify", extra=CANARY)
        self.assert_all_ok(res, s3test.FORWARD_CHECKS + ["canary_replication"])
        for rid, (_, bucket, dr_bucket) in zip(IDS, RESOURCES):
            c = self.checks(res, rid)["canary_replication"]
            self.assertEqual((c["unit"], c["threshold"]), ("seconds", 900.0))
            self.assertGreaterEqual(c["observed"], 2.0)
            self.assertLess(c["observed"], 8.0)
            self.assertIn(f"replicated to s3://{dr_bucket}", c["detail"])
            # the canary, not the CloudWatch latency (12 s), is the observed RPO
            self.assertEqual(self.resource(res, rid)["rpo_observed_seconds"], c["observed"])
        puts = [r for r in self.env.requests(service="s3", operation="PutObject")]
        self.assertEqual(len(puts), 3)
        self.assertTrue(all(r["region"] == PRIMARY for r in puts))
        self.assert_no_canary_left()

    def test_replication_slower_than_the_rpo(self):
        # a 4 s RPO: 0.3 x 4 = 1.2 s warns, the 5 s replication breaks it
        self.env.set_duration("ReplicateObject", 1.5)
        res = self.agent("verify", extra=CANARY, rpo="4s")
        for rid in IDS:
            c = self.checks(res, rid)["canary_replication"]
            self.assertEqual((c["status"], c["threshold"]), ("WARNING", 4.0), c)
        self.env.set_duration("ReplicateObject", 5.0)
        res = self.agent("verify", extra=CANARY, rpo="4s")
        for rid in IDS:
            c = self.checks(res, rid)["canary_replication"]
            self.assertEqual(c["status"], "CRITICAL", c)
            self.assertGreaterEqual(c["observed"], 5.0)
        self.assertEqual(res.rc, 2)
        self.assert_no_canary_left()

    def test_canary_not_replicated_when_replication_is_gone(self):
        base = self.agent("verify", extra=CANARY)
        name, bucket, dr_bucket = RESOURCES[1]
        self.s3.delete_bucket_replication(Bucket=bucket)
        res = self.agent("verify", extra=f'canary_prefix = "{PREFIX}"; canary_deadline = "3s";')
        rid = "s3." + name
        self.assert_only(base, res, {(rid, "replication_configuration"): "CRITICAL",
                                     (rid, "canary_replication"): "WARNING"},
                         vanished=[(rid, c) for c in RULE_PART_CHECKS])
        c = self.checks(res, rid)["canary_replication"]
        self.assertGreaterEqual(c["observed"], 3.0)
        self.assertIn("not replicated within the wait", c["detail"])
        self.assertEqual(self.resource(res, rid)["rpo_observed_seconds"], c["observed"])
        self.assert_no_canary_left()

    def test_canary_reports_failed_replication(self):
        base = self.agent("verify", extra=CANARY)
        name, _, dr_bucket = RESOURCES[2]
        self.s3dr.delete_bucket(Bucket=dr_bucket)
        res = self.agent("verify", extra=CANARY)
        rid = "s3." + name
        self.assert_only(base, res, {(rid, "dr_bucket"): "CRITICAL", (rid, "canary_replication"): "CRITICAL"},
                         vanished=[(rid, "dr_bucket_versioning")])
        self.assertIn("FAILED", self.checks(res, rid)["canary_replication"]["detail"])
        self.assert_no_canary_left_in_sources()

    def test_unreachable_dr_region_makes_the_canary_unknown(self):
        base = self.agent("verify", extra=CANARY)
        self.env.add_fault(action="unreachable", region=DR)
        res = self.agent("verify", extra=CANARY)
        self.assert_only(base, res, {(rid, c): "UNKNOWN" for rid in IDS
                                     for c in ("dr_bucket", "dr_bucket_versioning", "canary_replication")})
        for rid in IDS:
            self.assertIsNone(self.checks(res, rid)["canary_replication"]["observed"])
        self.assertEqual(res.rc, 3)
        self.assert_no_canary_left_in_sources()

    def assert_no_canary_left_in_sources(self):
        for _, bucket, _ in RESOURCES:
            self.assertEqual(self.keys_under(bucket, PREFIX), [], bucket)

    def test_canary_proves_the_drains_of_failover_and_failback(self):
        self.env.set_duration("ReplicateObject", 1.0)
        fo = self.agent("failover", extra=CANARY)
        self.assertEqual((fo.rc, fo.json["status"]), (0, "done"), fo)
        puts = self.env.requests(service="s3", operation="PutObject")
        self.assertEqual(sorted((r["region"]) for r in puts), [PRIMARY] * 3)
        self.assert_no_canary_left()

        # serving from the DR side, the canary goes the other way
        self.env.clear_requests()
        ver = self.agent("verify", extra=CANARY)
        self.assertEqual(ver.json["serving"], "dr")
        for rid, (_, bucket, _) in zip(IDS, RESOURCES):
            c = self.checks(ver, rid)["canary_replication"]
            self.assertEqual(c["status"], "OK", c)
            self.assertIn(f"replicated to s3://{bucket}", c["detail"])
        self.assertEqual(sorted(r["region"] for r in self.env.requests(service="s3", operation="PutObject")),
                         [DR] * 3)

        self.env.clear_requests()
        fb = self.agent("failback", extra=CANARY)
        self.assertEqual((fb.rc, fb.json["status"]), (0, "done"), fb)
        self.assertEqual(sorted(r["region"] for r in self.env.requests(service="s3", operation="PutObject")),
                         [DR] * 3)
        self.assertIn("made the trip", fb.stderr)
        self.assert_no_canary_left()


if __name__ == "__main__":
    unittest.main(verbosity=2)
