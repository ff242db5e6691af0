#!/usr/bin/env python3
"""aurora plugin: configure from a plain regional cluster to a global database (plan, idempotence), verify (healthy
and each broken case), switchover with rows written throughout (none lost), forced failover, failback by switchover
and by the manual path (rebuilding a diverged old primary)."""
import threading
import time

from aurora_env import (CLUSTER, DR, DR_CLUSTER, GLOBAL, PRIMARY, RPO_S, AuroraTestCase, VerifyCases, changes_of,
                        checks_of, main, resource_of)

HEALTHY = ["retired_clusters", "primary_cluster_status", "primary_writer_status", "global_cluster_status", "dr_cluster_status",
           "dr_replication_source", "dr_instance_status", "dr_capacity", "replication_lag", "dp_primary_writable",
           "dp_dr_read_only", "dp_streaming", "dp_replay_lag_bytes", "dp_replay_lag"]
SERVING_DR = ["retired_clusters", "dr_cluster_status", "dr_cluster_role", "dr_writer_status", "dp_dr_writable", "dp_primary_fenced"]


class GlobalCase(AuroraTestCase):
    mode = "global"


class Configure(GlobalCase):
    def test_plan_configure_idempotent(self):
        self.seed_primary()
        before = self.rds_snapshot()
        rep = self.agent_json("configure", "--plan", expect=2)
        self.assertEqual(changes_of(rep), [("create_global_cluster", False), ("create_dr_cluster", False),
                                           ("create_dr_instance", False)])
        self.assertEqual(self.rds_snapshot(), before, "--plan changed something")

        rep = self.agent_json("configure", expect=0)
        self.assertEqual(changes_of(rep), [("create_global_cluster", True), ("create_dr_cluster", True),
                                           ("create_dr_instance", True)])
        g = self.global_cluster()
        self.assertEqual(sorted(m["DBClusterArn"] for m in g["GlobalClusterMembers"]),
                         sorted([self.arn(PRIMARY, CLUSTER), self.arn(DR, DR_CLUSTER)]))
        self.assertEqual(self.writer_arn(), self.arn(PRIMARY, CLUSTER))
        r = self.cluster(DR, DR_CLUSTER)
        self.assertEqual(r["ServerlessV2ScalingConfiguration"], {"MinCapacity": 0.5, "MaxCapacity": 16.0})
        self.assertEqual(r["EngineVersion"], "15.4")

        after = self.rds_snapshot()
        rep = self.agent_json("configure", expect=0)
        self.assertEqual(rep["status"], "unchanged")
        rep = self.agent_json("configure", "--plan", expect=0)
        self.assertEqual(resource_of(rep)["changes"], [])
        self.assertEqual(self.rds_snapshot(), after)

    def test_existing_global_cluster_is_reused(self):
        self.seed_primary()
        self.env.client("rds", PRIMARY).create_global_cluster(GlobalClusterIdentifier=GLOBAL,
                                                              SourceDBClusterIdentifier=self.arn(PRIMARY, CLUSTER))
        rep = self.agent_json("configure", "--plan", expect=2)
        self.assertEqual(changes_of(rep), [("create_dr_cluster", False), ("create_dr_instance", False)])

    def test_global_mode_needs_global_cluster(self):
        self.conf = self.write_conf(global_cluster=None)
        r = self.run_agent("configure", "--plan")
        self.assertNotEqual(r.rc, 0, r)
        self.assertIn("global_cluster is required", r.stderr)

    def test_replica_mode_is_refused_at_validation(self):
        self.seed_primary()
        before = self.rds_snapshot()
        self.conf = self.write_conf(mode="replica")
        for cmd in (["configure", "--plan"], ["verify"], ["failover", "--yes"]):
            r = self.run_agent(*cmd)
            self.assertNotEqual(r.rc, 0, r)
            self.assertIn('mode = "replica": Aurora PostgreSQL has no cross-region read replica clusters', r.stderr)
            self.assertIn('write mode = "global" with global_cluster', r.stderr)
            self.assertIn("aurora.main", r.stderr)
        self.assertEqual(self.rds_snapshot(), before)
        # what the plugin would have sent is refused by RDS too, as AWS refuses it
        rds = self.env.client("rds", DR)
        with self.assertRaises(rds.exceptions.ClientError) as cm:
            rds.create_db_cluster(DBClusterIdentifier=DR_CLUSTER, Engine="aurora-postgresql",
                                  ReplicationSourceIdentifier=self.arn(PRIMARY, CLUSTER))
        self.assertEqual(cm.exception.response["Error"]["Code"], "InvalidParameterCombination")

    def test_alter_system_fence_is_not_offered(self):
        # Aurora has no ALTER SYSTEM: the database fence is the one method
        self.conf = self.write_conf(fence_method='"system"')
        r = self.run_agent("configure", "--plan")
        self.assertEqual(r.rc, 78, r)
        self.assertIn("fence_method", r.stderr)
        self.assertIn("not one of database", r.stderr)


