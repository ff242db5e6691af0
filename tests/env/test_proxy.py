#!/usr/bin/env python3
"""Tests of the proxy itself: pass-through, operation classification, every fault action, the request log."""
import http.client
import os
import socket
import sys
import time
import urllib.request
import unittest

import botocore.exceptions
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.retries.standard import RetryContext, ThrottledRetryableChecker

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import drtest  # noqa: E402

CONNECTION_ERRORS = (botocore.exceptions.ConnectionClosedError, botocore.exceptions.EndpointConnectionError,
                     botocore.exceptions.ConnectionError)


class PassThrough(drtest.EnvTestCase):
    def test_binary_object_round_trip(self):
        s3 = self.env.client("s3")
        s3.create_bucket(Bucket="bin")
        blob = bytes(range(256)) * 4096 + b"\r\n0\r\n\r\n"  # 1 MiB and a fake chunk terminator
        s3.put_object(Bucket="bin", Key="dir/a b+c.bin", Body=blob)
        self.assertEqual(s3.get_object(Bucket="bin", Key="dir/a b+c.bin")["Body"].read(), blob)
        head = s3.head_object(Bucket="bin", Key="dir/a b+c.bin")
        self.assertEqual(head["ContentLength"], len(blob))
        direct = self.env.moto_client("s3").get_object(Bucket="bin", Key="dir/a b+c.bin")["Body"].read()
        self.assertEqual(direct, blob)

    def test_keep_alive_towards_the_client(self):
        """Several signed requests on one TCP connection, although moto closes each of its own."""
        conn = http.client.HTTPConnection("127.0.0.1", self.env._port, timeout=10)
        creds = Credentials(self.env.environ["AWS_ACCESS_KEY_ID"], self.env.environ["AWS_SECRET_ACCESS_KEY"])
        conn.connect()
        local = conn.sock.getsockname()
        for _ in range(3):
            req = AWSRequest("POST", self.env.proxy_url + "/", data=b"{}",
                             headers={"X-Amz-Target": "DynamoDB_20120810.ListTables",
                                      "Content-Type": "application/x-amz-json-1.0"})
            SigV4Auth(creds, "dynamodb", "us-east-1").add_auth(req)
            conn.request("POST", "/", body=b"{}", headers=dict(req.headers))
            r = conn.getresponse()
            self.assertEqual(r.status, 200)
            self.assertIn(b"TableNames", r.read())
            self.assertNotEqual((r.getheader("Connection") or "").lower(), "close")
            self.assertEqual(conn.sock.getsockname(), local)  # same socket: not reconnected
        conn.close()

    def test_moto_errors_pass_unchanged(self):
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.env.client("dynamodb").describe_table(TableName="nope")
        self.assertEqual(cm.exception.response["Error"]["Code"], "ResourceNotFoundException")
        log = self.env.requests(operation="DescribeTable")
        self.assertEqual([(e["status"], e["fault"], e["emulated"]) for e in log], [(400, None, False)])


class Classification(drtest.EnvTestCase):
    def test_scope_and_operation_names(self):
        e = self.env
        e.client("dynamodb").list_tables()
        e.client("rds", drtest.DR).describe_db_clusters()
        e.client("sts", drtest.DR).get_caller_identity()
        s3 = e.client("s3")
        s3.create_bucket(Bucket="cls")
        s3.get_bucket_versioning(Bucket="cls")
        s3.put_object(Bucket="cls", Key="k/1", Body=b"x")
        s3.copy_object(Bucket="cls", Key="k/2", CopySource={"Bucket": "cls", "Key": "k/1"})
        s3.head_object(Bucket="cls", Key="k/2")
        s3.list_objects_v2(Bucket="cls")
        e.client("route53").list_hosted_zones()
        e.client("backup", drtest.DR).list_backup_vaults()
        e.client("cloudwatch").list_metrics()
        got = [(r["service"], r["region"], r["operation"]) for r in e.requests()]
        self.assertEqual(got, [
            ("dynamodb", "us-east-1", "ListTables"),
            ("rds", "us-west-2", "DescribeDBClusters"),
            ("sts", "us-west-2", "GetCallerIdentity"),
            ("s3", "us-east-1", "CreateBucket"),
            ("s3", "us-east-1", "GetBucketVersioning"),
            ("s3", "us-east-1", "PutObject"),
            ("s3", "us-east-1", "CopyObject"),
            ("s3", "us-east-1", "HeadObject"),
            ("s3", "us-east-1", "ListObjectsV2"),
            ("route53", "us-east-1", "ListHostedZones"),
            ("backup", "us-west-2", "ListBackupVaults"),
            ("monitoring", "us-east-1", "ListMetrics"),
        ])

    def test_unsigned_request_passes_through(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.env._port, timeout=10)
        conn.request("GET", "/moto-api/data.json")
        r = conn.getresponse()
        r.read()
        conn.close()
        self.assertEqual(r.status, 200)
        self.assertEqual(self.env.requests()[-1]["service"], None)


