"""The Dask engine's cluster: a Client on a fresh LocalCluster, on an existing scheduler (checked reachable first)
or none for the in-process schedulers; and the partitions' results in input order, a bounded number ahead."""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import socket
from collections import deque
from collections.abc import Iterator

import dask
from distributed import Client, KilledWorker, LocalCluster
from distributed.comm.addressing import parse_address, parse_host_port

from ..errors import InputError, RnnExportError
from .plan import IN_PROCESS_SCHEDULERS


def check_reachable(address: str) -> None:
    """Fail at once when a TCP scheduler refuses connections (a Client would retry until its timeout)."""
    try:
        protocol, location = parse_address(address)
        host, port = parse_host_port(location)
    except ValueError:
        return  # not host:port: let the Client judge it
    if protocol != "tcp":
        return
    try:
        with socket.create_connection((host, port), timeout=10):
            pass
    except OSError as error:
        raise RnnExportError(
            f"cannot reach the Dask scheduler at {address}: {error.strerror or error}; is `dask scheduler` running "
            "there? (leave out --scheduler to start a local cluster)"
        ) from None


@contextlib.contextmanager
def dask_client(scheduler: str | None, workers: int | None) -> Iterator[Client | None]:
    """A Client on a fresh LocalCluster (closed after), on an existing scheduler, or None for in-process."""
    if scheduler in IN_PROCESS_SCHEDULERS:
        yield None
        return
    if scheduler:
        check_reachable(scheduler)
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as error:
            raise RnnExportError(f"cannot reach the Dask scheduler at {scheduler}: {error}") from None
        with client:
            yield client
        return
    cluster = LocalCluster(
        n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True, dashboard_address=":0",
        silence_logs=logging.CRITICAL,  # a failed task is reported once, as our Error: line
    )  # fmt: skip
    with cluster, Client(cluster) as client:
        yield client


def ordered_results(tasks: Iterator, client: Client | None, threads: int, scheduler: str | None) -> Iterator:
    """Task results in input order, with at most 2 x ``threads`` tasks computed ahead of the writer. A task may
    be an InputError object (found while cutting partitions): it is raised in its place."""
    try:
        yield from _ordered(tasks, client, threads, scheduler)
    except KilledWorker as error:
        # Dask already retried on other workers: a partition that kills every worker it meets (memory?) is fatal.
        raise RnnExportError(
            f"Dask workers kept dying on a partition ({error}); give workers more memory or use a smaller --blocksize"
        ) from None


def _ordered(tasks: Iterator, client: Client | None, threads: int, scheduler: str | None) -> Iterator:
    slots = 2 * threads
    if client is None:
        local = "sync" if scheduler in ("sync", "synchronous") else "threads"
        while batch := list(itertools.islice(tasks, slots)):
            ready = [task for task in batch if not isinstance(task, InputError)]
            yield from dask.compute(*ready, scheduler=local, num_workers=threads)
            for task in batch[len(ready) :]:
                raise task
        return
    pending: deque = deque()
    try:
        for task in tasks:
            pending.append(task if isinstance(task, InputError) else client.compute(task))
            while len(pending) >= slots:
                yield _result(pending.popleft())
        while pending:
            yield _result(pending.popleft())
    finally:
        if pending:
            with contextlib.suppress(Exception):  # best effort: the cluster may be gone already
                client.cancel([future for future in pending if not isinstance(future, InputError)])


def _result(future):
    if isinstance(future, InputError):
        raise future
    result = future.result()
    future.release()  # the cluster may forget it once it is on the driver
    return result
