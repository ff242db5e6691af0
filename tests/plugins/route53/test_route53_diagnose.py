#!/usr/bin/env python3
"""`dr-agent diagnose` of the route53 plugin: why the PRIMARY record's health check fails, per checker region."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_route53  # noqa: E402

RID = "route53.api"
MSG = "Failure: HTTP Status Code 503, Service Unavailable"


class Diagnose(test_route53.Route53Plugin):
    """failover_method invert: the PRIMARY record carries the endpoint's HTTPS health check itself."""

    def diagnose(self, rc):
        res = self.agent("diagnose", RID, rc=rc)
        return res, self.checks(res)

    def endpoint_check(self):
        (hc,) = [h for h in self.health_checks() if h["HealthCheckConfig"]["Type"] in ("HTTPS", "HTTP", "TCP")]
        return hc["Id"]

    def test_healthy_has_no_finding(self):
        self.configure()
        self.env.clear_requests()
        _, got = self.diagnose(0)
        self.assertTrue(got, "no diagnostics reported")
        self.assertEqual({c["status"] for c in got.values()}, {"OK"}, got)
        self.assertTrue(any(n.startswith("health_check_checkers") for n in got), got)
        self.assertEqual(self.mutations(), [])
        ops = {e["operation"] for e in self.env.requests(service="route53")}
        self.assertIn("GetHealthCheckLastFailureReason", ops)

    def test_failing_checkers_are_named_with_their_reasons(self):
        self.configure()
        hc = self.endpoint_check()
        # two checker regions of eight cannot reach the endpoint: Route 53 still counts it healthy (a WARNING)
        self.env.set_health(hc, False, message=MSG, regions=["us-east-1", "eu-west-1"])
        _, got = self.diagnose(1)
        (name,) = [n for n in got if n.startswith("health_check_checkers")]
        c = got[name]
        self.assertEqual((c["status"], c["observed"]), ("WARNING", 2), c)
        self.assertIn("us-east-1", c["detail"])
        self.assertIn("eu-west-1", c["detail"])
        self.assertNotIn("us-west-2", c["detail"])
        self.assertIn(MSG, c["detail"])
        self.assertIn("fix: the endpoint answers an error", c["detail"])
        # every checker fails: Route 53 acts on it (CRITICAL)
        self.env.set_health(hc, False, message="Failure: Connection timed out. The endpoint or the internet "
                            "connection is down, or requests are being blocked by your firewall.")
        res, got = self.diagnose(2)
        c = got[name]
        self.assertEqual((c["status"], c["observed"]), ("CRITICAL", 8), c)
        self.assertIn("ROUTE53_HEALTHCHECKS", c["detail"])
        text = self.env.run([test_route53.AGENT, "-c", self.conf, "--plugin-dir", test_route53.PLUGINS, "diagnose", RID])
        print(f"\n--- dr-agent diagnose (text, failover_method {self.method}) ---\n" + text.stdout)
        self.assertEqual(text.rc, 2, text)
        # healthy again: the last failures remain, an intermittent failure in the last hour is a WARNING
        self.env.set_health(hc, True)
        _, got = self.diagnose(1)
        self.assertEqual(got[name]["status"], "OK")
        last = [n for n in got if n.startswith("health_check_last_failure")]
        self.assertEqual(len(last), 1, got)
        self.assertEqual(got[last[0]]["status"], "WARNING")
        self.assertIn("Connection timed out", got[last[0]]["detail"])


    def test_primary_record_without_health_check(self):
        self.configure()
        rr = dict(self.records()["PRIMARY"])
        rr.pop("HealthCheckId")
        self.r53.change_resource_record_sets(HostedZoneId=self.zone_id, ChangeBatch={"Changes": [
            {"Action": "UPSERT", "ResourceRecordSet": rr}]})
        _, got = self.diagnose(2)
        self.assertEqual(list(got), ["primary_health_check"])
        self.assertEqual(got["primary_health_check"]["status"], "CRITICAL")
        self.assertIn("never fails over", got["primary_health_check"]["detail"])


class DiagnoseAlarmMethod(Diagnose):
    """failover_method alarm (the reference): the PRIMARY's calculated check; the endpoint check is its child."""
    method = "alarm"


def load_tests(loader, tests, pattern):
    """Only this file's tests, not those it inherits from the plugin's test case."""
    suite = unittest.TestSuite()
    for cls in (Diagnose, DiagnoseAlarmMethod):
        # the record without a health check is the same case for both methods: run once
        suite.addTests(cls(n) for n in sorted(Diagnose.__dict__) if n.startswith("test_")
                       and not (cls is DiagnoseAlarmMethod and n == "test_primary_record_without_health_check"))
    return suite


if __name__ == "__main__":
    unittest.main(verbosity=2)
