"""What every installed command shares: errors as one line and status 2, the output folder checked
first (and not left behind empty by a failure), an option given once, TensorFlow quiet unless the user
chose a log level."""

import argparse
import glob
import os
import sys

import pytest

from vdualib import cli


def test_run_turns_the_librarys_errors_into_one_line_and_status_2(capsys):
    assert cli.run(lambda: None, "vdualib-x") == 0
    assert cli.run(lambda: 3, "vdualib-x") == 3
    for error in (ValueError("no such recipe"), FileNotFoundError("missing.keras does not exist")):

        def fail(error=error):
            raise error

        assert cli.run(fail, "vdualib-x") == 2
        assert capsys.readouterr().err == f"vdualib-x: error: {error}\n"
    with pytest.raises(RuntimeError):  # anything else is a bug: not hidden
        cli.run(lambda: (_ for _ in ()).throw(RuntimeError("bug")), "vdualib-x")


def test_run_turns_a_failed_allocation_into_one_line_and_status_2(capsys):
    import tensorflow as tf

    for error in (MemoryError(), tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor\nmore")):

        def fail(error=error):
            raise error

        assert cli.run(fail, "vdualib-x") == 2
        err = capsys.readouterr().err
        assert err.startswith(f"vdualib-x: error: out of memory ({type(error).__name__}") and err.count("\n") == 1
        assert "ask for less" in err


def test_check_writable_dir_creates_the_folder_or_names_the_problem(tmp_path):
    assert cli.check_writable_dir(tmp_path / "a" / "b") == str(tmp_path / "a" / "b")
    assert (tmp_path / "a" / "b").is_dir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="--out .* is an existing file"):
        cli.check_writable_dir(tmp_path / "file")
    with pytest.raises(ValueError, match="--output-dir .* cannot be created"):
        cli.check_writable_dir(tmp_path / "file" / "below", "--output-dir")
    for empty in ("", "  "):
        with pytest.raises(ValueError, match="--out is empty; give a folder path"):
            cli.check_writable_dir(empty)


def test_main_parses_then_runs_the_work(monkeypatch, capsys):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")  # the user's level: quiet_tensorflow changes nothing

    def build_parser():
        parser = argparse.ArgumentParser(prog="vdualib-x")
        parser.add_argument("--epochs", type=int, required=True)
        return parser

    def work(args):
        if args.epochs < 1:
            raise ValueError(f"--epochs must be a positive integer, got {args.epochs}")
        print(f"{args.epochs} epochs")

    assert cli.main(build_parser, work, "vdualib-x", ["--epochs", "2"]) == 0
    assert capsys.readouterr().out == "2 epochs\n"
    assert cli.main(build_parser, work, "vdualib-x", ["--epochs", "0"]) == 2
    assert "vdualib-x: error: --epochs must be a positive integer, got 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(build_parser, work, "vdualib-x", [])


def test_run_or_render_checks_the_folder_then_renders_or_runs(tmp_path, capsys):
    rendered = []

    class Study:
        @staticmethod
        def render(output_dir):
            rendered.append(output_dir)

    out = tmp_path / "study"
    assert cli.run_or_render(Study, out, True, lambda: pytest.fail("rendering runs nothing")) == 0
    assert rendered == [out] and f"rendered {out}" in capsys.readouterr().out
    assert cli.run_or_render(Study, out, False, lambda: "study.json") == 0
    assert f"wrote study.json and figures in {out}" in capsys.readouterr().out
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="--output-dir"):
        cli.run_or_render(Study, tmp_path / "file", False, lambda: pytest.fail("the folder is checked first"))


def test_quiet_tensorflow_sets_a_level_only_when_the_user_chose_none(monkeypatch):
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    cli.quiet_tensorflow()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL")
    monkeypatch.delenv("GRPC_VERBOSITY", raising=False)
    cli.quiet_tensorflow()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "2" and os.environ["GRPC_VERBOSITY"] == "ERROR"
    finders = [f for f in sys.meta_path if isinstance(f, cli._QuietTensorFlowFinder)]
    assert len(finders) == ("tensorflow" not in sys.modules)  # the banners are dropped at TensorFlow's first import
    cli.drop_startup_banners()  # never a second finder
    assert len([f for f in sys.meta_path if isinstance(f, cli._QuietTensorFlowFinder)]) == len(finders)


