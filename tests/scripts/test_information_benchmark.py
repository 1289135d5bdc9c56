"""Tests of the information benchmark functions (scripts.lab.information_benchmark); the ground truths and the
estimator-error study it reports are tested in tests/information/."""


import pytest

from scripts.lab.information_benchmark import best_and_median, callback_overhead, estimator_speed, speed_markdown


def test_best_and_median_and_estimator_speed():
    calls = []
    best, median = best_and_median(lambda: calls.append(1), 3)
    assert len(calls) == 3 and 0 <= best <= median
    speed = estimator_speed(repeats=1, kde_points=100, kde_units=4)
    for key in ("binning_6_layers_4096", "kde_10000x256"):
        assert 0 < speed[key]["best_seconds"] <= speed[key]["median_seconds"]


@pytest.mark.slow
def test_callback_overhead_ratios_are_consistent(data_dir):
    from vdualib.datasets import load_ib_12bit

    x, y = load_ib_12bit(data_dir)
    study = callback_overhead(x, y, epochs=2, repeats=1)
    assert study["recorded_epochs"] == 3  # epochs 0, 1, 2
    assert study["callback_overhead_ratio"] == pytest.approx(study["training_with_callback_seconds"] / study["training_only_seconds"])
    assert study["callback_overhead_ratio_same_stops"] == pytest.approx(
        study["training_with_callback_seconds"] / study["training_with_schedule_stops_seconds"])
    assert study["callback_measuring_fraction"] == pytest.approx(min(study["all_measuring_fractions"]))
    assert study["callback_measuring_fraction"] > 0
    speed = {"binning_6_layers_4096": {"median_seconds": 0.125}, "kde_10000x256": {"median_seconds": 2.5},
             "twelve_bit_study": study}
    text = speed_markdown(speed)
    assert "| binning, 6 layers x 4,096 examples (one recorded epoch) | 0.125 |" in text
    assert f"{100 * study['callback_measuring_fraction']:.1f}% of the training time" in text
