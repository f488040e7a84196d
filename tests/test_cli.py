"""The `simex rank` command: output formats, and a clear message plus exit 1 for each bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from simex.cli import EXIT_BAD_INPUT, main
from simex.training.autoencoders import save_autoencoder
from simex.models.networks import LeNet5AutoEncoder
from tests.test_rank import bright, make_fleet, metadata, squares


@pytest.fixture(scope="module")
def fleet_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_fleet(tmp_path_factory.mktemp("cli_fleet"))


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    path = tmp_path / "unknown.npz"
    np.savez(path, images=squares(64, 30))
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["rank", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("fmt", ["table", "json", "csv"])
def test_rank_prints_the_ranking(capsys: pytest.CaptureFixture[str], fleet_dir: Path, data: Path, fmt: str) -> None:
    code, out, err = run(capsys, "--fleet", str(fleet_dir), "--data", str(data), "--format", fmt, "--batch-size", "16")
    assert code == 0, err
    if fmt == "json":
        payload = json.loads(out)
        assert payload["ranking"][0]["label"] == "M" and payload["n_used"] == 64
    elif fmt == "csv":
        assert out.splitlines()[1].startswith("1,M,")
    else:
        assert "samples used: 64 of 64" in out and out.splitlines()[5].split()[:2] == ["1", "M"]


def test_output_file_and_express(capsys: pytest.CaptureFixture[str], fleet_dir: Path, tmp_path: Path) -> None:
    np.save(tmp_path / "many.npy", bright(1500, 31))
    target = tmp_path / "out" / "ranking.json"
    code, out, err = run(capsys, "--fleet", str(fleet_dir.parent), "--loss", "mse", "--data", str(tmp_path / "many.npy"),
                         "--express", "--step", "64", "--min-samples", "64", "--format", "json", "--output", str(target))
    assert code == 0, err
    assert out == ""
    payload = json.loads(target.read_text())
    assert payload["stopped_early"] and payload["stop_reason"] == "settled" and payload["ranking"][0]["label"] == "E*"


def corrupt_member(fleet: Path) -> None:
    member = next((fleet / "members").iterdir())
    member.write_bytes(member.read_bytes()[:-10] + b"0123456789")


def corrupt_manifest(fleet: Path) -> None:
    (fleet / "manifest.json").write_text('{"format": "simex-fleet", "members": [')


def mix_losses_in_manifest(fleet: Path) -> None:
    manifest = json.loads((fleet / "manifest.json").read_text())
    manifest["members"][1]["loss"] = "issim"
    (fleet / "manifest.json").write_text(json.dumps(manifest))


def mix_losses_in_checkpoint(fleet: Path) -> None:
    """A member file swapped for an iSSIM autoencoder, checksum updated: the manifest looks fine."""
    from simex.fleets.folder import sha256_of

    manifest = json.loads((fleet / "manifest.json").read_text())
    entry = manifest["members"][1]
    save_autoencoder(fleet / entry["file"], LeNet5AutoEncoder(), metadata("E", "issim", "stand-in"))
    entry["sha256"] = sha256_of(fleet / entry["file"])
    (fleet / "manifest.json").write_text(json.dumps(manifest))


def delete_member(fleet: Path) -> None:
    next((fleet / "members").iterdir()).unlink()


@pytest.mark.parametrize("damage, message", [
    (corrupt_member, "checksum mismatch"),
    (corrupt_manifest, "corrupt manifest"),
    (mix_losses_in_manifest, "mixes losses"),
    (mix_losses_in_checkpoint, "mixes losses"),
    (delete_member, "missing its file"),
])
def test_bad_fleet(capsys: pytest.CaptureFixture[str], fleet_dir: Path, data: Path, tmp_path: Path,
                   damage, message: str) -> None:
    fleet = tmp_path / "fleet"
    shutil.copytree(fleet_dir, fleet)
    damage(fleet)
    output = tmp_path / "ranking.csv"
    code, out, err = run(capsys, "--fleet", str(fleet), "--data", str(data), "--output", str(output))
    assert code == EXIT_BAD_INPUT and message in err and out == ""
    assert not output.exists()


def test_missing_fleet(capsys: pytest.CaptureFixture[str], data: Path, tmp_path: Path) -> None:
    code, out, err = run(capsys, "--fleet", str(tmp_path / "nowhere"), "--data", str(data))
    assert code == EXIT_BAD_INPUT and "no such fleet" in err and out == ""


def test_folder_without_manifest_is_not_a_fleet(capsys: pytest.CaptureFixture[str], data: Path, tmp_path: Path) -> None:
    code, _, err = run(capsys, "--fleet", str(tmp_path), "--data", str(data))
    assert code == EXIT_BAD_INPUT and "not a fleet" in err


def test_wrong_loss_for_the_fleet(capsys: pytest.CaptureFixture[str], fleet_dir: Path, data: Path) -> None:
    code, _, err = run(capsys, "--fleet", str(fleet_dir), "--loss", "issim", "--data", str(data))
    assert code == EXIT_BAD_INPUT and "not the requested 'issim'" in err


def write_bad_folder(path: Path) -> Path:
    path.mkdir()
    Image.fromarray(squares(1, 0)[0], mode="L").save(path / "a.png")
    (path / "notes.txt").write_text("not an image")
    return path


def write_corrupt_png(path: Path) -> Path:
    path.mkdir()
    (path / "broken.png").write_bytes(b"\x89PNG not really")
    return path


@pytest.mark.parametrize("make, message", [
    (lambda p: np.save(p / "d.npy", np.zeros((0, 28, 28), np.uint8)) or p / "d.npy", "empty"),
    (lambda p: np.save(p / "d.npy", np.zeros((4, 28), np.uint8)) or p / "d.npy", "expected images as N×H×W"),
    (lambda p: np.save(p / "d.npy", np.full((4, 28, 28), np.nan, np.float32)) or p / "d.npy", "NaN or infinite"),
    (lambda p: np.save(p / "d.npy", np.full((4, 1, 28, 28), np.inf)) or p / "d.npy", "NaN or infinite"),
    (lambda p: np.savez(p / "d.npz", a=np.zeros((2, 28, 28)), b=np.zeros(2)) or p / "d.npz", "which array"),
    (lambda p: write_bad_folder(p / "imgs"), "not PNG/JPEG image files: notes.txt"),
    (lambda p: write_corrupt_png(p / "imgs"), "not a readable image"),
    (lambda p: (p / "empty").mkdir() or p / "empty", "no image files"),
    (lambda p: (p / "x.csv").write_text("1,2") and p / "x.csv", "unknown input format"),
    (lambda p: p / "absent.npy", "no such file"),
])
def test_bad_data(capsys: pytest.CaptureFixture[str], fleet_dir: Path, tmp_path: Path, make, message: str) -> None:
    path = make(tmp_path)
    output = tmp_path / "ranking.json"
    code, out, err = run(capsys, "--fleet", str(fleet_dir), "--data", str(path), "--output", str(output))
    assert code == EXIT_BAD_INPUT and message in err and out == "", err
    assert not output.exists()


def test_console_script_exits_non_zero_with_the_message(fleet_dir: Path, tmp_path: Path) -> None:
    np.save(tmp_path / "d.npy", np.zeros((3, 28, 28), np.int64))
    result = subprocess.run([sys.executable, "-m", "simex.cli", "rank", "--fleet", str(fleet_dir),
                             "--data", str(tmp_path / "d.npy")], capture_output=True, text=True, timeout=120)
    assert result.returncode == EXIT_BAD_INPUT
    assert result.stderr.startswith("simex: error:") and "uint8" in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_an_unusable_device_is_one_line_and_exit_1(tmp_path, capsys):
    """`--device` naming no device, or CUDA on a machine without it, is bad input (exit 1, one line), not a traceback."""
    import torch

    from simex.cli import main

    names = ["gpu7"] + ([] if torch.cuda.is_available() else ["cuda"])
    for name in names:
        assert main(["fleet", "build", "--out", str(tmp_path / "fleet"), "--loss", "mse", "--device", name,
                     f"a={tmp_path / 'missing.npz'}"]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"simex: error: --device {name}:") and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("options, message", [
    (["--batch-size", "0"], "--batch-size must be at least 1, got 0"),
    (["--bootstrap", "0"], "--bootstrap must be at least 1, got 0"),
    (["--seed", "-1"], "--seed must be at least 0, got -1"),
    (["--express", "--step", "0", "--budget", "-2"], "--step must be at least 1, got 0; --budget must be at least 0"),
    (["--min-samples", "-1"], "--min-samples must be at least 0, got -1"),
    (["--confidence", "1.5"], "--confidence must lie in (0, 1), got 1.5"),
])
def test_rank_options_out_of_range_are_one_line_naming_the_option(capsys: pytest.CaptureFixture[str], fleet_dir: Path,
                                                                  data: Path, options: list[str], message: str) -> None:
    code, out, err = run(capsys, "--fleet", str(fleet_dir), "--data", str(data), *options)
    assert code == EXIT_BAD_INPUT and not out
    assert err.startswith("simex: error:") and message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("options, message", [
    (["--steps", "0"], "steps must be at least 1, got 0"),
    (["--batch-size", "0", "--lr", "0"], "batch_size must be at least 1, got 0; lr must be positive, got 0.0"),
    (["--epochs", "0"], "epochs must be at least 1, got 0"),
])
def test_fleet_build_training_settings_out_of_range_are_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                                 options: list[str], message: str) -> None:
    np.save(tmp_path / "a.npy", squares(16, 28).astype(np.uint8))
    out = tmp_path / "fleet"
    assert main(["fleet", "build", "--out", str(out), "--loss", "mse", "--shape", "1,28,28", *options,
                 f"a={tmp_path / 'a.npy'}"]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.startswith("simex: error: invalid training settings:") and message in err
    assert len(err.strip().splitlines()) == 1 and not out.exists()
