"""Fuzzing the dataset readers (issue 29): simex.data.images.read_dataset and
simex.data.readers.open_samples over npy, npz, IDX, class folders and image folders.

Inputs: valid arrays of many dtypes and shapes (NaN/inf included), then truncated, with
flipped bytes, or with headers declaring sizes the file cannot hold; image folders with
odd names, corrupt, truncated or hugely-declared images, symlinks and FIFOs. The property
(tests/fuzzing.py): read, or refused with a SimexError naming the file; nothing else.
"""

from __future__ import annotations

import gzip
import io
import os
import struct
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np
from hypothesis import example, given, strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from simex.base.formats import encode_idx
from simex.data.images import read_dataset
from simex.data.readers import open_samples
from tests.fuzzing import read_or_refuse

DTYPES = ["u1", "f4", "f8", "f2", ">f4", "<f8", "i2", "i8", "?", "c8", "S2", "U1", "O", "u1,f4"]
IDX_CODES = [0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x00, 0xFF]
HUGE = st.integers(10**6, 2**32 - 1)


def take_all(path: Path) -> np.ndarray:
    source = open_samples(path)
    return source.take(np.arange(min(len(source), 16)))


def check_both(path: Path, dataset: str | None = None) -> None:
    """The property for both readers of an unknown dataset."""
    read_or_refuse(lambda: read_dataset("d", dataset or path), path, names=tuple((dataset or "").split(",")[1:]))
    if dataset is None:
        read_or_refuse(lambda: take_all(path), path)


def fresh_folder(tmp_path: Path) -> Path:
    return Path(tempfile.mkdtemp(dir=tmp_path))


@st.composite
def arrays(draw: st.DrawFn) -> np.ndarray:
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    n = draw(st.integers(0, 3))
    family = draw(st.sampled_from(["fleet", "channels", "size", "any"]))
    if family == "fleet":
        shape = draw(st.sampled_from([(n, 28, 28), (n, 1, 28, 28), (n, 3, 28, 28)]))
    elif family == "channels":
        side = draw(st.sampled_from([14, 28, 40]))
        shape = (n, side, side, draw(st.sampled_from([1, 2, 3, 4])))
    elif family == "size":
        shape = (n, draw(st.integers(1, 40)), draw(st.integers(1, 40)))
    else:
        shape = tuple(draw(st.lists(st.integers(0, 6), max_size=5)))
    if dtype.kind == "f" and draw(st.booleans()):
        elements = st.floats(0, 1, width=min(64, dtype.itemsize * 8))
    else:
        elements = None
    if dtype.hasobject:
        return np.empty(shape, dtype=dtype)
    return draw(hnp.arrays(dtype, shape, elements=elements))


@st.composite
def corruptions(draw: st.DrawFn) -> tuple:
    return draw(st.one_of(
        st.just(("none",)),
        st.tuples(st.just("truncate"), st.floats(0, 1)),
        st.tuples(st.just("flip"), st.floats(0, 1), st.integers(0, 255)),
        st.tuples(st.just("declare"), st.lists(HUGE, min_size=1, max_size=4).map(tuple)),
    ))


def corrupt(payload: bytes, how: tuple) -> bytes:
    if how[0] == "truncate":
        return payload[: int(len(payload) * how[1])]
    if how[0] == "flip" and payload:
        at = min(int(len(payload) * how[1]), len(payload) - 1)
        return payload[:at] + bytes([how[2]]) + payload[at + 1:]
    return payload


def npy_bytes(array: np.ndarray, how: tuple) -> bytes:
    buffer = io.BytesIO()
    if how[0] == "declare":  # the header claims another shape; the data stays as it was
        header = np.lib.format.header_data_from_array_1_0(array)
        header["shape"] = how[1]
        np.lib.format.write_array_header_1_0(buffer, header)
        buffer.write(array.tobytes() if not array.dtype.hasobject else b"")
        return buffer.getvalue()
    np.save(buffer, array, allow_pickle=True)  # an object array becomes a pickle: it must be refused
    return corrupt(buffer.getvalue(), how)


