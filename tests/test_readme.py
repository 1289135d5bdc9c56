"""The README and the pages of docs/ do what they say: the README's main job runs and reports the
zoo model it names, every page's Python examples run against the library as it is, every page's
generated blocks match their result files, every relative link resolves, every command and
dotted name a page mentions exists, every page is linked from the README, the README stays short,
and CI runs its commands.

Python blocks run page by page, in page order in one namespace per page (a later block may use an
earlier block's names, as a reader would), in a temporary folder. They run on the first 1,000
training and 200 test images for one epoch: the test checks that every statement works (names,
signatures, saving and loading), not the numbers, which the zoo and model tests check. A block
fenced ```` ```python fragment ```` is part of a larger program: it is compiled and its imports
run. The fast tier (``-m "not slow"``) compiles every block and runs its imports; running the
blocks and the main job is ``slow``.
"""

import collections
import configparser
import glob
import importlib
import importlib.util
import os
import re
import shlex
import subprocess
import sys

import pytest

from scripts import update_readme
from vdualib import backend

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FENCE = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```\s*$", re.S | re.M)
ANY_FENCE = re.compile(r"^(```+|~~~+)[^\n]*\n.*?^\1\s*$", re.S | re.M)
INLINE_CODE = re.compile(r"(`+)(.+?)\1", re.S)
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$", re.M)
GENERATED = re.compile(r"<!-- BEGIN (\S+) -->\n.*?<!-- END \1 -->", re.S)
MAX_README_LINES = 300

DOCS = sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "*.md")))
PAGES = ["README.md"] + DOCS


def _text(page="README.md"):
    with open(os.path.join(ROOT, page), encoding="utf-8") as f:
        return f.read()


def _readme():
    return _text("README.md")


def _blocks(language, page="README.md"):
    """``(info string after the language, code)`` of every fenced block of ``language``, in order."""
    return [(m.group(2).strip(), m.group(3)) for m in FENCE.finditer(_text(page)) if m.group(1) == language]


def _prose(text):
    """``text`` without fenced code blocks and inline code spans (where a ``](`` is not a link)."""
    return INLINE_CODE.sub("", ANY_FENCE.sub("", text))


def _hand_written(text):
    """``text`` without its generated blocks (their content is the result files', checked by
    ``update_readme --check``)."""
    return GENERATED.sub("", text)


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


def _console_scripts():
    config = configparser.ConfigParser(interpolation=None)
    config.read(os.path.join(ROOT, "setup.cfg"), encoding="utf-8")
    lines = config["options.entry_points"]["console_scripts"].strip().splitlines()
    return dict(line.split(" = ") for line in lines)


# --- the generated blocks and scripts/update_readme.py ---------------------------------------


def test_the_generated_blocks_of_every_page_are_current(capsys):
    assert update_readme.pages() == [os.path.join(ROOT, page) for page in PAGES]
    assert update_readme.main(["--check"]) == 0, capsys.readouterr().out


@pytest.fixture
def repository(tmp_path, monkeypatch):
    """A repository of its own for update_readme: a result file with a link, the README and a
    docs page each holding its block."""
    monkeypatch.setattr(update_readme, "ROOT", str(tmp_path))
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "table.md").write_text("| a |\n| --- |\n| 1 |\n\nSee [the study](results/study.md).\n")
    (tmp_path / "docs").mkdir()
    for page in ("README.md", "docs/page.md"):
        (tmp_path / page).write_text("# Page\n\n<!-- BEGIN results/table.md -->\nold\n<!-- END results/table.md -->\n\nEnd.\n")
    return tmp_path


def test_update_readme_fills_the_blocks_of_the_readme_and_of_docs_pages(repository, capsys):
    assert update_readme.main(["--check"]) == 1
    out = capsys.readouterr().out
    assert "README.md: results/table.md" in out and os.path.join("docs", "page.md") + ": results/table.md" in out
    assert update_readme.main([]) == 0
    readme, page = (repository / "README.md").read_text(), (repository / "docs" / "page.md").read_text()
    assert "| 1 |\n\nSee [the study](results/study.md).\n<!-- END" in readme and readme.endswith("\nEnd.\n")
    # written from the repository root, the link is rewritten relative to the page in docs/
    assert "See [the study](../results/study.md).\n<!-- END" in page
    assert update_readme.main(["--check"]) == 0
    assert update_readme.main(["--check", str(repository / "docs" / "page.md")]) == 0


