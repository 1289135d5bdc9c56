"""Corrupted images at five severities, in the style of MNIST-C and CIFAR-10-C.

Re-implementations with numpy/scipy (Pillow only for JPEG) of the corruption
families of CIFAR-10-C (Hendrycks & Dietterich, 2019) and MNIST-C (Mu &
Gilmer, 2019). **These are regenerated sets, not the published MNIST-C /
CIFAR-10-C files**: the families and their severity ladders follow the
papers, but the noise draws, some parameters (monotone saturation and pixelation ladders, a
spectral fog instead of the diamond-square plasma, a fixed number of zoom-blur
steps, an elastic warp without the extra affine step) and therefore the
numbers differ from results on the published files.

Every corruption is

* vectorised over the batch (one numpy/scipy call per batch, except JPEG,
  which Pillow encodes image by image);
* dtype-preserving: uint8 images ``(N, H, W)`` (grayscale) or ``(N, H, W, 3)``
  (RGB) in, uint8 of the same shape out;
* deterministic given ``seed``: the random draws depend on the seed, the
  corruption's name and the image's position in the batch, not on the
  severity, so the severities of one seed apply growing amounts of the same
  noise, warp or fog.

Use :func:`corrupt` for one (name, severity) and :func:`corruption_names` for
the families that apply to grayscale or colour images.
"""

import io
import zlib

import numpy as np
import scipy.fft
import scipy.ndimage
from PIL import Image

from vdualib import checks

__all__ = ["corrupt", "corruption_names", "noise_images", "SEVERITIES", "NOISE_KINDS"]

SEVERITIES = (1, 2, 3, 4, 5)
#: the synthetic out-of-distribution images of :func:`noise_images`
NOISE_KINDS = ("uniform", "gaussian")
_CHUNK_SIZE = 1024
_GRAY_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601 luma


# --------------------------------------------------------------------------- resampling mechanisms


def _box_resize_matrix(out_size, in_size):
    """Box-filter resize of one axis, as PIL's ``Image.BOX``: output pixel ``i`` averages
    the input over ``[c - h, c + h]`` around its centre ``c = (i + 1/2) in/out``, with
    ``h = max(in/out, 1) / 2`` (the pixel's footprint when shrinking, one pixel when
    enlarging), weighting each input pixel by its overlap."""
    scale = in_size / out_size
    centre = (np.arange(out_size) + 0.5) * scale
    half = 0.5 * max(scale, 1.0)
    left = np.maximum(np.maximum(centre - half, 0.0)[:, None], np.arange(in_size)[None, :])
    right = np.minimum(np.minimum(centre + half, in_size)[:, None], np.arange(1, in_size + 1)[None, :])
    overlap = np.clip(right - left, 0.0, None)
    return (overlap / overlap.sum(axis=1, keepdims=True)).astype(np.float32)


def _zoom_matrix(size, factor):
    """Linear-interpolation zoom of one axis about its centre by ``factor``
    (>1 enlarges; <1 shrinks, filling with zeros outside the image)."""
    centre = (size - 1) / 2.0
    source = centre + (np.arange(size) - centre) / factor
    lower = np.floor(source).astype(np.int64)
    weight_upper = source - lower
    matrix = np.zeros((size, size), dtype=np.float64)
    for neighbour, weight in ((lower, 1.0 - weight_upper), (lower + 1, weight_upper)):
        inside = (neighbour >= 0) & (neighbour < size)
        matrix[np.flatnonzero(inside), neighbour[inside]] += weight[inside]
    return matrix.astype(np.float32)


def _apply_separable(x, row_matrix, col_matrix):
    """``out[n, :, :, c] = R @ x[n, :, :, c] @ C^T`` for the whole batch (two batched matmuls)."""
    num, height, width, channels = x.shape
    out = np.matmul(row_matrix, x.reshape(num, height, width * channels))
    return np.matmul(col_matrix, out.reshape(num, -1, width, channels))


