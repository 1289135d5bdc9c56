"""What ``pip install .`` installs: the commands, the packages, the dependencies they import.

Read from ``setup.cfg`` (the one place they are declared), checked against the source tree and
the environment. ``.ci/run`` also installs the package non-editably in a fresh environment and
runs every command from outside the repository.
"""

import ast
import configparser
import importlib
import importlib.metadata
import os
import re
import subprocess
import sys
import sysconfig

import pytest
from setuptools import find_packages

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMANDS = ("train", "evaluate", "quickstart")
#: lines TensorFlow prints at start-up on a CPU machine, which the commands must not show
STARTUP_NOISE = re.compile(r"cuInit|oneDNN|cudart|absl::InitializeLog|cpu_feature_guard")


def _setup_cfg():
    config = configparser.ConfigParser(interpolation=None)
    config.read(os.path.join(ROOT, "setup.cfg"), encoding="utf-8")
    return config


def _lines(value):
    return [line.strip() for line in value.replace(",", "\n").splitlines() if line.strip() and not line.strip().startswith("#")]


def _console_scripts():
    """``{command: "module:function"}`` from setup.cfg."""
    entries = _lines(_setup_cfg()["options.entry_points"]["console_scripts"])
    return dict(tuple(part.strip() for part in entry.split("=", 1)) for entry in entries)


def _distribution_name(requirement):
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_the_commands_are_the_documented_ones_and_thin_modules_of_vdualib_commands():
    scripts = _console_scripts()
    assert sorted(scripts) == sorted(f"vdualib-{name}" for name in COMMANDS)
    for command, target in scripts.items():
        module = command.removeprefix("vdualib-").replace("-", "_")
        assert target == f"vdualib.commands.{module}:main", command


@pytest.mark.parametrize("command", [f"vdualib-{name}" for name in COMMANDS])
def test_every_command_resolves_and_its_help_exits_zero(command, capsys):
    module_name, function = _console_scripts()[command].split(":")
    main = getattr(importlib.import_module(module_name), function)
    assert callable(main)
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"usage: {command}"), printed[:200]


def test_packages_are_every_vdualib_package_and_nothing_else():
    options = _setup_cfg()["options"]
    assert options["packages"].strip() == "find:"
    assert "package_dir" not in options, "no package may be mapped from outside vdualib/ (scripts/ is not installed)"
    include = _lines(_setup_cfg()["options.packages.find"]["include"])
    packages = set(find_packages(where=ROOT, include=include))
    on_disk = set()
    for folder, dirs, files in os.walk(os.path.join(ROOT, "vdualib")):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        if any(f.endswith(".py") for f in files):
            name = os.path.relpath(folder, ROOT).replace(os.sep, ".")
            assert "__init__.py" in files, f"{name} holds modules but no __init__.py, so it would not be installed"
            on_disk.add(name)
    assert packages == on_disk
    assert {"vdualib.commands", "vdualib.evaluation", "vdualib.ib", "vdualib.information", "vdualib.ntk"} <= packages


def _imports(path):
    """Top-level names of the absolute imports in a source file (also those inside functions)."""
    tree = ast.parse(open(path, encoding="utf-8").read(), filename=path)
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _library_sources():
    for folder, dirs, files in os.walk(os.path.join(ROOT, "vdualib")):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        yield from (os.path.join(folder, f) for f in files if f.endswith(".py"))


@pytest.mark.slow
def test_install_requires_covers_every_import_of_the_installed_code():
    config = _setup_cfg()
    required = {_distribution_name(r) for r in _lines(config["options"]["install_requires"])}
    # what an extra brings (e.g. [jax]): imported only on its backend, so it may be absent here
    optional = {_distribution_name(r) for extra in config["options.extras_require"].values() for r in _lines(extra)}
    providers = importlib.metadata.packages_distributions()
    missing = {}
    for path in _library_sources():
        for name in _imports(path) - set(sys.stdlib_module_names) - {"vdualib"}:
            assert name != "scripts", f"{path} imports the repository-only scripts/, which is not installed"
            distributions = {_distribution_name(d) for d in providers.get(name, [])}
            if not distributions and name in optional:
                continue
            assert distributions, f"{path} imports {name}, which no installed distribution provides"
            if distributions <= optional:
                continue
            if not distributions & required:
                missing.setdefault(name, set()).add(os.path.relpath(path, ROOT))
    assert not missing, f"imported at run time but not in install_requires: {missing}"


def test_the_installed_entry_points_are_those_of_setup_cfg():
    # the environment's own metadata (a vdualib.egg-info left in the working folder would shadow it)
    (installed,) = [d for d in importlib.metadata.distributions(path=[sysconfig.get_path("purelib")]) if d.name == "vdualib"]
    scripts = {ep.name: ep.value for ep in installed.entry_points if ep.group == "console_scripts"}
    assert scripts == _console_scripts(), "the environment is stale: reinstall with pip install -e ."


def _installed_command(name):
    path = os.path.join(sysconfig.get_path("scripts"), name)
    assert os.path.isfile(path), f"{name} is not installed in {sysconfig.get_path('scripts')}; pip install -e ."
    return path


@pytest.mark.slow
def test_a_command_that_loads_tensorflow_is_quiet_and_still_reports_errors(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "GRPC_VERBOSITY")}
    command = _installed_command("vdualib-train")  # its --help lists recipes and precisions, so it imports TensorFlow
    shown = subprocess.run([command, "--help"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert shown.returncode == 0 and shown.stdout.startswith("usage: vdualib-train"), shown.stderr
    noise = [line for line in shown.stderr.splitlines() if STARTUP_NOISE.search(line)]
    assert not noise, noise

    unknown = subprocess.run([command, "--recipe", "no-such-recipe", "--out", str(tmp_path / "run")], env=env,
                             cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert unknown.returncode == 2, unknown.stderr
    assert "vdualib-train: error: " in unknown.stderr and "no-such-recipe" in unknown.stderr, unknown.stderr
    assert not [line for line in unknown.stderr.splitlines() if STARTUP_NOISE.search(line)]

