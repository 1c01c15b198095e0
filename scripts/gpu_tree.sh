#!/usr/bin/env bash
# The tracked tree (71 MB on 2026-12-04) is over the 64 MiB that one call to a lent GPU carries.
# An Omniglot training call needs none of the mini-ImageNet checkpoints and states, demo/ or docs/:
#   bash scripts/gpu_tree.sh aside    # move them to /tmp/gpu-aside (the working tree shows them deleted)
#   ... the device call: bash scripts/gpu_train.sh ... with .gpu carried ...
#   bash scripts/gpu_tree.sh back     # move them back (or: git checkout -- . for unchanged files)
# A mini-ImageNet call needs its own checkpoints and states: set those aside by hand instead.
set -eu
cd "$(dirname "$0")/.."
aside=/tmp/gpu-aside
case "${1:-}" in
  aside)
    for path in checkpoints/*miniimagenet* runs/*miniimagenet* demo docs; do
      [ -e "$path" ] || continue
      mkdir -p "$aside/$(dirname "$path")"
      mv "$path" "$aside/$path"
    done
    git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 ;;
  back)
    cp -a "$aside/." . && rm -rf "$aside"
    git status --short ;;
  *) echo "usage: $0 aside|back" >&2; exit 2 ;;
esac
