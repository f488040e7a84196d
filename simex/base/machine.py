"""The machine a job runs on, as far as its float arithmetic depends on it."""

from __future__ import annotations

import os


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``; elsewhere what ``platform`` knows)."""
    import platform

    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            return next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), model)
    except OSError:
        return model


def machine_line() -> str:
    """What a job's float arithmetic depends on besides its code and seeds: the CPU model, the
    kernels torch dispatches to on it (its CPU capability: AVX2, AVX512, ...), torch's and numpy's
    versions and torch's thread count. Logged by every job (`simex.jobs.job_device`), so that two
    runs whose numbers differ by rounding can be told apart by their logs."""
    import platform

    import numpy
    import torch

    return (f"machine: {cpu_model()}, {os.cpu_count()} CPUs, {platform.machine()}; torch {torch.__version__} "
            f"(CPU capability {torch.backends.cpu.get_cpu_capability()}, {torch.get_num_threads()} threads), "
            f"numpy {numpy.__version__}")
