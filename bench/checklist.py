#!/usr/bin/env python3
"""checklist.py: the same 17 calls as checklist.sh (the DR setup guide's verification commands), in one boto3 process.

Usage: bench/checklist.py HEALTH_CHECK_ID   (in a drenv environment: AWS_ENDPOINT_URL and keys exported)

What an operator writes when the shell loop gets slow: one interpreter, one client per service and region, the
guide's calls in the guide's order, the answers printed as JSON. Exit code: the number of calls that failed.
"""
import datetime
import json
import os
import sys

import boto3

hc = sys.argv[1]
endpoint = os.environ["AWS_ENDPOINT_URL"]
session = boto3.session.Session()
clients = {}
failed = 0


def client(service, region="us-east-1"):
    if (service, region) not in clients:
        clients[service, region] = session.client(service, region_name=region, endpoint_url=endpoint)
    return clients[service, region]


def call(service, region, op, **kw):
    global failed
    try:
        out = getattr(client(service, region), op)(**kw)
    except Exception as e:  # noqa: BLE001 - the operator sees the error and goes on, as the shell loop does
        print(f"{service} {op}: {e}", file=sys.stderr)
        failed += 1
        return None
    out.pop("ResponseMetadata", None)
    return out


def show(x):
    print(json.dumps(x, indent=4, default=str))


now = datetime.datetime.now(datetime.timezone.utc)
day_ago, hour_ago = now - datetime.timedelta(hours=24), now - datetime.timedelta(hours=1)

# ---- 5. Verify Setup ----
t = call("dynamodb", "us-east-1", "describe_table", TableName="roadcall-incidents-prod")
show(t and t["Table"].get("Replicas"))
c = call("rds", "us-west-2", "describe_db_clusters", DBClusterIdentifier="roadcall-aurora-prod-replica")
show(c and c["DBClusters"][0]["Status"])
account = (call("sts", "us-east-1", "get_caller_identity") or {}).get("Account")
show(call("s3", "us-east-1", "get_bucket_replication", Bucket="roadcall-call-recordings-prod"))
show(call("backup", "us-east-1", "list_recovery_points_by_backup_vault", BackupVaultName="roadcall-backup-vault-prod",
          MaxResults=5))

# ---- Monthly Verification ----
for table in ("users", "incidents", "vendors", "tracking-sessions", "call-records"):
    print(f"Checking roadcall-{table}-prod...")
    t = call("dynamodb", "us-east-1", "describe_table", TableName=f"roadcall-{table}-prod")
    show(t and [{"Region": r["RegionName"], "Status": r["ReplicaStatus"]} for r in t["Table"].get("Replicas", [])])
show(call("cloudwatch", "us-west-2", "get_metric_statistics", Namespace="AWS/RDS",
          MetricName="AuroraGlobalDBReplicationLag",
          Dimensions=[{"Name": "DBClusterIdentifier", "Value": "roadcall-aurora-prod-replica"}],
          StartTime=hour_ago, EndTime=now, Period=300, Statistics=["Average"]))
account = (call("sts", "us-east-1", "get_caller_identity") or {}).get("Account")
show(call("s3", "us-east-1", "get_bucket_replication", Bucket="roadcall-call-recordings-prod"))
show(call("backup", "us-east-1", "list_recovery_points_by_backup_vault", BackupVaultName="roadcall-backup-vault-prod",
          ByCreatedAfter=day_ago))
show(call("route53", "us-east-1", "get_health_check_status", HealthCheckId=hc))

# ---- AWS Backup: Verification ----
show(call("backup", "us-east-1", "list_recovery_points_by_backup_vault", BackupVaultName="roadcall-backup-vault-prod",
          ByCreatedAfter=day_ago))
show(call("backup", "us-east-1", "list_backup_jobs", ByBackupVaultName="roadcall-backup-vault-prod",
          ByCreatedAfter=day_ago))

print(f"account {account}: {failed} of 17 calls failed")
sys.exit(failed)
