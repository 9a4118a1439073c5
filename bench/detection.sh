#!/usr/bin/env bash
# The detection benchmark behind README "Detection quality": how well the
# default settings detect, on real labelled data and on the simulator,
# through the same commands a user runs (simulate, backtest, evaluate).
#
#   SKAB      every file of valve1, valve2 and other, on the published
#             protocol (the first 400 rows of each file are for training):
#             pointwise F1 with FAR and MAR, events caught, NAB score.
#   SKAB-free the anomaly-free run: alerts per sensor-day.
#   cycles    twelve synthetic 14-day series of 5-minute values with a
#             daily cycle and two labelled anomalies each (bench/cycles),
#             scored from the fifth day: the same measures as SKAB, with
#             the cycle (the default) and without (--baseline-season 0).
#   simulator the demo's plant (20 assets, an hour, every fault scenario)
#             at five seeds, on the stream's 60 s windows: incidents
#             caught, precision, delay; and a fault-free 24-hour plant
#             (2 assets): alerts per sensor-day.
#
# Usage: bench/detection.sh [OUT_DIR] [-- extra backtest flags]
# SKAB=DIR names the dataset (default ../shared/datasets/skab/data, as on
# the development machine); without it the SKAB rows are left out.
# Writes OUT_DIR/detection.md (the table) and detection.json.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench/results}
shift || true
[[ ${1:-} == -- ]] && shift
extra=("$@")
mkdir -p "$out"
bin=${SMAINT:-bin/smaint}
skab=${SKAB:-../shared/datasets/skab/data}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cols='Accelerometer1RMS,Accelerometer2RMS,Current,Pressure,Temperature,Thermocouple,Voltage,Volume Flow RateRMS'
json="$work/results.jsonl"
: >"$json"

emit() { printf '%s\n' "$1" >>"$json"; }

