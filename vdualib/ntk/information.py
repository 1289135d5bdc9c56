"""Information carried by the outputs of an infinite gradient-descent ensemble.

The representation is Z = f(X) + noise, with f the ensemble's output (Gaussian
over initialisations, :mod:`vdualib.ntk.ensemble`) and independent Gaussian
noise of variance ``noise_variance`` per output unit, so that every quantity is
finite. For an input x_i the encoder is then exactly

    p(z | x_i) = N(mean_i, (variance_i + noise_variance) I_k),

so the contrastive bounds use exact log-densities; only z is sampled. With a
data set of n inputs and labels:

* I(X;Z): InfoNCE lower and leave-one-out upper bound
  (:func:`vdualib.information.infonce_bounds`);
* I(Z;Y) = I(X;Z) - I(X;Z|Y), since Y is a function of X (Y - X - Z). The same
  bounds taken within each class bound I(X;Z|Y) = sum_y p(y) I(X;Z|Y=y), so

      I(Z;Y) >= I_nce(X;Z) - sum_y p(y) I_loo(X;Z | Y=y),
      I(Z;Y) <= I_loo(X;Z) - sum_y p(y) I_nce(X;Z | Y=y),

  ordered by construction. They bracket the two plug-in values of
  H(Y) - E[-log p(y|z)] with the Bayes decoder of the Gaussian mixture,
  p(y|z) = sum_{j: y_j = y} p(z|x_j) / sum_j p(z|x_j), whose log loss is taken
  with the point itself in the sums (I_nce - I_nce|Y, exactly) and without it
  (I_loo - I_loo|Y, up to O(1/n) count corrections);
* KL(Q_t || P) between the joint output distribution on the training inputs
  at time t and the prior P (the same at t = 0, outputs N(0, K)), both with
  the noise added: since P does not depend on the training labels,
  I(Y_train; Z_train | X_train) <= E KL(Q_t || P), the information the outputs
  can carry about the training set.

All results are in bits unless ``units="nats"``.

Example:
    >>> import numpy as np
    >>> mean = np.random.default_rng(0).standard_normal(1500)        # Z = X + N(0, 0.5)
    >>> bounds = output_information(mean, np.zeros(1500), (mean > 0).astype(int), noise_variance=0.5, seed=1)
    >>> bool(abs(bounds.ixz_lower - 0.5 * np.log2(3.0)) < 0.05)
    True
"""

from typing import NamedTuple

import numpy as np
import scipy.linalg

from vdualib import checks
from vdualib.information.units import check_units, from_nats
from vdualib.information.variational import gaussian_log_density_matrix, infonce_bounds

__all__ = ["OutputInformation", "output_information", "PriorKL", "prior_kl", "information_curve"]


class OutputInformation(NamedTuple):
    """Bounds on I(X;Z) and I(Z;Y) and the label entropy H(Y), in one unit.

    Attributes:
        ixz_lower, ixz_upper: InfoNCE and leave-one-out bounds on I(X;Z).
        izy_lower, izy_upper: bounds on I(Z;Y).
        label_entropy: H(Y) of the labels' empirical distribution.

    Example:
        >>> mean = np.random.default_rng(0).standard_normal(500)
        >>> bounds = output_information(mean, np.zeros(500), (mean > 0).astype(int), noise_variance=0.1)
        >>> bool(0 < bounds.ixz_lower <= bounds.ixz_upper)     # bits
        True
        >>> bounds._fields
        ('ixz_lower', 'ixz_upper', 'izy_lower', 'izy_upper', 'label_entropy')
    """

    ixz_lower: float
    ixz_upper: float
    izy_lower: float
    izy_upper: float
    label_entropy: float


def _check_noise(noise_variance):
    return checks.finite_float("noise_variance (it keeps I(X;Z) finite)", noise_variance, low=0.0, low_open=True)


def _as_outputs(mean):
    mean = checks.finite_array("mean", mean)
    if mean.ndim not in (1, 2):
        raise ValueError(f"mean must be finite outputs [n] or [n, k]; got shape {mean.shape}.")
    return mean.reshape(mean.shape[0], -1)


