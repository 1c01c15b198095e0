#!/usr/bin/env bash
# One device call: meta-train Omniglot recipes side by side on one GPU for a fixed time
# (resumable), then pack checkpoints and resume states into $OUT. Run from the repository
# root with .gpu/ carried: the decoded Omniglot cache and the split files, made here by
#   python -c "from fewshot.data import load_omniglot_bank; load_omniglot_bank()"
#   mkdir -p .gpu/cache .gpu/data/omniglot && cp .cache/omniglot-28.npz .gpu/cache/ \
#     && cp -r ../shared/omniglot/splits .gpu/data/omniglot/
# Usage: bash scripts/gpu_train.sh SECONDS [GLOBS] [PARALLEL] [OUT]
# Measured (session 1, H200): 18 runs at once left MAML at 220 ms per step (9 ms alone with
# a CUDA graph), so give MAML few neighbours.
set -u
seconds=${1:-420}
only=${2:-*}
parallel=${3:-6}
out=${4:-${OUT:-/tmp/out}}
mkdir -p "$out"
export FEWSHOT_DATA=$PWD/.gpu/data FEWSHOT_CACHE=$PWD/.gpu/cache PYTHONUNBUFFERED=1
nvidia-smi -L
python3 -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__)"
# MPS lets the small kernels of several training processes share the GPU at once
if nvidia-cuda-mps-control -d 2>/dev/null; then
  if timeout 30 python3 -c "import torch; print('mps check', torch.ones(4, device='cuda').sum().item())"; then
    echo "MPS on"
  else
    echo quit | nvidia-cuda-mps-control; echo "MPS off (check failed)"
  fi
else
  echo "MPS unavailable"
fi
python3 scripts/train_recipes.py --only "$only" --parallel "$parallel" --time-limit "$seconds" --device cuda \
  2>&1 | tee "$out/train.log"
echo quit | nvidia-cuda-mps-control 2>/dev/null
tar czf "$out/checkpoints.tgz" checkpoints runs/*.log
# resume states, a few per archive (each file that comes back must stay under 16 MiB)
ls runs/*/state.pt | split -l 8 - /tmp/states.
for list in /tmp/states.*; do tar czf "$out/state-$(basename "$list").tgz" $(cat "$list"); done
ls -la "$out"
