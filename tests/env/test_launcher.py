#!/usr/bin/env python3
"""drenv itself: nothing outlives it (failing command, SIGTERM, SIGINT, even SIGKILL), start/stop, clear errors.

Run directly (not under drenv): each test starts its own environments. Run with `--record FILE`,
this file is also the command those environments run: it writes down every process of the
environment (those naming its temporary directory, and their descendants) so the test can check
afterwards that each of them is gone.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
DRENV = os.path.join(HERE, "drenv")


def processes():
    """{pid: (ppid, start time, cmdline)} of every process we can see."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        out[int(name)] = (int(stat[1]), stat[19], cmd)
    return out


def environment_processes(tmpdir):
    """The processes that name tmpdir on their command line, and all their descendants."""
    procs = processes()
    found = {p for p, (_, _, cmd) in procs.items() if tmpdir in cmd}
    grew = True
    while grew:
        kids = {p for p, (pp, _, _) in procs.items() if pp in found} - found
        grew = bool(kids)
        found |= kids
    return {p: procs[p][1] for p in found}


def still_alive(recorded):
    procs = processes()
    return {int(p): procs[int(p)][2] for p, start in recorded.items()  # JSON made the pids strings
            if int(p) in procs and procs[int(p)][1] == start}


def record(path):
    env = os.environ
    ports = [int(env[k].rsplit(":", 1)[1]) for k in ("DR_TEST_MOTO_URL", "DR_TEST_PROXY_URL")]
    ports += [int(env[k]) for k in ("DR_TEST_PG_PRIMARY_PORT", "DR_TEST_PG_STANDBY_PORT") if k in env]
    with open(path, "w") as f:
        json.dump({"tmpdir": env["DR_TEST_TMPDIR"], "ports": ports,
                   "pids": environment_processes(env["DR_TEST_TMPDIR"])}, f)


def port_open(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class Launcher(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="drenv-test-")
        self.rec = os.path.join(self.dir, "record.json")

    def tearDown(self):
        subprocess.run(["rm", "-rf", self.dir])

    def wrapped(self, *then):
        """The command drenv runs: record the environment, then `then` (a shell command)."""
        return [sys.executable, __file__, "--record", self.rec, *then]

    def assert_nothing_left(self, timeout=15):
        with open(self.rec) as f:
            rec = json.load(f)
        self.assertGreaterEqual(len(rec["pids"]), 2)  # at least moto and the proxy were seen
        deadline = time.monotonic() + timeout
        while still_alive(rec["pids"]) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(still_alive(rec["pids"]), {})
        held = {p: subprocess.run(f"ss -ltnp | grep ':{p} '", shell=True, capture_output=True, text=True).stdout
                for p in rec["ports"] if port_open(p)}
        self.assertEqual(held, {})
        return rec

    def test_failing_command_with_pg(self):
        p = subprocess.run([sys.executable, DRENV, "run", "--pg", "--", *self.wrapped("exit 7")],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 7, p.stderr)
        rec = self.assert_nothing_left()
        self.assertGreaterEqual(len(rec["pids"]), 6)  # two postmasters and their helpers too
        self.assertEqual(len(rec["ports"]), 4)
        self.assertFalse(os.path.exists(rec["tmpdir"]))

    def signalled(self, sig, expect_rc, pg=True):
        proc = subprocess.Popen([sys.executable, DRENV, "run", *(["--pg"] if pg else []), "--",
                                 *self.wrapped("exec sleep 300")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while not os.path.exists(self.rec):
            self.assertLess(time.monotonic(), deadline, "the environment did not start")
            self.assertIsNone(proc.poll(), proc.stderr.read() if proc.poll() is not None else "")
            time.sleep(0.05)
        time.sleep(0.3)  # the recorder has moved on to `sleep`
        proc.send_signal(sig)
        rc = proc.wait(60)
        proc.stderr.close()
        self.assertEqual(rc, expect_rc)
        return self.assert_nothing_left()

    def test_sigterm(self):
        self.signalled(signal.SIGTERM, 128 + signal.SIGTERM)

    def test_sigint(self):
        self.signalled(signal.SIGINT, 128 + signal.SIGINT, pg=False)

    def test_sigkill_of_the_launcher(self):
        """Parent-death signals take moto, the proxy, the command and (through the proxy) PostgreSQL down."""
        rec = self.signalled(signal.SIGKILL, -signal.SIGKILL)
        subprocess.run(["rm", "-rf", rec["tmpdir"]])  # the one thing a killed launcher cannot clean

    def test_start_and_stop(self):
        env_file = os.path.join(self.dir, "env")
        p = subprocess.run([sys.executable, DRENV, "start", "--env-file", env_file],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        shell = f". {env_file} && {' '.join(self.wrapped())} && aws sts get-caller-identity --query Account --output text"
        q = subprocess.run(["sh", "-c", shell], capture_output=True, text=True, timeout=60)
        self.assertEqual((q.returncode, q.stdout.strip()), (0, "123456789012"), q.stderr)
        p = subprocess.run([sys.executable, DRENV, "start", "--env-file", env_file], capture_output=True, text=True)
        self.assertEqual(p.returncode, 1)  # refuses to overwrite a live environment's file
        p = subprocess.run([sys.executable, DRENV, "stop", "--env-file", env_file], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertFalse(os.path.exists(env_file))
        self.assert_nothing_left()

    def test_missing_moto(self):
        # -S: without site-packages, this Python has no moto (nor boto3)
        p = subprocess.run([sys.executable, "-S", DRENV, "run", "--", "true"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 2)
        self.assertIn("python module 'moto'", p.stderr)
        self.assertIn("scripts/setup", p.stderr)

    def test_missing_postgresql(self):
        env = dict(os.environ, DR_PG_BINDIR="/nonexistent/pg/bin")
        p = subprocess.run([sys.executable, DRENV, "run", "--pg", "--", "true"], capture_output=True, text=True,
                           env=env)
        self.assertEqual(p.returncode, 2)
        self.assertIn("PostgreSQL 15 programs missing in /nonexistent/pg/bin", p.stderr)
        p = subprocess.run([sys.executable, DRENV, "run", "--", "true"], capture_output=True, text=True, env=env)
        self.assertEqual(p.returncode, 0, p.stderr)  # not needed without --pg

    def test_host_aws_settings_do_not_leak_in(self):
        env = dict(os.environ, AWS_PROFILE="prod", AWS_SESSION_TOKEN="t", AWS_ENDPOINT_URL_DYNAMODB="http://x")
        p = subprocess.run([sys.executable, DRENV, "run", "--", "sh", "-c", "env | grep ^AWS_ | sort"],
                           capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        names = [line.split("=")[0] for line in p.stdout.splitlines()]
        self.assertEqual(names, ["AWS_ACCESS_KEY_ID", "AWS_CONFIG_FILE", "AWS_DEFAULT_REGION",
                                 "AWS_EC2_METADATA_DISABLED", "AWS_ENDPOINT_URL", "AWS_REGION",
                                 "AWS_SECRET_ACCESS_KEY", "AWS_SHARED_CREDENTIALS_FILE"])


if __name__ == "__main__":
    if sys.argv[1:2] == ["--record"]:
        record(sys.argv[2])
        if sys.argv[3:]:
            os.execvp("sh", ["sh", "-c", sys.argv[3]])
        sys.exit(0)
    unittest.main(verbosity=2)
