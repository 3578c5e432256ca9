"""What keraszoo's command lines share: TensorFlow imported quietly, a mistake answered in one line.

TensorFlow 2.21 prints C++ start-up lines to the standard error whatever Python does: "Could not
find cuda drivers" and "All log messages before absl::InitializeLog()" while it is imported (even
with TF_CPP_MIN_LOG_LEVEL=3), and "failed call to cuInit" when it first looks for GPUs.
`import_tensorflow` sets TF_CPP_MIN_LOG_LEVEL=2 (warnings and information off, errors on) and sends
file descriptor 2 to a temporary file for the import and the GPU lookup only, showing what was
captured if either fails. A command's `--verbose`, or the user's own TF_CPP_MIN_LOG_LEVEL below 2,
shows everything. Nothing here imports TensorFlow before it is asked to, so `--help` is quick.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import gc
import os
import sys
import tempfile


@contextlib.contextmanager
def stderr_captured():
    """File descriptor 2 goes to a temporary file inside the block; what was written there is
    replayed on the real standard error if the block raises, and dropped otherwise."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def hides_start_up_lines(verbose: bool, environ) -> bool:
    """Whether TensorFlow's start-up lines are hidden; sets TF_CPP_MIN_LOG_LEVEL in `environ` to 2
    (or, if `verbose`, 0) unless the user set it."""
    level = environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if verbose else "2")
    return not verbose and level.strip().isdigit() and int(level) >= 2


def import_tensorflow(verbose: bool = False) -> None:
    """Imports TensorFlow (and lets it find its devices) without its C++ start-up lines, unless
    `verbose` or TF_CPP_MIN_LOG_LEVEL is set below 2. Call it before anything imports TensorFlow.
    The command then exits without the interpreter's final garbage collections (`freeze_at_exit`)."""
    freeze_at_exit()
    if not hides_start_up_lines(verbose, os.environ) or "tensorflow" in sys.modules:
        import tensorflow  # noqa: F401

        return
    with stderr_captured():
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")  # "failed call to cuInit" comes here, not at import


def freeze_at_exit() -> None:
    """At exit, the interpreter's garbage collections over TensorFlow's millions of objects cost about
    a CPU-second per process (a command, a worker); `gc.freeze` at exit skips them. Their memory
    goes back to the operating system anyway, and every exit handler still runs (TensorFlow's,
    registered later, before this one)."""
    atexit.unregister(gc.freeze)  # once, however often it is asked
    atexit.register(gc.freeze)


def invoked_as_command(argv=None) -> bool:
    """Whether this process is one of our command lines: `python -m keraszoo.X` (runpy sets
    argv[0] to "-m" while it imports the parent packages) or a `keraszoo-*` console script."""
    argv = sys.argv if argv is None else argv
    return bool(argv) and (argv[0] == "-m" or os.path.basename(argv[0]).startswith("keraszoo-"))


def answering_help_only(argv=None) -> bool:
    """Whether the command was asked only for `--help` or `--list` (answered without TensorFlow)."""
    argv = sys.argv if argv is None else argv
    return invoked_as_command(argv) and any(a in ("-h", "--help", "--list") for a in argv[1:])


def verbose_requested(argv=None) -> bool:
    argv = sys.argv if argv is None else argv
    return "--verbose" in argv[1:]


def error(message) -> int:
    """Prints `error: <message>` on the standard error; returns the exit status 2."""
    print(f"error: {message}", file=sys.stderr)
    return 2


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser whose mistakes are one `error:` line (argparse prints its usage block
    first), naming `--help` for the rest. Flags are exact: argparse's prefix matching would take a
    misspelled `--epoch 1` for `--epochs 1` and train, so it is off (`allow_abbrev=False`)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message):
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")
