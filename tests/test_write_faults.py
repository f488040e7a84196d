"""Faults while writing (issue 29): a full disk during an atomic write, and two
`simex fleet build` processes writing the same fleet."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from simex.fleets.folder import read_fleet

REPO = Path(__file__).resolve().parents[1]


def run_python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("writer", ["write_text", "write_npz"])
def test_a_full_disk_leaves_the_previous_artifact_and_no_temporary_file(tmp_path: Path, writer: str) -> None:
    """RLIMIT_FSIZE makes every file of the child process end at 64 KiB, as a full disk would
    (SIGXFSZ ignored, so a write past it fails with EFBIG)."""
    destination = tmp_path / ("table.md" if writer == "write_text" else "arrays.npz")
    first, second = {"write_text": ('"previous\\n"', '"x" * 1_000_000'),
                     "write_npz": ("a=np.arange(10)", "a=np.zeros(10**6)")}[writer]
    result = run_python(f"""
        import resource, signal, sys
        import numpy as np
        from simex.base import artifacts
        artifacts.{writer}({str(destination)!r}, {first})
        before = open({str(destination)!r}, "rb").read()
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))
        try:
            artifacts.{writer}({str(destination)!r}, {second})
        except artifacts.ArtifactWriteError as err:
            print("refused:", err)
        assert open({str(destination)!r}, "rb").read() == before
    """, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "refused: cannot write" in result.stdout and "File too large" in result.stdout
    assert "the previous file, if any, is unchanged" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == [destination.name]  # no temporary file left
    if writer == "write_text":
        assert destination.read_text() == "previous\n"
    else:
        with np.load(destination) as archive:
            np.testing.assert_array_equal(archive["a"], np.arange(10))


def fleet_build(out: Path, data: Path) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "simex.cli", "fleet", "build", "--out", str(out), "--loss", "mse", "--steps", "30",
               "--batch-size", "8", "--quiet", "--device", "cpu", f"a={data}", f"b={data}"]
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    return subprocess.Popen(command, cwd=out.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def small_dataset(tmp_path: Path) -> Path:
    path = tmp_path / "data.npz"
    np.savez(path, images=np.random.default_rng(0).integers(0, 256, size=(40, 28, 28), dtype=np.uint8))
    return path


def test_two_builds_into_one_folder_one_wins_the_other_says_why(tmp_path: Path, small_dataset: Path) -> None:
    out = tmp_path / "fleets"
    builds = [fleet_build(out, small_dataset) for _ in range(2)]
    results = [(build.wait(timeout=300), *build.communicate()) for build in builds]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 1], results
    loser = next(stderr for code, _, stderr in results if code == 1)
    assert loser.count("\n") == 1 and loser.startswith("simex: error: ")
    assert "another simex fleet build is writing to" in loser or "already exists" in loser
    fleet = read_fleet(out / "mse")  # the winner's fleet, whole and verified
    assert [m.label for m in fleet.members] == ["a"] * 3 + ["b"] * 3  # the default 3 autoencoders a dataset
    assert sorted(p.name for p in out.iterdir()) == ["mse"]  # no staging, scratch or lock file left


def test_a_build_while_another_holds_the_fleet_fails_at_once(tmp_path: Path, small_dataset: Path) -> None:
    out = tmp_path / "fleets"
    out.mkdir()
    descriptor = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a running build holds it
        build = fleet_build(out, small_dataset)
        code, (_, stderr) = build.wait(timeout=120), build.communicate()
    finally:
        os.close(descriptor)
    assert code == 1 and "another simex fleet build is writing to" in stderr
    assert not (out / "mse").exists()
