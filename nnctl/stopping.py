"""Stopping on request: Ctrl-C and SIGTERM become a flag the training loop reads.

The first Ctrl-C (or SIGTERM) lets the current iteration finish, so every file can be written
whole; a second Ctrl-C stops at once (files are still whole: every write is atomic).
"""

from __future__ import annotations

import signal
import threading


class StopRequest:
    """A callable flag: `stop()` is True once a signal asked to stop. `raise_at_once` turns the
    first signal straight into KeyboardInterrupt (a sweep's parent, whose workers stop with it)."""

    def __init__(self, raise_at_once: bool = False):
        self.signum = None
        self.raise_at_once = raise_at_once
        self._old = {}

    def __call__(self) -> bool:
        return self.signum is not None

    @property
    def exit_code(self) -> int:
        return 128 + (self.signum or signal.SIGINT)  # 130 for Ctrl-C, 143 for SIGTERM

    @property
    def name(self) -> str:
        return signal.Signals(self.signum or signal.SIGINT).name

    def _handle(self, signum, frame):
        first = self.signum is None
        self.signum = self.signum or signum
        if self.raise_at_once or not first:
            raise KeyboardInterrupt

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)
        return False
