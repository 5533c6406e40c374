#!/usr/bin/env bash
# The population searches' GPU path, in about two minutes: each of evolve, pbt and dnc on a local Ray
# whose tasks ask for a GPU (--gpus-per-candidate), on the embedded digits. Every task must train on
# its GPU and the driver must write its result. Run it (from the repository root, package installed)
# whenever a GPU is at hand, after tools/gpu_check.sh, and record what it prints.
# Usage: bash tools/gpu_population_check.sh [OUT]
set -euo pipefail
OUT="${1:-runs/gpu-population-check}"
rm -rf "$OUT"; mkdir -p "$OUT"
python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))"
echo "== evolve, 2 generations of 3, a quarter GPU per task"
time timeout 150 samplenas evolve --out "$OUT/evolve" --data digits --limit 256 --population 3 --generations 2 \
  --epochs-per-candidate 1 --final-epochs 1 --max-layers 3 --reductions 1 --gpus-per-candidate 0.25 --quiet
echo "== pbt, 4 members, 2 rounds, half a GPU per member"
time timeout 150 samplenas pbt --out "$OUT/pbt" --space autoencoder --data digits --limit 256 --epochs 2 \
  --step-epochs 1 -N 4 --tau 0.5 --task denoising --network '{"max_layers": 2, "num_reductions": 1}' \
  --gpus-per-candidate 0.5 --quiet
echo "== dnc, mlp, 3 evaluations per stage, one GPU per task"
time timeout 150 samplenas dnc --out "$OUT/dnc" --model mlp --data digits --epochs 2 --evaluations 3 \
  --gpus-per-candidate 1 --quiet
echo "== done: $OUT"
