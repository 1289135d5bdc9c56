import numpy as np
import pytest

from scripts.lab import comparison, sweep
from vdualib import reports


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
    assert merged["provenance"]["sources"] == paths  # tmp_path lies outside the current folder: absolute
    rows = comparison.summary_rows(merged)
    deltas = {(d["measure"], d["versus"]): d for d in comparison.method_deltas(rows)}
    assert deltas[("accuracy", "vib")]["difference"] == pytest.approx(0.01)
    assert deltas[("accuracy", "vib")]["better"] is True
    assert deltas[("ece", "vib")]["better"] is False  # 0.03 > 0.02: lower is better
    assert deltas[("ece", "deterministic")]["better"] is True
    reports.write_json(paths[0], _record("d", "deterministic", 0.9, 0.05, seed=1))
    with pytest.raises(ValueError, match="differs .* in 'seed'"):
        comparison.merge_evaluations(paths)
    # one path, nothing, or what is not a list of paths is refused with what to pass
    for bad in (None, paths[0], 3):
        with pytest.raises(ValueError, match="list of metrics.json paths"):
            comparison.merge_evaluations(bad)
        with pytest.raises(ValueError, match="list of metrics.json paths"):
            comparison.merge_examples(bad)
    for bad in (None, {}, {"models": "d"}):
        with pytest.raises(ValueError, match="evaluation's results"):
            comparison.summary_rows(bad)
    for bad in (None, [None], [{"accuracy": 0.9}]):
        with pytest.raises(ValueError, match="rows must be summary_rows"):
            comparison.method_deltas(bad)


@pytest.mark.slow
def test_sweep_figure_draws_each_method_and_validates(tmp_path):
    import matplotlib.image

    from vdualib import plotting

    records = [
        {"method": m, "beta": b, "rate_bits": 100 / (1 + 1e3 * b), "izy_bits": 3 - b, "accuracy": 0.9 - b, "ece": b}
        for m in ("dualib", "vib")
        for b in (1e-2, 1e-4, 1e-3)  # unsorted: the lines follow the swept value
    ]
    figure = sweep.sweep_figure(records)
    plane, accuracy, calibration = figure.axes
    assert [line.get_label() for line in plane.get_lines()] == ["VIB", "VdualIB"]  # titles of vdualib.methods
    vib_line = plane.get_lines()[0]
    np.testing.assert_allclose(vib_line.get_xdata(), [100 / 1.1, 100 / 2, 100 / 11])
    np.testing.assert_allclose(vib_line.get_ydata(), [3 - 1e-4, 3 - 1e-3, 3 - 1e-2])
    np.testing.assert_allclose(accuracy.get_lines()[1].get_ydata(), [0.9 - 1e-4, 0.9 - 1e-3, 0.9 - 1e-2])
    np.testing.assert_allclose(calibration.get_lines()[0].get_xdata(), [1e-4, 1e-3, 1e-2])
    assert accuracy.get_xscale() == "log" and "beta" in accuracy.get_xlabel()
    plotting.pyplot().close(figure)
    smoothing = [dict(r, label_smoothing=r["beta"] * 10) for r in records]
    path = sweep.plot_sweep(smoothing, str(tmp_path / "ls.png"), parameter="label_smoothing")
    image = matplotlib.image.imread(path)
    assert image.shape[1] > 1000 and image[..., :3].std() > 0.05  # 15 inches wide at 110 dpi, not blank
    for values, message in (
        ([-1.0], "each beta value must be >= 0"),
        ([float("nan")], "each beta value must be a finite number"),
        ([1e-3, float("inf")], "each beta value must be a finite number"),
        (["big"], "each beta value must be a real number"),
        ("1e-3", "a non-empty list of numbers"),
        ([], "a non-empty list of numbers"),
        ([1e-3, 0.001], r"values \[0.001\] are repeated"),
    ):
        with pytest.raises(ValueError, match=message):
            sweep.beta_sweep(values, out_dir=str(tmp_path / "never"))
    with pytest.raises(ValueError, match="bad value for epochs"):
        sweep.beta_sweep([1e-3], overrides=["epochs=two"], out_dir=str(tmp_path / "never"))
    assert not (tmp_path / "never").exists()
    # a finished run of another recipe in the run's folder is refused, not reused
    (tmp_path / "runs" / "vib-beta0.001").mkdir(parents=True)
    reports.write_json(tmp_path / "runs" / "vib-beta0.001" / "train.json", {"recipe": {"beta": 0.001, "epochs": 99}})
    with pytest.raises(ValueError, match="holds a run of another recipe"):
        sweep.beta_sweep([1e-3], method_names=["vib"], out_dir=str(tmp_path / "runs"), progress=False)
    with pytest.raises(ValueError, match=r"label_smoothing values must lie in \(0, 1\)"):
        sweep.recipe_sweep("label_smoothing", [0.0, 0.1])
    with pytest.raises(ValueError, match="Unknown sweep 'latent_dim'"):
        sweep.recipe_sweep("latent_dim", [8])
    with pytest.raises(ValueError, match="Unknown method 'ib'"):
        sweep.recipe_sweep("beta", [1e-3], method_names=["ib"])


