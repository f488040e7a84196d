"""simex fleet build: fleets from small datasets in real formats, ranked on held-out parts; bad input; atomicity."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from simex.fleets import build
from simex.fleets.build import build_fleet, parse_dataset_arguments
from simex.cli import EXIT_BAD_INPUT, main
from simex.data.images import (DatasetInputError, DuplicateNameError, EmptyClassError, InputShape, LabelCountError,
                          MissingPathError, MixedSizesError, TooFewSamplesError, UnreadableImageError)
from simex.models.networks import LeNet5AutoEncoder
from simex.inference.evaluate import FleetEvaluator, plain_errors
from simex.models.losses import per_sample_loss
from simex.fleets.rank import Fleet
from simex.training.loop import TrainConfig
from tests.test_images import pattern, write_pngs

CONFIG = TrainConfig("rmsprop", 3e-3, epochs=1, batch_size=16, seed=3, steps=40)


@pytest.fixture(autouse=True)
def one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    """Three known datasets in three formats (training part) and their held-out parts (N×H×W×C)."""
    root = tmp_path_factory.mktemp("known")
    held_out = {}
    # PNG class folders at 40x40 grayscale (two classes)
    for name, kind, seed in (("sq", "squares", 1), ("br", "bright", 2)):
        images = pattern(kind, 70, 40, seed)
        write_pngs(root / "shapes" / name, images[:60])
        held_out.setdefault("shapes", []).append(images[60:])
    # RGB PNGs at 36x36, flat folder
    rgb = pattern("bright", 80, 36, 3, channels=3)
    write_pngs(root / "rgb", rgb[:60])
    held_out["rgb"] = rgb[60:]
    # .npz, 28x28 channels-last RGB with labels
    stripes = pattern("stripes", 80, 28, 4, channels=3)
    np.savez(root / "stripes.npz", images=stripes[:60], labels=np.arange(60) % 2)
    held_out["stripes"] = stripes[60:]
    paths = {"shapes": str(root / "shapes"), "rgb": str(root / "rgb"), "stripes": str(root / "stripes.npz")}
    return paths, {name: np.concatenate(parts) if isinstance(parts, list) else parts
                   for name, parts in held_out.items()}


def test_fleet_from_three_formats_ranks_each_held_out_part_first(tmp_path: Path, datasets) -> None:
    paths, held_out = datasets
    lines: list[str] = []
    manifest = build_fleet(list(paths.items()), tmp_path / "fleet", "mse", CONFIG, progress=False, report=lines.append,
                           members=1)  # replicas: tests/test_members.py
    assert [m["label"] for m in manifest["members"]] == ["shapes", "rgb", "stripes"]
    assert manifest["input_shape"] == [1, 28, 28] and manifest["loss"] == "mse"
    assert all(m["provenance"] == "user" and m["sha256"] for m in manifest["members"])
    assert any("40×40 grayscale → 1×28×28" in line for line in lines)
    assert any("36×36 RGB → 1×28×28: to grayscale (ITU-R 601-2 luma); resized" in line for line in lines)
    fleet = Fleet.load(tmp_path / "fleet", loss="mse")
    for name, images in held_out.items():
        ranking = fleet.rank(images)  # N×H×W×C arrays of other sizes and modes, converted like the build
        assert ranking.top == name, (name, ranking.order)
    assert "RGB → 1×28×28" in fleet.rank(held_out["stripes"]).conversion


def test_rgb_fleet_uses_a_3x32x32_autoencoder_and_the_fused_evaluator_matches(tmp_path: Path, datasets) -> None:
    paths, held_out = datasets
    shape = InputShape(3, 32, 32)
    manifest = build_fleet([("rgb", paths["rgb"]), ("stripes", paths["stripes"])], tmp_path / "f", "issim", CONFIG,
                           shape=shape, progress=False, report=lambda line: None, members=1)
    assert manifest["input_shape"] == [3, 32, 32]
    fleet = Fleet.load(tmp_path / "f")
    assert all(m.input_shape == (3, 32, 32) for m in fleet.models)
    assert fleet.rank(held_out["rgb"]).top == "rgb" and fleet.rank(held_out["stripes"]).top == "stripes"
    x = torch.rand(9, 3, 32, 32)
    np.testing.assert_allclose(FleetEvaluator(fleet.models, per_sample_loss("issim")).errors(x),
                               plain_errors(fleet.models, x, per_sample_loss("issim")),
                               rtol=1e-4, atol=1e-6)


def test_per_class_members_rank_their_class_first(tmp_path: Path, datasets) -> None:
    paths, held_out = datasets
    manifest = build_fleet([("shapes", paths["shapes"])], tmp_path / "c", "mse", CONFIG, per_class=True,
                           progress=False, report=lambda line: None, members=1)
    assert [(m["key"], m["label"], m["class_name"]) for m in manifest["members"]] == [
        ("shapes0", "shapes:br", "br"), ("shapes1", "shapes:sq", "sq")]
    fleet = Fleet.load(tmp_path / "c")
    squares_part, bright_part = held_out["shapes"][:10], held_out["shapes"][10:]
    assert fleet.rank(squares_part).top == "shapes:sq" and fleet.rank(bright_part).top == "shapes:br"


def test_the_autoencoder_family_sized_to_the_input_shape() -> None:
    def shapes(model: LeNet5AutoEncoder) -> list[tuple[int, ...]]:
        return [tuple(p.shape) for p in model.parameters() if p.ndim > 1]

    # the paper's model, layer by layer (16·5·5 = 400 at the bottleneck), as before shapes were parameters
    assert shapes(LeNet5AutoEncoder()) == [(6, 1, 5, 5), (16, 6, 5, 5), (120, 400), (84, 120), (120, 84), (400, 120),
                                           (16, 6, 5, 5), (1, 6, 5, 5)]
    # 3x32x32: three channels in and out, 16·6·6 = 576 at the bottleneck
    rgb = LeNet5AutoEncoder(3, 32, 32)
    assert shapes(rgb) == [(6, 3, 5, 5), (16, 6, 5, 5), (120, 576), (84, 120), (120, 84), (576, 120), (16, 6, 5, 5),
                           (3, 6, 5, 5)]
    assert rgb(torch.rand(2, 3, 32, 32)).shape == (2, 3, 32, 32)


# --- bad input: a named error, nothing written ---------------------------------------


def bad_case(kind: str, root: Path) -> list[tuple[str, str]]:
    good = str(write_pngs(root / "good", pattern("squares", 30, 28, 20)))
    if kind == "mixed sizes":
        folder = write_pngs(root / "mixed", pattern("squares", 30, 28, 21))
        write_pngs(root / "wide", pattern("squares", 1, 28, 22)[:, :, :20]).joinpath("0000.png").rename(folder / "w.png")
        return [("good", good), ("mixed", str(folder))]
    if kind == "empty class":
        write_pngs(root / "classes" / "a", pattern("squares", 30, 28, 23))
        (root / "classes" / "b").mkdir()
        return [("good", good), ("classes", str(root / "classes"))]
    if kind == "too few":
        return [("good", good), ("few", str(write_pngs(root / "few", pattern("bright", 5, 28, 24))))]
    if kind == "missing":
        return [("good", good), ("gone", str(root / "nowhere"))]
    if kind == "label count":
        np.savez(root / "d.npz", images=pattern("bright", 30, 28, 25), labels=np.zeros(29, np.int64))
        return [("good", good), ("d", str(root / "d.npz"))]
    if kind == "unreadable":
        folder = write_pngs(root / "broken", pattern("bright", 30, 28, 26))
        (folder / "zz.png").write_bytes(b"\x89PNG truncated")
        return [("good", good), ("broken", str(folder))]
    raise ValueError(kind)


@pytest.mark.parametrize("kind, error, message", [
    ("mixed sizes", MixedSizesError, "cannot be reconciled"),
    ("empty class", EmptyClassError, "holds no images"),
    ("too few", TooFewSamplesError, "5 samples, fewer than the 20"),
    ("missing", MissingPathError, "nowhere does not exist"),
    ("label count", LabelCountError, "30 images but labels of shape"),
    ("unreadable", UnreadableImageError, "zz.png: not a readable image"),
])
def test_bad_input_is_named_and_nothing_is_written(tmp_path: Path, kind: str, error: type, message: str) -> None:
    pairs = bad_case(kind, tmp_path / "data")
    with pytest.raises(error, match=message):
        build_fleet(pairs, tmp_path / "fleet", "mse", CONFIG, progress=False, report=lambda line: None)
    assert not (tmp_path / "fleet").exists() or not any((tmp_path / "fleet").iterdir())


def test_a_name_used_twice_and_malformed_arguments() -> None:
    with pytest.raises(DuplicateNameError, match="'a' is used twice"):
        parse_dataset_arguments(["a=x.npz", "b=y.npz", "a=z.npz"])
    for bad in ("novalue", "=x.npz", "a/b=x.npz"):
        with pytest.raises(DatasetInputError):
            parse_dataset_arguments([bad])


def test_per_class_needs_labels(tmp_path: Path) -> None:
    folder = write_pngs(tmp_path / "flat", pattern("squares", 30, 28, 27))
    with pytest.raises(DatasetInputError, match="--per-class needs labels"):
        build_fleet([("flat", str(folder))], tmp_path / "fleet", "mse", CONFIG, per_class=True, progress=False,
                    report=lambda line: None)


def test_a_build_that_dies_midway_leaves_no_fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pairs = [("a", str(write_pngs(tmp_path / "a", pattern("squares", 30, 28, 28)))),
             ("b", str(write_pngs(tmp_path / "b", pattern("bright", 30, 28, 29))))]
    saved = []
    original = build.save_autoencoder

    def dies_on_the_second(path, *args, **kwargs):  # killed while writing the second member's checkpoint
        if saved:
            raise KeyboardInterrupt
        saved.append(Path(path).stem)
        return original(path, *args, **kwargs)

    monkeypatch.setattr(build, "save_autoencoder", dies_on_the_second)
    with pytest.raises(KeyboardInterrupt):
        build_fleet(pairs, tmp_path / "fleet", "mse", CONFIG, progress=False, report=lambda line: None)
    assert saved == ["a"] and list((tmp_path / "fleet").iterdir()) == []
    with pytest.raises(ValueError, match="no such fleet|not a fleet"):
        Fleet.load(tmp_path / "fleet")


# --- the command line --------------------------------------------------------------------


def test_cli_build_then_rank_a_channels_last_rgb_array(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       datasets) -> None:
    paths, held_out = datasets
    code = main(["fleet", "build", "--out", str(tmp_path / "mine"), "--loss", "mse", "--steps", "40",
                 "--batch-size", "16", "--lr", "3e-3", "--quiet", f"stripes={paths['stripes']}",
                 f"rgb={paths['rgb']}"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "stripes: " in out and "conversion: 28×28 RGB → 1×28×28" in out and "fleet written:" in out
    manifest = json.loads((tmp_path / "mine" / "mse" / "manifest.json").read_text())
    assert manifest["name"] == "mine" and manifest["input_shape"] == [1, 28, 28]
    np.save(tmp_path / "new.npy", held_out["stripes"])  # N×28×28×3: refused before input shapes existed
    assert main(["rank", "--fleet", str(tmp_path / "mine"), "--data", str(tmp_path / "new.npy")]) == 0
    out = capsys.readouterr().out
    assert "input conversion: 28×28 RGB → 1×28×28" in out and out.splitlines()[5].split()[:2] == ["1", "stripes"]
    code = main(["fleet", "build", "--out", str(tmp_path / "mine"), "--loss", "mse", f"x={paths['rgb']}"])
    assert code == EXIT_BAD_INPUT and "already exists" in capsys.readouterr().err
