#!/usr/bin/env python3
"""Integration tests of `dr-agent diagnose` for DynamoDB: replication latency and its causes, on a healthy and a broken estate."""
import datetime
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dynamodb_case import D, OK, P, TABLES, WARNING, DynamoDBCase, checks, resource  # noqa: E402

RID = "dynamodb.incidents"


class Diagnose(DynamoDBCase):
    def put_metric(self, region, name, value, dims):
        when = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=60)
        self.cw[region].put_metric_data(Namespace="AWS/DynamoDB", MetricData=[{
            "MetricName": name, "Timestamp": when, "Value": float(value), "Unit": "Count",
            "Dimensions": [{"Name": k, "Value": v} for k, v in dims]}])

    def test_healthy_estate_has_no_finding(self):
        self.configured()
        self.env.clear_requests()
        rep = self.report("diagnose", expect=OK)
        self.assertEqual(rep["command"], "diagnose")
        for rid in TABLES:
            got = checks(rep, rid)
            self.assertEqual(set(got), {"replication_latency", "write_throttling_serving",
                                        "write_throttling_receiving", "user_errors", "write_capacity"}, rid)
            self.assertEqual({c["status"] for c in got.values()}, {"OK"}, got)
        # read-only: no call changes anything
        writes = [r["operation"] for r in self.env.requests()
                  if not r["operation"].startswith(("Describe", "Get", "List"))]
        self.assertEqual(writes, [])
        text = self.agent("diagnose", expect=OK).stdout
        self.assertIn("diagnose OK", text)
        self.assertNotIn("WARNING", text)

    def test_throttling_user_errors_and_dr_capacity_are_found(self):
        self.configured()
        table = TABLES[RID]
        self.env.put_lag_metrics(dynamodb_ms=700_000, points=3)  # above half the RPO: the symptom
        self.put_metric(D, "WriteThrottleEvents", 37, [("TableName", table)])
        self.put_metric(P, "WriteThrottleEvents", 5, [("TableName", table)])
        self.put_metric(P, "WriteThrottleEvents", 9, [("TableName", "another-table")])  # not this table's
        self.put_metric(P, "UserErrors", 12, [])
        # the DR replica provisioned far below the serving table's on-demand writes
        self.env.moto_client("dynamodb", D).update_table(
            TableName=table, BillingMode="PROVISIONED",
            ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 1})

        res = self.agent("diagnose", RID, "--format", "json", expect=WARNING)
        rep = res.json
        self.assertEqual([r["id"] for r in rep["resources"]], [RID])  # the positional RESOURCE selects it
        got = checks(rep, RID)
        self.assertEqual(got["replication_latency"]["status"], "WARNING")
        self.assertEqual(got["replication_latency"]["observed"], 700.0)
        self.assertEqual(got["write_throttling_receiving"]["status"], "WARNING")
        self.assertEqual(got["write_throttling_receiving"]["observed"], 37)
        self.assertIn(f"WriteThrottleEvents Sum 37 on {table} in {D}", got["write_throttling_receiving"]["detail"])
        self.assertIn("fix: ", got["write_throttling_receiving"]["detail"])
        self.assertEqual((got["write_throttling_serving"]["status"], got["write_throttling_serving"]["observed"]),
                         ("WARNING", 5))
        self.assertIn(f"on {table} in {P}", got["write_throttling_serving"]["detail"])
        self.assertEqual(got["user_errors"]["status"], "WARNING")
        self.assertIn(f"UserErrors Sum 12 in {P}", got["user_errors"]["detail"])
        self.assertEqual(got["write_capacity"]["status"], "WARNING")
        self.assertEqual(got["write_capacity"]["observed"], "PROVISIONED 1 WCU")
        self.assertIn("update-table", got["write_capacity"]["detail"])

        # verify reports the symptom and points at the diagnostics
        ver = self.report("verify", expect=WARNING)
        self.assertEqual(resource(ver, RID)["see"], f"dr-agent diagnose {RID}")
        text = self.agent("verify").stdout
        self.assertIn(f"see: dr-agent diagnose {RID}", text)
        # the text report of diagnose, as the operator guide shows it
        out = self.agent("diagnose", RID, expect=WARNING).stdout
        print("\n--- dr-agent diagnose (text) ---\n" + out)
        self.assertIn("WARNING  write_capacity", out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
