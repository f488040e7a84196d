"""The GPU slot claimer: exclusive slots among live processes, freed when a holder dies, CPU fallback.

Concurrency is exercised with real processes (flock locks belong to open files of a
process) and fake device lists, so the tests run without a GPU; the last test uses the
real GPUs when the machine has CUDA.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from simex import devices
from simex.devices import claim_device, physical_ids, select_device, try_lock, visible_device_tokens

REPO = Path(__file__).resolve().parents[1]
READ_TIMEOUT_S = 60  # generous bound for a worker to report; never a timing assertion

# A job that claims one of n fake devices, reports its claim, and holds it until its stdin closes.
CLAIM_WORKER = textwrap.dedent("""
    import json, logging, os, sys
    from pathlib import Path
    from simex.devices import claim_device
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(message)s")
    lock_dir, n_devices, wait_s = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    claim = claim_device(lock_dir, [str(i) for i in range(n_devices)], wait_s=wait_s, poll_s=0.05)
    print(json.dumps({"pid": os.getpid(), "slot": claim.physical_id, "exclusive": claim.exclusive}), flush=True)
    sys.stdin.read()
""")

# A whole select_device() call on a faked CUDA box (a stand-in torch module keeps it fast):
# torch reports a usable GPU once the claim is made.
SELECT_WORKER = textwrap.dedent("""
    import json, logging, os, sys, types
    torch = types.ModuleType("torch")
    torch.__version__, torch.version = "fake", types.SimpleNamespace(cuda="fake")
    torch.device = lambda kind, index=None: kind if index is None else f"{kind}:{index}"
    torch.cuda = types.SimpleNamespace(is_initialized=lambda: False, is_available=lambda: True,
                                       set_device=lambda ordinal: None, device_count=lambda: 0,
                                       get_device_name=lambda ordinal: "Fake GPU")
    sys.modules["torch"] = torch
    from simex.devices import select_device
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(message)s")
    device = select_device(1, sys.argv[1], devices=sys.argv[2].split(","), wait_s=0)
    print(json.dumps({"device": str(device), "visible": os.environ["CUDA_VISIBLE_DEVICES"]}), flush=True)
    sys.stdin.read()
