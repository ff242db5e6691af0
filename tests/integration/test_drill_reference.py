#!/usr/bin/env python3
"""test_drill_reference.py: the reference estate (conf/dr-agent.conf, all five plugins, the PostgreSQL pair) configured
and drilled in the local AWS exactly as scripts/demo does it; checks the drill's JSON and HTML reports."""
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

SOURCE = os.environ["DR_SOURCE_DIR"]
AGENT = os.environ["DR_AGENT_BIN"]
PLUGINS = os.environ["DR_AGENT_PLUGIN_DIR"]
sys.path.insert(0, os.path.join(SOURCE, "tests", "env"))
import seed_estate  # noqa: E402

RESOURCES = ["dynamodb.users", "dynamodb.incidents", "dynamodb.vendors", "dynamodb.tracking-sessions",
             "dynamodb.call-records", "aurora.main", "s3.call-recordings", "s3.kb-documents", "s3.incident-media",
             "backup.aurora", "route53.api"]


class DrillReference(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="drill-ref-")
        subprocess.run([sys.executable, os.path.join(SOURCE, "tests", "env", "seed_estate.py"), "--stage", "primary"],
                       check=True, capture_output=True)
        cls.conf = os.path.join(cls.tmp, "dr-agent.conf")
        with open(cls.conf, "w") as f:
            subprocess.run([sys.executable, os.path.join(SOURCE, "scripts", "demo-config.py"),
                            os.path.join(SOURCE, "conf", "dr-agent.conf"), os.path.join(cls.tmp, "state")],
                           check=True, stdout=f)
        os.chmod(cls.conf, 0o600)
        cls.estate("grants")

    @classmethod
    def estate(cls, what):
        subprocess.run([sys.executable, os.path.join(SOURCE, "scripts", "demo-estate.py"), what], check=True,
                       capture_output=True)

    def agent(self, *args, expect=0, timeout=600):
        r = subprocess.run([AGENT, "-c", self.conf, "--plugin-dir", PLUGINS, *args], capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, expect, f"dr-agent {' '.join(args)}: exit {r.returncode}\n"
                                               f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
        return r

    def test_configure_verify_drill(self):
        # configure: a plan with changes, then the changes, then nothing left to do
        plan = json.loads(self.agent("configure", "--plan", "--format", "json", expect=2).stdout)
        self.assertEqual(sorted(r["id"] for r in plan["resources"]), sorted(RESOURCES))
        self.agent("configure")
        again = json.loads(self.agent("configure", "--format", "json").stdout)
        self.assertEqual({r["id"]: r["status"] for r in again["resources"]}, {i: "unchanged" for i in RESOURCES})

        # the running estate: lag datapoints, recovery points; everything verifies OK
        self.estate("healthy")
        ver = json.loads(self.agent("verify", "--format", "json").stdout)
        self.assertEqual(ver["status"], "OK", [(r["id"], r["status"]) for r in ver["resources"] if r["status"] != "OK"])
        # every check of every plugin says what was seen, against what, and why, with one unit per kind of value
        for r in ver["resources"]:
            for c in r["checks"]:
                where = f"{r['id']} {c['name']}"
                self.assertTrue(c["detail"] and len(c["detail"]) > 10, where)
                self.assertIsNotNone(c["observed"], where)
                if c["threshold"] is None:  # reported, not judged, unless a limit is configured (s3 max_pending_*)
                    self.assertIn(c["name"], ("operations_pending_replication", "bytes_pending_replication"), where)
                self.assertIn(c["unit"], (None, "seconds", "bytes", "count"), where)
        text = self.agent("verify", "-v").stdout
        self.assertNotRegex(text, r"\d{6,}(\.\d+)? seconds|expected \d{5,}\b|\d count\b", text)

        # the drill: every phase, both objectives met, reports written
        drill = json.loads(self.agent("drill", "--yes", "--format", "json").stdout)
        self.assertTrue(drill["success"], drill.get("failure"))
        self.assertTrue(drill["rto_met"])
        self.assertTrue(drill["rpo_met"])
        self.assertLess(drill["rto_seconds"], 3600)
        phases = {}
        for s in drill["steps"]:
            phases.setdefault(s["resource"], []).append(s["phase"])
        for rid in RESOURCES:
            self.assertEqual(phases[rid], ["verify", "prepare", "failover", "verify-dr", "prepare-failback", "failback",
                                           "verify-after"], rid)
        fo = {s["resource"]: s for s in drill["steps"] if s["phase"] == "failover"}
        dns_start = fo["route53.api"]["start_offset_seconds"]
        for rid in RESOURCES:
            if rid.split(".")[0] in ("dynamodb", "aurora", "s3"):
                self.assertLessEqual(fo[rid]["start_offset_seconds"] + fo[rid]["duration_seconds"], dns_start + 0.01,
                                     f"{rid} ended after route53 started: traffic moved before the data")

        html_path = os.path.join(self.tmp, "state", "reports", f"drill-{drill['run_id']}.html")
        with open(html_path) as f:
            html = f.read()
        self.assertIn("<svg", html)
        self.assertIn("RTO objective", html)
        self.assertIn("Where the application lives: us-east-1", html)
        for rid in RESOURCES:
            self.assertIn(f">{rid}</text>", html)
        self.assertEqual(len(re.findall(r"<rect ", html)), 7 * len(RESOURCES))
        # where the application lives at the end: the primary region, with what each resource answers there
        self.assertEqual(drill["where"]["serving_region"], "us-east-1")
        eps = {r["resource"]: [e["value"] for e in r["endpoints"]] for r in drill["where"]["resources"]}
        self.assertIn("api.roadcall.example.com CNAME api-us-east-1.roadcall.example.com", eps["route53.api"])
        self.assertIn("s3://roadcall-call-recordings-prod", eps["s3.call-recordings"])
        # self-contained: no scripts, stylesheets or images fetched from anywhere
        self.assertIsNone(re.search(r'(src|href)\s*=\s*"(https?:)?//', html))

        # the steps say what they did, under numbered phases; the header names host, versions, configuration
        for rid in RESOURCES:
            self.assertIsNotNone(fo[rid]["detail"], rid)
            self.assertEqual(fo[rid]["phase_label"], "2 failover")
        self.assertIn("<td>3 verify (DR serving)</td>", html)
        self.assertIn(drill["config_digest"], html)
        self.assertRegex(drill["plugin_versions"], r"aurora \S+, backup \S+, dynamodb \S+, route53 \S+, s3 \S+")
        hist = json.loads(self.agent("history", "--format", "json").stdout)
        self.assertEqual([h["command"] for h in hist], ["configure", "configure", "drill"])
        self.assertEqual(hist[-1]["status"], "done")


if __name__ == "__main__":
    unittest.main(verbosity=2)
