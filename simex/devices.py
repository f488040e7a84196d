"""The one place that picks the device a job computes on.

Snakemake counts GPUs (``resources: gpu=1`` per job, ``--resources gpu=N`` per run) but
does not say *which* GPU a job gets, so each job claims a free device itself:

1. A job given ``gpu=0`` runs on the CPU and hides every GPU from itself
   (``CUDA_VISIBLE_DEVICES=""``), so no library opens a CUDA context behind its back.
2. Otherwise the candidate devices are the entries of ``CUDA_VISIBLE_DEVICES`` (set by
   the user, SLURM or Kubernetes) or, when it is unset, every GPU NVML counts. Counting
   goes through NVML and does not initialise CUDA.
3. The job claims one device through ``flock`` locks on files named after the *physical*
   device in the lock directory (config ``gpu_lock_dir``; use a node-local disk). Locks
   live as long as the process: the OS releases them when the job ends or is killed, even
   by SIGKILL, so a crashed job never leaves a device taken.
4. Before torch touches CUDA the job narrows ``CUDA_VISIBLE_DEVICES`` to the claimed
   device, so torch, cuDNN and every other library in the process see only that GPU
   (as ``cuda:0``). If CUDA was already initialised the narrowing cannot take effect;
   the job then selects the claimed ordinal with ``torch.cuda.set_device`` instead.
5. The log says which device the job got, which physical GPU it is, whether it holds it
   alone, and which lock holds it. A GPU job that computes on the CPU all the same, or that
   cannot open its GPU, says what the scheduler gave it (``gpu_situation``: Slurm's GPU GRES
   variables and ``CUDA_VISIBLE_DEVICES``); the second case raises ``GpuNotVisibleError``.

The lock files of one device ``<id>``:

- ``gpu-<id>.lock``, the *slot*: held (``LOCK_EX``) by the device's owner, a job that found
  it free. It says who holds it, for the messages of jobs that find it taken.
- ``gpu-<id>.users``, the *occupancy*: every job computing on the device holds it shared
  (``LOCK_SH``), owners and sharers alike; a job that must be alone holds it exclusively
  (``LOCK_EX``), so it runs only when no other job is on the device, and no job joins it
  while it runs.
- ``gpu-<id>.turnstile``, the *intent*: a job that must be alone holds it (``LOCK_EX``) from
  the moment it queues for the device until it holds the occupancy exclusively. Every other
  job takes it (non-blocking) and releases it at once before taking the occupancy shared,
  so no job joins a device a timing job waits for: the jobs already there finish, none
  follow, and the timing job cannot be starved by a stream of sharers.

Every job takes its locks non-blocking, in the order turnstile, slot, occupancy, and
polls: a job that must wait never blocks inside ``flock`` holding a lock another job
needs, and every wait has a clock (``wait_s``).

More GPU jobs than GPUs (``--resources gpu=4`` on a 2-GPU machine): a job that finds
every slot taken says so at once, waits up to ``wait_s`` (default 60 s, env
``SIMEX_GPU_WAIT_S``) for a slot to free up, and then *shares* a device with a running
job (any device no timing job holds or waits for; if every one does, it waits for the
first to come free), logging a warning that names the device and its holder. Sharing is
safe for this project's small LeNet-5 models (a few hundred MiB each) and keeps every
Snakemake slot busy; set ``--resources gpu=<number of GPUs>`` to keep one job per device.

Jobs whose result is a time call ``select_device(..., share=False)``: they queue for a
device (its turnstile), wait until no other job is on it, and hold it alone until they
end. Their records carry :func:`claim_record`: the device, ``device_use`` (``alone``,
``shared``, ``cpu``) and the wait before the claim.
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
from simex.base.errors import SimexError

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


class GpuNotVisibleError(SimexError, RuntimeError):
    """A job was given a GPU that CUDA cannot open in this process."""


@dataclass(frozen=True)
class Claim:
    """A device this process computes on, and how it holds it."""

    visible_index: int  # position among the candidate devices (the CUDA ordinal before narrowing)
    token: str  # the candidate's CUDA_VISIBLE_DEVICES entry (index, GPU-/MIG- UUID)
    physical_id: str  # what the locks are named after: the same GPU has the same id for every job
    lock_path: Path  # the device's slot lock
    exclusive: bool  # holds the device's slot; False: every slot was taken and the device is shared
    waited_s: float
    alone: bool = False  # holds the occupancy exclusively: no other job is on the device while this one lives


_held: list[IO[str]] = []  # the open lock files of this process's claim; closing them releases the locks
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


def _lock_path(lock_dir: Path, physical_id: str, kind: str = "lock") -> Path:
    """One of a device's lock files: ``lock`` (the slot), ``users`` (occupancy), ``turnstile`` (intent)."""
    return lock_dir / f"gpu-{re.sub(r'[^A-Za-z0-9_.-]', '_', physical_id)}.{kind}"


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


