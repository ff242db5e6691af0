"""A PostgreSQL 15 primary/standby pair on loopback, the data plane behind the emulated Aurora clusters.

Node "a" stands for the us-east-1 side and node "b" for the us-west-2 side. At set-up, b is a
streaming standby of a. The proxy's RDS bridge calls promote() and make_standby() when the control
plane says a cluster was promoted or re-attached; drenv calls create() and stop_all().

Layout under ROOT (a directory the caller owns):
  state.json           ports and names (no secrets)
  password             the password of the login role `dr` (0600), exported as DR_TEST_PG_PASSWORD_FILE
  pgpass               a libpq password file for `dr` (0600), referenced by the exported DSNs
  bridge.log           one JSON line per bridge operation, with its duration
  a/, b/               owned by the server user: data/, sock/ (Unix socket), server.log, repl.pgpass

Servers run as the `postgres` user when we are root (initdb refuses root), else as ourselves.
The superuser path is the Unix socket in <node>/sock with `trust`: only the server user and root
can enter that directory. TCP on 127.0.0.1 needs a password (scram-sha-256).
"""
import json
import os
import pwd
import secrets
import signal
import socket
import subprocess
import threading
import time

NODES = ("a", "b")
REGION_OF = {"a": "us-east-1", "b": "us-west-2"}
NODE_OF = {r: n for n, r in REGION_OF.items()}
DB_NAME = "roadcall"
DB_USER = "dr"
REPL_USER = "replicator"
ADMIN_ROLE = "rds_superuser"  # what Aurora gives its master user instead of superuser

# Aurora's permission model: the agent's user is a member of rds_superuser (monitoring, ending other
# sessions, creating roles and databases), never a superuser, so ALTER SYSTEM, pg_reload_conf() and
# other superuser-only functions fail as they do on Aurora.
ROLES_SQL = (f"CREATE ROLE {ADMIN_ROLE} NOLOGIN CREATEDB CREATEROLE;\n"
             f"GRANT pg_monitor, pg_signal_backend TO {ADMIN_ROLE};\n")

# Aurora's global-database views, over this pair's streaming replication (created by the superuser,
# SECURITY DEFINER, in template1, postgres and the test database). The writer lists itself (lags -1, as
# Aurora's primary) and one row per standby in pg_stat_replication; a standby lists itself. LSNs are
# bigints as in Aurora; highest_lsn_written of a secondary is what it has flushed (durable there).
GLOBAL_DB_SQL = r"""
CREATE OR REPLACE FUNCTION public.aurora_global_db_status(
    OUT aws_region text, OUT highest_lsn_written bigint, OUT durability_lag_in_msec bigint,
    OUT rpo_lag_in_msec bigint, OUT last_lag_calculation_time timestamptz, OUT feedback_epoch integer,
    OUT feedback_xmin bigint)
RETURNS SETOF record LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $f$
    SELECT current_setting('drenv.aws_region'), (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint, -1::bigint,
           -1::bigint, '1970-01-01 00:00:00+00'::timestamptz, 0, 0::bigint
    WHERE NOT pg_is_in_recovery()
    UNION ALL
    SELECT CASE r.application_name WHEN 'a' THEN 'us-east-1' WHEN 'b' THEN 'us-west-2' ELSE r.application_name END,
           (coalesce(r.flush_lsn, '0/0') - '0/0'::pg_lsn)::bigint,
           CASE WHEN r.flush_lsn >= pg_current_wal_lsn() THEN 0
                ELSE (EXTRACT(EPOCH FROM coalesce(r.flush_lag, now() - r.reply_time)) * 1000)::bigint END,
           CASE WHEN r.replay_lsn >= pg_current_wal_lsn() THEN 0
                ELSE (EXTRACT(EPOCH FROM coalesce(r.replay_lag, now() - r.reply_time)) * 1000)::bigint END,
           coalesce(r.reply_time, now()), 0, coalesce(r.backend_xmin::text::bigint, 0)
    FROM pg_stat_replication r WHERE NOT pg_is_in_recovery()
    UNION ALL
    SELECT current_setting('drenv.aws_region'), (pg_last_wal_receive_lsn() - '0/0'::pg_lsn)::bigint,
           0::bigint,
           CASE WHEN pg_last_wal_replay_lsn() >= pg_last_wal_receive_lsn() THEN 0
                ELSE (EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) * 1000)::bigint END,
           now(), 0, 0::bigint
    WHERE pg_is_in_recovery()
$f$;
CREATE OR REPLACE FUNCTION public.aurora_global_db_instance_status(
    OUT server_id text, OUT session_id text, OUT aws_region text, OUT durable_lsn bigint,
    OUT highest_lsn_rcvd bigint, OUT feedback_epoch integer, OUT feedback_xmin integer,
    OUT oldest_read_view_lsn bigint, OUT visibility_lag_in_msec bigint)
RETURNS SETOF record LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $f$
    SELECT 'node-' || CASE current_setting('drenv.aws_region') WHEN 'us-east-1' THEN 'a' ELSE 'b' END,
           'MASTER_SESSION_ID', current_setting('drenv.aws_region'),
           (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint, NULL::bigint, 0, 0, NULL::bigint, -1::bigint
    WHERE NOT pg_is_in_recovery()
    UNION ALL
    SELECT 'node-' || r.application_name, r.pid::text,
           CASE r.application_name WHEN 'a' THEN 'us-east-1' WHEN 'b' THEN 'us-west-2' ELSE r.application_name END,
           (coalesce(r.flush_lsn, '0/0') - '0/0'::pg_lsn)::bigint,
           (coalesce(r.write_lsn, '0/0') - '0/0'::pg_lsn)::bigint, 0, coalesce(r.backend_xmin::text::int, 0),
           (coalesce(r.replay_lsn, '0/0') - '0/0'::pg_lsn)::bigint,
           CASE WHEN r.replay_lsn >= pg_current_wal_lsn() THEN 0
                ELSE (EXTRACT(EPOCH FROM coalesce(r.replay_lag, now() - r.reply_time)) * 1000)::bigint END
    FROM pg_stat_replication r WHERE NOT pg_is_in_recovery()
$f$;
"""
BINDIR_DEFAULT = "/usr/lib/postgresql/15/bin"
TOOLS = ("initdb", "pg_ctl", "pg_basebackup", "pg_rewind", "pg_dump", "psql", "postgres")


