"""Small known and unknown datasets that are not the paper's, for trying `simex fleet build` and `simex rank`.

    .venv/bin/python scripts/make_demo_datasets.py DEMO_DIR

Everything comes from images scikit-image ships (no download), in the formats a user has:
- ``faces/``: scikit-image's LFW subset, 25×25 grayscale PNGs in class folders
  ``face/`` (100) and ``nonface/`` (100);
- ``photos.npy``: 600 random 32×32 RGB crops of the astronaut, chelsea (a cat) and rocket
  photographs, an N×32×32×3 uint8 array;
- ``textures.npz``: 600 random 32×32 grayscale crops of the brick, grass and gravel
  textures, ``images`` N×32×32 uint8 with ``labels`` 0, 1, 2;
- ``unknown-coffee/``: 100 random 48×48 RGB JPEG crops of the coffee photograph (in no
  known dataset), the new data to rank;
- ``unknown-faces/``: the LFW faces again, flipped left-right (a new view of a known kind).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data


def crops(image: np.ndarray, n: int, side: int, rng: np.random.Generator) -> np.ndarray:
    rows = rng.integers(0, image.shape[0] - side, size=n)
    cols = rng.integers(0, image.shape[1] - side, size=n)
    return np.stack([image[r : r + side, c : c + side] for r, c in zip(rows, cols)])


def main(root: Path) -> None:
    rng = np.random.default_rng(2026)
    lfw = np.round(data.lfw_subset() * 255).astype(np.uint8)
    for kind, images in (("face", lfw[:100]), ("nonface", lfw[100:])):
        (root / "faces" / kind).mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(images):
            Image.fromarray(image, "L").save(root / "faces" / kind / f"{i:03d}.png")
    (root / "unknown-faces").mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(lfw[:100]):
        Image.fromarray(image[:, ::-1], "L").save(root / "unknown-faces" / f"{i:03d}.png")
    photos = np.concatenate([crops(getattr(data, name)(), 200, 32, rng) for name in ("astronaut", "chelsea", "rocket")])
    np.save(root / "photos.npy", photos[rng.permutation(len(photos))])
    textures = [crops(getattr(data, name)(), 200, 32, rng) for name in ("brick", "grass", "gravel")]
    np.savez(root / "textures.npz", images=np.concatenate(textures), labels=np.repeat(np.arange(3), 200))
    (root / "unknown-coffee").mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(crops(data.coffee(), 100, 48, rng)):
        Image.fromarray(image, "RGB").save(root / "unknown-coffee" / f"{i:03d}.jpg", quality=92)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
