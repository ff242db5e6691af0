#!/usr/bin/env python3
"""test_crash_resume.py: kill -9 the agent right after each step of a full failover of the reference estate ends,
and inside the aurora step (while the switchover waits for the DR side to replay the fenced primary's WAL, and
while the global database is switching over), resume it, and compare the final state (AWS through boto3, the PostgreSQL pair through psql)
with an uninterrupted run: identical, no row lost, the old primary fenced, one promotion, and no step that harms when
it runs twice."""
import json
import os
import signal
import sys
import tempfile
import threading
import time
import unittest

import reltest
from reltest import D, P

TABLES = ["roadcall-users-prod", "roadcall-incidents-prod", "roadcall-vendors-prod",
          "roadcall-tracking-sessions-prod", "roadcall-call-records-prod"]
BUCKETS = ["roadcall-call-recordings-prod", "roadcall-kb-documents-prod", "roadcall-incident-media-prod"]
ROWS = 200       # application rows on the PostgreSQL primary before the failover
LATE = 50        # of which the last ones are written just before it (not yet replayed on node b in the drain case)
PROMOTING = 3    # seconds the global database stays `switching-over`, in the promotion case


class CrashResume(reltest.drtest.EnvTestCase):
    needs_pg = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pair = reltest.Pair(cls.env)
        cls.results = []

    def setUp(self):
        pass  # fresh() resets per run

    # ---- the estate ---------------------------------------------------------------------------
    def fresh(self, name, hold_replay=False):
        env = self.env
        reltest.reset(env, self.pair)
        env.seed()
        tmp = tempfile.mkdtemp(prefix=f"crash-{name}-", dir=env.tmpdir)
        # one step at a time, so that "right after step N ended" is a well-defined point
        conf = reltest.write_conf(os.path.join(tmp, "dr-agent.conf"), os.path.join(tmp, "state"),
                                  reltest.estate_resources(pg=reltest.pg_keys(env), types=reltest.TYPES),
                                  agent={"concurrency": "1"})
        agent = reltest.Agent(env, conf, os.path.join(tmp, "state"))
        r = agent.run("configure")
        self.assertEqual(r.rc, 0, r)
        reltest.make_healthy(env)
        self.write_rows(hold_replay)
        return agent

    def write_rows(self, hold_replay=False):
        """Application data on the PostgreSQL primary (node a). The first rows have reached the standby (node b)
        before the failover; the last LATE too, unless hold_replay: node b then receives them and does not replay
        them until the test says so (a DR side that lags)."""
        r = self.env.psql("primary", "CREATE TABLE crash_rows (id int PRIMARY KEY, v text); "
                          f"INSERT INTO crash_rows SELECT g, md5(g::text) FROM generate_series(1, {ROWS - LATE}) g;")
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertTrue(reltest.wait_for(lambda: self.pg_rows("standby") == self.pg_rows("primary"), timeout=30),
                        "the standby did not catch up")
        if hold_replay:
            self.pair.sql("b", "SELECT pg_wal_replay_pause()")
            self.assertTrue(reltest.wait_for(
                lambda: self.pair.sql("b", "SELECT pg_get_wal_replay_pause_state()") == "paused", timeout=30))
        r = self.env.psql("primary", "INSERT INTO crash_rows SELECT g, md5(g::text) FROM "
                          f"generate_series({ROWS - LATE + 1}, {ROWS}) g;")
        self.assertEqual(r.rc, 0, r.stderr)
        if hold_replay:
            self.assertNotEqual(self.pg_rows("standby"), self.pg_rows("primary"), "node b replayed the late rows")
        else:
            self.assertTrue(reltest.wait_for(lambda: self.pg_rows("standby") == self.pg_rows("primary"), timeout=30))

    def pg_rows(self, node):
        r = self.env.psql(node, "SELECT count(*), coalesce(md5(string_agg(v, ',' ORDER BY id)), '') FROM crash_rows")
        return r.stdout.strip() if r.rc == 0 else f"error: {r.stderr.strip()[:200]}"

    def refuses_writes(self, node):
        """Does the node refuse a write from the application's user (read-only transaction, SQLSTATE 25006)?"""
        r = self.env.psql(node, "INSERT INTO crash_rows VALUES (0, 'after the failover')")
        if r.rc == 0:
            self.env.psql(node, "DELETE FROM crash_rows WHERE id = 0")
            return False
        return "read-only transaction" in r.stderr

    def snapshot(self, agent):
        """Everything a failover changes, with generated ids left out."""
        env, snap = self.env, {}
        for region in (P, D):
            ddb = env.client("dynamodb", region, attempts=3)
            names = set(ddb.list_tables()["TableNames"])
            for t in TABLES:
                if t not in names:
                    snap[f"ddb {region} {t}"] = None
                    continue
                d = ddb.describe_table(TableName=t)["Table"]
                pitr = ddb.describe_continuous_backups(TableName=t)["ContinuousBackupsDescription"]
                canary = ddb.get_item(TableName=t, Key={"pk": {"S": "dr-agent-canary"}}, ConsistentRead=True)
                snap[f"ddb {region} {t}"] = {
                    "status": d["TableStatus"], "stream": d.get("StreamSpecification"),
                    "replicas": sorted((r["RegionName"], r["ReplicaStatus"]) for r in d.get("Replicas", [])),
                    "pitr": pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"],
                    "canary": "Item" in canary}
            s3 = env.client("s3", region, attempts=3)
            have = {b["Name"] for b in s3.list_buckets()["Buckets"]}
            for b in BUCKETS + [x + "-us-west-2" for x in BUCKETS]:
                if b not in have:
                    continue
                rules = []
                try:
                    cfg = s3.get_bucket_replication(Bucket=b)["ReplicationConfiguration"]
                    rules = sorted((r.get("ID"), r["Status"], r["Destination"]["Bucket"]) for r in cfg["Rules"])
                except s3.exceptions.ClientError as e:
                    rules = e.response["Error"]["Code"]
                snap[f"s3 {b}"] = {"versioning": s3.get_bucket_versioning(Bucket=b).get("Status"), "rules": rules}
            rds = env.client("rds", region, attempts=3)
            for c in rds.describe_db_clusters()["DBClusters"]:
                snap[f"rds {region} {c['DBClusterIdentifier']}"] = {
                    "status": c["Status"], "replica_of": c.get("ReplicationSourceIdentifier"),
                    "members": sorted((m["DBInstanceIdentifier"], m["IsClusterWriter"])
                                      for m in c["DBClusterMembers"])}
        r53 = env.client("route53", P, attempts=3)
        for hc in r53.list_health_checks()["HealthChecks"]:
            c = hc["HealthCheckConfig"]
            snap[f"hc {c.get('FullyQualifiedDomainName')}"] = {"inverted": c.get("Inverted"),
                                                               "disabled": c.get("Disabled")}
        zone = r53.list_hosted_zones_by_name(DNSName="roadcall.example.com")["HostedZones"][0]["Id"]
        for rs in r53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]:
            if rs.get("Failover"):
                snap[f"rr {rs['Name']} {rs['Failover']}"] = {
                    "values": [v["Value"] for v in rs.get("ResourceRecords", [])],
                    "health_check": bool(rs.get("HealthCheckId"))}
        bk = env.client("backup", P, attempts=3)
        snap["backup plans"] = sorted(p["BackupPlanName"] for p in bk.list_backup_plans()["BackupPlansList"])
        gc = env.client("rds", D, attempts=3).describe_global_clusters()["GlobalClusters"]
        snap["global writers"] = sorted(m["DBClusterArn"] for g in gc for m in g["GlobalClusterMembers"] if m["IsWriter"])
        # the data plane: roles, every row on the new primary, one promotion
        for node, name in (("a", "primary"), ("b", "standby")):
            snap[f"pg {node} in recovery"] = self.env.psql(name, "SELECT pg_is_in_recovery()").stdout.strip()
        snap["pg a refuses writes"] = self.refuses_writes("primary")
        snap["pg b accepts writes"] = not self.refuses_writes("standby")
        snap["pg rows on b"] = self.pg_rows("standby")
        snap["pg promotions"] = self.pair.promotions()
        snap["SwitchoverGlobalCluster calls"] = sum(
            1 for q in env.requests(operation="SwitchoverGlobalCluster") if q["status"] == 200)
        with open(os.path.join(agent.state_dir, "serving.json")) as f:
            snap["serving"] = json.load(f)["serving"]
        return snap

    # ---- the runs -----------------------------------------------------------------------------
    def failover_journal(self, agent):
        """(run id, events) of the failover run, or (None, [])."""
        for i in reversed(reltest.run_ids(agent.state_dir)):
            ev = reltest.journal(agent.state_dir, i)
            if ev and ev[0].get("command") == "failover":
                return i, ev
        return None, []

    def step_ends(self, agent):
        """Steps of the commit (the failover hook) that ended; the prepare phase's steps come before them."""
        return sum(1 for e in self.failover_journal(agent)[1] if e["event"] == "step_end" and e["hook"] == "failover")

    def aurora_step(self, agent):
        """'started' / 'ended' / None: where the aurora step of the failover is."""
        ev = self.failover_journal(agent)[1]
        mine = [e["event"] for e in ev if e.get("resource", "").startswith("aurora.") and e.get("hook") == "failover"]
        return "ended" if "step_end" in mine else "started" if "step_start" in mine else None

    def kill_when(self, p, pred, may_end=False, timeout=120, interval=0.005):
        """SIGKILL the agent as soon as pred() holds; it must not end by itself first unless may_end."""
        seen = reltest.wait_for(lambda: pred() or p.poll() is not None, timeout=timeout, interval=interval)
        p.send_signal(signal.SIGKILL)
        out, err = p.communicate()
        self.assertTrue(seen, "the kill point never came")
        if not may_end:
            aurora = "\n".join(l for l in err.splitlines() if "[aurora." in l)
            self.assertEqual(p.returncode, -signal.SIGKILL,
                             f"the run ended by itself before the kill; aurora's lines:\n{aurora[-3000:]}\n"
                             f"the end:\n{err[-1500:]}")

    def resume_and_compare(self, agent, label, n_steps, rows_before, reference, meanwhile=None, last_step=False):
        """Resume the killed run (meanwhile(): called 1 s into the resume) and compare the outcome with the
        uninterrupted run's."""
        run_id, ev = self.failover_journal(agent)
        self.assertNotIn("run_end", [e["event"] for e in ev])
        # after the last step the run records the serving region, then ends: the kill may fall in between
        if not last_step:
            self.assertFalse(os.path.exists(os.path.join(agent.state_dir, "serving.json")))
        h = json.loads(agent.run("history", "--format", "json").stdout)
        self.assertEqual((h[-1]["run_id"], h[-1]["status"]), (run_id, "interrupted"))

        t0 = time.monotonic()
        timer = threading.Timer(1.0, meanwhile) if meanwhile else None
        if timer:
            timer.start()
        try:
            r = agent.run("resume", "--yes", "--format", "json")
        finally:
            if timer:
                timer.join()
        seconds = round(time.monotonic() - t0, 2)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.json["run_id"], run_id)
        ev = reltest.journal(agent.state_dir, run_id)
        self.assertEqual(ev[-1]["event"], "run_end")
        self.assertEqual(ev[-1]["status"], "done")
        # finished steps were run again (re-checked), and every step of the resumed part succeeded
        resumed = ev[[e["event"] for e in ev].index("resume"):]
        ends = [e for e in resumed if e["event"] == "step_end"]
        self.assertEqual(len(ends), n_steps)
        self.assertTrue(all(e["status"] in ("done", "unchanged") for e in ends), ends)
        h = json.loads(agent.run("history", "--format", "json").stdout)
        self.assertEqual((h[-1]["run_id"], h[-1]["status"], h[-1]["resumes"]), (run_id, "done", 1))
        snap = self.snapshot(agent)
        self.assertEqual(snap["pg rows on b"], rows_before, f"{label}: rows lost on the PostgreSQL pair")
        self.assertEqual(snap, reference, f"state after the kill {label} and resume differs")
        self.results.append((label, seconds))

    def reference(self):
        """The uninterrupted failover."""
        agent = self.fresh("reference")
        rows = self.pg_rows("primary")
        r = agent.run("failover", "--yes", "--format", "json")
        self.assertEqual(r.rc, 0, r)
        reference = self.snapshot(agent)
        n_steps = self.step_ends(agent)
        self.steps = [e["resource"] for e in self.failover_journal(agent)[1]
                      if e["event"] == "step_end" and e["hook"] == "failover"]
        self.assertEqual(n_steps, len(r.json["resources"]))
        self.assertEqual({x["id"].split(".")[0] for x in r.json["resources"]}, set(reltest.TYPES))
        self.assertEqual(reference["serving"], "dr")
        self.assertTrue(reference["pg rows on b"].startswith(f"{ROWS}|"), reference["pg rows on b"])
        self.assertEqual(reference["pg rows on b"], rows)
        # the switchover made the old primary a read-only secondary that follows the new writer
        self.assertEqual(reference["pg a in recovery"], "t")
        self.assertEqual(reference["pg b in recovery"], "f")
        self.assertTrue(reference["pg a refuses writes"], reference)
        self.assertTrue(reference["pg b accepts writes"])
        self.assertEqual(reference["pg promotions"], {"a": 0, "b": 1})
        self.assertEqual(reference["SwitchoverGlobalCluster calls"], 1)
        self.assertEqual(reference["global writers"], [f"arn:aws:rds:{D}:{reltest.ACCOUNT}:cluster:roadcall-aurora-prod-replica"])
        return reference, n_steps

    def test_kill_and_resume(self):
        reference, n_steps = self.reference()

        for n in range(1, n_steps + 1):
            with self.subTest(killed_after_step=n):
                agent = self.fresh(f"kill{n}")
                rows_before = self.pg_rows("primary")
                # every request a little slower: a step takes long enough for the kill to land before the next ends
                self.env.add_fault(action="latency", latency_ms=60)
                p = agent.start("failover", "--yes")
                try:
                    self.kill_when(p, lambda: self.step_ends(agent) >= n, may_end=n == n_steps)
                finally:
                    self.env.clear_faults()
                ended = self.step_ends(agent)
                self.assertEqual(ended, n, f"the kill landed after {ended} steps instead of {n}")
                ev = self.failover_journal(agent)[1]
                if n == n_steps and ev[-1]["event"] == "run_end":
                    # after the last step nothing but the run's end follows: the kill may land after it.
                    # Then there is nothing to resume, and the state is the reference's.
                    r = agent.run("resume", "--yes")
                    self.assertEqual(r.rc, 0, r)
                    self.assertRegex(r.stderr + r.stdout, "nothing to resume|no interrupted run")
                    self.assertEqual(self.snapshot(agent), reference)
                    self.results.append((f"after step {n}", "ended before the kill"))
                    continue
                self.resume_and_compare(agent, f"after step {n}", n_steps, rows_before, reference,
                                        last_step=n == n_steps)

        with self.subTest(killed="aurora draining"):
            # the primary is fenced and nobody takes writes until the switchover has the DR side replay everything:
            # the worst moment for a crash. Node b holds the last rows unreplayed, so the drain lasts until the test
            # lets go.
            agent = self.fresh("drain", hold_replay=True)
            rows_before = self.pg_rows("primary")
            p = agent.start("failover", "--yes")
            self.kill_when(p, lambda: self.aurora_step(agent) == "started" and self.pair.fenced("a"),
                           interval=0.02)
            time.sleep(0.5)  # the agent was killed, not merely slow: nothing moves any more
            self.assertEqual(self.aurora_step(agent), "started")
            self.assertEqual([q for q in self.env.requests(operation="SwitchoverGlobalCluster") if q["status"] == 200],
                             [], "the kill landed after the switchover, not in the drain")
            self.assertTrue(self.pair.fenced("a"))
            self.assertNotEqual(self.pg_rows("standby"), rows_before, "the DR side had replayed everything already")
            # the resumed run drains again; node b catches up while it waits
            self.resume_and_compare(agent, "in aurora's drain", n_steps, rows_before, reference,
                                    meanwhile=lambda: self.pair.sql("b", "SELECT pg_wal_replay_resume()"))

        with self.subTest(killed="aurora promoting"):
            # SwitchoverGlobalCluster went through; the global database is `switching-over` and the agent waits
            agent = self.fresh("promoting")
            rows_before = self.pg_rows("primary")
            self.env.set_duration("SwitchoverGlobalCluster", PROMOTING)
            p = agent.start("failover", "--yes")
            self.kill_when(p, lambda: any(q["status"] == 200 for q in self.env.requests(
                operation="SwitchoverGlobalCluster")), interval=0.02)
            self.assertEqual(self.aurora_step(agent), "started", "the kill landed after the aurora step")
            g = self.env.client("rds", D).describe_global_clusters()["GlobalClusters"][0]
            self.assertEqual(g["Status"], "switching-over")
            self.resume_and_compare(agent, "in aurora's promotion wait", n_steps, rows_before, reference)

        print(f"\nkilled after each of {n_steps} steps ({', '.join(self.steps)}) and twice inside the aurora step, "
              f"then resumed; resume seconds: {self.results}", file=sys.stderr, flush=True)
        self.assertEqual(len(self.results), n_steps + 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