def _bilinear_corners(row_frac, col_frac):
    """The four grid neighbours ``(d_row, d_col)`` of a point and their bilinear weights."""
    return (
        (0, 0, (1 - row_frac) * (1 - col_frac)),
        (0, 1, (1 - row_frac) * col_frac),
        (1, 0, row_frac * (1 - col_frac)),
        (1, 1, row_frac * col_frac),
    )


def _bilinear_sample(x, rows, cols, fill=None):
    """Sample ``x[n]`` at real coordinates ``(rows[n], cols[n])`` by bilinear interpolation.

    ``x`` is ``(N, H, W, C)``; ``rows``/``cols`` are ``(N, H', W')``. Outside the
    image the value is ``fill`` or, with ``fill=None``, the nearest edge pixel.
    Written here rather than with ``scipy.ndimage.map_coordinates`` because that
    has no batch axis: a batch would need 4-D coordinates and 16-neighbour
    interpolation, several times the time and memory of this gather.
    """
    num, height, width, channels = x.shape
    if fill is None:
        rows = np.clip(rows, 0, height - 1)
        cols = np.clip(cols, 0, width - 1)
    row0, col0 = np.floor(rows).astype(np.int64), np.floor(cols).astype(np.int64)
    row_frac = (rows - row0).astype(np.float32)[..., None]
    col_frac = (cols - col0).astype(np.float32)[..., None]
    flat = x.reshape(num * height * width, channels)
    base = (np.arange(num) * height * width)[:, None, None]
    out = np.zeros(rows.shape + (channels,), dtype=np.float32)
    for d_row, d_col, weight in _bilinear_corners(row_frac, col_frac):
        r, c = row0 + d_row, col0 + d_col
        inside = (r >= 0) & (r < height) & (c >= 0) & (c < width)
        index = base + np.clip(r, 0, height - 1) * width + np.clip(c, 0, width - 1)
        values = flat[index]
        if fill is not None:
            values = np.where(inside[..., None], values, np.float32(fill))
        out += weight * values
    return out


def _pixel_grid(x):
    num, height, width = x.shape[:3]
    rows, cols = np.meshgrid(np.arange(height, dtype=np.float32), np.arange(width, dtype=np.float32), indexing="ij")
    centre_row, centre_col = (height - 1) / 2.0, (width - 1) / 2.0
    return (
        np.broadcast_to(rows - centre_row, (num, height, width)),
        np.broadcast_to(cols - centre_col, (num, height, width)),
        centre_row,
        centre_col,
    )


def _affine_warp(x, inverse, shift=None, fill=0.0):
    """Warp each image by the affine map whose inverse (output -> input, about the
    image centre) is ``inverse[n]`` (2x2) plus ``shift[n]`` (pixels, (row, col))."""
    rows, cols, centre_row, centre_col = _pixel_grid(x)
    source_rows = inverse[:, 0, 0, None, None] * rows + inverse[:, 0, 1, None, None] * cols + centre_row
    source_cols = inverse[:, 1, 0, None, None] * rows + inverse[:, 1, 1, None, None] * cols + centre_col
    if shift is not None:
        source_rows = source_rows - shift[:, 0, None, None]
        source_cols = source_cols - shift[:, 1, None, None]
    return _bilinear_sample(x, source_rows, source_cols, fill=fill)


def _fft_convolve(x, kernels):
    """Convolve each image with a kernel ``(k, k)`` shared or ``(N, k, k)`` per image,
    reflect-padded at the borders, by FFT (per-image kernels rule out ndimage)."""
    kernels = np.asarray(kernels, dtype=np.float32)
    if kernels.ndim == 2:
        kernels = kernels[None]
    size = kernels.shape[-1]
    radius = size // 2
    padded = np.pad(x, ((0, 0), (radius, radius), (radius, radius), (0, 0)), mode="reflect")
    shape = padded.shape[1:3]
    embedded = np.zeros((kernels.shape[0],) + shape, dtype=np.float32)
    embedded[:, :size, :size] = kernels
    embedded = np.roll(embedded, (-radius, -radius), axis=(1, 2))
    spectrum = scipy.fft.rfft2(padded, axes=(1, 2)) * scipy.fft.rfft2(embedded, axes=(1, 2))[..., None]
    out = scipy.fft.irfft2(spectrum, s=shape, axes=(1, 2))
    return out[:, radius : radius + x.shape[1], radius : radius + x.shape[2]].astype(np.float32)


