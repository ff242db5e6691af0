#!/usr/bin/env python3
"""test_faults_persistent.py: faults that last (a throttled, failing, dropping or hanging service; a whole region
unreachable or hanging) for verify, failover and failback in both modes: each run ends within its deadline, verify
never says OK for what it could not check, retries stay within the budget, a forced failover completes with the
primary region gone and makes one bounded attempt per call there."""
import unittest

import matrix
import reltest
from matrix_case import DATA, MatrixCase

FO, FOF, FB, FBF = "failover-graceful", "failover-forced", "failback", "failback-forced"
ALL_DATA = {"dynamodb", "s3"}
# The resource types each mutating cell must report `failed` (the others done or unchanged; route53 skipped when a
# data resource it depends on failed). Why, per row:
EXPECT_FAILED = {
    # a service that refuses or drops everything: its resources fail, in both modes and both directions
    "throttle dynamodb": {FO: {"dynamodb"}, FOF: {"dynamodb"}, FB: {"dynamodb"}, FBF: {"dynamodb"}},
    "500 s3": {FO: {"s3"}, FOF: {"s3"}, FB: {"s3"}, FBF: {"s3"}},
    "503 backup": {FO: {"backup"}, FOF: {"backup"}, FB: {"backup"}, FBF: {"backup"}},
    "drop route53": {FO: {"route53"}, FOF: {"route53"}, FB: {"route53"}, FBF: {"route53"}},
    # without replication metrics a graceful switch cannot show that no data is lost: it refuses; forced goes on
    "hang cloudwatch": {FO: ALL_DATA, FOF: set(), FB: ALL_DATA, FBF: set()},
    # the region being left is gone: graceful needs it and fails; forced completes without it
    "primary unreachable": {FO: ALL_DATA, FOF: set(), FB: ALL_DATA | {"backup"}, FBF: ALL_DATA | {"backup"}},
    "primary hangs": {FO: ALL_DATA, FOF: set(), FB: ALL_DATA | {"backup"}, FBF: ALL_DATA | {"backup"}},
    # the region to serve from is gone: nothing can move there, whatever the mode
    "dr unreachable": {FO: ALL_DATA | {"backup"}, FOF: ALL_DATA | {"backup"}, FB: ALL_DATA, FBF: set()},
}


class PersistentFaults(MatrixCase):
    def run_fault(self, name):
        faults, services, region = matrix.persistent_faults()[name]
        for command in matrix.COMMANDS:
            with self.subTest(fault=name, command=command):
                cell = self.m.run_cell(name, faults, command)
                self.check_common(cell)
                where = f"[{name} / {command}]"
                self.assertGreater(cell.faulted, 0, f"{where} no request was faulted")
                if command == "verify":
                    self.check_verify(cell, services, region, where)
                else:
                    self.check_action(cell, EXPECT_FAILED[name][command], where)
                if command in (FOF, FBF) and region == (reltest.P if command == FOF else reltest.D):
                    # the region being left is gone: one bounded attempt per call there
                    self.assertLessEqual(cell.left_region_max_attempts, 1,
                                         f"{where} a call into the region being left was retried")

    def check_verify(self, cell, services, region, where):
        self.assertIn(cell.rc, (2, 3), f"{where} verify exit code {cell.rc} with a service down")
        for rid, status in cell.statuses.items():
            if matrix.affected(rid, services, region):
                self.assertIn(status, ("UNKNOWN", "CRITICAL"), f"{where} {rid} is {status} without its service")
            else:
                self.assertEqual(status, "OK", f"{where} {rid} was not reached by the fault")
        # check by check: what names the faulted service's error is never OK
        for r in cell.report["resources"]:
            for c in r["checks"]:
                if c["status"] == "OK":
                    self.assertNotRegex(c.get("detail") or "", r"Connection reset|no answer within|HTTP 5\\d\\d|Throttl",
                                        f"{where} {r['id']} {c['name']} OK with an error")

    def check_action(self, cell, failed_types, where):
        failed_data = any(t in DATA for t in failed_types)
        for rid, status in cell.statuses.items():
            ptype = rid.split(".", 1)[0]
            if ptype in failed_types:
                self.assertEqual(status, "failed", f"{where} {rid}: {status}")
            elif ptype == "route53" and failed_data:
                self.assertEqual(status, "skipped", f"{where} {rid} moved traffic before the data: {status}")
            else:
                self.assertIn(status, ("done", "unchanged"), f"{where} {rid}: {status} {cell.stderr[-600:]}")
        self.assertEqual(cell.rc, 1 if failed_types else 0, f"{where} {cell.statuses}")

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

    def test_primary_unreachable(self):
        self.run_fault("primary unreachable")

    def test_primary_hangs(self):
        self.run_fault("primary hangs")

    def test_dr_unreachable(self):
        self.run_fault("dr unreachable")


if __name__ == "__main__":
    unittest.main(verbosity=2)
