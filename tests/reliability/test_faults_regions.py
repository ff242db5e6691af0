#!/usr/bin/env python3
"""test_faults_regions.py: a region that goes away for the whole run (every regional service and its database
unreachable, or hanging) and the primary's database alone, for verify, failover and failback in both modes: each run
ends within its deadline, verify never says OK for what it could not check, a graceful switch that needs the region
being left refuses, and a forced failover completes with the primary region gone, making one bounded attempt per call
there and one connection attempt to its database."""
import unittest

from matrix_case import FB, FBF, FO, FOF, PersistentCase

ALL_DATA = {"dynamodb", "s3"}
AU = {"aurora"}


class RegionFaults(PersistentCase):
    # Why, per row:
    EXPECT_FAILED = {
        # the primary's database cannot be reached: a graceful failover cannot fence it and refuses; forced goes on
        # after one bounded attempt; a failback needs it to replicate back and to take writes
        "primary data plane unreachable": {FO: AU, FOF: set(), FB: AU, FBF: AU},
        # the region being left is gone: graceful needs it and fails; forced completes without it
        "primary unreachable": {FO: ALL_DATA | AU, FOF: set(), FB: ALL_DATA | {"backup"} | AU,
                                FBF: ALL_DATA | {"backup"} | AU},
        "primary hangs": {FO: ALL_DATA | AU, FOF: set(), FB: ALL_DATA | {"backup"} | AU,
                          FBF: ALL_DATA | {"backup"} | AU},
        # the region to serve from is gone: nothing can move there, whatever the mode; Aurora cannot fail back
        # either, since the primary's new cluster must replicate from the DR cluster first
        "dr unreachable": {FO: ALL_DATA | {"backup"} | AU, FOF: ALL_DATA | {"backup"} | AU, FB: ALL_DATA | AU,
                           FBF: AU},
    }

    def test_primary_data_plane_unreachable(self):
        self.run_fault("primary data plane unreachable")

    def test_primary_unreachable(self):
        self.run_fault("primary unreachable")

    def test_primary_hangs(self):
        self.run_fault("primary hangs")

    def test_dr_unreachable(self):
        self.run_fault("dr unreachable")


if __name__ == "__main__":
    unittest.main(verbosity=2)