# --------------------------------------------------------------------------- the corruptions
# Each takes float32 images (N, H, W, C) in [0, 1], the severity's parameter and
# a numpy Generator, and returns float images (clipped to [0, 1] afterwards).


def _gaussian_noise(x, sigma, rng):
    return x + sigma * rng.standard_normal(x.shape, dtype=np.float32)


def _shot_noise(x, photons, rng):
    return rng.poisson(x * photons).astype(np.float32) / photons


def _impulse_noise(x, amount, rng):
    u = rng.random(x.shape, dtype=np.float32)
    return np.where(u < amount / 2, 0.0, np.where(u > 1 - amount / 2, 1.0, x))


def _speckle_noise(x, sigma, rng):
    return x * (1 + sigma * rng.standard_normal(x.shape, dtype=np.float32))


def _gaussian_blur(x, sigma, rng):
    return scipy.ndimage.gaussian_filter(x, sigma=(0, sigma, sigma, 0), mode="reflect")


def _defocus_blur(x, params, rng):
    radius, alias_sigma = params
    half = int(np.ceil(radius + 3 * alias_sigma))
    grid = np.arange(-half, half + 1)
    disk = ((grid[:, None] ** 2 + grid[None, :] ** 2) <= radius**2).astype(np.float64)
    kernel = scipy.ndimage.gaussian_filter(disk / disk.sum(), alias_sigma, mode="constant")
    return _fft_convolve(x, kernel / kernel.sum())


def _motion_blur(x, sigma, rng):
    """One-sided line kernel with Gaussian weights ``exp(-t^2 / 2 sigma^2)`` along a
    random direction per image (uniform in [-45, 45] degrees), as ImageMagick's
    motion blur used by CIFAR-10-C; points are splatted bilinearly onto the grid."""
    num = x.shape[0]
    length = 3.0 * sigma
    half = int(np.ceil(length)) + 1
    angles = np.deg2rad(rng.uniform(-45, 45, size=num))
    t = np.arange(0.0, length + 1e-9, 0.25)
    weights = np.exp(-(t**2) / (2 * sigma**2))
    rows = half + np.sin(angles)[:, None] * t[None, :]
    cols = half + np.cos(angles)[:, None] * t[None, :]
    size = 2 * half + 1
    kernels = np.zeros((num, size * size))
    row0, col0 = np.floor(rows).astype(np.int64), np.floor(cols).astype(np.int64)
    row_frac, col_frac = rows - row0, cols - col0
    image_index = np.repeat(np.arange(num), t.size).reshape(num, t.size)
    for d_row, d_col, share in _bilinear_corners(row_frac, col_frac):
        np.add.at(kernels, (image_index, (row0 + d_row) * size + col0 + d_col), share * weights)
    kernels = kernels.reshape(num, size, size)
    return _fft_convolve(x, kernels / kernels.sum(axis=(1, 2), keepdims=True))


def _zoom_blur(x, max_zoom, rng):
    """Mean of the image and six centred zooms evenly spaced in ``(1, max_zoom]``."""
    height, width = x.shape[1:3]
    out = x.copy()
    zooms = np.linspace(1.0, max_zoom, 7)[1:]
    for zoom in zooms:
        out += _apply_separable(x, _zoom_matrix(height, zoom), _zoom_matrix(width, zoom))
    return out / (len(zooms) + 1)


def _contrast(x, factor, rng):
    mean = x.mean(axis=(1, 2), keepdims=True)
    return (x - mean) * factor + mean


