"""Reading an unknown dataset the way a user has it: arrays, image folders, IDX files.

Every reader yields float32 images of shape (N, 28, 28) with pixels in [0, 1], the
autoencoders' input (the pipeline's uint8 images divided by 255).

Accepted inputs
- ``.npy``: one array; ``.npz``: the array named ``images`` (the pipeline's splits), else
  ``x``/``X``/``data``, else the archive's only array. Shape (N, 28, 28) or (N, 1, 28, 28);
  dtype uint8 (0..255, divided by 255) or float (already in [0, 1]; values outside or
  NaN/inf are refused, never clipped).
- IDX (``*-idx3-ubyte``, ``*.idx``, optionally ``.gz``): read with
  :func:`simex.data.formats.read_idx`, then as an array.
- A folder of PNG/JPEG files (``.png .jpg .jpeg``, any case; hidden files are skipped,
  anything else is an error), read in sorted file-name order, each converted the
  documented way (:func:`image_to_array`): transparency flattened onto black, PIL's
  ``L`` mode (ITU-R 601-2 luma: L = 0.299 R + 0.587 G + 0.114 B), resized to 28x28 with
  the box (area-averaging) filter when larger and bilinear when smaller, aspect ratio not
  preserved, then divided by 255. No inversion: like MNIST, strokes are expected light on
  a dark background. A 28x28 grayscale PNG is read exactly, pixel for pixel.

A :class:`SampleSource` reads lazily (memory-mapped ``.npy``, images decoded on demand),
so express ranking stops reading files once the ranking is settled.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from simex.similarity import InputError

SIDE = 28
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
NPZ_KEYS = ("images", "x", "X", "data")


class SampleSource(Protocol):
    name: str

    def __len__(self) -> int: ...

    def take(self, indices: np.ndarray) -> np.ndarray:
        """float32 (len(indices), 28, 28) in [0, 1], validated."""
        ...


def normalize_images(array: np.ndarray, name: str) -> np.ndarray:
    """Check shape, dtype and values; return float32 (N, 28, 28) in [0, 1]."""
    array = np.asarray(array)
    check_shape(array.shape, name)
    if array.ndim == 4:
        array = array[:, 0]
    if array.dtype == np.uint8:
        return array.astype(np.float32) / np.float32(255.0)
    if not np.issubdtype(array.dtype, np.floating):
        raise InputError(f"{name}: pixels must be uint8 (0..255) or float (0..1), got {array.dtype}")
    images = array.astype(np.float32)
    finite = np.isfinite(images)
    if not finite.all():
        bad = np.flatnonzero(~finite.reshape(len(images), -1).all(axis=1))
        raise InputError(f"{name}: {len(bad)} sample(s) contain NaN or infinite values (first: sample {bad[0]})")
    low, high = float(images.min()), float(images.max())
    if low < 0.0 or high > 1.0:
        hint = " (0..255 floats? pass uint8 or divide by 255)" if high > 1.0 else ""
        raise InputError(f"{name}: float pixels must lie in [0, 1], found [{low:g}, {high:g}]{hint}")
    return images


def check_shape(shape: Sequence[int], name: str) -> None:
    shape = tuple(shape)
    valid = (len(shape) == 3 and shape[1:] == (SIDE, SIDE)) or (len(shape) == 4 and shape[1:] == (1, SIDE, SIDE))
    if not valid:
        raise InputError(f"{name}: expected images of shape (N, 28, 28) or (N, 1, 28, 28), got {shape}")
    if shape[0] == 0:
        raise InputError(f"{name}: the dataset is empty (0 samples)")


class ArraySource:
    """An in-memory or memory-mapped array, validated per read."""

    def __init__(self, array: np.ndarray, name: str) -> None:
        check_shape(array.shape, name)
        if array.dtype != np.uint8 and not np.issubdtype(array.dtype, np.floating):
            raise InputError(f"{name}: pixels must be uint8 (0..255) or float (0..1), got {array.dtype}")
        self.array, self.name = array, name

    def __len__(self) -> int:
        return int(self.array.shape[0])

    def take(self, indices: np.ndarray) -> np.ndarray:
        return normalize_images(np.asarray(self.array[np.asarray(indices)]), self.name)


def image_to_array(path: Path) -> np.ndarray:
    """One image file as uint8 (28, 28), converted as the module docstring says."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
                rgba = image.convert("RGBA")
                image = Image.alpha_composite(Image.new("RGBA", rgba.size, (0, 0, 0, 255)), rgba)
            gray = image.convert("L")
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise InputError(f"{path}: not a readable image ({err})") from err
    if gray.size != (SIDE, SIDE):
        larger = gray.size[0] >= SIDE and gray.size[1] >= SIDE
        gray = gray.resize((SIDE, SIDE), Image.Resampling.BOX if larger else Image.Resampling.BILINEAR)
    return np.asarray(gray, dtype=np.uint8)


class FolderSource:
    """A folder of image files, decoded on demand in sorted file-name order."""

    def __init__(self, folder: Path) -> None:
        self.name = str(folder)
        entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
        others = [p.name for p in entries if not (p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)]
        if others:
            shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
            raise InputError(f"{folder}: {len(others)} entries are not PNG/JPEG image files: {shown}")
        if not entries:
            raise InputError(f"{folder}: the folder holds no image files (the dataset is empty)")
        self.files = entries

    def __len__(self) -> int:
        return len(self.files)

    def take(self, indices: np.ndarray) -> np.ndarray:
        return normalize_images(np.stack([image_to_array(self.files[i]) for i in indices]), self.name)


def open_samples(path: Path | str) -> SampleSource:
    """A lazy source of the unknown dataset at ``path`` (see the module docstring)."""
    from simex.data.formats import DataFormatError, read_idx

    path = Path(path)
    if path.is_dir():
        return FolderSource(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file or folder")
    name = path.name.lower()
    try:
        if name.endswith(".npy"):
            return ArraySource(np.load(path, mmap_mode="r", allow_pickle=False), str(path))
        if name.endswith(".npz"):
            return ArraySource(_npz_array(path), str(path))
        if "idx" in name or "ubyte" in name:
            return ArraySource(read_idx(path), str(path))
    except InputError:
        raise
    except (DataFormatError, ValueError, OSError, EOFError) as err:
        raise InputError(f"{path}: cannot read ({err})") from err
    raise InputError(f"{path}: unknown input format; expected .npy, .npz, an IDX file or a folder of PNG/JPEG images")


def _npz_array(path: Path) -> np.ndarray:
    with np.load(path, allow_pickle=False) as archive:
        keys = list(archive.keys())
        for key in NPZ_KEYS:
            if key in keys:
                return archive[key]
        if len(keys) == 1:
            return archive[keys[0]]
    raise InputError(f"{path}: cannot tell which array holds the images; arrays: {', '.join(keys) or 'none'} "
                     f"(name it one of {', '.join(NPZ_KEYS)})")