def test_rebase_links_leaves_urls_and_anchors_alone():
    docs = os.path.join(update_readme.ROOT, "docs")
    text = "[a](models/x.md#top) ![b](scripts/r/f.png) [c](https://x.org/a) [d](#here) [e](/abs)"
    assert update_readme.rebase_links(text, docs) == (
        "[a](../models/x.md#top) ![b](../scripts/r/f.png) [c](https://x.org/a) [d](#here) [e](/abs)"
    )
    assert update_readme.rebase_links(text, update_readme.ROOT) == text


@pytest.mark.parametrize(
    "page, message",
    [
        ("<!-- BEGIN results/table.md -->\nold\n", "has no '<!-- END results/table.md -->'"),
        ("<!-- BEGIN results/missing.md -->\nold\n<!-- END results/missing.md -->\n", "results/missing.md, which does not exist"),
        ("<!-- BEGIN results/table.md -->\n<!-- END results/table.md -->\n" * 2, "appears twice"),
    ],
)
def test_update_readme_refuses_broken_markers_and_missing_files(repository, capsys, page, message):
    (repository / "docs" / "page.md").write_text(page)
    assert update_readme.main(["--check"]) == 2
    assert message in capsys.readouterr().err


def test_update_block_replaces_a_block_and_refuses_a_missing_one(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("a\n<!-- BEGIN x.md -->\nold\n<!-- END x.md -->\nb\n")
    update_readme.update_block(page, "x.md", "new\n\n")
    assert page.read_text() == "a\n<!-- BEGIN x.md -->\nnew\n<!-- END x.md -->\nb\n"
    with pytest.raises(ValueError, match="no '<!-- BEGIN y.md -->'"):
        update_readme.update_block(page, "y.md", "new")


def test_update_readme_has_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        update_readme.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "python -m scripts.update_readme" in out and "docs/" in out and "--check" in out


# --- the README: main job, test command, length, links to every page ---------------------------


def test_the_first_bash_block_is_the_main_job_on_a_zoo_model():
    code = _blocks("bash")[0][1]
    assert code.lstrip().startswith("# main job"), code
    install, env, command, args = main_job()
    assert install == "pip install -e ."
    assert set(env) == {"VDUALIB_DATA_DIR"}
    assert command in _console_scripts(), command


@pytest.mark.slow
def test_the_main_job_reports_the_zoo_model_it_names(tmp_path, monkeypatch, capsys):
    """Runs the main job's command in-process, from the repository root, with its own arguments
    except ``--out`` (a temporary folder)."""
    from vdualib import reports, zoo

    _, env, command, args = main_job()
    monkeypatch.chdir(ROOT)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert os.path.isdir(os.environ["VDUALIB_DATA_DIR"]), "the README's data folder must exist beside the repository"
    out = tmp_path / "main-job"
    args = list(args)
    args[args.index("--out") + 1] = str(out)
    module, function = _console_scripts()[command].split(":")
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
    assert 'python -m pytest -q -m "not slow"' in _readme()  # the fast tier, named for newcomers


def test_the_readme_is_short():
    lines = _readme().count("\n")
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines; move the detail to a page of docs/"


def test_every_docs_page_is_linked_from_the_readme():
    assert DOCS, "docs/ holds the manual"
    linked = {os.path.normpath(target.partition("#")[0]) for target in LINK.findall(_prose(_readme()))}
    missing = [page for page in DOCS if os.path.normpath(page) not in linked]
    assert not missing, f"pages of docs/ the README does not link to: {missing}"


# --- every page: links, names, Python blocks ---------------------------------------------------


def _slug(heading):
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*]|<[^>]+>", "", heading).strip().lower()
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(page):
    counts, anchors = collections.Counter(), set()
    for m in HEADING.finditer(ANY_FENCE.sub("", _text(page))):
        slug = _slug(m.group(2))
        anchors.add(slug if counts[slug] == 0 else f"{slug}-{counts[slug]}")
        counts[slug] += 1
    return anchors


@pytest.mark.parametrize("page", PAGES)
def test_every_relative_link_resolves(page):
    broken = []
    for target in LINK.findall(_prose(_text(page))):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
            continue  # a URL
        path, _, anchor = target.partition("#")
        full = os.path.normpath(os.path.join(ROOT, os.path.dirname(page), path)) if path else os.path.join(ROOT, page)
        if not os.path.exists(full):
            broken.append(f"{target} (no such file)")
        elif anchor and full.endswith(".md") and anchor not in _anchors(os.path.relpath(full, ROOT)):
            broken.append(f"{target} (no such heading)")
    assert not broken, f"{page}: broken links: {broken}"


def _resolves(dotted):
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            if not hasattr(target, name):
                return False
            target = getattr(target, name)
        return True
    return False


