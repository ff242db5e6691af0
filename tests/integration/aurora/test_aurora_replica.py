#!/usr/bin/env python3
"""aurora plugin, mode replica: configure (plan, idempotence, progress, deadline), verify (healthy and each broken
case), failover and failback (graceful with real data, forced, dry run, refusal, resume) against moto + the bridge."""
import os
import subprocess
import time

from aurora_env import (CLUSTER, DR, DR_CLUSTER, HEALTHY_LAG_MS, PRIMARY, RPO_S, AuroraTestCase, VerifyCases,
                        changes_of, checks_of, main, resource_of)
import pgpair

HEALTHY = ["retired_clusters", "primary_cluster_status", "primary_writer_status", "dr_cluster_status", "dr_replication_source",
           "dr_instance_status", "dr_capacity", "replication_lag", "dp_primary_writable", "dp_dr_read_only",
           "dp_streaming", "dp_replay_lag_bytes", "dp_replay_lag"]
SERVING_DR = ["retired_clusters", "dr_cluster_status", "dr_cluster_role", "dr_writer_status", "dp_dr_writable", "dp_primary_fenced"]


class Configure(AuroraTestCase):
    def test_plan_configure_idempotent(self):
        self.seed_primary()
        before = self.rds_snapshot()
        rep = self.agent_json("configure", "--plan", expect=2)
        self.assertEqual(changes_of(rep), [("create_dr_cluster", False), ("create_dr_instance", False)])
        self.assertEqual(self.rds_snapshot(), before, "--plan changed something")

        rep = self.agent_json("configure", expect=0)
        self.assertEqual(changes_of(rep), [("create_dr_cluster", True), ("create_dr_instance", True)])
        r = self.cluster(DR, DR_CLUSTER)
        self.assertEqual(r["Status"], "available")
        self.assertEqual(r["ReplicationSourceIdentifier"], self.arn(PRIMARY, CLUSTER))
        self.assertEqual(r["EngineVersion"], "15.4")
        self.assertEqual(r["ServerlessV2ScalingConfiguration"], {"MinCapacity": 0.5, "MaxCapacity": 16.0})
        inst = self.env.client("rds", DR).describe_db_instances(DBInstanceIdentifier=DR_CLUSTER + "-instance-1")
        self.assertEqual(inst["DBInstances"][0]["DBInstanceClass"], "db.serverless")
        # the bridge made node b a standby of node a (it already was): the data plane follows
        self.assertEqual(self.pair.status()["b"]["role"], "standby")

        after = self.rds_snapshot()
        rep = self.agent_json("configure", expect=0)
        self.assertEqual(rep["status"], "unchanged")
        self.assertEqual(resource_of(rep)["changes"], [])
        rep = self.agent_json("configure", "--plan", expect=0)
        self.assertEqual(resource_of(rep)["changes"], [])
        self.assertEqual(self.rds_snapshot(), after)

    def test_capacity_drift_is_planned_and_fixed(self):
        self.configure()
        self.env.client("rds", DR).modify_db_cluster(
            DBClusterIdentifier=DR_CLUSTER, ApplyImmediately=True,
            ServerlessV2ScalingConfiguration={"MinCapacity": 1, "MaxCapacity": 4})
        rep = self.verify()
        self.assertEqual(checks_of(rep)["dr_capacity"]["status"], "WARNING")
        self.assertEqual(checks_of(rep)["dr_capacity"]["observed"], "1-4")
        rep = self.agent_json("configure", "--plan", expect=2)
        self.assertEqual(changes_of(rep), [("modify_dr_scaling", False)])
        rep = self.agent_json("configure", expect=0)
        self.assertEqual(changes_of(rep), [("modify_dr_scaling", True)])
        self.assertEqual(self.cluster(DR, DR_CLUSTER)["ServerlessV2ScalingConfiguration"],
                         {"MinCapacity": 0.5, "MaxCapacity": 16.0})

    def test_progress_and_deadline(self):
        self.seed_primary()
        self.env.set_duration("CreateDBCluster", 4)
        r = self.run_agent("configure", "--timeout", "1s", "-vv")
        self.assertEqual(r.rc, 1, r)
        self.assertIn("waiting for cluster " + DR_CLUSTER, r.stderr)
        self.assertIn("deadline", r.stderr + r.stdout)
        self.assertLess(r.seconds, 3.5, "the hook deadline was not respected")
        # a second run finds the cluster under way, creates nothing, and waits it out
        t0 = time.monotonic()
        rep = self.agent_json("configure", expect=0)
        self.assertEqual(rep["status"], "unchanged")
        self.assertGreater(time.monotonic() - t0, 1.0)
        self.assertEqual(self.cluster(DR, DR_CLUSTER)["Status"], "available")

    def test_missing_primary_is_an_error(self):
        rep = self.agent_json("configure", expect=1)
        self.assertEqual(resource_of(rep)["status"], "failed")
        self.assertIn("not found", resource_of(rep)["error"])
        self.assertIsNone(self.cluster(DR, DR_CLUSTER))


