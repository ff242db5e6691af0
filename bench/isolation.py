#!/usr/bin/env python3
"""isolation.py: the cost of running plugin calls isolated (a child process per call): `plan` (load + validate)
and `verify` of N fixture resources with agent.isolation "none" and "third_party", best of R runs each.
Usage: bench/isolation.py <build dir> [N] [R]"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

build = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 200
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 7
agent = os.path.join(build, "bin", "dr-agent")
tmp = tempfile.mkdtemp(prefix="driso-bench.")
os.chmod(tmp, 0o755)
plugins = os.path.join(tmp, "plugins")
os.mkdir(plugins, 0o755)
for so in ("fixture.so", "fixture_dep.so"):
    shutil.copy(os.path.join(build, "tests", "fixtures", "plugins", so), plugins)
resources = ",\n".join('{ type = "fixture_dep"; name = "r%d"; }' % i for i in range(n))


def best(args):
    t_best = None
    for _ in range(runs):
        t = time.monotonic()
        subprocess.run([agent, *args], check=False, capture_output=True)
        d = time.monotonic() - t
        t_best = d if t_best is None else min(t_best, d)
    return t_best


print("| isolation | concurrency | plan (load + validate) | verify | per validate | per verify hook |")
print("|---|---:|---:|---:|---:|---:|")
base = {}
for conc in (1, 8):
    for iso in ("none", "third_party"):
        conf = os.path.join(tmp, "c.conf")
        with open(conf, "w") as f:
            f.write('objectives = { rto = "1h"; rpo = "15m"; };\nregions = { primary = "us-east-1"; dr = "us-west-2"; };\n'
                    'agent = { state_dir = "%s/state"; plugin_dir = "%s"; concurrency = %d; isolation = "%s"; };\n'
                    'resources = (\n%s\n);\n' % (tmp, plugins, conc, iso, resources))
        os.chmod(conf, 0o600)
        plan = best(["-c", conf, "plan"])
        verify = best(["-c", conf, "verify", "-q"])
        if iso == "none":
            base[conc] = (plan, verify)
            print("| none | %d | %.3f s | %.3f s | | |" % (conc, plan, verify))
        else:
            p0, v0 = base[conc]
            print("| third_party | %d | %.3f s | %.3f s | +%.2f ms | +%.2f ms |"
                  % (conc, plan, verify, (plan - p0) * 1000 / n, ((verify - plan) - (v0 - p0)) * 1000 / n))
shutil.rmtree(tmp)
