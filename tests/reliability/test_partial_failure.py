#!/usr/bin/env python3
"""test_partial_failure.py: the agent under partial failure. Two hosts whose lock region hangs never act at once;
2xx answers that are not AWS's (an HTML page, an empty body) fail the run before any write; a resumed failover's RTO
counts from its first start; an RPO that cannot be measured makes the run's RPO unknown; 250 MB answers leave the
agent's memory bounded; and the smaller guarantees of docs/RELIABILITY.md (a crashed lease holder's run resumes at
once on its host, a torn journal line, an empty resource list, a relative state directory, the lock region in the
primary region, verify's overall deadline)."""
import json
import os
import re
import signal
import subprocess
import tempfile
import time
import unittest

import reltest
from reltest import D, P

LOCK_TABLE = "dr-agent-locks"
KEY_A, KEY_B = "AKIDHOSTA00000000000", "AKIDHOSTB00000000000"

# Operations that only read: everything else an agent sends changes something.
READS = re.compile(r"^(Describe|Get|List|Head)")


def lease_margin(lease):
    """agent/lock.h: clock skew 2 s + lease * 0.001 + the renewal deadline min(5 s, lease / 6)."""
    return 2.0 + lease * 0.001 + min(5.0, lease / 6.0)


# ASan's own memory left out of a measure of the agent's: freed blocks in quarantine (256 MB by default) and the
# fake stacks of detect_stack_use_after_return (on by default since LLVM 15)
ASAN_MEASURE = "quarantine_size_mb=8:malloc_context_size=5:detect_stack_use_after_return=0"


def sanitized():
    """The agent built with ASan (CI runs every test under it too)."""
    try:
        out = subprocess.run(["nm", "-D", reltest.AGENT], capture_output=True, text=True, timeout=30).stdout
    except OSError:
        return False
    return "__asan_init" in out


