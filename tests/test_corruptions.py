"""MNIST-C / CIFAR-10-C style corruptions: shape, dtype, reproducibility, severity ladder."""

import numpy as np
import pytest
import scipy.ndimage

from vdualib import corruptions


def _digits(num=6, size=28, seed=0):
    """Digit-like grayscale images: bright strokes (thick lines) on black."""
    rng = np.random.default_rng(seed)
    images = np.zeros((num, size, size), dtype=np.float64)
    rows, cols = np.mgrid[:size, :size]
    for image in images:
        for _ in range(3):
            (r0, c0), (r1, c1) = rng.uniform(6, size - 6, size=(2, 2))
            t = np.clip(
                ((rows - r0) * (r1 - r0) + (cols - c0) * (c1 - c0)) / ((r1 - r0) ** 2 + (c1 - c0) ** 2 + 1e-9), 0, 1
            )
            distance = np.hypot(rows - r0 - t * (r1 - r0), cols - c0 - t * (c1 - c0))
            image += distance < 1.8
    return (np.clip(scipy.ndimage.gaussian_filter(images, (0, 0.7, 0.7)), 0, 1) * 255).round().astype(np.uint8)


def _photos(num=6, size=32, seed=0):
    """Natural-image-like RGB: smooth colour fields plus a few sharp-edged rectangles."""
    rng = np.random.default_rng(seed)
    fields = scipy.ndimage.gaussian_filter(rng.uniform(0, 1, (num, size, size, 3)), (0, 4, 4, 0))
    fields = (fields - fields.min()) / (fields.max() - fields.min())
    for image in fields:
        for _ in range(3):
            r, c = rng.integers(0, size - 8, size=2)
            image[r : r + rng.integers(4, 12), c : c + rng.integers(4, 12)] = rng.uniform(0.1, 0.9, 3)
    return (fields * 255).round().astype(np.uint8)


IMAGES = {"grayscale": _digits(), "rgb": _photos()}
CASES = [(kind, name) for kind, images in IMAGES.items() for name in corruptions.corruption_names(kind == "grayscale")]


def test_family_lists():
    gray, rgb = corruptions.corruption_names(True), corruptions.corruption_names(False)
    assert len(rgb) == 15 and "saturate" in rgb and "rotate" not in rgb
    assert len(gray) == 18 and "saturate" not in gray
    assert {"rotate", "shear", "scale", "translate"} <= set(gray)


@pytest.mark.parametrize("kind, name", CASES)
def test_shape_dtype_reproducible_and_monotone(kind, name):
    images = IMAGES[kind]
    distances = []
    for severity in corruptions.SEVERITIES:
        corrupted = corruptions.corrupt(images, name, severity, seed=7)
        assert corrupted.shape == images.shape and corrupted.dtype == np.uint8
        np.testing.assert_array_equal(corrupted, corruptions.corrupt(images, name, severity, seed=7))
        distances.append(np.mean(np.abs(corrupted.astype(float) - images)))
    assert distances[0] > 0, f"{name} at severity 1 left the images unchanged"
    assert np.all(np.diff(distances) > 0), f"{name}: distance to clean {np.round(distances, 2)} is not increasing"


@pytest.mark.parametrize(
    "name", ["gaussian_noise", "shot_noise", "impulse_noise", "motion_blur", "elastic_transform", "fog", "rotate"]
)
def test_seed_changes_the_draws(name):
    images = IMAGES["grayscale"]
    assert not np.array_equal(
        corruptions.corrupt(images, name, 3, seed=0), corruptions.corrupt(images, name, 3, seed=1)
    )


def test_rgb_and_single_channel_layouts():
    photos = IMAGES["rgb"]
    digits = IMAGES["grayscale"]
    # A trailing channel axis of 1 is the same as a plain grayscale batch.
    np.testing.assert_array_equal(
        corruptions.corrupt(digits[..., None], "gaussian_blur", 3)[..., 0],
        corruptions.corrupt(digits, "gaussian_blur", 3),
    )
    assert corruptions.corrupt(photos, "rotate", 2).shape == photos.shape


