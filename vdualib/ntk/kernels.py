"""Closed-form NNGP and neural tangent kernels of infinitely wide MLPs.

The network is the one neural-tangents builds with
``stax.serial(Dense(n, W_std, b_std), Relu(), ..., Dense(1, W_std, b_std))``
(``depth`` hidden Dense + nonlinearity pairs, then a scalar readout) in the
NTK parameterisation, ``h' = (w_std / sqrt(n)) W h + b_std b`` with standard
normal W and b. In the limit of infinite width the readout is a Gaussian
process with covariance K (the NNGP kernel), and gradient flow evolves it
with the neural tangent kernel Theta. Both follow a layer recursion:

* input:      K = x1 x2^T / d (d the input dimension), Theta = 0;
* Dense:      K' = w_std^2 K + b_std^2,  Theta' = K' + w_std^2 Theta;
* nonlinearity phi on pre-activations with covariance [[K11, K12], [K12, K22]]:
  K' = E[phi(u) phi(v)],  Theta' = Theta * E[phi'(u) phi'(v)].

The two expectations are closed form:

* ReLU (arc-cosine kernel of degree 1, Cho & Saul 2009), with
  cos(theta) = K12 / sqrt(K11 K22):
  E[phi phi] = sqrt(K11 K22) (sin(theta) + (pi - theta) cos(theta)) / (2 pi),
  E[phi' phi'] = (pi - theta) / (2 pi);
* erf (arcsine kernel, Williams 1997):
  E[phi phi] = (2 / pi) arcsin(2 K12 / sqrt((1 + 2 K11)(1 + 2 K22))),
  E[phi' phi'] = (4 / pi) / sqrt((1 + 2 K11)(1 + 2 K22) - 4 K12^2).

Kernels are dimensionless (variances of the scalar output). Written in
numpy because neural-tangents needs JAX; the recursion is elementwise once
the diagonals are known, so it runs over row blocks with bounded memory.

Example:
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(5, 8))
    >>> k, theta = kernels(x, None, depth=1, activation="relu")
    >>> k.shape, bool(np.allclose(theta, theta.T))                   # [N1, N2] each, symmetric for x2=None
    ((5, 5), True)
"""

import math

import numpy as np

from vdualib import checks

__all__ = ["kernels", "standardize_inputs", "ACTIVATIONS"]

ACTIVATIONS = ("relu", "erf")


def _relu_expectations(k12, k11, k22, out=None):
    """ReLU arc-cosine expectations; returns (E[phi phi], E[phi' phi']).

    ``k11`` / ``k22`` broadcast against ``k12`` (columns / rows of a block);
    ``out`` may be ``k12`` itself to update in place.
    """
    norms = np.sqrt(k11) * np.sqrt(k22)  # not sqrt(k11 * k22), which overflows for variances near 1e155
    cosine = np.divide(k12, norms, out=np.zeros_like(k12), where=norms > 0)
    np.clip(cosine, -1.0, 1.0, out=cosine)
    angle = np.arccos(cosine)
    derivative = (math.pi - angle) / (2.0 * math.pi)
    sine = np.sqrt(np.maximum(1.0 - cosine * cosine, 0.0, out=cosine), out=cosine)
    value = np.multiply(norms, sine, out=norms)
    value /= 2.0 * math.pi
    value += derivative * k12
    if out is not None:
        out[...] = value
        return out, derivative
    return value, derivative


def _erf_expectations(k12, k11, k22, out=None):
    """erf arcsine expectations; returns (E[phi phi], E[phi' phi'])."""
    # s = sqrt((1 + 2 K11)(1 + 2 K22)) and sqrt(s^2 - 4 K12^2) = sqrt(s - 2 K12) sqrt(s + 2 K12), as
    # products of square roots so that nothing overflows for variances near 1e300. By Cauchy-Schwarz
    # (K12^2 <= K11 K22) the latter is at least ((1 + 4 K11)(1 + 4 K22))^(1/4), with equality on the
    # diagonal, where s - 2 K12 cancels to rounding noise: the bound replaces that noise.
    scale = np.sqrt(1.0 + 2.0 * k11) * np.sqrt(1.0 + 2.0 * k22)
    twice = 2.0 * k12
    root = np.sqrt(np.maximum(scale - twice, 0.0)) * np.sqrt(np.maximum(scale + twice, 0.0))
    floor = np.sqrt(np.sqrt(1.0 + 4.0 * k11)) * np.sqrt(np.sqrt(1.0 + 4.0 * k22))
    derivative = (4.0 / math.pi) / np.maximum(root, floor)
    ratio = np.clip(twice / scale, -1.0, 1.0)
    value = np.arcsin(ratio, out=out if out is not None else ratio)
    value *= 2.0 / math.pi
    return value, derivative


