"""One film's work across a Dask cluster: ``--scheduler tcp://HOST:PORT`` or ``local[:N]``.

    with cluster.connect("local:2") as client:      # a LocalCluster of 2 worker processes
        run_transcription(film, ws, scheduler=client)   # recognition pieces on the workers
        dub(film, ws, transcript, texts, scheduler=client)   # lines and ducked stretches too

``scheduler`` is an address of a running scheduler (``tcp://``, ``tls://``), ``local`` or
``local:N`` for a :class:`dask.distributed.LocalCluster` of N worker processes (2 by
default, one thread each, made for this call and closed after it), a
``dask.distributed.Client`` (used as it is, never closed here), or None (no cluster: the
work stays in this process). What the workers make equals what one process makes.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from typing import Any

from .errors import BadInputError, MissingBackendError

ACCEPTED = "tcp://HOST:PORT (or tls://), local, local:N, or a dask.distributed.Client"


def check(scheduler: Any) -> None:
    """Raise :class:`BadInputError` for a scheduler that :func:`connect` cannot use."""
    if scheduler is None or not isinstance(scheduler, str):
        return
    if not re.match(r"^((tcp|tls|inproc|ucx)://.+|local(:[1-9]\d*)?)$", scheduler):
        raise BadInputError(f"Not a Dask scheduler address: {scheduler!r}.", accepted=ACCEPTED)


@contextlib.contextmanager
def connect(scheduler: Any, *, n_workers: int = 2, threads_per_worker: int = 1) -> Iterator[Any]:
    """A ``dask.distributed.Client`` for ``scheduler`` (see the module docstring), or None."""
    if scheduler is None:
        yield None
        return
    if not isinstance(scheduler, str):  # a Client made by the caller
        yield scheduler
        return
    check(scheduler)
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as exc:
        raise MissingBackendError("A cluster needs dask.distributed.", backend="dask",
                                  extra="workbench") from exc
    if scheduler.startswith("local"):
        n = int(scheduler.split(":")[1]) if ":" in scheduler else n_workers
        with LocalCluster(n_workers=n, threads_per_worker=threads_per_worker, processes=True,
                          dashboard_address=None, silence_logs=logging.ERROR) as lc, Client(lc) as client:
            yield client
        return
    with Client(scheduler) as client:
        yield client


__all__ = ["ACCEPTED", "check", "connect"]
