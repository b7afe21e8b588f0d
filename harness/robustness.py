"""Image corruptions for a robustness score, after ImageNet-C (Hendrycks & Dietterich, ICLR 2019).

Each corruption maps ``(image, severity, rng) -> image`` on the raw PIL image, before the model's own
resize/crop/normalise transform, so every model sees the same corrupted pixels. Severities run 1..5 with
ImageNet-C's parameters (listed in :data:`PARAMETERS`):

* ``gaussian_noise``: add N(0, sigma) per pixel and channel on [0, 1] pixels, sigma .08 .12 .18 .26 .38
* ``shot_noise``: Poisson photon noise, x' = Poisson(x * lam) / lam, lam 60 25 12 5 3
* ``gaussian_blur``: Gaussian blur with std 1 2 3 4 6 pixels *at 224 px*; scaled by short side / 224 so the
  blur covers the same fraction of the image whatever the raw resolution
* ``brightness``: add .1 .2 .3 .4 .5 to the V channel in HSV (clipped)
* ``contrast``: pull pixels towards the per-channel mean, x' = (x - m) * c + m, c .4 .3 .2 .1 .05
* ``jpeg``: re-encode as JPEG at quality 25 18 15 10 7

One difference from ImageNet-C: it corrupts 224 x 224 crops, while we corrupt the raw image; per-pixel noise
on an image much larger than the model's input is partly averaged away by the downscale that follows.
Randomness comes only from the ``rng`` given; :func:`corrupt_images` derives one generator per image from
``(seed, index)``, so a run is reproducible and an image's noise does not depend on the batch it is in.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image, ImageFilter

SEVERITIES = (1, 2, 3, 4, 5)
DEFAULT_SEVERITIES = (1, 3, 5)  # a cheaper sweep: mild, middle, worst

PARAMETERS: dict[str, tuple[float, ...]] = {
    "gaussian_noise": (0.08, 0.12, 0.18, 0.26, 0.38),
    "shot_noise": (60, 25, 12, 5, 3),
    "gaussian_blur": (1, 2, 3, 4, 6),
    "brightness": (0.1, 0.2, 0.3, 0.4, 0.5),
    "contrast": (0.4, 0.3, 0.2, 0.1, 0.05),
    "jpeg": (25, 18, 15, 10, 7),
}

Corruption = Callable[[Image.Image, int, np.random.Generator], Image.Image]


def _param(name: str, severity: int) -> float:
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}, got {severity!r}")
    return PARAMETERS[name][severity - 1]


def _to_float(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0


def _to_image(x: np.ndarray) -> Image.Image:
    return Image.fromarray((np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8), mode="RGB")


def gaussian_noise(img: Image.Image, severity: int, rng: np.random.Generator) -> Image.Image:
    x = _to_float(img)
    return _to_image(x + rng.normal(0.0, _param("gaussian_noise", severity), size=x.shape))


def shot_noise(img: Image.Image, severity: int, rng: np.random.Generator) -> Image.Image:
    lam = _param("shot_noise", severity)
    return _to_image(rng.poisson(_to_float(img) * lam) / lam)


def gaussian_blur(img: Image.Image, severity: int, rng: np.random.Generator) -> Image.Image:
    sigma = _param("gaussian_blur", severity) * min(img.size) / 224.0
    return img.convert("RGB").filter(ImageFilter.GaussianBlur(radius=sigma))


def brightness(img: Image.Image, severity: int, rng: np.random.Generator) -> Image.Image:
    hsv = np.asarray(img.convert("RGB").convert("HSV"), dtype=np.float32) / 255.0
    hsv[..., 2] = np.clip(hsv[..., 2] + _param("brightness", severity), 0.0, 1.0)
    return Image.fromarray((hsv * 255.0 + 0.5).astype(np.uint8), mode="HSV").convert("RGB")


def contrast(img: Image.Image, severity: int, rng: np.random.Generator) -> Image.Image:
    x = _to_float(img)
    means = x.mean(axis=(0, 1), keepdims=True)
    return _to_image((x - means) * _param("contrast", severity) + means)


def jpeg(img: Image.Image, severity: int, rng: np.random.Generator) -> Image.Image:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="JPEG", quality=int(_param("jpeg", severity)))
    buf.seek(0)
    with Image.open(buf) as out:
        return out.convert("RGB")


CORRUPTIONS: dict[str, Corruption] = {
    "gaussian_noise": gaussian_noise,
    "shot_noise": shot_noise,
    "gaussian_blur": gaussian_blur,
    "brightness": brightness,
    "contrast": contrast,
    "jpeg": jpeg,
}
DEFAULT_CORRUPTIONS = ("gaussian_noise", "gaussian_blur", "brightness", "jpeg")


def corrupt_images(
    images: Sequence[Image.Image], name: str, severity: int, seed: int = 0
) -> list[Image.Image]:
    """Apply one corruption at one severity to every image; the same seed gives the same pixels."""
    try:
        fn = CORRUPTIONS[name]
    except KeyError:
        raise ValueError(f"unknown corruption {name!r}; known: {', '.join(CORRUPTIONS)}") from None
    _param(name, severity)  # validate before doing any work
    return [fn(img, severity, np.random.default_rng((int(seed), i))) for i, img in enumerate(images)]
