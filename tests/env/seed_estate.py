#!/usr/bin/env python3
"""Build the reference estate in the local AWS (through the AWS APIs) and put the replication-lag datapoints AWS would publish.

  seed_estate.py --stage primary            the primary side, as the application's CDK deployment
                                            leaves it, before `dr-agent configure`
  seed_estate.py --metrics [--dynamodb-lag-ms N] [--aurora-lag-ms N] [--aurora-rpo-lag-ms N]
                 [--s3-latency-s N] [--s3-pending-ops N] [--s3-pending-bytes N]
                 [--points P] [--age-minutes M] [--table T]... [--cluster C] [--s3-rule-id R]

It talks to AWS_ENDPOINT_URL with the credentials of the environment (drenv exports both), and
prints what it made as JSON. Building is idempotent: what exists already is left as it is.
The DR side (replicas, replica cluster, destination buckets, vaults, health checks) is made by
`dr-agent configure`, not here. From Python: build("primary", session, endpoint_url),
put_lag_metrics(session, endpoint_url, ...).
"""
import argparse
import datetime
import json
import os
import secrets
import sys

PRIMARY, DR = "us-east-1", "us-west-2"
TABLES = ("roadcall-users-prod", "roadcall-incidents-prod", "roadcall-vendors-prod",
          "roadcall-tracking-sessions-prod", "roadcall-call-records-prod")
CLUSTER, WRITER = "roadcall-aurora-prod", "roadcall-aurora-prod-writer"
REPLICA_CLUSTER = "roadcall-aurora-prod-replica"  # made by configure; its lag metrics are seeded here
BUCKETS = ("roadcall-call-recordings-prod", "roadcall-kb-documents-prod", "roadcall-incident-media-prod")
ZONE = "roadcall.example.com"
RECORDS = {"api-us-east-1.roadcall.example.com": "203.0.113.10",  # TEST-NET-3 addresses
           "api-us-west-2.roadcall.example.com": "203.0.113.20"}
S3_RULE_ID = "dr-replication"


def _client(session, endpoint, service, region):
    from botocore.config import Config
    if not endpoint:  # never fall through to real AWS
        raise ValueError("no endpoint: give endpoint_url or set AWS_ENDPOINT_URL")
    return session.client(service, region_name=region, endpoint_url=endpoint,
                          config=Config(s3={"addressing_style": "path"}, retries={"mode": "standard"}))


def build(stage, session, endpoint_url):
    if stage != "primary":
        raise ValueError(f"unknown stage {stage!r} (only 'primary')")
    return build_primary(session, endpoint_url)


def build_primary(session, endpoint_url):
    out = {"tables": [], "buckets": list(BUCKETS)}
    ddb = _client(session, endpoint_url, "dynamodb", PRIMARY)
    existing = set(ddb.list_tables()["TableNames"])
    for name in TABLES:
        if name not in existing:
            ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                             AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                             BillingMode="PAY_PER_REQUEST")
        out["tables"].append(ddb.describe_table(TableName=name)["Table"]["TableArn"])

    rds = _client(session, endpoint_url, "rds", PRIMARY)
    clusters = {c["DBClusterIdentifier"]: c for c in rds.describe_db_clusters()["DBClusters"]}
    if CLUSTER not in clusters:
        clusters[CLUSTER] = rds.create_db_cluster(
            DBClusterIdentifier=CLUSTER, Engine="aurora-postgresql", EngineVersion="15.4",
            DatabaseName="roadcall", MasterUsername="postgres",
            MasterUserPassword=secrets.token_urlsafe(24),  # never printed; nothing here logs in with it
            ServerlessV2ScalingConfiguration={"MinCapacity": 0.5, "MaxCapacity": 16})["DBCluster"]
    if WRITER not in {i["DBInstanceIdentifier"] for i in rds.describe_db_instances()["DBInstances"]}:
        rds.create_db_instance(DBInstanceIdentifier=WRITER, DBInstanceClass="db.serverless",
                               Engine="aurora-postgresql", DBClusterIdentifier=CLUSTER)
    out["cluster"] = clusters[CLUSTER]["DBClusterArn"]

    s3 = _client(session, endpoint_url, "s3", PRIMARY)
    have = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    for name in BUCKETS:
        if name not in have:
            s3.create_bucket(Bucket=name)

    r53 = _client(session, endpoint_url, "route53", PRIMARY)
    zones = [z for z in r53.list_hosted_zones_by_name(DNSName=ZONE)["HostedZones"] if z["Name"] == ZONE + "."]
    zone_id = zones[0]["Id"] if zones else r53.create_hosted_zone(
        Name=ZONE, CallerReference=f"roadcall-{secrets.token_hex(6)}")["HostedZone"]["Id"]
    r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [
        {"Action": "UPSERT", "ResourceRecordSet": {"Name": name, "Type": "A", "TTL": 60,
                                                   "ResourceRecords": [{"Value": ip}]}}
        for name, ip in RECORDS.items()]})
    out["hosted_zone_id"] = zone_id.rsplit("/", 1)[-1]
    return out


