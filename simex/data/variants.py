"""Offline regeneration of Larochelle et al.'s MNIST variants from MNIST itself.

mnist-rot: each digit rotated by an angle drawn uniformly from [0, 2π).
mnist-back-image: each digit composited over a random 28x28 patch of a natural image,
patches with too little texture rejected. The natural images are those bundled in
scikit-image (never its page/text images); the compositing rule and the texture
threshold are ours and come from the config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import ndimage

from simex.data.formats import IMAGE_SIDE

Composite = Literal["over", "max"]


def rotate_digits(images: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Rotate each uint8 image by its own uniform angle in [0, 360) degrees (bilinear)."""
    angles = rng.uniform(0.0, 360.0, size=len(images))
    rotated = np.empty_like(images)
    for index, (image, angle) in enumerate(zip(images, angles)):
        turned = ndimage.rotate(image.astype(np.float32), angle, reshape=False, order=1, mode="constant")
        rotated[index] = np.clip(np.round(turned), 0, 255).astype(np.uint8)
    return rotated, angles


def load_background_images(names: list[str]) -> list[np.ndarray]:
    """Grayscale float images in [0, 1] from scikit-image's bundled data."""
    import skimage.data
    from skimage.color import rgb2gray, rgba2rgb
    from skimage.util import img_as_float

    pictures = []
    for name in names:
        loader = getattr(skimage.data, name, None)
        if loader is None:
            raise ValueError(f"background image {name!r} is not in skimage.data")
        picture = img_as_float(loader())
        if picture.ndim == 3 and picture.shape[-1] == 4:
            picture = rgba2rgb(picture)
        if picture.ndim == 3:
            picture = rgb2gray(picture)
        if min(picture.shape) < IMAGE_SIDE:
            raise ValueError(f"background image {name!r} is smaller than {IMAGE_SIDE}x{IMAGE_SIDE}")
        pictures.append(picture)
    return pictures


@dataclass(frozen=True)
class BackgroundSpec:
    images: list[str]
    composite: Composite
    min_patch_std: float
    max_tries: int = 1000


def random_patch(pictures: list[np.ndarray], spec: BackgroundSpec, rng: np.random.Generator) -> np.ndarray:
    for _ in range(spec.max_tries):
        picture = pictures[rng.integers(len(pictures))]
        top = rng.integers(picture.shape[0] - IMAGE_SIDE + 1)
        left = rng.integers(picture.shape[1] - IMAGE_SIDE + 1)
        patch = picture[top : top + IMAGE_SIDE, left : left + IMAGE_SIDE]
        if patch.std() >= spec.min_patch_std:
            return patch
    raise ValueError(
        f"no patch with std >= {spec.min_patch_std} in {spec.max_tries} tries: lower min_patch_std"
    )


def composite(digit: np.ndarray, patch: np.ndarray, rule: Composite) -> np.ndarray:
    """Digit (float, [0, 1], white on black) over a background patch."""
    if rule == "over":
        return digit + (1.0 - digit) * patch  # the digit's intensity is its opacity
    if rule == "max":
        return np.maximum(digit, patch)
    raise ValueError(f"unknown composite rule {rule!r}; expected 'over' or 'max'")


def add_backgrounds(images: np.ndarray, spec: BackgroundSpec, rng: np.random.Generator) -> np.ndarray:
    pictures = load_background_images(spec.images)
    result = np.empty_like(images)
    for index, image in enumerate(images):
        mixed = composite(image / 255.0, random_patch(pictures, spec, rng), spec.composite)
        result[index] = np.clip(np.round(mixed * 255.0), 0, 255).astype(np.uint8)
    return result