def _minimise_over_logits(objective, steps=3000, learning_rate=1.0):
    """Plain gradient descent on one logit vector; returns softmax of the result."""
    import tensorflow as tf

    logits = tf.Variable(tf.zeros([1, 3]))

    @tf.function
    def descend():
        for _ in tf.range(steps):
            with tf.GradientTape() as tape:
                value = objective(logits)
            logits.assign_sub(learning_rate * tape.gradient(value, logits))

    descend()
    return tf.nn.softmax(logits)[0].numpy()


@pytest.mark.slow
def test_dual_decoder_is_the_geometric_mean_of_the_smoothed_labels():
    """The claim of vdualib.sweep's docstring, on vdualib's own objectives: for an input whose
    label is y with probability p(y), E_y[dual_distortion(p~_y, logits)] = E_y[KL(q || p~_y)] is
    minimised by the normalised geometric mean q ∝ exp(E_y log p~_y) (overconfident for small
    eps), and E_y[cross_entropy(p~_y, logits)] by the arithmetic mean E_y[p~_y]."""
    import tensorflow as tf

    from vdualib import losses

    p = tf.constant([0.6, 0.3, 0.1])
    smoothed = losses.LabelSmoothing(3, epsilon=0.01)(tf.constant([0, 1, 2]))  # row y: p~_y, [3, 3]

    def expected(distortion):
        return lambda logits: tf.reduce_sum(p * distortion(smoothed, logits))  # logits [1, 3] broadcast over y

    dual = _minimise_over_logits(expected(losses.dual_distortion))
    vib = _minimise_over_logits(expected(losses.cross_entropy))
    geometric = np.exp(p.numpy() @ np.log(smoothed.numpy()))
    geometric /= geometric.sum()
    arithmetic = p.numpy() @ smoothed.numpy()
    np.testing.assert_allclose(dual, geometric, atol=2e-4)
    np.testing.assert_allclose(vib, arithmetic, atol=2e-4)
    assert geometric[0] > 0.8 and arithmetic[0] < 0.6  # the dual decoder is far more confident than p = 0.6
    assert np.abs(dual - arithmetic).max() > 0.2  # the two objectives really differ


def test_summary_rows_describe_confidence_without_scoring_it():
    records = [_record("v", "vib", 0.9, 0.02), _record("d", "dualib", 0.88, 0.05)]
    records[0]["models"][0]["reliability"] = {"confidence": [None, 0.5, 0.9], "count": [0, 2, 6]}
    records[1]["models"][0]["temperature_scaling"]["temperature"] = 1.5
    rows = comparison.summary_rows({"models": [r["models"][0] for r in records]})
    assert rows[0]["mean_confidence"] == pytest.approx((2 * 0.5 + 6 * 0.9) / 8)
    assert rows[1]["mean_confidence"] is None and rows[1]["ts_temperature"] == 1.5
    measures = {d["measure"] for d in comparison.method_deltas(rows)}
    assert "ece" in measures and not measures & {"mean_confidence", "ts_temperature"}


