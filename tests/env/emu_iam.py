"""IAM for the test proxy: the inline-policy size limit of a role, and the AWS managed policies of AWS Backup.

- PutRolePolicy is refused with 409 LimitExceeded when the role's inline policies would exceed 10,240
  characters in total (whitespace not counted, the policy of the same name replaced), as IAM does; moto has no
  such limit.
- AttachRolePolicy of an AWS managed policy moto does not know (AWSBackupServiceRolePolicyForBackup and
  AWSBackupServiceRolePolicyForRestores, which AWS Backup's default role carries) is kept here, and
  ListAttachedRolePolicies lists it after moto's own.
"""
import re
import threading
import xml.etree.ElementTree as ET

import awswire
from awswire import error_response, query_response

ROLE_INLINE_LIMIT = 10240  # characters, all inline policies of one role (IAM and AWS STS quotas)
AWS_MANAGED = {"AWSBackupServiceRolePolicyForBackup", "AWSBackupServiceRolePolicyForRestores"}


def policy_size(text):
    """IAM counts a policy's characters without whitespace."""
    return len(re.sub(r"\s", "", text))


class IAM:
    def __init__(self, fx):
        self.fx = fx
        self.lock = threading.Lock()
        self.attached = {}  # role name -> [policy ARN] of AWS managed policies moto lacks
        self.before = {("iam", "PutRolePolicy"): self.put_role_policy,
                       ("iam", "AttachRolePolicy"): self.attach}
        self.after = {("iam", "ListAttachedRolePolicies"): self.list_attached}
        self.control = []

    def reset(self):
        with self.lock:
            self.attached.clear()

    def dump(self):
        with self.lock:
            return {"aws_managed_attached": {r: list(a) for r, a in self.attached.items()}}

    def _iam(self):
        return self.fx.client("iam", "us-east-1")

    def _inline_size(self, role, skip):
        """Total size of the role's inline policies but `skip`; None when moto cannot tell (no such role...)."""
        import json
        import urllib.parse
        try:
            names = self._iam().list_role_policies(RoleName=role)["PolicyNames"]
            total = 0
            for name in names:
                if name == skip:
                    continue
                doc = self._iam().get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
                text = doc if isinstance(doc, str) else json.dumps(doc, separators=(",", ":"))
                total += policy_size(urllib.parse.unquote(text))
            return total
        except Exception:  # moto's own answer (NoSuchEntity ...) stands
            return None

    def put_role_policy(self, req):
        role, name = req.form.get("RoleName", ""), req.form.get("PolicyName", "")
        size = policy_size(req.form.get("PolicyDocument", ""))
        others = self._inline_size(role, name)
        if others is not None and others + size > ROLE_INLINE_LIMIT:
            return error_response(req, 409, "LimitExceeded",
                                  f"Maximum policy size of {ROLE_INLINE_LIMIT} bytes exceeded for role {role}")
        return None

    def attach(self, req):
        role, arn = req.form.get("RoleName", ""), req.form.get("PolicyArn", "")
        m = re.fullmatch(r"arn:aws[a-z-]*:iam::aws:policy/(?:.*/)?([\w+=,.@-]+)", arn)
        if not m or m.group(1) not in AWS_MANAGED:
            return None
        try:
            self._iam().get_role(RoleName=role)
        except Exception:
            return None  # moto answers NoSuchEntity for the role
        with self.lock:
            if arn not in self.attached.setdefault(role, []):
                self.attached[role].append(arn)
        return query_response("iam", "AttachRolePolicy", "")

    def list_attached(self, req, resp):
        with self.lock:
            extra = list(self.attached.get(req.form.get("RoleName", ""), []))
        if not extra:
            return None
        ns = awswire.NS["iam"]
        root = ET.fromstring(resp.body)
        result = root.find(f"{{{ns}}}ListAttachedRolePoliciesResult")
        policies = result.find(f"{{{ns}}}AttachedPolicies") if result is not None else None
        if policies is None:
            return None
        for arn in extra:
            member = ET.SubElement(policies, f"{{{ns}}}member")
            ET.SubElement(member, f"{{{ns}}}PolicyName").text = arn.rsplit("/", 1)[-1]
            ET.SubElement(member, f"{{{ns}}}PolicyArn").text = arn
        return awswire.with_xml(resp, root, ns)