def test_closed_forms():
    grey = np.full((2, 28, 28), 100, dtype=np.uint8)
    # Spatial filters and contrast leave a constant image unchanged.
    for name in ("gaussian_blur", "defocus_blur", "motion_blur", "zoom_blur", "pixelate", "contrast"):
        np.testing.assert_array_equal(corruptions.corrupt(grey, name, 5), grey, err_msg=name)
    # Brightness adds the HSV value shift: 100/255 + 0.3 -> round(255 * (100/255 + 0.3)) = 177.
    np.testing.assert_array_equal(corruptions.corrupt(grey, "brightness", 5), 177)
    # Contrast 0.15 about the image mean (0 and 200 halves -> mean 100): 100 +- 15.
    halves = np.zeros((1, 28, 28), dtype=np.uint8)
    halves[:, :, 14:] = 200
    out = corruptions.corrupt(halves, "contrast", 5)
    assert set(np.unique(out)) == {85, 115}
    # Saturate keeps greys grey.
    grey_rgb = np.full((1, 32, 32, 3), 90, dtype=np.uint8)
    np.testing.assert_array_equal(corruptions.corrupt(grey_rgb, "saturate", 5), grey_rgb)
    # Impulse noise at severity 5 flips ~7% of the pixels to 0 or 255.
    flipped = corruptions.corrupt(np.full((50, 28, 28), 128, dtype=np.uint8), "impulse_noise", 5) != 128
    assert abs(flipped.mean() - 0.07) < 0.01


@pytest.mark.parametrize(
    "images, name, severity, message",
    [
        (np.zeros((2, 28, 28), dtype=np.float32), "fog", 1, "uint8"),
        (np.zeros((2, 28), dtype=np.uint8), "fog", 1, "shape"),
        (np.zeros((2, 28, 28, 2), dtype=np.uint8), "fog", 1, "shape"),
        (np.zeros((2, 28, 28), dtype=np.uint8), "snow", 1, "unknown corruption"),
        (np.zeros((2, 28, 28), dtype=np.uint8), "fog", 0, "severity"),
        (np.zeros((2, 28, 28), dtype=np.uint8), "fog", 6, "severity"),
        (np.zeros((2, 28, 28), dtype=np.uint8), "fog", 2.0, "severity"),
        (np.zeros((2, 28, 28), dtype=np.uint8), "saturate", 1, "RGB"),
    ],
)
def test_bad_inputs_raise(images, name, severity, message):
    with pytest.raises(ValueError, match=message):
        corruptions.corrupt(images, name, severity)


def test_noise_images():
    uniform = corruptions.noise_images("uniform", 200, (32, 32, 3), seed=3)
    gaussian = corruptions.noise_images("gaussian", 200, (28, 28), seed=3)
    assert uniform.shape == (200, 32, 32, 3) and uniform.dtype == np.uint8
    assert gaussian.shape == (200, 28, 28) and gaussian.dtype == np.uint8
    assert abs(uniform.mean() - 127.5) < 1.0 and uniform.min() == 0 and uniform.max() == 255
    assert abs(gaussian.mean() - 127.5) < 1.0 and 58 < gaussian.std() < 64  # clipping at 0 and 255 trims the tails
    np.testing.assert_array_equal(uniform, corruptions.noise_images("uniform", 200, (32, 32, 3), seed=3))
    with pytest.raises(ValueError, match="uniform"):
        corruptions.noise_images("salt", 2, (28, 28))
    for bad in (0, float("nan"), 2.5):
        with pytest.raises(ValueError, match="num_images must be a positive integer"):
            corruptions.noise_images("uniform", bad, (28, 28))
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        corruptions.noise_images("gaussian", 2, (28, 28), seed=-1)
    for shape in ((-1, 28), (28, 0), (28, 2.5), 28, (), ("28", 28)):
        with pytest.raises(ValueError, match=r"shape \(of one image\) must (be|hold) .*\(28, 28\)"):
            corruptions.noise_images("uniform", 2, shape)
    assert corruptions.noise_images("uniform", 2, [28.0, 28]).shape == (2, 28, 28)
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        corruptions.corrupt(np.zeros((2, 28, 28), np.uint8), "fog", 1, seed=float("nan"))