""")


class Worker:
    def __init__(self, script: str, *args: str, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", script, *args], cwd=REPO, text=True, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **(env or {})})

    def report(self) -> dict:
        line = _readline(self.process.stdout)
        if not line:
            self.process.kill()
            pytest.fail(f"worker exited without a claim:\n{self.process.stderr.read()}")
        return json.loads(line)

    def stderr_until(self, text: str) -> str:
        seen = ""
        while text not in seen:
            line = _readline(self.process.stderr)
            if not line:
                pytest.fail(f"worker never logged {text!r}; it logged:\n{seen}")
            seen += line
        return seen

    def finish(self) -> str:
        """Let the worker exit normally; its stderr."""
        _, stderr = self.process.communicate(input="", timeout=READ_TIMEOUT_S)
        return stderr

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=READ_TIMEOUT_S)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            stream.close()


def _readline(stream) -> str:
    import selectors

    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        if not selector.select(timeout=READ_TIMEOUT_S):
            pytest.fail("a worker did not report in time")
    return stream.readline()


def claimer(lock_dir: Path, n_devices: int, wait_s: float = 0.0) -> Worker:
    return Worker(CLAIM_WORKER, str(lock_dir), str(n_devices), str(wait_s))


def assert_live_exclusive_slots_distinct(claims: dict[Worker, dict]) -> None:
    live = [claim["slot"] for worker, claim in claims.items() if claim["exclusive"] and worker.process.poll() is None]
    assert len(live) == len(set(live)), f"one slot handed to two live processes: {sorted(live)}"


def test_concurrent_claims_never_share_a_live_slot_and_killed_holders_free_theirs(tmp_path: Path) -> None:
    n_devices = 3
    workers = [claimer(tmp_path, n_devices) for _ in range(6)]  # twice as many jobs as GPUs, all at once
    claims = {worker: worker.report() for worker in workers}
    try:
        exclusive = sorted(claim["slot"] for claim in claims.values() if claim["exclusive"])
        assert exclusive == ["0", "1", "2"]  # every GPU used, none twice
        assert sum(not claim["exclusive"] for claim in claims.values()) == 3  # the rest share
        assert_live_exclusive_slots_distinct(claims)
        for slot in exclusive:  # the locks are really held: the test process cannot take them
            assert try_lock(tmp_path, slot) is None

        # SIGKILL every exclusive holder but one: their slots come back, nobody else's does
        holders = {claim["slot"]: worker for worker, claim in claims.items() if claim["exclusive"]}
        for slot in ("0", "2"):
            holders[slot].kill()
        newcomers = [claimer(tmp_path, n_devices) for _ in range(3)]
        for worker in newcomers:
            claims[worker] = worker.report()
        new_exclusive = sorted(claims[worker]["slot"] for worker in newcomers if claims[worker]["exclusive"])
        assert new_exclusive == ["0", "2"]
        assert_live_exclusive_slots_distinct(claims)
    finally:
        for worker in claims:
            if worker.process.poll() is None:
                worker.kill()


def test_slot_of_a_normally_finished_job_is_free_again(tmp_path: Path) -> None:
    first = claimer(tmp_path, 1)
    assert first.report() == {"pid": first.process.pid, "slot": "0", "exclusive": True}
    first.finish()
    second = claimer(tmp_path, 1)
    try:
        assert second.report()["exclusive"]
    finally:
        second.kill()


def test_a_job_waiting_for_a_busy_gpu_gets_it_when_the_holder_dies(tmp_path: Path) -> None:
    holder = claimer(tmp_path, 1)
    assert holder.report()["exclusive"]
    waiter = claimer(tmp_path, 1, wait_s=600)  # bounded, but far beyond the test's needs
    try:
        said = waiter.stderr_until("Waiting up to")
        assert "more GPU jobs are running than there are GPUs" in said
        assert f"pid {holder.process.pid}" in said  # names who holds the GPU
        holder.kill()
        assert waiter.report() == {"pid": waiter.process.pid, "slot": "0", "exclusive": True}
    finally:
        for worker in (holder, waiter):
            if worker.process.poll() is None:
                worker.kill()


def test_more_jobs_than_gpus_share_after_the_wait_and_say_so(tmp_path: Path) -> None:
    holder = claimer(tmp_path, 1)
    try:
        assert holder.report()["exclusive"]
        sharer = claimer(tmp_path, 1, wait_s=0)
        assert sharer.report()["exclusive"] is False
        said = sharer.finish()
        assert "more GPU jobs are running than there are GPUs" in said
        assert "SHARING GPU 0" in said and "--resources gpu=1" in said
    finally:
        holder.kill()


def test_select_device_narrows_cuda_visible_devices_to_the_claimed_gpu(tmp_path: Path) -> None:
    """Two jobs on a (faked) two-GPU box: each sees only its own GPU, as cuda:0, and logs it."""
    jobs = [Worker(SELECT_WORKER, str(tmp_path / "locks"), "5,7") for _ in range(2)]
    try:
        reports = [job.report() for job in jobs]
        assert [r["device"] for r in reports] == ["cuda:0", "cuda:0"]
        assert sorted(r["visible"] for r in reports) == ["5", "7"]
        logs = [job.finish() for job in jobs]
        for report, said in zip(reports, logs):
            assert f"device: cuda:0 = physical GPU {report['visible']} (Fake GPU), exclusive" in said
    finally:
        for job in jobs:
            if job.process.poll() is None:
                job.kill()


def test_slurm_jobs_that_both_see_gpu_0_lock_their_own_physical_gpus() -> None:
    # inside SLURM's device cgroup every job's GPU is "0"; SLURM_*_GPUS names the real one
    assert physical_ids(["0"], {"SLURM_STEP_GPUS": "3", "SLURM_JOB_GPUS": "3"}) == ["3"]
    assert physical_ids(["0", "1"], {"SLURM_JOB_GPUS": "2,5"}) == ["2", "5"]
    assert physical_ids(["0"], {"NVIDIA_VISIBLE_DEVICES": "GPU-1a2b"}) == ["GPU-1a2b"]
    assert physical_ids(["0", "1"], {"NVIDIA_VISIBLE_DEVICES": "all"}) == ["0", "1"]
    assert physical_ids(["2", "3"], {"SLURM_JOB_GPUS": "0"}) == ["2", "3"]  # lengths differ: not a match


@pytest.mark.parametrize(("value", "tokens"), [
    ("2,3", ["2", "3"]), ("", []), ("-1", []), ("0,-1,1", ["0"]), (" GPU-ab , MIG-cd ", ["GPU-ab", "MIG-cd"]),
])
def test_cuda_visible_devices_decides_the_candidates(value: str, tokens: list[str]) -> None:
    assert visible_device_tokens({"CUDA_VISIBLE_DEVICES": value}) == tokens


@pytest.fixture
def fresh_process_state(monkeypatch: pytest.MonkeyPatch):
    """select_device edits CUDA_VISIBLE_DEVICES and keeps its claim: undo both after the test."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "sentinel")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    for variable in [name for name in os.environ if name.startswith("SLURM_")]:  # the tests may run in a Slurm job
        monkeypatch.delenv(variable)
    devices.release()
    yield
    devices.release()


