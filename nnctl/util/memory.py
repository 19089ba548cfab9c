"""How much memory this process may still take: the least of what the machine, the process limits
(`ulimit -v`, RLIMIT_AS and RLIMIT_DATA) and the cgroup (a container's or a systemd slice's limit)
allow. Every size check before reading data or allocating a network asks `available_memory()`.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")


def _meminfo() -> int | None:
    """MemAvailable from /proc/meminfo: what the machine can give without swapping."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _status(field: str) -> int | None:
    """A size from /proc/self/status (VmSize, VmData), in bytes."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _rlimits() -> list[int]:
    """Room left under RLIMIT_AS (against VmSize) and RLIMIT_DATA (against VmData)."""
    room = []
    for limit, field in ((resource.RLIMIT_AS, "VmSize"), (resource.RLIMIT_DATA, "VmData")):
        try:
            soft, _ = resource.getrlimit(limit)
        except (OSError, ValueError):
            continue
        if soft == resource.RLIM_INFINITY or soft < 0:
            continue
        used = _status(field) or 0
        room.append(max(soft - used, 0))
    return room


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if not text.isdigit():  # "max" (no limit) or garbage
        return None
    return int(text)


def _cgroup_dirs() -> list[tuple[Path, str, str]]:
    """(folder, limit file, usage file) for this process's memory cgroup and each parent."""
    try:
        lines = PROC_CGROUP.read_text().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, rel = parts
        if controllers == "":  # cgroup v2: one unified hierarchy
            base, limit, usage = CGROUP_ROOT, "memory.max", "memory.current"
        elif "memory" in controllers.split(","):  # cgroup v1
            base, limit, usage = CGROUP_ROOT / "memory", "memory.limit_in_bytes", "memory.usage_in_bytes"
        else:
            continue
        folder = base / rel.lstrip("/")
        # inside a container the path may not exist as written; the namespace root is the cgroup then
        candidates = [folder, *folder.parents] if folder.is_dir() else [base]
        for d in candidates:
            found.append((d, limit, usage))
            if d == base:
                break
    return found


def _cgroup_room() -> list[int]:
    room = []
    for folder, limit_file, usage_file in _cgroup_dirs():
        limit = _read_int(folder / limit_file)
        if limit is None or limit >= 1 << 60:  # v1 writes "no limit" as a huge number
            continue
        usage = _read_int(folder / usage_file) or 0
        room.append(max(limit - usage, 0))
    return room


def available_memory() -> int:
    """Bytes this process can still allocate: the least of MemAvailable, the rlimits and the cgroup limit."""
    candidates = [*_rlimits(), *_cgroup_room()]
    machine = _meminfo()
    if machine is None:
        try:
            machine = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (OSError, ValueError):
            machine = None
    if machine is not None:
        candidates.append(machine)
    return min(candidates) if candidates else 1 << 62


def format_bytes(n: float) -> str:
    """1536 -> '1.5 KiB'."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TiB"
