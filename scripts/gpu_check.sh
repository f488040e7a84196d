#!/usr/bin/env bash
# The GPU subset of the test suite in one call, for a machine with a CUDA GPU and no network:
#   scripts/gpu_check.sh [extra pytest arguments]
# It names the machine (nvidia-smi, torch, CUDA), then runs `pytest -m device`: the device
# claim tests (timing jobs alone on their GPU, CUDA initialised before or not) and a tiny run
# on cuda from datasets made in the test (tests/test_gpu.py; no data source needed). It fails
# when CUDA is not usable, so that a GPU check cannot pass by skipping its GPU tests.
# Python: $PYTHON, else .venv/bin/python, else python3 (it needs torch and the project's
# dependencies; nothing is installed). Output also goes to $OUT/gpu_check.log and a JUnit
# file $OUT/gpu_check.xml when $OUT is set (the device machine's return folder).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
report=() log=/dev/null
if [[ -n "${OUT:-}" ]]; then
    mkdir -p "$OUT"
    report=(--junitxml "$OUT/gpu_check.xml")
    log="$OUT/gpu_check.log"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
{
    echo "== $(date -u +%FT%TZ) on $(hostname), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv 2>&1 || echo "nvidia-smi: not available"
    "$PYTHON" - <<'EOF'
import sys
import torch
print(f"python {sys.version.split()[0]}, torch {torch.__version__}, CUDA build {torch.version.cuda}, "
      f"CUDA available: {torch.cuda.is_available()}, devices: {torch.cuda.device_count()}")
for index in range(torch.cuda.device_count()):
    print(f"  cuda:{index} {torch.cuda.get_device_name(index)}")
if not torch.cuda.is_available():
    sys.exit("gpu_check: CUDA is not usable here: the GPU tests would only be skipped")
EOF
    "$PYTHON" -m pytest -m device -v -rs -p no:cacheprovider "${report[@]}" "$@"
} 2>&1 | tee "$log"
