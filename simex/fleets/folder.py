"""The fleet folder: trained autoencoders, what each was trained on, and checksums.

A fleet is a folder the pipeline exports (``results/fleets/{name}/{loss}/``)::

    manifest.json        what each autoencoder was trained on (see :func:`export_fleet`)
    members/{key}.pt     the checkpoints, each with its SHA-256 in the manifest
    members/{key}@{r}.pt replica r > 0 of the same known dataset (or class): its own seed

A fleet may hold several autoencoders (replicas) per known label: each member records its
``label`` and ``replica`` (0, 1, ...). A manifest from before replicas reads as replica 0 of
each label, one autoencoder per known dataset.

:func:`export_fleet` writes one, all or nothing; :func:`read_fleet` reads one back and
verifies it (format version, checksums, one loss, readable checkpoints). Ranking with a
fleet is simex.fleets.rank's business.

A fleet folder is data, not code: every manifest entry names a file inside the folder
(no ``..``, no absolute path, no symlink that leaves it), every field has its type, and
checkpoints are read with ``torch.load(weights_only=True)`` (simex.base.artifacts), so a
fleet shared by someone else cannot read files elsewhere or run code.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import shutil
import tempfile
import typing
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Sequence

from simex.base.datasets import MARKERS, dataset_info
from simex.base.errors import SimexError
from simex.config import SSIMWindow
from simex.training.autoencoders import ARCHITECTURE, DEFAULT_INPUT_SHAPE, AutoencoderCard, FleetError, load_autoencoder
from simex.models.losses import LOSSES
from simex.data.images import InputShape
from simex.models.networks import LeNet5AutoEncoder

MANIFEST = "manifest.json"
FORMAT = "simex-fleet"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Member:
    key: str  # file stem: "M", or "M4" for class 4 of M
    label: str  # display label with provenance marker: "E*", "M:4", "E*:a"
    dataset: str
    class_index: int | None
    class_name: str | None
    loss: str
    provenance: str
    source: str
    n_samples: int | None
    file: str  # relative to the fleet folder
    sha256: str
    replica: int = 0  # which of the label's autoencoders (own seeds); manifests before replicas: 0


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def member_from_card(card: AutoencoderCard, file: str, sha256: str) -> Member:
    dataset, class_index = card.dataset, card.class_index
    provenance = card.provenance or "original"  # a checkpoint from before provenance was recorded
    label = card.label or dataset + MARKERS.get(provenance, "")
    class_name = None
    key = dataset
    if class_index is not None:
        # a user's dataset (simex fleet build, the dataset sheet) records its class names; the paper's are registered
        class_name = card.class_name or dataset_info(dataset).class_names[class_index]
        label = f"{label}:{class_name}"
        key = f"{dataset}{class_index}"
    return Member(key=key, label=label, dataset=dataset, class_index=class_index, class_name=class_name,
                  loss=card.loss, provenance=provenance, source=card.source or "", n_samples=card.n_samples,
                  file=file, sha256=sha256, replica=card.replica or 0)


def member_file(member: Member) -> str:
    """Where a member's checkpoint goes in the fleet folder: replica 0 keeps the plain name."""
    return f"members/{member.key}.pt" if member.replica == 0 else f"members/{member.key}@{member.replica}.pt"


def check_replicas(members: Sequence[Member], where: str) -> None:
    """Each (label, replica) once, replicas non-negative integers, a label's replicas of one dataset (class)."""
    seen: set[tuple[str, int]] = set()
    first: dict[str, Member] = {}
    for member in members:
        if isinstance(member.replica, bool) or not isinstance(member.replica, int) or member.replica < 0:
            raise FleetError(f"{where}: member {member.label}: replica {member.replica!r} is not a "
                             f"non-negative integer")
        if (member.label, member.replica) in seen:
            raise FleetError(f"{where}: two autoencoders of the fleet are both {member.label}, replica "
                             f"{member.replica}")
        seen.add((member.label, member.replica))
        other = first.setdefault(member.label, member)
        if (other.dataset, other.class_index) != (member.dataset, member.class_index):
            raise FleetError(f"{where}: the replicas of {member.label} were trained on different data")


def check_single_loss(members: Sequence[Member], where: str) -> str:
    losses = sorted({m.loss for m in members})
    if len(losses) != 1:
        detail = ", ".join(f"{m.label}: {m.loss}" for m in members)
        raise FleetError(f"{where}: the fleet mixes losses ({detail}); a fleet ranks with one δ, so every "
                         f"autoencoder must have been trained with the same loss")
    return losses[0]


