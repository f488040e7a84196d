"""Reading a user's own datasets and converting images to a fleet's input shape.

A fleet has one input shape, C×H×W (the paper's 1×28×28 by default; 3×32×32 for
CIFAR- or SVHN-like data). Every image it trains on or ranks is converted to that shape
the same way, and the conversion is stated (:func:`describe_conversion`):

- mode: RGBA/LA and transparent palettes are flattened onto black; to 1 channel by
  PIL's ``L`` (ITU-R 601-2 luma, L = 0.299 R + 0.587 G + 0.114 B); to 3 channels by
  repeating a grayscale channel (or PIL's ``RGB`` conversion);
- size: resized to H×W with the box (area-averaging) filter when the image is at least
  as large in both directions, bilinear otherwise; the aspect ratio is not kept, so a
  dataset whose images have different aspect ratios is refused (they would be
  distorted differently); sizes that differ at one aspect ratio are reconciled;
- values: uint8 as is; float pixels must lie in [0, 1] (NaN/inf refused, never
  clipped) and are rounded to 8 bits, the grid every dataset of the pipeline uses.
An image already in the fleet's shape is taken pixel for pixel.

Sources (:func:`read_dataset`): a folder with one subfolder per class (labelled), a flat
folder of PNG/JPEG images (unlabelled), ``.npy`` (images), ``.npz`` (images under
``images``/``x``/``X``/``data`` or the only array; labels under ``labels``/``y``/``Y``),
an IDX images file, or an IDX pair written ``IMAGES,LABELS``. Arrays may be N×H×W,
N×C×H×W or N×H×W×C with C ∈ {1, 3, 4}.

This module imports neither torch nor Snakemake, so rule files may use it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from simex.base.errors import SimexError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
NPZ_IMAGE_KEYS = ("images", "x", "X", "data")
NPZ_LABEL_KEYS = ("labels", "y", "Y")
MODE_NAMES = {1: "grayscale", 3: "RGB", 4: "RGBA"}
ASPECT_TOLERANCE = 0.02  # relative; aspect ratios closer than this count as one


class InputError(SimexError, ValueError):
    """Images handed to SimEx are not what it can compare; the message names the problem.
    The one input-error hierarchy: every reader, converter and check raises it or a subclass."""


class DatasetInputError(InputError):
    """A dataset handed to SimEx cannot be used as it is; the message names the problem."""


class MissingPathError(DatasetInputError):
    pass


class UnreadableImageError(DatasetInputError):
    pass


class EmptyClassError(DatasetInputError):
    pass


class MixedSizesError(DatasetInputError):
    pass


class LabelCountError(DatasetInputError):
    pass


class TooFewSamplesError(DatasetInputError):
    pass


class DuplicateNameError(DatasetInputError):
    pass


@dataclass(frozen=True)
class InputShape:
    """A fleet's input shape: channels (1 or 3), height and width."""

    channels: int = 1
    height: int = 28
    width: int = 28

    def __post_init__(self) -> None:
        if self.channels not in (1, 3):
            raise DatasetInputError(f"input shape {self}: channels must be 1 (grayscale) or 3 (RGB)")
        for side in (self.height, self.width):
            if side < 12 or side % 4:
                raise DatasetInputError(f"input shape {self}: height and width must be multiples of 4, at least 12 "
                                        f"(the LeNet-5 autoencoder pools twice)")

    @classmethod
    def parse(cls, text: str | Sequence[int]) -> "InputShape":
        """``"3,32,32"``, ``"3x32x32"`` or a sequence of three ints."""
        parts = text.replace("×", ",").replace("x", ",").split(",") if isinstance(text, str) else list(text)
        try:
            channels, height, width = (int(p) for p in parts)
        except ValueError:
            raise DatasetInputError(f"input shape {text!r}: expected C,H,W (e.g. 1,28,28 or 3,32,32)") from None
        return cls(channels, height, width)

    def as_tuple(self) -> tuple[int, int, int]:
        return (self.channels, self.height, self.width)

    def __str__(self) -> str:
        return f"{self.channels}×{self.height}×{self.width}"


