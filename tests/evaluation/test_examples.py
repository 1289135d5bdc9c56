"""Per-example scores, their file, and paired bootstrap intervals between two models (the
``two_models`` fixture of tests/conftest.py)."""

import numpy as np
import pytest

from vdualib import calibration, metrics
from vdualib.evaluation import examples


def _probs(noise, labels, signal):
    logits = noise.copy()
    logits[np.arange(labels.size), labels] += signal
    probs = np.exp(logits)
    return probs / probs.sum(axis=1, keepdims=True)


def test_per_example_scores_add_up_to_the_metrics(two_models):
    labels, probs, _ = two_models
    scores = metrics.per_example_scores(probs, labels)
    assert np.mean(scores["correct"]) == pytest.approx(metrics.accuracy(probs, labels))
    assert np.mean(scores["nll"]) == pytest.approx(metrics.nll(probs, labels))
    assert np.mean(scores["brier"]) == pytest.approx(metrics.brier(probs, labels))
    for bins in (1, 15, 40):
        assert float(metrics.top_label_ece(scores["confidence"], scores["correct"], bins)) == pytest.approx(
            metrics.expected_calibration_error(probs, labels, bins), abs=1e-12
        )
        assert examples.measure(scores, "ece", bins) == pytest.approx(metrics.expected_calibration_error(probs, labels, bins))
    for name, function in (("accuracy", metrics.accuracy), ("nll", metrics.nll), ("brier", metrics.brier)):
        assert examples.measure(scores, name) == pytest.approx(function(probs, labels))


@pytest.mark.slow
def test_the_interval_matches_a_hand_bootstrap_and_says_when_it_excludes_zero(two_models):
    labels, probs_a, probs_b = two_models
    a, b = metrics.per_example_scores(probs_a, labels), metrics.per_example_scores(probs_b, labels)
    result = examples.paired_interval(a, b, "accuracy")
    assert result["difference"] == pytest.approx(metrics.accuracy(probs_a, labels) - metrics.accuracy(probs_b, labels))
    # the same resampling by hand: one index set for both models
    rng = np.random.default_rng(1)
    diff = a["correct"].astype(float) - b["correct"].astype(float)
    index = rng.integers(0, labels.size, size=(2000, labels.size))
    low, high = np.percentile(diff[index].mean(axis=1), [2.5, 97.5])
    width = high - low
    assert result["low"] == pytest.approx(low, abs=0.15 * width)
    assert result["high"] == pytest.approx(high, abs=0.15 * width)
    assert result["low"] < result["difference"] < result["high"]
    assert result["beyond_noise"] is True  # signal 3 against 2.6 on the same examples
    # paired: far narrower than treating the two models as independent samples
    unpaired = 1.96 * np.sqrt(a["correct"].var() + b["correct"].var()) / np.sqrt(labels.size)
    assert width / 2 < unpaired
    ece = examples.paired_interval(a, b, "ece")
    assert ece["difference"] == pytest.approx(
        metrics.expected_calibration_error(probs_a, labels) - metrics.expected_calibration_error(probs_b, labels)
    )
    assert ece["low"] <= ece["difference"] <= ece["high"]


@pytest.mark.slow
def test_a_model_against_itself_is_within_the_noise(two_models):
    labels, probs, _ = two_models
    scores = examples.example_record("a", None, probs, labels, temperature=1.3)["scores"]
    scores.update(shift_correct=scores["correct"][:500], shift_nll=scores["nll"][:500])  # as with corruptions
    scores.update(
        shift_condition_confidence=np.stack([scores["confidence"][:500]] * 2),
        shift_condition_correct=np.stack([scores["correct"][:500]] * 2),
    )
    for name in examples.MEASURES:
        result = examples.paired_interval(scores, scores, name)
        assert result["difference"] == 0.0 and result["low"] == 0.0 and result["high"] == 0.0
        assert result["beyond_noise"] is False


def test_the_interval_refuses_bad_requests(two_models):
    labels, probs_a, probs_b = two_models
    a, b = metrics.per_example_scores(probs_a, labels), metrics.per_example_scores(probs_b[:100], labels[:100])
    with pytest.raises(ValueError, match="same examples"):
        examples.paired_interval(a, b, "accuracy")
    with pytest.raises(ValueError, match="unknown measure"):
        examples.paired_interval(a, a, "auroc")
    with pytest.raises(ValueError, match="unknown bootstrap options"):
        examples.paired_interval(a, a, "nll", resamples=10)
    for level in (0, 1, 1.5, float("nan"), "0.9"):
        with pytest.raises(ValueError, match="confidence_level"):
            examples.paired_interval(a, a, "nll", confidence_level=level)
    with pytest.raises(ValueError, match="num_resamples"):
        examples.paired_interval(a, a, "nll", num_resamples=0)
    for bad in (None, [0.5], "scores"):
        with pytest.raises(ValueError, match="one model's entry of read_examples"):
            examples.paired_interval(a, bad, "accuracy")
        with pytest.raises(ValueError, match="one model's entry of read_examples"):
            examples.measure(bad, "accuracy")
        with pytest.raises(ValueError, match="one model's entry of read_examples"):
            examples.interval_available("accuracy", bad)