def export_fleet(model_paths: Sequence[Path | str], destination: Path | str, name: str,
                 description: str = "", replace: bool = True) -> dict[str, Any]:
    """Copy trained autoencoders into a fleet folder with its manifest; all or nothing.

    The folder is assembled beside ``destination`` and renamed into place, so a failed
    export leaves no partial fleet behind. ``replace=False``: a fleet already at
    ``destination`` (another process's, written meanwhile) is kept and FleetError raised.
    """
    destination = Path(destination)
    if not model_paths:
        raise FleetError(f"{destination}: no autoencoders to export")
    loaded = []
    for path in map(Path, model_paths):
        loaded.append((path, load_autoencoder(path)[1]))
    members = []
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", dir=destination.parent))
    try:
        (staging / "members").mkdir()
        for path, card in loaded:
            draft = member_from_card(card, "", "")
            file = member_file(draft)
            if (staging / file).exists():
                raise FleetError(f"{path}: two autoencoders of the fleet are both {draft.label}"
                                 + (f", replica {draft.replica}" if draft.replica else ""))
            shutil.copyfile(path, staging / file)
            members.append(member_from_card(card, file, sha256_of(staging / file)))
        loss = check_single_loss(members, str(destination))
        check_replicas(members, str(destination))
        shapes = sorted({card.shape for _, card in loaded})
        if len(shapes) != 1:
            raise FleetError(f"{destination}: the autoencoders have different input shapes {shapes}; a fleet has one")
        window = loaded[0][1].ssim or SSIMWindow.default()
        manifest = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "name": name, "description": description,
            "architecture": ARCHITECTURE, "loss": loss, "ssim": {"win_size": int(window.size),
                                                                 "win_sigma": float(window.sigma)},
            "kind": "class" if any(m.class_index is not None for m in members) else "dataset",
            "input_shape": list(shapes[0]),
            "members": [asdict(m) for m in members],
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        if destination.exists() and replace:
            shutil.rmtree(destination)
        try:
            os.rename(staging, destination)  # fails when a non-empty folder is there: never merged into one
        except OSError as err:
            raise FleetError(f"{destination} already exists (written by another process meanwhile?); it was left "
                             f"as it is ({err.strerror})") from err
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return manifest


def resolve_fleet(path: Path | str, loss: str | None = None) -> Path:
    """The folder holding manifest.json: ``path`` itself or its ``{loss}`` subfolder."""
    path = Path(path)
    if not path.exists():
        raise FleetError(f"{path}: no such fleet (expected a folder with {MANIFEST})")
    if not path.is_dir():
        raise FleetError(f"{path}: a fleet is a folder with {MANIFEST}, not a file")
    if (path / MANIFEST).is_file():
        return path
    choices = sorted(p.name for p in path.iterdir() if (p / MANIFEST).is_file())
    if not choices:
        raise FleetError(f"{path}: not a fleet: no {MANIFEST} here or in a loss subfolder")
    if loss is None:
        if len(choices) > 1:
            raise FleetError(f"{path}: holds fleets for several losses ({', '.join(choices)}); choose one with --loss")
        return path / choices[0]
    if loss not in choices:
        raise FleetError(f"{path}: no fleet for loss {loss!r}; available: {', '.join(choices)}")
    return path / loss


