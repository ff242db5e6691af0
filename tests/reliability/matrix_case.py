"""matrix_case.py: the assertions every cell of the fault matrix must pass, shared by the transient and persistent suites."""
import os
import sys
import unittest

import matrix
import reltest

DATA = ("dynamodb", "s3", "aurora")  # route53 moves traffic only after these


class MatrixCase(reltest.drtest.EnvTestCase):
    needs_pg = True  # the aurora resource's data plane
    HOOK_TIMEOUT = matrix.HOOK_TIMEOUT  # agent.hook_timeout (and prepare_timeout) of the runs

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.m = matrix.Matrix(cls.env, hook_timeout=cls.HOOK_TIMEOUT)

    @classmethod
    def tearDownClass(cls):
        cls.m.close()
        rows = cls.m.summary()
        print(f"\n{cls.__name__}: {len(rows)} cells", file=sys.stderr)
        for r in rows:
            print("  {fault:30} {command:18} rc={rc} {seconds:6.2f}s calls={calls:3} attempts={attempts:3} "
                  "max/call={max_attempts_per_call} faulted={faulted_requests} pg={pg_connections}".format(**r),
                  file=sys.stderr)
        matrix.dump(cls.m.cells, os.environ.get("DR_MATRIX_OUT"))
        super().tearDownClass()

    def setUp(self):
        pass  # each cell resets the environment itself

    def check_common(self, cell):
        """What holds in every cell: deadline, a report, the retry budget per call and the quota per region."""
        where = f"[{cell.fault} / {cell.command}]"
        self.assertLessEqual(cell.seconds, self.m.deadline, f"{where} the run overran its deadline")
        self.assertIsNotNone(cell.report, f"{where} no JSON report: rc={cell.rc} {cell.stderr[-800:]}")
        self.assertGreater(cell.calls, 0, where)
        self.assertLessEqual(cell.max_attempts, matrix.MAX_ATTEMPTS,
                             f"{where} a call made more than {matrix.MAX_ATTEMPTS} attempts on the wire")
        for region, n in cell.retries_by_region.items():
            self.assertLessEqual(n, matrix.QUOTA_RETRIES, f"{where} {n} retries in {region}: over the retry quota")
        self.assertNotIn("Traceback", cell.stderr)
        # whatever failed, some database still takes writes: no run leaves the application without a writer
        self.assertTrue(cell.writable, f"{where} neither PostgreSQL node takes writes after the run: rc={cell.rc} "
                                       f"{cell.statuses} {cell.stderr[-1500:]}")
        if "verify" in cell.command:
            self.assertIn(cell.rc, (0, 1, 2, 3), where)
            changing = [op for op in cell.operations if not matrix.READ_ONLY.match(op)]
            self.assertEqual(changing, [], f"{where} verify is read-only")
        else:
            self.assertIn(cell.rc, (0, 1), where)


FO, FOF, FB, FBF = "failover-graceful", "failover-forced", "failback", "failback-forced"


class PersistentCase(MatrixCase):
    """A persistent fault x every command. EXPECT_FAILED (of the test class): fault -> command -> the resource types
    that must be `failed` (the others done or unchanged; route53 skipped when a data resource it depends on failed)."""
    EXPECT_FAILED = {}

    def run_fault(self, name):
        fault = matrix.persistent_faults()[name]
        pg_faulted = {f["region"] for f in fault.faults if f["service"] == "pg"}
        for command in matrix.COMMANDS:
            with self.subTest(fault=name, command=command):
                cell = self.m.run_cell(name, fault.faults, command)
                self.check_common(cell)
                where = f"[{name} / {command}]"
                met = cell.faulted + sum(cell.pg_connections[r] for r in pg_faulted)
                if command in fault.untouched:
                    self.assertEqual(met, 0, f"{where} a request met the fault")
                else:
                    self.assertGreater(met, 0, f"{where} nothing met the fault")
                if command == "verify":
                    self.check_verify(cell, fault.services, fault.region, where)
                else:
                    self.check_action(cell, self.EXPECT_FAILED[name][command], where)
                left = reltest.P if command == FOF else reltest.D
                if command in (FOF, FBF) and fault.gone and fault.region == left:
                    # the region being left is gone: one bounded attempt per call there
                    self.assertLessEqual(cell.left_region_max_attempts, 1,
                                         f"{where} a call into the region being left was retried")
                if command == FOF and reltest.P in pg_faulted:
                    # and one bounded attempt at its database (to fence it and compare WAL positions)
                    self.assertEqual(cell.pg_connections[reltest.P], 1,
                                     f"{where} {cell.pg_connections[reltest.P]} connections to the primary's database")

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
                    self.assertNotRegex(c.get("detail") or "",
                                        r"Connection reset|no answer within|HTTP 5\d\d|Throttl|cannot connect",
                                        f"{where} {r['id']} {c['name']} OK with an error")

    def check_action(self, cell, failed_types, where):
        failed_data = any(t in DATA for t in failed_types)
        if (cell.report or {}).get("switch", {}).get("outcome") == "not ready":
            # the fault was met in the prepare phase: nothing was committed, nothing changed
            self.assertTrue(failed_types, f"{where} stopped in prepare without an expected failure")
            for r in cell.report["resources"]:
                ptype = r["id"].split(".", 1)[0]
                self.assertEqual([c for c in r["changes"] if c["done"]], [], f"{where} {r['id']} changed in prepare")
                if ptype not in failed_types:
                    self.assertEqual(r["status"], "unchanged", f"{where} {r['id']} not ready: {r.get('error')}")
            self.assertTrue(any(cell.statuses[rid] == "failed" for rid in cell.statuses
                                if rid.split(".", 1)[0] in failed_types), f"{where} {cell.statuses}")
            self.assertEqual(cell.rc, 1, f"{where} {cell.statuses}")
            return
        for rid, status in cell.statuses.items():
            ptype = rid.split(".", 1)[0]
            if ptype in failed_types:
                self.assertEqual(status, "failed", f"{where} {rid}: {status}")
            elif ptype == "route53" and failed_data:
                self.assertEqual(status, "skipped", f"{where} {rid} moved traffic before the data: {status}")
            else:
                self.assertIn(status, ("done", "unchanged"), f"{where} {rid}: {status} {cell.stderr[-600:]}")
        self.assertEqual(cell.rc, 1 if failed_types else 0, f"{where} {cell.statuses}")