class PgError(Exception):
    """A PostgreSQL step failed; the message names the step and carries the tool's output."""


def bindir():
    return os.environ.get("DR_PG_BINDIR", BINDIR_DEFAULT)


def missing_tools():
    """Names of the PostgreSQL programs that are absent (empty when all are there)."""
    d = bindir()
    return [t for t in TOOLS if not os.access(os.path.join(d, t), os.X_OK)]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Pair:
    def __init__(self, root):
        self.root = os.path.abspath(root)
        self.lock = threading.RLock()  # the proxy serves requests on several threads
        self.state = {}
        path = os.path.join(self.root, "state.json")
        if os.path.exists(path):
            with open(path) as f:
                self.state = json.load(f)
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            self.uid, self.gid = pw.pw_uid, pw.pw_gid
            self.run_as = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
        else:
            self.uid, self.gid = os.getuid(), os.getgid()
            self.run_as = {}

    # ---- paths and small helpers -------------------------------------------------------------
    def port(self, node):
        return self.state["ports"][node]

    def ndir(self, node, *rest):
        return os.path.join(self.root, node, *rest)

    def dsn(self, node):
        """A libpq keyword DSN for the `dr` user over TCP; the password comes from the pgpass file."""
        return (f"host=127.0.0.1 port={self.port(node)} dbname={DB_NAME} user={DB_USER} "
                f"passfile={os.path.join(self.root, 'pgpass')} connect_timeout=5")

    def _run(self, node, args, stdin=None, check=True, timeout=60, env_extra=None):
        env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
        env.update(env_extra or {})
        cmd = [os.path.join(bindir(), args[0])] + list(args[1:])
        p = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout,
                           cwd=self.ndir(node) if node else self.root, env=env, **self.run_as)
        if check and p.returncode != 0:
            raise PgError(f"{args[0]} on node {node} failed ({p.returncode}): "
                          f"{(p.stderr or p.stdout).strip()[-2000:]}")
        return p

    def sql(self, node, query, db="postgres", check=True):
        """Run SQL as the superuser through the node's Unix socket; returns unaligned rows as text."""
        p = self._run(node, ["psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1",
                             "-h", self.ndir(node, "sock"), "-p", str(self.port(node)),
                             "-U", "postgres", "-d", db], stdin=query, check=check)
        return p.stdout.strip()

    def _log(self, op, node, started, result):
        ms = round((time.monotonic() - started) * 1000)
        entry = {"time": time.time(), "op": op, "node": node, "region": REGION_OF[node],
                 "result": result, "ms": ms}
        with open(os.path.join(self.root, "bridge.log"), "a") as f:
            f.write(json.dumps(entry) + "\n")
        return entry

    def clear_log(self):
        open(os.path.join(self.root, "bridge.log"), "w").close()

    def log_entries(self):
        try:
            with open(os.path.join(self.root, "bridge.log")) as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def _write_owned(self, path, text, mode=0o600):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chown(path, self.uid, self.gid)

    # ---- server control ----------------------------------------------------------------------
    def running(self, node):
        if not os.path.exists(self.ndir(node, "data", "PG_VERSION")):
            return False
        return self._run(node, ["pg_ctl", "status", "-D", self.ndir(node, "data")],
                         check=False).returncode == 0

    def start(self, node):
        # drenv.aws_region names the node's region for the global-database functions; on the command line,
        # because pg_rewind copies the configuration files from the other node.
        opts = (f"-p {self.port(node)} -k {self.ndir(node, 'sock')} "
                f"-c listen_addresses=127.0.0.1 -c drenv.aws_region={REGION_OF[node]}")
        self._run(node, ["pg_ctl", "start", "-w", "-t", "60", "-D", self.ndir(node, "data"),
                         "-l", self.ndir(node, "server.log"), "-o", opts], timeout=90)

    def stop(self, node, mode="fast"):
        if self.running(node):
            self._run(node, ["pg_ctl", "stop", "-w", "-t", "30", "-m", mode,
                             "-D", self.ndir(node, "data")], timeout=60)

    def in_recovery(self, node):
        return self.sql(node, "SELECT pg_is_in_recovery()") == "t"

    def wait_streaming(self, standby, upstream, timeout=30):
        """Wait until `upstream` streams WAL to `standby` (pg_stat_replication.state = streaming)."""
        deadline = time.monotonic() + timeout
        q = f"SELECT state FROM pg_stat_replication WHERE application_name = '{standby}'"
        while time.monotonic() < deadline:
            if self.sql(upstream, q, check=False) == "streaming":
                return
            time.sleep(0.05)
        raise PgError(f"node {standby} does not stream from node {upstream} after {timeout} s")

    def _set_standby_config(self, node, upstream):
        """standby.signal plus primary_conninfo towards `upstream` (password in a pgpass file)."""
        data = self.ndir(node, "data")
        auto = os.path.join(data, "postgresql.auto.conf")
        lines = []
        if os.path.exists(auto):
            with open(auto) as f:
                lines = [ln for ln in f if not ln.startswith(("primary_conninfo", "primary_slot_name"))]
        conninfo = (f"host=127.0.0.1 port={self.port(upstream)} user={REPL_USER} "
                    f"passfile={self.ndir(node, 'repl.pgpass')} application_name={node}")
        lines.append(f"primary_conninfo = '{conninfo}'\n")
        self._write_owned(auto, "".join(lines))
        self._write_owned(os.path.join(data, "standby.signal"), "")

    # ---- set-up ------------------------------------------------------------------------------
    def create(self):
        """initdb node a, start it, create the roles and database, base-backup node b, start it."""
        t0 = time.monotonic()
        os.makedirs(self.root, exist_ok=True)
        os.chmod(self.root, 0o711)
        for n in NODES:
            os.makedirs(self.ndir(n, "sock"), exist_ok=True)
            for d in (self.ndir(n), self.ndir(n, "sock")):
                os.chown(d, self.uid, self.gid)
                os.chmod(d, 0o700)
        dr_pw, repl_pw = secrets.token_urlsafe(18), secrets.token_urlsafe(18)
        private = {"opener": lambda path, flags: os.open(path, flags, 0o600)}
        with open(os.path.join(self.root, "password"), "w", **private) as f:
            f.write(dr_pw + "\n")
        with open(os.path.join(self.root, "pgpass"), "w", **private) as f:
            f.write(f"127.0.0.1:*:{DB_NAME}:{DB_USER}:{dr_pw}\n127.0.0.1:*:postgres:{DB_USER}:{dr_pw}\n")
        for n in NODES:
            self._write_owned(self.ndir(n, "repl.pgpass"), f"127.0.0.1:*:replication:{REPL_USER}:{repl_pw}\n")

        self._run("a", ["initdb", "-D", self.ndir("a", "data"), "-U", "postgres", "-E", "UTF8",
                        "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync"],
                  timeout=120)
        with open(self.ndir("a", "data", "postgresql.conf"), "a") as f:
            # fsync off: a throw-away test cluster; wal_log_hints: pg_rewind needs it.
            f.write("\n# drenv\nwal_level = replica\nmax_wal_senders = 10\nwal_keep_size = '256MB'\n"
                    "wal_log_hints = on\nhot_standby = on\nfsync = off\nshared_buffers = 32MB\n"
                    "max_connections = 40\nlog_line_prefix = '%m [%p] '\n"
                    # standbys report every second, so that the replay lag grows while apply is held up
                    "wal_receiver_status_interval = 1s\n")
        self._write_owned(self.ndir("a", "data", "pg_hba.conf"),
                          "local all postgres trust\n"
                          f"host {DB_NAME},postgres {DB_USER} 127.0.0.1/32 scram-sha-256\n"
                          f"host replication {REPL_USER} 127.0.0.1/32 scram-sha-256\n")
        self._start_fresh("a")
        # Passwords go through stdin, never argv (visible in ps) or a log.
        self.sql("a", f"CREATE ROLE {REPL_USER} REPLICATION LOGIN PASSWORD '{repl_pw}';\n" + ROLES_SQL +
                      f"CREATE ROLE {DB_USER} LOGIN NOSUPERUSER PASSWORD '{dr_pw}' IN ROLE {ADMIN_ROLE};\n")
        for db in ("template1", "postgres"):  # databases made later copy template1
            self.sql("a", GLOBAL_DB_SQL, db=db)
        self.sql("a", f"CREATE DATABASE {DB_NAME} OWNER {DB_USER};\n")
        self._run("b", ["pg_basebackup", "-D", self.ndir("b", "data"), "-X", "stream", "-c", "fast",
                        "-d", f"host=127.0.0.1 port={self.port('a')} user={REPL_USER} application_name=b"],
                  env_extra={"PGPASSFILE": self.ndir("b", "repl.pgpass")}, timeout=120)
        self._set_standby_config("b", "a")
        self._start_fresh("b")
        self.wait_streaming("b", "a")
        return round(time.monotonic() - t0, 2)

    def _start_fresh(self, node):
        """Start a node on a newly picked free port, retrying if another process took the port."""
        for attempt in range(5):
            self.state.setdefault("ports", {})[node] = free_port()
            self._save()
            try:
                self.start(node)
                return
            except PgError:
                if attempt == 4:
                    raise

    def _save(self):
        with open(os.path.join(self.root, "state.json"), "w") as f:
            json.dump(self.state, f)

    # ---- the bridge operations (idempotent) ---------------------------------------------------
    def promote(self, node):
        """Make `node` a writable primary (pg_promote). A primary already is: nothing to do."""
        with self.lock:
            t0 = time.monotonic()
            if not self.running(node):
                self.start(node)
            if not self.in_recovery(node):
                return self._log("promote", node, t0, "already primary")
            self.sql(node, "SELECT pg_promote(true, 60)")
            return self._log("promote", node, t0, "promoted")

    def keep_copy(self, node, path):
        """What a primary holds, kept before it is rebuilt: a pg_dump of the roadcall database into `path` (plain
        SQL, superuser over the node's socket). Returns the node's WAL position then (pg_current_wal_lsn)."""
        with self.lock:
            t0 = time.monotonic()
            if not self.running(node):
                self.start(node)
            lsn = self.sql(node, "SELECT pg_current_wal_lsn()")
            d = os.path.dirname(path)
            os.makedirs(d, exist_ok=True)
            os.chown(d, self.uid, self.gid)
            self._run(node, ["pg_dump", "-h", self.ndir(node, "sock"), "-p", str(self.port(node)),
                             "-U", "postgres", "-d", DB_NAME, "-f", path], timeout=120)
            self._log("keep_copy", node, t0, f"pg_dump at {lsn} into {os.path.basename(path)}")
            return lsn

    def make_standby(self, node, upstream):
        """Make `node` a streaming standby of `upstream`, rewinding it if it had diverged."""
        with self.lock:
            t0 = time.monotonic()
            if self.running(node) and self.in_recovery(node) and self.sql(
                    upstream, f"SELECT state FROM pg_stat_replication WHERE application_name = '{node}'",
                    check=False) == "streaming":
                return self._log("make_standby", node, t0, f"already standby of {upstream}")
            if not self.running(upstream):
                self.start(upstream)
            if self.in_recovery(upstream):
                raise PgError(f"cannot attach node {node} to node {upstream}: {upstream} is not a primary")
            # Without a checkpoint on the new primary, pg_rewind sees no divergence and the old
            # primary never streams again.
            self.sql(upstream, "CHECKPOINT")
            self.stop(node)
            self._run(node, ["pg_rewind", "-D", self.ndir(node, "data"), "--source-server",
                             f"host={self.ndir(upstream, 'sock')} port={self.port(upstream)} "
                             f"user=postgres dbname=postgres"], timeout=120)
            self._set_standby_config(node, upstream)
            self.start(node)
            self.wait_streaming(node, upstream)
            return self._log("make_standby", node, t0, f"rewound, streaming from {upstream}")

    def switchover(self, old, new, timeout=60):
        """A planned switch that loses nothing: `old` stops taking writes (its client sessions are ended),
        `new` replays all of old's WAL and is promoted, `old` becomes new's standby and is opened again."""
        with self.lock:
            t0 = time.monotonic()
            if not self.in_recovery(old):
                self.sql(old, "ALTER SYSTEM SET default_transaction_read_only = on; SELECT pg_reload_conf();")
                self.sql(old, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")
                target = self.sql(old, "SELECT pg_current_wal_lsn()")
                deadline = time.monotonic() + timeout
                while self.sql(new, f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn") != "t":
                    if time.monotonic() > deadline:
                        self.sql(old, "ALTER SYSTEM RESET default_transaction_read_only; SELECT pg_reload_conf();")
                        raise PgError(f"node {new} did not replay node {old}'s WAL up to {target} in {timeout} s")
                    time.sleep(0.05)
            self.promote(new)
            self.make_standby(old, new)
            self.sql(old, "ALTER SYSTEM RESET default_transaction_read_only; SELECT pg_reload_conf();")
            return self._log("switchover", new, t0, f"{old} drained into {new}; {old} now its standby")

    def restore(self, recreate_db=False):
        """Back to the start: a primary, b its streaming standby; optionally an empty database."""
        with self.lock:
            t0 = time.monotonic()
            self.promote("a")
            self.make_standby("b", "a")
            if recreate_db:
                self.sql("a", f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE);\n"
                              f"CREATE DATABASE {DB_NAME} OWNER {DB_USER};\n")
            return self._log("restore", "a", t0, "a primary, b standby" + (", empty database" if recreate_db else ""))

    def status(self):
        out = {}
        for n in NODES:
            running = self.running(n)
            out[n] = {"region": REGION_OF[n], "port": self.port(n), "running": running,
                      "role": (("standby" if self.in_recovery(n) else "primary") if running else None)}
        return out

    # ---- teardown ----------------------------------------------------------------------------
    def stop_all(self):
        """Stop both servers; kill what does not stop. Safe to call more than once."""
        for n in NODES:
            pidfile = self.ndir(n, "data", "postmaster.pid")
            if not os.path.exists(pidfile):
                continue
            try:
                self.stop(n, mode="fast")
            except (PgError, subprocess.TimeoutExpired, OSError):
                pass
            try:
                with open(pidfile) as f:
                    pid = int(f.readline())
                os.kill(pid, signal.SIGKILL)
            except (OSError, ValueError):
                pass


def reap(root):
    """Wait for SIGTERM (the launcher's parent-death signal), then stop the pair under root.

    drenv starts this before it creates the pair, so that the servers (which pg_ctl detaches
    into their own session) go down with the launcher even if it is killed mid-start.
    """
    signal.signal(signal.SIGTERM, lambda *_: (Pair(root).stop_all(), os._exit(0)))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # drenv decides when we go
    while True:
        signal.pause()


if __name__ == "__main__":
    import sys
    if sys.argv[1:2] != ["--reap"] or len(sys.argv) != 3:
        sys.exit("usage: pgpair.py --reap ROOT")
    reap(sys.argv[2])
