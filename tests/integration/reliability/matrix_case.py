"""matrix_case.py: the assertions every cell of the fault matrix must pass, shared by the transient and persistent suites."""
import os
import sys
import unittest

import matrix
import reltest

DATA = ("dynamodb", "s3", "aurora")  # route53 moves traffic only after these


class MatrixCase(reltest.drtest.EnvTestCase):
    types = ["dynamodb", "s3", "backup", "route53"] + (["aurora"] if reltest.with_aurora() else [])

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if "aurora" not in cls.types:
            print("\n" + reltest.AURORA_NOTE, flush=True)
        cls.m = matrix.Matrix(cls.env, cls.types)

    @classmethod
    def tearDownClass(cls):
        rows = cls.m.summary()
        print(f"\n{cls.__name__}: {len(rows)} cells", file=sys.stderr)
        for r in rows:
            print("  {fault:22} {command:18} rc={rc} {seconds:6.2f}s calls={calls:3} attempts={attempts:3} "
                  "max/call={max_attempts_per_call} faulted={faulted_requests}".format(**r), file=sys.stderr)
        matrix.dump(cls.m.cells, os.environ.get("DR_MATRIX_OUT"))
        super().tearDownClass()

    def setUp(self):
        pass  # each cell resets the environment itself

    def check_common(self, cell):
        """What holds in every cell: deadline, a report, the retry budget per call and the quota per region."""
        where = f"[{cell.fault} / {cell.command}]"
        self.assertLessEqual(cell.seconds, matrix.DEADLINE, f"{where} the run overran its deadline")
        self.assertIsNotNone(cell.report, f"{where} no JSON report: rc={cell.rc} {cell.stderr[-800:]}")
        self.assertGreater(cell.calls, 0, where)
        self.assertLessEqual(cell.max_attempts, matrix.MAX_ATTEMPTS,
                             f"{where} a call made more than {matrix.MAX_ATTEMPTS} attempts on the wire")
        for region, n in cell.retries_by_region.items():
            self.assertLessEqual(n, matrix.QUOTA_RETRIES, f"{where} {n} retries in {region}: over the retry quota")
        self.assertNotIn("Traceback", cell.stderr)
        if "verify" in cell.command:
            self.assertIn(cell.rc, (0, 1, 2, 3), where)
        else:
            self.assertIn(cell.rc, (0, 1), where)
