"""A synthetic, clearly labelled stand-in for EMNIST-Letters.

Used only when the real EMNIST cannot be downloaded. Letters a..z in upper and lower
case (one label per letter, as in EMNIST-Letters) are rendered from handwriting fonts,
distorted (random affine, elastic field, stroke width, blur) and then centred into
28x28 the way EMNIST was built: crop to the region of interest, centre it in a square
frame with a 2-pixel border, resize.
"""

from __future__ import annotations

import glob
import logging
import string
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from scipy import ndimage

from simex.base.formats import IMAGE_SIDE, pixels_to_float

log = logging.getLogger(__name__)

CANVAS = 96


@dataclass(frozen=True)
class StandinSpec:
    font_globs: list[str]
    max_rotation_deg: float
    max_shear: float
    elastic_alpha: float
    elastic_sigma: float
    max_stroke_width: int
    blur_sigma: tuple[float, float]


def find_fonts(font_globs: list[str]) -> tuple[list[Path], bool]:
    """Font files matching the globs; (DejaVu Sans, True) when none is installed."""
    fonts = sorted({Path(p) for pattern in font_globs for p in glob.glob(pattern)})
    if fonts:
        return fonts, False
    import matplotlib

    fallback = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    log.warning("no handwriting font found (%s); falling back to %s", font_globs, fallback)
    return [fallback], True


def _render_glyph(char: str, font_path: Path, stroke: int, rng: np.random.Generator) -> np.ndarray:
    size = int(rng.integers(44, 64))
    font = ImageFont.truetype(str(font_path), size)
    canvas = Image.new("L", (CANVAS, CANVAS), 0)
    draw = ImageDraw.Draw(canvas)
    draw.text((CANVAS / 2, CANVAS / 2), char, fill=255, font=font, anchor="mm",
              stroke_width=stroke, stroke_fill=255)
    return pixels_to_float(np.asarray(canvas))


def _affine(glyph: np.ndarray, spec: StandinSpec, rng: np.random.Generator) -> np.ndarray:
    angle = np.deg2rad(rng.uniform(-spec.max_rotation_deg, spec.max_rotation_deg))
    shear = rng.uniform(-spec.max_shear, spec.max_shear)
    scale = rng.uniform(0.85, 1.15)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    matrix = rotation @ np.array([[1.0, shear], [0.0, 1.0]]) / scale
    centre = np.array(glyph.shape) / 2.0
    offset = centre - matrix @ centre
    return ndimage.affine_transform(glyph, matrix, offset=offset, order=1)


def _elastic(glyph: np.ndarray, spec: StandinSpec, rng: np.random.Generator) -> np.ndarray:
    shape = glyph.shape
    dy, dx = (ndimage.gaussian_filter(rng.uniform(-1, 1, shape), spec.elastic_sigma) * spec.elastic_alpha
              for _ in range(2))
    rows, cols = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    return ndimage.map_coordinates(glyph, [rows + dy, cols + dx], order=1)


def centre_like_emnist(glyph: np.ndarray) -> np.ndarray:
    """Crop to the ROI, centre in a square frame with a 2-pixel border, resize to 28x28."""
    mask = glyph > 0.05
    if not mask.any():
        raise ValueError("rendered glyph is empty")
    rows, cols = np.where(mask)
    roi = glyph[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    side = max(roi.shape)
    frame = np.zeros((side + 4, side + 4), dtype=np.float32)
    top, left = 2 + (side - roi.shape[0]) // 2, 2 + (side - roi.shape[1]) // 2
    frame[top : top + roi.shape[0], left : left + roi.shape[1]] = roi
    image = Image.fromarray(np.uint8(np.clip(frame, 0, 1) * 255)).resize((IMAGE_SIDE, IMAGE_SIDE), Image.BICUBIC)
    return np.asarray(image, dtype=np.uint8)


def render_letter(label: int, font_path: Path, spec: StandinSpec, rng: np.random.Generator) -> np.ndarray:
    letters = string.ascii_uppercase if rng.random() < 0.5 else string.ascii_lowercase
    stroke = int(rng.integers(0, spec.max_stroke_width + 1))
    glyph = _render_glyph(letters[label], font_path, stroke, rng)
    glyph = _elastic(_affine(glyph, spec, rng), spec, rng)
    blurred = Image.fromarray(np.uint8(np.clip(glyph, 0, 1) * 255)).filter(
        ImageFilter.GaussianBlur(rng.uniform(*spec.blur_sigma)))
    return centre_like_emnist(pixels_to_float(np.asarray(blurred)))


def render_standin(
    spec: StandinSpec, samples_per_class: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, dict]:
    """All 26 classes, ``samples_per_class`` each, in a seeded random font per sample."""
    fonts, used_fallback = find_fonts(spec.font_globs)
    labels = np.repeat(np.arange(26), samples_per_class)
    font_choice = rng.integers(len(fonts), size=len(labels))
    images = np.stack([render_letter(int(label), fonts[f], spec, rng) for label, f in zip(labels, font_choice)])
    details = {"fonts": [str(f) for f in fonts], "font_fallback_used": used_fallback}
    return images, labels.astype(np.int64), details