if [[ -d $skab/valve1 ]]; then
	echo "== SKAB ($skab): backtest of every file of valve1, valve2 and other"
	labels=()
	for d in valve1 valve2 other; do
		for f in "$skab/$d"/*.csv; do
			c="$work/skab-$d-$(basename "$f")"
			cp "$f" "$c"
			"$bin" backtest --csv "$c" --time-col datetime --value-col "$cols" "${extra[@]}" >/dev/null 2>>"$work/backtest.log"
			labels+=("$c")
		done
	done
	list=$(IFS=,; echo "${labels[*]}")
	for by in alert window; do
		r=$("$bin" evaluate --labels "$list" --time-col datetime --skip 400 --by "$by" --json | tail -1)
		emit "{\"set\":\"skab\",\"by\":\"$by\",\"result\":$r}"
	done
	echo "== SKAB anomaly-free"
	cp "$skab/anomaly-free/anomaly-free.csv" "$work/free.csv"
	r=$("$bin" backtest --csv "$work/free.csv" --time-col datetime --value-col "$cols" --json "${extra[@]}" 2>>"$work/backtest.log" | tail -1)
	emit "{\"set\":\"skab-free\",\"result\":$r}"
else
	echo "== SKAB left out: no dataset at $skab (set SKAB=DIR)"
fi

echo "== daily cycles (bench/cycles)"
mkdir -p "$work/cycles"
python3 bench/cycles/gen.py "$work/cycles"
for season in default 0; do
	flags=()
	[[ $season == 0 ]] && flags=(--baseline-season 0)
	for f in "$work"/cycles/series-*.csv; do
		"$bin" backtest --csv "$f" --time-col timestamp --value-col value "${flags[@]}" "${extra[@]}" >/dev/null 2>>"$work/backtest.log"
	done
	list=$(ls "$work"/cycles/series-*.csv | grep -v scored | paste -sd,)
	for by in alert window; do
		r=$("$bin" evaluate --labels "$list" --time-col timestamp --skip 1152 --by "$by" --json | tail -1)
		emit "{\"set\":\"cycles\",\"season\":\"$season\",\"by\":\"$by\",\"result\":$r}"
	done
	rm -f "$work"/cycles/*.scored.csv
done

for seed in 1 2 3 4 5; do
	echo "== simulator, seed $seed"
	"$bin" simulate --csv "$work/plant.csv" --truth "$work/truth.jsonl" --seed "$seed" >/dev/null
	r=$("$bin" backtest --csv "$work/plant.csv" --truth "$work/truth.jsonl" --windows 60s --json "${extra[@]}" 2>>"$work/backtest.log" | tail -1)
	emit "{\"set\":\"sim\",\"seed\":$seed,\"result\":$r}"
done
echo "== simulator, 24 hours without faults"
"$bin" simulate --csv "$work/quiet.csv" --assets 2 --span 24h --scenarios none >/dev/null
r=$("$bin" backtest --csv "$work/quiet.csv" --windows 60s --json "${extra[@]}" 2>>"$work/backtest.log" | tail -1)
emit "{\"set\":\"sim-quiet\",\"result\":$r}"

python3 - "$json" "$out" "${extra[*]:-}" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
out, extra = sys.argv[2], sys.argv[3]
md = ["| data | flagged by | precision | recall | F1 | FAR | MAR | events caught | NAB standard / low FP / low FN |",
      "|---|---|---|---|---|---|---|---|---|"]
def perday(s):
    days = (json_time(s["to"]) - json_time(s["from"])) / 86400
    n = sum(v for k, v in s["alerts_opened"].items())
    return n, n / (days * s["sensors"]) if days > 0 else float("nan")
def json_time(t):
    from datetime import datetime
    return datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp()
for r in rows:
    if r["set"] == "skab":
        d = r["result"]
        nab = " / ".join(f'{s["score"]:.1f}' for s in d["nab"])
        md.append(f'| SKAB (34 files, published protocol) | {r["by"]} | {d["precision"]:.3f} | {d["recall"]:.3f} | {d["f1"]:.4f} | '
                  f'{100*d["far"]:.1f}% | {100*d["mar"]:.1f}% | {d["events_detected"]} of {d["events"]}, mean delay {d["mean_delay_s"]:.0f} s | {nab} |')
for r in rows:
    if r["set"] == "cycles":
        d = r["result"]
        nab = " / ".join(f'{s["score"]:.1f}' for s in d["nab"])
        name = "daily cycles (12 series, 10 days scored)" + ("" if r["season"] == "default" else ", `--baseline-season 0`")
        md.append(f'| {name} | {r["by"]} | {d["precision"]:.3f} | {d["recall"]:.3f} | {d["f1"]:.4f} | '
                  f'{100*d["far"]:.1f}% | {100*d["mar"]:.1f}% | {d["events_detected"]} of {d["events"]}, mean delay {d["mean_delay_s"]:.0f} s | {nab} |')
md += ["", "| run | alerts opened | per sensor-day |", "|---|---|---|"]
for r in rows:
    if r["set"] in ("skab-free", "sim-quiet"):
        s = r["result"]
        n, pd = perday(s)
        kinds = ", ".join(f"{v} {k}" for k, v in sorted(s["alerts_opened"].items())) or "none"
        name = {"skab-free": "SKAB anomaly-free (8 sensors, 2.8 h)", "sim-quiet": "simulator, 24 h, no faults (2 assets)"}[r["set"]]
        md.append(f"| {name} | {kinds} | {pd:.2f} |")
md += ["", "| simulator seed | incidents caught | precision | recall | mean delay | drift caught |", "|---|---|---|---|---|---|"]
for r in rows:
    if r["set"] == "sim":
        e = r["result"]["evaluation"]
        md.append(f'| {r["seed"]} | {e["incidents_detected"]} of {e["incidents_injected"]} | {e["precision"]:.2f} | {e["recall"]:.2f} | '
                  f'{e["mean_detection_delay_s"]:.0f} s | {e["drift_detected"]} of {e["drift_injected"]} |')
if extra:
    md.insert(0, f"backtest flags: `{extra}`\n")
open(f"{out}/detection.md", "w").write("\n".join(md) + "\n")
json.dump(rows, open(f"{out}/detection.json", "w"), indent=1)
print("\n".join(md))
EOF
