"""The one place that picks the device a job computes on.

Snakemake counts GPUs (``resources: gpu=1`` per job, ``--resources gpu=N`` per run) but
does not say *which* GPU a job gets, so each job claims a free device itself:

1. A job given ``gpu=0`` runs on the CPU and hides every GPU from itself
   (``CUDA_VISIBLE_DEVICES=""``), so no library opens a CUDA context behind its back.
2. Otherwise the candidate devices are the entries of ``CUDA_VISIBLE_DEVICES`` (set by
   the user, SLURM or Kubernetes) or, when it is unset, every GPU NVML counts. Counting
   goes through NVML and does not initialise CUDA.
3. The job takes an exclusive, non-blocking ``flock`` on one lock file per *physical*
   device in the lock directory (config ``gpu_lock_dir``; use a node-local disk). The
   lock lives as long as the process: the OS releases it when the job ends or is
   killed, even by SIGKILL, so a crashed job never leaves a slot taken.
4. Before torch touches CUDA the job narrows ``CUDA_VISIBLE_DEVICES`` to the claimed
   device, so torch, cuDNN and every other library in the process see only that GPU
   (as ``cuda:0``). If CUDA was already initialised the narrowing cannot take effect;
   the job then selects the claimed ordinal with ``torch.cuda.set_device`` instead.
5. The log says which device the job got, which physical GPU it is and which lock holds it.
   A GPU job that computes on the CPU all the same, or that cannot open its GPU, says
   what the scheduler gave it (``gpu_situation``: Slurm's GPU GRES variables and
   ``CUDA_VISIBLE_DEVICES``); the second case raises ``GpuNotVisibleError``.

More GPU jobs than GPUs (``--resources gpu=4`` on a 2-GPU machine): a job that finds
every slot taken says so at once, waits up to ``wait_s`` (default 60 s, env
``SIMEX_GPU_WAIT_S``) for a slot to free up, and then *shares* a device with a running
job, logging a warning that names the device and its holder. Sharing is safe for this
project's small LeNet-5 models (a few hundred MiB each) and keeps every Snakemake slot
busy; set ``--resources gpu=<number of GPUs>`` to keep one job per device. Jobs whose
result is a time call ``select_device(..., share=False)``: they wait for a GPU of their own.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Mapping, Sequence

if TYPE_CHECKING:  # torch is imported lazily: claiming a slot must not need it
    import torch

log = logging.getLogger(__name__)

DEFAULT_LOCK_DIR = Path(os.environ.get("SIMEX_GPU_LOCK_DIR", "/tmp/simex-gpu-locks"))
DEFAULT_WAIT_S = 60.0
DEFAULT_POLL_S = 1.0
VISIBLE_DEVICES = "CUDA_VISIBLE_DEVICES"
# Variables through which a scheduler names the physical GPUs it gave the job, in the
# order of the visible devices: SLURM (node-global indices; inside a device cgroup the
# job itself sees them as 0..n-1) and the NVIDIA container runtime used by Kubernetes.
PHYSICAL_ID_VARIABLES = ("SLURM_STEP_GPUS", "SLURM_JOB_GPUS", "NVIDIA_VISIBLE_DEVICES")
# What Slurm sets in a job given GPU GRES (--gpus, --gres=gpu): how many on this node, and which.
SLURM_GPU_VARIABLES = ("SLURM_GPUS_ON_NODE", "SLURM_STEP_GPUS", "SLURM_JOB_GPUS")


class GpuNotVisibleError(RuntimeError):
    """A job was given a GPU that CUDA cannot open in this process."""


@dataclass(frozen=True)
class Claim:
    """A device this process computes on, and whether it holds it alone."""

    visible_index: int  # position among the candidate devices (the CUDA ordinal before narrowing)
    token: str  # the candidate's CUDA_VISIBLE_DEVICES entry (index, GPU-/MIG- UUID)
    physical_id: str  # what the lock is named after: the same GPU has the same id for every job
    lock_path: Path
    exclusive: bool  # False: every slot was taken and the device is shared
    waited_s: float


_held: dict[str, IO[str]] = {}  # physical id -> open lock file; closing it releases the lock
_claim: Claim | None = None  # the claim of this process, reused by later select_device calls
_ordinal = 0  # the claimed device's CUDA ordinal in this process


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def visible_device_tokens(environ: Mapping[str, str] | None = None) -> list[str]:
    """The devices a job may claim, as ``CUDA_VISIBLE_DEVICES`` entries.

    ``CUDA_VISIBLE_DEVICES`` wins when set (an empty value or ``-1`` hides every GPU; as
    in CUDA, the list ends at the first invalid entry). Otherwise NVML's device count,
    which torch reads without initialising CUDA.
    """
    environ = os.environ if environ is None else environ
    if VISIBLE_DEVICES in environ:
        tokens = []
        for token in _split(environ[VISIBLE_DEVICES]):
            if token.startswith("-"):
                break
            tokens.append(token)
        return tokens
    return [str(index) for index in range(_count_devices()[0])]


def _count_devices() -> tuple[int, bool]:
    """The number of GPUs, and whether it was counted without initialising the CUDA driver.

    NVML counts without touching CUDA; if NVML is unavailable, counting initialises the
    driver, which fixes CUDA_VISIBLE_DEVICES for the rest of the process.
    """
    import torch

    count_nvml = getattr(torch.cuda, "_device_count_nvml", None)
    if count_nvml is not None:
        try:
            count = count_nvml()
        except Exception:  # noqa: BLE001 - any NVML trouble: count through CUDA instead
            count = -1
        if count >= 0:
            return count, True
    return torch.cuda.device_count(), False



def physical_ids(tokens: Sequence[str], environ: Mapping[str, str] | None = None) -> list[str]:
    """A node-wide name per candidate device, so two jobs lock the same GPU by the same name.

    Under SLURM with device cgroups every job sees its GPU as ``0``; the scheduler's own
    list (node-global indices) tells them apart. Without such a list the tokens are the
    names (physical indices or UUIDs on a workstation).
    """
    environ = os.environ if environ is None else environ
    for variable in PHYSICAL_ID_VARIABLES:
        ids = _split(environ.get(variable))
        if len(ids) == len(tokens) and not {i.lower() for i in ids} & {"all", "none", "void"}:
            return ids
    return list(tokens)


def gpu_situation(environ: Mapping[str, str] | None = None) -> str:
    """What the scheduler gave this job in GPUs, in words: Slurm's GRES and CUDA_VISIBLE_DEVICES."""
    environ = os.environ if environ is None else environ
    visible = environ.get(VISIBLE_DEVICES)
    cuda = f"{VISIBLE_DEVICES} is unset" if visible is None else f"{VISIBLE_DEVICES}={visible!r}"
    job = environ.get("SLURM_JOB_ID")
    if job is None:
        return f"not a Slurm job; {cuda}"
    given = [f"{name}={environ[name]}" for name in SLURM_GPU_VARIABLES if environ.get(name)]
    if not given or environ.get("SLURM_GPUS_ON_NODE") == "0":
        return (f"Slurm job {job} was given no GPU GRES (SLURM_GPUS_ON_NODE unset): its submission asked for "
                f"none (the profile's gpu resource for this rule) or the partition has none; {cuda}")
    return f"Slurm job {job} was given GRES gpu: {', '.join(given)}; {cuda}"


