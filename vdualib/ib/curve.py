"""Information curves: solve the IB or dualIB over a sweep of betas with warm starts (annealing)."""

import dataclasses

import numpy as np
from tqdm.auto import tqdm

from vdualib.ib.critical import effective_cardinality
from vdualib.ib.joint import entropy_bits, mutual_information_bits
from vdualib.ib.solver import (
    check_betas,
    check_settings,
    initial_log_encoder,
    iterate,
    log_normalize,
    make_channel,
    summarize,
)

__all__ = ["IBCurve", "curve", "curve_channel", "DIRECTIONS"]

DIRECTIONS = ("down", "up", "both")


@dataclasses.dataclass(frozen=True)
class IBCurve:
    """A sweep of solutions; every array is indexed like the ``betas`` passed to :func:`curve`.

    Attributes:
        betas: [B] trade-off values (multiplying the distortion in the exponent).
        method: ``"ib"``, ``"dualib"`` or ``"dualib-expfamily"``.
        ixt, ity: [B] I(X; X_hat), I(X_hat; Y) in bits (ity through the Markov decoder).
        distortion, objective: [B] E[d] and I(X; X_hat) + beta E[d], in bits.
        n_clusters_effective: [B] number of distinct clusters carrying mass.
        encoders: [B, |X|, N] p(x_hat|x); decoders: [B, N, |Y|] the method's p(y|x_hat);
        marginals: [B, N] p(x_hat).
        n_iter: [B] iterations used; converged: [B] bool.
        hx, ixy: H(X) and I(X; Y) in bits (the curve's normalisers).
    """

    betas: np.ndarray
    method: str
    ixt: np.ndarray
    ity: np.ndarray
    distortion: np.ndarray
    objective: np.ndarray
    n_clusters_effective: np.ndarray
    encoders: np.ndarray
    decoders: np.ndarray
    marginals: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray
    hx: float
    ixy: float


def _perturb(log_encoder, scale, rng):
    """Multiply the encoder by exp(scale * N(0, 1)) noise and renormalise (symmetry breaking)."""
    return log_normalize(log_encoder + scale * rng.standard_normal(log_encoder.shape))


def _extrapolate(log_encoder, previous, step, previous_step):
    """Predictor step of the continuation: linear extrapolation of log p(x_hat|x) in log beta.

    Entries that are -inf (underflowed) in either iterate are kept as they are.
    """
    ratio = (step / previous_step)[:, None, None]
    with np.errstate(invalid="ignore"):
        slope = np.where(np.isfinite(log_encoder) & np.isfinite(previous), log_encoder - previous, 0.0)
    return log_normalize(log_encoder + ratio * slope)


def _sweep(channel, px, py_x, betas, direction, chains, n_clusters, init, perturbation, extrapolate, tol, max_iter,
           seed, progress):
    """Anneal through ``betas`` (``"down"`` from high to low, ``"up"`` from low to high).

    The sorted betas are cut into ``chains`` contiguous blocks annealed side by side
    as one batch; each block starts from the initial encoder.
    """
    order = np.argsort(betas)
    if direction == "down":
        order = order[::-1]
    blocks = np.array_split(order, chains)
    rng = np.random.default_rng(seed)
    log_encoder = np.repeat(initial_log_encoder(px.size, n_clusters, init, seed)[None], chains, axis=0)
    previous, previous_betas, before_betas = None, np.ones(chains), None
    fields = {}
    n_iter = np.zeros(betas.size, dtype=np.int64)
    converged = np.zeros(betas.size, dtype=bool)
    for step in tqdm(range(len(blocks[0])), desc=f"{channel.method} beta sweep ({direction})", disable=not progress):
        n_active = sum(len(block) > step for block in blocks)
        index = np.array([block[step] for block in blocks[:n_active]])
        start = log_encoder[:n_active]
        if extrapolate and step > 1:
            start = _extrapolate(start, previous[:n_active], np.log(betas[index] / previous_betas[:n_active]),
                                 np.log(previous_betas[:n_active] / before_betas[:n_active]))
        if direction == "up" and step > 0:
            start = _perturb(start, perturbation, rng)
        solved, iterations, done = iterate(channel, px, betas[index], start, tol, max_iter)
        previous = log_encoder.copy()
        log_encoder[:n_active] = solved
        if step > 0:
            before_betas = previous_betas.copy()
        previous_betas[:n_active] = betas[index]
        for key, value in summarize(channel, px, py_x, betas[index], solved).items():
            fields.setdefault(key, np.zeros((betas.size,) + value.shape[1:]))[index] = value
        n_iter[index] = iterations
        converged[index] = done
    fields["n_iter"] = n_iter
    fields["converged"] = converged
    return fields


