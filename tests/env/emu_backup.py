"""AWS Backup for the test proxy: selections (moto answers 500), recovery points and jobs (moto answers 404),
plan updates (moto answers 500).

Vaults and plans stay in moto. Recovery points and backup/copy jobs are set by the test through
the control API (with the ages it chooses) and read back with ListRecoveryPointsByBackupVault,
DescribeRecoveryPoint, ListBackupJobs, DescribeBackupJob, ListCopyJobs and DescribeCopyJob.
StartCopyJob makes a copy job that is RUNNING for the duration set for "StartCopyJob", then
COMPLETED with a recovery point in the destination vault. Backup selections are kept whole.
UpdateBackupPlan keeps the new plan document here and GetBackupPlan shows it over moto's plan.

What moto does not enforce and AWS does:
- DescribeBackupVault and ListRecoveryPointsByBackupVault of a vault that does not exist answer
  403 AccessDeniedException ("Insufficient privileges to perform this action."), not ResourceNotFoundException.
- CreateBackupSelection with an IamRoleArn that names no existing role is refused
  (InvalidParameterValueException): AWSBackupDefaultServiceRole exists only once someone created it.
- Region settings (DescribeRegionSettings, UpdateRegionSettings; moto: 404) start with DynamoDB not under full
  AWS Backup management; StartCopyJob of a DynamoDB recovery point to another region is refused
  (InvalidRequestException) until the advanced DynamoDB backup features are on in the source region.
"""
import json
import re
import threading
import time
import urllib.parse
import uuid

from awswire import error_response, json_response, parse_time

JOB_STATES = ("CREATED", "PENDING", "RUNNING", "ABORTING", "ABORTED", "COMPLETED", "FAILED", "EXPIRED", "PARTIAL")
COPY_STATES = ("CREATED", "RUNNING", "COMPLETED", "FAILED", "PARTIAL")
RP_STATES = ("COMPLETED", "PARTIAL", "DELETING", "EXPIRED", "AVAILABLE", "STOPPED", "CREATING")
TERMINAL = ("ABORTED", "COMPLETED", "FAILED", "EXPIRED", "PARTIAL")


def resource_type(arn):
    service, rest = arn.split(":")[2], arn.split(":", 5)[-1]
    if service == "rds":
        return "Aurora" if rest.startswith("cluster:") else "RDS"
    return {"dynamodb": "DynamoDB", "s3": "S3", "ec2": "EBS", "elasticfilesystem": "EFS"}.get(service, service)


def vault_name(arn):
    return arn.rsplit(":", 1)[-1]


def public(item):
    """What the API shows of a stored item: our own bookkeeping keys start with '_'."""
    return {k: v for k, v in item.items() if not k.startswith("_")}


