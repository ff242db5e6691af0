"""Shared helpers of the benchmarks: the local AWS, measured child processes, medians, the reference estate."""
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

BENCH = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(BENCH)
sys.path.insert(0, os.path.join(SOURCE, "tests", "env"))
import drtest  # noqa: E402
import seed_estate  # noqa: E402

PRIMARY, DR = drtest.PRIMARY, drtest.DR
REFERENCE_CONF = os.path.join(SOURCE, "conf", "dr-agent.conf")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def say(msg):
    print(msg, file=sys.stderr, flush=True)


# ---- the build ---------------------------------------------------------------------------------
class Build:
    """dr-agent and its plugins in a build directory (the layout CMake gives: bin/, lib/dr-agent/plugins/)."""

    def __init__(self, build_dir):
        self.dir = os.path.abspath(build_dir)
        self.agent = os.path.join(self.dir, "bin", "dr-agent")
        self.plugin_dir = os.path.join(self.dir, "lib", "dr-agent", "plugins")
        self.measure = os.path.join(self.dir, "bin", "bench_measure")
        for f in (self.agent, self.measure):
            if not os.access(f, os.X_OK):
                raise SystemExit(f"{f} not found: build first (bench/run-all does)")

    def plugins(self):
        return sorted(f[:-3] for f in os.listdir(self.plugin_dir) if f.endswith(".so"))

    def cache(self):
        """The CMake cache's build type and compiler, for the report."""
        out = {}
        try:
            with open(os.path.join(self.dir, "CMakeCache.txt")) as f:
                for line in f:
                    m = re.match(r"(CMAKE_BUILD_TYPE|CMAKE_C_COMPILER|DR_SANITIZE):\w+=(.*)", line)
                    if m:
                        out[m.group(1)] = m.group(2).strip()
        except OSError:
            pass
        return out


# ---- measured runs -----------------------------------------------------------------------------
class Run:
    """One finished child: exit code, wall seconds, CPU seconds (user + system, the child and what it waited for),
    peak RSS in KiB (the largest single process of the tree, as getrusage and /usr/bin/time -v report it)."""

    def __init__(self, rc, wall, user, sys_, maxrss_kb, stdout, stderr):
        self.rc, self.wall, self.user, self.sys, self.maxrss_kb = rc, wall, user, sys_, maxrss_kb
        self.cpu = user + sys_
        self.stdout, self.stderr = stdout, stderr

    def json(self):
        return json.loads(self.stdout)


def run_measured(build, cmd, env=None, timeout=None):
    """Run cmd under bench_measure (stdout and stderr to temporary files) and return its Run.

    The figures come from bench_measure's own wait4: a child started by this (large) Python process would report
    the interpreter's resident size as its peak."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile(prefix="bench-measure-", suffix=".json") as fig:
        p = subprocess.Popen([build.measure, fig.name] + list(cmd), env=env, stdin=subprocess.DEVNULL, stdout=out,
                             stderr=err)
        try:
            code = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            raise
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
        if code != 0:
            raise RuntimeError(f"bench_measure {cmd[0]}: exit {code}: {stderr[-1000:]}")
        with open(fig.name) as f:
            m = json.load(f)
    return Run(m["rc"], m["wall"], m["user"], m["sys"], m["maxrss_kb"], stdout, stderr)


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def proc_cpu(pid):
    """CPU seconds (user + system) a process has used so far, from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return float("nan")


def machine():
    """Cores, CPU model, memory, kernel, load: what the figures were measured on."""
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    try:
        with open("/etc/debian_version") as f:
            debian = f.read().strip()
    except OSError:
        debian = "?"
    return {"cores": os.cpu_count(), "cpu": model, "memory_gib": round(mem_kb / 1048576, 1),
            "kernel": os.uname().release, "debian": debian, "load_average": os.getloadavg()}


