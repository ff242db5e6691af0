#!/usr/bin/env python3
"""Fidelity of the Route 53 emulation (health check status, PENDING changes): boto3, aws CLI, model."""
import os
import sys
import time
import unittest

import botocore.exceptions

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import drtest  # noqa: E402
import modelcheck  # noqa: E402


class Route53(drtest.EnvTestCase):
    def setUp(self):
        super().setUp()
        self.r53 = self.env.client("route53")
        self.raw = drtest.RawLog(self.r53)

    def health_check(self, **config):
        cfg = dict(Type="HTTPS", FullyQualifiedDomainName="api-us-east-1.roadcall.example.com", Port=443,
                   ResourcePath="/health", RequestInterval=30, FailureThreshold=3, **config)
        return self.r53.create_health_check(CallerReference=str(time.time()), HealthCheckConfig=cfg)["HealthCheck"]["Id"]

    def statuses(self, hc_id):
        obs = self.r53.get_health_check_status(HealthCheckId=hc_id)["HealthCheckObservations"]
        self.assertEqual(modelcheck.check("route53", "GetHealthCheckStatus", self.raw.last("GetHealthCheckStatus")), [])
        return {o["StatusReport"]["Status"].split(":")[0] for o in obs}, obs

    def test_status_follows_the_test(self):
        hc = self.health_check()
        kinds, obs = self.statuses(hc)
        self.assertEqual(kinds, {"Success"})
        self.assertEqual(len(obs), 8)
        self.assertEqual(obs[0]["Region"], "us-east-1")
        self.assertLess(abs(obs[0]["StatusReport"]["CheckedTime"].timestamp() - time.time()), 30)
        self.env.set_health(hc, False)
        self.assertEqual(self.statuses(hc)[0], {"Failure"})
        res = self.env.aws("route53", "get-health-check-status", "--health-check-id", hc)
        self.assertEqual(res.rc, 0, res.stderr)
        self.assertTrue(all(o["StatusReport"]["Status"].startswith("Failure")
                            for o in res.json["HealthCheckObservations"]))
        self.env.control("PUT", f"/route53/healthchecks/{hc}/status",
                         {"healthy": False, "message": "Failure: HTTP Status Code 503, Service Unavailable"})
        self.assertEqual(self.statuses(hc)[1][0]["StatusReport"]["Status"],
                         "Failure: HTTP Status Code 503, Service Unavailable")

    def test_inverted_disabled_and_regions(self):
        inverted = self.health_check(Inverted=True)
        self.assertEqual(self.statuses(inverted)[0], {"Failure"})
        self.env.set_health(inverted, False)
        self.assertEqual(self.statuses(inverted)[0], {"Success"})
        disabled = self.health_check(Disabled=True)
        self.env.set_health(disabled, False)
        self.assertEqual(self.statuses(disabled)[0], {"Success"})  # a disabled check counts as healthy
        regional = self.health_check(Regions=["us-east-1", "us-west-2", "eu-west-1"])
        self.assertEqual([o["Region"] for o in self.statuses(regional)[1]], ["us-east-1", "us-west-2", "eu-west-1"])
        # an update is seen too
        self.r53.update_health_check(HealthCheckId=regional, Inverted=True)
        self.assertEqual(self.statuses(regional)[0], {"Failure"})

    def test_unknown_health_check(self):
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.r53.get_health_check_status(HealthCheckId="00000000-0000-0000-0000-000000000000")
        self.assertEqual(cm.exception.response["Error"]["Code"], "NoSuchHealthCheck")
        with self.assertRaises(drtest.ControlError):
            self.env.control("PUT", "/route53/healthchecks/x/status", {"healthy": "no"})

    def test_pending_change(self):
        zone = self.r53.create_hosted_zone(Name="roadcall.example.com", CallerReference="z")["HostedZone"]["Id"]
        self.env.set_duration("ChangeResourceRecordSets", 4)
        t0 = time.monotonic()
        change = self.r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [{
            "Action": "UPSERT", "ResourceRecordSet": {"Name": "api.roadcall.example.com", "Type": "A", "TTL": 60,
                                                      "ResourceRecords": [{"Value": "203.0.113.10"}]}}]})["ChangeInfo"]
        self.assertEqual(modelcheck.check("route53", "ChangeResourceRecordSets",
                                          self.raw.last("ChangeResourceRecordSets")), [])
        self.assertEqual(change["Status"], "PENDING")
        got = self.r53.get_change(Id=change["Id"])["ChangeInfo"]
        self.assertEqual(modelcheck.check("route53", "GetChange", self.raw.last("GetChange")), [])
        self.assertEqual((got["Id"], got["Status"]), (change["Id"], "PENDING"))
        self.assertTrue(got["Id"].startswith("/change/"))
        res = self.env.aws("route53", "get-change", "--id", change["Id"])
        self.assertEqual(res.rc, 0, res.stderr)
        self.assertEqual(res.json["ChangeInfo"]["Status"], "PENDING")
        self.r53.get_waiter("resource_record_sets_changed").wait(Id=change["Id"],
                                                                 WaiterConfig={"Delay": 0.2, "MaxAttempts": 150})
        self.assertGreaterEqual(time.monotonic() - t0, 4)


if __name__ == "__main__":
    unittest.main(verbosity=2)