def output_information(mean, variance, labels, noise_variance, *, num_draws=4, seed=0, units="bits"):
    """Bounds on I(X;Z) and I(Z;Y) for Z = f(X) + noise on a data set.

    Args:
        mean: ensemble output means [n] or [n, k].
        variance: their marginal variances [n] (shared by the k units), >= 0.
        labels: integer labels [n]; every class present needs >= 2 points.
        noise_variance: variance of the added Gaussian noise, > 0.
        num_draws: z samples per input; the bounds are averaged over them.
        seed: seed of the z samples (the same seed reuses the same standard
            normals, so curves over time share their sampling noise).
        units: ``"bits"`` or ``"nats"``.

    Returns:
        :class:`OutputInformation` (see the module docstring for the bounds).

    Raises:
        ValueError: an unknown unit, bad shapes, negative variances, a class with fewer than 2 points,
            or a non-positive ``noise_variance``.

    Example:
        >>> from vdualib.ntk import ensemble
        >>> x_train, labels = np.random.default_rng(0).normal(size=(64, 3)), np.arange(64) % 2
        >>> p = ensemble(x_train, labels - 0.5, t=10.0, covariance="diagonal")
        >>> bounds = output_information(p.mean_train, p.cov_train, labels, noise_variance=0.1)
        >>> bool(bounds.ixz_lower <= bounds.ixz_upper and bounds.izy_lower <= bounds.izy_upper)
        True
    """
    check_units(units)
    _check_noise(noise_variance)
    mean = _as_outputs(mean)
    n = mean.shape[0]
    variance = checks.finite_array("variance", variance)
    if variance.shape != (n,) or (variance < -1e-9 * (1 + np.abs(variance).max())).any():
        raise ValueError(f"variance must be finite, >= 0 and of shape ({n},); got shape {variance.shape}.")
    labels = checks.integer_labels("labels", labels)
    if labels.shape != (n,):
        raise ValueError(f"labels must be {n} class ids, one per output row; got shape {labels.shape}.")
    classes, counts = np.unique(labels, return_counts=True)
    if (counts < 2).any() or n < 2:
        found = dict(zip(classes.tolist(), counts.tolist()))
        raise ValueError(f"every class needs at least 2 points for the leave-one-out bound; counts {found}.")
    num_draws = checks.positive_int("num_draws", num_draws)
    stddev = np.broadcast_to(np.sqrt(np.maximum(variance, 0.0) + noise_variance)[:, None], mean.shape)
    members = [np.flatnonzero(labels == c) for c in classes]
    weights = counts / n
    rng = np.random.default_rng(seed)
    totals = np.zeros(4)
    for _ in range(num_draws):
        z = mean + stddev * rng.standard_normal(mean.shape)
        log_density = gaussian_log_density_matrix(z, mean, stddev)
        nce, loo = infonce_bounds(log_density, units="nats")
        within = np.array([infonce_bounds(log_density[np.ix_(idx, idx)], units="nats") for idx in members])
        nce_given_y, loo_given_y = weights @ within
        totals += (nce, loo, nce - loo_given_y, loo - nce_given_y)
    ixz_lower, ixz_upper, izy_lower, izy_upper = from_nats(totals / num_draws, units)
    entropy = from_nats(-float(weights @ np.log(weights)), units)
    return OutputInformation(float(ixz_lower), float(ixz_upper), float(izy_lower), float(izy_upper), float(entropy))


class PriorKL:
    """KL( N(mean_c, C + s I) || N(0, P + s I) ) summed over the k output units c.

    The prior covariance P [n, n] (shared by the units) and the noise variance
    s > 0 are fixed at construction, where P + s I is factored and inverted
    once; each call then costs one Cholesky factor of C + s I. Per unit,
    KL = (tr(B^-1 A) - n + m^T B^-1 m + log det B - log det A) / 2 with
    A = C + s I and B = P + s I. Results in ``units``.

    Args:
        prior_covariance: P, a positive semi-definite ``[n, n]`` matrix.
        noise_variance: s > 0.
        units: ``"bits"`` (default) or ``"nats"``.

    Call arguments:
        mean: output means ``[n]`` or ``[n, k]``.
        covariance: C, ``[n, n]``.

    Raises:
        ValueError: non-finite or non-square matrices, P + s I or C + s I not positive definite, or
            mismatched sizes.

    Example:
        >>> PriorKL(np.eye(2), 1.0)(np.zeros(2), np.eye(2))     # the outputs are the prior
        0.0
    """

    def __init__(self, prior_covariance, noise_variance, units="bits"):
        self.units = check_units(units)
        noise_variance = _check_noise(noise_variance)
        prior_covariance = checks.finite_array("prior_covariance", prior_covariance)
        if prior_covariance.ndim != 2 or prior_covariance.shape[0] != prior_covariance.shape[1]:
            raise ValueError(f"prior_covariance must be a square [n, n] matrix; got shape {prior_covariance.shape}.")
        self.noise_variance = float(noise_variance)
        self.size = prior_covariance.shape[0]
        factor = _cholesky(prior_covariance + self.noise_variance * np.eye(self.size), "prior_covariance")
        self.prior_precision = scipy.linalg.cho_solve((factor, True), np.eye(self.size))
        self.prior_log_det = 2.0 * np.sum(np.log(np.diag(factor)))

    def __call__(self, mean, covariance):
        mean = _as_outputs(mean)
        n, k = mean.shape
        covariance = checks.finite_array("covariance", covariance)
        if n != self.size or covariance.shape != (n, n):
            raise ValueError(
                f"mean must have {self.size} rows and covariance be [{self.size}, {self.size}]; "
                f"got {mean.shape} and {covariance.shape}."
            )
        factor = _cholesky(covariance + self.noise_variance * np.eye(n), "covariance")
        trace = np.sum(self.prior_precision * covariance) + self.noise_variance * np.trace(self.prior_precision)
        mahalanobis = np.sum(mean * (self.prior_precision @ mean))
        log_det_ratio = self.prior_log_det - 2.0 * np.sum(np.log(np.diag(factor)))
        kl = 0.5 * (k * (trace - n + log_det_ratio) + mahalanobis)
        return float(from_nats(max(kl, 0.0), self.units))


