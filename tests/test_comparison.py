import os

import numpy as np

import pytest

from vdualib import comparison, reports, sweep


def _record(label, method, accuracy, ece, seed=0):
    model = {
        "label": label,
        "method": method,
        "clean": {"accuracy": accuracy, "nll": 0.1, "brier": 0.02, "ece": ece},
        "temperature_scaling": {"after": {"ece": ece / 2}},
        "corruption_summary": {"mean": {"accuracy": accuracy - 0.1, "nll": 0.5, "ece": ece * 3}},
        "ood": {"noise": {"entropy": {"auroc": 0.8}}},
    }
    return {
        "dataset": "mnist",
        "split": "test",
        "num_examples": 10,
        "num_bins": 15,
        "seed": seed,
        "corruptions": ["fog"],
        "severities": [1],
        "ood_sets": ["noise"],
        "notes": [],
        "models": [model],
    }


def test_merge_and_deltas(tmp_path):
    paths = []
    for label, method, accuracy, ece in (("d", "deterministic", 0.90, 0.05), ("v", "vib", 0.91, 0.02), ("q", "dualib", 0.92, 0.03)):
        path = str(tmp_path / f"{label}.json")
        reports.write_json(path, _record(label, method, accuracy, ece))
        paths.append(path)
    merged = comparison.merge_evaluations(paths)
    assert [m["label"] for m in merged["models"]] == ["d", "v", "q"]
    rows = comparison.summary_rows(merged)
    deltas = {(d["measure"], d["versus"]): d for d in comparison.method_deltas(rows)}
    assert deltas[("accuracy", "vib")]["difference"] == pytest.approx(0.01)
    assert deltas[("accuracy", "vib")]["better"] is True
    assert deltas[("ece", "vib")]["better"] is False  # 0.03 > 0.02: lower is better
    assert deltas[("ece", "deterministic")]["better"] is True
    reports.write_json(paths[0], _record("d", "deterministic", 0.9, 0.05, seed=1))
    with pytest.raises(ValueError, match="differs .* in 'seed'"):
        comparison.merge_evaluations(paths)


def test_sweep_plot_and_validation(tmp_path):
    records = [
        {"method": m, "beta": b, "rate_bits": 100 / (1 + 1e3 * b), "izy_bits": 3 - b, "accuracy": 0.9, "ece": b}
        for m in ("vib", "dualib")
        for b in (1e-4, 1e-3, 1e-2)
    ]
    path = sweep.plot_sweep(records, str(tmp_path / "sweep.png"))
    assert os.path.getsize(path) > 10_000
    smoothing = [dict(r, label_smoothing=r["beta"] * 10) for r in records]
    assert os.path.getsize(sweep.plot_sweep(smoothing, str(tmp_path / "ls.png"), parameter="label_smoothing")) > 10_000
    with pytest.raises(ValueError, match="beta values"):
        sweep.beta_sweep([-1.0])
    with pytest.raises(ValueError, match=r"label_smoothing values must lie in \(0, 1\)"):
        sweep.recipe_sweep("label_smoothing", [0.0, 0.1])
    with pytest.raises(ValueError, match="Unknown sweep 'latent_dim'"):
        sweep.recipe_sweep("latent_dim", [8])


def test_dual_decoder_is_the_geometric_mean_of_the_smoothed_labels():
    """The claim of vdualib.sweep's docstring: for an input whose label is c with probability
    p_c, E_y[KL(q || p~_y)] is minimised by q ∝ exp(E_y log p~_y) (overconfident for small eps),
    and E_y[-sum q~ log q] by q = E_y[p~_y], the arithmetic mean."""
    from scipy.optimize import minimize
    from scipy.special import softmax

    num_classes, eps = 3, 0.01
    p = np.array([0.6, 0.3, 0.1])
    smoothed = (1 - eps) * np.eye(num_classes) + eps / num_classes  # row y: p~_y

    def dual(logits):
        q = softmax(logits)
        return float(np.sum(p * np.sum(q * (np.log(q) - np.log(smoothed)), axis=1)))

    def cross_entropy(logits):
        return float(-np.sum(p @ smoothed * np.log(softmax(logits))))

    geometric = softmax(p @ np.log(smoothed))
    arithmetic = p @ smoothed
    np.testing.assert_allclose(softmax(minimize(dual, np.zeros(3), tol=1e-12).x), geometric, atol=1e-5)
    np.testing.assert_allclose(softmax(minimize(cross_entropy, np.zeros(3), tol=1e-12).x), arithmetic, atol=1e-5)
    assert geometric[0] > 0.8 and arithmetic[0] < 0.6  # the dual decoder is far more confident than p = 0.6


def test_summary_rows_describe_confidence_without_scoring_it():
    records = [_record("v", "vib", 0.9, 0.02), _record("d", "dualib", 0.88, 0.05)]
    records[0]["models"][0]["reliability"] = {"confidence": [None, 0.5, 0.9], "count": [0, 2, 6]}
    records[1]["models"][0]["temperature_scaling"]["temperature"] = 1.5
    rows = comparison.summary_rows({"models": [r["models"][0] for r in records]})
    assert rows[0]["mean_confidence"] == pytest.approx((2 * 0.5 + 6 * 0.9) / 8)
    assert rows[1]["mean_confidence"] is None and rows[1]["ts_temperature"] == 1.5
    measures = {d["measure"] for d in comparison.method_deltas(rows)}
    assert "ece" in measures and not measures & {"mean_confidence", "ts_temperature"}
