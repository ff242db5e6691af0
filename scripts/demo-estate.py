#!/usr/bin/env python3
"""demo-estate.py: what the running application would produce in the local AWS: database grants and rows,
replication-lag datapoints, backup recovery points. Usage: demo-estate.py grants|healthy (inside drenv's environment).
"""
import json
import os
import sys
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "env"))

import boto3  # noqa: E402
import pgpair  # noqa: E402
import seed_estate  # noqa: E402

PRIMARY, DR = "us-east-1", "us-west-2"
ACCOUNT = os.environ.get("DR_TEST_ACCOUNT_ID", "123456789012")
CLUSTER_ARN = f"arn:aws:rds:{PRIMARY}:{ACCOUNT}:cluster:roadcall-aurora-prod"
VAULT = "roadcall-backup-vault-prod"


def control(path, body):
    req = urllib.request.Request(os.environ["DR_TEST_PROXY_URL"] + "/__proxy/" + path, method="POST",
                                 data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


def grants():
    """The application's table on the primary node. The plugin's database user needs no grant: like Aurora's master
    user it is a member of rds_superuser (no superuser) and owns the database."""
    pair = pgpair.Pair(os.path.dirname(os.environ["DR_TEST_PG_PASSWORD_FILE"]))
    if pair.sql("a", "SELECT rolsuper FROM pg_roles WHERE rolname = 'dr'") != "f":
        sys.exit("demo: the agent's database user must not be a superuser")
    pair.sql("a", "CREATE TABLE IF NOT EXISTS calls (id bigint PRIMARY KEY, region text, at timestamptz DEFAULT now()); "
                  "ALTER TABLE calls OWNER TO dr; "
                  "INSERT INTO calls (id, region) SELECT g, 'us-east-1' FROM generate_series(1, 1000) g "
                  "ON CONFLICT DO NOTHING;", db="roadcall")
    print("demo: 1000 rows in roadcall.calls on the primary; the agent's user is no superuser (as on Aurora)")


def healthy():
    session = boto3.session.Session()
    ep = os.environ["AWS_ENDPOINT_URL"]
    # replication lag as AWS publishes it, both ways (the reverse direction serves the drill's DR phase)
    seed_estate.put_lag_metrics(session, ep, dynamodb_ms=850, aurora_ms=120, aurora_rpo_ms=900, s3_latency_s=40,
                                s3_pending_ops=3, s3_pending_bytes=65536)
    cw = session.client("cloudwatch", region_name=DR, endpoint_url=ep)
    for t in seed_estate.TABLES:
        cw.put_metric_data(Namespace="AWS/DynamoDB", MetricData=[
            dict(d, MetricName="ReplicationLatency")
            for d in seed_estate._datapoints(900, "Milliseconds", [("TableName", t), ("ReceivingRegion", PRIMARY)], 5, 0)])
    # AWS Backup: the newest daily backup 3 hours old, the newest monthly copy in the DR vault 9 days old
    rp = control("backup/recovery-points", {"vault": VAULT, "resource_arn": CLUSTER_ARN, "region": PRIMARY,
                                            "age_hours": 3, "status": "COMPLETED"})
    control("backup/recovery-points", {"vault": VAULT, "resource_arn": CLUSTER_ARN, "region": DR,
                                       "age_hours": 9 * 24, "status": "COMPLETED",
                                       "source_vault_arn": f"arn:aws:backup:{PRIMARY}:{ACCOUNT}:backup-vault:{VAULT}"})
    control("backup/jobs", {"type": "backup", "vault": VAULT, "resource_arn": CLUSTER_ARN, "state": "COMPLETED",
                            "age_hours": 3, "recovery_point_arn": rp.get("RecoveryPointArn")})
    print("demo: replication-lag datapoints (both directions), recovery points and a completed backup job")


if __name__ == "__main__":
    {"grants": grants, "healthy": healthy}[sys.argv[1]]()
