"""Reading an unknown dataset the way a user has it: arrays, image folders, IDX files.

Every reader yields float32 images of the fleet's input shape, (N, C, H, W) with pixels
in [0, 1] (the paper's fleets: (N, 1, 28, 28), the pipeline's uint8 images divided by
255), and states in ``conversion`` what it did to get there.

Accepted inputs
- ``.npy``: one array; ``.npz``: the array named ``images`` (the pipeline's splits), else
  ``x``/``X``/``data``, else the archive's only array. dtype uint8 (0..255, divided by
  255) or float (already in [0, 1]; values outside or NaN/inf are refused, never
  clipped).
- IDX (``*-idx3-ubyte``, ``*.idx``, optionally ``.gz``): read with
  :func:`simex.base.formats.read_idx`, then as an array.
- A folder of PNG/JPEG files (``.png .jpg .jpeg``, any case; hidden files are skipped,
  anything else is an error), read in sorted file-name order.
An array already in the fleet's shape ((N, H, W) or (N, 1, H, W) for a grayscale fleet,
(N, C, H, W) otherwise) is read as is, floats kept at full precision. Anything else (other
sizes, RGB for a grayscale fleet, channels last: e.g. a 28×28×3 array) is converted by
:mod:`simex.data.images` (mode, size; floats rounded to 8 bits), the way fleets are built.
No inversion: like MNIST, strokes are expected light on a dark background.

A :class:`SampleSource` reads lazily (memory-mapped ``.npy``, images decoded on demand),
so express ranking stops reading files once the ranking is settled.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from simex.base.formats import pixels_to_float
from simex.data.images import (DEFAULT_SHAPE, NPZ_IMAGE_KEYS, InputError, InputShape, check_pixels, convert_image,
                          convert_images, describe_conversion, image_files, read_image, to_nhwc)


class SampleSource(Protocol):
    name: str
    conversion: str  # what was done to the data to fit the fleet's input shape, in words

    def __len__(self) -> int: ...

    def take(self, indices: np.ndarray) -> np.ndarray:
        """float32 (len(indices), C, H, W) in [0, 1], validated."""
        ...


def in_shape(shape: tuple[int, ...], target: InputShape) -> bool:
    """Whether an array of ``shape`` already holds images of the fleet's shape."""
    flat = (target.height, target.width)
    return (len(shape) == 3 and target.channels == 1 and shape[1:] == flat) or \
        (len(shape) == 4 and shape[1:] == target.as_tuple())


def normalize_images(array: np.ndarray, name: str, shape: InputShape = DEFAULT_SHAPE) -> np.ndarray:
    """Check shape, dtype and values; return float32 (N, C, H, W) in [0, 1]."""
    array = np.asarray(array)
    check_shape(array.shape, name, shape)
    array = array.reshape(len(array), *shape.as_tuple())
    check_pixels(array, name)
    if array.dtype == np.uint8:
        return pixels_to_float(array)
    return array.astype(np.float32)


def check_shape(shape: tuple[int, ...], name: str, target: InputShape = DEFAULT_SHAPE) -> None:
    shape = tuple(shape)
    if not in_shape(shape, target):
        flat = f"(N, {target.height}, {target.width}) or " if target.channels == 1 else ""
        raise InputError(f"{name}: expected images of shape {flat}(N, {', '.join(map(str, target.as_tuple()))}), "
                         f"got {shape}")
    if shape[0] == 0:
        raise InputError(f"{name}: the dataset is empty (0 samples)")


