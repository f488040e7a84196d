"""simex.fleets.rank and simex.data.readers: the fleet, its fused evaluator, ranking, express mode, readers."""

from __future__ import annotations

from dataclasses import replace

import functools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from simex.base.formats import encode_idx
from simex.training.autoencoders import AutoencoderCard, FleetError, save_autoencoder, train_autoencoder
from simex.fleets.folder import export_fleet
from simex.models.fused import subpixel_kernel
from simex.inference.evaluate import FleetEvaluator, plain_errors
from simex.models.losses import SSIMWindow, per_sample_loss
from simex.models.networks import LeNet5AutoEncoder
from simex.fleets.rank import Fleet, RankSettings
from simex.data.readers import image_to_array, normalize_images, open_samples
from simex.data.images import InputError
from simex.analysis.tables import ranking_csv, ranking_json, ranking_text
from simex.training.loop import TrainConfig


# --- two very different synthetic datasets and a tiny fleet trained on them ------------


def read_images(path: Path) -> np.ndarray:
    """Every sample of the unknown dataset at ``path``, as `simex rank` reads them."""
    source = open_samples(path)
    return source.take(np.arange(len(source)))


def squares(n: int, seed: int) -> np.ndarray:
    """Dark images with a bright square near the centre (position jittered), faint noise."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 20, size=(n, 28, 28)).astype(np.uint8)
    for image, (r, c) in zip(images, rng.integers(8, 12, size=(n, 2))):
        image[r : r + 8, c : c + 8] = 230
    return images


def bright(n: int, seed: int) -> np.ndarray:
    """Bright images with a dark frame and noise: the opposite of ``squares``."""
    rng = np.random.default_rng(seed)
    images = rng.integers(190, 256, size=(n, 28, 28)).astype(np.uint8)
    images[:, :3], images[:, -3:], images[:, :, :3], images[:, :, -3:] = 10, 10, 10, 10
    return images


def metadata(dataset: str, loss: str, provenance: str = "original", label: int | None = None) -> AutoencoderCard:
    marker = {"original": "", "regenerated": "†", "stand-in": "*"}[provenance]
    return AutoencoderCard.from_metadata({"dataset": dataset, "label": dataset + marker, "class": label, "loss": loss,
                                          "provenance": provenance, "source": "test", "n_samples": 256,
                                          "ssim": {"win_size": 7, "win_sigma": 1.0}})


@functools.lru_cache(maxsize=None)
def trained_models(loss: str = "mse") -> tuple[LeNet5AutoEncoder, LeNet5AutoEncoder]:
    """A(squares) and A(bright), three epochs each (about a second on a CPU)."""
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    config = TrainConfig("rmsprop", 1e-3, epochs=3, batch_size=32, seed=7)
    return tuple(train_autoencoder(data, loss, SSIMWindow.default(), config, torch.device("cpu"))[0]  # type: ignore[return-value]
                 for data in (squares(256, 1), bright(256, 2)))


def make_fleet(folder: Path, loss: str = "mse") -> Path:
    """A two-member fleet: M = A(squares), E* = A(bright) (codes reused as names)."""
    model_files = []
    for code, provenance, model in zip(("M", "E"), ("original", "stand-in"), trained_models(loss)):
        path = folder / "models" / f"{code}_{loss}.pt"
        save_autoencoder(path, model, metadata(code, loss, provenance))
        model_files.append(path)
    destination = folder / "fleets" / "toy" / loss
    export_fleet(model_files, destination, "toy")
    return destination


@pytest.fixture(scope="module")
def fleet_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_fleet(tmp_path_factory.mktemp("fleet"))


# --- the fused evaluator equals the plain loop -----------------------------------------


def test_subpixel_kernel_equals_upsample_then_conv() -> None:
    torch.manual_seed(0)
    weight, x = torch.randn(3, 6, 5, 5), torch.randn(4, 6, 9, 9)
    reference = torch.nn.functional.conv2d(torch.nn.functional.interpolate(x, scale_factor=2), weight, padding=2)
    subpixel = torch.nn.functional.pixel_shuffle(torch.nn.functional.conv2d(x, subpixel_kernel(weight), padding=1), 2)
    torch.testing.assert_close(subpixel, reference, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("loss", ["mse", "issim"])
def test_fused_evaluator_matches_each_model_on_its_own(loss: str) -> None:
    torch.manual_seed(1)
    models = [LeNet5AutoEncoder().eval() for _ in range(3)]
    x = torch.rand(37 + 1024 // 3, 1, 28, 28)  # more than one CPU pass of the evaluator
    fused = FleetEvaluator(models, per_sample_loss(loss)).errors(x)
    torch.testing.assert_close(fused, plain_errors(models, x, per_sample_loss(loss)), atol=2e-6, rtol=1e-5)


# --- ranking ---------------------------------------------------------------------------


def test_each_dataset_ranks_its_own_autoencoder_first(fleet_dir: Path) -> None:
    fleet = Fleet.load(fleet_dir)
    assert fleet.labels == ["M", "E*"] and fleet.loss == "mse"
    on_squares = fleet.rank(squares(200, 11))
    on_bright = fleet.rank(bright(200, 12))
    assert on_squares.order == ["M", "E*"]
    assert on_bright.order == ["E*", "M"]
    top = on_squares.table.iloc[0]
    assert top.ci_low <= top.delta <= top.ci_high and top.p_top == 1.0
    assert on_squares.n_used == on_squares.n_total == 200 and not on_squares.stopped_early


def test_ranking_is_the_same_for_any_batch_size(fleet_dir: Path) -> None:
    fleet = Fleet.load(fleet_dir)
    data = np.concatenate([squares(60, 3), bright(40, 4)])
    rankings = [fleet.rank(data, batch_size=size) for size in (1, 7, 64, 4096)]
    for ranking in rankings[1:]:
        assert ranking.order == rankings[0].order
        np.testing.assert_allclose(ranking.table["delta"], rankings[0].table["delta"], rtol=1e-5)
        np.testing.assert_allclose(ranking.table["ci_low"], rankings[0].table["ci_low"], rtol=1e-5)


def test_uint8_and_float_inputs_give_the_same_ranking(fleet_dir: Path) -> None:
    fleet = Fleet.load(fleet_dir)
    data = squares(50, 5)
    as_float = (data.astype(np.float32) / 255.0)[:, None]
    np.testing.assert_allclose(fleet.errors(data), fleet.errors(as_float), rtol=1e-6)


def test_express_stops_early_once_settled_and_says_so(fleet_dir: Path) -> None:
    fleet = Fleet.load(fleet_dir)
    settings = replace(RankSettings.from_config(seed=3, express=True), step=32, min_samples=32, budget=0)
    ranking = fleet.rank(squares(2000, 6), settings=settings)
    assert ranking.stopped_early and ranking.stop_reason == "settled"
    assert ranking.n_used < 2000 and ranking.top == "M"
    assert "stopped early" in ranking_text(ranking)


def test_express_stops_at_the_budget(fleet_dir: Path) -> None:
    fleet = Fleet.load(fleet_dir)
    # Half of each: the two members are hard to separate, the budget ends the reading.
    data = np.concatenate([squares(300, 7), bright(300, 8)])
    settings = replace(RankSettings.from_config(express=True), step=50, min_samples=50, budget=100)
    ranking = fleet.rank(data, settings=settings)
    assert ranking.n_used <= 100 and ranking.stopped_early
    assert ranking.stop_reason in ("budget", "settled")


def test_output_formats_carry_the_same_ranking(fleet_dir: Path) -> None:
    ranking = Fleet.load(fleet_dir).rank(squares(40, 9))
    payload = json.loads(ranking_json(ranking))
    assert [row["label"] for row in payload["ranking"]] == ranking.order
    assert payload["n_used"] == 40 and payload["stopped_early"] is False
    assert ranking_csv(ranking).splitlines()[0].startswith("rank,label,key,dataset,class,delta,ci_low,ci_high,p_top")
    assert "* synthetic stand-in" in ranking_text(ranking)


# --- fleet manifest --------------------------------------------------------------------


def test_manifest_records_what_each_member_was_trained_on(fleet_dir: Path) -> None:
    manifest = json.loads((fleet_dir / "manifest.json").read_text())
    assert manifest["loss"] == "mse" and manifest["kind"] == "dataset"
    member = manifest["members"][1]
    assert member["label"] == "E*" and member["provenance"] == "stand-in" and len(member["sha256"]) == 64
    assert (fleet_dir / member["file"]).is_file()


def test_class_fleet_labels_name_dataset_and_class(tmp_path: Path) -> None:
    models = trained_models("mse")
    files = []
    for label, model in zip((3, 4), models):
        path = tmp_path / f"{label}.pt"
        save_autoencoder(path, model, metadata("E", "mse", "stand-in", label=label))
        files.append(path)
    manifest = export_fleet(files, tmp_path / "fleet", "E-classes")
    assert manifest["kind"] == "class"
    assert [m["label"] for m in manifest["members"]] == ["E*:d", "E*:e"]


def test_export_refuses_a_fleet_mixing_losses_and_leaves_nothing(tmp_path: Path) -> None:
    model = LeNet5AutoEncoder()
    save_autoencoder(tmp_path / "a.pt", model, metadata("M", "mse"))
    save_autoencoder(tmp_path / "b.pt", model, metadata("F", "issim"))
    with pytest.raises(FleetError, match="mixes losses"):
        export_fleet([tmp_path / "a.pt", tmp_path / "b.pt"], tmp_path / "out" / "fleet", "bad")
    assert not (tmp_path / "out" / "fleet").exists()
    assert list((tmp_path / "out").iterdir()) == []


def test_loss_subfolder_is_chosen_by_loss(fleet_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "fleet"
    shutil.copytree(fleet_dir, root / "mse")
    assert Fleet.load(root).loss == "mse"  # one loss: no need to choose
    with pytest.raises(FleetError, match="no fleet for loss 'issim'"):
        Fleet.load(root, loss="issim")


# --- readers ---------------------------------------------------------------------------


def test_image_folder_reader_matches_the_array_reader(tmp_path: Path) -> None:
    images = np.concatenate([squares(5, 20), bright(4, 21)])
    np.save(tmp_path / "images.npy", images)
    folder = tmp_path / "folder"
    folder.mkdir()
    for i, image in enumerate(images):
        Image.fromarray(image, mode="L").save(folder / f"{i:03d}.png")
    np.testing.assert_array_equal(read_images(folder), read_images(tmp_path / "images.npy"))


def test_larger_colour_images_are_area_averaged_to_grayscale(tmp_path: Path) -> None:
    gray = squares(1, 22)[0]
    rgb = np.repeat(np.repeat(np.stack([gray] * 3, axis=-1), 2, axis=0), 2, axis=1)  # 56x56 RGB, 2x2 blocks
    Image.fromarray(rgb, mode="RGB").save(tmp_path / "big.png")
    np.testing.assert_array_equal(image_to_array(tmp_path / "big.png"), gray)


def test_transparent_pixels_become_black(tmp_path: Path) -> None:
    rgba = np.zeros((28, 28, 4), dtype=np.uint8)
    rgba[..., :3] = 255
    rgba[10:18, 10:18, 3] = 255  # opaque white square, transparent white elsewhere
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "a.png")
    array = image_to_array(tmp_path / "a.png")
    assert array[14, 14] == 255 and array[0, 0] == 0


def test_npz_idx_and_channel_axis_read_the_same(tmp_path: Path) -> None:
    images = squares(6, 23)
    np.savez(tmp_path / "split.npz", images=images, labels=np.zeros(6))
    (tmp_path / "images-idx3-ubyte").write_bytes(encode_idx(images))
    np.save(tmp_path / "float.npy", (images / 255.0)[:, None].astype(np.float64))
    expected = images[:, None].astype(np.float32) / 255.0  # (N, C, H, W)
    for name in ("split.npz", "images-idx3-ubyte", "float.npy"):
        np.testing.assert_allclose(read_images(tmp_path / name), expected, atol=1e-7)


@pytest.mark.parametrize("array, message", [
    (np.zeros((0, 28, 28), np.uint8), "empty"),
    (np.zeros((3, 32, 32), np.uint8), "expected images of shape"),
    (np.full((2, 28, 28), np.nan, np.float32), "NaN or infinite"),
    (np.full((2, 28, 28), 255.0, np.float32), r"must lie in \[0, 1\]"),
    (np.zeros((2, 28, 28), np.int32), "uint8"),
])
def test_bad_arrays_are_refused_by_name(array: np.ndarray, message: str) -> None:
    with pytest.raises(InputError, match=message):
        normalize_images(array, "x")


# --- the pipeline's fleets ---------------------------------------------------------------


@pytest.mark.e2e
def test_pipeline_exports_loadable_fleets_and_the_rank_check(tiny_run: Path) -> None:
    import pandas as pd

    for loss in ("mse", "issim"):
        fleet = Fleet.load(tiny_run / "results" / "fleets" / "dataset", loss=loss)
        assert [fleet.members[group[0]].dataset for group in fleet.groups] == ["M", "E", "R", "B", "F"]
        assert [[fleet.members[i].replica for i in group] for group in fleet.groups] == [[0, 1, 2]] * 5
        assert all(m.loss == loss for m in fleet.members)
    check = pd.read_csv(tiny_run / "results" / "tables" / "fleet_rank_check.csv")
    assert set(check["fleet"]) >= {"dataset"} and set(check["loss"]) == {"mse", "issim"}
    assert check["own_rank"].between(1, 10).all() and check["express_n_used"].le(check["n_samples"]).all()
