"""The Dask backend: trials on a Dask cluster through Dask's own API, at a scheduler's address or on
a local cluster of `jobs` worker processes. A scheduler is reached (or refused) in a few seconds,
before the sweep makes its folder; no call to it can hang the sweep (`within`).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import signal
import socket
import threading
import time
import uuid

from nnctl.errors import Interrupted, NnctlError
from nnctl.sweep.launchers.base import OnEvent, OnResult, Payloads, ShouldStop, begun, lost
from nnctl.sweep.launchers.trial import StopFlag, run_trial

DASK_CONNECT_TIMEOUT = "10s"  # after the probe below has found the port open
DASK_PROBE_SECONDS = 3
DASK_CALL_SECONDS = 15  # the longest nnctl waits for the scheduler to answer a call (connect, stop, cancel)


class DaskLauncher:
    """A Dask client, and the local cluster it owns if it made one (nnctl.sweep.launchers.base.Launcher)."""

    def __init__(self, client, cluster, blas_threads: int):
        self.client, self.cluster, self.blas_threads = client, cluster, blas_threads

    def launch(self, payloads: Payloads, on_event: OnEvent, on_result: OnResult, should_stop: ShouldStop) -> None:
        run_dask(payloads, None, on_event, on_result, should_stop, client=self.client, blas_threads=self.blas_threads)

    def close(self) -> None:
        _quietly(lambda: within(DASK_CALL_SECONDS // 3, self.client.close, "closing the Dask client"))
        if self.cluster is not None:
            self.cluster.close()


def open_launcher(jobs: int, address: str | None, trials: int, should_stop: ShouldStop) -> DaskLauncher:
    client, cluster = open_dask(address, jobs, trials, should_stop)
    # a local cluster shares the cores as --jobs does, so its trials equal theirs bit for bit
    return DaskLauncher(client, cluster, max(1, (os.cpu_count() or 1) // jobs) if cluster is not None else 1)


def open_dask(address: str | None, jobs: int, trials: int = 1 << 30, should_stop=lambda: False):
    """(client, local cluster or None): the scheduler at `address`, reached in a few seconds or
    refused; without an address, a local cluster of `jobs` worker processes."""
    try:
        import distributed  # here: about 0.8 s to load, and optional (the dask extra); a local sweep never needs it
    except ImportError:
        raise NnctlError("the Dask executor needs the optional extra: pip install 'nnctl[dask]'") from None
    if address is None:
        # its processes ignore Ctrl-C, as the local workers do: the sweep's parent decides, and
        # tells running trials to stop through the cluster's event (a terminal sends Ctrl-C to all)
        old = signal.signal(signal.SIGINT, signal.SIG_IGN) if threading.current_thread() is threading.main_thread() else None
        try:
            cluster = distributed.LocalCluster(
                n_workers=min(jobs, trials), threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.ERROR
            )
        finally:
            if old is not None:
                signal.signal(signal.SIGINT, old)
        return distributed.Client(cluster), cluster
    address = parse_address(address)
    host, port = address.split("://", 1)[1].rsplit(":", 1)
    try:  # fail fast: a closed port or unknown host answers at once, a dead one within the timeout
        socket.create_connection((host.strip("[]"), int(port)), timeout=DASK_PROBE_SECONDS).close()
    except (OSError, UnicodeError) as exc:  # UnicodeError: a name the resolver's IDNA codec refuses
        raise NnctlError(
            f"cannot reach the Dask scheduler at {address} ({getattr(exc, 'strerror', None) or exc.__class__.__name__}); "
            "start it (dask scheduler) or check --address"
        ) from None
    return connect_dask(address, should_stop=should_stop), None


HOST_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")  # RFC 1123: 1-63 characters, no '-' at either end


def _valid_host(host: str) -> bool:
    """An IP address, or a host name of RFC 1123 labels (at most 253 characters)."""
    if host.startswith("["):
        try:
            return ipaddress.ip_address(host[1:-1]).version == 6
        except ValueError:
            return False
    if re.fullmatch(r"[0-9.]+", host):
        try:
            return ipaddress.ip_address(host).version == 4
        except ValueError:
            return False
    labels = host[:-1].split(".") if host.endswith(".") else host.split(".")
    return len(host) <= 253 and all(HOST_LABEL.fullmatch(label) for label in labels)


def parse_address(address: str) -> str:
    """tcp://HOST:PORT (or tls://, or HOST:PORT) with a valid host; anything else is refused before connecting."""
    m = re.fullmatch(r"(?:(tcp|tls)://)?(\[[0-9A-Fa-f:]+\]|[A-Za-z0-9._-]+):([0-9]{1,5})", address.strip())
    if not m or not 0 < int(m.group(3)) < 65536:
        raise NnctlError(f"--address {address}: expected the Dask scheduler as tcp://HOST:PORT, e.g. --address tcp://10.0.0.5:8786")
    if not _valid_host(m.group(2)):
        raise NnctlError(
            f"--address {address}: {m.group(2)[:80]} is not a valid host name or IP address (labels of 1 to 63 letters, "
            "digits and '-', not starting or ending with '-'); e.g. --address tcp://10.0.0.5:8786"
        )
    return f"{m.group(1) or 'tcp'}://{m.group(2)}:{int(m.group(3))}"


