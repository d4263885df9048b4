#!/usr/bin/env bash
# GPU check for when a GPU is lent (under 8 minutes on one GPU): install the project into a fresh
# venv, then time purify steps (FT, CleanCLIP, CleanerCLIP) on ViT-B-32 and RN50 with random
# weights at batch 64, in bf16 and fp32. Prints samples/s, peak memory and the CleanerCLIP/CleanCLIP
# step-time ratio (column "vs cleanclip") for each of the four runs.
#
#   bash benchmarks/gpu_check.sh            # from the repository root
#   VENV=/tmp/cc-gpu REPEATS=5 bash benchmarks/gpu_check.sh
#
# Random weights (pretrained=None) keep it offline; the install uses the machine's pip index, or
# PIP_ARGS (e.g. "--no-index --find-links wheels/") where there is none; on a machine without any
# index but with torch/open_clip installed, OFFLINE=1 builds the venv on the system site-packages
# and installs only the project (--no-deps --no-build-isolation). A run that exceeds
# STEP_TIMEOUT seconds is stopped and reported, so the script always ends.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-${TMPDIR:-/tmp}/cleanerclip-gpu-check}"
REPEATS="${REPEATS:-10}"
BATCH="${BATCH:-64}"
STEP_TIMEOUT="${STEP_TIMEOUT:-150}"
PIP_ARGS="${PIP_ARGS:-}"
started=$(date +%s)

echo "== fresh venv: $VENV"
rm -rf "$VENV"
if [[ "${OFFLINE:-0}" == 1 ]]; then
  python3 -m venv --system-site-packages "$VENV"
  "$VENV/bin/pip" install --quiet --no-deps --no-build-isolation "$ROOT"
else
  python3 -m venv "$VENV"
  # shellcheck disable=SC2086
  "$VENV/bin/pip" install --quiet --upgrade pip $PIP_ARGS
  # shellcheck disable=SC2086
  "$VENV/bin/pip" install --quiet $PIP_ARGS "$ROOT"
fi
"$VENV/bin/python" - <<'PY'
import torch, open_clip, cleanerclip_tool
print(f"cleanerclip {cleanerclip_tool.__version__}  torch {torch.__version__}  open_clip {open_clip.__version__}")
assert torch.cuda.is_available(), "no CUDA device visible to torch"
print(f"GPU: {torch.cuda.get_device_name(0)}  bf16 supported: {torch.cuda.is_bf16_supported()}")
PY
echo "== install took $(( $(date +%s) - started )) s"

status=0
for arch in ViT-B-32 RN50; do
  for precision in bf16 fp32; do
    echo
    echo "== $arch  $precision  batch $BATCH"
    if ! timeout "$STEP_TIMEOUT" "$VENV/bin/python" "$ROOT/benchmarks/bench_step.py" \
        --arch "$arch" --device cuda --precision "$precision" --batch-size "$BATCH" --repeats "$REPEATS"; then
      echo "!! $arch $precision failed or ran past ${STEP_TIMEOUT}s"
      status=1
    fi
  done
done
echo
echo "== gpu_check total $(( $(date +%s) - started )) s"
exit $status