DEFAULT_SHAPE = InputShape()


# --- arrays and single images ------------------------------------------------------------


def to_nhwc(array: np.ndarray, name: str) -> np.ndarray:
    """N×H×W, N×C×H×W or N×H×W×C (C ∈ {1, 3, 4}) as N×H×W×C, values checked, uint8."""
    array = np.asarray(array)
    if array.ndim == 3:
        array = array[..., None]
    elif array.ndim == 4:
        channels_first, channels_last = array.shape[1] in (1, 3, 4), array.shape[3] in (1, 3, 4)
        if channels_first and not channels_last:
            array = array.transpose(0, 2, 3, 1)
        elif not channels_last:
            raise DatasetInputError(f"{name}: cannot tell the channels of an array of shape {array.shape}; expected "
                                    f"N×H×W, N×C×H×W or N×H×W×C with C = 1, 3 or 4")
    else:
        raise DatasetInputError(f"{name}: expected images as N×H×W, N×C×H×W or N×H×W×C, got shape {array.shape}")
    if array.shape[0] == 0:
        raise DatasetInputError(f"{name}: the dataset is empty (0 samples)")
    if 0 in array.shape[1:]:
        raise DatasetInputError(f"{name}: images of shape {array.shape[1:]} hold no pixels")
    return to_uint8(array, name)


def check_pixels(array: np.ndarray, name: str) -> None:
    """The one pixel check: uint8 (0..255), or float in [0, 1] without NaN or infinities."""
    if array.dtype == np.uint8:
        return
    if not np.issubdtype(array.dtype, np.floating):
        raise InputError(f"{name}: pixels must be uint8 (0..255) or float (0..1), got {array.dtype}")
    finite = np.isfinite(array)
    if not finite.all():
        bad = np.flatnonzero(~finite.reshape(len(array), -1).all(axis=1))
        raise InputError(f"{name}: {len(bad)} sample(s) contain NaN or infinite values (first: sample {bad[0]})")
    low, high = float(array.min()), float(array.max())
    if low < 0.0 or high > 1.0:
        hint = " (0..255 floats? pass uint8 or divide by 255)" if high > 1.0 else ""
        raise InputError(f"{name}: float pixels must lie in [0, 1], found [{low:g}, {high:g}]{hint}")


def to_uint8(array: np.ndarray, name: str) -> np.ndarray:
    check_pixels(array, name)
    return array if array.dtype == np.uint8 else np.round(array * 255.0).astype(np.uint8)


def read_image(path: Path) -> np.ndarray:
    """One PNG/JPEG file as uint8 H×W×C, C = 1 (grayscale) or 3 (RGB); transparency flattened onto black.

    The size the file's header declares is checked against the file's size before the
    image is decoded (:func:`check_declared_pixels`), so a small file cannot make PIL
    allocate a huge image."""
    import struct

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            check_declared_pixels(path, image.size, len(image.getbands()))
            image.load()
            if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
                rgba = image.convert("RGBA")
                image = Image.alpha_composite(Image.new("RGBA", rgba.size, (0, 0, 0, 255)), rgba).convert("RGB")
            if image.mode not in ("L", "RGB"):
                image = image.convert("L" if image.mode in ("1", "I", "I;16", "F") else "RGB")
            array = np.asarray(image, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, struct.error,
            Image.DecompressionBombError) as err:  # what Pillow's own fuzzing expects of a corrupt file, and more
        raise UnreadableImageError(f"{path}: not a readable image ({type(err).__name__}: {err})") from err
    return array[..., None] if array.ndim == 2 else array