def test_cpu_when_the_job_was_given_no_gpu(tmp_path: Path, fresh_process_state, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="simex.devices"):
        assert select_device(0, tmp_path) == torch.device("cpu")
    assert "device: cpu (the job was given no GPU: resources gpu=0)" in caplog.text
    assert os.environ["CUDA_VISIBLE_DEVICES"] == ""  # nothing in a CPU job opens a CUDA context
    assert not list(tmp_path.iterdir())  # and it claims no slot


def test_cpu_when_no_cuda_device_exists(tmp_path: Path, fresh_process_state, monkeypatch, caplog) -> None:
    monkeypatch.setattr(devices, "_count_devices", lambda: (0, True))
    with caplog.at_level(logging.INFO, logger="simex.devices"):
        assert select_device(1, tmp_path) == torch.device("cpu")
    assert "device: cpu (no CUDA device on this machine: not a Slurm job; CUDA_VISIBLE_DEVICES is unset)" in caplog.text


def test_cpu_when_every_gpu_is_hidden(tmp_path: Path, fresh_process_state, monkeypatch, caplog) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with caplog.at_level(logging.INFO, logger="simex.devices"):
        assert select_device(1, tmp_path) == torch.device("cpu")
    assert "no CUDA device visible: not a Slurm job; CUDA_VISIBLE_DEVICES=''" in caplog.text


def test_unusable_cuda_falls_back_to_cpu_and_releases_the_claim(tmp_path: Path, fresh_process_state,
                                                                 monkeypatch, caplog) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("LOCKS", str(tmp_path))
    with caplog.at_level(logging.INFO, logger="simex.devices"):
        assert select_device(1, "$LOCKS/gpu-locks", devices=["0", "1"]) == torch.device("cpu")
    assert "CUDA is not usable here" in caplog.text
    lock_dir = tmp_path / "gpu-locks"  # config paths may use $VARS
    assert (lock_dir / "gpu-0.lock").exists()
    handle = try_lock(lock_dir, "0")  # released: free for the next job
    assert handle is not None
    handle.close()


@pytest.mark.parametrize(("environ", "situation"), [
    ({}, "not a Slurm job; CUDA_VISIBLE_DEVICES is unset"),
    ({"SLURM_JOB_ID": "42", "SLURM_GPUS_ON_NODE": "1", "SLURM_STEP_GPUS": "3", "CUDA_VISIBLE_DEVICES": "3"},
     "Slurm job 42 was given GRES gpu: SLURM_GPUS_ON_NODE=1, SLURM_STEP_GPUS=3; CUDA_VISIBLE_DEVICES='3'"),
    ({"SLURM_JOB_ID": "42", "SLURM_JOB_GPUS": "0,1", "SLURM_GPUS_ON_NODE": "2"},
     "Slurm job 42 was given GRES gpu: SLURM_GPUS_ON_NODE=2, SLURM_JOB_GPUS=0,1; CUDA_VISIBLE_DEVICES is unset"),
    ({"SLURM_JOB_ID": "42", "CUDA_VISIBLE_DEVICES": ""},
     "Slurm job 42 was given no GPU GRES (SLURM_GPUS_ON_NODE unset)"),
])
def test_gpu_situation_names_the_slurm_gres_and_cuda_visible_devices(environ: dict, situation: str) -> None:
    assert situation in devices.gpu_situation(environ)