@given(array=arrays(), how=corruptions())
@example(array=np.zeros((2, 28, 28), np.uint8), how=("declare", (10**9, 28, 28)))  # 10^9-element header
@example(array=np.zeros((), np.uint8), how=("none",))  # 0-d: IndexError in ArraySource before issue 29
@example(array=np.empty(2, dtype=object), how=("none",))  # a pickled object array
@example(array=np.zeros((0, 28, 28), np.uint8), how=("flip", 1.0, 40))  # "(" ends the header: tokenize.TokenError
@example(array=np.zeros((2, 0, 5), np.float32), how=("none",))  # min() of no pixels: ValueError
@example(array=np.zeros((2, 0, 5), np.uint8), how=("none",))  # a 0-pixel-high image: ZeroDivisionError
def test_npy_files(tmp_path: Path, array: np.ndarray, how: tuple) -> None:
    path = fresh_folder(tmp_path) / "data.npy"
    path.write_bytes(npy_bytes(array, how))
    check_both(path)


def npz_bytes(members: dict[str, tuple[np.ndarray, tuple]], compressed: bool, how: tuple) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED) as archive:
        for key, (array, member_how) in members.items():
            archive.writestr(f"{key}.npy", npy_bytes(array, member_how))
    return corrupt(buffer.getvalue(), how)


@given(members=st.dictionaries(st.sampled_from(["images", "x", "data", "labels", "y", "other"]),
                               st.tuples(arrays(), corruptions()), max_size=3),
       compressed=st.booleans(), how=corruptions())
@example(members={"images": (np.zeros((3, 28, 28), np.uint8), ("none",))}, compressed=True,
         how=("truncate", 0.5))  # zipfile.BadZipFile traceback through readers before issue 29
@example(members={"images": (np.zeros((3, 28, 28), np.uint8), ("declare", (10**9, 28, 28)))}, compressed=False,
         how=("none",))
@example(members={"images": (np.zeros((1, 28, 28), np.uint8), ("none",)),
                  "labels": (np.zeros((1, 28, 28), np.uint8), ("none",))}, compressed=False,
         how=("none",))  # the label error did not name the file
def test_npz_files(tmp_path: Path, members: dict, compressed: bool, how: tuple) -> None:
    path = fresh_folder(tmp_path) / "data.npz"
    path.write_bytes(npz_bytes(members, compressed, how))
    check_both(path)


@st.composite
def idx_bytes(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):  # a valid file, then perhaps corrupted
        array = draw(arrays().filter(lambda a: a.dtype.str.lstrip("<>|") in ("u1", "f4", "f8", "i2")))
        return corrupt(encode_idx(array), draw(corruptions()))
    code, dims = draw(st.sampled_from(IDX_CODES)), draw(st.lists(st.one_of(st.integers(0, 30), HUGE), max_size=5))
    header = bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)
    return header + draw(st.binary(max_size=3000))


@given(payload=idx_bytes(), name=st.sampled_from(["images-idx3-ubyte", "images.idx", "images-idx3-ubyte.gz"]),
       labels=st.none() | idx_bytes())
@example(payload=bytes([0, 0, 8, 4]) + struct.pack(">4I", *[2**32 - 1] * 4), name="images.idx", labels=None)
def test_idx_files(tmp_path: Path, payload: bytes, name: str, labels: bytes | None) -> None:
    folder = fresh_folder(tmp_path)
    path = folder / name
    path.write_bytes(gzip.compress(payload) if name.endswith(".gz") else payload)
    check_both(path)
    if labels is not None:
        (folder / "labels-idx1-ubyte").write_bytes(labels)
        check_both(path, dataset=f"{path},{folder / 'labels-idx1-ubyte'}")


# --- folders -----------------------------------------------------------------------------


