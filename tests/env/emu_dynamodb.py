"""DynamoDB global tables (version 2019.11.21) for the test proxy: the replicas moto accepts but never creates.

UpdateTable with ReplicaUpdates Create/Delete creates/deletes the table of the same name in the
other region (in moto, same key schema, billing mode, indexes, NEW_AND_OLD_IMAGES stream).
DescribeTable and UpdateTable in any member region then show `GlobalTableVersion` and the other
members as `Replicas[]` {RegionName, ReplicaStatus, ...}; AWS does not list the region asked.
A replica is CREATING / DELETING (and the other members' TableStatus UPDATING) for the duration
set for "UpdateTable" (0 s by default). Deleting a member table directly removes that replica.
Items are not replicated.

What AWS refuses and moto does not (ValidationException, before anything is created):
- Create for a table encrypted with a customer managed KMS key without `KMSMasterKeyId` (the replica's key in
  its own region); with it, the replica table is encrypted with that key.
- Create for a PROVISIONED table without write auto scaling (a scalable target and a scaling policy on
  `dynamodb:table:WriteCapacityUnits` in Application Auto Scaling).
DescribeTableReplicaAutoScaling (moto: not implemented) answers the write/read auto scaling of the table in the
region asked, read from moto's Application Auto Scaling.
"""
import json
import threading
import time

from awswire import error_response, fix_crc32, json_response

GLOBAL_TABLE_VERSION = "2019.11.21"
REPLICA_STATUSES = ("CREATING", "CREATION_FAILED", "UPDATING", "DELETING", "ACTIVE", "REGION_DISABLED",
                    "INACCESSIBLE_ENCRYPTION_CREDENTIALS", "ARCHIVING", "ARCHIVED", "REPLICATION_NOT_AUTHORIZED")


