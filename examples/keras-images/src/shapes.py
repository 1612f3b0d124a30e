"""Synthetic grayscale images of three shapes, drawn with numpy: circles, squares and triangles
of random size, position and brightness, with pixel noise. The same seed gives the same images;
nothing is downloaded."""

import numpy as np

CLASSES = ("circle", "square", "triangle")
SIZE = 16


def draw(kind: int, rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """One ``size`` x ``size`` image of shape ``kind`` (an index into CLASSES), float32 in [0, 1]."""
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    radius = rng.uniform(size * 0.18, size * 0.32)
    cy, cx = rng.uniform(radius + 0.5, size - radius - 0.5, 2)
    if kind == 0:
        mask = (rows - cy) ** 2 + (cols - cx) ** 2 <= radius**2
    elif kind == 1:
        mask = (np.abs(rows - cy) <= radius * 0.85) & (np.abs(cols - cx) <= radius * 0.85)
    else:  # upright: apex on top, base below
        top, bottom = cy - radius, cy + radius
        half_width = (rows - top) / (bottom - top) * radius
        mask = (rows >= top) & (rows <= bottom) & (np.abs(cols - cx) <= half_width)
    image = mask.astype(np.float32) * rng.uniform(0.6, 1.0)
    return np.clip(image + rng.normal(0.0, 0.15, image.shape), 0.0, 1.0).astype(np.float32)


def make_shapes(count: int, seed: int = 0, size: int = SIZE) -> tuple[np.ndarray, np.ndarray]:
    """``count`` images, shape (count, size, size), float32 in [0, 1], and their labels
    (0 circle, 1 square, 2 triangle), balanced and shuffled."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(count) % len(CLASSES))
    images = np.stack([draw(int(label), rng, size) for label in labels])
    return images, labels.astype(np.int64)
