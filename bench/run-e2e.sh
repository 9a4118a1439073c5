#!/usr/bin/env bash
# The end-to-end runs behind README "Performance": 10,000 sensors through
# dedupe, features, score, drift and alert on the embedded broker, flat out
# and paced. Each run writes NAME.txt (what it printed), NAME.json (the
# report) and, where it has one, NAME.svg (the plot) into the directory
# given (default bench/results).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench/results}
mkdir -p "$out"
bin=${SMAINT:-bin/smaint}

run() {
	local name=$1
	shift
	echo "== $name: smaint bench $*"
	"$bin" bench --json "$out/$name.json" "$@" | tee "$out/$name.txt" | grep -v '^\['
}

run flat-10k --sensors 10000 --plot "$out/flat-10k.svg"
run flat-10k-limit --sensors 10000 --memory-limit 260MiB
run paced-10k-60s --sensors 10000 --rate 187500 --duration 300s --plot "$out/paced-10k-60s.svg"
run paced-10k-60s-limit --sensors 10000 --rate 187500 --duration 300s --memory-limit 260MiB
run paced-10k-60s-limit270 --sensors 10000 --rate 187500 --duration 300s --memory-limit 270MiB
run paced-10k-10s --sensors 10000 --rate 187500 --duration 120s --windows 10s --plot "$out/paced-10k-10s.svg"
