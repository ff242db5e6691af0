#!/usr/bin/env python3
"""The s3 plugin against what a real account enforces and moto does not: IAM's inline-policy size per role, V1/V2
replication rule mixes, and objects written before replication."""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.environ.get("DR_SOURCE_DIR", "."), "tests", "env"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from s3test import DR, PRIMARY, RESOURCES, RULE, S3Case, role_of  # noqa: E402

MANY = 30


class AccountRules(S3Case):
    RESOURCES0 = RESOURCES[0]

    def many(self, n=MANY):
        """n application buckets (versioned) and their resources, all with the same settings."""
        out = []
        for i in range(n):
            b = f"roadcall-media-{i:02d}-prod"
            self.s3.create_bucket(Bucket=b)
            out.append((f"m{i:02d}", b, b + "-dr"))
        return out

    # ---- IAM: 10,240 characters of inline policies per role -------------------------------------
    def test_thirty_buckets_configure_without_an_iam_error(self):
        estate = self.many()
        plan = self.agent("configure", "--plan", resources=estate, timeout=300)
        self.assertEqual(plan.rc, 2, plan)
        done = self.agent("configure", resources=estate, timeout=300)
        self.assertEqual(done.rc, 0, done.stderr[-3000:])
        self.assertEqual([r for r in self.env.requests(service="iam") if r["status"] and r["status"] >= 400
                          and r["operation"] != "GetRole"], [])
        for _, bucket, _ in estate:
            names = self.iam.list_role_policies(RoleName=role_of(bucket))["PolicyNames"]
            self.assertEqual(names, [f"dr-agent-s3-{bucket}"])
            cfg = self.replication(bucket)
            self.assertTrue(cfg["Role"].endswith(f":role/{role_of(bucket)}"), cfg["Role"])
        self.assertEqual(self.agent("configure", resources=estate, timeout=300).json["status"], "unchanged")

    def test_one_shared_role_hits_the_limit_with_a_clear_error(self):
        estate = self.many(20)
        res = self.agent("configure", extra='replication_role = "shared-replication";', resources=estate,
                         timeout=300)
        self.assertEqual(res.rc, 1, res)
        refused = [r for r in self.env.requests(operation="PutRolePolicy") if r["status"] == 409]
        self.assertTrue(refused, "IAM (emulated) refused a policy once the role was full")
        errors = [r.get("error") or "" for r in res.json["resources"] if r["status"] == "failed"]
        self.assertTrue(errors)
        self.assertTrue(all("10,240 characters" in e and "leave replication_role unset" in e for e in errors), errors)
        ok = [r for r in res.json["resources"] if r["status"] == "done"]
        self.assertGreaterEqual(len(ok), 6)

    def test_long_bucket_names_get_a_role_name_within_64_characters(self):
        b = "roadcall-" + "x" * 45 + "-prod"
        self.s3.create_bucket(Bucket=b)
        done = self.agent("configure", resources=[("long", b, "dr-" + b[:50])])
        self.assertEqual(done.rc, 0, done)
        roles = [r["RoleName"] for r in self.iam.list_roles()["Roles"] if r["RoleName"].startswith("dr-agent-s3-")]
        self.assertEqual(len(roles), 1)
        self.assertEqual(len(roles[0]), 64)
        self.assertTrue(roles[0].startswith("dr-agent-s3-roadcall-xxx"))

    # ---- V1 and V2 rules ------------------------------------------------------------------------
    def test_v1_rules_of_other_teams_are_converted_and_keep_working(self):
        _, bucket, dr_bucket = self.RESOURCES0
        self.s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        self.s3.create_bucket(Bucket="roadcall-archive")
        self.s3.put_bucket_versioning(Bucket="roadcall-archive", VersioningConfiguration={"Status": "Enabled"})
        legacy = {"ID": "archive-logs", "Prefix": "logs/", "Status": "Enabled",
                  "Destination": {"Bucket": "arn:aws:s3:::roadcall-archive", "StorageClass": "GLACIER"}}
        self.s3.put_bucket_replication(Bucket=bucket, ReplicationConfiguration={
            "Role": "arn:aws:iam::123456789012:role/archive", "Rules": [legacy]})
        plan = self.agent("configure", "--plan", resources=[self.RESOURCES0])
        self.assertEqual(plan.rc, 2, plan)
        detail = [c["detail"] for c in self.resource(plan, "s3." + self.RESOURCES0[0])["changes"]
                  if c["action"] == "put replication rule"][0]
        self.assertIn("archive-logs (prefix 'logs/')", detail)
        self.assertIn("converted to V2", detail)
        done = self.agent("configure", resources=[self.RESOURCES0])
        self.assertEqual(done.rc, 0, done)
        self.assertEqual([r for r in self.env.requests(operation="PutBucketReplication") if r["status"] != 200], [])
        cfg = self.replication(bucket)
        rules = {r["ID"]: r for r in cfg["Rules"]}
        self.assertEqual(sorted(rules), ["archive-logs", RULE])
        conv = rules["archive-logs"]
        self.assertEqual(conv["Filter"], {"Prefix": "logs/"})
        self.assertNotIn("Prefix", conv)
        self.assertEqual(conv["DeleteMarkerReplication"], {"Status": "Enabled"})
        self.assertEqual(conv["Destination"]["Bucket"], "arn:aws:s3:::roadcall-archive")
        self.assertEqual(conv["Destination"]["StorageClass"], "GLACIER")
        self.assertNotEqual(conv["Priority"], rules[RULE]["Priority"])
        # the other team's rule still replicates its prefix
        self.s3.put_object(Bucket=bucket, Key="logs/today", Body=b"x")
        self.assertEqual(self.s3.head_object(Bucket=bucket, Key="logs/today")["ReplicationStatus"], "COMPLETED")
        self.s3.head_object(Bucket="roadcall-archive", Key="logs/today")
        self.assertEqual(self.agent("configure", resources=[self.RESOURCES0]).json["status"], "unchanged")

    # ---- objects written before replication ------------------------------------------------------
    def test_thousand_objects_before_configure_warn_until_batch_replicated(self):
        _, bucket, dr_bucket = self.RESOURCES0
        self.s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        import concurrent.futures
        moto = self.env.moto_client("s3")  # written before any rule: straight to moto, faster than the proxy
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: moto.put_object(Bucket=bucket, Key=f"calls/{i:04d}.wav", Body=b"x"),
                          range(1000)))
        one = [self.RESOURCES0]
        plan = self.agent("configure", "--plan", resources=one)
        self.assertIn(f"s3://{bucket} holds 1000 objects written before its replication rule", plan.stderr)
        self.assertIn("aws s3control create-job", plan.stderr)
        self.assertIn(f'"SourceBucket":"arn:aws:s3:::{bucket}"', plan.stderr)
        listings = self.env.requests(operation="ListObjectsV2")
        self.assertEqual(len(listings), 1, "one page, not the whole bucket")
        done = self.agent("configure", resources=one)
        self.assertEqual(done.rc, 0, done)
        self.assertIn("holds 1000 objects written before", done.stderr)
        # a write after configure replicates; the old objects do not
        self.s3.put_object(Bucket=bucket, Key="calls/new.wav", Body=b"y")
        self.s3dr.head_object(Bucket=dr_bucket, Key="calls/new.wav")
        self.env.clear_requests()
        res = self.agent("verify", resources=one)
        c = self.checks(res, "s3." + self.RESOURCES0[0])["existing_objects"]
        self.assertEqual((c["status"], c["observed"], c["unit"]), ("WARNING", 1000.0, "count"))
        self.assertIn("aws s3control create-job", c["detail"])
        heads = self.env.requests(operation="HeadObject")
        self.assertLessEqual(len(heads), 12, "a binary search, not a HEAD per object")
        self.assertEqual(len(self.env.requests(operation="ListObjectsV2")), 1)
        again = self.agent("verify", resources=one)
        self.assertEqual(self.checks(again, "s3." + self.RESOURCES0[0])["existing_objects"]["status"], "WARNING")
        # S3 Batch Replication copies them (emulated): every object reaches the DR bucket, the check is OK
        out = self.env.control("POST", "/s3/batch-replication", {"bucket": bucket})
        self.assertEqual(len(out["replicated"]), 1000)
        keys = set()
        for page in self.s3dr.get_paginator("list_objects_v2").paginate(Bucket=dr_bucket):
            keys |= {o["Key"] for o in page.get("Contents", [])}
        self.assertEqual(len(keys), 1001)
        res = self.agent("verify", resources=one)
        c = self.checks(res, "s3." + self.RESOURCES0[0])["existing_objects"]
        self.assertEqual((c["status"], c["observed"]), ("OK", 0.0), c)
        again = self.agent("configure", resources=one)
        self.assertNotIn("written before", again.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
