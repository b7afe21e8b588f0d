"""Corruptions: reproducible for a seed, stronger with severity, safe on any PIL input."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_sample_image

from harness.robustness import (
    CORRUPTIONS,
    DEFAULT_CORRUPTIONS,
    DEFAULT_SEVERITIES,
    PARAMETERS,
    SEVERITIES,
    corrupt_images,
)

RANDOM = ("gaussian_noise", "shot_noise")


@pytest.fixture(scope="module")
def photos() -> list[Image.Image]:
    """Two real photographs shipped with scikit-learn, shrunk so the test stays fast."""
    out = []
    for name in ("china.jpg", "flower.jpg"):
        img = Image.fromarray(load_sample_image(name))
        out.append(img.resize((160, 107), Image.Resampling.BILINEAR))
    return out


def _psnr(a: Image.Image, b: Image.Image) -> float:
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    mse = float(np.mean((x - y) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def test_registry_and_parameters():
    assert {"gaussian_noise", "gaussian_blur", "brightness", "jpeg"} <= set(CORRUPTIONS)
    assert set(DEFAULT_CORRUPTIONS) <= set(CORRUPTIONS) and set(PARAMETERS) == set(CORRUPTIONS)
    assert SEVERITIES == (1, 2, 3, 4, 5) and set(DEFAULT_SEVERITIES) <= set(SEVERITIES)
    assert all(len(p) == len(SEVERITIES) for p in PARAMETERS.values())


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_same_seed_same_pixels(name, photos):
    a = corrupt_images(photos, name, 3, seed=7)
    b = corrupt_images(photos, name, 3, seed=7)
    assert all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(a, b, strict=True))
    assert all(x.size == p.size and x.mode == "RGB" for x, p in zip(a, photos, strict=True))
    other = corrupt_images(photos, name, 3, seed=8)
    same = all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(a, other, strict=True))
    assert same is (name not in RANDOM)  # only the noise corruptions depend on the seed


def test_image_noise_does_not_depend_on_its_batch(photos):
    together = corrupt_images(photos, "gaussian_noise", 2, seed=3)
    alone = corrupt_images(photos[:1], "gaussian_noise", 2, seed=3)
    assert np.array_equal(np.asarray(together[0]), np.asarray(alone[0]))
    assert not np.array_equal(np.asarray(together[0]), np.asarray(together[1].resize(together[0].size)))


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_higher_severity_damages_more(name, photos):
    for photo in photos:
        psnr = [_psnr(photo, corrupt_images([photo], name, s, seed=0)[0]) for s in SEVERITIES]
        assert all(a > b for a, b in zip(psnr, psnr[1:], strict=False)), f"{name}: PSNR {psnr}"
        assert psnr[0] < 60  # severity 1 already changes the image


def test_inputs_in_other_modes_are_handled():
    gray = Image.fromarray((np.arange(32 * 32) % 256).astype(np.uint8).reshape(32, 32), mode="L")
    rgba = gray.convert("RGBA")
    for name in CORRUPTIONS:
        for img in (gray, rgba):
            out = corrupt_images([img], name, 5, seed=1)[0]
            assert out.mode == "RGB" and out.size == (32, 32)


def test_bad_arguments_are_rejected(photos):
    with pytest.raises(ValueError, match="unknown corruption"):
        corrupt_images(photos, "fog", 1)
    with pytest.raises(ValueError, match="severity"):
        corrupt_images(photos, "jpeg", 6)
    with pytest.raises(ValueError, match="severity"):
        CORRUPTIONS["brightness"](photos[0], 0, np.random.default_rng(0))
