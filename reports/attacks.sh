#!/usr/bin/env bash
# Robust accuracy of every net of the reproduction under fixed-step PGD-20, under APGD-CE and APGD-T (the first two
# attacks of AutoAttack, Croce & Hein 2020) alone, and under the whole AutoAttack ensemble (standard version: APGD-CE,
# APGD-T, FAB-T, Square), l-inf, on the nets' 1,000-image sample (Models/<data>-sample.npz):
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
  "autoattack|"
)
for model in Models/"$data"-*.onnx; do
  name=$(basename "$model" .onnx)
  for entry in "${attacks[@]}"; do
    IFS='|' read -r attack options <<<"$entry"
    dir=$out/$name/$attack
    if [ -f "$dir/results.json" ]; then continue; fi
    echo "== $name: $attack"
    start=$SECONDS
    if [ "$attack" = autoattack ]; then
      evaluator autoattack "$model" --norm linf --eps "$eps" --data "Models/$data-sample.npz" "${limit[@]}" --out "$dir" >/dev/null
    else
      # shellcheck disable=SC2086
      evaluator attack "$model" --norm linf --eps "$eps" $options --data "Models/$data-sample.npz" "${limit[@]}" --out "$dir" >/dev/null
    fi
    rm -f "$dir/adversarial.npz"
    echo "   $((SECONDS - start)) s"
  done
done

/usr/bin/python3 - "$out" "$eps" <<'PY'
import json, math, os, sys
out, eps = sys.argv[1], sys.argv[2]
attacks = ["pgd20", "apgd-ce", "apgd-t"]
print(f"\nl-inf eps {eps}; robust accuracy (95 % Wilson interval on AutoAttack's), n = examples")
print("| net | n | clean | PGD-20 | APGD-CE | APGD-T | AutoAttack | AutoAttack − PGD-20 | APGD-T time | AutoAttack time | flags |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
for net in sorted(os.listdir(out)):
    runs = {}
    for a in attacks:
        path = os.path.join(out, net, a, "results.json")
        if os.path.exists(path):
            runs[a] = json.load(open(path))["summary"]
    aa_path = os.path.join(out, net, "autoattack", "results.json")
    if len(runs) < 3 or not os.path.exists(aa_path):
        continue
    aa = json.load(open(aa_path))
    n = runs["pgd20"]["examples"]
    acc = {a: runs[a]["adversarial_accuracy"] for a in attacks}
    low, high = aa["robust_accuracy_interval"]
    t = runs["apgd-t"]
    seconds = sum(a["seconds"] for a in aa["attacks"])
    flags = ", ".join(f["id"] for f in aa["flags"]) or "none"
    print(f"| {net} | {n:,} | {runs['pgd20']['clean_accuracy']:.1%} | {acc['pgd20']:.1%} | {acc['apgd-ce']:.1%} | {acc['apgd-t']:.1%} | "
          f"{aa['robust_accuracy']:.1%} [{low:.1%}, {high:.1%}] | {100 * (aa['robust_accuracy'] - acc['pgd20']):+.1f} | {t['seconds']:.0f} s | {seconds:.0f} s | {flags} |")
PY
