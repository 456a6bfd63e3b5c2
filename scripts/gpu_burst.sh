#!/usr/bin/env bash
# A training burst on a rented GPU: resume -> train -> save, inside a fixed budget.
#
#   scripts/gpu_burst.sh DATA.npz OUT_DIR [MINUTES]   (default 7 minutes of training)
#
# Resumes the projected-discriminator GAN from the shipped model file (G, and the projected
# discriminator's trainable parts, travel inside it), trains for MINUTES of wall time at
# batch 64 in bf16 where the GPU has it, and leaves OUT_DIR/model-gan.safetensors (+ .json,
# sample grid, metrics.jsonl). Everything else (install, start-up, the final save) fits in
# the remaining ~2 minutes of a 9-minute slot. Bring the result home and continue on the CPU
# with `stimstudio train gan --resume-weights OUT_DIR/model-gan.safetensors ...`, or
# evaluate it with `stimstudio evaluate-model --weights OUT_DIR/model-gan.safetensors`.
#
# The data set must be small enough to travel (the device copies at most 64 MiB with the
# working tree): make a subset here with
#   python -c "import numpy as np,sys; d=np.load(sys.argv[1]); n=int(sys.argv[3]); \
#     np.savez_compressed(sys.argv[2], **{k: d[k][:n] for k in d.files})" \
#     train.npz .burst/train.npz 2000
# (from a data set built with film-only patches, `dataset build` since 2026-11-30).
# Extra training options go in BURST_ARGS, e.g. BURST_ARGS="--pixel-channels 16".
set -euo pipefail
DATA=${1:?train.npz}
OUT=${2:?output folder}
MINUTES=${3:-7}
cd "$(dirname "$0")/.."
python3 -m pip install -q --no-deps -e . 2>/dev/null || python3 -m pip install -q -e .
PREC=fp32
python3 - <<'PY' && PREC=bf16 || true
import sys, torch
sys.exit(0 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else 1)
PY
python3 -m stimstudio train gan --data "$DATA" --run-dir "$OUT" \
  --resume-weights weights/stimstudio-minimias-128.safetensors \
  --discriminator projected --lr 0.002 --batch 64 --precision "$PREC" --device auto \
  --total-kimg 100000 --snapshot-kimg 20 --time-limit-minutes "$MINUTES" --quiet \
  ${BURST_ARGS:-}
ls -la "$OUT"
