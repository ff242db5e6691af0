#!/usr/bin/env python3
"""`dr-agent diagnose` of the s3 plugin: recent objects' ReplicationStatus (FAILED ones named), objects PENDING past
the RPO, and the KMS key of SSE-KMS objects, on a healthy and a broken estate."""
import json
import time
import unittest

from drtest import DR, PRIMARY
from s3test import RESOURCES, S3Case

NAME, BUCKET, DR_BUCKET = RESOURCES[0]
RID = "s3." + NAME
ONE = [RESOURCES[0]]


class S3Diagnose(S3Case):
    def diagnose(self, rc, **kw):
        res = self.agent("diagnose", RID, resources=ONE, **kw)
        self.assertEqual(res.rc, rc, res)
        self.assertEqual([r["id"] for r in res.json["resources"]], [RID])
        return self.checks(res, RID)

    def keys(self, key_id=None):
        """A KMS key pair as an operator makes them, and the config keys naming them."""
        kms, kms_dr = self.env.client("kms", PRIMARY), self.env.client("kms", DR)
        src = kms.create_key(Description="recordings")["KeyMetadata"]["Arn"]
        dst = kms_dr.create_key(Description="recordings replicas")["KeyMetadata"]["Arn"]
        return src, dst, f'kms_key_arn = "{src}"; dr_kms_key_arn = "{dst}";'

    def put(self, n, prefix="calls/2026/", **extra):
        for i in range(n):
            self.s3.put_object(Bucket=BUCKET, Key=f"{prefix}{i:03d}.wav", Body=b"x" * 64, **extra)

    def test_healthy_has_no_finding(self):
        src, _, extra = self.keys()
        self.configure(extra=extra, resources=ONE)
        self.put(3)
        self.put(2, prefix="calls/kms/", ServerSideEncryption="aws:kms", SSEKMSKeyId=src)
        self.env.clear_requests()
        got = self.diagnose(0, extra=extra)
        self.assertEqual({n: c["status"] for n, c in got.items()},
                         {"objects_failed": "OK", "objects_pending": "OK", "kms_key_use": "OK",
                          "replication_role": "OK"}, got)
        self.assertIn("5 COMPLETED", got["objects_failed"]["detail"])
        self.assertIn("its policy", got["kms_key_use"]["detail"])
        writes = [r["operation"] for r in self.env.requests()
                  if r["method"] not in ("GET", "HEAD") and r["operation"] not in ("ListGrants", "GetKeyPolicy")
                  and r["service"] != "iam"]
        self.assertEqual(writes, [])

    def test_failed_objects_are_named_with_the_fix(self):
        self.configure(resources=ONE)
        self.put(4)
        bad = "calls/2026/002.wav"
        self.env.control("PUT", "/s3/replication-status", {"bucket": BUCKET, "key": bad, "status": "FAILED"})
        got = self.diagnose(2)
        c = got["objects_failed"]
        self.assertEqual((c["status"], c["observed"]), ("CRITICAL", 1), c)
        self.assertIn(bad, c["detail"])
        self.assertNotIn("001.wav", c["detail"])
        self.assertIn("s3control create-job", c["detail"])
        self.assertEqual(got["objects_pending"]["status"], "OK")
        self.assertEqual(got["kms_key_use"]["status"], "OK")  # no SSE-KMS object
        import os
        text = self.env.run([os.environ["DR_AGENT_BIN"], "-c", self.conf(resources=ONE), "diagnose", RID])
        print("\n--- dr-agent diagnose (text) ---\n" + text.stdout)
        self.assertIn(f"CRITICAL objects_failed: 1", text.stdout)

    def test_role_that_may_not_replicate_is_named(self):
        """The source document's "verify IAM role permissions": the role's policies, whatever their names, lack an
        action replication needs: the finding names it."""
        self.configure(resources=ONE)
        role = f"dr-agent-s3-{BUCKET}"
        self.iam.put_role_policy(RoleName=role, PolicyName="deny-deletes", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "s3:ReplicateDelete",
                                                    "Resource": f"arn:aws:s3:::{DR_BUCKET}/*"}]}))
        res = self.agent("diagnose", RID, resources=ONE)
        c = self.checks(res, RID)["replication_role"]
        self.assertEqual((c["status"], res.rc), ("CRITICAL", 2), c)
        self.assertIn(f"s3:ReplicateDelete on arn:aws:s3:::{DR_BUCKET}/* (denied)", c["detail"])
        self.assertIn("deny-deletes", c["detail"])

    def test_objects_pending_past_the_rpo_and_a_missing_rule(self):
        self.configure(resources=ONE)
        self.env.set_duration("ReplicateObject", 120)  # S3 has not copied them yet
        self.put(2, prefix="calls/slow/")
        got = self.diagnose(0)  # PENDING, but for less than the 15 min RPO
        self.assertEqual(got["objects_pending"]["status"], "OK", got["objects_pending"])
        time.sleep(2)
        got = self.diagnose(1, rpo="1s")
        c = got["objects_pending"]
        self.assertEqual((c["status"], c["observed"]), ("WARNING", 2), c)
        self.assertIn("calls/slow/000.wav", c["detail"])
        self.assertEqual(got["objects_failed"]["status"], "OK")
        # no rule at all: nothing replicates
        self.s3.delete_bucket_replication(Bucket=BUCKET)
        got = self.diagnose(2)
        self.assertEqual(set(got), {"replication_rule"})
        self.assertEqual(got["replication_rule"]["status"], "CRITICAL")
        self.assertIn("dr-agent configure", got["replication_rule"]["detail"])

    def test_sse_kms_objects_the_rule_or_role_cannot_replicate(self):
        # a rule without SSE-KMS selection: such objects never replicate
        self.configure(resources=ONE)
        key = self.env.client("kms", PRIMARY).create_key()["KeyMetadata"]["Arn"]
        self.put(2, ServerSideEncryption="aws:kms", SSEKMSKeyId=key)
        got = self.diagnose(2)
        self.assertEqual(got["kms_key_use"]["status"], "CRITICAL")
        self.assertIn("does not select SseKmsEncryptedObjects", got["kms_key_use"]["detail"])
        # the rule selects them, but the objects use a key the role's policy does not name
        src, _, extra = self.keys()
        self.configure(extra=extra, resources=ONE)
        self.put(1, ServerSideEncryption="aws:kms", SSEKMSKeyId=key)
        got = self.diagnose(2, extra=extra)
        c = got["kms_key_use"]
        self.assertEqual(c["status"], "CRITICAL", c)
        self.assertIn(key, c["detail"])
        self.assertIn("create-grant", c["detail"])
        # a grant to the role settles it
        role = self.replication(BUCKET)["Role"]
        self.env.client("kms", PRIMARY).create_grant(KeyId=key, GranteePrincipal=role, Operations=["Decrypt"])
        got = self.diagnose(0, extra=extra)
        self.assertEqual(got["kms_key_use"]["status"], "OK", got["kms_key_use"])
        self.assertIn("a grant", got["kms_key_use"]["detail"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