def png_declaring(width: int, height: int) -> bytes:
    """A 2×2 PNG whose header claims width × height (CRC fixed, so only the size lies)."""
    buffer = io.BytesIO()
    Image.new("L", (2, 2)).save(buffer, "PNG")
    payload = bytearray(buffer.getvalue())
    ihdr = struct.pack(">II", width, height) + bytes(payload[24:29])
    payload[16:29] = ihdr
    payload[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(payload)


@st.composite
def image_bytes(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["png", "jpeg", "random", "truncated", "declared", "empty"]))
    if kind == "random":
        return draw(st.binary(max_size=200))
    if kind == "empty":
        return b""
    if kind == "declared":
        return png_declaring(draw(st.integers(1, 2**31 - 1)), draw(st.integers(1, 2**31 - 1)))
    mode = draw(st.sampled_from(["L", "RGB", "RGBA", "P", "1", "I;16", "LA"] if kind != "jpeg" else ["L", "RGB"]))
    size = (draw(st.integers(1, 48)), draw(st.integers(1, 48)))
    buffer = io.BytesIO()
    Image.new(mode, size, color=draw(st.integers(0, 255)) if mode in ("L", "P", "1", "I;16") else None).save(
        buffer, "JPEG" if kind == "jpeg" else "PNG")
    payload = buffer.getvalue()
    return payload[: draw(st.integers(0, len(payload) - 1))] if kind == "truncated" else payload


NAME_CHARS = st.characters(blacklist_characters="/\0", blacklist_categories=["Cs"])
file_names = st.one_of(
    st.tuples(st.text(NAME_CHARS, min_size=1, max_size=12), st.sampled_from([".png", ".PNG", ".jpg", ".jpeg", ".txt", ""]))
    .map("".join),
    st.just(os.fsdecode(b"\xff\xfe-latin.png")),  # not UTF-8
).filter(lambda name: name not in (".", ".."))
entries = st.tuples(file_names, st.one_of(image_bytes(), st.sampled_from(["loop", "outside", "fifo", "folder"])))


def write_entry(folder: Path, name: str, content: bytes | str) -> None:
    path = folder / name
    if path.exists() or path.is_symlink():
        return
    if content == "loop":
        path.symlink_to(path)
    elif content == "outside":
        path.symlink_to("/etc/hostname")
    elif content == "fifo":
        os.mkfifo(path)
    elif content == "folder":
        path.mkdir()
    else:
        assert isinstance(content, bytes)
        path.write_bytes(content)


@given(layout=st.one_of(st.lists(entries, max_size=5).map(lambda e: {"": e}),
                        st.dictionaries(file_names, st.lists(entries, max_size=3), max_size=3)))
@example(layout={"": [("big.png", png_declaring(5000, 5000))]})  # would allocate 25 MB from a 70-byte file
@example(layout={"": [("bomb.png", png_declaring(30000, 30000))]})  # DecompressionBombError traceback before
@example(layout={"": [("a.png", "fifo")]})
def test_image_folders(tmp_path: Path, layout: dict[str, list]) -> None:
    root = fresh_folder(tmp_path) / "dataset"
    root.mkdir()
    for subfolder, files in layout.items():
        folder = root / subfolder
        folder.mkdir(exist_ok=True)
        for name, content in files:
            write_entry(folder, name, content)
    check_both(root)


@example(kind="fifo")
@given(kind=st.sampled_from(["fifo", "missing", "folder.npy", "loop.npz"]))
def test_odd_paths(tmp_path: Path, kind: str) -> None:
    folder = fresh_folder(tmp_path)
    path = folder / {"fifo": "data.npy", "missing": "absent.npz", "folder.npy": "folder.npy", "loop.npz": "loop.npz"}[kind]
    if kind == "fifo":
        os.mkfifo(path)  # reading it would block forever
    elif kind == "folder.npy":
        path.mkdir()
    elif kind == "loop.npz":
        path.symlink_to(path)
    check_both(path)
