#!/usr/bin/env python3
"""test_isolation.py: plugins that crash, abort, exit(0), hang or write invalid UTF-8 in init, validate or a hook
cost only their own resource: the exit code is never 0, the JSON report is valid and holds every other resource's
result, and the message names what happened. Also: one plugin per type, and the run path checks of the loader."""
import glob
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import jsonschema

AGENT = os.environ["DR_AGENT_BIN"]
FIXTURES = os.environ["DR_FIXTURE_DIR"]
CRASHY = os.environ["DR_CRASHY_DIR"]
SHIPPED = os.environ["DR_PLUGIN_OUTPUT_DIR"]
SOURCE = os.environ["DR_SOURCE_DIR"]
SCHEMA = json.load(open(os.path.join(SOURCE, "docs", "report-schema.json")))

HEAD = """objectives = { rto = "1h"; rpo = "15m"; };
regions = { primary = "us-east-1"; dr = "us-west-2"; };
"""

MESSAGES = {
    "segv": "crashed: the plugin process was killed by signal 11",
    "abort": "crashed: the plugin process was killed by signal 6",
    "exit0": "ended the plugin process with exit status 0 before returning",
    "hang": "did not return before its deadline; its plugin process was killed",
}


class Isolation(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="driso.")
        os.chmod(self.dir, 0o755)
        self.state = os.path.join(self.dir, "state")
        self.plugins = os.path.join(self.dir, "plugins")
        os.mkdir(self.plugins, 0o755)
        for so in ("fixture.so", "fixture_dep.so"):
            shutil.copy(os.path.join(FIXTURES, so), self.plugins)
        shutil.copy(os.path.join(CRASHY, "crashy.so"), self.plugins)

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def conf(self, resources, agent_extra=""):
        path = os.path.join(self.dir, "dr-agent.conf")
        with open(path, "w") as f:
            f.write(HEAD + 'agent = { state_dir = "%s"; plugin_dir = "%s"; hook_timeout = "2s"; %s };\n'
                    % (self.state, self.plugins, agent_extra))
            f.write("resources = (\n%s\n);\n" % resources)
        os.chmod(path, 0o600)
        return path

    def run_agent(self, *args, env=None, timeout=60):
        e = dict(os.environ)
        e.pop("DR_AGENT_CONFIG", None)
        e.pop("DR_AGENT_PLUGIN_DIR", None)
        e.pop("CRASHY_INIT", None)
        if env:
            e.update(env)
        return subprocess.run([AGENT, *args], capture_output=True, env=e, timeout=timeout)

    def report(self, r):
        out = r.stdout.decode("utf-8")  # strict: the report is valid UTF-8
        doc = json.loads(out)
        jsonschema.validate(doc, SCHEMA)
        return doc, {x["id"]: x for x in doc["resources"]}

    RESOURCES = ('{ type = "fixture_dep"; name = "before"; change = "promote"; },\n'
                 '{ type = "crashy"; name = "bad"; fail_in = "%s"; how = "%s"; depends_on = []; },\n'
                 '{ type = "fixture"; name = "other"; change = "switch"; depends_on = []; }')

    def test_hook_misbehaviour_in_verify(self):
        for how, msg in MESSAGES.items():
            with self.subTest(how=how):
                c = self.conf(self.RESOURCES % ("verify", how))
                t0 = time.monotonic()
                r = self.run_agent("-c", c, "verify", "--format", "json")
                self.assertLess(time.monotonic() - t0, 20)
                self.assertEqual(r.returncode, 3, r.stderr)  # UNKNOWN, never 0
                doc, res = self.report(r)
                self.assertEqual(doc["status"], "UNKNOWN")
                self.assertEqual(res["crashy.bad"]["status"], "UNKNOWN")
                self.assertIn(msg, res["crashy.bad"]["error"])
                self.assertIn("verify", res["crashy.bad"]["error"])
                self.assertEqual(res["fixture_dep.before"]["status"], "OK")
                self.assertEqual(res["fixture.other"]["status"], "OK")
                self.assertEqual(len(res["fixture.other"]["checks"]), 1)

    def test_hook_misbehaviour_in_actions(self):
        for hook, cmd in (("configure", ["configure"]), ("failover", ["failover", "--yes"])):
            for how, msg in MESSAGES.items():
                with self.subTest(hook=hook, how=how):
                    shutil.rmtree(self.state, ignore_errors=True)
                    c = self.conf(self.RESOURCES % (hook, how))
                    r = self.run_agent("-c", c, *cmd, "--format", "json")
                    self.assertEqual(r.returncode, 1, r.stderr)
                    doc, res = self.report(r)
                    self.assertEqual(res["crashy.bad"]["status"], "failed")
                    self.assertIn(msg, res["crashy.bad"]["error"])
                    self.assertEqual(res["fixture_dep.before"]["status"], "done")
                    self.assertEqual(res["fixture.other"]["status"], "done")
                    if hook == "failover":
                        journal = "".join(open(p, errors="replace").read()
                                          for p in glob.glob(os.path.join(self.state, "runs", "*.jsonl")))
                        self.assertIn("crashy.bad", journal)
                        self.assertIn("fixture.other", journal)

    def test_hook_misbehaviour_in_failback(self):
        for how, msg in MESSAGES.items():
            with self.subTest(how=how):
                shutil.rmtree(self.state, ignore_errors=True)
                c = self.conf(self.RESOURCES % ("failback", how))
                self.assertEqual(self.run_agent("-c", c, "failover", "--yes").returncode, 0)
                r = self.run_agent("-c", c, "failback", "--yes", "--format", "json")
                self.assertEqual(r.returncode, 1)
                doc, res = self.report(r)
                self.assertEqual(res["crashy.bad"]["status"], "failed")
                self.assertIn("failback " + msg, res["crashy.bad"]["error"])
                self.assertEqual(res["fixture.other"]["status"], "done")

    def test_validate_misbehaviour(self):
        for how, msg in MESSAGES.items():
            with self.subTest(how=how):
                c = self.conf(self.RESOURCES % ("validate", how))
                t0 = time.monotonic()
                r = self.run_agent("-c", c, "verify", "--format", "json")
                self.assertLess(time.monotonic() - t0, 20)
                self.assertEqual(r.returncode, 3, r.stderr)
                doc, res = self.report(r)
                self.assertEqual(res["crashy.bad"]["status"], "UNKNOWN")
                self.assertIn("validate " + msg.split(" ", 1)[0], "validate " + res["crashy.bad"]["error"])
                self.assertIn(msg, res["crashy.bad"]["error"])
                self.assertEqual(res["fixture.other"]["status"], "OK")

    def test_init_misbehaviour(self):
        for how, msg in MESSAGES.items():
            with self.subTest(how=how):
                c = self.conf(self.RESOURCES % ("none", "segv"))
                t0 = time.monotonic()
                r = self.run_agent("-c", c, "verify", "--format", "json", env={"CRASHY_INIT": how})
                self.assertLess(time.monotonic() - t0, 20)
                self.assertNotEqual(r.returncode, 0)
                self.assertEqual(r.returncode, 3, r.stderr)
                doc, res = self.report(r)
                self.assertIn("init " + msg, res["crashy.bad"]["error"])
                self.assertIn("init " + msg, r.stderr.decode())
                self.assertEqual(res["fixture.other"]["status"], "OK")
                self.assertEqual(res["fixture_dep.before"]["status"], "OK")

    def test_sigterm_during_hanging_init(self):
        c = self.conf(self.RESOURCES % ("none", "segv"))
        e = dict(os.environ, CRASHY_INIT="hang")
        e.pop("DR_AGENT_CONFIG", None)
        p = subprocess.Popen([AGENT, "-c", c, "verify", "--format", "json"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=e)
        time.sleep(0.7)
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=20)
        self.assertLess(time.monotonic() - t0, 5)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b"init did not stop after the cancel request", err)

    def test_invalid_utf8(self):
        c = self.conf(self.RESOURCES % ("verify", "bad_utf8"))
        r = self.run_agent("-c", c, "verify", "--format", "json")
        self.assertEqual(r.returncode, 3, r.stderr)  # UNKNOWN: a check that is not UTF-8 is never OK
        doc, res = self.report(r)
        checks = {k["name"]: k for k in res["crashy.bad"]["checks"]}
        self.assertEqual(checks["reachable"]["status"], "OK")
        self.assertEqual(checks["encoding"]["status"], "UNKNOWN")
        self.assertIn("the plugin's text was not valid UTF-8", checks["encoding"]["detail"])
        self.assertEqual(res["fixture.other"]["status"], "OK")
        # a change's invalid text is replaced; the log line and the progress line reached stderr unharmed
        c = self.conf(self.RESOURCES % ("configure", "bad_utf8"))
        r = self.run_agent("-c", c, "configure", "--format", "json")
        doc, res = self.report(r)
        self.assertEqual(res["crashy.bad"]["changes"][0]["action"], "act?")
        self.assertEqual(res["fixture.other"]["status"], "done")

    def test_builtin_type_and_duplicates(self):
        shutil.copy(os.path.join(CRASHY, "fake_dynamodb.so"), self.plugins)
        shutil.copy(os.path.join(SHIPPED, "dynamodb.so"), self.plugins)
        c = self.conf('{ type = "fixture"; name = "other"; }')
        r = self.run_agent("-c", c, "verify", "--format", "json")
        self.assertEqual(r.returncode, 1, r.stderr)  # WARNING: plugin files were refused
        doc, res = self.report(r)
        self.assertEqual(res["fixture.other"]["status"], "OK")
        err = r.stderr.decode()
        fake = os.path.join(self.plugins, "fake_dynamodb.so")
        real = os.path.join(self.plugins, "dynamodb.so")
        self.assertIn("%s: refused: a second plugin for resource type 'dynamodb' (also in %s)" % (fake, real), err)
        self.assertIn("%s: refused: a second plugin for resource type 'dynamodb' (also in %s)" % (real, fake), err)
        # an explicit choice settles it
        c = self.conf('{ type = "fixture"; name = "other"; }', 'plugin_paths = { dynamodb = "%s"; };' % real)
        r = self.run_agent("-c", c, "plugins", "--format", "json")
        d = json.loads(r.stdout)
        types = {p["type"]: p for p in d["plugins"]}
        self.assertIn("dynamodb", types)
        self.assertEqual(len(d["refused"]), 1, d["refused"])
        self.assertIn("agent.plugin_paths.dynamodb chooses %s" % real, d["refused"][0])

    def test_host_only_sdk_symbols_unreachable(self):
        # at run time, from a plugin (isolated and not): no host-only symbol resolves, the claim is taken
        for iso in ("third_party", "none"):
            c = self.conf(self.RESOURCES % ("verify", "reach_host_only"), 'isolation = "%s";' % iso)
            r = self.run_agent("-c", c, "verify", "--format", "json")
            self.assertEqual(r.returncode, 0, r.stderr)
            doc, res = self.report(r)
            checks = {k["name"]: k for k in res["crashy.bad"]["checks"]}
            self.assertEqual(checks["host_only_reachable"]["observed"], "none")
        # at link time: a plugin that calls one does not link against libdr-sdk
        libdir = os.path.dirname(os.path.dirname(SHIPPED))
        src = os.path.join(self.dir, "sneaky.c")
        with open(src, "w") as f:
            f.write("#include <stdint.h>\nvoid dr_aws_set_thread_limits(int64_t, int (*)(void *), void *);\n"
                    "void sneak(void); void sneak(void) { dr_aws_set_thread_limits(0, 0, 0); }\n")
        r = subprocess.run(["cc", "-shared", "-fPIC", "-o", os.path.join(self.dir, "sneaky.so"), src,
                            "-Wl,--no-undefined", "-L", libdir, "-ldr-sdk"], capture_output=True, text=True)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("undefined reference to `dr_aws_set_thread_limits'", r.stderr)
        nm = subprocess.run(["nm", "-D", "--defined-only", os.path.join(libdir, "libdr-sdk.so")],
                            capture_output=True, text=True, check=True).stdout
        for sym in ("dr_aws_set_thread_limits", "dr_sdk_global_init", "dr_sdk_set_log", "dr_sdk_global_cleanup"):
            self.assertNotIn(" " + sym + "@", nm)
        self.assertIn("dr_sdk_host_claim@@DR_SDK_HOST_1", nm)
        self.assertIn("dr_aws_new@@DR_SDK_1", nm)

    def test_exit_in_process_is_never_ok(self):
        # with isolation off, exit(0) in a hook or in init ends the agent, but never with 0
        c = self.conf(self.RESOURCES % ("verify", "exit0"), 'isolation = "none";')
        r = self.run_agent("-c", c, "verify", "--format", "json")
        self.assertEqual(r.returncode, 3)
        self.assertIn(b"a plugin ended the process (exit() during one of its calls)", r.stderr)
        c = self.conf(self.RESOURCES % ("failover", "exit0"), 'isolation = "none";')
        r = self.run_agent("-c", c, "failover", "--yes")
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"a plugin ended the process (exit() during one of its calls)", r.stderr)
        c = self.conf(self.RESOURCES % ("none", "segv"), 'isolation = "none";')
        r = self.run_agent("-c", c, "verify", env={"CRASHY_INIT": "exit0"})
        self.assertEqual(r.returncode, 3)

    def test_builtin_type_shipped_wins(self):
        # an installed-like tree: bin/dr-agent, lib/libdr-sdk.so.1, lib/dr-agent/plugins with the shipped
        # dynamodb.so and a third-party file registering "dynamodb" next to it
        root = os.path.join(self.dir, "root")
        own = os.path.join(root, "lib", "dr-agent", "plugins")
        os.makedirs(own, 0o755)
        os.makedirs(os.path.join(root, "bin"), 0o755)
        for d in (root, os.path.join(root, "lib"), os.path.join(root, "lib", "dr-agent"), own, os.path.join(root, "bin")):
            os.chmod(d, 0o755)
        shutil.copy(AGENT, os.path.join(root, "bin", "dr-agent"))
        libdir = os.path.dirname(os.path.dirname(SHIPPED))
        for f in glob.glob(os.path.join(libdir, "libdr-sdk.so*")):
            shutil.copy(f, os.path.join(root, "lib"), follow_symlinks=True)
        shutil.copy(os.path.join(SHIPPED, "dynamodb.so"), own)
        shutil.copy(os.path.join(CRASHY, "fake_dynamodb.so"), own)
        r = subprocess.run([os.path.join(root, "bin", "dr-agent"), "plugins", "--format", "json"], capture_output=True,
                           text=True, env={k: v for k, v in os.environ.items() if not k.startswith("DR_AGENT")})
        d = json.loads(r.stdout)
        types = {p["type"]: p for p in d["plugins"]}
        self.assertEqual(os.path.realpath(types["dynamodb"]["file"]), os.path.join(own, "dynamodb.so"))
        self.assertFalse(types["dynamodb"]["isolated"])
        self.assertEqual(types["dynamodb"]["services"], ["dynamodb", "monitoring"])
        self.assertEqual(len(d["refused"]), 1, d["refused"])
        self.assertIn("fake_dynamodb.so: refused: resource type 'dynamodb' is built in (", d["refused"][0])
        self.assertIn("dynamodb.so); another file can provide it only when agent.plugin_paths.dynamodb names it",
                      d["refused"][0])

    def test_runpath_refused(self):
        bad = os.path.join(self.plugins, "runpath.so")
        src = os.path.join(SOURCE, "tests", "fixtures", "plugins", "crashy.c")
        inc = os.path.join(SOURCE, "sdk", "include")
        for rpath, why in ((".", "run path entry '.' is relative"),
                           ("/tmp/nonexistent-dr-dir", "/tmp is writable by others"),
                           ("$ORIGIN/../lib:", "run path entry '' is empty (the current directory)")):
            with self.subTest(rpath=rpath):
                subprocess.run(["cc", "-shared", "-fPIC", "-I", inc, '-DCRASHY_TYPE="rp"', "-o", bad, src,
                                "-Wl,--enable-new-dtags,-rpath," + rpath], check=True)
                os.chmod(bad, 0o755)
                c = self.conf('{ type = "fixture"; name = "other"; }')
                r = self.run_agent("-c", c, "plugins", "--format", "json")
                d = json.loads(r.stdout)
                self.assertNotIn("rp", [p["type"] for p in d["plugins"]])
                self.assertTrue(any(why in x for x in d["refused"]), d["refused"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