@pytest.fixture(scope="module")
def zoo_folder(tmp_path_factory, mnist):
    """A zoo folder with evaluations of three small, briefly trained MNIST models, one a method."""
    import keras

    import vdualib
    from vdualib import evaluation, methods, models

    folder = tmp_path_factory.mktemp("zoo")
    (x_train, y_train), _ = mnist
    for method in methods.names():
        model = vdualib.build_classifier(models.mlp_backbone(units=(16,)), 10, method=method, latent_dim=4, num_samples=2, seed=0)
        model.compile(optimizer=keras.optimizers.Adam(0.01))
        model.fit(x_train[:1000], y_train[:1000], epochs=2, batch_size=100, verbose=0)  # so that T can be fitted
        name = f"mnist-{method}-mlp"
        info = {"label": name, "name": name, "method": method, "source": "test", "sha256": "0" * 64, "num_samples": 2,
                "parameters": model.count_params()}  # fmt: skip
        results = evaluation.evaluate(
            [(model, info)], "mnist", corruption_names=["rotate"], severities=[1], ood=["uniform"], limit=120, progress=False,
            validation=(x_train[1000:1300], y_train[1000:1300]),  # as the zoo's: T fitted on a held-out split
        )  # fmt: skip
        evaluation.write_report(results, folder / "evaluations" / name)
    return folder


@pytest.mark.slow
def test_compare_zoo_joins_the_evaluations_of_each_data_set(zoo_folder, tmp_path):
    out = tmp_path / "compare"
    summary = comparison.compare_zoo(None, models_dir=zoo_folder, out_dir=str(out))
    assert list(summary["datasets"]) == ["mnist"]
    assert set(summary["skipped"]) == {"fashion_mnist", "cifar10"}  # no evaluations of theirs in this folder
    entry = summary["datasets"]["mnist"]
    assert [row["model"] for row in entry["rows"]] == ["mnist-deterministic-mlp", "mnist-vib-mlp", "mnist-dualib-mlp"]
    accuracy = {d["versus"]: d for d in entry["deltas"] if d["measure"] == "accuracy"}
    rows = {row["method"]: row for row in entry["rows"]}
    assert accuracy["vib"]["difference"] == pytest.approx(rows["dualib"]["accuracy"] - rows["vib"]["accuracy"])
    assert reports.read_json(out / "compare.json")["datasets"]["mnist"]["deltas"] == entry["deltas"]
    text = (out / "compare.md").read_text()
    wins = sum(d["better"] for d in entry["deltas"] if d["versus"] == "vib")
    total = sum(d["versus"] == "vib" for d in entry["deltas"])
    assert f"on {wins} of {total} measures than the VIB model" in text
    assert f"`{out / 'mnist' / 'report.md'}`" in text and (out / "mnist" / "reliability.png").exists()
    merged = reports.read_json(out / "mnist" / "metrics.json")
    assert [m["label"] for m in merged["models"]] == [row["model"] for row in entry["rows"]]
    with pytest.raises(FileNotFoundError, match="no data set has all its models"):
        comparison.compare_zoo(["cifar10"], models_dir=zoo_folder, out_dir=str(tmp_path / "none"))


@pytest.mark.slow
def test_the_compare_command(zoo_folder, tmp_path, capsys):
    from scripts import compare

    out = tmp_path / "out"
    assert compare.main(["--datasets", "mnist", "--models-dir", str(zoo_folder), "--out", str(out)]) == 0
    assert "VdualIB is better" in capsys.readouterr().out and (out / "compare.md").exists()
    files = [str(zoo_folder / "evaluations" / f"mnist-{m}-mlp" / "metrics.json") for m in ("vib", "dualib")]
    assert compare.main(["--evaluations", *files, "--out", str(tmp_path / "files")]) == 0
    summary = reports.read_json(tmp_path / "files" / "compare.json")
    assert {d["versus"] for d in summary["datasets"]["mnist"]["deltas"]} == {"vib"}
    taken = tmp_path / "taken"
    taken.write_text("x")
    assert compare.main(["--models-dir", str(zoo_folder), "--out", str(taken)]) == 2
    assert "is an existing file" in capsys.readouterr().err
    assert compare.main(["--evaluations", *files, "--reevaluate", "--out", str(tmp_path / "x")]) == 2
    assert "drop it" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        compare.main(["--help"])
    assert "--models-dir" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.parametrize("methods", [("vib",), ("dualib",), ("deterministic", "vib")])
