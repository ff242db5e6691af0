#!/usr/bin/env bash
# test_out_of_tree.sh: install the SDK to a temporary prefix, build the example plugin there with pkg-config and
# with find_package, and load it into the installed agent, ordered after the data layer.
set -euo pipefail
build_dir=$1
src_dir=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

cmake --install "$build_dir" --prefix "$prefix" >/dev/null
for f in bin/dr-agent include/dr/plugin.h include/dr/sdk.h lib/pkgconfig/dr-agent-sdk.pc \
         lib/cmake/DrAgentSdk/DrAgentSdkConfig.cmake share/dr-agent/plugin.map etc/dr-agent/dr-agent.conf.example \
         share/man/man1/dr-agent.1.gz share/man/man5/dr-agent.conf.5.gz share/doc/dr-agent/README.md; do
  [ -e "$prefix/$f" ] || { echo "FAIL: $f not installed"; exit 1; }
done
echo "ok   installed layout"

# 1. pkg-config, from a copy of the example outside the source tree
cp -r "$src_dir/sdk/examples/exec-step" "$tmp/pc"
PKG_CONFIG_PATH=$prefix/lib/pkgconfig make -s -C "$tmp/pc" CFLAGS="-O2 -Wall -Wextra -Werror" >/dev/null
echo "ok   built with pkg-config"

# 2. find_package
cp -r "$src_dir/sdk/examples/exec-step" "$tmp/cm"
cmake -S "$tmp/cm" -B "$tmp/cm/build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_FLAGS="-Werror" >/dev/null
cmake --build "$tmp/cm/build" >/dev/null
echo "ok   built with find_package(DrAgentSdk)"

for so in "$tmp/pc/exec.so" "$tmp/cm/build/exec.so"; do
  syms=$(nm -D --defined-only "$so" | awk '{print $NF}')
  [ "$syms" = "dr_plugin_entry" ] || { echo "FAIL: $so exports: $syms"; exit 1; }
done
echo "ok   only dr_plugin_entry is exported"

# 3. installed the documented way (the example's install rule: the SDK's plugin directory), the installed agent
#    loads it next to the bundled plugins
cmake --install "$tmp/cm/build" >/dev/null
[ -e "$prefix/lib/dr-agent/plugins/exec.so" ] || { echo "FAIL: cmake --install did not put exec.so in the plugin directory"; exit 1; }
echo "ok   cmake --install put exec.so in $prefix/lib/dr-agent/plugins"
plugins=$tmp/plugins
mkdir -m 0755 "$plugins"
cp "$prefix"/lib/dr-agent/plugins/*.so "$plugins"/ 2>/dev/null || true
out=$("$prefix/bin/dr-agent" plugins --plugin-dir "$plugins" --format json)
echo "$out" | python3 -c '
import json, sys
d = json.load(sys.stdin)
types = {p["type"]: p for p in d["plugins"]}
assert "exec" in types, types.keys()
assert types["exec"]["version"] == "1.0.0"
assert not d["refused"], d["refused"]
print("ok   the installed agent loads exec next to", sorted(t for t in types if t != "exec"))'

# 4. a run that orders it after the data layer: a DynamoDB table of the reference estate in the local AWS
#    (this script runs inside `drenv run --seed primary`), and the example's step depending on it
cat > "$tmp/step.sh" <<'SH'
#!/bin/sh
echo "$1 at $(date +%s.%N)" >> "$2"
echo "switched the job queue to $1"
SH
chmod 755 "$tmp/step.sh"
cat > "$tmp/dr-agent.conf" <<CONF
objectives = { rto = "1h"; rpo = "15m"; };
regions = { primary = "us-east-1"; dr = "us-west-2"; };
agent = { state_dir = "$tmp/state"; };
resources = (
  { type = "dynamodb"; name = "users"; table = "roadcall-users-prod"; poll_interval = "1s"; },
  { type = "exec"; name = "queue"; depends_on = ["dynamodb.*"];
    failover_command = ["$tmp/step.sh", "us-west-2", "$tmp/trace"];
    verify_command = ["/bin/true"]; }
);
CONF
chmod 600 "$tmp/dr-agent.conf"
agent() { "$prefix/bin/dr-agent" -c "$tmp/dr-agent.conf" --plugin-dir "$plugins" "$@"; }
agent configure -q >/dev/null
python3 "$src_dir/tests/env/seed_estate.py" --metrics --dynamodb-lag-ms 500 --table roadcall-users-prod >/dev/null
agent verify >/dev/null
echo "ok   verify of the table and the example's step: OK"
agent failover --yes --format json > "$tmp/report.json"
python3 - "$tmp/report.json" "$tmp/trace" <<'PY'
import datetime, json, sys
rep = json.load(open(sys.argv[1]))
res = {r["id"]: r for r in rep["resources"]}
assert rep["status"] == "done", rep["status"]
assert res["exec.queue"]["status"] == "done", res["exec.queue"]
assert res["exec.queue"]["depends_on"] == ["dynamodb.users"], res["exec.queue"]["depends_on"]
assert "switched the job queue to us-west-2" in res["exec.queue"]["changes"][0]["detail"]
def t(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
ran_at = float(open(sys.argv[2]).read().split()[2])
assert t(res["dynamodb.users"]["finished_at"]) <= ran_at + 0.001, "the step ran before the table's failover ended"
print("ok   a failover ran the example plugin's step after the data layer (dynamodb.users)")
PY
