#!/usr/bin/env python3
"""s3 plugin integration tests: configure (plan, apply, idempotence, drift) and verify (healthy, broken, UNKNOWN)."""
import json
import os
import unittest
import urllib.parse

import s3test
from s3test import DR, FORWARD_CHECKS, IDS, PRIMARY, RESOURCES, RULE, RULE_PART_CHECKS, role_of

WRITES = ("Put", "Create", "Delete", "Update")


def writes(requests):
    return sorted({(r["service"], r["operation"]) for r in requests if r["operation"].startswith(WRITES)})


class Configure(s3test.S3Case):
    def test_plan_then_apply_then_unchanged(self):
        self.env.clear_requests()
        plan = self.agent("configure", "--plan")
        self.assertEqual(plan.rc, 2, plan)
        self.assertEqual(plan.json["status"], "planned")
        for (name, bucket, dr_bucket), rid in zip(RESOURCES, IDS):
            self.assertEqual(self.resource(plan, rid)["status"], "planned")
            self.assertEqual(self.changes(plan, rid), [
                (rid, "enable versioning", f"s3://{bucket}", False),
                (rid, "create bucket", f"s3://{dr_bucket}", False),
                (rid, "enable versioning", f"s3://{dr_bucket}", False),
                (rid, "create role", f"iam role {role_of(bucket)}", False),
                (rid, "put role policy", f"iam role {role_of(bucket)}", False),
                (rid, "put replication rule", f"s3://{bucket}", False)])
        # The plan changed nothing: only reads went out, and moto holds what it held.
        self.assertEqual(writes(self.env.requests()), [])
        moto = self.env.moto_client("s3")
        for _, bucket, dr_bucket in RESOURCES:
            self.assertEqual(moto.get_bucket_versioning(Bucket=bucket).get("Status", "Off"), "Off")
            self.assertFalse(self.bucket_exists(dr_bucket))
            self.assertIsNone(self.replication(bucket))
        for _, bucket, _ in RESOURCES:
            with self.assertRaises(self.iam.exceptions.NoSuchEntityException):
                self.iam.get_role(RoleName=role_of(bucket))

        done = self.configure()
        self.assertEqual(done.json["status"], "done")
        # What was done is what was planned: each bucket has a role of its own.
        planned = {(a, t) for _, a, t, _ in self.changes(plan)}
        made = {(a, t) for _, a, t, d in self.changes(done) if d}
        self.assertEqual(made, planned)
        self.assertEqual([c for c in self.changes(done) if not c[3]], [])
        self.assertEqual(sum(1 for c in self.changes(done) if c[1] == "create role"), len(RESOURCES))

        for _, bucket, _ in RESOURCES:
            role = self.iam.get_role(RoleName=role_of(bucket))["Role"]
            trust = role["AssumeRolePolicyDocument"]
            if isinstance(trust, str):
                trust = json.loads(urllib.parse.unquote(trust))
            self.assertEqual(trust["Statement"][0]["Principal"], {"Service": "s3.amazonaws.com"})
        for _, bucket, dr_bucket in RESOURCES:
            self.assertEqual(self.versioning(bucket), "Enabled")
            self.assertEqual(self.versioning(dr_bucket, DR), "Enabled")
            self.assertEqual(self.s3dr.get_bucket_location(Bucket=dr_bucket)["LocationConstraint"], DR)
            cfg = self.replication(bucket)
            self.assertEqual(cfg["Role"], self.iam.get_role(RoleName=role_of(bucket))["Role"]["Arn"])
            rule = self.rule(cfg, RULE)
            self.assertEqual(rule["Status"], "Enabled")
            self.assertEqual(rule["Destination"]["Bucket"], f"arn:aws:s3:::{dr_bucket}")
            self.assertEqual(rule["Destination"]["ReplicationTime"], {"Status": "Enabled", "Time": {"Minutes": 15}})
            self.assertEqual(rule["Destination"]["Metrics"],
                             {"Status": "Enabled", "EventThreshold": {"Minutes": 15}})
            self.assertEqual(rule["DeleteMarkerReplication"], {"Status": "Enabled"})
            self.assertEqual(rule.get("Filter", {}).get("Prefix", ""), "")
            self.assert_policy(bucket, dr_bucket)

        again = self.agent("configure")
        self.assertEqual(again.rc, 0, again)
        self.assertEqual(again.json["status"], "unchanged")
        self.assertEqual(self.changes(again), [])
        self.env.clear_requests()
        replan = self.agent("configure", "--plan")
        self.assertEqual((replan.rc, replan.json["status"], self.changes(replan)), (0, "unchanged", []))
        self.assertEqual(writes(self.env.requests()), [])

    def assert_policy(self, bucket, dr_bucket):
        """The inline policy grants replication both ways (reverse replication is on by default), nothing else."""
        doc = self.iam.get_role_policy(RoleName=role_of(bucket), PolicyName=f"dr-agent-s3-{bucket}")["PolicyDocument"]
        if isinstance(doc, str):
            doc = json.loads(urllib.parse.unquote(doc))
        grants = {(a, st["Resource"]) for st in doc["Statement"] for a in st["Action"]}
        want = set()
        for src, dst in ((bucket, dr_bucket), (dr_bucket, bucket)):
            want |= {("s3:GetReplicationConfiguration", f"arn:aws:s3:::{src}"),
                     ("s3:ListBucket", f"arn:aws:s3:::{src}")}
            want |= {(a, f"arn:aws:s3:::{src}/*") for a in ("s3:GetObjectVersionForReplication",
                                                              "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging")}
            want |= {(a, f"arn:aws:s3:::{dst}/*") for a in ("s3:ReplicateObject", "s3:ReplicateDelete",
                                                              "s3:ReplicateTags")}
        self.assertEqual(grants, want)
        self.assertTrue(all(st["Effect"] == "Allow" for st in doc["Statement"]))

    def test_drift_is_repaired_and_only_that(self):
        self.configure()
        (n0, b0, d0), (n1, b1, d1), _ = RESOURCES
        self.s3.put_bucket_versioning(Bucket=b0, VersioningConfiguration={"Status": "Suspended"})
        cfg = self.replication(b1)
        del cfg["Rules"][0]["Destination"]["ReplicationTime"]
        self.s3.put_bucket_replication(Bucket=b1, ReplicationConfiguration=cfg)
        self.iam.delete_role_policy(RoleName=role_of(b0), PolicyName=f"dr-agent-s3-{b0}")

        plan = self.agent("configure", "--plan")
        self.assertEqual(plan.rc, 2, plan)
        expect = [("s3." + n0, "enable versioning", f"s3://{b0}", False),
                  ("s3." + n0, "put role policy", f"iam role {role_of(b0)}", False),
                  ("s3." + n1, "put replication rule", f"s3://{b1}", False)]
        self.assertEqual(sorted(self.changes(plan)), sorted(expect))
        fixed = self.configure()
        self.assertEqual(sorted(self.changes(fixed)), sorted((r, a, t, True) for r, a, t, _ in expect))
        self.assertIn("Replication Time Control off", [c for c in self.resource(fixed, "s3." + n1)["changes"]][0]["detail"])
        self.assertEqual(self.versioning(b0), "Enabled")
        self.assertEqual(self.rule(self.replication(b1), RULE)["Destination"]["ReplicationTime"]["Status"], "Enabled")
        self.assertEqual(self.agent("configure").json["status"], "unchanged")

    def test_other_rules_and_lifecycle_rules_are_kept(self):
        _, bucket, dr_bucket = RESOURCES[0]
        self.s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        archive = {"ID": "archive", "Priority": 7, "Filter": {"Prefix": "calls/"}, "Status": "Enabled",
                   "DeleteMarkerReplication": {"Status": "Disabled"},
                   "Destination": {"Bucket": "arn:aws:s3:::roadcall-archive", "StorageClass": "GLACIER"}}
        self.s3.put_bucket_replication(Bucket=bucket, ReplicationConfiguration={
            "Role": f"arn:aws:iam::{self.env.account_id}:role/{role_of(bucket)}", "Rules": [archive]})
        self.s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
            {"ID": "tmp-expiry", "Filter": {"Prefix": "tmp/"}, "Status": "Enabled", "Expiration": {"Days": 3}}]})

        done = self.configure(per_resource={RESOURCES[0][0]: "noncurrent_glacier_days = 30;"})
        cfg = self.replication(bucket)
        self.assertEqual(sorted(r["ID"] for r in cfg["Rules"]), ["archive", RULE])
        kept = self.rule(cfg, "archive")
        self.assertEqual((kept["Priority"], kept["Filter"], kept["Destination"]["Bucket"],
                          kept["Destination"]["StorageClass"]),
                         (7, {"Prefix": "calls/"}, "arn:aws:s3:::roadcall-archive", "GLACIER"))
        self.assertEqual(self.rule(cfg, RULE)["Priority"], 8)
        rules = {r["ID"]: r for r in self.s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
        self.assertEqual(sorted(rules), [f"{RULE}-noncurrent-to-glacier", "tmp-expiry"])
        self.assertEqual(rules["tmp-expiry"]["Expiration"], {"Days": 3})
        self.assertEqual(rules[f"{RULE}-noncurrent-to-glacier"]["NoncurrentVersionTransitions"],
                         [{"NoncurrentDays": 30, "StorageClass": "GLACIER"}])
        dr_rules = self.s3dr.get_bucket_lifecycle_configuration(Bucket=dr_bucket)["Rules"]
        self.assertEqual([r["ID"] for r in dr_rules], [f"{RULE}-noncurrent-to-glacier"])
        self.assertIn(("s3." + RESOURCES[0][0], "put lifecycle rule", f"s3://{dr_bucket}", True), self.changes(done))
        # only the first resource has a lifecycle rule
        self.assertEqual([c for c in self.changes(done) if "lifecycle" in c[1] and c[0] != "s3." + RESOURCES[0][0]], [])
        self.assertEqual(self.agent("configure", per_resource={RESOURCES[0][0]: "noncurrent_glacier_days = 30;"})
                         .json["status"], "unchanged")

        res = self.agent("verify", per_resource={RESOURCES[0][0]: "noncurrent_glacier_days = 30;"})
        self.assertEqual(self.checks(res, "s3." + RESOURCES[0][0])["lifecycle_rule"]["status"], "OK")
        self.assertNotIn("lifecycle_rule", self.checks(res, IDS[1]))

        off = self.configure()  # 0 days again: our rule goes, the others stay
        self.assertEqual(sorted(c[1:] for c in self.changes(off)),
                         [("remove lifecycle rule", f"s3://{bucket}", True),
                          ("remove lifecycle rule", f"s3://{dr_bucket}", True)])
        self.assertEqual([r["ID"] for r in self.s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]],
                         ["tmp-expiry"])
        with self.assertRaises(self.s3dr.exceptions.ClientError):
            self.s3dr.get_bucket_lifecycle_configuration(Bucket=dr_bucket)

    def test_kms_settings(self):
        kms = f"arn:aws:kms:us-east-1:{self.env.account_id}:key/11111111-2222-3333-4444-555555555555"
        dr_kms = f"arn:aws:kms:us-west-2:{self.env.account_id}:key/66666666-7777-8888-9999-000000000000"
        extra = f'kms_key_arn = "{kms}"; dr_kms_key_arn = "{dr_kms}"; storage_class = "STANDARD_IA";'
        self.configure(extra=extra)
        _, bucket, dr_bucket = RESOURCES[1]
        rule = self.rule(self.replication(bucket), RULE)
        self.assertEqual(rule["Destination"]["EncryptionConfiguration"], {"ReplicaKmsKeyID": dr_kms})
        self.assertEqual(rule["Destination"]["StorageClass"], "STANDARD_IA")
        self.assertEqual(rule["SourceSelectionCriteria"], {"SseKmsEncryptedObjects": {"Status": "Enabled"}})
        doc = self.iam.get_role_policy(RoleName=role_of(bucket), PolicyName=f"dr-agent-s3-{bucket}")["PolicyDocument"]
        grants = {(a, st["Resource"]) for st in doc["Statement"] for a in st["Action"]}
        # forward: decrypt with the source key, encrypt with the DR key; reverse the other way round
        self.assertTrue({("kms:Decrypt", kms), ("kms:Encrypt", dr_kms), ("kms:Decrypt", dr_kms),
                         ("kms:Encrypt", kms)} <= grants)
        self.assertEqual(self.agent("configure", extra=extra).json["status"], "unchanged")
        res = self.agent("verify", extra=extra)
        self.assertEqual(self.checks(res, IDS[1])["replication_encryption"]["status"], "OK")

    def test_no_dr_bucket_creation_when_not_allowed(self):
        res = self.agent("configure", extra="create_dr_bucket = false;")
        self.assertEqual(res.rc, 1, res)
        for (_, _, dr_bucket), rid in zip(RESOURCES, IDS):
            r = self.resource(res, rid)
            self.assertEqual(r["status"], "failed")
            self.assertIn("create_dr_bucket is false", r["error"])
            self.assertFalse(self.bucket_exists(dr_bucket))

    def test_invalid_config_is_refused(self):
        for extra, words in (('kms_key_arn = "arn:aws:kms:us-east-1:1:key/x";', "dr_kms_key_arn"),
                             ("pending_warn_fraction = 1.5;", "pending_warn_fraction"),
                             ('replication_role = "bad role";', "replication_role")):
            res = self.env.run([os.environ["DR_AGENT_BIN"], "-c", self.conf(extra), "configure"])
            self.assertNotEqual(res.rc, 0, extra)
            self.assertIn(words, res.stderr, extra)


