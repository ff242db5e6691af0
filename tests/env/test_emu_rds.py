#!/usr/bin/env python3
"""Fidelity of the Aurora emulation (global failover/switchover, durations, replica creation): boto3, aws CLI, model."""
import os
import sys
import time
import unittest

import botocore.exceptions

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import drtest  # noqa: E402
import modelcheck  # noqa: E402

# long enough that a slow aws CLI start on a loaded machine still lands inside the emulated wait
DURATION = 10

P, DR = drtest.PRIMARY, drtest.DR


def make_primary(rds, ident="app", engine="aurora-postgresql", version="15.4"):
    c = rds.create_db_cluster(DBClusterIdentifier=ident, Engine=engine, EngineVersion=version,
                              MasterUsername="postgres", MasterUserPassword="not-a-real-password-1",
                              ServerlessV2ScalingConfiguration={"MinCapacity": 0.5, "MaxCapacity": 16})
    rds.create_db_instance(DBInstanceIdentifier=ident + "-writer", DBInstanceClass="db.serverless",
                           Engine=engine, DBClusterIdentifier=ident)
    return c["DBCluster"]["DBClusterArn"]


class Aurora(drtest.EnvTestCase):
    def setUp(self):
        super().setUp()
        self.rds = self.env.client("rds", P)
        self.rds_dr = self.env.client("rds", DR)
        self.raw = drtest.RawLog(self.rds)
        self.raw_dr = drtest.RawLog(self.rds_dr)

    def assertShape(self, raw, op):
        self.assertEqual(modelcheck.check("rds", op, raw.last(op)), [])

    def make_global(self):
        primary = make_primary(self.rds)
        self.rds.create_global_cluster(GlobalClusterIdentifier="gdb", SourceDBClusterIdentifier=primary)
        secondary = self.rds_dr.create_db_cluster(DBClusterIdentifier="app-dr", Engine="aurora-postgresql",
                                                  EngineVersion="15.4", GlobalClusterIdentifier="gdb")
        return primary, secondary["DBCluster"]["DBClusterArn"]

    def members(self):
        gc = self.rds.describe_global_clusters(GlobalClusterIdentifier="gdb")["GlobalClusters"][0]
        self.assertShape(self.raw, "DescribeGlobalClusters")
        return gc, {m["DBClusterArn"]: (m["IsWriter"], m["Readers"]) for m in gc["GlobalClusterMembers"]}

    def test_writer_and_readers(self):
        primary, secondary = self.make_global()
        gc, members = self.members()
        self.assertEqual(members, {primary: (True, [secondary]), secondary: (False, [])})
        self.assertNotIn("FailoverState", gc)
        self.rds.create_global_cluster(GlobalClusterIdentifier="other", Engine="aurora-postgresql")
        self.assertEqual(len(self.rds.describe_global_clusters()["GlobalClusters"]), 2)
        self.assertEqual(self.members()[0]["GlobalClusterIdentifier"], "gdb")  # the one asked for
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.rds.describe_global_clusters(GlobalClusterIdentifier="nope")
        self.assertEqual(cm.exception.response["Error"]["Code"], "GlobalClusterNotFoundFault")
        res = self.env.aws("rds", "describe-global-clusters", "--global-cluster-identifier", "gdb")
        self.assertEqual(res.rc, 0, res.stderr)
        self.assertEqual([m["IsWriter"] for m in res.json["GlobalClusters"][0]["GlobalClusterMembers"]],
                         [True, False])

    def test_failover_with_duration(self):
        primary, secondary = self.make_global()
        self.env.set_duration("FailoverGlobalCluster", DURATION)
        t0 = time.monotonic()
        out = self.rds.failover_global_cluster(GlobalClusterIdentifier="gdb", TargetDbClusterIdentifier=secondary,
                                               AllowDataLoss=True)["GlobalCluster"]
        self.assertShape(self.raw, "FailoverGlobalCluster")
        self.assertEqual(out["Status"], "failing-over")
        self.assertEqual(out["FailoverState"], {"Status": "failing-over", "FromDbClusterArn": primary,
                                                "ToDbClusterArn": secondary, "IsDataLossAllowed": True})
        gc, members = self.members()
        self.assertEqual(gc["FailoverState"]["ToDbClusterArn"], secondary)
        self.assertEqual(members[secondary], (True, [primary]))
        res = self.env.aws("rds", "describe-global-clusters")
        self.assertEqual(res.rc, 0, res.stderr)
        self.assertEqual(res.json["GlobalClusters"][0]["FailoverState"]["Status"], "failing-over")
        drtest.wait_for(lambda: "FailoverState" not in self.members()[0])
        self.assertGreaterEqual(time.monotonic() - t0, DURATION)
        gc, members = self.members()
        self.assertNotIn("FailoverState", gc)
        self.assertEqual(gc["Status"], "available")
        self.assertEqual(members, {secondary: (True, [primary]), primary: (False, [])})

    def test_switchover_both_ways_and_cli(self):
        primary, secondary = self.make_global()
        res = self.env.aws("rds", "switchover-global-cluster", "--global-cluster-identifier", "gdb",
                           "--target-db-cluster-identifier", secondary)
        self.assertEqual(res.rc, 0, res.stderr)
        self.assertEqual(res.json["GlobalCluster"]["FailoverState"]["IsDataLossAllowed"], False)
        self.assertEqual(self.members()[1][secondary][0], True)
        out = self.rds.switchover_global_cluster(GlobalClusterIdentifier="gdb", TargetDbClusterIdentifier=primary)
        self.assertShape(self.raw, "SwitchoverGlobalCluster")
        self.assertEqual(out["GlobalCluster"]["FailoverState"]["ToDbClusterArn"], primary)
        self.assertEqual(self.members()[1][primary][0], True)
        # FailoverGlobalCluster without AllowDataLoss is a switchover, also through the CLI
        res = self.env.aws("rds", "failover-global-cluster", "--global-cluster-identifier", "gdb",
                           "--target-db-cluster-identifier", secondary, "--switchover")
        self.assertEqual(res.rc, 0, res.stderr)
        self.assertEqual(res.json["GlobalCluster"]["GlobalClusterMembers"][1]["IsWriter"], True)

    def test_move_errors(self):
        primary, secondary = self.make_global()
        cases = [
            (dict(GlobalClusterIdentifier="gdb", TargetDbClusterIdentifier=primary), "InvalidGlobalClusterStateFault"),
            (dict(GlobalClusterIdentifier="nope", TargetDbClusterIdentifier=secondary), "GlobalClusterNotFoundFault"),
            (dict(GlobalClusterIdentifier="gdb", TargetDbClusterIdentifier="arn:aws:rds:us-west-2:123456789012:cluster:x"),
             "DBClusterNotFoundFault"),
            (dict(GlobalClusterIdentifier="gdb", TargetDbClusterIdentifier=secondary, AllowDataLoss=True,
                  Switchover=True), "InvalidParameterCombination"),
        ]
        for kwargs, code in cases:
            with self.subTest(code=code):
                with self.assertRaises(botocore.exceptions.ClientError) as cm:
                    self.rds.failover_global_cluster(**kwargs)
                self.assertEqual(cm.exception.response["Error"]["Code"], code)

    def test_no_cross_region_replica_for_aurora_postgresql(self):
        primary = make_primary(self.rds)
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.rds_dr.create_db_cluster(DBClusterIdentifier="app-replica", Engine="aurora-postgresql",
                                          ReplicationSourceIdentifier=primary)
        err = cm.exception.response["Error"]
        self.assertEqual((cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], err["Code"]),
                         (400, "InvalidParameterCombination"))
        self.assertIn("global database", err["Message"])
        self.assertEqual(self.rds_dr.describe_db_clusters()["DBClusters"], [])

    def test_cross_region_replica_and_promotion_duration(self):
        # Aurora MySQL has cross-Region replica clusters
        primary = make_primary(self.rds, engine="aurora-mysql", version="8.0.mysql_aurora.3.05.2")
        # no MasterUsername: AWS takes it from the source; moto alone would refuse
        c = self.rds_dr.create_db_cluster(DBClusterIdentifier="app-replica", Engine="aurora-mysql",
                                          ReplicationSourceIdentifier=primary)["DBCluster"]
        self.assertShape(self.raw_dr, "CreateDBCluster")
        self.assertEqual((c["ReplicationSourceIdentifier"], c["EngineVersion"], c["MasterUsername"]),
                         (primary, "8.0.mysql_aurora.3.05.2", "postgres"))
        self.env.set_duration("PromoteReadReplicaDBCluster", DURATION)
        t0 = time.monotonic()
        out = self.rds_dr.promote_read_replica_db_cluster(DBClusterIdentifier="app-replica")["DBCluster"]
        self.assertShape(self.raw_dr, "PromoteReadReplicaDBCluster")
        self.assertEqual(out["Status"], "promoting")
        d = self.rds_dr.describe_db_clusters(DBClusterIdentifier="app-replica")["DBClusters"][0]
        self.assertShape(self.raw_dr, "DescribeDBClusters")
        self.assertEqual(d["Status"], "promoting")
        res = self.env.aws("rds", "describe-db-clusters", "--db-cluster-identifier", "app-replica", region=DR)
        self.assertEqual(res.rc, 0, res.stderr)
        self.assertEqual(res.json["DBClusters"][0]["Status"], "promoting")
        self.rds_dr.get_waiter("db_cluster_available").wait(DBClusterIdentifier="app-replica",
                                                           WaiterConfig={"Delay": 0.25, "MaxAttempts": 120})
        self.assertGreaterEqual(time.monotonic() - t0, DURATION)
        d = self.rds_dr.describe_db_clusters(DBClusterIdentifier="app-replica")["DBClusters"][0]
        self.assertNotIn("ReplicationSourceIdentifier", d)

    def test_creating_duration(self):
        self.env.set_duration("CreateDBCluster", DURATION)
        t0 = time.monotonic()
        make_primary(self.rds, "slow")

        def status():
            return self.rds.describe_db_clusters(DBClusterIdentifier="slow")["DBClusters"][0]["Status"]
        self.assertEqual(status(), "creating")
        drtest.wait_for(lambda: status() == "available")
        self.assertGreaterEqual(time.monotonic() - t0, DURATION)


if __name__ == "__main__":
    unittest.main(verbosity=2)
