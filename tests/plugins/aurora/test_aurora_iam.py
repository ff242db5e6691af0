#!/usr/bin/env python3
"""aurora plugin: each hook runs with nothing but its own policy from docs/iam/aurora.json (moto checking SigV4 and
IAM), configure to failback of the global database; a hook run with another hook's policy is refused, so the check has teeth.

moto matches every RDS request against the resource "*" (it has no resource-level evaluation), so the policies are
used with their actions as written and their resources widened to "*": this proves the action lists, while the
resource ARNs are documented in docs/plugins/aurora.md. moto also names the CloudWatch actions of the JSON protocol
"monitoring:*" where IAM says "cloudwatch:*": both names are granted. SwitchoverGlobalCluster and
FailoverGlobalCluster are emulated by the proxy (moto lacks them): those escape moto's check. The refusals checked here are calls that
reach moto as the agent signed them.
"""
import json
import os

from aurora_env import AuroraTestCase, changes_of, checks_of, main, resource_of

POLICY_FILE = os.path.join(os.environ.get("DR_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../../..")),
                           "docs", "iam", "aurora.json")


class Iam(AuroraTestCase):
    def setUp(self):
        super().setUp()
        self.assertTrue(self.env.auth, "run with drenv --auth")
        with open(POLICY_FILE) as f:
            self.policies = json.load(f)
        self.assertEqual(set(self.policies), {"configure", "verify", "failover", "failback", "cleanup", "diagnose"})

    def user_for(self, hook, suffix):
        """An IAM user whose only policy is the hook's (resources widened to "*" for moto)."""
        doc = json.loads(json.dumps(self.policies[hook]))
        for st in doc["Statement"]:
            self.assertEqual(st["Effect"], "Allow")
            st["Resource"] = "*"
            st.pop("Condition", None)
            # moto names CloudWatch actions after the signing name when the JSON protocol is used
            st["Action"] += [a.replace("cloudwatch:", "monitoring:") for a in st["Action"] if a.startswith("cloudwatch:")]
        iam = self.env.client("iam")
        name = f"dr-agent-{hook}-{suffix}"
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName=hook, PolicyDocument=json.dumps(doc))
        k = iam.create_access_key(UserName=name)["AccessKey"]
        return {"AWS_ACCESS_KEY_ID": k["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": k["SecretAccessKey"]}

    def run_as(self, creds, *args, expect=0):
        r = self.env.run([self.agent, "-c", self.conf, "--plugin-dir", self.plugins] + list(args) +
                         ["--format", "json"], env=creds)
        self.assertEqual(r.rc, expect, f"{args}: {r.stdout[-2500:]} {r.stderr[-1500:]}")
        return r.json

    def cycle(self, mode):
        self.mode = mode
        self.conf = self.write_conf()
        users = {h: self.user_for(h, mode) for h in self.policies}
        self.clean_rds()
        self.seed_primary()

        # the verify policy cannot configure: moto refuses CreateGlobalCluster, nothing is created
        rep = self.run_as(users["verify"], "configure", expect=1)
        self.assertIn("AccessDenied", json.dumps(rep))
        self.assertIsNone(self.cluster("us-west-2", "roadcall-aurora-prod-replica"))

        rep = self.run_as(users["configure"], "configure")
        self.assertEqual(resource_of(rep)["status"], "done")
        self.put_lag(200)
        rep = self.run_as(users["verify"], "verify", "--serving", "primary")
        self.assertEqual(rep["status"], "OK", [c for c in checks_of(rep).values() if c["status"] != "OK"])
        rep = self.run_as(users["diagnose"], "diagnose", "--serving", "primary")
        self.assertEqual(rep["status"], "OK", [c for c in checks_of(rep).values() if c["status"] != "OK"])

        rep = self.run_as(users["failover"], "failover", "--yes")
        self.assertEqual(resource_of(rep)["status"], "done")
        rep = self.run_as(users["verify"], "verify", "--serving", "dr")
        self.assertEqual(rep["status"], "OK", rep)

        self.clear_automated_snapshots()
        rep = self.run_as(users["failback"], "failback", "--yes")
        self.assertEqual(resource_of(rep)["status"], "done", changes_of(rep))
        self.put_lag(200)
        rep = self.run_as(users["verify"], "verify", "--serving", "primary")
        self.assertEqual(rep["status"], "OK", [c for c in checks_of(rep).values() if c["status"] != "OK"])

    def test_global_database_with_least_privilege(self):
        self.cycle("global")

    def clean_rds(self):
        """moto is not reset under --auth (that would delete the IAM users): remove the other test's clusters."""
        for region in ("us-east-1", "us-west-2"):
            rds = self.env.client("rds", region)
            for i in rds.describe_db_instances()["DBInstances"]:
                rds.delete_db_instance(DBInstanceIdentifier=i["DBInstanceIdentifier"], SkipFinalSnapshot=True)
            for c in rds.describe_db_clusters()["DBClusters"]:
                rds.delete_db_cluster(DBClusterIdentifier=c["DBClusterIdentifier"], SkipFinalSnapshot=True)
        self.clear_automated_snapshots()


if __name__ == "__main__":
    main()