class Verify(s3test.S3Case):
    """Each broken case starts from the configured estate with healthy metrics, verified all OK."""

    def setUp(self):
        super().setUp()
        self.configure()
        self.healthy_metrics()
        self.env.clear_requests()
        self.base = self.agent("verify")
        self.assert_all_ok(self.base)
        self.assertEqual(writes(self.env.requests()), [], "verify is read-only")

    def verify(self):
        return self.agent("verify")

    def test_healthy(self):
        for rid in IDS:
            r = self.resource(self.base, rid)
            self.assertEqual(r["rpo_observed_seconds"], 12.0)
            c = self.checks(self.base, rid)
            self.assertEqual((c["replication_latency"]["observed"], c["replication_latency"]["threshold"],
                              c["replication_latency"]["unit"]), (12.0, 900.0, "seconds"))
            self.assertEqual((c["operations_pending_replication"]["observed"],
                              c["operations_pending_replication"]["unit"]), (0.0, "count"))
            self.assertEqual(c["replication_time_control"]["observed"], "Enabled, 15 minutes")
            self.assertEqual(c["replication_role"]["observed"], role_of(RESOURCES[IDS.index(rid)][1]))
            for check in c.values():
                self.assertTrue(check["detail"], check)
        # CloudWatch was asked in the source region with the dimensions S3 publishes
        cw = [r for r in self.env.requests(service="monitoring")]
        self.assertTrue(cw and all(r["region"] == PRIMARY for r in cw), cw)

    def test_versioning_suspended_on_source(self):
        name, bucket, _ = RESOURCES[0]
        self.env.moto_client("s3").put_bucket_versioning(Bucket=bucket,
                                                         VersioningConfiguration={"Status": "Suspended"})
        res = self.verify()
        self.assert_only(self.base, res, {("s3." + name, "bucket_versioning"): "CRITICAL"})
        self.assertEqual(self.checks(res, "s3." + name)["bucket_versioning"]["observed"], "Suspended")
        self.assertEqual(res.rc, 2)

    def test_replication_configuration_deleted(self):
        name, bucket, _ = RESOURCES[1]
        self.s3.delete_bucket_replication(Bucket=bucket)
        res = self.verify()
        rid = "s3." + name
        self.assert_only(self.base, res, {(rid, "replication_configuration"): "CRITICAL"},
                         vanished=[(rid, c) for c in RULE_PART_CHECKS])
        self.assertEqual(self.checks(res, rid)["replication_configuration"]["observed"], "missing")
        self.assertEqual(res.rc, 2)

    def test_rtc_removed_from_rule(self):
        name, bucket, _ = RESOURCES[2]
        cfg = self.replication(bucket)
        del self.rule(cfg, RULE)["Destination"]["ReplicationTime"]
        self.s3.put_bucket_replication(Bucket=bucket, ReplicationConfiguration=cfg)
        res = self.verify()
        self.assert_only(self.base, res, {("s3." + name, "replication_time_control"): "CRITICAL"})
        self.assertEqual(res.rc, 2)

    def test_destination_bucket_missing(self):
        name, _, dr_bucket = RESOURCES[0]
        self.s3dr.delete_bucket(Bucket=dr_bucket)
        res = self.verify()
        rid = "s3." + name
        self.assert_only(self.base, res, {(rid, "dr_bucket"): "CRITICAL"}, vanished=[(rid, "dr_bucket_versioning")])
        self.assertEqual(self.checks(res, rid)["dr_bucket"]["observed"], "missing")

    def test_pending_replication_above_rpo(self):
        (n0, b0, d0), (n1, b1, d1), _ = RESOURCES
        self.put_metrics(b0, d0, latency=1200, ops=35, nbytes=7_000_000)
        self.put_metrics(b1, d1, latency=400)  # above 0.3 x RPO: early warning
        res = self.verify()
        self.assert_only(self.base, res, {("s3." + n0, "replication_latency"): "CRITICAL",
                                          ("s3." + n1, "replication_latency"): "WARNING"})
        c = self.checks(res, "s3." + n0)
        self.assertEqual((c["replication_latency"]["observed"], c["replication_latency"]["threshold"]), (1200.0, 900.0))
        self.assertEqual(c["operations_pending_replication"]["observed"], 35.0)
        self.assertEqual(c["bytes_pending_replication"]["observed"], 7e6)
        self.assertEqual(self.resource(res, "s3." + n0)["rpo_observed_seconds"], 1200.0)
        self.assertEqual(res.json["rpo_observed_seconds"], 1200.0)
        self.assertEqual(res.rc, 2)

    def test_pending_limits(self):
        name, bucket, dr_bucket = RESOURCES[2]
        self.put_metrics(bucket, dr_bucket, ops=500, nbytes=10)
        res = self.agent("verify", per_resource={name: "max_pending_operations = 100; max_pending_bytes = 1000;"})
        self.assert_only(self.base, res, {("s3." + name, "operations_pending_replication"): "WARNING"})
        c = self.checks(res, "s3." + name)
        self.assertEqual((c["operations_pending_replication"]["observed"],
                          c["operations_pending_replication"]["threshold"]), (500.0, 100.0))
        self.assertEqual((c["bytes_pending_replication"]["status"], c["bytes_pending_replication"]["threshold"]),
                         ("OK", 1000.0))

    def test_unreachable_dr_region(self):
        self.env.add_fault(action="unreachable", region=DR)
        res = self.verify()
        expected = {}
        for rid in IDS:
            expected[(rid, "dr_bucket")] = "UNKNOWN"
            expected[(rid, "dr_bucket_versioning")] = "UNKNOWN"
            self.assertIsNone(self.checks(res, rid)["dr_bucket"]["observed"])
        self.assert_only(self.base, res, expected)
        self.assertEqual(res.rc, 3)

    def test_unreachable_primary_region(self):
        self.env.add_fault(action="unreachable", region=PRIMARY)
        res = self.verify()
        expected = {(rid, c): "UNKNOWN" for rid in IDS for c in FORWARD_CHECKS
                    if c not in ("dr_bucket", "dr_bucket_versioning")}
        self.assert_only(self.base, res, expected)
        self.assertEqual(res.rc, 3)
        for rid in IDS:
            self.assertIsNone(self.resource(res, rid)["rpo_observed_seconds"])

    def test_api_errors_are_unknown(self):
        self.env.add_fault(service="s3", operation="GetBucketReplication", action="error", status=500)
        self.env.add_fault(service="monitoring", operation="GetMetricStatistics", action="error", status=403,
                           code="AccessDenied")
        res = self.verify()
        expected = {(rid, c): "UNKNOWN" for rid in IDS for c in
                    ["replication_configuration", "replication_latency", "operations_pending_replication",
                     "bytes_pending_replication"] + RULE_PART_CHECKS}
        self.assert_only(self.base, res, expected)
        c = self.checks(res, IDS[0])
        self.assertIn("GetBucketReplication", c["replication_configuration"]["detail"])
        self.assertEqual(res.rc, 3)

    def test_role_missing(self):
        for _, bucket, _ in RESOURCES:
            self.iam.delete_role_policy(RoleName=role_of(bucket), PolicyName=f"dr-agent-s3-{bucket}")
            self.iam.delete_role(RoleName=role_of(bucket))
        res = self.verify()
        self.assert_only(self.base, res, {(rid, "replication_role"): "CRITICAL" for rid in IDS})


if __name__ == "__main__":
    unittest.main(verbosity=2)