class DynamoDB:
    def __init__(self, fx):
        self.fx = fx
        self.lock = threading.RLock()
        # table name -> region -> {"status", "until" (end of CREATING/DELETING), "description", "progress"}
        self.tables = {}
        self.before = {("dynamodb", "UpdateTable"): self.update_table,
                       ("dynamodb", "DescribeTableReplicaAutoScaling"): self.describe_autoscaling}
        self.after = {("dynamodb", "DescribeTable"): self.decorate,
                      ("dynamodb", "UpdateTable"): self.decorate,
                      ("dynamodb", "DeleteTable"): self.table_deleted}
        self.control = [("GET", r"/dynamodb/replicas", self.c_list),
                        ("PUT", r"/dynamodb/replicas/([^/]+)/([^/]+)", self.c_set),
                        ("DELETE", r"/dynamodb/replicas/([^/]+)/([^/]+)", self.c_remove)]

    def reset(self):
        with self.lock:
            self.tables.clear()

    def dump(self):
        with self.lock:
            return {t: dict(m) for t, m in self.tables.items()}

    # ---- helpers -----------------------------------------------------------------------------
    def _describe(self, region, name):
        status, body = self.fx.json_call(region, "DescribeTable", {"TableName": name})
        return body.get("Table") if status == 200 else None

    def _advance(self, name, present=None, known=None):
        """Finish the CREATING/DELETING members whose time is up; forget members whose table is gone.

        `present`: a region whose table moto has just described (the answer being decorated), so it is not
        asked again. `known`: {region: exists} already looked up (by _look_up, outside the lock)."""
        members = self.tables.get(name)
        if not members:
            return
        known = known or {}
        now = time.time()
        for region, m in list(members.items()):
            if m["status"] == "CREATING" and m.get("until", 0) <= now:
                m.update(status="ACTIVE", until=None)
            elif m["status"] == "DELETING" and m.get("until", 0) <= now:
                self.fx.json_call(region, "DeleteTable", {"TableName": name})
                del members[region]
            elif m["status"] != "DELETING" and region != present:
                exists = known[region] if region in known else self._describe(region, name) is not None
                if not exists:
                    del members[region]  # deleted behind our back (or moto was reset)
        if len(members) < 2:
            self.tables.pop(name, None)

    def _look_up(self, name, present):
        """{region: exists in moto} for the members _advance would look up, asked without holding the lock: a
        DescribeTable of one global table then waits for no other table's lookups."""
        now = time.time()
        with self.lock:
            regions = [r for r, m in (self.tables.get(name) or {}).items()
                       if r != present and m["status"] != "DELETING"
                       and not (m["status"] == "CREATING" and m.get("until", 0) <= now)]
        return {r: self._describe(r, name) is not None for r in regions}

    def _name(self, req):
        name = req.json().get("TableName", "")
        return name.rsplit("/", 1)[-1] if name.startswith("arn:") else name

    # ---- UpdateTable with ReplicaUpdates -------------------------------------------------------
    def update_table(self, req):
        body = req.json()
        updates = body.get("ReplicaUpdates")
        if not updates:
            return None  # anything else is moto's
        name, region = self._name(req), req.region
        with self.lock:
            source = self._describe(region, name)
            if source is None:
                return error_response(req, 400, "ResourceNotFoundException",
                                      f"Requested resource not found: Table: {name} not found")
            self._advance(name)
            members = self.tables.get(name, {region: {"status": "ACTIVE"}})
            for u in updates:
                if "Create" in u:
                    err = (self._replica_prerequisites(req, source, u["Create"])
                           or self._create_replica(req, source, members, u["Create"]["RegionName"], u["Create"]))
                elif "Delete" in u:
                    err = self._delete_replica(req, members, u["Delete"]["RegionName"])
                else:
                    err = None  # Update{...}: per-replica settings are not emulated
                if err is not None:
                    return err
            if len(members) > 1:
                self.tables[name] = members
            table = self._describe(region, name)
        resp = json_response({"TableDescription": table})
        return self.decorate(req, resp, key="TableDescription") or resp

    def _customer_key(self, region, arn):
        """Is the KMS key a customer managed one? (moto's KMS; a key moto does not know counts as one)"""
        try:
            return self.fx.client("kms", region).describe_key(KeyId=arn)["KeyMetadata"].get("KeyManager") != "AWS"
        except Exception:
            return True

    def _scaling(self, region, name, dimension):
        """(scalable target, [scaling policies]) of a table's dimension in moto's Application Auto Scaling."""
        aas = self.fx.client("application-autoscaling", region)
        rid = f"table/{name}"
        targets = aas.describe_scalable_targets(ServiceNamespace="dynamodb", ResourceIds=[rid],
                                                ScalableDimension=dimension)["ScalableTargets"]
        policies = aas.describe_scaling_policies(ServiceNamespace="dynamodb", ResourceId=rid,
                                                 ScalableDimension=dimension)["ScalingPolicies"] if targets else []
        return (targets[0] if targets else None), policies

    def _replica_prerequisites(self, req, source, create):
        name = source["TableName"]
        sse = source.get("SSEDescription") or {}
        if (sse.get("SSEType") == "KMS" and sse.get("KMSMasterKeyArn") and not create.get("KMSMasterKeyId")
                and self._customer_key(req.region, sse["KMSMasterKeyArn"])):
            return error_response(req, 400, "ValidationException", "One or more parameter values were invalid: "
                                  "KMSMasterKeyId must be specified for each replica.")
        billing = (source.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
        if billing == "PROVISIONED":
            target, policies = self._scaling(req.region, name, "dynamodb:table:WriteCapacityUnits")
            if target is None or not policies:
                return error_response(req, 400, "ValidationException",
                                      "Table write capacity should either be Pay-Per-Request or AutoScaled.")
        return None

    def describe_autoscaling(self, req):
        name, region = self._name(req), req.region
        table = self._describe(region, name)
        if table is None:
            return error_response(req, 400, "ResourceNotFoundException",
                                  f"Requested resource not found: Table: {name} not found")

        def settings(dimension):
            target, policies = self._scaling(region, name, dimension)
            if target is None:
                return {"AutoScalingDisabled": True}
            return {"MinimumUnits": target["MinCapacity"], "MaximumUnits": target["MaxCapacity"],
                    "AutoScalingDisabled": False, "AutoScalingRoleArn": target.get("RoleARN", ""),
                    "ScalingPolicies": [{"PolicyName": p["PolicyName"], "TargetTrackingScalingPolicyConfiguration": {
                        "TargetValue": p.get("TargetTrackingScalingPolicyConfiguration", {}).get("TargetValue", 70.0)}}
                        for p in policies]}

        replica = {"RegionName": region, "GlobalSecondaryIndexes": [], "ReplicaStatus": "ACTIVE",
                   "ReplicaProvisionedReadCapacityAutoScalingSettings": settings("dynamodb:table:ReadCapacityUnits"),
                   "ReplicaProvisionedWriteCapacityAutoScalingSettings": settings("dynamodb:table:WriteCapacityUnits")}
        return json_response({"TableAutoScalingDescription": {"TableName": name, "TableStatus": table["TableStatus"],
                                                              "Replicas": [replica]}})

    def _create_replica(self, req, source, members, target, create=None):
        name = source["TableName"]
        if target == req.region or target in members or self._describe(target, name) is not None:
            return error_response(req, 400, "ValidationException",
                                  f"Failed to create a the new replica of table with name: '{name}' because "
                                  f"one or more replicas already existed as tables.")
        stream = source.get("StreamSpecification") or {}
        if stream.get("StreamEnabled") and stream.get("StreamViewType") != "NEW_AND_OLD_IMAGES":
            return error_response(req, 400, "ValidationException",
                                  f"Table: {name} must have a stream with view type NEW_AND_OLD_IMAGES "
                                  f"to add replicas (has {stream.get('StreamViewType')})")
        if not stream.get("StreamEnabled"):  # version 2019.11.21 turns the stream on by itself
            self.fx.json_call(req.region, "UpdateTable", {"TableName": name, "StreamSpecification": {
                "StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}})
        spec = {"TableName": name, "KeySchema": source["KeySchema"],
                "AttributeDefinitions": source["AttributeDefinitions"],
                "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}}
        billing = (source.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
        spec["BillingMode"] = billing
        if billing == "PROVISIONED":
            pt = source.get("ProvisionedThroughput", {})
            spec["ProvisionedThroughput"] = {"ReadCapacityUnits": pt.get("ReadCapacityUnits", 5),
                                             "WriteCapacityUnits": pt.get("WriteCapacityUnits", 5)}
        gsis = [{k: g[k] for k in ("IndexName", "KeySchema", "Projection") if k in g}
                for g in source.get("GlobalSecondaryIndexes") or []]
        if billing == "PROVISIONED":
            for g in gsis:
                g["ProvisionedThroughput"] = spec["ProvisionedThroughput"]
        if gsis:
            spec["GlobalSecondaryIndexes"] = gsis
        if (create or {}).get("KMSMasterKeyId"):
            spec["SSESpecification"] = {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": create["KMSMasterKeyId"]}
        status, body = self.fx.json_call(target, "CreateTable", spec)
        if status != 200:
            return error_response(req, 500, "InternalServerError", f"replica creation in moto failed: {body}")
        members[target] = {"status": "CREATING", "until": time.time() + self.fx.duration("UpdateTable")}
        return None

    def _delete_replica(self, req, members, target):
        if target not in members or target == req.region:
            return error_response(req, 400, "ValidationException",
                                  f"Replica specified in the Replica Update or Replica Delete action of the "
                                  f"request was not found: {target}")
        members[target].update(status="DELETING", until=time.time() + self.fx.duration("UpdateTable"))
        return None

    # ---- DescribeTable / UpdateTable responses -------------------------------------------------
    def decorate(self, req, resp, key=None):
        """Add GlobalTableVersion and Replicas (the other members) to a table description (None: unchanged)."""
        body = json.loads(resp.body or b"{}")
        key = key or ("Table" if "Table" in body else "TableDescription")
        table = body.get(key)
        if not table:
            return None
        known = self._look_up(table["TableName"], req.region)
        with self.lock:
            self._advance(table["TableName"], present=req.region, known=known)
            members = self.tables.get(table["TableName"], {})
            if req.region not in members:
                return None  # not a global table: moto's answer stands
            table["GlobalTableVersion"] = GLOBAL_TABLE_VERSION
            replicas = []
            for region in sorted(members):
                m = members[region]
                if region == req.region:
                    continue
                r = {"RegionName": region, "ReplicaStatus": m["status"]}
                if m.get("description"):
                    r["ReplicaStatusDescription"] = m["description"]
                if m["status"] == "CREATING":
                    r["ReplicaStatusPercentProgress"] = str(m.get("progress", 0))
                replicas.append(r)
            table["Replicas"] = replicas
            own = members[req.region]["status"]
            if own == "CREATING":
                table["TableStatus"] = "CREATING"
            elif any(m["status"] in ("CREATING", "DELETING") for r, m in members.items() if r != req.region):
                table["TableStatus"] = "UPDATING"
        resp.body = json.dumps(body).encode()
        fix_crc32(resp)
        return resp

    def table_deleted(self, req, resp):
        with self.lock:
            members = self.tables.get(self._name(req))
            if members and req.region in members:
                del members[req.region]
                if len(members) < 2:
                    self.tables.pop(self._name(req), None)
        return None

    # ---- control -----------------------------------------------------------------------------
    def c_list(self, m, spec, query):
        with self.lock:
            for name in list(self.tables):
                self._advance(name)
            return 200, self.dump()

    def c_set(self, m, spec, query):
        """PUT /dynamodb/replicas/<table>/<region> {"status", "description"?, "progress"?}"""
        name, region = m.group(1), m.group(2)
        status = spec["status"]
        if status not in REPLICA_STATUSES:
            raise ValueError(f"status must be one of {', '.join(REPLICA_STATUSES)}")
        with self.lock:
            self._advance(name)
            member = self.tables.get(name, {}).get(region)
            if member is None:
                return 404, {"error": f"{name} has no replica in {region}"}
            member.update(status=status, until=None, description=spec.get("description"),
                          progress=spec.get("progress", 0))
            return 200, dict(member)

    def c_remove(self, m, spec, query):
        """DELETE /dynamodb/replicas/<table>/<region>[?keep_table=1]: the replica is lost."""
        name, region = m.group(1), m.group(2)
        with self.lock:
            members = self.tables.get(name, {})
            if region not in members:
                return 404, {"error": f"{name} has no replica in {region}"}
            del members[region]
            if len(members) < 2:
                self.tables.pop(name, None)
        if query.get("keep_table", ["0"])[0] not in ("1", "true"):
            self.fx.json_call(region, "DeleteTable", {"TableName": name})
        return 200, {"removed": f"{name}@{region}"}