def _lock_path(lock_dir: Path, physical_id: str) -> Path:
    return lock_dir / f"gpu-{re.sub(r'[^A-Za-z0-9_.-]', '_', physical_id)}.lock"


def _open_lock_file(path: Path) -> IO[str]:
    """The lock file, created world-writable so jobs of other users can lock it too."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            os.fchmod(fd, 0o666)
        except PermissionError:  # somebody else's file: fine, we can write it
            pass
        return os.fdopen(fd, "r+")
    except PermissionError:
        # flock needs no write access: lock another user's read-only file all the same
        return open(path, "r")


def _prepare_lock_dir(lock_dir: Path) -> None:
    try:
        if not lock_dir.is_dir():
            lock_dir.mkdir(parents=True, exist_ok=True)
            try:  # like /tmp: every user may add lock files, none may delete others'
                lock_dir.chmod(0o1777)
            except PermissionError:
                pass
    except OSError as error:
        raise RuntimeError(f"cannot create the GPU lock directory {lock_dir} ({error}); set config "
                           "gpu_lock_dir to a writable directory on the node's local disk") from error


def try_lock(lock_dir: Path, physical_id: str) -> IO[str] | None:
    """The open, exclusively locked lock file of one device, or None while another process holds it."""
    path = _lock_path(lock_dir, physical_id)
    try:
        handle = _open_lock_file(path)
    except OSError as error:
        raise RuntimeError(f"cannot open the GPU lock file {path} ({error}); set config gpu_lock_dir "
                           "to a writable directory on the node's local disk") from error
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    if handle.writable():  # who holds it, for the messages of jobs that find it taken
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%dT%H:%M:%S')}\n")
        handle.flush()
    return handle


def holder(lock_dir: Path, physical_id: str) -> str:
    """Who holds a device's lock, as written by the holder ('unknown' if unreadable)."""
    try:
        return _lock_path(lock_dir, physical_id).read_text().strip() or "unknown"
    except OSError:
        return "unknown"


