"""S3 replication for the test proxy: the configuration read back as written, and objects that really replicate.

- GetBucketReplication returns the configuration that PutBucketReplication stored (moto always
  reads back `DeleteMarkerReplication: Disabled` and an empty `Filter`).
- A PutObject into a bucket with an enabled rule whose prefix matches is copied (body, content
  type, metadata) into the rule's destination bucket after the duration set for
  "ReplicateObject" (0 s: before PutObject returns). HeadObject/GetObject then report
  `x-amz-replication-status`: PENDING, COMPLETED or FAILED on the source, REPLICA on the copy.
- A DeleteObject without a version id that leaves a delete marker is replicated the same way
  when the rule has DeleteMarkerReplication Enabled.
Rules are matched by prefix only (not tags); CopyObject and multipart uploads do not replicate.
- PutBucketReplication of a configuration that mixes rules of the earlier format (V1: a rule-level Prefix, no
  Filter) with V2 rules (Filter), or a V1 rule with V2-only elements (Priority, DeleteMarkerReplication), is
  refused with 400 MalformedXML, as S3 does (moto stores it).
- Objects written before the bucket had a rule are not replicated and carry no replication status (as in S3,
  where only S3 Batch Replication copies them).
- A test sets an object's replication status (PUT /__proxy/s3/replication-status): a FAILED object, as S3
  reports one it gave up on (permissions, KMS, destination), without breaking the estate otherwise.
"""
import threading
import xml.etree.ElementTree as ET

import awswire
from awswire import Response, find, findall, to_xml