def _datapoints(value, unit, dims, points, age_minutes):
    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=age_minutes)
    return [{"MetricName": None, "Dimensions": [{"Name": k, "Value": v} for k, v in dims],
             "Timestamp": now - datetime.timedelta(minutes=i), "Value": float(value), "Unit": unit}
            for i in range(points)]


def put_lag_metrics(session, endpoint_url, dynamodb_ms=None, aurora_ms=None, aurora_rpo_ms=None, s3_latency_s=None,
                    s3_pending_ops=None, s3_pending_bytes=None, tables=TABLES, cluster=REPLICA_CLUSTER,
                    buckets=BUCKETS, s3_rule_id=S3_RULE_ID, points=5, age_minutes=0):
    """Put `points` one-minute datapoints (the newest `age_minutes` old) of each metric given, as AWS publishes them.

    DynamoDB ReplicationLatency: us-east-1 (the sending region), TableName + ReceivingRegion=us-west-2.
    Aurora AuroraGlobalDBReplicationLag / AuroraGlobalDBRPOLag: us-west-2, DBClusterIdentifier = the
    secondary cluster. S3 ReplicationLatency (Seconds), OperationsPendingReplication (Count),
    BytesPendingReplication (Bytes): us-east-1, SourceBucket, DestinationBucket (<source>-us-west-2), RuleId.
    Returns the (region, namespace, metric, dimensions) written.
    """
    written = []

    def put(region, namespace, metric, value, unit, dims):
        data = _datapoints(value, unit, dims, points, age_minutes)
        for d in data:
            d["MetricName"] = metric
        _client(session, endpoint_url, "cloudwatch", region).put_metric_data(Namespace=namespace, MetricData=data)
        written.append((region, namespace, metric, dict(dims)))

    for t in tables if dynamodb_ms is not None else ():
        put(PRIMARY, "AWS/DynamoDB", "ReplicationLatency", dynamodb_ms, "Milliseconds",
            [("TableName", t), ("ReceivingRegion", DR)])
    for metric, value in (("AuroraGlobalDBReplicationLag", aurora_ms), ("AuroraGlobalDBRPOLag", aurora_rpo_ms)):
        if value is not None:
            put(DR, "AWS/RDS", metric, value, "Milliseconds", [("DBClusterIdentifier", cluster)])
    for metric, value, unit in (("ReplicationLatency", s3_latency_s, "Seconds"),
                                ("OperationsPendingReplication", s3_pending_ops, "Count"),
                                ("BytesPendingReplication", s3_pending_bytes, "Bytes")):
        for b in buckets if value is not None else ():
            put(PRIMARY, "AWS/S3", metric, value, unit,
                [("SourceBucket", b), ("DestinationBucket", f"{b}-{DR}"), ("RuleId", s3_rule_id)])
    return written


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stage", choices=["primary"], help="build the estate of this stage")
    ap.add_argument("--metrics", action="store_true", help="put replication-lag datapoints")
    ap.add_argument("--dynamodb-lag-ms", type=float)
    ap.add_argument("--aurora-lag-ms", type=float)
    ap.add_argument("--aurora-rpo-lag-ms", type=float)
    ap.add_argument("--s3-latency-s", type=float)
    ap.add_argument("--s3-pending-ops", type=float)
    ap.add_argument("--s3-pending-bytes", type=float)
    ap.add_argument("--points", type=int, default=5, help="one-minute datapoints per metric (default 5)")
    ap.add_argument("--age-minutes", type=float, default=0, help="age of the newest datapoint")
    ap.add_argument("--table", action="append", help="only these tables (default: all five)")
    ap.add_argument("--cluster", default=REPLICA_CLUSTER, help="the secondary Aurora cluster")
    ap.add_argument("--s3-rule-id", default=S3_RULE_ID)
    args = ap.parse_args(argv)
    if not args.stage and not args.metrics:
        ap.error("nothing to do: give --stage and/or --metrics")
    if "AWS_ENDPOINT_URL" not in os.environ:
        ap.error("AWS_ENDPOINT_URL is not set: run inside `drenv run` or source a `drenv start` env file")
    import boto3
    session = boto3.session.Session()
    out = {}
    if args.stage:
        out["estate"] = build(args.stage, session, os.environ["AWS_ENDPOINT_URL"])
    if args.metrics:
        out["metrics"] = put_lag_metrics(
            session, os.environ["AWS_ENDPOINT_URL"], args.dynamodb_lag_ms, args.aurora_lag_ms, args.aurora_rpo_lag_ms, args.s3_latency_s,
            args.s3_pending_ops, args.s3_pending_bytes, tables=tuple(args.table or TABLES), cluster=args.cluster,
            s3_rule_id=args.s3_rule_id, points=args.points, age_minutes=args.age_minutes)
    json.dump(out, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