def _cholesky(matrix, name):
    try:
        return scipy.linalg.cholesky(matrix, lower=True)
    except np.linalg.LinAlgError as error:
        raise ValueError(f"{name} + noise_variance * I is not positive definite; pass a PSD covariance.") from error


def prior_kl(mean, covariance, prior_covariance, noise_variance, units="bits"):
    """KL( N(mean, C + s I) || N(0, P + s I) ) summed over output units; see :class:`PriorKL`.

    ``mean`` [n] or [n, k]; ``covariance`` C and ``prior_covariance`` P [n, n];
    s = ``noise_variance`` > 0. In ``units``.

    Args:
        mean: output means ``[n]`` or ``[n, k]``.
        covariance: C, ``[n, n]``.
        prior_covariance: P, ``[n, n]``.
        noise_variance: s > 0.
        units: ``"bits"`` (default) or ``"nats"``.

    Returns:
        A float >= 0 in ``units``.

    Raises:
        ValueError: see :class:`PriorKL`.

    Example:
        >>> prior_kl(np.ones(2), np.eye(2), np.eye(2), 1.0, units="nats")     # m^T (2I)^-1 m / 2
        0.5
    """
    return PriorKL(prior_covariance, noise_variance, units)(mean, covariance)


def information_curve(model, times, labels_train, labels_test=None, *, noise_variance, num_draws=4, seed=0, units="bits"):
    """Information and accuracy of a :class:`~vdualib.ntk.KernelEnsemble` over training time.

    For every time in ``times`` computes :func:`output_information` on the
    training points (and the test points, if the model has them), the
    :func:`prior_kl` of the training outputs, and the accuracy of the
    ensemble mean (argmax over the output units; only when k >= 2).

    Returns:
        A dict of lists, one entry per time: ``t``, ``train`` / ``test``
        (dicts of :class:`OutputInformation` fields and ``accuracy``) and
        ``prior_kl``, all information in ``units``.

    Args:
        model: a :class:`~vdualib.ntk.KernelEnsemble`.
        times: times >= 0, a number or a 1-D list.
        labels_train: integer labels ``[N]`` of the training points.
        labels_test: integer labels ``[M]`` of the test points (required when the model has them).
        noise_variance, num_draws, seed, units: as for :func:`output_information`.

    Raises:
        ValueError: ``labels_test`` missing for a model with test points, or the errors of
            :func:`output_information`.

    Example:
        >>> from vdualib.ntk import KernelEnsemble, kernels
        >>> rng = np.random.default_rng(0)
        >>> x_train, y_train, x_test, y_test = rng.normal(size=(16, 3)), np.arange(16) % 2, rng.normal(size=(8, 3)), np.arange(8) % 2
        >>> model = KernelEnsemble(*kernels(x_train), np.eye(2)[y_train] - 0.5, *kernels(x_test, x_train), kernels(x_test)[0])
        >>> curve = information_curve(model, [0, 1, 10, np.inf], y_train, y_test, noise_variance=0.1)
        >>> len(curve["train"]["ixz_lower"]), sorted(curve["test"])     # bits, one per time
        (4, ['accuracy', 'ixz_lower', 'ixz_upper', 'izy_lower', 'izy_upper', 'label_entropy'])
    """
    times = np.atleast_1d(np.asarray(times, dtype=np.float64))
    if model.has_test and labels_test is None:
        raise ValueError("the model has test points; pass labels_test.")
    splits = [("train", np.asarray(labels_train))] + ([("test", np.asarray(labels_test))] if model.has_test else [])
    curve = {"t": times.tolist(), "prior_kl": [], **{name: {} for name, _ in splits}}
    # The KL is rotation invariant and the noise isotropic: evaluate it in Theta's eigenbasis.
    kl_to_prior = PriorKL(model.k_train_eig, noise_variance, units)
    for t in times:
        prediction = model.predict(float(t), covariance="diagonal")
        outputs = {"train": (prediction.mean_train, prediction.cov_train), "test": (prediction.mean_test, prediction.cov_test)}
        for name, labels in splits:
            mean, variance = outputs[name]
            bounds = output_information(mean, variance, labels, noise_variance, num_draws=num_draws, seed=seed, units=units)
            record = bounds._asdict()
            outputs_2d = _as_outputs(mean)
            if outputs_2d.shape[1] >= 2:
                record["accuracy"] = float(np.mean(np.argmax(outputs_2d, axis=1) == labels))
            for key, value in record.items():
                curve[name].setdefault(key, []).append(value)
        curve["prior_kl"].append(kl_to_prior(*model.train_outputs_in_eigenbasis(t)))
    return curve
