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

    def test_promote_read_replica(self):
        """The runbook's failover: write on the primary, promote the DR replica, read and write there."""
        self.assertEqual(self.roles(), {"a": "primary", "b": "standby"})
        self.sql("primary", "CREATE TABLE calls(id int PRIMARY KEY, note text); "
                            "INSERT INTO calls VALUES (1, 'before failover')")
        self.wait_visible("standby", "SELECT note FROM calls WHERE id = 1", "before failover")
        res = self.env.psql("standby", "INSERT INTO calls VALUES (2, 'x')")
        self.assertNotEqual(res.rc, 0)
        self.assertIn("read-only", res.stderr)

        primary = make_primary(self.rds, "roadcall-aurora-prod")
        self.rds_dr.create_db_cluster(DBClusterIdentifier="roadcall-aurora-prod-replica",
                                      Engine="aurora-postgresql", ReplicationSourceIdentifier=primary)
        self.assertEqual(self.env.pg_status()["log"][-1]["result"], "already standby of a")
        self.rds_dr.promote_read_replica_db_cluster(DBClusterIdentifier="roadcall-aurora-prod-replica")
        self.assertEqual(self.roles(), {"a": "primary", "b": "primary"})  # the old primary is not fenced
        self.assertEqual(self.sql("standby", "SELECT note FROM calls WHERE id = 1"), "before failover")
        self.sql("standby", "INSERT INTO calls VALUES (2, 'after failover')")
        # promoting again: refused, as AWS does for a cluster that is no longer a replica
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.rds_dr.promote_read_replica_db_cluster(DBClusterIdentifier="roadcall-aurora-prod-replica")
        self.assertEqual(cm.exception.response["Error"]["Code"], "InvalidDBClusterStateFault")
        self.assertEqual(self.roles(), {"a": "primary", "b": "primary"})

        # failback: a new replica in us-east-1 of the us-west-2 cluster rewinds node a behind node b
        dr_arn = self.rds_dr.describe_db_clusters(
            DBClusterIdentifier="roadcall-aurora-prod-replica")["DBClusters"][0]["DBClusterArn"]
        self.rds.create_db_cluster(DBClusterIdentifier="roadcall-aurora-prod-fb", Engine="aurora-postgresql",
                                   ReplicationSourceIdentifier=dr_arn)
        self.assertEqual(self.roles(), {"a": "standby", "b": "primary"})
        self.wait_visible("primary", "SELECT note FROM calls WHERE id = 2", "after failover")
        self.rds.promote_read_replica_db_cluster(DBClusterIdentifier="roadcall-aurora-prod-fb")
        self.sql("primary", "INSERT INTO calls VALUES (3, 'after failback')")
        fb_arn = self.rds.describe_db_clusters(
            DBClusterIdentifier="roadcall-aurora-prod-fb")["DBClusters"][0]["DBClusterArn"]
        self.rds_dr.create_db_cluster(DBClusterIdentifier="roadcall-aurora-prod-replica2",
                                      Engine="aurora-postgresql", ReplicationSourceIdentifier=fb_arn)
        self.assertEqual(self.roles(), {"a": "primary", "b": "standby"})
        self.wait_visible("standby", "SELECT count(*) FROM calls", "3")

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

        # an unplanned failover promotes the target and leaves the old writer alone
        self.rds.failover_global_cluster(GlobalClusterIdentifier="gdb", TargetDbClusterIdentifier=secondary,
                                         AllowDataLoss=True)
        self.assertEqual(self.roles(), {"a": "primary", "b": "primary"})
        self.assertEqual(self.sql("standby", "SELECT count(*) FROM g"), "3")


if __name__ == "__main__":
    unittest.main(verbosity=2)
