#!/usr/bin/env python3
"""test_faults_transient.py: faults that pass (throttling, 500, 503, dropped connections, a hang) are absorbed by the
retries of every command, within the retry budget and the deadline."""
import unittest

import matrix
from matrix_case import MatrixCase


class TransientFaults(MatrixCase):
    def run_fault(self, name):
        faults = matrix.transient_faults()[name]
        for command in matrix.COMMANDS:
            with self.subTest(fault=name, command=command):
                cell = self.m.run_cell(name, faults, command)
                self.check_common(cell)
                where = f"[{name} / {command}]"
                self.assertGreater(cell.faulted, 0, f"{where} no request was faulted")
                self.assertGreater(cell.attempts, cell.calls, f"{where} no call was retried")
                self.assertEqual(cell.rc, 0, f"{where} {cell.statuses} {cell.stderr[-600:]}")
                want = {"OK"} if command == "verify" else {"done", "unchanged"}
                self.assertLessEqual(set(cell.statuses.values()), want, where)

    def test_throttle(self):
        self.run_fault("throttle x2")

    def test_500(self):
        self.run_fault("500 x2")

    def test_503(self):
        self.run_fault("503 x2")

    def test_drop(self):
        self.run_fault("drop x2")

    def test_hang(self):
        self.run_fault("hang x1")


if __name__ == "__main__":
    unittest.main(verbosity=2)
