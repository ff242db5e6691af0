#!/usr/bin/env python3
"""With moto checking SigV4 (drenv run --auth): the proxy forwards signed requests unchanged, and its emulations
still work with its own credentials."""
import json
import os
import sys
import unittest

import boto3
import botocore.exceptions
from botocore.config import Config

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import drtest  # noqa: E402


class Auth(drtest.EnvTestCase):
    reset_moto = False  # with --auth a moto reset would delete the IAM users

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not cls.env.auth:
            raise RuntimeError("run this test with `drenv run --auth`")

    def client_with(self, service, key, secret, region=drtest.PRIMARY):
        return boto3.client(service, region_name=region, endpoint_url=self.env.proxy_url,
                            aws_access_key_id=key, aws_secret_access_key=secret,
                            config=Config(retries={"total_max_attempts": 1}, s3={"addressing_style": "path"}))

    def test_signed_requests_pass_byte_for_byte(self):
        e = self.env
        self.assertTrue(e.client("sts").get_caller_identity()["Arn"].endswith(":user/drenv-test"))
        e.client("dynamodb").list_tables()
        s3 = e.client("s3")
        s3.create_bucket(Bucket="auth-bucket")
        s3.put_object(Bucket="auth-bucket", Key="a b/c~d.bin", Body=b"\x00\x01" * 70000)  # signed payload
        self.assertEqual(len(s3.get_object(Bucket="auth-bucket", Key="a b/c~d.bin")["Body"].read()), 140000)
        # the proxy is transparent: each key fares the same through it as straight at moto (whose own
        # checker rejects correctly signed keys with '+' or '=')
        key, secret = e.environ["AWS_ACCESS_KEY_ID"], e.environ["AWS_SECRET_ACCESS_KEY"]
        direct = boto3.client("s3", region_name="us-east-1", endpoint_url=e.moto_url, aws_access_key_id=key,
                              aws_secret_access_key=secret, config=Config(s3={"addressing_style": "path"},
                                                                          retries={"total_max_attempts": 1}))

        def outcome(client, k):
            try:
                client.put_object(Bucket="auth-bucket", Key=k, Body=b"1")
                return "ok"
            except botocore.exceptions.ClientError as err:
                return err.response["Error"]["Code"]
        for k in ("x", "a b", "c+d", "c=d", "d/e(f)"):
            self.assertEqual(outcome(s3, k), outcome(direct, k), k)
        e.client("rds", drtest.DR).describe_db_clusters()

    def test_bad_credentials_are_refused_by_moto(self):
        key = self.env.environ["AWS_ACCESS_KEY_ID"]
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.client_with("sts", key, "wrong-secret").get_caller_identity()
        self.assertEqual(cm.exception.response["Error"]["Code"], "SignatureDoesNotMatch")
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.client_with("sts", "AKIAUNKNOWNKEY000000", "x").get_caller_identity()
        self.assertEqual(cm.exception.response["Error"]["Code"], "InvalidClientTokenId")

    def test_least_privilege_user(self):
        iam = self.env.client("iam")
        iam.create_user(UserName="reader")
        iam.put_user_policy(UserName="reader", PolicyName="p", PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "dynamodb:DescribeTable", "Resource": "*"}]}))
        k = iam.create_access_key(UserName="reader")["AccessKey"]
        ddb = self.client_with("dynamodb", k["AccessKeyId"], k["SecretAccessKey"])
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            ddb.list_tables()
        # moto answers this one as XML, which botocore's JSON parser reduces to the status
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 403)
        self.assertIn("dynamodb:ListTables", str(cm.exception))
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            ddb.describe_table(TableName="none")  # allowed: moto's own answer
        self.assertEqual(cm.exception.response["Error"]["Code"], "ResourceNotFoundException")

    def test_emulations_use_the_proxys_credentials(self):
        e = self.env
        ddb = e.client("dynamodb")
        ddb.create_table(TableName="auth-t", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
        out = ddb.update_table(TableName="auth-t", ReplicaUpdates=[{"Create": {"RegionName": drtest.DR}}])
        self.assertEqual(out["TableDescription"]["Replicas"][0]["ReplicaStatus"], "ACTIVE")
        r53 = e.client("route53")
        hc = r53.create_health_check(CallerReference="auth", HealthCheckConfig={
            "Type": "HTTPS", "FullyQualifiedDomainName": "a.example.com", "Port": 443, "Inverted": True})
        obs = r53.get_health_check_status(HealthCheckId=hc["HealthCheck"]["Id"])["HealthCheckObservations"]
        self.assertTrue(obs[0]["StatusReport"]["Status"].startswith("Failure"))  # inverted, known without a GET
        rds = e.client("rds")
        arn = rds.create_db_cluster(DBClusterIdentifier="auth-c", Engine="aurora-postgresql", EngineVersion="15.4",
                                    MasterUsername="postgres", MasterUserPassword="not-a-secret-123"
                                    )["DBCluster"]["DBClusterArn"]
        rds.create_global_cluster(GlobalClusterIdentifier="auth-g", SourceDBClusterIdentifier=arn)
        e.client("rds", drtest.DR).create_db_cluster(DBClusterIdentifier="auth-r", Engine="aurora-postgresql",
                                                     EngineVersion="15.4", GlobalClusterIdentifier="auth-g")
        members = rds.describe_global_clusters(GlobalClusterIdentifier="auth-g")["GlobalClusters"][0][
            "GlobalClusterMembers"]
        self.assertEqual(len(members), 2, members)

    def test_moto_reset_is_refused(self):
        self.assertIn("IAM users", self.env.control("POST", "/reset?moto=1", expect=400)["error"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
