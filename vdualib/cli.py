"""What every installed command shares: a quiet TensorFlow and one way to report bad input.

TensorFlow's C++ start-up prints CUDA and oneDNN banners on a CPU machine. The commands set
``TF_CPP_MIN_LOG_LEVEL=2`` (warnings and errors of Python code still show, C++ info lines do not)
before TensorFlow is imported, and drop the start-up banners that TensorFlow >= 2.19 prints
whatever that level says; unless the user has set ``TF_CPP_MIN_LOG_LEVEL``.

Example (the shape of every entry point)::

    def main(argv=None):
        return cli.main(build_parser, work, "vdualib-train", argv)
"""

import argparse
import fcntl
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile

__all__ = ["ArgumentParser", "quiet_tensorflow", "drop_startup_banners", "run", "check_writable_dir", "main", "run_or_render"]


#: start-up lines of TensorFlow on a machine without a GPU that say nothing about the run
_STARTUP_NOISE = re.compile(
    r"All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|oneDNN custom operations are on"
    r"|cudart_stub\.cc.*Could not find cuda drivers"
    r"|failed call to cuInit"
    r"|cpu_feature_guard\.cc|^To enable the following instructions: .*rebuild TensorFlow"
    r"|Unable to register cu(DNN|FFT|BLAS) factory"
    r"|TF-TRT Warning: Could not find TensorRT"
)


#: folders :func:`check_writable_dir` created during the current :func:`run`, deepest first (removed again,
#: if still empty, when the work fails)
_CREATED = []

#: prefix of the namespace attributes that mark an option as given while parsing (removed after)
_GIVEN = "_vdualib_given_"


class _StoreOnce(argparse._StoreAction):
    """argparse's ``store`` action, refusing a second occurrence of its option (the default would let the
    last one win silently: ``--model a --model b`` evaluates only ``b``)."""

    def __call__(self, parser, namespace, values, option_string=None):
        marker = _GIVEN + self.dest
        if self.option_strings and getattr(namespace, marker, False):
            raise argparse.ArgumentError(
                self, "given twice; give it once" + (" (it takes several values after one flag)" if self.nargs in ("+", "*") else "") + "."
            )
        setattr(namespace, marker, True)
        super().__call__(parser, namespace, values, option_string)


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose value-taking options may be given only once.

    Every command of the project builds its parser with this class. An option given twice is a
    usage error (exit status 2 with argparse's usage line, or ``argparse.ArgumentError`` with
    ``exit_on_error=False``) instead of argparse's default, where the last occurrence silently
    wins; flags (``store_true``) and ``append`` options may repeat.

    Example:
        >>> parser = ArgumentParser(prog="demo")
        >>> _ = parser.add_argument("--model")
        >>> parser.parse_args(["--model", "a"])
        Namespace(model='a')
        >>> parser.parse_args(["--model", "a", "--model", "b"])     # doctest: +SKIP
        usage: demo [-h] [--model MODEL]
        demo: error: argument --model: given twice; give it once.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.register("action", None, _StoreOnce)
        self.register("action", "store", _StoreOnce)

    def parse_known_args(self, args=None, namespace=None):
        return _without_markers(*super().parse_known_args(args, namespace))

    def parse_known_intermixed_args(self, args=None, namespace=None):
        return _without_markers(*super().parse_known_intermixed_args(args, namespace))


def _without_markers(namespace, extras):
    for key in [key for key in vars(namespace) if key.startswith(_GIVEN)]:
        delattr(namespace, key)
    return namespace, extras


class _QuietStartupLoader(importlib.abc.Loader):
    """Runs TensorFlow's import and its device probe with file descriptor 2 sent to a temporary
    file, then writes back every captured line except :data:`_STARTUP_NOISE`."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        sys.stderr.flush()
        saved = os.dup(2)
        with tempfile.TemporaryFile() as captured:
            os.dup2(captured.fileno(), 2)
            try:
                self.loader.exec_module(module)
                module.config.list_physical_devices()  # the CUDA probe (cuInit) logs here, not at import
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
                captured.seek(0)
                lines = captured.read().decode(errors="replace").splitlines(keepends=True)
                sys.stderr.write("".join(line for line in lines if not _STARTUP_NOISE.search(line)))
                sys.stderr.flush()


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    """Hands the first import of ``tensorflow`` to :class:`_QuietStartupLoader`, then steps aside."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietStartupLoader(spec.loader)
        return spec


def quiet_tensorflow(level="2"):
    """Silence TensorFlow's C++ info lines and start-up banners unless ``TF_CPP_MIN_LOG_LEVEL``
    is set; errors are still printed.

    Call before TensorFlow is imported. ``TF_CPP_MIN_LOG_LEVEL`` alone no longer hides the
    banners that TensorFlow >= 2.19 prints while it loads (tensorflow/tensorflow#100442): the
    import of ``tensorflow`` (whenever it happens; commands that never need it do not pay for
    it) and its device probe therefore run with the C-level stderr captured, and every captured
    line except the known banners (oneDNN, CUDA driver and ``cuInit`` probes on a CPU machine,
    absl's pre-initialisation notice) is written back.

    Args:
        level: the ``TF_CPP_MIN_LOG_LEVEL`` to set (``"2"``: warnings and errors only).

    Example:
        >>> def main(argv=None):
        ...     quiet_tensorflow()     # first thing, before anything imports TensorFlow
    """
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ:  # the user chose what to see
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = str(level)
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    drop_startup_banners()


