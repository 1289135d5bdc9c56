"""What every installed command shares: a quiet TensorFlow and one way to report bad input.

TensorFlow's C++ start-up prints CUDA and oneDNN banners on a CPU machine. The commands set
``TF_CPP_MIN_LOG_LEVEL=2`` (warnings and errors of Python code still show, C++ info lines do not)
before TensorFlow is imported, unless the user has set it.

Example (the shape of every entry point)::

    def main(argv=None):
        cli.quiet_tensorflow()
        args = parse_args(argv)
        return cli.run(lambda: work(args), prog="vdualib-train")
"""

import os
import sys

__all__ = ["quiet_tensorflow", "run", "check_writable_dir"]


def quiet_tensorflow(level="2"):
    """Silence TensorFlow's C++ info and warning lines unless ``TF_CPP_MIN_LOG_LEVEL`` is set.

    Call before TensorFlow is imported. Errors are still printed."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", str(level))
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")


def check_writable_dir(path, name="--out"):
    """Make sure ``path`` can be created or written as a folder *before* long work starts.

    Raises:
        ValueError: ``path`` is an existing file, or its folder cannot be created or written.
    """
    path = os.fspath(path)
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"{name} {path!r} is an existing file; give a folder path.")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as err:
        raise ValueError(f"{name} {path!r} cannot be created ({err.strerror}); choose a writable folder.") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ValueError(f"{name} {path!r} is not writable; choose a writable folder.")
    return path


def run(work, prog):
    """Run ``work()`` and turn the library's ``ValueError`` / ``FileNotFoundError`` into one line
    on stderr and exit status 2; returns ``work()``'s status (``None`` counts as 0)."""
    try:
        status = work()
    except (ValueError, FileNotFoundError) as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    return 0 if status is None else status
