#!/usr/bin/env python3
"""s3 plugin integration test with SigV4 and IAM checked by moto: each hook runs with only its policy of docs/iam/s3.json.

Two limits of moto's checker shape what this proves:
- moto authorizes S3 bucket sub-resources by a fixed table that has no entry for ?replication: it
  asks for s3:ListBucket (GET), s3:CreateBucket (PUT) and s3:DeleteBucket (DELETE) instead of
  s3:GetReplicationConfiguration and s3:PutReplicationConfiguration, and never for iam:PassRole.
  It also names CloudWatch actions after the endpoint (monitoring:GetMetricStatistics). Here a
  statement granting the real action also grants moto's name for it, on the same resources; the
  real names are checked in the policy document.
- moto checks actions of other services (IAM, CloudWatch, STS) against the resource "*" only, so
  the statements without S3 actions are given Resource "*" here; S3 statements keep their bucket
  and object ARNs, which moto does match.
Within those limits, every action each hook sends must be in its policy, and the signer is right.
"""
import json
import os
import unittest

import s3test
from s3test import DR, IDS, RESOURCES

CANARY = 'canary_prefix = "dr-canary/"; canary_deadline = "20s"; noncurrent_glacier_days = 30;'


def policies():
    with open(os.path.join(os.environ["DR_SOURCE_DIR"], "docs", "iam", "s3.json")) as f:
        return json.load(f)


class LeastPrivilege(s3test.S3Case):
    reset_moto = False  # with SigV4 checking on, a moto reset would delete the IAM users

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not cls.env.auth:
            raise RuntimeError("run this test with `drenv run --auth` (dr_integration_test ... AUTH)")

    @staticmethod
    def as_moto_checks(policy):
        """The policy as moto can check it (see above)."""
        moto_names = {"s3:GetReplicationConfiguration": ["s3:ListBucket"],
                      "s3:PutReplicationConfiguration": ["s3:CreateBucket", "s3:DeleteBucket"],
                      "cloudwatch:GetMetricStatistics": ["monitoring:GetMetricStatistics"]}
        out = json.loads(json.dumps(policy))
        for st in out["Statement"]:
            if not all(a.startswith("s3:") for a in st["Action"]):
                st["Resource"] = "*"
            st["Action"] = sorted(set(st["Action"]) | {m for a in st["Action"] for m in moto_names.get(a, [])})
        return out

    def seed_primary(self):
        """The source buckets only: seed_estate's Route 53 part fails under SigV4 checks (moto rejects signed
        Route 53 GETs), and this test needs nothing else."""
        for _, bucket, _ in RESOURCES:
            self.s3.create_bucket(Bucket=bucket)

    def hook_user(self, hook, policy):
        """An IAM user allowed exactly `policy`; returns the environment that runs the agent as that user."""
        policy = self.as_moto_checks(policy)
        name = f"s3-{hook}"
        self.iam.create_user(UserName=name)
        self.iam.put_user_policy(UserName=name, PolicyName=f"dr-agent-s3-{hook}", PolicyDocument=json.dumps(policy))
        key = self.iam.create_access_key(UserName=name)["AccessKey"]
        return {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}

    def run_as(self, creds, command, *opts, extra=CANARY):
        cmd = [os.environ["DR_AGENT_BIN"], "-c", self.conf(extra), command, *opts, "--format", "json"]
        if command in ("failover", "failback"):
            cmd.append("--yes")
        return self.env.run(cmd, env=creds, timeout=180)

    @staticmethod
    def not_ok(res):
        return [(r["id"], c["name"], c["status"], c["detail"]) for r in res.json["resources"] for c in r["checks"]
                if c["status"] != "OK"] + [r.get("error") for r in res.json["resources"] if r.get("error")]

    def test_each_hook_with_its_own_policy(self):
        pol = policies()
        self.assertEqual(sorted(pol), ["configure", "diagnose", "failback", "failover", "verify"])
        for hook, doc in pol.items():
            self.assertEqual(doc["Version"], "2012-10-17")
            actions = {a for st in doc["Statement"] for a in st["Action"]}
            self.assertNotIn("*", actions, hook)
            self.assertFalse(any(a.endswith(":*") for a in actions), hook)
        for hook in ("configure", "failover", "failback"):
            self.assertIn("s3:PutReplicationConfiguration", {a for st in pol[hook]["Statement"] for a in st["Action"]})
            self.assertIn("iam:PassRole", {a for st in pol[hook]["Statement"] for a in st["Action"]})
        users = {hook: self.hook_user(hook, doc) for hook, doc in pol.items()}

        # The verify policy cannot configure: moto enforces the policies.
        denied = self.run_as(users["verify"], "configure")
        self.assertEqual(denied.rc, 1, denied)
        self.assertTrue(all("denied" in (self.resource(denied, rid).get("error") or "").lower() for rid in IDS),
                        denied.json)

        res = self.run_as(users["configure"], "configure")
        self.assertEqual((res.rc, res.json["status"]), (0, "done"),
                         [r.get("error") for r in res.json["resources"]])
        res = self.run_as(users["configure"], "configure")
        self.assertEqual((res.rc, res.json["status"]), (0, "unchanged"), res)

        self.healthy_metrics()
        self.env.set_duration("ReplicateObject", 1.0)
        res = self.run_as(users["verify"], "verify")
        self.assertEqual(res.rc, 0, self.not_ok(res))
        self.assert_all_ok(res, s3test.FORWARD_CHECKS + ["canary_replication", "lifecycle_rule"])
        res = self.run_as(users["diagnose"], "diagnose")
        self.assertEqual(res.rc, 0, self.not_ok(res))

        res = self.run_as(users["failover"], "failover")
        self.assertEqual((res.rc, res.json["status"]), (0, "done"), res)
        for _, bucket, dr_bucket in RESOURCES:
            self.assertIsNotNone(self.rule(self.replication(dr_bucket, DR), s3test.REVERSE_RULE))
        res = self.run_as(users["verify"], "verify")
        self.assertEqual((res.rc, res.json["serving"]), (0, "dr"), res)

        res = self.run_as(users["failback"], "failback")
        self.assertEqual((res.rc, res.json["status"]), (0, "done"), res)
        res = self.run_as(users["verify"], "verify")
        self.assertEqual((res.rc, res.json["serving"]), (0, "primary"), res)
        for _, bucket, dr_bucket in RESOURCES:  # (moto with SigV4 checks rejects boto3's "%2F" in a prefix)
            self.assertEqual(self.keys_under(bucket, "dr-canary"), [])
            self.assertEqual(self.keys_under(dr_bucket, "dr-canary", DR), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
