#!/usr/bin/env python3
"""test_region_outage.py: the reference estate's forced failover while us-east-1 is entirely unreachable (every
service, Route 53 and IAM control planes included), then failback once it is back: outcome only (RTO, DNS, where the
agent called), so it holds whatever each plugin's failover mode is."""
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

SOURCE = os.environ["DR_SOURCE_DIR"]
AGENT = os.environ["DR_AGENT_BIN"]
PLUGINS = os.environ["DR_AGENT_PLUGIN_DIR"]
sys.path.insert(0, os.path.join(SOURCE, "tests", "env"))
sys.path.insert(0, os.path.join(SOURCE, "tests", "reliability"))
import drtest  # noqa: E402
from reltest import Relay  # noqa: E402  (the primary PostgreSQL node's data plane, which a test can cut)

P, D = "us-east-1", "us-west-2"
RECORD = "api.roadcall.example.com"
PRIMARY_EP, DR_EP = "api-us-east-1.roadcall.example.com", "api-us-west-2.roadcall.example.com"


class RegionOutage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.env = drtest.Env()
        cls.tmp = tempfile.mkdtemp(prefix="outage-")
        subprocess.run([sys.executable, os.path.join(SOURCE, "tests", "env", "seed_estate.py"), "--stage", "primary"],
                       check=True, capture_output=True)
        cls.conf = os.path.join(cls.tmp, "dr-agent.conf")
        cls.relay = Relay(os.environ["DR_TEST_PG_PRIMARY_PORT"])  # the agent reaches us-east-1's database through it
        with open(cls.conf, "w") as f:
            subprocess.run([sys.executable, os.path.join(SOURCE, "scripts", "demo-config.py"),
                            os.path.join(SOURCE, "conf", "dr-agent.conf"), os.path.join(cls.tmp, "state")],
                           check=True, stdout=f, env=dict(os.environ, DR_TEST_PG_PRIMARY_PORT=str(cls.relay.port)))
        os.chmod(cls.conf, 0o600)
        subprocess.run([sys.executable, os.path.join(SOURCE, "scripts", "demo-estate.py"), "grants"], check=True,
                       capture_output=True)

    def agent(self, *args, timeout=600):
        t0 = time.monotonic()
        r = subprocess.run([AGENT, "-c", self.conf, "--plugin-dir", PLUGINS, "--format", "json", *args],
                           capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        r.seconds = time.monotonic() - t0
        r.json = json.loads(r.stdout) if r.stdout.strip().startswith("{") else None
        return r

    def answer(self):
        return self.env.control("GET", f"/route53/answer?name={RECORD}&type=CNAME")["answer"]

    def test_forced_failover_with_the_primary_region_down_then_failback(self):
        r = self.agent("configure")
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        subprocess.run([sys.executable, os.path.join(SOURCE, "scripts", "demo-estate.py"), "healthy"], check=True,
                       capture_output=True)
        self.assertEqual(self.answer(), PRIMARY_EP)

        # us-east-1 goes away, control planes included; the agent's host reaches us-west-2 only
        outage = self.env.region_outage(P)
        self.relay.set("unreachable")
        self.env.clear_requests()
        r53 = self.env.client("route53", P)
        with self.assertRaises(Exception):
            r53.list_hosted_zones()
        with self.assertRaises(Exception):
            self.env.client("iam", P).list_roles()
        self.env.clear_requests()

        fo = self.agent("failover", "--mode", "forced", "--yes")
        self.assertIsNotNone(fo.json, fo.stderr[-3000:])
        self.assertEqual(fo.returncode, 0, json.dumps([(r["id"], r["status"], r.get("error")) for r in
                                                       fo.json["resources"]], indent=1) + fo.stderr[-2000:])
        self.assertLess(fo.seconds, 3600)  # the RTO
        self.assertEqual(self.answer(), DR_EP)  # Route 53's data plane answers the DR endpoint

        # no call to us-east-1 after its first failed attempt, per service
        log = self.env.requests(region=P)
        first = {}
        for e in log:
            if e["fault"] == "unreachable" and e["service"] not in first:
                first[e["service"]] = e["time"]
        late = [(e["service"], e["operation"], round(e["time"] - first[e["service"]], 3)) for e in log
                if e["service"] in first and e["time"] > first[e["service"]] + 0.5]
        self.assertEqual(late, [], "calls to us-east-1 after the first failed attempt of their service")
        print(f"failover: {fo.seconds:.1f}s; us-east-1 requests {len(log)}, first failures per service "
              f"{sorted(first)}, database connections {self.relay.connections}", file=sys.stderr)
        self.assertTrue(first, "the forced failover never tried the region it left: the test proves nothing")
        self.assertLessEqual(self.relay.connections, 1, "connections to us-east-1's database after the first failed one")
        self.assertEqual(len(log), len(first) + sum(1 for e in log if e["fault"] != "unreachable"),
                         f"more than one failed attempt for some service: {[(e['service'], e['operation'], e['attempt'], e['time']) for e in log]}")
        self.assertNotIn("route53", first, "the failover called Route 53's control plane")

        # verify in DR: the primary region is reported down, within the verify deadline
        ver = self.agent("verify", "--timeout", "90s", timeout=120)
        self.assertIsNotNone(ver.json, ver.stderr[-3000:])
        self.assertLess(ver.seconds, 100)
        self.assertEqual(ver.json["serving"], "dr")
        (route53,) = [r for r in ver.json["resources"] if r["id"] == "route53.api"]
        checks = {c["name"]: c for c in route53["checks"]}
        self.assertEqual((checks["route53_control_plane"]["status"], checks["route53_control_plane"]["observed"]),
                         ("CRITICAL", "unreachable"))
        self.assertEqual((checks["traffic_alarm"]["status"], checks["traffic_alarm"]["observed"]), ("OK", "ALARM"))
        self.assertNotEqual(ver.returncode, 0)

        # us-east-1 comes back: failback completes and traffic returns
        self.env.clear_faults(outage)
        self.relay.set("pass")
        fb = self.agent("failback", "--mode", "forced", "--yes")
        self.assertIsNotNone(fb.json, fb.stderr[-3000:])
        self.assertEqual(fb.returncode, 0, json.dumps([(r["id"], r["status"], r.get("error")) for r in
                                                       fb.json["resources"]], indent=1) + fb.stderr[-2000:])
        self.assertEqual(self.answer(), PRIMARY_EP)


if __name__ == "__main__":
    unittest.main(verbosity=2)
