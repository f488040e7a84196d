"""File-format loaders on fixtures written in the real formats."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from simex.base.formats import (
    DataFormatError,
    encode_idx,
    fix_emnist_orientation,
    parse_amat,
    parse_idx,
    read_idx,
)
from simex.data.sources import emnist_letters_from_idx, idx_splits_to_raw, mnist_from_pickle
from tests.fixtures import amat_text, digit_like_images, mnist_pickle


def test_idx_reader_decodes_a_hand_written_header(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    payload = bytes([0, 0, 0x08, 3]) + struct.pack(">3I", 2, 3, 4) + images.tobytes()
    (tmp_path / "x-idx3-ubyte.gz").write_bytes(gzip.compress(payload))
    np.testing.assert_array_equal(read_idx(tmp_path / "x-idx3-ubyte.gz"), images)
    assert encode_idx(images) == payload


def test_idx_reader_names_a_truncated_body():
    payload = encode_idx(np.zeros((3, 28, 28), np.uint8))[:-5]
    with pytest.raises(DataFormatError, match="promises"):
        parse_idx(payload, "truncated")


def test_idx_reader_rejects_bad_magic():
    with pytest.raises(DataFormatError, match="magic"):
        parse_idx(b"\x1f\x8b\x08\x00garbage", "gz-not-decompressed")


@pytest.mark.parametrize("transposed", [False, True])
def test_amat_round_trip_keeps_orientation(transposed):
    images, labels = digit_like_images(5, seed=1)
    text = amat_text(images, labels, transposed)
    first_row = np.array(text.splitlines()[0].split(), dtype=float)
    assert len(first_row) == 785 and first_row[-1] == labels[0]
    # In the transposed layout the bar (rows 2..5) runs down the stored columns.
    stored = first_row[:-1].reshape(28, 28)
    assert (stored[2:6, 10].min() == 1.0) != transposed
    parsed_images, parsed_labels = parse_amat(text, transposed=transposed, source="fixture.amat")
    np.testing.assert_array_equal(parsed_images, images)
    np.testing.assert_array_equal(parsed_labels, labels)


def test_amat_with_wrong_column_count_is_named():
    with pytest.raises(DataFormatError, match="785"):
        parse_amat("0.1 0.2 3\n", transposed=False, source="short.amat")


def test_emnist_images_are_transposed_back_and_labels_made_zero_based():
    upright, letters = digit_like_images(4, seed=2)
    labels = np.array([1, 2, 26, 13], np.uint8)
    files = {}
    for split in ("train", "test"):
        files[f"emnist-letters-{split}-images-idx3-ubyte"] = encode_idx(np.ascontiguousarray(upright.transpose(0, 2, 1)))
        files[f"emnist-letters-{split}-labels-idx1-ubyte"] = encode_idx(labels)
    raw = emnist_letters_from_idx(files, "fixture")
    np.testing.assert_array_equal(raw.images[:4], upright)
    np.testing.assert_array_equal(raw.labels[:4], [0, 1, 25, 12])


def test_emnist_labels_outside_1_to_26_are_refused():
    with pytest.raises(DataFormatError, match="1..26"):
        fix_emnist_orientation(np.zeros((1, 28, 28), np.uint8), np.array([0]))


def test_mnist_pickle_rebuilds_the_idx_bytes_exactly():
    train, train_labels = digit_like_images(6, seed=3)
    test, test_labels = digit_like_images(2, seed=4)
    files = mnist_from_pickle(mnist_pickle(train, train_labels, test, test_labels))
    assert files["train-images-idx3-ubyte"] == encode_idx(train)
    assert files["t10k-labels-idx1-ubyte"] == encode_idx(test_labels)


def test_a_checksum_mismatch_names_the_file():
    train, train_labels = digit_like_images(2, seed=5)
    files = {"train-images-idx3-ubyte": encode_idx(train), "train-labels-idx1-ubyte": encode_idx(train_labels),
             "t10k-images-idx3-ubyte": encode_idx(train), "t10k-labels-idx1-ubyte": encode_idx(train_labels)}
    expected = {name: "0" * 32 for name in files}
    with pytest.raises(DataFormatError, match="train-images-idx3-ubyte: MD5"):
        idx_splits_to_raw(files, expected, "original", "fixture")


# --- the one pixel -> float converter ----------------------------------------------------


def test_pixels_to_float_is_one_division_bit_for_bit_in_numpy_and_torch():
    import torch

    from simex.base.formats import pixels_to_float
    from simex.training.loop import images_to_tensor

    every = np.arange(256, dtype=np.uint8).reshape(4, 8, 8)  # every pixel value
    ours = pixels_to_float(every)
    assert ours.dtype == np.float32 and ours.min() == 0.0 and ours.max() == 1.0
    # the expressions it replaced, each bit for bit
    assert np.array_equal(ours, every.astype(np.float32) / np.float32(255.0))
    assert np.array_equal(ours, np.asarray(every, dtype=np.float32) / 255.0)
    assert np.array_equal(pixels_to_float(every, np.float64), every.astype(np.float64) / 255.0)
    assert np.array_equal(pixels_to_float(every, np.float64), every / 255.0)
    # torch on the CPU: the same float32 values as numpy, in torch's default float type
    tensor = torch.from_numpy(every)
    converted = pixels_to_float(tensor)
    assert converted.dtype == torch.get_default_dtype() == torch.float32
    assert np.array_equal(converted.numpy(), ours)
    assert np.array_equal(images_to_tensor(every).numpy(), ours[:, None])  # (N, H, W) gets C = 1
    assert torch.equal(pixels_to_float(tensor, torch.float64), torch.from_numpy(every.astype(np.float64) / 255.0))
    # never in place: a float tensor of the target type comes back as a new tensor
    floats = tensor.float()
    before = floats.clone()
    assert torch.equal(pixels_to_float(floats), before / 255.0) and torch.equal(floats, before)