def check_declared_pixels(path: Path, size: tuple[int, int], bands: int) -> None:
    """PNG (deflate) and JPEG cannot hold more than ~1032 decoded bytes per stored byte: a
    header declaring more is refused before anything is allocated for it."""
    from simex.base.formats import MAX_DEFLATE_RATIO

    width, height = size
    declared, stored = width * height * bands, Path(path).stat().st_size
    if declared > MAX_DEFLATE_RATIO * stored + (1 << 16):
        raise UnreadableImageError(f"{path}: its header declares a {width}×{height} image ({declared} bytes) that "
                                   f"{stored} bytes cannot hold (corrupt or hostile file)")


def convert_image(image: np.ndarray, shape: InputShape) -> np.ndarray:
    """uint8 H×W×C (C ∈ {1, 3, 4}) to uint8 C'×H'×W' of ``shape``, as the module docstring says."""
    from PIL import Image

    height, width, channels = image.shape
    if (channels, height, width) == shape.as_tuple():
        return np.ascontiguousarray(image.transpose(2, 0, 1))
    if channels == 4:
        rgba = Image.fromarray(image, "RGBA")
        picture = Image.alpha_composite(Image.new("RGBA", rgba.size, (0, 0, 0, 255)), rgba).convert("RGB")
    else:
        picture = Image.fromarray(image[..., 0] if channels == 1 else image, "L" if channels == 1 else "RGB")
    picture = picture.convert("L" if shape.channels == 1 else "RGB")
    if (height, width) != (shape.height, shape.width):
        larger = height >= shape.height and width >= shape.width
        picture = picture.resize((shape.width, shape.height),
                                 Image.Resampling.BOX if larger else Image.Resampling.BILINEAR)
    array = np.asarray(picture, dtype=np.uint8)
    return array[None] if array.ndim == 2 else np.ascontiguousarray(array.transpose(2, 0, 1))


def convert_images(images: Sequence[np.ndarray] | np.ndarray, shape: InputShape) -> np.ndarray:
    """uint8 H×W×C images (an N×H×W×C array or a list) as uint8 N×C×H×W of ``shape``."""
    return np.stack([convert_image(image, shape) for image in images])


def describe_conversion(source_shapes: Sequence[tuple[int, int, int]], shape: InputShape) -> str:
    """What :func:`convert_image` does to images of the given H×W×C shapes, in words."""
    distinct = sorted(set(source_shapes))
    if distinct == [(shape.height, shape.width, shape.channels)]:
        return f"none (already {shape})"
    sizes = sorted({(h, w) for h, w, _ in distinct})
    modes = sorted({MODE_NAMES[c] for _, _, c in distinct})
    size_text = (f"{sizes[0][0]}×{sizes[0][1]}" if len(sizes) == 1
                 else f"{len(sizes)} sizes from {sizes[0][0]}×{sizes[0][1]} to {sizes[-1][0]}×{sizes[-1][1]}")
    steps = []
    target_mode = MODE_NAMES[shape.channels]
    if modes != [target_mode]:
        how = "ITU-R 601-2 luma" if shape.channels == 1 else "grayscale repeated in R, G and B"
        if "RGBA" in modes:
            how = "transparency flattened onto black, " + how
        steps.append(f"to {target_mode} ({how})")
    if sizes != [(shape.height, shape.width)]:
        larger = all(h >= shape.height and w >= shape.width for h, w in sizes)
        smaller = all(h <= shape.height and w <= shape.width for h, w in sizes)
        filters = "box filter" if larger else "bilinear" if smaller else "box filter down, bilinear up"
        steps.append(f"resized to {shape.height}×{shape.width} ({filters}, aspect not kept)")
    return f"{size_text} {'/'.join(modes)} → {shape}: " + "; ".join(steps)


