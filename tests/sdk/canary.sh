#!/bin/sh
# canary.sh: run test_canary with a fresh random canary secret and fail if any of its output holds the canary.
set -u
bin=$1
out=$(mktemp /tmp/dr-canary-XXXXXX)
trap 'rm -f "$out"' EXIT
DR_TEST_CANARY="canary$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
export DR_TEST_CANARY
"$bin" >"$out" 2>&1
rc=$?
cat "$out"
if [ "$rc" -ne 0 ]; then
    echo "canary: test_canary failed (exit $rc)"
    exit 1
fi
if grep -qF "$DR_TEST_CANARY" "$out"; then
    echo "canary: the secret appears in the output:"
    grep -nF "$DR_TEST_CANARY" "$out" | sed "s/$DR_TEST_CANARY/<CANARY>/g"
    exit 1
fi
lines=$(grep -c '^log\[' "$out")
if [ "$lines" -lt 10 ]; then
    echo "canary: only $lines log lines: debug logging did not run"
    exit 1
fi
echo "canary: $lines log lines and every message checked, no secret found"
