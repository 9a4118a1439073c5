#!/usr/bin/env bash
# The prediction benchmark behind README "Prediction quality": remaining
# useful life on NASA C-MAPSS FD001, a failure classifier on AI4I 2020,
# and forecast accuracy (against the naive last-value forecast) on SKAB
# and the simulator, through the commands a user runs (train, evaluate,
# backtest), with default settings.
#
#   C-MAPSS   train on the 100 run-to-failure engines, evaluate the 100
#             test engines at their last cycle: RMSE, PHM08 score.
#   AI4I      train on 70% of the rows, score the 30% held out (seed 1):
#             precision, recall, F1 of Machine failure and each mode.
#   forecast  SKAB (every file, and by column; horizon 5 minutes, its runs
#             being 20 minutes long) and the simulator's plant (five seeds, 60 s
#             windows, the 30-minute default horizon): the geometric mean
#             over sensors of MAE / naive MAE; and how many degradations
#             got a PREDICTED alert before their ANOMALY alert.
#
# Usage: bench/prediction.sh [OUT_DIR]   (DATA=DIR: the datasets, default
# ../shared/datasets). Writes OUT_DIR/prediction.md and prediction.json.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench/results}
mkdir -p "$out"
bin=${SMAINT:-bin/smaint}
data=${DATA:-../shared/datasets}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
json="$work/results.jsonl"
: >"$json"
emit() { printf '%s\n' "$1" >>"$json"; }

if [[ -d $data/cmapss-fd001 ]]; then
	echo "== C-MAPSS FD001"
	# Its files are space-separated without a header: give them one.
	head="unit,cycle,setting1,setting2,setting3$(for i in $(seq 1 21); do printf ',s%d' "$i"; done)"
	for f in train test; do
		{ echo "$head"; sed -e 's/^ *//; s/ *$//; s/  */,/g' "$data/cmapss-fd001/${f}_FD001.txt"; } >"$work/$f.csv"
	done
	{ echo "unit,rul"; awk 'NF {print NR "," $1}' "$data/cmapss-fd001/RUL_FD001.txt"; } >"$work/rul.csv"
	"$bin" train --task rul --csv "$work/train.csv" --models "file://$work/models" --version bench >/dev/null
	r=$("$bin" evaluate --task rul --csv "$work/test.csv" --truth "$work/rul.csv" --models "file://$work/models" --json | tail -1)
	emit "{\"set\":\"cmapss\",\"result\":$r}"
fi

if [[ -d $data/ai4i2020 ]]; then
	echo "== AI4I 2020"
	labels="Machine failure,TWF,HDF,PWF,OSF,RNF"
	"$bin" train --labels "$labels" --csv "$data/ai4i2020/ai4i2020.csv" --holdout 0.3 --seed 1 --models "file://$work/models" --version bench >"$work/ai4i.txt"
	cat "$work/ai4i.txt"
	python3 - "$work/ai4i.txt" >>"$json" <<'PY'
import json, sys
rows = [l.split() for l in open(sys.argv[1]) if l.startswith("  ") and not l.split()[0] == "label"]
res = []
for r in rows:
    label = " ".join(r[:-5])
    res.append({"label": label, "positives": int(r[-5]), "predicted": int(r[-4]), "precision": float(r[-3]), "recall": float(r[-2]), "f1": float(r[-1])})
print(json.dumps({"set": "ai4i", "result": res}))
PY
fi

