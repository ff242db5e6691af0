#!/bin/sh
# aws.sh: start a moto server, run the AWS client benchmark against it (1,000 DescribeTable calls at concurrency 1, 8, 32), stop moto.
# Usage: bench/aws.sh [build-dir]   (default: build; configure with -DDR_BUILD_TESTS=ON, which builds bin/aws_bench)
set -eu
build=${1:-build}
bench="$build/bin/aws_bench"
[ -x "$bench" ] || { echo "aws.sh: $bench not found: build the project first" >&2; exit 1; }
py="$(dirname "$0")/../scripts/dr-python"  # scripts/setup's virtual environment, or python3
"$py" -c 'import moto.server' 2>/dev/null || { echo "aws.sh: $("$py" --which) has no moto server (run scripts/setup)" >&2; exit 1; }
port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
log=$(mktemp /tmp/dr-bench-moto-XXXXXX)
"$py" -m moto.server -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
moto=$!
trap 'kill $moto 2>/dev/null; wait $moto 2>/dev/null; rm -f "$log"' EXIT INT TERM
i=0
until curl -s -o /dev/null "http://127.0.0.1:$port/moto-api/"; do
    i=$((i + 1))
    [ $i -lt 300 ] || { echo "aws.sh: moto did not start" >&2; cat "$log" >&2; exit 1; }
    sleep 0.1
done
echo "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
echo "versions: $(curl --version | head -n 1 | cut -d' ' -f1-2), $(openssl version | cut -d' ' -f1-2), moto $("$py" -c 'import moto; print(moto.__version__)')"
"$bench" --endpoint "http://127.0.0.1:$port" --calls 1000 --concurrency 1,8,32
