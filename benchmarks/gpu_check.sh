#!/usr/bin/env bash
# The GPU check of issue 14, in one call (about 5 minutes on one modern GPU; nothing is downloaded).
#
#   bash benchmarks/gpu_check.sh            # from the repository root, with nalu and a CUDA build of torch installed
#
# 1. the test suite's CUDA-marked tests (tests/unit/training/test_cuda.py, tests/unit/tasks/test_rng.py: the generator gives the same
#    values on CUDA as on the CPU; a seed batched equals the seed alone on the GPU; a GPU checkpoint on the CPU)
# 2. `nalu train --op mul --device cuda` solves, and its checkpoint evaluates on the CPU with no GPU visible
# 3. throughput (seed-steps/s) at S = 10^3, 10^4, 10^5 seeds for the 2-input NALU and madsen2020, with the
#    per-seed-step cost split at the largest S
# 4. the wall-clock time of the whole madsen2020 table (20 cells) at 100 seeds per cell, recipe steps
# Every part runs even if an earlier one fails; the summary at the end lists what failed.
set -uo pipefail
cd "$(dirname "$0")/.."
export NO_COLOR=1
failed=()
step() { echo; echo "== $*"; }

step "device"
python - <<'PY' || { echo "no CUDA device visible to torch (torch.cuda.is_available() is False)"; exit 1; }
import sys
import torch
if not torch.cuda.is_available():
    sys.exit(1)
print(torch.__version__, torch.cuda.get_device_name(0))
PY

step "1. CUDA-marked tests"
timeout -k 10 90 python -m pytest -q -m cuda tests/ || failed+=("cuda tests")

step "2. nalu train --op mul --device cuda, then eval on the CPU"
run_dir=$(mktemp -d)/mul-cuda
if timeout -k 10 60 nalu train --op mul --device cuda --out "$run_dir" --json > "$run_dir.json"; then
    python - "$run_dir.json" <<'PY' || failed+=("train on cuda: not solved or not on the GPU")
import json, sys
r = json.load(open(sys.argv[1]))
print(f"device {r['device']}, solved {r['solved']}/{r['total']}, {r['seed_steps_per_second']:,.0f} seed-steps/s")
assert r["device"].startswith("cuda") and r["solved"] == r["total"]
PY
    CUDA_VISIBLE_DEVICES="" timeout -k 10 30 nalu eval "$run_dir" --json > "$run_dir.eval.json" \
        && python -c "import json,sys; r=json.load(open(sys.argv[1])); print('eval on the CPU:', json.dumps(r)[:300])" "$run_dir.eval.json" \
        || failed+=("eval of a CUDA checkpoint on the CPU")
else
    failed+=("nalu train --device cuda")
fi

step "3. throughput on the GPU (batched side only; train.compile off: no compile time in a 5-minute check)"
timeout -k 10 90 python benchmarks/throughput.py --device cuda --no-loop --compile off \
    --sizes 1000,10000,100000 --steps 20 || failed+=("throughput")

step "4. the whole madsen2020 table, 100 seeds per cell, recipe steps (stopped after 150 s)"
start=$(date +%s)
if timeout -k 10 150 nalu benchmark --seeds 100 --set train.device=cuda --set train.compile=off > /dev/null; then
    echo "madsen2020 table (20 cells x 100 seeds): $(( $(date +%s) - start )) s"
else
    echo "madsen2020 table did not finish within 150 s (or failed)"; failed+=("madsen2020 table")
fi

step "summary"
if [ ${#failed[@]} -eq 0 ]; then echo "all GPU checks passed"; else printf 'FAILED: %s\n' "${failed[@]}"; exit 1; fi