def check_aspect(source_shapes: Sequence[tuple[int, int, int]], name: str) -> None:
    """Sizes at one aspect ratio are reconciled by resizing; different aspect ratios are refused."""
    ratios = sorted({w / h for h, w, _ in source_shapes})
    if ratios and ratios[-1] > ratios[0] * (1 + ASPECT_TOLERANCE):
        sizes = sorted({(h, w) for h, w, _ in source_shapes})
        shown = ", ".join(f"{h}×{w}" for h, w in sizes[:6]) + (" ..." if len(sizes) > 6 else "")
        raise MixedSizesError(f"{name}: images of different aspect ratios ({shown}) cannot be reconciled: resizing "
                              f"would distort them differently; crop or pad them to one aspect ratio first")


# --- datasets ----------------------------------------------------------------------------


@dataclass
class ImageDataset:
    """A user's dataset, converted to a fleet's input shape."""

    name: str
    path: str
    kind: str  # "class folders", "image folder", "npy", "npz", "idx", "idx pair"
    images: np.ndarray  # uint8 N×C×H×W
    labels: np.ndarray | None  # int64 class indices 0..K-1, or None
    class_names: tuple[str, ...] | None
    conversion: str
    sha256: str  # of the dataset's files (see content_sha256)

    @property
    def labelled(self) -> bool:
        return self.labels is not None


def image_files(folder: Path) -> list[Path]:
    """The non-hidden files of ``folder``, all of which must be PNG/JPEG, in name order."""
    entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    others = [p.name for p in entries if not (p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)]
    if others:
        shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
        raise UnreadableImageError(f"{folder}: {len(others)} entries are not PNG/JPEG image files: {shown}")
    return entries


def split_source(path: str | Path) -> tuple[Path, Path | None]:
    """``IMAGES,LABELS`` (an IDX pair) or a single path."""
    text = str(path)
    if "," in text:
        images, labels = text.split(",", 1)
        return Path(images), Path(labels)
    return Path(text), None


