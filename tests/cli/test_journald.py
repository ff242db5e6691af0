#!/usr/bin/env python3
"""test_journald.py: under systemd, dr-agent's log lines reach a real systemd-journald with their priorities."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

AGENT = os.environ["DR_AGENT_BIN"]
FIXTURES = os.environ["DR_FIXTURE_DIR"]
JOURNALD = "/lib/systemd/systemd-journald"

# journald's priorities for dr-agent's levels (sd-daemon(3))
PRIORITY = {"error": "3", "warn": "4", "info": "6", "debug": "7"}

CONF = """objectives = { rto = "1h"; rpo = "15m"; };
regions = { primary = "us-east-1"; dr = "us-west-2"; };
agent = { state_dir = "%s"; plugin_dir = "%s"; };
resources = (
  { type = "fixture_dep"; name = "a"; change = "thing"; },
  { type = "fixture_dep"; name = "b"; fail = ["configure"]; }
);
"""


class Journald(unittest.TestCase):
    """A journald of its own namespace, so the machine's journal is neither needed nor touched."""

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise RuntimeError("test_journald.py runs systemd-journald and must run as root (as ./scripts/test does)")
        if not os.access(JOURNALD, os.X_OK):
            raise RuntimeError("%s is missing: install the systemd package (./scripts/setup does)" % JOURNALD)
        cls.ns = "dragent%d" % os.getpid()
        cls.run_dir = "/run/systemd/journal.%s" % cls.ns
        cls.journald = subprocess.Popen([JOURNALD, cls.ns], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while not os.path.exists(os.path.join(cls.run_dir, "stdout")):
            if cls.journald.poll() is not None or time.monotonic() > deadline:
                err = cls.journald.stderr.read().decode(errors="replace") if cls.journald.poll() is not None else ""
                cls.tearDownClass()
                raise RuntimeError("systemd-journald %s did not open its stdout socket: %s" % (cls.ns, err))
            time.sleep(0.05)

    @classmethod
    def tearDownClass(cls):
        cls.journald.terminate()
        try:
            cls.journald.wait(10)
        except subprocess.TimeoutExpired:
            cls.journald.kill()
            cls.journald.wait()
        shutil.rmtree(cls.run_dir, ignore_errors=True)
        for top in ("/var/log/journal", "/run/log/journal"):  # the files: <machine id>.<namespace>
            for d in (os.listdir(top) if os.path.isdir(top) else []):
                if d.endswith("." + cls.ns):
                    shutil.rmtree(os.path.join(top, d), ignore_errors=True)

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="drjournal.")
        self.conf = os.path.join(self.dir, "dr-agent.conf")
        with open(self.conf, "w") as f:
            f.write(CONF % (os.path.join(self.dir, "state"), FIXTURES))
        os.chmod(self.conf, 0o600)

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def stream(self, identifier):
        """A journal stream as systemd gives a service: the stdout socket and its header (journald-stream.c)."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(os.path.join(self.run_dir, "stdout"))
        # identifier, unit id, default priority (info), level prefix on, no syslog/kmsg/console forwarding
        s.sendall(("%s\n\n6\n1\n0\n0\n0\n" % identifier).encode())
        st = os.fstat(s.fileno())
        return s, "%d:%d" % (st.st_dev, st.st_ino)

    def agent(self, stderr, journal_stream, *args):
        env = dict(os.environ, JOURNAL_STREAM=journal_stream)
        env.pop("DR_AGENT_CONFIG", None)
        return subprocess.run([AGENT, "-c", self.conf, "configure", *args], stdout=subprocess.PIPE,
                              stderr=stderr, env=env, stdin=subprocess.DEVNULL, timeout=60)

    def entries(self, identifier, count):
        """The journal's entries of one identifier, once there are at least `count` of them."""
        deadline = time.monotonic() + 15
        while True:
            r = subprocess.run(["journalctl", "--namespace=" + self.ns, "-o", "json", "--no-pager",
                                "SYSLOG_IDENTIFIER=" + identifier], capture_output=True, text=True)
            got = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
            if len(got) >= count or time.monotonic() > deadline:
                return got
            time.sleep(0.1)

    def test_text_lines_get_their_priority(self):
        # the same run on a pipe, without the journal: timestamped lines "TIME LEVEL MESSAGE"
        plain = self.agent(subprocess.PIPE, "", "-vv")
        self.assertEqual(plain.returncode, 1)
        reference = []
        for line in plain.stderr.decode().splitlines():
            ts, level, message = line.split(None, 2)
            self.assertRegex(ts, r"^\d{4}-\d\d-\d\dT")
            reference.append((level, message))
        levels = {l for l, _ in reference}
        self.assertTrue({"error", "info", "debug"} <= levels, levels)

        ident = "dr-agent-text"
        s, js = self.stream(ident)
        r = self.agent(s.fileno(), js, "-vv")
        s.close()
        self.assertEqual(r.returncode, 1)
        got = self.entries(ident, len(reference))
        # run ids, times and the order of the two resources' lines differ between the runs; the levels do not
        self.assertEqual(sorted(e["PRIORITY"] for e in got), sorted(PRIORITY[l] for l, _ in reference))
        failed = [e for e in got if "configure failed as configured" in e["MESSAGE"]]
        self.assertEqual(len(failed), 1)
        self.assertEqual(failed[0]["PRIORITY"], "3")
        self.assertTrue(failed[0]["MESSAGE"].startswith("[fixture_dep.b] configure failed"), failed[0]["MESSAGE"])
        done = [e for e in got if e["MESSAGE"] == "[fixture_dep.a] done: thing a - made"]
        self.assertEqual(len(done), 1)
        self.assertEqual(done[0]["PRIORITY"], "6")
        for e in got:
            self.assertNotRegex(e["MESSAGE"], r"^(<\d>|\d{4}-\d\d-\d\dT)")  # the journal keeps its own time

    def test_json_lines_get_their_priority(self):
        ident = "dr-agent-json"
        s, js = self.stream(ident)
        r = self.agent(s.fileno(), js, "-vv", "--log-format", "json")
        s.close()
        self.assertEqual(r.returncode, 1)
        got = self.entries(ident, 8)
        self.assertGreaterEqual(len(got), 8)
        for e in got:
            doc = json.loads(e["MESSAGE"])
            self.assertEqual(e["PRIORITY"], PRIORITY[doc["level"]], doc)
        self.assertIn("3", {e["PRIORITY"] for e in got})

    def test_inherited_variable_does_not_count(self):
        # a JOURNAL_STREAM naming another stream (inherited, stderr redirected): plain lines, no "<N>"
        s, js = self.stream("dr-agent-unused")
        r = self.agent(subprocess.PIPE, js)
        s.close()
        lines = r.stderr.decode().splitlines()
        self.assertTrue(lines)
        for line in lines:
            self.assertRegex(line, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (error|warn |info |debug) ")
        r = self.agent(subprocess.PIPE, "not-a-stream")
        self.assertRegex(r.stderr.decode().splitlines()[0], r"^\d{4}-")


if __name__ == "__main__":
    unittest.main(verbosity=2)
