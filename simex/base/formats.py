"""Readers and writers for the datasets' canonical file formats, and the one pixel -> float converter.

IDX (MNIST, Fashion-MNIST, EMNIST) and Larochelle's .amat text files. Every reader
checks the structure it is given and raises :class:`DataFormatError` naming what was
wrong, so that a corrupt download never turns into a confusing numpy error later.
"""

from __future__ import annotations

import gzip
import io
import struct
from pathlib import Path

import numpy as np
from simex.base.errors import SimexError

IMAGE_SIDE = 28

_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_CODES = {dtype: code for code, dtype in _IDX_DTYPES.items()}


class DataFormatError(SimexError, ValueError):
    """A file does not have the structure its format promises."""


def pixels_to_float(pixels, dtype=None):
    """The one pixel -> float converter: uint8 pixels (0..255) to [0, 1], ``pixels / 255`` in ``dtype``.

    A numpy array gives a numpy array (default float32); a torch tensor gives a tensor on its
    own device (default: torch's default float type, float32 unless changed), never changing
    its input. Both divide in the target dtype, so a float32 result is the correctly rounded
    x / 255, numpy's and torch's on the CPU bit for bit (tests/test_formats.py). On CUDA, torch
    divides by a Python scalar as a product with its reciprocal, which differs in the last bit
    for about half of the 256 values; that is this converter on CUDA, as before it.
    """
    if isinstance(pixels, np.ndarray):
        return pixels.astype(np.float32 if dtype is None else dtype) / 255
    import torch  # only when given a tensor: the data layer and the config stay torch-free

    converted = pixels.to(torch.get_default_dtype() if dtype is None else dtype)
    return converted.div_(255.0) if converted is not pixels else converted.div(255.0)


def read_bytes(path: Path) -> bytes:
    """The file's content, transparently gunzipped when its name ends in .gz."""
    raw = Path(path).read_bytes()
    if str(path).endswith(".gz"):
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise DataFormatError(f"{path}: not a valid gzip file ({err})") from err
    return raw


def parse_idx(payload: bytes, source: str = "<bytes>") -> np.ndarray:
    """Decode IDX bytes (magic 0x0000TTNN, NN big-endian dimension sizes, then data)."""
    if len(payload) < 4 or payload[0] != 0 or payload[1] != 0:
        raise DataFormatError(f"{source}: not an IDX file (bad magic number)")
    type_code, ndim = payload[2], payload[3]
    if type_code not in _IDX_DTYPES:
        raise DataFormatError(f"{source}: unknown IDX element type 0x{type_code:02x}")
    header_end = 4 + 4 * ndim
    if len(payload) < header_end:
        raise DataFormatError(f"{source}: IDX header truncated")
    shape = struct.unpack(f">{ndim}I", payload[4:header_end])
    dtype = _IDX_DTYPES[type_code]
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(payload) - header_end != expected:
        raise DataFormatError(
            f"{source}: IDX body has {len(payload) - header_end} bytes, header {shape} "
            f"promises {expected}"
        )
    return np.frombuffer(payload, dtype=dtype, offset=header_end).reshape(shape).copy()


def read_idx(path: Path) -> np.ndarray:
    return parse_idx(read_bytes(path), str(path))


def encode_idx(array: np.ndarray) -> bytes:
    """IDX bytes of an array; the inverse of :func:`parse_idx`."""
    dtype = array.dtype.newbyteorder(">") if array.dtype.itemsize > 1 else array.dtype
    if dtype not in _IDX_CODES:
        raise DataFormatError(f"IDX cannot store dtype {array.dtype}")
    header = bytes([0, 0, _IDX_CODES[dtype], array.ndim])
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=dtype).tobytes()


def parse_amat(
    text: str, *, transposed: bool, source: str = "<text>"
) -> tuple[np.ndarray, np.ndarray]:
    """Larochelle's .amat: one sample a line, 784 floats in [0, 1] then the label.

    Returns uint8 images (N, 28, 28) and int64 labels. Pixel values are stored as
    floats; they are rounded to the 8-bit grid every other dataset here uses.
    Some of the variants (background-images among them) store each image
    column-major; ``transposed`` undoes that (skdata's loader flags the same files).
    """
    try:
        table = np.loadtxt(io.StringIO(text), dtype=np.float64, ndmin=2)
    except ValueError as err:
        raise DataFormatError(f"{source}: not a numeric .amat table ({err})") from err
    n_values = IMAGE_SIDE * IMAGE_SIDE + 1
    if table.shape[0] == 0 or table.shape[1] != n_values:
        raise DataFormatError(
            f"{source}: .amat rows have {table.shape[1]} values, expected {n_values}"
        )
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 1:
        raise DataFormatError(f"{source}: .amat pixel values outside [0, 1]")
    if not np.all(labels == np.round(labels)) or labels.min() < 0 or labels.max() > 9:
        raise DataFormatError(f"{source}: .amat labels are not integers in 0..9")
    images = pixels.reshape(-1, IMAGE_SIDE, IMAGE_SIDE)
    if transposed:
        images = images.transpose(0, 2, 1)
    return np.round(images * 255).astype(np.uint8), labels.astype(np.int64)


def fix_emnist_orientation(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """EMNIST's IDX images are transposed and its letters labels run 1..26.

    Returns upright images and labels 0..25 (a..z).
    """
    if labels.min() < 1 or labels.max() > 26:
        raise DataFormatError(
            f"EMNIST letters labels must run 1..26, found {labels.min()}..{labels.max()}"
        )
    return np.ascontiguousarray(images.transpose(0, 2, 1)), labels.astype(np.int64) - 1
