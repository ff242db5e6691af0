"""reltest.py: shared set-up of the reliability suites: the reference estate's config, the agent, journals, AWS state."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("DR_SOURCE_DIR", os.path.abspath(os.path.join(HERE, "..", "..", "..")))
sys.path.insert(0, os.path.join(SOURCE, "tests", "env"))
import drtest  # noqa: E402

AGENT = os.environ.get("DR_AGENT_BIN", os.path.join(SOURCE, "build", "bin", "dr-agent"))
PLUGINS = os.environ.get("DR_AGENT_PLUGIN_DIR", os.path.join(SOURCE, "build", "lib", "dr-agent", "plugins"))
P, D = drtest.PRIMARY, drtest.DR
ACCOUNT = "123456789012"

# Exit codes of verify (Nagios) and of the other commands
OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3

# Keys added to the reference resources so that waits stay short in the test environment.
FAST = {
    "dynamodb": 'poll_interval = "200ms";',
    "aurora": 'poll_interval = "200ms";',
    "route53": 'change_timeout = "30s";',
}


def have_plugin(ptype):
    return os.path.exists(os.path.join(PLUGINS, ptype + ".so"))


def with_aurora():
    """Aurora joins the reliability suites' estate with DR_RELIABILITY_AURORA=1 (its expectations are not settled
    yet); without it each suite prints a visible line saying so."""
    return have_plugin("aurora") and os.environ.get("DR_RELIABILITY_AURORA") == "1"


AURORA_NOTE = ("NOTE: the estate of this suite runs without the aurora resource (set DR_RELIABILITY_AURORA=1 to "
               "include it); the PostgreSQL pair is then not part of the failover")


def reference_blocks():
    """[(type, text)] of every resource of conf/dr-agent.conf, as written there."""
    with open(os.path.join(SOURCE, "conf", "dr-agent.conf")) as f:
        text = f.read()
    body = text[text.index("resources = ("):]
    blocks, depth, start = [], 0, None
    for i, ch in enumerate(body):
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                blk = body[start:i + 1]
                # drop comment lines inside a block
                blk = "\n".join(l for l in blk.splitlines() if not l.strip().startswith("#"))
                blocks.append((re.search(r'type\s*=\s*"([a-z0-9_]+)"', blk).group(1), blk))
    return blocks


def estate_resources(pg=None, types=None, extra=None):
    """The reference resources as config text, with the FAST keys, the PostgreSQL data plane when pg is given
    ({host_primary, port_primary, host_dr, port_dr, db, user, password_file}) and per-type extra keys."""
    out = []
    for ptype, blk in reference_blocks():
        if types is not None and ptype not in types:
            continue
        add = FAST.get(ptype, "") + " " + (extra or {}).get(ptype, "")
        if ptype == "aurora" and pg:
            add += (' pg_primary_host = "{host_primary}"; pg_primary_port = {port_primary};'
                    ' pg_dr_host = "{host_dr}"; pg_dr_port = {port_dr}; pg_database = "{db}"; pg_user = "{user}";'
                    ' pg_password_file = "{password_file}";').format(**pg)
        out.append(blk[:-1].rstrip() + " " + add.strip() + " }")
    return ",\n".join(out)


AWS_DEFAULTS = {"max_attempts": "3", "connect_timeout": '"2s"', "attempt_timeout": '"5s"'}
AGENT_DEFAULTS = {"concurrency": "8", "hook_timeout": '"2m"'}


def _group(defaults, over):
    d = dict(defaults)
    d.update(over or {})
    return " ".join(f"{k} = {v};" for k, v in d.items() if v is not None)


def write_conf(path, state_dir, resources, agent=None, aws=None, rto="1h"):
    """A config of `resources`; agent/aws: {key: config text} over the defaults (None drops a key)."""
    with open(path, "w") as f:
        f.write(f"""# reliability test configuration: the reference estate
objectives = {{ rto = "{rto}"; rpo = "15m"; }};
regions = {{ primary = "{P}"; dr = "{D}"; }};
aws = {{ {_group(AWS_DEFAULTS, aws)} }};
agent = {{ state_dir = "{state_dir}"; {_group(AGENT_DEFAULTS, agent)} }};
resources = (
{resources}
);
""")
    os.chmod(path, 0o600)
    return path


def journal(state_dir, run_id):
    with open(os.path.join(state_dir, "runs", run_id + ".jsonl")) as f:
        return [json.loads(l) for l in f if l.endswith("\n")]


def run_ids(state_dir):
    d = os.path.join(state_dir, "runs")
    return sorted(f[:-6] for f in os.listdir(d) if f.endswith(".jsonl")) if os.path.isdir(d) else []


def statuses(report):
    """{(resource id, check name): status} of a verify JSON report."""
    return {(r["id"], c["name"]): c["status"] for r in report["resources"] for c in r["checks"]}


class Agent:
    """Runs dr-agent with one config in the drenv environment."""

    def __init__(self, env, conf, state_dir):
        self.env, self.conf, self.state_dir = env, conf, state_dir

    def environ(self, extra=None):
        e = dict(self.env.environ)
        e["DR_AGENT_PLUGIN_DIR"] = PLUGINS
        e.update(extra or {})
        return e

    def run(self, *args, timeout=300, env=None):
        return self.env.run([AGENT, "-c", self.conf, *args], timeout=timeout,
                            env={"DR_AGENT_PLUGIN_DIR": PLUGINS, **(env or {})})

    def start(self, *args, env=None):
        return subprocess.Popen([AGENT, "-c", self.conf, *args], env=self.environ(env), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)


def wait_for(pred, timeout=60, interval=0.02):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    return None


CLUSTER_ARN = f"arn:aws:rds:{P}:{ACCOUNT}:cluster:roadcall-aurora-prod"
VAULT = "roadcall-backup-vault-prod"


def make_healthy(env, aurora=False):
    """What AWS would publish and AWS Backup would have made after configure: lag datapoints, recovery points, jobs."""
    kw = dict(dynamodb_ms=850, s3_latency_s=60, s3_pending_ops=0, s3_pending_bytes=0, points=3)
    if aurora:
        kw.update(aurora_ms=900, aurora_rpo_ms=900)
    env.put_lag_metrics(**kw)
    env.add_recovery_point(vault=VAULT, resource_arn=CLUSTER_ARN, age_hours=5)
    env.add_recovery_point(vault=VAULT, region=D, resource_arn=CLUSTER_ARN, age_hours=20,
                           source_vault_arn=f"arn:aws:backup:{P}:{ACCOUNT}:backup-vault:{VAULT}")
    env.add_backup_job(vault=VAULT, resource_arn=CLUSTER_ARN, age_hours=5)
