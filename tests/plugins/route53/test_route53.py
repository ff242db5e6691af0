#!/usr/bin/env python3
"""Integration tests of the route53 plugin: every hook against moto + the test proxy, healthy and broken."""
import importlib.util
import json
import os
import re
import socket
import struct
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.environ.get("DR_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "..")),
                                "tests", "env"))
import drtest  # noqa: E402

SRC = os.environ.get("DR_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..")))
AGENT = os.environ.get("DR_AGENT_BIN", os.path.join(SRC, "build", "bin", "dr-agent"))
PLUGINS = os.environ.get("DR_AGENT_PLUGIN_DIR", os.path.join(SRC, "build", "lib", "dr-agent", "plugins"))

ZONE = "roadcall.example.com"
RECORD = "api.roadcall.example.com"
PRIMARY_EP = "api-us-east-1.roadcall.example.com"
DR_EP = "api-us-west-2.roadcall.example.com"
CHECKS = ["health_check", "health_check_status", "primary_record", "primary_health_check", "secondary_record", "ttl"]
MUTATING = {"CreateHealthCheck", "UpdateHealthCheck", "DeleteHealthCheck", "ChangeResourceRecordSets",
            "ChangeTagsForResource", "CreateHostedZone"}


def reference_block():
    """The route53 resource of the reference configuration, as written in conf/dr-agent.conf."""
    with open(os.path.join(SRC, "conf", "dr-agent.conf")) as f:
        text = f.read()
    m = re.search(r"\{\s*type = \"route53\";.*?\n  \}", text, re.S)
    if not m:
        raise AssertionError("conf/dr-agent.conf has no route53 resource")
    # without its comment lines: a commented example key must not absorb a test's setting of that key
    return "\n".join(l for l in m.group(0).splitlines() if not l.lstrip().startswith("#"))


class Resolver:
    """A tiny DNS server on loopback standing in for a recursive resolver in front of Route 53.

    mode "route53": answers what Route 53's name servers would, from the proxy's data-plane emulation
    (GET /__proxy/route53/answer: failover records and the status Route 53 acts on), which keeps
    answering while a fault cuts the control plane; mode "stale": keeps answering the primary
    endpoint, like a resolver with a stuck cache.
    """

    def __init__(self, env, mode="route53"):
        self.env, self.mode, self.queries = env, mode, 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.addr = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def close(self):
        self.stop.set()
        self.thread.join(5)
        self.sock.close()

    def answer(self):
        if self.mode == "stale":
            return PRIMARY_EP
        return self.env.control("GET", f"/route53/answer?name={RECORD}&type=CNAME")["answer"]

    @staticmethod
    def name_wire(name):
        return b"".join(bytes([len(l)]) + l.encode() for l in name.rstrip(".").split(".")) + b"\0"

    def serve(self):
        while not self.stop.is_set():
            try:
                data, peer = self.sock.recvfrom(512)
            except socket.timeout:
                continue
            self.queries += 1
            qid = data[:2]
            end = 12
            while data[end] != 0:
                end += data[end] + 1
            question = data[12:end + 5]
            qtype = struct.unpack(">H", data[end + 1:end + 3])[0]
            ans = b""
            if qtype == 5:
                rdata = self.name_wire(self.answer())
                ans = b"\xc0\x0c" + struct.pack(">HHIH", 5, 1, 60, len(rdata)) + rdata
            header = qid + struct.pack(">HHHHH", 0x8180, 1, 1 if ans else 0, 0, 0)
            self.sock.sendto(header + question + ans, peer)