def _try_flock(lock_dir: Path, physical_id: str, kind: str, mode: int) -> IO[str] | None:
    """One lock file of a device, open and locked (``mode``: LOCK_EX or LOCK_SH), or None while it is taken."""
    path = _lock_path(lock_dir, physical_id, kind)
    try:
        handle = _open_lock_file(path)
    except OSError as error:
        raise RuntimeError(f"cannot open the GPU lock file {path} ({error}); set config gpu_lock_dir "
                           "to a writable directory on the node's local disk") from error
    try:
        fcntl.flock(handle, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def _write_holder(handle: IO[str], note: str = "") -> None:
    """Who holds a lock, for the messages of jobs that find it taken."""
    if handle.writable():
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%dT%H:%M:%S')}"
                     f"{note}\n")
        handle.flush()


def _close(handles: Sequence[IO[str]]) -> None:
    for handle in handles:
        handle.close()


def try_lock(lock_dir: Path, physical_id: str) -> IO[str] | None:
    """The open, exclusively locked slot file of one device, or None while another process holds it."""
    handle = _try_flock(lock_dir, physical_id, "lock", fcntl.LOCK_EX)
    if handle is not None:
        _write_holder(handle)
    return handle


def holder(lock_dir: Path, physical_id: str) -> str:
    """Who holds a device's slot, as written by the holder ('unknown' if unreadable)."""
    try:
        return _lock_path(lock_dir, physical_id).read_text().strip() or "unknown"
    except OSError:
        return "unknown"


def _join(lock_dir: Path, physical_id: str, own_slot: bool) -> list[IO[str]] | None:
    """Join a device no job that must be alone holds or queues for: pass its turnstile (shared:
    joiners never hold each other up), take its slot when ``own_slot``, and its occupancy shared.
    The open lock files, or None."""
    turnstile = _try_flock(lock_dir, physical_id, "turnstile", fcntl.LOCK_SH)
    if turnstile is None:  # a job that must be alone queues for this device
        return None
    try:
        handles: list[IO[str]] = []
        if own_slot:
            slot = _try_flock(lock_dir, physical_id, "lock", fcntl.LOCK_EX)
            if slot is None:
                return None
            handles.append(slot)
        users = _try_flock(lock_dir, physical_id, "users", fcntl.LOCK_SH)
        if users is None:  # a job that must be alone computes on this device
            _close(handles)
            return None
        if own_slot:
            _write_holder(handles[0])
        return [*handles, users]
    finally:
        turnstile.close()


def _alone(lock_dir: Path, physical_id: str) -> list[IO[str]] | None:
    """A device's slot and its occupancy exclusively (no other job on it), or None."""
    slot = _try_flock(lock_dir, physical_id, "lock", fcntl.LOCK_EX)
    if slot is None:
        return None
    users = _try_flock(lock_dir, physical_id, "users", fcntl.LOCK_EX)
    if users is None:
        slot.close()
        return None
    _write_holder(slot, " (alone: a job whose result is a time)")
    return [slot, users]


def _claimed(handles: list[IO[str]], lock_dir: Path, index: int, tokens: Sequence[str], ids: Sequence[str],
             started: float, *, exclusive: bool, alone: bool = False) -> Claim:
    _held.extend(handles)
    return Claim(index, tokens[index], ids[index], _lock_path(lock_dir, ids[index]), exclusive,
                 time.monotonic() - started, alone)


