#!/usr/bin/env python3
"""Example integration test, the pattern for plugin tests: seed the reference estate, inject a fault, run a client
command in the environment, check its result and what reached the proxy.

The client here is the aws CLI (standard retry mode), standing in for `dr-agent verify --format json`;
a plugin test swaps the command and its assertions and keeps the rest.
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import drtest  # noqa: E402

TABLE = "roadcall-incidents-prod"
RETRYING = {"AWS_RETRY_MODE": "standard", "AWS_MAX_ATTEMPTS": "3"}


class Example(drtest.EnvTestCase):
    def setUp(self):
        super().setUp()
        self.env.seed()  # the primary estate, as before `dr-agent configure`
        self.env.clear_requests()

    def test_throttled_call_is_retried_and_succeeds(self):
        self.env.add_fault(service="dynamodb", operation="DescribeTable", action="throttle", count=2)
        res = self.env.run(["aws", "dynamodb", "describe-table", "--table-name", TABLE, "--output", "json"],
                           env=RETRYING)
        self.assertEqual(res.rc, 0, res.stderr)
        self.assertEqual(res.json["Table"]["TableStatus"], "ACTIVE")
        self.assertEqual([(r["status"], r["fault"]) for r in self.env.requests(operation="DescribeTable")],
                         [(400, "throttle"), (400, "throttle"), (200, None)])

    def test_replica_check_from_the_runbook(self):
        """The guide's monthly check, after the DR replica exists; then the DR region goes away."""
        ddb = self.env.client("dynamodb")
        ddb.update_table(TableName=TABLE, ReplicaUpdates=[{"Create": {"RegionName": drtest.DR}}])
        query = "Table.Replicas[].{Region:RegionName,Status:ReplicaStatus}"
        res = self.env.aws("dynamodb", "describe-table", "--table-name", TABLE, "--query", query)
        self.assertEqual(res.json, [{"Region": drtest.DR, "Status": "ACTIVE"}])

        self.env.add_fault(region=drtest.DR, action="unreachable")
        res = self.env.aws("dynamodb", "describe-table", "--table-name", TABLE, region=drtest.DR,
                           env={"AWS_MAX_ATTEMPTS": "1"})
        self.assertNotEqual(res.rc, 0)
        self.assertIn("Connection was closed", res.stderr)  # botocore's words for a reset connection
        res = self.env.aws("dynamodb", "describe-table", "--table-name", TABLE, "--query", query)
        self.assertEqual(res.rc, 0, res.stderr)  # the primary region still answers

    def test_lag_over_the_objective(self):
        self.env.put_lag_metrics(aurora_ms=20 * 60 * 1000)  # 20 minutes behind: over the 15-minute RPO
        res = self.env.aws("cloudwatch", "get-metric-statistics", "--namespace", "AWS/RDS",
                           "--metric-name", "AuroraGlobalDBReplicationLag",
                           "--dimensions", "Name=DBClusterIdentifier,Value=roadcall-aurora-prod-replica",
                           "--start-time", "2000-01-01T00:00:00", "--end-time", "2100-01-01T00:00:00",
                           "--period", "60", "--statistics", "Maximum", region=drtest.DR)
        self.assertEqual(res.rc, 0, res.stderr)
        self.assertGreater(max(p["Maximum"] for p in res.json["Datapoints"]), 15 * 60 * 1000)


if __name__ == "__main__":
    unittest.main(verbosity=2)