def _try_all(lock_dir: Path, tokens: Sequence[str], ids: Sequence[str], waited_s: float) -> Claim | None:
    for index, (token, physical_id) in enumerate(zip(tokens, ids)):
        handle = try_lock(lock_dir, physical_id)
        if handle is not None:
            _held[physical_id] = handle
            return Claim(index, token, physical_id, _lock_path(lock_dir, physical_id), True, waited_s)
    return None


def claim_device(
    lock_dir: Path,
    tokens: Sequence[str],
    ids: Sequence[str] | None = None,
    *,
    wait_s: float | None = DEFAULT_WAIT_S,
    poll_s: float = DEFAULT_POLL_S,
    share: bool = True,
) -> Claim:
    """Claim a device no other live process holds; after ``wait_s`` without one, share one.

    ``tokens`` are the candidate devices (``CUDA_VISIBLE_DEVICES`` entries), ``ids`` their
    node-wide names (default: the tokens). Never returns the same device exclusively to two
    live processes; the lock is released when this process ends or calls ``release()``.
    ``share=False`` (jobs that measure time): never share; wait up to ``wait_s`` (None:
    until a device frees up) and then raise.
    """
    if not tokens:
        raise ValueError("claim_device needs at least one candidate device")
    ids = list(tokens) if ids is None else list(ids)
    if len(ids) != len(tokens):
        raise ValueError(f"{len(tokens)} devices but {len(ids)} physical ids")
    lock_dir = Path(lock_dir)
    _prepare_lock_dir(lock_dir)
    started = time.monotonic()
    claim = _try_all(lock_dir, tokens, ids, 0.0)
    if claim is not None:
        return claim
    holders = "; ".join(f"GPU {physical_id}: {holder(lock_dir, physical_id)}" for physical_id in ids)
    limit = float("inf") if wait_s is None else wait_s
    log.warning("all %d GPU(s) of this machine are held by other running jobs (%s): more GPU jobs are "
                "running than there are GPUs (Snakemake's --resources gpu exceeds %d). Waiting %s for one "
                "to free up%s.", len(ids), holders, len(ids),
                "until one frees up" if wait_s is None else f"up to {wait_s:.0f} s",
                ", then sharing one" if share else " (this job does not share a GPU)")
    while (waited := time.monotonic() - started) < limit:
        time.sleep(max(0.0, min(poll_s, limit - waited)))
        claim = _try_all(lock_dir, tokens, ids, time.monotonic() - started)
        if claim is not None:
            return claim
    if not share:
        raise RuntimeError(f"no GPU freed up within {limit:.0f} s and this job must not share one ({holders}); "
                           f"run with --resources gpu={len(ids)} or fewer")
    index = os.getpid() % len(tokens)
    log.warning("no GPU freed up within %.0f s: SHARING GPU %s with %s. Run with --resources gpu=%d "
                "to give every GPU job a device of its own.", wait_s, ids[index],
                holder(lock_dir, ids[index]), len(ids))
    return Claim(index, tokens[index], ids[index], _lock_path(lock_dir, ids[index]), False,
                 time.monotonic() - started)


def release() -> None:
    """Give up this process's device claim (the OS does the same when the process ends)."""
    global _claim, _ordinal
    for handle in _held.values():
        handle.close()
    _held.clear()
    _claim, _ordinal = None, 0


def _wait_from_environment() -> float:
    value = os.environ.get("SIMEX_GPU_WAIT_S")
    if value is None:
        return DEFAULT_WAIT_S
    try:
        return max(0.0, float(value))
    except ValueError:
        raise ValueError(f"SIMEX_GPU_WAIT_S must be a number of seconds, got {value!r}") from None


