"""The doctests of ``vdualib/`` (collected with ``--doctest-modules``, see setup.cfg): their namespace.

Every ``>>>`` example of the library runs as a doctest. Besides the names its module defines, an
example may use these common objects, made once and shared (only those a docstring names are
made, so the numpy-only modules' examples import no TensorFlow):

* ``np``, ``math``, ``os``, ``keras``, ``tf``, ``vdualib``;
* ``x_train, y_train`` and ``x_test, y_test``: the first 200 MNIST training and test images
  (uint8 ``(200, 28, 28)``) and labels, read from the real data in ``$VDUALIB_DATA_DIR``;
* ``model``: the zoo's trained ``mnist-dualib-mlp`` (an ``IBClassifier``), loaded once and shared
  by the examples that only read it (predict, encode, save, evaluate); an example that compiles
  or trains a model loads or builds its own;
* ``tmp``: a new empty folder for each docstring, which is also the working directory while it
  runs, so that examples writing ``runs/a`` or ``out/metrics.json`` write there, never into
  the repository.

The examples that train models are marked ``slow`` (:data:`SLOW_DOCTESTS`). This file sits at the
repository root, outside the installed package.
"""

import functools
import io
import os
import re
import sys
import tokenize

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")

# examples that train models (a few seconds each on a busy machine): in the slow tier, so that
# python -m pytest -q -m "not slow" leaves them out while python -m pytest -q runs them
SLOW_DOCTESTS = {
    "vdualib.commands.quickstart.run",
    "vdualib.information.stochastic_layer.stochastic_layer_study",
    "vdualib.information.twelve_bit",
    "vdualib.information.twelve_bit.run_seed",
    "vdualib.information.twelve_bit.summary_rows",
    "vdualib.information.twelve_bit.twelve_bit_study",
    "vdualib.information.callback",
    "vdualib.models.IBClassifier.fit",
    "vdualib.training",
}

NUM_IMAGES = 200


@functools.cache
def _mnist():
    from vdualib import datasets

    (x_train, y_train), (x_test, y_test) = datasets.load("mnist", download=False)
    return {
        "x_train": x_train[:NUM_IMAGES].copy(),
        "y_train": y_train[:NUM_IMAGES].copy(),
        "x_test": x_test[:NUM_IMAGES].copy(),
        "y_test": y_test[:NUM_IMAGES].copy(),
    }


def _module(name):
    import importlib

    return importlib.import_module(name)


@functools.cache
def _zoo_model():
    from vdualib import zoo

    return zoo.load("mnist-dualib-mlp", download=False)


_COMMON = {
    "np": lambda: _module("numpy"),
    "math": lambda: _module("math"),
    "os": lambda: _module("os"),
    "keras": lambda: _module("keras"),
    "tf": lambda: _module("tensorflow"),
    "vdualib": lambda: _module("vdualib"),
    "x_train": lambda: _mnist()["x_train"],
    "y_train": lambda: _mnist()["y_train"],
    "x_test": lambda: _mnist()["x_test"],
    "y_test": lambda: _mnist()["y_test"],
    "model": _zoo_model,
}


def _assigned(source):
    """The names the examples assign (``a = ...``, ``a, b = ...``, ``for a in``, ``with ... as a``)."""
    names = set()
    for line in source.splitlines():
        assignment = re.match(r"^\s*([\w\s,]+?)\s*=(?!=)", line)
        if assignment:
            names.update(re.findall(r"\w+", assignment.group(1)))
        names.update(re.findall(r"\bfor\s+(\w+)\s+in\b", line))
        names.update(re.findall(r"\bas\s+(\w+)", line))
    return names


def _read_names(source):
    """The names the examples' code reads (not in strings or comments, not attributes)."""
    names, previous = set(), None
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.NAME and not (previous and previous.string == "."):
                names.add(token.string)
            if token.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT):
                previous = token
    except (tokenize.TokenError, SyntaxError):
        return set(re.findall(r"\w+", source))
    return names


def _uses(source, name):
    """Whether the examples read ``name`` without assigning it themselves."""
    return name in _read_names(source) and name not in _assigned(source)


def pytest_collection_modifyitems(items):
    from _pytest.doctest import DoctestItem

    for item in items:
        if isinstance(item, DoctestItem) and item.name in SLOW_DOCTESTS:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _doctest_common_objects(request):
    """For doctest items only: the common objects the docstring names, and ``tmp`` as working directory."""
    from _pytest.doctest import DoctestItem

    if not isinstance(request.node, DoctestItem):
        yield
        return
    tmp_path = request.getfixturevalue("tmp_path")
    namespace = request.getfixturevalue("doctest_namespace")
    source = "\n".join(example.source for example in request.node.dtest.examples)
    for name, make in _COMMON.items():
        namespace.pop(name, None)
        if _uses(source, name):
            namespace[name] = make()
    namespace["tmp"] = str(tmp_path)
    request.getfixturevalue("monkeypatch").chdir(tmp_path)
    yield
    if "matplotlib.pyplot" in sys.modules:  # figures an example drew and did not save
        sys.modules["matplotlib.pyplot"].close("all")
