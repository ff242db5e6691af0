#!/usr/bin/env python3
"""test_cli.py: dr-agent's command line with the fixture plugins: exit codes, formats, the JSON schema, signals."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import jsonschema

AGENT = os.environ["DR_AGENT_BIN"]
FIXTURES = os.environ["DR_FIXTURE_DIR"]
ABI10 = os.environ["DR_ABI10_DIR"]
SOURCE = os.environ["DR_SOURCE_DIR"]
SCHEMA = json.load(open(os.path.join(SOURCE, "docs", "report-schema.json")))

HEAD = """objectives = { rto = "1h"; rpo = "15m"; };
regions = { primary = "us-east-1"; dr = "us-west-2"; };
"""


class Cli(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="drcli.")
        self.state = os.path.join(self.dir, "state")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def conf(self, resources, extra="", mode=0o600):
        path = os.path.join(self.dir, "dr-agent.conf")
        with open(path, "w") as f:
            f.write(HEAD + extra + 'agent = { state_dir = "%s"; plugin_dir = "%s"; };\n' % (self.state, FIXTURES))
            f.write("resources = (\n%s\n);\n" % resources)
        os.chmod(path, mode)
        return path

    def run_agent(self, *args, env=None, stdin=subprocess.DEVNULL, timeout=60):
        e = dict(os.environ)
        e.pop("DR_AGENT_CONFIG", None)
        e.pop("DR_AGENT_PLUGIN_DIR", None)
        if env:
            e.update(env)
        return subprocess.run([AGENT, *args], capture_output=True, text=True, env=e, stdin=stdin, timeout=timeout)

    def validate(self, doc):
        jsonschema.validate(doc, SCHEMA)

    # --- version, help, usage ---

    def test_version_and_help(self):
        r = self.run_agent("--version")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^dr-agent \d+\.\d+\.\d+ \(plugin ABI 1\.\d+\)")
        r = self.run_agent("--help")
        self.assertEqual(r.returncode, 0)
        for cmd in ("plugins", "plan", "configure", "verify", "failover", "failback"):
            self.assertIn(cmd, r.stdout)
            h = self.run_agent(cmd, "--help")
            self.assertEqual(h.returncode, 0, cmd)
            self.assertIn("Usage: dr-agent", h.stdout)
            self.assertIn(cmd, h.stdout)

    def test_usage_errors(self):
        self.assertEqual(self.run_agent().returncode, 64)
        r = self.run_agent("nosuch")
        self.assertEqual(r.returncode, 64)
        self.assertIn("unknown command 'nosuch'", r.stderr)
        r = self.run_agent("verify", "--bogus")
        self.assertEqual(r.returncode, 64)
        r = self.run_agent("verify", "--format", "xml")
        self.assertEqual(r.returncode, 64)
        self.assertIn("unknown format 'xml'", r.stderr)
        # duration options: the option and the value named; zero only where it means "do not wait"
        for args, msg in ((("verify", "--timeout", "0"), "--timeout: bad duration '0'"),
                          (("verify", "--wait", "5x"), "--wait: bad duration '5x'"),
                          (("failover", "--prepare-timeout", "-3s"), "--prepare-timeout: bad duration '-3s'")):
            r = self.run_agent(*args)
            self.assertEqual(r.returncode, 64, args)
            self.assertIn(msg, r.stderr)
        c = self.conf('{ type = "fixture_dep"; name = "a"; }')
        r = self.run_agent("-c", c, "verify", "--resource", "fixture_dep.zz")
        self.assertEqual(r.returncode, 64)
        self.assertIn("--resource fixture_dep.zz: no such resource", r.stderr)

    # --- config errors: exit 78, file and line, nothing runs ---

    def test_config_errors_stop_before_hooks(self):
        trace = os.path.join(self.dir, "trace")
        c = self.conf('{ type = "fixture_dep"; name = "a"; trace = "%s"; },\n'
                      '{ type = "fixture_dep"; name = "b"; colour = "red"; }' % trace)
        r = self.run_agent("-c", c, "verify")
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertRegex(r.stderr, r"dr-agent\.conf:\d+: fixture_dep\.b: unknown key 'colour'")
        self.assertFalse(os.path.exists(trace), "a hook ran despite a config error")
        r = self.run_agent("-c", os.path.join(self.dir, "missing.conf"), "verify")
        self.assertEqual(r.returncode, 78)
        self.assertIn("missing.conf", r.stderr)

    def test_validate_hook_error(self):
        c = self.conf('{ type = "fixture_dep"; name = "a"; count = -1; }')
        r = self.run_agent("-c", c, "plan")
        self.assertEqual(r.returncode, 78)
        self.assertRegex(r.stderr, r"dr-agent\.conf:\d+: fixture_dep\.a: count must not be negative")

    def test_config_path_from_environment(self):
        c = self.conf('{ type = "fixture_dep"; name = "a"; }')
        r = self.run_agent("verify", env={"DR_AGENT_CONFIG": c})
        self.assertEqual(r.returncode, 0, r.stderr)

    # --- verify: Nagios exit codes, formats ---

    def test_verify_exit_codes(self):
        for status, code in (("OK", 0), ("WARNING", 1), ("CRITICAL", 2), ("UNKNOWN", 3)):
            c = self.conf('{ type = "fixture_dep"; name = "a"; },\n'
                          '{ type = "fixture_dep"; name = "b"; status = "%s"; }' % status)
            r = self.run_agent("-c", c, "verify")
            self.assertEqual(r.returncode, code, status + r.stderr)
        # a hook that fails is never OK
        c = self.conf('{ type = "fixture_dep"; name = "a"; fail = ["verify"]; }')
        r = self.run_agent("-c", c, "verify")
        self.assertEqual(r.returncode, 3)
        # CRITICAL outranks UNKNOWN
        c = self.conf('{ type = "fixture_dep"; name = "a"; fail = ["verify"]; },\n'
                      '{ type = "fixture_dep"; name = "b"; status = "CRITICAL"; }')
        self.assertEqual(self.run_agent("-c", c, "verify").returncode, 2)

    def test_verify_json_schema(self):
        c = self.conf('{ type = "fixture_dep"; name = "a"; rpo = 4.25; checks = 3; },\n'
                      '{ type = "fixture"; name = "b"; status = "WARNING"; }')
        r = self.run_agent("-c", c, "verify", "--format", "json")
        self.assertEqual(r.returncode, 1, r.stderr)
        doc = json.loads(r.stdout)
        self.validate(doc)
        self.assertEqual(doc["command"], "verify")
        self.assertEqual(doc["status"], "WARNING")
        self.assertEqual(doc["objectives"], {"rpo_seconds": 900, "rto_seconds": 3600})
        res = {x["id"]: x for x in doc["resources"]}
        self.assertEqual(res["fixture_dep.a"]["status"], "OK")
        self.assertEqual(res["fixture_dep.a"]["rpo_observed_seconds"], 4.25)
        self.assertEqual(len(res["fixture_dep.a"]["checks"]), 3)
        ck = res["fixture_dep.a"]["checks"][0]
        self.assertEqual(ck["observed"], 12.5)  # numbers when a unit is set
        self.assertEqual(ck["threshold"], 900)
        self.assertEqual(ck["unit"], "seconds")
        self.assertEqual(res["fixture.b"]["depends_on"], ["fixture_dep.a"])
        self.assertEqual(doc["rpo_observed_seconds"], 4.25)

    def test_prometheus(self):
        c = self.conf('{ type = "fixture_dep"; name = "a"; rpo = 2.5; },\n'
                      '{ type = "fixture_dep"; name = "b"; status = "CRITICAL"; }')
        prom = os.path.join(self.dir, "dr.prom")
        r = self.run_agent("-c", c, "verify", "--format", "prometheus", "--prometheus-file", prom)
        self.assertEqual(r.returncode, 2)
        with open(prom) as f:
            written = f.read()
        for text in (r.stdout, written):
            self.assertIn('dr_verify_status{resource="fixture_dep.a",plugin="fixture_dep"} 0', text)
            self.assertIn('dr_verify_status{resource="fixture_dep.b",plugin="fixture_dep"} 2', text)
            self.assertIn('dr_rpo_observed_seconds{resource="fixture_dep.a",plugin="fixture_dep"} 2.5', text)
            self.assertIn("dr_rpo_objective_seconds 900", text)
            self.assertRegex(text, r"dr_verify_last_run_timestamp_seconds \d+\.\d+")
            self.assertRegex(text, r"dr_verify_duration_seconds \d+\.\d+")
            for line in text.splitlines():
                if not line.startswith("#"):
                    self.assertRegex(line, r'^dr_[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? -?[0-9.e+-]+$')
        # the textfile is replaced atomically: no temporary file is left behind
        self.assertEqual(sorted(os.listdir(self.dir)), sorted(["dr-agent.conf", "dr.prom"] +
                                                               (["state"] if os.path.exists(self.state) else [])))

    def test_nagios_line(self):
        c = self.conf('{ type = "fixture_dep"; name = "a"; rpo = 2.5; },\n'
                      '{ type = "fixture_dep"; name = "b"; status = "WARNING"; }')
        r = self.run_agent("-c", c, "verify", "--format", "nagios")
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stdout.strip(),
                         r"^DR WARNING - 2 resources: 1 OK, 1 WARNING, 0 CRITICAL, 0 UNKNOWN; first WARNING: "
                         r"fixture_dep\.b \| rpo=2\.500s;;;0; rpo_objective=900s 'fixture_dep\.a/check_0'=12\.5s;;900;0; "
                         r"'fixture_dep\.b/check_0'=12\.5s;;900;0; ok=1;;;0;2 warning=1;0;;0;2 "
                         r"critical=0;;0;0;2 unknown=0;;0;0;2 duration=[0-9.]+s;;;0;\n"
                         r"WARNING fixture_dep\.b: fixture_dep\n  WARNING check_0: 12\.5s \(limit 15m; WARNING: close to it, CRITICAL above it\) - "
                         r"fixture check\n  see: dr-agent diagnose fixture_dep\.b$")

    def test_text_report(self):
        c = self.conf('{ type = "fixture_dep"; name = "a"; status = "CRITICAL"; }')
        r = self.run_agent("-c", c, "verify")
        self.assertEqual(r.returncode, 2)
        self.assertIn("RESOURCE", r.stdout)
        self.assertRegex(r.stdout, r"fixture_dep\.a\s+CRITICAL")
        self.assertIn("check_0", r.stdout)

    # --- configure --plan: Terraform's detailed exit code ---

    def test_configure_plan_exit_codes(self):
        c = self.conf('{ type = "fixture_dep"; name = "a"; change = "enable-thing"; }')
        r = self.run_agent("-c", c, "configure", "--plan", "--format", "json")
        self.assertEqual(r.returncode, 2, r.stderr)
        doc = json.loads(r.stdout)
        self.validate(doc)
        self.assertEqual(doc["status"], "planned")
        self.assertTrue(doc["dry_run"])
        self.assertEqual(doc["resources"][0]["changes"][0]["done"], False)
        c = self.conf('{ type = "fixture_dep"; name = "a"; }')
        self.assertEqual(self.run_agent("-c", c, "configure", "--plan").returncode, 0)
        c = self.conf('{ type = "fixture_dep"; name = "a"; fail = ["configure"]; change = "x"; }')
        self.assertEqual(self.run_agent("-c", c, "configure", "--plan").returncode, 1)
        c = self.conf('{ type = "fixture_dep"; name = "a"; change = "enable-thing"; }')
        r = self.run_agent("-c", c, "configure", "--format", "json")
        self.assertEqual(r.returncode, 0)
        doc = json.loads(r.stdout)
        self.validate(doc)
        self.assertEqual(doc["status"], "done")
        self.assertEqual(doc["resources"][0]["changes"][0]["done"], True)

    # --- failover / failback ---

    def test_failover_needs_confirmation(self):
        c = self.conf('{ type = "fixture_dep"; name = "a"; change = "promote"; }')
        r = self.run_agent("-c", c, "failover")
        self.assertEqual(r.returncode, 64)
        self.assertIn("pass --yes", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.state, "serving.json")))
        r = self.run_agent("-c", c, "failover", "--yes", "--format", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        self.validate(doc)
        self.assertEqual(doc["mode"], "graceful")
        self.assertEqual(json.load(open(os.path.join(self.state, "serving.json")))["serving"], "dr")
        # verify now runs with the DR region serving
        r = self.run_agent("-c", c, "verify", "--format", "json")
        self.assertEqual(json.loads(r.stdout)["serving"], "dr")
        r = self.run_agent("-c", c, "failback", "--yes", "--mode", "forced", "--format", "json")
        self.assertEqual(r.returncode, 0)
        self.assertEqual(json.loads(r.stdout)["mode"], "forced")
        self.assertEqual(json.load(open(os.path.join(self.state, "serving.json")))["serving"], "primary")

    def test_failover_failure_exit_code(self):
        c = self.conf('{ type = "fixture_dep"; name = "a"; fail = ["failover"]; },\n'
                      '{ type = "fixture"; name = "dns"; change = "switch"; }')
        r = self.run_agent("-c", c, "failover", "--yes", "--format", "json")
        self.assertEqual(r.returncode, 1)
        doc = json.loads(r.stdout)
        self.validate(doc)
        res = {x["id"]: x for x in doc["resources"]}
        self.assertEqual(res["fixture_dep.a"]["status"], "failed")
        self.assertEqual(res["fixture.dns"]["status"], "skipped")
        self.assertIn("dependency fixture_dep.a did not succeed", res["fixture.dns"]["error"])
        self.assertFalse(os.path.exists(os.path.join(self.state, "serving.json")))

    def test_sigint_cancels_cleanly(self):
        c = self.conf('{ type = "fixture_dep"; name = "slow"; sleep = "30s"; },\n'
                      '{ type = "fixture"; name = "after"; }')
        e = dict(os.environ)
        p = subprocess.Popen([AGENT, "-c", c, "failover", "--yes", "--format", "json"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=e)
        time.sleep(1.0)
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=20)
        self.assertLess(time.monotonic() - t0, 5)
        self.assertEqual(p.returncode, 1)
        doc = json.loads(out)
        self.validate(doc)
        res = {x["id"]: x for x in doc["resources"]}
        self.assertEqual(res["fixture_dep.slow"]["status"], "failed")
        self.assertIn("cancel", res["fixture_dep.slow"]["error"])
        self.assertEqual(res["fixture.after"]["status"], "skipped")
        self.assertIn("cancel", err)
        # cancelled after the commit started: the stated state, and how to complete or reverse it
        st = doc["stated_state"]
        self.assertEqual(st["outcome"], "stopped")
        self.assertEqual({r["resource"]: (r["state"], r["serving_region"]) for r in st["resources"]},
                         {"fixture_dep.slow": ("not moved", "us-east-1"), "fixture.after": ("not moved", "us-east-1")})
        self.assertIn(f"resume {doc['run_id']} --yes", st["complete_command"])
        self.assertIn("failback --yes", st["reverse_command"])

    def test_waits_log_on_change_not_every_poll(self):
        c = self.conf('{ type = "fixture_dep"; name = "db"; polls = 40; }')
        r = self.run_agent("-c", c, "failover", "--yes")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = [l for l in r.stderr.splitlines() if "waiting for the fixture lag" in l]
        # 40 polls of the same wait in each of prepare and failover, under a second: logged once per hook
        self.assertEqual(len(lines), 2, r.stderr)
        self.assertIn("lag 5 s > 1 s (0ms, 30s left)", lines[0])

    def test_sigint_in_prepare_changes_nothing(self):
        trace = os.path.join(self.dir, "trace")
        c = self.conf('{ type = "fixture_dep"; name = "slow"; prepare_sleep = "30s"; trace = "%s"; },\n'
                      '{ type = "fixture"; name = "after"; trace = "%s"; }' % (trace, trace))
        p = subprocess.Popen([AGENT, "-c", c, "failover", "--yes", "--format", "json"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=20)
        self.assertEqual(p.returncode, 1)
        doc = json.loads(out)
        self.validate(doc)
        self.assertEqual(doc["switch"]["outcome"], "not ready")
        self.assertFalse(doc["switch"]["changed"])
        self.assertIn("fixture_dep.slow", doc["switch"]["reason"])
        with open(trace) as f:
            hooks = {l.split()[2] for l in f}
        self.assertEqual(hooks, {"prepare"})  # no failover hook ran
        self.assertFalse(os.path.exists(os.path.join(self.state, "serving.json")))

    def test_not_ready_resource_stops_the_switch(self):
        trace = os.path.join(self.dir, "trace")
        c = self.conf('{ type = "fixture_dep"; name = "db"; fail = ["prepare"]; change = "promote"; trace = "%s"; },\n'
                      '{ type = "fixture"; name = "dns"; change = "switch"; trace = "%s"; }' % (trace, trace))
        r = self.run_agent("-c", c, "failover", "--yes")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("failover stopped in prepare: nothing was changed", r.stdout)
        self.assertIn("not ready: fixture_dep.db: prepare failed as configured", r.stdout)
        with open(trace) as f:
            self.assertEqual(sorted(l.split()[2] for l in f if l.startswith("start")), ["prepare", "prepare"])
        self.assertFalse(os.path.exists(os.path.join(self.state, "serving.json")))
        h = json.loads(self.run_agent("-c", c, "history", "--format", "json").stdout)
        self.assertEqual(h[-1]["status"], "not ready")

    def test_diagnose_formats_exit_codes_and_verify_pointer(self):
        c = self.conf('{ type = "fixture_dep"; name = "a"; },\n'
                      '{ type = "fixture_dep"; name = "b"; finding = "CRITICAL"; status = "WARNING"; },\n'
                      '{ type = "fixture_dep"; name = "c"; finding = "WARNING"; }')
        # nothing found: exit 0, every diagnostic listed as OK in JSON
        r = self.run_agent("-c", c, "diagnose", "fixture_dep.a", "--format", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        self.validate(doc)
        self.assertEqual((doc["command"], doc["status"]), ("diagnose", "OK"))
        self.assertEqual([(x["id"], [k["status"] for k in x["checks"]]) for x in doc["resources"]],
                         [("fixture_dep.a", ["OK"])])
        # the positional RESOURCE is a --resource: TYPE.* too, and a wrong one is a usage error
        r = self.run_agent("-c", c, "diagnose", "fixture_dep.*", "--format", "json")
        self.assertEqual(r.returncode, 2, r.stderr)
        doc = json.loads(r.stdout)
        self.validate(doc)
        self.assertEqual({x["id"]: x["status"] for x in doc["resources"]},
                         {"fixture_dep.a": "OK", "fixture_dep.b": "CRITICAL", "fixture_dep.c": "WARNING"})
        self.assertIn("fix: set finding = none", doc["resources"][1]["checks"][0]["detail"])
        self.assertEqual(self.run_agent("-c", c, "diagnose", "fixture_dep.c").returncode, 1)
        r = self.run_agent("-c", c, "diagnose", "fixture_dep.zz")
        self.assertEqual(r.returncode, 64)
        self.assertIn("--resource fixture_dep.zz: no such resource", r.stderr)
        r = self.run_agent("-c", c, "diagnose", "fixture_dep.a", "fixture_dep.b")
        self.assertEqual(r.returncode, 64)
        for fmt in ("prometheus", "nagios", "dot"):
            r = self.run_agent("-c", c, "diagnose", "--format", fmt)
            self.assertEqual(r.returncode, 64, fmt)
            self.assertIn(f"--format {fmt} is not available for diagnose", r.stderr)
        # text: only the findings, with -v also what found nothing
        r = self.run_agent("-c", c, "diagnose")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("    CRITICAL fixture_cause: 1 (limit 0) - evidence: the fixture's cause is present", r.stdout)
        self.assertNotIn("no cause found", r.stdout)
        self.assertIn("diagnose CRITICAL", r.stdout)
        self.assertIn("no cause found", self.run_agent("-c", c, "diagnose", "-v").stdout)
        # verify points a resource that is not OK at its diagnostics, in every format; an OK one gets no pointer
        r = self.run_agent("-c", c, "verify")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("    see: dr-agent diagnose fixture_dep.b\n", r.stdout)
        self.assertNotIn("diagnose fixture_dep.a", r.stdout)
        doc = json.loads(self.run_agent("-c", c, "verify", "--format", "json").stdout)
        self.validate(doc)
        self.assertEqual({x["id"]: x.get("see") for x in doc["resources"]},
                         {"fixture_dep.a": None, "fixture_dep.b": "dr-agent diagnose fixture_dep.b", "fixture_dep.c": None})
        self.assertIn("see: dr-agent diagnose fixture_dep.b", self.run_agent("-c", c, "verify", "--format", "nagios").stdout)
        # (the same file, rewritten) a diagnostic that cannot run is UNKNOWN (3)
        f = self.conf('{ type = "fixture_dep"; name = "a"; fail = ["diagnose"]; }')
        r = self.run_agent("-c", f, "diagnose", "--format", "json")
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn("diagnose failed as configured", json.loads(r.stdout)["resources"][0]["error"])

    def test_diagnose_of_a_plugin_without_diagnostics(self):
        # a plugin built before the diagnose hook: nothing to look at, not an error; verify gives no pointer
        pdir = os.path.join(self.dir, "plugins10")
        os.mkdir(pdir, 0o755)
        shutil.copy(os.path.join(ABI10, "fixture_v10.so"), pdir)
        c = self.conf('{ type = "fixture_v10"; name = "old"; status = "WARNING"; }')
        r = self.run_agent("-c", c, "--plugin-dir", pdir, "diagnose", "--format", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        res = json.loads(r.stdout)["resources"][0]
        self.assertEqual((res["status"], res["checks"]), ("OK", []))
        self.assertEqual(res["error"], "plugin fixture_v10 does not implement diagnose")
        r = self.run_agent("-c", c, "--plugin-dir", pdir, "verify", "--format", "json")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertNotIn("see", json.loads(r.stdout)["resources"][0])

    def test_abi_10_plugin_runs_without_prepare(self):
        # a third-party plugin built against ABI 1.0 (a 1.0-sized descriptor) loads, and its failover runs
        pdir = os.path.join(self.dir, "plugins10")
        os.mkdir(pdir, 0o755)
        for src in (os.path.join(FIXTURES, "fixture_dep.so"), os.path.join(ABI10, "fixture_v10.so")):
            shutil.copy(src, pdir)
        trace = os.path.join(self.dir, "trace10")
        c = self.conf('{ type = "fixture_v10"; name = "old"; change = "switch"; trace = "%s"; },\n'
                      '{ type = "fixture_dep"; name = "db"; change = "promote"; trace = "%s"; }' % (trace, trace))
        r = self.run_agent("-c", c, "--plugin-dir", pdir, "plugins", "--format", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        abi = {p["type"]: (p["abi"], p["hooks"]) for p in json.loads(r.stdout)["plugins"]}
        self.assertEqual(abi["fixture_v10"][0], "1.0")
        self.assertNotIn("prepare", abi["fixture_v10"][1])
        self.assertIn("prepare", abi["fixture_dep"][1])
        r = self.run_agent("-c", c, "--plugin-dir", pdir, "failover", "--yes", "--format", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("fixture_v10.old: plugin fixture_v10 1.2.3 (ABI 1.0) has no prepare phase: its failover runs "
                      "without a readiness check", r.stderr)
        doc = json.loads(r.stdout)
        self.assertEqual({x["id"]: x["status"] for x in doc["resources"]},
                         {"fixture_v10.old": "done", "fixture_dep.db": "done"})
        prep = {x["resource"]: x for x in doc["switch"]["prepare"]}
        self.assertIn("no prepare phase", prep["fixture_v10.old"]["note"])
        with open(trace) as f:
            ran = [tuple(l.split()[1:3]) for l in f if l.startswith("start")]
        self.assertEqual(sorted(ran), [("fixture_dep.db", "failover"), ("fixture_dep.db", "prepare"),
                                       ("fixture_v10.old", "failover")])
        self.assertLess(ran.index(("fixture_dep.db", "prepare")), ran.index(("fixture_v10.old", "failover")))
        self.assertEqual(doc["where"]["serving_region"], "us-west-2")

    # --- plan ---

    def test_plan_formats(self):
        c = self.conf('{ type = "fixture_dep"; name = "db"; },\n'
                      '{ type = "fixture_dep"; name = "cache"; },\n'
                      '{ type = "fixture"; name = "dns"; }')
        r = self.run_agent("-c", c, "plan")
        self.assertEqual(r.returncode, 0)
        self.assertIn("3 resources in 2 levels", r.stdout)
        self.assertRegex(r.stdout, r"level 1:\n  fixture\.dns  \(after fixture_dep\.db, fixture_dep\.cache\)")
        r = self.run_agent("-c", c, "plan", "--format", "dot")
        self.assertTrue(r.stdout.startswith("digraph"))
        self.assertIn('"fixture_dep.db" -> "fixture.dns";', r.stdout)
        r = self.run_agent("-c", c, "plan", "--format", "json")
        self.assertEqual(r.returncode, 0, "exit %d, stderr: %s" % (r.returncode, r.stderr))
        self.assertTrue(r.stdout.strip(), "no output; exit %d, stderr: %s" % (r.returncode, r.stderr))
        levels = json.loads(r.stdout)["levels"]
        self.assertEqual([sorted(x["id"] for x in lv) for lv in levels],
                         [["fixture_dep.cache", "fixture_dep.db"], ["fixture.dns"]])

    # --- plugins ---

    def test_plugins_listing_and_dirs(self):
        r = self.run_agent("plugins", "--format", "json", "--plugin-dir", FIXTURES)
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        types = {p["type"]: p for p in doc["plugins"]}
        self.assertEqual(set(types), {"fixture", "fixture_dep"})
        self.assertEqual(types["fixture"]["version"], "1.2.3")
        self.assertEqual(types["fixture"]["hooks"], ["configure", "verify", "failover", "failback", "cleanup", "prepare",
                                                     "diagnose"])
        keys = {k["name"]: k for k in types["fixture"]["config_keys"]}
        self.assertEqual(keys["status"]["type"], "choice")
        self.assertEqual(keys["status"]["choices"], "OK|WARNING|CRITICAL|UNKNOWN")
        self.assertTrue(keys["secret"]["secret"])
        # the environment variable works too
        r = self.run_agent("plugins", "--format", "json", env={"DR_AGENT_PLUGIN_DIR": FIXTURES})
        self.assertEqual(len(json.loads(r.stdout)["plugins"]), 2)
        # a binary in the build tree finds the plugins built with it
        r = self.run_agent("plugins", "--format", "json", "-c", os.path.join(self.dir, "none.conf"))
        self.assertEqual(os.path.realpath(json.loads(r.stdout)["plugin_dir"]),
                         os.path.realpath(os.environ["DR_PLUGIN_OUTPUT_DIR"]))
        # a refused plugin is listed with its reason
        d = os.path.join(self.dir, "plugins")
        os.mkdir(d)
        shutil.copy(os.path.join(FIXTURES, "fixture.so"), d)
        with open(os.path.join(d, "junk.so"), "w") as f:
            f.write("junk")
        r = self.run_agent("plugins", "--plugin-dir", d)
        self.assertIn("junk.so: refused: not a shared object", r.stdout)

    def test_reference_config_is_valid(self):
        """conf/dr-agent.conf, the reference estate, validates against the five bundled plugins."""
        ref = os.path.join(SOURCE, "conf", "dr-agent.conf")
        r = self.run_agent("-c", ref, "--plugin-dir", os.environ["DR_PLUGIN_OUTPUT_DIR"], "plan", "--format", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        levels = json.loads(r.stdout)["levels"]
        ids = [sorted(x["id"] for x in lv) for lv in levels]
        self.assertEqual(len(ids), 2)
        self.assertEqual(ids[1], ["route53.api"])
        self.assertEqual(len(ids[0]), 10)
        self.assertEqual({i.split(".")[0] for i in ids[0]}, {"dynamodb", "aurora", "s3", "backup"})
        # the data layer comes first: route53 depends on every dynamodb, aurora and s3 resource
        dns = levels[1][0]
        self.assertEqual(sorted(dns["depends_on"]), sorted(i for i in ids[0] if not i.startswith("backup.")))

    def test_untrusted_plugin_dir(self):
        d = os.path.join(self.dir, "plugins")
        os.mkdir(d)
        shutil.copy(os.path.join(FIXTURES, "fixture_dep.so"), d)
        os.chmod(d, 0o777)
        c = self.conf('{ type = "fixture_dep"; name = "a"; }')
        r = self.run_agent("-c", c, "--plugin-dir", d, "verify")
        self.assertEqual(r.returncode, 78)
        self.assertIn("writable by others", r.stderr)

    def test_secret_in_readable_config(self):
        c = self.conf('{ type = "fixture_dep"; name = "a"; secret = "s3cr3t"; }', mode=0o644)
        r = self.run_agent("-c", c, "verify")
        self.assertEqual(r.returncode, 78)
        self.assertIn("holds a secret but is readable by group or others", r.stderr)
        self.assertNotIn("s3cr3t", r.stderr + r.stdout)

    def test_non_utf8_path_in_json_outputs(self):
        # a configuration path that is not UTF-8: every JSON output still parses, nothing vanishes
        d = os.path.join(os.fsencode(self.dir), b"caf\xe9")
        os.mkdir(d)
        c = os.path.join(d, b"dr-agent.conf")
        shutil.copy(self.conf('{ type = "fixture_dep"; name = "a"; change = "thing"; }'), c)
        os.chmod(c, 0o600)
        r = subprocess.run([AGENT, "-c", c, "configure", "--format", "json", "--log-format", "json"],
                           capture_output=True, env={k: v for k, v in os.environ.items() if not k.startswith("DR_AGENT")})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.validate(json.loads(r.stdout))
        lines = [json.loads(l) for l in r.stderr.splitlines()]
        self.assertTrue(any("thing" in l["message"] for l in lines), lines)
        runs = os.listdir(os.path.join(self.state, "runs"))
        with open(os.path.join(self.state, "runs", runs[0])) as f:
            start = json.loads(f.readline())
        self.assertTrue(start["config"].endswith("caf?/dr-agent.conf"), start["config"])

    def test_log_format_json(self):
        c = self.conf('{ type = "fixture_dep"; name = "a"; change = "thing"; }')
        r = self.run_agent("-c", c, "configure", "--log-format", "json")
        lines = [json.loads(l) for l in r.stderr.splitlines() if l.strip()]
        self.assertTrue(lines)
        for l in lines:
            self.assertIn(l["level"], ("error", "warn", "info", "debug"))
            self.assertRegex(l["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertTrue(any(l.get("source") == "fixture_dep.a" for l in lines))
        r = self.run_agent("-c", c, "configure", "-q")
        self.assertEqual(r.stderr, "")


if __name__ == "__main__":
    unittest.main(verbosity=2)
