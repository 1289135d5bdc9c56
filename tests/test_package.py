"""The package as a whole (``vdualib/__init__.py`` and the import graph of its modules).

* no import cycle among ``vdualib`` modules, counting imports inside functions too;
* every module imports at its top, except the optional heavy dependencies listed here;
* a plain ``import vdualib`` is enough for ``keras.saving.load_model`` on every zoo file, and
  importing the numpy-only tools imports no TensorFlow.
"""

import ast
import glob
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "vdualib")
#: what a module may import inside a function: heavy and only needed by one optional feature, or
#: by one Keras backend (JAX, and the TFP substrate that matches the backend)
OPTIONAL_HEAVY = {"matplotlib", "jax", "tensorflow_probability"}
#: modules that the numpy-only tools (ib, ntk, the information estimators) import, or that choose
#: per Keras backend, and that may therefore import TensorFlow inside the functions that need it
LIGHT_MODULES = {"vdualib.checks", "vdualib.datasets", "vdualib.backend"}
TENSORFLOW = {"tensorflow", "keras"}


def _modules():
    """{dotted module name: path} of every module of the package."""
    found = {}
    for folder, dirs, files in os.walk(PACKAGE):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                dotted = os.path.relpath(path, ROOT)[: -len(".py")].replace(os.sep, ".")
                found[dotted.removesuffix(".__init__")] = path
    return found


def _imported(node, module, is_package):
    """The dotted names an import statement can bind: ``a.b`` and ``a.b.c`` for ``from a.b import c``."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        parts = module.split(".")
        base = parts if is_package else parts[:-1]
        base = base[: len(base) - node.level + 1]
        prefix = ".".join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module
    return [prefix] + [f"{prefix}.{alias.name}" for alias in node.names]


def _import_graph():
    """(edges {module: set of vdualib modules it imports}, inner {module: [(line, name)]} of
    imports inside function bodies)."""
    modules = _modules()
    edges, inner = {m: set() for m in modules}, {}
    for module, path in modules.items():
        tree = ast.parse(open(path, encoding="utf-8").read(), filename=path)
        functions = [node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
        in_functions = {id(inner) for function in functions for inner in ast.walk(function)}
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            names = _imported(node, module, path.endswith("__init__.py"))
            allowed = OPTIONAL_HEAVY | (TENSORFLOW if module in LIGHT_MODULES else set())
            if id(node) in in_functions and not any(n.split(".")[0] in allowed for n in names):
                inner.setdefault(module, []).append((node.lineno, names[0]))
            for name in names:
                if name in modules and name != module:
                    edges[module].add(name)
    return edges, inner


def _cycles(edges):
    """Strongly connected components with more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for succ in edges[node]:
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def _package_edges(edges):
    """Edges between modules, without a package's edges to its own submodules (its ``__init__``
    re-exporting them is no cycle) and without edges into a parent package."""
    return {
        m: {t for t in targets if not t.startswith(m + ".") and not m.startswith(t + ".")}
        for m, targets in edges.items()
    }


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_among_vdualib_modules():
    edges, _ = _import_graph()
    assert "vdualib.registration" in edges["vdualib"], "the graph reads vdualib/__init__.py"
    assert _cycles(_package_edges(edges)) == []


def test_every_module_imports_at_its_top():
    _, inner = _import_graph()
    assert inner == {}, f"imports inside functions (move them to the module's top): {inner}"