def test_the_record_round_trips_and_refuses_foreign_files(two_models, tmp_path):
    labels, probs_a, probs_b = two_models
    records = [examples.example_record("a", "1" * 64, probs_a, labels), examples.example_record("b", None, probs_b, labels)]
    path = tmp_path / "examples.npz"
    examples.write_examples(path, labels, records, "mu")
    read_labels, scores, info = examples.read_examples(path)
    assert np.array_equal(read_labels, labels)
    assert info == {"models": ["a", "b"], "sha256": {"a": "1" * 64, "b": ""}, "prediction": "mu", "source": "evaluation"}
    assert scores["b"]["correct"].dtype == bool
    assert np.array_equal(scores["a"]["nll"], metrics.per_example_scores(probs_a, labels)["nll"])
    assert [p.name for p in tmp_path.iterdir()] == ["examples.npz"]  # no temporary file left

    with pytest.raises(FileNotFoundError, match="evaluate the models again"):
        examples.read_examples(tmp_path / "none.npz")
    with pytest.raises(ValueError, match="one entry per label"):
        examples.write_examples(tmp_path / "x.npz", labels[:10], records, "mu")
    with pytest.raises(ValueError, match="at least one"):
        examples.write_examples(tmp_path / "x.npz", labels, [], "mu")
    # what the reader would refuse is not written
    damaged = examples.example_record("a", None, probs_a, labels)
    damaged["scores"]["nll"] = np.where(np.arange(labels.size) == 5, np.inf, damaged["scores"]["nll"])
    twice = [examples.example_record("a", None, probs_a, labels)] * 2
    for contents, expected in (([damaged], "non-finite"), (twice, "unique")):
        with pytest.raises(ValueError, match=expected):
            examples.write_examples(tmp_path / "x.npz", labels, contents, "mu")
    with pytest.raises(ValueError, match="source must be"):
        examples.write_examples(tmp_path / "x.npz", labels, records, "mu", source="guessed")
    assert not (tmp_path / "x.npz").exists()
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(ValueError, match="not a per-example record"):
        examples.read_examples(tmp_path / "text.npz")
    np.savez(tmp_path / "objects.npz", labels=np.array([object()], dtype=object))
    with pytest.raises(ValueError, match="not a per-example record"):
        examples.read_examples(tmp_path / "objects.npz")  # pickled objects are never loaded
    with np.load(path) as data:
        arrays = {key: data[key] for key in data.files}
    np.savez(tmp_path / "partial.npz", **{k: v for k, v in arrays.items() if k != "brier"})
    with pytest.raises(ValueError, match="lacks"):
        examples.read_examples(tmp_path / "partial.npz")
    arrays["nll"] = arrays["nll"].copy()
    arrays["nll"][0, 3] = np.nan
    np.savez(tmp_path / "nan.npz", **arrays)
    with pytest.raises(ValueError, match="non-finite"):
        examples.read_examples(tmp_path / "nan.npz")
    arrays["nll"][0, 3] = 0.1
    arrays["models"] = np.array(["a", "a"])
    np.savez(tmp_path / "twice.npz", **arrays)
    with pytest.raises(ValueError, match="unique"):
        examples.read_examples(tmp_path / "twice.npz")


