#!/usr/bin/env python3
"""Breadth of the fidelity check: every operation the proxy answers or amends, through the aws CLI and through
boto3 (each response body checked against the botocore model). A new emulation without coverage fails here."""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import drtest  # noqa: E402
import modelcheck  # noqa: E402

P, DR = drtest.PRIMARY, drtest.DR
ACCT = "123456789012"
VAULT = "roadcall-backup-vault-prod"
CLUSTER_ARN = f"arn:aws:rds:{P}:{ACCT}:cluster:app"
MYSQL_ARN = f"arn:aws:rds:{P}:{ACCT}:cluster:appm"  # cross-Region replica clusters exist for Aurora MySQL only
REPLICATION = ('{"Role":"arn:aws:iam::123456789012:role/r","Rules":[{"ID":"dr","Priority":1,"Status":"Enabled",'
               '"Filter":{"Prefix":""},"DeleteMarkerReplication":{"Status":"Enabled"},'
               '"Destination":{"Bucket":"arn:aws:s3:::dst"}}]}')


class Coverage(drtest.EnvTestCase):
    def assert_covered(self):
        emulated = {(e["service"], e["operation"]) for e in self.env.control("GET", "/emulations")}
        seen = {(r["service"], r["operation"]) for r in self.env.requests() if r["status"] and r["status"] < 300}
        self.assertEqual(sorted(emulated - seen), [], "emulated operations this scenario did not exercise")

    def test_aws_cli(self):
        def aws(*args, region=P):
            res = self.env.aws(*args, region=region)
            self.assertEqual(res.rc, 0, f"aws {' '.join(args)}: {res.stderr}")
            return res.json
        # DynamoDB
        aws("dynamodb", "create-table", "--table-name", "t", "--billing-mode", "PAY_PER_REQUEST",
            "--attribute-definitions", "AttributeName=pk,AttributeType=S", "--key-schema", "AttributeName=pk,KeyType=HASH")
        out = aws("dynamodb", "update-table", "--table-name", "t", "--replica-updates", f"Create={{RegionName={DR}}}")
        self.assertEqual(out["TableDescription"]["Replicas"][0]["RegionName"], DR)
        self.assertEqual(aws("dynamodb", "describe-table", "--table-name", "t")["Table"]["GlobalTableVersion"], "2019.11.21")
        aws("dynamodb", "describe-table-replica-auto-scaling", "--table-name", "t")
        aws("dynamodb", "delete-table", "--table-name", "t", region=DR)
        # RDS
        aws("rds", "create-db-cluster", "--db-cluster-identifier", "app", "--engine", "aurora-postgresql",
            "--engine-version", "15.4", "--master-username", "postgres", "--master-user-password", "not-a-secret-123")
        aws("rds", "create-global-cluster", "--global-cluster-identifier", "g", "--source-db-cluster-identifier", CLUSTER_ARN)
        sec = aws("rds", "create-db-cluster", "--db-cluster-identifier", "app-dr", "--engine", "aurora-postgresql",
                  "--engine-version", "15.4", "--global-cluster-identifier", "g", region=DR)["DBCluster"]["DBClusterArn"]
        aws("rds", "failover-global-cluster", "--global-cluster-identifier", "g", "--target-db-cluster-identifier", sec,
            "--allow-data-loss")
        deadline = time.monotonic() + 20  # the old primary's system snapshot, taken before Aurora rebuilds it
        while not [s for s in aws("rds", "describe-db-cluster-snapshots", "--db-cluster-identifier", "app")
                   ["DBClusterSnapshots"] if s["DBClusterSnapshotIdentifier"].startswith("rds:unplanned-global-failover-app-")]:
            aws("rds", "describe-global-clusters", "--global-cluster-identifier", "g")
            self.assertLess(time.monotonic(), deadline, "no snapshot of the old primary")
            time.sleep(0.2)
        aws("rds", "switchover-global-cluster", "--global-cluster-identifier", "g",
            "--target-db-cluster-identifier", CLUSTER_ARN)
        self.assertTrue(aws("rds", "describe-global-clusters", "--global-cluster-identifier", "g")
                        ["GlobalClusters"][0]["GlobalClusterMembers"][0]["IsWriter"])
        res = self.env.aws("rds", "create-db-cluster", "--db-cluster-identifier", "app-replica", "--engine",
                           "aurora-postgresql", "--replication-source-identifier", CLUSTER_ARN, region=DR)
        self.assertNotEqual(res.rc, 0)
        self.assertIn("InvalidParameterCombination", res.stderr)  # Aurora PostgreSQL: a global database instead
        aws("rds", "create-db-cluster", "--db-cluster-identifier", "appm", "--engine", "aurora-mysql",
            "--master-username", "admin", "--master-user-password", "not-a-secret-123")
        aws("rds", "create-db-cluster", "--db-cluster-identifier", "app-replica", "--engine", "aurora-mysql",
            "--replication-source-identifier", MYSQL_ARN, region=DR)
        aws("rds", "promote-read-replica-db-cluster", "--db-cluster-identifier", "app-replica", region=DR)
        aws("rds", "describe-db-clusters", "--db-cluster-identifier", "app-replica", region=DR)
        # Route 53
        zone = aws("route53", "create-hosted-zone", "--name", "roadcall.example.com", "--caller-reference", "z")
        change = aws("route53", "change-resource-record-sets", "--hosted-zone-id", zone["HostedZone"]["Id"],
                     "--change-batch", '{"Changes":[{"Action":"CREATE","ResourceRecordSet":{"Name":"a.roadcall.example.com",'
                     '"Type":"A","TTL":60,"ResourceRecords":[{"Value":"203.0.113.1"}]}}]}')
        aws("route53", "get-change", "--id", change["ChangeInfo"]["Id"])
        hc = aws("route53", "create-health-check", "--caller-reference", "h", "--health-check-config",
                 "Type=HTTPS,FullyQualifiedDomainName=a.roadcall.example.com,Port=443")["HealthCheck"]["Id"]
        aws("route53", "update-health-check", "--health-check-id", hc, "--inverted")
        aws("route53", "get-health-check", "--health-check-id", hc)
        aws("route53", "get-health-check-status", "--health-check-id", hc)
        aws("route53", "get-health-check-last-failure-reason", "--health-check-id", hc)  # never failed: none
        self.env.control("PUT", f"/route53/healthchecks/{hc}/status", {"healthy": False, "regions": ["us-east-1"]})
        out = aws("route53", "get-health-check-last-failure-reason", "--health-check-id", hc)
        self.assertEqual([o["Region"] for o in out["HealthCheckObservations"]], ["us-east-1"])
        aws("route53", "delete-health-check", "--health-check-id", hc)
        # IAM
        aws("iam", "create-role", "--role-name", "b", "--assume-role-policy-document", "{}")
        aws("iam", "put-role-policy", "--role-name", "b", "--policy-name", "p", "--policy-document",
            '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}')
        aws("iam", "attach-role-policy", "--role-name", "b", "--policy-arn",
            "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup")
        aws("iam", "list-attached-role-policies", "--role-name", "b")
        # Backup
        aws("backup", "create-backup-vault", "--backup-vault-name", VAULT)
        aws("backup", "describe-backup-vault", "--backup-vault-name", VAULT)
        aws("backup", "update-region-settings", "--resource-type-management-preference", "DynamoDB=true")
        aws("backup", "describe-region-settings")
        aws("backup", "create-backup-vault", "--backup-vault-name", VAULT, region=DR)
        plan = aws("backup", "create-backup-plan", "--backup-plan",
                   f'{{"BackupPlanName":"p","Rules":[{{"RuleName":"d","TargetBackupVaultName":"{VAULT}",'
                   '"ScheduleExpression":"cron(0 2 * * ? *)"}]}')["BackupPlanId"]
        aws("backup", "update-backup-plan", "--backup-plan-id", plan, "--backup-plan",
            f'{{"BackupPlanName":"p","Rules":[{{"RuleName":"d","TargetBackupVaultName":"{VAULT}",'
            '"ScheduleExpression":"cron(0 3 * * ? *)"}]}')
        self.assertEqual(aws("backup", "get-backup-plan", "--backup-plan-id", plan)
                         ["BackupPlan"]["Rules"][0]["ScheduleExpression"], "cron(0 3 * * ? *)")
        sel = aws("backup", "create-backup-selection", "--backup-plan-id", plan, "--backup-selection",
                  f'{{"SelectionName":"s","IamRoleArn":"arn:aws:iam::{ACCT}:role/b","Resources":["{CLUSTER_ARN}"]}}')
        aws("backup", "get-backup-selection", "--backup-plan-id", plan, "--selection-id", sel["SelectionId"])
        aws("backup", "list-backup-selections", "--backup-plan-id", plan)
        aws("backup", "delete-backup-selection", "--backup-plan-id", plan, "--selection-id", sel["SelectionId"])
        rp = self.env.add_recovery_point(vault=VAULT, resource_arn=CLUSTER_ARN, age_hours=5)["RecoveryPointArn"]
        job = self.env.add_backup_job(vault=VAULT, resource_arn=CLUSTER_ARN, age_hours=5)["BackupJobId"]
        aws("backup", "list-recovery-points-by-backup-vault", "--backup-vault-name", VAULT)
        aws("backup", "describe-recovery-point", "--backup-vault-name", VAULT, "--recovery-point-arn", rp)
        aws("backup", "list-backup-jobs")
        aws("backup", "describe-backup-job", "--backup-job-id", job)
        copy = aws("backup", "start-copy-job", "--recovery-point-arn", rp, "--source-backup-vault-name", VAULT,
                   "--destination-backup-vault-arn", f"arn:aws:backup:{DR}:{ACCT}:backup-vault:{VAULT}",
                   "--iam-role-arn", f"arn:aws:iam::{ACCT}:role/b")
        aws("backup", "list-copy-jobs")
        aws("backup", "describe-copy-job", "--copy-job-id", copy["CopyJobId"])
        # S3
        for b in ("src", "dst"):
            aws("s3api", "create-bucket", "--bucket", b)
            aws("s3api", "put-bucket-versioning", "--bucket", b, "--versioning-configuration", "Status=Enabled")
        aws("s3api", "put-bucket-replication", "--bucket", "src", "--replication-configuration", REPLICATION)
        aws("s3api", "get-bucket-replication", "--bucket", "src")
        aws("s3api", "put-object", "--bucket", "src", "--key", "k", "--body", __file__)
        self.assertEqual(aws("s3api", "head-object", "--bucket", "src", "--key", "k")["ReplicationStatus"], "COMPLETED")
        res = self.env.aws("s3api", "get-object", "--bucket", "dst", "--key", "k", os.path.join(self.env.tmpdir, "k.out"))
        self.assertEqual(res.rc, 0, res.stderr)
        self.assertEqual(res.json["ReplicationStatus"], "REPLICA")
        aws("s3api", "delete-object", "--bucket", "src", "--key", "k")
        aws("s3api", "delete-bucket-replication", "--bucket", "src")
        aws("s3api", "create-bucket", "--bucket", "gone")
        aws("s3api", "delete-bucket", "--bucket", "gone")
        # CloudWatch: the CLI speaks CBOR, which the proxy leaves to moto (its JSON answers are checked in
        # test_emu_route53.py)
        aws("cloudwatch", "put-metric-data", "--namespace", "DrAgent/Route53", "--metric-name", "TrafficOnDR",
            "--value", "0", region=DR)
        aws("cloudwatch", "get-metric-statistics", "--namespace", "AWS/Route53", "--metric-name", "HealthCheckStatus",
            "--start-time", "2026-01-01T00:00:00Z", "--end-time", "2026-01-01T01:00:00Z", "--period", "60",
            "--statistics", "Minimum")
        self.assert_covered()

    def test_boto3(self):
        clients = {}
        raws = []

        def c(service, region=P):
            if (service, region) not in clients:
                clients[(service, region)] = self.env.client(service, region)
                raws.append((service, drtest.RawLog(clients[(service, region)])))
            return clients[(service, region)]
        key = dict(KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                   AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
        c("dynamodb").create_table(TableName="t", **key)
        c("dynamodb").update_table(TableName="t", ReplicaUpdates=[{"Create": {"RegionName": DR}}])
        c("dynamodb").describe_table(TableName="t")
        c("dynamodb").describe_table_replica_auto_scaling(TableName="t")
        c("dynamodb", DR).delete_table(TableName="t")
        c("rds").create_db_cluster(DBClusterIdentifier="app", Engine="aurora-postgresql", EngineVersion="15.4",
                                   MasterUsername="postgres", MasterUserPassword="not-a-secret-123")
        c("rds").create_global_cluster(GlobalClusterIdentifier="g", SourceDBClusterIdentifier=CLUSTER_ARN)
        sec = c("rds", DR).create_db_cluster(DBClusterIdentifier="app-dr", Engine="aurora-postgresql",
                                             EngineVersion="15.4", GlobalClusterIdentifier="g")["DBCluster"]["DBClusterArn"]
        c("rds").failover_global_cluster(GlobalClusterIdentifier="g", TargetDbClusterIdentifier=sec, AllowDataLoss=True)
        deadline = time.monotonic() + 20
        while True:
            snaps = [s for s in c("rds").describe_db_cluster_snapshots(DBClusterIdentifier="app")["DBClusterSnapshots"]
                     if s["DBClusterSnapshotIdentifier"].startswith("rds:unplanned-global-failover-app-")]
            if snaps:
                break
            c("rds").describe_global_clusters(GlobalClusterIdentifier="g")
            self.assertLess(time.monotonic(), deadline, "no snapshot of the old primary")
            time.sleep(0.2)
        self.assertEqual(snaps[0]["SnapshotType"], "automated")
        one = c("rds").describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=snaps[0]["DBClusterSnapshotIdentifier"])
        self.assertEqual([s["DBClusterIdentifier"] for s in one["DBClusterSnapshots"]], ["app"])
        c("rds").switchover_global_cluster(GlobalClusterIdentifier="g", TargetDbClusterIdentifier=CLUSTER_ARN)
        c("rds").describe_global_clusters()
        with self.assertRaises(c("rds", DR).exceptions.ClientError) as cm:  # no such thing for Aurora PostgreSQL
            c("rds", DR).create_db_cluster(DBClusterIdentifier="app-replica", Engine="aurora-postgresql",
                                           ReplicationSourceIdentifier=CLUSTER_ARN)
        self.assertEqual(cm.exception.response["Error"]["Code"], "InvalidParameterCombination")
        c("rds").create_db_cluster(DBClusterIdentifier="appm", Engine="aurora-mysql", MasterUsername="admin",
                                   MasterUserPassword="not-a-secret-123")
        c("rds", DR).create_db_cluster(DBClusterIdentifier="app-replica", Engine="aurora-mysql",
                                       ReplicationSourceIdentifier=MYSQL_ARN)
        c("rds", DR).promote_read_replica_db_cluster(DBClusterIdentifier="app-replica")
        c("rds", DR).describe_db_clusters()
        r53 = c("route53")
        zone = r53.create_hosted_zone(Name="roadcall.example.com", CallerReference="z")["HostedZone"]["Id"]
        ch = r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [{"Action": "CREATE",
            "ResourceRecordSet": {"Name": "a.roadcall.example.com", "Type": "A", "TTL": 60,
                                  "ResourceRecords": [{"Value": "203.0.113.1"}]}}]})["ChangeInfo"]["Id"]
        r53.get_change(Id=ch)
        hc = r53.create_health_check(CallerReference="h", HealthCheckConfig={
            "Type": "HTTPS", "FullyQualifiedDomainName": "a.roadcall.example.com", "Port": 443})["HealthCheck"]["Id"]
        r53.update_health_check(HealthCheckId=hc, Inverted=True)
        r53.get_health_check(HealthCheckId=hc)
        r53.get_health_check_status(HealthCheckId=hc)
        self.env.control("PUT", f"/route53/healthchecks/{hc}/status",
                         {"healthy": False, "message": "Failure: HTTP Status Code 503, Service Unavailable"})
        obs = r53.get_health_check_last_failure_reason(HealthCheckId=hc)["HealthCheckObservations"]
        self.assertEqual({o["StatusReport"]["Status"] for o in obs}, {"Failure: HTTP Status Code 503, Service Unavailable"})
        r53.delete_health_check(HealthCheckId=hc)
        iam = c("iam")
        iam.create_role(RoleName="b", AssumeRolePolicyDocument="{}")
        iam.put_role_policy(RoleName="b", PolicyName="p", PolicyDocument='{"Version":"2012-10-17","Statement":'
                            '[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}')
        iam.attach_role_policy(RoleName="b",
                               PolicyArn="arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup")
        iam.list_attached_role_policies(RoleName="b")
        bk = c("backup")
        bk.create_backup_vault(BackupVaultName=VAULT)
        bk.describe_backup_vault(BackupVaultName=VAULT)
        bk.update_region_settings(ResourceTypeManagementPreference={"DynamoDB": True})
        bk.describe_region_settings()
        c("backup", DR).create_backup_vault(BackupVaultName=VAULT)
        plan = bk.create_backup_plan(BackupPlan={"BackupPlanName": "p", "Rules": [{
            "RuleName": "d", "TargetBackupVaultName": VAULT, "ScheduleExpression": "cron(0 2 * * ? *)"}]})["BackupPlanId"]
        bk.update_backup_plan(BackupPlanId=plan, BackupPlan={"BackupPlanName": "p", "Rules": [{
            "RuleName": "d", "TargetBackupVaultName": VAULT, "ScheduleExpression": "cron(0 3 * * ? *)"}]})
        bk.get_backup_plan(BackupPlanId=plan)
        sel = bk.create_backup_selection(BackupPlanId=plan, BackupSelection={
            "SelectionName": "s", "IamRoleArn": f"arn:aws:iam::{ACCT}:role/b", "Resources": [CLUSTER_ARN]})["SelectionId"]
        bk.get_backup_selection(BackupPlanId=plan, SelectionId=sel)
        bk.list_backup_selections(BackupPlanId=plan)
        bk.delete_backup_selection(BackupPlanId=plan, SelectionId=sel)
        rp = self.env.add_recovery_point(vault=VAULT, resource_arn=CLUSTER_ARN, age_hours=5)["RecoveryPointArn"]
        self.env.add_backup_job(type="copy", source_vault=VAULT, resource_arn=CLUSTER_ARN,
                                destination_vault_arn=f"arn:aws:backup:{DR}:{ACCT}:backup-vault:{VAULT}")
        job = self.env.add_backup_job(vault=VAULT, resource_arn=CLUSTER_ARN, state="RUNNING", percent_done=40)
        bk.list_recovery_points_by_backup_vault(BackupVaultName=VAULT)
        bk.describe_recovery_point(BackupVaultName=VAULT, RecoveryPointArn=rp)
        bk.list_backup_jobs()
        bk.describe_backup_job(BackupJobId=job["BackupJobId"])
        cj = bk.start_copy_job(RecoveryPointArn=rp, SourceBackupVaultName=VAULT, IamRoleArn=f"arn:aws:iam::{ACCT}:role/b",
                               DestinationBackupVaultArn=f"arn:aws:backup:{DR}:{ACCT}:backup-vault:{VAULT}")
        bk.list_copy_jobs()
        bk.describe_copy_job(CopyJobId=cj["CopyJobId"])
        s3 = c("s3")
        for b in ("src", "dst", "gone"):
            s3.create_bucket(Bucket=b)
            s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
        import json
        s3.put_bucket_replication(Bucket="src", ReplicationConfiguration=json.loads(REPLICATION))
        s3.get_bucket_replication(Bucket="src")
        s3.put_object(Bucket="src", Key="k", Body=b"1")
        s3.head_object(Bucket="src", Key="k")
        s3.get_object(Bucket="dst", Key="k")["Body"].read()
        s3.delete_object(Bucket="src", Key="k")
        s3.delete_bucket_replication(Bucket="src")
        s3.delete_bucket(Bucket="gone")
        # CloudWatch: CBOR from boto3, left to moto (not model-checked here: test_emu_route53.py checks the JSON)
        cw = self.env.client("cloudwatch", DR)
        cw.put_metric_data(Namespace="DrAgent/Route53", MetricData=[{"MetricName": "TrafficOnDR", "Value": 0}])
        self.env.client("cloudwatch").get_metric_statistics(
            Namespace="AWS/Route53", MetricName="HealthCheckStatus", StartTime=time.time() - 600, EndTime=time.time(),
            Period=60, Statistics=["Minimum"])

        problems = []
        for service, raw in raws:
            for op, status, body in raw.bodies:
                if status < 300 and body.strip():
                    problems += [f"{service} {op}: {p}" for p in modelcheck.check(service, op, body)]
        self.assertEqual(problems, [])
        self.assert_covered()


if __name__ == "__main__":
    unittest.main(verbosity=2)
