#!/usr/bin/env bash
# One device call: meta-train recipes (Omniglot, mini-ImageNet) side by side on one GPU for a fixed time
# (resumable), then pack checkpoints and resume states into $OUT. Run from the repository
# root with .gpu/ carried: the decoded Omniglot cache and the split files, made here by
#   python -c "from fewshot.data import load_omniglot_bank; load_omniglot_bank()"
#   mkdir -p .gpu/cache .gpu/data/omniglot && cp .cache/omniglot-28.npz .gpu/cache/ \
#     && cp -r ../shared/omniglot/splits .gpu/data/omniglot/
# (for a recipe on the papers' input, *papers-input*, also .cache/omniglot-28-binary-nearest.npz, made
# by load_omniglot_bank(omniglot_input="binary-nearest")) and, for mini-ImageNet, .gpu/mini made by
# `python scripts/gpu_data.py pack` (56 MiB: carry .gpu alone, and keep the other tracked files
# that the run does not need from travelling).
# The tracked tree is over the 64 MiB a call carries: `bash scripts/gpu_tree.sh aside` before an
# Omniglot call, `... back` after it.
# Usage: bash scripts/gpu_train.sh SECONDS [GLOBS] [PARALLEL] [OUT]
# Give the call's timeout_s SECONDS + 150 or more: unpacking, the last validation of every
# run and the archives come after the training time (measured: 11 mini-ImageNet runs on 440 s
# of training ended 508 s after they started, plus ~40 s of unpacking before).
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
touch /tmp/started
# mini-ImageNet packed here by `python scripts/gpu_data.py pack` (.gpu/mini): decoded into the caches
if [ -d .gpu/mini ]; then
  python3 scripts/gpu_data.py unpack || exit 1
  export FEWSHOT_DATA_NOTE="training images: the mini-ImageNet train JPEGs decoded at 84x84 and re-encoded as WebP quality 70 to travel to the GPU machine (scripts/gpu_data.py); validation on the first 100 images of each class"
fi
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
# RECIPE_FLAGS=--restart: train recipes whose checkpoints travelled without their resume states
# from the start over them (without it they refuse: the recipes continue runs, never replace them)
python3 scripts/train_recipes.py --only "$only" --parallel "$parallel" --time-limit "$seconds" --device cuda \
  ${RECIPE_FLAGS:-} 2>&1 | tee "$out/train.log"
echo quit | nvidia-cuda-mps-control 2>/dev/null
# what this call wrote: checkpoints and logs in one archive, resume states four per archive.
# Each file that comes back must stay under 16 MiB, so weights or states over 15 MiB stay there
# (named in the log); the session of 2026-11-28 lost every checkpoint of its call by gzipping two
# 860 MB states past the call's limit.
new=$(find checkpoints runs -name card.json -newer /tmp/started -printf '%h\n' 2>/dev/null)
small=$(if [ -n "$new" ]; then find $new -type f -size -15M; fi)
find $new runs -type f -size +15M -newer /tmp/started -printf 'left behind (over 15 MiB): %p\n' 2>/dev/null
tar czf "$out/checkpoints.tgz" $small runs/*.log
find runs -name state.pt -newer /tmp/started -size -15M 2>/dev/null | split -l 4 - /tmp/states.
for list in /tmp/states.*; do tar czf "$out/state-$(basename "$list").tgz" $(cat "$list"); done
ls -la "$out"