class Route53Plugin(drtest.EnvTestCase):
    method = "invert"  # failover_method of these tests (the reference configuration's is set per class)

    def setUp(self):
        super().setUp()
        self.r53 = self.env.client("route53")
        self.dir = os.path.join(self.env.tmpdir, "r53-" + self.id().rsplit(".", 1)[-1])
        os.makedirs(self.dir, exist_ok=True)
        self.zone_id = self.seed_zone()
        self.write_config()
        self.env.clear_requests()

    # ---- helpers -------------------------------------------------------------------------------
    def seed_zone(self):
        """The primary estate for this plugin is the hosted zone: from the reference seed where it exists."""
        if importlib.util.find_spec("seed_estate") is not None:
            self.env.seed()
        zones = [z for z in self.r53.list_hosted_zones_by_name(DNSName=ZONE)["HostedZones"]
                 if z["Name"] == ZONE + "."]
        if not zones and importlib.util.find_spec("seed_estate") is None:
            zones = [self.r53.create_hosted_zone(Name=ZONE, CallerReference="seed-" + ZONE)["HostedZone"]]
        self.assertEqual(len(zones), 1, "the seeded estate must hold exactly one zone " + ZONE)
        return zones[0]["Id"].rsplit("/", 1)[-1]

    def write_config(self, **extra):
        extra.setdefault("failover_method", self.method)
        self.current_method = extra["failover_method"]
        block = reference_block()
        lines = ""
        for k, v in extra.items():
            setting = f"{k} = {json.dumps(v) if isinstance(v, str) else v};"
            block, n = re.subn(rf"\b{k} = [^;]*;", lambda m: setting, block)
            lines += "" if n else f"    {setting}\n"
        block = block[:-1].rstrip() + "\n" + lines + "  }"
        self.conf = os.path.join(self.dir, "dr-agent.conf")
        with open(self.conf, "w") as f:
            f.write(f"""# route53 integration test
objectives = {{ rto = "1h"; rpo = "15m"; }};
regions = {{ primary = "us-east-1"; dr = "us-west-2"; }};
aws = {{ max_attempts = 1; }};
agent = {{ state_dir = "{self.dir}"; hook_timeout = "2m"; }};
resources = (
{block}
);
""")
        os.chmod(self.conf, 0o600)

    def agent(self, *args, rc=None):
        res = self.env.run([AGENT, "-c", self.conf, "--plugin-dir", PLUGINS, "--format", "json"] + list(args),
                           timeout=240)
        if rc == 0 and args[0] == "verify" and self.current_method != "alarm" and res.json:
            # invert and records call Route 53's control plane in us-east-1, the primary region: verify warns
            cp = self.checks(res)["failover_control_planes"]
            self.assertEqual((cp["status"], cp["observed"]), ("WARNING", "route53@us-east-1"))
            rc = 1
        if rc is not None:
            self.assertEqual(res.rc, rc, f"dr-agent {' '.join(args)}: {res}")
        self.assertIsNotNone(res.json, f"dr-agent {' '.join(args)} wrote no JSON: {res}")
        return res

    def resource(self, res):
        (r,) = [r for r in res.json["resources"] if r["id"] == "route53.api"]
        return r

    def checks(self, res):
        r = self.resource(res)
        out = {c["name"]: c for c in r["checks"]}
        self.assertEqual(len(out), len(r["checks"]), "check names repeat")
        return out

    def changes(self, res):
        return [(c["action"], c["target"], c["done"]) for c in self.resource(res)["changes"]]

    def configure(self):
        res = self.agent("configure", rc=0)
        self.assertEqual(self.resource(res)["status"], "done")
        return res

    def verify(self, *args, rc=None):
        res = self.agent("verify", *args, rc=rc)
        checks = self.checks(res)
        if self.current_method != "alarm":  # said once here; the tests below look at the rest
            self.assertEqual(checks.pop("failover_control_planes")["status"], "WARNING")
        for c in checks.values():
            for k in ("status", "observed", "threshold", "unit", "detail"):
                self.assertIn(k, c)
        return res, checks

    def records(self):
        sets = self.r53.list_resource_record_sets(HostedZoneId=self.zone_id)["ResourceRecordSets"]
        return {s["Failover"]: s for s in sets if s["Name"] == RECORD + "." and s["Type"] == "CNAME" and "Failover" in s}

    def health_checks(self):
        return [h for h in self.r53.list_health_checks()["HealthChecks"]
                if h["CallerReference"].startswith("dr-agent/route53.api/")]

    def health_check(self):
        (hc,) = self.health_checks()
        return hc

    def mutations(self):
        return [e["operation"] for e in self.env.requests(service="route53") if e["operation"] in MUTATING]

    def assert_only(self, before, after, expected):
        """Exactly the checks in `expected` changed, to the given statuses; every other one kept its status."""
        self.assertEqual(set(before), set(after))
        for name in before:
            want = expected.get(name, before[name]["status"])
            self.assertEqual(after[name]["status"], want, f"{name}: {after[name]}")
        for name, status in expected.items():
            self.assertNotEqual(before[name]["status"], status, f"{name} was already {status}")

    def upsert(self, rrset):
        self.r53.change_resource_record_sets(HostedZoneId=self.zone_id, ChangeBatch={
            "Changes": [{"Action": "UPSERT", "ResourceRecordSet": rrset}]})

    # ---- configure ---------------------------------------------------------------------------
    def test_configure_plan_apply_idempotent(self):
        plan = self.agent("configure", "--plan", rc=2)
        self.assertEqual(plan.json["status"], "planned")
        self.assertEqual(self.changes(plan), [
            ("create_health_check", PRIMARY_EP, False),
            ("create_record", f"{RECORD} CNAME PRIMARY", False),
            ("create_record", f"{RECORD} CNAME SECONDARY", False)])
        self.assertEqual(self.mutations(), [])
        self.assertEqual(self.health_checks(), [])
        self.assertEqual(self.records(), {})

        res = self.configure()
        self.assertEqual([(a, t, d) for a, t, d in self.changes(res)], [
            ("create_health_check", PRIMARY_EP, True),
            ("create_record", f"{RECORD} CNAME PRIMARY", True),
            ("create_record", f"{RECORD} CNAME SECONDARY", True)])
        hc = self.health_check()
        cfg = hc["HealthCheckConfig"]
        self.assertEqual((cfg["Type"], cfg["FullyQualifiedDomainName"], cfg["ResourcePath"], cfg["Port"],
                          cfg["RequestInterval"], cfg["FailureThreshold"], cfg["EnableSNI"], cfg["Inverted"],
                          cfg["Disabled"]),
                         ("HTTPS", PRIMARY_EP, "/health", 443, 30, 3, True, False, False))
        recs = self.records()
        self.assertEqual(recs["PRIMARY"]["SetIdentifier"], "primary")
        self.assertEqual(recs["PRIMARY"]["ResourceRecords"], [{"Value": PRIMARY_EP}])
        self.assertEqual(recs["PRIMARY"]["HealthCheckId"], hc["Id"])
        self.assertEqual(recs["PRIMARY"]["TTL"], 60)
        self.assertEqual(recs["SECONDARY"]["ResourceRecords"], [{"Value": DR_EP}])
        self.assertEqual(recs["SECONDARY"]["TTL"], 60)
        self.assertNotIn("HealthCheckId", recs["SECONDARY"])

        self.env.clear_requests()
        again = self.agent("configure", rc=0)
        self.assertEqual(again.json["status"], "unchanged")
        self.assertEqual(self.changes(again), [])
        plan = self.agent("configure", "--plan", rc=0)
        self.assertEqual(self.changes(plan), [])
        self.assertEqual(self.mutations(), [])
        self.assertEqual(len(self.health_checks()), 1)

    def test_configure_replaces_a_plain_record_and_repairs_drift(self):
        self.upsert({"Name": RECORD, "Type": "CNAME", "TTL": 300, "ResourceRecords": [{"Value": PRIMARY_EP}]})
        plan = self.agent("configure", "--plan", rc=2)
        self.assertIn(("delete_record", f"{RECORD} CNAME", False), self.changes(plan))
        self.configure()
        sets = [s for s in self.r53.list_resource_record_sets(HostedZoneId=self.zone_id)["ResourceRecordSets"]
                if s["Name"] == RECORD + "."]
        self.assertEqual(sorted(s.get("Failover", "none") for s in sets), ["PRIMARY", "SECONDARY"])

        hc = self.health_check()
        self.r53.update_health_check(HealthCheckId=hc["Id"], Port=8443, Disabled=True)
        _, checks = self.verify(rc=2)
        self.assertEqual(checks["health_check"]["status"], "CRITICAL")  # disabled: never fails over
        plan = self.agent("configure", "--plan", rc=2)
        (change,) = self.resource(plan)["changes"]
        self.assertEqual(change["action"], "update_health_check")
        self.assertIn("port 8443 -> 443", change["detail"])
        self.assertIn("disabled -> enabled", change["detail"])
        self.configure()
        cfg = self.health_check()["HealthCheckConfig"]
        self.assertEqual((cfg["Port"], cfg["Disabled"]), (443, False))
        _, checks = self.verify(rc=0)

    # ---- verify --------------------------------------------------------------------------------
    def test_verify_healthy(self):
        self.configure()
        self.env.clear_requests()
        res, checks = self.verify(rc=0)
        self.assertEqual(res.json["status"], "WARNING")  # failover_control_planes only: invert needs us-east-1
        self.assertEqual(list(checks), CHECKS)
        for c in checks.values():
            self.assertEqual(c["status"], "OK", c)
            self.assertTrue(c["detail"])
        hc = self.health_check()
        self.assertEqual(checks["primary_health_check"]["observed"], hc["Id"])
        self.assertEqual(checks["primary_record"]["observed"], PRIMARY_EP)
        self.assertEqual(checks["secondary_record"]["observed"], DR_EP)
        self.assertEqual((checks["ttl"]["observed"], checks["ttl"]["threshold"], checks["ttl"]["unit"]),
                         (60, 300, "seconds"))
        self.assertEqual(self.mutations(), [])  # read-only
        # the status Route 53 acts on comes from the HealthCheckStatus metric (us-east-1); the checkers' reports
        # (GetHealthCheckStatus) are only read for their reasons when something fails
        self.assertTrue(self.env.requests(service="monitoring", region="us-east-1", operation="GetMetricStatistics"))
        self.assertNotIn("GetHealthCheckStatus", {e["operation"] for e in self.env.requests(service="route53")})

    def test_broken_health_check_deleted(self):
        self.configure()
        _, before = self.verify(rc=0)
        self.r53.delete_health_check(HealthCheckId=self.health_check()["Id"])
        _, after = self.verify(rc=2)
        # the health check is the broken thing; the two checks that can only be judged with it say so
        self.assert_only(before, after, {"health_check": "CRITICAL", "health_check_status": "UNKNOWN",
                                         "primary_health_check": "UNKNOWN"})
        self.assertEqual(after["health_check"]["observed"], "missing")
        # configure creates a new one and points the PRIMARY at it
        res = self.configure()
        self.assertEqual([a for a, _, _ in self.changes(res)], ["create_health_check", "update_record"])
        self.assertEqual(self.records()["PRIMARY"]["HealthCheckId"], self.health_check()["Id"])
        self.verify(rc=0)

    def test_broken_primary_without_health_check(self):
        self.configure()
        _, before = self.verify(rc=0)
        p = self.records()["PRIMARY"]
        del p["HealthCheckId"]
        self.upsert(p)
        _, after = self.verify(rc=2)
        self.assert_only(before, after, {"primary_health_check": "CRITICAL"})
        self.assertEqual(after["primary_health_check"]["observed"], "none")

    def test_broken_secondary_missing(self):
        self.configure()
        _, before = self.verify(rc=0)
        self.r53.change_resource_record_sets(HostedZoneId=self.zone_id, ChangeBatch={
            "Changes": [{"Action": "DELETE", "ResourceRecordSet": self.records()["SECONDARY"]}]})
        self.assertNotIn("SECONDARY", self.records())
        _, after = self.verify(rc=2)
        self.assert_only(before, after, {"secondary_record": "CRITICAL"})
        self.assertEqual(after["secondary_record"]["observed"], "missing")

    def test_broken_health_check_failing(self):
        self.configure()
        _, before = self.verify(rc=0)
        self.env.set_health(self.health_check()["Id"], False)
        _, after = self.verify(rc=2)
        self.assert_only(before, after, {"health_check_status": "CRITICAL"})
        self.assertEqual(after["health_check_status"]["observed"], "unhealthy")
        self.assertIn("HealthCheckStatus", after["health_check_status"]["detail"])
        self.assertIn("Failure", after["health_check_status"]["detail"])  # a checker's reason

    def test_broken_ttl_above_limit(self):
        self.configure()
        _, before = self.verify(rc=0)
        for role in ("PRIMARY", "SECONDARY"):
            r = self.records()[role]
            r["TTL"] = 900
            self.upsert(r)
        _, after = self.verify(rc=1)
        self.assert_only(before, after, {"ttl": "WARNING"})
        self.assertEqual((after["ttl"]["observed"], after["ttl"]["threshold"]), (900, 300))
        # and above the RTO it is critical: cached answers would outlive it
        r = self.records()["PRIMARY"]
        r["TTL"] = 7200
        self.upsert(r)
        _, worse = self.verify(rc=2)
        self.assertEqual(worse["ttl"]["status"], "CRITICAL")

    def test_route53_unreachable_is_unknown(self):
        self.configure()
        self.env.add_fault(service="route53", region="us-east-1", action="unreachable")
        res, checks = self.verify(rc=3)
        self.assertEqual(list(checks), CHECKS)
        for c in checks.values():
            self.assertEqual(c["status"], "UNKNOWN", c)
            self.assertIsNone(c["observed"])
        self.env.clear_faults()
        # an AWS error on one call (the status metric) makes only what depends on it UNKNOWN
        self.env.add_fault(service="monitoring", operation="GetMetricStatistics", action="error", status=500,
                           code="InternalError")
        _, checks = self.verify(rc=3)
        self.assertEqual({n: c["status"] for n, c in checks.items() if c["status"] != "OK"},
                         {"health_check_status": "UNKNOWN"})
        # configure and failover fail instead of guessing
        self.env.clear_faults()
        self.env.add_fault(service="route53", region="us-east-1", action="unreachable")
        for hook in (["configure"], ["failover", "--yes"]):
            res = self.agent(*hook, rc=1)
            self.assertEqual(self.resource(res)["status"], "failed")

    def test_wait_respects_the_hook_deadline_and_resumes(self):
        self.write_config(failover_method="records")
        self.configure()
        self.env.set_duration("ChangeResourceRecordSets", 60)
        t0 = time.monotonic()
        res = self.agent("failover", "--yes", "--timeout", "4s", rc=1)
        self.assertLess(time.monotonic() - t0, 20)
        r = self.resource(res)
        self.assertEqual(r["status"], "failed")
        (change,) = r["changes"]
        self.assertEqual((change["action"], change["done"]), ("switch_primary_record", True))
        self.assertIn("not yet INSYNC", change["detail"])
        self.assertEqual(self.records()["PRIMARY"]["ResourceRecords"], [{"Value": DR_EP}])
        # run again, as after a crash: the records are already switched, nothing is changed twice
        self.env.set_duration("ChangeResourceRecordSets", 0)
        self.env.clear_requests()
        again = self.agent("failover", "--yes", rc=0)
        self.assertEqual(self.changes(again), [])
        self.assertEqual(self.mutations(), [])

    # ---- failover / failback --------------------------------------------------------------------
    def test_failover_and_failback_by_inverting(self):
        self.configure()
        hc_id = self.health_check()["Id"]
        dry = self.agent("failover", "--yes", "--dry-run", rc=0)
        self.assertEqual(self.changes(dry), [("invert_health_check", hc_id, False)])
        self.assertFalse(self.health_check()["HealthCheckConfig"]["Inverted"])

        res = self.agent("failover", "--yes", rc=0)
        (change,) = self.resource(res)["changes"]
        self.assertEqual((change["action"], change["target"], change["done"]), ("invert_health_check", hc_id, True))
        self.assertRegex(change["detail"], r"unhealthy .* after \d+\.\ds")
        self.assertTrue(self.health_check()["HealthCheckConfig"]["Inverted"])
        self.assertEqual(self.records()["PRIMARY"]["ResourceRecords"], [{"Value": PRIMARY_EP}])  # untouched

        res, checks = self.verify(rc=0)  # serving dr, from the state the failover recorded
        self.assertEqual(res.json["serving"], "dr")
        self.assertEqual(checks["health_check_status"]["observed"], "unhealthy")
        self.assertEqual(self.agent("configure", rc=0).json["status"], "unchanged")  # keeps traffic on DR

        self.env.clear_requests()
        again = self.agent("failover", "--yes", rc=0)
        self.assertEqual(self.changes(again), [])
        self.assertEqual(self.mutations(), [])

        back = self.agent("failback", "--yes", rc=0)
        self.assertEqual(self.changes(back), [("update_health_check", hc_id, True)])
        self.assertIn("inverted yes -> no", self.resource(back)["changes"][0]["detail"])
        self.assertFalse(self.health_check()["HealthCheckConfig"]["Inverted"])
        self.env.clear_requests()
        self.assertEqual(self.changes(self.agent("failback", "--yes", rc=0)), [])
        self.assertEqual(self.mutations(), [])
        _, checks = self.verify(rc=0)
        self.assertEqual(checks["health_check_status"]["observed"], "healthy")

    def test_failover_and_failback_by_records(self):
        self.write_config(failover_method="records")
        self.configure()
        self.env.set_duration("ChangeResourceRecordSets", 3)
        res = self.agent("failover", "--yes", rc=0)
        (change,) = self.resource(res)["changes"]
        self.assertEqual((change["action"], change["done"]), ("switch_primary_record", True))
        secs = float(re.search(r"INSYNC after (\d+\.\d)s", change["detail"]).group(1))
        self.assertGreaterEqual(secs, 2.5)
        self.assertGreaterEqual(len(self.env.requests(operation="GetChange")), 2)
        recs = self.records()
        self.assertEqual(recs["PRIMARY"]["ResourceRecords"], [{"Value": DR_EP}])
        self.assertEqual(recs["PRIMARY"]["HealthCheckId"], self.health_check()["Id"])
        self.assertFalse(self.health_check()["HealthCheckConfig"]["Inverted"])
        self.env.set_duration("ChangeResourceRecordSets", 0)

        _, checks = self.verify(rc=0)
        self.assertEqual(checks["primary_record"]["observed"], DR_EP)
        self.env.clear_requests()
        self.assertEqual(self.changes(self.agent("failover", "--yes", rc=0)), [])
        self.assertEqual(self.mutations(), [])
        # the same state while the primary region is said to serve is flagged on the record
        _, checks = self.verify("--serving", "primary", rc=2)
        self.assertEqual({n for n, c in checks.items() if c["status"] != "OK"}, {"primary_record"})

        back = self.agent("failback", "--yes", rc=0)
        self.assertEqual(self.changes(back), [("update_record", f"{RECORD} CNAME PRIMARY", True)])
        self.assertEqual(self.records()["PRIMARY"]["ResourceRecords"], [{"Value": PRIMARY_EP}])
        self.assertEqual(self.changes(self.agent("failback", "--yes", rc=0)), [])
        self.verify(rc=0)

    def test_inversion_survives_a_concurrent_health_check_update(self):
        # HealthCheckVersion is an optimistic lock: a stale version is refused with 409, read again and retry
        self.configure()
        self.env.add_fault(service="route53", operation="UpdateHealthCheck", action="error", status=409,
                           code="HealthCheckVersionMismatch", message="stale version", count=1)
        self.env.clear_requests()
        res = self.agent("failover", "--yes", rc=0)
        self.assertEqual(self.changes(res), [("invert_health_check", self.health_check()["Id"], True)])
        self.assertTrue(self.health_check()["HealthCheckConfig"]["Inverted"])
        ops = [e["operation"] for e in self.env.requests(service="route53")
               if e["operation"] in ("UpdateHealthCheck", "GetHealthCheck")]
        self.assertEqual(ops[:3], ["UpdateHealthCheck", "GetHealthCheck", "UpdateHealthCheck"])

    def test_failover_never_inverts_a_failing_check(self):
        # the primary endpoint is down: inverting would make its check healthy and pull traffic back to it
        self.configure()
        hc_id = self.health_check()["Id"]
        self.env.set_health(hc_id, False)
        res = self.agent("failover", "--yes", rc=0)
        self.assertEqual([a for a, _, _ in self.changes(res)], ["switch_primary_record"])
        self.assertFalse(self.health_check()["HealthCheckConfig"]["Inverted"])
        self.assertEqual(self.records()["PRIMARY"]["ResourceRecords"], [{"Value": DR_EP}])
        self.verify(rc=0)
        # a graceful failback refuses while the primary endpoint fails; forced goes ahead
        res = self.agent("failback", "--yes", rc=1)
        self.assertIn("fails its health check", self.resource(res)["error"])
        self.assertEqual(self.records()["PRIMARY"]["ResourceRecords"], [{"Value": DR_EP}])
        self.agent("failback", "--yes", "--mode", "forced", rc=0)
        self.assertEqual(self.records()["PRIMARY"]["ResourceRecords"], [{"Value": PRIMARY_EP}])

    def test_failover_when_traffic_is_already_or_falsely_on_dr(self):
        self.configure()
        hc_id = self.health_check()["Id"]
        # switched by records earlier (say by another run with failover_method = "records"): nothing to invert
        p = self.records()["PRIMARY"]
        p["ResourceRecords"] = [{"Value": DR_EP}]
        self.upsert(p)
        self.env.clear_requests()
        self.assertEqual(self.changes(self.agent("failover", "--yes", rc=0)), [])
        self.assertEqual(self.mutations(), [])
        self.assertFalse(self.health_check()["HealthCheckConfig"]["Inverted"])
        self.agent("failback", "--yes", rc=0)
        # inverted, and then the primary endpoint fails: the inverted check turns healthy and pulls
        # traffic back to the failing endpoint; another failover pins the records to DR
        self.agent("failover", "--yes", rc=0)
        self.env.set_health(hc_id, False)
        _, checks = self.verify(rc=2)
        self.assertEqual({n for n, c in checks.items() if c["status"] != "OK"}, {"health_check_status"})
        res = self.agent("failover", "--yes", rc=0)
        self.assertEqual([a for a, _, _ in self.changes(res)], ["switch_primary_record"])
        self.verify(rc=0)

    def test_failover_recreates_missing_secondary_and_verify_dr_side(self):
        self.configure()
        # serving dr without a failover: Route 53 still answers the primary endpoint
        _, checks = self.verify("--serving", "dr", rc=2)
        self.assertEqual({n for n, c in checks.items() if c["status"] != "OK"}, {"health_check_status"})
        self.r53.change_resource_record_sets(HostedZoneId=self.zone_id, ChangeBatch={
            "Changes": [{"Action": "DELETE", "ResourceRecordSet": self.records()["SECONDARY"]}]})
        res = self.agent("failover", "--yes", rc=0)
        self.assertEqual([a for a, _, _ in self.changes(res)], ["create_record", "invert_health_check"])
        self.assertEqual(self.records()["SECONDARY"]["ResourceRecords"], [{"Value": DR_EP}])
        self.verify(rc=0)

    def test_resolver_confirms_the_answer(self):
        resolver = Resolver(self.env)
        self.addCleanup(resolver.close)
        self.write_config(resolver=resolver.addr, dns_timeout="20s")
        self.configure()
        res = self.agent("failover", "--yes", rc=0)
        dns = self.checks(res)["dns_answer"]
        self.assertEqual((dns["status"], dns["observed"]), ("OK", DR_EP))
        res = self.agent("failback", "--yes", rc=0)
        dns = self.checks(res)["dns_answer"]
        self.assertEqual((dns["status"], dns["observed"]), ("OK", PRIMARY_EP))
        self.assertGreaterEqual(resolver.queries, 2)

    def test_resolver_with_a_stale_answer_warns(self):
        resolver = Resolver(self.env, mode="stale")
        self.addCleanup(resolver.close)
        self.write_config(resolver=resolver.addr, dns_timeout="3s")
        self.configure()
        t0 = time.monotonic()
        res = self.agent("failover", "--yes", rc=0)
        self.assertLess(time.monotonic() - t0, 30)
        dns = self.checks(res)["dns_answer"]
        self.assertEqual((dns["status"], dns["observed"], dns["threshold"]), ("WARNING", PRIMARY_EP, DR_EP))
        self.assertTrue(self.health_check()["HealthCheckConfig"]["Inverted"])  # the failover itself happened

    def test_config_is_validated_before_any_call(self):
        cases = [({"health_check_interval": 20}, "health_check_interval must be 10 or 30"),
                 ({"record": "api.other.example.com"}, "is not inside zone"),
                 ({"secondary_value": PRIMARY_EP.upper()}, "must differ"),
                 ({"resolver": "dns.example.com:53"}, "numeric address"),
                 ({"record_type": "A"}, "need addresses")]
        for extra, message in cases:
            with self.subTest(extra=extra):
                self.write_config(**extra)
                res = self.env.run([AGENT, "-c", self.conf, "--plugin-dir", PLUGINS, "verify"])
                self.assertEqual(res.rc, 78, res)
                self.assertIn(message, res.stderr)
        self.assertEqual(self.env.requests(service="route53"), [])

    def test_plugin_declares_its_keys(self):
        res = self.env.run([AGENT, "plugins", "--plugin-dir", PLUGINS, "--format", "json"])
        self.assertEqual(res.rc, 0, res)
        (p,) = [p for p in res.json["plugins"] if p["type"] == "route53"]
        self.assertEqual(p["hooks"], ["configure", "verify", "failover", "failback", "prepare", "diagnose"])
        keys = {k["name"]: k for k in p["config_keys"]}
        for k in ("zone", "record", "primary_value", "secondary_value", "ttl", "health_check_path",
                  "record_type", "failover_method", "resolver", "ttl_warning"):
            self.assertIn(k, keys)
            self.assertTrue(keys[k]["description"])
        self.assertEqual(keys["record_type"]["default"], "CNAME")
        self.assertEqual(keys["failover_method"]["default"], "invert")


    # ---- health-check semantics that hold under both inversion readings --------------------------
    def invert_cycle(self, reading):
        """failover by inverting, verify in DR, failback: right whichever way GetHealthCheckStatus shows inversion."""
        self.env.control("PUT", "/route53/inversion", {"reading": reading})
        self.agent("configure", rc=0)
        hc_id = self.health_check()["Id"]
        res = self.agent("failover", "--yes", rc=0)
        self.assertEqual([a for a, _, _ in self.changes(res)], ["invert_health_check"])
        self.assertEqual(self.env.control("GET", f"/route53/answer?name={RECORD}&type=CNAME")["answer"], DR_EP)
        res, checks = self.verify(rc=0)
        self.assertEqual(res.json["serving"], "dr")
        self.assertEqual((checks["health_check_status"]["status"], checks["health_check_status"]["observed"]),
                         ("OK", "unhealthy"))
        back = self.agent("failback", "--yes", rc=0)  # graceful: the endpoint is healthy, whatever the reading
        self.assertEqual(self.changes(back), [("update_health_check", hc_id, True)])
        self.assertEqual(self.env.control("GET", f"/route53/answer?name={RECORD}&type=CNAME")["answer"], PRIMARY_EP)
        _, checks = self.verify(rc=0)
        self.assertEqual(checks["health_check_status"]["observed"], "healthy")
        # the checkers' own reports differ between the readings; the agent never relied on them
        obs = self.r53.get_health_check_status(HealthCheckId=hc_id)["HealthCheckObservations"]
        self.assertTrue(all(o["StatusReport"]["Status"].startswith("Success") for o in obs))

    def test_inversion_reading_after_inversion(self):
        self.invert_cycle("inverted")

    def test_inversion_reading_of_the_checkers(self):
        # each checker reports the endpoint itself; an inverted check's reports stay "Success" after a failover
        self.env.control("PUT", "/route53/inversion", {"reading": "checker"})
        self.configure()
        hc_id = self.health_check()["Id"]
        self.r53.update_health_check(HealthCheckId=hc_id, Inverted=True)
        obs = self.r53.get_health_check_status(HealthCheckId=hc_id)["HealthCheckObservations"]
        self.assertTrue(all(o["StatusReport"]["Status"].startswith("Success") for o in obs))
        self.r53.update_health_check(HealthCheckId=hc_id, Inverted=False)
        self.invert_cycle("checker")

    def test_dead_primary_behind_an_inverted_check_is_critical(self):
        self.configure()
        hc_id = self.health_check()["Id"]
        self.agent("failover", "--yes", rc=0)
        self.env.set_health(hc_id, False)  # the primary endpoint fails: the inverted check turns healthy
        self.assertEqual(self.env.control("GET", f"/route53/answer?name={RECORD}&type=CNAME")["answer"], PRIMARY_EP)
        _, checks = self.verify(rc=2)
        st = checks["health_check_status"]
        self.assertEqual(st["status"], "CRITICAL")
        self.assertIn("traffic goes to the failed region", st["detail"])
        self.assertIn("Run 'dr-agent failover' again", st["detail"])  # what to do
        self.assertIn("failover_method = alarm", st["detail"])
        self.agent("failover", "--yes", rc=0)  # doing what it says pins the records to DR
        self.assertEqual(self.env.control("GET", f"/route53/answer?name={RECORD}&type=CNAME")["answer"], DR_EP)
        self.verify(rc=0)

    # ---- pacing ----------------------------------------------------------------------------------
    def test_route53_requests_share_five_per_second(self):
        block = reference_block()
        second = block.replace('name = "api";', 'name = "api2";').replace(
            'record = "api.roadcall.example.com";', 'record = "api2.roadcall.example.com";')
        self.write_config()
        with open(self.conf) as f:
            text = f.read()
        with open(self.conf, "w") as f:
            f.write(text.replace("\n);\n", ",\n" + second.replace("failover_method = \"alarm\";", "") + "\n);\n", 1))
        self.env.clear_requests()
        res = self.env.run([AGENT, "-c", self.conf, "--plugin-dir", PLUGINS, "--format", "json", "configure"],
                           timeout=240)
        self.assertEqual(res.rc, 0, res)
        self.assertEqual({r["id"] for r in res.json["resources"]}, {"route53.api", "route53.api2"})
        times = sorted(e["time"] - e["ms"] / 1000.0 for e in self.env.requests(service="route53"))  # arrivals
        self.assertGreaterEqual(len(times), 10)
        worst = max(sum(1 for t in times if t0 <= t < t0 + 1.0) for t0 in times)
        self.assertLessEqual(worst, 5, "more than five Route 53 requests in one second")

        # verify: the two resources share the run's one listing of the account's health checks and one zone lookup
        # (the host's per-run memo), and each still finds its own health check in it
        self.env.clear_requests()
        res = self.env.run([AGENT, "-c", self.conf, "--plugin-dir", PLUGINS, "--format", "json", "verify"],
                           timeout=240)
        self.assertIsNotNone(res.json, res)
        ops = [e["operation"] for e in self.env.requests(service="route53")]
        self.assertEqual(ops.count("ListHealthChecks"), 1, ops)
        self.assertEqual(ops.count("ListHostedZonesByName"), 1, ops)
        self.assertEqual(ops.count("ListResourceRecordSets"), 2, ops)
        seen = {}
        for r in res.json["resources"]:
            checks = {c["name"]: c for c in r["checks"]}
            self.assertEqual(checks["health_check"]["status"], "OK", (r["id"], checks["health_check"]))
            self.assertEqual(checks["primary_record"]["status"], "OK", (r["id"], checks["primary_record"]))
            seen[r["id"]] = checks["health_check"]["observed"]
        self.assertEqual(set(seen), {"route53.api", "route53.api2"})
        # the next run lists again
        self.env.clear_requests()
        self.env.run([AGENT, "-c", self.conf, "--plugin-dir", PLUGINS, "--format", "json", "verify"], timeout=240)
        self.assertEqual([e["operation"] for e in self.env.requests(service="route53")].count("ListHealthChecks"), 1)


