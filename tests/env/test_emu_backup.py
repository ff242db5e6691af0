#!/usr/bin/env python3
"""Fidelity of the AWS Backup emulation (selections, recovery points, jobs, copies): boto3, aws CLI, model."""
import datetime
import os
import sys
import unittest

import botocore.exceptions

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import drtest  # noqa: E402
import modelcheck  # noqa: E402

# long enough that a slow aws CLI start on a loaded machine still lands inside the emulated wait
DURATION = 10

P, DR = drtest.PRIMARY, drtest.DR
VAULT = "roadcall-backup-vault-prod"
CLUSTER = "arn:aws:rds:us-east-1:123456789012:cluster:roadcall-aurora-prod"


class Backup(drtest.EnvTestCase):
    def setUp(self):
        super().setUp()
        self.bk = self.env.client("backup", P)
        self.raw = drtest.RawLog(self.bk)
        self.bk.create_backup_vault(BackupVaultName=VAULT)
        self.env.client("backup", DR).create_backup_vault(BackupVaultName=VAULT + "-dr")
        self.env.client("iam", P).create_role(RoleName="backup", AssumeRolePolicyDocument="{}")

    def assertShape(self, op):
        self.assertEqual(modelcheck.check("backup", op, self.raw.last(op)), [])

    def test_selections(self):
        plan = self.bk.create_backup_plan(BackupPlan={"BackupPlanName": "p", "Rules": [{
            "RuleName": "daily", "TargetBackupVaultName": VAULT, "ScheduleExpression": "cron(0 2 * * ? *)"}]})
        pid = plan["BackupPlanId"]
        sel = {"SelectionName": "aurora", "IamRoleArn": "arn:aws:iam::123456789012:role/backup",
               "Resources": [CLUSTER]}
        out = self.bk.create_backup_selection(BackupPlanId=pid, BackupSelection=sel, CreatorRequestId="r1")
        self.assertShape("CreateBackupSelection")
        got = self.bk.get_backup_selection(BackupPlanId=pid, SelectionId=out["SelectionId"])
        self.assertShape("GetBackupSelection")
        self.assertEqual(got["BackupSelection"], sel)
        lst = self.bk.list_backup_selections(BackupPlanId=pid)["BackupSelectionsList"]
        self.assertShape("ListBackupSelections")
        self.assertEqual([s["SelectionName"] for s in lst], ["aurora"])
        res = self.env.aws("backup", "list-backup-selections", "--backup-plan-id", pid)
        self.assertEqual(res.rc, 0, res.stderr)
        self.assertEqual(res.json["BackupSelectionsList"][0]["SelectionId"], out["SelectionId"])
        self.bk.delete_backup_selection(BackupPlanId=pid, SelectionId=out["SelectionId"])
        self.assertEqual(self.bk.list_backup_selections(BackupPlanId=pid)["BackupSelectionsList"], [])
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.bk.create_backup_selection(BackupPlanId="no-such-plan", BackupSelection=sel)
        self.assertEqual(cm.exception.response["Error"]["Code"], "ResourceNotFoundException")

    def test_missing_vault_denied_and_selection_role_checked(self):
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.bk.describe_backup_vault(BackupVaultName="nope")
        self.assertEqual(cm.exception.response["Error"]["Code"], "AccessDeniedException")
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 403)
        self.assertEqual(self.bk.describe_backup_vault(BackupVaultName=VAULT)["BackupVaultName"], VAULT)
        self.assertShape("DescribeBackupVault")
        pid = self.bk.create_backup_plan(BackupPlan={"BackupPlanName": "p", "Rules": [{
            "RuleName": "daily", "TargetBackupVaultName": VAULT}]})["BackupPlanId"]
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.bk.create_backup_selection(BackupPlanId=pid, BackupSelection={
                "SelectionName": "s", "Resources": [CLUSTER],
                "IamRoleArn": "arn:aws:iam::123456789012:role/service-role/AWSBackupDefaultServiceRole"})
        self.assertEqual(cm.exception.response["Error"]["Code"], "InvalidParameterValueException")

    def test_region_settings_and_dynamodb_copies(self):
        s = self.bk.describe_region_settings()
        self.assertShape("DescribeRegionSettings")
        self.assertFalse(s["ResourceTypeManagementPreference"]["DynamoDB"])
        table = "arn:aws:dynamodb:us-east-1:123456789012:table/t"
        rp = self.env.add_recovery_point(vault=VAULT, resource_arn=table)["RecoveryPointArn"]
        dest = f"arn:aws:backup:{DR}:123456789012:backup-vault:{VAULT}-dr"
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.bk.start_copy_job(RecoveryPointArn=rp, SourceBackupVaultName=VAULT, DestinationBackupVaultArn=dest,
                                   IamRoleArn="arn:aws:iam::123456789012:role/backup")
        self.assertEqual(cm.exception.response["Error"]["Code"], "InvalidRequestException")
        self.bk.update_region_settings(ResourceTypeManagementPreference={"DynamoDB": True})
        self.assertTrue(self.bk.describe_region_settings()["ResourceTypeManagementPreference"]["DynamoDB"])
        self.assertFalse(self.env.client("backup", DR).describe_region_settings()
                         ["ResourceTypeManagementPreference"]["DynamoDB"])  # per region
        self.bk.start_copy_job(RecoveryPointArn=rp, SourceBackupVaultName=VAULT, DestinationBackupVaultArn=dest,
                               IamRoleArn="arn:aws:iam::123456789012:role/backup")
        res = self.env.aws("backup", "describe-region-settings")
        self.assertEqual(res.rc, 0, res.stderr)
        self.assertTrue(res.json["ResourceTypeManagementPreference"]["DynamoDB"])

    def test_update_plan(self):
        rules = [{"RuleName": "daily", "TargetBackupVaultName": VAULT, "ScheduleExpression": "cron(0 2 * * ? *)",
                  "Lifecycle": {"DeleteAfterDays": 35}}]
        pid = self.bk.create_backup_plan(BackupPlan={"BackupPlanName": "p", "Rules": rules})["BackupPlanId"]
        before = self.bk.get_backup_plan(BackupPlanId=pid)
        rules[0]["Lifecycle"] = {"DeleteAfterDays": 30}
        rules.append({"RuleName": "monthly", "TargetBackupVaultName": VAULT, "ScheduleExpression": "cron(0 4 1 * ? *)",
                      "CopyActions": [{"DestinationBackupVaultArn": f"arn:aws:backup:{DR}:123456789012:backup-vault:x"}]})
        out = self.bk.update_backup_plan(BackupPlanId=pid, BackupPlan={"BackupPlanName": "p", "Rules": rules})
        self.assertShape("UpdateBackupPlan")
        self.assertEqual(out["BackupPlanId"], pid)
        self.assertNotEqual(out["VersionId"], before["VersionId"])
        after = self.bk.get_backup_plan(BackupPlanId=pid)
        self.assertShape("GetBackupPlan")
        self.assertEqual(after["VersionId"], out["VersionId"])
        got = {r["RuleName"]: r for r in after["BackupPlan"]["Rules"]}
        self.assertEqual(got["daily"]["Lifecycle"], {"DeleteAfterDays": 30})
        self.assertEqual(got["daily"]["RuleId"], before["BackupPlan"]["Rules"][0]["RuleId"])  # kept
        self.assertEqual(got["monthly"]["CopyActions"][0]["DestinationBackupVaultArn"],
                         f"arn:aws:backup:{DR}:123456789012:backup-vault:x")
        self.assertEqual(got["monthly"]["StartWindowMinutes"], 480)
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.bk.update_backup_plan(BackupPlanId="no-such-plan", BackupPlan={"BackupPlanName": "p", "Rules": rules})
        self.assertEqual(cm.exception.response["Error"]["Code"], "ResourceNotFoundException")
        self.bk.delete_backup_plan(BackupPlanId=pid)
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.bk.update_backup_plan(BackupPlanId=pid, BackupPlan={"BackupPlanName": "p", "Rules": rules})
        self.assertEqual(cm.exception.response["Error"]["Code"], "ResourceNotFoundException")

    def test_recovery_points_with_ages(self):
        fresh = self.env.add_recovery_point(vault=VAULT, resource_arn=CLUSTER, age_hours=2, delete_after_days=35)
        self.env.add_recovery_point(vault=VAULT, resource_arn=CLUSTER, age_hours=30)
        self.env.add_recovery_point(vault=VAULT + "-dr", region=DR, resource_arn=CLUSTER, age_hours=1)
        pts = self.bk.list_recovery_points_by_backup_vault(BackupVaultName=VAULT)["RecoveryPoints"]
        self.assertShape("ListRecoveryPointsByBackupVault")
        self.assertEqual(len(pts), 2)
        age = datetime.datetime.now(datetime.timezone.utc) - pts[0]["CreationDate"]
        self.assertAlmostEqual(age.total_seconds() / 3600, 2, delta=0.1)  # newest first
        self.assertEqual((pts[0]["Status"], pts[0]["ResourceType"]), ("COMPLETED", "Aurora"))
        self.assertTrue(pts[0]["RecoveryPointArn"].startswith("arn:aws:rds:us-east-1:123456789012:cluster-snapshot:awsbackup:"))
        # the guide's check: created in the last 24 hours
        since = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=24)
        recent = self.bk.list_recovery_points_by_backup_vault(BackupVaultName=VAULT, ByCreatedAfter=since)
        self.assertEqual([p["RecoveryPointArn"] for p in recent["RecoveryPoints"]], [fresh["RecoveryPointArn"]])
        res = self.env.aws("backup", "list-recovery-points-by-backup-vault", "--backup-vault-name", VAULT,
                           "--by-created-after", since.strftime("%Y-%m-%dT%H:%M:%S"), "--max-results", "5")
        self.assertEqual(res.rc, 0, res.stderr)
        self.assertEqual(len(res.json["RecoveryPoints"]), 1)
        d = self.bk.describe_recovery_point(BackupVaultName=VAULT, RecoveryPointArn=fresh["RecoveryPointArn"])
        self.assertShape("DescribeRecoveryPoint")
        self.assertEqual(d["Lifecycle"], {"DeleteAfterDays": 35})
        # paging
        page = self.bk.list_recovery_points_by_backup_vault(BackupVaultName=VAULT, MaxResults=1)
        self.assertEqual(len(page["RecoveryPoints"]), 1)
        page2 = self.bk.list_recovery_points_by_backup_vault(BackupVaultName=VAULT, MaxResults=1,
                                                             NextToken=page["NextToken"])
        self.assertNotIn("NextToken", page2)
        self.assertNotEqual(page["RecoveryPoints"][0]["RecoveryPointArn"], page2["RecoveryPoints"][0]["RecoveryPointArn"])
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.bk.list_recovery_points_by_backup_vault(BackupVaultName="nope")
        self.assertEqual(cm.exception.response["Error"]["Code"], "AccessDeniedException")  # AWS: 403 for a missing vault
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 403)

    def test_backup_and_copy_jobs(self):
        job = self.env.add_backup_job(vault=VAULT, resource_arn=CLUSTER, state="FAILED", age_hours=3,
                                      status_message="Insufficient privileges")
        self.env.add_backup_job(vault=VAULT, resource_arn=CLUSTER, state="COMPLETED", age_hours=27)
        self.env.add_backup_job(type="copy", source_vault=VAULT, resource_arn=CLUSTER, state="COMPLETED",
                                destination_vault_arn=f"arn:aws:backup:{DR}:123456789012:backup-vault:{VAULT}-dr")
        jobs = self.bk.list_backup_jobs(ByBackupVaultName=VAULT)["BackupJobs"]
        self.assertShape("ListBackupJobs")
        self.assertEqual([j["State"] for j in jobs], ["FAILED", "COMPLETED"])
        failed = self.bk.list_backup_jobs(ByState="FAILED")["BackupJobs"]
        self.assertEqual([j["BackupJobId"] for j in failed], [job["BackupJobId"]])
        d = self.bk.describe_backup_job(BackupJobId=job["BackupJobId"])
        self.assertShape("DescribeBackupJob")
        self.assertEqual(d["StatusMessage"], "Insufficient privileges")
        res = self.env.aws("backup", "list-backup-jobs", "--by-backup-vault-name", VAULT, "--by-created-after",
                           (datetime.datetime.utcnow() - datetime.timedelta(hours=24)).strftime("%Y-%m-%dT%H:%M:%S"))
        self.assertEqual(res.rc, 0, res.stderr)
        self.assertEqual([j["State"] for j in res.json["BackupJobs"]], ["FAILED"])
        copies = self.bk.list_copy_jobs()["CopyJobs"]
        self.assertShape("ListCopyJobs")
        self.assertEqual([c["State"] for c in copies], ["COMPLETED"])
        self.assertEqual(self.env.client("backup", DR).list_copy_jobs()["CopyJobs"], [])  # listed in the source region

    def test_start_copy_job(self):
        src = self.env.add_recovery_point(vault=VAULT, resource_arn=CLUSTER, age_hours=1)
        dest = f"arn:aws:backup:{DR}:123456789012:backup-vault:{VAULT}-dr"
        self.env.set_duration("StartCopyJob", DURATION)
        out = self.bk.start_copy_job(RecoveryPointArn=src["RecoveryPointArn"], SourceBackupVaultName=VAULT,
                                     DestinationBackupVaultArn=dest, IamRoleArn="arn:aws:iam::123456789012:role/b")
        self.assertShape("StartCopyJob")
        job = self.bk.describe_copy_job(CopyJobId=out["CopyJobId"])["CopyJob"]
        self.assertShape("DescribeCopyJob")
        self.assertEqual(job["State"], "RUNNING")
        drtest.wait_for(lambda: self.bk.describe_copy_job(CopyJobId=out["CopyJobId"])["CopyJob"]["State"] == "COMPLETED")
        job = self.bk.describe_copy_job(CopyJobId=out["CopyJobId"])["CopyJob"]
        dr_points = self.env.client("backup", DR).list_recovery_points_by_backup_vault(
            BackupVaultName=VAULT + "-dr")["RecoveryPoints"]
        self.assertEqual([p["RecoveryPointArn"] for p in dr_points], [job["DestinationRecoveryPointArn"]])
        self.assertEqual(dr_points[0]["SourceBackupVaultArn"], src["BackupVaultArn"])
        res = self.env.aws("backup", "describe-copy-job", "--copy-job-id", out["CopyJobId"])
        self.assertEqual(res.rc, 0, res.stderr)
        self.assertEqual(res.json["CopyJob"]["State"], "COMPLETED")

    def test_control_validation(self):
        for body in ({"vault": VAULT, "resource_arn": CLUSTER, "status": "GREAT"},
                     {"resource_arn": CLUSTER}):
            with self.assertRaises(drtest.ControlError):
                self.env.add_recovery_point(**body)
        with self.assertRaises(drtest.ControlError):
            self.env.add_backup_job(vault=VAULT, resource_arn=CLUSTER, state="DONE")


if __name__ == "__main__":
    unittest.main(verbosity=2)