class Secrets(AuroraTestCase):
    def password(self):
        with open(self.env.environ["DR_TEST_PG_PASSWORD_FILE"]) as f:
            return f.read().strip()

    def test_password_never_appears(self):
        self.configure()
        outputs = []
        for args in (["verify", "-vv"], ["failover", "--yes", "-vv"], ["verify", "-vv", "--format", "json"]):
            r = self.run_agent(*args)
            outputs += [r.stdout, r.stderr]
        secret = self.password()
        self.assertTrue(secret)
        for text in outputs:
            self.assertNotIn(secret, text)
        for root, _, files in os.walk(os.path.join(self.tmp, "state")):
            for name in files:
                with open(os.path.join(root, name), errors="replace") as f:
                    self.assertNotIn(secret, f.read(), name)

    def test_password_from_the_environment(self):
        self.conf = self.write_conf(pg_password_file=None, pg_password_env='"ROADCALL_PG_PASSWORD"')
        self.seed_primary()
        with_pw = {"ROADCALL_PG_PASSWORD": self.password()}
        base = [self.agent, "-c", self.conf, "--plugin-dir", self.plugins]
        self.assertEqual(self.env.run(base + ["configure"], env=with_pw).rc, 0)
        self.put_lag(HEALTHY_LAG_MS)
        r = self.env.run(base + ["verify", "--format", "json"], env=with_pw)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(checks_of(r.json)["dp_primary_writable"]["status"], "OK")
        # unset: a configuration error before any hook runs
        r = self.run_agent("verify")
        self.assertNotEqual(r.rc, 0)
        self.assertIn("ROADCALL_PG_PASSWORD", r.stderr)

    def test_password_file_must_be_private(self):
        path = os.path.join(self.tmp, "pw")
        with open(path, "w") as f:
            f.write(self.password() + "\n")
        os.chmod(path, 0o644)
        self.conf = self.write_conf(pg_password_file=f'"{path}"')
        r = self.run_agent("verify")
        self.assertNotEqual(r.rc, 0)
        self.assertIn("pg_password_file", r.stderr)
        self.assertNotIn(self.password(), r.stderr + r.stdout)
        os.chmod(path, 0o600)
        self.seed_primary()
        self.assertEqual(self.run_agent("configure").rc, 0)

    def test_wrong_password_is_unknown_not_ok(self):
        path = os.path.join(self.tmp, "pw")
        with open(path, "w") as f:
            f.write("not-the-password\n")
        os.chmod(path, 0o600)
        self.configure()
        self.conf = self.write_conf(pg_password_file=f'"{path}"')
        rep = self.verify(expect=3)
        c = checks_of(rep)
        for name in ("dp_primary_writable", "dp_dr_read_only", "dp_streaming", "dp_replay_lag"):
            self.assertEqual(c[name]["status"], "UNKNOWN", c[name])
        self.assertIn("password authentication failed", c["dp_primary_writable"]["detail"])


class Verify(VerifyCases, AuroraTestCase):
    healthy_checks = HEALTHY
    lag_metric = "AuroraGlobalDBReplicationLag"

    def detach(self):
        # detach in the control plane only (straight to moto, past the bridge): the data plane still replicates
        self.env.moto_client("rds", DR).promote_read_replica_db_cluster(DBClusterIdentifier=DR_CLUSTER)
        return "none (standalone)"