cols='Accelerometer1RMS,Accelerometer2RMS,Current,Pressure,Temperature,Thermocouple,Voltage,Volume Flow RateRMS'
if [[ -d $data/skab/data/valve1 ]]; then
	echo "== SKAB forecasts"
	n=0
	for f in "$data"/skab/data/{valve1,valve2,other,anomaly-free}/*.csv; do
		n=$((n + 1))
		cp "$f" "$work/skab.csv"
		r=$("$bin" backtest --csv "$work/skab.csv" --time-col datetime --value-col "$cols" --forecast-horizon 5m --forecasts "$work/skab-$n.forecasts.csv" --json 2>/dev/null | tail -1)
		emit "{\"set\":\"skab\",\"result\":$r}"
	done
	# By column: each column's forecasts from every file, scored together.
	IFS=, read -ra names <<<"$cols"
	for c in "${names[@]}"; do
		files=()
		for ((i = 1; i <= n; i++)); do
			awk -F, -v c="$c" 'NR == 1 || $1 == c' "$work/skab-$i.forecasts.csv" >"$work/col-$i.csv"
			files+=("$work/col-$i.csv")
		done
		r=$("$bin" evaluate --task forecast --forecasts "$(IFS=,; echo "${files[*]}")" --json | tail -1)
		emit "{\"set\":\"skab-column\",\"column\":\"$c\",\"result\":$r}"
	done
fi
for seed in 1 2 3 4 5; do
	echo "== simulator, seed $seed"
	# A fixed start, so that the daily cycles' phases, and the results,
	# are the same on every run of the benchmark.
	"$bin" simulate --csv "$work/plant.csv" --truth "$work/truth.jsonl" --limits "$work/limits.json" --seed "$seed" --start 2026-11-30T06:00:00Z >/dev/null
	r=$("$bin" backtest --csv "$work/plant.csv" --truth "$work/truth.jsonl" --limits "$work/limits.json" --windows 60s --json 2>/dev/null | tail -1)
	emit "{\"set\":\"sim\",\"seed\":$seed,\"result\":$r}"
done

python3 - "$json" "$out" <<'PY'
import json, math, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
out = sys.argv[2]
md = []
for r in rows:
    if r["set"] == "cmapss":
        s = r["result"]
        md += ["| C-MAPSS FD001, 100 test engines | RMSE | %.2f |" % s["rmse"], "| | MAE | %.2f |" % s["mae"], "| | PHM08 score | %.1f |" % s["phm08"],
               "| | true lives inside the 80%% intervals | %.0f%% |" % (100 * s.get("coverage", 0))]
    if r["set"] == "ai4i":
        for s in r["result"]:
            md.append("| AI4I 2020, 30%% held out (seed 1): %s | precision / recall / F1 | %.3f / %.3f / **%.3f** (%d failures) |" % (s["label"], s["precision"], s["recall"], s["f1"], s["positives"]))
def relmae(rs):
    logs = n = better = 0
    for r in rs:
        f = r["result"].get("forecasts")
        if f and f["sensors"]:
            logs += math.log(f["rel_mae"]) * f["sensors"]; n += f["sensors"]; better += f["better"] * f["sensors"]
    return (math.exp(logs / n), better / n, n) if n else (float("nan"), 0, 0)
sk = [r for r in rows if r["set"] == "skab"]
if sk:
    m, b, n = relmae(sk)
    md.append("| SKAB, every file, 5-minute horizon | forecast MAE / naive MAE | %.3f (better than naive on %.0f%% of %d sensors) |" % (m, 100 * b, n))
    cols = [r for r in rows if r["set"] == "skab-column"]
    if cols:
        md.append("| SKAB by column | forecast MAE / naive MAE | %s |" % ", ".join("%s %.2f" % (r["column"], r["result"]["rel_mae"]) for r in cols))
sim = [r for r in rows if r["set"] == "sim"]
if sim:
    m, b, n = relmae(sim)
    ahead = sum(r["result"]["evaluation"]["predictions"]["degradations_predicted_ahead"] for r in sim)
    degr = sum(r["result"]["evaluation"]["predictions"]["degradations"] for r in sim)
    md.append("| simulator, five seeds together | forecast MAE / naive MAE; degradations PREDICTED before ANOMALY | **%.3f** (better than naive on %.0f%% of %d sensors); **%d of %d** |" % (m, 100 * b, n, ahead, degr))
for r in sim:
    m, b, n = relmae([r])
    p = r["result"]["evaluation"]["predictions"]
    md.append("| simulator seed %d, 30-minute horizon | forecast MAE / naive MAE; degradations PREDICTED before ANOMALY | %.3f; %d of %d, %.0f s ahead, crossing time off by %.0f s; %d PREDICTED alerts, %d on an incident |" % (
        r["seed"], m, p["degradations_predicted_ahead"], p["degradations"], p["mean_prediction_lead_s"], p["mean_crossing_error_s"], p["predicted_alerts"], p["predicted_alerts_matching"]))
text = "| data | measure | result |\n|---|---|---|\n" + "\n".join(md) + "\n"
open(out + "/prediction.md", "w").write(text)
json.dump(rows, open(out + "/prediction.json", "w"), indent=1)
print(text)
PY
