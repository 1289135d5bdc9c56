"""Input validation shared by the layer estimators (binning, KDE): activations and class labels."""

import numpy as np

__all__ = ["check_activations", "check_labels"]


def check_labels(labels, n):
    """N integer class ids from ids or an [N, C] one-hot array; ``ValueError`` otherwise."""
    labels = np.asarray(labels)
    if labels.ndim == 2:  # one-hot
        labels = np.argmax(labels, axis=1)
    if labels.ndim != 1 or labels.shape[0] != n:
        raise ValueError(f"labels must be N = {n} class ids (or an [N, C] one-hot array); got shape {labels.shape}.")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integer class ids; got dtype {labels.dtype}.")
    return labels


def check_activations(activations):
    """A finite, non-empty [N, units] array (1-D read as one unit, higher ranks flattened per row)."""
    activations = np.asarray(activations)
    if activations.ndim == 1:
        activations = activations[:, None]
    if activations.ndim > 2:
        activations = activations.reshape(activations.shape[0], -1)
    if activations.shape[0] < 1 or activations.shape[1] < 1:
        raise ValueError(f"activations must be a non-empty [N, units] array; got shape {activations.shape}.")
    if not np.isfinite(activations).all():
        raise ValueError("activations contain NaN or inf; check the model (a diverged run?) before estimating information.")
    return activations
