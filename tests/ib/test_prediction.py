"""vdualib.ib.prediction: the distortions and accuracy of a solution's decoder against loops and closed forms,
for a solution and along a curve, and the results it refuses (the random joints of tests/ib/conftest.py)."""

import types

import numpy as np
import pytest

from vdualib import ib


def test_prediction_measures_against_loops(random_joint):
    pxy = random_joint(5, 3, seed=2)
    px = pxy.sum(axis=1)
    py_x = pxy / px[:, None]
    for method in ("ib", "dualib"):
        solution = ib.solve(pxy, 4.0, method=method, n_clusters=3, seed=0)
        measures = ib.prediction_measures(pxy, solution)
        enc, dec = solution.encoder, solution.decoder
        pairs = [(x, t) for x in range(5) for t in range(3)]
        forward = sum(px[x] * enc[x, t] * np.sum(py_x[x] * np.log2(py_x[x] / dec[t])) for x, t in pairs)
        backward = sum(px[x] * enc[x, t] * np.sum(dec[t] * np.log2(dec[t] / py_x[x])) for x, t in pairs)
        accuracy = sum(px[x] * enc[x, t] * py_x[x, np.argmax(dec[t])] for x, t in pairs)
        assert measures["ib_distortion"] == pytest.approx(forward, abs=1e-12)
        assert measures["dual_distortion"] == pytest.approx(backward, abs=1e-12)
        assert measures["accuracy"] == pytest.approx(accuracy, abs=1e-12)
        own = measures["ib_distortion" if method == "ib" else "dual_distortion"]
        assert own == pytest.approx(solution.distortion, abs=1e-10)
    result = ib.curve(pxy, [0.1, 1e3], seed=0)
    curve_measures = ib.prediction_measures(pxy, result)
    assert curve_measures["accuracy"][1] == pytest.approx(np.sum(px * py_x.max(axis=1)), abs=1e-6)  # Bayes accuracy
    with pytest.raises(ValueError):
        ib.prediction_measures(random_joint(4, 3), solution)


def test_one_cluster_and_identity_encoders_against_closed_forms(random_joint):
    pxy = random_joint(4, 3, seed=6)
    px, py = pxy.sum(axis=1), pxy.sum(axis=0)
    py_x = pxy / px[:, None]
    # One cluster with the IB's decoder p(y): E KL(p(y|x) || p(y)) = I(X; Y); it predicts the likeliest y.
    merged = ib.prediction_measures(pxy, types.SimpleNamespace(encoder=np.ones((4, 1)), decoder=py[None]))
    assert isinstance(merged["accuracy"], float)
    assert merged["ib_distortion"] == pytest.approx(ib.mutual_information_bits(pxy), abs=1e-12)
    assert merged["dual_distortion"] == pytest.approx(np.sum(px * np.sum(py * np.log2(py / py_x), axis=1)), abs=1e-12)
    assert merged["accuracy"] == pytest.approx(py.max(), abs=1e-12)
    # One cluster per x with decoder p(y|x): nothing lost, the Bayes accuracy.
    identity = ib.prediction_measures(pxy, types.SimpleNamespace(encoder=np.eye(4), decoder=py_x))
    assert identity["ib_distortion"] == pytest.approx(0.0, abs=1e-12)
    assert identity["dual_distortion"] == pytest.approx(0.0, abs=1e-12)
    assert identity["accuracy"] == pytest.approx(np.sum(px * py_x.max(axis=1)), abs=1e-12)


def test_the_dual_distortion_is_infinite_where_p_y_given_x_vanishes():
    pxy = ib.joint_from_labels(np.array([0, 1, 1, 0]))
    merged = types.SimpleNamespace(encoder=np.ones((4, 1)), decoder=np.array([[0.5, 0.5]]))
    measures = ib.prediction_measures(pxy, merged)
    assert measures["dual_distortion"] == np.inf
    assert measures["ib_distortion"] == pytest.approx(1.0)  # I(X; Y) = H(Y) for deterministic balanced labels
    assert measures["accuracy"] == pytest.approx(0.5)


def test_curve_measures_are_per_beta_and_match_the_solutions(toy_joint):
    betas = np.array([1.0, 8.0, 64.0])
    result = ib.curve(toy_joint, betas)
    measures = ib.prediction_measures(toy_joint, result)
    assert set(measures) == {"ib_distortion", "dual_distortion", "accuracy"}
    for key, values in measures.items():
        assert values.shape == (3,)
        for k in range(3):
            alone = types.SimpleNamespace(encoder=result.encoders[k], decoder=result.decoders[k])
            assert values[k] == pytest.approx(ib.prediction_measures(toy_joint, alone)[key], abs=1e-15)
    # The IB's own distortion is I(X; Y) - I(X_hat; Y) along its curve.
    np.testing.assert_allclose(measures["ib_distortion"], result.ixy - result.ity, atol=1e-9)


def test_results_that_do_not_fit_the_joint_are_refused(toy_joint):
    solution = types.SimpleNamespace(encoder=np.full((5, 2), 0.5), decoder=np.full((2, 3), 1 / 3))  # |Y| = 3, not 2
    with pytest.raises(ValueError, match=r"do not match pxy \(5, 2\)"):
        ib.prediction_measures(toy_joint, solution)
    with pytest.raises(ValueError, match="sums to"):
        ib.prediction_measures(2 * toy_joint, ib.solve(toy_joint, 2.0))


def test_prediction_measures_takes_a_solution_or_a_curve(toy_joint):
    for wrong in (None, toy_joint, {"encoder": np.full((5, 1), 1.0)}):
        with pytest.raises(ValueError, match="IBSolution"):
            ib.prediction_measures(toy_joint, wrong)
    broken = types.SimpleNamespace(encoder=np.full((5, 1), np.nan), decoder=np.full((1, 2), 0.5))
    with pytest.raises(ValueError, match="NaN"):
        ib.prediction_measures(toy_joint, broken)
