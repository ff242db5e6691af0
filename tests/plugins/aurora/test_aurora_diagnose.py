#!/usr/bin/env python3
"""aurora plugin: `dr-agent diagnose` on the global database with the PostgreSQL pair: replication lag and its
causes (long-running queries on the writer and the replica, a replication slot holding WAL, a DR cluster smaller than
the writer), each a finding with evidence on a broken estate and none on the healthy one."""
import os
import subprocess
import time

from aurora_env import DR, DR_CLUSTER, AuroraTestCase, checks_of, main
import pgpair

NAMES = {"replication_lag", "long_running_queries_writer", "long_running_queries_replica", "replication_slots",
         "dr_capacity"}


class Diagnose(AuroraTestCase):
    mode = "global"

    def setUp(self):
        super().setUp()
        self.conf = self.write_conf(extra='long_query_threshold = "2s";')

    def sleeper(self, node, seconds):
        """A query that runs `seconds` on node a (the writer) or b (the replica), as the application's would."""
        role = "PRIMARY" if node == "a" else "STANDBY"
        p = subprocess.Popen([os.path.join(pgpair.bindir(), "psql"), "-X", "-q", self.env.environ[f"DR_TEST_PG_{role}_DSN"],
                              "-c", f"SELECT pg_sleep({seconds}) /* nightly report */"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(p.wait)
        self.addCleanup(p.terminate)
        return p

    def diagnose(self, expect):
        t0 = time.time()
        rep = self.agent_json("diagnose", "aurora.main", expect=expect)
        calls = {r["operation"] for r in self.env.requests() if r["time"] >= t0}
        self.assertTrue(calls <= {"DescribeDBClusters", "DescribeDBInstances", "GetMetricStatistics"}, calls)
        got = checks_of(rep)
        self.assertEqual(set(got), NAMES, got)
        return got

    def test_healthy_has_no_finding(self):
        self.configure()
        got = self.diagnose(0)
        self.assertEqual({n: c["status"] for n, c in got.items() if c["status"] != "OK"}, {},
                         {n: c["detail"] for n, c in got.items()})

    def test_each_cause_is_found_with_its_evidence(self):
        self.configure()
        self.put_lag(3000)  # above half the 4 s RPO: the symptom
        self.sleeper("a", 60)
        self.sleeper("b", 60)
        self.superuser("a", "SELECT pg_create_physical_replication_slot('old_etl_consumer', true)")
        self.addCleanup(self.superuser, "a", "SELECT pg_drop_replication_slot('old_etl_consumer')")
        self.env.moto_client("rds", DR).modify_db_cluster(
            DBClusterIdentifier=DR_CLUSTER, ServerlessV2ScalingConfiguration={"MinCapacity": 0.5, "MaxCapacity": 2})
        time.sleep(3)  # the queries pass the 2 s threshold
        got = self.diagnose(1)
        self.assertEqual({n: c["status"] for n, c in got.items()}, {n: "WARNING" for n in NAMES},
                         {n: c["detail"] for n, c in got.items()})
        self.assertEqual(got["replication_lag"]["observed"], 3.0)
        for name in ("long_running_queries_writer", "long_running_queries_replica"):
            self.assertEqual(got[name]["observed"], 1, got[name])
            self.assertIn("pg_sleep(60) /* nightly report */", got[name]["detail"])
            self.assertIn("pg_cancel_backend", got[name]["detail"])
        self.assertIn("old_etl_consumer (physical, inactive", got["replication_slots"]["detail"])
        self.assertIn("pg_drop_replication_slot", got["replication_slots"]["detail"])
        self.assertEqual(got["dr_capacity"]["observed"], "db.serverless max 2 ACU")
        self.assertEqual(got["dr_capacity"]["threshold"], "db.serverless max 16 ACU")
        out = self.run_agent("diagnose", "aurora.main")
        print("\n--- dr-agent diagnose (text) ---\n" + out.stdout)
        self.assertEqual(out.rc, 1, out)


if __name__ == "__main__":
    main()
