#!/usr/bin/env python3
"""test_lock_race.py: two agents start a failover at the same instant (two processes sharing a state directory, and
two "hosts" sharing the DynamoDB lease): exactly one runs it, the other names the holder; a holder killed with
SIGKILL keeps the lease until it expires, then the next run takes it over. verify takes no lock."""
import json
import os
import re
import signal
import tempfile
import threading
import time
import unittest

import reltest
from reltest import D

LOCK_TABLE = "dr-agent-locks"
LEASE = 5.0


class LockRace(reltest.drtest.EnvTestCase):
    needs_pg = True  # the aurora resource's data plane

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pair = reltest.Pair(cls.env)

    def setUp(self):
        reltest.reset(self.env, self.pair)
        self.env.seed()
        self.tmp = tempfile.mkdtemp(prefix="lock-", dir=self.env.tmpdir)

    def host(self, name, lease=False):
        state = os.path.join(self.tmp, name, "state")
        os.makedirs(os.path.dirname(state), exist_ok=True)
        agent = {"lock_table": f'"{LOCK_TABLE}"', "lock_lease": f'"{LEASE:.0f}s"'} if lease else {}
        conf = reltest.write_conf(os.path.join(self.tmp, name, "dr-agent.conf"), state,
                                  reltest.estate_resources(pg=reltest.pg_keys(self.env), types=reltest.TYPES),
                                  agent=agent)
        return reltest.Agent(self.env, conf, state)

    def ready(self, agent):
        r = agent.run("configure")
        self.assertEqual(r.rc, 0, r)
        reltest.make_healthy(self.env)

    def slow_failover(self, seconds=4):
        """The traffic alarm's datapoint (route53's failover) waits: the winner holds the lock that long."""
        self.env.add_fault(service="monitoring", operation="PutMetricData", action="latency",
                           latency_ms=int(seconds * 1000))

    def same_instant(self, a, b, *args):
        """Start both at once (a barrier between two threads); returns their (Popen, stdout, stderr)."""
        barrier = threading.Barrier(2)
        out = {}

        def go(key, agent):
            barrier.wait()
            p = agent.start(*args)
            o, e = p.communicate(timeout=120)
            out[key] = (p, o, e)
        ts = [threading.Thread(target=go, args=(k, ag)) for k, ag in (("a", a), ("b", b))]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        return out["a"], out["b"]

    def failover_runs(self, agent):
        """Journals of failovers that really ran (run_start and a step) in this agent's state directory."""
        runs = []
        for rid in reltest.run_ids(agent.state_dir):
            ev = reltest.journal(agent.state_dir, rid)
            if ev and ev[0].get("command") == "failover" and any(e["event"] == "step_start" for e in ev):
                runs.append((rid, ev))
        return runs

    def assert_one_ran(self, a, b, ra, rb, lease):
        (pa, oa, ea), (pb, ob, eb) = ra, rb
        rcs = sorted([pa.returncode, pb.returncode])
        self.assertEqual(rcs, [0, 1], f"exit codes {pa.returncode}/{pb.returncode}\nA: {ea[-800:]}\nB: {eb[-800:]}")
        win, lose = ((a, pa, ea), (b, pb, eb)) if pa.returncode == 0 else ((b, pb, eb), (a, pa, ea))
        what = "another run holds the lease" if lease else "another run holds the lock"
        self.assertIn(what, lose[2])
        # the loser names the winner: host, pid, run id, command, start time
        m = re.search(r"(\S+) pid (\d+), run (\S+) \((\w+)\), since (\S+)", lose[2])
        self.assertIsNotNone(m, lose[2])
        self.assertEqual(int(m.group(2)), win[1].pid)
        self.assertEqual(m.group(4), "failover")
        self.assertRegex(m.group(5), r"^\d{4}-\d\d-\d\dT")
        won = self.failover_runs(win[0])
        self.assertEqual(len(won), 1)
        self.assertEqual(m.group(3), won[0][0])
        self.assertEqual(won[0][1][-1]["event"], "run_end")
        if lose[0].state_dir != win[0].state_dir:
            self.assertEqual(self.failover_runs(lose[0]), [], "the refused agent ran steps")
        # exactly one traffic move (the alarm's datapoint, sent by the agent as JSON to "/") reached AWS
        self.assertEqual(len([q for q in self.env.requests(operation="PutMetricData")
                              if q["status"] == 200 and q["path"] == "/"]), 1)

    def test_two_processes_one_state_dir(self):
        a = self.host("one")
        b = reltest.Agent(self.env, a.conf, a.state_dir)
        self.ready(a)
        self.slow_failover()
        self.env.clear_requests()
        ra, rb = self.same_instant(a, b, "failover", "--yes")
        self.assert_one_ran(a, b, ra, rb, lease=False)

    def test_verify_takes_no_lock(self):
        a = self.host("one")
        self.ready(a)
        self.slow_failover(4)  # below the attempt timeout (5 s)
        p = a.start("failover", "--yes")
        self.assertTrue(reltest.wait_for(lambda: os.path.getsize(os.path.join(a.state_dir, "lock")) > 0
                                         if os.path.exists(os.path.join(a.state_dir, "lock")) else False, timeout=30))
        t0 = time.monotonic()
        v = a.run("verify", "--format", "json")
        self.assertLess(time.monotonic() - t0, 5, "verify waited for the lock")
        self.assertIsNotNone(v.json, v)
        # (a warning may name the run in progress with the config path: this test's directory is "lock-...")
        self.assertNotIn("lock", re.sub(r"\S*/\S*", "", v.stderr))
        self.assertIsNone(p.poll(), "the failover ended before verify ran: the test proves nothing")
        p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0)

    def test_two_hosts_share_the_lease(self):
        a, b = self.host("host-a", lease=True), self.host("host-b", lease=True)
        self.ready(a)
        self.slow_failover()
        self.env.clear_requests()
        ra, rb = self.same_instant(a, b, "failover", "--yes")
        self.assert_one_ran(a, b, ra, rb, lease=True)
        # the lease is released at the end of the run
        ddb = self.env.client("dynamodb", D, attempts=3)
        self.assertNotIn("Item", ddb.get_item(TableName=LOCK_TABLE, Key={"lock_id": {"S": "dr-agent"}},
                                              ConsistentRead=True))
        puts = self.env.requests(service="dynamodb", region=D, operation="PutItem")
        self.assertGreaterEqual(len(puts), 2, "both hosts tried the conditional write")

    def test_killed_holder_lease_expires_then_taken_over(self):
        a, b = self.host("host-a", lease=True), self.host("host-b", lease=True)
        self.ready(a)
        self.slow_failover(30)
        p = a.start("failover", "--yes")
        self.assertTrue(reltest.wait_for(lambda: self.failover_runs(a), timeout=30))
        killed_at = time.time()
        p.send_signal(signal.SIGKILL)
        p.communicate()
        self.env.clear_faults()
        # the lease as the holder left it: read after the kill (a renewal before it moves the expiry), once a
        # renewal it had in flight has landed
        time.sleep(0.5)
        ddb = self.env.client("dynamodb", D, attempts=3)
        item = ddb.get_item(TableName=LOCK_TABLE, Key={"lock_id": {"S": "dr-agent"}}, ConsistentRead=True)["Item"]
        self.assertEqual(int(item["holder_pid"]["N"]), p.pid)
        # the dead holder's lease still stands: refused, naming it
        r = b.run("failover", "--yes")
        self.assertEqual(r.rc, 1, r)
        self.assertIn("another run holds the lease", r.stderr)
        self.assertIn(f"pid {p.pid}", r.stderr)
        self.assertEqual(self.failover_runs(b), [])
        # once it has expired, the next run takes it over and runs
        expires = float(item["expires_at"]["N"])
        self.assertLessEqual(expires - killed_at, LEASE + 1)
        time.sleep(max(0.0, expires - time.time()) + 0.5)
        r = b.run("failover", "--yes", "--format", "json")
        self.assertEqual(r.rc, 0, r)
        runs = self.failover_runs(b)
        self.assertEqual(len(runs), 1)
        self.assertEqual(runs[0][1][-1]["status"], "done")
        # the interrupted run of host a is still there to resume or inspect
        h = a.run("history", "--format", "json")
        self.assertEqual(json.loads(h.stdout)[-1]["status"], "interrupted")

    def test_lease_taken_over_stops_the_run(self):
        a = self.host("host-a", lease=True)
        self.ready(a)
        self.slow_failover(30)
        t0 = time.monotonic()
        p = a.start("failover", "--yes")
        self.assertTrue(reltest.wait_for(lambda: self.failover_runs(a), timeout=30))
        # another host's run takes the lease over (as after a lease that expired): the next renewal fails
        ddb = self.env.client("dynamodb", D, attempts=3)
        item = ddb.get_item(TableName=LOCK_TABLE, Key={"lock_id": {"S": "dr-agent"}}, ConsistentRead=True)["Item"]
        item.update({"holder_host": {"S": "host-z"}, "holder_pid": {"N": "1"}, "run_id": {"S": "20260101T000000Z-zzzzzz"},
                     "lease_token": {"S": "another-acquisition"}, "expires_at": {"N": "%.3f" % (time.time() + 600)}})
        ddb.put_item(TableName=LOCK_TABLE, Item=item)
        out, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 1, err[-2000:])
        self.assertLess(time.monotonic() - t0, 25, "the run went on after losing its lease")
        self.assertIn("was taken over by another run: this run stops", err)
        # nothing says the DR region serves, and nothing was journaled once the lease was lost: the run shows as
        # interrupted, never "done"
        self.assertFalse(os.path.exists(os.path.join(a.state_dir, "serving.json")))
        (rid, ev), = self.failover_runs(a)
        self.assertNotIn("run_end", [e["event"] for e in ev])
        self.assertIn("lost its lease", err)
        self.assertEqual(json.loads(a.run("history", "--format", "json").stdout)[-1]["status"], "interrupted")
        # the lease still names the other host: the stopped run did not delete it on its way out
        now = ddb.get_item(TableName=LOCK_TABLE, Key={"lock_id": {"S": "dr-agent"}}, ConsistentRead=True)["Item"]
        self.assertEqual(now["holder_host"]["S"], "host-z")

    def test_wait_for_the_lease(self):
        a, b = self.host("host-a", lease=True), self.host("host-b", lease=True)
        self.ready(a)
        self.slow_failover(3)
        p = a.start("failover", "--yes")
        self.assertTrue(reltest.wait_for(lambda: self.failover_runs(a), timeout=30))
        # host b's failover waits for the lease, then finds the estate failed over: nothing left to do
        r = b.run("failover", "--yes", "--wait", "60s", "--format", "json")
        self.assertEqual(r.rc, 0, r)
        p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0)
        self.assertEqual({x["status"] for x in r.json["resources"]}, {"unchanged"}, r.json)


if __name__ == "__main__":
    unittest.main(verbosity=2)
