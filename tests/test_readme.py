"""The README does what it says: its main job runs and reports the zoo model it names, its Python
examples run against the library as it is, its generated blocks match their result files, and
CI runs its commands.

Python blocks run in README order in one namespace (a later block may use an earlier block's
names, as a reader would), in a temporary folder. They run on the first 1,000 training and 200
test images for one epoch: the test checks that every statement works (names, signatures,
saving and loading), not the numbers, which the zoo and model tests check. A block fenced
```` ```python fragment ```` is part of a larger program: it is compiled and its imports run.
"""

import configparser
import os
import re
import shlex

import pytest

from scripts import update_readme

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FENCE = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```\s*$", re.S | re.M)


def _readme():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        return f.read()


def _blocks(language):
    """``(info string after the language, code)`` of every fenced block of ``language``, in order."""
    return [(m.group(2).strip(), m.group(3)) for m in FENCE.finditer(_readme()) if m.group(1) == language]


def main_job():
    """The README's main job: ``(install command, environment, command, arguments)`` of the last
    line of its first bash block, ``<install> && [VAR=value ...] command args``."""
    code = _blocks("bash")[0][1]
    line = [raw for raw in code.splitlines() if raw.strip() and not raw.lstrip().startswith("#")][-1]
    install, run = (part.strip() for part in line.split("&&", 1))
    words = shlex.split(run)
    env = {}
    while "=" in words[0] and not words[0].startswith("-"):
        key, value = words.pop(0).split("=", 1)
        env[key] = value
    return install, env, words[0], words[1:]


def test_readme_blocks_are_current(capsys):
    assert update_readme.main(["--check"]) == 0, capsys.readouterr().out


def test_the_first_bash_block_is_the_main_job_on_a_zoo_model():
    code = _blocks("bash")[0][1]
    assert code.lstrip().startswith("# main job"), code
    install, env, command, args = main_job()
    assert install == "pip install -e ."
    assert set(env) == {"VDUALIB_DATA_DIR"}
    config = configparser.ConfigParser(interpolation=None)
    config.read(os.path.join(ROOT, "setup.cfg"), encoding="utf-8")
    assert f"\n{command} = " in "\n" + config["options.entry_points"]["console_scripts"].strip(), command


def test_the_main_job_reports_the_zoo_model_it_names(tmp_path, monkeypatch, capsys):
    """Runs the main job's command in-process, from the repository root, with its own arguments
    except ``--out`` (a temporary folder)."""
    import importlib

    from vdualib import reports, zoo

    _, env, command, args = main_job()
    monkeypatch.chdir(ROOT)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert os.path.isdir(os.environ["VDUALIB_DATA_DIR"]), "the README's data folder must exist beside the repository"
    out = tmp_path / "main-job"
    args = list(args)
    args[args.index("--out") + 1] = str(out)
    config = configparser.ConfigParser(interpolation=None)
    config.read(os.path.join(ROOT, "setup.cfg"), encoding="utf-8")
    scripts = dict(line.split(" = ") for line in config["options.entry_points"]["console_scripts"].strip().splitlines())
    module, function = scripts[command].split(":")
    assert getattr(importlib.import_module(module), function)(args) == 0

    printed = capsys.readouterr().out
    name = args[args.index("--model") + 1]
    record = reports.read_json(out / "metrics.json")
    (result,) = record["models"]
    assert result["name"] == name and result["sha256"] == zoo.sha256(name)
    card = zoo.card(name)["evaluation"]["test"]
    # the same model on the same test split: only the Monte Carlo draws of z differ
    assert result["clean"]["accuracy"] == pytest.approx(card["accuracy"], abs=0.003)
    assert result["clean"]["ece"] == pytest.approx(card["ece"], abs=0.005)
    assert f"{result['clean']['accuracy']:.4f}" in printed
    assert (out / "report.md").is_file() and (out / "reliability.png").stat().st_size > 0


def test_ci_runs_the_readme_test_command_and_main_job():
    with open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8") as f:
        ci = f.read()
    tests = [code for info, code in _blocks("bash") if code.lstrip().startswith("# tests")]
    assert len(tests) == 1
    command = [line for line in tests[0].splitlines() if line.strip() and not line.startswith("#")][-1].strip()
    assert command in [line.strip() for line in ci.splitlines()]  # run as written, on a line of its own
    assert "main_job" in ci and "README.md" in ci  # the main job is read from the README when CI runs


def _small_data(load):
    """``vdualib.datasets.load`` cut to 1,000 training and 200 test images."""

    def small(*args, **kwargs):
        (x_train, y_train), (x_test, y_test) = load(*args, **kwargs)
        return (x_train[:1000], y_train[:1000]), (x_test[:200], y_test[:200])

    return small


def _one_epoch(fit):
    def fit_once(self, *args, **kwargs):
        kwargs["epochs"] = 1
        kwargs["verbose"] = 0
        return fit(self, *args, **kwargs)

    return fit_once


def test_the_python_examples_run(tmp_path, monkeypatch):
    import keras

    import vdualib
    from vdualib import datasets

    blocks = _blocks("python")
    assert blocks, "the README has no Python example"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(datasets, "load", _small_data(datasets.load))
    monkeypatch.setattr(keras.Model, "fit", _one_epoch(keras.Model.fit))
    namespace = {"__name__": "readme"}
    for number, (info, code) in enumerate(blocks, 1):
        compiled = compile(code, f"README.md python block {number}", "exec")
        if info == "fragment":
            imports = [line for line in code.splitlines() if re.match(r"(from \S+ )?import ", line)]
            exec(compile("\n".join(imports), f"README.md python block {number} (imports)", "exec"), {})
            continue
        assert info == "", f"python block {number}: unknown fence option {info!r} (use 'fragment' or nothing)"
        exec(compiled, namespace)
    assert namespace.get("vdualib", vdualib) is vdualib