class Verify(VerifyCases, GlobalCase):
    healthy_checks = HEALTHY
    lag_metric = "AuroraGlobalDBRPOLag"

    def detach(self):
        # Behind the bridge, straight in moto: move the secondary out of the way and put a standalone cluster of
        # the same name in its place (moto's RemoveFromGlobalCluster does not remove anything).
        m = self.env.moto_client("rds", DR)
        m.modify_db_cluster(DBClusterIdentifier=DR_CLUSTER, NewDBClusterIdentifier=DR_CLUSTER + "-moved",
                            ApplyImmediately=True)
        self.clear_automated_snapshots()
        m.create_db_cluster(DBClusterIdentifier=DR_CLUSTER, Engine="aurora-postgresql", EngineVersion="15.4",
                            MasterUsername="postgres", MasterUserPassword="seed-only-not-a-secret",
                            ServerlessV2ScalingConfiguration={"MinCapacity": 0.5, "MaxCapacity": 16})
        return "not a member"

    def test_global_cluster_written_by_the_dr_cluster(self):
        healthy = self.healthy()
        # the writer moves in the control plane only (a failover nobody told the data plane about)
        self.env.client("rds", DR).failover_global_cluster(GlobalClusterIdentifier=GLOBAL,
                                                           TargetDbClusterIdentifier=self.arn(DR, DR_CLUSTER),
                                                           AllowDataLoss=True)
        self.wait_connected(self.arn(PRIMARY, CLUSTER))  # its region is up: rebuilt as a secondary
        self.restore_pair()  # the bridge promoted node b: give it back its standby role
        time.sleep(0.2)
        broken = self.verify(expect=2)
        self.assert_only(healthy, broken, ["global_cluster_status", "dr_replication_source"], status="CRITICAL")
        self.assertIn("written by " + self.arn(DR, DR_CLUSTER), checks_of(broken)["global_cluster_status"]["detail"])
        self.assertEqual(checks_of(broken)["dr_replication_source"]["observed"], "writer")


class Writer(threading.Thread):
    """A client writing one row per transaction to whichever node takes it, as an application behind the
    cluster endpoints would; it records the ids whose COMMIT succeeded."""

    def __init__(self, case):
        super().__init__(daemon=True)
        self.case, self.committed, self.stop = case, [], threading.Event()

    def run(self):
        i = 100000
        while not self.stop.is_set():
            for node in ("a", "b"):
                rc, _, _ = self.case.psql(node, f"INSERT INTO calls (id, region) VALUES ({i}, 'app')", check=False)
                if rc == 0:
                    self.committed.append(i)
                    break
            i += 1
            time.sleep(0.02)


