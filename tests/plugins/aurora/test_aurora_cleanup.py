#!/usr/bin/env python3
"""aurora plugin: retired clusters (<id>-retired-<UTC stamp>) are warned about by verify once older than
retired_retention and deleted by `dr-agent cleanup` (planned first, confirmed, final snapshot kept)."""
import datetime
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from aurora_env import AuroraTestCase, CLUSTER, DR, DR_CLUSTER, PRIMARY, checks_of, resource_of  # noqa: E402

OLD_P = CLUSTER + "-retired-20240101020304"       # primary region, long retired
OLD_R = DR_CLUSTER + "-retired-20240102030405"    # DR region, long retired
STAMP = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d%H%M%S")
YOUNG = CLUSTER + "-retired-" + STAMP             # retired just now: kept
OTHER = "someone-else-retired-20240101020304"     # not ours: never touched


class AuroraCleanup(AuroraTestCase):
    def make_cluster(self, region, ident, klass):
        rds = self.env.client("rds", region)
        rds.create_db_cluster(DBClusterIdentifier=ident, Engine="aurora-postgresql", EngineVersion="15.4",
                              MasterUsername="postgres", MasterUserPassword="seed-only-not-a-secret")
        if klass:
            rds.create_db_instance(DBInstanceIdentifier=ident[:50] + "-i1", DBClusterIdentifier=ident,
                                   Engine="aurora-postgresql", DBInstanceClass=klass)

    def test_verify_warns_and_cleanup_deletes_after_confirmation(self):
        self.configure()
        rep = self.verify(expect=0)
        self.assertEqual(checks_of(rep)["retired_clusters"]["status"], "OK")
        self.make_cluster(PRIMARY, OLD_P, "db.r6g.2xlarge")
        self.make_cluster(DR, OLD_R, "db.serverless")
        self.make_cluster(PRIMARY, YOUNG, None)
        self.make_cluster(PRIMARY, OTHER, None)

        # verify: WARNING, naming each old one with its age and monthly cost class
        rep = self.verify(expect=1)
        ck = checks_of(rep)["retired_clusters"]
        self.assertEqual((ck["status"], ck["observed"], ck["threshold"]), ("WARNING", "2", "0"), ck)
        self.assertIn(f"{OLD_P} in {PRIMARY}, retired ", ck["detail"])
        self.assertIn("monthly cost class high", ck["detail"])
        self.assertIn(f"{OLD_R} in {DR}", ck["detail"])
        self.assertIn("monthly cost class serverless", ck["detail"])
        self.assertNotIn(YOUNG, ck["detail"])
        self.assertNotIn(OTHER, ck["detail"])
        self.assertIn("dr-agent cleanup", ck["detail"])

        # the plan: exit 2, the two old ones, nothing deleted
        before = self.rds_snapshot()
        r = self.run_agent("cleanup", "--plan")
        self.assertEqual(r.rc, 2, r.stdout + r.stderr)
        self.assertIn(f"plan     delete retired cluster {OLD_P} ({PRIMARY})", r.stdout)
        self.assertIn(f"plan     delete retired cluster {OLD_R} ({DR})", r.stdout)
        self.assertIn("Plan: 0 to add, 0 to change, 2 to destroy.", r.stdout)
        self.assertNotIn(YOUNG, r.stdout)
        # without a terminal and without --yes: refused after the plan, nothing deleted
        r = self.run_agent("cleanup")
        self.assertEqual(r.rc, 64, r.stdout + r.stderr)
        self.assertIn("pass --yes", r.stderr)
        self.assertEqual(self.rds_snapshot(), before)

        rep = self.agent_json("cleanup", "--yes", expect=0)
        done = [(c["action"], c["target"], c["done"]) for c in resource_of(rep)["changes"]]
        self.assertEqual(sorted(done), sorted([("delete retired cluster", f"{OLD_P} ({PRIMARY})", True),
                                               ("delete retired cluster", f"{OLD_R} ({DR})", True)]))
        self.assertIsNone(self.cluster(PRIMARY, OLD_P))
        self.assertIsNone(self.cluster(DR, OLD_R))
        self.assertIsNotNone(self.cluster(PRIMARY, YOUNG))
        self.assertIsNotNone(self.cluster(PRIMARY, OTHER))
        self.assertIsNotNone(self.cluster(PRIMARY, CLUSTER))
        self.assertIsNotNone(self.cluster(DR, DR_CLUSTER))
        snaps = {s["DBClusterSnapshotIdentifier"] for s in
                 self.env.client("rds", PRIMARY).describe_db_cluster_snapshots()["DBClusterSnapshots"]}
        self.assertIn(OLD_P + "-final", snaps)
        # nothing left to do; verify is OK again
        r = self.run_agent("cleanup", "--plan")
        self.assertEqual(r.rc, 0, r.stdout + r.stderr)
        self.assertIn("Plan: 0 to add, 0 to change, 0 to destroy.", r.stdout)
        self.put_lag(200.0)
        rep = self.verify(expect=0)
        self.assertEqual(checks_of(rep)["retired_clusters"]["observed"], "0")

    def test_retention_from_the_config(self):
        self.configure()
        self.make_cluster(PRIMARY, OLD_P, None)
        self.conf = self.write_conf(extra='retired_retention = "3650d";')
        r = self.run_agent("cleanup", "--plan")
        self.assertEqual(r.rc, 0, r.stdout + r.stderr)
        self.assertNotIn(OLD_P, r.stdout)
        self.conf = self.write_conf(extra='retired_retention = "1d";')
        r = self.run_agent("cleanup", "--plan")
        self.assertEqual(r.rc, 2, r.stdout + r.stderr)
        self.assertIn(OLD_P, r.stdout)


class AuroraWording(AuroraTestCase):
    """What the messages tell an operator in the states that are easy to get wrong."""

    def test_fenced_dr_side_is_not_called_split_brain(self):
        self.configure()
        self.verify(expect=0)
        self.pair.promote("b")
        self.superuser("b", "ALTER SYSTEM SET default_transaction_read_only = on; SELECT pg_reload_conf();")
        c = checks_of(self.verify(expect=2))["dp_dr_read_only"]
        self.assertEqual(c["status"], "CRITICAL")
        self.assertIn("fenced (read-only): no second writer, not a split brain", c["detail"])
        self.assertIn("does not receive the primary's writes", c["detail"])
        self.assertNotIn("split brain,", c["detail"])
        # unfenced, both sides write: now it is a split brain
        self.superuser("b", "ALTER SYSTEM RESET default_transaction_read_only; SELECT pg_reload_conf();")
        c = checks_of(self.verify(expect=2))["dp_dr_read_only"]
        self.assertIn("both sides accept writes: split brain", c["detail"])

    def test_configure_after_a_single_resource_failover_points_to_failback(self):
        self.configure()
        self.clear_automated_snapshots()
        self.agent_json("failover", "--yes", "--resource", "aurora.main", expect=0)
        r = self.run_agent("configure", "--plan")
        self.assertEqual(r.rc, 0, r.stdout + r.stderr)
        text = r.stdout + r.stderr
        self.assertNotIn("rename or delete it", text)
        self.assertIn("the DR region serves: nothing to configure until failback", text)
        self.assertIn("0 to add, 0 to change, 0 to destroy", text)
        self.assertIsNotNone(self.cluster(DR, DR_CLUSTER))

if __name__ == "__main__":
    unittest.main(verbosity=2)
