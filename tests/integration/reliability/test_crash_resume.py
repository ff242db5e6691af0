#!/usr/bin/env python3
"""test_crash_resume.py: kill -9 the agent right after each step of a full failover of the reference estate ends,
resume it, and compare the final state (AWS through boto3, the PostgreSQL pair through psql) with an uninterrupted
run: identical, no data lost, and no step that harms when it runs twice."""
import json
import os
import signal
import tempfile
import time
import unittest

import reltest
from reltest import D, P

AURORA = reltest.with_aurora()
TYPES = ["dynamodb", "s3", "backup", "route53"] + (["aurora"] if AURORA else [])
TABLES = ["roadcall-users-prod", "roadcall-incidents-prod", "roadcall-vendors-prod",
          "roadcall-tracking-sessions-prod", "roadcall-call-records-prod"]
BUCKETS = ["roadcall-call-recordings-prod", "roadcall-kb-documents-prod", "roadcall-incident-media-prod"]
ROWS = 200


class CrashResume(reltest.drtest.EnvTestCase):
    needs_pg = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not AURORA:
            print("\n" + reltest.AURORA_NOTE, flush=True)

    def setUp(self):
        pass  # fresh() resets per run

    # ---- the estate ---------------------------------------------------------------------------
    def fresh(self, name):
        env = self.env
        env.reset(moto=True)
        env.seed()
        tmp = tempfile.mkdtemp(prefix=f"crash-{name}-", dir=env.tmpdir)
        pg = None
        if AURORA:
            pg = dict(host_primary=env.environ["DR_TEST_PG_PRIMARY_HOST"],
                      port_primary=env.environ["DR_TEST_PG_PRIMARY_PORT"],
                      host_dr=env.environ["DR_TEST_PG_STANDBY_HOST"], port_dr=env.environ["DR_TEST_PG_STANDBY_PORT"],
                      db=env.environ["DR_TEST_PG_DBNAME"], user=env.environ["DR_TEST_PG_USER"],
                      password_file=env.environ["DR_TEST_PG_PASSWORD_FILE"])
        # one step at a time, so that "right after step N ended" is a well-defined point
        conf = reltest.write_conf(os.path.join(tmp, "dr-agent.conf"), os.path.join(tmp, "state"),
                                  reltest.estate_resources(pg=pg, types=TYPES), agent={"concurrency": "1"})
        agent = reltest.Agent(env, conf, os.path.join(tmp, "state"))
        r = agent.run("configure")
        self.assertEqual(r.rc, 0, r)
        reltest.make_healthy(env, aurora=AURORA)
        self.write_rows()
        return agent

    def write_rows(self):
        """Application data on the PostgreSQL primary, replicated to the standby before the failover."""
        r = self.env.psql("primary", "CREATE TABLE IF NOT EXISTS crash_rows (id int PRIMARY KEY, v text); "
                          "TRUNCATE crash_rows; "
                          f"INSERT INTO crash_rows SELECT g, md5(g::text) FROM generate_series(1, {ROWS}) g;")
        self.assertEqual(r.rc, 0, r.stderr)
        want = self.pg_rows("primary")
        self.assertTrue(reltest.wait_for(lambda: self.pg_rows("standby") == want, timeout=30),
                        "the standby did not catch up")

    def pg_rows(self, node):
        r = self.env.psql(node, "SELECT count(*), coalesce(md5(string_agg(v, ',' ORDER BY id)), '') FROM crash_rows")
        return r.stdout.strip() if r.rc == 0 else f"error: {r.stderr.strip()[:200]}"

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
        if AURORA:
            for region in (P, D):
                rds = env.client("rds", region, attempts=3)
                for c in rds.describe_db_clusters()["DBClusters"]:
                    snap[f"rds {region} {c['DBClusterIdentifier']}"] = {
                        "status": c["Status"], "replica_of": bool(c.get("ReplicationSourceIdentifier"))}
            for node in ("primary", "standby"):
                r = env.psql(node, "SELECT pg_is_in_recovery()")
                snap[f"pg {node} in recovery"] = r.stdout.strip()
            snap["pg rows"] = self.pg_rows("standby")
        with open(os.path.join(agent.state_dir, "serving.json")) as f:
            snap["serving"] = json.load(f)["serving"]
        return snap

    # ---- the runs -----------------------------------------------------------------------------
    def step_ends(self, agent):
        ids = reltest.run_ids(agent.state_dir)
        ids = [i for i in ids if (reltest.journal(agent.state_dir, i) or [{}])[0].get("command") == "failover"]
        if not ids:
            return 0, None
        ev = reltest.journal(agent.state_dir, ids[-1])
        return sum(1 for e in ev if e["event"] == "step_end"), ids[-1]

    def test_kill_at_every_step_boundary(self):
        agent = self.fresh("reference")
        r = agent.run("failover", "--yes", "--format", "json")
        self.assertEqual(r.rc, 0, r)
        reference = self.snapshot(agent)
        n_steps = self.step_ends(agent)[0]
        self.assertEqual(n_steps, len(r.json["resources"]))
        self.assertEqual(reference["serving"], "dr")
        if AURORA:
            self.assertTrue(reference["pg rows"].startswith(f"{ROWS}|"), reference["pg rows"])

        results = []
        for n in range(1, n_steps + 1):
            with self.subTest(killed_after_step=n):
                agent = self.fresh(f"kill{n}")
                rows_before = self.pg_rows("primary")
                # every request a little slower: a step takes long enough for the kill to land before the next ends
                self.env.add_fault(action="latency", latency_ms=60)
                p = agent.start("failover", "--yes")
                seen = reltest.wait_for(lambda: self.step_ends(agent)[0] >= n or p.poll() is not None, timeout=120,
                                        interval=0.005)
                p.send_signal(signal.SIGKILL)
                p.communicate()
                self.env.clear_faults()
                self.assertTrue(seen)
                ended, run_id = self.step_ends(agent)
                self.assertEqual(ended, n, f"the kill landed after {ended} steps instead of {n}")
                ev = reltest.journal(agent.state_dir, run_id)
                if n == n_steps and ev[-1]["event"] == "run_end":
                    # after the last step nothing but the run's end follows: the kill may land after it.
                    # Then there is nothing to resume, and the state is the reference's.
                    r = agent.run("resume")
                    self.assertEqual(r.rc, 0, r)
                    self.assertRegex(r.stderr + r.stdout, "nothing to resume|no interrupted run")
                    self.assertEqual(self.snapshot(agent), reference)
                    results.append((n, "ended before the kill"))
                    continue
                self.assertNotIn("run_end", [e["event"] for e in ev])
                self.assertFalse(os.path.exists(os.path.join(agent.state_dir, "serving.json")))
                h = json.loads(agent.run("history", "--format", "json").stdout)
                self.assertEqual(h[-1]["status"], "interrupted")

                t0 = time.monotonic()
                r = agent.run("resume", "--format", "json")
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
                self.assertEqual((h[-1]["status"], h[-1]["resumes"]), ("done", 1))
                snap = self.snapshot(agent)
                self.assertEqual(snap, reference, f"state after kill at step {n} + resume differs")
                if AURORA:
                    self.assertEqual(snap["pg rows"], rows_before, "rows lost on the PostgreSQL pair")
                results.append((n, round(time.monotonic() - t0, 2)))
        print(f"\nkilled and resumed after each of {n_steps} steps; resume seconds: {results}", flush=True)
        self.assertEqual(len(results), n_steps)


if __name__ == "__main__":
    unittest.main(verbosity=2)
