#!/usr/bin/env python3
"""The seeded reference estate and the lag metrics (run as `drenv run --seed primary -- python3 test_seed.py`)."""
import datetime
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import drtest  # noqa: E402
import seed_estate as seed  # noqa: E402

P, DR = drtest.PRIMARY, drtest.DR
AT_START = {}


def setUpModule():
    """What `drenv run --seed primary` left, before any test resets moto."""
    env = drtest.ensure_env()
    AT_START["tables"] = env.moto_client("dynamodb").list_tables()["TableNames"]
    AT_START["log"] = env.requests()


def estate(env):
    ddb, rds, s3, r53 = (env.moto_client(s, P) for s in ("dynamodb", "rds", "s3", "route53"))
    zones = r53.list_hosted_zones()["HostedZones"]
    return {
        "tables": {t: ddb.describe_table(TableName=t)["Table"] for t in ddb.list_tables()["TableNames"]},
        "clusters": rds.describe_db_clusters()["DBClusters"],
        "instances": rds.describe_db_instances()["DBInstances"],
        "buckets": sorted(b["Name"] for b in s3.list_buckets()["Buckets"]),
        "zones": [z["Name"] for z in zones],
        "records": {(r["Name"], r["Type"]): [v["Value"] for v in r.get("ResourceRecords", [])]
                    for z in zones for r in r53.list_resource_record_sets(HostedZoneId=z["Id"])["ResourceRecordSets"]},
    }


