#!/usr/bin/env python3
"""test_faults_transient.py: faults that pass (throttling, 500, 503, dropped connections, a hang) are absorbed by the
retries of every command, within the retry budget and the deadline."""
import unittest

import matrix
from matrix_case import MatrixCase

# faults that leave a call without any answer (a forced run does not retry those in the region it leaves)
NO_ANSWER = ("drop x2", "hang x1")


class TransientFaults(MatrixCase):
    HOOK_TIMEOUT = matrix.TRANSIENT_HOOK_TIMEOUT  # these runs must succeed: a busy machine is no reason to fail
    def run_fault(self, name):
        faults = matrix.transient_faults()[name]
        for command in matrix.COMMANDS:
            with self.subTest(fault=name, command=command):
                cell = self.m.run_cell(name, faults, command)
                self.check_common(cell)
                where = f"[{name} / {command}]"
                self.assertGreater(cell.faulted, 0, f"{where} no request was faulted")
                self.assertGreater(cell.attempts, cell.calls, f"{where} no call was retried")
                if command == "failback-forced" and name in NO_ANSWER and cell.statuses.get("route53.api") == "failed":
                    # A forced failback presumes the DR region gone: a call there that gets no answer is not retried,
                    # and the traffic alarm lives there. The run fails, says why, and moves nothing else back wrongly.
                    self.assertEqual(cell.rc, 1, f"{where} {cell.statuses}")
                    self.assertRegex(cell.stderr, r"gave no answer|no answer within|region may be gone", where)
                    others = {k: v for k, v in cell.statuses.items() if k != "route53.api"}
                    self.assertLessEqual(set(others.values()), {"done", "unchanged"}, where)
                    continue
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
