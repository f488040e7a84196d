"""The one place that picks the device a job computes on.

Snakemake counts GPUs (``resources: gpu=1``) but does not say which one a job gets, so
the job claims a free device itself: an exclusive, non-blocking ``flock`` on one lock
file per device index, held for the life of the process and released by the OS when the
process ends or dies. A job given no GPU, or on a machine without CUDA, runs on the CPU.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path
from typing import IO

import torch

log = logging.getLogger(__name__)

DEFAULT_LOCK_DIR = Path(os.environ.get("SIMEX_GPU_LOCK_DIR", "/tmp/simex-gpu-locks"))
_held_locks: list[IO[str]] = []  # kept open: closing a file releases its lock


def try_lock(lock_dir: Path, index: int) -> IO[str] | None:
    lock_dir.mkdir(parents=True, exist_ok=True)
    handle = open(lock_dir / f"gpu{index}.lock", "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def claim_slot(n_devices: int, lock_dir: Path = DEFAULT_LOCK_DIR) -> int | None:
    """Index of a device no other live process holds, or None when all are taken."""
    for index in range(n_devices):
        handle = try_lock(lock_dir, index)
        if handle is not None:
            _held_locks.append(handle)
            return index
    return None


def select_device(gpus: int, lock_dir: Path = DEFAULT_LOCK_DIR) -> torch.device:
    """CUDA when the job was given a GPU and a free one exists; otherwise the CPU."""
    if gpus <= 0:
        log.info("device: cpu (the job was given no GPU)")
        return torch.device("cpu")
    if not torch.cuda.is_available():
        log.info("device: cpu (no CUDA device on this machine)")
        return torch.device("cpu")
    n_devices = torch.cuda.device_count()
    index = claim_slot(n_devices, lock_dir)
    if index is None:
        index = os.getpid() % n_devices
        log.warning("more concurrent GPU jobs than the %d physical GPU(s): sharing cuda:%d", n_devices, index)
    torch.cuda.set_device(index)
    device = torch.device("cuda", index)
    log.info("device: %s (%s)", device, torch.cuda.get_device_name(index))
    return device


def configure_threads(threads: int) -> None:
    torch.set_num_threads(max(1, threads))
