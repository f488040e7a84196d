"""Offline regeneration of Larochelle et al.'s MNIST variants from MNIST itself.

Larochelle, Erhan, Courville, Bergstra, Bengio (ICML 2007), "An empirical evaluation of
deep architectures on problems with many factors of variation", §4.1, and its online
companion ("variations on the MNIST digits") describe how each variant was made:

- mnist-rot (R): the digit rotated by an angle drawn uniformly from [0, 2π);
- mnist-back-rand (BR): a random background, each pixel uniform in [0, 255];
- mnist-back-image (B): a random 28x28 patch of one of 20 black-and-white images as the
  background, patches of low pixel variance (little texture) ignored;
- mnist-rot-back-image (RBI): rotation, then the image background.

The published text does not give the interpolation of the rotation, the 20 images, the
variance threshold, nor the rule that puts a digit on its background; those are
config values (config/schema.yaml, data.rotation / data.background / data.random_background),
each with a comment saying where it comes from (docs/datasets/README.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from scipy import ndimage

from simex.base.formats import IMAGE_SIDE, pixels_to_float
from simex.base.errors import SimexError

Composite = Literal["over", "max"]
Contrast = Literal["as_is", "stretch"]

# Each regenerated variant as the steps of its published procedure, in order.
VARIANT_STEPS: dict[str, tuple[str, ...]] = {
    "R": ("rotate",),
    "B": ("background_image",),
    "BR": ("background_random",),
    "RBI": ("rotate", "background_image"),
}


class VariantConfigError(SimexError, ValueError):
    """A regeneration setting that cannot work (unknown variant, unloadable image, patch too large)."""


@dataclass(frozen=True)
class RotationSpec:
    interpolation_order: int = 1  # scipy.ndimage spline order: 0 nearest, 1 bilinear, 3 bicubic


@dataclass(frozen=True)
class BackgroundSpec:
    images: list[str]
    composite: Composite
    min_patch_std: float
    patch_size: int = IMAGE_SIDE
    contrast: Contrast = "as_is"  # "stretch": each patch rescaled to span [0, 1]
    max_tries: int = 1000


@dataclass(frozen=True)
class RandomBackgroundSpec:
    low: float = 0.0  # [0, 1] pixel scale: Larochelle's 0..255
    high: float = 1.0


@dataclass(frozen=True)
class VariantSpec:
    rotation: RotationSpec
    background: BackgroundSpec
    random_background: RandomBackgroundSpec
    composite: Composite


def variant_steps(code: str) -> tuple[str, ...]:
    try:
        return VARIANT_STEPS[code]
    except KeyError:
        raise VariantConfigError(
            f"unknown variant {code!r}: regeneration knows {', '.join(VARIANT_STEPS)}") from None


def rotate_digits(images: np.ndarray, rng: np.random.Generator,
                  spec: RotationSpec = RotationSpec()) -> tuple[np.ndarray, np.ndarray]:
    """Rotate each uint8 image by its own uniform angle in [0, 360) degrees."""
    if spec.interpolation_order not in (0, 1, 2, 3, 4, 5):
        raise VariantConfigError(f"rotation interpolation_order {spec.interpolation_order} is not a spline order 0..5")
    angles = rng.uniform(0.0, 360.0, size=len(images))
    rotated = np.empty_like(images)
    for index, (image, angle) in enumerate(zip(images, angles)):
        turned = ndimage.rotate(image.astype(np.float32), angle, reshape=False, order=spec.interpolation_order,
                                mode="constant")
        rotated[index] = np.clip(np.round(turned), 0, 255).astype(np.uint8)
    return rotated, angles


def _load_one(name: str) -> np.ndarray:
    import skimage.data

    if "/" in name or "." in name:  # a file of your own
        if not Path(name).is_file():
            raise VariantConfigError(f"background image {name!r} cannot be loaded: no such file")
        from PIL import Image

        try:
            with Image.open(name) as picture:
                return np.asarray(picture.convert("L"))
        except Exception as err:  # an unreadable image raises many kinds
            raise VariantConfigError(f"background image {name!r} cannot be loaded: {err}") from err
    loader = getattr(skimage.data, name, None)
    if loader is None or name.startswith("_"):
        raise VariantConfigError(f"background image {name!r} is neither a file nor an image of skimage.data")
    try:
        return loader()
    except Exception as err:  # e.g. an image skimage must download (pooch missing, no network)
        raise VariantConfigError(f"background image {name!r} cannot be loaded from skimage.data: {err}") from err


def load_background_images(names: list[str], patch_size: int = IMAGE_SIDE) -> list[np.ndarray]:
    """Grayscale float images in [0, 1]: skimage.data names or image files."""
    from skimage.color import rgb2gray, rgba2rgb
    from skimage.util import img_as_float

    if not names:
        raise VariantConfigError("no background images configured")
    pictures = []
    for name in names:
        picture = np.asarray(_load_one(name))
        if picture.ndim == 3 and picture.shape[-1] == 4:
            picture = rgba2rgb(picture)
        if picture.ndim == 3 and picture.shape[-1] == 3:
            picture = rgb2gray(picture)
        if picture.ndim != 2:
            raise VariantConfigError(f"background image {name!r} is not a 2-D picture (shape {picture.shape})")
        picture = img_as_float(picture)
        if min(picture.shape) < patch_size:
            raise VariantConfigError(
                f"background image {name!r} ({picture.shape[0]}x{picture.shape[1]}) is smaller than the "
                f"{patch_size}x{patch_size} patch")
        pictures.append(picture)
    return pictures


def random_patch(pictures: list[np.ndarray], spec: BackgroundSpec, rng: np.random.Generator) -> np.ndarray:
    size = spec.patch_size
    for _ in range(spec.max_tries):
        picture = pictures[rng.integers(len(pictures))]
        top = rng.integers(picture.shape[0] - size + 1)
        left = rng.integers(picture.shape[1] - size + 1)
        patch = picture[top : top + size, left : left + size]
        if patch.std() >= spec.min_patch_std:
            return stretch_contrast(patch) if spec.contrast == "stretch" else patch
    raise VariantConfigError(
        f"no patch with std >= {spec.min_patch_std} in {spec.max_tries} tries: lower min_patch_std"
    )


def stretch_contrast(patch: np.ndarray) -> np.ndarray:
    """The patch rescaled linearly so that its darkest pixel is 0 and its brightest 1."""
    low, high = float(patch.min()), float(patch.max())
    return (patch - low) / (high - low) if high > low else np.zeros_like(patch)


def composite(digit: np.ndarray, patch: np.ndarray, rule: Composite) -> np.ndarray:
    """Digit (float, [0, 1], white on black) on a background (float, [0, 1])."""
    if rule == "over":
        return digit + (1.0 - digit) * patch  # the digit's intensity is its opacity
    if rule == "max":
        return np.maximum(digit, patch)
    raise VariantConfigError(f"unknown composite rule {rule!r}; expected 'over' or 'max'")


def _check_patch_size(spec: BackgroundSpec) -> None:
    if spec.patch_size != IMAGE_SIDE:
        raise VariantConfigError(
            f"background patch_size {spec.patch_size} must equal the digit's side {IMAGE_SIDE} "
            "(Larochelle et al. paste a 28x28 patch behind each 28x28 digit)")


def add_backgrounds(images: np.ndarray, spec: BackgroundSpec, rng: np.random.Generator) -> np.ndarray:
    _check_patch_size(spec)
    pictures = load_background_images(spec.images, spec.patch_size)
    result = np.empty_like(images)
    for index, image in enumerate(images):
        mixed = composite(pixels_to_float(image, np.float64), random_patch(pictures, spec, rng), spec.composite)
        result[index] = np.clip(np.round(mixed * 255.0), 0, 255).astype(np.uint8)
    return result


def add_random_backgrounds(images: np.ndarray, spec: RandomBackgroundSpec, rule: Composite,
                           rng: np.random.Generator) -> np.ndarray:
    """Each background pixel uniform in [low, high] ([0, 1] scale), combined with the digit by ``rule``."""
    if not 0.0 <= spec.low < spec.high <= 1.0:
        raise VariantConfigError(f"random background range [{spec.low}, {spec.high}] must lie in [0, 1], low < high")
    noise = rng.uniform(spec.low, spec.high, size=images.shape)
    mixed = composite(pixels_to_float(images, np.float64), noise, rule)
    return np.clip(np.round(mixed * 255.0), 0, 255).astype(np.uint8)


def check_spec(code: str, spec: VariantSpec) -> None:
    """Stop on a setting variant ``code`` cannot use (unknown variant, unloadable image, patch too large)."""
    steps = variant_steps(code)
    if "rotate" in steps and spec.rotation.interpolation_order not in range(6):
        raise VariantConfigError(f"rotation interpolation_order {spec.rotation.interpolation_order} is not 0..5")
    if "background_image" in steps:
        _check_patch_size(spec.background)
        load_background_images(spec.background.images, spec.background.patch_size)
    if "background_random" in steps and not 0.0 <= spec.random_background.low < spec.random_background.high <= 1.0:
        raise VariantConfigError(f"random background range [{spec.random_background.low}, "
                                 f"{spec.random_background.high}] must lie in [0, 1], low < high")


def regenerate(code: str, images: np.ndarray, spec: VariantSpec, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Apply variant ``code``'s published steps to MNIST digits; returns the images and what was used."""
    details: dict = {"steps": list(variant_steps(code))}
    for step in variant_steps(code):
        if step == "rotate":
            images, angles = rotate_digits(images, rng, spec.rotation)
            details["rotation"] = {"angle_distribution": "uniform [0, 360) degrees",
                                   "interpolation_order": spec.rotation.interpolation_order,
                                   "angle_mean_deg": float(angles.mean()) if len(angles) else None}
        elif step == "background_image":
            images = add_backgrounds(images, spec.background, rng)
            details["background"] = {"images": list(spec.background.images), "composite": spec.background.composite,
                                     "min_patch_std": spec.background.min_patch_std,
                                     "patch_size": spec.background.patch_size, "contrast": spec.background.contrast}
        elif step == "background_random":
            images = add_random_backgrounds(images, spec.random_background, spec.composite, rng)
            details["random_background"] = {"low": spec.random_background.low, "high": spec.random_background.high,
                                            "composite": spec.composite}
    return images, details
