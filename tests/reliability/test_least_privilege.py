#!/usr/bin/env python3
"""test_least_privilege.py: every hook of the estate's plugins (DynamoDB; Aurora in both its modes) with only its
policy from docs/iam/, under moto's signature and IAM checks; then, action by action, the same hook with that one
action removed must fail with a clear AccessDenied naming the action (in its error or in a check it could not make).
What moto cannot check is listed on a visible line, or with its reason in KNOWN_UNCHECKED, never passed silently:
  - Route 53 and Backup: moto refuses correctly signed GET requests under auth, so their hooks cannot run at all;
  - moto ignores resource ARNs except for S3, so non-S3 statements are granted on "*";
  - moto names CloudWatch actions `monitoring:`, so cloudwatch:X is granted (and removed) under both names;
  - operations the test proxy emulates (DynamoDB replica creation and removal through UpdateTable; Aurora global
    switchover and failover; an Aurora replica's CreateDBCluster, which it completes and re-signs) are not checked.
"""
import copy
import json
import os
import re
import sys
import tempfile
import unittest

import reltest
from reltest import D, P

MOTO_CANNOT = {"route53": "moto refuses signed Route 53 GETs under auth",
               "backup": "moto refuses signed AWS Backup GETs under auth",
               "s3": "moto maps S3 replication operations to other IAM actions than AWS does (DeleteBucketReplication is "
                     "s3:PutReplicationConfiguration in AWS) and its S3 AccessDenied names no action; "
                     "tests/plugins/s3/test_s3_iam.py runs each hook with its policy"}
HOOKS = ("configure", "verify", "failover", "failback")
# What no hook of the aurora test estate can need, in either mode.
AURORA_EITHER_MODE = {
    "rds:AddTagsToResource": "the tags go with CreateDBCluster; AWS checks rds:AddTagsToResource on it, moto does not",
    "kms:DescribeKey": "encrypted clusters only; the test estate is not encrypted",
    "kms:CreateGrant": "encrypted clusters only; the test estate is not encrypted",
}
# Actions whose removal cannot make the hook fail here, and why. Any other action must.
KNOWN_UNCHECKED = {
    "dynamodb": {
        # what AWS checks on the caller when UpdateTable adds or removes a replica: the proxy emulates replica
        # creation without IAM
        **{f"{h}:{a}": "replica creation is emulated by the test proxy, without IAM" for h in ("configure", "failback")
           for a in ("dynamodb:CreateTable", "dynamodb:CreateTableReplica", "dynamodb:Scan", "dynamodb:Query",
                     "dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:DeleteItem",
                     "dynamodb:BatchWriteItem", "iam:CreateServiceLinkedRole")},
        # replica prerequisites: only for PROVISIONED tables (write auto scaling, which DynamoDB reads from
        # Application Auto Scaling on the caller's behalf) and tables with a customer managed key; the estate's
        # tables are on-demand with the default key
        **{f"configure:{a}": "PROVISIONED or CMK-encrypted tables only; the estate has neither" for a in (
            "dynamodb:DescribeTableReplicaAutoScaling", "application-autoscaling:DescribeScalableTargets",
            "application-autoscaling:DescribeScalingPolicies", "kms:DescribeKey", "kms:CreateGrant", "kms:Decrypt",
            "kms:Encrypt")},
        # the canary's clean-up: a failed delete is a warning naming the item, never a failed failover
        "failover:dynamodb:DeleteItem": "a canary item that cannot be deleted is reported as a warning",
        # failback after a failover finds the global table, streams and PITR in place: nothing to change
        "failback:dynamodb:UpdateTable": "nothing to change after a failover",
        "failback:dynamodb:DescribeContinuousBackups": "not read when the table needs no change",
        "failback:dynamodb:UpdateContinuousBackups": "nothing to change after a failover",
    },
    # the global database (the reference estate), graceful: managed switchovers there and back
    "aurora": {
        **{f"{h}:{a}": r for h in ("configure", "failback") for a, r in AURORA_EITHER_MODE.items()},
        "configure:rds:ModifyDBCluster": "only when the DR capacity drifts; a new DR cluster is created with it",
        **{f"{h}:rds:SwitchoverGlobalCluster": "emulated by the test proxy (moto lacks it), without IAM"
           for h in ("failover", "failback")},
        **{f"{h}:rds:FailoverGlobalCluster": "forced only (aurora-global)" for h in ("failover", "failback")},
        "failover:cloudwatch:GetMetricStatistics": "forced only: the last known lag (aurora-global)",
        "failback:rds:DescribeDBClusterSnapshots": "only after a failover with data loss: the snapshot Aurora keeps "
        "of the old primary (aurora-global)",
        **{f"failback:rds:{a}": "after a switchover the old primary is a connected secondary: nothing is removed, "
           "renamed or created" for a in ("RemoveFromGlobalCluster", "ModifyDBCluster", "CreateDBCluster",
                                          "CreateDBInstance")},
        **{f"{h}:sts:GetCallerIdentity": "ARNs come from the described clusters; STS only when none is known"
           for h in HOOKS if h != "failover"},
    },
    # mode global, forced: without the data plane the old primary stays a member and is not rebuilt
    "aurora-global": {
        **{f"{h}:{a}": r for h in ("configure", "failback") for a, r in AURORA_EITHER_MODE.items()},
        "configure:rds:ModifyDBCluster": "only when the DR capacity drifts; a new DR cluster is created with it",
        **{f"{h}:rds:{a}": "emulated by the test proxy (moto lacks it), without IAM" for h in ("failover", "failback")
           for a in ("SwitchoverGlobalCluster", "FailoverGlobalCluster")},
        **{f"failback:rds:{a}": "a forced failback without the data plane keeps the old primary as a member: "
           "nothing is removed, renamed or created" for a in ("RemoveFromGlobalCluster", "ModifyDBCluster",
                                                              "CreateDBCluster", "CreateDBInstance")},
        **{f"{h}:sts:GetCallerIdentity": "ARNs come from the described clusters; STS only when none is known"
           for h in HOOKS if h != "failover"},
    },
}
# Aurora runs without its data plane here (IAM does not reach it): "aurora" switches over gracefully (the managed
# switchover needs no fence), "aurora-global" fails over and back forced (with data loss, the last known lag read).
MODE = {"aurora-global": ["--mode", "forced"]}


