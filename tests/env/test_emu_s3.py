#!/usr/bin/env python3
"""Fidelity of the S3 replication emulation (configuration read-back, replication status, copies): boto3, CLI, model."""
import os
import sys
import time
import unittest

import botocore.exceptions

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import drtest  # noqa: E402
import modelcheck  # noqa: E402

# long enough that a slow aws CLI start on a loaded machine still lands inside the emulated wait
DURATION = 10

SRC, DST = "roadcall-call-recordings-prod", "roadcall-call-recordings-prod-us-west-2"
CONFIG = {"Role": "arn:aws:iam::123456789012:role/roadcall-s3-replication-role-prod", "Rules": [{
    "ID": "dr-replication", "Priority": 1, "Status": "Enabled", "Filter": {"Prefix": "calls/"},
    "DeleteMarkerReplication": {"Status": "Enabled"},
    "Destination": {"Bucket": f"arn:aws:s3:::{DST}", "StorageClass": "STANDARD",
                    "ReplicationTime": {"Status": "Enabled", "Time": {"Minutes": 15}},
                    "Metrics": {"Status": "Enabled", "EventThreshold": {"Minutes": 15}}}}]}


class Replication(drtest.EnvTestCase):
    def setUp(self):
        super().setUp()
        self.s3 = self.env.client("s3")
        self.s3_dr = self.env.client("s3", drtest.DR)
        self.raw = drtest.RawLog(self.s3)
        self.s3.create_bucket(Bucket=SRC)
        self.s3_dr.create_bucket(Bucket=DST, CreateBucketConfiguration={"LocationConstraint": drtest.DR})
        for b in (SRC, DST):
            self.s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})

    def test_configuration_reads_back_as_written(self):
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.s3.get_bucket_replication(Bucket=SRC)
        self.assertEqual(cm.exception.response["Error"]["Code"], "ReplicationConfigurationNotFoundError")
        self.s3.put_bucket_replication(Bucket=SRC, ReplicationConfiguration=CONFIG)
        got = self.s3.get_bucket_replication(Bucket=SRC)["ReplicationConfiguration"]
        self.assertEqual(modelcheck.check("s3", "GetBucketReplication", self.raw.last("GetBucketReplication")), [])
        self.assertEqual(got, CONFIG)
        res = self.env.aws("s3api", "get-bucket-replication", "--bucket", SRC)
        self.assertEqual(res.rc, 0, res.stderr)
        self.assertEqual(res.json["ReplicationConfiguration"]["Rules"][0]["DeleteMarkerReplication"],
                         {"Status": "Enabled"})
        self.assertEqual(res.json["ReplicationConfiguration"]["Rules"][0]["Filter"], {"Prefix": "calls/"})
        self.s3.delete_bucket_replication(Bucket=SRC)
        with self.assertRaises(botocore.exceptions.ClientError):
            self.s3.get_bucket_replication(Bucket=SRC)

    def test_v1_and_v2_rules_cannot_be_mixed(self):
        v1 = {"ID": "legacy", "Prefix": "logs/", "Status": "Enabled",
              "Destination": {"Bucket": f"arn:aws:s3:::{DST}"}}
        self.s3.put_bucket_replication(Bucket=SRC, ReplicationConfiguration={"Role": CONFIG["Role"], "Rules": [v1]})
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.s3.put_bucket_replication(Bucket=SRC, ReplicationConfiguration={
                "Role": CONFIG["Role"], "Rules": [v1] + CONFIG["Rules"]})
        self.assertEqual(cm.exception.response["Error"]["Code"], "MalformedXML")
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 400)
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.s3.put_bucket_replication(Bucket=SRC, ReplicationConfiguration={"Role": CONFIG["Role"], "Rules": [
                dict(v1, Priority=3)]})
        self.assertEqual(cm.exception.response["Error"]["Code"], "MalformedXML")
        # the V1 configuration stands, and a V1 rule still replicates its prefix
        got = self.s3.get_bucket_replication(Bucket=SRC)["ReplicationConfiguration"]["Rules"]
        self.assertEqual([r["ID"] for r in got], ["legacy"])
        self.s3.put_object(Bucket=SRC, Key="logs/a", Body=b"x")
        self.assertEqual(self.s3.head_object(Bucket=SRC, Key="logs/a")["ReplicationStatus"], "COMPLETED")

    def test_objects_written_before_the_rule_are_not_replicated(self):
        self.s3.put_object(Bucket=SRC, Key="calls/old", Body=b"old")
        self.s3.put_bucket_replication(Bucket=SRC, ReplicationConfiguration=CONFIG)
        self.s3.put_object(Bucket=SRC, Key="calls/new", Body=b"new")
        self.assertNotIn("ReplicationStatus", self.s3.head_object(Bucket=SRC, Key="calls/old"))
        self.assertEqual(self.s3.head_object(Bucket=SRC, Key="calls/new")["ReplicationStatus"], "COMPLETED")
        with self.assertRaises(botocore.exceptions.ClientError):
            self.s3_dr.head_object(Bucket=DST, Key="calls/old")

    def test_objects_replicate(self):
        self.s3.put_bucket_replication(Bucket=SRC, ReplicationConfiguration=CONFIG)
        self.s3.put_object(Bucket=SRC, Key="calls/1.wav", Body=b"RIFF....", ContentType="audio/wav",
                           Metadata={"call": "1"})
        head = self.s3.head_object(Bucket=SRC, Key="calls/1.wav")
        self.assertEqual(head["ReplicationStatus"], "COMPLETED")
        copy = self.s3_dr.get_object(Bucket=DST, Key="calls/1.wav")
        self.assertEqual((copy["Body"].read(), copy["ContentType"], copy["Metadata"], copy["ReplicationStatus"]),
                         (b"RIFF....", "audio/wav", {"call": "1"}, "REPLICA"))
        res = self.env.aws("s3api", "head-object", "--bucket", SRC, "--key", "calls/1.wav")
        self.assertEqual(res.rc, 0, res.stderr)
        self.assertEqual(res.json["ReplicationStatus"], "COMPLETED")
        # outside the rule's prefix: not replicated, no status
        self.s3.put_object(Bucket=SRC, Key="other/2", Body=b"x")
        self.assertNotIn("ReplicationStatus", self.s3.head_object(Bucket=SRC, Key="other/2"))
        self.assertEqual(self.s3_dr.list_objects_v2(Bucket=DST)["KeyCount"], 1)

    def test_delay_then_completed(self):
        """What a canary probe sees: PENDING, then COMPLETED and the copy in the DR bucket."""
        self.s3.put_bucket_replication(Bucket=SRC, ReplicationConfiguration=CONFIG)
        self.env.set_duration("ReplicateObject", DURATION)
        t0 = time.monotonic()
        self.s3.put_object(Bucket=SRC, Key="calls/canary", Body=b"probe")
        self.assertEqual(self.s3.head_object(Bucket=SRC, Key="calls/canary")["ReplicationStatus"], "PENDING")
        with self.assertRaises(botocore.exceptions.ClientError):
            self.s3_dr.head_object(Bucket=DST, Key="calls/canary")
        drtest.wait_for(lambda: self.s3.head_object(Bucket=SRC, Key="calls/canary")["ReplicationStatus"] != "PENDING")
        self.assertGreaterEqual(time.monotonic() - t0, DURATION)
        self.assertEqual(self.s3.head_object(Bucket=SRC, Key="calls/canary")["ReplicationStatus"], "COMPLETED")
        self.assertEqual(self.s3_dr.head_object(Bucket=DST, Key="calls/canary")["ReplicationStatus"], "REPLICA")

    def test_failed_without_destination_and_delete_markers(self):
        self.s3.put_bucket_replication(Bucket=SRC, ReplicationConfiguration=CONFIG)
        self.s3.put_object(Bucket=SRC, Key="calls/3", Body=b"3")
        self.s3.delete_object(Bucket=SRC, Key="calls/3")  # a delete marker, replicated
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.s3_dr.head_object(Bucket=DST, Key="calls/3")
        self.assertEqual(cm.exception.response["Error"]["Code"], "404")
        versions = self.s3_dr.list_object_versions(Bucket=DST)
        self.assertEqual(len(versions.get("DeleteMarkers", [])), 1)
        # the destination is gone: the next object fails to replicate
        for v in versions.get("Versions", []) + versions.get("DeleteMarkers", []):
            self.s3_dr.delete_object(Bucket=DST, Key=v["Key"], VersionId=v["VersionId"])
        self.s3_dr.delete_bucket(Bucket=DST)
        self.s3.put_object(Bucket=SRC, Key="calls/4", Body=b"4")
        self.assertEqual(self.s3.head_object(Bucket=SRC, Key="calls/4")["ReplicationStatus"], "FAILED")


if __name__ == "__main__":
    unittest.main(verbosity=2)
