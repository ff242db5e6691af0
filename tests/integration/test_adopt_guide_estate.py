#!/usr/bin/env python3
"""test_adopt_guide_estate.py: an estate built by hand exactly as the DR setup guide does it (its names, a health check
made by hand, a replication role with its own policy names), a configuration written from the docs with only the names
the operator knows: verify is OK where the estate is right and names each real gap; `dr-agent adopt` discovers the
estate read-only and prints the configuration and what differs from the agent's own setup."""
import json
import os
import re
import sys
import unittest

SRC = os.environ.get("DR_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
sys.path.insert(0, os.path.join(SRC, "tests", "env"))
import drtest  # noqa: E402

AGENT = os.environ.get("DR_AGENT_BIN", os.path.join(SRC, "build", "bin", "dr-agent"))
PLUGINS = os.environ.get("DR_AGENT_PLUGIN_DIR", os.path.join(SRC, "build", "lib", "dr-agent", "plugins"))
P, D = "us-east-1", "us-west-2"
TABLES = ["users", "incidents", "vendors", "tracking-sessions", "call-records"]
BUCKETS = ["call-recordings", "kb-documents", "incident-media"]
ROLE = "roadcall-s3-replication-role-prod"       # the guide's replication role and inline policy names
INLINE = "S3ReplicationPolicy"
MANAGED = "roadcall-s3-replicate-objects-prod"   # a managed policy of the operator's own naming
RULE = "ReplicateEverything"                      # the operator's rule ID, not the agent's
VAULT = "roadcall-backup-vault-prod"
PLAN = "roadcall-backup-plan-prod"
ZONE, RECORD = "roadcall.example.com", "api.roadcall.example.com"
PRIMARY_EP, DR_EP = "api-us-east-1.roadcall.example.com", "api-us-west-2.roadcall.example.com"
# what a read-only command may call: every operation a request log may hold starts with one of these
READ_PREFIXES = ("Describe", "Get", "List", "Head")

# The configuration an operator writes from docs/config.md and the plugin pages, knowing only the guide's names.
CONFIG = """
objectives = { rto = "1h"; rpo = "15m"; };
regions = { primary = "us-east-1"; dr = "us-west-2"; };
agent = { state_dir = "%(state)s"; };
resources = (
%(tables)s
  { type = "aurora"; name = "main"; cluster = "roadcall-aurora-prod"; dr_cluster = "roadcall-aurora-prod-replica";
    global_cluster = "roadcall-aurora-global"; },
  { type = "s3"; name = "call-recordings"; bucket = "roadcall-call-recordings-prod"; dr_bucket = "roadcall-call-recordings-prod-us-west-2"; },
  { type = "s3"; name = "kb-documents"; bucket = "roadcall-kb-documents-prod"; dr_bucket = "roadcall-kb-documents-prod-us-west-2"; },
  { type = "s3"; name = "incident-media"; bucket = "roadcall-incident-media-prod"; dr_bucket = "roadcall-incident-media-prod-us-west-2"; },
  { type = "backup"; name = "aurora"; plan = "%(plan)s"; vault = "%(vault)s";
    rules = [ "daily: cron(0 2 * * ? *) keep 35d", "weekly: cron(0 3 ? * SUN *) keep 90d",
              "monthly: cron(0 4 1 * ? *) keep 365d copy keep 365d" ];
    resources = [ "%(cluster_arn)s" ]; },
  { type = "route53"; name = "api"; zone = "%(zone)s"; record = "%(record)s";
    primary_value = "%(pep)s"; secondary_value = "%(dep)s"; health_check_path = "/health"; }
);
"""


def statement(actions, resources, effect="Allow"):
    return {"Effect": effect, "Action": actions, "Resource": resources}


class GuideEstate(drtest.EnvTestCase):
    """One estate for all the tests of this class, built once (moto is not reset between them)."""

    reset_moto = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env.reset(moto=True)
        cls.env.seed()  # what the CDK deployment leaves: tables, the Aurora cluster, buckets, the zone
        cls.acct = cls.env.account_id
        cls.cluster_arn = f"arn:aws:rds:{P}:{cls.acct}:cluster:roadcall-aurora-prod"
        cls.build_dynamodb()
        cls.build_aurora()
        cls.build_s3()
        cls.build_backup()
        cls.build_route53()
        cls.running()
        cls.dir = os.path.join(cls.env.tmpdir, "adopt-guide")
        os.makedirs(os.path.join(cls.dir, "state"), exist_ok=True)
        cls.conf = os.path.join(cls.dir, "dr-agent.conf")
        tables = "\n".join(f'  {{ type = "dynamodb"; name = "{t}"; table = "roadcall-{t}-prod"; }},' for t in TABLES)
        with open(cls.conf, "w") as f:
            f.write(CONFIG % dict(state=os.path.join(cls.dir, "state"), tables=tables, plan=PLAN, vault=VAULT,
                                  cluster_arn=cls.cluster_arn, zone=ZONE, record=RECORD, pep=PRIMARY_EP, dep=DR_EP))
        os.chmod(cls.conf, 0o600)

    def setUp(self):
        self.env.clear_requests()  # no reset: the emulated state (replicas, rules, recovery points) is the estate

    # ---- the guide's steps, by hand ----------------------------------------------------------
    @classmethod
    def build_dynamodb(cls):
        """Step 2 (configure-dynamodb-global-tables.sh): streams, a replica in us-west-2; PITR (35 days) as the guide's
        features list says. The gap on purpose: roadcall-vendors-prod never got point-in-time recovery."""
        ddb = cls.env.client("dynamodb")
        for t in TABLES:
            name = f"roadcall-{t}-prod"
            ddb.update_table(TableName=name, StreamSpecification={"StreamEnabled": True,
                                                                  "StreamViewType": "NEW_AND_OLD_IMAGES"})
            ddb.update_table(TableName=name, ReplicaUpdates=[{"Create": {"RegionName": D}}])
            if t != "vendors":
                for region in (P, D):
                    cls.env.client("dynamodb", region).update_continuous_backups(
                        TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})

    @classmethod
    def build_aurora(cls):
        """Step 3 (configure-aurora-replica.sh): a cross-region read replica cluster. Aurora PostgreSQL refuses it (only
        a global database replicates across regions), so the guide's estate has no DR cluster: a real gap."""
        import botocore.exceptions
        rds = cls.env.client("rds", D)
        with cls.assertRaises(unittest.TestCase(), botocore.exceptions.ClientError) as cm:
            rds.create_db_cluster(DBClusterIdentifier="roadcall-aurora-prod-replica", Engine="aurora-postgresql",
                                  EngineVersion="15.4", ReplicationSourceIdentifier=cls.cluster_arn)
        cls.aurora_refusal = cm.exception.response["Error"]["Code"]

    @classmethod
    def build_s3(cls):
        """Step 4 (configure-s3-replication.sh): versioning, the guide's role with its own inline policy (plus a managed
        one), rules with RTC 15 minutes and delete markers. Gaps on purpose: the role's policy denies
        s3:ReplicateDelete into the kb-documents DR bucket, and incident-media's rule has no RTC."""
        s3p, s3d, iam = cls.env.client("s3"), cls.env.client("s3", D), cls.env.client("iam")
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
                                                         "Action": "sts:AssumeRole"}]}
        role_arn = iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        iam.put_role_policy(RoleName=ROLE, PolicyName=INLINE, PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [
                statement(["s3:GetReplicationConfiguration", "s3:ListBucket"], "arn:aws:s3:::roadcall-*-prod*"),
                statement(["s3:GetObjectVersion*"], "arn:aws:s3:::roadcall-*/*"),
                statement("s3:ReplicateDelete", "arn:aws:s3:::roadcall-kb-documents-prod-us-west-2/*", "Deny")]}))
        pol = iam.create_policy(PolicyName=MANAGED, PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [statement("s3:Replicate*", "arn:aws:s3:::roadcall-*/*")]}))
        iam.attach_role_policy(RoleName=ROLE, PolicyArn=pol["Policy"]["Arn"])
        for b in BUCKETS:
            src, dst = f"roadcall-{b}-prod", f"roadcall-{b}-prod-us-west-2"
            s3d.create_bucket(Bucket=dst, CreateBucketConfiguration={"LocationConstraint": D})
            for c, bucket in ((s3p, src), (s3d, dst)):
                c.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
            dest = {"Bucket": f"arn:aws:s3:::{dst}", "Metrics": {"Status": "Enabled", "EventThreshold": {"Minutes": 15}}}
            if b != "incident-media":
                dest["ReplicationTime"] = {"Status": "Enabled", "Time": {"Minutes": 15}}
            s3p.put_bucket_replication(Bucket=src, ReplicationConfiguration={"Role": role_arn, "Rules": [{
                "ID": RULE, "Priority": 1, "Status": "Enabled", "Filter": {"Prefix": ""},
                "DeleteMarkerReplication": {"Status": "Enabled"}, "Destination": dest}]})

    @classmethod
    def build_backup(cls):
        """The guide's AWS Backup section: the vault in both regions, daily/weekly/monthly rules (monthly copied to the
        DR region), the Aurora cluster selected under the operator's own selection name."""
        for region in (P, D):
            cls.env.client("backup", region).create_backup_vault(BackupVaultName=VAULT)
        bk = cls.env.client("backup")
        dr_vault = f"arn:aws:backup:{D}:{cls.acct}:backup-vault:{VAULT}"
        plan = bk.create_backup_plan(BackupPlan={"BackupPlanName": PLAN, "Rules": [
            {"RuleName": "daily", "TargetBackupVaultName": VAULT, "ScheduleExpression": "cron(0 2 * * ? *)",
             "Lifecycle": {"DeleteAfterDays": 35}},
            {"RuleName": "weekly", "TargetBackupVaultName": VAULT, "ScheduleExpression": "cron(0 3 ? * SUN *)",
             "Lifecycle": {"DeleteAfterDays": 90}},
            {"RuleName": "monthly", "TargetBackupVaultName": VAULT, "ScheduleExpression": "cron(0 4 1 * ? *)",
             "Lifecycle": {"DeleteAfterDays": 365},
             "CopyActions": [{"DestinationBackupVaultArn": dr_vault, "Lifecycle": {"DeleteAfterDays": 365}}]}]})
        iam = cls.env.client("iam")
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "backup.amazonaws.com"},
                                                         "Action": "sts:AssumeRole"}]}
        iam.create_role(RoleName="AWSBackupDefaultServiceRole", Path="/service-role/",
                        AssumeRolePolicyDocument=json.dumps(trust))
        bk.create_backup_selection(BackupPlanId=plan["BackupPlanId"], BackupSelection={
            "SelectionName": "roadcall-aurora-prod-backup", "Resources": [cls.cluster_arn],
            "IamRoleArn": f"arn:aws:iam::{cls.acct}:role/service-role/AWSBackupDefaultServiceRole"})

    @classmethod
    def build_route53(cls):
        """A health check made by hand on the primary API, and the PRIMARY/SECONDARY failover records using it."""
        r53 = cls.env.client("route53")
        zone_id = [z for z in r53.list_hosted_zones_by_name(DNSName=ZONE)["HostedZones"]
                   if z["Name"] == ZONE + "."][0]["Id"].rsplit("/", 1)[-1]
        cls.hc_id = r53.create_health_check(CallerReference="roadcall-api-by-hand-1", HealthCheckConfig={
            "Type": "HTTPS", "FullyQualifiedDomainName": PRIMARY_EP, "Port": 443, "ResourcePath": "/health",
            "RequestInterval": 30, "FailureThreshold": 3, "EnableSNI": True})["HealthCheck"]["Id"]
        changes = []
        for role, value, sid in (("PRIMARY", PRIMARY_EP, "primary"), ("SECONDARY", DR_EP, "secondary")):
            rr = {"Name": RECORD, "Type": "CNAME", "SetIdentifier": sid, "Failover": role, "TTL": 60,
                  "ResourceRecords": [{"Value": value}]}
            if role == "PRIMARY":
                rr["HealthCheckId"] = cls.hc_id
            changes.append({"Action": "CREATE", "ResourceRecordSet": rr})
        r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes})

    @classmethod
    def running(cls):
        """What the running estate publishes: lag datapoints under the operator's rule ID, recovery points."""
        cls.env.put_lag_metrics(dynamodb_ms=800, s3_latency_s=40, s3_pending_ops=2, s3_pending_bytes=4096,
                                s3_rule_id=RULE)
        rp = cls.env.add_recovery_point(vault=VAULT, resource_arn=cls.cluster_arn, region=P, age_hours=3)
        cls.env.add_recovery_point(vault=VAULT, resource_arn=cls.cluster_arn, region=D, age_hours=9 * 24,
                                   source_vault_arn=f"arn:aws:backup:{P}:{cls.acct}:backup-vault:{VAULT}")
        cls.env.add_backup_job(type="backup", vault=VAULT, resource_arn=cls.cluster_arn, state="COMPLETED",
                               age_hours=3, recovery_point_arn=rp.get("RecoveryPointArn"))

    # ---- helpers ---------------------------------------------------------------------------
    def agent(self, *args, expect=None):
        r = self.env.run([AGENT, "-c", self.conf, "--plugin-dir", PLUGINS, *args], timeout=300)
        if expect is not None:
            self.assertEqual(r.rc, expect, f"dr-agent {' '.join(args)}: exit {r.rc}\n{r.stdout[-4000:]}\n{r.stderr[-3000:]}")
        return r

    def checks(self):
        r = self.agent("verify", "--format", "json")
        self.assertIn(r.rc, (0, 1, 2), r.stderr)
        out = json.loads(r.stdout)
        return {(res["id"], c["name"]): c for res in out["resources"] for c in res["checks"]}

    def assert_no_write(self):
        writes = [(q["service"], q["operation"]) for q in self.env.requests()
                  if q["operation"] and not q["operation"].startswith(READ_PREFIXES)]
        self.assertEqual(writes, [], "a read-only command called these")

    # ---- the tests ---------------------------------------------------------------------------
    def test_verify_judges_the_estate_it_finds(self):
        self.env.clear_requests()
        checks = self.checks()
        self.assert_no_write()
        gaps = {
            ("dynamodb.vendors", "pitr_primary"),                       # PITR never enabled
            ("dynamodb.vendors", "pitr_dr"),
            # the guide's cross-region read replica does not exist for Aurora PostgreSQL (refused when built)
            ("aurora.main", "global_cluster_status"),
            ("aurora.main", "dr_cluster_status"),
            ("s3.kb-documents", "replication_role"),                     # the explicit Deny
            ("s3.incident-media", "replication_time_control"),           # a rule without RTC
            # the guide's own design: its failover edits Route 53 through the control plane in us-east-1
            ("route53.api", "failover_control_planes"),
        }
        for key in gaps:
            self.assertIn(key, checks, sorted(checks))
            self.assertIn(checks[key]["status"], ("WARNING", "CRITICAL"), (key, checks[key]))
        self.assertIn("s3:ReplicateDelete on arn:aws:s3:::roadcall-kb-documents-prod-us-west-2/*",
                      checks[("s3.kb-documents", "replication_role")]["detail"])
        self.assertIn("denied", checks[("s3.kb-documents", "replication_role")]["detail"])
        self.assertEqual(self.aurora_refusal, "InvalidParameterCombination")
        self.assertIn("roadcall-aurora-prod-replica not found in us-west-2", checks[("aurora.main", "dr_cluster_status")]["detail"])
        self.assertEqual(checks[("aurora.main", "primary_cluster_status")]["status"], "OK")
        not_ok = {k: (c["status"], c["detail"]) for k, c in checks.items() if c["status"] != "OK" and k not in gaps}
        self.assertEqual(not_ok, {}, "checks not OK on the parts the guide built right")
        # the hand-made health check and the guide's role (inline + managed policies) are the ones judged
        hc = checks[("route53.api", "health_check")]
        self.assertIn(self.hc_id, hc["detail"])
        role = checks[("s3.call-recordings", "replication_role")]
        self.assertIn(INLINE, role["detail"])
        self.assertIn(MANAGED, role["detail"])
        self.assertIn(RULE, checks[("s3.call-recordings", "replication_configuration")]["detail"])

        # each name verify found instead of reading it from the config is reported as config:<key>, OK
        self.assertEqual(checks[("route53.api", "config:health_check_id")]["observed"], self.hc_id)
        self.assertEqual(checks[("s3.kb-documents", "config:rule_id")]["observed"], RULE)
        self.assertTrue(checks[("s3.kb-documents", "config:replication_role")]["observed"].endswith(":role/" + ROLE))
        self.assertEqual(checks[("backup.aurora", "config:selection")]["observed"], "roadcall-aurora-prod-backup")

    def test_adopt_prints_the_configuration_and_the_differences_read_only(self):
        self.env.clear_requests()
        r = self.agent("adopt", "--format", "json", expect=2)  # 2: something differs from the agent's DR setup
        self.assert_no_write()
        self.assertTrue(self.env.requests(), "adopt made no AWS call at all")
        doc = {x["id"]: x for x in json.loads(r.stdout)["resources"]}
        self.assertEqual(doc["route53.api"]["found"], {"health_check_id": self.hc_id})
        self.assertEqual(doc["s3.call-recordings"]["found"]["rule_id"], RULE)
        self.assertEqual(doc["backup.aurora"]["found"], {"selection": "roadcall-aurora-prod-backup"})
        self.assertEqual(doc["s3.call-recordings"]["keys"]["bucket"], "roadcall-call-recordings-prod")
        # the gaps, each with its resource
        self.assertIn("replication_time_control", [d["check"] for d in doc["s3.incident-media"]["differences"]])
        self.assertIn("pitr_primary", [d["check"] for d in doc["dynamodb.vendors"]["differences"]])
        self.assertIn("dr_cluster_status", [d["check"] for d in doc["aurora.main"]["differences"]])
        self.assertEqual(doc["dynamodb.users"]["differences"], [])
        # what configure would change: the RTC of incident-media's rule (the existing rule, updated in place)
        would = doc["s3.incident-media"]["configure_would"]
        self.assertTrue(any(RULE in (c["detail"] or "") for c in would), would)
        # configure adopts too: no second health check, no role or rule of its own, no selection of its own
        for rid in ("route53.api", "s3.call-recordings", "s3.kb-documents", "backup.aurora", "dynamodb.users"):
            self.assertEqual(doc[rid]["configure_would"], [], rid)

        # the text form is a configuration the agent accepts: written to a file, verify reads it (exit 2: the gaps)
        text = self.agent("adopt", expect=2).stdout
        self.assertIn(f'health_check_id = "{self.hc_id}";   # found', text)
        self.assertRegex(text, r"#\s+s3\.incident-media\s+CRITICAL\s+replication_time_control")
        adopted = os.path.join(self.dir, "adopted.conf")
        with open(self.conf) as f:
            head = f.read().split("resources = (")[0]
        with open(adopted, "w") as f:
            f.write(head + text)
        os.chmod(adopted, 0o600)
        r = self.env.run([AGENT, "-c", adopted, "--plugin-dir", PLUGINS, "verify", "--format", "json"], timeout=300)
        self.assertEqual(r.rc, 2, r.stderr[-2000:])
        pinned = {(x["id"], c["name"]) for x in json.loads(r.stdout)["resources"] for c in x["checks"]}
        self.assertNotIn(("route53.api", "config:health_check_id"), pinned)  # now set in the file
        self.assertIn(("route53.api", "health_check"), pinned)


if __name__ == "__main__":
    unittest.main(verbosity=2)
