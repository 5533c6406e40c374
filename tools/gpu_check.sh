#!/usr/bin/env bash
# The GPU path end to end, in under 8 minutes, printing everything it measures. Run it first whenever a
# GPU is at hand (from the repository root, with the package installed), and record what it prints:
#   1. the device and torch build;
#   2. NB101 supernet and retrain throughput at the official width (stem 128 x 3 stacks x 3 cells,
#      batch 256), data resident on the GPU, bf16 autocast, N,C,H,W against channels-last;
#   3. a short end-to-end row: a uniform supernet at the official width for 2,000 steps, searched (80 cells;
#      the search's own first, without nb101's default training of the ten best alone)
#      and ranked against the table (100 random cells), beside the zero-cost proxies on the same cells.
# Usage: bash tools/gpu_check.sh [DATA_DIR] [OUT]
set -euo pipefail
DATA="${1:-../shared/data}"
OUT="${2:-runs/gpu-check}"
OFFICIAL='{"stem_channels": 128, "num_stacks": 3, "cells_per_stack": 3}'
mkdir -p "$OUT"
echo "== device"; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))"
echo "== throughput at the official width (images/s; data on the GPU, bf16)"
timeout 150 python tools/bench_proxy.py --device cuda --batch-size 256 --threads 4 --rounds 3 --steps 10 \
  --variants tensor+nchw tensor+cl --network "$OFFICIAL" --data-dir "$DATA" --json "$OUT/throughput.json"
echo "== end to end, uniform, official width, 2,000 steps of batch 256 (about 11 epochs)"
# the search's own pick (--rescore-top 0): ten finalists trained alone at this width would not fit the 8 minutes
timeout 270 python tools/e2e_nb101.py --out "$OUT/e2e" --data-dir "$DATA" --network "$OFFICIAL" \
  --steps 2000 --batch-size 256 --samplers uniform --seeds 0 --checkpoints 2 --top-sample 50 --threads 4 \
  --rescore-top 0
echo "== zero-cost proxies at the official width, the same 100 random cells"
timeout 60 python tools/zero_cost_nb101.py --out "$OUT/zero-cost" --data-dir "$DATA" --network "$OFFICIAL" \
  --cells 100 --top-sample 0 --threads 4 --proxies synflow naswot
echo "== done: $OUT"