_EXPECTATIONS = {"relu": _relu_expectations, "erf": _erf_expectations}


def _relu_diagonal(k):
    """The ReLU expectations at u = v ~ N(0, k): E[phi^2] = k / 2, E[phi'^2] = 1 / 2."""
    return k / 2.0, np.full_like(k, 0.5)


def _erf_diagonal(k):
    """The erf expectations at u = v ~ N(0, k): (2 / pi) arcsin(2k / (1 + 2k)), (4 / pi) / sqrt(1 + 4k)."""
    return (2.0 / math.pi) * np.arcsin(2.0 * k / (1.0 + 2.0 * k)), (4.0 / math.pi) / np.sqrt(1.0 + 4.0 * k)


# the closed forms at theta = 0, exact where arccos / arcsin near 1 would lose half the digits
_DIAGONAL_EXPECTATIONS = {"relu": _relu_diagonal, "erf": _erf_diagonal}


def _diagonal_chain(k, depth, activation, w_std, b_std):
    """Pre-activation variances K(x, x) before each nonlinearity, O(N) each.

    Returns the list of ``depth`` pre-activation diagonals and the final
    (K, Theta) diagonals of the readout.
    """
    expectations = _DIAGONAL_EXPECTATIONS[activation]
    theta = np.zeros_like(k)
    pre_activations = []
    for _ in range(depth):
        k = w_std**2 * k + b_std**2
        theta = k + w_std**2 * theta
        pre_activations.append(k)
        k, derivative = expectations(k)
        theta = theta * derivative
    k = w_std**2 * k + b_std**2
    theta = k + w_std**2 * theta
    return pre_activations, k, theta


def _block_chain(k, rows_pre, cols_pre, depth, activation, w_std, b_std):
    """The layer recursion on one block of K12 (updated in place)."""
    expectations = _EXPECTATIONS[activation]
    theta = np.zeros_like(k)
    for layer in range(depth):
        k *= w_std**2
        k += b_std**2
        theta *= w_std**2
        theta += k
        k, derivative = expectations(k, rows_pre[layer][:, None], cols_pre[layer][None, :], out=k)
        theta *= derivative
    k *= w_std**2
    k += b_std**2
    theta *= w_std**2
    theta += k
    return k, theta


def _as_inputs(x, name, dtype):
    x = checks.numeric_array(name, x)
    if x.ndim < 2 or x.shape[0] == 0 or math.prod(x.shape[1:]) == 0:
        raise ValueError(f"{name} must be an array [N, ...] of N >= 1 non-empty inputs; got shape {x.shape}.")
    x = x.reshape(x.shape[0], -1).astype(dtype, copy=False)
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf; pass finite inputs.")
    return x


def standardize_inputs(x):
    """Flatten ``x`` [N, ...] to [N, d] float64 and standardise every row to mean 0, variance 1.

    Then the input kernel x x^T / d has unit diagonal: every input sits on the
    same sphere, the usual preprocessing for NNGP/NTK experiments on images.
    Constant rows raise ``ValueError`` (they have no direction).

    Args:
        x: inputs ``[N, ...]``, finite.

    Returns:
        float64 ``[N, d]``, every row with mean 0 and variance 1.

    Raises:
        ValueError: non-finite inputs or a constant row.

    Example:
        >>> standardize_inputs(np.arange(6.0).reshape(2, 3))
        array([[-1.2247,  0.        ,  1.2247],
               [-1.2247,  0.        ,  1.2247]])
    """
    x = _as_inputs(x, "x", np.float64)
    centred = x - x.mean(axis=1, keepdims=True)
    scale = centred.std(axis=1, keepdims=True)
    if not (scale > 0).all():
        raise ValueError("standardize_inputs got a constant input row; drop it or do not standardise.")
    return centred / scale


