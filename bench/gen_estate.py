#!/usr/bin/env python3
"""gen_estate.py: a generated estate of many resources in the local AWS and the dr-agent config that covers it.

  gen_estate.py --tables N [--buckets B] [--clusters C] [--plans P] [--records R] --dir DIR [--build DIR]

(in a drenv environment, or run by bench/scale.py). It builds the primary side through the AWS APIs, as an
application's deployment leaves it (tables, buckets, Aurora clusters with a writer, a hosted zone with endpoint
records), then runs `dr-agent configure` over the resources that are new since the last call (replicas, streams,
PITR, DR buckets and replication rules, global databases with their DR secondaries, vaults and plans, health checks and failover records),
and puts what AWS would publish and record afterwards: replication-lag datapoints and, per backup plan, recovery
points in both vaults and a completed job. Calling it again with larger counts adds only the difference, so a
series (100, 1,000, 5,000 tables) grows one estate. Writes DIR/dr-agent.conf (all resources) and prints a summary.
"""
import argparse
import concurrent.futures
import datetime
import json
import os
import sys
import time

import benchlib as bl

P, D = bl.PRIMARY, bl.DR
ZONE = "bench.example.com"
RULES = ['"daily: cron(0 2 * * ? *) keep 35d"', '"weekly: cron(0 3 ? * SUN *) keep 90d"',
         '"monthly: cron(0 4 1 * ? *) keep 365d copy keep 365d"']


def table(i):
    return f"bench-t{i:05d}"


def bucket(i):
    return f"bench-b{i:04d}"


def cluster(i):
    return f"bench-c{i:03d}"


def plan(i):
    return f"bench-plan-{i:02d}"


def vault(i):
    return f"bench-vault-{i:02d}"


def endpoint(i, region):
    return f"svc{i:03d}-{region}.{ZONE}"


def counts_of(args):
    return {"tables": args.tables, "buckets": args.buckets, "clusters": args.clusters, "plans": args.plans,
            "records": args.records}