def test_an_option_given_twice_is_a_usage_error_and_flags_may_repeat(capsys):
    parser = cli.ArgumentParser(prog="vdualib-x")
    parser.add_argument("--model")
    parser.add_argument("--severities", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("files", nargs="*")
    args = parser.parse_args(["--model", "a", "--quiet", "--quiet", "f1", "f2"])
    assert vars(args) == {"model": "a", "severities": [1, 2], "quiet": True, "files": ["f1", "f2"]}  # no markers left
    assert vars(parser.parse_args(["--model", "b"]))["model"] == "b"  # the parser parses again
    for argv, message in ((["--model", "a", "--model", "b"], "argument --model: given twice; give it once."),
                          (["--model=a", "--mod", "a"], "argument --model: given twice"),
                          (["--severities", "1", "--severities", "3"], "takes several values after one flag")):
        with pytest.raises(SystemExit) as raised:
            parser.parse_args(argv)
        assert raised.value.code == 2 and message in capsys.readouterr().err
    quiet = cli.ArgumentParser(prog="vdualib-x", exit_on_error=False)
    quiet.add_argument("--model")
    quiet.add_argument("--names", action="append")  # append options collect every occurrence, as in argparse
    with pytest.raises(argparse.ArgumentError, match="given twice"):
        quiet.parse_args(["--model", "a", "--model", "b"])
    assert quiet.parse_args(["--names", "a", "--names", "b"]).names == ["a", "b"]
    args = quiet.parse_intermixed_args(["--model", "a"])
    assert vars(args) == {"model": "a", "names": None}


@pytest.mark.parametrize("command, argv", [
    ("evaluate", ["--model", "mnist-dualib-mlp", "--model", "mnist-vib-mlp"]),
    ("evaluate", ["--model", "mnist-dualib-mlp", "--out", "a", "--out", "b"]),
    ("train", ["--recipe", "mnist-vib-mlp", "--recipe", "mnist-dualib-mlp"]),
    ("quickstart", ["--epochs", "1", "--epochs", "2"]),
])
def test_every_command_refuses_an_option_given_twice(command, argv, tmp_path, monkeypatch, capsys):
    import importlib

    monkeypatch.chdir(tmp_path)
    module = importlib.import_module(f"vdualib.commands.{command}")
    with pytest.raises(SystemExit) as raised:
        module.main(argv)
    assert raised.value.code == 2 and "given twice; give it once" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []  # refused before any work


def test_every_parser_of_the_project_is_the_command_line_parser():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sources = glob.glob(os.path.join(root, "vdualib", "**", "*.py"), recursive=True) + glob.glob(
        os.path.join(root, "scripts", "**", "*.py"), recursive=True)
    plain = [path for path in sources if path != cli.__file__ and "argparse.ArgumentParser(" in open(path).read()]
    assert plain == []


def test_a_failed_work_removes_the_empty_folders_it_created(tmp_path, capsys):
    kept = tmp_path / "kept"
    kept.mkdir()

    def fail():
        cli.check_writable_dir(tmp_path / "new" / "deeper" / "out")
        cli.check_writable_dir(kept)  # existed: stays, empty or not
        cli.check_writable_dir(tmp_path / "written")
        (tmp_path / "written" / "report.md").write_text("partial")
        raise ValueError("bad input found after the folders were made")

    assert cli.run(fail, "vdualib-x") == 2
    assert sorted(os.listdir(tmp_path)) == ["kept", "written"]  # "new/deeper/out" was created empty: gone
    assert (tmp_path / "written" / "report.md").exists()
    with pytest.raises(KeyboardInterrupt):
        cli.run(lambda: (cli.check_writable_dir(tmp_path / "interrupted"), (_ for _ in ()).throw(KeyboardInterrupt()))[1],
                "vdualib-x")
    assert not (tmp_path / "interrupted").exists()
    assert cli.run(lambda: cli.check_writable_dir(tmp_path / "made") and None, "vdualib-x") == 0
    assert (tmp_path / "made").is_dir()  # a successful work keeps its folders, empty or not


def test_a_refused_training_leaves_no_output_folder(tmp_path, capsys):
    from vdualib.commands import train

    out = tmp_path / "runs" / "never"
    assert train.main(["--recipe", "mnist-vib-mlp", "--resume", "--out", str(out), "--quiet"]) == 2
    assert "nothing to resume" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


def test_a_failed_work_removes_its_folders_deepest_first_and_leaves_an_outer_works_record(tmp_path):
    def fail():
        cli.check_writable_dir(tmp_path / "a" / "b")
        cli.check_writable_dir(tmp_path / "a" / "b" / "c")
        raise ValueError("refused")

    assert cli.run(fail, "vdualib-x") == 2
    assert os.listdir(tmp_path) == []  # a/b/c, then a/b, then a

    def outer():
        cli.check_writable_dir(tmp_path / "outer")
        assert cli.run(lambda: cli.check_writable_dir(tmp_path / "inner") and None, "vdualib-x") == 0
        raise ValueError("the outer work fails after an inner one succeeded")

    assert cli.run(outer, "vdualib-x") == 2
    assert os.listdir(tmp_path) == ["inner"]  # the inner work's folder is its result; the outer's empty one goes


def test_a_created_folder_a_run_writer_holds_is_not_removed(tmp_path):
    from vdualib import runs

    def fail():
        cli.check_writable_dir(tmp_path / "run")
        with runs.RunFolder(tmp_path / "run").lock():
            os.remove(tmp_path / "run" / ".lock")  # empty, as between a writer's lock and its .lock
            created = cli._CREATED[:]
            cli._remove_created_if_empty()  # as a failing command would, while the writer holds the folder
            assert (tmp_path / "run").is_dir()
            cli._CREATED[:] = created
        raise ValueError("refused")

    assert cli.run(fail, "vdualib-x") == 2
    assert not (tmp_path / "run").exists()  # let go and empty: removed