class AlarmMethod(Route53Plugin):
    """failover_method = "alarm", the reference configuration's: traffic moves with no Route 53 control-plane call."""
    method = "alarm"

    def answer(self):
        return self.env.control("GET", f"/route53/answer?name={RECORD}&type=CNAME")["answer"]

    def test_configure_failover_failback(self):
        plan = self.agent("configure", "--plan", rc=2)
        acts = sorted(a for a, _, _ in self.changes(plan))
        self.assertEqual(acts, ["create_alarm", "create_health_check", "create_health_check", "create_health_check",
                                "create_record", "create_record"])
        self.configure()
        self.assertEqual(self.agent("configure", rc=0).json["status"], "unchanged")
        cw = self.env.client("cloudwatch", "us-west-2")
        (alarm,) = cw.describe_alarms(AlarmNames=["dr-agent-route53.api-traffic"])["MetricAlarms"]
        self.assertEqual((alarm["StateValue"], alarm["TreatMissingData"]), ("OK", "ignore"))
        self.assertEqual(self.answer(), PRIMARY_EP)
        res, checks = self.verify(rc=0)
        self.assertEqual({n: c["status"] for n, c in checks.items() if c["status"] != "OK"}, {})
        self.assertEqual(checks["failover_control_planes"]["observed"], "cloudwatch@us-west-2")
        self.assertEqual(checks["traffic_alarm"]["observed"], "OK")

        # failover: CloudWatch in us-west-2 only
        self.env.clear_requests()
        dry = self.agent("failover", "--yes", "--dry-run", rc=0)
        self.assertEqual([a for a, _, _ in self.changes(dry)], ["set_traffic_alarm"])
        res = self.agent("failover", "--yes", rc=0)
        self.assertEqual([(a, d) for a, _, d in self.changes(res)], [("set_traffic_alarm", True)])
        self.assertEqual({(e["service"], e["region"]) for e in self.env.requests()}, {("monitoring", "us-west-2")})
        self.assertEqual(self.answer(), DR_EP)
        res, checks = self.verify(rc=0)
        self.assertEqual(res.json["serving"], "dr")
        self.assertEqual(checks["traffic_alarm"]["observed"], "ALARM")
        self.assertEqual(checks["health_check_status"]["observed"], "unhealthy")
        # the primary endpoint failing while DR serves changes nothing: the calculated check stays unhealthy
        self.env.set_health(self.health_check()["Id"], False)
        self.assertEqual(self.answer(), DR_EP)
        self.env.set_health(self.health_check()["Id"], True)
        self.env.clear_requests()
        self.assertEqual(self.changes(self.agent("failover", "--yes", rc=0)), [])
        self.assertEqual(self.mutations(), [])

        back = self.agent("failback", "--yes", rc=0)
        self.assertEqual([a for a, _, _ in self.changes(back)], ["clear_traffic_alarm"])
        self.assertEqual(self.answer(), PRIMARY_EP)
        _, checks = self.verify(rc=0)
        self.assertEqual(checks["traffic_alarm"]["observed"], "OK")

    def test_plan_and_verify_name_the_control_planes_a_failover_needs(self):
        def planned():
            plan = self.agent("plan", rc=0).json
            (r,) = [r for level in plan["levels"] for r in level if r["id"] == "route53.api"]
            return r["failover_control_planes"]
        self.assertEqual(planned(), [{"service": "cloudwatch", "region": "us-west-2", "in_primary_region": False}])
        self.configure()
        _, checks = self.verify(rc=0)
        self.assertEqual((checks["failover_control_planes"]["status"], checks["failover_control_planes"]["observed"]),
                         ("OK", "cloudwatch@us-west-2"))
        # the other methods need Route 53's control plane, in us-east-1: the region a failover leaves
        self.write_config(failover_method="records")
        self.assertEqual(planned(), [{"service": "route53", "region": "us-east-1", "in_primary_region": True}])
        res = self.agent("verify", rc=2)  # also CRITICAL: the PRIMARY still uses the alarm method's check
        cp = self.checks(res)["failover_control_planes"]
        self.assertEqual((cp["status"], cp["observed"]), ("WARNING", "route53@us-east-1"))
        self.assertIn("set failover_method = alarm", cp["detail"])
        # an alarm in the primary region would be no better
        self.write_config(alarm_region="us-east-1")
        self.assertEqual(planned(), [{"service": "cloudwatch", "region": "us-east-1", "in_primary_region": True}])
        # validate in a plugin process (isolation): the declaration reaches the agent over the pipe
        with open(self.conf) as f:
            text = f.read()
        isolated = text.replace('hook_timeout = "2m";', 'hook_timeout = "2m"; isolation = "all";', 1)
        self.assertNotEqual(isolated, text)
        with open(self.conf, "w") as f:
            f.write(isolated)
        self.assertEqual(planned(), [{"service": "cloudwatch", "region": "us-east-1", "in_primary_region": True}])

    def test_failover_with_the_control_plane_down(self):
        self.configure()
        self.env.region_outage("us-east-1")  # Route 53's control plane with it
        self.env.clear_requests()
        res = self.agent("failover", "--yes", "--mode", "forced", rc=0)
        self.assertEqual([a for a, _, _ in self.changes(res)], ["set_traffic_alarm"])
        self.assertEqual(self.env.requests(service="route53"), [])
        self.assertEqual(self.answer(), DR_EP)  # the data plane still answers
        res, checks = self.verify(rc=2)
        self.assertEqual((checks["route53_control_plane"]["status"], checks["route53_control_plane"]["observed"]),
                         ("CRITICAL", "unreachable"))
        self.assertEqual(checks["traffic_alarm"]["status"], "OK")

    def test_alarm_missing_is_critical_and_failover_refuses(self):
        self.configure()
        self.env.client("cloudwatch", "us-west-2").delete_alarms(AlarmNames=["dr-agent-route53.api-traffic"])
        _, checks = self.verify(rc=2)
        self.assertEqual((checks["traffic_alarm"]["status"], checks["traffic_alarm"]["observed"]),
                         ("CRITICAL", "missing"))
        res = self.agent("failover", "--yes", rc=1)
        self.assertIn("run 'dr-agent configure' first", self.resource(res)["error"])


for _name in [n for n in vars(Route53Plugin) if n.startswith("test_")]:
    setattr(AlarmMethod, _name, None)  # the helpers are shared; the invert/records tests are not run again

if __name__ == "__main__":
    unittest.main(verbosity=2)
