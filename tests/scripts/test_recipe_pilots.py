"""Tests of ``python -m scripts.recipe_pilots``: the pilots' names and score, the choice rule on hand-made
pilot records (stage 1 by score, a stage-2 change adopted only beyond one binomial standard error of the
stage-1 best, incomplete pilots, ties), reading run folders written as ``vdualib.training.train`` writes
them, the Markdown and the figure of the report, the arguments, and whole runs with the training
replaced (``--report-only`` on finished folders; the two stages resumed and skipped as the folders say)."""

import csv
import json
import math
import os

import pytest

from scripts import recipe_pilots as rp
from vdualib import recipes, reports

STAGE1 = ["weight_decay=0.001", "weight_decay=0.0025", "weight_decay=0.005"]
LOG_COLUMNS = ["epoch", "accuracy", "distortion", "izy", "loss", "val_accuracy", "val_distortion", "val_izy", "val_loss"]


def _history(val_accuracies):
    """A training history as ``train`` records it: epochs from 1, the training and validation metrics."""
    return [
        {"epoch": number + 1, "accuracy": 0.5 + 0.01 * number, "distortion": 1.5 - 0.1 * number, "izy": 0.8,
         "loss": 1.5 - 0.1 * number, "val_accuracy": value, "val_distortion": 2.0, "val_izy": 0.3, "val_loss": 2.0}
        for number, value in enumerate(val_accuracies)
    ]