@pytest.mark.parametrize("page", PAGES)
def test_every_command_and_name_a_page_mentions_exists(page):
    """The commands (installed ``vdualib-*`` ones and ``python -m scripts.<name>``), the dotted
    names of the library and the lab (```vdualib.zoo.load```, ```scripts.lab.sweep```) and the
    repository's files that the page's own text (not its generated blocks) mentions."""
    text = _hand_written(_text(page))
    installed = _console_scripts()
    commands = set(re.findall(r"(?<![\w/.-])(vdualib-[a-z]+(?:-[a-z]+)*)(?![\w.-])", text))
    assert not commands - set(installed), f"{page}: not installed commands: {sorted(commands - set(installed))}"
    assert not re.search(r"python3? scripts/", text), f"{page}: run the repository's tools as python -m scripts.<name>"
    for name in set(re.findall(r"python3? -m scripts\.(\w+)", text)):
        assert os.path.isfile(os.path.join(ROOT, "scripts", f"{name}.py")), f"{page}: python -m scripts.{name}: no such script"
    names = set(re.findall(r"`((?:vdualib|scripts)(?:\.\w+)+)", text))
    unknown = sorted(name for name in names if not _resolves(name))
    assert not unknown, f"{page}: names that do not exist: {unknown}"
    # files of the repository named in code spans (folders may be where a script will write)
    files = set(re.findall(r"`((?:vdualib|scripts|tests|models|docs)/[^`\s<>*]*\.\w+)`", text))
    missing = sorted(name for name in files if not os.path.isfile(os.path.join(ROOT, name)))
    assert not missing, f"{page}: files that do not exist: {missing}"


def _imports(code):
    return "\n".join(line for line in code.splitlines() if re.match(r"(from \S+ )?import ", line))


@pytest.mark.parametrize("page", PAGES)
def test_every_python_block_compiles_and_its_imports_run(page):
    for number, (info, code) in enumerate(_blocks("python", page), 1):
        assert info in ("", "fragment"), f"{page} python block {number}: unknown fence option {info!r} (use 'fragment' or nothing)"
        compile(code, f"{page} python block {number}", "exec")
        exec(compile(_imports(code), f"{page} python block {number} (imports)", "exec"), {})


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


@pytest.mark.slow
@pytest.mark.parametrize("page", [page for page in PAGES if _blocks("python", page)])
def test_the_python_examples_run(page, tmp_path, monkeypatch):
    import keras

    import vdualib
    from vdualib import datasets

    assert _blocks("python"), "the README has a Python example"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(datasets, "load", _small_data(datasets.load))
    monkeypatch.setattr(keras.Model, "fit", _one_epoch(keras.Model.fit))
    namespace = {"__name__": "readme"}
    for number, (info, code) in enumerate(_blocks("python", page), 1):
        if info == "fragment":
            continue  # compiled, and its imports run, by the test above
        exec(compile(code, f"{page} python block {number}", "exec"), namespace)
    assert namespace.get("vdualib", vdualib) is vdualib


@pytest.mark.slow
def test_the_readme_functional_example_trains_saves_and_loads(tmp_path, monkeypatch, data_dir):
    text = _readme()
    blocks = re.findall(r"```python\n(# example: a functional CNN.*?)```", text, re.S)
    assert len(blocks) == 1, "the README keeps one functional-model example"
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(blocks[0].replace("model.fit(", "history = model.fit("), "README", "exec"), namespace)
    history = namespace["history"].history
    assert history["sparse_categorical_accuracy"][-1] > 0.7  # learns (about 0.9 after 2 short epochs)
    assert history["warmup_weight"][-1] < 0.01
    # a standalone GaussianEncoder logs its rate on TensorFlow only (the README's "Keras on JAX")
    assert history["rate"][-1] > 0 if backend.is_tensorflow() else "rate" not in history
    assert (tmp_path / "vdualib-cnn.keras").exists()


@pytest.mark.slow
@pytest.mark.cross_backend
def test_the_readme_examples_run_on_jax(data_dir):
    """The README's Python examples (the model in five lines, your own Keras model, the zoo) and
    the functional example's training, saving and loading, run again on Keras' JAX backend."""
    if importlib.util.find_spec("jax") is None:
        pytest.skip("JAX is not installed in this environment (pip install '.[jax]'); CI runs this test in its JAX one")
    tests = [f"{__file__}::test_the_python_examples_run[README.md]",
             f"{__file__}::test_the_readme_functional_example_trains_saves_and_loads"]
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests], cwd=ROOT,
                          capture_output=True, text=True, env=dict(os.environ, KERAS_BACKEND="jax"))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "2 passed" in done.stdout
