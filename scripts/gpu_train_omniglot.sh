#!/usr/bin/env bash
# One device call: meta-train every Omniglot recipe side by side on one GPU for a fixed
# time (resumable), then time the meta-update benchmark. Run from the repository root with
# .gpu/ carried (the decoded Omniglot cache and the split files, made by
# `python -c "from fewshot.data import load_omniglot_bank; load_omniglot_bank()"`).
# Usage: bash scripts/gpu_train_omniglot.sh SECONDS [OUT]
set -u
seconds=${1:-420}
out=${2:-${OUT:-/tmp/out}}
mkdir -p "$out"
export FEWSHOT_DATA=$PWD/.gpu/data FEWSHOT_CACHE=$PWD/.gpu/cache PYTHONUNBUFFERED=1
nvidia-smi -L
python3 -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__)"
# MPS lets the small kernels of many training processes share the GPU at once
if nvidia-cuda-mps-control -d 2>/dev/null; then
  if timeout 30 python3 -c "import torch; print('mps check', torch.ones(4, device='cuda').sum().item())"; then
    echo "MPS on"
  else
    echo quit | nvidia-cuda-mps-control; echo "MPS off (check failed)"
  fi
else
  echo "MPS unavailable"
fi
python3 scripts/train_omniglot.py --parallel 18 --time-limit "$seconds" --device cuda 2>&1 | tee "$out/train.log"
tar czf "$out/checkpoints.tgz" checkpoints runs/*.log
tar czf "$out/state-maml.tgz" runs/maml-*/state.pt
for split in vinyals lake; do
  tar czf "$out/state-metric-$split.tgz" runs/{protonet,matching,siamese}-omniglot-$split*/state.pt
done
echo quit | nvidia-cuda-mps-control 2>/dev/null
timeout 75 python3 benchmarks/meta_step.py --device cuda --repeats 5 2>&1 | tee "$out/meta_step_cuda.md"
ls -la "$out"