def _brightness(x, shift, rng):
    """Raise the HSV value ``V = max_c x_c`` by ``shift``, keeping hue and
    saturation: every channel scales by ``min(V + shift, 1) / V`` (black -> grey ``shift``)."""
    value = x.max(axis=3, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = x * (np.minimum(value + shift, 1.0) / value)
    return np.where(value > 0, scaled, np.float32(shift))


def _saturate(x, factor, rng):
    """Move colours away from their grey level by ``factor`` (PIL's ``ImageEnhance.Color``).
    CIFAR-10-C first desaturates then saturates; a monotone ladder is used here."""
    gray = np.tensordot(x, _GRAY_WEIGHTS, axes=([3], [0]))[..., None]
    return gray + factor * (x - gray)


def _pixelate(x, fraction, rng):
    """Box-shrink to ``fraction`` of the size and box-enlarge back (PIL ``BOX`` both ways).
    The ladder is 0.9..0.5 rather than CIFAR-10-C's 0.95..0.65, whose first steps on
    28-pixel images (26 then 25 pixels) do not increase the distortion."""
    height, width = x.shape[1:3]
    small_height, small_width = int(height * fraction), int(width * fraction)
    row = _box_resize_matrix(height, small_height) @ _box_resize_matrix(small_height, height)
    col = _box_resize_matrix(width, small_width) @ _box_resize_matrix(small_width, width)
    return _apply_separable(x, row, col)


def _jpeg_compression(x, quality, rng):
    pixels = _to_uint8(x)
    out = np.empty_like(pixels)
    for n, image in enumerate(pixels):
        buffer = io.BytesIO()
        Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(buffer, format="JPEG", quality=quality)
        decoded = np.asarray(Image.open(buffer))
        out[n] = decoded.reshape(image.shape)
    return out.astype(np.float32) / 255.0


def _random_displacement(rng, shape, smoothness):
    """Smooth random field of unit RMS: uniform noise low-passed by a Gaussian of width ``smoothness``."""
    field = scipy.ndimage.gaussian_filter(
        rng.uniform(-1, 1, size=shape).astype(np.float32), (0, smoothness, smoothness), mode="reflect"
    )
    return field / np.sqrt(np.mean(field**2))


def _elastic_transform(x, magnitude, rng):
    """Warp by a smooth random displacement field (Simard et al., 2003) of RMS
    ``magnitude`` pixels and correlation length 3 pixels."""
    num, height, width = x.shape[:3]
    rows, cols, centre_row, centre_col = _pixel_grid(x)
    d_rows = _random_displacement(rng, (num, height, width), 3.0)
    d_cols = _random_displacement(rng, (num, height, width), 3.0)
    return _bilinear_sample(x, rows + centre_row + magnitude * d_rows, cols + centre_col + magnitude * d_cols)


def _fog(x, params, rng):
    """Add a fractal cloud ``F`` in [0, 1] with power spectrum ~ ``f^(-2 * exponent)``
    (spectral synthesis, standing in for CIFAR-10-C's diamond-square plasma):
    ``x' = (x + intensity * F) * max(x) / (max(x) + intensity)``."""
    intensity, exponent = params
    num, height, width = x.shape[:3]
    freq_rows = scipy.fft.fftfreq(height)[:, None]
    freq_cols = scipy.fft.rfftfreq(width)[None, :]
    radius = np.hypot(freq_rows, freq_cols)
    amplitude = np.where(radius > 0, radius, np.inf) ** -exponent
    spectrum = (
        rng.standard_normal((num,) + radius.shape) + 1j * rng.standard_normal((num,) + radius.shape)
    ) * amplitude
    cloud = scipy.fft.irfft2(spectrum, s=(height, width), axes=(1, 2))
    cloud -= cloud.min(axis=(1, 2), keepdims=True)
    cloud /= cloud.max(axis=(1, 2), keepdims=True)
    peak = x.max(axis=(1, 2, 3), keepdims=True)
    return (x + intensity * cloud[..., None].astype(np.float32)) * peak / (peak + intensity)


def _random_signs(rng, num):
    return rng.choice(np.array([-1.0, 1.0]), size=num)


def _rotate(x, degrees, rng):
    angle = np.deg2rad(degrees) * _random_signs(rng, x.shape[0])
    cos, sin = np.cos(angle), np.sin(angle)
    inverse = np.stack([np.stack([cos, sin], -1), np.stack([-sin, cos], -1)], -2)
    return _affine_warp(x, inverse)


def _shear(x, factor, rng):
    shear = factor * _random_signs(rng, x.shape[0])
    inverse = np.zeros((x.shape[0], 2, 2))
    inverse[:, 0, 0] = inverse[:, 1, 1] = 1.0
    inverse[:, 1, 0] = -shear  # horizontal shear: column shifts with the row
    return _affine_warp(x, inverse)


def _scale(x, factor, rng):
    height, width = x.shape[1:3]
    return _apply_separable(x, _zoom_matrix(height, factor), _zoom_matrix(width, factor))


def _translate(x, pixels, rng):
    angle = rng.uniform(0, 2 * np.pi, size=x.shape[0])
    shift = pixels * np.stack([np.sin(angle), np.cos(angle)], -1)
    return _affine_warp(x, np.broadcast_to(np.eye(2), (x.shape[0], 2, 2)), shift=shift)


# name -> (function, parameter per severity 1..5, which images it applies to)
_CORRUPTIONS = {
    "gaussian_noise": (_gaussian_noise, (0.04, 0.06, 0.08, 0.09, 0.10), "any"),
    "shot_noise": (_shot_noise, (500, 250, 100, 75, 50), "any"),
    "impulse_noise": (_impulse_noise, (0.01, 0.02, 0.03, 0.05, 0.07), "any"),
    "speckle_noise": (_speckle_noise, (0.06, 0.10, 0.12, 0.16, 0.20), "any"),
    "defocus_blur": (_defocus_blur, ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1.0, 0.2), (1.5, 0.1)), "any"),
    "gaussian_blur": (_gaussian_blur, (0.4, 0.6, 0.7, 0.8, 1.0), "any"),
    "motion_blur": (_motion_blur, (1.0, 1.5, 2.0, 2.5, 3.0), "any"),
    "zoom_blur": (_zoom_blur, (1.06, 1.11, 1.16, 1.21, 1.26), "any"),
    "contrast": (_contrast, (0.75, 0.5, 0.4, 0.3, 0.15), "any"),
    "brightness": (_brightness, (0.05, 0.1, 0.15, 0.2, 0.3), "any"),
    "saturate": (_saturate, (1.5, 2.0, 3.0, 4.0, 5.0), "rgb"),
    "pixelate": (_pixelate, (0.9, 0.8, 0.7, 0.6, 0.5), "any"),
    "jpeg_compression": (_jpeg_compression, (80, 65, 58, 50, 40), "any"),
    "elastic_transform": (_elastic_transform, (0.5, 0.8, 1.1, 1.4, 1.8), "any"),
    "fog": (_fog, ((0.2, 2.5), (0.5, 2.5), (0.75, 2.25), (1.0, 2.0), (1.5, 1.75)), "any"),
    "rotate": (_rotate, (10.0, 20.0, 30.0, 40.0, 50.0), "grayscale"),
    "shear": (_shear, (0.1, 0.2, 0.3, 0.4, 0.5), "grayscale"),
    "scale": (_scale, (0.9, 0.8, 0.7, 0.6, 0.5), "grayscale"),
    "translate": (_translate, (2.0, 3.0, 4.0, 5.0, 6.0), "grayscale"),
}


