#!/usr/bin/env bash
# check_exports.sh: every plugin built here exports exactly one dynamic symbol, dr_plugin_entry.
set -euo pipefail
status=0
count=0
for dir in "$@"; do
  for so in "$dir"/*.so; do
    [ -e "$so" ] || continue
    count=$((count + 1))
    syms=$(nm -D --defined-only "$so" | awk '{print $NF}' | sort)
    if [ "$syms" != "dr_plugin_entry" ]; then
      echo "FAIL $so exports: $(echo "$syms" | tr '\n' ' ')"
      status=1
    else
      echo "ok   $so exports only dr_plugin_entry"
    fi
  done
done
if [ "$count" -eq 0 ]; then
  echo "FAIL no plugin found in $*"
  exit 1
fi
exit $status
