#!/usr/bin/env bash
# test_package.sh: the Debian package: builds it with CPack from the build tree, checks its dependencies and contents,
# runs lintian, installs with --prefix and DESTDIR, runs the packaged agent from the unpacked tree, and checks the
# systemd units with systemd-analyze.
set -euo pipefail
build_dir=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# a system package (prefix /usr), as a distribution would build it
cpack -G DEB --config "$build_dir/CPackConfig.cmake" -B "$tmp/out" -D CPACK_PACKAGING_INSTALL_PREFIX=/usr \
  >"$tmp/cpack.log" 2>&1 || { cat "$tmp/cpack.log"; exit 1; }
deb=$(ls "$tmp"/out/dr-agent_*.deb)
lib=$(ls "$tmp"/out/libdr-sdk1_*.deb)
dev=$(ls "$tmp"/out/dr-agent-dev_*.deb)
echo "ok   built $(basename "$deb"), $(basename "$lib"), $(basename "$dev")"

info=$(dpkg-deb -I "$deb"; dpkg-deb -I "$lib")
for dep in libcurl4 libssl3 libjansson4 libconfig9 libexpat1 libpq5; do
  echo "$info" | grep -q "Depends:.*$dep" || { echo "FAIL: $dep missing from Depends"; echo "$info"; exit 1; }
done
dpkg-deb -f "$deb" Depends | grep -q "libdr-sdk1 (= " || { echo "FAIL: dr-agent does not depend on libdr-sdk1"; exit 1; }
dpkg-deb -f "$dev" Depends | grep -q "libdr-sdk1 (= " || { echo "FAIL: dr-agent-dev does not depend on libdr-sdk1"; exit 1; }
echo "ok   Depends lists the shared libraries: $(dpkg-deb -f "$deb" Depends); libdr-sdk1: $(dpkg-deb -f "$lib" Depends)"
# the library package: its SONAME in shlibs, ldconfig by trigger
mkdir "$tmp/ctl"
dpkg-deb -e "$lib" "$tmp/ctl"
grep -qx "libdr-sdk 1 libdr-sdk1 (>= [0-9.]*)" "$tmp/ctl/shlibs" || { echo "FAIL: shlibs: $(cat "$tmp/ctl/shlibs")"; exit 1; }
grep -qx "activate-noawait ldconfig" "$tmp/ctl/triggers" || { echo "FAIL: no ldconfig trigger"; exit 1; }
dpkg-deb -c "$lib" >"$tmp/lib.list"
dpkg-deb -c "$dev" >"$tmp/dev.list"
grep -q "libdr-sdk.so.1 ->" "$tmp/lib.list" || { echo "FAIL: libdr-sdk.so.1 missing from libdr-sdk1"; exit 1; }
grep -q "libdr-sdk.so -> " "$tmp/lib.list" && { echo "FAIL: the development link is in libdr-sdk1"; exit 1; }
grep -q "libdr-sdk.so -> " "$tmp/dev.list" || { echo "FAIL: the development link is not in dr-agent-dev"; exit 1; }
echo "ok   libdr-sdk1 carries shlibs and an ldconfig trigger; dr-agent-dev the headers and the development link"
# the example configuration is a conffile of the system package
dpkg-deb -e "$deb" "$tmp/ctl-agent"
grep -qx "/etc/dr-agent/dr-agent.conf.example" "$tmp/ctl-agent/conffiles" || { echo "FAIL: conffiles"; exit 1; }

# lintian: no errors (warnings are listed)
if command -v lintian >/dev/null; then
  lintian --tag-display-limit 0 "$deb" "$lib" "$dev" >"$tmp/lintian.txt" 2>&1 || true
  grep -v "running with root privileges" "$tmp/lintian.txt" || true
  if grep -q "^E: " "$tmp/lintian.txt"; then echo "FAIL: lintian reports errors"; exit 1; fi
  echo "ok   lintian: $(grep -c '^E: ' "$tmp/lintian.txt") errors, $(grep -c '^W: ' "$tmp/lintian.txt") warnings"
else
  echo "FAIL: lintian is missing (./scripts/setup installs it)"; exit 1
fi

prefix=/usr
for d in "$deb" "$lib" "$dev"; do dpkg-deb -x "$d" "$tmp/root"; done
root=$tmp/root$prefix
for f in bin/dr-agent include/dr/plugin.h share/man/man1/dr-agent.1.gz share/man/man5/dr-agent.conf.5.gz \
         share/doc/dr-agent/operator-guide.md share/doc/dr-agent/copyright share/doc/dr-agent/changelog.gz \
         share/doc/libdr-sdk1/copyright share/doc/dr-agent-dev/copyright share/bash-completion/completions/dr-agent \
         share/doc/dr-agent/examples/dr-agent.rules.yml; do
  [ -e "$root/$f" ] || { echo "FAIL: $prefix/$f not in the packages"; exit 1; }
done
[ -e "$tmp/root/etc/dr-agent/dr-agent.conf.example" ] || { echo "FAIL: /etc/dr-agent/dr-agent.conf.example missing"; exit 1; }
gzip -t "$root/share/man/man1/dr-agent.1.gz"
zcat "$root/share/man/man1/dr-agent.1.gz" >"$tmp/man1"
grep -q '^.TH DR-AGENT 1' "$tmp/man1"
for f in "$root/bin/dr-agent" "$root"/lib*/*/dr-agent/plugins/*.so "$root"/lib*/dr-agent/plugins/*.so "$root"/lib*/libdr-sdk.so.1 "$root"/lib*/*/libdr-sdk.so.1; do
  [ -e "$f" ] || continue
  readelf -S "$f" >"$tmp/sections"
  if grep -q '\.debug_info' "$tmp/sections"; then echo "FAIL: $f is not stripped"; exit 1; fi
done
ls "$root"/lib*/systemd/system/dr-agent-verify.timer >/dev/null 2>&1 || ls "$tmp"/root/*/lib/systemd/system/dr-agent-verify.timer >/dev/null
echo "ok   binary (stripped), headers, compressed man pages, copyright, changelog, completion, docs and units are in the packages"

# cmake --install honours --prefix and DESTDIR, /etc included
etc_before=$(ls -l --time-style=+%s.%N /etc/dr-agent 2>/dev/null || true)
cmake --install "$build_dir" --prefix "$tmp/inst" >/dev/null
[ -e "$tmp/inst/etc/dr-agent/dr-agent.conf.example" ] || { echo "FAIL: --prefix: no <prefix>/etc/dr-agent"; exit 1; }
DESTDIR="$tmp/destdir" cmake --install "$build_dir" --prefix /usr >/dev/null
[ -e "$tmp/destdir/etc/dr-agent/dr-agent.conf.example" ] || { echo "FAIL: DESTDIR + /usr: no \$DESTDIR/etc/dr-agent"; exit 1; }
[ -e "$tmp/destdir/usr/bin/dr-agent" ] || { echo "FAIL: DESTDIR: no \$DESTDIR/usr/bin/dr-agent"; exit 1; }
DESTDIR="$tmp/destdir2" cmake --install "$build_dir" --prefix /opt/dr >/dev/null
[ -e "$tmp/destdir2/opt/dr/etc/dr-agent/dr-agent.conf.example" ] || { echo "FAIL: DESTDIR + /opt/dr"; exit 1; }
[ "$(ls -l --time-style=+%s.%N /etc/dr-agent 2>/dev/null || true)" = "$etc_before" ] || { echo "FAIL: /etc/dr-agent changed"; exit 1; }
echo "ok   cmake --install: --prefix X puts the example in X/etc/dr-agent; DESTDIR is honoured; /etc is never touched"

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
