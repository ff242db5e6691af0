#!/usr/bin/env python3
"""test_backup_diagnose.py: `dr-agent diagnose` of the backup plugin: failed backup and copy jobs, their messages and fixes."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_backup  # noqa: E402
from test_backup import CLUSTER, DR_VAULT_ARN, RID, VAULT, checks  # noqa: E402


class BackupDiagnose(test_backup.BackupPlugin):
    def test_healthy_estate_has_no_finding(self):
        self.estate()
        self.env.clear_requests()
        res = self.agent("diagnose", RID)
        self.assertEqual(res.rc, 0, res)
        got = checks(res)
        self.assertEqual(set(got), {"failed_backup_jobs", "failed_copy_jobs"})
        self.assertEqual({c["status"] for c in got.values()}, {"OK"}, got)
        ops = sorted({r["operation"] for r in self.backup_requests()})
        self.assertEqual(ops, ["ListBackupJobs", "ListCopyJobs"])

    def test_failed_backup_and_copy_jobs_are_listed_with_their_messages(self):
        self.estate()
        job = self.env.add_backup_job(vault=VAULT, resource_arn=CLUSTER, age_hours=3, state="FAILED",
                                      status_message="Insufficient privileges to perform this action.")
        copy = self.env.add_backup_job(type="copy", source_vault=VAULT, destination_vault_arn=DR_VAULT_ARN,
                                       resource_arn=CLUSTER, age_hours=1, state="FAILED",
                                       status_message="Access denied to KMS key arn:aws:kms:us-west-2:123456789012:key/x")
        # an old failure, outside job_lookback (24h), and another vault's: not this plan's evidence
        self.env.add_backup_job(vault=VAULT, resource_arn=CLUSTER, age_hours=30, state="FAILED",
                                status_message="old")
        self.env.add_backup_job(vault="other-vault", resource_arn=CLUSTER, age_hours=2, state="FAILED",
                                status_message="elsewhere")
        res = self.agent("diagnose", RID)
        self.assertEqual(res.rc, 2, res)
        got = checks(res)
        b, c = got["failed_backup_jobs"], got["failed_copy_jobs"]
        self.assertEqual((b["status"], b["observed"]), ("CRITICAL", 1), b)
        self.assertIn(job["BackupJobId"], b["detail"])
        self.assertIn("Insufficient privileges to perform this action.", b["detail"])
        self.assertIn("AWSBackupServiceRolePolicyForBackup", b["detail"])
        self.assertNotIn("old", b["detail"])
        self.assertNotIn("elsewhere", b["detail"])
        self.assertEqual((c["status"], c["observed"]), ("CRITICAL", 1), c)
        self.assertIn(copy["CopyJobId"], c["detail"])
        self.assertIn("KMS key of the destination vault", c["detail"])
        text = self.agent("diagnose", RID, fmt=False)
        print("\n--- dr-agent diagnose (text) ---\n" + text.stdout)
        self.assertIn("CRITICAL failed_backup_jobs: 1", text.stdout)
        ver = self.agent("verify")
        self.assertEqual(resource_see(ver), f"dr-agent diagnose {RID}")


def resource_see(res):
    return next(r for r in res.json["resources"] if r["id"] == RID).get("see")


def load_tests(loader, tests, pattern):
    """Only this file's tests, not those it inherits from the plugin's test case."""
    names = sorted(n for n in BackupDiagnose.__dict__ if n.startswith("test_"))
    return unittest.TestSuite(BackupDiagnose(n) for n in names)


if __name__ == "__main__":
    unittest.main(verbosity=2)