def versions(build):
    def first_line(cmd):
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
            return (p.stdout or p.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"
    import boto3
    import botocore
    import moto
    cache = build.cache()
    return {"dr-agent": first_line([build.agent, "--version"]),
            "compiler": first_line([cache.get("CMAKE_C_COMPILER", "cc"), "--version"]),
            "build_type": cache.get("CMAKE_BUILD_TYPE", "?"),
            "libcurl": first_line(["curl", "--version"]).split(" (")[0],
            "openssl": first_line(["openssl", "version"]),
            "python": sys.version.split()[0], "moto": moto.__version__, "boto3": boto3.__version__,
            "botocore": botocore.__version__, "aws-cli": first_line(["aws", "--version"]).split()[0]}


# ---- the local AWS -----------------------------------------------------------------------------
class LocalAWS:
    """A drenv environment of this process (started on first use, stopped at exit) plus what the benchmarks need."""

    def __init__(self, build, pg=False):
        self.build = build
        self.env = drtest.ensure_env(pg=pg)
        self.environ = self.env.environ
        self.servers = self._server_pids()

    def _server_pids(self):
        """moto's and the proxy's pids (found by their command line naming this environment's directory)."""
        found = {}
        tmp = self.env.tmpdir
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            line = b" ".join(argv).decode(errors="replace")
            if tmp not in line:
                continue
            if "motoserve.py" in line:
                found["moto"] = int(pid)
            elif "proxy.py" in line:
                found["proxy"] = int(pid)
        return found

    def server_cpu(self):
        return sum(proc_cpu(p) for p in self.servers.values())

    def reset(self):
        self.env.reset(moto=True)

    def requests(self):
        return self.env.requests()

    def clear_requests(self):
        self.env.clear_requests()

    def measured(self, cmd, env=None, timeout=600):
        """Run cmd in this environment with a clean request log: (Run, request log, server CPU seconds)."""
        full = dict(self.environ)
        full.update(env or {})
        self.clear_requests()
        c0 = self.server_cpu()
        r = run_measured(self.build, cmd, env=full, timeout=timeout)
        c1 = self.server_cpu()
        return r, self.requests(), c1 - c0


def call_summary(log):
    """Calls, and the median and total of their latencies at the proxy (ms), from a request log."""
    ms = [e["ms"] for e in log if e.get("ms") is not None]
    return {"calls": len(log), "median_ms": median(ms), "total_ms": sum(ms),
            "errors": sum(1 for e in log if (e.get("status") or 0) >= 400 or e.get("status") is None)}


def critical_chain(log):
    """The calls on the critical path: the longest chain of calls in the request log each of which started after the
    one before had been answered (so could have waited on it), oldest first. Each entry spans [time - ms, time] at the
    proxy. Calls that overlapped in time cannot have waited on each other, so they never share a chain."""
    import bisect
    spans = sorted(((e["time"] - (e.get("ms") or 0) / 1000.0, e["time"], e) for e in log if e.get("time") is not None),
                   key=lambda x: x[1])
    ends, best = [], []  # ends sorted; best[k]: (length, index) of the longest chain ending at or before ends[k]
    length, prev = [], []
    for i, (start, end, _) in enumerate(spans):
        k = bisect.bisect_right(ends, start)
        before = best[k - 1] if k else (0, -1)
        length.append(before[0] + 1)
        prev.append(before[1])
        ends.append(end)
        best.append(max((length[i], i), best[-1]) if best else (length[i], i))
    if not spans:
        return []
    i, chain = best[-1][1], []
    while i >= 0:
        chain.append(spans[i][2])
        i = prev[i]
    return chain[::-1]


def round_trips(log):
    """How many calls are on the critical path (critical_chain)."""
    return len(critical_chain(log))


def chain_text(log):
    """The critical chain as "service Operation region -> ...", for the reports."""
    return " -> ".join(f"{e.get('service')} {e.get('operation')}" for e in critical_chain(log))


class latency:
    """`with latency(aws, ms):` every call through the proxy waits ms before its answer (the proxy's latency
    fault), as a call to a real AWS endpoint costs a round trip; 0 adds nothing."""

    def __init__(self, aws, ms):
        self.aws, self.ms, self.id = aws, ms, None

    def __enter__(self):
        if self.ms > 0:
            self.id = self.aws.env.add_fault(action="latency", latency_ms=self.ms)
        return self

    def __exit__(self, *exc):
        if self.id:
            self.aws.env.clear_faults(self.id)
        return False


def parse_latencies(text):
    """"0,40" -> [0, 40] (milliseconds per call)."""
    try:
        out = [int(x) for x in text.split(",") if x.strip() != ""]
    except ValueError:
        raise SystemExit(f"--latency: a comma-separated list of milliseconds, not '{text}'")
    if not out or any(x < 0 for x in out):
        raise SystemExit(f"--latency: a comma-separated list of milliseconds, not '{text}'")
    return out


# ---- the reference estate ----------------------------------------------------------------------
def _demo_config():
    """scripts/demo-config.py as a module: it knows where each resource of the reference config ends."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("demo_config", os.path.join(SOURCE, "scripts", "demo-config.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def reference_conf(build, state_dir, path, extra=None):
    """conf/dr-agent.conf as the operator has it, with only the state directory moved into the run's temporary
    directory, and `extra` ({type: 'key = value; ...'}) added to each resource of a type. A type whose plugin is
    not built is left out, and said so."""
    with open(REFERENCE_CONF) as f:
        text = f.read()
    if extra:
        out, last = [], 0
        for start, end, typ in _demo_config().resource_groups(text):
            seg = text[last:end]
            if typ in extra:
                # a key the extra sets replaces the resource's own (libconfig refuses a setting twice)
                for key in re.findall(r'(\w+)\s*=', extra[typ]):
                    head, group = seg[:start - last], seg[start - last:]
                    seg = head + re.sub(r'(?m)^[ \t]*%s\s*=[^;]*;[^\n]*\n?' % key, "", group)
            out.append(seg)
            if typ in extra:
                out.append(" " + extra[typ] + " ")
            last = end
        out.append(text[last:])
        text = "".join(out)
    text = re.sub(r'state_dir = "[^"]*";', f'state_dir = "{state_dir}";', text, count=1)
    missing = []
    have = set(build.plugins())
    for t in sorted(set(re.findall(r'type = "(\w+)"', text)) - have):
        missing.append(t)
        # one-line resources and multi-line blocks of that type
        text = re.sub(r'^  \{ type = "%s";.*\},?\n' % t, "", text, flags=re.M)
        text = re.sub(r'^  \{\n    type = "%s";.*?^  \},?\n' % t, "", text, flags=re.M | re.S)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)
    return missing


def agent_env(build):
    return {"DR_AGENT_PLUGIN_DIR": build.plugin_dir}


def statuses(report):
    """{(resource id, check): status} of a JSON report."""
    return {(r["id"], c["name"]): c["status"] for r in report["resources"] for c in r.get("checks", [])}


class Reference:
    """The reference estate in a LocalAWS, set up as after `dr-agent configure` with healthy metrics and backups."""

    VAULT = "roadcall-backup-vault-prod"
    CLUSTER_ARN = "arn:aws:rds:us-east-1:123456789012:cluster:roadcall-aurora-prod"

    def __init__(self, aws, build, workdir, extra=None):
        self.aws, self.build = aws, build
        self.dir = workdir
        self.conf = os.path.join(workdir, "dr-agent.conf")
        self.state = os.path.join(workdir, "state")
        self.missing = reference_conf(build, self.state, self.conf, extra)
        self.types = [t for t in ("dynamodb", "aurora", "s3", "backup", "route53") if t not in self.missing]

    def agent(self, *args, timeout=600, measured=False, env=None):
        cmd = [self.build.agent, "-c", self.conf, *args]
        full = agent_env(self.build)
        full.update(env or {})
        if measured:
            return self.aws.measured(cmd, env=full, timeout=timeout)
        return self.aws.env.run(cmd, env=full, timeout=timeout)

    def setup(self, reset=True):
        """Primary estate, configure, lag datapoints and backups: every check of verify is OK afterwards."""
        env = self.aws.env
        if reset:
            self.aws.reset()
        shutil.rmtree(self.state, ignore_errors=True)
        env.seed("primary")
        res = self.agent("configure", "--format", "json")
        if res.rc != 0:
            raise SystemExit(f"configure of the reference estate failed: {res}")
        self.healthy_metrics()
        acct = env.account_id
        for region, hours in ((PRIMARY, 29), (PRIMARY, 5), (DR, 240)):
            extra = {"source_vault_arn": f"arn:aws:backup:{PRIMARY}:{acct}:backup-vault:{self.VAULT}"} \
                if region == DR else {}
            env.add_recovery_point(vault=self.VAULT, region=region, resource_arn=self.CLUSTER_ARN, age_hours=hours,
                                   **extra)
        env.add_backup_job(vault=self.VAULT, resource_arn=self.CLUSTER_ARN, age_hours=5)
        rep = self.verify_report()
        bad = {k: v for k, v in statuses(rep).items() if v != "OK"}
        # a Route 53 resource that fails over by its records or by inverting its health check (failover.py) calls
        # Route 53's control plane in the primary region: verify warns about that by design
        bad = {k: v for k, v in bad.items() if not (k[1] == "failover_control_planes" and v == "WARNING")}
        if bad:
            raise SystemExit(f"the reference estate does not verify OK: {bad}")
        return rep

    def healthy_metrics(self):
        self.aws.env.put_lag_metrics(dynamodb_ms=850, aurora_ms=400, aurora_rpo_ms=400, s3_latency_s=40,
                                     s3_pending_ops=0, s3_pending_bytes=0, points=5)

    def reverse_metrics(self):
        """The lag datapoints of the other direction, which a failback reads (changes made in the DR region)."""
        cw = self.aws.env.client("cloudwatch", DR, attempts=3)
        for t in seed_estate.TABLES:
            cw.put_metric_data(Namespace="AWS/DynamoDB", MetricData=[
                dict(d, MetricName="ReplicationLatency")
                for d in seed_estate._datapoints(900, "Milliseconds", [("TableName", t), ("ReceivingRegion", PRIMARY)],
                                                 5, 0)])

    def verify_report(self):
        res = self.agent("verify", "--format", "json")
        if res.json is None:
            raise SystemExit(f"verify gave no JSON report: {res}")
        return res.json

    def health_check_id(self):
        """The primary endpoint's health check, which the checklist's last step names (the operator knows it)."""
        r53 = self.aws.env.client("route53", PRIMARY, attempts=3)
        for hc in r53.list_health_checks()["HealthChecks"]:
            if hc["HealthCheckConfig"].get("FullyQualifiedDomainName", "").startswith("api-us-east-1."):
                return hc["Id"]
        raise SystemExit("no health check for api-us-east-1: configure did not make it")


def count_checks(report):
    return sum(len(r.get("checks", [])) for r in report["resources"])


def write_json(path, obj):
    if path:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as f:
            json.dump(obj, f, indent=1, default=str)
            f.write("\n")


def fmt_s(s):
    """Seconds for a table: ms below 10 s."""
    if s != s:
        return "-"
    return f"{s * 1000:.0f} ms" if s < 10 else f"{s:.1f} s"


def fmt_mib(kb):
    return f"{kb / 1024:.1f} MiB"