def _cpu(reason: str) -> torch.device:
    import torch

    log.info("device: cpu (%s)", reason)
    return torch.device("cpu")


def select_device(
    gpus: int,
    lock_dir: Path | str | None = None,
    *,
    devices: Sequence[str] | None = None,
    wait_s: float | None = None,
    poll_s: float = DEFAULT_POLL_S,
    share: bool = True,
) -> torch.device:
    """The device this job computes on: a claimed GPU when it was given one, else the CPU.

    ``gpus`` is the job's ``resources.gpu``; ``lock_dir`` the config's ``gpu_lock_dir``
    (``$VARS`` and ``~`` expanded; default ``$SIMEX_GPU_LOCK_DIR`` or /tmp/simex-gpu-locks).
    ``devices`` overrides the candidate devices (``CUDA_VISIBLE_DEVICES`` entries);
    ``wait_s`` how long to wait for a free GPU before sharing (default
    ``$SIMEX_GPU_WAIT_S`` or 60 s). ``share=False`` for jobs whose result is a time: they
    wait for a GPU of their own (as long as ``wait_s``, default: until one frees up) instead
    of sharing one. Call it before anything touches CUDA.
    """
    global _claim, _ordinal
    import torch

    if gpus <= 0:
        if not torch.cuda.is_initialized():
            os.environ[VISIBLE_DEVICES] = ""  # a CPU job opens no CUDA context anywhere
        return _cpu("the job was given no GPU: resources gpu=0")
    if _claim is not None:
        return _use(_claim)
    driver_untouched = True  # CUDA_VISIBLE_DEVICES can still be narrowed
    if devices is not None:
        tokens = list(devices)
    elif VISIBLE_DEVICES in os.environ:
        tokens = visible_device_tokens()
    else:
        count, driver_untouched = _count_devices()
        tokens = [str(index) for index in range(count)]
    if not tokens:
        seen = "no CUDA device on this machine" if VISIBLE_DEVICES not in os.environ else "no CUDA device visible"
        return _cpu(f"{seen}: {gpu_situation()}")
    if gpus > 1:
        log.info("the job was given %d GPUs; it computes on one", gpus)
    lock_dir = DEFAULT_LOCK_DIR if lock_dir is None else Path(os.path.expanduser(os.path.expandvars(str(lock_dir))))
    if wait_s is None and share:
        wait_s = _wait_from_environment()
    claim = claim_device(lock_dir, tokens, physical_ids(tokens), wait_s=wait_s, poll_s=poll_s, share=share)
    if torch.cuda.is_initialized() or not driver_untouched:  # too late to narrow: select the ordinal
        ordinal = claim.visible_index
    else:  # libraries in this process see the claimed GPU only, as cuda:0
        os.environ[VISIBLE_DEVICES] = claim.token
        ordinal = 0
    if not torch.cuda.is_available():
        release()
        return _cpu(f"CUDA is not usable here (torch {torch.__version__}, CUDA build {torch.version.cuda}); "
                    f"released GPU {claim.physical_id}; {gpu_situation()}")
    _claim, _ordinal = claim, ordinal
    return _use(claim)


def _use(claim: Claim) -> torch.device:
    import torch

    ordinal = _ordinal
    try:
        torch.cuda.set_device(ordinal)
        name = torch.cuda.get_device_name(ordinal)
    except RuntimeError as error:  # e.g. a device cgroup without the GPU, a stale CUDA_VISIBLE_DEVICES
        message = (f"this job was given GPU {claim.physical_id} (cuda:{ordinal}) but CUDA cannot open it: {error}. "
                   f"{gpu_situation()}. On Slurm the job must hold the GPU as GRES (the profile's gpu resource "
                   f"for the rule) and CUDA_VISIBLE_DEVICES must name it")
        log.error("%s", message)
        release()
        raise GpuNotVisibleError(message) from error
    device = torch.device("cuda", ordinal)
    log.info("device: %s = physical GPU %s (%s), %s; %s=%s; lock %s%s", device, claim.physical_id,
             name, "exclusive" if claim.exclusive else "SHARED with another job",
             VISIBLE_DEVICES, os.environ.get(VISIBLE_DEVICES, "(unset)"), claim.lock_path,
             f" after waiting {claim.waited_s:.0f} s" if claim.waited_s >= 1 else "")
    return device


def configure_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(max(1, threads))
