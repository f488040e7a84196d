"""The start of every workflow script: the job's log, threads and device.

A script's first lines are ``log = start_job(snakemake)`` and, in a job that trains or
infers, ``device = job_device(snakemake)``. Everything else a job uses comes through its
rule's ``params:``; the GPU lock folder is read from the config directly because it
decides where a job runs, never what it computes.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simex.base.artifacts import setup_logging

if TYPE_CHECKING:
    import torch


def start_job(sm: Any) -> logging.Logger:
    """Log to the job's log file (and stderr) with timestamps; the project's logger."""
    return setup_logging(sm.log[0])


def job_device(sm: Any, *, share: bool = True) -> "torch.device":
    """The job's threads and device: a GPU of its own when the rule gave it ``resources: gpu``.

    ``share=False`` for jobs whose result is a time (Fig. 5, Fig. 6): they wait until a GPU
    has no other job on it and hold it alone, none joining, until they end; their records
    carry ``simex.devices.claim_record`` (simex.devices).
    """
    from simex.base.machine import machine_line
    from simex.devices import configure_threads, select_device

    configure_threads(sm.threads)
    logging.getLogger("simex.devices").info(machine_line())
    return select_device(sm.resources.gpu, Path(sm.config["gpu_lock_dir"]), share=share)
