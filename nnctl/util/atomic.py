"""Writing files so that a crash never leaves a half-written one: temporary name, fsync, rename.

A command that writes several files commits them as a set (`output_set`): inside the block each
atomic write stays under its temporary name; as the block ends every one is renamed into place
together, with Ctrl-C and SIGTERM held off, so that either all the new files or all the old ones
are there, never a mix of two runs of the command. `final=True` marks the command's last outputs:
once they are in place the command is finished, and a signal changes nothing more
(nnctl.core.stopping.finish).
"""

from __future__ import annotations

import os
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from nnctl.util.signals import finish, signals_held

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process's umask (read by setting it and putting it back, under a lock)."""
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode any program's new file gets: 0666 less the umask (mkstemp's 0600 is for secrets)."""
    return 0o666 & ~current_umask()


class _Set:
    """The files of one output_set: temporaries waiting for their names, and older files to remove."""

    def __init__(self) -> None:
        self.staged: dict[Path, Path] = {}  # target -> its temporary
        self.removed: set[Path] = set()

    def stage(self, tmp: Path, path: Path) -> None:
        earlier = self.staged.pop(path, None)
        if earlier is not None and earlier != tmp:
            earlier.unlink(missing_ok=True)
        self.removed.discard(path)
        self.staged[path] = tmp

    def discard(self) -> None:
        for tmp in self.staged.values():
            tmp.unlink(missing_ok=True)
        self.staged.clear()


_SETS = threading.local()  # the output_set of this thread (the outermost: an inner one joins it)


def _current() -> _Set | None:
    return getattr(_SETS, "current", None)


def staged_path(path) -> Path:
    """Where `path` is while its output_set is open (its temporary), else `path` itself: for code
    that reads back what it has just written."""
    current = _current()
    path = Path(path)
    return current.staged.get(path, path) if current is not None else path


def remove_with_set(path) -> None:
    """Remove `path` (an older output this command's set replaces, or leaves no match for) as the
    set is committed; at once outside a set."""
    current = _current()
    if current is None:
        Path(path).unlink(missing_ok=True)
    elif Path(path) not in current.staged:
        current.removed.add(Path(path))


@contextmanager
def output_set(final: bool = False) -> Iterator[None]:
    """Every atomic write inside the block is put in place as it ends, all together, with the
    signals held: all new files or, after an error or a signal, all old ones (the temporaries are
    removed). `final`: these are the command's last outputs; once they are in place the process
    takes no more signals (nnctl.core.stopping.finish), so a signal then changes nothing. Nested
    blocks join the outermost."""
    if _current() is not None:
        yield
        return
    current = _Set()
    _SETS.current = current
    try:
        yield
    except BaseException:
        _SETS.current = None
        with signals_held():
            current.discard()
        raise
    _SETS.current = None
    try:
        with signals_held():
            try:
                for path, tmp in current.staged.items():
                    os.replace(tmp, path)
                current.staged.clear()
                for path in current.removed:
                    path.unlink(missing_ok=True)
            except BaseException:
                current.discard()
                raise
            if final:
                finish()  # inside the hold: a signal pending now is never delivered
    finally:
        current.discard()  # nothing is left after a failed rename


@contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; on success it is fsynced and renamed over `path`.

    The file ends with the permissions the user's umask gives a new file, not mkstemp's 0600.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, file_mode())
    finally:
        os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        current = _current()
        if current is not None:
            current.stage(Path(tmp), path)  # renamed with the rest of its set
        else:
            os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write(path, data: bytes | str) -> Path:
    """Write bytes or text to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return Path(path)