class PartialFailure(reltest.drtest.EnvTestCase):
    needs_pg = True  # the aurora resource's data plane

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pair = reltest.Pair(cls.env)

    def setUp(self):
        reltest.reset(self.env, self.pair)
        self.env.seed()
        self.tmp = tempfile.mkdtemp(prefix="partial-", dir=self.env.tmpdir)

    def host(self, name, agent=None, types=None, resources=None, aws=None):
        state = os.path.join(self.tmp, name, "state")
        os.makedirs(os.path.dirname(state), exist_ok=True)
        res = resources if resources is not None else reltest.estate_resources(
            pg=reltest.pg_keys(self.env), types=types or reltest.TYPES)
        conf = reltest.write_conf(os.path.join(self.tmp, name, "dr-agent.conf"), state, res, agent=agent, aws=aws)
        return reltest.Agent(self.env, conf, state)

    def ready(self, agent):
        r = agent.run("configure")
        self.assertEqual(r.rc, 0, r)
        reltest.make_healthy(self.env)

    def journal_runs(self, agent, command="failover"):
        out = []
        for rid in reltest.run_ids(agent.state_dir):
            ev = reltest.journal(agent.state_dir, rid)
            if ev and ev[0].get("command") == command:
                out.append((rid, ev))
        return out

    # ---- 1. the lease holds without trusting the network --------------------------------------------------
    def test_two_hosts_lock_region_hangs(self):
        lease = 6.0
        keys = {"lock_table": f'"{LOCK_TABLE}"', "lock_lease": f'"{lease:.0f}s"'}
        a, b = self.host("host-a", agent=keys), self.host("host-b", agent=keys)
        self.ready(a)
        # host a's renewals hang in the lock region (host b's requests are answered); the DR cluster promotes slowly,
        # so host a is in the middle of its failover when its lease runs out
        self.env.add_fault(service="dynamodb", region=D, operation="UpdateItem", access_key=KEY_A, action="hang")
        self.env.set_duration("SwitchoverGlobalCluster", 15)
        self.env.set_duration("FailoverGlobalCluster", 15)
        self.env.clear_requests()
        pa = a.start("failover", "--yes", env={"AWS_ACCESS_KEY_ID": KEY_A})
        self.assertTrue(reltest.wait_for(lambda: self.journal_runs(a), timeout=30), "host a did not start")
        time.sleep(1.0)
        pb = b.start("failover", "--yes", "--wait", "120s", env={"AWS_ACCESS_KEY_ID": KEY_B})
        oa, ea = pa.communicate(timeout=180)
        ob, eb = pb.communicate(timeout=180)
        self.assertEqual(pb.returncode, 0, eb[-3000:])
        self.assertEqual(pa.returncode, 1, ea[-3000:])
        # host a says it lost its lease, and did not record an end, a "done" or a serving region
        self.assertIn("reached its local deadline without a renewal", ea)
        self.assertIn("lost its lease", ea)
        (rid, ev), = self.journal_runs(a)
        self.assertNotIn("run_end", [e["event"] for e in ev])
        self.assertFalse(os.path.exists(os.path.join(a.state_dir, "serving.json")))
        self.assertEqual(json.loads(a.run("history", "--format", "json").stdout)[-1]["status"], "interrupted")
        # the request log: host a's last irreversible call came before its local deadline, and host b took the lease
        # (and acted) only after that
        log = self.env.requests()
        mine = lambda q, k: q.get("access_key") == k  # noqa: E731
        lease_ops = ("PutItem", "UpdateItem", "DeleteItem")
        a_leases = [q for q in log if mine(q, KEY_A) and q["service"] == "dynamodb" and q["region"] == D
                    and q["operation"] in ("PutItem", "UpdateItem") and q["status"] == 200]
        self.assertEqual([q["operation"] for q in a_leases], ["PutItem"], "host a renewed its lease")
        a_deadline = a_leases[-1]["time"] + lease - lease_margin(lease)
        irreversible = lambda q: (q["status"] is not None and not READS.match(q["operation"] or "")  # noqa: E731
                                  and not (q["service"] == "dynamodb" and q["region"] == D
                                           and q["operation"] in lease_ops))
        a_acts = [q for q in log if mine(q, KEY_A) and irreversible(q)]
        b_acts = [q for q in log if mine(q, KEY_B) and irreversible(q)]
        self.assertTrue(a_acts, "host a did nothing before its deadline: the test proves nothing")
        self.assertTrue(b_acts)
        # when the proxy received a call (its log time is taken when it answers, and the emulation runs the
        # PostgreSQL side of a switchover inside the call: seconds on a loaded machine)
        sent = lambda q: q["time"] - (q["ms"] or 0) / 1000.0  # noqa: E731
        late = [(q["operation"], round(sent(q) - a_deadline, 3)) for q in a_acts if sent(q) > a_deadline]
        self.assertEqual(late, [], "host a acted after its local deadline")
        b_lease = min(q["time"] for q in log if mine(q, KEY_B) and q["operation"] == "PutItem" and q["status"] == 200
                      and q["region"] == D)
        self.assertGreater(b_lease, a_deadline)
        self.assertGreater(b_lease, max(sent(q) for q in a_acts))
        self.assertGreater(min(sent(q) for q in b_acts), max(sent(q) for q in a_acts))
        # host b finished the failover and recorded it
        (rid_b, evb), = self.journal_runs(b)
        self.assertEqual(evb[-1]["status"], "done")

    def test_crashed_holder_resumes_at_once_on_its_host(self):
        lease = 60.0
        a = self.host("host-a", agent={"lock_table": f'"{LOCK_TABLE}"', "lock_lease": f'"{lease:.0f}s"'})
        self.ready(a)
        # the traffic step of failover_method "alarm": the datapoint in the DR region's CloudWatch
        self.env.add_fault(service="monitoring", operation="PutMetricData", action="latency", latency_ms=30000)
        p = a.start("failover", "--yes")
        self.assertTrue(reltest.wait_for(lambda: self.journal_runs(a), timeout=30))
        (rid, ev), = self.journal_runs(a)
        token = ev[0]["lease_token"]
        p.send_signal(signal.SIGKILL)
        p.communicate()
        self.env.clear_faults()
        # a new run is refused while the dead holder's lease stands ...
        r = a.run("failover", "--yes")
        self.assertEqual(r.rc, 1, r)
        self.assertIn("another run holds the lease", r.stderr)
        # ... but the crashed run itself resumes at once, under its own token, long before the lease expires
        t0 = time.monotonic()
        r = a.run("resume", "--yes")
        self.assertEqual(r.rc, 0, r)
        self.assertLess(time.monotonic() - t0, lease / 2)
        self.assertIn("taken over under the run's own lease token", r.stderr)
        ev = reltest.journal(a.state_dir, rid)
        resume = [e for e in ev if e["event"] == "resume"]
        self.assertEqual(len(resume), 1)
        self.assertEqual(resume[0]["lease_token"], token)
        self.assertTrue(resume[0]["lease_taken_over"])
        self.assertEqual(ev[-1]["event"], "run_end")
        self.assertEqual(ev[-1]["status"], "done")
        self.assertTrue(os.path.exists(os.path.join(a.state_dir, "serving.json")))

    # ---- 2. answers that are not AWS's ---------------------------------------------------------------------
    def test_html_and_empty_answers_stop_before_any_write(self):
        a = self.host("html", types=["s3", "aurora"])
        # the decisions taken on these answers: delete or put a replication rule; create the DR cluster
        decided = {"GetBucketReplication": ("PutBucketReplication", "DeleteBucketReplication"),
                   "DescribeDBClusters": ("CreateDBCluster", "CreateDBInstance", "CreateGlobalCluster",
                                          "ModifyDBCluster")}
        for action, service, region, op in (("html", "s3", P, "GetBucketReplication"),
                                            ("empty", "s3", P, "GetBucketReplication"),
                                            ("html", "rds", D, "DescribeDBClusters"),
                                            ("empty", "rds", D, "DescribeDBClusters")):
            with self.subTest(action=action, operation=op):
                self.env.clear_faults()
                self.env.add_fault(service=service, region=region, operation=op, action=action)
                self.env.clear_requests()
                r = a.run("configure")
                self.assertEqual(r.rc, 1, r)
                self.assertIn(f"{service} {op} {region}: HTTP 2xx with", r.stderr)
                self.assertIn(f"not a {op} answer", r.stderr)
                log = self.env.requests()
                answered = [q for q in log if q["operation"] == op and q["region"] == region]
                self.assertGreaterEqual(len(answered), 2, "the answer was not retried")
                self.assertTrue(all(q["fault"] == action for q in answered))
                writes = [q["operation"] for q in log if q["operation"] in decided[op]]
                self.assertEqual(writes, [], f"writes decided on an answer that was not {op}'s")

    # ---- 3. RTO across a resume, and 4. an RPO that is unknown ---------------------------------------------
    def test_resume_rto_from_first_start(self):
        a = self.host("rto", agent={"concurrency": "1"})
        self.ready(a)
        self.env.add_fault(service="monitoring", operation="PutMetricData", action="latency", latency_ms=30000)
        p = a.start("failover", "--yes")
        self.assertTrue(reltest.wait_for(
            lambda: any(e["event"] == "step_start" and e["resource"].startswith("route53")
                        for _, ev in self.journal_runs(a) for e in ev), timeout=120), "the route53 step never began")
        p.send_signal(signal.SIGKILL)
        p.communicate()
        self.env.clear_faults()
        pause = 4.0
        time.sleep(pause)
        r = a.run("resume", "--yes", "--format", "json")
        self.assertEqual(r.rc, 0, r)
        (rid, ev), = self.journal_runs(a)
        end = ev[-1]
        self.assertEqual(end["event"], "run_end")
        self.assertGreaterEqual(end["rto_seconds"], pause)
        self.assertLess(end["rto_since_resume_seconds"], end["rto_seconds"] - pause + 0.5)
        self.assertGreaterEqual(r.json["rto_seconds"], pause)
        self.assertEqual(r.json["rto_since_resume_seconds"], end["rto_since_resume_seconds"])
        h = json.loads(a.run("history", "--format", "json").stdout)[-1]
        self.assertEqual(h["resumes"], 1)
        self.assertAlmostEqual(h["rto_seconds"], end["rto_seconds"], places=3)
        text = a.run("history").stdout
        self.assertIn("RTO from the first start", text)

    def test_unknown_rpo_is_shown_unknown(self):
        a = self.host("rpo", types=["dynamodb", "s3", "route53"])
        r = a.run("configure")
        self.assertEqual(r.rc, 0, r)
        # replication lag datapoints only for S3: DynamoDB's RPO cannot be measured
        self.env.put_lag_metrics(s3_latency_s=60, s3_pending_ops=0, s3_pending_bytes=0, points=3)
        r = a.run("failover", "--yes", "--mode", "forced", "--format", "json")
        self.assertIsNotNone(r.json, r)
        unknown = r.json["rpo_unknown_resources"]
        self.assertTrue(unknown and all(x.startswith("dynamodb") for x in unknown), unknown)
        h = json.loads(a.run("history", "--format", "json").stdout)[-1]
        self.assertEqual(h["rpo_unknown_count"], len(unknown))
        line = [ln for ln in a.run("history").stdout.splitlines() if ln.startswith(h["run_id"])][0]
        self.assertIn("unknown", line)
        self.assertNotRegex(line, r"\s0s\s")
        # verify says so too
        v = a.run("verify", "--serving", "dr", "--format", "json")
        self.assertIsNotNone(v.json, v)
        self.assertIsInstance(v.json["rpo_unknown_resources"], list)

    # ---- 5. writes the old primary took after a forced failover ------------------------------------------
    # ---- 6. memory --------------------------------------------------------------------------------------------
    def test_250mb_answers_bounded_memory(self):
        a = self.host("rss", agent={"concurrency": "8"}, aws={"max_attempts": "3"})
        self.env.add_fault(action="oversize", size_bytes=250 * 1024 * 1024)
        env = a.environ()
        if sanitized():
            # ASan keeps freed blocks in quarantine (256 MB by default): bound it, or the measure is ASan's
            env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") + ":" + ASAN_MEASURE).lstrip(":")
        t0 = time.monotonic()
        p = subprocess.Popen([reltest.AGENT, "-c", a.conf, "verify", "--format", "json"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, errs = p.communicate(timeout=300)
        self.assertLess(time.monotonic() - t0, 120)
        self.assertEqual(p.returncode, reltest.UNKNOWN, errs[-2000:])
        self.assertIn("the answer is larger than the", out + errs)
        served = [q for q in self.env.requests() if q["fault"] == "oversize"]
        self.assertGreaterEqual(len(served), 8, "the answers were not that large")

    def test_peak_rss_under_100mb(self):
        """Peak resident memory of the agent process (its own, from wait4) while every answer is 250 MB."""
        a = self.host("rss2", agent={"concurrency": "8"})
        self.env.add_fault(action="oversize", size_bytes=250 * 1024 * 1024)
        env = a.environ()
        if sanitized():
            env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") + ":" + ASAN_MEASURE).lstrip(":")
        p = subprocess.Popen([reltest.AGENT, "-c", a.conf, "verify", "--format", "json"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        self.assertEqual(p.returncode, reltest.UNKNOWN)
        peak_mb = usage.ru_maxrss / 1024.0
        print(f"peak RSS with 250 MB answers: {peak_mb:.1f} MB", flush=True)
        self.assertLess(peak_mb, 100.0)
        self.assertGreaterEqual(len([q for q in self.env.requests() if q["fault"] == "oversize"]), 8)

    # ---- 7. the smaller guarantees ----------------------------------------------------------------------------
    def test_torn_journal_line_then_resume(self):
        a = self.host("torn", types=["dynamodb", "route53"])
        self.ready(a)
        self.env.add_fault(service="monitoring", operation="PutMetricData", action="latency", latency_ms=30000)
        p = a.start("failover", "--yes")
        self.assertTrue(reltest.wait_for(
            lambda: any(e["event"] == "step_start" and e["resource"].startswith("route53")
                        for _, ev in self.journal_runs(a) for e in ev), timeout=120))
        p.send_signal(signal.SIGKILL)
        p.communicate()
        self.env.clear_faults()
        (rid, _), = self.journal_runs(a)
        path = os.path.join(a.state_dir, "runs", rid + ".jsonl")
        with open(path, "a") as f:
            f.write('{"step":"' + rid + '/route53-x/failover","event":"step_e')  # a crash in the middle of a write
        r = a.run("resume", "--yes")
        self.assertEqual(r.rc, 0, r)
        with open(path) as f:
            lines = f.read().split("\n")
        self.assertEqual(lines[-1], "")
        bad = [ln for ln in lines[:-1] if not ln.startswith("{") or not ln.endswith("}")]
        self.assertEqual(len(bad), 1, bad)  # the torn line, alone on its line
        events = [json.loads(ln)["event"] for ln in lines[:-1] if ln not in bad]
        self.assertIn("resume", events)
        self.assertEqual(events[-1], "run_end")
        h = json.loads(a.run("history", "--format", "json").stdout)[-1]
        self.assertEqual((h["run_id"], h["resumes"], h["status"]), (rid, 1, "done"))
        self.assertIn("(resumed)", a.run("history").stdout)

    def test_config_refusals_and_warnings(self):
        # no resources: failover refuses, and no serving region is recorded
        a = self.host("empty", resources="")
        for cmd in (["failover", "--yes"], ["failback", "--yes"]):
            r = a.run(*cmd)
            self.assertEqual(r.rc, 78, r)
            self.assertIn("resources is empty", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(a.state_dir, "serving.json")))
        # a relative state directory: FILE:LINE and exit 78
        conf = os.path.join(self.tmp, "relative.conf")
        reltest.write_conf(conf, "relative/state", reltest.estate_resources(types=["route53"]))
        r = self.env.run([reltest.AGENT, "-c", conf, "verify"], env={"DR_AGENT_PLUGIN_DIR": reltest.PLUGINS})
        self.assertEqual(r.rc, 78, r)
        self.assertRegex(r.stderr, re.escape(conf) + r":\d+: agent.state_dir: \"relative/state\" is relative")
        # the lease in the primary region: warned, with FILE:LINE
        b = self.host("lockp", types=["route53"], agent={"lock_table": f'"{LOCK_TABLE}"', "lock_region": f'"{P}"'})
        r = b.run("plan")
        self.assertEqual(r.rc, 0, r)
        self.assertRegex(r.stderr, re.escape(b.conf) + r":\d+: agent.lock_region is the primary region")

    def test_verify_overall_deadline(self):
        a = self.host("deadline", types=["dynamodb", "route53"], agent={"verify_timeout": '"4s"', "concurrency": "1"},
                      aws={"attempt_timeout": '"30s"'})
        self.ready(a)
        self.env.add_fault(service="dynamodb", action="hang")
        t0 = time.monotonic()
        r = a.run("verify", "--format", "json", timeout=120)
        took = time.monotonic() - t0
        self.assertEqual(r.rc, reltest.UNKNOWN, r)
        self.assertLess(took, 4 + 2 + 5, "verify went past its overall deadline")
        skipped = [x for x in r.json["resources"] if "overall deadline" in (x.get("error") or "")]
        self.assertTrue(skipped, r.json)


if __name__ == "__main__":
    unittest.main(verbosity=2)