@pytest.mark.slow  # fresh Python processes that import TensorFlow
def test_a_plain_import_vdualib_loads_every_zoo_file_with_keras():
    files = sorted(glob.glob(os.path.join(ROOT, "models", "*.keras")))
    assert len(files) == 9
    code = (
        "import sys, keras, vdualib\n"
        "for path in sys.argv[1:]:\n"
        "    model = keras.saving.load_model(path, safe_mode=True)\n"
        "    print(type(model).__name__, model.count_params() > 0)\n"
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-c", code, *files], capture_output=True, text=True, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split("\n")[:-1] == ["IBClassifier True"] * len(files)


@pytest.mark.slow  # fresh Python processes that import TensorFlow
def test_the_numpy_only_tools_import_no_tensorflow_and_keras_finds_the_classes_whenever_it_loads():
    code = (
        "import sys, vdualib, vdualib.ib, vdualib.ntk, vdualib.information as i\n"
        "i.binned_information, i.kde_information, i.ksg_mi\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n"
        "import vdualib.metrics, keras\n"  # Keras first imported by a module that registers classes
        "print(sorted(k for k in keras.saving.get_custom_objects() if k.startswith('vdualib>'))[:3])\n"
        "print(keras.saving.get_registered_object('vdualib>IBClassifier').__name__)\n"
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[0] == "False False" and lines[2] == "IBClassifier", lines


# --- one test file per library module -----------------------------------------------------------
# tests/test_<module>.py tests vdualib/<module>.py and tests/<subpackage>/test_<module>.py tests
# vdualib/<subpackage>/<module>.py (each such folder an __init__.py, so that equal basenames
# such as test_plots.py import as distinct modules); tests/scripts/test_<name>.py tests
# scripts/<name>.py or scripts/lab/<name>.py. The package's __init__.py files are tested by the
# package-level files.

TESTS = os.path.join(ROOT, "tests")
#: test files of the package as a whole, not of one module
PACKAGE_LEVEL_TESTS = {"test_package.py", "test_packaging.py", "test_readme.py"}


def _expected_test_files():
    """{test file relative to tests/: the module relative to vdualib/ it must test}."""
    expected = {}
    for dotted, path in _modules().items():
        if path.endswith("__init__.py"):
            continue
        parts = dotted.split(".")[1:]
        expected[os.path.join(*parts[:-1], f"test_{parts[-1]}.py")] = os.path.relpath(path, PACKAGE)
    return expected


def _unmatched(expected, found, allowed):
    """``(modules without their test file, test files that name no module)``."""
    missing = sorted(f"{module} (wants tests/{test})" for test, module in expected.items() if test not in found)
    orphans = sorted(f"tests/{test}" for test in found if test not in expected and test not in allowed)
    return missing, orphans


def test_every_library_module_has_its_test_file_and_every_test_file_names_a_module():
    library = {
        os.path.relpath(path, TESTS)
        for path in glob.glob(os.path.join(TESTS, "**", "test_*.py"), recursive=True)
        if os.path.relpath(path, TESTS).split(os.sep)[0] != "scripts"
    }
    expected = _expected_test_files()
    assert "evaluation/test_loop.py" in expected and "test_zoo.py" in expected and "ib/test_curve.py" in expected
    missing, orphans = _unmatched(expected, library, PACKAGE_LEVEL_TESTS)
    assert not missing, f"library modules without a test file: {missing}"
    assert not orphans, f"test files that name no vdualib module: {orphans}"
    folders = {os.path.dirname(test) for test in library} - {""}
    assert all(os.path.isfile(os.path.join(TESTS, folder, "__init__.py")) for folder in folders), folders
    lab = [os.path.basename(p) for p in glob.glob(os.path.join(TESTS, "scripts", "test_*.py"))]
    assert lab, "the lab's tests live in tests/scripts"
    unnamed = [test for test in lab if not any(
        os.path.isfile(os.path.join(ROOT, "scripts", *sub, test[len("test_"):])) for sub in ((), ("lab",)))]
    assert not unnamed, f"tests/scripts files that name no module of scripts/ or scripts/lab/: {unnamed}"
    # the check has teeth: a module without a test file and a test file without a module are named
    missing, orphans = _unmatched({"test_a.py": "a.py", "sub/test_b.py": "sub/b.py"}, {"test_a.py", "sub/test_c.py"},
                                  PACKAGE_LEVEL_TESTS)
    assert missing == ["sub/b.py (wants tests/sub/test_b.py)"] and orphans == ["tests/sub/test_c.py"]