class Faults(drtest.EnvTestCase):
    def assert_client_error(self, call, status, code):
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            call()
        err = cm.exception.response
        self.assertEqual(err["ResponseMetadata"]["HTTPStatusCode"], status)
        self.assertEqual(err["Error"]["Code"], code)
        return err

    def test_throttle_has_each_protocols_shape(self):
        e = self.env
        e.client("s3").create_bucket(Bucket="thr")
        cases = [
            ("dynamodb", lambda: e.client("dynamodb").list_tables(), 400, "ThrottlingException"),
            ("rds", lambda: e.client("rds").describe_db_clusters(), 400, "Throttling"),
            ("sts", lambda: e.client("sts").get_caller_identity(), 400, "Throttling"),
            ("s3", lambda: e.client("s3").get_bucket_versioning(Bucket="thr"), 503, "SlowDown"),
            ("route53", lambda: e.client("route53").list_hosted_zones(), 400, "Throttling"),
            ("backup", lambda: e.client("backup").list_backup_vaults(), 400, "ThrottlingException"),
            ("monitoring", lambda: e.client("cloudwatch").list_metrics(), 400, "Throttling"),
        ]
        for service, call, status, code in cases:
            with self.subTest(service=service):
                e.add_fault(service=service, action="throttle", count=1)
                self.assert_client_error(call, status, code)
                call()  # count=1: the next one passes
                # botocore's own classifier must see it as throttling (what a retrying client keys on)
                e.add_fault(service=service, action="throttle", count=1)
                with self.assertRaises(botocore.exceptions.ClientError) as cm:
                    call()
                ctx = RetryContext(attempt_number=1, parsed_response=cm.exception.response)
                self.assertTrue(ThrottledRetryableChecker().is_retryable(ctx))

    def test_error_uses_given_status_code_and_message(self):
        e = self.env
        e.add_fault(service="dynamodb", operation="ListTables", action="error", status=500,
                    code="InternalServerError", message="boom", count=1)
        err = self.assert_client_error(lambda: e.client("dynamodb").list_tables(), 500, "InternalServerError")
        self.assertEqual(err["Error"]["Message"], "boom")
        e.add_fault(service="rds", action="error", status=503, count=1)
        self.assert_client_error(lambda: e.client("rds").describe_db_clusters(), 503, "ServiceUnavailable")
        e.client("s3").create_bucket(Bucket="err")
        e.client("s3").put_object(Bucket="err", Key="o", Body=b"1")
        e.add_fault(service="s3", operation="HeadObject", action="error", status=500, count=1)
        self.assert_client_error(lambda: e.client("s3").head_object(Bucket="err", Key="o"), 500, "500")
        e.add_fault(service="backup", action="error", status=400, code="InvalidParameterValueException",
                    message="bad", count=1)
        self.assert_client_error(lambda: e.client("backup").list_backup_vaults(), 400,
                                 "InvalidParameterValueException")

    def test_latency(self):
        self.env.add_fault(service="dynamodb", action="latency", latency_ms=2000, count=1)
        t0 = time.monotonic()
        self.env.client("dynamodb").list_tables()
        self.assertGreaterEqual(time.monotonic() - t0, 2.0)
        t0 = time.monotonic()
        self.env.client("dynamodb").list_tables()
        # the count is used up: no added latency (a loaded machine may still be slow, but not 2 s slow)
        self.assertLess(time.monotonic() - t0, 1.9)
        self.assertEqual([r["fault"] for r in self.env.requests()], ["latency", None])

    def test_drop_closes_without_answer(self):
        self.env.add_fault(service="dynamodb", action="drop", count=1)
        with self.assertRaises(CONNECTION_ERRORS):
            self.env.client("dynamodb").list_tables()
        self.env.client("dynamodb").list_tables()

    def test_hang_until_the_client_gives_up(self):
        self.env.add_fault(service="rds", action="hang", count=1)
        t0 = time.monotonic()
        with self.assertRaises(botocore.exceptions.ReadTimeoutError):
            self.env.client("rds", read_timeout=1, connect_timeout=1).describe_db_clusters()
        self.assertGreaterEqual(time.monotonic() - t0, 1.0)
        self.env.client("rds").describe_db_clusters()
        self.assertEqual(self.env.requests()[0]["fault"], "hang")

    def test_unreachable_region(self):
        e = self.env
        e.add_fault(region=drtest.DR, action="unreachable")
        for call in (lambda: e.client("dynamodb", drtest.DR).list_tables(),
                     lambda: e.client("rds", drtest.DR).describe_db_clusters()):
            with self.assertRaises(CONNECTION_ERRORS):
                call()
        e.client("dynamodb", drtest.PRIMARY).list_tables()  # the other region still answers
        # raw socket: the proxy resets (RST), it does not just close
        s = socket.create_connection(("127.0.0.1", self.env._port))
        req = AWSRequest("POST", self.env.proxy_url + "/", data=b"{}",
                         headers={"X-Amz-Target": "DynamoDB_20120810.ListTables",
                                  "Content-Type": "application/x-amz-json-1.0"})
        SigV4Auth(Credentials("k", "s"), "dynamodb", drtest.DR).add_auth(req)
        head = "".join(f"{k}: {v}\r\n" for k, v in req.headers.items())
        s.sendall(f"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n{head}\r\n{{}}".encode())
        with self.assertRaises(ConnectionResetError):
            s.recv(100)
        s.close()

    def test_html_empty_and_oversize_answers(self):
        """200 answers that are not AWS's: boto3 fails to parse them too (no empty result), and a padded one has
        exactly the size asked for."""
        e = self.env
        e.add_fault(service="rds", operation="DescribeDBClusters", action="html", count=1)
        e.add_fault(service="rds", operation="DescribeDBClusters", action="empty", count=1)
        rds = e.client("rds", attempts=1)
        for _ in range(2):
            with self.assertRaises(Exception) as ctx:
                rds.describe_db_clusters()
            self.assertNotIsInstance(ctx.exception, botocore.exceptions.ClientError)
        self.assertEqual([(r["status"], r["fault"]) for r in e.requests()], [(200, "html"), (200, "empty")])
        e.add_fault(service="dynamodb", operation="ListTables", action="oversize", size_bytes=3 * 1024 * 1024,
                    count=1)
        req = AWSRequest("POST", e.proxy_url + "/", data=b"{}",
                         headers={"X-Amz-Target": "DynamoDB_20120810.ListTables",
                                  "Content-Type": "application/x-amz-json-1.0"})
        SigV4Auth(Credentials("k", "s"), "dynamodb", drtest.PRIMARY).add_auth(req)
        r = urllib.request.urlopen(urllib.request.Request(e.proxy_url + "/", data=b"{}", headers=dict(req.headers)))
        body = r.read()
        self.assertEqual(len(body), 3 * 1024 * 1024)
        self.assertTrue(body.startswith(b'{"Padding":"') and body.endswith(b'"}'))
        e.client("dynamodb").list_tables()  # the count is used up

    def test_unreachable_needs_a_region(self):
        with self.assertRaises(drtest.ControlError):
            self.env.add_fault(action="unreachable")

    def test_count_probability_and_matching(self):
        e = self.env
        fid = e.add_fault(service="dynamodb", operation="DescribeTable", action="throttle", count=2)
        ddb = e.client("dynamodb")
        ddb.list_tables()  # another operation: not matched
        for _ in range(2):
            with self.assertRaises(botocore.exceptions.ClientError):
                ddb.describe_table(TableName="x")
        with self.assertRaises(botocore.exceptions.ClientError) as cm:  # moto's own answer now
            ddb.describe_table(TableName="x")
        self.assertEqual(cm.exception.response["Error"]["Code"], "ResourceNotFoundException")
        self.assertEqual([f["hits"] for f in e.faults() if f["id"] == fid], [2])

        e.clear_faults()
        e.add_fault(service="sts", action="throttle", probability=0.3)
        sts = e.client("sts")
        failed = 0
        for _ in range(100):
            try:
                sts.get_caller_identity()
            except botocore.exceptions.ClientError:
                failed += 1
        self.assertTrue(10 <= failed <= 55, failed)

    def test_standard_retries_see_each_attempt(self):
        self.env.add_fault(service="dynamodb", operation="ListTables", action="throttle", count=2)
        self.env.client("dynamodb", attempts=3).list_tables()
        log = self.env.requests(operation="ListTables")
        self.assertEqual([(r["status"], r["fault"]) for r in log],
                         [(400, "throttle"), (400, "throttle"), (200, None)])


