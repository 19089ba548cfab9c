"""The command's signals at the instants that must not be cut: a few renames held together
(signals_held), and the end of a command whose result is in place (finish). In nnctl.util, below
nnctl.core.stopping (which re-exports them), so that nnctl.util.atomic can commit a set of files."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

_FINISHED = [False]  # finish() was called: the command's result is in place
_WHOLE_PROCESS = [False]  # the process is nnctl's command line (nnctl.cli.commands.main): finish() may take its signals


def own_process() -> None:
    """This process is one command of nnctl's command line (its console script): finish() may block
    its signals for good. Elsewhere (a library call, a test calling the CLI in its own process)
    finish() changes nothing."""
    _WHOLE_PROCESS[0] = True


def finish() -> None:
    """The command's result is in place (its last output renamed, or its last line printed): from
    now on Ctrl-C and SIGTERM change nothing. They are blocked and ignored for the rest of the
    process (so the exit status is the command's, and the interpreter's teardown is never killed by
    one), and a StopRequest only counts one. For the command line only: a library call leaves the
    process's signals alone (nnctl.util.atomic.output_set finishes only when told it is final, and
    only in a process that own_process() claimed)."""
    if not _WHOLE_PROCESS[0]:
        return
    _FINISHED[0] = True
    if threading.current_thread() is threading.main_thread():
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        # and ignored: a thread that does not block them (one BLAS or a library started while they
        # were let in) would take one, and once the interpreter's teardown has put the default
        # handlers back, die of it (exit 130 or 143, silent). An ignored signal is left ignored by
        # the teardown. (A handler put back later, as a StopRequest ends, only counts: StopRequest;
        # main calls this again as the command ends.)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)


def finished() -> bool:
    """Whether finish() was called in this process."""
    return _FINISHED[0]


@contextmanager
def signals_held() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait (the kernel keeps them pending) until the block is done: for the few
    renames and writes that must happen together or not at all. A block that finished the command
    (finish) leaves them blocked."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        if not _FINISHED[0]:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