def read_manifest(folder: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise FleetError(f"{folder / MANIFEST}: corrupt manifest ({err})") from err
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise FleetError(f"{folder / MANIFEST}: not a {FORMAT} manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise FleetError(f"{folder / MANIFEST}: format version {manifest.get('format_version')!r}, "
                         f"this simex reads {FORMAT_VERSION}")
    missing = [k for k in ("loss", "members", "architecture") if k not in manifest]
    if missing or not isinstance(manifest.get("members"), list) or not manifest["members"]:
        raise FleetError(f"{folder / MANIFEST}: corrupt manifest (missing or empty: {', '.join(missing) or 'members'})")
    wrong = [key for key, kind in (("loss", str), ("architecture", str), ("name", str), ("ssim", dict),
                                   ("input_shape", list)) if key in manifest and not isinstance(manifest[key], kind)]
    if wrong:
        raise FleetError(f"{folder / MANIFEST}: corrupt manifest (wrong type: {', '.join(wrong)})")
    return manifest


def manifest_member(folder: Path, entry: Any) -> Member:
    """One manifest entry as a Member, each field of its type (FleetError names the entry)."""
    where = f"{folder / MANIFEST}: member {entry.get('label', '?') if isinstance(entry, dict) else '?'!r}"
    if not isinstance(entry, dict):
        raise FleetError(f"{where}: corrupt member entry (not a mapping)")
    try:
        member = Member(**entry)
    except TypeError as err:
        raise FleetError(f"{where}: corrupt member entry ({err})") from err
    hints = typing.get_type_hints(Member)
    for spec in dataclasses.fields(Member):
        value, hint = getattr(member, spec.name), hints[spec.name]
        allowed = typing.get_args(hint) or (hint,)
        if isinstance(value, bool) or not isinstance(value, tuple(t for t in allowed if isinstance(t, type))):
            raise FleetError(f"{where}: field {spec.name!r} is {value!r}, expected {hint}")
    return member


def member_path(folder: Path, member: Member) -> Path:
    """The member's file, which must lie inside ``folder``: no ``..``, no absolute path, no symlink leaving it."""
    relative = PurePosixPath(member.file)
    if not member.file or relative.is_absolute() or ".." in relative.parts or "\\" in member.file \
            or "\0" in member.file:
        raise FleetError(f"{folder / MANIFEST}: member {member.label!r}: file {member.file!r} is not a path inside "
                         f"the fleet folder (a fleet is data: no '..', no absolute paths)")
    path = folder / relative
    if not path.resolve().is_relative_to(folder.resolve()):
        raise FleetError(f"{folder / MANIFEST}: member {member.label!r}: file {member.file!r} is a symlink that "
                         f"leaves the fleet folder")
    return path


def manifest_window(folder: Path, manifest: dict[str, Any]) -> SSIMWindow:
    ssim = manifest.get("ssim")
    try:
        window = SSIMWindow.from_dict(ssim) if ssim else SSIMWindow.default()
    except (SimexError, TypeError, ValueError, KeyError) as err:
        raise FleetError(f"{folder / MANIFEST}: corrupt ssim window {ssim!r} ({err})") from err
    if isinstance(window.size, bool) or not isinstance(window.size, int) or window.size < 1 or window.size % 2 == 0 \
            or not isinstance(window.sigma, (int, float)) or not math.isfinite(window.sigma) or window.sigma <= 0:
        raise FleetError(f"{folder / MANIFEST}: corrupt ssim window {ssim!r} (an odd size >= 1 and a sigma > 0)")
    return window


@dataclass
class FleetFolder:
    """A verified fleet folder: its members and their autoencoders, on the CPU."""

    root: Path
    name: str
    loss: str
    window: SSIMWindow
    members: list[Member]
    models: list[LeNet5AutoEncoder]
    input_shape: InputShape  # new data is converted to it (manifests before shapes: 1×28×28)


def read_fleet(path: Path | str, loss: str | None = None) -> FleetFolder:
    """Load and verify a fleet (checksums, one loss, readable checkpoints)."""
    if loss is not None and loss not in LOSSES:
        raise FleetError(f"unknown loss {loss!r}; expected one of {', '.join(LOSSES)}")
    folder = resolve_fleet(path, loss)
    manifest = read_manifest(folder)
    if manifest["architecture"] != ARCHITECTURE:
        raise FleetError(f"{folder}: architecture {manifest['architecture']!r}; this simex runs {ARCHITECTURE}")
    members = [manifest_member(folder, entry) for entry in manifest["members"]]
    fleet_loss = check_single_loss(members, str(folder))
    check_replicas(members, str(folder / MANIFEST))
    try:
        shape = InputShape.parse(manifest.get("input_shape", DEFAULT_INPUT_SHAPE))
    except (SimexError, TypeError) as err:
        raise FleetError(f"{folder / MANIFEST}: corrupt input_shape ({err})") from err
    if fleet_loss != manifest["loss"]:
        raise FleetError(f"{folder}: the manifest says loss {manifest['loss']!r} but its members use {fleet_loss!r}")
    if loss is not None and loss != fleet_loss:
        raise FleetError(f"{folder}: this fleet ranks with {fleet_loss!r}, not the requested {loss!r}")
    window = manifest_window(folder, manifest)
    models = []
    for member in members:
        file = member_path(folder, member)
        if not file.is_file():
            raise FleetError(f"{folder}: member {member.label} is missing its file {member.file}")
        if sha256_of(file) != member.sha256:
            raise FleetError(f"{file}: checksum mismatch with the manifest (corrupt or replaced file)")
        model, card = load_autoencoder(file, "cpu")
        if card.loss != fleet_loss:
            raise FleetError(f"{file}: trained with loss {card.loss!r}, the fleet ranks with "
                             f"{fleet_loss!r}: the fleet mixes losses")
        if model.input_shape != shape.as_tuple():
            raise FleetError(f"{file}: input shape {model.input_shape}, the manifest says {shape}")
        models.append(model)
    return FleetFolder(folder, str(manifest.get("name", folder.name)), fleet_loss, window, members, models, shape)