@pytest.mark.slow
def test_auroc_intervals_resample_both_sets_with_the_same_indices_for_both_models(two_models, tmp_path):
    labels, probs_a, probs_b = two_models
    rng = np.random.default_rng(3)
    out_probs = _probs(rng.normal(size=(1500, 10)), rng.integers(0, 10, 1500), 0.5)  # confused: OOD-like
    records = []
    for label, probs in (("a", probs_a), ("b", probs_b)):
        record = examples.example_record(label, None, probs, labels, metrics.uncertainty_scores(probs))
        record["scores"]["uncertainty"]["noise"] = metrics.uncertainty_scores(out_probs if label == "a" else 0.5 * (out_probs + probs_b[:1500]))
        records.append(record)
    path = tmp_path / "examples.npz"
    examples.write_examples(path, labels, records, "samples")
    _, scores, _ = examples.read_examples(path)
    a, b = scores["a"], scores["b"]
    for name in ("auroc_noise_entropy", "auroc_noise_max_probability"):
        _, score = name.split("_noise_")
        uncertainty = records[0]["scores"]["uncertainty"]
        expected = metrics.ood_auroc(uncertainty["test"][score], uncertainty["noise"][score])
        assert examples.measure(a, name) == pytest.approx(expected)
        result = examples.paired_interval(a, b, name)
        assert result["difference"] == pytest.approx(expected - examples.measure(b, name))
        assert result["low"] <= result["difference"] <= result["high"]
        assert examples.paired_interval(a, a, name)["beyond_noise"] is False
    assert examples.interval_available("auroc_noise_entropy", a, b)
    assert not examples.interval_available("auroc_noise_rate", a, b)  # no rate recorded
    assert not examples.interval_available("shift_ece", a, b)
    with pytest.raises(ValueError, match="no scores for 'auroc_noise_rate'"):
        examples.paired_interval(a, b, "auroc_noise_rate")
    with pytest.raises(ValueError, match="no scores for 'ece'"):
        examples.measure({"correct": a["correct"]}, "ece")
    for scores_in, scores_out in (([0.1, np.nan], [0.2]), ([], [0.2]), ([[0.1, 0.2]], [0.3]), ([0.1], [np.inf])):
        with pytest.raises(ValueError):
            metrics.mann_whitney_auroc(scores_in, scores_out)
    with pytest.raises(ValueError, match="prediction must be one of"):
        examples.write_examples(tmp_path / "x.npz", labels, records, "median")
    test_a, noise_a, noise_b = (x["uncertainty"][s]["entropy"] for x, s in ((a, "test"), (a, "noise"), (b, "noise")))
    stacked = metrics.mann_whitney_auroc(np.stack([test_a, test_a]), np.stack([noise_a, noise_b]))
    assert stacked[1] == pytest.approx(metrics.ood_auroc(test_a, noise_b))
    records[0]["scores"]["uncertainty"]["bad__name"] = {"entropy": np.ones(3)}
    with pytest.raises(ValueError, match="free of"):
        examples.write_examples(tmp_path / "x.npz", labels, records, "samples")
    records[0]["scores"]["uncertainty"].pop("bad__name")
    records[0]["scores"]["uncertainty"]["noise"] = {"entropy": np.full(3, np.nan)}
    with pytest.raises(ValueError, match="finite"):
        examples.write_examples(tmp_path / "x.npz", labels, records, "samples")
    assert not (tmp_path / "x.npz").exists()


@pytest.mark.slow
def test_the_ece_after_temperature_scaling_gets_an_interval_when_t_came_from_a_validation_split(two_models, tmp_path):
    labels, probs_a, probs_b = two_models
    a = examples.example_record("a", None, probs_a, labels, temperature=1.7)
    b = examples.example_record("b", None, probs_b, labels, temperature=0.8)
    plain = examples.example_record("plain", None, probs_b, labels)  # T fitted on half of the test split: no ts_*
    for record, probs, temperature in ((a, probs_a, 1.7), (b, probs_b, 0.8)):
        scaled = calibration.apply_temperature(probs, temperature)
        for bins in (5, 15):
            expected = metrics.expected_calibration_error(scaled, labels, bins)
            assert examples.measure(record["scores"], "ece_after_ts", bins) == pytest.approx(expected, abs=1e-12)
    # the scaled ECE is not the clean one: a temperature of 1.7 changes the confidences
    assert examples.measure(a["scores"], "ece_after_ts") != pytest.approx(examples.measure(a["scores"], "ece"), abs=1e-3)
    path = tmp_path / "examples.npz"
    examples.write_examples(path, labels, [a, b, plain], "samples")
    _, scores, _ = examples.read_examples(path)
    assert scores["a"]["ts_correct"].dtype == bool and np.array_equal(scores["a"]["ts_confidence"], a["scores"]["ts_confidence"])
    assert "ts_confidence" not in scores["plain"]
    result = examples.paired_interval(scores["a"], scores["b"], "ece_after_ts")
    assert result["difference"] == pytest.approx(
        examples.measure(scores["a"], "ece_after_ts") - examples.measure(scores["b"], "ece_after_ts")
    )
    assert result["low"] <= result["difference"] <= result["high"]
    assert examples.interval_available("ece_after_ts", scores["a"], scores["b"])
    assert not examples.interval_available("ece_after_ts", scores["a"], scores["plain"])
    with pytest.raises(ValueError, match="no scores for 'ece_after_ts'"):
        examples.paired_interval(scores["a"], scores["plain"], "ece_after_ts")
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="temperature"):
            examples.example_record("a", None, probs_a, labels, temperature=bad)

    # half a pair, a damaged array or one of no model is refused, on writing and on reading
    half = examples.example_record("half", None, probs_a, labels, temperature=1.7)
    half["scores"].pop("ts_correct")
    with pytest.raises(ValueError, match="both or neither"):
        examples.write_examples(tmp_path / "x.npz", labels, [half], "mu")
    with np.load(path) as data:
        arrays = {key: data[key] for key in data.files}
    damaged = {
        "only one": {k: v for k, v in arrays.items() if k != "ts_correct__1"},
        "outside": dict(arrays, ts_confidence__0=np.where(np.arange(labels.size) == 3, np.nan, arrays["ts_confidence__0"])),
        "boolean": dict(arrays, ts_correct__0=arrays["ts_correct__0"].astype(float)),
        "no model": dict(arrays, ts_confidence__7=arrays["ts_confidence__0"]),
        "shape": dict(arrays, ts_confidence__0=arrays["ts_confidence__0"][:10]),
        "numbers": dict(arrays, brier=arrays["brier"].astype(str)),
    }
    for expected, contents in damaged.items():
        np.savez(tmp_path / "damaged.npz", **contents)
        with pytest.raises(ValueError, match=expected):
            examples.read_examples(tmp_path / "damaged.npz")


