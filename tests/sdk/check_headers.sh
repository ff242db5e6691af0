#!/usr/bin/env bash
# check_headers.sh: each installed SDK header compiles on its own as C99 and as C++.
set -euo pipefail
inc=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc=${CC:-cc}
cxx=c++
command -v "$cxx" >/dev/null || cxx=g++
status=0
for h in "$inc"/dr/*.h; do
  name=dr/$(basename "$h")
  printf '#include "%s"\nint dr_header_check_%s;\n' "$name" "$(basename "$h" .h)" > "$tmp/t.c"
  if "$cc" -std=c99 -pedantic -Wall -Wextra -Werror -I"$inc" -c "$tmp/t.c" -o "$tmp/t.o" 2>"$tmp/err"; then
    echo "ok   $name as C99"
  else
    echo "FAIL $name as C99"; cat "$tmp/err"; status=1
  fi
  cp "$tmp/t.c" "$tmp/t.cpp"
  if "$cxx" -std=c++11 -pedantic -Wall -Wextra -Werror -I"$inc" -c "$tmp/t.cpp" -o "$tmp/t.o" 2>"$tmp/err"; then
    echo "ok   $name as C++11"
  else
    echo "FAIL $name as C++11"; cat "$tmp/err"; status=1
  fi
done
exit $status
