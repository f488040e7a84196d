"""Peak resident memory of each Snakemake job of one run, by polling the process table.

Snakemake's ``benchmark:`` directive is set on a few rules only; this watches every job
without touching the rules: each ``script:`` job runs as ``python <root>/.snakemake/scripts/
tmpXXXX.<script>.py``, so a process whose command line holds ``<root>/.snakemake/scripts/``
is a job of this run. Writes one row per job process: script, pid, first and last seen (s
since start), peak RSS (MiB, sampled every ``--interval`` s, so a short peak may be missed),
and its CPU seconds (user + system) at the last sample (load-independent, unlike the wall time).

    python perf/job_rss.py <workdir> <out.csv> [--interval 1] [--until-pid PID]
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import time
from pathlib import Path


TICKS = os.sysconf("SC_CLK_TCK")


def snapshot(marker: str) -> dict[int, tuple[str, int, float]]:
    """pid -> (script name, RSS in KiB, CPU seconds so far) of the processes whose command line holds ``marker``."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if marker not in command:
                continue
            rss = next(int(line.split()[1]) for line in (entry / "status").read_text().splitlines()
                       if line.startswith("VmRSS:"))
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cpu = (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime
        except (OSError, StopIteration):
            continue
        match = re.search(r"tmp[^./ ]*\.([\w-]+)\.py", command)
        found[int(entry.name)] = (match.group(1) if match else command.split()[-1], rss, cpu)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir")
    parser.add_argument("out")
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--until-pid", type=int, help="stop when this process has ended")
    args = parser.parse_args()
    marker = str(Path(args.workdir).resolve() / ".snakemake" / "scripts") + "/"
    start, seen = time.time(), {}
    while args.until_pid is None or Path(f"/proc/{args.until_pid}").exists():
        now = time.time() - start
        for pid, (script, rss, cpu) in snapshot(marker).items():
            row = seen.setdefault(pid, {"script": script, "pid": pid, "first_s": round(now, 1), "peak_rss_mib": 0})
            row["last_s"] = round(now, 1)
            row["peak_rss_mib"] = max(row["peak_rss_mib"], round(rss / 1024, 1))
            row["cpu_s"] = round(cpu, 1)
        with open(args.out + ".tmp", "w", newline="") as handle:
            writer = csv.DictWriter(handle, ["script", "pid", "first_s", "last_s", "peak_rss_mib", "cpu_s"])
            writer.writeheader()
            writer.writerows(seen.values())
        os.replace(args.out + ".tmp", args.out)
        time.sleep(args.interval)


if __name__ == "__main__":
    main()
