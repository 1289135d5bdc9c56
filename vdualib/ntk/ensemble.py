"""Infinite ensembles of infinitely wide networks trained by gradient descent.

Under gradient flow on the squared loss L = (1 / 2N) sum_i ||f(x_i) - y_i||^2
with learning rate eta, an infinitely wide network evolves as its
linearisation, df(x)/dt = -(eta / N) Theta(x, X) (f(X) - Y), and its initial
outputs are a Gaussian process with the NNGP kernel K (Lee et al. 2019,
"Wide neural networks of any depth evolve as linear models under gradient
descent"). Over the random initialisation the outputs at time t are therefore
Gaussian, independent across output units, with

    E_t  = I - exp(-eta t Theta / N)                       (Theta = Theta(X, X))
    mean = Theta(x, X) Theta^-1 E_t Y
    cov  = K(x, x') + Theta(x, X) Theta^-1 E_t K(X, X) E_t Theta^-1 Theta(X, x')
           - Theta(x, X) Theta^-1 E_t K(X, x') - K(x, X) E_t Theta^-1 Theta(X, x').

On the training points this reduces to mean = E_t Y and
cov = exp(-eta t Theta / N) K exp(-eta t Theta / N). One eigendecomposition
Theta = V diag(lambda) V^T turns every matrix function of time into a
diagonal, so a list of times costs one O(N^3) decomposition plus matrix
products per time. Outputs are in the units of the labels.

Example:
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(10, 4))
    >>> prediction = ensemble(x, np.arange(10) % 2 - 0.5, x[:3], t=[0.0, np.inf], depth=2)
    >>> bool(np.allclose(prediction.mean_train[1], np.arange(10) % 2 - 0.5))   # interpolates at t = inf
    True
"""

from typing import NamedTuple

import numpy as np

from vdualib import checks
from vdualib.ntk.kernels import _kernels

__all__ = ["ensemble", "KernelEnsemble", "EnsemblePrediction", "COVARIANCES"]

COVARIANCES = ("full", "diagonal")


class EnsemblePrediction(NamedTuple):
    """Mean and covariance of the ensemble's outputs at the requested times.

    With a scalar ``t`` the leading time axis is absent. Means are
    [T, N, k] (or [T, N] for 1-D labels); covariances, shared by the k
    output units, are [T, N, N] (``covariance="full"``) or the marginal
    variances [T, N] (``"diagonal"``). The ``*_test`` fields are ``None``
    when there are no test points.

    Attributes:
        t: the times, ``[T]`` (a 0-d array for a scalar time).
        mean_train: ``[T, N, k]`` or ``[T, N]``.
        cov_train: ``[T, N, N]`` or ``[T, N]``.
        mean_test: ``[T, M, k]`` or ``[T, M]``, or ``None``.
        cov_test: ``[T, M, M]`` or ``[T, M]``, or ``None``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x_train, y_train, x_test = rng.normal(size=(4, 3)), np.array([0.5, -0.5, 0.5, -0.5]), rng.normal(size=(2, 3))
        >>> prediction = ensemble(x_train, y_train, x_test, t=[0, np.inf])
        >>> prediction.mean_train[-1]     # = y_train: the converged ensemble interpolates
        array([ 0.5, -0.5,  0.5, -0.5])
        >>> prediction.mean_test.shape, prediction.cov_test.shape
        ((2, 2), (2, 2, 2))
    """

    t: np.ndarray
    mean_train: np.ndarray
    cov_train: np.ndarray
    mean_test: np.ndarray
    cov_test: np.ndarray


def _as_times(t):
    times = np.asarray(t, dtype=np.float64)
    if times.ndim > 1 or times.size == 0:
        raise ValueError(f"t must be a number or a 1-D list of times; got shape {times.shape}.")
    if np.isnan(times).any() or (times < 0).any():
        raise ValueError("times t must be >= 0 (np.inf for the converged ensemble); got a negative or NaN time.")
    return times


def _square(matrix, n, name):
    matrix = checks.finite_array(name, matrix)
    if matrix.shape != (n, n):
        raise ValueError(f"{name} must be [{n}, {n}] for {n} training points; got shape {matrix.shape}.")
    return matrix