class Seed(drtest.EnvTestCase):
    def test_launcher_seeded_and_cleared_the_log(self):
        self.assertEqual(sorted(AT_START["tables"]), sorted(seed.TABLES))
        self.assertEqual(AT_START["log"], [])

    def test_primary_estate(self):
        self.env.seed()
        e = estate(self.env)
        self.assertEqual(sorted(e["tables"]), sorted(seed.TABLES))
        for t in e["tables"].values():
            self.assertEqual(t["KeySchema"], [{"AttributeName": "pk", "KeyType": "HASH"}])
            self.assertEqual(t["BillingModeSummary"]["BillingMode"], "PAY_PER_REQUEST")
            self.assertNotIn("StreamSpecification", t)
            self.assertNotIn("Replicas", t)
        for t in seed.TABLES:  # no PITR either
            pitr = self.env.moto_client("dynamodb").describe_continuous_backups(TableName=t)
            self.assertEqual(pitr["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
                             ["PointInTimeRecoveryStatus"], "DISABLED")
        [c] = e["clusters"]
        self.assertEqual((c["DBClusterIdentifier"], c["Engine"], c["EngineVersion"], c["MasterUsername"]),
                         ("roadcall-aurora-prod", "aurora-postgresql", "15.4", "postgres"))
        self.assertEqual(c["ServerlessV2ScalingConfiguration"], {"MinCapacity": 0.5, "MaxCapacity": 16.0})
        self.assertEqual([(m["DBInstanceIdentifier"], m["IsClusterWriter"]) for m in c["DBClusterMembers"]],
                         [("roadcall-aurora-prod-writer", True)])
        self.assertEqual([i["DBInstanceClass"] for i in e["instances"]], ["db.serverless"])
        self.assertEqual(e["buckets"], sorted(seed.BUCKETS))
        for b in seed.BUCKETS:
            self.assertNotIn("Status", self.env.moto_client("s3").get_bucket_versioning(Bucket=b))
        self.assertEqual(e["zones"], ["roadcall.example.com."])
        self.assertEqual(e["records"][("api-us-east-1.roadcall.example.com.", "A")], ["203.0.113.10"])
        self.assertEqual(e["records"][("api-us-west-2.roadcall.example.com.", "A")], ["203.0.113.20"])
        # nothing in the DR region
        self.assertEqual(self.env.moto_client("dynamodb", DR).list_tables()["TableNames"], [])
        self.assertEqual(self.env.moto_client("rds", DR).describe_db_clusters()["DBClusters"], [])
        # idempotent: a second run changes nothing
        before = estate(self.env)
        self.env.seed()
        after = estate(self.env)
        self.assertEqual((sorted(after["tables"]), len(after["clusters"]), after["buckets"], after["zones"]),
                         (sorted(before["tables"]), 1, before["buckets"], before["zones"]))

    def stats(self, region, namespace, metric, dims, stat="Maximum"):
        cw = self.env.client("cloudwatch", region)
        now = datetime.datetime.now(datetime.timezone.utc)
        out = cw.get_metric_statistics(Namespace=namespace, MetricName=metric,
                                       Dimensions=[{"Name": k, "Value": v} for k, v in dims],
                                       StartTime=now - datetime.timedelta(hours=1), EndTime=now + datetime.timedelta(minutes=1),
                                       Period=60, Statistics=[stat])
        return sorted(out["Datapoints"], key=lambda d: d["Timestamp"])

    def test_lag_metrics_where_aws_publishes_them(self):
        self.env.put_lag_metrics(dynamodb_ms=250, aurora_ms=1200, aurora_rpo_ms=1500, s3_latency_s=30,
                                 s3_pending_ops=4, s3_pending_bytes=4096, points=3, age_minutes=2)
        d = self.stats(P, "AWS/DynamoDB", "ReplicationLatency",
                       [("TableName", "roadcall-incidents-prod"), ("ReceivingRegion", DR)])
        self.assertEqual([(p["Maximum"], p["Unit"]) for p in d], [(250.0, "Milliseconds")] * 3)
        newest = datetime.datetime.now(datetime.timezone.utc) - d[-1]["Timestamp"]
        self.assertAlmostEqual(newest.total_seconds() / 60, 2, delta=1.1)
        self.assertEqual(self.stats(DR, "AWS/DynamoDB", "ReplicationLatency",
                                    [("TableName", "roadcall-incidents-prod"), ("ReceivingRegion", DR)]), [])
        rds = [("DBClusterIdentifier", "roadcall-aurora-prod-replica")]
        self.assertEqual(self.stats(DR, "AWS/RDS", "AuroraGlobalDBReplicationLag", rds)[0]["Maximum"], 1200.0)
        self.assertEqual(self.stats(DR, "AWS/RDS", "AuroraGlobalDBRPOLag", rds)[0]["Maximum"], 1500.0)
        self.assertEqual(self.stats(P, "AWS/RDS", "AuroraGlobalDBReplicationLag", rds), [])
        s3 = [("SourceBucket", "roadcall-kb-documents-prod"), ("DestinationBucket", "roadcall-kb-documents-prod-us-west-2"),
              ("RuleId", "dr-replication")]
        self.assertEqual([(p["Maximum"], p["Unit"]) for p in self.stats(P, "AWS/S3", "ReplicationLatency", s3)],
                         [(30.0, "Seconds")] * 3)
        self.assertEqual(self.stats(P, "AWS/S3", "OperationsPendingReplication", s3)[0]["Unit"], "Count")
        self.assertEqual(self.stats(P, "AWS/S3", "BytesPendingReplication", s3)[0]["Maximum"], 4096.0)
        # the source guide's own check, through the CLI
        now = datetime.datetime.now(datetime.timezone.utc)
        res = self.env.aws("cloudwatch", "get-metric-statistics", "--namespace", "AWS/RDS",
                           "--metric-name", "AuroraGlobalDBReplicationLag",
                           "--dimensions", "Name=DBClusterIdentifier,Value=roadcall-aurora-prod-replica",
                           "--start-time", (now - datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S"),
                           "--end-time", now.strftime("%Y-%m-%dT%H:%M:%S"), "--period", "300",
                           "--statistics", "Average", region=DR)
        self.assertEqual(res.rc, 0, res.stderr)
        self.assertEqual({p["Average"] for p in res.json["Datapoints"]}, {1200.0})

    def test_command_line(self):
        p = subprocess.run([sys.executable, seed.__file__, "--stage", "primary", "--metrics", "--dynamodb-lag-ms",
                            "90", "--table", "roadcall-users-prod", "--points", "2"],
                           capture_output=True, text=True, env=self.env.environ, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("roadcall-aurora-prod", p.stdout)
        self.assertEqual(len(self.stats(P, "AWS/DynamoDB", "ReplicationLatency",
                                        [("TableName", "roadcall-users-prod"), ("ReceivingRegion", DR)])), 2)
        self.assertEqual(self.stats(P, "AWS/DynamoDB", "ReplicationLatency",
                                    [("TableName", "roadcall-vendors-prod"), ("ReceivingRegion", DR)]), [])
        env = {k: v for k, v in self.env.environ.items() if k != "AWS_ENDPOINT_URL"}
        p = subprocess.run([sys.executable, seed.__file__, "--stage", "primary"], capture_output=True, text=True,
                           env=env)
        self.assertEqual(p.returncode, 2)  # never falls through to real AWS
        self.assertIn("AWS_ENDPOINT_URL", p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
