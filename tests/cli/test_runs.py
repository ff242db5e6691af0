#!/usr/bin/env python3
"""test_runs.py: run lock, journal, resume, history and drill with the fixture plugins (real processes, real signals)."""
import json
import re
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

AGENT = os.environ["DR_AGENT_BIN"]
FIXTURES = os.environ["DR_FIXTURE_DIR"]

HEAD = """objectives = { rto = "%s"; rpo = "15m"; };
regions = { primary = "us-east-1"; dr = "us-west-2"; };
"""


class Runs(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="drruns.")
        self.state = os.path.join(self.dir, "state")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def conf(self, resources, rto="1h"):
        path = os.path.join(self.dir, "dr-agent.conf")
        with open(path, "w") as f:
            f.write(HEAD % rto)
            f.write('agent = { state_dir = "%s"; plugin_dir = "%s"; };\n' % (self.state, FIXTURES))
            f.write("resources = (\n%s\n);\n" % resources)
        os.chmod(path, 0o600)
        return path

    def agent(self, *args, timeout=60):
        return subprocess.run([AGENT, *args], capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    def start(self, *args):
        return subprocess.Popen([AGENT, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                stdin=subprocess.DEVNULL)

    def journal(self, run_id):
        with open(os.path.join(self.state, "runs", run_id + ".jsonl")) as f:
            return [json.loads(l) for l in f]

    def wait_for(self, pred, timeout=10):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if pred():
                return True
            time.sleep(0.05)
        return False

    def history(self, c):
        r = self.agent("-c", c, "history", "--format", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    # --- lock ---

    def test_second_mutating_run_refused_with_holder(self):
        c = self.conf('{ type = "fixture_dep"; name = "db"; sleep = "3s"; change = "promote"; }')
        first = self.start("-c", c, "failover", "--yes")
        self.assertTrue(self.wait_for(lambda: os.path.exists(os.path.join(self.state, "lock")) and
                                      os.path.getsize(os.path.join(self.state, "lock")) > 0))
        second = self.agent("-c", c, "failover", "--yes")
        self.assertEqual(second.returncode, 1)
        self.assertIn("another run holds the lock", second.stderr)
        self.assertIn("pid %d" % first.pid, second.stderr)
        self.assertIn("(failover)", second.stderr)
        # verify takes no lock
        v = self.agent("-c", c, "verify")
        self.assertEqual(v.returncode, 0, v.stderr)
        # --wait waits for the holder, then runs
        t0 = time.monotonic()
        third = self.agent("-c", c, "failback", "--yes", "--wait", "30s")
        self.assertEqual(third.returncode, 0, third.stderr)
        self.assertGreater(time.monotonic() - t0, 1.0)
        first.communicate(timeout=30)
        self.assertEqual(first.returncode, 0)

    def test_lock_released_when_holder_is_killed(self):
        c = self.conf('{ type = "fixture_dep"; name = "db"; sleep = "30s"; }')
        first = self.start("-c", c, "configure")
        self.assertTrue(self.wait_for(lambda: os.path.exists(os.path.join(self.state, "lock")) and
                                      os.path.getsize(os.path.join(self.state, "lock")) > 0))
        first.send_signal(signal.SIGKILL)
        first.communicate()
        c2 = self.conf('{ type = "fixture_dep"; name = "db"; }')
        r = self.agent("-c", c2, "configure")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_cancel_while_waiting_for_the_lock(self):
        c = self.conf('{ type = "fixture_dep"; name = "db"; sleep = "8s"; }')
        first = self.start("-c", c, "configure")
        self.assertTrue(self.wait_for(lambda: os.path.exists(os.path.join(self.state, "lock")) and
                                      os.path.getsize(os.path.join(self.state, "lock")) > 0))
        waiting = self.start("-c", c, "configure", "--wait", "30s")
        time.sleep(1.0)
        t0 = time.monotonic()
        waiting.send_signal(signal.SIGINT)
        out, err = waiting.communicate(timeout=20)
        self.assertLess(time.monotonic() - t0, 3.0, "SIGINT did not end the wait for the lock")
        self.assertEqual(waiting.returncode, 1)
        self.assertIn("cancelled while waiting for the lock", err)
        self.assertEqual(first.poll(), None)  # the holder goes on
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=30)
        # the cancelled waiter wrote no journal of its own
        self.assertEqual(len(os.listdir(os.path.join(self.state, "runs"))), 1)

    def test_resume_waiting_for_a_run_that_then_ends(self):
        # "resume" picks a run without an end before it has the lock: a run still going looks like that
        trace = os.path.join(self.dir, "trace")
        c = self.conf('{ type = "fixture_dep"; name = "db"; sleep = "3s"; change = "promote"; trace = "%s"; }'
                      % trace)
        first = self.start("-c", c, "failover", "--yes")
        self.assertTrue(self.wait_for(lambda: os.path.exists(trace)))
        r = self.agent("-c", c, "resume", "--yes", "--wait", "30s")
        first.communicate(timeout=30)
        self.assertEqual(first.returncode, 0)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("while this resume waited for the lock: nothing to resume", r.stderr)
        with open(trace) as f:  # prepare, then the failover hook, once
            self.assertEqual([l.split()[0] + " " + l.split()[2] for l in f],
                             ["start prepare", "end prepare", "start failover", "end failover"])
        run_id = os.listdir(os.path.join(self.state, "runs"))[0][:-len(".jsonl")]
        self.assertEqual([(e["event"], e.get("hook")) for e in self.journal(run_id)],
                         [("run_start", None), ("step_start", "prepare"), ("step_end", "prepare"),
                          ("step_start", "failover"), ("step_end", "failover"), ("run_end", None)])

    def test_resume_of_a_failover_is_confirmed(self):
        c = self.conf('{ type = "fixture_dep"; name = "db"; sleep = "20s"; change = "promote"; }')
        p = self.start("-c", c, "failover", "--yes")
        runs_dir = os.path.join(self.state, "runs")

        def step_started():
            # the journal file appears before its first line is written: wait for the step itself
            if not os.path.isdir(runs_dir) or not os.listdir(runs_dir):
                return False
            with open(os.path.join(runs_dir, os.listdir(runs_dir)[0])) as f:
                return any('"step_start"' in l for l in f)

        self.assertTrue(self.wait_for(step_started))
        p.send_signal(signal.SIGKILL)
        p.communicate()
        r = self.agent("-c", c, "resume")
        self.assertEqual(r.returncode, 64)
        self.assertIn("pass --yes to confirm", r.stderr)
        self.assertEqual(self.history(c)[0]["status"], "interrupted")

    # --- journal, kill -9, resume, history ---

    def test_journal_kill_resume_history(self):
        c = self.conf('{ type = "fixture_dep"; name = "db"; change = "promote"; },\n'
                      '{ type = "fixture"; name = "dns"; sleep = "20s"; change = "switch"; }')
        p = self.start("-c", c, "failover", "--yes", "--mode", "forced")
        runs_dir = os.path.join(self.state, "runs")

        def dns_started():
            if not os.path.isdir(runs_dir) or not os.listdir(runs_dir):
                return False
            with open(os.path.join(runs_dir, os.listdir(runs_dir)[0])) as f:
                return any('"step_start"' in l and "fixture.dns" in l and '"failover"' in l for l in f)

        self.assertTrue(self.wait_for(dns_started))
        p.send_signal(signal.SIGKILL)  # at a step boundary: db ended, dns started
        p.communicate()
        run_id = os.listdir(runs_dir)[0][:-len(".jsonl")]
        # the prepare phase ran first (both ready); then the commit
        prepared = [e for e in self.journal(run_id) if e.get("hook") == "prepare"]
        self.assertEqual(sorted((e["event"], e["resource"], e["status"]) for e in prepared if e["event"] == "step_end"),
                         [("step_end", "fixture.dns", "unchanged"), ("step_end", "fixture_dep.db", "unchanged")])
        events = [e for e in self.journal(run_id) if e.get("hook") != "prepare"]
        self.assertEqual([e["event"] for e in events],
                         ["run_start", "step_start", "step_end", "step_start"])
        self.assertEqual(events[0]["mode"], "forced")
        self.assertEqual(events[2]["status"], "done")
        self.assertEqual(events[2]["changes"], [{"action": "promote", "target": "db", "done": True}])
        h = self.history(c)
        self.assertEqual(h[0]["run_id"], run_id)
        self.assertEqual(h[0]["status"], "interrupted")
        self.assertFalse(os.path.exists(os.path.join(self.state, "serving.json")))

        # resume continues the same run, same mode, and re-checks the finished step
        c = self.conf('{ type = "fixture_dep"; name = "db"; change = "promote"; },\n'
                      '{ type = "fixture"; name = "dns"; change = "switch"; }')
        r = self.agent("-c", c, "resume", "--yes", "--format", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        self.assertEqual(doc["run_id"], run_id)
        self.assertEqual(doc["mode"], "forced")
        self.assertIn("the barrier was passed before", r.stderr)  # the commit had started: no second prepare
        events = self.journal(run_id)
        self.assertEqual([e.get("hook") for e in events].count("prepare"), 4)
        events = [e for e in events if e.get("hook") != "prepare"]
        self.assertEqual(events[4]["event"], "resume")
        self.assertEqual(events[-1]["event"], "run_end")
        self.assertEqual(events[-1]["status"], "done")
        ran = [e["resource"] for e in events[5:] if e["event"] == "step_start"]
        self.assertEqual(sorted(ran), ["fixture.dns", "fixture_dep.db"])
        h = self.history(c)
        self.assertEqual(h[0]["status"], "done")
        self.assertEqual(h[0]["resumes"], 1)
        self.assertIsNotNone(h[0]["rto_seconds"])
        with open(os.path.join(self.state, "serving.json")) as f:
            self.assertEqual(json.load(f)["serving"], "dr")
        # nothing left to resume
        r = self.agent("-c", c, "resume", "--yes")
        self.assertEqual(r.returncode, 0)
        self.assertIn("no interrupted run", r.stderr)

    def test_history_in_start_order_within_one_second(self):
        # run ids carry the start second and a random suffix: runs of the same second must still list in order
        c = self.conf('{ type = "fixture_dep"; name = "db"; change = "promote"; }')
        started = []
        for i in range(10):
            r = self.agent("-c", c, "failover" if i % 2 == 0 else "failback", "--yes", "--format", "json")
            self.assertEqual(r.returncode, 0, r.stderr)
            started.append(json.loads(r.stdout)["run_id"])
        seconds = [rid.split("-", 1)[0] for rid in started]
        self.assertLess(len(set(seconds)), len(seconds), "no two runs started in the same second: nothing tested")
        self.assertEqual([h["run_id"] for h in self.history(c)], started)

    def test_resume_with_only_rechecks_left_ends_done(self):
        # killed after the last step ended, before the run's end: the resumed steps only re-check (unchanged),
        # yet the run made its changes before the crash, so it ends "done"
        c = self.conf('{ type = "fixture_dep"; name = "db"; change = "promote"; }')
        r = self.agent("-c", c, "failover", "--yes", "--format", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        run_id = json.loads(r.stdout)["run_id"]
        path = os.path.join(self.state, "runs", run_id + ".jsonl")
        with open(path) as f:
            lines = f.readlines()
        self.assertIn('"run_end"', lines[-1])
        with open(path, "w") as f:
            f.writelines(lines[:-1])
        os.unlink(os.path.join(self.state, "serving.json"))
        self.assertEqual(self.history(c)[-1]["status"], "interrupted")
        c = self.conf('{ type = "fixture_dep"; name = "db"; }')  # nothing left to change
        r = self.agent("-c", c, "resume", "--yes", "--format", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        events = self.journal(run_id)
        self.assertEqual([e["status"] for e in events if e["event"] == "step_end" and e["hook"] != "prepare"],
                         ["done", "unchanged"])
        self.assertEqual(events[-1]["event"], "run_end")
        self.assertEqual(events[-1]["status"], "done")
        h = self.history(c)[-1]
        self.assertEqual((h["run_id"], h["status"], h["resumes"]), (run_id, "done", 1))
        # a run that changed nothing at all still ends "unchanged" when resumed
        r = self.agent("-c", c, "configure", "--format", "json")
        run_id = json.loads(r.stdout)["run_id"]
        path = os.path.join(self.state, "runs", run_id + ".jsonl")
        with open(path) as f:
            lines = f.readlines()
        with open(path, "w") as f:
            f.writelines(lines[:-1])
        r = self.agent("-c", c, "resume", "--yes")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.journal(run_id)[-1]["status"], "unchanged")

    def test_torn_journal_line_is_ignored(self):
        c = self.conf('{ type = "fixture_dep"; name = "db"; }')
        self.assertEqual(self.agent("-c", c, "configure").returncode, 0)
        run_id = os.listdir(os.path.join(self.state, "runs"))[0][:-6]
        with open(os.path.join(self.state, "runs", run_id + ".jsonl"), "a") as f:
            f.write('{"event":"step_start","resou')  # a crash in the middle of a write
        h = self.history(c)
        self.assertEqual(h[0]["status"], "unchanged")

    # --- drill ---

    def test_drill_success_report(self):
        c = self.conf('{ type = "fixture_dep"; name = "db"; rpo = 2.5; change = "promote"; sleep = "200ms"; },\n'
                      '{ type = "fixture"; name = "dns"; change = "switch"; }')
        r = self.agent("-c", c, "drill", "--yes", "--format", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        self.assertTrue(doc["success"])
        self.assertTrue(doc["rto_met"])
        self.assertEqual(doc["rpo_seconds"], 2.5)
        self.assertEqual(doc["rpo_resource"], "fixture_dep.db")
        self.assertGreater(doc["rto_seconds"], 0.2)
        phases = [s["phase"] for s in doc["steps"] if s["resource"] == "fixture.dns"]
        self.assertEqual(phases, ["verify", "prepare", "failover", "verify-dr", "prepare-failback", "failback",
                                  "verify-after"])
        # where the application lives at the end
        self.assertEqual(doc["where"]["serving_region"], "us-east-1")
        # dependency order inside the failover: data before traffic
        fo = {s["resource"]: s for s in doc["steps"] if s["phase"] == "failover"}
        self.assertLessEqual(fo["fixture_dep.db"]["start_offset_seconds"] + fo["fixture_dep.db"]["duration_seconds"],
                             fo["fixture.dns"]["start_offset_seconds"] + 1e-3)
        html = os.path.join(self.state, "reports", "drill-%s.html" % doc["run_id"])
        with open(html) as f:
            page = f.read()
        self.assertIn("<svg", page)
        self.assertIn("RTO objective", page)
        self.assertIn("fixture_dep.db", page)
        self.assertIn("Where the application lives: us-east-1", page)
        self.assertNotIn("http://", page.replace('xmlns="http://www.w3.org/2000/svg"', ""))
        self.assertNotIn("https://", page)
        with open(os.path.join(self.state, "serving.json")) as f:
            self.assertEqual(json.load(f)["serving"], "primary")
        prom = self.agent("-c", c, "verify", "--format", "prometheus").stdout
        self.assertIn("dr_drill_overdue 0", prom)
        self.assertRegex(prom, r"dr_drill_rto_seconds \d+\.\d+")
        self.assertIn("dr_drill_rpo_seconds 2.500", prom)
        self.assertEqual(self.history(c)[-1]["command"], "drill")

    def test_drill_reports_written_atomically(self):
        """Each drill report is written to a temporary file and renamed into place: its final path is never opened
        for writing, so a crash never leaves half a report (the system calls, seen by strace)."""
        if not shutil.which("strace"):
            self.skipTest("strace is not installed")
        c = self.conf('{ type = "fixture_dep"; name = "db"; rpo = 2.5; change = "promote"; },\n'
                      '{ type = "fixture"; name = "dns"; change = "switch"; }')
        trace = os.path.join(self.dir, "trace")
        r = subprocess.run(["strace", "-f", "-qq", "-e", "trace=open,openat,rename,renameat,renameat2", "-o", trace,
                            AGENT, "-c", c, "drill", "--yes", "--format", "json"], capture_output=True, text=True,
                           timeout=120, stdin=subprocess.DEVNULL)
        if r.returncode != 0 and "ptrace" in r.stderr:
            self.skipTest("strace cannot trace here: " + r.stderr.strip()[:200])
        self.assertEqual(r.returncode, 0, r.stderr)
        run_id = json.loads(r.stdout)["run_id"]
        with open(trace) as f:
            calls = f.read()
        for name in ("drill-%s.json" % run_id, "drill-%s.html" % run_id):
            final = os.path.join(self.state, "reports", name)
            self.assertTrue(os.path.exists(final))
            opened = [l for l in calls.splitlines() if re.search(r'open(at)?\(.*"%s"' % re.escape(final), l)]
            self.assertEqual([l for l in opened if re.search(r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC", l)], [],
                             "the report was written in place")
            renamed = [l for l in calls.splitlines() if re.search(r"rename(at2?)?\(.*\.%s\.\w+\".*\"%s\"" % (
                re.escape(name), re.escape(final)), l)]
            self.assertTrue(renamed, "no rename of a temporary file onto %s:\n%s" % (final, calls[-3000:]))
        self.assertEqual([n for n in os.listdir(os.path.join(self.state, "reports")) if n.startswith(".")], [])

    def test_drill_rto_missed(self):
        c = self.conf('{ type = "fixture_dep"; name = "db"; change = "promote"; sleep = "1500ms"; }', rto="1s")
        r = self.agent("-c", c, "drill", "--yes", "--format", "json")
        self.assertEqual(r.returncode, 1)
        doc = json.loads(r.stdout)
        self.assertFalse(doc["success"])
        self.assertFalse(doc["rto_met"])
        prom = self.agent("-c", c, "verify", "--format", "prometheus").stdout
        self.assertIn("dr_drill_overdue 1", prom)
        self.assertIn("dr_drill_last_success 0", prom)

    def test_drill_refuses_unhealthy_estate(self):
        c = self.conf('{ type = "fixture_dep"; name = "db"; status = "CRITICAL"; change = "promote"; }')
        r = self.agent("-c", c, "drill", "--yes", "--format", "json")
        self.assertEqual(r.returncode, 1)
        doc = json.loads(r.stdout)
        self.assertIn("CRITICAL before the drill", doc["failure"])
        self.assertEqual({s["phase"] for s in doc["steps"]}, {"verify"})

    def test_drill_failover_failure(self):
        c = self.conf('{ type = "fixture_dep"; name = "db"; fail = ["failover"]; },\n'
                      '{ type = "fixture"; name = "dns"; change = "switch"; }')
        r = self.agent("-c", c, "drill", "--yes", "--format", "json")
        self.assertEqual(r.returncode, 1)
        doc = json.loads(r.stdout)
        self.assertIn("the failover failed after its commit started", doc["failure"])
        dns = [s for s in doc["steps"] if s["resource"] == "fixture.dns" and s["phase"] == "failover"][0]
        self.assertEqual(dns["status"], "skipped")
        # rolled back by default: the failback of what ran (db), not of what never moved (dns)
        self.assertEqual(doc["end_state"], "rolled back")
        back = {s["resource"]: s["status"] for s in doc["steps"] if s["phase"] == "rollback"}
        self.assertEqual(back, {"fixture_dep.db": "unchanged"})
        self.assertEqual({x["resource"]: x["state"] for x in doc["stated_state"]["resources"]},
                         {"fixture_dep.db": "not moved", "fixture.dns": "not moved"})
        self.assertEqual(doc["where"]["serving_region"], "us-east-1")
        self.assertEqual(self.history(c)[-1]["status"], "failed")
        with open(os.path.join(self.state, "reports", "drill-%s.html" % doc["run_id"])) as f:
            page = f.read()
        self.assertIn("End state: rolled back", page)
        self.assertIn("To complete it: <code>dr-agent -c ", page)

    def test_drill_rollback_in_reverse_order(self):
        trace = os.path.join(self.dir, "trace")
        c = self.conf('{ type = "fixture_dep"; name = "db"; change = "promote"; trace = "%s"; },\n'
                      '{ type = "fixture"; name = "dns"; change = "switch"; fail = ["failover"]; trace = "%s"; }'
                      % (trace, trace))
        r = self.agent("-c", c, "drill", "--yes", "--format", "json")
        self.assertEqual(r.returncode, 1)
        doc = json.loads(r.stdout)
        self.assertEqual(doc["end_state"], "rolled back")
        st = {x["resource"]: (x["state"], x["serving_region"]) for x in doc["stated_state"]["resources"]}
        # dns made its change, then failed: partly moved, no region is sure to serve it
        self.assertEqual(st, {"fixture_dep.db": ("moved", "us-west-2"), "fixture.dns": ("partly moved", "none")})
        with open(trace) as f:
            backs = [l.split()[1] for l in f if l.startswith("start") and l.split()[2] == "failback"]
        self.assertEqual(backs, ["fixture.dns", "fixture_dep.db"])  # traffic first, then data: reverse order
        self.assertFalse(os.path.exists(os.path.join(self.state, "serving.json")))  # the primary never stopped serving

    def test_drill_hold_then_resume(self):
        trace = os.path.join(self.dir, "trace")
        c = self.conf('{ type = "fixture_dep"; name = "db"; change = "promote"; trace = "%s"; },\n'
                      '{ type = "fixture"; name = "dns"; change = "switch"; fail = ["failover"]; trace = "%s"; }'
                      % (trace, trace))
        r = self.agent("-c", c, "drill", "--yes", "--on-failure", "hold")
        self.assertEqual(r.returncode, 1)
        self.assertIn("end state: held", r.stdout)
        self.assertRegex(r.stdout, r"fixture_dep\.db +moved +serving region: us-west-2")
        m = re.search(r"to complete it: (dr-agent .* resume (\S+) --yes)", r.stdout)
        self.assertTrue(m, r.stdout)
        with open(trace) as f:
            self.assertNotIn("failback", f.read())  # held: nothing rolled back
        h = self.history(c)[-1]
        self.assertEqual((h["command"], h["status"]), ("drill", "held"))
        # resume completes the drill: it fails back what moved
        r = self.agent("-c", c, "resume", m.group(2), "--yes", "--format", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("the drill is completed by failing back", r.stderr)
        doc = json.loads(r.stdout)
        self.assertEqual(doc["where"]["serving_region"], "us-east-1")
        with open(trace) as f:
            self.assertEqual(sorted(l.split()[1] for l in f if l.startswith("start") and l.split()[2] == "failback"),
                             ["fixture.dns", "fixture_dep.db"])
        h = self.history(c)[-1]
        self.assertEqual((h["run_id"], h["resumes"]), (m.group(2), 1))


if __name__ == "__main__":
    unittest.main(verbosity=2)