class KernelEnsemble:
    """The gradient-descent ensemble for given kernels; see the module docstring.

    Args:
        k_train, theta_train: NNGP kernel and NTK on the training points, [N, N].
        y_train: training targets [N] or [N, k].
        k_test_train, theta_test_train: kernels between test and training points,
            [M, N] (both or neither).
        k_test: NNGP kernel on the test points, [M, M] or its diagonal [M]
            (the diagonal suffices for ``covariance="diagonal"``).
        learning_rate: eta > 0.
        diag_reg: adds ``diag_reg * mean(diag Theta)`` to Theta's diagonal
            before the eigendecomposition, for ill-conditioned kernels. It acts
            as an extra kernel term on the training points, which still
            interpolate Y at t = inf; test means become kernel-ridge-like,
            Theta(x, X) (Theta + r I)^-1 E_t Y.

    Raises:
        ValueError: non-finite or mismatched arrays, a non-positive learning rate, a negative
            ``diag_reg``, test kernels given partly, or a numerically singular Theta.

    Example:
        >>> from vdualib.ntk import kernels
        >>> x_train, y_train = np.random.default_rng(0).normal(size=(4, 3)), np.array([0.5, -0.5, 0.5, -0.5])
        >>> k, theta = kernels(x_train)
        >>> model = KernelEnsemble(k, theta, y_train, learning_rate=1.0)
        >>> model.predict(t=[1.0, 10.0], covariance="diagonal").mean_train     # [2, N]
        array([[ 0.0025, -0.0174,  0.1205, -0.0865],
               [ 0.0506, -0.0982,  0.476, -0.434]])
    """

    def __init__(
        self,
        k_train,
        theta_train,
        y_train,
        k_test_train=None,
        theta_test_train=None,
        k_test=None,
        learning_rate=1.0,
        diag_reg=0.0,
    ):
        y_train = checks.finite_array("y_train", y_train)
        if y_train.ndim not in (1, 2) or y_train.shape[0] < 1:
            raise ValueError(f"y_train must be finite targets [N] or [N, k]; got shape {y_train.shape}.")
        n = y_train.shape[0]
        self.scalar_outputs = y_train.ndim == 1
        self.y_train = y_train.reshape(n, -1)
        self.k_train = _square(k_train, n, "k_train")
        theta_train = _square(theta_train, n, "theta_train")
        self.learning_rate = checks.finite_float("learning_rate", learning_rate, low=0.0, low_open=True)
        diag_reg = checks.finite_float("diag_reg", diag_reg, low=0.0)
        self.num_train = n
        theta_train = theta_train + diag_reg * np.mean(np.diag(theta_train)) * np.eye(n)
        self.eigenvalues, self.eigenvectors = np.linalg.eigh(theta_train)
        largest = self.eigenvalues[-1]
        if not self.eigenvalues[0] > largest * n * np.finfo(np.float64).eps:
            raise ValueError(
                f"Theta on the training points is numerically singular (eigenvalues {self.eigenvalues[0]:.3g} .. "
                f"{largest:.3g}; duplicate inputs?); pass diag_reg > 0, e.g. 1e-6."
            )
        self.labels_eig = self.eigenvectors.T @ self.y_train
        self.k_train_eig = self.eigenvectors.T @ self.k_train @ self.eigenvectors

        if (k_test_train is None) != (theta_test_train is None) or (k_test_train is None) != (k_test is None):
            raise ValueError("pass k_test_train, theta_test_train and k_test together (or none of them).")
        self.has_test = k_test_train is not None
        if self.has_test:
            k_test_train = checks.finite_array("k_test_train", k_test_train)
            theta_test_train = checks.finite_array("theta_test_train", theta_test_train)
            m = k_test_train.shape[0]
            if k_test_train.shape != (m, n) or theta_test_train.shape != (m, n):
                raise ValueError(
                    f"k_test_train and theta_test_train must be [M, {n}]; got {k_test_train.shape} and {theta_test_train.shape}."
                )
            self.k_test = checks.finite_array("k_test", k_test)
            if self.k_test.shape not in ((m,), (m, m)):
                raise ValueError(f"k_test must be [{m}, {m}] or its diagonal [{m}]; got shape {self.k_test.shape}.")
            self.theta_test_eig = theta_test_train @ self.eigenvectors  # A = Theta(x, X) V
            self.k_train_test_eig = self.eigenvectors.T @ k_test_train.T  # D = V^T K(X, x)

    def _rates(self, t):
        """eta lambda t / N for every eigenvalue, [N] (t may be inf)."""
        return self.learning_rate * self.eigenvalues * t / self.num_train  # eigenvalues > 0: no 0 * inf

    def train_outputs_in_eigenbasis(self, t):
        """Training outputs at time ``t`` (a number) rotated into Theta's eigenbasis.

        Returns ``(V^T mean, V^T cov V)`` = ``((1 - e) * V^T Y, e (V^T K V) e)`` with
        e = exp(-eta t lambda / N), in O(N^2). Quantities invariant under
        rotations (KL divergences to the prior ``V^T K V``, log-determinants)
        can be computed here without the O(N^3) rotation back.

        Args:
            t: the time, a number >= 0 (``np.inf`` allowed).

        Returns:
            ``(mean, covariance)``: ``[N, k]`` and ``[N, N]`` in Theta's eigenbasis.

        Example:
            >>> from vdualib.ntk import kernels
            >>> x_train, y_train = np.random.default_rng(0).normal(size=(4, 3)), np.array([0.5, -0.5, 0.5, -0.5])
            >>> model = KernelEnsemble(*kernels(x_train), y_train)
            >>> mean, cov = model.train_outputs_in_eigenbasis(10.0)
            >>> mean.shape, cov.shape
            ((4, 1), (4, 4))
        """
        rates = self._rates(float(t))
        remaining = np.exp(-rates)
        mean = -np.expm1(-rates)[:, None] * self.labels_eig
        return mean, self.k_train_eig * np.outer(remaining, remaining)

    def _predict_one(self, t, covariance):
        rates = self._rates(t)
        remaining = np.exp(-rates)  # exp(-eta t lambda / N)
        learned = -np.expm1(-rates)  # 1 - exp(-eta t lambda / N)
        vectors = self.eigenvectors
        mean_train = vectors @ (learned[:, None] * self.labels_eig)
        scaled = vectors * remaining  # V exp(-eta t Lambda / N)
        if covariance == "full":
            cov_train = scaled @ self.k_train_eig @ scaled.T
        else:
            cov_train = np.einsum("ij,ij->i", scaled @ self.k_train_eig, scaled)
        if not self.has_test:
            return mean_train, cov_train, None, None
        gain = self.theta_test_eig * (learned / self.eigenvalues)  # Theta(x, X) Theta^-1 E_t, in the eigenbasis
        mean_test = gain @ self.labels_eig
        propagated = gain @ self.k_train_eig
        if covariance == "full":
            cross = gain @ self.k_train_test_eig
            if self.k_test.ndim != 2:
                raise ValueError("covariance='full' needs the full k_test [M, M]; pass it or use covariance='diagonal'.")
            cov_test = self.k_test + propagated @ gain.T - cross - cross.T
        else:
            k_test = np.diag(self.k_test) if self.k_test.ndim == 2 else self.k_test
            cross = np.einsum("ij,ji->i", gain, self.k_train_test_eig)
            cov_test = k_test + np.einsum("ij,ij->i", propagated, gain) - 2.0 * cross
        return mean_train, cov_train, mean_test, cov_test

    def predict(self, t=np.inf, covariance="full"):
        """Mean and covariance of the outputs after time ``t`` (a number or a list).

        Args:
            t: a time >= 0, ``np.inf`` (the converged ensemble) or a 1-D list of times.
            covariance: ``"full"`` or ``"diagonal"`` (marginal variances, O(M N) per time instead of
                O(M^2 N)).

        Returns:
            An :class:`EnsemblePrediction`.

        Raises:
            ValueError: an unknown ``covariance``, negative or NaN times, or ``"full"`` with a diagonal
                ``k_test``.

        Example:
            >>> from vdualib.ntk import kernels
            >>> rng = np.random.default_rng(0)
            >>> x_train, y_train, x_test = rng.normal(size=(4, 3)), np.array([0.5, -0.5, 0.5, -0.5]), rng.normal(size=(2, 3))
            >>> model = KernelEnsemble(*kernels(x_train), y_train, *kernels(x_test, x_train), kernels(x_test)[0])
            >>> model.predict(np.inf).mean_test.shape     # [M] (1-D labels) or [M, k]
            (2,)
        """
        if covariance not in COVARIANCES:
            raise ValueError(f"covariance must be one of {COVARIANCES}; got {covariance!r}.")
        times = _as_times(t)
        parts = list(zip(*(self._predict_one(time, covariance) for time in times.reshape(-1))))
        fields = []
        for index, part in enumerate(parts):
            if part[0] is None:
                fields.append(None)
                continue
            stacked = np.stack(part)
            if index in (0, 2) and self.scalar_outputs:
                stacked = stacked[..., 0]
            fields.append(stacked if times.ndim else stacked[0])
        return EnsemblePrediction(times, *fields)