def corruption_names(grayscale):
    """Names of the families for grayscale digits (``True``: 18, with the MNIST-C
    geometric ones and without ``saturate``) or RGB images (``False``: the 15 of
    CIFAR-10-C style).

    Args:
        grayscale: ``True`` for single-channel images, ``False`` for RGB.

    Returns:
        A list of names, in a fixed order.

    Example:
        >>> corruption_names(True)[:3]
        ['gaussian_noise', 'shot_noise', 'impulse_noise']
    """
    wanted = {"any", "grayscale"} if grayscale else {"any", "rgb"}
    return [name for name, (_, _, kind) in _CORRUPTIONS.items() if kind in wanted]


def _to_uint8(x):
    return np.round(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)


def _check_images(images):
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8:
        raise ValueError(
            "images must be a uint8 numpy array as vdualib.datasets.load returns; got "
            f"{type(images).__name__} of dtype {getattr(images, 'dtype', None)}."
        )
    if images.ndim == 3:
        return images[..., None], True
    if images.ndim == 4 and images.shape[-1] in (1, 3):
        return images, images.shape[-1] == 1
    raise ValueError(f"images must have shape (N, H, W) (grayscale) or (N, H, W, 3) (RGB); got {images.shape}.")


def corrupt(images, name, severity, seed=0):
    """Corrupt a batch of uint8 images with one family at one severity.

    Args:
      images: uint8 array ``(N, H, W)`` or ``(N, H, W, 3)`` (or ``(N, H, W, 1)``).
      name: a name from :func:`corruption_names`.
      severity: integer 1 (mild) to 5 (strong).
      seed: non-negative integer; the draws depend on ``seed``, ``name`` and the
        image's position in the batch (in chunks of 1024), not on the severity,
        so the result is reproducible and severities of one seed share their randomness.

    Returns:
      uint8 array of the same shape.

    Raises:
      ValueError: an unknown name, a severity outside 1..5, a negative seed, images that are not a
        uint8 ``(N, H, W)`` / ``(N, H, W, 1 or 3)`` array, or an RGB-only family on grayscale images.

    Example:
      >>> images = corrupt(x_test[:100], "gaussian_noise", 3, seed=0)
      >>> images.shape, images.dtype
      ((100, 28, 28), dtype('uint8'))
    """
    if name not in _CORRUPTIONS:
        raise ValueError(f"unknown corruption {name!r}; choose from {sorted(_CORRUPTIONS)}.")
    if isinstance(severity, bool) or not isinstance(severity, (int, np.integer)) or severity not in SEVERITIES:
        raise ValueError(f"severity must be an integer from 1 to 5; got {severity!r}.")
    seed = checks.non_negative_int("seed", seed)
    pixels, grayscale = _check_images(images)
    function, parameters, kind = _CORRUPTIONS[name]
    if kind == "rgb" and grayscale:
        raise ValueError(f"{name!r} needs RGB images; for grayscale use one of {corruption_names(True)}.")
    out = np.empty_like(pixels)
    # Chunks keep the float temporaries in cache; each chunk has its own stream.
    for chunk, start in enumerate(range(0, pixels.shape[0], _CHUNK_SIZE)):
        rng = np.random.default_rng([seed, zlib.crc32(name.encode()), chunk])
        block = pixels[start : start + _CHUNK_SIZE].astype(np.float32) / 255.0
        out[start : start + _CHUNK_SIZE] = _to_uint8(function(block, parameters[severity - 1], rng))
    return out.reshape(images.shape)


