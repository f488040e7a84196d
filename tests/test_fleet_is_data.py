"""Fleet folders are data, not code (issue 29): manifest entries stay inside the folder,
and checkpoints are read with torch.load(weights_only=True)."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from pathlib import Path

import pytest
import torch

from simex.base.errors import SimexError
from simex.fleets.folder import MANIFEST, export_fleet, read_fleet
from simex.models.networks import LeNet5AutoEncoder
from simex.training.autoencoders import AutoencoderCard, FleetError, load_autoencoder, save_autoencoder
from tests.test_verify_before_parse import RunsCode


@pytest.fixture
def fleet(tmp_path: Path) -> Path:
    paths = []
    for dataset in ("M", "F"):
        path = tmp_path / f"{dataset}.pt"
        save_autoencoder(path, LeNet5AutoEncoder(), AutoencoderCard(dataset=dataset, loss="mse", provenance="original"))
        paths.append(path)
    export_fleet(paths, tmp_path / "fleet", "data")
    return tmp_path / "fleet"


def point_member_at(fleet: Path, file: str) -> None:
    manifest = json.loads((fleet / MANIFEST).read_text())
    manifest["members"][1]["file"] = file
    (fleet / MANIFEST).write_text(json.dumps(manifest))


@pytest.mark.parametrize("file", ["../F.pt", "members/../../F.pt", "/etc/passwd", "", "members\\..\\..\\F.pt"])
def test_a_manifest_entry_outside_the_folder_is_refused(fleet: Path, file: str) -> None:
    point_member_at(fleet, file)
    with pytest.raises(FleetError, match=rf"member 'F': file .* is not a path inside the fleet folder"):
        read_fleet(fleet)


def test_a_symlink_leaving_the_folder_is_refused(fleet: Path) -> None:
    (fleet / "members" / "link.pt").symlink_to(fleet.parent / "F.pt")  # same bytes, so the checksum would pass
    point_member_at(fleet, "members/link.pt")
    with pytest.raises(FleetError, match="member 'F': file 'members/link.pt' is a symlink that leaves the fleet"):
        read_fleet(fleet)


def test_a_symlink_inside_the_folder_is_read(fleet: Path) -> None:
    (fleet / "members" / "link.pt").symlink_to("F.pt")
    point_member_at(fleet, "members/link.pt")
    assert [m.label for m in read_fleet(fleet).members] == ["M", "F"]


def test_a_checkpoint_that_would_run_code_is_refused(fleet: Path, tmp_path: Path) -> None:
    """The checksum matches (a colleague's fleet, signed by its manifest): weights_only=True still refuses it."""
    marker = tmp_path / "ran"
    buffer = io.BytesIO()
    torch.save({"architecture": "lenet5-autoencoder", "state_dict": LeNet5AutoEncoder().state_dict(),
                "metadata": {"dataset": "F", "loss": "mse"}, "extra": RunsCode(marker)}, buffer)
    member = fleet / "members" / "F.pt"
    member.write_bytes(buffer.getvalue())
    manifest = json.loads((fleet / MANIFEST).read_text())
    manifest["members"][1]["sha256"] = hashlib.sha256(buffer.getvalue()).hexdigest()
    (fleet / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(SimexError, match=r"F.pt: not a readable autoencoder checkpoint .*weights_only"):
        read_fleet(fleet)
    with pytest.raises(FleetError):
        load_autoencoder(member)
    assert not marker.exists()


def test_checkpoints_are_loaded_with_weights_only(monkeypatch, fleet: Path) -> None:
    calls = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: calls.append(k) or real_load(*a, **k))
    read_fleet(fleet)
    assert calls and all(call.get("weights_only") is True for call in calls)


def test_a_copied_fleet_folder_reads_the_same(fleet: Path, tmp_path: Path) -> None:
    shutil.copytree(fleet, tmp_path / "copy")
    assert [m.sha256 for m in read_fleet(tmp_path / "copy").members] == [m.sha256 for m in read_fleet(fleet).members]
