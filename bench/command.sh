#!/usr/bin/env bash
# The command a user runs, timed whole against the plain PyTorch loop a user would write instead (issue 18):
#   evaluator attack MODEL --norm linf --eps E --attack pgd --steps K --batch B --limit N   (a new process)
#   python3 bench/reference.py pgd-all --model MODEL --data FILE --limit N …                (a new process)
# each on N and N/4 images; start-up (runtime, imports, model loading) is removed by the difference, and what is left
# is everything between the kernels and the user: clean pass, steps, final evaluation, FOSC, data and output handling.
# Alternates the two, --rounds times, and prints each round's ratio (PyTorch seconds / evaluator seconds) and the median.
#   bench/command.sh [--model Models/mnist-baseline.onnx] [--data mnist-test] [--images 2004] [--steps 10] [--eps 0.1]
#                    [--batch 256] [--threads 2] [--rounds 3]
# Measure on a quiet machine: PyTorch's OpenMP threads slow down far more than ONNX Runtime's under load.
set -euo pipefail
cd "$(dirname "$0")/.."
model=Models/mnist-baseline.onnx data=mnist-test images=2004 steps=10 eps=0.1 batch=256 threads=2 rounds=3
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model=$2 ;; --data) data=$2 ;; --images) images=$2 ;; --steps) steps=$2 ;; --eps) eps=$2 ;;
    --batch) batch=$2 ;; --threads) threads=$2 ;; --rounds) rounds=$2 ;;
    *) echo "unknown option '$1' (see the comment at the top of $0)" >&2; exit 2 ;;
  esac
  shift 2
done
small=$((images / 4))
dotnet build Evaluator -c Release --nologo -v q -clp:ErrorsOnly >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
evaluator=(dotnet Evaluator/bin/Release/net10.0/evaluator.dll)
# The reference reads a plain .npz: the same images, exported once.
"${evaluator[@]}" data export "$data" --limit "$images" --out "$work/data.npz" >/dev/null

now() { date +%s.%N; }
calc() { awk "BEGIN { print $1 }"; }
run_evaluator() {
  local start; start=$(now)
  "${evaluator[@]}" attack "$model" --data "$work/data.npz" --limit "$1" --norm linf --eps "$eps" --attack pgd --steps "$steps" \
    --batch "$batch" --threads "$threads" --out "$work/out-$1" >"$work/log" 2>&1 || { cat "$work/log" >&2; exit 1; }
  calc "$(now) - $start"
}
run_pytorch() {
  local start; start=$(now)
  /usr/bin/python3 bench/reference.py pgd-all --model "$model" --data "$work/data.npz" --limit "$1" --norm linf --eps "$eps" \
    --steps "$steps" --batch "$batch" --threads "$threads" >"$work/log" 2>&1 || { cat "$work/log" >&2; exit 1; }
  calc "$(now) - $start"
}

echo "whole command: PGD-$steps l-inf eps $eps, batch $batch, $threads threads, $images vs $small images of $data, $model"
ratios=()
for round in $(seq 1 "$rounds"); do
  e_large=$(run_evaluator "$images"); e_small=$(run_evaluator "$small")
  p_large=$(run_pytorch "$images"); p_small=$(run_pytorch "$small")
  e=$(calc "$e_large - $e_small"); p=$(calc "$p_large - $p_small")
  ratio=$(calc "$p / $e")
  ratios+=("$ratio")
  printf 'round %d: evaluator %.2f s - %.2f s = %.2f s; PyTorch %.2f s - %.2f s = %.2f s; ratio %.2fx\n' \
    "$round" "$e_large" "$e_small" "$e" "$p_large" "$p_small" "$p" "$ratio"
done
median=$(printf '%s\n' "${ratios[@]}" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
printf 'median ratio %.2fx (PyTorch time / evaluator time, start-up removed)\n' "$median"