def within(seconds: float, func, what: str, should_stop=lambda: False):
    """func() in a daemon thread, waited on for at most `seconds`: a Dask scheduler that accepts a
    connection and never answers cannot hang the sweep, and a stop request (SIGINT, SIGTERM) is
    seen within 0.1 s meanwhile. Raises NnctlError naming `what` on a timeout, Interrupted on a stop."""
    box = {}

    def call():
        try:
            box["value"] = func()
        except BaseException as exc:  # noqa: BLE001  (raised again in the caller's thread)
            box["error"] = exc

    thread = threading.Thread(target=call, daemon=True, name="nnctl-dask-call")
    thread.start()
    deadline = time.monotonic() + seconds
    while thread.is_alive():
        thread.join(0.1)
        if thread.is_alive() and should_stop():
            raise Interrupted(f"stopped while waiting for {what}")
        if thread.is_alive() and time.monotonic() > deadline:
            raise NnctlError(f"{what}: no answer within {seconds:g} s; is it a Dask scheduler, and is it running? check --address")
    if "error" in box:
        raise box["error"]
    return box.get("value")


def run_trial_on_dask(payload: dict) -> dict:
    """run_trial on a Dask worker: it stops when the sweep's cluster-wide event is set."""
    return run_trial(payload, _event_flag(payload.get("stop_event")))


def _event_flag(name: str | None) -> StopFlag:
    if name:
        try:
            from distributed import Event  # optional, and slow to load: see open_dask

            return StopFlag(Event(name), every=1.0)
        except Exception:  # not on a Dask worker
            pass
    return StopFlag()


def run_dask(payloads, address, on_event, on_result, should_stop=lambda: False, client=None, blas_threads=1):
    """The same trials on a Dask cluster, through Dask's own API.

    A list of payloads is submitted at once (Dask queues them); a dynamic `Payloads` is asked for a
    trial whenever fewer trials run than the cluster has worker threads, so each is decided when a
    worker is free (asynchronous halving). On a stop request a cluster-wide event tells running
    trials to stop after their current iteration; they come back interrupted with their
    checkpoints, trials not yet begun stay pending.
    """
    try:
        from distributed import Event, as_completed  # optional, and slow to load: see open_dask
    except ImportError:
        raise NnctlError("the Dask executor needs the optional extra: pip install 'nnctl[dask]'") from None
    source = Payloads.of(payloads)
    own = client is None
    if own:
        client = connect_dask(address)
    futures = {}
    try:
        stop = Event(f"nnctl-stop-{uuid.uuid4().hex}", client=client)
        pending = as_completed(loop=client.loop)
        stopping = False

        def fill():
            slots = _dask_slots(client) if source.dynamic else None
            while not stopping and (slots is None or pending.count() < slots):
                p = source.next()
                if p is None:
                    return
                p["blas_threads"], p["stop_event"] = blas_threads, stop.name
                future = client.submit(run_trial_on_dask, p, pure=False, key=f"nnctl-{p['sweep']}-{p['name']}-{uuid.uuid4().hex[:8]}")
                futures[future] = p
                pending.add(future)
                on_event("start", p["index"], 0, None)

        fill()
        while not pending.is_empty():
            if not stopping and should_stop():
                stopping = True
                within(DASK_CALL_SECONDS, stop.set, f"the Dask scheduler at {client.scheduler.address}")
            batch = pending.next_batch(block=False) or []
            for future in batch:
                try:
                    result = future.result()
                except Exception as exc:  # the worker died or could not run the task
                    result = lost(futures[future], f"dask: {exc}")
                if begun(result):
                    on_result(result)
            if batch:
                fill()
            time.sleep(0.05)
    except BaseException:
        _quietly(lambda: within(DASK_CALL_SECONDS // 3, lambda: client.cancel(list(futures)), "cancelling the trials"))
        raise
    finally:
        if own:
            _quietly(lambda: within(DASK_CALL_SECONDS // 3, client.close, "closing the Dask client"))


def _dask_slots(client) -> int:
    """How many trials the cluster runs at once now: its workers' threads (at least one)."""
    threads = within(DASK_CALL_SECONDS, client.nthreads, f"the Dask scheduler at {client.scheduler.address}")
    return max(1, sum(threads.values()))


def _quietly(func) -> None:
    """A clean-up call to the scheduler: one that fails or times out must not hide why the sweep stopped."""
    try:
        func()
    except Exception:  # noqa: BLE001
        pass


def connect_dask(address, timeout=None, should_stop=lambda: False):
    try:
        from distributed import Client  # optional, and slow to load: see open_dask
    except ImportError:
        raise NnctlError("the Dask executor needs the optional extra: pip install 'nnctl[dask]'") from None
    try:
        return within(DASK_CALL_SECONDS, lambda: Client(address, timeout=timeout or DASK_CONNECT_TIMEOUT), f"the Dask scheduler at {address}", should_stop)
    except (NnctlError, Interrupted):
        raise
    except Exception as exc:  # refused, timed out, or another server that answers something else
        why = (str(exc).splitlines() or [""])[0][:120] or exc.__class__.__name__
        raise NnctlError(f"cannot talk to a Dask scheduler at {address} ({exc.__class__.__name__}: {why}); is it a Dask scheduler? check --address") from None
