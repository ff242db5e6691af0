#!/usr/bin/env python3
"""Fidelity of the Route 53 emulation (health check status, PENDING changes): boto3, aws CLI, model."""
import json
import os
import sys
import time
import unittest
import urllib.request

import botocore.exceptions

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import drtest  # noqa: E402
import modelcheck  # noqa: E402

# long enough that a slow aws CLI start on a loaded machine still lands inside the emulated wait
DURATION = 10


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
        self.env.set_duration("ChangeResourceRecordSets", DURATION)
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
        self.assertGreaterEqual(time.monotonic() - t0, DURATION)

    # ---- CloudWatch as the agent speaks it (JSON protocol) -------------------------------------
    def cw_json(self, region, operation, body):
        """A signed JSON-protocol CloudWatch call through the proxy, parsed by botocore against the model."""
        import botocore.parsers
        import botocore.session
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        session = self.env.session()
        data = json.dumps(body).encode()
        req = AWSRequest(method="POST", url=self.env.proxy_url + "/", data=data, headers={
            "X-Amz-Target": f"GraniteServiceVersion20100801.{operation}",
            "Content-Type": "application/x-amz-json-1.0"})
        SigV4Auth(session.get_credentials(), "monitoring", region).add_auth(req)
        prepared = req.prepare()
        with urllib.request.urlopen(urllib.request.Request(prepared.url, data=data, headers=dict(prepared.headers),
                                                           method="POST"), timeout=30) as r:
            raw = r.read()
            headers = dict(r.headers)
        model = botocore.session.get_session().get_service_model("cloudwatch").operation_model(operation)
        return botocore.parsers.create_parser("json").parse(
            {"body": raw, "headers": headers, "status_code": 200}, model.output_shape)

    def status_metric(self, hc_id):
        out = self.cw_json("us-east-1", "GetMetricStatistics", {
            "Namespace": "AWS/Route53", "MetricName": "HealthCheckStatus",
            "Dimensions": [{"Name": "HealthCheckId", "Value": hc_id}], "StartTime": time.time() - 600,
            "EndTime": time.time(), "Period": 60, "Statistics": ["Minimum"]})
        (point,) = out["Datapoints"]
        return point["Minimum"]

    def test_inversion_readings(self):
        hc = self.health_check(Inverted=True)  # the endpoint is healthy
        self.assertEqual(self.statuses(hc)[0], {"Failure"})  # "inverted": after inversion (the default)
        self.env.control("PUT", "/route53/inversion", {"reading": "checker"})
        self.assertEqual(self.statuses(hc)[0], {"Success"})  # "checker": each checker's view of the endpoint
        self.assertEqual(self.status_metric(hc), 0.0)  # what Route 53 acts on: after inversion, either way
        self.env.set_health(hc, False)
        self.assertEqual(self.statuses(hc)[0], {"Failure"})
        self.assertEqual(self.status_metric(hc), 1.0)
        with self.assertRaises(drtest.ControlError):
            self.env.control("PUT", "/route53/inversion", {"reading": "sideways"})

    def test_alarm_and_calculated_checks(self):
        cw = self.env.client("cloudwatch", "us-west-2")
        cw.put_metric_alarm(AlarmName="traffic", Namespace="DrAgent/Route53", MetricName="TrafficOnDR",
                            Dimensions=[{"Name": "Resource", "Value": "r"}], Statistic="Maximum", Period=60,
                            EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold",
                            TreatMissingData="ignore")
        alarm_hc = self.r53.create_health_check(CallerReference=str(time.time()), HealthCheckConfig={
            "Type": "CLOUDWATCH_METRIC", "AlarmIdentifier": {"Region": "us-west-2", "Name": "traffic"},
            "InsufficientDataHealthStatus": "LastKnownStatus"})["HealthCheck"]
        self.assertEqual(modelcheck.check("route53", "CreateHealthCheck", self.raw.last("CreateHealthCheck")), [])
        self.assertEqual(alarm_hc["HealthCheckConfig"]["AlarmIdentifier"], {"Region": "us-west-2", "Name": "traffic"})
        endpoint = self.health_check()
        calc = self.r53.create_health_check(CallerReference=str(time.time()) + "c", HealthCheckConfig={
            "Type": "CALCULATED", "HealthThreshold": 2,
            "ChildHealthChecks": [endpoint, alarm_hc["Id"]]})["HealthCheck"]["Id"]
        self.assertEqual(self.status_metric(calc), 1.0)  # no data yet: last known status, healthy when new
        put = {"Namespace": "DrAgent/Route53", "MetricData": [
            {"MetricName": "TrafficOnDR", "Dimensions": [{"Name": "Resource", "Value": "r"}], "Value": 1}]}
        self.cw_json("us-west-2", "PutMetricData", put)
        self.assertEqual(cw.describe_alarms(AlarmNames=["traffic"])["MetricAlarms"][0]["StateValue"], "ALARM")
        self.assertEqual((self.status_metric(alarm_hc["Id"]), self.status_metric(calc)), (0.0, 0.0))
        put["MetricData"][0]["Value"] = 0
        self.cw_json("us-west-2", "PutMetricData", put)
        self.assertEqual(self.status_metric(calc), 1.0)
        self.env.set_health(endpoint, False)  # one child down of two needed
        self.assertEqual(self.status_metric(calc), 0.0)

    def test_region_outage_leaves_the_data_plane(self):
        zone = self.r53.create_hosted_zone(Name="roadcall.example.com", CallerReference="z")["HostedZone"]["Id"]
        hc = self.health_check()
        self.r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [
            {"Action": "UPSERT", "ResourceRecordSet": {
                "Name": "api.roadcall.example.com", "Type": "CNAME", "TTL": 60, "SetIdentifier": sid,
                "Failover": role, "ResourceRecords": [{"Value": value}], **extra}}
            for sid, role, value, extra in (("p", "PRIMARY", "api-us-east-1.roadcall.example.com",
                                             {"HealthCheckId": hc}),
                                            ("s", "SECONDARY", "api-us-west-2.roadcall.example.com", {}))]})
        answer = "/route53/answer?name=api.roadcall.example.com&type=CNAME"
        self.assertEqual(self.env.control("GET", answer),
                         {"answer": "api-us-east-1.roadcall.example.com", "record": "PRIMARY"})
        self.env.region_outage("us-east-1")
        self.env.clear_requests()
        # the control planes signed for us-east-1 are gone: Route 53, IAM
        for call in (lambda: self.r53.list_hosted_zones(), lambda: self.r53.get_health_check_status(HealthCheckId=hc),
                     lambda: self.env.client("iam").list_roles()):
            with self.assertRaises(botocore.exceptions.BotoCoreError):
                call()
        self.assertEqual({e["fault"] for e in self.env.requests(region="us-east-1")}, {"unreachable"})
        # the data plane is not: DNS answers follow the health checkers
        self.env.set_health(hc, False)
        self.assertEqual(self.env.control("GET", answer)["answer"], "api-us-west-2.roadcall.example.com")
        self.env.client("cloudwatch", "us-west-2").list_metrics()  # another region is reachable


if __name__ == "__main__":
    unittest.main(verbosity=2)
