#!/usr/bin/env python3
"""test_backup.py: the backup plugin's hooks against moto and the test proxy, healthy and broken, with the reference estate."""
import datetime
import json
import os
import re
import shutil
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("DR_SOURCE_DIR", os.path.abspath(os.path.join(HERE, "..", "..", "..")))
sys.path.insert(0, os.path.join(SOURCE, "tests", "env"))
import drtest  # noqa: E402

AGENT = os.environ.get("DR_AGENT_BIN", os.path.join(SOURCE, "build", "bin", "dr-agent"))
PLUGINS = os.environ.get("DR_AGENT_PLUGIN_DIR", os.path.join(SOURCE, "build", "lib", "dr-agent", "plugins"))

P, DR = drtest.PRIMARY, drtest.DR
ACCOUNT = "123456789012"
PLAN = "roadcall-backup-plan-prod"
VAULT = "roadcall-backup-vault-prod"
CLUSTER = f"arn:aws:rds:us-east-1:{ACCOUNT}:cluster:roadcall-aurora-prod"
LABEL = "roadcall-aurora-prod"
DR_VAULT_ARN = f"arn:aws:backup:{DR}:{ACCOUNT}:backup-vault:{VAULT}"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/service-role/AWSBackupDefaultServiceRole"
RID = "backup.aurora"

# the checks of a healthy verify with the primary region serving
HEALTHY = ["backup_vault", "dr_backup_vault", "backup_plan", "backup_rules", "copy_action", "backup_selection",
           f"recovery_point_age:{LABEL}", f"dr_copy_age:{LABEL}", "backup_jobs", "copy_jobs"]


def reference_block():
    """The backup resource of conf/dr-agent.conf, as written there."""
    with open(os.path.join(SOURCE, "conf", "dr-agent.conf")) as f:
        text = f.read()
    m = re.search(r'\{\s*type = "backup";.*?\n  \}', text, re.S)
    if not m:
        raise RuntimeError("conf/dr-agent.conf has no backup resource")
    return m.group(0)


def checks(res):
    return {c["name"]: c for c in resource(res)["checks"]}


def statuses(res):
    return {n: c["status"] for n, c in checks(res).items()}


def resource(res):
    if res.json is None:
        raise AssertionError(f"no JSON report: {res}")
    found = [r for r in res.json["resources"] if r["id"] == RID]
    if len(found) != 1:
        raise AssertionError(f"no {RID} in the report: {res.stdout[:500]}")
    return found[0]


def changes(res):
    return [(c["action"], c["target"]) for c in resource(res)["changes"]]