def kernels(
    x1,
    x2=None,
    depth=1,
    activation="relu",
    w_std=1.0,
    b_std=0.0,
    *,
    diagonal=False,
    batch_size=1024,
    dtype=np.float64,
):
    """NNGP kernel K and neural tangent kernel Theta of an infinitely wide MLP.

    Matches neural-tangents' ``stax`` in the NTK parameterisation for
    ``stax.serial(*[Dense(n, w_std, b_std), Relu()] * depth, Dense(1, w_std, b_std))``
    (``Erf()`` for ``activation="erf"``); see the module docstring for the
    recursion. Both kernels are dimensionless output (co)variances.

    Args:
        x1: inputs [N1, ...]; trailing dimensions are flattened (d = their product).
        x2: inputs [N2, ...] with the same d, or ``None`` for ``x1`` (then the
            result is exactly symmetric and only its upper triangle is computed).
        depth: number of hidden layers, an int >= 0 (0 is the linear readout).
        activation: ``"relu"`` or ``"erf"``.
        w_std, b_std: weight and bias standard deviations (w_std > 0, b_std >= 0).
        diagonal: if True, return only K(x, x) and Theta(x, x) for the rows of
            ``x1`` (``x2`` must be None), in O(N1) time and memory.
        batch_size: rows per block; bounds the temporaries to a few
            ``batch_size x N2`` arrays.
        dtype: ``np.float64`` (default) or ``np.float32``.

    Returns:
        ``(K, Theta)``, each [N1, N2] (or [N1] when ``diagonal``).

    Finite inputs give finite kernels or an error: the recursion avoids intermediate overflow
    (inputs near 1e150 give kernels near 1e300), and kernels that exceed the dtype's range are
    refused with the reason instead of returned as inf or NaN.

    Raises:
        ValueError: an unknown activation, a bad depth, std, batch size or dtype, mismatched input
            dimensions, non-finite inputs, ``diagonal=True`` with ``x2``, or kernels too large for
            ``dtype``.

    Example:
        >>> k, theta = kernels(x_train, depth=2)             # [N, N] each
        >>> k_xX, theta_xX = kernels(x_test, x_train)      # [M, N] each
    """
    return _kernels(x1, x2, depth, activation, w_std, b_std, diagonal, batch_size, dtype, names=("x1", "x2"))


def _overflow(names, dtype, what):
    wider = ", or use dtype=np.float64" if np.dtype(dtype) == np.float32 else ""
    return ValueError(
        f"the kernels of {' and '.join(names)} overflow {np.dtype(dtype).name} ({what}); the inputs are too "
        f"large for these settings. Rescale them (e.g. vdualib.ntk.standardize_inputs) or lower depth or w_std{wider}."
    )


