#!/usr/bin/env python3
"""Fidelity of the DynamoDB global-table emulation: boto3, the aws CLI and the model all accept it."""
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

P, DR = drtest.PRIMARY, drtest.DR


def create_table(client, name, **extra):
    client.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                        BillingMode="PAY_PER_REQUEST", **extra)


class GlobalTables(drtest.EnvTestCase):
    def setUp(self):
        super().setUp()
        self.ddb = self.env.client("dynamodb", P)
        self.raw = drtest.RawLog(self.ddb)
        self.ddb_dr = self.env.client("dynamodb", DR)
        self.raw_dr = drtest.RawLog(self.ddb_dr)

    def assertShape(self, raw, op):
        self.assertEqual(modelcheck.check("dynamodb", op, raw.last(op)), [])

    def test_create_replica(self):
        create_table(self.ddb, "t1")
        out = self.ddb.update_table(TableName="t1", ReplicaUpdates=[{"Create": {"RegionName": DR}}])
        self.assertShape(self.raw, "UpdateTable")
        self.assertEqual(out["TableDescription"]["Replicas"], [{"RegionName": DR, "ReplicaStatus": "ACTIVE"}])
        self.assertEqual(out["TableDescription"]["GlobalTableVersion"], "2019.11.21")

        t = self.ddb.describe_table(TableName="t1")["Table"]
        self.assertShape(self.raw, "DescribeTable")
        self.assertEqual(t["Replicas"], [{"RegionName": DR, "ReplicaStatus": "ACTIVE"}])
        self.assertEqual(t["StreamSpecification"], {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})

        # the replica exists in the other region, with the same key schema, and points back
        t2 = self.ddb_dr.describe_table(TableName="t1")["Table"]
        self.assertShape(self.raw_dr, "DescribeTable")
        self.assertEqual(t2["KeySchema"], t["KeySchema"])
        self.assertEqual(t2["BillingModeSummary"]["BillingMode"], "PAY_PER_REQUEST")
        self.assertEqual(t2["Replicas"], [{"RegionName": P, "ReplicaStatus": "ACTIVE"}])
        self.assertIn("arn:aws:dynamodb:us-west-2:", t2["TableArn"])
        self.assertEqual(self.env.moto_client("dynamodb", DR).list_tables()["TableNames"], ["t1"])

        # the seed guide's own check, through the aws CLI
        res = self.env.aws("dynamodb", "describe-table", "--table-name", "t1",
                           "--query", "Table.Replicas[].{Region:RegionName,Status:ReplicaStatus}")
        self.assertEqual(res.rc, 0, res.stderr)
        self.assertEqual(res.json, [{"Region": DR, "Status": "ACTIVE"}])

    def test_creating_for_the_set_duration(self):
        create_table(self.ddb, "slow")
        self.env.set_duration("UpdateTable", DURATION)
        t0 = time.monotonic()
        out = self.ddb.update_table(TableName="slow", ReplicaUpdates=[{"Create": {"RegionName": DR}}])
        self.assertEqual(out["TableDescription"]["TableStatus"], "UPDATING")
        self.assertEqual(out["TableDescription"]["Replicas"][0]["ReplicaStatus"], "CREATING")
        self.assertShape(self.raw, "UpdateTable")
        t2 = self.ddb_dr.describe_table(TableName="slow")["Table"]
        self.assertEqual(t2["TableStatus"], "CREATING")
        res = self.env.aws("dynamodb", "describe-table", "--table-name", "slow")
        self.assertEqual(res.rc, 0, res.stderr)
        self.assertEqual(res.json["Table"]["Replicas"][0]["ReplicaStatus"], "CREATING")
        self.assertEqual(res.json["Table"]["Replicas"][0]["ReplicaStatusPercentProgress"], "0")
        drtest.wait_for(lambda: self.ddb.describe_table(TableName="slow")["Table"]["TableStatus"] == "ACTIVE")
        self.assertGreaterEqual(time.monotonic() - t0, DURATION)
        t = self.ddb.describe_table(TableName="slow")["Table"]
        self.assertEqual((t["TableStatus"], t["Replicas"][0]["ReplicaStatus"]), ("ACTIVE", "ACTIVE"))

    def test_stream_rules(self):
        create_table(self.ddb, "keys", StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.ddb.update_table(TableName="keys", ReplicaUpdates=[{"Create": {"RegionName": DR}}])
        self.assertEqual(cm.exception.response["Error"]["Code"], "ValidationException")

    def test_create_twice_and_unknown_table(self):
        create_table(self.ddb, "t2")
        self.ddb.update_table(TableName="t2", ReplicaUpdates=[{"Create": {"RegionName": DR}}])
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.ddb.update_table(TableName="t2", ReplicaUpdates=[{"Create": {"RegionName": DR}}])
        self.assertEqual(cm.exception.response["Error"]["Code"], "ValidationException")
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.ddb.update_table(TableName="none", ReplicaUpdates=[{"Create": {"RegionName": DR}}])
        self.assertEqual(cm.exception.response["Error"]["Code"], "ResourceNotFoundException")
        res = self.env.aws("dynamodb", "update-table", "--table-name", "none",
                           "--replica-updates", f"Create={{RegionName={DR}}}")
        self.assertNotEqual(res.rc, 0)
        self.assertIn("ResourceNotFoundException", res.stderr)

    def test_delete_replica(self):
        create_table(self.ddb, "t3")
        self.ddb.update_table(TableName="t3", ReplicaUpdates=[{"Create": {"RegionName": DR}}])
        self.env.set_duration("UpdateTable", 1)
        out = self.ddb.update_table(TableName="t3", ReplicaUpdates=[{"Delete": {"RegionName": DR}}])
        self.assertEqual(out["TableDescription"]["Replicas"][0]["ReplicaStatus"], "DELETING")
        drtest.wait_for(lambda: "Replicas" not in self.ddb.describe_table(TableName="t3")["Table"])
        t = self.ddb.describe_table(TableName="t3")["Table"]
        self.assertNotIn("Replicas", t)
        self.assertNotIn("GlobalTableVersion", t)
        self.assertEqual(self.env.moto_client("dynamodb", DR).list_tables()["TableNames"], [])

    def test_deleting_the_dr_table_directly_removes_the_replica(self):
        create_table(self.ddb, "t4")
        self.ddb.update_table(TableName="t4", ReplicaUpdates=[{"Create": {"RegionName": DR}}])
        self.ddb_dr.delete_table(TableName="t4")
        self.assertNotIn("Replicas", self.ddb.describe_table(TableName="t4")["Table"])
        # also when it disappears behind the proxy's back
        self.ddb.update_table(TableName="t4", ReplicaUpdates=[{"Create": {"RegionName": DR}}])
        self.env.moto_client("dynamodb", DR).delete_table(TableName="t4")
        self.assertNotIn("Replicas", self.ddb.describe_table(TableName="t4")["Table"])

    def test_control_set_status_and_remove(self):
        create_table(self.ddb, "t5")
        self.ddb.update_table(TableName="t5", ReplicaUpdates=[{"Create": {"RegionName": DR}}])
        self.env.set_replica("t5", DR, "INACCESSIBLE_ENCRYPTION_CREDENTIALS", description="KMS key disabled")
        t = self.ddb.describe_table(TableName="t5")["Table"]
        self.assertShape(self.raw, "DescribeTable")
        self.assertEqual(t["Replicas"], [{"RegionName": DR, "ReplicaStatus": "INACCESSIBLE_ENCRYPTION_CREDENTIALS",
                                          "ReplicaStatusDescription": "KMS key disabled"}])
        with self.assertRaises(drtest.ControlError):
            self.env.set_replica("t5", DR, "BROKEN")
        self.env.remove_replica("t5", DR)
        self.assertNotIn("Replicas", self.ddb.describe_table(TableName="t5")["Table"])
        self.assertEqual(self.env.moto_client("dynamodb", DR).list_tables()["TableNames"], [])
        with self.assertRaises(drtest.ControlError):
            self.env.remove_replica("t5", DR)

    def test_cmk_table_needs_the_replica_key(self):
        kms = self.env.client("kms", P)
        key = kms.create_key()["KeyMetadata"]["Arn"]
        create_table(self.ddb, "enc", SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key})
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.ddb.update_table(TableName="enc", ReplicaUpdates=[{"Create": {"RegionName": DR}}])
        self.assertEqual(cm.exception.response["Error"]["Code"], "ValidationException")
        self.assertIn("KMSMasterKeyId must be specified for each replica", cm.exception.response["Error"]["Message"])
        self.assertNotIn("enc", self.ddb_dr.list_tables()["TableNames"])
        dr_key = self.env.client("kms", DR).create_key()["KeyMetadata"]["Arn"]
        self.ddb.update_table(TableName="enc", ReplicaUpdates=[{"Create": {"RegionName": DR, "KMSMasterKeyId": dr_key}}])
        self.assertEqual(self.ddb_dr.describe_table(TableName="enc")["Table"]["SSEDescription"]["KMSMasterKeyArn"], dr_key)

    def test_provisioned_table_needs_write_auto_scaling(self):
        self.ddb.create_table(TableName="prov", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                              AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                              ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5})
        out = self.ddb.describe_table_replica_auto_scaling(TableName="prov")["TableAutoScalingDescription"]
        self.assertShape(self.raw, "DescribeTableReplicaAutoScaling")
        self.assertTrue(out["Replicas"][0]["ReplicaProvisionedWriteCapacityAutoScalingSettings"]["AutoScalingDisabled"])
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.ddb.update_table(TableName="prov", ReplicaUpdates=[{"Create": {"RegionName": DR}}])
        self.assertEqual(cm.exception.response["Error"]["Code"], "ValidationException")
        aas = self.env.client("application-autoscaling", P)
        aas.register_scalable_target(ServiceNamespace="dynamodb", ResourceId="table/prov",
                                     ScalableDimension="dynamodb:table:WriteCapacityUnits", MinCapacity=5, MaxCapacity=50)
        aas.put_scaling_policy(PolicyName="w", ServiceNamespace="dynamodb", ResourceId="table/prov",
                               ScalableDimension="dynamodb:table:WriteCapacityUnits", PolicyType="TargetTrackingScaling",
                               TargetTrackingScalingPolicyConfiguration={"TargetValue": 70.0, "PredefinedMetricSpecification": {
                                   "PredefinedMetricType": "DynamoDBWriteCapacityUtilization"}})
        w = self.ddb.describe_table_replica_auto_scaling(TableName="prov")["TableAutoScalingDescription"][
            "Replicas"][0]["ReplicaProvisionedWriteCapacityAutoScalingSettings"]
        self.assertShape(self.raw, "DescribeTableReplicaAutoScaling")
        self.assertEqual((w["AutoScalingDisabled"], w["MinimumUnits"], w["MaximumUnits"]), (False, 5, 50))
        self.ddb.update_table(TableName="prov", ReplicaUpdates=[{"Create": {"RegionName": DR}}])
        self.assertIn("prov", self.ddb_dr.list_tables()["TableNames"])

    def test_plain_tables_are_untouched(self):
        create_table(self.ddb, "plain")
        t = self.ddb.describe_table(TableName="plain")["Table"]
        self.assertNotIn("Replicas", t)
        self.assertEqual(self.env.requests(operation="DescribeTable")[-1]["emulated"], False)


if __name__ == "__main__":
    unittest.main(verbosity=2)