def content_sha256(path: str | Path) -> str:
    """SHA-256 of a file, or of a folder's files (relative paths and contents, in sorted order)."""
    images, labels = split_source(path)
    digest = hashlib.sha256()
    for root in [images] + ([labels] if labels else []):
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for file in files:
            if root.is_dir():
                digest.update(os.fsencode(file.relative_to(root).as_posix()) + b"\0")
            with open(file, "rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
    return digest.hexdigest()


def read_dataset(name: str, path: str | Path, shape: InputShape = DEFAULT_SHAPE) -> ImageDataset:
    """Read the dataset at ``path`` (see the module docstring) and convert it to ``shape``."""
    images_path, labels_path = split_source(path)
    for part in (images_path, labels_path):
        if part is not None and not part.exists():
            raise MissingPathError(f"dataset {name}: {part} does not exist")
        if part is not None and not (part.is_file() or part.is_dir()):  # a FIFO or a device would block or never end
            raise DatasetInputError(f"dataset {name}: {part} is neither a regular file nor a folder")
    labels: np.ndarray | None = None
    class_names: tuple[str, ...] | None = None
    if images_path.is_dir():
        subfolders = sorted(p for p in images_path.iterdir() if p.is_dir() and not p.name.startswith("."))
        if subfolders:
            stray = [p.name for p in images_path.iterdir() if p.is_file() and not p.name.startswith(".")]
            if stray:
                raise UnreadableImageError(f"dataset {name}: {images_path} holds class subfolders and also files "
                                           f"({', '.join(sorted(stray)[:5])}); put every image in a class folder")
            kind, per_class = "class folders", [image_files(folder) for folder in subfolders]
            for folder, files in zip(subfolders, per_class):
                if not files:
                    raise EmptyClassError(f"dataset {name}: class folder {folder} holds no images")
            files = [file for class_files in per_class for file in class_files]
            labels = np.repeat(np.arange(len(subfolders)), [len(f) for f in per_class])
            class_names = tuple(folder.name for folder in subfolders)
        else:
            kind, files = "image folder", image_files(images_path)
            if not files:
                raise EmptyClassError(f"dataset {name}: {images_path} holds no images")
        raw = [read_image(file) for file in files]
    else:
        kind, array, raw_labels = _read_array_file(name, images_path, labels_path)
        raw = to_nhwc(array, f"dataset {name} ({images_path})")
        if raw_labels is not None:
            labels, class_names = _class_indices(f"{name} ({labels_path or images_path})", raw_labels, len(raw))
    source_shapes = [image.shape for image in raw]
    check_aspect(source_shapes, f"dataset {name} ({images_path})")
    return ImageDataset(name=name, path=str(path), kind=kind, images=convert_images(raw, shape), labels=labels,
                        class_names=class_names, conversion=describe_conversion(source_shapes, shape),
                        sha256=content_sha256(path))


def _read_array_file(name: str, path: Path, labels_path: Path | None) -> tuple[str, np.ndarray, np.ndarray | None]:
    from simex.base.formats import ARCHIVE_ERRORS, DataFormatError, check_npy, check_npz, read_idx

    lower = path.name.lower()
    try:
        if labels_path is not None:
            return "idx pair", read_idx(path), read_idx(labels_path)
        if lower.endswith(".npy"):
            check_npy(path)  # declared sizes against the file's, before numpy allocates them
            return "npy", np.load(path, allow_pickle=False), None
        if lower.endswith(".npz"):
            check_npz(path)
            with np.load(path, allow_pickle=False) as archive:
                keys = list(archive.keys())
                image_key = next((k for k in NPZ_IMAGE_KEYS if k in keys), keys[0] if len(keys) == 1 else None)
                if image_key is None:
                    raise DatasetInputError(f"dataset {name}: {path}: cannot tell which array holds the images; "
                                            f"arrays: {', '.join(keys) or 'none'} (name it one of "
                                            f"{', '.join(NPZ_IMAGE_KEYS)})")
                label_key = next((k for k in NPZ_LABEL_KEYS if k in keys), None)
                return "npz", archive[image_key], None if label_key is None else archive[label_key]
        if "idx" in lower or "ubyte" in lower:
            return "idx", read_idx(path), None
    except DatasetInputError:
        raise
    except (DataFormatError, *ARCHIVE_ERRORS) as err:
        raise UnreadableImageError(f"dataset {name}: cannot read {path} ({err})") from err
    raise DatasetInputError(f"dataset {name}: {path}: unknown format; expected a folder of images (flat or one "
                            f"subfolder per class), .npy, .npz, an IDX file or an IDX pair IMAGES,LABELS")


def _class_indices(name: str, raw_labels: np.ndarray, n_images: int) -> tuple[np.ndarray, tuple[str, ...]]:
    raw_labels = np.asarray(raw_labels)
    if raw_labels.ndim != 1 or len(raw_labels) != n_images:
        raise LabelCountError(f"dataset {name}: {n_images} images but labels of shape {raw_labels.shape}; "
                              f"expected one label per image")
    if not np.issubdtype(raw_labels.dtype, np.integer):
        raise DatasetInputError(f"dataset {name}: labels must be integers, got {raw_labels.dtype}")
    values, indices = np.unique(raw_labels, return_inverse=True)
    return indices.astype(np.int64), tuple(str(v) for v in values)


def check_samples(dataset: ImageDataset, minimum: int, per_class: bool) -> None:
    """Every member to be trained from ``dataset`` has at least ``minimum`` samples."""
    if per_class:
        assert dataset.labels is not None and dataset.class_names is not None
        counts = np.bincount(dataset.labels, minlength=len(dataset.class_names))
        short = [f"{n} ({c})" for n, c in zip(dataset.class_names, counts) if c < minimum]
        if short:
            raise TooFewSamplesError(f"dataset {dataset.name}: classes with fewer than {minimum} samples, too few "
                                     f"to train a member: {', '.join(short)}")
    elif len(dataset.images) < minimum:
        raise TooFewSamplesError(f"dataset {dataset.name}: {len(dataset.images)} samples, fewer than the {minimum} "
                                 f"a member needs")