class ArraySource:
    """An in-memory or memory-mapped array, validated per read, converted when not in the fleet's shape."""

    def __init__(self, array: np.ndarray, name: str, shape: InputShape = DEFAULT_SHAPE) -> None:
        if array.dtype != np.uint8 and not np.issubdtype(array.dtype, np.floating):  # values: per read
            raise InputError(f"{name}: pixels must be uint8 (0..255) or float (0..1), got {array.dtype}")
        if array.ndim not in (3, 4):
            raise InputError(f"{name}: expected images as N×H×W, N×C×H×W or N×H×W×C, got shape {array.shape}")
        self.array, self.name, self.shape = array, name, shape
        self.direct = in_shape(array.shape, shape)
        if self.direct:
            check_shape(array.shape, name, shape)
            self.conversion = f"none (already {shape})"
        else:
            first = to_nhwc(np.asarray(array[:1]), name)
            self.conversion = describe_conversion([first.shape[1:]], shape)

    def __len__(self) -> int:
        return int(self.array.shape[0])

    def take(self, indices: np.ndarray) -> np.ndarray:
        batch = np.asarray(self.array[np.asarray(indices)])
        if self.direct:
            return normalize_images(batch, self.name, self.shape)
        converted = convert_images(to_nhwc(batch, self.name), self.shape)
        return pixels_to_float(converted)


def image_to_array(path: Path, shape: InputShape = DEFAULT_SHAPE) -> np.ndarray:
    """One image file as uint8 (H, W) for a grayscale shape, (C, H, W) otherwise, converted by :mod:`simex.data.images`."""
    converted = convert_image(read_image(path), shape)
    return converted[0] if shape.channels == 1 else converted


class FolderSource:
    """A folder of image files, decoded on demand in sorted file-name order.

    The conversion is described from the first image; every image is converted the same
    way on its own.
    """

    def __init__(self, folder: Path, shape: InputShape = DEFAULT_SHAPE) -> None:
        self.name, self.shape = str(folder), shape
        entries = image_files(folder)
        if not entries:
            raise InputError(f"{folder}: the folder holds no image files (the dataset is empty)")
        self.files = entries
        self.conversion = describe_conversion([self._raw_shape(entries[0])], shape)

    @staticmethod
    def _raw_shape(path: Path) -> tuple[int, int, int]:
        return read_image(path).shape

    def __len__(self) -> int:
        return len(self.files)

    def take(self, indices: np.ndarray) -> np.ndarray:
        images = np.stack([image_to_array(self.files[i], self.shape) for i in indices])
        return normalize_images(images, self.name, self.shape)


def open_samples(path: Path | str, shape: InputShape = DEFAULT_SHAPE) -> SampleSource:
    """A lazy source of the unknown dataset at ``path`` in the fleet's ``shape`` (see the module docstring)."""
    from simex.base.formats import ARCHIVE_ERRORS, DataFormatError, check_npy, read_idx

    path = Path(path)
    if path.is_dir():
        return FolderSource(path, shape)
    if not path.is_file():
        raise InputError(f"{path}: no such file or folder")
    name = path.name.lower()
    try:
        if name.endswith(".npy"):
            check_npy(path)  # the header's shape against the file's size, before numpy maps it
            return ArraySource(np.load(path, mmap_mode="r", allow_pickle=False), str(path), shape)
        if name.endswith(".npz"):
            return ArraySource(_npz_array(path), str(path), shape)
        if "idx" in name or "ubyte" in name:
            return ArraySource(read_idx(path), str(path), shape)
    except InputError:
        raise
    except (DataFormatError, *ARCHIVE_ERRORS) as err:
        raise InputError(f"{path}: cannot read ({err})") from err
    raise InputError(f"{path}: unknown input format; expected .npy, .npz, an IDX file or a folder of PNG/JPEG images")


def _npz_array(path: Path) -> np.ndarray:
    from simex.base.formats import check_npz

    check_npz(path)  # every member's declared size against its bytes, before numpy allocates it
    with np.load(path, allow_pickle=False) as archive:
        keys = list(archive.keys())
        for key in NPZ_IMAGE_KEYS:
            if key in keys:
                return archive[key]
        if len(keys) == 1:
            return archive[keys[0]]
    raise InputError(f"{path}: cannot tell which array holds the images; arrays: {', '.join(keys) or 'none'} "
                     f"(name it one of {', '.join(NPZ_IMAGE_KEYS)})")
