#!/usr/bin/env python3
"""test_switch_barrier.py: the two-phase switch on the reference estate. A table lagging beyond the graceful threshold
stops a drill in prepare with no irreversible call; a fault, a cancel and a kill -9 after the commit started leave a
drill rolled back (or held) and a failover in a stated state that resume completes. After each, exactly one
PostgreSQL node takes writes and DNS answers the region whose database takes writes."""
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

LAGGING = "roadcall-users-prod"
# What a prepare phase may call: reads only. Anything else changes the estate.
READ_ONLY = re.compile(r"^(Describe|Get|List|Head)")
ZONE = "roadcall.example.com"
RECORD = "api.roadcall.example.com."


class SwitchBarrier(reltest.drtest.EnvTestCase):
    needs_pg = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pair = reltest.Pair(cls.env)

    def setUp(self):
        pass  # fresh() resets per case

    def fresh(self, name, agent_keys=None):
        env = self.env
        env.clear_faults()
        reltest.reset(env, self.pair)
        env.seed()
        tmp = tempfile.mkdtemp(prefix=f"barrier-{name}-", dir=env.tmpdir)
        self.conf_path = os.path.join(tmp, "dr-agent.conf")
        conf = reltest.write_conf(self.conf_path, os.path.join(tmp, "state"),
                                  reltest.estate_resources(pg=reltest.pg_keys(env), types=reltest.TYPES),
                                  agent=agent_keys)
        agent = reltest.Agent(env, conf, os.path.join(tmp, "state"))
        r = agent.run("configure")
        self.assertEqual(r.rc, 0, r)
        reltest.make_healthy(env)
        r = env.psql("primary", "CREATE TABLE barrier_probe (id int PRIMARY KEY, v text)")
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertTrue(reltest.wait_for(lambda: env.psql("standby", "SELECT count(*) FROM barrier_probe").rc == 0,
                                         timeout=30), "the probe table did not reach the standby")
        env.clear_requests()
        return agent

    # ---- what serves ------------------------------------------------------------------------------
    def takes_writes(self, node):
        r = self.env.psql(node, "INSERT INTO barrier_probe VALUES (1, 'probe'); DELETE FROM barrier_probe WHERE id = 1")
        if r.rc == 0:
            return True
        self.assertIn("read-only transaction", r.stderr)
        return False

    def writer_region(self):
        """The region of the one PostgreSQL node that takes writes (fails unless exactly one does)."""
        writers = [region for node, region in (("primary", P), ("standby", D)) if self.takes_writes(node)]
        self.assertEqual(len(writers), 1, f"nodes taking writes: {writers}")
        return writers[0]

    def dns_region(self):
        """The region Route 53's failover routing answers for the API record: the PRIMARY record while its health
        check passes (majority of the checkers, after inversion), else the SECONDARY."""
        r53 = self.env.client("route53", P, attempts=3)
        zone = r53.list_hosted_zones_by_name(DNSName=ZONE)["HostedZones"][0]["Id"]
        rr = {rs["Failover"]: rs for rs in r53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
              if rs["Name"] == RECORD and rs.get("Failover")}
        primary = rr["PRIMARY"]
        healthy = True
        if primary.get("HealthCheckId"):
            obs = r53.get_health_check_status(HealthCheckId=primary["HealthCheckId"])["HealthCheckObservations"]
            ok = sum(1 for o in obs if o["StatusReport"]["Status"].startswith("Success"))
            healthy = ok * 2 > len(obs)
        value = (primary if healthy else rr["SECONDARY"])["ResourceRecords"][0]["Value"]
        m = re.search(r"(us-[a-z]+-\d)", value)
        self.assertTrue(m, value)
        return m.group(1)

    def assert_one_serving(self, region):
        self.assertEqual(self.writer_region(), region)
        self.assertEqual(self.dns_region(), region, "DNS does not answer the region whose database takes writes")

    def fail_dns_changes(self):
        """The traffic step fails: Route 53 refuses every change (health check update, record change), and CloudWatch
        in the DR region refuses the datapoint that moves traffic through the alarm (failover_method alarm)."""
        for op in ("UpdateHealthCheck", "ChangeResourceRecordSets"):
            self.env.add_fault(service="route53", operation=op, action="error", status=400, code="InvalidInput",
                               message="refused by the test")
        self.env.add_fault(service="monitoring", region=D, operation="PutMetricData", action="error", status=400,
                           code="InvalidParameterValue", message="refused by the test")

    def journal_events(self, agent, command):
        for i in reversed(reltest.run_ids(agent.state_dir)):
            ev = reltest.journal(agent.state_dir, i)
            if ev and ev[0].get("command") == command:
                return i, ev
        return None, []

    def commit_started(self, agent, command):
        return any(e["event"] == "step_start" and e.get("hook") == "failover"
                   for e in self.journal_events(agent, command)[1])

    # ---- the barrier ------------------------------------------------------------------------------
    def test_lagging_table_stops_the_drill_in_prepare(self):
        agent = self.fresh("lag")
        # one table 600 s behind: a WARNING for verify (RPO 15 min), far above graceful_max_latency (60 s)
        self.env.put_lag_metrics(dynamodb_ms=600000, tables=(LAGGING,), points=3)

        def lag_seen():
            # the precondition: verify sees the table 600 s behind (the worst of its window; the prepare judges
            # the newest datapoint, which the test's datapoints also make 600 s)
            v = agent.run("verify", "--resource", "dynamodb.users", "--format", "json")
            checks = {c["name"]: c for r in (v.json or {}).get("resources", []) for c in r["checks"]}
            return checks.get("replication_latency", {}).get("observed") == 600
        self.assertTrue(reltest.wait_for(lag_seen, timeout=60, interval=2), "verify never saw the table's lag")
        self.env.clear_requests()
        try:
            r = agent.run("-v", "drill", "--yes", "--prepare-timeout", "5s", "--format", "json")
        except subprocess.TimeoutExpired as e:  # the drill must end soon after its prepare deadline: show where it was
            err = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
            self.fail(f"the drill did not end: its log ends with\n{err[-6000:]}")
        self.assertEqual(r.rc, 1, r)
        doc = r.json
        self.assertEqual(doc["end_state"], "not committed")
        self.assertRegex(doc["failure"], r"failover stopped in prepare: nothing was changed; not ready: "
                                         r"dynamodb\.users: .*replication latency of roadcall-users-prod from "
                                         r"us-east-1 to us-west-2.* 600 s > 60 s")
        phases = {s["phase"] for s in doc["steps"]}
        self.assertEqual(phases, {"verify", "prepare"})
        ready = {s["resource"]: s["status"] for s in doc["steps"] if s["phase"] == "prepare"}
        self.assertEqual(ready.pop("dynamodb.users"), "failed")
        self.assertTrue(all(v == "unchanged" for v in ready.values()), ready)
        # no irreversible call: the proxy saw reads only, the PostgreSQL pair is untouched
        calls = {q["operation"] for q in self.env.requests() if q["operation"]}
        self.assertEqual({c for c in calls if not READ_ONLY.match(c)} - {"GetMetricData"}, set(), calls)
        self.assertFalse(self.pair.fenced("a"))
        self.assertEqual(self.pair.promotions(), {"a": 0, "b": 0})
        self.assert_one_serving(P)
        h = json.loads(agent.run("history", "--format", "json").stdout)
        self.assertEqual((h[-1]["command"], h[-1]["status"]), ("drill", "failed"))

    # ---- after the commit started ------------------------------------------------------------------
    def test_drill_fault_after_commit_rolls_back(self):
        agent = self.fresh("drill-fault")
        self.fail_dns_changes()
        r = agent.run("drill", "--yes", "--format", "json", timeout=600)
        self.env.clear_faults()
        self.assertEqual(r.rc, 1, r)
        doc = r.json
        self.assertEqual(doc["end_state"], "rolled back", doc.get("failure"))
        self.assertIn("route53.api", doc["failure"])
        st = {x["resource"]: x["state"] for x in doc["stated_state"]["resources"]}
        self.assertEqual(st["aurora.main"], "moved")
        self.assertNotEqual(st["route53.api"], "moved")
        rolled = {s["resource"]: s["status"] for s in doc["steps"] if s["phase"] == "rollback"}
        self.assertIn("aurora.main", rolled)
        self.assertTrue(all(v in ("done", "unchanged") for v in rolled.values()), rolled)
        self.assertEqual(doc["where"]["serving_region"], P)
        self.assert_one_serving(P)

    def test_drill_fault_held_then_resumed(self):
        agent = self.fresh("drill-hold")
        self.fail_dns_changes()
        r = agent.run("drill", "--yes", "--on-failure", "hold", timeout=600)
        self.assertEqual(r.rc, 1, r)
        self.assertIn("end state: held", r.stdout)
        self.assertRegex(r.stdout, r"aurora\.main +moved +serving region: us-west-2")
        cmd = re.search(r"to complete it: dr-agent .* resume (\S+) --yes", r.stdout)
        self.assertTrue(cmd, r.stdout)
        # held: the database moved, the traffic did not; nothing was rolled back
        self.assertEqual(self.writer_region(), D)
        self.assertEqual(self.dns_region(), P)
        self.env.clear_faults()
        r = agent.run("resume", cmd.group(1), "--yes", "--format", "json", timeout=600)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.json["where"]["serving_region"], P)
        self.assert_one_serving(P)

    def test_failover_fault_then_resume_completes(self):
        agent = self.fresh("failover-fault")
        self.fail_dns_changes()
        r = agent.run("failover", "--yes", "--format", "json", timeout=600)
        self.assertEqual(r.rc, 1, r)
        st = r.json["stated_state"]
        self.assertEqual(st["outcome"], "stopped")
        states = {x["resource"]: (x["state"], x["serving_region"]) for x in st["resources"]}
        self.assertEqual(states["aurora.main"], ("moved", D))
        self.assertEqual(states["route53.api"][0], "not moved")
        self.assertIn(f"resume {st['run_id']} --yes", st["complete_command"])
        run_id, ev = self.journal_events(agent, "failover")
        self.assertEqual([e["outcome"] for e in ev if e["event"] == "stated_state"], ["stopped"])
        h = json.loads(agent.run("history", "--format", "json").stdout)
        self.assertEqual((h[-1]["run_id"], h[-1]["status"]), (run_id, "stopped"))
        self.env.clear_faults()
        r = agent.run("resume", "--yes", "--format", "json", timeout=600)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.json["run_id"], run_id)
        self.assertEqual(r.json["where"]["serving_region"], D)
        self.assert_one_serving(D)

    def test_drill_cancel_after_commit_rolls_back(self):
        agent = self.fresh("drill-cancel")
        self.env.set_duration("SwitchoverGlobalCluster", 4)
        p = agent.start("drill", "--yes", "--format", "json")
        seen = reltest.wait_for(lambda: any(q["status"] == 200 for q in self.env.requests(
            operation="SwitchoverGlobalCluster")) or p.poll() is not None, timeout=300)
        self.assertTrue(seen)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=600)
        self.assertEqual(p.returncode, 1, err[-3000:])
        doc = json.loads(out)
        self.assertIn("cancelled", doc["failure"])
        self.assertEqual(doc["end_state"], "rolled back", err[-3000:])
        self.assert_one_serving(P)

    def test_drill_kill_after_commit_then_resume(self):
        agent = self.fresh("drill-kill")
        self.env.set_duration("SwitchoverGlobalCluster", 3)
        p = agent.start("drill", "--yes")
        seen = reltest.wait_for(lambda: any(q["status"] == 200 for q in self.env.requests(
            operation="SwitchoverGlobalCluster")) or p.poll() is not None, timeout=300)
        p.send_signal(signal.SIGKILL)
        p.communicate()
        self.assertTrue(seen and p.returncode == -signal.SIGKILL)
        self.assertTrue(self.commit_started(agent, "drill"))
        r = agent.run("verify")
        self.assertIn("needs resume", r.stderr + r.stdout)
        r = agent.run("resume", "--yes", "--format", "json", timeout=600)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.json["where"]["serving_region"], P)
        self.assert_one_serving(P)

    def test_failover_cancel_after_commit_then_resume(self):
        agent = self.fresh("failover-cancel")
        self.env.set_duration("SwitchoverGlobalCluster", 4)
        p = agent.start("failover", "--yes", "--format", "json")
        seen = reltest.wait_for(lambda: any(q["status"] == 200 for q in self.env.requests(
            operation="SwitchoverGlobalCluster")) or p.poll() is not None, timeout=300)
        self.assertTrue(seen)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=600)
        self.assertNotEqual(p.returncode, 0, err[-3000:])
        st = json.loads(out)["stated_state"]
        self.assertEqual(st["outcome"], "stopped", err[-3000:])
        self.assertIn(f"resume {st['run_id']} --yes", st["complete_command"])
        r = agent.run("resume", "--yes", "--format", "json", timeout=600)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.json["run_id"], st["run_id"])
        self.assertEqual(r.json["where"]["serving_region"], D)
        self.assert_one_serving(D)

    def test_failover_kill_after_commit_then_resume(self):
        agent = self.fresh("failover-kill")
        self.env.set_duration("SwitchoverGlobalCluster", 3)
        p = agent.start("failover", "--yes")
        seen = reltest.wait_for(lambda: any(q["status"] == 200 for q in self.env.requests(
            operation="SwitchoverGlobalCluster")) or p.poll() is not None, timeout=300)
        p.send_signal(signal.SIGKILL)
        p.communicate()
        self.assertTrue(seen and p.returncode == -signal.SIGKILL)
        r = agent.run("resume", "--yes", "--format", "json", timeout=600)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.json["where"]["serving_region"], D)
        self.assert_one_serving(D)

    def test_switch_longer_than_the_hook_deadline_leaves_a_writer(self):
        # Aurora accepts the switchover, the databases move, but the global cluster reports the switch under way
        # past the aurora hook's deadline: the hook stops waiting before it opens the DR side, which the fence
        # (replicated with the catalogs) left read-only. The hook must still leave a side that takes writes.
        agent = self.fresh("deadline", agent_keys={"hook_timeout": '"12s"', "prepare_timeout": '"12s"'})
        self.env.set_duration("SwitchoverGlobalCluster", 25)
        r = agent.run("failover", "--yes", "--format", "json", timeout=600)
        self.assertEqual(r.rc, 1, r)
        statuses = {x["id"]: x["status"] for x in r.json["resources"]}
        self.assertEqual(statuses["aurora.main"], "failed", r.stderr[-3000:])
        self.assertEqual(statuses["route53.api"], "skipped")
        self.assertEqual(self.writer_region(), D, "the switched-to side was left fenced")
        self.assertRegex(r.stderr, r"\[aurora\.main\] the switch stopped before it finished \(.*deadline.*\): the DR "
                                   r"side takes writes")
        st = r.json["stated_state"]
        self.assertEqual(st["outcome"], "stopped")
        # once Aurora has finished the switch, resume completes the run: it moves the traffic
        rds = self.env.client("rds", D, attempts=3)
        self.assertTrue(reltest.wait_for(lambda: not any(
            g.get("FailoverState") for g in rds.describe_global_clusters()["GlobalClusters"]), timeout=60))
        r = agent.run("resume", st["run_id"], "--yes", "--format", "json", timeout=600)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.json["where"]["serving_region"], D)
        self.assert_one_serving(D)

    def test_failback_longer_than_the_hook_deadline_leaves_a_writer(self):
        # the same on the way back: the primary region's side arrives promoted and fenced by the DR side's fence
        agent = self.fresh("deadline-back", agent_keys={"hook_timeout": '"12s"', "prepare_timeout": '"12s"'})
        r = agent.run("failover", "--yes", timeout=600)
        self.assertEqual(r.rc, 0, r)
        reltest.make_healthy(self.env)
        self.env.set_duration("SwitchoverGlobalCluster", 20)
        r = agent.run("failback", "--yes", "--format", "json", timeout=600)
        self.assertEqual(r.rc, 1, r)
        statuses = {x["id"]: x["status"] for x in r.json["resources"]}
        self.assertEqual(statuses["aurora.main"], "failed", r.stderr[-3000:])
        self.assertEqual(self.writer_region(), P, "the switched-to side was left fenced")
        self.assertRegex(r.stderr, r"\[aurora\.main\] the switch stopped before it finished \(.*deadline.*\): the "
                                   r"primary side takes writes")


if __name__ == "__main__":
    unittest.main(verbosity=2)
