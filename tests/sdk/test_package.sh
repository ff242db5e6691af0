#!/usr/bin/env bash
# test_package.sh: the Debian package: builds it with CPack from the build tree, checks its dependencies and contents,
# runs the packaged agent from the unpacked tree, and checks the systemd units with systemd-analyze.
set -euo pipefail
build_dir=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cpack -G DEB --config "$build_dir/CPackConfig.cmake" -B "$tmp/out" >/dev/null
deb=$(ls "$tmp"/out/dr-agent_*.deb)
echo "ok   built $(basename "$deb")"

info=$(dpkg-deb -I "$deb")
for dep in libcurl4 libssl3 libjansson4 libconfig9 libexpat1 libpq5; do
  echo "$info" | grep -q "Depends:.*$dep" || { echo "FAIL: $dep missing from Depends"; echo "$info"; exit 1; }
done
echo "ok   Depends lists the shared libraries: $(echo "$info" | sed -n 's/^ Depends: //p')"

prefix=$(sed -n 's/^set(CPACK_PACKAGING_INSTALL_PREFIX "\(.*\)")$/\1/p' "$build_dir/CPackConfig.cmake")
prefix=${prefix:-/usr/local}
dpkg-deb -x "$deb" "$tmp/root"
root=$tmp/root$prefix
for f in bin/dr-agent include/dr/plugin.h share/man/man1/dr-agent.1 share/man/man5/dr-agent.conf.5 \
         share/doc/dr-agent/operator-guide.md; do
  [ -e "$root/$f" ] || { echo "FAIL: $prefix/$f not in the package"; exit 1; }
done
ls "$root"/lib*/systemd/system/dr-agent-verify.timer >/dev/null 2>&1 || ls "$tmp"/root/*/lib/systemd/system/dr-agent-verify.timer >/dev/null
echo "ok   binary, headers, man pages, docs and units are in the package"

# the packaged agent runs from where it is unpacked and finds the packaged plugins next to it
"$root/bin/dr-agent" --version
"$root/bin/dr-agent" plugins --format json | python3 -c '
import json, sys
d = json.load(sys.stdin)
types = sorted(p["type"] for p in d["plugins"])
assert types == ["aurora", "backup", "dynamodb", "route53", "s3"], types
assert not d["refused"], d["refused"]
print("ok   the packaged agent loads", ", ".join(types))'

# the systemd units are valid (ExecStart pointed at the unpacked binary)
unitdir=$(dirname "$(find "$tmp/root" -name dr-agent-verify.timer | head -1)")
sed "s#^ExecStart=[^ ]*/dr-agent #ExecStart=$root/bin/dr-agent #" "$unitdir/dr-agent-verify.service" > "$tmp/dr-agent-verify.service"
cp "$unitdir/dr-agent-verify.timer" "$tmp/"
command -v systemd-analyze >/dev/null || { echo "FAIL: systemd-analyze is missing (./scripts/setup installs systemd)"; exit 1; }
(cd "$tmp" && systemd-analyze verify --man=no dr-agent-verify.timer dr-agent-verify.service)
systemd-analyze calendar --iterations=2 '*:0/15' >/dev/null
echo "ok   systemd-analyze verify: the service and the timer are valid"
