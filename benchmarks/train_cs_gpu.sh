#!/usr/bin/env bash
# Train the CS networks with the published (reference) schedule on a CUDA machine:
# 9 phases, 32 channels, Adam 1e-4, batch 64, 200 epochs of the 88,912 T91 blocks
# (about 278k steps per network), then benchmark them on Set11.
#
#   SPARSECODE_DATA=/path/to/data bash benchmarks/train_cs_gpu.sh [OUT_DIR] [MODELS...]
#
# OUT_DIR (default cs_weights_gpu/) receives one .safetensors file per model and ratio,
# plus checkpoints (.ckpt): rerunning the script resumes interrupted trainings and skips
# finished ones. MODELS default: ista-net+ opine-net+ (add reconnet ista-net for the
# whole table). Not run by the project's CI (no GPU there); on one modern GPU expect
# roughly 1-3 hours per network.
set -euo pipefail
: "${SPARSECODE_DATA:?set SPARSECODE_DATA to the folder holding T91/ and Set11/}"
OUT=${1:-cs_weights_gpu}
shift || true
MODELS=${*:-"ista-net+ opine-net+"}
RATIOS="0.01 0.04 0.1 0.25 0.4 0.5"
PY=${PYTHON:-python}
mkdir -p "$OUT"
for model in $MODELS; do
  stem=$(echo "$model" | sed 's/-/_/g; s/+/_plus/')
  for ratio in $RATIOS; do
    pct=$($PY -c "print(f'{$ratio*100:.4g}')")
    out="$OUT/${stem}_r${pct}.safetensors"
    if [ -f "$out" ]; then echo "done: $out"; continue; fi
    $PY -m sparsecode train-cs "$SPARSECODE_DATA/T91" --model "$model" --ratio "$ratio" \
        --schedule reference --device cuda --checkpoint "$OUT/${stem}_r${pct}.ckpt" \
        --out "$out"
  done
done
$PY benchmarks/bench_cs_networks.py --weights "$OUT" --out "$OUT/cs_networks_gpu.md" \
    --plot "$OUT/cs_networks_psnr_gpu.png"
