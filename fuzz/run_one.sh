#!/bin/sh
# Runs one harness for $2 seconds: fuzz/run_one.sh <target> <seconds> [python]. The corpus it grows
# and any crashing input go under .fuzz/ (not tracked); it starts from fuzz/seeds/<target>.
set -eu
target=$1 seconds=$2 python=${3:-python3}
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$root/.fuzz/corpus/$target" "$root/.fuzz/crashes/$target"
cd "$root/fuzz"
exec "$python" "fuzz_$target.py" -max_total_time="$seconds" -rss_limit_mb=1536 -timeout=20 \
    -print_final_stats=1 -artifact_prefix="$root/.fuzz/crashes/$target/" \
    "$root/.fuzz/corpus/$target" "seeds/$target"
