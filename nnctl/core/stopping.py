"""Stopping on request: Ctrl-C and SIGTERM become a flag the training loop reads.

The first Ctrl-C (or SIGTERM) lets the current iteration finish, so every file can be written
whole; a second Ctrl-C stops at once (files are still whole: every write is atomic).
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, Any, Callable, Iterator, Literal
import numpy as np

from nnctl.util.signals import finish, finished, signals_held  # noqa: F401 (finish, signals_held: re-exported)

if TYPE_CHECKING:
    import numpy.typing as npt


_DEFERRING = [False]  # inside signals_deferred: an inner one adds nothing


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Ctrl-C and SIGTERM that come during the block are handled as it ends, by the handler in
    force (in the order they came), so that they raise in Python code and not inside NumPy.

    NumPy's text machinery loses an exception that a signal handler raises inside it: a str ->
    float64 `astype` drops the KeyboardInterrupt and finishes as if none came, `np.char.lower`
    turns it into `TypeError: result array type does not match underlying function`. Loading a
    table spends most of its time there, so a Ctrl-C while it loaded was swallowed (the command
    went on and ended 0) or ended in a traceback. Wrap each such step, one pass over a block of
    cells: a signal then waits for that pass only. In the main thread only (the only one whose
    handlers Python runs); elsewhere, and inside another such block, it changes nothing."""
    if _DEFERRING[0] or threading.current_thread() is not threading.main_thread():
        yield
        return
    came: list[int] = []
    old = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    # SIG_DFL and SIG_IGN are the kernel's (nothing raises): only Python handlers are deferred
    mine: dict[int, Callable[[int, FrameType | None], Any]] = {sig: h for sig, h in old.items() if callable(h)}
    for sig in mine:
        signal.signal(sig, lambda signum, frame: came.append(signum))
    _DEFERRING[0] = True
    try:
        yield
    finally:
        _DEFERRING[0] = False
        for sig, handler in mine.items():
            signal.signal(sig, handler)
        raised: BaseException | None = None
        for signum in came:  # every one, so a StopRequest counts a second Ctrl-C as it would have
            try:
                mine[signum](signum, None)
            except BaseException as exc:  # KeyboardInterrupt, as the handler would have raised it
                raised = raised or exc
        if raised is not None:
            raise raised


_LAST: list[int | None] = [None]  # the last signal any StopRequest of this process handled


def last_signal() -> int | None:
    """The last SIGINT or SIGTERM a StopRequest handled here (None: none), for a KeyboardInterrupt's exit code."""
    return _LAST[0]


class StopRequest:
    """A callable flag: `stop()` is True once a signal asked to stop. `raise_at_once` turns the
    first signal straight into KeyboardInterrupt (a sweep's parent, whose workers stop with it;
    `train` before its run folder exists and after its files are written). `count`: the signals
    seen. `ignore()`: from then on a signal is only counted (the process's last instants).
    `signals`: those it handles (nnctl.fit takes Ctrl-C only: SIGTERM stays the program's)."""

    def __init__(self, raise_at_once: bool = False, signals: tuple = (signal.SIGINT, signal.SIGTERM)) -> None:
        self.signals = signals
        self.signum: int | None = None
        self.raise_at_once = raise_at_once
        self.count = 0
        self.ignoring = False
        self._old: dict[int, Callable[[int, FrameType | None], Any] | int | None] = {}

    def gently(self) -> None:
        """From now on the first signal only asks: the loop stops after its current iteration and
        every file is written whole (a second still stops at once)."""
        self.raise_at_once = False

    def ignore(self) -> None:
        """From now on a signal is only counted (nnctl's start and its last instants)."""
        self.ignoring = True

    def heed(self) -> None:
        self.ignoring = False

    def __call__(self) -> bool:
        return self.signum is not None

    @property
    def exit_code(self) -> int:
        return 128 + (self.signum or signal.SIGINT)  # 130 for Ctrl-C, 143 for SIGTERM

    @property
    def name(self) -> str:
        return signal.Signals(self.signum or signal.SIGINT).name

    @property
    def twice(self) -> str:
        """ " twice" after the signal's name once a second one came."""
        return " twice" if self.count > 1 else ""

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if finished():  # the command's result is in place: a signal now changes nothing
            self.count += 1
            return
        first = self.signum is None
        self.signum = self.signum or signum
        self.count += 1
        _LAST[0] = signum
        if not self.ignoring and (self.raise_at_once or not first):
            raise KeyboardInterrupt

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in self.signals:
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> Literal[False]:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        return False