def drop_startup_banners():
    """Drop the start-up banners TensorFlow prints on a machine without a GPU (oneDNN, the CUDA
    probes, ``cpu_feature_guard``, absl's pre-initialisation notice) when it is first imported,
    and write back every other line it prints then. Nothing else is changed.

    ``import vdualib`` calls it (it imports TensorFlow to register its classes with Keras); it does
    nothing when TensorFlow is already imported or the user set ``TF_CPP_MIN_LOG_LEVEL``.

    Example:
        >>> drop_startup_banners()
        >>> import tensorflow     # no oneDNN / CUDA banners on stderr
    """
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ and os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0":
        return  # the user asked for everything
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietTensorFlowFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowFinder())


def check_writable_dir(path, name="--out"):
    """Make sure ``path`` can be created or written as a folder *before* long work starts.

    Inside :func:`run` (every command's work), the folders created here are removed again if the
    work fails while they are still empty: bad input leaves no empty ``--out`` behind.

    Raises:
        ValueError: ``path`` is empty or an existing file, or its folder cannot be created or written.

    Args:
        path: the folder (created if missing).
        name: the option's name, for the message.

    Returns:
        ``path`` as a string.

    Example:
        >>> check_writable_dir("runs/mnist-vib-mlp")     # created
        'runs/mnist-vib-mlp'
    """
    path = os.fspath(path)
    if not path.strip():
        raise ValueError(f"{name} is empty; give a folder path.")
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"{name} {path!r} is an existing file; give a folder path.")
    missing, probe = [], os.path.abspath(path)
    while not os.path.exists(probe):
        missing.append(probe)
        probe = os.path.dirname(probe)
    try:
        os.makedirs(path, exist_ok=True)
        _CREATED.extend(missing)
    except OSError as err:
        raise ValueError(f"{name} {path!r} cannot be created ({err.strerror}); choose a writable folder.") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ValueError(f"{name} {path!r} is not writable; choose a writable folder.")
    return path


def run(work, prog):
    """Run ``work()`` and turn the library's ``ValueError`` / ``FileNotFoundError``, and a failed
    allocation (``MemoryError``, TensorFlow's ``ResourceExhaustedError``), into one line on stderr
    and exit status 2; returns ``work()``'s status (``None`` counts as 0). When ``work()`` fails,
    the folders :func:`check_writable_dir` created for it and that are still empty are removed.

    Args:
        work: a callable without arguments returning an exit status or ``None``.
        prog: the program's name, prefixed to the error line.

    Returns:
        The exit status, an int.

    Example:
        >>> run(lambda: vdualib.recipes.get_recipe("nope"), "vdualib-train")     # prints the error on stderr
        2
    """
    outer = _CREATED[:]  # a run inside another's work keeps its own record
    _CREATED.clear()
    try:
        try:
            status = work()
        except BaseException:
            _remove_created_if_empty()
            raise
        finally:
            _CREATED[:] = outer
    except (ValueError, FileNotFoundError) as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    except _out_of_memory_errors() as err:
        detail = str(getattr(err, "message", "") or err).strip().splitlines()
        print(
            f"{prog}: error: out of memory ({type(err).__name__}{': ' + detail[0][:200] if detail else ''}); ask for "
            "less: a smaller latent_dim, num_samples, batch size, width or model.",
            file=sys.stderr,
        )
        return 2
    return 0 if status is None else status


def _remove_created_if_empty():
    """Remove the folders :func:`check_writable_dir` created in this run that are still empty, deepest first;
    a folder whose lock a run writer holds (:class:`vdualib.runs.RunFolder`) is left to it."""
    for folder in sorted(set(_CREATED), key=lambda path: path.count(os.sep), reverse=True):
        try:
            handle = os.open(folder, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.rmdir(folder)  # only if empty
        except OSError:
            pass
        finally:
            os.close(handle)
    _CREATED.clear()


def _out_of_memory_errors():
    """The exceptions of an allocation that failed: Python's, and TensorFlow's where it is loaded."""
    tf = sys.modules.get("tensorflow")
    errors = getattr(tf, "errors", None)
    return (MemoryError,) + ((errors.ResourceExhaustedError,) if errors is not None else ())


def main(build_parser, work, prog, argv=None):
    """An installed command: quiet TensorFlow, parse ``argv`` with ``build_parser()``, run
    ``work(args)`` through :func:`run`. Returns the exit status.

    Args:
        build_parser: a callable returning the command's ``argparse.ArgumentParser``.
        work: ``work(args)`` doing the command's job, returning an exit status or ``None``.
        prog: the program's name.
        argv: the arguments; ``None`` reads ``sys.argv[1:]``.

    Returns:
        The exit status (2 for bad input).

    Example:
        >>> def main(argv=None):
        ...     return cli.main(build_parser, work, "vdualib-train", argv)
    """
    quiet_tensorflow()
    args = build_parser().parse_args(argv)
    return run(lambda: work(args), prog)


def run_or_render(study, output_dir, render_only, run_study):
    """A study command's work: check ``output_dir`` first, then either redraw the figures and
    tables from the study's JSON (``study.render(output_dir)``) or run it (``run_study()``,
    returning the JSON's path).

    Args:
        study: the study module (with ``render(output_dir)``).
        output_dir: the study folder.
        render_only: redraw from the existing JSON instead of running.
        run_study: a callable without arguments that runs the study and returns the JSON's path.

    Returns:
        0.

    Raises:
        ValueError: ``output_dir`` is not a writable folder.

    Example:
        >>> import types
        >>> study = types.SimpleNamespace(render=lambda folder: None)     # a study module, e.g. scripts.lab.ntk_study
        >>> run_or_render(study, "out/toy", False, lambda: "out/toy/toy.json")
        wrote out/toy/toy.json and figures in out/toy
        0
    """
    check_writable_dir(output_dir, "--output-dir")
    if render_only:
        study.render(output_dir)
        print(f"rendered {output_dir}")
        return 0
    path = run_study()
    print(f"wrote {path} and figures in {output_dir}")
    return 0
