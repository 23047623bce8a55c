#!/usr/bin/env bash
# Train CSCnet and Deep K-SVD at sigma = 15, 25, 50 with the reference GPU schedule
# (SCHEDULES["gpu"] in sparsecode/nn/denoise/training.py: 150k Adam steps, 64x64 crops,
# all 64 shifts for CSCnet), one model after the other, on one CUDA device.
#
#   SPARSECODE_DATA=/path/to/data bash benchmarks/train_denoisers_gpu.sh [OUT_FOLDER]
#
# Needs $SPARSECODE_DATA/Train400 and a CUDA build of torch. Not run for the shipped
# weights (those come from the CPU schedule); compare the results with
#   python benchmarks/bench_denoise_learned.py --methods cscnet deep-ksvd
# after copying the files into sparsecode/nn/denoise/weights/ (or pass --weights to
# `sparsecode denoise`).
set -euo pipefail
OUT="${1:-weights_gpu}"
mkdir -p "$OUT"
: "${SPARSECODE_DATA:?set SPARSECODE_DATA to the folder holding Train400/}"
python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'CUDA is not available')"
python -m sparsecode train-denoiser --model cscnet deep-ksvd --sigma 15 25 50 \
    --schedule gpu --device cuda --threads 4 --out "$OUT" 2>&1 | tee "$OUT/train.log"