def noise_images(kind, num_images, shape, seed=0):
    """Synthetic out-of-distribution images: ``"uniform"`` (each pixel uniform on
    0..255) or ``"gaussian"`` (each pixel N(127.5, 64^2), rounded and clipped), uint8.

    Args:
        kind: ``"uniform"`` or ``"gaussian"`` (``NOISE_KINDS``).
        num_images: N, a positive integer.
        shape: the shape of one image, e.g. ``(32, 32, 3)``.
        seed: non-negative integer; the draws depend on ``seed`` and ``kind``.

    Returns:
        uint8 array ``(N, *shape)``.

    Raises:
        ValueError: an unknown kind, a non-positive ``num_images``, a ``shape`` that is not
            positive integers, or a negative seed.

    Example:
        >>> noise_images("gaussian", 10, (32, 32, 3), seed=0).shape
        (10, 32, 32, 3)
    """
    if kind not in NOISE_KINDS:
        raise ValueError(f"noise kind must be one of {list(NOISE_KINDS)}; got {kind!r}.")
    num_images = checks.positive_int("num_images", num_images)
    shape = checks.shape("shape (of one image)", shape)
    seed = checks.non_negative_int("seed", seed)
    rng = np.random.default_rng([seed, zlib.crc32(kind.encode())])
    size = (num_images,) + shape
    if kind == "uniform":
        return rng.integers(0, 256, size=size, dtype=np.uint8)
    return np.clip(np.round(rng.normal(127.5, 64.0, size=size)), 0, 255).astype(np.uint8)
