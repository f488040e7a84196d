"""simex.data.images: reading a user's datasets in their real formats and converting them to a fleet's shape."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from simex.base.formats import encode_idx
from simex.data.images import (DEFAULT_SHAPE, EmptyClassError, InputShape, LabelCountError, MissingPathError,
                          MixedSizesError, TooFewSamplesError, UnreadableImageError, check_samples, content_sha256,
                          convert_image, read_dataset, to_nhwc)


def pattern(kind: str, n: int, size: int, seed: int, channels: int = 1) -> np.ndarray:
    """uint8 (n, size, size, channels) images of one of three very different kinds."""
    rng = np.random.default_rng(seed)
    if kind == "squares":  # dark, a bright square near the centre
        images = rng.integers(0, 20, size=(n, size, size)).astype(np.uint8)
        side = size // 3
        for image, (r, c) in zip(images, rng.integers(size // 3 - 2, size // 3 + 2, size=(n, 2))):
            image[r : r + side, c : c + side] = 230
    elif kind == "bright":  # bright, a dark frame
        images = rng.integers(190, 256, size=(n, size, size)).astype(np.uint8)
        edge = max(2, size // 9)
        images[:, :edge], images[:, -edge:], images[:, :, :edge], images[:, :, -edge:] = 10, 10, 10, 10
    elif kind == "stripes":  # horizontal stripes at a random phase
        rows = (np.arange(size)[None, :] + rng.integers(0, 8, size=(n, 1))) // 4 % 2
        images = (rows[:, :, None] * 200 + rng.integers(0, 40, size=(n, size, size))).astype(np.uint8)
    else:
        raise ValueError(kind)
    images = images[..., None]
    if channels == 3:  # a tint per kind, so colour carries information too
        tint = {"squares": (1.0, 0.3, 0.3), "bright": (0.3, 1.0, 0.3), "stripes": (0.3, 0.3, 1.0)}[kind]
        images = (images * np.array(tint)).astype(np.uint8)
    return images


def write_pngs(folder: Path, images: np.ndarray) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
        mode = "L" if image.shape[-1] == 1 else "RGB"
        Image.fromarray(image[..., 0] if mode == "L" else image, mode).save(folder / f"{i:04d}.png")
    return folder


def test_input_shape_parsing_and_limits() -> None:
    assert InputShape.parse("3,32,32") == InputShape(3, 32, 32) == InputShape.parse("3x32x32")
    assert str(DEFAULT_SHAPE) == "1×28×28"
    for bad in ("2,28,28", "1,30,30", "1,8,8", "28,28"):
        with pytest.raises(ValueError, match="input shape"):
            InputShape.parse(bad)


def test_class_folders_at_another_size_become_labelled_28x28(tmp_path: Path) -> None:
    write_pngs(tmp_path / "ds" / "a", pattern("squares", 3, 56, 1))
    write_pngs(tmp_path / "ds" / "b", pattern("bright", 2, 56, 2))
    dataset = read_dataset("ds", tmp_path / "ds")
    assert dataset.kind == "class folders" and dataset.class_names == ("a", "b")
    assert dataset.images.shape == (5, 1, 28, 28) and dataset.images.dtype == np.uint8
    assert dataset.labels.tolist() == [0, 0, 0, 1, 1]
    assert dataset.conversion == "56×56 grayscale → 1×28×28: resized to 28×28 (box filter, aspect not kept)"


def test_box_filter_downscale_is_the_area_average() -> None:
    gray = pattern("squares", 1, 28, 3)[0]
    doubled = np.repeat(np.repeat(gray, 2, axis=0), 2, axis=1)  # 56x56, 2x2 blocks
    np.testing.assert_array_equal(convert_image(doubled, DEFAULT_SHAPE)[0], gray[..., 0])


def test_rgb_is_converted_by_luma_and_gray_is_repeated_for_rgb_fleets() -> None:
    rgb = np.zeros((28, 28, 3), np.uint8)
    rgb[..., 0] = 200  # pure red: L = 0.299 * 200 = 59.8
    assert convert_image(rgb, DEFAULT_SHAPE)[0, 0, 0] == 60
    gray = pattern("bright", 1, 32, 4)[0]
    as_rgb = convert_image(gray, InputShape(3, 32, 32))
    assert as_rgb.shape == (3, 32, 32) and (as_rgb == gray[..., 0][None]).all()


def test_channels_last_arrays_and_npz_labels(tmp_path: Path) -> None:
    images = pattern("stripes", 6, 28, 5, channels=3)  # N×28×28×3: refused by simex rank before
    np.savez(tmp_path / "d.npz", images=images, labels=np.array([7, 7, 3, 3, 9, 9]))
    dataset = read_dataset("d", tmp_path / "d.npz")
    assert dataset.images.shape == (6, 1, 28, 28) and dataset.class_names == ("3", "7", "9")
    assert dataset.labels.tolist() == [1, 1, 0, 0, 2, 2]
    assert dataset.conversion.startswith("28×28 RGB → 1×28×28: to grayscale (ITU-R 601-2 luma)")
    channels_first = read_dataset("d", tmp_path / "d.npz", InputShape(3, 28, 28))
    np.testing.assert_array_equal(channels_first.images, images.transpose(0, 3, 1, 2))
    assert channels_first.conversion == "none (already 3×28×28)"


def test_idx_pair_and_flat_folder(tmp_path: Path) -> None:
    images = pattern("squares", 4, 28, 6)[..., 0]
    (tmp_path / "img-idx3-ubyte").write_bytes(encode_idx(images))
    (tmp_path / "lab-idx1-ubyte").write_bytes(encode_idx(np.array([1, 0, 1, 0], np.uint8)))
    pair = read_dataset("p", f"{tmp_path / 'img-idx3-ubyte'},{tmp_path / 'lab-idx1-ubyte'}")
    assert pair.kind == "idx pair" and pair.labels.tolist() == [1, 0, 1, 0]
    np.testing.assert_array_equal(pair.images[:, 0], images)
    flat = read_dataset("f", write_pngs(tmp_path / "flat", images[..., None]))
    assert flat.labels is None and flat.kind == "image folder"
    np.testing.assert_array_equal(flat.images, pair.images)


def test_content_hash_covers_names_and_bytes(tmp_path: Path) -> None:
    folder = write_pngs(tmp_path / "f", pattern("squares", 2, 28, 7))
    before = content_sha256(folder)
    (folder / "0001.png").rename(folder / "0009.png")
    assert content_sha256(folder) != before


def test_float_arrays_are_rounded_and_bad_values_refused() -> None:
    assert to_nhwc(np.full((1, 28, 28), 0.5), "x").dtype == np.uint8
    with pytest.raises(ValueError, match="NaN"):
        to_nhwc(np.full((1, 28, 28), np.nan), "x")
    with pytest.raises(ValueError, match="cannot tell the channels"):
        to_nhwc(np.zeros((2, 5, 28, 28), np.uint8), "x")


# --- bad input: a named error for each case --------------------------------------------


def test_mixed_aspect_ratios_are_refused_but_mixed_sizes_reconciled(tmp_path: Path) -> None:
    folder = write_pngs(tmp_path / "ok", pattern("squares", 2, 28, 8))
    write_pngs(tmp_path / "ok2", pattern("squares", 1, 56, 9))
    (tmp_path / "ok2" / "0000.png").rename(folder / "big.png")
    assert "2 sizes from 28×28 to 56×56" in read_dataset("ok", folder).conversion
    Image.fromarray(np.zeros((28, 40), np.uint8), "L").save(folder / "wide.png")
    with pytest.raises(MixedSizesError, match="different aspect ratios .* cannot be reconciled"):
        read_dataset("mixed", folder)


def test_empty_class_folder(tmp_path: Path) -> None:
    write_pngs(tmp_path / "ds" / "a", pattern("squares", 2, 28, 10))
    (tmp_path / "ds" / "b").mkdir()
    with pytest.raises(EmptyClassError, match=r"class folder .*b holds no images"):
        read_dataset("ds", tmp_path / "ds")


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(MissingPathError, match="does not exist"):
        read_dataset("gone", tmp_path / "absent.npz")


def test_label_count_mismatch(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", images=pattern("squares", 4, 28, 11)[..., 0], labels=np.arange(3))
    with pytest.raises(LabelCountError, match="4 images but labels of shape"):
        read_dataset("d", tmp_path / "d.npz")


def test_unreadable_image(tmp_path: Path) -> None:
    folder = write_pngs(tmp_path / "f", pattern("squares", 2, 28, 12))
    (folder / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(UnreadableImageError, match="broken.png: not a readable image"):
        read_dataset("f", folder)


def test_too_few_samples_per_class(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", images=pattern("squares", 5, 28, 13)[..., 0], labels=np.array([0, 0, 0, 0, 1]))
    dataset = read_dataset("d", tmp_path / "d.npz")
    check_samples(dataset, 4, per_class=False)
    with pytest.raises(TooFewSamplesError, match=r"fewer than 2 samples.*1 \(1\)"):
        check_samples(dataset, 2, per_class=True)
