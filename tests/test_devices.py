"""The GPU slot claimer: exclusive slots among live processes, freed when a holder dies,
timing jobs alone on their device and never starved by sharers, CPU fallback.

Concurrency is exercised with real processes (flock locks belong to open files of a
process) and fake device lists, so the tests run without a GPU. Every test that calls
select_device in this process runs twice: with CUDA untouched and with CUDA initialised
earlier in the process (simulated where there is no GPU), as on a GPU machine where an
earlier test computed on it. The tests that use the real GPUs are skipped without CUDA. The whole module belongs to the ``device`` subset (``pytest -m device``).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from simex import devices
from simex.devices import claim_device, claim_record, physical_ids, select_device, try_lock, visible_device_tokens

pytestmark = pytest.mark.device
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

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
    initialised = sys.argv[3] == "initialised"  # CUDA initialised before the claim, or not
    torch.cuda = types.SimpleNamespace(is_initialized=lambda: initialised, is_available=lambda: True,
                                       set_device=lambda ordinal: None, device_count=lambda: 0,
                                       get_device_name=lambda ordinal: "Fake GPU")
    sys.modules["torch"] = torch
    from simex.devices import select_device
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(message)s")
    device = select_device(1, sys.argv[1], devices=sys.argv[2].split(","), wait_s=0)
    print(json.dumps({"device": str(device), "visible": os.environ.get("CUDA_VISIBLE_DEVICES")}), flush=True)
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
    jobs = [Worker(SELECT_WORKER, str(tmp_path / "locks"), "5,7", "untouched") for _ in range(2)]
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


def test_jobs_whose_cuda_is_initialised_select_their_ordinal(tmp_path: Path) -> None:
    """The same two jobs with CUDA initialised before the claim: too late to narrow, so each
    selects the ordinal of its own GPU and leaves CUDA_VISIBLE_DEVICES alone."""
    jobs = [Worker(SELECT_WORKER, str(tmp_path / "locks"), "5,7", "initialised") for _ in range(2)]
    try:
        reports = [job.report() for job in jobs]
        assert sorted(r["device"] for r in reports) == ["cuda:0", "cuda:1"]
        assert [r["visible"] for r in reports] == [os.environ.get("CUDA_VISIBLE_DEVICES")] * 2
        for report, said in zip(reports, (job.finish() for job in jobs)):
            physical = "57"[int(report["device"][-1])]
            assert f"device: {report['device']} = physical GPU {physical} (Fake GPU), exclusive" in said
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


@pytest.fixture(params=[False, True], ids=["cuda-untouched", "cuda-initialised"])
def fresh_process_state(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """select_device edits CUDA_VISIBLE_DEVICES and keeps its claim: undo both after the test.

    Runs the test twice: CUDA untouched in this process, and CUDA initialised earlier in it
    (what an earlier test on a GPU machine leaves behind; simulated here). The value: initialised.
    """
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "sentinel")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    for variable in [name for name in os.environ if name.startswith("SLURM_")]:  # the tests may run in a Slurm job
        monkeypatch.delenv(variable)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: request.param)
    devices.release()
    yield request.param
    devices.release()


def test_cpu_when_the_job_was_given_no_gpu(tmp_path: Path, fresh_process_state: bool, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="simex.devices"):
        assert select_device(0, tmp_path) == torch.device("cpu")
    assert "device: cpu (the job was given no GPU: resources gpu=0" in caplog.text
    if fresh_process_state:  # too late to hide the GPUs: the variable stays as it was, and the log says so
        assert "CUDA_VISIBLE_DEVICES" not in os.environ
        assert "CUDA was initialised earlier in this process, so CUDA_VISIBLE_DEVICES is left as it is" in caplog.text
    else:
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


@needs_cuda
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


# --- timing jobs alone on their device ---------------------------------------------------

# A job on one fake device "0": a sharer (share=True, no wait for a slot of its own) or a timing
# job (share=False). It records when it holds its claim (monotonic clock, system-wide on Linux),
# computes hold_s seconds (sleeps), records the end and exits: the claim ends after the record.
INTERVAL_WORKER = textwrap.dedent("""
    import json, logging, os, sys, time
    from pathlib import Path
    from simex.devices import claim_device
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(message)s")
    lock_dir, out, role, hold_s = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    asked = time.monotonic()
    claim = claim_device(lock_dir, ["0"], wait_s=0 if role == "sharer" else 600, poll_s=0.02, share=role == "sharer")
    start = time.monotonic()
    (out / f"{role}-{os.getpid()}.start").write_text(str(start))
    time.sleep(hold_s)
    record = {"role": role, "pid": os.getpid(), "asked": asked, "start": start, "end": time.monotonic(),
              "alone": claim.alone, "exclusive": claim.exclusive}
    (out / f"{role}-{os.getpid()}.json").write_text(json.dumps(record))