def curve_channel(channel, px, py_x, betas, n_clusters=None, direction="down", chains=1, perturbation=1e-2,
                  extrapolate=True, init=None, tol=1e-10, max_iter=10_000, seed=None, progress=False):
    """:func:`curve` for any channel (shared with the exponential-family variant)."""
    betas = check_betas(betas)
    n_clusters = check_settings(px.size, n_clusters, tol, max_iter)
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}; got {direction!r}.")
    if int(chains) != chains or not 1 <= chains <= betas.size:
        raise ValueError(f"chains must be an integer between 1 and len(betas)={betas.size}; got {chains!r}.")
    if not perturbation >= 0:
        raise ValueError(f"perturbation must be >= 0; got {perturbation!r}.")
    settings = (n_clusters, init, perturbation, bool(extrapolate), tol, max_iter, seed, progress)
    if direction == "both":
        down = _sweep(channel, px, py_x, betas, "down", int(chains), *settings)
        up = _sweep(channel, px, py_x, betas, "up", int(chains), *settings)
        # Keep, at each beta, the solution with the lower objective (the better optimum).
        pick_up = up["objective"] < down["objective"]
        fields = {
            key: np.where(pick_up.reshape((-1,) + (1,) * (value.ndim - 1)), up[key], value)
            for key, value in down.items()
        }
    else:
        fields = _sweep(channel, px, py_x, betas, direction, int(chains), *settings)
    cardinality = np.array([effective_cardinality(encoder, px) for encoder in fields["encoder"]])
    pxy = px[:, None] * py_x
    return IBCurve(
        betas=betas,
        method=channel.method,
        ixt=fields["ixt"],
        ity=fields["ity"],
        distortion=fields["distortion"],
        objective=fields["objective"],
        n_clusters_effective=cardinality,
        encoders=fields["encoder"],
        decoders=fields["decoder"],
        marginals=fields["marginal"],
        n_iter=fields["n_iter"],
        converged=fields["converged"],
        hx=float(entropy_bits(px)),
        ixy=mutual_information_bits(pxy / pxy.sum()),
    )


def curve(pxy, betas, method="ib", n_clusters=None, direction="down", chains=1, perturbation=1e-2,
          extrapolate=True, init=None, tol=1e-10, max_iter=10_000, seed=None, progress=False):
    """Solve the IB or dualIB over a sweep of betas, warm-starting each beta from its neighbour.

    Args:
        pxy: joint p(x, y) [|X|, |Y|].
        betas: 1-D array of trade-offs > 0 (multiplying the distortion in the exponent; the
            variational models' beta is the inverse convention).
        method: ``"ib"`` or ``"dualib"``.
        n_clusters: number of values of x_hat (default |X|).
        direction: ``"down"`` anneals from the highest beta down (from the near-identity start);
            ``"up"`` from the lowest beta up, perturbing each warm start by ``perturbation``
            (log-scale noise) so clusters can split; ``"both"`` runs both and keeps, per beta,
            the solution with the lower objective.
        chains: cut the sorted betas into this many contiguous blocks annealed side by side in
            one batch (1 = a single annealing path; ``len(betas)`` = every beta solved
            independently from the start encoder). More chains: fewer Python steps, less warm start.
        extrapolate: start each beta from the linear extrapolation (in log beta) of the two previous
            solutions of its chain (a predictor-corrector continuation; fewer iterations per beta).
        init, tol, max_iter, seed: as in :func:`vdualib.ib.solve` (``max_iter`` per beta).
        progress: show a tqdm progress bar.

    Returns:
        :class:`IBCurve` (information in bits), arrays in the order of ``betas``.
    """
    channel, px, py_x = make_channel(pxy, method)
    return curve_channel(channel, px, py_x, betas, n_clusters, direction, chains, perturbation, extrapolate,
                         init, tol, max_iter, seed, progress)