class Control(drtest.EnvTestCase):
    def test_fault_list_and_delete(self):
        e = self.env
        a = e.add_fault(service="s3", action="latency", latency_ms=1)
        b = e.add_fault(service="rds", action="drop")
        self.assertEqual([f["id"] for f in e.faults()], [a, b])
        e.clear_faults(a)
        self.assertEqual([f["id"] for f in e.faults()], [b])
        with self.assertRaises(drtest.ControlError):
            e.clear_faults(a)
        e.clear_faults()
        self.assertEqual(e.faults(), [])

    def test_bad_requests(self):
        self.assertIn("action", self.env.control("POST", "/faults", {"action": "explode"}, expect=400)["error"])
        self.env.control("GET", "/no/such/route", expect=404)

    def test_reset_clears_faults_log_and_moto(self):
        e = self.env
        e.client("dynamodb").create_table(TableName="r", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                                          AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                                          BillingMode="PAY_PER_REQUEST")
        e.add_fault(service="sts", action="drop")
        e.set_duration("PromoteReadReplicaDBCluster", 5)
        e.reset(moto=True)
        self.assertEqual(e.faults(), [])
        self.assertEqual(e.requests(), [])
        self.assertEqual(e.control("GET", "/durations"), {})
        self.assertEqual(e.client("dynamodb").list_tables()["TableNames"], [])

    def test_request_log_filter_and_clear(self):
        e = self.env
        e.client("sts").get_caller_identity()
        e.client("dynamodb").list_tables()
        self.assertEqual(len(e.requests(service="sts")), 1)
        self.assertEqual(e.requests(operation="ListTables")[0]["region"], "us-east-1")
        e.clear_requests()
        self.assertEqual(e.requests(), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
