#!/usr/bin/env bash
# Robust accuracy of every net of the reproduction under fixed-step PGD-20 and under APGD-CE and APGD-T (the first two
# attacks of AutoAttack, Croce & Hein 2020), l-inf, on the nets' 1,000-image sample (Models/<data>-sample.npz):
#
#   reports/attacks.sh mnist              eps 0.3 (the PGD-AT and dynamic nets' training radius)
#   reports/attacks.sh fashion-mnist      eps 0.1
#   reports/attacks.sh mnist --limit 200  a quicker, smaller run (written elsewhere: a temp dir)
#
# Each run's results.json goes to reports/<data>-attacks/<net>/<attack>/ (adversarial.npz is deleted: it can be
# remade); a run whose results.json exists is skipped, so re-running finishes what is missing. Ends with the table
# the README quotes.
set -euo pipefail
cd "$(dirname "$0")/.."

data=${1:?usage: reports/attacks.sh mnist|fashion-mnist [--limit N]}
case "$data" in mnist) eps=0.3 ;; fashion-mnist) eps=0.1 ;; *) echo "unknown data set '$data' (mnist, fashion-mnist)" >&2; exit 2 ;; esac
out=reports/$data-attacks
limit=()
if [ "${2:-}" = --limit ]; then
  limit=(--limit "${3:?--limit needs a number}")
  out=$(mktemp -d)
  echo "a run on the first ${3} images, into $out"
fi

dotnet build RobustEval.sln -c Release --nologo -v q -clp:ErrorsOnly
evaluator() { dotnet run --project Evaluator -c Release --no-build -- "$@"; }

step=$(awk "BEGIN { print $eps / 4 }")
attacks=(
  "pgd20|--attack pgd --steps 20 --step-size $step"
  "apgd-ce|--attack apgd-ce"
  "apgd-t|--attack apgd-t"
)
for model in Models/"$data"-*.onnx; do
  name=$(basename "$model" .onnx)
  for entry in "${attacks[@]}"; do
    IFS='|' read -r attack options <<<"$entry"
    dir=$out/$name/$attack
    if [ -f "$dir/results.json" ]; then continue; fi
    echo "== $name: $attack"
    start=$SECONDS
    # shellcheck disable=SC2086
    evaluator attack "$model" --norm linf --eps "$eps" $options --data "Models/$data-sample.npz" "${limit[@]}" --out "$dir" >/dev/null
    rm -f "$dir/adversarial.npz"
    echo "   $((SECONDS - start)) s"
  done
done

/usr/bin/python3 - "$out" "$eps" <<'PY'
import json, math, os, sys
out, eps = sys.argv[1], sys.argv[2]
attacks = ["pgd20", "apgd-ce", "apgd-t"]
print(f"\nl-inf eps {eps}; robust accuracy (95 % Wilson interval half-width on the last column), n = examples")
print("| net | n | clean | PGD-20 | APGD-CE | APGD-T | APGD-T − PGD-20 | APGD-T time | APGD-T image gradients |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for net in sorted(os.listdir(out)):
    runs = {}
    for a in attacks:
        path = os.path.join(out, net, a, "results.json")
        if os.path.exists(path):
            runs[a] = json.load(open(path))["summary"]
    if len(runs) < 3:
        continue
    n = runs["pgd20"]["examples"]
    acc = {a: runs[a]["adversarial_accuracy"] for a in attacks}
    p, z = acc["apgd-t"], 1.96
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    t = runs["apgd-t"]
    print(f"| {net} | {n:,} | {runs['pgd20']['clean_accuracy']:.1%} | {acc['pgd20']:.1%} | {acc['apgd-ce']:.1%} | {acc['apgd-t']:.1%} ± {half:.1%} | "
          f"{100 * (acc['apgd-t'] - acc['pgd20']):+.1f} | {t['seconds']:.0f} s | {t['image_evaluations']:,} |")
PY
