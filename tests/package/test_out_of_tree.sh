#!/usr/bin/env bash
# test_out_of_tree.sh: install the SDK to a temporary prefix, build the example plugin there with pkg-config and
# with find_package, and load it into the installed agent, ordered after the data layer.
set -euo pipefail
build_dir=$1
src_dir=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
# run a command whose output is not needed; on failure, say which and show what it printed
quiet() {
  local out rc=0
  out=$("$@" 2>&1) || rc=$?
  [ "$rc" = 0 ] || { printf 'FAIL: %s exited %d:\n%s\n' "$*" "$rc" "$out"; exit 1; }
}

cmake --install "$build_dir" --prefix "$prefix" >/dev/null
for f in bin/dr-agent include/dr/plugin.h include/dr/sdk.h lib/pkgconfig/dr-agent-sdk.pc \
         lib/cmake/DrAgentSdk/DrAgentSdkConfig.cmake share/dr-agent/plugin.map etc/dr-agent/dr-agent.conf.example \
         share/man/man1/dr-agent.1.gz share/man/man5/dr-agent.conf.5.gz share/doc/dr-agent/README.md; do
  [ -e "$prefix/$f" ] || { echo "FAIL: $f not installed"; exit 1; }
done
echo "ok   installed layout"

# no installed binary, library or plugin carries a relative, empty or writable run path
runpath_ok() {
  local f=$1 rp entry
  rp=$(readelf -d "$f" | sed -n 's/.*(\(RUNPATH\|RPATH\)).*\[\(.*\)\]/\2/p')
  [ -z "$rp" ] && return 0
  IFS=: read -r -a entries <<< "$rp:"
  [ "${rp%:}" = "$rp" ] || { echo "FAIL: $f: run path '$rp' has an empty entry"; return 1; }
  for entry in "${entries[@]}"; do
    [ -z "$entry" ] && continue
    case "$entry" in
      '$ORIGIN'|'$ORIGIN/'*) ;;
      /*) [ -z "$(find "$entry" -maxdepth 0 -perm /022 2>/dev/null)" ] || { echo "FAIL: $f: $entry is writable"; return 1; } ;;
      *) echo "FAIL: $f: run path entry '$entry' is relative"; return 1 ;;
    esac
  done
}
n=0
for f in "$prefix"/bin/* "$prefix"/lib/*.so* "$prefix"/lib/dr-agent/plugins/*.so; do
  runpath_ok "$f"
  n=$((n + 1))
done
echo "ok   readelf -d: no relative, empty or writable run path in the $n installed binaries, libraries and plugins"

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
  if readelf -d "$so" | grep -Eq 'RUNPATH|RPATH'; then
    echo "FAIL: $so carries a run path: $(readelf -d "$so" | grep -E 'RUNPATH|RPATH')"; exit 1
  fi
done
echo "ok   only dr_plugin_entry is exported; no run path in plugins built with pkg-config or find_package"

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

# 3b. a planted library (in the working directory and next to the plugin) is never loaded: its constructor
#     would leave a marker; a plugin built with a run path naming the current directory is refused
plant=$tmp/plant
mkdir -m 0755 "$plant"
cat > "$tmp/planted.c" <<'C'
#include <fcntl.h>
#include <unistd.h>
__attribute__((constructor)) static void planted(void) { close(open("PLANTED_MARKER", O_CREAT | O_WRONLY, 0644)); }
C
sed -i "s#PLANTED_MARKER#$tmp/planted-was-loaded#" "$tmp/planted.c"
for lib in libstdc++.so.6 libdr-sdk.so.1 libcurl.so.4 libc.so.6; do
  cc -shared -fPIC -o "$plant/$lib" "$tmp/planted.c"; cp "$plant/$lib" "$plugins/$lib"
done
cc -shared -fPIC -o "$plant/libdrplant.so" "$tmp/planted.c" -Wl,-soname,libdrplant.so
# (a plugin that calls no SDK function, so that the control below can load it outside the agent)
cc -shared -fPIC -I"$prefix/include" -o "$plugins/dotpath.so" "$src_dir/tests/fixtures/plugins/crashy.c" \
   -D_GNU_SOURCE -DCRASHY_TYPE='"dotpath"' -L"$plant" -Wl,--no-as-needed -ldrplant -Wl,--enable-new-dtags,-rpath,.
# the control: loaded without the agent's check, from the planted directory, the plugin pulls the planted library in
(cd "$plant" && python3 -c 'import ctypes, sys; ctypes.CDLL(sys.argv[1])' "$plugins/dotpath.so")
[ -e "$tmp/planted-was-loaded" ] || { echo "FAIL: the control did not load the planted library"; exit 1; }
rm -f "$tmp/planted-was-loaded"
out=$(cd "$plant" && "$prefix/bin/dr-agent" plugins --plugin-dir "$plugins" --format json)
[ ! -e "$tmp/planted-was-loaded" ] || { echo "FAIL: a planted library was loaded"; exit 1; }
echo "$out" | python3 -c '
import json, sys
d = json.load(sys.stdin)
types = [p["type"] for p in d["plugins"]]
assert "exec" in types, types
assert types.count("exec") == 1, types
refused = " ".join(d["refused"])
assert "dotpath.so: refused: run path entry \x27.\x27 is relative" in refused, d["refused"]
print("ok   started in a directory with planted libraries: exec loads, nothing planted is loaded,",
      "a plugin with the run path . is refused")'
rm -f "$plugins/dotpath.so" "$plugins"/lib*.so*

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
quiet agent configure -q
quiet python3 "$src_dir/tests/env/seed_estate.py" --metrics --dynamodb-lag-ms 500 --table roadcall-users-prod
quiet agent verify
echo "ok   verify of the table and the example's step: OK"
agent failover --yes --format json > "$tmp/report.json" ||
  { echo "FAIL: failover exited $?"; cat "$tmp/report.json"; exit 1; }
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

# 5. an out-of-tree plugin for a service the SDK has no table entry for: SQS, against moto, in both regions
cp -r "$src_dir/sdk/examples/sqs-queue" "$tmp/sqs"
PKG_CONFIG_PATH=$prefix/lib/pkgconfig make -s -C "$tmp/sqs" CFLAGS="-O2 -Wall -Wextra -Werror" >/dev/null
cmake -S "$tmp/sqs" -B "$tmp/sqs/build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_FLAGS="-Werror" >/dev/null
cmake --build "$tmp/sqs/build" >/dev/null
cp "$tmp/sqs/build/sqs_queue.so" "$plugins/"
python3 - <<'PY'
import boto3
boto3.client("sqs", region_name="us-east-1").create_queue(QueueName="roadcall-jobs-prod")
PY
cat > "$tmp/sqs.conf" <<CONF
objectives = { rto = "1h"; rpo = "15m"; };
regions = { primary = "us-east-1"; dr = "us-west-2"; };
agent = { state_dir = "$tmp/state-sqs"; };
resources = ( { type = "sqs_queue"; name = "jobs"; queue = "roadcall-jobs-prod"; } );
CONF
chmod 600 "$tmp/sqs.conf"
sqs() { "$prefix/bin/dr-agent" -c "$tmp/sqs.conf" --plugin-dir "$plugins" "$@"; }
set +e
sqs verify --format json > "$tmp/sqs1.json"; rc=$?
set -e
[ "$rc" = 2 ] || { echo "FAIL: verify before configure exited $rc (want 2, CRITICAL)"; cat "$tmp/sqs1.json"; exit 1; }
quiet sqs configure -q
sqs verify --format json > "$tmp/sqs2.json" || { echo "FAIL: verify after configure exited $?"; cat "$tmp/sqs2.json"; exit 1; }
python3 - "$tmp/sqs1.json" "$tmp/sqs2.json" <<'PY'
import json, sys
before = {c["name"]: c for c in json.load(open(sys.argv[1]))["resources"][0]["checks"]}
after = json.load(open(sys.argv[2]))["resources"][0]
assert before["queue_exists:us-east-1"]["status"] == "OK", before
assert before["queue_exists:us-west-2"]["status"] == "CRITICAL", before
checks = {c["name"]: c for c in after["checks"]}
assert after["status"] == "OK", after
assert checks["queue_exists:us-west-2"]["status"] == "OK", checks
assert checks["queue_depth"]["observed"] == 0, checks
print("ok   the sqs_queue example (SQS by its signing name) found the DR queue missing, created it, verified both")
PY
"$prefix/bin/dr-agent" plugins --plugin-dir "$plugins" --format json | python3 -c '
import json, sys
p = {x["type"]: x for x in json.load(sys.stdin)["plugins"]}
assert p["sqs_queue"]["services"] == ["sqs"], p["sqs_queue"]
assert p["sqs_queue"]["isolated"] is True
assert p["exec"]["services"] == [], p["exec"]
print("ok   dr-agent plugins lists the services: sqs_queue", p["sqs_queue"]["services"])'
