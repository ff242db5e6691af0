#!/usr/bin/env python3
"""test_operator.py: what an operator sees: live progress on a narrow terminal, Nagios and Prometheus conventions,
the plan summary line, drill notes, cleanup of retired resources and the bash completion script."""
import fcntl
import json
import os
import pty
import re
import select
import signal
import shutil
import struct
import subprocess
import tempfile
import termios
import time
import unittest

AGENT = os.environ["DR_AGENT_BIN"]
FIXTURES = os.environ["DR_FIXTURE_DIR"]
SOURCE = os.environ["DR_SOURCE_DIR"]

HEAD = """objectives = { rto = "1h"; rpo = "15m"; };
regions = { primary = "us-east-1"; dr = "us-west-2"; };
"""

ESC = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class Operator(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="drop.")
        self.state = os.path.join(self.dir, "state")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def conf(self, resources, extra=""):
        path = os.path.join(self.dir, "dr-agent.conf")
        with open(path, "w") as f:
            f.write(HEAD + extra + 'agent = { state_dir = "%s"; plugin_dir = "%s"; };\n' % (self.state, FIXTURES))
            f.write("resources = (\n%s\n);\n" % resources)
        os.chmod(path, 0o600)
        return path

    def run_agent(self, *args, timeout=60, stdin=subprocess.DEVNULL):
        e = dict(os.environ)
        e.pop("DR_AGENT_CONFIG", None)
        e.pop("DR_AGENT_PLUGIN_DIR", None)
        return subprocess.run([AGENT, *args], capture_output=True, text=True, env=e, stdin=stdin, timeout=timeout)

    def on_pty(self, args, cols, rows=24):
        """Run the agent with stderr on a pseudo-terminal of `cols` columns; return what the terminal received."""
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        e = dict(os.environ, TERM="xterm")
        e.pop("COLUMNS", None)
        p = subprocess.Popen([AGENT, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave, env=e)
        os.close(slave)
        out = b""
        while True:
            r, _, _ = select.select([master], [], [], 0.2)
            if r:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
            elif p.poll() is not None:
                break
        p.wait(timeout=30)
        os.close(master)
        return p.returncode, out.decode("utf-8", "replace")

    # --- live progress ---

    def test_progress_fits_a_narrow_terminal(self):
        long_name = "a-rather-long-resource-name-for-a-narrow-terminal"
        c = self.conf('{ type = "fixture"; name = "%s"; sleep = "1500ms"; change = "x"; }' % long_name)
        rc, screen = self.on_pty(["-c", c, "configure"], cols=40)
        self.assertEqual(rc, 0, screen)
        # the redrawn block: each of its lines begins by erasing the row
        block = [ESC.sub("", l) for l in screen.replace("\r", "").split("\n") if l.startswith("\x1b[2K") or
                 "\x1b[2K  " in l]
        live = [l for l in block if "fixture." in l and "sleeping" in l or l.endswith("~")]
        self.assertTrue(live, "no live progress line drawn: %r" % screen)
        for l in block:
            self.assertLessEqual(len(l), 39, "a live line wider than the terminal: %r" % l)
        self.assertTrue(any(l.endswith("~") for l in block), block)
        # a wide terminal shows the whole line
        rc, screen = self.on_pty(["-c", c, "configure"], cols=200)
        self.assertEqual(rc, 0)
        self.assertIn("sleeping 1.5s", ESC.sub("", screen))
        # not a terminal: no escape sequences at all
        r = self.run_agent("-c", c, "configure")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("\x1b[", r.stderr)

    # --- monitoring conventions ---

    def test_nagios_thresholds_and_long_output(self):
        c = self.conf('{ type = "fixture_dep"; name = "a"; rpo = 2.5; },\n'
                      '{ type = "fixture_dep"; name = "b"; status = "CRITICAL"; checks = 2; },\n'
                      '{ type = "fixture"; name = "c"; fail = ["verify"]; }')
        r = self.run_agent("-c", c, "verify", "--format", "nagios")
        self.assertEqual(r.returncode, 2, r.stdout)  # CRITICAL is worse than UNKNOWN
        lines = r.stdout.rstrip("\n").split("\n")
        head, perf = lines[0].split(" | ")
        self.assertTrue(head.startswith("DR CRITICAL - 3 resources: 1 OK, 0 WARNING, 1 CRITICAL, 1 UNKNOWN"), head)
        # every perfdata item: label=value[UOM];[warn];[crit];[min];[max]
        items = dict(p.split("=", 1) for p in perf.split())
        for label, v in items.items():
            self.assertRegex(label, r"^([a-z_]+|'[^'=]+')$")
            self.assertRegex(v, r"^-?[0-9.]+[a-zA-Z%]*(;[0-9.:@~]*){0,4}$", label)
        # the worst RPO mixes lags and backup ages judged by their own limits: no threshold of its own
        self.assertEqual(items["rpo"], "2.5s;;;0;".replace("2.5", "2.500"))
        # each numeric check carries its own limit as the critical threshold
        self.assertEqual(items["'fixture_dep.b/check_0'"], "12.5s;;900;0;")
        self.assertEqual(items["'fixture_dep.a/check_0'"], "12.5s;;900;0;")
        self.assertEqual(items["critical"], "1;;0;0;3")
        # the long output: the resources that are not OK and why, no '|' in the text
        self.assertIn("CRITICAL fixture_dep.b: fixture_dep", lines[1:])
        self.assertIn("  CRITICAL check_0: 12.5s (limit 15m) - fixture check", lines[1:])
        self.assertNotIn("check_1:", r.stdout)  # an OK check is not news in the long output
        self.assertTrue(any(l.startswith("UNKNOWN fixture.c") for l in lines[1:]), lines)
        self.assertTrue(any("verify failed as configured" in l for l in lines[1:]), lines)
        for l in lines[1:]:
            self.assertNotIn("|", l)
        # all OK: the status line alone
        c = self.conf('{ type = "fixture_dep"; name = "a"; }')
        r = self.run_agent("-c", c, "verify", "--format", "nagios")
        self.assertEqual(r.returncode, 0)
        self.assertEqual(len(r.stdout.strip().splitlines()), 1)

    def test_prometheus_textfile_failure_exits_non_zero(self):
        c = self.conf('{ type = "fixture_dep"; name = "a"; }')
        missing = os.path.join(self.dir, "no-such-dir", "dr.prom")
        r = self.run_agent("-c", c, "verify", "--prometheus-file", missing)
        self.assertEqual(r.returncode, 3, r.stderr)  # OK estate, but the textfile is stale: UNKNOWN
        self.assertIn("no-such-dir/dr.prom", r.stderr)
        c = self.conf('{ type = "fixture_dep"; name = "a"; status = "CRITICAL"; }')
        r = self.run_agent("-c", c, "verify", "--prometheus-file", missing)
        self.assertEqual(r.returncode, 2, r.stderr)  # CRITICAL stays CRITICAL
        c = self.conf('{ type = "fixture_dep"; name = "a"; change = "x"; }')
        r = self.run_agent("-c", c, "configure", "--prometheus-file", missing)
        self.assertEqual(r.returncode, 1, r.stderr)
        # a directory the agent cannot write to
        ro = os.path.join(self.dir, "ro")
        os.mkdir(ro, 0o500)
        if os.geteuid() != 0:
            r = self.run_agent("-c", c, "verify", "--prometheus-file", os.path.join(ro, "dr.prom"))
            self.assertEqual(r.returncode, 3, r.stderr)
        ok = os.path.join(self.dir, "dr.prom")
        r = self.run_agent("-c", self.conf('{ type = "fixture_dep"; name = "a"; }'), "verify", "--prometheus-file", ok)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_prometheus_alerting_rules(self):
        rules = os.path.join(SOURCE, "conf", "prometheus", "dr-agent.rules.yml")
        with open(rules) as f:
            text = f.read()
        # every metric the rules use is one verify writes (with a drill on record)
        c = self.conf('{ type = "fixture_dep"; name = "a"; rpo = 2.5; change = "x"; }')
        r = self.run_agent("-c", c, "drill", "--yes")
        self.assertEqual(r.returncode, 0, r.stderr)
        prom = self.run_agent("-c", c, "verify", "--format", "prometheus").stdout
        written = set(re.findall(r"^(dr_[a-z_]+)", prom, re.M))
        used = set(re.findall(r"\b(dr_[a-z_]+)\b", text))
        self.assertTrue(used, text)
        self.assertLessEqual(used, written, "rules use metrics verify does not write")
        for alert in ("DrVerifyFailing", "DrRpoAboveObjective", "DrDrillOverdue", "DrVerifyNotRunRecently"):
            self.assertIn("alert: " + alert, text)
        promtool = shutil.which("promtool")
        if not promtool:
            self.skipTest("promtool is not installed (./scripts/setup installs Debian's prometheus package)")
        r = subprocess.run([promtool, "check", "rules", rules], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("SUCCESS", r.stdout)
        # the alerts fire when they should (series shaped like verify's)
        shutil.copy(rules, self.dir)
        shutil.copy(os.path.join(SOURCE, "tests", "cli", "dr-agent.rules.test.yml"), self.dir)
        r = subprocess.run([promtool, "test", "rules", "dr-agent.rules.test.yml"], capture_output=True, text=True,
                           cwd=self.dir)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_verify_service_outlasts_the_canary_wait(self):
        unit = os.path.join(os.path.dirname(os.path.dirname(AGENT)), "dr-agent-verify.service")
        with open(unit) as f:
            text = f.read()
        m = re.search(r"^TimeoutStartSec=(\d+)min$", text, re.M)
        self.assertTrue(m, "TimeoutStartSec in minutes expected")
        timeout = int(m.group(1)) * 60
        r = self.run_agent("plugins", "--format", "json", "--plugin-dir", os.environ["DR_PLUGIN_OUTPUT_DIR"])
        self.assertEqual(r.returncode, 0, r.stderr)
        s3 = [p for p in json.loads(r.stdout)["plugins"] if p["type"] == "s3"][0]
        deadline = [k for k in s3["config_keys"] if k["name"] == "canary_deadline"][0]["default"]
        self.assertRegex(deadline, r"^\d+m$")
        # the canary wait plus the other checks (a few minutes) must end before systemd stops the service
        self.assertGreaterEqual(timeout, int(deadline[:-1]) * 60 + 300, (timeout, deadline))
        # and verify finishes before the next timer tick would want to start it again
        with open(os.path.join(SOURCE, "conf", "systemd", "dr-agent-verify.timer")) as f:
            self.assertIn("OnCalendar=*:0/15", f.read())

    def test_one_unit_per_kind_of_value(self):
        c = self.conf('{ type = "fixture"; name = "lag"; status = "WARNING"; check_observed = "600"; },\n'
                      '{ type = "fixture"; name = "age"; status = "CRITICAL"; check_observed = "2851200"; '
                      'check_threshold = "2764800"; },\n'
                      '{ type = "fixture"; name = "bytes"; status = "WARNING"; check_unit = "bytes"; '
                      'check_observed = "1610612736"; check_threshold = "1073741824"; },\n'
                      '{ type = "fixture"; name = "jobs"; status = "CRITICAL"; check_unit = "count"; '
                      'check_observed = "2"; check_threshold = "0"; },\n'
                      '{ type = "fixture"; name = "state"; status = "CRITICAL"; check_unit = ""; '
                      'check_observed = "disabled"; check_threshold = "enabled"; }')
        r = self.run_agent("-c", c, "verify")
        self.assertEqual(r.returncode, 2, r.stderr)
        out = r.stdout
        # durations human-readable, with the reason a WARNING below its limit warns
        self.assertIn("WARNING  check_0: 10m (limit 15m; WARNING: close to it, CRITICAL above it) - fixture check", out)
        self.assertIn("CRITICAL check_0: 792h (limit 768h) - fixture check", out)
        self.assertNotIn("2764800", out)
        self.assertIn("WARNING  check_0: 1.5 GiB (limit 1.0 GiB) - fixture check", out)
        self.assertIn("CRITICAL check_0: 2 (limit 0) - fixture check", out)
        self.assertNotIn("count", out)
        self.assertIn("CRITICAL check_0: disabled (expected enabled) - fixture check", out)

    # --- configure: the plan summary line ---

    def test_configure_plan_summary_line(self):
        c = self.conf('{ type = "fixture_dep"; name = "a"; change = "create replica"; },\n'
                      '{ type = "fixture_dep"; name = "b"; change = "enable stream"; },\n'
                      '{ type = "fixture"; name = "c"; change = "update_health_check"; },\n'
                      '{ type = "fixture"; name = "d"; change = "delete retired cluster"; },\n'
                      '{ type = "fixture"; name = "e"; }')
        r = self.run_agent("-c", c, "configure", "--plan")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertEqual(r.stdout.splitlines()[-1], "Plan: 1 to add, 2 to change, 1 to destroy.")
        r = self.run_agent("-c", c, "configure")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.splitlines()[-1], "Applied: 1 added, 2 changed, 1 destroyed.")
        c = self.conf('{ type = "fixture"; name = "e"; }')
        r = self.run_agent("-c", c, "configure", "--plan")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.splitlines()[-1], "Plan: 0 to add, 0 to change, 0 to destroy.")

    # --- the drill report ---

    def test_drill_report_contents_and_notes(self):
        c = self.conf('{ type = "fixture_dep"; name = "db"; rpo = 2.5; change = "promote"; },\n'
                      '{ type = "fixture"; name = "dns"; change = "switch"; }')
        notes = os.path.join(self.dir, "lessons.txt")
        r = self.run_agent("-c", c, "drill", "--yes", "--notes", notes)
        self.assertEqual(r.returncode, 64)  # a notes file that does not exist is refused before anything runs
        self.assertIn("--notes %s" % notes, r.stderr)
        with open(notes, "w") as f:
            f.write("DNS TTL too long <b>\nrunbook step 4 unclear\n")
        r = self.run_agent("-c", c, "drill", "--yes", "--notes", notes, "--format", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        self.assertEqual(doc["outcome"], "objectives met")
        self.assertFalse(doc["cancelled"])
        self.assertEqual(doc["host"], os.uname().nodename)
        self.assertEqual(doc["config"], c)
        import hashlib
        with open(c, "rb") as f:
            self.assertEqual(doc["config_digest"], "sha256:" + hashlib.sha256(f.read()).hexdigest())
        self.assertEqual(doc["plugin_versions"], "fixture 1.2.3, fixture_dep 1.2.3")
        self.assertEqual(doc["lessons_learned"], "DNS TTL too long <b>\nrunbook step 4 unclear")
        fo = [s for s in doc["steps"] if s["phase"] == "failover" and s["resource"] == "fixture_dep.db"][0]
        self.assertEqual(fo["phase_label"], "2 failover")
        self.assertEqual(fo["detail"], "promote db: made")  # the step taken, on success too
        v = [s for s in doc["steps"] if s["phase"] == "verify-dr"][0]
        self.assertEqual(v["phase_label"], "3 verify (DR serving)")
        self.assertEqual(v["detail"], "1 check OK")
        with open(os.path.join(self.state, "reports", "drill-%s.html" % doc["run_id"])) as f:
            page = f.read()
        self.assertIn('<span class="ok">objectives met</span>', page)
        self.assertIn(os.uname().nodename, page)
        self.assertIn(doc["config_digest"], page)
        self.assertIn("fixture 1.2.3, fixture_dep 1.2.3", page)
        self.assertRegex(page, r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ on ")
        self.assertIn("<td>2 failover</td>", page)
        self.assertIn("promote db: made", page)
        self.assertIn('contenteditable="true">DNS TTL too long &lt;b&gt;\nrunbook step 4 unclear</div>', page)
        # history shows the lessons learned under the drill
        h = self.run_agent("-c", c, "history")
        self.assertEqual(h.returncode, 0, h.stderr)
        lines = h.stdout.splitlines()
        i = [k for k, l in enumerate(lines) if l.startswith(doc["run_id"])][0]
        self.assertEqual(lines[i + 1], "  lessons learned: DNS TTL too long <b>")
        self.assertEqual(lines[i + 2], "                   runbook step 4 unclear")
        hj = json.loads(self.run_agent("-c", c, "history", "--format", "json").stdout)
        self.assertEqual(hj[-1]["lessons_learned"], doc["lessons_learned"])

    def test_drill_failed_before_failover_colours(self):
        c = self.conf('{ type = "fixture_dep"; name = "db"; status = "CRITICAL"; change = "promote"; }')
        r = self.run_agent("-c", c, "drill", "--yes", "--format", "json")
        self.assertEqual(r.returncode, 1)
        doc = json.loads(r.stdout)
        self.assertEqual(doc["outcome"], "objectives missed")
        with open(os.path.join(self.state, "reports", "drill-%s.html" % doc["run_id"])) as f:
            page = f.read()
        # nothing was measured: neither the RTO nor the RPO cell is green
        self.assertNotIn('class="ok"', page)
        self.assertIn('<td class="na">not measured</td>', page)
        self.assertIn("1 verify (primary serving)", page)
        self.assertIn("CRITICAL check_0: 12.5 - fixture check", page)

    def test_drill_cancelled_is_shown_as_such(self):
        c = self.conf('{ type = "fixture_dep"; name = "db"; change = "promote"; sleep = "3s"; }')
        e = dict(os.environ)
        e.pop("DR_AGENT_CONFIG", None)
        p = subprocess.Popen([AGENT, "-c", c, "drill", "--yes", "--format", "json"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL, env=e)
        time.sleep(4.5)  # in the failover (the verify before it takes 3s)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 1, err)
        doc = json.loads(out)
        self.assertTrue(doc["cancelled"])
        self.assertEqual(doc["outcome"], "cancelled")
        self.assertIn("cancelled during the failover phase", doc["failure"])
        with open(os.path.join(self.state, "reports", "drill-%s.html" % doc["run_id"])) as f:
            page = f.read()
        self.assertIn('<span class="warn">cancelled</span>', page)
        self.assertNotIn("objectives missed", page)

    # --- cleanup of retired resources ---

    def cleanup_on_terminal(self, c, answer):
        """cleanup with stdin on a pseudo-terminal, answering `answer` to the question."""
        master, slave = pty.openpty()
        e = dict(os.environ)
        e.pop("DR_AGENT_CONFIG", None)
        p = subprocess.Popen([AGENT, "-c", c, "cleanup"], stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=e)
        os.close(slave)
        time.sleep(1.0)
        os.write(master, (answer + "\n").encode())
        out, err = p.communicate(timeout=30)
        os.close(master)
        return p.returncode, out, err

    def test_cleanup_planned_confirmed_applied(self):
        retired = os.path.join(self.dir, "retired.txt")
        now = time.time()
        with open(retired, "w") as f:
            f.write("old-a %d\nold-b %d\nyoung %d\n" % (now - 30 * 86400, now - 9 * 86400, now - 3600))
        c = self.conf('{ type = "fixture"; name = "r"; retired_file = "%s"; retired_retention = "7d"; },\n'
                      '{ type = "fixture_dep"; name = "other"; }' % retired)
        # verify warns about what is older than the retention
        r = self.run_agent("-c", c, "verify")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("WARNING  retired_resources: 2 (limit 0) - old-a, old-b", r.stdout)
        # the plan: exit 2, nothing deleted
        r = self.run_agent("-c", c, "cleanup", "--plan")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("plan     delete retired old-a - retired 30 days ago; monthly cost class: low", r.stdout)
        self.assertIn("Plan: 0 to add, 0 to change, 2 to destroy.", r.stdout)
        self.assertNotIn("young", r.stdout)
        # no terminal, no --yes: the plan is shown, nothing deleted
        r = self.run_agent("-c", c, "cleanup")
        self.assertEqual(r.returncode, 64)
        self.assertIn("pass --yes", r.stderr)
        self.assertIn("old-a", r.stdout)
        # on a terminal: asked like failover; anything but 'yes' deletes nothing
        rc, out, err = self.cleanup_on_terminal(c, "no")
        self.assertEqual(rc, 64, err)
        self.assertIn("Type 'yes' to go on", err)
        self.assertIn("not confirmed; nothing deleted", err)
        with open(retired) as f:
            self.assertEqual(len(f.read().splitlines()), 3)
        rc, out, err = self.cleanup_on_terminal(c, "yes")
        self.assertEqual(rc, 0, err)
        self.assertIn("done     delete retired old-a", out)
        self.assertIn("Applied: 0 added, 0 changed, 2 destroyed.", out)
        with open(retired) as f:
            self.assertEqual([l.split()[0] for l in f], ["young"])
        # the run is in the history; a second cleanup has nothing to do
        self.assertIn("cleanup", [h["command"] for h in json.loads(
            self.run_agent("-c", c, "history", "--format", "json").stdout)])
        r = self.run_agent("-c", c, "cleanup", "--yes")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Plan: 0 to add, 0 to change, 0 to destroy.", r.stdout)
        r = self.run_agent("-c", c, "verify")
        self.assertEqual(r.returncode, 0, r.stdout)
        # --resource limits what cleanup looks at
        r = self.run_agent("-c", c, "cleanup", "--plan", "--resource", "fixture_dep.other")
        self.assertEqual(r.returncode, 0)
        self.assertNotIn("fixture.r", r.stdout)

    # --- adopt ---

    def test_adopt_prints_a_configuration_it_accepts(self):
        c = self.conf('{ type = "fixture_dep"; name = "orders"; },\n{ type = "fixture"; name = "dns"; }')
        r = self.run_agent("-c", c, "adopt", "--format", "json")
        self.assertIn(r.returncode, (0, 2), r.stderr)
        doc = json.loads(r.stdout)
        self.assertEqual(sorted(x["id"] for x in doc["resources"]), ["fixture.dns", "fixture_dep.orders"])
        for x in doc["resources"]:
            self.assertEqual(set(x), {"id", "type", "name", "keys", "found", "differences", "configure_would"})
        # exit 2 exactly when something differs
        differs = any(x["differences"] or x["configure_would"] for x in doc["resources"])
        self.assertEqual(r.returncode, 2 if differs else 0)
        text = self.run_agent("-c", c, "adopt").stdout
        self.assertIn('type = "fixture"; name = "dns";', text)
        self.assertIn("# What differs from the DR setup dr-agent would make:", text)
        # the printed resources section parses as the agent's configuration
        head = open(c).read().split("resources = (")[0]
        c2 = c + ".adopted"
        with open(c2, "w") as f:
            f.write(head + text)
        os.chmod(c2, 0o600)
        self.assertEqual(self.run_agent("-c", c2, "plan").returncode, 0)
        self.assertEqual(self.run_agent("-c", c, "adopt", "--format", "prometheus").returncode, 64)

    # --- bash completion ---

    def complete(self, line):
        """The words bash completion offers for `line` (the cursor at its end)."""
        script = os.path.join(SOURCE, "conf", "bash-completion", "dr-agent")
        words = line.split(" ")
        words[0] = AGENT
        prog = ('source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); '
                '_dr_agent; printf "%s\\n" "${COMPREPLY[@]}"')
        e = dict(os.environ)
        e.pop("DR_AGENT_CONFIG", None)
        r = subprocess.run(["bash", "--norc", "-c", prog, "bash", script, *words], capture_output=True, text=True,
                           env=e, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        return sorted(w for w in r.stdout.split("\n") if w)

    def test_bash_completion(self):
        c = self.conf('{ type = "fixture_dep"; name = "orders"; },\n{ type = "fixture"; name = "dns"; }')
        self.assertEqual(self.complete("dr-agent "), sorted(
            "plugins plan configure verify failover failback drill resume history cleanup adopt diagnose".split()))
        self.assertEqual(self.complete("dr-agent ver"), ["verify"])
        self.assertEqual(self.complete("dr-agent -c %s fail" % c), ["failback", "failover"])
        self.assertEqual(self.complete("dr-agent verify --format "), ["json", "nagios", "prometheus", "text"])
        self.assertEqual(self.complete("dr-agent plan -f "), ["dot", "json", "text"])
        self.assertEqual(self.complete("dr-agent failover --mode "), ["forced", "graceful"])
        self.assertEqual(self.complete("dr-agent verify --serving "), ["dr", "primary"])
        self.assertIn("--dry-run", self.complete("dr-agent failover --"))
        self.assertIn("--notes", self.complete("dr-agent drill --"))
        self.assertIn("--yes", self.complete("dr-agent cleanup --"))
        self.assertNotIn("--notes", self.complete("dr-agent verify --"))
        # resource ids and TYPE.* of the configuration named on the line
        self.assertEqual(self.complete("dr-agent -c %s verify --resource " % c),
                         ["fixture.*", "fixture.dns", "fixture_dep.*", "fixture_dep.orders"])
        self.assertEqual(self.complete("dr-agent -c %s verify -r fixture_dep." % c),
                         ["fixture_dep.*", "fixture_dep.orders"])
        # diagnose RESOURCE: the resources, and its options
        self.assertEqual(self.complete("dr-agent -c %s diagnose fixture_d" % c), ["fixture_dep.*", "fixture_dep.orders"])
        self.assertIn("--serving", self.complete("dr-agent diagnose --"))
        self.assertEqual(self.complete("dr-agent diagnose --format "), ["json", "text"])
        # run ids for resume
        r = self.run_agent("-c", c, "configure")
        self.assertEqual(r.returncode, 0, r.stderr)
        runs = json.loads(self.run_agent("-c", c, "history", "--format", "json").stdout)
        self.assertEqual(self.complete("dr-agent -c %s resume " % c), [runs[0]["run_id"]])


if __name__ == "__main__":
    unittest.main(verbosity=2)
