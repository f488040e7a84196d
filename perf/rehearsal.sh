#!/usr/bin/env bash
# The paper-scale rehearsal (issue 30), run from a clone: the whole plan of
# config/paper.yaml with config/paper-rehearsal.yaml's budgets, timed, with each job's peak RSS.
#
#   perf/rehearsal.sh <clone> <out> [cores]
#
# <out>/snakemake.log, <out>/time.txt (/usr/bin/time -v: wall, and the max RSS of the largest
# process), <out>/job_rss.csv (perf/job_rss.py), <out>/du.txt (results/), <out>/load.txt (uptime
# every minute: the machine may be shared).
set -u
clone=$(realpath "$1"); out=$(realpath -m "$2"); cores=${3:-2}
mkdir -p "$out"
cd "$clone"
export PYTHONPATH="$clone"
python=${PYTHON:-python}
/usr/bin/time -v -o "$out/time.txt" "$python" -m snakemake --cores "$cores" \
    --configfile config/paper.yaml config/paper-rehearsal.yaml > "$out/snakemake.log" 2>&1 &
run=$!
"$python" "$clone/perf/job_rss.py" "$clone" "$out/job_rss.csv" --until-pid "$run" &
( while kill -0 "$run" 2>/dev/null; do echo "$(date +%s) $(cat /proc/loadavg)" >> "$out/load.txt"; sleep 60; done ) &
wait "$run"; status=$?
du -sb results > "$out/du.txt"; du -sh results >> "$out/du.txt"
echo "exit $status" >> "$out/time.txt"
wait
