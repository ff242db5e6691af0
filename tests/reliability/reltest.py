"""reltest.py: shared set-up of the reliability suites: the reference estate's config, the agent, journals, AWS state."""
import json
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("DR_SOURCE_DIR", os.path.abspath(os.path.join(HERE, "..", "..")))
sys.path.insert(0, os.path.join(SOURCE, "tests", "env"))
import drtest  # noqa: E402
import pgpair  # noqa: E402

AGENT = os.environ.get("DR_AGENT_BIN", os.path.join(SOURCE, "build", "bin", "dr-agent"))
PLUGINS = os.environ.get("DR_AGENT_PLUGIN_DIR", os.path.join(SOURCE, "build", "lib", "dr-agent", "plugins"))
P, D = drtest.PRIMARY, drtest.DR
ACCOUNT = "123456789012"

# Exit codes of verify (Nagios) and of the other commands
OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3

# Keys added to the reference resources so that waits stay short in the test environment.
FAST = {
    "dynamodb": 'poll_interval = "200ms";',
    "aurora": 'poll_interval = "200ms"; lag_probe_time = "2s";',
    "route53": 'change_timeout = "30s";',
}

# The whole reference estate, Aurora and its PostgreSQL data plane included.
TYPES = ["dynamodb", "aurora", "s3", "backup", "route53"]


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


def pg_keys(env, **over):
    """The aurora data plane of the drenv environment: {host_primary, port_primary, host_dr, port_dr, db, user,
    password_file, timeout}; `over` replaces some (password_env=NAME instead of password_file, other ports)."""
    e = env.environ
    pg = dict(host_primary=e["DR_TEST_PG_PRIMARY_HOST"], port_primary=e["DR_TEST_PG_PRIMARY_PORT"],
              host_dr=e["DR_TEST_PG_STANDBY_HOST"], port_dr=e["DR_TEST_PG_STANDBY_PORT"],
              db=e["DR_TEST_PG_DBNAME"], user=e["DR_TEST_PG_USER"], password_file=e["DR_TEST_PG_PASSWORD_FILE"],
              timeout="5s")
    pg.update(over)
    if "password_env" in over:
        pg.pop("password_file")
    return pg


def estate_resources(pg=None, types=None, extra=None):
    """The reference resources as config text, with the FAST keys, the PostgreSQL data plane when pg is given
    (see pg_keys) and per-type extra keys."""
    out = []
    for ptype, blk in reference_blocks():
        if types is not None and ptype not in types:
            continue
        add = FAST.get(ptype, "") + " " + (extra or {}).get(ptype, "")
        if ptype == "aurora" and pg:
            add += (' pg_primary_host = "{host_primary}"; pg_primary_port = {port_primary};'
                    ' pg_dr_host = "{host_dr}"; pg_dr_port = {port_dr}; pg_database = "{db}"; pg_user = "{user}";'
                    ' pg_sslmode = "disable"; pg_timeout = "{timeout}";').format(**pg)
            if pg.get("password_env"):
                add += f' pg_password_env = "{pg["password_env"]}";'
            else:
                add += f' pg_password_file = "{pg["password_file"]}";'
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


def make_healthy(env):
    """What AWS would publish and AWS Backup would have made after configure: lag datapoints, recovery points, jobs."""
    env.put_lag_metrics(dynamodb_ms=850, s3_latency_s=60, s3_pending_ops=0, s3_pending_bytes=0, aurora_ms=900,
                        aurora_rpo_ms=900, points=3)
    env.add_recovery_point(vault=VAULT, resource_arn=CLUSTER_ARN, age_hours=5)
    env.add_recovery_point(vault=VAULT, region=D, resource_arn=CLUSTER_ARN, age_hours=20,
                           source_vault_arn=f"arn:aws:backup:{P}:{ACCOUNT}:backup-vault:{VAULT}")
    env.add_backup_job(vault=VAULT, resource_arn=CLUSTER_ARN, age_hours=5)


# ---- the PostgreSQL pair behind the Aurora clusters ---------------------------------------------