class S3:
    def __init__(self, fx):
        self.fx = fx
        self.lock = threading.Lock()
        self.configs = {}  # bucket -> ReplicationConfiguration element, as PUT
        self.objects = {}  # (bucket, key, version id) -> replication status
        self.generation = 0  # a reset makes pending copies obsolete
        self.before = {("s3", "GetBucketReplication"): self.get_replication,
                       ("s3", "PutBucketReplication"): self.check_versions}
        self.after = {("s3", "PutBucketReplication"): self.put_replication,
                      ("s3", "DeleteBucketReplication"): self.forget,
                      ("s3", "DeleteBucket"): self.forget,
                      ("s3", "PutObject"): self.object_written,
                      ("s3", "DeleteObject"): self.object_deleted,
                      ("s3", "HeadObject"): self.add_status,
                      ("s3", "GetObject"): self.add_status}
        self.control = [("GET", r"/s3", lambda m, s, q: (200, self.dump())),
                        ("POST", r"/s3/batch-replication", self.c_batch_replicate),
                        ("PUT", r"/s3/replication-status", self.c_set_status)]

    def reset(self):
        with self.lock:
            self.configs.clear()
            self.objects.clear()
            self.generation += 1

    def dump(self):
        with self.lock:
            return {"configs": {b: to_xml(c, awswire.NS["s3"]) for b, c in self.configs.items()},
                    "objects": {f"{b}/{k}?versionId={v}": s for (b, k, v), s in self.objects.items()}}

    # ---- configuration -----------------------------------------------------------------------
    def put_replication(self, req, resp):
        root = ET.fromstring(req.body)
        with self.lock:
            self.configs[req.labels["Bucket"]] = root
        return None

    def check_versions(self, req):
        """S3 validates the configuration against one schema version: V1 and V2 rules cannot be mixed."""
        try:
            root = ET.fromstring(req.body)
        except ET.ParseError:
            return None  # moto's answer
        kinds = set()
        for rule in findall(root, "Rule"):
            v1 = find(rule, "Prefix") is not None and find(rule, "Filter") is None
            if v1 and (find(rule, "Priority") is not None or find(rule, "DeleteMarkerReplication") is not None):
                kinds.add("bad")
            kinds.add("v1" if v1 else "v2")
        if "bad" in kinds or {"v1", "v2"} <= kinds:
            return awswire.error_response(req, 400, "MalformedXML", "The XML you provided was not well-formed or "
                                          "did not validate against our published schema")
        return None

    def forget(self, req, resp):
        with self.lock:
            self.configs.pop(req.labels["Bucket"], None)
        return None

    def get_replication(self, req):
        with self.lock:
            root = self.configs.get(req.labels["Bucket"])
        if root is None:
            return None  # moto answers (ReplicationConfigurationNotFoundError when there is none)
        return Response(200, [("Content-Type", "application/xml"), ("x-amz-request-id", awswire.request_id())],
                        '<?xml version="1.0" encoding="UTF-8"?>\n' + to_xml(root, awswire.NS["s3"]))

    def _rule_for(self, bucket, key):
        """(destination bucket, delete markers replicated?) of the first enabled rule matching the key."""
        with self.lock:
            root = self.configs.get(bucket)
        if root is None:
            return None
        for rule in findall(root, "Rule"):
            if getattr(find(rule, "Status"), "text", "") != "Enabled":
                continue
            prefix = next((e.text or "" for e in (find(rule, "Filter/Prefix"), find(rule, "Filter/And/Prefix"),
                                                   find(rule, "Prefix")) if e is not None), "")
            if key.startswith(prefix):
                dest = find(rule, "Destination/Bucket").text.rsplit(":", 1)[-1]
                dmr = getattr(find(rule, "DeleteMarkerReplication/Status"), "text", "Disabled") == "Enabled"
                return dest, dmr
        return None

    # ---- objects -----------------------------------------------------------------------------
    def object_written(self, req, resp):
        bucket, key = req.labels["Bucket"], req.labels["Key"]
        rule = self._rule_for(bucket, key)
        if rule is None:
            return None
        version = resp.header("x-amz-version-id")
        with self.lock:
            self.objects[(bucket, key, version)] = "PENDING"
            gen = self.generation
        self._later(lambda: self._copy(req.region, bucket, key, version, rule[0], gen))
        return None

    def object_deleted(self, req, resp):
        bucket, key = req.labels["Bucket"], req.labels["Key"]
        rule = self._rule_for(bucket, key)
        if rule is None or not rule[1] or "versionId" in req.query or resp.header("x-amz-delete-marker") != "true":
            return None
        s3 = self.fx.client("s3", req.region)
        self._later(lambda: s3.delete_object(Bucket=rule[0], Key=key))
        return None

    def _later(self, fn):
        delay = self.fx.duration("ReplicateObject")
        if delay <= 0:
            fn()
        else:
            t = threading.Timer(delay, fn)
            t.daemon = True
            t.start()

    def _copy(self, region, bucket, key, version, dest, gen):
        s3 = self.fx.client("s3", region)
        try:
            extra = {"VersionId": version} if version else {}
            obj = s3.get_object(Bucket=bucket, Key=key, **extra)
            out = s3.put_object(Bucket=dest, Key=key, Body=obj["Body"].read(),
                                ContentType=obj.get("ContentType", "binary/octet-stream"),
                                Metadata=obj.get("Metadata", {}))
            status = "COMPLETED"
        except Exception:  # no destination bucket, not versioned, ...: S3 reports FAILED
            status, out = "FAILED", None
        with self.lock:
            if gen != self.generation:
                return
            self.objects[(bucket, key, version)] = status
            if out is not None:
                self.objects[(dest, key, out.get("VersionId"))] = "REPLICA"

    def c_batch_replicate(self, m, spec, query):
        """POST /s3/batch-replication {"bucket", "region"?}: what an S3 Batch Replication job does: every current
        object of the bucket without a replication status (written before the rule, or FAILED) is copied by
        the bucket's rules now. Returns the keys it copied."""
        import concurrent.futures
        bucket, region = spec["bucket"], spec.get("region", "us-east-1")
        s3 = self.fx.client("s3", region)
        todo = []
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            for obj in page.get("Versions", []):
                if not obj.get("IsLatest"):
                    continue
                key, version = obj["Key"], obj.get("VersionId")
                version = None if version == "null" else version
                with self.lock:
                    status = self.objects.get((bucket, key, version))
                    gen = self.generation
                rule = self._rule_for(bucket, key)
                if rule is not None and status in (None, "FAILED"):
                    todo.append((key, version, rule[0], gen))
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda t: self._copy(region, bucket, t[0], t[1], t[2], t[3]), todo))
        return 200, {"replicated": sorted(t[0] for t in todo)}

    def c_set_status(self, m, spec, query):
        """PUT /s3/replication-status {"bucket", "key", "status"}: the replication status of every version of the
        key that has one (a copy that S3 gave up on: "FAILED"). Returns the versions changed."""
        bucket, key, status = spec.get("bucket"), spec.get("key"), spec.get("status")
        if not bucket or not key or status not in ("PENDING", "COMPLETED", "FAILED"):
            raise ValueError('body must be {"bucket": ..., "key": ..., "status": "PENDING"|"COMPLETED"|"FAILED"}')
        with self.lock:
            hit = [v for (b, k, v) in self.objects if b == bucket and k == key]
            for v in hit:
                self.objects[(bucket, key, v)] = status
        if not hit:
            raise ValueError(f"{bucket}/{key} has no replication status (no rule matched when it was written)")
        return 200, {"versions": hit}

    def add_status(self, req, resp):
        version = req.q("versionId") or resp.header("x-amz-version-id")
        with self.lock:
            status = self.objects.get((req.labels["Bucket"], req.labels["Key"], version))
        if status is None:
            return None
        resp.set_header("x-amz-replication-status", status)
        return resp
