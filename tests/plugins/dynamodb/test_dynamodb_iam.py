#!/usr/bin/env python3
"""The dynamodb plugin's published IAM policy (docs/iam/dynamodb.json): each hook runs with only its own policy.

Runs with moto checking SigV4 and IAM (drenv --auth). Moto evaluates actions only: it matches every
non-S3 request against the resource "*" and knows no DynamoDB condition keys, so the test grants the
policy's actions on "*" without conditions, and CloudWatch actions under moto's signing-name prefix
(`monitoring:`) as well. Operations the proxy emulates (UpdateTable ReplicaUpdates) are not checked.
"""
import copy
import datetime
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.environ.get("DR_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../../..")),
                                "tests", "env"))
import drtest  # noqa: E402

P, D = drtest.PRIMARY, drtest.DR
SOURCE = os.environ.get("DR_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "../../..")))
AGENT = os.environ.get("DR_AGENT_BIN", "dr-agent")

with open(os.path.join(SOURCE, "docs", "iam", "dynamodb.json")) as f:
    POLICIES = json.load(f)


def as_moto_checks_it(policy, drop=()):
    """The policy's actions on "*", without conditions, with monitoring: twins; minus the actions in `drop`."""
    p = copy.deepcopy(policy)
    for st in p["Statement"]:
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        actions = [a for a in actions if a not in drop]
        actions += [a.replace("cloudwatch:", "monitoring:") for a in actions if a.startswith("cloudwatch:")]
        st["Action"] = actions or ["sts:GetCallerIdentity"]
        st["Resource"] = "*"
        st.pop("Condition", None)
    return json.dumps(p)


class DynamoDBIam(drtest.EnvTestCase):
    reset_moto = False  # with --auth a moto reset would delete the IAM users

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not cls.env.auth:  # a failure, not a skip: a skip would pass silently
            raise RuntimeError("run with `drenv run --auth`: moto must check signatures and policies")

    def setUp(self):
        super().setUp()
        self.iam = self.env.client("iam", P)
        self.ddb = {r: self.env.client("dynamodb", r) for r in (P, D)}
        self.cw = self.env.client("cloudwatch", P)
        self.tmp = os.path.join(self.env.tmpdir, self.id().rsplit(".", 1)[-1])
        os.makedirs(self.tmp)

    def user(self, name, policy):
        self.iam.create_user(UserName=name)
        self.iam.put_user_policy(UserName=name, PolicyName="dr-agent", PolicyDocument=policy)
        k = self.iam.create_access_key(UserName=name)["AccessKey"]
        return {"AWS_ACCESS_KEY_ID": k["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": k["SecretAccessKey"]}

    def conf(self, tables):
        res = ",\n".join(f'  {{ type = "dynamodb"; name = "{t}"; table = "{t}"; poll_interval = "200ms"; '
                         f'canary_key = "pk=dr-agent-canary"; }}' for t in tables)
        path = os.path.join(self.tmp, "dr-agent.conf")
        with open(path, "w") as f:
            f.write(f"""objectives = {{ rto = "1h"; rpo = "15m"; }};
regions = {{ primary = "{P}"; dr = "{D}"; }};
agent = {{ state_dir = "{self.tmp}/state"; }};
resources = (
{res}
);
""")
        os.chmod(path, 0o600)
        return path

    def create(self, table):
        self.ddb[P].create_table(TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                                 AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                                 BillingMode="PAY_PER_REQUEST")
        when = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=30)
        self.cw.put_metric_data(Namespace="AWS/DynamoDB", MetricData=[{
            "MetricName": "ReplicationLatency", "Timestamp": when, "Value": 900.0, "Unit": "Milliseconds",
            "Dimensions": [{"Name": "TableName", "Value": table}, {"Name": "ReceivingRegion", "Value": D}]}])

    def hook(self, conf, creds, *args, expect):
        res = self.env.run([AGENT, "-c", conf] + list(args) + ["--format", "json"], env=creds)
        self.assertEqual(res.rc, expect, res)
        self.assertIsNotNone(res.json, res)
        return res.json

    def test_each_hook_with_its_own_policy(self):
        self.assertEqual(set(POLICIES), {"configure", "verify", "failover", "failback", "diagnose"})
        tables = ["roadcall-users-prod", "roadcall-incidents-prod"]
        for t in tables:
            self.create(t)
        conf = self.conf(tables)
        users = {hook: self.user(f"dr-agent-{hook}", as_moto_checks_it(POLICIES[hook])) for hook in POLICIES}

        self.assertEqual(self.hook(conf, users["configure"], "configure", "--plan", expect=2)["status"], "planned")
        self.assertEqual(self.hook(conf, users["configure"], "configure", expect=0)["status"], "done")
        self.assertEqual(self.hook(conf, users["configure"], "configure", expect=0)["status"], "unchanged")
        rep = self.hook(conf, users["verify"], "verify", expect=0)
        self.assertEqual({c["status"] for r in rep["resources"] for c in r["checks"]}, {"OK"})
        rep = self.hook(conf, users["diagnose"], "diagnose", expect=0)
        self.assertEqual({c["status"] for r in rep["resources"] for c in r["checks"]}, {"OK"})
        rep = self.hook(conf, users["failover"], "failover", "--yes", expect=0)
        self.assertEqual([r["status"] for r in rep["resources"]], ["done", "done"])
        rep = self.hook(conf, users["failback"], "failback", "--yes", "--mode", "forced", expect=0)
        self.assertEqual([r["status"] for r in rep["resources"]], ["unchanged", "unchanged"])

        # the verify policy cannot change anything
        self.ddb[D].update_continuous_backups(TableName=tables[0], PointInTimeRecoverySpecification={
            "PointInTimeRecoveryEnabled": False})
        rep = self.hook(conf, users["verify"], "configure", expect=1)
        self.assertIn("AccessDenied", json.dumps(rep))
        self.assertEqual(self.ddb[D].describe_continuous_backups(TableName=tables[0])[
            "ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"], "DISABLED")

    def test_a_missing_permission_is_unknown_never_ok(self):
        t = "roadcall-vendors-prod"
        self.create(t)
        conf = self.conf([t])
        self.hook(conf, {}, "configure", expect=0)  # the test's own admin credentials
        creds = self.user("dr-agent-verify-partial",
                          as_moto_checks_it(POLICIES["verify"], drop=("dynamodb:DescribeContinuousBackups",)))
        rep = self.hook(conf, creds, "verify", expect=3)
        checks = {c["name"]: c for c in rep["resources"][0]["checks"]}
        self.assertEqual({n: c["status"] for n, c in checks.items() if c["status"] != "OK"},
                         {"pitr_primary": "UNKNOWN", "pitr_dr": "UNKNOWN"})
        self.assertIn("AccessDenied", checks["pitr_dr"]["detail"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