class Estate:
    def __init__(self, aws, build, workdir, threads=8):
        self.aws, self.build, self.dir = aws, build, workdir
        self.env = aws.env
        self.acct = self.env.account_id
        self.pool = concurrent.futures.ThreadPoolExecutor(threads)
        self.state_file = os.path.join(workdir, "estate.json")
        self.made = {"tables": 0, "buckets": 0, "clusters": 0, "plans": 0, "records": 0}
        if os.path.exists(self.state_file):
            with open(self.state_file) as f:
                self.made = json.load(f)

    def client(self, service, region=P):
        from botocore.config import Config
        return self.env.session().client(service, region_name=region, endpoint_url=self.env.proxy_url,
                                         config=Config(retries={"mode": "standard", "total_max_attempts": 5},
                                                       s3={"addressing_style": "path"}, max_pool_connections=32,
                                                       disable_request_compression=True))

    def each(self, fn, items):
        for f in [self.pool.submit(fn, x) for x in items]:
            f.result()

    # ---- the primary side ------------------------------------------------------------------------
    def primary(self, counts):
        ddb, s3, rds, r53 = self.client("dynamodb"), self.client("s3"), self.client("rds"), self.client("route53")
        have = self.made
        self.each(lambda i: ddb.create_table(
            TableName=table(i), KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST"),
            range(have["tables"], counts["tables"]))
        self.each(lambda i: s3.create_bucket(Bucket=bucket(i)), range(have["buckets"], counts["buckets"]))

        def make_cluster(i):
            rds.create_db_cluster(DBClusterIdentifier=cluster(i), Engine="aurora-postgresql", EngineVersion="15.4",
                                  DatabaseName="app", MasterUsername="postgres",
                                  MasterUserPassword="bench-not-a-secret-0",
                                  ServerlessV2ScalingConfiguration={"MinCapacity": 0.5, "MaxCapacity": 16})
            rds.create_db_instance(DBInstanceIdentifier=cluster(i) + "-writer", DBInstanceClass="db.serverless",
                                   Engine="aurora-postgresql", DBClusterIdentifier=cluster(i))
        self.each(make_cluster, range(have["clusters"], counts["clusters"]))
        if counts["records"] > have["records"]:
            zones = [z for z in r53.list_hosted_zones_by_name(DNSName=ZONE)["HostedZones"] if z["Name"] == ZONE + "."]
            zone_id = zones[0]["Id"] if zones else r53.create_hosted_zone(
                Name=ZONE, CallerReference=f"bench-{time.time()}")["HostedZone"]["Id"]
            changes = [{"Action": "UPSERT", "ResourceRecordSet": {
                "Name": endpoint(i, region), "Type": "A", "TTL": 60,
                "ResourceRecords": [{"Value": f"203.0.113.{1 + i % 250}" if region == P else f"198.51.100.{1 + i % 250}"}]}}
                for i in range(have["records"], counts["records"]) for region in (P, D)]
            r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes})

    # ---- config ----------------------------------------------------------------------------------
    def resources(self, counts, start=None):
        """The config lines of the resources in counts (from `start`, the counts already made, when given)."""
        s = start or {k: 0 for k in counts}
        out = []
        for i in range(s["tables"], counts["tables"]):
            out.append(f'{{ type = "dynamodb"; name = "t{i:05d}"; table = "{table(i)}"; }}')
        for i in range(s["clusters"], counts["clusters"]):
            out.append(f'{{ type = "aurora"; name = "c{i:03d}"; mode = "global"; cluster = "{cluster(i)}"; '
                       f'dr_cluster = "{cluster(i)}-replica"; global_cluster = "{cluster(i)}-global"; '
                       f'engine_version = "15.4"; min_capacity = 0.5; max_capacity = 16.0; }}')
        for i in range(s["buckets"], counts["buckets"]):
            out.append(f'{{ type = "s3"; name = "b{i:04d}"; bucket = "{bucket(i)}"; dr_bucket = "{bucket(i)}-{D}"; }}')
        for i in range(s["plans"], counts["plans"]):
            arn = (f"arn:aws:rds:{P}:{self.acct}:cluster:{cluster(i % counts['clusters'])}" if counts["clusters"]
                   else f"arn:aws:dynamodb:{P}:{self.acct}:table/{table(i)}")
            out.append(f'{{ type = "backup"; name = "p{i:02d}"; plan = "{plan(i)}"; vault = "{vault(i)}"; '
                       f'rules = [ {", ".join(RULES)} ]; resources = [ "{arn}" ]; }}')
        for i in range(s["records"], counts["records"]):
            out.append(f'{{ type = "route53"; name = "r{i:03d}"; zone = "{ZONE}"; record = "svc{i:03d}.{ZONE}"; '
                       f'primary_value = "{endpoint(i, P)}"; secondary_value = "{endpoint(i, D)}"; ttl = 60; '
                       f'health_check_path = "/health"; }}')
        return out

    def write_conf(self, path, lines, state_dir):
        body = ",\n".join("  " + line for line in lines)
        with open(path, "w") as f:
            f.write(f"""# generated by bench/gen_estate.py: a large estate for the scale benchmark
objectives = {{ rto = "1h"; rpo = "15m"; }};
regions = {{ primary = "{P}"; dr = "{D}"; }};
aws = {{ max_attempts = 3; }};
agent = {{ state_dir = "{state_dir}"; concurrency = 8; hook_timeout = "30m"; }};
resources = (
{body}
);
""")
        os.chmod(path, 0o600)
        return path

    # ---- after configure: what AWS publishes and records ---------------------------------------
    def published(self, counts):
        """Lag datapoints a minute old for every resource (older ones fall out of the plugins' windows while a
        large estate grows and is measured), recovery points and jobs for the new backup plans."""
        have = self.made
        cw = {r: self.client("cloudwatch", r) for r in (P, D)}
        now = datetime.datetime.now(datetime.timezone.utc)
        data = {P: [], D: []}

        # One datapoint per metric, a minute old: moto's GetMetricStatistics scans every datapoint of the region,
        # so each one more per metric adds to every read of the whole estate.
        def points(region, ns, metric, value, unit, dims):
            data[region].append((ns, {"MetricName": metric, "Value": float(value), "Unit": unit,
                                      "Timestamp": now - datetime.timedelta(minutes=1),
                                      "Dimensions": [{"Name": a, "Value": b} for a, b in dims]}))
        for i in range(counts["tables"]):
            points(P, "AWS/DynamoDB", "ReplicationLatency", 850, "Milliseconds",
                   [("TableName", table(i)), ("ReceivingRegion", D)])
        for i in range(counts["clusters"]):
            for m in ("AuroraGlobalDBReplicationLag", "AuroraGlobalDBRPOLag"):
                points(D, "AWS/RDS", m, 400, "Milliseconds", [("DBClusterIdentifier", cluster(i) + "-replica")])
        for i in range(counts["buckets"]):
            dims = [("SourceBucket", bucket(i)), ("DestinationBucket", f"{bucket(i)}-{D}"), ("RuleId", "dr-replication")]
            for m, v, unit in (("ReplicationLatency", 40, "Seconds"), ("OperationsPendingReplication", 0, "Count"),
                               ("BytesPendingReplication", 0, "Bytes")):
                points(P, "AWS/S3", m, v, unit, dims)
        batches = []
        for region, items in data.items():
            by_ns = {}
            for ns, d in items:
                by_ns.setdefault(ns, []).append(d)
            for ns, ds in by_ns.items():
                batches += [(region, ns, ds[k:k + 500]) for k in range(0, len(ds), 500)]
        self.each(lambda b: cw[b[0]].put_metric_data(Namespace=b[1], MetricData=b[2]), batches)

        def backups(i):
            arn = (f"arn:aws:rds:{P}:{self.acct}:cluster:{cluster(i % counts['clusters'])}" if counts["clusters"]
                   else f"arn:aws:dynamodb:{P}:{self.acct}:table/{table(i)}")
            self.env.add_recovery_point(vault=vault(i), region=P, resource_arn=arn, age_hours=5)
            self.env.add_recovery_point(vault=vault(i), region=D, resource_arn=arn, age_hours=240,
                                        source_vault_arn=f"arn:aws:backup:{P}:{self.acct}:backup-vault:{vault(i)}")
            self.env.add_backup_job(vault=vault(i), resource_arn=arn, age_hours=5)
        self.each(backups, range(have["plans"], counts["plans"]))

    # ---- all of it --------------------------------------------------------------------------------
    def grow(self, counts):
        """Make the estate hold `counts` (only what is missing); returns timings and the configure's calls."""
        if not self.build_has("aurora"):
            counts = dict(counts, clusters=0)
        if any(counts[k] < self.made[k] for k in counts):
            raise ValueError(f"the estate only grows: it has {self.made}, asked for {counts}")
        t0 = time.monotonic()
        self.primary(counts)
        t1 = time.monotonic()
        new = self.resources(counts, start=self.made)
        conf = self.write_conf(os.path.join(self.dir, "configure-new.conf"), new, os.path.join(self.dir, "state"))
        calls = 0
        if new:
            r, log, _ = self.aws.measured([self.build.agent, "-c", conf, "configure", "--concurrency", "32",
                                           "--format", "json"], env=bl.agent_env(self.build), timeout=7200)
            calls = len(log)
            if r.rc != 0:
                rep = json.loads(r.stdout) if r.stdout.strip().startswith("{") else {}
                failed = [x for x in rep.get("resources", []) if x.get("status") == "failed"][:5]
                raise SystemExit(f"configure of the generated estate failed (exit {r.rc}): {failed or r.stderr[-3000:]}")
        t2 = time.monotonic()
        self.published(counts)
        t3 = time.monotonic()
        self.made = dict(counts)
        with open(self.state_file, "w") as f:
            json.dump(self.made, f)
        self.conf = self.write_conf(os.path.join(self.dir, "dr-agent.conf"), self.resources(counts),
                                    os.path.join(self.dir, "state"))
        return {"primary_s": t1 - t0, "configure_s": t2 - t1, "configure_calls": calls, "publish_s": t3 - t2,
                "new_resources": len(new)}

    def build_has(self, plugin):
        return plugin in self.build.plugins()


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tables", type=int, default=1000)
    ap.add_argument("--buckets", type=int, default=200)
    ap.add_argument("--clusters", type=int, default=50)
    ap.add_argument("--plans", type=int, default=20)
    ap.add_argument("--records", type=int, default=50)
    ap.add_argument("--dir", required=True, help="where the config and the estate's bookkeeping go")
    ap.add_argument("--build", default=os.path.join(bl.SOURCE, "build"))
    args = ap.parse_args(argv)
    build = bl.Build(args.build)
    os.makedirs(args.dir, exist_ok=True)
    est = Estate(bl.LocalAWS(build), build, args.dir)
    print(json.dumps(est.grow(counts_of(args)), indent=1))
    print(f"config: {est.conf}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