# ---------------------------------------------------------------- training that got worse

RISE = 0.10  # a smoothed cost this far above the best smoothed level (or the first cost) has gone wrong


def _windows(values: list, width: int) -> list:
    """Means of consecutive windows of `width` values (the last one may be shorter)."""
    return [sum(values[i : i + width]) / len(values[i : i + width]) for i in range(0, len(values), width)]


def format_cost(v: float) -> str:
    """A cost as printed everywhere: the course's 6 decimals for ordinary sizes, %.6g from 1e6 up
    (a diverging run's 1.5e154 stays 11 characters, not 155 digits)."""
    v = float(v)
    return f"{v:.6f}" if abs(v) < 1e6 else f"{v:.6g}"


_cost = format_cost


GIVEN_BACK = 0.25  # of the progress made, for a late rise to count as divergence


def worsened(costs: list) -> str | None:
    """Why a finished run's recorded costs say training got worse, or None.

    `costs`: [(epoch, cost)] as recorded. Costs are compared in windows (a tenth of the records,
    at least one: point to point below 20 records), so a mini-batch curve's noise or a short bump
    in a chaotic phase does not count. The first and the last epoch are always recorded, so even a
    run recording only those two (iterations <= record_every) is compared. Worse is either
      - the last window's mean above the first recorded cost (the cost at the initial parameters,
        for full batch: exact) by more than RISE; or
      - the last window's mean above the best window's by more than RISE, with the last quarter
        of the windows rising, and the rise giving back more than GIVEN_BACK of what training had
        gained (first - best): the cost climbed away from where it had got to and kept climbing.
        A small wobble near a low cost (0.022 -> 0.041 after 1.0 -> 0.022) is not that.
    """
    values = [float(c) for _, c in costs]
    if len(values) < 2:
        return None
    first = values[0]
    width = max(1, len(values) // 10)
    means = _windows(values, width)
    last = means[-1]
    if last > first * (1 + RISE) and last - first > 1e-12:
        return f"the cost rose from {_cost(first)} at the start to {_cost(values[-1])} at the end"
    if len(means) < 3:
        return None  # no trend in two points
    best = min(means)
    tail = means[-max(2, len(means) // 4) :]
    if last > best * (1 + RISE) and last - best > GIVEN_BACK * (first - best) and all(b >= a for a, b in zip(tail, tail[1:])):
        return f"the cost fell to {_cost(min(values))}, then rose to {_cost(values[-1])} over the last part of the run"
    return None


def blown_up(largest: float, dtype: npt.DTypeLike) -> str | None:
    """Why parameters whose largest magnitude is `largest` (NaN or inf: not finite) are divergence,
    or None. Past the square root of the dtype's largest number (1.3e154 in float64, 1.8e19 in
    float32) the product of two of them overflows: no network that learned anything holds such a
    weight, whatever its cost curve says (a run's last update is never followed by a cost)."""
    if not np.isfinite(largest):
        return "the parameters are no longer finite after the last update"
    bound = float(np.sqrt(np.finfo(dtype).max))
    if largest >= bound:
        return (
            f"the parameters grew to {largest:.3g} in magnitude, past {bound:.3g} (the square root of "
            f"{np.dtype(dtype).name}'s largest number: the product of two of them overflows)"
        )
    return None


def interrupt_in(exc: BaseException | None) -> KeyboardInterrupt | None:
    """The KeyboardInterrupt a stop request raised that a library turned into another exception (a C
    extension interrupted while it loads fails its import with ImportError "initialization failed",
    caused by it), found among exc's causes; None where there is none."""
    for _ in range(8):  # a chain nnctl's own code makes is short
        if exc is None or isinstance(exc, KeyboardInterrupt):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None
