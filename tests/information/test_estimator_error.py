"""The estimator-error study: its statistics on hand-made cases, its default cases near their truths."""

import math

import pytest

from vdualib.information.estimator_error import ERROR_COLUMNS, ErrorCase, default_cases, error_markdown, estimator_error


def test_estimator_error_statistics():
    fixed = ErrorCase("offset", "I", "toy", 1.0, lambda n, seed: {"estimate": 1.0 + seed})
    sampled = ErrorCase("bounds", "I", "toy", None,
                        lambda n, seed: {"lower": seed - 1.0, "upper": seed + 1.0, "truth": float(seed), "truth_se": 0.1 * seed})
    rows = estimator_error([fixed, sampled], sizes=[10, 20], repeats=3)
    assert [(r["estimator"], r["n"]) for r in rows] == [
        ("offset", 10), ("offset", 20), ("bounds: lower", 10), ("bounds: upper", 10), ("bounds: lower", 20), ("bounds: upper", 20)]
    first = rows[0]  # estimates 1, 2, 3 against truth 1
    assert first["bias"] == pytest.approx(1.0) and first["rmse"] == pytest.approx(math.sqrt(5 / 3))
    assert first["std"] == pytest.approx(1.0) and first["mean_estimate"] == pytest.approx(2.0)
    lower = rows[2]  # per-sample truth: the error is -1 each time
    assert lower["bias"] == pytest.approx(-1.0) and lower["rmse"] == pytest.approx(1.0)
    assert lower["truth"] == pytest.approx(1.0) and lower["truth_se"] == pytest.approx(0.2)
    text = error_markdown(rows, repeats=3)
    assert text.startswith("Estimator error against ground truth (bits; 3 seeds per row;")
    assert "standard error <= 0.200 bits" in text
    assert "| " + " | ".join(ERROR_COLUMNS) + " |" in text
    with pytest.raises(ValueError, match="repeats"):
        estimator_error([fixed], [10], repeats=0)


@pytest.mark.slow
def test_default_cases_estimate_near_their_truths():
    cases = default_cases(noise_variance=0.1, truth_draws=1)
    assert len(cases) == 9
    rows = estimator_error([cases[0], cases[3], cases[7]], sizes=[1500], repeats=1)
    by_name = {r["estimator"]: r for r in rows}
    assert abs(by_name["KSG (k=3)"]["bias"]) < 0.1
    assert abs(by_name["binning (30 bins, observed range)"]["bias"]) < 0.1
    assert by_name["InfoNCE / leave-one-out: lower"]["mean_estimate"] <= by_name["InfoNCE / leave-one-out: upper"]["mean_estimate"]
    assert abs(by_name["InfoNCE / leave-one-out: lower"]["bias"]) < 0.1