def ensemble(
    x_train,
    y_train,
    x_test=None,
    t=np.inf,
    *,
    depth=1,
    activation="relu",
    w_std=1.0,
    b_std=0.0,
    learning_rate=1.0,
    diag_reg=0.0,
    covariance="full",
):
    """Outputs of the infinite gradient-descent ensemble of an infinitely wide MLP.

    Computes the kernels with :func:`vdualib.ntk.kernels` (same ``depth``,
    ``activation``, ``w_std``, ``b_std``) and returns
    ``KernelEnsemble(...).predict(t, covariance)``: the Gaussian outputs'
    mean and covariance on the training and test points after gradient-descent
    time ``t`` (a number, ``np.inf``, or a list; see :class:`EnsemblePrediction`).

    Args:
        x_train: training inputs [N, ...]; y_train: targets [N] or [N, k].
        x_test: test inputs [M, ...] or None.
        t: time(s) >= 0; the loss is (1/2N) sum ||f - y||^2 with learning rate eta.
        learning_rate, diag_reg: see :class:`KernelEnsemble`.
        covariance: ``"full"`` or ``"diagonal"``.

    Returns:
        An :class:`EnsemblePrediction`.

    Raises:
        ValueError: bad inputs or settings (see :func:`vdualib.ntk.kernels` and :class:`KernelEnsemble`),
            named as this function's arguments (``x_train``, ``x_test``), or kernels and outputs too
            large for float64.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x_train, y_train, x_test = rng.normal(size=(4, 3)), np.array([0.5, -0.5, 0.5, -0.5]), rng.normal(size=(2, 3))
        >>> prediction = ensemble(x_train, y_train, x_test, t=[0, 10, np.inf], depth=2)
        >>> prediction.mean_test.shape, prediction.cov_test.shape     # (T, M), (T, M, M) for 1-D labels
        ((3, 2), (3, 2, 2))
    """
    if covariance not in COVARIANCES:
        raise ValueError(f"covariance must be one of {COVARIANCES}; got {covariance!r}.")
    # the kernels' messages name this function's arguments, the only ones the caller passed
    hyper = dict(depth=depth, activation=activation, w_std=w_std, b_std=b_std, batch_size=1024, dtype=np.float64)
    k_train, theta_train = _kernels(x_train, None, diagonal=False, names=("x_train",), **hyper)
    y_shape = checks.numeric_array("y_train", y_train).shape
    if y_shape[:1] != k_train.shape[:1]:
        raise ValueError(f"y_train must have one row per training input ({k_train.shape[0]}); got shape {y_shape}.")
    test = {}
    if x_test is not None:
        k_test_train, theta_test_train = _kernels(x_test, x_train, diagonal=False, names=("x_test", "x_train"), **hyper)
        k_test = _kernels(x_test, None, diagonal=covariance != "full", names=("x_test",), **hyper)[0]
        test = dict(k_test_train=k_test_train, theta_test_train=theta_test_train, k_test=k_test)
    model = KernelEnsemble(k_train, theta_train, y_train, learning_rate=learning_rate, diag_reg=diag_reg, **test)
    prediction = model.predict(t, covariance)
    if not all(np.isfinite(field).all() for field in prediction[1:] if field is not None):
        raise ValueError(
            f"the ensemble's outputs overflow float64 for these inputs (kernels up to {np.abs(theta_train).max():.3g}); "
            "rescale x_train and x_test (e.g. vdualib.ntk.standardize_inputs) or lower depth or w_std."
        )
    return prediction
