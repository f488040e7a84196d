"""Fuzzing the other files a user hands simex (issue 29): the dataset sheet, the config file,
and fleet folders (manifest, checkpoints, checksums, paths leaving the folder). Property as
in tests/fuzzing.py: read, or refused with a SimexError naming the file."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from hypothesis import example, given, strategies as st

from simex import config as simex_config
from simex.base.datasets import SHEET_COLUMNS, read_sheet
from simex.fleets.folder import MANIFEST, export_fleet, read_fleet
from simex.models.networks import LeNet5AutoEncoder
from simex.training.autoencoders import AutoencoderCard, save_autoencoder
from tests.fuzzing import read_or_refuse

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=6)
ESCAPES = ["../outside.pt", "/etc/passwd", "members/../../x.pt", "", "members\\..\\x.pt", "members/\0.pt", "out-link.pt"]


def fresh_folder(tmp_path: Path) -> Path:
    return Path(tempfile.mkdtemp(dir=tmp_path))


# --- the dataset sheet -------------------------------------------------------------------


cells = st.one_of(st.text(max_size=12), st.sampled_from(["M", "F", "npz", "idx", "class-folders", "x.npz", ""]))


@st.composite
def sheet_bytes(draw: st.DrawFn) -> bytes:
    header = draw(st.one_of(st.just(list(SHEET_COLUMNS)), st.lists(cells, max_size=6)))
    rows = draw(st.lists(st.lists(cells, max_size=7), max_size=5))
    text = "\n".join("\t".join(row) for row in [header, *rows])
    payload = text.encode("utf-8", "surrogatepass")
    tail = draw(st.sampled_from([b"", b"\xff\xfe", b"\0", b'"unterminated', b"x" * 140_000]))
    return payload + tail


@given(payload=sheet_bytes())
@example(payload=b"name\tlabel\tsource\tpath\tlabels\n\xff\xfe\n")  # UnicodeDecodeError traceback before
@example(payload=b"name\tlabel\tsource\tpath\tlabels\nx\0\n")  # csv.Error (NUL) traceback before
def test_dataset_sheets(tmp_path: Path, payload: bytes) -> None:
    path = fresh_folder(tmp_path) / "datasets.tsv"
    path.write_bytes(payload)
    read_or_refuse(lambda: read_sheet(path), path)


# --- the config file ---------------------------------------------------------------------


DEFAULT_CONFIG = yaml.safe_load(simex_config.DEFAULT_CONFIG_PATH.read_text())


def key_paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    paths = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            paths += key_paths(value, (*prefix, key))
    return paths


KEY_PATHS = key_paths(DEFAULT_CONFIG)


def with_value(config: dict, path: tuple, value: Any) -> dict:
    config = json.loads(json.dumps(config))
    node = config
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return config


@st.composite
def config_text(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["mutated", "mutated", "text", "bomb"]))
    if kind == "text":
        return draw(st.binary(max_size=200)) if draw(st.booleans()) else draw(st.text(max_size=200)).encode()
    if kind == "bomb":  # "billion laughs": nine levels of nine aliases
        levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
        levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
        return "\n".join(levels).encode()
    mutated = with_value(DEFAULT_CONFIG, draw(st.sampled_from(KEY_PATHS)), draw(json_values))
    return yaml.safe_dump(mutated, allow_unicode=True).encode()


@given(payload=config_text())
@example(payload=b"- a list, not a mapping\n")  # TypeError traceback before
@example(payload=b"key: [unclosed\n")  # yaml.ScannerError traceback before
def test_config_files(tmp_path: Path, payload: bytes) -> None:
    path = fresh_folder(tmp_path) / "config.yaml"
    path.write_bytes(payload)
    read_or_refuse(lambda: simex_config.load(path), path)


# --- fleet folders -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def base_fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fleet_fuzz")
    paths = []
    for index, dataset in enumerate(["M", "F"]):
        torch.manual_seed(index)
        path = folder / f"{dataset}.pt"
        save_autoencoder(path, LeNet5AutoEncoder(), AutoencoderCard(dataset=dataset, loss="mse", provenance="original"))
        paths.append(path)
    export_fleet(paths, folder / "fleet", "fuzz")
    return folder / "fleet"


def rewrite_sha(folder: Path, manifest: dict, index: int) -> None:
    member = manifest["members"][index]
    member["sha256"] = hashlib.sha256((folder / member["file"]).read_bytes()).hexdigest()


@st.composite
def fleet_changes(draw: st.DrawFn) -> tuple:
    return draw(st.one_of(
        st.tuples(st.just("top"), st.sampled_from(["format", "format_version", "loss", "architecture", "members",
                                                   "input_shape", "ssim", "name"]), json_values),
        st.tuples(st.just("field"), st.integers(0, 1), st.sampled_from(["key", "label", "dataset", "class_index",
                                                                         "loss", "file", "sha256", "n_samples"]),
                  json_values | st.sampled_from(ESCAPES)),
        st.tuples(st.just("escape"), st.integers(0, 1), st.sampled_from(ESCAPES)),
        st.tuples(st.just("bytes"), st.sampled_from(["manifest", "checkpoint"]), st.floats(0, 1), st.booleans()),
        st.tuples(st.just("payload"), json_values, st.sampled_from([(1, 28, 28), (3, 32, 32), (1, 4096, 4096), None]),
                  st.booleans()),
    ))


def apply_change(folder: Path, change: tuple) -> None:
    manifest = json.loads((folder / MANIFEST).read_text())
    kind = change[0]
    if kind == "top":
        manifest[change[1]] = change[2]
    elif kind == "field":
        manifest["members"][change[1]][change[2]] = change[3]
    elif kind == "escape":
        (folder / "out-link.pt").symlink_to(folder.parent / "outside.pt")
        (folder.parent / "outside.pt").write_bytes(b"outside")
        manifest["members"][change[1]]["file"] = change[2]
    elif kind == "bytes":
        target = folder / (MANIFEST if change[1] == "manifest" else manifest["members"][0]["file"])
        payload = target.read_bytes()
        at = int(len(payload) * change[2])
        target.write_bytes(payload[:at] if change[3] else payload[:at] + b"\x00" + payload[at + 1:])
        if change[1] == "manifest":
            return
        rewrite_sha(folder, manifest, 0)  # the checksum matches: the checkpoint reader itself is tested
    elif kind == "payload":  # a checkpoint with the right checksum and any metadata
        metadata = change[1] if not isinstance(change[1], dict) else {"dataset": "M", "loss": "mse", **change[1]}
        if isinstance(metadata, dict) and change[2] is not None:
            metadata["input_shape"] = list(change[2])
        state = LeNet5AutoEncoder().state_dict() if change[3] else {"w": torch.zeros(2)}
        buffer = io.BytesIO()
        torch.save({"architecture": "lenet5-autoencoder", "state_dict": state, "metadata": metadata}, buffer)
        (folder / manifest["members"][0]["file"]).write_bytes(buffer.getvalue())
        rewrite_sha(folder, manifest, 0)
    (folder / MANIFEST).write_text(json.dumps(manifest))


@given(change=fleet_changes())
@example(change=("escape", 0, "../outside.pt"))
@example(change=("escape", 1, "out-link.pt"))  # a symlink leaving the folder
@example(change=("field", 0, "file", 7))  # TypeError (Path / int) traceback before
@example(change=("top", "input_shape", 5))  # TypeError in InputShape.parse before
@example(change=("top", "members", [[1, 2]]))  # TypeError: Member(**list) before
@example(change=("payload", {}, (1, 4096, 4096), True))  # a card declaring a 4096×4096 shape: 16 GB of weights
@example(change=("payload", "not a mapping", None, True))  # AttributeError traceback before
def test_fleet_folders(tmp_path: Path, base_fleet: Path, change: tuple) -> None:
    folder = fresh_folder(tmp_path) / "fleet"
    shutil.copytree(base_fleet, folder)
    apply_change(folder, change)
    read_or_refuse(lambda: read_fleet(folder), folder)