def test_a_verdict_names_only_the_methods_compared(zoo_folder, tmp_path, capsys, methods):
    from scripts import compare
    from vdualib import methods as vmethods

    files = [str(zoo_folder / "evaluations" / f"mnist-{m}-mlp" / "metrics.json") for m in methods]
    assert compare.main(["--evaluations", *files, "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    written = (tmp_path / "compare.md").read_text()
    for text in (printed, written):
        assert "is better" not in text and "than the" not in text and "No verdict" in text
        assert all(vmethods.get(m).title in text.split("No verdict")[1] for m in methods)
    assert reports.read_json(tmp_path / "compare.json")["datasets"]["mnist"]["deltas"] == []


def test_schedule_note_names_the_fields_that_differ():
    same = {"epochs": 30, "optimizer": "adam", "augment": "none"}
    assert comparison.schedule_note([{"name": "a", "recipe": same}, {"name": "b", "recipe": dict(same, beta=1e-2)}]) is None
    note = comparison.schedule_note([{"name": "a", "recipe": same}, {"name": "b", "recipe": dict(same, epochs=200, augment="crop")}])
    assert "a: epochs=30, augment=none; b: epochs=200, augment=crop" in note and "optimizer" not in note
    # what each model was trained towards is named, from its card's recipe
    from vdualib import recipes

    smoothed = dict(recipes.RECIPES["cifar10-vib-resnet20"], label_noise="smoothing", label_smoothing=0.1)
    cards = [{"name": "cifar10-vib-resnet20", "recipe": smoothed}, {"name": "cifar10-dualib-resnet20", "recipe": recipes.RECIPES["cifar10-dualib-resnet20"]}]
    assert comparison.targets_note(cards) == (
        "Trained towards: cifar10-vib-resnet20: smoothed by 0.1; "
        "cifar10-dualib-resnet20: confusion p~ of cifar10-deterministic-resnet20."
    )
    assert comparison.targets_note([{"name": "a"}]) == "Trained towards: a: not recorded." and comparison.targets_note([]) is None


@pytest.mark.slow
def test_compare_zoo_says_when_the_models_schedules_differ(zoo_folder, tmp_path):
    import shutil

    folder = tmp_path / "zoo"
    shutil.copytree(zoo_folder, folder)
    (folder / "cards").mkdir()
    for method, epochs in (("deterministic", 200), ("vib", 30), ("dualib", 30)):
        name = f"mnist-{method}-mlp"
        reports.write_json(folder / "cards" / f"{name}.json", {"name": name, "recipe": {"epochs": epochs, "optimizer": "adam"}})
    comparison.compare_zoo(["mnist"], models_dir=folder, out_dir=str(tmp_path / "out"))
    text = (tmp_path / "out" / "compare.md").read_text()
    assert "> The models were trained under different schedules (mnist-deterministic-mlp: epochs=200; mnist-vib-mlp: epochs=30" in text
    assert "> Trained towards: mnist-deterministic-mlp: not recorded; mnist-vib-mlp: not recorded" in text
    reports.write_json(folder / "cards" / "mnist-deterministic-mlp.json", {"name": "mnist-deterministic-mlp", "recipe": {"epochs": 30, "optimizer": "adam"}})
    comparison.compare_zoo(["mnist"], models_dir=folder, out_dir=str(tmp_path / "again"))
    assert "different schedules" not in (tmp_path / "again" / "compare.md").read_text()


@pytest.mark.slow
def test_compare_gives_clean_differences_a_paired_bootstrap_interval(zoo_folder, tmp_path):
    import shutil

    from vdualib.evaluation import examples

    out = tmp_path / "compare"
    entry = comparison.compare_zoo(["mnist"], models_dir=zoo_folder, out_dir=str(out))["datasets"]["mnist"]
    for delta in entry["deltas"]:
        if delta["measure"] in examples.MEASURES or delta["measure"].startswith("auroc_"):
            low, high = delta["interval"]
            assert low <= delta["difference"] <= high  # recorded at evaluation: the same predictions as the table
            assert delta["beyond_noise"] == (low > 0 or high < 0)
        else:
            assert delta["interval"] is None and delta["beyond_noise"] is None  # the ECE under corruption
    with_interval = {d["measure"] for d in entry["deltas"] if d["interval"]}
    assert with_interval >= {"accuracy", "ece", "ece_after_ts", "auroc_uniform_entropy"}
    _, scores, _ = examples.read_examples(zoo_folder / "evaluations" / "mnist-vib-mlp" / examples.EXAMPLES_FILE)
    vib = next(row for row in entry["rows"] if row["method"] == "vib")
    assert examples.measure(scores["mnist-vib-mlp"], "ece_after_ts") == pytest.approx(vib["ece_after_ts"], abs=1e-12)
    assert any("paired bootstrap over the test examples" in note for note in entry["notes"])
    text = (out / "compare.md").read_text()
    assert "95% interval" in text and "differences with an interval" in text
    assert not (out / "mnist" / examples.EXAMPLES_FILE).exists()  # the merged report has no per-example record
    import matplotlib.image

    assert matplotlib.image.imread(out / "differences.png").shape[0] > 100  # each interval drawn, oriented
    with pytest.raises(ValueError, match="no difference has a bootstrap interval"):
        comparison.differences_figure({"datasets": {"mnist": dict(entry, deltas=[])}}, tmp_path / "none.png")

    # a record whose model is not the one metrics.json describes is refused
    stale = tmp_path / "stale"
    shutil.copytree(zoo_folder, stale)
    path = stale / "evaluations" / "mnist-vib-mlp" / "metrics.json"
    record = reports.read_json(path)
    record["models"][0]["sha256"] = "f" * 64
    reports.write_json(path, record)
    with pytest.raises(ValueError, match="sha256 differs"):
        comparison.compare_zoo(["mnist"], models_dir=stale, out_dir=str(tmp_path / "x"))

    # evaluations from before the records: the comparison still runs, without intervals, and says so
    (zoo_folder / "evaluations" / "mnist-vib-mlp" / examples.EXAMPLES_FILE).rename(tmp_path / "kept.npz")
    try:
        entry = comparison.compare_zoo(["mnist"], models_dir=zoo_folder, out_dir=str(tmp_path / "old"))["datasets"]["mnist"]
    finally:
        (tmp_path / "kept.npz").rename(zoo_folder / "evaluations" / "mnist-vib-mlp" / examples.EXAMPLES_FILE)
    assert all(d["interval"] is None for d in entry["deltas"])
    assert not (tmp_path / "old" / "differences.png").exists()
    assert any("No per-example scores" in note and "mnist-vib-mlp" in note for note in entry["notes"])


@pytest.mark.slow
def test_an_evaluation_of_several_models_compares_with_its_own_intervals(tmp_path):
    import vdualib
    from vdualib import evaluation, methods, models

    pairs = []
    for method in methods.names():
        model = vdualib.build_classifier(models.mlp_backbone(units=(16,)), 10, method=method, latent_dim=4, num_samples=2, seed=1)
        pairs.append((model, {"label": method, "method": method, "sha256": None, "num_samples": 2, "parameters": 1}))
    results = evaluation.evaluate(pairs, "mnist", corruption_names="none", ood=["uniform"], limit=150, num_bins=5, progress=False)
    entry = comparison.compare_results(results, tmp_path)
    with_interval = {(d["measure"], d["versus"]) for d in entry["deltas"] if d["interval"]}
    assert {("accuracy", "vib"), ("auroc_uniform_entropy", "deterministic"), ("auroc_uniform_rate", "vib")} <= with_interval
    assert (tmp_path / "examples.npz").exists()  # the evaluation's own record, beside its report
    # the interval's ECE is binned as the evaluation's table is (5 bins here)
    from vdualib.evaluation import examples

    scores = {r["label"]: r["scores"] for r in results["examples"]["records"]}
    ece = next(d for d in entry["deltas"] if d["measure"] == "ece" and d["versus"] == "vib")
    expected = examples.paired_interval(scores["dualib"], scores["vib"], "ece", num_bins=5)
    assert ece["interval"] == [expected["low"], expected["high"]]
    assert examples.measure(scores["dualib"], "ece", 5) == pytest.approx(results["models"][2]["clean"]["ece"])