class Failover(GlobalCase):
    def test_switchover_and_back_with_real_data(self):
        self.configure()
        self.write_rows("a", 1, 2000, "east")
        self.assert_one_writer("a")

        before = self.rds_snapshot()
        rep = self.agent_json("failover", "--yes", "--dry-run", expect=0)
        self.assertEqual(changes_of(rep), [("fence_primary", False), ("switchover_global_cluster", False)])
        self.assertEqual(self.rds_snapshot(), before)

        writer = Writer(self)
        writer.start()
        time.sleep(0.5)
        rep = self.agent_json("failover", "--yes", expect=0)
        time.sleep(0.5)
        self.assertEqual(changes_of(rep), [("fence_primary", True), ("switchover_global_cluster", True),
                                           ("unfence_dr", True)])
        self.assertEqual(checks_of(rep)["data_loss_window"]["observed"], 0)
        self.assertEqual(resource_of(rep)["rpo_observed_seconds"], 0)
        self.assertEqual(self.writer_arn(), self.arn(DR, DR_CLUSTER))
        self.assert_one_writer("b")
        # all rows on the new writer; the old one is now its standby and refuses writes
        self.assertEqual(self.rows("b", "region = 'east'"), 2000)
        self.assertEqual(self.pair.status()["a"]["role"], "standby")
        rc, _, err = self.psql("a", "INSERT INTO calls (id, region) VALUES (99999, 'east')", check=False)
        self.assertIn("read-only transaction", err)
        self.write_rows("b", 5001, 7, "west")
        self.wait_row("a", 5007)  # the switchover made the old primary follow the new one

        rep = self.agent_json("failover", "--yes", expect=0)
        self.assertEqual(rep["status"], "unchanged")
        self.assert_all_ok(self.verify("--serving", "dr", expect=0), SERVING_DR)

        rep = self.agent_json("failback", "--yes", "--dry-run", expect=0)
        self.assertEqual(changes_of(rep), [("fence_dr", False), ("switchover_global_cluster", False)])
        rep = self.agent_json("failback", "--yes", expect=0)
        time.sleep(0.5)
        writer.stop.set()
        writer.join(10)
        self.assertEqual(changes_of(rep), [("fence_dr", True), ("switchover_global_cluster", True),
                                           ("unfence_primary", True)])
        self.assertEqual(checks_of(rep)["data_loss_window"]["observed"], 0)
        self.assertEqual(self.writer_arn(), self.arn(PRIMARY, CLUSTER))
        self.assert_one_writer("a")
        # no committed row lost: every id whose COMMIT succeeded, on either side, is on the writer
        self.assertGreater(len(writer.committed), 20)
        ids = {int(x) for x in self.psql("a", "SELECT id FROM calls WHERE region = 'app'")[1].split()}
        self.assertEqual(set(writer.committed) - ids, set(), "committed rows lost")
        self.assertEqual(self.rows("a", "region = 'west'"), 7)
        self.assertEqual(self.rows("a", "region = 'east'"), 2000)
        self.write_rows("a", 9001, 1, "east")
        self.wait_row("b", 9001)
        rep = self.agent_json("failback", "--yes", expect=0)
        self.assertEqual(rep["status"], "unchanged")
        self.put_lag(200)
        self.assert_all_ok(self.verify("--serving", "primary", expect=0), HEALTHY)

    def test_forced_failover_then_failback_rebuilds_the_diverged_primary(self):
        self.configure()
        self.write_rows("a", 1, 50, "east")
        self.wait_row("b", 50)
        self.put_lag(800, age_s=2)
        rep = self.agent_json("failover", "--yes", "--mode", "forced", expect=0)
        # the fence on the old writer replicated to the DR side before the failover: lifted there
        self.assertEqual(changes_of(rep), [("fence_primary", True), ("failover_global_cluster", True),
                                           ("unfence_dr", True)])
        # what Aurora reported for the DR region on the old writer (rpo_lag_in_msec): all rows were there
        self.assertLess(checks_of(rep)["data_loss_window"]["observed"], 1)
        self.assertEqual(self.writer_arn(), self.arn(DR, DR_CLUSTER))
        self.assert_one_writer("b")
        self.write_rows("b", 100, 4, "west")
        # the region of the old primary was up: Aurora rebuilds it as a secondary (in the background)
        self.wait_connected(self.arn(PRIMARY, CLUSTER))
        self.assert_all_ok(self.verify("--serving", "dr", expect=0), SERVING_DR)
        # Here the rebuild went wrong (its database writes on its own, behind the control plane's back): failback
        # takes the manual path.
        self.pair.promote("a")
        self.write_rows("a", 200, 2, "east")  # diverged writes, kept in the retired cluster

        self.clear_automated_snapshots()
        rep = self.agent_json("failback", "--yes", expect=0)
        self.assertEqual([a for a, d in changes_of(rep) if d],
                         ["remove_old_primary_from_global", "retire_old_primary", "create_primary_cluster",
                          "create_primary_instance", "fence_dr", "switchover_global_cluster", "unfence_primary"])
        self.assert_one_writer("a")
        self.assertEqual(self.writer_arn(), self.arn(PRIMARY, CLUSTER))
        self.assertEqual(self.rows("a", "region = 'west'"), 4)
        self.assertEqual(self.superuser("a", "SELECT state FROM pg_stat_replication"), "streaming")
        self.assertEqual(self.psql("a", "SHOW default_transaction_read_only")[1], "off")
        self.assertEqual(self.rows("a", "id >= 200 AND id < 300"), 0)
        rep = self.agent_json("failback", "--yes", expect=0)
        self.assertEqual(rep["status"], "unchanged")


if __name__ == "__main__":
    main()