class Backup:
    def __init__(self, fx):
        self.fx = fx
        self.lock = threading.RLock()
        self.selections = {}  # plan id -> selection id -> stored selection
        self.points = []  # recovery points (AWS-shaped, plus _region)
        self.jobs = []  # backup jobs
        self.copies = []  # copy jobs
        self.plans = {}  # (region, plan id) -> {"BackupPlan", "VersionId"} set by UpdateBackupPlan
        self.settings = {}  # region -> {"ResourceTypeOptInPreference": {...}, "ResourceTypeManagementPreference": {...}}
        b = "backup"
        self.before = {(b, "CreateBackupSelection"): self.create_selection,
                       (b, "GetBackupSelection"): self.get_selection,
                       (b, "ListBackupSelections"): self.list_selections,
                       (b, "DeleteBackupSelection"): self.delete_selection,
                       (b, "ListRecoveryPointsByBackupVault"): self.list_points,
                       (b, "DescribeRecoveryPoint"): self.describe_point,
                       (b, "ListBackupJobs"): self.list_jobs,
                       (b, "DescribeBackupJob"): self.describe_job,
                       (b, "ListCopyJobs"): self.list_copies,
                       (b, "DescribeCopyJob"): self.describe_copy,
                       (b, "StartCopyJob"): self.start_copy,
                       (b, "UpdateBackupPlan"): self.update_plan,
                       (b, "DescribeBackupVault"): self.describe_vault,
                       (b, "DescribeRegionSettings"): self.describe_settings,
                       (b, "UpdateRegionSettings"): self.update_settings}
        self.after = {(b, "GetBackupPlan"): self.get_plan_after}
        self.control = [("POST", r"/backup/recovery-points", self.c_add_point),
                        ("POST", r"/backup/jobs", self.c_add_job),
                        ("GET", r"/backup", lambda m, s, q: (200, self.dump()))]

    def reset(self):
        with self.lock:
            self.selections.clear()
            self.points.clear()
            self.jobs.clear()
            self.copies.clear()
            self.plans.clear()
            self.settings.clear()

    def dump(self):
        with self.lock:
            self._advance()
            return {"selections": self.selections, "recovery_points": self.points, "backup_jobs": self.jobs,
                    "copy_jobs": self.copies, "region_settings": self.settings}

    # ---- helpers -----------------------------------------------------------------------------
    def vault_arn(self, region, name):
        return f"arn:aws:backup:{region}:{self.fx.account_id}:backup-vault:{name}"

    def _exists(self, region, path):
        """Does moto have it? moto with --auth rejects the proxy's Backup GETs (403): assume yes then."""
        return self.fx.call("backup", region, "GET", path).status in (200, 403)

    @staticmethod
    def _vault_denied(req):
        """What AWS answers for a vault that does not exist (the same as for one the caller may not read)."""
        return error_response(req, 403, "AccessDeniedException", "Insufficient privileges to perform this action.")

    def _not_found(self, req, what):
        return error_response(req, 400, "ResourceNotFoundException", f"{what} does not exist")

    def _page(self, req, items, key):
        """Newest first, with maxResults/nextToken paging like the real service."""
        items = sorted(items, key=lambda i: i["CreationDate"], reverse=True)
        start = int(req.q("nextToken") or 0)
        size = int(req.q("maxResults") or 1000)
        out = {key: [public(i) for i in items[start:start + size]]}
        if start + size < len(items):
            out["NextToken"] = str(start + size)
        return json_response(out, service="backup")

    def _advance(self):
        """Copy jobs started with StartCopyJob complete when their time is up."""
        now = time.time()
        for job in self.copies:
            if job["State"] == "RUNNING" and job.get("_until", now + 1) <= now:
                dest = job["DestinationBackupVaultArn"]
                point = self._new_point(dest.split(":")[3], vault_name(dest), job["ResourceArn"], now - 0.001,
                                        "COMPLETED", 0, source_vault_arn=job["SourceBackupVaultArn"])
                job.update(State="COMPLETED", CompletionDate=now, DestinationRecoveryPointArn=point["RecoveryPointArn"])

    @staticmethod
    def _filter(items, req, fields):
        """fields: query name -> (item key, kind) with kind "eq", "after" or "before"."""
        out = []
        for i in items:
            ok = True
            for q, (key, kind) in fields.items():
                v = req.q(q)
                if v is None:
                    continue
                if kind == "eq":
                    ok = ok and i.get(key) == v
                elif kind == "after":
                    ok = ok and i.get(key) is not None and i[key] >= parse_time(v)
                else:
                    ok = ok and i.get(key) is not None and i[key] <= parse_time(v)
            if ok:
                out.append(i)
        return out

    def _new_point(self, region, vault, resource_arn, created, status, minutes, **extra):
        acct = self.fx.account_id
        rtype = resource_type(resource_arn)
        if rtype == "Aurora":
            arn = f"arn:aws:rds:{region}:{acct}:cluster-snapshot:awsbackup:job-{uuid.uuid4()}"
        elif rtype == "DynamoDB":
            table = resource_arn.split(":table/", 1)[-1].split("/")[0]
            arn = f"arn:aws:dynamodb:{region}:{acct}:table/{table}/backup/{int(created * 1000)}-{uuid.uuid4().hex[:8]}"
        else:
            arn = f"arn:aws:backup:{region}:{acct}:recovery-point:{uuid.uuid4()}"
        point = {"_region": region, "RecoveryPointArn": arn, "BackupVaultName": vault,
                 "BackupVaultArn": self.vault_arn(region, vault), "ResourceArn": resource_arn,
                 "ResourceType": rtype, "IamRoleArn": f"arn:aws:iam::{acct}:role/service-role/AWSBackupDefaultServiceRole",
                 "Status": status, "CreationDate": created, "InitiationDate": created,
                 "BackupSizeInBytes": extra.pop("size_bytes", 1073741824), "IsEncrypted": True,
                 "ResourceName": resource_arn.rsplit(":", 1)[-1].rsplit("/", 1)[-1]}
        if status == "COMPLETED":
            point["CompletionDate"] = created + minutes * 60
        if extra.get("source_vault_arn"):
            point["SourceBackupVaultArn"] = extra["source_vault_arn"]
        if extra.get("delete_after_days"):
            point["Lifecycle"] = {"DeleteAfterDays": int(extra["delete_after_days"])}
            point["CalculatedLifecycle"] = {"DeleteAt": created + int(extra["delete_after_days"]) * 86400}
        self.points.append(point)
        return point

    # ---- plan updates ------------------------------------------------------------------------
    def update_plan(self, req):
        pid = req.labels["BackupPlanId"]
        r = self.fx.call("backup", req.region, "GET", f"/backup/plans/{urllib.parse.quote(pid)}/")
        if r.status == 403:  # moto with --auth rejects the proxy's Backup GETs: update blind
            cur = {"BackupPlanArn": f"arn:aws:backup:{req.region}:{self.fx.account_id}:backup-plan:{pid}",
                   "BackupPlan": {"Rules": []}}
        elif r.status != 200:
            return self._not_found(req, f"Backup plan {pid}")
        else:
            cur = json.loads(r.body)
            if cur.get("DeletionDate"):
                return self._not_found(req, f"Backup plan {pid}")
        with self.lock:
            prev = self.plans.get((req.region, pid), cur)["BackupPlan"]
            ids = {rule.get("RuleName"): rule.get("RuleId") for rule in prev.get("Rules", [])}
            plan = req.json()["BackupPlan"]
            for rule in plan["Rules"]:  # the defaults moto gives a new plan's rules
                rule.setdefault("ScheduleExpression", "cron(0 5 ? * * *)")
                rule.setdefault("StartWindowMinutes", 480)
                rule.setdefault("CompletionWindowMinutes", 10080)
                rule.setdefault("ScheduleExpressionTimezone", "Etc/UTC")
                rule["RuleId"] = ids.get(rule["RuleName"]) or str(uuid.uuid4())
            version = uuid.uuid4().hex
            self.plans[(req.region, pid)] = {"BackupPlan": plan, "VersionId": version}
        return json_response({"BackupPlanId": pid, "BackupPlanArn": cur["BackupPlanArn"], "CreationDate": time.time(),
                              "VersionId": version}, service="backup")

    def get_plan_after(self, req, resp):
        with self.lock:
            upd = self.plans.get((req.region, req.labels.get("BackupPlanId")))
        if upd is None:
            return None
        body = json.loads(resp.body)
        body.update(BackupPlan=upd["BackupPlan"], VersionId=upd["VersionId"])
        return json_response(body, service="backup")

    # ---- selections --------------------------------------------------------------------------
    def create_selection(self, req):
        plan = req.labels["BackupPlanId"]
        if not self._exists(req.region, f"/backup/plans/{urllib.parse.quote(plan)}/"):
            return self._not_found(req, f"Backup plan {plan}")
        body = req.json()
        role = body.get("BackupSelection", {}).get("IamRoleArn", "")
        if not self._role_exists(role):
            return error_response(req, 400, "InvalidParameterValueException",
                                  f"IAM Role {role} is not authorized to call tag:GetResources")
        sel = {"SelectionId": str(uuid.uuid4()), "BackupPlanId": plan, "CreationDate": time.time(),
               "CreatorRequestId": body.get("CreatorRequestId"), "BackupSelection": body["BackupSelection"]}
        with self.lock:
            self.selections.setdefault(plan, {})[sel["SelectionId"]] = sel
        return json_response({k: sel[k] for k in ("SelectionId", "BackupPlanId", "CreationDate")}, service="backup")

    def _selection(self, req):
        with self.lock:
            return self.selections.get(req.labels["BackupPlanId"], {}).get(req.labels["SelectionId"])

    def get_selection(self, req):
        sel = self._selection(req)
        if sel is None:
            return self._not_found(req, f"Backup selection {req.labels['SelectionId']}")
        return json_response({k: v for k, v in sel.items() if v is not None}, service="backup")

    def list_selections(self, req):
        plan = req.labels["BackupPlanId"]
        if not self._exists(req.region, f"/backup/plans/{urllib.parse.quote(plan)}/"):
            return self._not_found(req, f"Backup plan {plan}")
        with self.lock:
            items = [{"SelectionId": s["SelectionId"], "SelectionName": s["BackupSelection"]["SelectionName"],
                      "BackupPlanId": plan, "CreationDate": s["CreationDate"],
                      "IamRoleArn": s["BackupSelection"]["IamRoleArn"],
                      **({"CreatorRequestId": s["CreatorRequestId"]} if s.get("CreatorRequestId") else {})}
                     for s in self.selections.get(plan, {}).values()]
        return self._page(req, items, "BackupSelectionsList")

    def delete_selection(self, req):
        with self.lock:
            if self.selections.get(req.labels["BackupPlanId"], {}).pop(req.labels["SelectionId"], None) is None:
                return self._not_found(req, f"Backup selection {req.labels['SelectionId']}")
        return json_response({}, service="backup")

    def _role_exists(self, arn):
        """Does moto's IAM hold the role an ARN names (any path)? With --auth, when IAM cannot be read: yes."""
        m = re.fullmatch(r"arn:aws[a-z-]*:iam::\d{12}:role/(?:.*/)?([\w+=,.@-]+)", arn or "")
        if not m:
            return False
        try:
            self.fx.client("iam", "us-east-1").get_role(RoleName=m.group(1))
            return True
        except Exception as e:  # NoSuchEntity, or moto refusing the proxy's own call
            return getattr(e, "response", {}).get("Error", {}).get("Code") != "NoSuchEntity"

    # ---- vaults and region settings ------------------------------------------------------------
    def describe_vault(self, req):
        vault = req.labels["BackupVaultName"]
        if not self._exists(req.region, f"/backup-vaults/{urllib.parse.quote(vault)}"):
            return self._vault_denied(req)
        return None  # moto answers

    def _settings(self, region):
        return self.settings.setdefault(region, {
            "ResourceTypeOptInPreference": {t: True for t in ("Aurora", "DynamoDB", "EBS", "EC2", "EFS", "FSx", "RDS",
                                                              "Storage Gateway")},
            "ResourceTypeManagementPreference": {"DynamoDB": False, "EFS": True}})

    def describe_settings(self, req):
        with self.lock:
            return json_response(json.loads(json.dumps(self._settings(req.region))), service="backup")

    def update_settings(self, req):
        body = req.json() if req.body else {}
        with self.lock:
            cur = self._settings(req.region)
            for key in ("ResourceTypeOptInPreference", "ResourceTypeManagementPreference"):
                for k, v in (body.get(key) or {}).items():
                    if not isinstance(v, bool):
                        return error_response(req, 400, "InvalidParameterValueException", f"{key}.{k} must be a boolean")
                    cur[key][k] = v
        return json_response({}, service="backup")

    # ---- recovery points ---------------------------------------------------------------------
    def list_points(self, req):
        vault = req.labels["BackupVaultName"]
        if not self._exists(req.region, f"/backup-vaults/{urllib.parse.quote(vault)}"):
            return self._vault_denied(req)
        with self.lock:
            self._advance()
            items = [p for p in self.points if p["_region"] == req.region and p["BackupVaultName"] == vault]
            items = self._filter(items, req, {"resourceArn": ("ResourceArn", "eq"),
                                              "resourceType": ("ResourceType", "eq"),
                                              "createdAfter": ("CreationDate", "after"),
                                              "createdBefore": ("CreationDate", "before")})
        return self._page(req, items, "RecoveryPoints")

    def describe_point(self, req):
        vault, arn = req.labels["BackupVaultName"], req.labels["RecoveryPointArn"]
        with self.lock:
            self._advance()
            found = [p for p in self.points if p["_region"] == req.region and p["BackupVaultName"] == vault
                     and p["RecoveryPointArn"] == arn]
        if not found:
            return self._not_found(req, f"Recovery point {arn}")
        return json_response(public(found[0]), service="backup")

    # ---- jobs --------------------------------------------------------------------------------
    def list_jobs(self, req):
        with self.lock:
            items = self._filter([j for j in self.jobs if j["_region"] == req.region], req, {
                "resourceArn": ("ResourceArn", "eq"), "state": ("State", "eq"),
                "backupVaultName": ("BackupVaultName", "eq"), "resourceType": ("ResourceType", "eq"),
                "createdAfter": ("CreationDate", "after"), "createdBefore": ("CreationDate", "before"),
                "completeAfter": ("CompletionDate", "after"), "completeBefore": ("CompletionDate", "before")})
        return self._page(req, items, "BackupJobs")

    def describe_job(self, req):
        with self.lock:
            found = [j for j in self.jobs if j["BackupJobId"] == req.labels["BackupJobId"]]
        if not found:
            return self._not_found(req, f"Backup job {req.labels['BackupJobId']}")
        return json_response(public(found[0]), service="backup")

    def list_copies(self, req):
        with self.lock:
            self._advance()
            items = self._filter([j for j in self.copies if j["_region"] == req.region], req, {
                "resourceArn": ("ResourceArn", "eq"), "state": ("State", "eq"),
                "resourceType": ("ResourceType", "eq"), "destinationVaultArn": ("DestinationBackupVaultArn", "eq"),
                "sourceRecoveryPointArn": ("SourceRecoveryPointArn", "eq"),
                "createdAfter": ("CreationDate", "after"), "createdBefore": ("CreationDate", "before"),
                "completeAfter": ("CompletionDate", "after"), "completeBefore": ("CompletionDate", "before")})
        return self._page(req, items, "CopyJobs")

    def describe_copy(self, req):
        with self.lock:
            self._advance()
            found = [j for j in self.copies if j["CopyJobId"] == req.labels["CopyJobId"]]
        if not found:
            return self._not_found(req, f"Copy job {req.labels['CopyJobId']}")
        return json_response({"CopyJob": public(found[0])}, service="backup")

    def start_copy(self, req):
        body = req.json()
        with self.lock:
            src = [p for p in self.points if p["RecoveryPointArn"] == body.get("RecoveryPointArn")
                   and p["BackupVaultName"] == body.get("SourceBackupVaultName") and p["_region"] == req.region]
            if not src:
                return self._not_found(req, f"Recovery point {body.get('RecoveryPointArn')}")
            dest_region = body.get("DestinationBackupVaultArn", "").split(":")[3:4]
            if (src[0]["ResourceType"] == "DynamoDB" and dest_region and dest_region[0] != req.region
                    and not self._settings(req.region)["ResourceTypeManagementPreference"].get("DynamoDB")):
                return error_response(req, 400, "InvalidRequestException",
                                      "Cross-region copy of DynamoDB backups requires AWS Backup's advanced features "
                                      "for Amazon DynamoDB backups (UpdateRegionSettings "
                                      "ResourceTypeManagementPreference DynamoDB=true)")
            now = time.time()
            job = self._new_copy(req.region, src[0]["BackupVaultArn"], src[0]["RecoveryPointArn"],
                                 body["DestinationBackupVaultArn"], src[0]["ResourceArn"], now, "RUNNING", 0,
                                 iam_role=body.get("IamRoleArn"))
            job["_until"] = now + self.fx.duration("StartCopyJob")
            self._advance()
        return json_response({"CopyJobId": job["CopyJobId"], "CreationDate": now, "IsParent": False},
                             service="backup")

    def _new_copy(self, region, source_vault_arn, source_point, dest_vault_arn, resource_arn, created, state,
                  minutes, iam_role=None, **extra):
        job = {"_region": region, "AccountId": self.fx.account_id, "CopyJobId": str(uuid.uuid4()).upper(),
               "SourceBackupVaultArn": source_vault_arn, "SourceRecoveryPointArn": source_point,
               "DestinationBackupVaultArn": dest_vault_arn, "ResourceArn": resource_arn,
               "ResourceType": resource_type(resource_arn), "CreationDate": created, "State": state,
               "BackupSizeInBytes": 1073741824,
               "IamRoleArn": iam_role or f"arn:aws:iam::{self.fx.account_id}:role/service-role/AWSBackupDefaultServiceRole"}
        if state in TERMINAL:
            job["CompletionDate"] = created + minutes * 60
        for k in ("DestinationRecoveryPointArn", "StatusMessage"):
            if extra.get(k):
                job[k] = extra[k]
        self.copies.append(job)
        return job

    # ---- control -----------------------------------------------------------------------------
    def c_add_point(self, m, spec, query):
        """POST /backup/recovery-points {vault, resource_arn, region?, age_hours?, status?, ...}"""
        status = spec.get("status", "COMPLETED")
        if status not in RP_STATES:
            raise ValueError(f"status must be one of {', '.join(RP_STATES)}")
        created = time.time() - float(spec.get("age_hours", 1)) * 3600
        with self.lock:
            point = self._new_point(spec.get("region", "us-east-1"), spec["vault"], spec["resource_arn"], created,
                                    status, float(spec.get("duration_minutes", 10)),
                                    delete_after_days=spec.get("delete_after_days"),
                                    source_vault_arn=spec.get("source_vault_arn"),
                                    **({"size_bytes": int(spec["size_bytes"])} if "size_bytes" in spec else {}))
        return 200, public(point)

    def c_add_job(self, m, spec, query):
        """POST /backup/jobs {type: backup|copy, resource_arn, region?, state?, age_hours?, vault | source_vault
        and destination_vault_arn, recovery_point_arn?, status_message?, percent_done?}"""
        kind, region = spec.get("type", "backup"), spec.get("region", "us-east-1")
        state = spec.get("state", "COMPLETED")
        created = time.time() - float(spec.get("age_hours", 1)) * 3600
        minutes = float(spec.get("duration_minutes", 10))
        with self.lock:
            if kind == "copy":
                if state not in COPY_STATES:
                    raise ValueError(f"state must be one of {', '.join(COPY_STATES)}")
                job = self._new_copy(region, self.vault_arn(region, spec["source_vault"]),
                                     spec.get("recovery_point_arn", ""), spec["destination_vault_arn"],
                                     spec["resource_arn"], created, state, minutes,
                                     DestinationRecoveryPointArn=spec.get("destination_recovery_point_arn"),
                                     StatusMessage=spec.get("status_message"))
                return 200, public(job)
            if kind != "backup":
                raise ValueError('type must be "backup" or "copy"')
            if state not in JOB_STATES:
                raise ValueError(f"state must be one of {', '.join(JOB_STATES)}")
            job = {"_region": region, "AccountId": self.fx.account_id, "BackupJobId": str(uuid.uuid4()).upper(),
                   "BackupVaultName": spec["vault"], "BackupVaultArn": self.vault_arn(region, spec["vault"]),
                   "ResourceArn": spec["resource_arn"], "ResourceType": resource_type(spec["resource_arn"]),
                   "CreationDate": created, "State": state, "BackupSizeInBytes": 1073741824,
                   "IamRoleArn": f"arn:aws:iam::{self.fx.account_id}:role/service-role/AWSBackupDefaultServiceRole",
                   "PercentDone": str(spec.get("percent_done", 100.0 if state == "COMPLETED" else 0.0))}
            if state in TERMINAL:
                job["CompletionDate"] = created + minutes * 60
            if spec.get("recovery_point_arn"):
                job["RecoveryPointArn"] = spec["recovery_point_arn"]
            if spec.get("status_message"):
                job["StatusMessage"] = spec["status_message"]
            self.jobs.append(job)
        return 200, public(job)
