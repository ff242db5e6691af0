#!/usr/bin/env python3
"""Writes lost in a forced failover: the old primary of the global database, cut off with its Region, takes writes
during the split; Aurora keeps a snapshot of it and rebuilds it once the Region is back. The failback must name
those writes (WAL range and bytes, write transactions), where they are kept, and give no RPO figure."""
import os
import re
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "plugins", "aurora"))
import reltest  # noqa: E402
from aurora_env import (CLUSTER, PRIMARY, AuroraTestCase, checks_of, resource_of)  # noqa: E402

SPLIT_ROWS = 10
SNAPSHOT = re.compile(r"rds:unplanned-global-failover-" + re.escape(CLUSTER) + r"-\d{4}-\d\d-\d\d-\d\d-\d\d")


class LostWrites(AuroraTestCase):
    def setUp(self):
        super().setUp()
        self.relay = reltest.Relay(self.env.environ["DR_TEST_PG_PRIMARY_PORT"])  # the agent's way to node a
        self.conf = self.write_conf(pg_primary_port=str(self.relay.port))

    def tearDown(self):
        self.relay.close()
        self.env.control("DELETE", "/durations")
        super().tearDown()

    def split(self):
        """Configure, fail over (forced) with the primary Region cut, then write SPLIT_ROWS rows on the isolated
        old primary, one transaction each (an application that never learnt of the failover)."""
        self.configure()
        self.write_rows("a", 1, 100, "east")
        self.wait_row("b", 100)
        self.put_lag(800, age_s=2)
        self.env.add_fault(region=PRIMARY, action="unreachable")
        self.relay.set("unreachable")
        rep = self.agent_json("failover", "--yes", "--mode", "forced", expect=0)
        self.assertEqual(resource_of(rep)["rpo_observed_seconds"], 0.8)
        for i in range(SPLIT_ROWS):
            self.write_rows("a", 5000 + i, 1, "split")
        self.assertEqual(self.rows("a", "region = 'split'"), SPLIT_ROWS)
        self.assertEqual(self.rows("b", "region = 'split'"), 0)
        self.write_rows("b", 9000, 2, "west")  # the new writer takes writes too

    def region_back(self):
        self.env.clear_faults()
        self.relay.set("pass")

    def snapshot_of_old_primary(self):
        snaps = self.env.client("rds", PRIMARY).describe_db_cluster_snapshots(
            DBClusterIdentifier=CLUSTER, SnapshotType="automated")["DBClusterSnapshots"]
        names = [s["DBClusterSnapshotIdentifier"] for s in snaps if SNAPSHOT.fullmatch(s["DBClusterSnapshotIdentifier"])]
        self.assertEqual(len(names), 1, snaps)
        kept = [s for s in self.env.control("GET", "/rds/snapshots")["snapshots"]
                if s["DBClusterSnapshotIdentifier"] == names[0]][0]
        with open(kept["dump"]) as f:
            dump = f.read()
        self.assertEqual(len(re.findall(r"^50\d\d\tsplit\t", dump, re.M)), SPLIT_ROWS,
                         "the split's rows are not in the old primary's kept copy")
        return names[0]

    def assert_failed_back(self):
        self.assertEqual(self.writer_arn(), self.arn(PRIMARY, CLUSTER))
        self.assertEqual(self.rows("a", "region = 'split'"), 0)  # rebuilt from the new writer: not in the database
        self.assertEqual(self.rows("a", "region = 'west'"), 2)

    def test_measured_before_the_rebuild(self):
        self.split()
        # the Region is back, but Aurora starts rebuilding the old primary only a few seconds later
        self.env.set_duration("GlobalClusterRebuild", 6)
        self.region_back()
        t0 = time.monotonic()
        rep = self.agent_json("failback", "--yes", expect=0)
        self.assertGreater(time.monotonic() - t0, 5, "the failback did not wait for the rebuild")
        c = checks_of(rep)["divergent_writes"]
        self.assertEqual(c["status"], "WARNING", c)
        self.assertGreater(c["observed"], 0)
        detail = c["detail"]
        print(f"\n  divergent_writes: {c['status']} {c['observed']} bytes: {detail}", flush=True)
        self.assertRegex(detail, r"\d+ bytes of WAL from [0-9A-F]+/[0-9A-F]+ to [0-9A-F]+/[0-9A-F]+")
        self.assertIn(f"{SPLIT_ROWS} write transactions", detail)
        name = self.snapshot_of_old_primary()
        self.assertIn(f"kept in the DB cluster snapshot {name} in {PRIMARY}", detail)
        self.assertIsNone(resource_of(rep)["rpo_observed_seconds"])  # never 0: unknown
        self.assertIn("aurora.main", rep.get("rpo_unknown_resources", []))
        self.assert_failed_back()

    def test_rebuilt_before_it_could_be_measured(self):
        self.split()
        self.region_back()
        self.wait_connected(self.arn(PRIMARY, CLUSTER))  # Aurora rebuilt it before any failback ran
        rep = self.agent_json("failback", "--yes", expect=0)
        c = checks_of(rep)["divergent_writes"]
        self.assertEqual(c["status"], "UNKNOWN", c)
        print(f"\n  divergent_writes: {c['status']}: {c['detail']}", flush=True)
        name = self.snapshot_of_old_primary()
        self.assertIn("could not be measured", c["detail"])
        self.assertIn(f"kept in the DB cluster snapshot {name}", c["detail"])
        self.assertIsNone(resource_of(rep)["rpo_observed_seconds"])
        self.assertIn("aurora.main", rep.get("rpo_unknown_resources", []))
        self.assert_failed_back()
        # reported once: the next failover/failback cycle starts clean
        rep = self.agent_json("verify")
        self.assertNotIn("divergent_writes", checks_of(rep))


if __name__ == "__main__":
    unittest.main(verbosity=2)