def _take_slot(lock_dir: Path, tokens: Sequence[str], ids: Sequence[str], started: float) -> Claim | None:
    for index, physical_id in enumerate(ids):
        handles = _join(lock_dir, physical_id, own_slot=True)
        if handles is not None:
            return _claimed(handles, lock_dir, index, tokens, ids, started, exclusive=True)
    return None


def _share(lock_dir: Path, tokens: Sequence[str], ids: Sequence[str], started: float) -> Claim | None:
    first = os.getpid() % len(ids)  # spread the sharers over the devices
    for index in [*range(first, len(ids)), *range(first)]:
        handles = _join(lock_dir, ids[index], own_slot=False)
        if handles is not None:
            return _claimed(handles, lock_dir, index, tokens, ids, started, exclusive=False)
    return None


def _holders(lock_dir: Path, ids: Sequence[str]) -> str:
    return "; ".join(f"GPU {physical_id}: {holder(lock_dir, physical_id)}" for physical_id in ids)


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
    live processes; the locks are released when this process ends or calls ``release()``.
    ``share=False`` (jobs that measure time): the device alone, no other job on it while
    this process lives; wait up to ``wait_s`` (None: as long as it takes) and then raise.
    """
    if not tokens:
        raise ValueError("claim_device needs at least one candidate device")
    ids = list(tokens) if ids is None else list(ids)
    if len(ids) != len(tokens):
        raise ValueError(f"{len(tokens)} devices but {len(ids)} physical ids")
    lock_dir = Path(lock_dir)
    _prepare_lock_dir(lock_dir)
    if not share:
        return _claim_alone(lock_dir, tokens, ids, wait_s, poll_s)
    started = time.monotonic()
    claim = _take_slot(lock_dir, tokens, ids, started)
    if claim is not None:
        return claim
    limit = float("inf") if wait_s is None else wait_s
    log.warning("all %d GPU(s) of this machine are held by other running jobs (%s): more GPU jobs are "
                "running than there are GPUs (Snakemake's --resources gpu exceeds %d). Waiting %s for one "
                "to free up%s.", len(ids), _holders(lock_dir, ids), len(ids),
                "until one frees up" if wait_s is None else f"up to {wait_s:.0f} s",
                "" if wait_s is None else ", then sharing one")
    while (waited := time.monotonic() - started) < limit:
        time.sleep(max(0.0, min(poll_s, limit - waited)))
        claim = _take_slot(lock_dir, tokens, ids, started)
        if claim is not None:
            return claim
    told = False
    while (claim := _take_slot(lock_dir, tokens, ids, started) or _share(lock_dir, tokens, ids, started)) is None:
        if not told:  # every device has a job on it, or queued for it, that must be alone
            log.warning("every GPU is held or awaited by a job that must run alone (a timing job; %s): "
                        "waiting until one of them has finished before sharing a GPU", _holders(lock_dir, ids))
            told = True
        time.sleep(poll_s)
    if not claim.exclusive:
        log.warning("no GPU freed up within %.0f s: SHARING GPU %s with %s. Run with --resources gpu=%d "
                    "to give every GPU job a device of its own.", limit, claim.physical_id,
                    holder(lock_dir, claim.physical_id), len(ids))
    return claim


def _claim_alone(lock_dir: Path, tokens: Sequence[str], ids: Sequence[str], wait_s: float | None,
                 poll_s: float) -> Claim:
    """A device with no other job on it, held so that none joins (see the module's lock files).

    Every poll tries each device (the one this job queues for first): its slot, then its
    occupancy exclusively. Until one succeeds the job queues for one device: it holds that
    device's turnstile, so no job joins it and the jobs on it finish; new sharers go to
    other devices or wait. The first device whose turnstile is free is queued for.
    """
    started = time.monotonic()
    limit = float("inf") if wait_s is None else wait_s
    queued: tuple[int, IO[str]] | None = None  # the device whose turnstile this job holds
    try:
        while True:
            order = list(range(len(ids)))
            if queued is not None:
                order.remove(queued[0])
                order.insert(0, queued[0])
            for index in order:
                handles = _alone(lock_dir, ids[index])
                if handles is not None:
                    return _claimed(handles, lock_dir, index, tokens, ids, started, exclusive=True, alone=True)
            if queued is None:
                first = os.getpid() % len(ids)
                for index in [*range(first, len(ids)), *range(first)]:
                    turnstile = _try_flock(lock_dir, ids[index], "turnstile", fcntl.LOCK_EX)
                    if turnstile is not None:
                        _write_holder(turnstile, " (queued: must run alone)")
                        queued = (index, turnstile)
                        log.warning(
                            "this job must run alone on a GPU (its result is a time) and every GPU has a job on "
                            "it (%s). Queued for GPU %s: no new job joins it; this job starts when the jobs on it "
                            "have finished (waiting %s).", _holders(lock_dir, ids), ids[index],
                            "as long as it takes" if wait_s is None else f"up to {wait_s:.0f} s")
                        break
            waited = time.monotonic() - started
            if waited >= limit:
                raise RuntimeError(f"no GPU came free within {limit:.0f} s and this job must not share one "
                                   f"({_holders(lock_dir, ids)}); run with --resources gpu={len(ids)} or fewer")
            time.sleep(max(0.0, min(poll_s, limit - waited)))
    finally:
        if queued is not None:
            queued[1].close()


def release() -> None:
    """Give up this process's device claim (the OS does the same when the process ends)."""
    global _claim, _ordinal
    _close(_held)
    _held.clear()
    _claim, _ordinal = None, 0


def claim_record(device: torch.device) -> dict[str, str | float]:
    """How this job holds the device it computes on, for records whose numbers are times.

    ``device_use``: ``alone`` (a GPU this job holds exclusively: since the claim no other
    job claiming through this module with the same lock folder computes on it, until this
    job ends), ``shared`` (a GPU other jobs may compute on), or ``cpu`` (no GPU: the job
    shares the machine's cores with whatever else runs there); ``gpu``: the physical GPU
    ('' on the CPU); ``device_wait_s``: how long the job waited for its claim.
    """
    if device.type != "cuda":
        return {"device": str(device), "device_use": "cpu", "gpu": "", "device_wait_s": 0.0}
    claim = _claim
    held = claim is not None and all(not handle.closed for handle in _held)
    return {"device": str(device), "device_use": "alone" if held and claim.alone else "shared",
            "gpu": "" if claim is None else claim.physical_id,
            "device_wait_s": 0.0 if claim is None else round(claim.waited_s, 3)}


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
    wait (as long as ``wait_s``, default: until it happens) until a GPU has no other job on
    it, and hold it alone (no job joins it) until they end. Call it before anything touches
    CUDA; :func:`claim_record` says afterwards how the device was held.
    """
    global _claim, _ordinal
    import torch

    if gpus <= 0:
        if torch.cuda.is_initialized():  # too late to hide the GPUs: the CUDA context exists
            return _cpu(f"the job was given no GPU: resources gpu=0; CUDA was initialised earlier in this process, "
                        f"so {VISIBLE_DEVICES} is left as it is")
        os.environ[VISIBLE_DEVICES] = ""  # a CPU job opens no CUDA context anywhere
        return _cpu("the job was given no GPU: resources gpu=0")
    if _claim is not None:
        if not share and not _claim.alone:
            raise RuntimeError(f"this process already computes on GPU {_claim.physical_id} without holding it "
                               "alone: a job whose result is a time must call select_device(share=False) first")
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
             name, "alone (no other job on this GPU while this job runs)" if claim.alone
             else "exclusive" if claim.exclusive else "SHARED with another job",
             VISIBLE_DEVICES, os.environ.get(VISIBLE_DEVICES, "(unset)"), claim.lock_path,
             f" after waiting {claim.waited_s:.0f} s" if claim.waited_s >= 1 else "")
    return device


def configure_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(max(1, threads))

