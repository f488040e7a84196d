"""Readers and writers for the datasets' canonical file formats, and the one pixel -> float converter.

IDX (MNIST, Fashion-MNIST, EMNIST), Larochelle's .amat text files, the headers of
``.npy``/``.npz`` files, and pickles of numpy arrays (read through
:class:`RestrictedUnpickler` only). Every reader checks the structure it is given and
raises :class:`DataFormatError` naming the file and what was wrong, so that a corrupt or
hostile file never turns into a confusing numpy error, a traceback, an allocation its
size cannot justify, or code run on load.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib
import io
import math
import pickle
import struct
import tokenize
import zipfile
import zlib
from pathlib import Path
from typing import IO, Any

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


# What reading a zip/npz archive can raise on a corrupt file (numpy's own checks: ValueError).
ARCHIVE_ERRORS: tuple[type[BaseException], ...] = (
    ValueError, OSError, EOFError, zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, NotImplementedError,
    RuntimeError,  # zipfile: an encrypted member
)
# deflate (zip, gzip, PNG) cannot expand its input more than 1032-fold: a declared size above
# this many times a compressed size is a lie, refused before anything is allocated for it
MAX_DEFLATE_RATIO = 1032


HASH_NAMES = {"md5": "MD5", "sha1": "SHA-1", "sha256": "SHA-256"}


def verify_file(path: Path | str, algorithm: str, expected: str, published_by: str) -> str:
    """The ``algorithm`` digest (md5, sha1, sha256) of the file at ``path``, refused
    (DataFormatError) unless it is ``expected``; call it before the file is opened as an archive."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    actual = digest.hexdigest()
    if actual != expected:
        raise DataFormatError(f"{path}: {HASH_NAMES[algorithm]} {actual} does not match the published {expected} "
                              f"({published_by}); the file was not opened")
    return actual


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
    expected = math.prod(shape) * dtype.itemsize  # exact: np.prod would wrap around on 2**32-sized dimensions
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


# --- .npy/.npz headers: declared sizes checked against the bytes that hold them ---------------


def npy_header(stream: IO[bytes], source: str) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, header length) of the ``.npy`` data behind ``stream``, reading the header only."""
    from numpy.lib import format as npy_format

    start = stream.tell()
    try:
        version = npy_format.read_magic(stream)
        if version == (1, 0):
            shape, _, dtype = npy_format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, _, dtype = npy_format.read_array_header_2_0(stream)
        else:
            raise ValueError(f".npy format version {version[0]}.{version[1]} is not read here")
    except (*ARCHIVE_ERRORS, SyntaxError, TypeError, KeyError, tokenize.TokenError) as err:  # numpy tokenizes the header
        raise DataFormatError(f"{source}: not a readable .npy header ({type(err).__name__}: {err})") from err
    if dtype.hasobject:
        raise DataFormatError(f"{source}: holds Python objects (dtype {dtype}); only plain arrays are read, "
                              f"never pickles")
    return tuple(int(n) for n in shape), dtype, stream.tell() - start


def _check_declared(source: str, shape: tuple[int, ...], dtype: np.dtype, available: int) -> None:
    declared = math.prod(shape) * dtype.itemsize
    if declared > available:
        raise DataFormatError(f"{source}: header declares a {dtype} array of shape {shape} ({declared} bytes), but "
                              f"only {available} bytes follow (truncated or corrupt file)")


def check_npy(path: Path | str) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype a ``.npy`` file declares, refused (DataFormatError) when the file
    cannot hold them: call it before ``np.load``, which allocates what the header declares."""
    path = Path(path)
    with open(path, "rb") as handle:
        shape, dtype, header = npy_header(handle, str(path))
    _check_declared(str(path), shape, dtype, path.stat().st_size - header)
    return shape, dtype


def check_npz(path: Path | str) -> list[str]:
    """The array names of a ``.npz`` archive, each member's declared size checked against the
    bytes that hold it (as :func:`check_npy`); DataFormatError names the file and the problem."""
    path = Path(path)
    names = []
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if not info.filename.endswith(".npy"):
                    raise DataFormatError(f"{path}: member {info.filename!r} is not a .npy array")
                source = f"{path} (member {info.filename})"
                if info.compress_type != zipfile.ZIP_STORED and \
                        info.file_size > MAX_DEFLATE_RATIO * info.compress_size + 1024:
                    raise DataFormatError(f"{source}: declares {info.file_size} bytes from {info.compress_size} "
                                          f"compressed bytes, more than compression can produce (corrupt file)")
                with archive.open(info) as member:
                    shape, dtype, header = npy_header(member, source)  # type: ignore[arg-type]
                _check_declared(source, shape, dtype, info.file_size - header)
                names.append(info.filename[:-len(".npy")])
    except DataFormatError:
        raise
    except ARCHIVE_ERRORS as err:
        raise DataFormatError(f"{path}: not a readable .npz archive ({type(err).__name__}: {err})") from err
    return names


# --- pickles of numpy arrays: only arrays and plain containers, never code --------------------


def _numpy_global(module: str, name: str) -> Any:
    for candidate in (module, module.replace("numpy.core", "numpy._core", 1)):
        try:
            return getattr(importlib.import_module(candidate), name)
        except (ImportError, AttributeError):
            continue
    raise pickle.UnpicklingError(f"{module}.{name} is not available")


def _latin1_encode(text: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"refused _codecs.encode with {encoding!r}: only latin1 text is decoded to bytes")
    return text.encode("latin1")


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that rebuilds numpy arrays, dtypes and scalars inside plain containers
    (tuples, lists, dicts, strings, numbers) and refuses every other global, so that even a
    file that passed its hash check cannot run code when it is read."""

    ALLOWED = frozenset({
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),  # protocol 5
        ("numpy", "ndarray"), ("numpy", "dtype"),
    })

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("_codecs", "encode"):  # how protocols 0-2 store bytes (an array's data)
            return _latin1_encode
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refused {module}.{name}: only numpy arrays and plain containers are "
                                         f"unpickled here")
        return _numpy_global(module, name)


def restricted_loads(payload: bytes, source: str, encoding: str = "ASCII") -> Any:
    """The object a pickle of numpy arrays holds, read with :class:`RestrictedUnpickler`;
    DataFormatError (naming ``source``) for anything else, a refused global included."""
    try:
        loaded = RestrictedUnpickler(io.BytesIO(payload), encoding=encoding).load()
    except DataFormatError:
        raise
    except Exception as err:  # a corrupt pickle can raise nearly anything; nothing of it ran code
        raise DataFormatError(f"{source}: refused pickle ({type(err).__name__}: {err})") from err
    _check_arrays(loaded, source)
    return loaded


def _check_arrays(value: Any, source: str, depth: int = 0) -> None:
    """Object arrays could hide anything: the arrays of a pickle must hold plain numbers."""
    if depth > 20:
        raise DataFormatError(f"{source}: refused pickle (containers nested more than 20 deep)")
    if isinstance(value, np.ndarray) and value.dtype.hasobject:
        raise DataFormatError(f"{source}: refused pickle (an array of Python objects)")
    if isinstance(value, (tuple, list)):
        for item in value:
            _check_arrays(item, source, depth + 1)
    elif isinstance(value, dict):
        for item in value.values():
            _check_arrays(item, source, depth + 1)