class BackupPlugin(drtest.EnvTestCase):
    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="drbackup.")
        self.conf = self.write_conf()
        self.bk = self.env.client("backup", P, attempts=3)
        self.bk_dr = self.env.client("backup", DR, attempts=3)

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)
        super().tearDown()

    # ---- helpers -------------------------------------------------------------------------------
    def write_conf(self, block=None, name="dr-agent.conf"):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write('objectives = { rto = "1h"; rpo = "15m"; };\n'
                    'regions = { primary = "us-east-1"; dr = "us-west-2"; };\n'
                    'aws = { max_attempts = 2; connect_timeout = "2s"; attempt_timeout = "10s"; };\n'
                    f'agent = {{ state_dir = "{self.dir}/state"; }};\n'
                    f'resources = (\n{block or reference_block()}\n);\n')
        return path

    def agent(self, *args, conf=None, fmt=True):
        cmd = [AGENT, "-c", conf or self.conf, *args] + (["--format", "json"] if fmt else [])
        return self.env.run(cmd, env={"DR_AGENT_PLUGIN_DIR": PLUGINS}, timeout=120)

    def configure(self):
        res = self.agent("configure")
        self.assertEqual(res.rc, 0, res)
        return res

    def plan_id(self):
        plans = [p for p in self.bk.list_backup_plans()["BackupPlansList"] if p["BackupPlanName"] == PLAN]
        self.assertEqual(len(plans), 1, plans)
        return plans[0]["BackupPlanId"]

    def estate(self, rp_hours=5, copy_hours=240):
        """configure, then what AWS Backup would have made since: recovery points in both vaults and their jobs."""
        self.configure()
        self.env.add_recovery_point(vault=VAULT, resource_arn=CLUSTER, age_hours=rp_hours + 24)
        self.env.add_recovery_point(vault=VAULT, resource_arn=CLUSTER, age_hours=rp_hours)
        self.env.add_recovery_point(vault=VAULT, region=DR, resource_arn=CLUSTER, age_hours=copy_hours,
                                    source_vault_arn=f"arn:aws:backup:{P}:{ACCOUNT}:backup-vault:{VAULT}")
        self.env.add_recovery_point(vault=VAULT, region=DR, resource_arn=CLUSTER, age_hours=2, status="CREATING")
        self.env.add_backup_job(vault=VAULT, resource_arn=CLUSTER, age_hours=rp_hours)
        self.env.add_backup_job(type="copy", source_vault=VAULT, destination_vault_arn=DR_VAULT_ARN,
                                resource_arn=CLUSTER, age_hours=2, state="RUNNING")

    def verify(self, *args, conf=None):
        res = self.agent("verify", *args, conf=conf)
        self.assertIsNotNone(res.json, res)
        return res

    def assert_only(self, before, after, changed, missing=()):
        """Exactly `changed` ({check: status}) differs; `missing` checks are no longer reported; nothing else moves."""
        for name, status in changed.items():
            self.assertIn(name, after, f"{name} not reported: {after}")
            self.assertEqual(after[name], status, f"{name}: {after}")
        for name in missing:
            self.assertNotIn(name, after)
        rest_before = {n: s for n, s in before.items() if n not in changed and n not in missing}
        rest_after = {n: s for n, s in after.items() if n not in changed}
        self.assertEqual(rest_after, rest_before)

    def backup_requests(self):
        return [r for r in self.env.requests() if r["service"] == "backup"]

    # ---- configure -----------------------------------------------------------------------------
    def test_configure_plan_then_apply_then_unchanged(self):
        plan = self.agent("configure", "--plan")
        self.assertEqual(plan.rc, 2, plan)
        want = [("create backup vault", f"{P}/{VAULT}"), ("create backup vault", f"{DR}/{VAULT}"),
                ("create backup plan", PLAN), ("create backup service role", "iam role AWSBackupDefaultServiceRole"),
                ("create backup selection", f"{PLAN}/dr-agent")]
        self.assertEqual(changes(plan), want)
        self.assertEqual(resource(plan)["status"], "planned")
        self.assertFalse(any(c["done"] for c in resource(plan)["changes"]))
        self.assertIn("monthly: cron(0 4 1 * ? *) keep 365d, copy to us-west-2/roadcall-backup-vault-prod keep 365d",
                      resource(plan)["changes"][2]["detail"])
        # the dry run changed nothing
        self.assertEqual(self.bk.list_backup_vaults()["BackupVaultList"], [])
        self.assertEqual(self.bk_dr.list_backup_vaults()["BackupVaultList"], [])
        self.assertEqual(self.bk.list_backup_plans()["BackupPlansList"], [])
        self.assertEqual([r["method"] for r in self.backup_requests() if r["method"] != "GET"], [])

        done = self.configure()
        self.assertEqual(changes(done), want)
        self.assertTrue(all(c["done"] for c in resource(done)["changes"]))
        self.assertEqual(resource(done)["status"], "done")

        # what AWS holds now
        self.bk.describe_backup_vault(BackupVaultName=VAULT)
        self.bk_dr.describe_backup_vault(BackupVaultName=VAULT)
        pid = self.plan_id()
        rules = {r["RuleName"]: r for r in self.bk.get_backup_plan(BackupPlanId=pid)["BackupPlan"]["Rules"]}
        self.assertEqual(sorted(rules), ["daily", "monthly", "weekly"])
        self.assertEqual(rules["daily"]["ScheduleExpression"], "cron(0 2 * * ? *)")
        self.assertEqual(rules["weekly"]["ScheduleExpression"], "cron(0 3 ? * SUN *)")
        self.assertEqual(rules["monthly"]["ScheduleExpression"], "cron(0 4 1 * ? *)")
        self.assertEqual([rules[n]["Lifecycle"]["DeleteAfterDays"] for n in ("daily", "weekly", "monthly")],
                         [35, 90, 365])
        self.assertTrue(all(r["TargetBackupVaultName"] == VAULT for r in rules.values()))
        self.assertNotIn("CopyActions", rules["daily"])
        self.assertNotIn("CopyActions", rules["weekly"])
        self.assertEqual(rules["monthly"]["CopyActions"],
                         [{"DestinationBackupVaultArn": DR_VAULT_ARN, "Lifecycle": {"DeleteAfterDays": 365}}])
        sels = self.bk.list_backup_selections(BackupPlanId=pid)["BackupSelectionsList"]
        self.assertEqual([s["SelectionName"] for s in sels], ["dr-agent"])
        sel = self.bk.get_backup_selection(BackupPlanId=pid, SelectionId=sels[0]["SelectionId"])["BackupSelection"]
        self.assertEqual(sel["Resources"], [CLUSTER])
        self.assertEqual(sel["IamRoleArn"], ROLE)

        # idempotent: nothing to do, nothing done, nothing written
        self.env.clear_requests()
        again = self.configure()
        self.assertEqual(resource(again)["status"], "unchanged")
        self.assertEqual(changes(again), [])
        self.assertEqual([r["operation"] for r in self.backup_requests() if r["method"] != "GET"], [])
        replan = self.agent("configure", "--plan")
        self.assertEqual(replan.rc, 0, replan)
        self.assertEqual(changes(replan), [])

    def test_plan_shows_rule_differences_and_configure_updates_them(self):
        self.configure()
        pid = self.plan_id()
        current = self.bk.get_backup_plan(BackupPlanId=pid)
        rules = {r["RuleName"]: r for r in current["BackupPlan"]["Rules"]}
        for r in rules.values():
            r.pop("RuleId", None)
        rules["daily"]["Lifecycle"] = {"DeleteAfterDays": 30}
        rules["daily"]["ScheduleExpression"] = "cron(0 1 * * ? *)"
        del rules["weekly"]
        del rules["monthly"]["CopyActions"]
        rules["hourly"] = {"RuleName": "hourly", "TargetBackupVaultName": VAULT, "ScheduleExpression": "cron(0 * * * ? *)"}
        self.bk.update_backup_plan(BackupPlanId=pid, BackupPlan={"BackupPlanName": PLAN, "Rules": list(rules.values())})
        drifted = self.bk.get_backup_plan(BackupPlanId=pid)

        plan = self.agent("configure", "--plan")
        self.assertEqual(plan.rc, 2, plan)
        got = {c["target"]: (c["action"], c["detail"]) for c in resource(plan)["changes"]}
        self.assertEqual(sorted(got), [f"{PLAN}/daily", f"{PLAN}/hourly", f"{PLAN}/monthly", f"{PLAN}/weekly"])
        self.assertEqual(got[f"{PLAN}/daily"],
                         ("update backup rule", "schedule cron(0 1 * * ? *) -> cron(0 2 * * ? *); keep 30d -> 35d"))
        self.assertEqual(got[f"{PLAN}/weekly"], ("add backup rule", "cron(0 3 ? * SUN *) keep 90d"))
        self.assertEqual(got[f"{PLAN}/monthly"][0], "update backup rule")
        self.assertIn(f"copy to {DR_VAULT_ARN} keep 365d is missing", got[f"{PLAN}/monthly"][1])
        self.assertEqual(got[f"{PLAN}/hourly"][0], "remove backup rule")
        # nothing changed by the plan
        self.assertEqual(self.bk.get_backup_plan(BackupPlanId=pid)["VersionId"], drifted["VersionId"])

        done = self.configure()
        self.assertEqual(sorted(changes(done)), sorted(changes(plan)))
        self.assertTrue(all(c["done"] for c in resource(done)["changes"]))
        after = {r["RuleName"]: r for r in self.bk.get_backup_plan(BackupPlanId=pid)["BackupPlan"]["Rules"]}
        self.assertEqual(sorted(after), ["daily", "monthly", "weekly"])
        self.assertEqual(after["daily"]["Lifecycle"], {"DeleteAfterDays": 35})
        self.assertEqual(after["daily"]["ScheduleExpression"], "cron(0 2 * * ? *)")
        self.assertEqual(after["monthly"]["CopyActions"][0]["DestinationBackupVaultArn"], DR_VAULT_ARN)
        self.assertEqual(self.plan_id(), pid)  # updated in place
        self.assertEqual(changes(self.configure()), [])

    def test_selection_that_differs_is_replaced(self):
        self.configure()
        pid = self.plan_id()
        sel = self.bk.list_backup_selections(BackupPlanId=pid)["BackupSelectionsList"][0]
        self.bk.delete_backup_selection(BackupPlanId=pid, SelectionId=sel["SelectionId"])
        other = f"arn:aws:rds:us-east-1:{ACCOUNT}:cluster:other"
        self.bk.create_backup_selection(BackupPlanId=pid, BackupSelection={
            "SelectionName": "dr-agent", "IamRoleArn": ROLE, "Resources": [other]})
        before = self.verify()
        self.assertEqual(statuses(before)["backup_selection"], "CRITICAL")
        self.assertIn(f"resource {CLUSTER} is not selected", checks(before)["backup_selection"]["detail"])

        plan = self.agent("configure", "--plan")
        self.assertEqual(plan.rc, 2, plan)
        self.assertEqual(changes(plan), [("replace backup selection", f"{PLAN}/dr-agent")])
        self.assertEqual(len(self.bk.list_backup_selections(BackupPlanId=pid)["BackupSelectionsList"]), 1)
        done = self.configure()
        self.assertEqual(changes(done), changes(plan))
        sels = self.bk.list_backup_selections(BackupPlanId=pid)["BackupSelectionsList"]
        self.assertEqual(len(sels), 1)
        got = self.bk.get_backup_selection(BackupPlanId=pid, SelectionId=sels[0]["SelectionId"])
        self.assertEqual(got["BackupSelection"]["Resources"], [CLUSTER])
        self.assertEqual(changes(self.configure()), [])

    def test_vault_key_lock_and_tag_selection(self):
        key = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555"
        dr_key = f"arn:aws:kms:us-west-2:{ACCOUNT}:key/66666666-7777-8888-9999-000000000000"
        block = reference_block().replace(
            f'resources = [ "{CLUSTER}" ];',
            f'selection_tags = [ "dr=true" ]; kms_key = "{key}"; dr_kms_key = "{dr_key}"; '
            'vault_lock = "governance"; vault_lock_min_days = 7; vault_lock_max_days = 400;')
        self.assertNotEqual(block, reference_block())
        conf = self.write_conf(block, "tags.conf")
        plan = self.agent("configure", "--plan", conf=conf)
        self.assertEqual(plan.rc, 2, plan)
        self.assertEqual(changes(plan), [("create backup vault", f"{P}/{VAULT}"), ("lock backup vault", f"{P}/{VAULT}"),
                                         ("create backup vault", f"{DR}/{VAULT}"), ("lock backup vault", f"{DR}/{VAULT}"),
                                         ("create backup plan", PLAN),
                          ("create backup service role", "iam role AWSBackupDefaultServiceRole"),
                          ("create backup selection", f"{PLAN}/dr-agent")])
        done = self.agent("configure", conf=conf)
        self.assertEqual(done.rc, 0, done)
        v = self.bk.describe_backup_vault(BackupVaultName=VAULT)
        self.assertEqual(v["EncryptionKeyArn"], key)
        self.assertTrue(v["Locked"])
        self.assertEqual((v["MinRetentionDays"], v["MaxRetentionDays"]), (7, 400))
        self.assertEqual(self.bk_dr.describe_backup_vault(BackupVaultName=VAULT)["EncryptionKeyArn"], dr_key)
        pid = self.plan_id()
        sid = self.bk.list_backup_selections(BackupPlanId=pid)["BackupSelectionsList"][0]["SelectionId"]
        sel = self.bk.get_backup_selection(BackupPlanId=pid, SelectionId=sid)["BackupSelection"]
        self.assertEqual(sel["ListOfTags"], [{"ConditionType": "STRINGEQUALS", "ConditionKey": "dr",
                                              "ConditionValue": "true"}])
        self.assertEqual(changes(self.agent("configure", conf=conf)), [])

        # verify finds the tagged resources through their recovery points
        table = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/roadcall-users-prod"
        for arn in (CLUSTER, table):
            self.env.add_recovery_point(vault=VAULT, resource_arn=arn, age_hours=3)
            self.env.add_recovery_point(vault=VAULT, region=DR, resource_arn=arn, age_hours=100)
        res = self.verify(conf=conf)
        st = statuses(res)
        for name in ("vault_encryption", "dr_vault_encryption", "vault_lock", "dr_vault_lock",
                     f"recovery_point_age:{LABEL}", "recovery_point_age:roadcall-users-prod",
                     f"dr_copy_age:{LABEL}", "dr_copy_age:roadcall-users-prod"):
            self.assertEqual(st.get(name), "OK", f"{name}: {st}")
        self.assertEqual(res.rc, 0, res)

    def test_invalid_rule_is_refused_by_name(self):
        block = reference_block().replace('"weekly: cron(0 3 ? * SUN *) keep 90d"', '"weekly: cron(0 3 ? * FUN *) keep 90d"')
        res = self.agent("verify", conf=self.write_conf(block, "bad.conf"), fmt=False)
        self.assertEqual(res.rc, 78, res)
        self.assertIn('rules[1] "weekly: cron(0 3 ? * FUN *) keep 90d"', res.stderr)
        self.assertIn("'FUN' is not a day of the week", res.stderr)
        block = reference_block().replace('keep 365d copy keep 365d', 'keep 1y copy')
        res = self.agent("verify", conf=self.write_conf(block, "bad2.conf"), fmt=False)
        self.assertEqual(res.rc, 78, res)
        self.assertIn('rules[2] "monthly: cron(0 4 1 * ? *) keep 1y copy"', res.stderr)
        block = reference_block().replace('resources = [', 'vault_lock = "governance"; vault_lock_max_days = 100; resources = [')
        res = self.agent("verify", conf=self.write_conf(block, "bad3.conf"), fmt=False)
        self.assertEqual(res.rc, 78, res)
        self.assertIn("rule 'monthly': keep 365d is outside the Vault Lock retention", res.stderr)
        self.assertEqual(self.backup_requests(), [])

    # ---- verify --------------------------------------------------------------------------------
    def test_verify_healthy(self):
        self.estate()
        self.env.clear_requests()
        res = self.verify()
        self.assertEqual(res.rc, 0, res)
        c = checks(res)
        self.assertEqual(sorted(c), sorted(HEALTHY))
        self.assertEqual({n: x["status"] for n, x in c.items()}, {n: "OK" for n in HEALTHY})
        for x in c.values():
            for k in ("status", "observed", "threshold", "unit", "detail"):
                self.assertIn(k, x)
        age = c[f"recovery_point_age:{LABEL}"]
        self.assertEqual(age["unit"], "seconds")
        self.assertAlmostEqual(age["observed"], 5 * 3600, delta=120)
        self.assertEqual(age["threshold"], 26 * 3600)
        copy = c[f"dr_copy_age:{LABEL}"]
        self.assertAlmostEqual(copy["observed"], 240 * 3600, delta=120)
        self.assertEqual(copy["threshold"], 32 * 86400)
        self.assertEqual(c["backup_jobs"]["observed"], 0)
        # the newest backup's age is what a restore would lose, not a replication RPO: named apart
        self.assertAlmostEqual(resource(res)["backup_recovery_point_age_seconds"], 5 * 3600, delta=120)
        self.assertIsNone(resource(res)["rpo_observed_seconds"])
        # read-only
        self.assertEqual([r["operation"] for r in self.backup_requests() if r["method"] != "GET"], [])
        self.assertEqual(sorted({r["region"] for r in self.backup_requests()}), [P, DR])

    def test_broken_plan_deleted(self):
        self.estate()
        before = statuses(self.verify())
        pid = self.plan_id()
        for s in self.bk.list_backup_selections(BackupPlanId=pid)["BackupSelectionsList"]:
            self.bk.delete_backup_selection(BackupPlanId=pid, SelectionId=s["SelectionId"])
        self.bk.delete_backup_plan(BackupPlanId=pid)
        res = self.verify()
        self.assertEqual(res.rc, 2, res)
        self.assert_only(before, statuses(res), {"backup_plan": "CRITICAL"},
                         missing=("backup_rules", "copy_action", "backup_selection"))
        self.assertIn(f"backup plan {PLAN} does not exist", checks(res)["backup_plan"]["detail"])

    def test_broken_copy_action_missing(self):
        self.estate()
        before = statuses(self.verify())
        pid = self.plan_id()
        rules = self.bk.get_backup_plan(BackupPlanId=pid)["BackupPlan"]["Rules"]
        for r in rules:
            r.pop("RuleId", None)
            r.pop("CopyActions", None)
        self.bk.update_backup_plan(BackupPlanId=pid, BackupPlan={"BackupPlanName": PLAN, "Rules": rules})
        res = self.verify()
        self.assertEqual(res.rc, 2, res)
        self.assert_only(before, statuses(res), {"copy_action": "CRITICAL"})
        self.assertIn("rule monthly: copy to", checks(res)["copy_action"]["detail"])
        self.assertEqual(checks(res)["copy_action"]["observed"], "none")

    def test_broken_newest_recovery_point_too_old(self):
        self.estate()
        before = statuses(self.verify())
        self.env.reset(moto=True)
        self.estate(rp_hours=30)
        res = self.verify()
        self.assertEqual(res.rc, 2, res)
        name = f"recovery_point_age:{LABEL}"
        self.assert_only(before, statuses(res), {name: "CRITICAL"})
        self.assertAlmostEqual(checks(res)[name]["observed"], 30 * 3600, delta=120)
        self.assertAlmostEqual(resource(res)["backup_recovery_point_age_seconds"], 30 * 3600, delta=120)

    def test_broken_newest_dr_copy_too_old(self):
        self.estate()
        before = statuses(self.verify())
        self.env.reset(moto=True)
        self.estate(copy_hours=33 * 24)
        res = self.verify()
        self.assertEqual(res.rc, 2, res)
        name = f"dr_copy_age:{LABEL}"
        self.assert_only(before, statuses(res), {name: "CRITICAL"})
        self.assertAlmostEqual(checks(res)[name]["observed"], 33 * 86400, delta=120)

    def test_broken_failed_backup_job(self):
        self.estate()
        before = statuses(self.verify())
        job = self.env.add_backup_job(vault=VAULT, resource_arn=CLUSTER, age_hours=3, state="FAILED",
                                      status_message="Insufficient privileges to perform this action")
        res = self.verify()
        self.assertEqual(res.rc, 2, res)
        self.assert_only(before, statuses(res), {"backup_jobs": "CRITICAL"})
        c = checks(res)["backup_jobs"]
        self.assertEqual(c["observed"], 1)
        self.assertIn(job["BackupJobId"], c["detail"])
        self.assertIn("Insufficient privileges", c["detail"])
        # a job older than the look-back window no longer counts
        self.env.reset(moto=True)
        self.estate()
        self.env.add_backup_job(vault=VAULT, resource_arn=CLUSTER, age_hours=30, state="ABORTED")
        self.assertEqual(statuses(self.verify()), before)

    def test_broken_failed_copy_job(self):
        self.estate()
        before = statuses(self.verify())
        self.env.add_backup_job(type="copy", source_vault=VAULT, destination_vault_arn=DR_VAULT_ARN,
                                resource_arn=CLUSTER, age_hours=1, state="FAILED", status_message="KMS key denied")
        res = self.verify()
        self.assert_only(before, statuses(res), {"copy_jobs": "CRITICAL"})
        self.assertIn("KMS key denied", checks(res)["copy_jobs"]["detail"])

    def test_unreachable_region_gives_unknown(self):
        self.estate()
        before = statuses(self.verify())
        fault = self.env.add_fault(region=DR, action="unreachable")
        res = self.verify()
        self.assertEqual(res.rc, 3, res)
        self.assert_only(before, statuses(res), {"dr_backup_vault": "UNKNOWN", f"dr_copy_age:{LABEL}": "UNKNOWN"})
        self.assertIsNone(checks(res)["dr_backup_vault"]["observed"])
        self.env.clear_faults(fault)

        self.env.add_fault(region=P, action="unreachable")
        res = self.verify()
        self.assertEqual(res.rc, 3, res)
        primary_side = ["backup_vault", "backup_plan", "backup_rules", "copy_action", "backup_selection",
                        f"recovery_point_age:{LABEL}", "backup_jobs", "copy_jobs"]
        self.assert_only(before, statuses(res), {n: "UNKNOWN" for n in primary_side})
        self.assertIsNone(resource(res)["backup_recovery_point_age_seconds"])

    def test_api_error_gives_unknown(self):
        self.estate()
        before = statuses(self.verify())
        self.env.add_fault(service="backup", operation="ListCopyJobs", action="error", status=400,
                           code="AccessDeniedException", message="not allowed")
        res = self.verify()
        self.assert_only(before, statuses(res), {"copy_jobs": "UNKNOWN"})
        self.assertIn("not allowed", checks(res)["copy_jobs"]["detail"])

    # ---- IAM -----------------------------------------------------------------------------------
    def test_iam_policy_allows_every_call(self):
        """Each hook's policy in docs/iam/backup.json names every AWS Backup action the hook used."""
        import botocore.session
        with open(os.path.join(SOURCE, "docs", "iam", "backup.json")) as f:
            policies = json.load(f)
        self.assertEqual(sorted(policies), ["configure", "diagnose", "failback", "failover", "verify"])
        ops = set(botocore.session.get_session().get_service_model("backup").operation_names)

        def allowed(hook):
            acts = set()
            for st in policies[hook]["Statement"]:
                acts |= set(st["Action"] if isinstance(st["Action"], list) else [st["Action"]])
            return acts

        for hook in policies:
            for a in allowed(hook):
                if a.startswith("backup:"):
                    self.assertIn(a[len("backup:"):], ops, f"{hook}: {a} is not an AWS Backup action")

        def run(hook, *args, conf):
            self.env.clear_requests()
            res = self.agent(hook, *args, conf=conf)
            self.assertIn(res.rc, (0, 2), res)
            used = {"backup:" + r["operation"] for r in self.backup_requests()}
            self.assertTrue(used)
            self.assertEqual(used - allowed(hook), set(), f"{hook} {args}")
            return used

        key = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555"
        conf = self.write_conf(reference_block().replace(
            f'resources = [ "{CLUSTER}" ];',
            f'resources = [ "{CLUSTER}" ]; selection_tags = [ "dr=true" ]; kms_key = "{key}"; vault_lock = "compliance";'),
            "iam.conf")
        used = run("configure", "--plan", conf=conf) | run("configure", conf=conf)
        # drift, so that configure updates the plan and replaces the selection
        pid = self.plan_id()
        rules = self.bk.get_backup_plan(BackupPlanId=pid)["BackupPlan"]["Rules"]
        for r in rules:
            r.pop("RuleId", None)
        rules.pop()
        self.bk.update_backup_plan(BackupPlanId=pid, BackupPlan={"BackupPlanName": PLAN, "Rules": rules})
        sid = self.bk.list_backup_selections(BackupPlanId=pid)["BackupSelectionsList"][0]["SelectionId"]
        self.bk.delete_backup_selection(BackupPlanId=pid, SelectionId=sid)
        self.bk.create_backup_selection(BackupPlanId=pid, BackupSelection={
            "SelectionName": "dr-agent", "IamRoleArn": ROLE, "Resources": [CLUSTER]})
        used |= run("configure", conf=conf)
        self.assertEqual(used - allowed("configure"), set())
        for op in ("CreateBackupVault", "PutBackupVaultLockConfiguration", "CreateBackupPlan", "UpdateBackupPlan",
                   "CreateBackupSelection", "DeleteBackupSelection"):
            self.assertIn("backup:" + op, used)
        self.env.add_recovery_point(vault=VAULT, resource_arn=CLUSTER, age_hours=3)
        self.env.add_recovery_point(vault=VAULT, region=DR, resource_arn=CLUSTER, age_hours=30)
        run("verify", conf=conf)
        run("diagnose", conf=conf)
        run("failover", "--yes", conf=conf)
        run("failback", "--yes", conf=conf)

    # ---- a fresh account: what moto does not enforce ---------------------------------------------
    def test_fresh_account_missing_vault_is_denied_then_created_and_verify_ok(self):
        """AWS answers DescribeBackupVault of a missing vault with 403: ListBackupVaults confirms it is missing."""
        from botocore.exceptions import ClientError
        with self.assertRaises(ClientError) as cm:
            self.bk.describe_backup_vault(BackupVaultName=VAULT)
        self.assertEqual(cm.exception.response["Error"]["Code"], "AccessDeniedException")
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 403)
        self.env.clear_requests()
        res = self.agent("configure", "--plan")
        self.assertEqual(res.rc, 2, res)
        self.assertIn(("create backup vault", f"{P}/{VAULT}"), changes(res))
        denied = [r for r in self.env.requests(operation="DescribeBackupVault") if r["status"] == 403]
        self.assertEqual(len(denied), 2, "one 403 per region")
        self.assertTrue(self.env.requests(operation="ListBackupVaults"))
        self.estate()
        self.bk.describe_backup_vault(BackupVaultName=VAULT)
        res = self.verify()
        self.assertEqual(res.rc, 0, res)
        self.assertEqual(statuses(res), {n: "OK" for n in HEALTHY})
        # a vault that is listed but denied stays denied (UNKNOWN), never "missing"
        self.env.add_fault(service="backup", operation="DescribeBackupVault", action="error", status=403,
                           code="AccessDeniedException", region=P)
        res = self.verify()
        self.assertEqual(statuses(res)["backup_vault"], "UNKNOWN")

    def test_verify_missing_vault_is_critical_not_unknown(self):
        self.estate()
        self.bk_dr.delete_backup_vault(BackupVaultName=VAULT)
        res = self.verify()
        self.assertEqual(statuses(res)["dr_backup_vault"], "CRITICAL")
        self.assertEqual(checks(res)["dr_backup_vault"]["observed"], "missing")
        self.assertEqual(statuses(res)[f"dr_copy_age:{LABEL}"], "CRITICAL")

    def test_missing_service_role_is_created_or_reported(self):
        iam = self.env.client("iam", P)
        from botocore.exceptions import ClientError
        with self.assertRaises(ClientError):
            iam.get_role(RoleName="AWSBackupDefaultServiceRole")
        # the emulated service refuses a selection whose role does not exist
        self.configure()
        pid = self.plan_id()
        with self.assertRaises(ClientError) as cm:
            self.bk.create_backup_selection(BackupPlanId=pid, BackupSelection={
                "SelectionName": "x", "IamRoleArn": f"arn:aws:iam::{ACCOUNT}:role/nobody", "Resources": [CLUSTER]})
        self.assertEqual(cm.exception.response["Error"]["Code"], "InvalidParameterValueException")
        role = iam.get_role(RoleName="AWSBackupDefaultServiceRole")["Role"]
        self.assertEqual(role["Path"], "/service-role/")
        self.assertEqual(role["Arn"], ROLE)
        self.assertIn("backup.amazonaws.com", json.dumps(role["AssumeRolePolicyDocument"]))
        attached = [p["PolicyName"] for p in iam.list_attached_role_policies(RoleName=role["RoleName"])["AttachedPolicies"]]
        self.assertEqual(sorted(attached), ["AWSBackupServiceRolePolicyForBackup", "AWSBackupServiceRolePolicyForRestores"])
        # a configured role that does not exist: refused, naming it, before the selection
        conf = self.write_conf(reference_block().replace(
            "resources = [", f'iam_role = "arn:aws:iam::{ACCOUNT}:role/backup-missing"; resources = ['), "role.conf")
        res = self.agent("configure", conf=conf)
        self.assertNotEqual(res.rc, 0, res)
        self.assertIn("backup-missing does not exist", res.stdout + res.stderr)
        self.assertEqual([c for c in resource(res)["changes"] if c["action"] == "replace backup selection"], [])

    def test_dynamodb_copies_need_the_advanced_backup_opt_in(self):
        table = f"arn:aws:dynamodb:{P}:{ACCOUNT}:table/roadcall-users-prod"
        conf = self.write_conf(reference_block().replace(f'"{CLUSTER}"', f'"{CLUSTER}", "{table}"'), "ddb.conf")
        self.assertFalse(self.bk.describe_region_settings()["ResourceTypeManagementPreference"]["DynamoDB"])
        point = self.env.add_recovery_point(vault=VAULT, resource_arn=table, age_hours=1)
        plan = self.agent("configure", "--plan", conf=conf)
        self.assertIn(("enable advanced DynamoDB backup", f"backup region settings {P}"), changes(plan))
        self.configure_conf = self.agent("configure", conf=conf)
        self.assertEqual(self.configure_conf.rc, 0, self.configure_conf)
        self.assertTrue(self.bk.describe_region_settings()["ResourceTypeManagementPreference"]["DynamoDB"])
        again = self.agent("configure", conf=conf)
        self.assertEqual(changes(again), [])
        self.bk.start_copy_job(RecoveryPointArn=point["RecoveryPointArn"], SourceBackupVaultName=VAULT,
                               DestinationBackupVaultArn=DR_VAULT_ARN, IamRoleArn=ROLE)
        # without the opt-in the copy is refused; with dynamodb_advanced_backup = false configure only warns
        self.env.reset()
        conf = self.write_conf(reference_block().replace(
            f'"{CLUSTER}"', f'"{CLUSTER}", "{table}"').replace("resources =", "dynamodb_advanced_backup = false; resources ="),
            "ddb2.conf")
        point = self.env.add_recovery_point(vault=VAULT, resource_arn=table, age_hours=1)
        res = self.agent("configure", conf=conf)
        self.assertEqual(res.rc, 0, res)
        self.assertIn("update-region-settings --region us-east-1 --resource-type-management-preference DynamoDB=true",
                      res.stdout + res.stderr)
        from botocore.exceptions import ClientError
        with self.assertRaises(ClientError) as cm:
            self.bk.start_copy_job(RecoveryPointArn=point["RecoveryPointArn"], SourceBackupVaultName=VAULT,
                                   DestinationBackupVaultArn=DR_VAULT_ARN, IamRoleArn=ROLE)
        self.assertEqual(cm.exception.response["Error"]["Code"], "InvalidRequestException")

    # ---- failover and failback -----------------------------------------------------------------
    def test_failover_reports_restore_option_and_is_repeatable(self):
        self.estate()
        dr_points = self.bk_dr.list_recovery_points_by_backup_vault(BackupVaultName=VAULT)["RecoveryPoints"]
        newest = [p for p in dr_points if p["Status"] == "COMPLETED"][0]["RecoveryPointArn"]
        for mode in ("graceful", "forced"):
            self.env.clear_requests()
            res = self.agent("failover", "--yes", "--mode", mode)
            self.assertEqual(res.rc, 0, res)
            r = resource(res)
            self.assertEqual(r["status"], "unchanged")
            self.assertEqual(r["changes"], [])
            c = checks(res)[f"dr_restore_point:{LABEL}"]
            self.assertEqual(c["status"], "OK")
            self.assertIn(newest, c["detail"])
            self.assertAlmostEqual(c["observed"], 240 * 3600, delta=120)
            # the restore option's age is in the check; a failover restores nothing, so it reports no RPO
            self.assertIsNone(r["rpo_observed_seconds"])
            self.assertEqual([x for x in self.backup_requests() if x["method"] != "GET" or x["region"] != DR], [])

        # after the failover, verify judges the DR side only
        res = self.verify()
        self.assertEqual(res.json["serving"], "dr")
        self.assertEqual(statuses(res), {"dr_backup_vault": "OK", f"dr_copy_age:{LABEL}": "OK"})
        self.assertEqual(res.rc, 0, res)

    def test_failover_without_a_copy_fails_clearly(self):
        self.configure()
        self.env.add_recovery_point(vault=VAULT, resource_arn=CLUSTER, age_hours=2)
        res = self.agent("failover", "--yes")
        self.assertEqual(res.rc, 1, res)
        self.assertEqual(resource(res)["status"], "failed")
        self.assertIn(f"no restore option known in {DR} for: {CLUSTER}", resource(res)["error"])
        self.assertEqual(checks(res)[f"dr_restore_point:{LABEL}"]["status"], "CRITICAL")

    def test_failback_confirms_backups_resume(self):
        self.estate()
        self.assertEqual(self.agent("failover", "--yes").rc, 0)
        now = datetime.datetime.now(datetime.timezone.utc)
        nxt = now.replace(hour=2, minute=0, second=0, microsecond=0)
        if nxt <= now:
            nxt += datetime.timedelta(days=1)
        for _ in range(2):
            res = self.agent("failback", "--yes")
            self.assertEqual(res.rc, 0, res)
            self.assertEqual(resource(res)["status"], "unchanged")
            self.assertEqual(resource(res)["changes"], [])
            c = checks(res)[f"backups_resumed:{LABEL}"]
            self.assertEqual((c["status"], c["observed"]), ("OK", "scheduled"))
            self.assertIn(f"next backup window {nxt.strftime('%Y-%m-%dT%H:%M:%SZ')} (rule daily)", c["detail"])
        # the proxy dates a job's completion from its creation and duration: created now, it completes
        # a minute later, after the failback run began
        job = self.env.add_backup_job(vault=VAULT, resource_arn=CLUSTER, age_hours=0, duration_minutes=1)
        res = self.agent("failback", "--yes")
        self.assertEqual(res.rc, 0, res)
        c = checks(res)[f"backups_resumed:{LABEL}"]
        self.assertEqual((c["status"], c["observed"]), ("OK", "completed"))
        self.assertIn(job["BackupJobId"], c["detail"])
        self.assertEqual(self.verify().json["serving"], "primary")

    def test_failback_without_plan_fails(self):
        self.estate()
        pid = self.plan_id()
        for s in self.bk.list_backup_selections(BackupPlanId=pid)["BackupSelectionsList"]:
            self.bk.delete_backup_selection(BackupPlanId=pid, SelectionId=s["SelectionId"])
        res = self.agent("failback", "--yes")
        self.assertEqual(res.rc, 1, res)
        self.assertEqual(checks(res)["backup_selection"]["status"], "CRITICAL")
        self.assertIn("run dr-agent configure", resource(res)["error"])
        self.bk.delete_backup_plan(BackupPlanId=pid)
        res = self.agent("failback", "--yes")
        self.assertEqual(res.rc, 1, res)
        self.assertEqual(checks(res)["backup_plan"]["status"], "CRITICAL")


if __name__ == "__main__":
    unittest.main()