def test_a_gpu_cuda_cannot_open_fails_naming_the_gres(tmp_path: Path, fresh_process_state, monkeypatch,
                                                       caplog) -> None:
    """A Slurm job given GPU 3 whose CUDA cannot open it: one clear error, and no claim kept."""
    for name, value in {"SLURM_JOB_ID": "42", "SLURM_GPUS_ON_NODE": "1", "SLURM_STEP_GPUS": "3",
                        "CUDA_VISIBLE_DEVICES": "3"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)

    def set_device(ordinal: int) -> None:
        raise RuntimeError("CUDA error: invalid device ordinal")

    monkeypatch.setattr(torch.cuda, "set_device", set_device)
    with caplog.at_level(logging.INFO, logger="simex.devices"), pytest.raises(devices.GpuNotVisibleError) as error:
        select_device(1, tmp_path)
    message = str(error.value)
    assert "given GPU 3 (cuda:0) but CUDA cannot open it: CUDA error: invalid device ordinal" in message
    assert "Slurm job 42 was given GRES gpu: SLURM_GPUS_ON_NODE=1, SLURM_STEP_GPUS=3; CUDA_VISIBLE_DEVICES='3'" in message
    assert message in caplog.text  # the job's log file says it too
    handle = try_lock(tmp_path, "3")  # the failed job holds no GPU slot
    assert handle is not None
    handle.close()


def test_claim_device_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one candidate"):
        claim_device(tmp_path, [])
    with pytest.raises(ValueError, match="2 devices but 1 physical ids"):
        claim_device(tmp_path, ["0", "1"], ["0"])


def test_unwritable_lock_dir_is_named_in_the_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(RuntimeError, match="gpu_lock_dir"):
        claim_device(blocker / "locks", ["0"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_real_gpus_are_claimed_one_job_each(tmp_path: Path) -> None:
    """On a CUDA box: concurrent jobs land on distinct physical GPUs (as many as exist)."""
    script = textwrap.dedent("""
        import json, logging, os, sys, torch
        from simex.devices import select_device
        logging.basicConfig(stream=sys.stderr, level=logging.INFO)
        device = select_device(1, sys.argv[1], wait_s=0)
        torch.zeros(1, device=device)  # really computes there
        print(json.dumps({"device": str(device), "visible": os.environ.get("CUDA_VISIBLE_DEVICES")}), flush=True)
        sys.stdin.read()
    """)
    n_gpus = torch.cuda.device_count()
    jobs = [Worker(script, str(tmp_path)) for _ in range(min(n_gpus, 4))]
    try:
        reports = [job.report() for job in jobs]
        assert all(r["device"] == "cuda:0" for r in reports)
        assert len({r["visible"] for r in reports}) == len(jobs)
    finally:
        for job in jobs:
            job.kill()


def test_without_nvml_the_claimed_ordinal_is_selected_instead_of_narrowing(tmp_path: Path, fresh_process_state,
                                                                           monkeypatch) -> None:
    """Counting GPUs through CUDA fixes CUDA_VISIBLE_DEVICES: the job must then pick the ordinal."""
    monkeypatch.setattr(devices, "_count_devices", lambda: (2, False))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "set_device", lambda ordinal: None)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda ordinal: "Fake GPU")
    busy = try_lock(tmp_path, "0")  # another job holds GPU 0
    try:
        assert select_device(1, tmp_path, wait_s=0) == torch.device("cuda", 1)
        assert "CUDA_VISIBLE_DEVICES" not in os.environ
        assert select_device(1, tmp_path, wait_s=0) == torch.device("cuda", 1)  # a second call keeps the claim
    finally:
        busy.close()


def test_a_job_that_must_not_share_waits_then_says_why(tmp_path: Path) -> None:
    holder = claimer(tmp_path, 1)
    try:
        assert holder.report()["exclusive"]
        with pytest.raises(RuntimeError, match="must not share one"):
            claim_device(tmp_path, ["0"], wait_s=0.2, poll_s=0.05, share=False)
    finally:
        holder.kill()
