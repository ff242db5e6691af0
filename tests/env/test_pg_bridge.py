#!/usr/bin/env python3
"""The RDS-to-PostgreSQL bridge: control-plane promotions and switchovers move the real databases (drenv run --pg)."""
import os
import sys
import time
import unittest

import botocore.exceptions

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import drtest  # noqa: E402
from test_emu_rds import make_primary  # noqa: E402

P, DR = drtest.PRIMARY, drtest.DR


class Bridge(drtest.EnvTestCase):
    needs_pg = True

    def setUp(self):
        super().setUp()
        self.rds, self.rds_dr = self.env.client("rds", P), self.env.client("rds", DR)
        self.t0 = time.monotonic()

    def tearDown(self):
        log = self.env.pg_status()["log"]
        print(f"\n  {self.id().rsplit('.', 1)[-1]}: {time.monotonic() - self.t0:.2f} s; bridge: "
              + ", ".join(f"{e['op']} {e['node']} {e['ms']} ms ({e['result']})" for e in log), file=sys.stderr)

    def sql(self, node, query):
        res = self.env.psql(node, query)
        self.assertEqual(res.rc, 0, res.stderr)
        return res.stdout.strip()

    def wait_visible(self, node, query, expected, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            res = self.env.psql(node, query)
            if res.rc == 0 and res.stdout.strip() == expected:
                return
            if time.monotonic() > deadline:
                self.fail(f"{node}: {query!r} gave {res.stdout.strip()!r} / {res.stderr.strip()!r}, "
                          f"not {expected!r}")
            time.sleep(0.05)

    def roles(self):
        return {n: v["role"] for n, v in self.env.pg_status()["nodes"].items()}

    def test_aurora_permission_model(self):
        """`dr` is what Aurora's master user is: a member of rds_superuser, no superuser."""
        for node in ("primary", "standby"):
            self.assertEqual(self.sql(node, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"), "f")
            self.assertEqual(self.sql(node, "SELECT pg_has_role('rds_superuser', 'member')"), "t")
            for query in ("SELECT pg_reload_conf()", "ALTER SYSTEM SET default_transaction_read_only = on",
                          "SELECT pg_read_file('postgresql.conf')"):
                res = self.env.psql(node, query)
                self.assertNotEqual(res.rc, 0, query)
                self.assertIn("permission denied", res.stderr)
        # what it can do: own its database's settings, see replication, end other sessions
        self.sql("primary", "ALTER DATABASE roadcall SET work_mem = '8MB'; ALTER DATABASE roadcall RESET work_mem")
        self.assertEqual(self.sql("primary", "SELECT pg_has_role('pg_monitor', 'member') AND "
                                             "pg_has_role('pg_signal_backend', 'member')"), "t")

    def test_global_db_functions(self):
        """aurora_global_db_status() and aurora_global_db_instance_status() with Aurora's columns."""
        res = self.env.run([os.path.join(os.environ.get("DR_PG_BINDIR", "/usr/lib/postgresql/15/bin"), "psql"),
                            "-X", "-A", "-F", ",", "-q", "-v", "ON_ERROR_STOP=1",
                            self.env.environ["DR_TEST_PG_PRIMARY_DSN"], "-c",
                            "SELECT * FROM aurora_global_db_status() ORDER BY aws_region"], timeout=60)
        self.assertEqual(res.rc, 0, res.stderr)
        lines = res.stdout.strip().splitlines()
        self.assertEqual(lines[0], "aws_region,highest_lsn_written,durability_lag_in_msec,rpo_lag_in_msec,"
                                   "last_lag_calculation_time,feedback_epoch,feedback_xmin")
        rows = {ln.split(",")[0]: ln.split(",") for ln in lines[1:-1]}
        self.assertEqual(sorted(rows), [P, DR])
        self.assertEqual(rows[P][2:4], ["-1", "-1"])  # the primary
        self.assertGreaterEqual(int(rows[DR][3]), 0)
        self.assertGreater(int(rows[P][1]), 0)
        res = self.env.run([os.path.join(os.environ.get("DR_PG_BINDIR", "/usr/lib/postgresql/15/bin"), "psql"),
                            "-X", "-A", "-F", ",", "-q", "-v", "ON_ERROR_STOP=1",
                            self.env.environ["DR_TEST_PG_PRIMARY_DSN"], "-c",
                            "SELECT * FROM aurora_global_db_instance_status() ORDER BY aws_region"], timeout=60)
        self.assertEqual(res.rc, 0, res.stderr)
        lines = res.stdout.strip().splitlines()
        self.assertEqual(lines[0], "server_id,session_id,aws_region,durable_lsn,highest_lsn_rcvd,feedback_epoch,"
                                   "feedback_xmin,oldest_read_view_lsn,visibility_lag_in_msec")
        self.assertEqual(sorted(ln.split(",")[2] for ln in lines[1:-1]), [P, DR])
        # a standby lists itself
        self.assertEqual(self.sql("standby", "SELECT aws_region FROM aurora_global_db_status()"), DR)

    def test_no_cross_region_replica_for_aurora_postgresql(self):
        primary = make_primary(self.rds, "roadcall-aurora-prod")
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.rds_dr.create_db_cluster(DBClusterIdentifier="roadcall-aurora-prod-replica",
                                          Engine="aurora-postgresql", ReplicationSourceIdentifier=primary)
        self.assertEqual(cm.exception.response["Error"]["Code"], "InvalidParameterCombination")
        self.assertEqual(self.roles(), {"a": "primary", "b": "standby"})

    def test_global_switchover_and_failover(self):
        primary = make_primary(self.rds, "app")
        self.rds.create_global_cluster(GlobalClusterIdentifier="gdb", SourceDBClusterIdentifier=primary)
        secondary = self.rds_dr.create_db_cluster(DBClusterIdentifier="app-dr", Engine="aurora-postgresql",
                                                  EngineVersion="15.4", GlobalClusterIdentifier="gdb")
        secondary = secondary["DBCluster"]["DBClusterArn"]
        self.sql("primary", "CREATE TABLE IF NOT EXISTS g(x int); INSERT INTO g VALUES (1)")

        self.rds.switchover_global_cluster(GlobalClusterIdentifier="gdb", TargetDbClusterIdentifier=secondary)
        self.assertEqual(self.roles(), {"a": "standby", "b": "primary"})
        self.sql("standby", "INSERT INTO g VALUES (2)")
        self.wait_visible("primary", "SELECT count(*) FROM g", "2")  # node a now follows node b

        self.rds.switchover_global_cluster(GlobalClusterIdentifier="gdb", TargetDbClusterIdentifier=primary)
        self.assertEqual(self.roles(), {"a": "primary", "b": "standby"})
        self.sql("primary", "INSERT INTO g VALUES (3)")
        self.wait_visible("standby", "SELECT count(*) FROM g", "3")

        # a switchover ends the old writer's sessions and drains it: nothing committed is lost
        self.sql("primary", "INSERT INTO g SELECT 4 FROM generate_series(1, 1000)")
        self.rds.switchover_global_cluster(GlobalClusterIdentifier="gdb", TargetDbClusterIdentifier=secondary)
        self.assertEqual(self.sql("standby", "SELECT count(*) FROM g"), "1003")
        self.rds.switchover_global_cluster(GlobalClusterIdentifier="gdb", TargetDbClusterIdentifier=primary)

        # an unplanned failover promotes the target at once; the old primary, whose region is up, is rebuilt as a
        # secondary of the new writer on the next call (what it wrote alone is gone)
        self.rds.failover_global_cluster(GlobalClusterIdentifier="gdb", TargetDbClusterIdentifier=secondary,
                                         AllowDataLoss=True)
        self.assertEqual(self.roles(), {"a": "primary", "b": "primary"})
        self.assertEqual(self.sql("standby", "SELECT count(*) FROM g"), "1003")
        deadline = time.monotonic() + 60
        while True:  # Aurora rebuilds it in the background: pending-resync until then
            members = self.rds.describe_global_clusters(GlobalClusterIdentifier="gdb")["GlobalClusters"][0]
            sync = {m["DBClusterArn"]: m["SynchronizationStatus"] for m in members["GlobalClusterMembers"]}
            if sync == {primary: "connected", secondary: "connected"}:
                break
            self.assertEqual(sync, {primary: "pending-resync", secondary: "connected"})
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.1)
        self.assertEqual(self.roles(), {"a": "standby", "b": "primary"})
        self.sql("standby", "INSERT INTO g VALUES (5)")
        self.wait_visible("primary", "SELECT count(*) FROM g", "1004")


if __name__ == "__main__":
    unittest.main(verbosity=2)