class Pair:
    """The drenv PostgreSQL pair (node a: us-east-1, node b: us-west-2) through its superuser path."""

    def __init__(self, env):
        self.env = env
        self.pair = pgpair.Pair(os.path.dirname(env.environ["DR_TEST_PG_PASSWORD_FILE"]))

    def sql(self, node, query, db="postgres"):
        return self.pair.sql(node, query, db=db)

    def open(self):
        """Lift what a run leaves on the nodes (a fence, an apply delay, paused replay): the proxy's reset recreates
        the database, which a read-only default refuses."""
        for n in ("a", "b"):
            self.sql(n, "ALTER SYSTEM RESET default_transaction_read_only; "
                        "ALTER SYSTEM RESET recovery_min_apply_delay; SELECT pg_reload_conf();")
            if self.pair.in_recovery(n):
                if self.sql(n, "SELECT pg_is_wal_replay_paused()") == "t":
                    self.sql(n, "SELECT pg_wal_replay_resume()")
            elif self.sql(n, "SELECT 1 FROM pg_database WHERE datname = 'roadcall'") == "1":
                self.sql(n, "ALTER DATABASE roadcall RESET default_transaction_read_only;")

    def grant(self):
        """Nothing to grant: the pair's `dr` is what Aurora's master user is, a member of rds_superuser. Check that it
        is no superuser, so that no test passes on rights Aurora does not give."""
        if self.sql("a", "SELECT rolsuper::text || pg_has_role('dr', 'rds_superuser', 'member')::text "
                         "FROM pg_roles WHERE rolname = 'dr'") != "falsetrue":
            raise AssertionError("the agent's database user must be a member of rds_superuser and no superuser")

    def fenced(self, node):
        """Is the node read-only for new transactions of the test database (the agent's fence)?"""
        return self.sql(node, "SHOW default_transaction_read_only", db="roadcall") == "on"

    def promotions(self):
        """{node: how many times the bridge promoted it} since the last reset."""
        out = {"a": 0, "b": 0}
        for e in self.pair.log_entries():
            if e["op"] == "promote" and e["result"] == "promoted":
                out[e["node"]] += 1
        return out


def reset(env, pair=None, moto=True):
    """A fresh environment: moto (unless under --auth) and the proxy reset, the PostgreSQL pair back to a primary
    and b standby with an empty database, the data-plane grants in place."""
    if pair:
        # The proxy's reset gives the nodes their roles under the bridge's lock, so it waits for a bridge operation
        # still running for a call the agent gave up on (or was killed in); only then are the nodes ours to open.
        env.reset(moto=False)
        pair.open()
    env.reset(moto=moto)
    if pair:
        pair.grant()


class Relay:
    """A TCP relay in front of one PostgreSQL node for the agent's connections only (replication between the nodes
    does not pass through it), so that a test can take that node's data plane away: `unreachable` resets every
    connection, `hang` accepts and never answers. `connections` counts the attempts since the last set()."""

    def __init__(self, target_port):
        self.target = int(target_port)
        self.mode = "pass"
        self.connections = 0
        self.held = []
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def set(self, mode):
        assert mode in ("pass", "unreachable", "hang"), mode
        with self.lock:
            self.mode, self.connections = mode, 0
            held, self.held = self.held, []
        for c in held:
            c.close()

    def close(self):
        self.set("pass")
        self.sock.close()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                mode = self.mode
                if mode == "hang":
                    self.held.append(c)
            if mode == "unreachable":
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                c.close()  # RST
            elif mode == "pass":
                threading.Thread(target=self._pipe, args=(c,), daemon=True).start()

    def _pipe(self, c):
        try:
            u = socket.create_connection(("127.0.0.1", self.target), timeout=10)
        except OSError:
            c.close()
            return
        u.settimeout(None)
        back = threading.Thread(target=self._copy, args=(u, c), daemon=True)
        back.start()
        self._copy(c, u)
        back.join()
        c.close()
        u.close()

    @staticmethod
    def _copy(src, dst):
        try:
            while True:
                b = src.recv(65536)
                if not b:
                    break
                dst.sendall(b)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