def load(ptype):
    with open(os.path.join(reltest.SOURCE, "docs", "iam", f"{ptype}.json")) as f:
        return json.load(f)


def actions(policy):
    out = []
    for st in policy["Statement"]:
        for a in st["Action"] if isinstance(st["Action"], list) else [st["Action"]]:
            if a not in out:
                out.append(a)
    return out


def as_moto_checks_it(policy, drop=None):
    """The policy minus `drop`; non-S3 resources as "*", no conditions, cloudwatch: also as monitoring:."""
    p = copy.deepcopy(policy)
    for st in p["Statement"]:
        acts = [a for a in (st["Action"] if isinstance(st["Action"], list) else [st["Action"]]) if a != drop]
        acts += [a.replace("cloudwatch:", "monitoring:") for a in acts if a.startswith("cloudwatch:")]
        st["Action"] = acts or ["sts:GetCallerIdentity"]
        if not all(a.startswith("s3:") for a in acts):
            st["Resource"] = "*"
        st.pop("Condition", None)
    return json.dumps(p)


class LeastPrivilege(reltest.drtest.EnvTestCase):
    reset_moto = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not cls.env.auth:
            raise RuntimeError("test_least_privilege.py needs moto's auth mode: run it with `drenv run --auth`")
        cls.n = 0
        cls.iam = cls.env.client("iam", P, attempts=3)
        cls.figures = {}

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="lp-", dir=self.env.tmpdir)

    def user(self, policy):
        LeastPrivilege.n += 1
        name = f"lp-{LeastPrivilege.n}"
        self.iam.create_user(UserName=name)
        self.iam.put_user_policy(UserName=name, PolicyName="dr-agent", PolicyDocument=policy)
        k = self.iam.create_access_key(UserName=name)["AccessKey"]
        return {"AWS_ACCESS_KEY_ID": k["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": k["SecretAccessKey"]}

    # ---- one fresh resource per trial, in the state the hook starts from ---------------------------
    def resource(self, ptype):
        LeastPrivilege.n += 1
        name = f"roadcall-lp{LeastPrivilege.n}-prod"
        if ptype.startswith("aurora"):
            # the primary cluster as the application's deployment leaves it, and its DR cluster to come
            rds = self.env.client("rds", P, attempts=3)
            rds.create_db_cluster(DBClusterIdentifier=name, Engine="aurora-postgresql", EngineVersion="15.4",
                                  MasterUsername="postgres", MasterUserPassword="seed-only-not-a-secret",
                                  DatabaseName="roadcall",
                                  ServerlessV2ScalingConfiguration={"MinCapacity": 0.5, "MaxCapacity": 16})
            rds.create_db_instance(DBInstanceIdentifier=f"{name}-writer", DBClusterIdentifier=name,
                                   Engine="aurora-postgresql", DBInstanceClass="db.serverless")
            block = (f'{{ type = "aurora"; name = "db"; mode = "global"; cluster = "{name}"; '
                     f'dr_cluster = "{name}-replica"; global_cluster = "{name}-global"; engine_version = "15.4"; '
                     f'min_capacity = 0.5; max_capacity = 16.0; poll_interval = "200ms"; }}')
            metrics = dict(aurora_ms=900, aurora_rpo_ms=900, cluster=f"{name}-replica")
        elif ptype == "dynamodb":
            self.env.client("dynamodb", P, attempts=3).create_table(
                TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
            block = (f'{{ type = "dynamodb"; name = "t"; table = "{name}"; canary_key = "pk=dr-agent-canary"; '
                     f'poll_interval = "200ms"; }}')
            metrics = dict(dynamodb_ms=850, tables=[name])
        else:
            self.env.client("s3", P, attempts=3).create_bucket(Bucket=name)
            block = f'{{ type = "s3"; name = "b"; bucket = "{name}"; dr_bucket = "{name}-us-west-2"; }}'
            metrics = dict(s3_latency_s=60, s3_pending_ops=0, s3_pending_bytes=0, buckets=[name])
        conf = reltest.write_conf(os.path.join(self.tmp, f"{name}.conf"), os.path.join(self.tmp, name), block,
                                  aws={"max_attempts": "1"})
        return reltest.Agent(self.env, conf, os.path.join(self.tmp, name)), metrics

    def prepare(self, ptype, hook):
        """A resource whose `hook` has its work to do; steps before it run with the test's own credentials."""
        agent, metrics = self.resource(ptype)
        if hook != "configure":
            r = agent.run("configure")
            self.assertEqual(r.rc, 0, r)
            self.env.put_lag_metrics(points=3, **metrics)
        if hook == "failback":
            r = agent.run("failover", "--yes", *MODE.get(ptype, []))
            self.assertEqual(r.rc, 0, r)
        return agent

    def run_hook(self, ptype, agent, hook, creds):
        args = {"configure": ["configure"], "verify": ["verify"], "failover": ["failover", "--yes"],
                "failback": ["failback", "--yes"]}[hook]
        if hook in ("failover", "failback"):
            args += MODE.get(ptype, [])
        return agent.run(*args, "--format", "json", env=creds)

    def succeeded(self, hook, r):
        """Exit 0, a report, and no refusal in it (a check that could not be made is a failure too)."""
        return r.rc == 0 and r.json is not None and not re.search(r"AccessDenied|not authorized", json.dumps(r.json))

    def check_plugin(self, ptype):
        policies = load(ptype.split("-")[0])
        self.assertEqual(set(policies) & set(HOOKS), set(HOOKS))
        fig = {"actions": 0, "denied": 0, "not_exercised": []}
        for hook in HOOKS:
            with self.subTest(plugin=ptype, hook=hook, removed=None):
                agent = self.prepare(ptype, hook)
                r = self.run_hook(ptype, agent, hook, self.user(as_moto_checks_it(policies[hook])))
                self.assertTrue(self.succeeded(hook, r), f"{ptype} {hook} with its whole policy: {r}")
            for action in actions(policies[hook]):
                fig["actions"] += 1
                with self.subTest(plugin=ptype, hook=hook, removed=action):
                    agent = self.prepare(ptype, hook)
                    r = self.run_hook(ptype, agent, hook,
                                      self.user(as_moto_checks_it(policies[hook], drop=action)))
                    if self.succeeded(hook, r):
                        fig["not_exercised"].append(f"{hook}:{action}")
                        print(f"  NOT EXERCISED: {ptype} {hook} without {action} succeeded (the operation is not "
                              "needed from this state, or the test proxy emulates it without IAM)", flush=True)
                        continue
                    text = json.dumps(r.json) if r.json else r.stdout + r.stderr
                    self.assertRegex(text, r"AccessDenied|not authorized", f"{ptype} {hook} without {action}: {r}")
                    moto_name = action.replace("cloudwatch:", "monitoring:")
                    self.assertTrue(action in text or moto_name in text,
                                    f"{ptype} {hook} without {action}: the message does not name the action: "
                                    f"{text[:1500]}")
                    fig["denied"] += 1
        LeastPrivilege.figures[ptype] = fig
        print(f"\n{ptype}: {fig['actions']} actions removed one at a time: {fig['denied']} made the hook fail with "
              f"AccessDenied naming the action; not exercised (listed with reasons in KNOWN_UNCHECKED): "
              f"{len(fig['not_exercised'])}", flush=True)
        self.assertEqual(sorted(fig["not_exercised"]), sorted(KNOWN_UNCHECKED.get(ptype, {})))
        self.assertEqual(fig["denied"] + len(fig["not_exercised"]), fig["actions"])

    def test_dynamodb(self):
        self.check_plugin("dynamodb")

    def test_aurora(self):
        self.check_plugin("aurora")

    def test_aurora_global_mode(self):
        self.check_plugin("aurora-global")

    def test_what_moto_cannot_check(self):
        for ptype, why in MOTO_CANNOT.items():
            self.assertTrue(os.path.exists(os.path.join(reltest.SOURCE, "docs", "iam", f"{ptype}.json")))
            print(f"\nNOT CHECKED UNDER AUTH: {ptype}: {why}", flush=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
