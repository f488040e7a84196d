#!/usr/bin/env bash
# Issue 21's GPU measurements in one call, for a lent GPU machine (torch there, no network):
#   here:  .venv/bin/python scripts/device_carry.py --data <a current default run's results/data>
#   there: bash scripts/gpu_bench.sh          (the device tool: carry .whl and .devdata, timeout 600 s)
# Steps, each under its own time limit so that one stuck step leaves time for the others:
#   1. scripts/gpu_check.sh: the GPU subset of the tests (issue 23; fails without CUDA)
#   2. perf/bench_fused_training.py --device cuda: the fused trainer, graph-captured and
#      eager, against the sequential one, K = 10 per-class autoencoders (target: >= 200k
#      samples x members / s and >= 10x sequential)
#   3. perf/bench_pipeline.py --cores 16 --gpus 4: the default run from the carried
#      prepared data (target: <= 90 s), job-seconds, start overhead, the GPU's busy share
# Every step's output goes to $OUT (the device tool's return folder; /tmp/gpu_bench elsewhere).
# Not covered: config/paper.yaml at full scale (issue 21's third GPU target) needs the full
# datasets, which do not fit the 64 MiB the device tool carries.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu_bench}
mkdir -p "$OUT"
PYTHON=${PYTHON:-python3}
if [[ -d .whl ]]; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        || { echo "gpu_bench: installing the carried wheels failed" | tee "$OUT/gpu_bench.log"; exit 1; }
    export PYTHONPATH=/tmp/site PATH="/tmp/site/bin:$PATH"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
failed=0
step() {  # step NAME SECONDS COMMAND...: run it under a time limit, its output to $OUT/NAME.txt
    local name=$1 limit=$2
    shift 2
    echo "== $name ($(date -u +%T), limit ${limit} s): $*" | tee -a "$OUT/gpu_bench.log"
    timeout "$limit" "$@" > "$OUT/$name.txt" 2>&1
    local rc=$?
    tail -n 25 "$OUT/$name.txt"
    echo "== $name: exit $rc" | tee -a "$OUT/gpu_bench.log"
    [[ $rc -eq 0 ]] || failed=1
}
step gpu_check 110 env PYTHON="$PYTHON" OUT="$OUT/check" scripts/gpu_check.sh
step fused_training 90 "$PYTHON" perf/bench_fused_training.py --device cuda --epochs 20 --rounds 2
if [[ -d .devdata ]]; then
    step pipeline 370 "$PYTHON" perf/bench_pipeline.py --data .devdata --cores 16 --gpus 4 --workdir /tmp/simex-bench --keep
    # Snakemake's own log (job stamps) comes back even when the step ran out of time
    cat /tmp/simex-bench/.snakemake/log/*.log > "$OUT/pipeline_snakemake.log" 2>/dev/null
else
    echo "== pipeline: skipped, no .devdata (scripts/device_carry.py)" | tee -a "$OUT/gpu_bench.log"
fi
exit $failed
