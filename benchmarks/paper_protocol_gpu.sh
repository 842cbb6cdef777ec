#!/usr/bin/env bash
# The paper protocol of the GAN and the RL agent (and the VAE) on one GPU: class 1,
# 10,000 valid samples, 5 seeds trained as one batched ensemble per model, then the
# batched-vs-sequential ratio of each model at the paper budget.
#
#   bash benchmarks/paper_protocol_gpu.sh [OUT_DIR]      # needs CUDA; ~10-20 min on an H100
#
# Prints the class-1 table (mean ± std over seeds) and writes OUT_DIR/benchmark_class1.json
# (metrics, fit and sampling seconds per model, the machine) and OUT_DIR/ensemble.json.
# Copy the numbers into docs/results.md beside the published Table 1 values.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-paper-gpu}"
python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device')"
mkdir -p "$out"
# One process at a time on the GPU (--jobs 1); a few CPU threads for the sampling side.
elpagen benchmark --models gan,rl,vae -c 1 -n 10000 --seeds 5 --protocol paper \
    --device cuda --jobs 1 --threads 4 --overwrite -o "$out"
python benchmarks/bench_ensemble.py --models vae,gan,rl --k 5 --steps 1000 \
    --protocol paper --device cuda --json "$out/ensemble.json"