def test_the_per_example_record_does_not_reach_back_into_the_loop():
    """loop imports examples, so examples names the prediction modes itself."""
    import ast

    from vdualib.evaluation import examples, loop

    tree = ast.parse(open(examples.__file__, encoding="utf-8").read())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
    assert not any(name.startswith("vdualib.evaluation") for name in imported)
    assert loop.PREDICTIONS is examples.PREDICTIONS
    with pytest.raises(ValueError, match="prediction must be one of"):
        examples.write_examples("unused.npz", [0], [], "median")


@pytest.mark.slow
def test_the_shift_ece_is_the_mean_of_the_corrupted_splits_eces_and_gets_a_paired_interval(two_models, tmp_path):
    labels, probs_a, probs_b = two_models
    rng = np.random.default_rng(5)
    splits = [_probs(rng.normal(size=(labels.size, 10)), labels, signal) for signal in (0.5, 1.5, 3.0)]
    records = [examples.example_record(name, None, probs, labels) for name, probs in (("a", probs_a), ("b", probs_b))]
    for record, shift in zip(records, (splits, splits[::-1])):
        per_split = [metrics.per_example_scores(p, labels) for p in shift]
        record["scores"]["shift_correct"] = np.mean([s["correct"] for s in per_split], axis=0)
        record["scores"]["shift_nll"] = np.mean([s["nll"] for s in per_split], axis=0)
        record["scores"]["shift_condition_confidence"] = np.stack([s["confidence"] for s in per_split])
        record["scores"]["shift_condition_correct"] = np.stack([s["correct"] for s in per_split])
    expected = np.mean([metrics.expected_calibration_error(p, labels, 15) for p in splits])
    assert examples.measure(records[0]["scores"], "shift_ece") == pytest.approx(expected, abs=1e-12)
    # the same splits in another order: the same shift ECE, and a paired difference of exactly 0
    same = examples.paired_interval(records[0]["scores"], records[1]["scores"], "shift_ece", num_resamples=200)
    assert same["difference"] == pytest.approx(0.0, abs=1e-12) and abs(same["low"]) < 1e-12 and abs(same["high"]) < 1e-12
    examples.write_examples(tmp_path / "examples.npz", labels, records, "samples")
    _, scores, _ = examples.read_examples(tmp_path / "examples.npz")
    assert scores["a"]["shift_condition_correct"].dtype == bool
    assert examples.measure(scores["a"], "shift_ece") == pytest.approx(expected, abs=1e-12)
    # against a model that is better calibrated on every split, the interval excludes zero
    calibrated = dict(records[1]["scores"], shift_condition_confidence=np.stack(
        [np.where(c, 0.999, 0.001) for c in records[1]["scores"]["shift_condition_correct"]]))
    better = examples.paired_interval(records[0]["scores"], calibrated, "shift_ece", num_resamples=200)
    assert better["difference"] > 0 and better["beyond_noise"]
    # records of earlier evaluations hold no per-split scores: no interval, said clearly
    old = {k: v for k, v in records[0]["scores"].items() if not k.startswith("shift_condition")}
    assert not examples.interval_available("shift_ece", old)
    with pytest.raises(ValueError, match="no scores for 'shift_ece'"):
        examples.measure(old, "shift_ece")
    half = dict(records[0], scores=dict(records[0]["scores"]))
    del half["scores"]["shift_condition_correct"]
    with pytest.raises(ValueError, match="some records have"):
        examples.write_examples(tmp_path / "x.npz", labels, [half, records[1]], "samples")