def _checked_settings(activation, depth, w_std, b_std, batch_size, dtype):
    """``(depth, w_std, b_std, batch_size, dtype)`` checked; the activation is checked by name."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}; got {activation!r}.")
    depth = checks.non_negative_int("depth (the number of hidden layers)", depth)
    w_std = checks.finite_float("w_std", w_std, low=0.0, low_open=True)
    b_std = checks.finite_float("b_std", b_std, low=0.0)
    batch_size = checks.positive_int("batch_size", batch_size)
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64; got {dtype}.")
    return depth, w_std, b_std, batch_size, dtype


def _off_diagonal(x1, x2, symmetric, scale, rows_pre, cols_pre, chain, batch_size):
    """K and Theta ``[N1, N2]`` of every pair, a strip of ``batch_size`` rows at a time; for
    ``symmetric`` inputs (x2 is x1) only the upper triangle is computed and then mirrored.
    ``chain`` is ``(depth, activation, w_std, b_std)``."""
    n1, n2, d = x1.shape[0], x2.shape[0], x1.shape[1]
    k_out = np.empty((n1, n2), dtype=x1.dtype)
    theta_out = np.empty((n1, n2), dtype=x1.dtype)
    for start in range(0, n1, batch_size):
        stop = min(start + batch_size, n1)
        first = start if symmetric else 0  # symmetric: the upper triangle of this row strip
        block = x1[start:stop] @ x2[first:].T
        block /= d
        block *= scale  # twice, not by scale**2, which may overflow where the block does not
        block *= scale
        rows = [pre[start:stop] for pre in rows_pre]
        k, theta = _block_chain(block, rows, [pre[first:] for pre in cols_pre], *chain)
        k_out[start:stop, first:] = k
        theta_out[start:stop, first:] = theta
        if symmetric:
            square = np.triu_indices(stop - start, 1)  # mirror the diagonal square's upper triangle
            for out in (k_out, theta_out):
                out[start:stop, start:stop].T[square] = out[start:stop, start:stop][square]
            k_out[stop:, start:stop] = k[:, stop - first :].T
            theta_out[stop:, start:stop] = theta[:, stop - first :].T
    return k_out, theta_out


@np.errstate(over="ignore")  # kernels past the dtype's range are refused below, by name
def _kernels(x1, x2, depth, activation, w_std, b_std, diagonal, batch_size, dtype, names):
    """:func:`kernels`, naming the inputs ``names`` in its messages (``ensemble`` passes its own)."""
    depth, w_std, b_std, batch_size, dtype = _checked_settings(activation, depth, w_std, b_std, batch_size, dtype)
    x1 = _as_inputs(x1, names[0], dtype)
    symmetric = x2 is None
    x2 = x1 if symmetric else _as_inputs(x2, names[1], dtype)
    used = names[:1] if symmetric else names
    if x2.shape[1] != x1.shape[1]:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same input dimension; got {x1.shape[1]} and {x2.shape[1]}."
        )
    d = x1.shape[1]
    # x x^T / d is computed on x / s and scaled back by s^2 when x x^T itself could overflow
    largest = max(float(np.abs(x1).max()), float(np.abs(x2).max()))
    scale = largest if largest > math.sqrt(np.finfo(dtype).max / d) / 4 else 1.0
    if scale != 1.0:
        x1 = x1 / scale
        x2 = x1 if symmetric else x2 / scale
    rows_input = np.einsum("ij,ij->i", x1, x1) / d * scale * scale
    cols_input = rows_input if symmetric else np.einsum("ij,ij->i", x2, x2) / d * scale * scale
    if not (np.isfinite(rows_input).all() and np.isfinite(cols_input).all()):
        raise _overflow(used, dtype, f"|x|^2 / d exceeds {np.finfo(dtype).max:.3g}; largest |x| = {largest:.3g}")
    rows_pre, k_diagonal, theta_diagonal = _diagonal_chain(rows_input, depth, activation, w_std, b_std)
    if not (np.isfinite(k_diagonal).all() and np.isfinite(theta_diagonal).all()):
        raise _overflow(used, dtype, f"K(x, x) and Theta(x, x) pass {np.finfo(dtype).max:.3g} by layer {depth + 1}")
    if diagonal:
        if not symmetric:
            raise ValueError(f"diagonal=True computes K(x, x) for {names[0]} alone; pass {names[1]}=None.")
        return k_diagonal, theta_diagonal
    cols_pre = rows_pre if symmetric else _diagonal_chain(cols_input, depth, activation, w_std, b_std)[0]
    if not symmetric and not all(np.isfinite(pre).all() for pre in cols_pre):
        raise _overflow(used, dtype, f"the variances of {names[1]} pass {np.finfo(dtype).max:.3g}")
    chain = (depth, activation, w_std, b_std)
    k_out, theta_out = _off_diagonal(x1, x2, symmetric, scale, rows_pre, cols_pre, chain, batch_size)
    if symmetric:  # exact diagonal: arccos near 1 loses half the digits
        np.fill_diagonal(k_out, k_diagonal)
        np.fill_diagonal(theta_out, theta_diagonal)
    if not (np.isfinite(k_out).all() and np.isfinite(theta_out).all()):
        raise _overflow(used, dtype, "an off-diagonal entry")
    return k_out, theta_out
