"""Helpers for integration tests against the local AWS environment (drenv): env, proxy control, seed, clients, commands.

Typical use (unittest, run through `drenv run -- python3 my_test.py`, or standalone: the
environment is then started for the process and stopped at exit):

    import drtest
    class T(drtest.EnvTestCase):
        def test_throttled_describe(self):
            self.env.seed()
            self.env.add_fault(service="dynamodb", operation="DescribeTable", action="throttle", count=2)
            res = self.env.run(["dr-agent", "verify", "--format", "json"])
            self.assertEqual(res.rc, 0, res.stderr)
            self.assertEqual(len(self.env.requests(operation="DescribeTable")), 3)
"""
import atexit
import http.client
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

PRIMARY, DR = "us-east-1", "us-west-2"


class ControlError(Exception):
    pass


class Result:
    """What run() returns: exit code, outputs, and stdout parsed as JSON when it is JSON."""

    def __init__(self, rc, stdout, stderr, seconds):
        self.rc, self.stdout, self.stderr, self.seconds = rc, stdout, stderr, seconds
        try:
            self.json = json.loads(stdout) if stdout.strip() else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return f"Result(rc={self.rc}, {self.seconds:.2f} s, stdout={self.stdout[:200]!r}, stderr={self.stderr[-500:]!r})"


class Env:
    """The running environment, described by the variables drenv exports."""

    def __init__(self, environ=None):
        e = dict(os.environ if environ is None else environ)
        if "DR_TEST_PROXY_URL" not in e:
            raise RuntimeError("no drenv environment (DR_TEST_PROXY_URL unset); use drtest.ensure_env()")
        self.environ = e
        self.proxy_url = e["DR_TEST_PROXY_URL"]
        self.moto_url = e["DR_TEST_MOTO_URL"]
        self.tmpdir = e["DR_TEST_TMPDIR"]
        self.account_id = e.get("DR_TEST_ACCOUNT_ID", "123456789012")
        self.auth = e.get("DR_TEST_AUTH") == "1"
        self.has_pg = "DR_TEST_PG_PRIMARY_DSN" in e
        u = urllib.parse.urlsplit(self.proxy_url)
        self._host, self._port = u.hostname, u.port

    # ---- the proxy's control API -------------------------------------------------------------
    def control(self, method, path, body=None, expect=200):
        c = http.client.HTTPConnection(self._host, self._port, timeout=60)
        try:
            data = json.dumps(body).encode() if body is not None else b""
            c.request(method, "/__proxy" + path, body=data, headers={"Content-Type": "application/json"})
            r = c.getresponse()
            raw = r.read()
        finally:
            c.close()
        obj = json.loads(raw) if raw else None
        if expect is not None and r.status != expect:
            raise ControlError(f"{method} /__proxy{path} -> {r.status}: {obj}")
        return obj

    def reset(self, moto=True):
        """Clear faults, durations, the request log and emulated state; with moto=True also moto."""
        return self.control("POST", "/reset?moto=1" if (moto and not self.auth) else "/reset")

    def add_fault(self, **spec):
        """See README.md: service, region, operation, action, status, code, message, latency_ms, count, probability."""
        return self.control("POST", "/faults", spec)["id"]

    def faults(self):
        return self.control("GET", "/faults")

    def clear_faults(self, fault_id=None):
        return self.control("DELETE", "/faults" + (f"/{fault_id}" if fault_id else ""))

    def region_outage(self, region):
        """The whole region gone: every request signed for it gets a TCP reset, the global control planes signed
        there too (Route 53 and IAM in us-east-1); the emulated DNS answers and health checkers keep working.
        Returns the fault id (clear_faults(id) brings the region back)."""
        return self.add_fault(region=region, action="unreachable")

    def requests(self, **filters):
        """The request log since the last reset, optionally filtered by service/region/operation."""
        q = urllib.parse.urlencode(filters)
        return self.control("GET", "/requests" + (f"?{q}" if q else ""))

    def clear_requests(self):
        return self.control("DELETE", "/requests")

    def set_duration(self, operation, seconds):
        return self.control("POST", "/durations", {"operation": operation, "seconds": seconds})

    def state(self):
        return self.control("GET", "/state")

    # emulated state setters (README.md lists the shapes)
    def set_health(self, health_check_id, healthy, message=None, regions=None):
        spec = {"healthy": healthy}
        if message is not None:
            spec["message"] = message
        if regions is not None:
            spec["regions"] = regions
        return self.control("PUT", f"/route53/healthchecks/{health_check_id}/status", spec)

    def set_replica(self, table, region, status, **extra):
        return self.control("PUT", f"/dynamodb/replicas/{table}/{region}", dict(status=status, **extra))

    def remove_replica(self, table, region, keep_table=False):
        return self.control("DELETE", f"/dynamodb/replicas/{table}/{region}" + ("?keep_table=1" if keep_table else ""))

    def add_recovery_point(self, **spec):
        return self.control("POST", "/backup/recovery-points", spec)

    def add_backup_job(self, **spec):
        return self.control("POST", "/backup/jobs", spec)

    def pg_status(self):
        return self.control("GET", "/pg")

    # ---- estate and metrics ------------------------------------------------------------------
    def seed(self, stage="primary"):
        import seed_estate
        return seed_estate.build(stage, self.session(), self.proxy_url)

    def put_lag_metrics(self, **kw):
        """See seed_estate.put_lag_metrics: dynamodb_ms, aurora_ms, aurora_rpo_ms, s3_latency_s, ..."""
        import seed_estate
        return seed_estate.put_lag_metrics(self.session(), self.proxy_url, **kw)

    # ---- clients -----------------------------------------------------------------------------
    def session(self):
        import boto3
        return boto3.session.Session(aws_access_key_id=self.environ["AWS_ACCESS_KEY_ID"],
                                     aws_secret_access_key=self.environ["AWS_SECRET_ACCESS_KEY"])

    def client(self, service, region=PRIMARY, attempts=1, **config):
        """A boto3 client through the proxy; attempts=1 (the default) turns retries off."""
        from botocore.config import Config
        cfg = Config(retries={"mode": "standard", "total_max_attempts": attempts},
                     s3={"addressing_style": "path"}, **config)
        return self.session().client(service, region_name=region, endpoint_url=self.proxy_url, config=cfg)

    def moto_client(self, service, region=PRIMARY):
        """A boto3 client straight to moto: no faults, no emulation (to check what moto really holds)."""
        from botocore.config import Config
        return self.session().client(service, region_name=region, endpoint_url=self.moto_url,
                                     config=Config(s3={"addressing_style": "path"}))

    # ---- commands ----------------------------------------------------------------------------
    def run(self, cmd, timeout=300, env=None, input=None):
        """Run a command in this environment; returns a Result (rc, stdout, stderr, json, seconds)."""
        full = dict(self.environ)
        full.update(env or {})
        t0 = time.monotonic()
        p = subprocess.run(cmd, env=full, capture_output=True, text=True, timeout=timeout, input=input)
        return Result(p.returncode, p.stdout, p.stderr, time.monotonic() - t0)

    def aws(self, *args, region=PRIMARY, timeout=120, env=None):
        """Run the aws CLI with JSON output in this environment.

        --endpoint-url is explicit: CLI v1 ignores AWS_ENDPOINT_URL for `aws rds` commands."""
        return self.run(["aws", "--output", "json", "--region", region, "--endpoint-url", self.proxy_url]
                        + list(args), timeout=timeout, env=env)

    def psql(self, node, sql):
        """Run SQL as the `dr` user on node "primary" (a, us-east-1) or "standby" (b, us-west-2)."""
        dsn = self.environ[f"DR_TEST_PG_{node.upper()}_DSN"]
        psql = os.path.join(os.environ.get("DR_PG_BINDIR", "/usr/lib/postgresql/15/bin"), "psql")
        return self.run([psql, "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", dsn, "-c", sql], timeout=60)


