#!/usr/bin/env python3
"""aurora plugin, operations around the global database: configure (drift, progress, deadline, errors), the data-plane
password, the drill, refusals, a failed switchover, forced failover and failback with the primary region gone."""
import os
import subprocess
import time

from aurora_env import (CLUSTER, DR, DR_CLUSTER, HEALTHY_LAG_MS, PRIMARY, RPO_S, AuroraTestCase, changes_of,
                        checks_of, main, resource_of)
import pgpair

SERVING_DR = ["retired_clusters", "dr_cluster_status", "dr_cluster_role", "dr_writer_status", "dp_dr_writable", "dp_primary_fenced"]


class Configure(AuroraTestCase):
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


class Failover(AuroraTestCase):
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
        self.assertEqual(self.writer_arn(), self.arn(PRIMARY, CLUSTER))
        self.assert_one_writer("a")
        self.write_rows("a", 301, 1, "east")
        self.wait_row("b", 301)

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
        self.assert_one_writer("a")

    def test_failed_switchover_lifts_the_fence(self):
        self.configure()
        self.env.add_fault(service="rds", operation="SwitchoverGlobalCluster", action="error", status=400,
                           code="InvalidGlobalClusterStateFault", message="injected")
        rep = self.agent_json("failover", "--yes", expect=1)
        self.assertEqual(changes_of(rep), [("fence_primary", True), ("switchover_global_cluster", False),
                                           ("unfence_primary", True)])
        self.assertIn("injected", resource_of(rep)["error"])
        # nobody was left without writes: the primary takes them again, the DR side still follows
        self.assertEqual(self.psql("a", "SHOW default_transaction_read_only")[1], "off")
        self.write_rows("a", 1, 1, "east")
        self.wait_row("b", 1)
        self.assert_one_writer("a")
        self.assertEqual(self.writer_arn(), self.arn(PRIMARY, CLUSTER))

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
        self.assertEqual(changes_of(rep), [("failover_global_cluster", True)])
        c = checks_of(rep)
        self.assertEqual(c["data_loss_window"]["observed"], 1.5)
        self.assertEqual(c["data_loss_window"]["threshold"], RPO_S)
        self.assertEqual(resource_of(rep)["rpo_observed_seconds"], 1.5)
        self.assertLess(took, 15, "a forced failover waited on the primary region")
        self.assertEqual([r for r in self.env.requests(region=PRIMARY) if r["time"] >= wall0], [],
                         "a forced failover called the primary region's API")
        self.assertEqual(self.rows("b"), 100)
        self.assertTrue(self.writable("b"))
        self.write_rows("b", 1000, 3, "west")
        g = self.global_cluster()
        sync = {m["DBClusterArn"]: m.get("SynchronizationStatus") for m in g["GlobalClusterMembers"]}
        self.assertEqual(sync[self.arn(PRIMARY, CLUSTER)], "pending-resync")

        # the primary region comes back: Aurora rebuilds the old primary as a secondary of the new writer
        self.pair.start("a")
        self.env.clear_faults()
        self.wait_connected(self.arn(PRIMARY, CLUSTER))
        self.assert_all_ok(self.verify("--serving", "dr", expect=0), SERVING_DR)
        self.assert_one_writer("b")
        self.wait_row("a", 1002)

        # forced failback (data loss allowed): the primary region writes again, the DR side follows
        rep = self.agent_json("failback", "--yes", "--mode", "forced", expect=0)
        self.assertEqual([a for a, d in changes_of(rep) if d],
                         ["fence_dr", "failover_global_cluster", "unfence_primary"])
        self.assertLess(checks_of(rep)["data_loss_window"]["observed"], 1)
        self.assertEqual(self.writer_arn(), self.arn(PRIMARY, CLUSTER))
        self.assertEqual(self.rows("a", "region = 'west'"), 3)
        self.verify("--serving", "primary")  # the old DR writer's region is up: rebuilt as a secondary
        self.assert_one_writer("a")
        self.write_rows("a", 2000, 1, "east")
        self.wait_row("b", 2000)
        self.wait_connected(self.arn(DR, DR_CLUSTER))

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
        self.assertNotIn("failover_global_cluster", done)
        self.assertEqual(self.superuser("b", "SHOW default_transaction_read_only"), "off")
        self.write_rows("b", 6, 1, "west")  # the DR side still takes writes
        self.assert_one_writer("b")
        self.assertEqual(self.writer_arn(), self.arn(DR, DR_CLUSTER))
        # with the database reachable again, the next forced failback finishes the job
        self.conf = self.write_conf()
        self.assertEqual(self.conf, good)
        rep = self.agent_json("failback", "--yes", "--mode", "forced", expect=0)
        self.assertIn(("failover_global_cluster", True), changes_of(rep))
        self.wait_row("a", 6)
        self.assert_one_writer("a")
        self.wait_connected(self.arn(DR, DR_CLUSTER))

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
        self.assertEqual(changes_of(rep), [("failover_global_cluster", True)])
        c = checks_of(rep)["data_loss_window"]
        self.assertEqual(c["status"], "UNKNOWN")
        self.assertIsNone(c["observed"])
        self.assertIn("the last known lag could not be read", c["detail"])
        self.assertIn("AccessDenied", c["detail"])
        self.assertIn("cloudwatch:GetMetricStatistics", c["detail"])


if __name__ == "__main__":
    main()
