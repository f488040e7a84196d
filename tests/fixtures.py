"""Small datasets written in the real file formats, and a loopback HTTP server for them."""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import http.server
import pickle
import threading
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from simex.base.formats import encode_idx


def digit_like_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Asymmetric uint8 images (a bright top-left block), so a transpose is detectable."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 30, size=(n, 28, 28), dtype=np.uint8)
    images[:, 2:6, 2:20] = 255  # a horizontal bar near the top
    return images, rng.integers(0, 10, size=n).astype(np.uint8)


def write_idx_gz(folder: Path, name: str, array: np.ndarray) -> str:
    """Writes NAME.gz; returns the MD5 of the gz file and of the uncompressed bytes."""
    payload = encode_idx(array)
    (folder / f"{name}.gz").write_bytes(gzip.compress(payload))
    return hashlib.md5(payload).hexdigest()


def mnist_pickle(train: np.ndarray, train_labels: np.ndarray, test: np.ndarray, test_labels: np.ndarray) -> bytes:
    """The classic mnist.pkl.gz layout: ((train), (valid), (test)), float32 = uint8/256."""
    as_float = lambda images: (images.reshape(len(images), -1) / 256.0).astype(np.float32)  # noqa: E731
    split = len(train) // 2
    payload = (
        (as_float(train[:split]), train_labels[:split].astype(np.int64)),
        (as_float(train[split:]), train_labels[split:].astype(np.int64)),
        (as_float(test), test_labels.astype(np.int64)),
    )
    return gzip.compress(pickle.dumps(payload, protocol=2))


def amat_text(images: np.ndarray, labels: np.ndarray, transposed: bool) -> str:
    """The .amat text of uint8 images; the inverse of simex.base.formats.parse_amat."""
    stored = images.transpose(0, 2, 1) if transposed else images
    pixels = stored.reshape(len(images), -1) / 255.0
    rows = np.column_stack([pixels, labels.astype(np.float64)])
    return "\n".join(" ".join(f"{value:.8g}" for value in row) for row in rows) + "\n"


@contextlib.contextmanager
def serve_folder(folder: Path) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 serving ``folder``; yields its base URL (with slash)."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


# --- what a saved figure shows (simex.base.artifacts.read_figure_contents) -------------


def dataset_order_problems(contents: dict, labels: Sequence[str]) -> list[str]:
    """Where a figure shows datasets out of ``labels``' order (the dataset sheet's).

    Read: every panel's x and y tick labels and legend, and across panels their titles and axis
    labels, and the figure's legend. Each text counts for the first dataset label among its
    words (so ``Y = E*`` is E* and ``M\\nMNIST`` is M); consecutive repeats count once.
    """
    rank = {label: i for i, label in enumerate(labels)}

    def dataset(text: str) -> str | None:
        return next((word for word in (w.strip(",;:.()") for w in text.split()) if word in rank), None)

    panels = contents["panels"]
    sequences = {f"panel {i} {part}": panel[part] for i, panel in enumerate(panels) for part in ("xticks", "yticks", "legend")}
    sequences.update({f"panel {part}s": [panel[part] for panel in panels] for part in ("title", "xlabel", "ylabel")})
    sequences["figure legend"] = contents["legend"]
    problems = []
    for where, texts in sequences.items():
        found = [name for name in map(dataset, texts) if name]
        found = [name for i, name in enumerate(found) if i == 0 or name != found[i - 1]]
        if found != sorted(set(found), key=rank.__getitem__):
            problems.append(f"{where}: {found}")
    return problems
