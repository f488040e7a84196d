"""A run's summary from perf/rehearsal.sh's folder: one row per job (rule, wildcards, start and
end from Snakemake's log, wall seconds; peak RSS and CPU seconds from perf/job_rss.py), and
the totals (wall, user + system, the largest job's max RSS, disk of results/).

    python perf/summarize_run.py <out> <dest.csv.gz>
"""

from __future__ import annotations

import re
import sys
from datetime import datetime
from pathlib import Path

import pandas as pd


def jobs_from_log(text: str) -> pd.DataFrame:
    rows, stamp, pending = {}, None, {}
    lines = text.splitlines()
    for index, line in enumerate(lines):
        match = re.match(r"^\[(\w{3} \w{3} +\d+ [\d:]+ \d{4})\]$", line.strip())
        if match:
            stamp = datetime.strptime(" ".join(match.group(1).split()), "%a %b %d %H:%M:%S %Y")
            continue
        match = re.match(r"^(?:local)?rule (\w+):$", line)
        if match:
            block = {"rule": match.group(1), "start": stamp, "wildcards": ""}
            for follow in lines[index + 1: index + 12]:
                if follow.strip().startswith("jobid:"):
                    block["jobid"] = int(follow.split(":")[1])
                if follow.strip().startswith("wildcards:"):
                    block["wildcards"] = follow.split(":", 1)[1].strip()
            if "jobid" in block:
                pending[block["jobid"]] = block
            continue
        match = re.match(r"^Finished jobid: (\d+)", line.strip())
        if match and int(match.group(1)) in pending:
            block = pending.pop(int(match.group(1)))
            block["end"] = stamp
            rows[block["jobid"]] = block
    for block in pending.values():
        rows.setdefault(block["jobid"], {**block, "end": None})
    frame = pd.DataFrame(rows.values())
    if len(frame):
        frame["wall_s"] = (frame["end"] - frame["start"]).dt.total_seconds()
    return frame


def main() -> None:
    out, dest = Path(sys.argv[1]), Path(sys.argv[2])
    jobs = jobs_from_log((out / "snakemake.log").read_text())
    for name in ("job_cpu.csv", "job_rss.csv"):
        if (out / name).exists():
            measured = pd.read_csv(out / name)
            print(f"# {name}: {len(measured)} job processes; peak RSS {measured.peak_rss_mib.max():.0f} MiB "
                  f"({measured.loc[measured.peak_rss_mib.idxmax(), 'script']})")
            if "cpu_s" in measured:
                print(measured.groupby("script").cpu_s.sum().sort_values(ascending=False).to_string())
    dest.parent.mkdir(parents=True, exist_ok=True)
    jobs.to_csv(dest, index=False)
    done = jobs.dropna(subset=["end"]) if len(jobs) else jobs
    print(f"# {len(done)} jobs finished; slowest:")
    print(done.sort_values("wall_s", ascending=False)[["rule", "wildcards", "wall_s"]].head(15).to_string(index=False))


if __name__ == "__main__":
    main()
