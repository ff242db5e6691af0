#!/usr/bin/env python3
"""test_secrets.py: with canary AWS credentials (a moto IAM user's secret key; an assumed role's secret key and
session token) and a canary PostgreSQL password that the aurora resource really logs in with (from a 0600
pg_password_file, or from the variable named by pg_password_env), every dr-agent command at debug level leaves no
trace of them in stdout, stderr, the state directory (journals, reports, drill HTML/JSON, serving state, lock) or the
Prometheus file. A config naming a secret that group or others can read is refused, and so is a password file."""
import json
import os
import secrets
import signal
import tempfile
import unittest

import reltest
from reltest import P

ALLOW_ALL = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"},
                                                            {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]})
PG_PASSWORD_ENV = "DR_CANARY_PG_PASSWORD"


class Secrets(reltest.drtest.EnvTestCase):
    reset_moto = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not cls.env.auth:
            raise RuntimeError("test_secrets.py needs moto's auth mode: run it with `drenv run --auth`")
        iam = cls.env.client("iam", P, attempts=3)
        iam.create_user(UserName="dr-canary")
        iam.put_user_policy(UserName="dr-canary", PolicyName="all", PolicyDocument=ALLOW_ALL)
        key = iam.create_access_key(UserName="dr-canary")["AccessKey"]
        cls.static = {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}
        trust = json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{reltest.ACCOUNT}:user/dr-canary"}, "Action": "sts:AssumeRole"}]})
        iam.create_role(RoleName="dr-canary-role", AssumeRolePolicyDocument=trust)
        iam.put_role_policy(RoleName="dr-canary-role", PolicyName="all", PolicyDocument=ALLOW_ALL)
        import boto3
        sts = boto3.session.Session(aws_access_key_id=key["AccessKeyId"],
                                    aws_secret_access_key=key["SecretAccessKey"]).client(
            "sts", region_name=P, endpoint_url=cls.env.proxy_url)
        cr = sts.assume_role(RoleArn=f"arn:aws:iam::{reltest.ACCOUNT}:role/dr-canary-role",
                             RoleSessionName="canary")["Credentials"]
        cls.temporary = {"AWS_ACCESS_KEY_ID": cr["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": cr["SecretAccessKey"],
                         "AWS_SESSION_TOKEN": cr["SessionToken"]}
        cls.canaries = {"static secret key": key["SecretAccessKey"], "temporary secret key": cr["SecretAccessKey"],
                        "session token": cr["SessionToken"]}
        # The database user of the aurora resource gets a canary password (through the superuser path, on stdin),
        # kept in a 0600 file for pg_password_file; the environment's own is put back at the end.
        cls.pair = reltest.Pair(cls.env)
        pw = "pg-canary-" + secrets.token_urlsafe(18)
        cls.pair.sql("a", f"ALTER USER dr PASSWORD '{pw}';")
        cls.pg_password_file = os.path.join(tempfile.mkdtemp(prefix="secrets-pg-", dir=cls.env.tmpdir), "pg-password")
        with open(cls.pg_password_file, "w", opener=lambda path, flags: os.open(path, flags, 0o600)) as f:
            f.write(pw + "\n")
        cls.canaries["PostgreSQL password"] = pw
        for name, value in cls.canaries.items():
            assert len(value) >= 12, name  # long enough that a match is no accident

    @classmethod
    def tearDownClass(cls):
        with open(cls.env.environ["DR_TEST_PG_PASSWORD_FILE"]) as f:
            cls.pair.sql("a", f"ALTER USER dr PASSWORD '{f.read().strip()}';")
        super().tearDownClass()

    def setUp(self):
        reltest.reset(self.env, self.pair, moto=False)

    def seed(self):
        """The primary estate; under moto's auth mode the Route 53 part fails (moto refuses signed Route 53 GETs)."""
        from botocore.exceptions import ClientError
        try:
            self.env.seed()
        except ClientError as e:
            print(f"\nNOTE: seeding stopped at Route 53 under moto's auth mode ({e}); route53 and backup then "
                  "fail, which exercises the error paths too", flush=True)

    def pg(self, password_env=False):
        """The data plane with the canary password, from the 0600 file or from the environment."""
        if password_env:
            return reltest.pg_keys(self.env, password_env=PG_PASSWORD_ENV)
        return reltest.pg_keys(self.env, password_file=self.pg_password_file)

    def assert_password_used(self, r, what):
        """The aurora resource reached both databases: it logged in with the canary password."""
        self.assertIsNotNone(r.json, f"{what}: no JSON report: {r}")
        aurora = [x for x in r.json["resources"] if x["id"] == "aurora.main"][0]
        checks = {c["name"]: c for c in aurora["checks"]}
        for name in ("dp_primary_writable", "dp_dr_read_only", "dp_streaming"):
            self.assertEqual(checks[name]["status"], "OK", f"{what}: {name}: {checks[name]}")

    def every_command(self, creds, label, password_env=False):
        """Run every command at -vv with these credentials; returns (outputs, state dir, prometheus file)."""
        tmp = tempfile.mkdtemp(prefix=f"secrets-{label}-", dir=self.env.tmpdir)
        state = os.path.join(tmp, "state")
        conf = reltest.write_conf(os.path.join(tmp, "dr-agent.conf"), state,
                                  reltest.estate_resources(pg=self.pg(password_env), types=reltest.TYPES))
        if password_env:
            creds = dict(creds, **{PG_PASSWORD_ENV: self.canaries["PostgreSQL password"]})
        agent = reltest.Agent(self.env, conf, state)
        prom = os.path.join(tmp, "dr.prom")
        outs = []

        def run(*args):
            r = agent.run("-vv", *args, env=creds, timeout=300)
            outs.append((" ".join(args), r.stdout + r.stderr))
            return r

        run("plugins")
        run("plan")
        run("configure", "--plan")
        r = run("configure")
        ddb = self.env.client("dynamodb", reltest.D, attempts=3)
        self.assertIn("roadcall-users-prod", ddb.list_tables()["TableNames"],
                      f"configure with the canary credentials did nothing: {r.stderr[-1500:]}")
        reltest.make_healthy(self.env)
        for fmt in ("text", "json", "prometheus", "nagios"):
            r = run("verify", "--format", fmt, "--prometheus-file", prom)
            if fmt == "json":
                self.assert_password_used(r, "verify")
        # a graceful failover of Aurora fences the primary on its data plane: it needs the password (the aurora
        # resource alone: the two-phase switch commits nothing while another resource is not ready, and the
        # DynamoDB replicas this account's earlier cases left behind are not)
        r = run("failover", "--yes", "--format", "json", "--resource", "aurora.main")
        aurora = [x for x in r.json["resources"] if x["id"] == "aurora.main"][0]
        self.assertEqual(aurora["status"], "done", f"failover of aurora.main: {aurora}; {r.json.get('switch')}")
        self.assertIn("fence_primary", [c["action"] for c in aurora["changes"]])
        run("verify", "--format", "json", "--prometheus-file", prom)
        run("failback", "--yes", "--resource", "aurora.main")
        run("drill", "--yes")
        # an interrupted failover, resumed
        p = agent.start("-vv", "failover", "--yes", "--resource", "aurora.main", env=creds)
        def failover_step_ended():
            for f in os.listdir(os.path.join(state, "runs")):
                with open(os.path.join(state, "runs", f)) as fh:
                    text = fh.read()
                if '"command":"failover"' in text and '"step_end"' in text and '"run_end"' not in text:
                    return True
            return p.poll() is not None
        reltest.wait_for(failover_step_ended, timeout=60, interval=0.005)
        p.send_signal(signal.SIGKILL)
        o, e = p.communicate()
        outs.append(("failover (killed)", o + e))
        run("resume", "--yes")
        run("history")
        run("history", "--format", "json")
        run("failback", "--yes", "--resource", "aurora.main")
        self.assertTrue(os.path.exists(prom))
        return outs, state, prom

    def assert_clean(self, outs, state, prom):
        files = [prom]
        for root, _, names in os.walk(state):
            files += [os.path.join(root, n) for n in names]
        kinds = {os.path.basename(os.path.dirname(f)) for f in files}
        self.assertIn("runs", kinds)
        self.assertIn("reports", kinds)
        texts = [(f"output of {cmd}", text) for cmd, text in outs]
        for f in files:
            with open(f, "rb") as fh:
                texts.append((f, fh.read().decode("utf-8", "replace")))
        self.assertGreater(sum(len(t) for _, t in texts), 10000, "too little output to mean anything")
        self.assertTrue(any("DEBUG" in t or "debug" in t for _, t in texts), "no debug output was produced")
        for where, text in texts:
            for name, value in self.canaries.items():
                self.assertNotIn(value, text, f"the {name} appears in {where}")
                self.assertNotIn(value[:16], text, f"a prefix of the {name} appears in {where}")
            for marker in ("Signature=", "X-Amz-Security-Token:", "x-amz-security-token:"):
                self.assertNotIn(marker, text, f"{marker} appears in {where}")
        print(f"\nsearched {len(texts)} outputs and files ({sum(len(t) for _, t in texts)} characters) "
              f"for {len(self.canaries)} canaries: none found", flush=True)

    def test_static_canary_keys(self):
        self.seed()
        self.assert_clean(*self.every_command(self.static, "static"))

    def test_temporary_canary_credentials_password_from_env(self):
        self.seed()
        self.assert_clean(*self.every_command(self.temporary, "temporary", password_env=True))

    def test_secret_readable_by_others_refused(self):
        tmp = tempfile.mkdtemp(prefix="secrets-mode-", dir=self.env.tmpdir)
        fixtures = os.environ.get("DR_FIXTURE_DIR")
        self.assertTrue(fixtures and os.path.isdir(fixtures), "DR_FIXTURE_DIR")
        path = os.path.join(tmp, "dr-agent.conf")
        with open(path, "w") as f:
            f.write('objectives = { rto = "1h"; rpo = "15m"; };\nregions = { primary = "us-east-1"; dr = "us-west-2"; };\n'
                    f'agent = {{ state_dir = "{tmp}/state"; plugin_dir = "{fixtures}"; }};\n'
                    f'resources = ( {{ type = "fixture"; name = "a"; secret = "{self.canaries["static secret key"]}"; }} );\n')
        for mode in (0o640, 0o604, 0o660):
            os.chmod(path, mode)
            for cmd in (["verify"], ["configure"], ["failover", "--yes"]):
                r = self.env.run([reltest.AGENT, "-c", path, *cmd], env={"DR_AGENT_PLUGIN_DIR": fixtures})
                self.assertEqual(r.rc, 78, r)
                # group-writable is refused before the secret is even looked at
                self.assertIn("writable by group or others" if mode & 0o022 else
                              "holds a secret but is readable by group or others", r.stderr)
                self.assertNotIn(self.canaries["static secret key"], r.stdout + r.stderr)
        os.chmod(path, 0o600)
        r = self.env.run([reltest.AGENT, "-c", path, "verify"], env={"DR_AGENT_PLUGIN_DIR": fixtures})
        self.assertNotEqual(r.rc, 78, r)
        # the aurora resource's password file must be 0600 (or stricter) too
        pw = os.path.join(tmp, "pg-password")
        with open(pw, "w") as f:
            f.write(self.canaries["PostgreSQL password"] + "\n")
        conf = reltest.write_conf(os.path.join(tmp, "aurora.conf"), os.path.join(tmp, "state2"),
                                  reltest.estate_resources(pg=self.pg(), types=["aurora"]).replace(
                                      self.pg_password_file, pw))
        for mode in (0o644, 0o640, 0o604):
            os.chmod(pw, mode)
            for cmd in (["verify"], ["failover", "--yes"]):
                r = self.env.run([reltest.AGENT, "-c", conf, *cmd], env={"DR_AGENT_PLUGIN_DIR": reltest.PLUGINS})
                self.assertEqual(r.rc, 78, r)  # refused before any hook ran
                self.assertIn("pg_password_file", r.stdout + r.stderr)
                self.assertNotIn(self.canaries["PostgreSQL password"], r.stdout + r.stderr)
        os.chmod(pw, 0o600)
        r = self.env.run([reltest.AGENT, "-c", conf, "verify", "--format", "json"],
                         env={"DR_AGENT_PLUGIN_DIR": reltest.PLUGINS})
        self.assertIn(r.rc, (0, 1, 2, 3), r)
        self.assertNotIn("pg_password_file", r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