def _write_pilot(folder, val_accuracies, finished, epochs=None):
    """A pilot's run folder as ``vdualib.training.train`` leaves it: ``log.csv`` (epochs from 0), a
    ``checkpoint.json`` after every epoch and, once the run has finished, ``train.json`` (both with the
    history, epochs from 1)."""
    folder.mkdir(parents=True, exist_ok=True)
    history = _history(val_accuracies)
    recipe = {"epochs": epochs or len(history), "weight_decay": 0.005, "validation_size": 5000}
    with open(folder / "log.csv", "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, LOG_COLUMNS)
        writer.writeheader()
        writer.writerows(dict(row, epoch=row["epoch"] - 1) for row in history)
    checkpoint = {"history": history, "name": rp.NAME, "recipe": recipe, "precision": "float32",
                  "label_noise_source": {"kind": "none"}, "epochs_done": len(history), "train_seconds": 60.0 * len(history),
                  "random_states": [], "model_sha256": "0" * 64}
    (folder / "checkpoint.json").write_text(json.dumps(checkpoint), encoding="utf-8")
    if finished:
        record = {"name": rp.NAME, "recipe": recipe, "label_noise_source": {"kind": "none"}, "precision": "float32",
                  "strategy": "default", "replicas": 1, "history": history, "train_seconds": 60.0 * len(history),
                  "hardware": "x86_64, 2 CPU cores, no GPU", "parameters": 278202, "file_bytes": 1, "sha256": "0" * 64,
                  "data_split": "cifar10 train split: 45000 examples for training, 5000 held out for validation (seed 0)"}
        (folder / "train.json").write_text(json.dumps(record), encoding="utf-8")


def _result(changes, score, finished=True):
    return {"changes": changes, "score": score, "finished": finished}


def _results(decay_scores, stage2_scores=(), best_decay=None, finished=True):
    """``choose``'s input: the three stage-1 pilots and the stage-2 pilots named in ``stage2_scores``."""
    results = {rp.pilot_name({"weight_decay": d}): _result({"weight_decay": d}, s) for d, s in zip(rp.DECAYS, decay_scores)}
    for label, score in dict(stage2_scores).items():
        changes = rp.stage2(best_decay)[label]
        results[rp.pilot_name(changes)] = _result(changes, score, finished)
    return results


def test_pilot_names_are_the_run_folders_names():
    assert [rp.pilot_name(changes) for changes in rp.stage1()] == STAGE1
    assert {label: rp.pilot_name(changes) for label, changes in rp.stage2(0.005).items()} == {
        "ema": "weight_decay=0.005,weight_ema=0.999",
        "warmup": "lr_warmup_epochs=2,weight_decay=0.005",
    }


def test_stage2_changes_one_setting_at_a_time_from_the_best_decay():
    assert rp.stage2(0.0025) == {
        "ema": {"weight_decay": 0.0025, "weight_ema": 0.999},
        "warmup": {"weight_decay": 0.0025, "lr_warmup_epochs": 2},
    }


def test_the_score_is_the_mean_validation_accuracy_of_the_last_three_epochs():
    assert rp.score(_history([0.1, 0.2, 0.6, 0.7, 0.8])) == pytest.approx(0.7)
    assert rp.score(_history([0.6, 0.7, 0.8])) == pytest.approx(0.7)
    assert rp.score(_history([0.6, 0.7])) is None
    assert rp.score([]) is None
    # epochs without a validation accuracy do not count
    assert rp.score(_history([0.6, 0.7]) + [{"epoch": 3, "accuracy": 0.9}]) is None


def test_stage1_takes_the_highest_score():
    choice = rp.choose(_results([0.80, 0.83, 0.81], {"ema": 0.83, "warmup": 0.83}, best_decay=0.0025), 5000)
    assert choice["stage1_best"] == {"weight_decay": 0.0025}
    assert choice["margin"] == pytest.approx(math.sqrt(0.83 * 0.17 / 5000))
    assert choice == {"stage1_best": {"weight_decay": 0.0025}, "adopted": {"weight_decay": 0.0025},
                      "margin": choice["margin"], "complete": True}


def test_a_tie_in_stage1_goes_to_the_smaller_decay():
    choice = rp.choose(_results([0.80, 0.83, 0.83], {"ema": 0.0, "warmup": 0.0}, best_decay=0.0025), 5000)
    assert choice["stage1_best"] == {"weight_decay": 0.0025} and choice["complete"]


def test_a_stage2_change_is_adopted_only_beyond_one_standard_error():
    # a = 0.5, n = 10,000: the standard error is exactly 0.005
    margin = math.sqrt(0.5 * 0.5 / 10000)
    assert margin == 0.005
    scores = {"ema": 0.5 + margin + 1e-9, "warmup": 0.5 + margin}
    choice = rp.choose(_results([0.5, 0.4, 0.3], scores, best_decay=0.001), 10000)
    assert choice["margin"] == margin
    assert choice["adopted"] == {"weight_decay": 0.001, "weight_ema": 0.999}  # the warm-up only ties the bar


def test_both_stage2_changes_are_adopted_when_both_beat_the_bar():
    choice = rp.choose(_results([0.80, 0.81, 0.85], {"ema": 0.87, "warmup": 0.86}, best_decay=0.005), 5000)
    assert choice["adopted"] == {"weight_decay": 0.005, "weight_ema": 0.999, "lr_warmup_epochs": 2}


def test_the_standard_error_is_that_of_the_stage1_best_on_the_validation_split():
    # 0.5499 is 0.0499 above 0.5: within the best's standard error at n = 100 (0.05), beyond the
    # candidate's own (sqrt(0.5499 x 0.4501 / 100) = 0.04975)
    choice = rp.choose(_results([0.5, 0.3, 0.3], {"ema": 0.5499, "warmup": 0.0}, best_decay=0.001), 100)
    assert choice["margin"] == pytest.approx(0.05) and choice["adopted"] == {"weight_decay": 0.001}
    # the same scores on a larger validation split: the bar is lower and the change is adopted
    choice = rp.choose(_results([0.5, 0.3, 0.3], {"ema": 0.5499, "warmup": 0.0}, best_decay=0.001), 400)
    assert choice["margin"] == pytest.approx(0.025) and choice["adopted"] == {"weight_decay": 0.001, "weight_ema": 0.999}


def test_an_unfinished_stage1_chooses_nothing():
    results = _results([0.80, 0.83, 0.90])
    results["weight_decay=0.005"]["finished"] = False
    assert rp.choose(results, 5000) == {"stage1_best": None, "adopted": None, "margin": None, "complete": False}
    del results["weight_decay=0.005"]
    assert rp.choose(results, 5000)["complete"] is False


def test_an_unfinished_stage2_names_the_stage1_best_and_adopts_nothing():
    running = rp.choose(_results([0.80, 0.83, 0.81], {"ema": 0.95, "warmup": 0.95}, best_decay=0.0025, finished=False), 5000)
    assert running["stage1_best"] == {"weight_decay": 0.0025}
    assert running["adopted"] is None and running["complete"] is False and running["margin"] > 0
    missing = rp.choose(_results([0.80, 0.83, 0.81], {"ema": 0.95}, best_decay=0.0025), 5000)
    assert missing["adopted"] is None and missing["complete"] is False


def test_stage2_pilots_of_another_decay_do_not_count():
    results = _results([0.80, 0.83, 0.81], {"ema": 0.95, "warmup": 0.95}, best_decay=0.005)
    choice = rp.choose(results, 5000)
    assert choice["stage1_best"] == {"weight_decay": 0.0025} and choice["complete"] is False


def test_read_pilot_tells_finished_running_and_unstarted_folders(tmp_path):
    _write_pilot(tmp_path / "finished", [0.4, 0.5, 0.6, 0.7], finished=True)
    _write_pilot(tmp_path / "running", [0.4, 0.5], finished=False, epochs=4)
    history, finished = rp.read_pilot(tmp_path / "finished")
    assert finished is True and [h["val_accuracy"] for h in history] == [0.4, 0.5, 0.6, 0.7]
    history, finished = rp.read_pilot(tmp_path / "running")
    assert finished is False and [h["epoch"] for h in history] == [1, 2]
    assert rp.read_pilot(tmp_path / "absent") == ([], False)
    # a run stopped before its first checkpoint has a log but no history to read
    (tmp_path / "started").mkdir()
    (tmp_path / "started" / "log.csv").write_text(",".join(LOG_COLUMNS) + "\n", encoding="utf-8")
    assert rp.read_pilot(tmp_path / "started") == ([], False)


def test_read_pilot_takes_train_json_over_an_older_checkpoint(tmp_path):
    _write_pilot(tmp_path / "p", [0.4, 0.5, 0.6, 0.7], finished=True)
    stale = json.loads((tmp_path / "p" / "checkpoint.json").read_text())
    stale["history"] = stale["history"][:2]
    (tmp_path / "p" / "checkpoint.json").write_text(json.dumps(stale))
    history, finished = rp.read_pilot(tmp_path / "p")
    assert finished and len(history) == 4


def test_collect_summarises_each_pilot_folder(tmp_path):
    _write_pilot(tmp_path / "weight_decay=0.001", [0.5, 0.6, 0.7, 0.8], finished=True)
    _write_pilot(tmp_path / "weight_decay=0.0025", [0.5, 0.6], finished=False, epochs=4)
    results = rp.collect(str(tmp_path), rp.stage1(), {"epochs": 4})
    assert list(results) == STAGE1
    first = results["weight_decay=0.001"]
    assert first["changes"] == {"weight_decay": 0.001}
    assert first["recipe_overrides"] == {"epochs": 4, "weight_decay": 0.001}
    assert first["finished"] is True and first["epochs_done"] == 4
    assert first["score"] == pytest.approx(0.7)
    assert first["curve"][0] == {"epoch": 1, "accuracy": 0.5, "val_accuracy": 0.5, "loss": 1.5, "val_loss": 2.0}
    assert [h["epoch"] for h in first["curve"]] == [1, 2, 3, 4]
    running = results["weight_decay=0.0025"]
    assert (running["finished"], running["epochs_done"], running["score"]) == (False, 2, None)
    assert results["weight_decay=0.005"] == {
        "changes": {"weight_decay": 0.005}, "recipe_overrides": {"epochs": 4, "weight_decay": 0.005},
        "finished": False, "epochs_done": 0, "score": None, "curve": [],
    }


def _record(tmp_path, stage2=True):
    """A report record from folders: stage 1 finished (0.005 best), the EMA pilot two epochs in."""
    for decay, top in zip(rp.DECAYS, (0.80, 0.82, 0.85)):
        _write_pilot(tmp_path / rp.pilot_name({"weight_decay": decay}), [0.5, top, top, top], finished=True)
    if stage2:
        _write_pilot(tmp_path / "weight_decay=0.005,weight_ema=0.999", [0.2, 0.3], finished=False, epochs=4)
    pilots = rp.stage1() + list(rp.stage2(0.005).values())
    results = rp.collect(str(tmp_path), pilots, {"epochs": 4})
    return {"name": rp.NAME, "epochs": 4, "validation_size": 5000, "rule": rp.RULE, "note": "A note.",
            "pilots": results, "choice": rp.choose(results, 5000)}


def test_render_lists_every_pilot_and_the_pending_choice(tmp_path):
    text = rp.render(_record(tmp_path))
    lines = text.splitlines()
    assert lines[0] == (f"Recipe pilots of `{rp.NAME}` (`scripts/recipe_pilots.py`): each pilot is the recipe shortened "
                        "to 4 epochs with the changes named; validation split of 5000 held-out training examples. A note.")
    assert f"Rule: {rp.RULE}" in lines
    assert "| weight_decay=0.005 | 4/4 | 0.8500 | 0.8500 | 0.5300 |" in lines
    assert "| weight_decay=0.001 | 4/4 | 0.8000 | 0.8000 | 0.5300 |" in lines
    assert "| weight_decay=0.005,weight_ema=0.999 | 2/4 (running) | - | 0.3000 | 0.5100 |" in lines
    assert "| lr_warmup_epochs=2,weight_decay=0.005 | 0/4 (not started) | - | - | - |" in lines
    assert lines[-1] == "Choice: pending (stage-1 best: weight_decay=0.005)"
    assert text.endswith("\n")


def test_render_states_the_adopted_recipe_and_the_margin(tmp_path):
    record = _record(tmp_path, stage2=False)
    record["choice"] = rp.choose(_results([0.80, 0.82, 0.85], {"ema": 0.86, "warmup": 0.85}, best_decay=0.005), 5000)
    assert rp.render(record).splitlines()[-1] == (
        "Choice: **weight_decay=0.005,weight_ema=0.999** (stage-1 best weight_decay=0.005; a stage-2 change had to "
        "beat its score by more than one standard error, 0.0050)"
    )
    record["choice"] = rp.choose({}, 5000)
    assert rp.render(record).splitlines()[-1] == "Choice: pending (stage-1 best: none yet)"


def test_plot_writes_a_png_of_the_curves(tmp_path):
    record = _record(tmp_path / "runs")
    rp.plot(record, str(tmp_path / "pilots.png"))
    assert (tmp_path / "pilots.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_help_states_the_rule_and_the_options(help_text):
    out = help_text(rp.parse_args)
    assert out.startswith("usage: recipe_pilots")
    for option in ("--runs", "--out", "--epochs", "--precision", "--report-only", "--set"):
        assert option in out
    assert "one binomial standard error" in out


def test_arguments_defaults_and_refusals(capsys):
    args = rp.parse_args(["--runs", "r"])
    assert (args.epochs, args.precision, args.out, args.report_only, args.set) == (20, "float32", rp.DEFAULT_OUT, False, [])
    for argv, message in ((["--runs", "r", "--epochs", "3"], "--epochs must be at least 4"),
                          ([], "the following arguments are required: --runs"),
                          (["--runs", "r", "--precision", "float16"], "argument --precision: invalid choice")):
        with pytest.raises(SystemExit) as exit_info:
            rp.parse_args(argv)
        assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_report_only_writes_the_json_markdown_and_figure_from_the_folders(tmp_path, capsys):
    runs, out = tmp_path / "runs", tmp_path / "out"
    for decay, top in zip(rp.DECAYS, (0.80, 0.86, 0.85)):
        _write_pilot(runs / rp.pilot_name({"weight_decay": decay}), [0.5, top, top, top], finished=True)
    _write_pilot(runs / "weight_decay=0.0025,weight_ema=0.999", [0.5, 0.87, 0.87, 0.87], finished=True)
    _write_pilot(runs / "lr_warmup_epochs=2,weight_decay=0.0025", [0.5, 0.864, 0.864, 0.864], finished=True)
    _write_pilot(runs / "weight_decay=0.005,weight_ema=0.999", [0.5, 0.99, 0.99, 0.99], finished=True)  # not its stage 2
    assert rp.main(["--runs", str(runs), "--out", str(out), "--epochs", "4", "--report-only"]) == 0
    folder = out / rp.NAME
    record = reports.read_json(folder / "pilots.json")
    assert record["epochs"] == 4 and record["validation_size"] == 5000 and record["rule"] == rp.RULE
    assert record["base_overrides"] == {"epochs": 4}
    assert list(record["pilots"]) == STAGE1 + ["weight_decay=0.0025,weight_ema=0.999", "lr_warmup_epochs=2,weight_decay=0.0025"]
    # the bar: 0.86 + sqrt(0.86 x 0.14 / 5000) = 0.8649; EMA (0.87) clears it, the warm-up (0.864) does not
    assert record["choice"] == {"stage1_best": {"weight_decay": 0.0025},
                                "adopted": {"weight_decay": 0.0025, "weight_ema": 0.999},
                                "margin": pytest.approx(math.sqrt(0.86 * 0.14 / 5000)), "complete": True}
    text = (folder / "pilots.md").read_text(encoding="utf-8")
    assert text == rp.render(record) and text in capsys.readouterr().out
    assert (folder / "pilots.png").stat().st_size > 1000


def test_a_run_trains_stage1_then_stage2_from_the_best_decay_resuming_and_skipping(tmp_path, monkeypatch, capsys):
    from vdualib import training

    runs = tmp_path / "runs"
    quality = {(0.001, 0.0, 0): 0.80, (0.0025, 0.0, 0): 0.83, (0.005, 0.0, 0): 0.81,
               (0.0025, 0.999, 0): 0.84, (0.0025, 0.0, 2): 0.831}
    calls = []

    def fake_train(recipe, out, resume, precision, data_dir, name, verbose):
        key = (recipe["weight_decay"], recipe["weight_ema"], recipe["lr_warmup_epochs"])
        calls.append((out.rsplit("/", 1)[-1], resume, recipe["epochs"], recipe["train_size"], precision, name))
        _write_pilot(tmp_path / "runs" / out.rsplit("/", 1)[-1], [0.5] + [quality[key]] * (recipe["epochs"] - 1), finished=True)

    monkeypatch.setattr(training, "train", fake_train)
    monkeypatch.setattr(rp, "plot", lambda record, path: None)
    _write_pilot(runs / "weight_decay=0.001", [0.5, 0.80, 0.80, 0.80], finished=True)  # done: skipped
    _write_pilot(runs / "weight_decay=0.0025", [0.5], finished=False, epochs=4)  # stopped: resumed
    argv = ["--runs", str(runs), "--out", str(tmp_path / "out"), "--epochs", "4", "--set", "train_size=512"]
    assert rp.main(argv) == 0
    assert calls == [
        ("weight_decay=0.0025", True, 4, 512, "float32", rp.NAME),
        ("weight_decay=0.005", False, 4, 512, "float32", rp.NAME),
        ("weight_decay=0.0025,weight_ema=0.999", False, 4, 512, "float32", rp.NAME),
        ("lr_warmup_epochs=2,weight_decay=0.0025", False, 4, 512, "float32", rp.NAME),
    ]
    out = capsys.readouterr().out
    assert "recipe_pilots: resuming weight_decay=0.0025" in out and "recipe_pilots: starting weight_decay=0.005" in out
    record = reports.read_json(tmp_path / "out" / rp.NAME / "pilots.json")
    assert record["base_overrides"] == {"epochs": 4, "train_size": 512}
    assert record["pilots"]["weight_decay=0.005"]["recipe_overrides"] == {"epochs": 4, "train_size": 512, "weight_decay": 0.005}
    # the warm-up's 0.831 is within 0.0053 of 0.83; the EMA's 0.84 is beyond it
    assert record["choice"]["adopted"] == {"weight_decay": 0.0025, "weight_ema": 0.999}
    # run again: every pilot has finished, nothing is trained
    calls.clear()
    assert rp.main(argv) == 0 and calls == []


def test_the_cifar10_recipes_are_the_committed_pilots_choice():
    """The measured choice is what the zoo trains: the three CIFAR-10 recipes carry the adopted decay
    (on the kernels only, no second coupled L2 in the backbone) and leave each change not adopted off."""
    record = reports.read_json(os.path.join(rp.report_folder(), "pilots.json"))
    assert record["choice"]["complete"] and record["rule"] == rp.RULE
    adopted = record["choice"]["adopted"]
    assert set(adopted) >= {"weight_decay"} and adopted["weight_decay"] in rp.DECAYS
    stage2_keys = {key for change in rp.STAGE2.values() for key in change}  # weight_ema, lr_warmup_epochs: 0 is off
    for method in ("deterministic", "vib", "dualib"):
        recipe = recipes.get_recipe(f"cifar10-{method}-resnet20")
        assert recipe["weight_decay"] == adopted["weight_decay"]
        assert recipe["weight_decay_scope"] == "kernels" and recipe["backbone_l2"] == 0.0
        for key in stage2_keys:
            assert recipe[key] == adopted.get(key, 0), key


def test_the_committed_report_is_rendered_from_the_committed_json():
    folder = rp.report_folder()
    with open(os.path.join(folder, "pilots.md"), encoding="utf-8") as file:
        assert file.read() == rp.render(reports.read_json(os.path.join(folder, "pilots.json")))