def wait_for(predicate, timeout=30, interval=0.1, what="the condition"):
    """Poll until predicate() is true; returns the seconds it took (AssertionError after timeout)."""
    t0 = time.monotonic()
    while not predicate():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(interval)
    return time.monotonic() - t0


class RawLog:
    """Keeps the raw response bodies a boto3 client receives, to check them against the model."""

    def __init__(self, client):
        self.bodies = []
        client.meta.events.register("after-call", self._keep)

    def _keep(self, http_response, model, **kwargs):
        if model.has_streaming_output:  # reading it here would leave the caller an empty stream
            return
        self.bodies.append((model.name, http_response.status_code, http_response.content))

    def last(self, operation):
        for name, status, body in reversed(self.bodies):
            if name == operation:
                return body
        raise AssertionError(f"no {operation} response was received")


_started = None


def ensure_env(pg=False, auth=False):
    """The environment of this process: the one drenv exported, or a new one stopped at exit."""
    global _started
    if "DR_TEST_PROXY_URL" in os.environ:
        return Env()
    if _started is None:
        d = tempfile.mkdtemp(prefix="drtest-")
        env_file = os.path.join(d, "env")
        cmd = [sys.executable, os.path.join(HERE, "drenv"), "start", "--env-file", env_file]
        cmd += (["--pg"] if pg else []) + (["--auth"] if auth else [])
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        environ = dict(os.environ)
        with open(env_file) as f:  # `export K='v'` lines, as drenv writes them
            for line in f:
                if line.startswith("export "):
                    k, _, v = line[7:].strip().partition("=")
                    environ[k] = shlex.split(v)[0] if v else ""

        def stop():
            subprocess.run([sys.executable, os.path.join(HERE, "drenv"), "stop", "--env-file", env_file])
            os.rmdir(d)
        atexit.register(stop)
        _started = Env(environ)
    return _started


class EnvTestCase(unittest.TestCase):
    """A TestCase with self.env; each test starts from a reset proxy and (unless --auth) a reset moto."""

    needs_pg = False
    reset_moto = True

    @classmethod
    def setUpClass(cls):
        cls.env = ensure_env(pg=cls.needs_pg)
        if cls.needs_pg and not cls.env.has_pg:  # a failure, not a skip: skips would pass silently
            raise RuntimeError(f"{cls.__name__} needs the PostgreSQL pair: run it with `drenv run --pg`")

    def setUp(self):
        self.env.reset(moto=self.reset_moto)