""")
SHARER_EVERY_S, SHARER_HOLD_S = 0.15, 0.6  # about four sharers on the device at any time
STARVED_AFTER_S = 60  # a stream of sharers this long that keeps the timing jobs off the device: starvation


def test_timing_jobs_never_overlap_another_job_and_a_stream_of_sharers_cannot_starve_them(tmp_path: Path) -> None:
    """Sharers arrive every 0.15 s and each computes 0.6 s, so the device is never free of them.
    Two timing jobs start among them. Each must run with no other job on the device, and both
    must get their turn while the stream goes on (the sharers that arrive meanwhile wait)."""
    out, logs, locks = tmp_path / "intervals", tmp_path / "logs", tmp_path / "locks"
    out.mkdir()
    logs.mkdir()
    processes: list[subprocess.Popen] = []

    def spawn(role: str, hold_s: float) -> subprocess.Popen:
        with open(logs / f"{role}-{len(processes)}.log", "w") as log_file:
            process = subprocess.Popen([sys.executable, "-c", INTERVAL_WORKER, str(locks), str(out), role, str(hold_s)],
                                       cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log_file)
        processes.append(process)
        return process

    timing: list[subprocess.Popen] = []
    try:
        started = time.monotonic()
        while not timing or any(job.poll() is None for job in timing):
            assert time.monotonic() - started < STARVED_AFTER_S, "the timing jobs were starved by the sharers"
            spawn("sharer", SHARER_HOLD_S)
            time.sleep(SHARER_EVERY_S)
            if not timing and len(list(out.glob("sharer-*.start"))) >= 2:  # sharers compute on the device
                timing = [spawn("timing", 0.5) for _ in range(2)]
        for _ in range(4):  # the stream goes on after the timing jobs
            spawn("sharer", SHARER_HOLD_S)
            time.sleep(SHARER_EVERY_S)
        for process in processes:
            assert process.wait(timeout=READ_TIMEOUT_S) == 0, [p.read_text() for p in logs.iterdir()]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    records = [json.loads(path.read_text()) for path in out.glob("*.json")]
    assert len(records) == len(processes)
    timed = [r for r in records if r["role"] == "timing"]
    sharers = [r for r in records if r["role"] == "sharer"]
    assert len(timed) == 2 and all(r["alone"] for r in timed)
    for job in timed:
        overlapping = [r["pid"] for r in records if r is not job and r["start"] < job["end"] and job["start"] < r["end"]]
        assert not overlapping, f"timing job {job['pid']} shared the device with {overlapping}"
    said = "".join(path.read_text() for path in logs.glob("timing-*.log"))
    assert "Queued for GPU 0: no new job joins it" in said  # it found sharers on the device and queued
    first, last = min(r["start"] for r in timed), max(r["end"] for r in timed)
    held_back = [r for r in sharers if r["asked"] < first and r["start"] >= last]
    assert held_back, "no sharer that arrived before the timing jobs ran waited for them"
    assert any(r["start"] > last for r in sharers)  # and the stream went on after them


def test_sharers_stay_off_a_device_a_timing_job_queues_for(tmp_path: Path) -> None:
    queued = devices._try_flock(tmp_path, "0", "turnstile", fcntl.LOCK_EX)  # a timing job queues for GPU 0
    devices.release()
    try:
        first = claim_device(tmp_path, ["0", "1"], wait_s=0)
        assert (first.physical_id, first.exclusive) == ("1", True)
        second = claim_device(tmp_path, ["0", "1"], wait_s=0)
        assert (second.physical_id, second.exclusive) == ("1", False)  # shares GPU 1 rather than join GPU 0
    finally:
        queued.close()
        devices.release()


def test_a_timing_job_takes_a_free_device_and_later_jobs_share_the_other_one(tmp_path: Path) -> None:
    owner = claimer(tmp_path, 2)
    devices.release()
    try:
        assert owner.report()["slot"] == "0"
        timed = claim_device(tmp_path, ["0", "1"], wait_s=0, share=False)
        assert (timed.physical_id, timed.exclusive, timed.alone) == ("1", True, True)
        assert timed.waited_s < READ_TIMEOUT_S
        late = claimer(tmp_path, 2)  # every slot taken: it shares, and only the device not held alone
        assert late.report() == {"pid": late.process.pid, "slot": "0", "exclusive": False}
        late.kill()
    finally:
        owner.kill()
        devices.release()


def test_a_timing_job_waits_for_the_sharer_on_its_device(tmp_path: Path) -> None:
    owner = claimer(tmp_path, 1)
    assert owner.report()["exclusive"]
    sharer = claimer(tmp_path, 1)
    devices.release()
    try:
        assert not sharer.report()["exclusive"]
        owner.kill()  # the slot is free, but a sharer still computes on the device
        with pytest.raises(RuntimeError, match="must not share one"):
            claim_device(tmp_path, ["0"], wait_s=0.3, poll_s=0.05, share=False)
        sharer.kill()
        assert claim_device(tmp_path, ["0"], wait_s=READ_TIMEOUT_S, poll_s=0.05, share=False).alone
    finally:
        for worker in (owner, sharer):
            if worker.process.poll() is None:
                worker.kill()
        devices.release()


def fake_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "set_device", lambda ordinal: None)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda ordinal: "Fake GPU")


def test_claim_record_says_how_the_device_was_held(tmp_path: Path, fresh_process_state, monkeypatch, caplog) -> None:
    assert claim_record(torch.device("cpu")) == {"device": "cpu", "device_use": "cpu", "gpu": "", "device_wait_s": 0.0}
    fake_gpu(monkeypatch)
    with caplog.at_level(logging.INFO, logger="simex.devices"):
        device = select_device(1, tmp_path, devices=["3"], share=False)
    assert "physical GPU 3 (Fake GPU), alone (no other job on this GPU while this job runs)" in caplog.text
    record = claim_record(device)
    assert (record["device_use"], record["gpu"]) == ("alone", "3") and record["device_wait_s"] >= 0
    devices.release()
    assert claim_record(device)["device_use"] == "shared"  # a GPU no longer held alone

    device = select_device(1, tmp_path, devices=["3"])  # an ordinary job: sharers may join it
    assert claim_record(device)["device_use"] == "shared"
    with pytest.raises(RuntimeError, match="must call select_device\\(share=False\\) first"):
        select_device(1, tmp_path, devices=["3"], share=False)


@needs_cuda
def test_select_device_on_a_real_gpu_after_cuda_was_initialised(tmp_path: Path, monkeypatch) -> None:
    """On a CUDA box, with CUDA initialised in this process before the claim (as after any
    earlier GPU test): a gpu=0 job leaves the variable alone, a timing job computes on its GPU alone."""
    torch.zeros(1, device="cuda")
    assert torch.cuda.is_initialized()
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible or "")  # restored after the test
    if visible is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    devices.release()
    try:
        assert select_device(0, tmp_path) == torch.device("cpu")
        assert os.environ.get("CUDA_VISIBLE_DEVICES") == visible
        device = select_device(1, tmp_path, wait_s=0, share=False)
        assert device.type == "cuda"
        assert torch.ones(3, device=device).sum().item() == 3.0
        assert claim_record(device)["device_use"] == "alone"
    finally:
        devices.release()


def test_machine_line_names_what_float_rounding_depends_on():
    """Every job logs it (simex.jobs.job_device): CPU model, torch's CPU kernels, versions, threads."""
    import numpy
    import torch

    from simex.base.machine import machine_line
    from simex.devices import configure_threads

    before = torch.get_num_threads()
    try:
        configure_threads(1)
        line = machine_line()
    finally:
        torch.set_num_threads(before)
    assert line.startswith("machine: ") and f"torch {torch.__version__}" in line and "1 threads" in line
    assert f"CPU capability {torch.backends.cpu.get_cpu_capability()}" in line and f"numpy {numpy.__version__}" in line