class Failover(AuroraTestCase):
    def test_graceful_failover_and_failback_with_real_data(self):
        self.configure()
        self.write_rows("a", 1, 1000, "east")
        self.wait_row("b", 1000)
        # a client session on the primary, idle in a transaction: fencing ends it
        holder = subprocess.Popen([os.path.join(pgpair.bindir(), "psql"), "-X", "-q",
                                   self.env.environ["DR_TEST_PG_PRIMARY_DSN"]],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        holder.stdin.write("BEGIN;\nSELECT 1;\n")
        holder.stdin.flush()
        time.sleep(0.5)
        self.write_rows("a", 1001, 500, "east")  # the last writes before the switch, not waited for

        before = self.rds_snapshot()
        rep = self.agent_json("failover", "--yes", "--dry-run", expect=0)
        self.assertEqual(changes_of(rep), [("fence_primary", False), ("wait_replayed", False),
                                           ("promote_dr_cluster", False)])
        self.assertEqual(self.rds_snapshot(), before, "failover --plan changed something")
        self.assertEqual(self.psql("a", "SHOW default_transaction_read_only")[1], "off")

        rep = self.agent_json("failover", "--yes", expect=0)
        self.assertEqual(rep["status"], "done")
        self.assertEqual(changes_of(rep), [("fence_primary", True), ("promote_dr_cluster", True)])
        self.assertIn("1 other session ended", resource_of(rep)["changes"][0]["detail"])
        c = checks_of(rep)
        self.assertEqual(c["data_loss_window"]["observed"], 0)
        self.assertEqual(c["data_loss_window"]["status"], "OK")
        self.assertEqual(c["time_to_writable"]["status"], "OK")
        self.assertGreater(c["time_to_writable"]["observed"], 0)
        self.assertEqual(resource_of(rep)["rpo_observed_seconds"], 0)
        holder.stdin.write("SELECT 2;\n")
        holder.stdin.close()
        self.assertEqual(holder.wait(timeout=10), 2, "the open session on the old primary survived the fence")
        self.assertIn("terminating connection due to administrator command", holder.stderr.read())
        holder.stdout.close()
        holder.stderr.close()

        # every row written before the failover is readable on the new writer: measured RPO 0
        self.assertEqual(self.rows("b"), 1500)
        self.assertEqual(self.psql("b", "SELECT sum(id) FROM calls")[1], str(sum(range(1, 1501))))
        self.assertIsNone(self.cluster(DR, DR_CLUSTER).get("ReplicationSourceIdentifier"))
        # the fenced old primary refuses writes (read-only transaction, SQLSTATE 25006)
        rc, _, err = self.psql("a", "INSERT INTO calls (id, region) VALUES (99999, 'east')", check=False)
        self.assertNotEqual(rc, 0)
        self.assertIn("read-only transaction", err)
        # the new writer takes writes
        self.write_rows("b", 5001, 20, "west")

        # a second failover changes nothing, nor does configure while the DR region serves
        rep = self.agent_json("failover", "--yes", expect=0)
        self.assertEqual(rep["status"], "unchanged")
        self.assertEqual(resource_of(rep)["changes"], [])
        rep = self.agent_json("configure", expect=0)
        self.assertEqual(rep["status"], "unchanged")
        # the drill's verify in the DR region: all OK
        rep = self.verify("--serving", "dr", expect=0)
        self.assert_all_ok(rep, SERVING_DR)

        # failback: plan first, nothing moves
        self.clear_automated_snapshots()
        before = self.rds_snapshot()
        rep = self.agent_json("failback", "--yes", "--dry-run", expect=0)
        self.assertEqual([a for a, _ in changes_of(rep)],
                         ["retire_old_primary", "create_primary_cluster", "create_primary_instance", "fence_dr",
                          "wait_replayed", "promote_primary_cluster", "retire_old_dr_cluster", "create_dr_cluster",
                          "create_dr_instance"])
        self.assertEqual(self.rds_snapshot(), before, "failback --plan changed something")

        rep = self.agent_json("failback", "--yes", expect=0)
        self.assertEqual(rep["status"], "done", rep)
        self.assertEqual([a for a, d in changes_of(rep) if d],
                         ["retire_old_primary", "create_primary_cluster", "create_primary_instance", "fence_dr",
                          "promote_primary_cluster", "retire_old_dr_cluster", "create_dr_cluster",
                          "create_dr_instance"])
        c = checks_of(rep)
        self.assertEqual(c["data_loss_window"]["observed"], 0)
        for name in ("primary_cluster_status", "dr_replication_source", "dp_primary_writable", "dp_dr_read_only",
                     "dp_streaming", "dp_replay_lag_bytes"):
            self.assertEqual(c[name]["status"], "OK", c[name])

        # the original topology, by name; the replaced clusters are kept under retired names
        self.assertIsNone(self.cluster(PRIMARY, CLUSTER).get("ReplicationSourceIdentifier"))
        self.assertEqual(self.cluster(DR, DR_CLUSTER)["ReplicationSourceIdentifier"], self.arn(PRIMARY, CLUSTER))
        names = [x["DBClusterIdentifier"] for x in self.env.client("rds", PRIMARY).describe_db_clusters()["DBClusters"]]
        self.assertTrue(any(n.startswith(CLUSTER + "-retired-") for n in names), names)
        # the original primary streams again, nothing left to replay, and holds the DR-period rows
        self.assertEqual(self.superuser("a", "SELECT state FROM pg_stat_replication"), "streaming")
        self.assertEqual(self.superuser("a", "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) "
                                             "FROM pg_stat_replication"), "0")
        self.assertEqual(self.rows("a", "region = 'west'"), 20)
        self.assertEqual(self.rows("a"), 1520)
        self.write_rows("a", 9001, 1, "east")
        self.wait_row("b", 9001)
        rc, _, err = self.psql("b", "INSERT INTO calls (id, region) VALUES (99998, 'west')", check=False)
        self.assertIn("read-only transaction", err)

        # a second failback changes nothing; verify is back to normal
        rep = self.agent_json("failback", "--yes", expect=0)
        self.assertEqual(rep["status"], "unchanged", rep)
        self.put_lag(HEALTHY_LAG_MS)
        rep = self.verify("--serving", "primary", expect=0)
        self.assert_all_ok(rep, HEALTHY)

    def test_drill(self):
        self.configure()
        self.write_rows("a", 1, 300, "east")
        self.clear_automated_snapshots()
        r = self.run_agent("drill", "--yes", "--format", "json", timeout=600)
        self.assertEqual(r.rc, 0, f"{r.stdout[-3000:]} {r.stderr[-2000:]}")
        self.assertIsNotNone(r.json, r.stdout[-2000:])
        self.assertTrue(r.json["rto_met"], r.json)
        self.assertTrue(r.json["rpo_met"], r.json)
        self.assertIsNotNone(r.json["rto_seconds"])
        self.assertEqual(self.rows("a"), 300)
        self.assertEqual(self.cluster(DR, DR_CLUSTER)["ReplicationSourceIdentifier"], self.arn(PRIMARY, CLUSTER))
        self.assertEqual(self.superuser("a", "SELECT state FROM pg_stat_replication"), "streaming")

    def test_failback_resumes_after_a_crash(self):
        self.configure()
        self.agent_json("failover", "--yes", expect=0)
        self.write_rows("b", 1, 5, "west")
        self.clear_automated_snapshots()
        # the new primary-region replica stays `creating` for 8 s; kill the agent while it waits for it
        self.env.set_duration("CreateDBCluster", 8)
        t0 = time.time()
        agent = subprocess.Popen([self.agent, "-c", self.conf, "--plugin-dir", self.plugins, "failback", "--yes"],
                                 env=self.env.environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not [r for r in self.env.requests(operation="CreateDBInstance", region=PRIMARY) if r["time"] >= t0]:
            self.assertLess(time.monotonic(), deadline, "failback never created the primary-region instance")
            self.assertIsNone(agent.poll(), "failback ended before the crash")
            time.sleep(0.05)
        time.sleep(0.3)
        agent.kill()
        agent.wait()
        self.assertEqual(self.cluster(PRIMARY, CLUSTER)["ReplicationSourceIdentifier"], self.arn(DR, DR_CLUSTER))

        # the next run picks up where the dead one stopped: no second primary, no second rename
        self.env.set_duration("CreateDBCluster", 0)
        self.clear_automated_snapshots()
        rep = self.agent_json("failback", "--yes", expect=0)
        self.assertEqual([a for a, d in changes_of(rep) if d],
                         ["fence_dr", "promote_primary_cluster", "retire_old_dr_cluster", "create_dr_cluster",
                          "create_dr_instance"])
        names = [x["DBClusterIdentifier"] for x in self.env.client("rds", PRIMARY).describe_db_clusters()["DBClusters"]]
        self.assertEqual(len([n for n in names if n.startswith(CLUSTER + "-retired-")]), 1, names)
        self.assertEqual(self.rows("a", "region = 'west'"), 5)
        self.assertEqual(self.cluster(DR, DR_CLUSTER)["ReplicationSourceIdentifier"], self.arn(PRIMARY, CLUSTER))

    def test_failback_resumes_after_a_crash_past_the_promotion(self):
        self.configure()
        self.agent_json("failover", "--yes", expect=0)
        self.write_rows("b", 1, 5, "west")
        self.clear_automated_snapshots()
        # the promoted primary-region cluster stays `promoting` for 4 s; kill the agent while it waits
        self.env.set_duration("PromoteReadReplicaDBCluster", 4)
        t0 = time.time()
        agent = subprocess.Popen([self.agent, "-c", self.conf, "--plugin-dir", self.plugins, "failback", "--yes"],
                                 env=self.env.environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not [r for r in self.env.requests(operation="PromoteReadReplicaDBCluster", region=PRIMARY)
                   if r["time"] >= t0]:
            self.assertLess(time.monotonic(), deadline, "failback never promoted the primary-region cluster")
            self.assertIsNone(agent.poll(), "failback ended before the crash")
            time.sleep(0.05)
        time.sleep(0.3)
        agent.kill()
        agent.wait()
        # both clusters standalone now; the newer primary-region one is the rebuilt primary (stage 3)
        self.assertIsNone(self.cluster(PRIMARY, CLUSTER).get("ReplicationSourceIdentifier"))
        self.assertIsNone(self.cluster(DR, DR_CLUSTER).get("ReplicationSourceIdentifier"))

        self.env.set_duration("PromoteReadReplicaDBCluster", 0)
        self.clear_automated_snapshots()
        rep = self.agent_json("failback", "--yes", expect=0)
        self.assertEqual([a for a, d in changes_of(rep) if d],
                         ["retire_old_dr_cluster", "create_dr_cluster", "create_dr_instance"])
        self.assertEqual(self.rows("a", "region = 'west'"), 5)
        self.assertEqual(self.cluster(DR, DR_CLUSTER)["ReplicationSourceIdentifier"], self.arn(PRIMARY, CLUSTER))
        self.assertEqual(self.superuser("a", "SELECT state FROM pg_stat_replication"), "streaming")
        # the fence the dead run put on the DR side went with its rebuild: b follows a, a takes writes
        self.write_rows("a", 100, 1, "east")
        self.wait_row("b", 100)

    def test_graceful_refused_when_the_primary_cannot_be_fenced(self):
        self.configure()
        before = self.rds_snapshot()
        self.pair.stop("a")
        try:
            rep = self.agent_json("failover", "--yes", expect=1)
        finally:
            self.pair.start("a")
        self.assertIn("refusing a graceful switch", resource_of(rep)["error"])
        self.assertIn("--mode forced", resource_of(rep)["error"])
        self.assertEqual(self.rds_snapshot(), before)
        # fencing switched off: refused too
        self.conf = self.write_conf(fence="false")
        rep = self.agent_json("failover", "--yes", expect=1)
        self.assertIn("fence = false", resource_of(rep)["error"])
        self.assertEqual(self.rds_snapshot(), before)

    def test_failed_promotion_lifts_the_fence(self):
        self.configure()
        self.env.add_fault(service="rds", operation="PromoteReadReplicaDBCluster", action="error", status=400,
                           code="InvalidDBClusterStateFault", message="injected")
        rep = self.agent_json("failover", "--yes", expect=1)
        self.assertEqual(changes_of(rep), [("fence_primary", True), ("promote_dr_cluster", False),
                                           ("unfence_primary", True)])
        self.assertIn("injected", resource_of(rep)["error"])
        # nobody was left without writes: the primary takes them again, the DR side still follows
        self.assertEqual(self.psql("a", "SHOW default_transaction_read_only")[1], "off")
        self.write_rows("a", 1, 1, "east")
        self.wait_row("b", 1)
        self.assertEqual(self.cluster(DR, DR_CLUSTER)["ReplicationSourceIdentifier"], self.arn(PRIMARY, CLUSTER))

    def test_forced_failover_with_the_primary_region_gone(self):
        self.configure()
        self.write_rows("a", 1, 100, "east")
        self.wait_row("b", 100)
        self.put_lag(1500, age_s=2)  # the last known lag
        self.env.add_fault(region=PRIMARY, action="unreachable")
        self.pair.stop("a")
        try:
            t0, wall0 = time.monotonic(), time.time()
            rep = self.agent_json("failover", "--yes", "--mode", "forced", expect=0)
            took = time.monotonic() - t0
        finally:
            self.env.clear_faults()
        self.assertEqual(changes_of(rep), [("promote_dr_cluster", True)])
        c = checks_of(rep)
        self.assertEqual(c["data_loss_window"]["observed"], 1.5)
        self.assertEqual(c["data_loss_window"]["threshold"], RPO_S)
        self.assertEqual(resource_of(rep)["rpo_observed_seconds"], 1.5)
        self.assertLess(took, 15, "a forced failover waited on the primary region")
        self.assertEqual([r for r in self.env.requests(region=PRIMARY) if r["time"] >= wall0], [],
                         "a forced failover called the primary region's API")
        self.assertEqual(self.rows("b"), 100)
        self.write_rows("b", 1000, 3, "west")

        # the old primary comes back unfenced: verify in the DR region calls it a split brain
        self.pair.start("a")
        rep = self.verify("--serving", "dr", expect=2)
        self.assertEqual(checks_of(rep)["dp_primary_fenced"]["status"], "CRITICAL")
        self.assertIn("split brain", checks_of(rep)["dp_primary_fenced"]["detail"])
        # a second forced failover fences it (one attempt) and promotes nothing
        rep = self.agent_json("failover", "--yes", "--mode", "forced", expect=0)
        self.assertEqual(changes_of(rep), [("fence_primary", True)])
        self.assert_all_ok(self.verify("--serving", "dr", expect=0), SERVING_DR)

        # failback rebuilds the primary from the DR side: the DR-period rows come home
        self.clear_automated_snapshots()
        self.agent_json("failback", "--yes", expect=0)
        self.assertEqual(self.rows("a", "region = 'west'"), 3)
        self.assertEqual(self.superuser("a", "SELECT state FROM pg_stat_replication"), "streaming")

    def test_forced_switch_to_an_unreachable_database_fences_nothing(self):
        self.configure()
        self.agent_json("failover", "--yes", expect=0)
        self.write_rows("b", 1, 5, "west")
        self.clear_automated_snapshots()
        # the agent cannot reach the primary's database (a port nothing listens on): a forced failback must not
        # fence the DR side, the only writer, for a switch it cannot finish
        good = self.conf
        self.conf = self.write_conf(pg_primary_port=str(pgpair.free_port()))
        rep = self.agent_json("failback", "--yes", "--mode", "forced", expect=1)
        err = resource_of(rep)["error"]
        self.assertIn("the side taking over cannot be reached, nothing fenced or switched", err)
        done = [a for a, d in changes_of(rep) if d]
        self.assertNotIn("fence_dr", done)
        self.assertNotIn("promote_primary_cluster", done)
        self.assertEqual(self.superuser("b", "SHOW default_transaction_read_only"), "off")
        self.write_rows("b", 6, 1, "west")  # the DR side still takes writes
        self.assertIsNone(self.cluster(DR, DR_CLUSTER).get("ReplicationSourceIdentifier"))
        # with the database reachable again, the next forced failback finishes the job
        self.conf = self.write_conf()
        self.assertEqual(self.conf, good)
        rep = self.agent_json("failback", "--yes", "--mode", "forced", expect=0)
        self.assertIn(("promote_primary_cluster", True), changes_of(rep))
        self.wait_row("a", 6)

    def test_forced_failover_says_why_the_loss_window_is_unknown(self):
        self.configure()
        # the primary's database is gone, so the loss window can only come from the metric, which is refused
        self.env.add_fault(service="monitoring", region=DR, operation="GetMetricStatistics", action="error",
                           status=403, code="AccessDenied",
                           message="User is not authorized to perform: cloudwatch:GetMetricStatistics")
        self.pair.stop("a")
        try:
            rep = self.agent_json("failover", "--yes", "--mode", "forced", expect=0)
        finally:
            self.env.clear_faults()
            self.pair.start("a")
        self.assertEqual(changes_of(rep), [("promote_dr_cluster", True)])
        c = checks_of(rep)["data_loss_window"]
        self.assertEqual(c["status"], "UNKNOWN")
        self.assertIsNone(c["observed"])
        self.assertIn("the last known lag could not be read", c["detail"])
        self.assertIn("AccessDenied", c["detail"])
        self.assertIn("cloudwatch:GetMetricStatistics", c["detail"])


if __name__ == "__main__":
    main()
