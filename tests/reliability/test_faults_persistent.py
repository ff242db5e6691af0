#!/usr/bin/env python3
"""test_faults_persistent.py: a service that fails for the whole run (throttled, answering 500 or 503, dropping
connections, hanging; Aurora's control plane in either region) for verify, failover and failback in both modes:
each run ends within its deadline, verify never says OK for what it could not check, retries stay within the
budget, and exactly the resources that need the service fail. The regions and databases that go away are in
test_faults_regions.py."""
import unittest

from matrix_case import FB, FBF, FO, FOF, PersistentCase

ALL_DATA = {"dynamodb", "s3"}
AU = {"aurora"}


class PersistentFaults(PersistentCase):
    # Why, per row:
    EXPECT_FAILED = {
        # a service that refuses or drops everything: its resources fail, in both modes and both directions
        "throttle dynamodb": {FO: {"dynamodb"}, FOF: {"dynamodb"}, FB: {"dynamodb"}, FBF: {"dynamodb"}},
        "500 s3": {FO: {"s3"}, FOF: {"s3"}, FB: {"s3"}, FBF: {"s3"}},
        "503 backup": {FO: {"backup"}, FOF: {"backup"}, FB: {"backup"}, FBF: {"backup"}},
        # the reference estate fails over by its traffic alarm (CloudWatch in the DR region): no Route 53 API call;
        # failback restores the records and health checks through it
        "drop route53": {FO: set(), FOF: set(), FB: {"route53"}, FBF: {"route53"}},
        # without replication metrics a graceful switch cannot show that no data is lost: it refuses; forced goes
        # on. Aurora proves it on the data plane (fenced, fully replayed) and needs no metric. Route 53 moves traffic
        # through a CloudWatch alarm: it fails whenever it runs (it is skipped after a data resource failed)
        "hang cloudwatch": {FO: ALL_DATA, FOF: {"route53"}, FB: ALL_DATA, FBF: {"route53"}},
        # Aurora's control plane in one region: a failover talks to the DR region only, so the primary's RDS does
        # not stop it; a failback rebuilds a cluster in the primary region and cannot
        "throttle rds primary": {FO: set(), FOF: set(), FB: AU, FBF: AU},
        "500 rds dr": {FO: AU, FOF: AU, FB: AU, FBF: AU},
    }

    def test_throttle_storm(self):
        self.run_fault("throttle dynamodb")

    def test_500(self):
        self.run_fault("500 s3")

    def test_503(self):
        self.run_fault("503 backup")

    def test_dropped_connections(self):
        self.run_fault("drop route53")

    def test_hang(self):
        self.run_fault("hang cloudwatch")

    def test_rds_throttled_in_primary(self):
        self.run_fault("throttle rds primary")

    def test_rds_500_in_dr(self):
        self.run_fault("500 rds dr")


if __name__ == "__main__":
    unittest.main(verbosity=2)
