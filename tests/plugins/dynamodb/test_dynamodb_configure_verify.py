#!/usr/bin/env python3
"""Integration tests of the dynamodb plugin's configure and verify against moto and the test proxy."""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dynamodb_case import (  # noqa: E402
    CRITICAL, D, OK, P, PLAN_CHANGES, RPO, TABLES, UNKNOWN, DynamoDBCase, checks, resource, statuses)


class ConfigureVerify(DynamoDBCase):
    # ---- configure ----------------------------------------------------------------------------
    def test_configure_plan_apply_idempotent(self):
        plan = self.report("configure", "--plan", expect=PLAN_CHANGES)
        self.assertEqual(plan["status"], "planned")
        for rid, table in TABLES.items():
            r = resource(plan, rid)
            self.assertEqual(r["status"], "planned")
            got = [(c["action"], c["target"], c["done"]) for c in r["changes"]]
            self.assertEqual(got, [("enable stream", f"{table} in {P}", False),
                                   ("add replica", f"{table} in {D}", False),
                                   ("enable point-in-time recovery", f"{table} in {P}", False),
                                   ("enable point-in-time recovery", f"{table} in {D}", False)])
        self.assertPrimaryUntouched()
        self.assertEqual({r["operation"] for r in self.env.requests()}, {"DescribeTable", "DescribeContinuousBackups"})

        done = self.report("configure", expect=0)
        self.assertEqual(done["status"], "done")
        for rid, table in TABLES.items():
            r = resource(done, rid)
            self.assertEqual(r["status"], "done")
            self.assertEqual([c["done"] for c in r["changes"]], [True] * 4, r)
            t = self.table(P, table)
            self.assertEqual(t["StreamSpecification"], {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
            self.assertEqual(t["GlobalTableVersion"], "2019.11.21")
            self.assertEqual(t["Replicas"], [{"RegionName": D, "ReplicaStatus": "ACTIVE"}])
            self.assertEqual(self.table(D, table)["TableStatus"], "ACTIVE")
            for region in (P, D):
                p = self.pitr(region, table)
                self.assertEqual((p["PointInTimeRecoveryStatus"], p["RecoveryPeriodInDays"]), ("ENABLED", 35))

        again = self.report("configure", expect=0)
        self.assertEqual(again["status"], "unchanged")
        for rid in TABLES:
            self.assertEqual((resource(again, rid)["status"], resource(again, rid)["changes"]), ("unchanged", []))
        plan = self.report("configure", "--plan", expect=0)
        self.assertEqual(plan["status"], "unchanged")

    def one_table(self, name, extra=""):
        line = f'{{ type = "dynamodb"; name = "x"; table = "{name}"; }}'
        self.conf = self.write_conf(lines=[line], extra='poll_interval = "200ms"; ' + extra)

    def create(self, name, **kw):
        self.ddb[P].create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                                 AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], **kw)

    def test_replica_of_a_cmk_table_carries_the_dr_key(self):
        kms = {r: self.env.client("kms", r) for r in (P, D)}
        key = kms[P].create_key(Description="table key")["KeyMetadata"]["Arn"]
        dr_key = kms[D].create_key(Description="replica key")["KeyMetadata"]["Arn"]
        t = "roadcall-cmk-prod"
        self.create(t, BillingMode="PAY_PER_REQUEST",
                    SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key})
        # without a key for the DR region AWS refuses the replica (emulated): configure says what is missing
        self.one_table(t)
        plan = self.report("configure", "--plan", expect=PLAN_CHANGES)
        detail = [c["detail"] for c in resource(plan, "dynamodb.x")["changes"] if c["action"] == "add replica"][0]
        self.assertIn("set dr_kms_key", detail)
        res = self.report("configure", expect=1)
        self.assertIn("set dr_kms_key to its key in us-west-2", resource(res, "dynamodb.x")["error"])
        self.assertIn("KMSMasterKeyId must be specified for each replica",  resource(res, "dynamodb.x")["error"])
        self.assertNotIn(t, self.ddb[D].list_tables()["TableNames"])
        # with dr_kms_key the plan names it and the replica is created with it
        self.one_table(t, f'dr_kms_key = "{dr_key}";')
        plan = self.report("configure", "--plan", expect=PLAN_CHANGES)
        detail = [c["detail"] for c in resource(plan, "dynamodb.x")["changes"] if c["action"] == "add replica"][0]
        self.assertIn(f"encrypted with {dr_key} (dr_kms_key)", detail)
        self.report("configure", expect=0)
        upd = [r for r in self.env.requests(operation="UpdateTable") if r["status"] == 200]
        self.assertTrue(upd)
        self.assertEqual(self.table(D, t)["SSEDescription"]["KMSMasterKeyArn"], dr_key)
        self.assertEqual(self.report("configure", expect=0)["status"], "unchanged")

    def test_replica_of_a_multi_region_key_table_derives_the_dr_key(self):
        t = "roadcall-mrk-prod"
        mrk = "arn:aws:kms:us-east-1:123456789012:key/mrk-0123456789abcdef0123456789abcdef"
        self.create(t, BillingMode="PAY_PER_REQUEST",
                    SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": mrk})
        self.one_table(t)
        plan = self.report("configure", "--plan", expect=PLAN_CHANGES)
        detail = [c["detail"] for c in resource(plan, "dynamodb.x")["changes"] if c["action"] == "add replica"][0]
        self.assertIn("arn:aws:kms:us-west-2:123456789012:key/mrk-0123456789abcdef0123456789abcdef", detail)

    def test_provisioned_table_needs_write_auto_scaling(self):
        t = "roadcall-provisioned-prod"
        self.create(t, BillingMode="PROVISIONED", ProvisionedThroughput={"ReadCapacityUnits": 5,
                                                                          "WriteCapacityUnits": 5})
        self.one_table(t)
        plan = self.report("configure", "--plan", expect=1)
        r = resource(plan, "dynamodb.x")
        failed = [c for c in r["changes"] if c["action"] == "add replica"]
        self.assertEqual(len(failed), 1)
        self.assertIn("PROVISIONED without write auto scaling", failed[0]["detail"])
        self.assertIn("dynamodb:table:WriteCapacityUnits", failed[0]["detail"])
        self.assertEqual(self.env.requests(operation="UpdateTable"), [])
        self.report("configure", expect=1)
        self.assertNotIn(t, self.ddb[D].list_tables()["TableNames"])
        # the same call AWS would refuse is refused by the environment too
        from botocore.exceptions import ClientError
        with self.assertRaises(ClientError) as cm:
            self.ddb[P].update_table(TableName=t, ReplicaUpdates=[{"Create": {"RegionName": D}}])
        self.assertEqual(cm.exception.response["Error"]["Code"], "ValidationException")
        # with write auto scaling the replica is planned with it and created
        aas = self.env.client("application-autoscaling", P)
        aas.register_scalable_target(ServiceNamespace="dynamodb", ResourceId=f"table/{t}",
                                     ScalableDimension="dynamodb:table:WriteCapacityUnits", MinCapacity=5,
                                     MaxCapacity=100)
        aas.put_scaling_policy(PolicyName="w", ServiceNamespace="dynamodb", ResourceId=f"table/{t}",
                               ScalableDimension="dynamodb:table:WriteCapacityUnits", PolicyType="TargetTrackingScaling",
                               TargetTrackingScalingPolicyConfiguration={
                                   "TargetValue": 70.0, "PredefinedMetricSpecification": {
                                       "PredefinedMetricType": "DynamoDBWriteCapacityUtilization"}})
        plan = self.report("configure", "--plan", expect=PLAN_CHANGES)
        detail = [c["detail"] for c in resource(plan, "dynamodb.x")["changes"] if c["action"] == "add replica"][0]
        self.assertIn("PROVISIONED with write auto scaling 5-100 units", detail)
        self.report("configure", expect=0)
        self.assertEqual(self.table(D, t)["TableStatus"], "ACTIVE")

    def test_configure_plans_only_what_is_missing(self):
        self.report("configure", expect=0)
        t = TABLES["dynamodb.vendors"]
        self.ddb[D].update_continuous_backups(TableName=t, PointInTimeRecoverySpecification={
            "PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": 7})
        plan = self.report("configure", "--plan", expect=PLAN_CHANGES)
        self.assertEqual([(r["id"], [(c["action"], c["target"]) for c in r["changes"]]) for r in plan["resources"]
                          if r["changes"]],
                         [("dynamodb.vendors", [("set point-in-time recovery period", f"{t} in {D}")])])
        self.assertEqual(self.pitr(D, t)["RecoveryPeriodInDays"], 7)
        self.report("configure", expect=0)
        self.assertEqual(self.pitr(D, t)["RecoveryPeriodInDays"], 35)

    def test_configure_waits_for_the_replica_with_progress(self):
        self.env.set_duration("UpdateTable", 1.5)
        res = self.agent("configure", "-r", "dynamodb.users", expect=0)  # text output: progress lines on stderr
        self.assertGreaterEqual(res.seconds, 1.5)
        self.assertRegex(res.stderr, r"waiting for the replica of roadcall-users-prod in us-west-2: replica CREATING")
        self.assertEqual(self.table(P, TABLES["dynamodb.users"])["Replicas"][0]["ReplicaStatus"], "ACTIVE")
        self.assertEqual(self.pitr(D, TABLES["dynamodb.users"])["PointInTimeRecoveryStatus"], "ENABLED")

    def test_configure_deadline_then_resume(self):
        self.env.set_duration("UpdateTable", 4)
        res = self.report("configure", "-r", "dynamodb.users", "--timeout", "1s", expect=1)
        r = resource(res, "dynamodb.users")
        self.assertEqual(r["status"], "failed")
        self.assertEqual([(c["action"], c["done"], c.get("failed")) for c in r["changes"]],
                         [("enable stream", True, None), ("add replica", False, True)])
        self.assertIn("deadline", r["error"])
        self.assertEqual(self.table(P, TABLES["dynamodb.users"])["Replicas"][0]["ReplicaStatus"], "CREATING")
        # the next run finds the replica being created, waits for it and finishes the job
        res = self.report("configure", "-r", "dynamodb.users", expect=0)
        r = resource(res, "dynamodb.users")
        self.assertEqual([c["action"] for c in r["changes"]],
                         ["enable point-in-time recovery", "enable point-in-time recovery"])
        self.assertEqual(len(self.env.requests(operation="UpdateTable", region=P)), 2)  # stream, replica: once each

    def test_configure_refuses_a_lone_table_in_the_dr_region(self):
        t = TABLES["dynamodb.incidents"]
        self.ddb[D].create_table(TableName=t, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                                 AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                                 BillingMode="PAY_PER_REQUEST")
        self.ddb[D].put_item(TableName=t, Item={"pk": {"S": "precious"}})
        rep = self.report("configure", expect=1)
        r = resource(rep, "dynamodb.incidents")
        self.assertEqual(r["status"], "failed")
        self.assertIn("is not a replica", r["error"])
        self.assertIn({"action": "add replica", "target": f"{t} in {D}", "done": False, "failed": True,
                       "detail": f"a table {t} already exists in {D} and is not a replica"}, r["changes"])
        self.assertIn("Item", self.ddb[D].get_item(TableName=t, Key={"pk": {"S": "precious"}}))
        self.assertEqual(resource(rep, "dynamodb.users")["status"], "done")  # the others go on

    def test_configure_missing_table_fails(self):
        self.ddb[P].delete_table(TableName=TABLES["dynamodb.vendors"])
        rep = self.report("configure", expect=1)
        self.assertIn("does not exist in us-east-1", resource(rep, "dynamodb.vendors")["error"])
        self.assertEqual(resource(rep, "dynamodb.vendors")["status"], "failed")

    def test_config_validation(self):
        for extra, message in (('latency_period = "90s";', "latency_period must be a multiple of 60 seconds"),
                               ('latency_window = "30s";', "latency_window must be at least latency_period"),
                               ('canary_key = "pk";', "'pk' is not attribute=value"),
                               ('canary_key = "a=1,b=2,c=3";', "at most a hash key and a range key"),
                               ('pitr_recovery_days = 40;', "pitr_recovery_days must be between 1 and 35"),
                               ('latency_warning_fraction = 1.5;', "latency_warning_fraction must be above 0"),
                               ('latency_statistic = "p99";', "'p99' is not one of Maximum|Average"),
                               ('pitr_max_age = "soon";', "pitr_max_age")):
            self.conf = self.write_conf(extra=extra)
            res = self.agent("verify", expect=78)
            self.assertIn(message, res.stderr)
            self.assertEqual(res.stderr.count(message), 5, res.stderr)  # every resource is named
        self.conf = self.write_conf(lines=['{ type = "dynamodb"; name = "bad"; table = "no spaces allowed"; }'], extra="")
        self.assertIn("is not a DynamoDB table name", self.agent("verify", expect=78).stderr)
        self.assertEqual(self.env.requests(), [])  # nothing ran

    # ---- verify -------------------------------------------------------------------------------
    def test_verify_healthy(self):
        rep = self.configured()
        self.assertEqual(rep["status"], "OK")
        for rid, table in TABLES.items():
            c = checks(rep, rid)
            self.assertEqual(list(c), ["table_primary", "table_dr", "stream_enabled", "replica_dr", "pitr_primary",
                                       "pitr_dr", "replication_latency"])
            for ck in c.values():
                self.assertEqual(set(ck), {"name", "status", "observed", "threshold", "unit", "detail"})
                self.assertTrue(ck["detail"])
            self.assertEqual((c["table_primary"]["observed"], c["table_primary"]["threshold"]), ("ACTIVE", "ACTIVE"))
            self.assertEqual(c["stream_enabled"]["observed"], "NEW_AND_OLD_IMAGES")
            self.assertEqual(c["replica_dr"]["observed"], "ACTIVE")
            for name in ("pitr_primary", "pitr_dr"):
                self.assertEqual((c[name]["unit"], c[name]["threshold"]), ("seconds", 900))
                self.assertLess(c[name]["observed"], 120)
            lat = c["replication_latency"]
            self.assertEqual((lat["observed"], lat["threshold"], lat["unit"]), (0.85, RPO, "seconds"))
            self.assertEqual(resource(rep, rid)["rpo_observed_seconds"], 0.85)
            self.assertIn(table, lat["detail"])
        # read-only: nothing but reads went out
        self.env.clear_requests()
        self.report("verify", expect=OK)
        ops = {(r["service"], r["operation"]) for r in self.env.requests()}
        self.assertEqual(ops, {("dynamodb", "DescribeTable"), ("dynamodb", "DescribeContinuousBackups"),
                               ("monitoring", "GetMetricStatistics")})

    def test_broken_stream_disabled(self):
        before = statuses(self.configured())
        t = TABLES["dynamodb.users"]
        self.ddb[P].update_table(TableName=t, StreamSpecification={"StreamEnabled": False})
        rep = self.report("verify", expect=CRITICAL)
        self.assertChanged(before, statuses(rep), {("dynamodb.users", "stream_enabled"): "CRITICAL"})
        self.assertEqual(checks(rep, "dynamodb.users")["stream_enabled"]["observed"], "DISABLED")
        # configure plans to repair it (moto refuses to enable a stream a second time, so only the plan is checked)
        plan = self.report("configure", "--plan", expect=PLAN_CHANGES)
        self.assertEqual([(r["id"], [c["action"] for c in r["changes"]]) for r in plan["resources"] if r["changes"]],
                         [("dynamodb.users", ["enable stream"])])

    def test_broken_pitr_disabled_in_dr(self):
        before = statuses(self.configured())
        t = TABLES["dynamodb.incidents"]
        self.ddb[D].update_continuous_backups(TableName=t, PointInTimeRecoverySpecification={
            "PointInTimeRecoveryEnabled": False})
        rep = self.report("verify", expect=CRITICAL)
        self.assertChanged(before, statuses(rep), {("dynamodb.incidents", "pitr_dr"): "CRITICAL"})
        c = checks(rep, "dynamodb.incidents")["pitr_dr"]
        self.assertIsNone(c["observed"])
        self.assertIn("DISABLED", c["detail"])
        self.assertIn(D, c["detail"])

    def test_broken_pitr_disabled_in_primary(self):
        before = statuses(self.configured())
        self.ddb[P].update_continuous_backups(TableName=TABLES["dynamodb.vendors"],
                                              PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False})
        rep = self.report("verify", expect=CRITICAL)
        self.assertChanged(before, statuses(rep), {("dynamodb.vendors", "pitr_primary"): "CRITICAL"})

    def test_broken_pitr_stale(self):
        self.conf = self.write_conf(extra='pitr_max_age = "1s";')
        self.report("configure", expect=0)
        self.put_latency(850)
        time.sleep(2.1)  # moto keeps LatestRestorableDateTime at the time PITR was enabled
        rep = self.report("verify", expect=CRITICAL)
        for rid in TABLES:
            c = checks(rep, rid)
            self.assertEqual((c["pitr_primary"]["status"], c["pitr_dr"]["status"]), ("CRITICAL", "CRITICAL"))
            self.assertGreater(c["pitr_dr"]["observed"], 1)
            self.assertEqual(c["pitr_dr"]["threshold"], 1)

    def test_broken_replica_missing_in_dr(self):
        before = statuses(self.configured())
        t = TABLES["dynamodb.tracking-sessions"]
        self.env.remove_replica(t, D)  # the replica and its table are gone
        rep = self.report("verify", expect=CRITICAL)
        rid = "dynamodb.tracking-sessions"
        self.assertChanged(before, statuses(rep), {(rid, "replica_dr"): "CRITICAL", (rid, "table_dr"): "CRITICAL",
                                                   (rid, "pitr_dr"): "CRITICAL"})
        c = checks(rep, rid)
        self.assertEqual((c["replica_dr"]["observed"], c["table_dr"]["observed"]), ("MISSING", "MISSING"))

    def test_broken_replica_not_listed(self):
        before = statuses(self.configured())
        self.env.remove_replica(TABLES["dynamodb.call-records"], D, keep_table=True)  # a lone table is left
        rep = self.report("verify", expect=CRITICAL)
        self.assertChanged(before, statuses(rep), {("dynamodb.call-records", "replica_dr"): "CRITICAL"})
        self.assertIn("lists no replica in us-west-2", checks(rep, "dynamodb.call-records")["replica_dr"]["detail"])

    def test_replica_states(self):
        before = statuses(self.configured())
        self.env.set_replica(TABLES["dynamodb.users"], D, "UPDATING")
        self.env.set_replica(TABLES["dynamodb.vendors"], D, "REPLICATION_NOT_AUTHORIZED",
                             description="the replication role was denied")
        rep = self.report("verify", expect=CRITICAL)
        self.assertChanged(before, statuses(rep), {("dynamodb.users", "replica_dr"): "WARNING",
                                                   ("dynamodb.vendors", "replica_dr"): "CRITICAL"})
        self.assertIn("the replication role was denied", checks(rep, "dynamodb.vendors")["replica_dr"]["detail"])
        # configure cannot repair a failed replica, and its plan says so
        plan = self.report("configure", "--plan", expect=1)
        self.assertIn("REPLICATION_NOT_AUTHORIZED: it needs an operator", resource(plan, "dynamodb.vendors")["error"])
        self.assertEqual(resource(plan, "dynamodb.users")["status"], "unchanged")  # UPDATING: nothing to do

    def test_failover_waits_for_a_replica_being_created(self):
        self.configured()
        t = TABLES["dynamodb.users"]
        self.env.remove_replica(t, D)
        self.env.set_duration("UpdateTable", 1.5)
        self.ddb[P].update_table(TableName=t, ReplicaUpdates=[{"Create": {"RegionName": D}}])
        self.assertEqual(self.table(D, t)["TableStatus"], "CREATING")
        res = self.agent("failover", "--yes", "-r", "dynamodb.users", expect=0)
        self.assertRegex(res.stderr, r"waiting for roadcall-users-prod in us-west-2 to be ACTIVE: table CREATING")
        self.assertEqual(self.table(D, t)["TableStatus"], "ACTIVE")

    def test_failover_to_an_updating_replica_warns(self):
        self.configured()
        # the DR table is UPDATING while a third replica is being added: it still takes writes
        t = TABLES["dynamodb.users"]
        self.env.set_duration("UpdateTable", 30)
        self.ddb[P].update_table(TableName=t, ReplicaUpdates=[{"Create": {"RegionName": "eu-west-1"}}])
        self.assertEqual(self.table(D, t)["TableStatus"], "UPDATING")
        rep = self.report("failover", "--yes", "-r", "dynamodb.users", expect=0)
        c = checks(rep, "dynamodb.users")["replica_dr"]
        self.assertEqual((c["status"], c["observed"]), ("WARNING", "UPDATING"))
        self.assertEqual(resource(rep, "dynamodb.users")["status"], "done")

    def test_broken_latency_above_rpo(self):
        before = statuses(self.configured())
        self.put_latency(1_200_000, table=TABLES["dynamodb.call-records"], ago=200)  # 20 minutes > RPO 15 minutes
        self.put_latency(400_000, table=TABLES["dynamodb.users"], ago=200)  # 400 s: under half the RPO
        self.put_latency(600_000, table=TABLES["dynamodb.vendors"], ago=200)  # 600 s: above half the RPO
        rep = self.report("verify", expect=CRITICAL)
        self.assertChanged(before, statuses(rep), {("dynamodb.call-records", "replication_latency"): "CRITICAL",
                                                   ("dynamodb.vendors", "replication_latency"): "WARNING"})
        self.assertEqual(checks(rep, "dynamodb.call-records")["replication_latency"]["observed"], 1200)
        self.assertEqual(resource(rep, "dynamodb.call-records")["rpo_observed_seconds"], 1200)
        self.assertEqual(resource(rep, "dynamodb.users")["rpo_observed_seconds"], 400)
        self.assertEqual(rep["rpo_observed_seconds"], 1200)

    def test_broken_table_missing(self):
        before = statuses(self.configured())
        self.ddb[P].delete_table(TableName=TABLES["dynamodb.incidents"])
        rep = self.report("verify", expect=CRITICAL)
        rid = "dynamodb.incidents"
        # no table: no stream, no replica to list, nothing to restore
        self.assertChanged(before, statuses(rep), {(rid, "table_primary"): "CRITICAL", (rid, "stream_enabled"): "CRITICAL",
                                                   (rid, "replica_dr"): "CRITICAL", (rid, "pitr_primary"): "CRITICAL"})
        self.assertEqual(checks(rep, rid)["table_primary"]["observed"], "MISSING")

    def test_verify_no_datapoints_is_unknown(self):
        self.report("configure", expect=0)
        self.put_latency(850, table=TABLES["dynamodb.users"])
        rep = self.report("verify", expect=UNKNOWN)
        for rid in TABLES:
            c = checks(rep, rid)["replication_latency"]
            if rid == "dynamodb.users":
                self.assertEqual(c["status"], "OK")
                continue
            self.assertEqual((c["status"], c["observed"], c["threshold"]), ("UNKNOWN", None, RPO))
            self.assertIn("no ReplicationLatency datapoints", c["detail"])
            self.assertIsNone(resource(rep, rid)["rpo_observed_seconds"])
        # datapoints older than the window do not count
        self.put_latency(850, table=TABLES["dynamodb.vendors"], ago=20 * 60)
        rep = self.report("verify", expect=UNKNOWN)
        self.assertEqual(checks(rep, "dynamodb.vendors")["replication_latency"]["status"], "UNKNOWN")

    def test_verify_dr_region_unreachable(self):
        before = statuses(self.configured())
        self.env.add_fault(region=D, action="unreachable")
        rep = self.report("verify", expect=UNKNOWN)
        self.assertChanged(before, statuses(rep), {**{(rid, "table_dr"): "UNKNOWN" for rid in TABLES},
                                                   **{(rid, "pitr_dr"): "UNKNOWN" for rid in TABLES}})
        for rid in TABLES:
            self.assertIsNone(checks(rep, rid)["table_dr"]["observed"])

    def test_verify_primary_region_unreachable(self):
        before = statuses(self.configured())
        self.env.add_fault(region=P, action="unreachable")
        rep = self.report("verify", expect=UNKNOWN)
        expected = {}
        for rid in TABLES:
            for name in ("table_primary", "stream_enabled", "replica_dr", "pitr_primary", "replication_latency"):
                expected[(rid, name)] = "UNKNOWN"
        self.assertChanged(before, statuses(rep), expected)
        self.assertIsNone(rep["rpo_observed_seconds"])

    def test_verify_api_errors_are_unknown(self):
        before = statuses(self.configured())
        self.env.add_fault(service="dynamodb", region=D, operation="DescribeContinuousBackups", action="error",
                           status=500)
        self.env.add_fault(service="monitoring", operation="GetMetricStatistics", action="throttle")
        rep = self.report("verify", expect=UNKNOWN)
        self.assertChanged(before, statuses(rep), {**{(rid, "pitr_dr"): "UNKNOWN" for rid in TABLES},
                                                   **{(rid, "replication_latency"): "UNKNOWN" for rid in TABLES}})
        self.assertIn("DescribeContinuousBackups", checks(rep, "dynamodb.users")["pitr_dr"]["detail"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
